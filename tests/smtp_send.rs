//! `SmtpMailer` against a real Postfix delivering into Dovecot, one throw-away
//! mail stack per test: delivery with headers intact, retry-or-give-up
//! classification, TLS (STARTTLS and implicit) with a private CA.

mod support;

use mfa_desk::config::Tls;
use mfa_desk::send::smtp::SmtpMailer;
use std::time::Duration;
use support::mailstack::{EMPLOYEE, MailStack, SUPPORT, rand_u64};

/// A reply as the outbox holds it: finished RFC 5322 bytes with threading and
/// auto-reply headers and a Japanese subject (RFC 2047 encoded).
fn reply_bytes(message_id: &str, in_reply_to: &str) -> Vec<u8> {
    format!(
        "From: IT support <{SUPPORT}>\r\n\
         To: {EMPLOYEE}\r\n\
         Subject: =?utf-8?b?44CQTUZBLTQyXSDoqo3oqLzjgrPjg7zjg4njgYzlsYrjgY3jgb7jgZvjgpM=?=\r\n\
         Message-ID: {message_id}\r\n\
         In-Reply-To: {in_reply_to}\r\n\
         References: {in_reply_to}\r\n\
         Auto-Submitted: auto-replied\r\n\
         X-Auto-Response-Suppress: All\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         認証アプリのコードが届かないときは、次の手順をお試しください。\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn sent_mail_arrives_with_its_headers_intact() {
    let Some(stack) = MailStack::start("sent_mail_arrives_with_its_headers_intact") else {
        return;
    };
    let mailer = SmtpMailer::new(&stack.smtp_config()).unwrap();
    let summary = mailer.check().await.unwrap();
    assert!(summary.contains("connected"), "{summary}");

    let id = format!("<reply-{:x}@example.test>", rand_u64());
    let parent = "<employee-question-1@example.test>";
    mailer
        .send_raw(SUPPORT, &[EMPLOYEE.to_string()], &reply_bytes(&id, parent))
        .await
        .unwrap();

    let (_, _, raw) = stack
        .wait_for_message(EMPLOYEE, "INBOX", &id, Duration::from_secs(10))
        .await;
    let text = String::from_utf8(raw).expect("UTF-8 body passed through");
    for header in [
        format!("Message-ID: {id}"),
        format!("In-Reply-To: {parent}"),
        format!("References: {parent}"),
        "Auto-Submitted: auto-replied".to_string(),
        "X-Auto-Response-Suppress: All".to_string(),
        "Subject: =?utf-8?b?44CQTUZBLTQyXSDoqo3oqLzjgrPjg7zjg4njgYzlsYrjgY3jgb7jgZvjgpM=?="
            .to_string(),
    ] {
        assert!(text.contains(&header), "missing {header:?} in\n{text}");
    }
    assert!(text.contains("認証アプリのコードが届かない"), "{text}");
    // The envelope sender became Return-Path at delivery.
    assert!(
        text.contains(&format!("Return-Path: <{SUPPORT}>")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn several_recipients_and_pooled_connections() {
    let Some(stack) = MailStack::start("several_recipients_and_pooled_connections") else {
        return;
    };
    let mailer = SmtpMailer::new(&stack.smtp_config()).unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = format!("<pool-{:x}@example.test>", rand_u64());
        mailer
            .send_raw(
                SUPPORT,
                &[EMPLOYEE.to_string(), "admin@example.test".to_string()],
                &reply_bytes(&id, "<p@example.test>"),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    for id in &ids {
        stack
            .wait_for_message(EMPLOYEE, "INBOX", id, Duration::from_secs(10))
            .await;
        stack
            .wait_for_message("admin@example.test", "INBOX", id, Duration::from_secs(10))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stopped_server_is_a_transient_error_and_recovers() {
    let Some(stack) = MailStack::start("stopped_server_is_a_transient_error") else {
        return;
    };
    let mailer = SmtpMailer::new(&stack.smtp_config()).unwrap();
    // A first mail opens a pooled connection that the stop then kills.
    let id = format!("<before-{:x}@example.test>", rand_u64());
    mailer
        .send_raw(SUPPORT, &[EMPLOYEE.to_string()], &reply_bytes(&id, "<p@x>"))
        .await
        .unwrap();

    stack.stop_smtp();
    let id = format!("<during-{:x}@example.test>", rand_u64());
    let err = mailer
        .send_raw(SUPPORT, &[EMPLOYEE.to_string()], &reply_bytes(&id, "<p@x>"))
        .await
        .unwrap_err();
    eprintln!("{err}");
    assert!(!err.is_permanent(), "{err}");
    let err = mailer
        .send_raw(SUPPORT, &[EMPLOYEE.to_string()], &reply_bytes(&id, "<p@x>"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("connection refused"), "{err}");
    assert!(mailer.check().await.is_err());

    stack.start_smtp();
    mailer
        .send_raw(SUPPORT, &[EMPLOYEE.to_string()], &reply_bytes(&id, "<p@x>"))
        .await
        .unwrap();
    stack
        .wait_for_message(EMPLOYEE, "INBOX", &id, Duration::from_secs(10))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_local_recipient_is_permanent() {
    let Some(stack) = MailStack::start("unknown_local_recipient_is_permanent") else {
        return;
    };
    let mailer = SmtpMailer::new(&stack.smtp_config()).unwrap();
    let err = mailer
        .send_raw(
            SUPPORT,
            &["nobody@example.test".to_string()],
            &reply_bytes("<x1@example.test>", "<p@x>"),
        )
        .await
        .unwrap_err();
    eprintln!("{err}");
    assert!(err.is_permanent(), "{err}");
    // The server's own words travel with the error.
    assert!(err.to_string().contains("User unknown"), "{err}");
    assert!(err.to_string().contains("550"), "{err}");

    // Relaying to a foreign domain is refused for good, too.
    let err = mailer
        .send_raw(
            SUPPORT,
            &["someone@elsewhere.example".to_string()],
            &reply_bytes("<x2@example.test>", "<p@x>"),
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_and_implicit_tls_with_a_private_ca() {
    let Some(stack) = MailStack::start_tls("starttls_and_implicit_tls_with_a_private_ca") else {
        return;
    };
    let name = stack.tls_name.clone().expect("TLS name");
    let mut starttls = stack.smtp_config();
    starttls.host = name.clone();
    starttls.tls = Tls::Starttls;
    starttls.ca_file = stack.ca_file.clone();
    let mailer = SmtpMailer::new(&starttls).unwrap();
    assert!(mailer.check().await.unwrap().contains("STARTTLS"));
    let id = format!("<starttls-{:x}@example.test>", rand_u64());
    mailer
        .send_raw(SUPPORT, &[EMPLOYEE.to_string()], &reply_bytes(&id, "<p@x>"))
        .await
        .unwrap();
    let (_, _, raw) = stack
        .wait_for_message(EMPLOYEE, "INBOX", &id, Duration::from_secs(10))
        .await;
    // Postfix records the TLS session in its Received header.
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("using TLS"), "not sent over TLS:\n{text}");

    let mut implicit = starttls.clone();
    implicit.tls = Tls::Implicit;
    implicit.port = stack.smtps_port.expect("SMTPS port");
    let mailer = SmtpMailer::new(&implicit).unwrap();
    let id = format!("<smtps-{:x}@example.test>", rand_u64());
    mailer
        .send_raw(SUPPORT, &[EMPLOYEE.to_string()], &reply_bytes(&id, "<p@x>"))
        .await
        .unwrap();
    let (_, _, raw) = stack
        .wait_for_message(EMPLOYEE, "INBOX", &id, Duration::from_secs(10))
        .await;
    assert!(String::from_utf8_lossy(&raw).contains("using TLS"));

    // Certificate for "localhost" only: connecting as 127.0.0.1 must fail,
    // and so must a server signed by a CA we were not told about.
    let mut mismatch = starttls.clone();
    mismatch.host = "127.0.0.1".into();
    let err = SmtpMailer::new(&mismatch)
        .unwrap()
        .check()
        .await
        .unwrap_err();
    eprintln!("{err}");
    assert!(
        !err.is_permanent()
            && err
                .to_string()
                .contains("not valid for the name `127.0.0.1`"),
        "{err}"
    );
    let mut unknown_ca = starttls;
    unknown_ca.ca_file = None;
    let err = SmtpMailer::new(&unknown_ca)
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown authority"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn login_with_password_and_a_wrong_password_is_permanent() {
    let Some(stack) = MailStack::start("login_with_password") else {
        return;
    };
    let mut cfg = stack.smtp_config();
    cfg.username = Some(SUPPORT.into());
    cfg.password_command = Some(format!("printf '%s' '{}'", stack.password));
    let mailer = SmtpMailer::new(&cfg).unwrap();
    let summary = mailer.check().await.unwrap();
    assert!(
        summary.contains(&format!("logged in as {SUPPORT}")),
        "{summary}"
    );
    let id = format!("<auth-{:x}@example.test>", rand_u64());
    mailer
        .send_raw(SUPPORT, &[EMPLOYEE.to_string()], &reply_bytes(&id, "<p@x>"))
        .await
        .unwrap();
    stack
        .wait_for_message(EMPLOYEE, "INBOX", &id, Duration::from_secs(10))
        .await;

    cfg.password_command = Some("echo wrong-password".into());
    let err = SmtpMailer::new(&cfg).unwrap().check().await.unwrap_err();
    eprintln!("{err}");
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("535"), "{err}");
    assert!(
        !err.to_string().contains("wrong-password"),
        "the secret leaked: {err}"
    );

    // A broken password command is worth retrying (a vault may be locked for a moment).
    cfg.password_command = Some("exit 2".into());
    let err = SmtpMailer::new(&cfg)
        .unwrap()
        .send_raw(SUPPORT, &[EMPLOYEE.to_string()], b"Subject: x\r\n\r\nx\r\n")
        .await
        .unwrap_err();
    assert!(
        !err.is_permanent() && err.to_string().contains("exit status 2"),
        "{err}"
    );
}
