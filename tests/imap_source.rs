//! `ImapSource` against a real Dovecot (fed by a real Postfix), one throw-away
//! mail stack per test: fetch/mark/quarantine, IDLE wake-up, reconnect after a
//! server restart, outages, TLS and the plain-words errors of `check()`.

mod support;

use mfa_desk::config::Tls;
use mfa_desk::source::imap::ImapSource;
use std::time::{Duration, Instant};
use support::mailstack::{EMPLOYEE, MailStack, SUPPORT, flags_of, unique};
use tokio::sync::watch;

/// Fetch until a message containing `needle` is returned (mail needs a few
/// ms to travel Postfix → LMTP → Maildir), waiting for new mail in between.
async fn fetch_until(
    src: &mut ImapSource,
    needle: &str,
    within: Duration,
) -> mfa_desk::source::Fetched {
    let deadline = Instant::now() + within;
    let (_tx, mut rx) = watch::channel(false);
    loop {
        if let Ok(list) = src.fetch_unhandled(50).await
            && let Some(f) = list
                .into_iter()
                .find(|f| String::from_utf8_lossy(&f.raw).contains(needle))
        {
            return f;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} was not fetched within {within:?}"
        );
        let _ = tokio::time::timeout(Duration::from_secs(2), src.wait_for_new_mail(&mut rx)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_then_mark_handled_hides_the_message() {
    let Some(stack) = MailStack::start("fetch_then_mark_handled_hides_the_message") else {
        return;
    };
    let mut src = ImapSource::new(stack.imap_config(SUPPORT));
    assert!(src.fetch_unhandled(10).await.unwrap().is_empty());

    let subject = unique("Authenticator code not arriving");
    stack
        .send_mail(EMPLOYEE, SUPPORT, &subject, "The code never comes.")
        .await;
    let fetched = fetch_until(&mut src, &subject, Duration::from_secs(10)).await;
    assert!(String::from_utf8_lossy(&fetched.raw).contains(&format!("Subject: {subject}")));
    let parts: Vec<&str> = fetched.source_ref.split(':').collect();
    assert_eq!(parts.len(), 3, "{}", fetched.source_ref);
    assert_eq!(parts[0], "imap");
    assert!(parts[1].parse::<u32>().is_ok() && parts[2].parse::<u32>().is_ok());

    // Fetching is a PEEK: nothing changed on the server yet.
    let before = stack.messages(SUPPORT, "INBOX").await;
    let flags = flags_of(&before, &subject).expect("message in INBOX");
    assert!(!flags.iter().any(|f| f.contains("Seen")), "{flags:?}");

    src.mark_handled(&fetched.source_ref).await.unwrap();
    let again = src.fetch_unhandled(10).await.unwrap();
    assert!(
        again.iter().all(|f| f.source_ref != fetched.source_ref),
        "handled mail fetched again"
    );

    let after = stack.messages(SUPPORT, "INBOX").await;
    let flags = flags_of(&after, &subject).expect("message stays in INBOX");
    assert!(flags.iter().any(|f| f == "Seen"), "{flags:?}");
    assert!(flags.iter().any(|f| f.contains("$MfaDesk")), "{flags:?}");
    src.logout().await;
}

/// Send `n` mails "{tag} #i" to support@, one after the other, each waited
/// for in the INBOX: UID order is sending order.
async fn deliver_in_order(stack: &MailStack, tag: &str, n: usize) {
    for i in 0..n {
        let subject = format!("{tag} #{i}");
        stack.send_mail(EMPLOYEE, SUPPORT, &subject, "x").await;
        stack
            .wait_for_message(SUPPORT, "INBOX", &subject, Duration::from_secs(10))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn several_messages_come_in_uid_order_and_respect_the_limit() {
    let Some(stack) = MailStack::start("several_messages_come_in_uid_order") else {
        return;
    };
    let mut src = ImapSource::new(stack.imap_config(SUPPORT));
    let tag = unique("batch");
    deliver_in_order(&stack, &tag, 7).await;
    let first = src.fetch_unhandled(3).await.unwrap();
    assert_eq!(first.len(), 3);
    let all = src.fetch_unhandled(100).await.unwrap();
    assert_eq!(all.len(), 7, "batches of 5 must add up");
    let uids: Vec<u32> = all
        .iter()
        .map(|f| f.source_ref.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    assert!(uids.windows(2).all(|w| w[0] < w[1]), "{uids:?}");
    for (i, f) in all.iter().enumerate() {
        assert!(String::from_utf8_lossy(&f.raw).contains(&format!("{tag} #{i}")));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn new_mail_goes_ahead_of_the_backlog_found_at_start() {
    let Some(stack) = MailStack::start("new_mail_goes_ahead_of_the_backlog") else {
        return;
    };
    let tag = unique("waiting");
    deliver_in_order(&stack, &tag, 6).await;
    // Mail delivered before the start counts as waiting (no margin): see
    // `mail_delivered_minutes_before_the_start_is_not_a_backlog` for the margin.
    let mut cfg = stack.imap_config(SUPPORT);
    cfg.live_margin_secs = 0;
    let mut src = ImapSource::new(cfg);
    // The first fetch finds 6 waiting mails and takes the two oldest.
    let first = src.fetch_unhandled(2).await.unwrap();
    assert!(String::from_utf8_lossy(&first[0].raw).contains(&format!("{tag} #0")));
    assert!(String::from_utf8_lossy(&first[1].raw).contains(&format!("{tag} #1")));
    let refs: Vec<String> = first.iter().map(|f| f.source_ref.clone()).collect();
    src.mark_handled_many(&refs).await.unwrap();

    // A mail arrives while the 4 others still wait: it is next, not fifth.
    let fresh = unique("arrived while running");
    stack
        .send_mail(EMPLOYEE, SUPPORT, &fresh, "The code never comes.")
        .await;
    stack
        .wait_for_message(SUPPORT, "INBOX", &fresh, Duration::from_secs(10))
        .await;
    let next = src.fetch_unhandled(2).await.unwrap();
    assert_eq!(next.len(), 2);
    assert!(
        String::from_utf8_lossy(&next[0].raw).contains(&fresh),
        "the new mail waited behind the backlog: {:?}",
        next.iter()
            .map(|f| (
                f.source_ref.clone(),
                String::from_utf8_lossy(&f.raw)
                    .lines()
                    .find(|l| l.starts_with("Subject"))
                    .map(str::to_string)
            ))
            .collect::<Vec<_>>()
    );
    assert!(String::from_utf8_lossy(&next[1].raw).contains(&format!("{tag} #2")));
    // The sender's order depends on it: the new mail is live, #2 was waiting.
    assert!(!next[0].backlog, "mail that arrived while running is live");
    assert!(next[1].backlog, "mail waiting at start is the backlog");

    // The two in hand (being worked through, not yet flagged) are left out
    // of the next fetch; what is never flagged comes back afterwards.
    let in_hand: Vec<String> = next.iter().map(|f| f.source_ref.clone()).collect();
    let rest = src.fetch_unhandled_except(10, &in_hand).await.unwrap();
    let subjects = |list: &[mfa_desk::source::Fetched]| -> Vec<String> {
        list.iter()
            .map(|f| {
                String::from_utf8_lossy(&f.raw)
                    .lines()
                    .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
                    .unwrap_or_default()
            })
            .collect()
    };
    assert_eq!(
        subjects(&rest),
        (3..6).map(|i| format!("{tag} #{i}")).collect::<Vec<_>>()
    );
    let rest_refs: Vec<String> = rest.iter().map(|f| f.source_ref.clone()).collect();
    src.mark_handled_many(&rest_refs).await.unwrap();
    // `next` was never flagged (say the store refused it): handed out again.
    let again = src.fetch_unhandled(10).await.unwrap();
    assert_eq!(subjects(&again), subjects(&next));
    src.logout().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_delivered_minutes_before_the_start_is_not_a_backlog() {
    let Some(stack) = MailStack::start("mail_delivered_before_the_start") else {
        return;
    };
    let tag = unique("during the restart");
    deliver_in_order(&stack, &tag, 2).await;
    // The default margin (300 s): seconds-old mail is live, its replies first.
    let mut src = ImapSource::new(stack.imap_config(SUPPORT));
    let got = src.fetch_unhandled(10).await.unwrap();
    assert_eq!(got.len(), 2);
    assert!(
        got.iter().all(|f| !f.backlog),
        "mail from just before the start is live"
    );
    src.logout().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_wakes_up_soon_after_a_delivery() {
    let Some(stack) = MailStack::start("idle_wakes_up_soon_after_a_delivery") else {
        return;
    };
    let mut src = ImapSource::new(stack.imap_config(SUPPORT));
    assert!(src.fetch_unhandled(10).await.unwrap().is_empty());
    let (_tx, mut rx) = watch::channel(false);
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        src.wait_for_new_mail(&mut rx).await.unwrap();
        (src, started.elapsed(), Instant::now())
    });
    // Let IDLE start before delivering.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let subject = unique("idle wake");
    let sent = Instant::now();
    stack.send_mail(EMPLOYEE, SUPPORT, &subject, "x").await;
    let (mut src, waited, woke) = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("IDLE did not wake within 10 s")
        .unwrap();
    let latency = woke.saturating_duration_since(sent);
    eprintln!("IDLE woke {latency:?} after the SMTP send (waited {waited:?} in total)");
    assert!(
        latency < Duration::from_millis(2500),
        "IDLE wake-up took {latency:?}"
    );
    let got = src.fetch_unhandled(10).await.unwrap();
    assert!(
        got.iter()
            .any(|f| String::from_utf8_lossy(&f.raw).contains(&subject))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wait_ends_by_its_deadline_and_idle_resumes() {
    // The service's once-a-minute work (reminders, the weekly digest) must
    // not wait for the 9-minute IDLE renewal.
    let Some(stack) = MailStack::start("the_wait_ends_by_its_deadline") else {
        return;
    };
    let mut src = ImapSource::new(stack.imap_config(SUPPORT));
    assert!(src.fetch_unhandled(1).await.unwrap().is_empty());
    let (_tx, mut rx) = watch::channel(false);
    let t = Instant::now();
    let deadline = t + Duration::from_millis(1500);
    tokio::time::timeout(
        Duration::from_secs(10),
        src.wait_for_new_mail_until(&mut rx, Some(deadline)),
    )
    .await
    .expect("the deadline did not end IDLE")
    .unwrap();
    let waited = t.elapsed();
    eprintln!("IDLE ended {waited:?} after it began (deadline 1.5 s)");
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // The session is fine: the next wait still wakes for mail.
    let subject = unique("after the deadline");
    stack.send_mail(EMPLOYEE, SUPPORT, &subject, "x").await;
    let f = fetch_until(&mut src, &subject, Duration::from_secs(10)).await;
    src.mark_handled(&f.source_ref).await.unwrap();
    assert_eq!(src.outage_secs(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_ends_the_wait_at_once() {
    let Some(stack) = MailStack::start("shutdown_ends_the_wait_at_once") else {
        return;
    };
    let mut src = ImapSource::new(stack.imap_config(SUPPORT));
    src.fetch_unhandled(1).await.unwrap();
    let (tx, mut rx) = watch::channel(false);
    let waiter = tokio::spawn(async move {
        src.wait_for_new_mail(&mut rx).await.unwrap();
        src
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    tx.send(true).unwrap();
    let mut src = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("shutdown did not end IDLE")
        .unwrap();
    eprintln!("IDLE ended {:?} after shutdown", t.elapsed());
    // The session survives the interrupted IDLE.
    assert!(src.fetch_unhandled(1).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn dovecot_restart_during_idle_is_survived() {
    let Some(stack) = MailStack::start("dovecot_restart_during_idle_is_survived") else {
        return;
    };
    let stack = std::sync::Arc::new(stack);
    let mut src = ImapSource::new(stack.imap_config(SUPPORT));
    assert!(src.fetch_unhandled(10).await.unwrap().is_empty());
    let (_tx, mut rx) = watch::channel(false);
    let waiter = tokio::spawn(async move {
        src.wait_for_new_mail(&mut rx).await.unwrap();
        (src, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = stack.clone();
    let restart_at = Instant::now();
    tokio::task::spawn_blocking(move || s.restart_dovecot())
        .await
        .unwrap();
    eprintln!("dovecot restarted in {:?}", restart_at.elapsed());
    let (mut src, woke) = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("a dropped IDLE connection must end the wait")
        .unwrap();
    eprintln!(
        "the wait ended {:?} after the restart began",
        woke - restart_at
    );

    let subject = unique("after restart");
    stack.send_mail(EMPLOYEE, SUPPORT, &subject, "x").await;
    let t = Instant::now();
    let f = fetch_until(&mut src, &subject, Duration::from_secs(30)).await;
    eprintln!("fetched after reconnect {:?} after the send", t.elapsed());
    src.mark_handled(&f.source_ref).await.unwrap();
    assert_eq!(src.outage_secs(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn outage_is_tracked_and_ends_when_the_server_is_back() {
    let Some(stack) = MailStack::start("outage_is_tracked_and_ends") else {
        return;
    };
    let stack = std::sync::Arc::new(stack);
    let mut src = ImapSource::new(stack.imap_config(SUPPORT));
    src.fetch_unhandled(1).await.unwrap();
    let s = stack.clone();
    tokio::task::spawn_blocking(move || s.stop_dovecot())
        .await
        .unwrap();

    let err = src.fetch_unhandled(1).await.unwrap_err().to_string();
    assert!(err.contains("connection refused"), "{err}");
    assert!(src.outage_secs().is_some());
    // During the backoff, calls fail fast without touching the network.
    let t = Instant::now();
    assert!(src.fetch_unhandled(1).await.is_err());
    assert!(t.elapsed() < Duration::from_millis(100));

    let s = stack.clone();
    tokio::task::spawn_blocking(move || s.start_dovecot())
        .await
        .unwrap();
    let back = Instant::now();
    let (_tx, mut rx) = watch::channel(false);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        src.wait_for_new_mail(&mut rx).await.unwrap();
        if src.fetch_unhandled(1).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "no reconnect within 20 s");
    }
    eprintln!(
        "reconnected {:?} after the server came back",
        back.elapsed()
    );
    assert_eq!(src.outage_secs(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn quarantine_moves_the_message_out_of_the_inbox() {
    let Some(stack) = MailStack::start("quarantine_moves_the_message") else {
        return;
    };
    let mut src = ImapSource::new(stack.imap_config(SUPPORT));
    let subject = unique("suspicious attachment");
    stack.send_mail(EMPLOYEE, SUPPORT, &subject, "x").await;
    let f = fetch_until(&mut src, &subject, Duration::from_secs(10)).await;
    src.quarantine(&f.source_ref).await.unwrap();

    assert!(flags_of(&stack.messages(SUPPORT, "INBOX").await, &subject).is_none());
    let q = stack.messages(SUPPORT, "Quarantine").await;
    assert!(flags_of(&q, &subject).is_some(), "not in Quarantine");
    assert!(src.fetch_unhandled(10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn processed_folder_mode_moves_handled_mail() {
    let Some(stack) = MailStack::start("processed_folder_mode") else {
        return;
    };
    let mut cfg = stack.imap_config(SUPPORT);
    cfg.processed_folder = Some("MFA/処理済み".into());
    let mut src = ImapSource::new(cfg);
    let subject = unique("new phone");
    stack.send_mail(EMPLOYEE, SUPPORT, &subject, "x").await;
    let f = fetch_until(&mut src, &subject, Duration::from_secs(10)).await;
    src.mark_handled(&f.source_ref).await.unwrap();
    assert!(src.fetch_unhandled(10).await.unwrap().is_empty());
    assert!(flags_of(&stack.messages(SUPPORT, "INBOX").await, &subject).is_none());
    // The folder name went over the wire in modified UTF-7.
    let moved = stack.messages(SUPPORT, "MFA/&UeZ0Bm4IMH8-").await;
    let flags = flags_of(&moved, &subject).expect("moved to the processed folder");
    assert!(flags.iter().any(|f| f == "Seen"), "{flags:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_says_the_password_is_wrong() {
    let Some(stack) = MailStack::start("check_says_the_password_is_wrong") else {
        return;
    };
    let mut cfg = stack.imap_config(SUPPORT);
    cfg.password_command = Some("echo not-the-password".into());
    let err = ImapSource::new(cfg).check().await.unwrap_err().to_string();
    eprintln!("{err}");
    assert!(err.contains("password is wrong"), "{err}");
    assert!(err.contains(SUPPORT), "{err}");
    assert!(
        !err.contains("not-the-password"),
        "the secret leaked: {err}"
    );

    let ok = ImapSource::new(stack.imap_config(SUPPORT))
        .check()
        .await
        .unwrap();
    eprintln!("{ok}");
    assert!(ok.contains("IDLE: yes") && ok.contains("MOVE: yes"), "{ok}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_says_the_folder_is_missing_and_the_port_refuses() {
    let Some(stack) = MailStack::start("check_folder_missing_port_refuses") else {
        return;
    };
    let mut cfg = stack.imap_config(SUPPORT);
    cfg.folder = "Support/MFA".into();
    let err = ImapSource::new(cfg).check().await.unwrap_err().to_string();
    assert!(err.contains("`Support/MFA` does not exist"), "{err}");

    let mut cfg = stack.imap_config(SUPPORT);
    cfg.port = stack.lmtp_port; // speaks LMTP, not IMAP
    let err = ImapSource::new(cfg).check().await.unwrap_err().to_string();
    assert!(err.contains("IMAP"), "{err}");

    let mut cfg = stack.imap_config(SUPPORT);
    stack.stop_dovecot();
    cfg.port = stack.imap_port;
    let err = ImapSource::new(cfg).check().await.unwrap_err().to_string();
    assert!(err.contains("connection refused"), "{err}");
}

#[tokio::test]
async fn plain_text_is_refused_for_a_remote_host() {
    let mut cfg = mfa_desk::config::ImapConfig {
        host: "imap.example.com".into(),
        port: 143,
        tls: Tls::None,
        username: SUPPORT.into(),
        password_env: None,
        password_command: Some("echo pw".into()),
        token_command: None,
        folder: "INBOX".into(),
        poll_interval_secs: 60,
        processed_folder: None,
        quarantine_folder: "Quarantine".into(),
        ca_file: None,
        outage_alert_secs: 900,
        live_margin_secs: 300,
        idle_renew_secs: 540,
    };
    let err = ImapSource::new(cfg.clone())
        .check()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("only allowed"), "{err}");
    cfg.password_command = Some("exit 4".into());
    cfg.host = "127.0.0.1".into();
    let err = ImapSource::new(cfg).check().await.unwrap_err().to_string();
    assert!(err.contains("exit status 4"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_implicit_and_starttls_with_a_private_ca() {
    let Some(stack) = MailStack::start_tls("tls_implicit_and_starttls") else {
        return;
    };
    let name = stack.tls_name.clone().expect("TLS name");
    let mut implicit = stack.imap_config(SUPPORT);
    implicit.host = name.clone();
    implicit.port = stack.imaps_port.expect("IMAPS port");
    implicit.tls = Tls::Implicit;
    implicit.ca_file = stack.ca_file.clone();
    let ok = ImapSource::new(implicit.clone()).check().await.unwrap();
    assert!(ok.contains("implicit TLS"), "{ok}");

    let mut starttls = implicit.clone();
    starttls.port = stack.imap_port;
    starttls.tls = Tls::Starttls;
    let mut src = ImapSource::new(starttls);
    let subject = unique("over starttls");
    stack.send_mail(EMPLOYEE, SUPPORT, &subject, "x").await;
    let f = fetch_until(&mut src, &subject, Duration::from_secs(10)).await;
    src.mark_handled(&f.source_ref).await.unwrap();

    // The certificate names "localhost" only: 127.0.0.1 is a name mismatch.
    let mut mismatch = implicit.clone();
    mismatch.host = "127.0.0.1".into();
    let err = ImapSource::new(mismatch)
        .check()
        .await
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(err.contains("not valid for the name `127.0.0.1`"), "{err}");

    let mut unknown_ca = implicit.clone();
    unknown_ca.ca_file = None;
    let err = ImapSource::new(unknown_ca)
        .check()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown authority") && err.contains("ca_file"),
        "{err}"
    );

    let mut tls_on_plain_port = implicit;
    tls_on_plain_port.port = stack.imap_port;
    let err = ImapSource::new(tls_on_plain_port)
        .check()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("did not speak TLS"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn uidvalidity_change_rescans_without_losing_handled_marks() {
    let Some(stack) = MailStack::start("uidvalidity_change_rescans") else {
        return;
    };
    let mut src = ImapSource::new(stack.imap_config(SUPPORT));
    let handled = unique("handled before");
    stack.send_mail(EMPLOYEE, SUPPORT, &handled, "x").await;
    let first = fetch_until(&mut src, &handled, Duration::from_secs(10)).await;
    src.mark_handled(&first.source_ref).await.unwrap();
    let pending = unique("pending across renumbering");
    stack.send_mail(EMPLOYEE, SUPPORT, &pending, "x").await;
    let old = fetch_until(&mut src, &pending, Duration::from_secs(10)).await;

    stack.doveadm(&[
        "mailbox",
        "update",
        "-u",
        SUPPORT,
        "--uid-validity",
        "12345",
        "INBOX",
    ]);

    // The server renumbered the folder: old references are refused in words,
    // the re-scan hands out new ones, and the keyword kept handled mail out.
    let (_tx, mut rx) = watch::channel(false);
    let deadline = Instant::now() + Duration::from_secs(20);
    let renewed = loop {
        if let Ok(list) = src.fetch_unhandled(10).await
            && let Some(f) = list
                .iter()
                .find(|f| f.source_ref.starts_with("imap:12345:"))
        {
            assert_eq!(
                list.len(),
                1,
                "handled mail came back after the renumbering"
            );
            assert!(String::from_utf8_lossy(&f.raw).contains(&pending));
            break f.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no re-scan under the new UIDVALIDITY"
        );
        let _ = tokio::time::timeout(Duration::from_secs(2), src.wait_for_new_mail(&mut rx)).await;
    };
    let err = src
        .mark_handled(&old.source_ref)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("UIDVALIDITY"), "{err}");
    src.mark_handled(&renewed.source_ref).await.unwrap();
    assert!(src.fetch_unhandled(10).await.unwrap().is_empty());
}
