//! End to end through real servers: mfa-desk comes back after an outage to a
//! mailbox full of unanswered mail. What the employees should see: mail that
//! arrives now is answered at once, and the old mail is answered too, after
//! it and at the pace `[smtp] backlog_per_minute` allows, so the relay's
//! queue never holds the new replies back.

mod support;

use std::time::{Duration, Instant};
use support::desk::{Outbox, Service, run_to_end, store_count, write_config};
use support::mailstack::{EMPLOYEE, MailStack, SUPPORT, rand_u64};

const IDLING: &str = "IDLE: waiting for new mail";
const DOMAIN: &str = "example.test";

/// A question from `employee+<who>@`: its reply lands in employee@'s INBOX.
fn question(who: &str, message_id: &str) -> Vec<u8> {
    format!(
        "From: <employee+{who}@{DOMAIN}>\r\nTo: {SUPPORT}\r\nSubject: The SMS code never arrives ({who})\r\n\
         Message-ID: {message_id}\r\nDate: {date}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello,\r\n\r\nThe SMS verification code never arrives when I sign in.\r\n\r\n{who}\r\n",
        date = jiff::Timestamp::now().strftime("%a, %d %b %Y %H:%M:%S +0000"),
    )
    .into_bytes()
}

/// How many mails in employee@'s INBOX answer one of `ids`.
async fn answered(stack: &MailStack, ids: &[String]) -> usize {
    stack
        .messages(EMPLOYEE, "INBOX")
        .await
        .iter()
        .filter(|(_, _, raw)| {
            let text = String::from_utf8_lossy(raw);
            ids.iter().any(|id| text.contains(id.as_str()))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn after_an_outage_new_mail_is_answered_first_and_the_backlog_at_its_pace() {
    let Some(stack) = MailStack::start("e2e_backlog_after_outage") else {
        return;
    };
    let work = tempfile::tempdir().expect("temp dir");
    let config = write_config(work.path(), &stack, Outbox::Smtp, "");
    // One backlog reply every 5 s; no margin, so every mail delivered
    // before the start counts as waiting (the margin has its own test).
    let text = std::fs::read_to_string(&config).expect("read config");
    let text = text
        .replacen("[smtp]\n", "[smtp]\nbacklog_per_minute = 12\n", 1)
        .replacen(
            "poll_interval_secs = 2\n",
            "poll_interval_secs = 2\nlive_margin_secs = 0\n",
            1,
        );
    std::fs::write(&config, text).expect("write config");

    // mfa-desk has run before (its first start), then was down while 8
    // employees wrote.
    let first = run_to_end(&config, &["run", "--once"]);
    assert!(first.status.success(), "{first:?}");
    let old_ids: Vec<String> = (0..8)
        .map(|i| format!("<old-{i}-{:016x}@{DOMAIN}>", rand_u64()))
        .collect();
    let old: Vec<Vec<u8>> = old_ids
        .iter()
        .enumerate()
        .map(|(i, id)| question(&format!("old{i}"), id))
        .collect();
    stack.deliver_lmtp(EMPLOYEE, SUPPORT, &old).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let mut service = Service::start(&config, &[]);
    service.wait_for_line(IDLING, Duration::from_secs(60));
    // Every old mail is handled (recorded, replies queued) at once; only
    // their sending is paced.
    assert_eq!(store_count(work.path(), "messages", ""), Some(8));

    // Now an employee writes: answered within seconds, ahead of the backlog.
    let new_id = format!("<new-{:016x}@{DOMAIN}>", rand_u64());
    stack
        .send_raw(
            &format!("employee+new@{DOMAIN}"),
            &[SUPPORT],
            &question("new", &new_id),
        )
        .await;
    let sent = Instant::now();
    let new_ids = [new_id.clone()];
    while answered(&stack, &new_ids).await == 0 {
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "the new mail was not answered within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let old_done = answered(&stack, &old_ids).await;
    assert!(
        old_done <= 3,
        "{old_done} of 8 backlog replies went out before the new mail's reply; \
         at 12 a minute there is room for about 2"
    );

    // The backlog is answered too, at its pace: all 8 within ~40 s, not at once.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut done = old_done;
    while done < 8 {
        assert!(
            Instant::now() < deadline,
            "only {done} of 8 backlog mails answered after 90 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        done = answered(&stack, &old_ids).await;
    }
    let took = sent.elapsed();
    assert!(
        took >= Duration::from_secs(20),
        "8 backlog replies at 12 a minute took only {took:?}: not paced"
    );
    // Once each: nobody gets a second reply.
    assert_eq!(answered(&stack, &old_ids).await, 8);
    assert_eq!(answered(&stack, &new_ids).await, 1);
    let status = service.stop();
    assert!(status.success(), "mfa-desk run exited with {status:?}");
}
