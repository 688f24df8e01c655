//! End to end through real servers: the built `mfa-desk run` watches the
//! stack's support@ over IMAP and answers through its SMTP; an employee's
//! question sent over SMTP must come back to the employee's inbox as a guide,
//! threaded under the question and tagged with the ticket number.

mod support;

use std::time::{Duration, Instant};
use support::desk::{Outbox, Service, write_config};
use support::mailstack::{EMPLOYEE, MailStack, SUPPORT};

#[tokio::test(flavor = "multi_thread")]
async fn an_employee_question_is_answered_with_a_threaded_guide() {
    let Some(stack) = MailStack::start("an_employee_question_is_answered") else {
        return;
    };
    let work = tempfile::tempdir().expect("temp dir");
    let config = write_config(work.path(), &stack, Outbox::Smtp, "");
    let mut service = Service::start(&config, &[]);
    // The first start refuses a mailbox that already holds mail, so send only
    // once the service has scanned the (empty) inbox and is idling.
    service.wait_for_line("IDLE: waiting for new mail", Duration::from_secs(60));

    let started = Instant::now();
    let question_id = stack
        .send_mail(
            EMPLOYEE,
            SUPPORT,
            "How do I register a second sign-in method?",
            "Hello,\n\nI would like to add a backup method (a phone number) to my account \
             in case I lose my phone. Where do I do that?\n\nThank you,\nRaj\n",
        )
        .await;

    let (_, _, raw) = stack
        .wait_for_message(EMPLOYEE, "INBOX", &question_id, Duration::from_secs(60))
        .await;
    eprintln!(
        "the guide arrived {:?} after the question was sent",
        started.elapsed()
    );
    let reply = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("the reply parses");
    let subject = reply.subject().unwrap_or_default().to_string();
    assert!(subject.contains("[MFA-"), "no ticket tag in {subject:?}");
    let in_reply_to = reply
        .in_reply_to()
        .as_text()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        format!("<{in_reply_to}>"),
        question_id,
        "the guide is not threaded under the question"
    );
    let from = reply
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_string();
    assert_eq!(from, SUPPORT);

    // The question is marked handled on the server (keyword + \Seen).
    let inbox = stack.messages(SUPPORT, "INBOX").await;
    let question = inbox
        .iter()
        .find(|(_, _, raw)| String::from_utf8_lossy(raw).contains(&question_id))
        .expect("the question stays in support's INBOX");
    assert!(
        question.1.iter().any(|f| f.contains("$MfaDesk")),
        "question not marked handled: {:?}",
        question.1
    );

    let status = service.stop();
    assert!(status.success(), "mfa-desk exited with {status}");
}
