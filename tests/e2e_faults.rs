//! End to end through real servers, when things go wrong or are unusual: each
//! test starts its own Postfix + Dovecot (tests/support/mailstack.rs), runs the
//! built `mfa-desk` binary against support@, and checks what a person would
//! check: the mail that lands in employee@'s inbox, read back over IMAP, and
//! the flags on support@'s INBOX.
//!
//! - a Japanese ISO-2022-JP mail gets a Japanese guide that decodes correctly;
//! - SIGKILL between commit and flag: after restart, exactly one reply;
//! - Dovecot restarted during IDLE: the next mail is still answered quickly;
//! - SMTP down while a reply waits: delivered exactly once when it is back;
//! - first start on a full mailbox: `run` refuses, `--backfill` imports
//!   without answering, then only new mail is answered.

mod support;

use std::time::{Duration, Instant};
use support::desk::{Outbox, Service, run_to_end, store_count, write_config};
use support::mailstack::{EMPLOYEE, MailStack, SUPPORT, rand_u64};

/// Log line of the service once it has scanned the inbox and waits for mail.
const IDLING: &str = "IDLE: waiting for new mail";

/// The mail in employee@'s INBOX that answers `question_id` (they carry it
/// in In-Reply-To/References; the question itself never lands there).
async fn replies_to(stack: &MailStack, question_id: &str) -> Vec<Vec<u8>> {
    stack
        .messages(EMPLOYEE, "INBOX")
        .await
        .into_iter()
        .filter(|(_, _, raw)| String::from_utf8_lossy(raw).contains(question_id))
        .map(|(_, _, raw)| raw)
        .collect()
}

/// The flags of the mail in support@'s INBOX whose raw text contains `needle`.
async fn support_flags(stack: &MailStack, needle: &str) -> Vec<String> {
    stack
        .messages(SUPPORT, "INBOX")
        .await
        .into_iter()
        .find(|(_, _, raw)| String::from_utf8_lossy(raw).contains(needle))
        .map(|(_, flags, _)| flags)
        .unwrap_or_else(|| panic!("no mail containing {needle:?} in support@'s INBOX"))
}

fn is_handled(flags: &[String]) -> bool {
    flags.iter().any(|f| f.contains("$MfaDesk"))
}

fn in_reply_to(raw: &[u8]) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("the reply parses");
    format!("<{}>", msg.in_reply_to().as_text().unwrap_or_default())
}

fn rfc2822_now() -> String {
    jiff::Timestamp::now()
        .strftime("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

/// A plain English question as finished bytes (for LMTP delivery).
fn english_question(message_id: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Raj <{EMPLOYEE}>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n\
         Message-ID: {message_id}\r\nDate: {date}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}",
        date = rfc2822_now(),
    )
    .into_bytes()
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Text → ISO-2022-JP bytes; each call ends back in ASCII (`ESC ( B`).
fn jis(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::ISO_2022_JP.encode(text);
    assert!(!unmappable, "not encodable in ISO-2022-JP: {text}");
    bytes.into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_japanese_iso_2022_jp_mail_gets_a_japanese_guide() {
    let Some(stack) = MailStack::start("e2e_faults_iso_2022_jp") else {
        return;
    };
    let work = tempfile::tempdir().expect("temp dir");
    let config = write_config(work.path(), &stack, Outbox::Smtp, "");
    let mut service = Service::start(&config, &[]);
    service.wait_for_line(IDLING, Duration::from_secs(60));

    // What a Japanese mail client sends: 7bit JIS body, B-encoded JIS subject.
    let question_id = format!("<jis-{:016x}@example.test>", rand_u64());
    let subject = "認証コードが届きません";
    let body = [
        "情報システム部 御中",
        "",
        "お世話になっております。営業部の山田です。",
        "昨日からサインインの認証コードがSMSで届きません。",
        "スマートフォンは変えていません。何度か再送しましたが、届きません。",
        "どうすればよいでしょうか。",
        "",
        "よろしくお願いいたします。",
        "山田",
    ];
    let mut raw = format!(
        "From: {EMPLOYEE}\r\nTo: {SUPPORT}\r\nSubject: =?ISO-2022-JP?B?{}?=\r\n\
         Message-ID: {question_id}\r\nDate: {}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
        base64(&jis(subject)),
        rfc2822_now(),
    )
    .into_bytes();
    for line in body {
        raw.extend_from_slice(&jis(line));
        raw.extend_from_slice(b"\r\n");
    }
    assert!(raw.iter().all(|b| *b < 0x80), "the question must be 7bit");
    stack.send_raw_mail(EMPLOYEE, SUPPORT, &raw).await;

    let started = Instant::now();
    let (_, _, reply) = stack
        .wait_for_message(EMPLOYEE, "INBOX", &question_id, Duration::from_secs(30))
        .await;
    eprintln!(
        "the Japanese guide arrived {:?} after sending",
        started.elapsed()
    );

    let msg = mail_parser::MessageParser::default()
        .parse(&reply)
        .expect("the reply parses");
    assert_eq!(
        format!("<{}>", msg.in_reply_to().as_text().unwrap_or_default()),
        question_id,
        "the guide is not threaded under the question"
    );
    let subject_back = msg.subject().unwrap_or_default().to_string();
    assert!(
        subject_back.contains("[MFA-") && subject_back.contains("確認コードが届かない"),
        "not the Japanese code guide's subject: {subject_back:?}"
    );
    assert!(
        subject_back.contains(subject),
        "the original Japanese subject is not decoded into the reply's: {subject_back:?}"
    );
    let text = msg
        .body_text(0)
        .expect("the reply has a text body")
        .to_string();
    for expected in [
        "確認コード（認証コード）が届かない",
        "お問い合わせありがとうございます",
        "IT support",
    ] {
        assert!(
            text.contains(expected),
            "the guide's body lacks {expected:?}:\n{text}"
        );
    }
    assert!(
        !text.contains('\u{FFFD}'),
        "the guide has replacement characters:\n{text}"
    );
    assert!(is_handled(&support_flags(&stack, &question_id).await));
    assert!(service.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_between_commit_and_flag_leaves_exactly_one_reply() {
    let Some(stack) = MailStack::start("e2e_faults_sigkill") else {
        return;
    };
    let work = tempfile::tempdir().expect("temp dir");
    let config = write_config(work.path(), &stack, Outbox::Smtp, "");
    // 3 s between the commit and the flag: the window the kill lands in.
    let mut service = Service::start(&config, &[("MFA_DESK_TEST_PAUSE_AFTER_COMMIT_MS", "3000")]);
    service.wait_for_line(IDLING, Duration::from_secs(60));

    let question_id = stack
        .send_mail(
            EMPLOYEE,
            SUPPORT,
            "The sign-in code never arrives",
            "Hello,\n\nsince this morning the verification code by SMS never arrives \
             when I sign in. I asked for a new one twice.\n\nRaj\n",
        )
        .await;

    // Kill once the store holds the mail (committed) and its reply has gone
    // out, while the service still sleeps before flagging it on the server.
    // (Waiting for the reply keeps the kill out of the sender's SMTP
    // transaction: a kill after Postfix took the DATA but before the outbox
    // row is marked sent makes the next start send it again — the one window
    // an SMTP client cannot close: the recipient then gets two copies with
    // the same Message-ID.)
    let deadline = Instant::now() + Duration::from_secs(20);
    while store_count(work.path(), "messages", "source_ref IS NOT NULL").unwrap_or(0) < 1 {
        assert!(Instant::now() < deadline, "the mail was never committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let committed_at = Instant::now();
    stack
        .wait_for_message(EMPLOYEE, "INBOX", &question_id, Duration::from_secs(2))
        .await;
    assert_eq!(
        store_count(work.path(), "outbox", "sent_at IS NOT NULL"),
        Some(1),
        "the reply arrived but is not marked sent"
    );
    let status = service.kill9();
    let killed_after = committed_at.elapsed();
    eprintln!("SIGKILL {killed_after:?} after the commit was visible ({status})");
    assert!(!status.success());
    assert!(
        killed_after < Duration::from_millis(2500),
        "the kill came too late for the 3 s commit-to-flag pause"
    );
    // Restart without the pause: the mail is fetched again, recognised, flagged.
    let mut service = Service::start(&config, &[]);
    service.wait_for_line(IDLING, Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(15);
    while !is_handled(&support_flags(&stack, &question_id).await) {
        assert!(
            Instant::now() < deadline,
            "the mail is still not flagged handled after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Whatever was in flight has had time to arrive (and any second reply would).
    stack
        .wait_for_message(EMPLOYEE, "INBOX", &question_id, Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let replies = replies_to(&stack, &question_id).await;
    assert_eq!(
        replies.len(),
        1,
        "expected exactly one reply, got:\n{}",
        replies
            .iter()
            .map(|r| String::from_utf8_lossy(&r[..r.len().min(600)]).to_string())
            .collect::<Vec<_>>()
            .join("\n-----\n")
    );
    assert_eq!(in_reply_to(&replies[0]), question_id);
    assert_eq!(
        store_count(work.path(), "messages", "source_ref IS NOT NULL"),
        Some(1),
        "the mail was recorded twice"
    );
    assert!(service.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn dovecot_restarted_during_idle_then_next_mail_is_answered() {
    let Some(stack) = MailStack::start("e2e_faults_dovecot_restart") else {
        return;
    };
    let work = tempfile::tempdir().expect("temp dir");
    let config = write_config(work.path(), &stack, Outbox::Smtp, "");
    let mut service = Service::start(&config, &[]);
    service.wait_for_line(IDLING, Duration::from_secs(60));
    // Let the IDLE command reach the server before it goes away.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let t = Instant::now();
    stack.restart_dovecot();
    eprintln!("Dovecot restarted in {:?}", t.elapsed());

    let sent = Instant::now();
    let question_id = stack
        .send_mail(
            EMPLOYEE,
            SUPPORT,
            "How do I set up the authenticator app?",
            "Hello,\n\nI got a new laptop and need to set up the authenticator app for \
             the first time. What are the steps?\n\nThanks,\nRaj\n",
        )
        .await;
    let (_, _, raw) = stack
        .wait_for_message(EMPLOYEE, "INBOX", &question_id, Duration::from_secs(10))
        .await;
    let took = sent.elapsed();
    eprintln!("answered {took:?} after sending (Dovecot restarted just before)");
    assert!(
        took <= Duration::from_secs(6),
        "the answer took {took:?} after a Dovecot restart"
    );
    assert_eq!(in_reply_to(&raw), question_id);
    assert!(service.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_down_while_a_reply_waits_then_delivered_exactly_once() {
    let Some(stack) = MailStack::start("e2e_faults_smtp_down") else {
        return;
    };
    let work = tempfile::tempdir().expect("temp dir");
    let config = write_config(work.path(), &stack, Outbox::Smtp, "");
    let mut service = Service::start(&config, &[]);
    service.wait_for_line(IDLING, Duration::from_secs(60));

    stack.stop_smtp();
    // Postfix is down, so the question goes straight into support@ over LMTP.
    let question_id = format!("<smtp-down-{:016x}@example.test>", rand_u64());
    stack
        .deliver_lmtp(
            EMPLOYEE,
            SUPPORT,
            &[english_question(
                &question_id,
                "I changed phones and have no codes",
                "Hello,\n\nI moved to a new phone yesterday and now the authenticator app \
                 on it shows no account. How do I move my sign-in to the new phone?\n\nRaj\n",
            )],
        )
        .await;

    // The reply is committed to the outbox, and the first send fails.
    let reply_rows = "rcpt_to LIKE '%employee@example.test%'";
    let failed_once = format!("{reply_rows} AND attempts >= 1 AND sent_at IS NULL");
    let deadline = Instant::now() + Duration::from_secs(20);
    while store_count(work.path(), "outbox", &failed_once).unwrap_or(0) < 1 {
        assert!(
            Instant::now() < deadline,
            "no reply waiting in the outbox after a failed attempt"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed_at = Instant::now();
    assert!(is_handled(&support_flags(&stack, &question_id).await));
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.start_smtp();

    // The outbox retries after its backoff (30 s for the first retry).
    let (_, _, raw) = stack
        .wait_for_message(EMPLOYEE, "INBOX", &question_id, Duration::from_secs(45))
        .await;
    eprintln!(
        "delivered {:?} after the first failed attempt",
        failed_at.elapsed()
    );
    assert_eq!(in_reply_to(&raw), question_id);
    // A few more sender passes (every 5 s): nothing is sent again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        replies_to(&stack, &question_id).await.len(),
        1,
        "expected the reply exactly once"
    );
    assert_eq!(
        store_count(
            work.path(),
            "outbox",
            &format!("{reply_rows} AND sent_at IS NULL")
        ),
        Some(0),
        "the reply is still pending in the outbox"
    );
    assert_eq!(
        store_count(work.path(), "outbox", reply_rows),
        Some(1),
        "more than one reply row"
    );
    assert!(service.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn first_start_on_old_mail_needs_backfill_then_only_new_mail_is_answered() {
    let Some(stack) = MailStack::start("e2e_faults_backfill") else {
        return;
    };
    let work = tempfile::tempdir().expect("temp dir");
    let config = write_config(work.path(), &stack, Outbox::Smtp, "");

    let old: Vec<Vec<u8>> = [
        (
            "The code never arrives",
            "The SMS code never arrives when I sign in.",
        ),
        (
            "Lost my phone",
            "I lost my phone on the train yesterday. What now?",
        ),
        (
            "Locked out",
            "My account is locked after too many attempts.",
        ),
    ]
    .iter()
    .enumerate()
    .map(|(i, (subject, body))| {
        english_question(
            &format!("<old-{i}-{:016x}@example.test>", rand_u64()),
            subject,
            &format!("Hello,\n\n{body}\n\nRaj\n"),
        )
    })
    .collect();
    stack.deliver_lmtp(EMPLOYEE, SUPPORT, &old).await;
    assert_eq!(stack.messages(SUPPORT, "INBOX").await.len(), 3);

    // `run` refuses, in plain words naming --backfill, and touches nothing.
    let refused = run_to_end(&config, &["run"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "run accepted a full mailbox");
    assert!(
        stderr.contains("--backfill") && stderr.contains("3 message"),
        "the refusal does not name --backfill and the count:\n{stderr}"
    );
    assert!(
        stack
            .messages(SUPPORT, "INBOX")
            .await
            .iter()
            .all(|(_, flags, _)| !is_handled(flags)),
        "the refused run marked mail"
    );

    // `run --backfill` records them as history and answers none.
    let backfill = run_to_end(&config, &["run", "--backfill"]);
    assert!(
        backfill.status.success(),
        "run --backfill failed:\n{}",
        String::from_utf8_lossy(&backfill.stderr)
    );
    let inbox = stack.messages(SUPPORT, "INBOX").await;
    assert_eq!(inbox.len(), 3);
    assert!(
        inbox.iter().all(|(_, flags, _)| is_handled(flags)),
        "backfilled mail not flagged handled"
    );
    assert_eq!(store_count(work.path(), "messages", ""), Some(3));
    assert_eq!(store_count(work.path(), "outbox", ""), Some(0));

    // Then `run` answers new mail only.
    let mut service = Service::start(&config, &[]);
    service.wait_for_line(IDLING, Duration::from_secs(30));
    let question_id = stack
        .send_mail(
            EMPLOYEE,
            SUPPORT,
            "New phone, how do I move the authenticator?",
            "Hello,\n\nI am getting a new phone next week. How do I move the \
             authenticator app to it?\n\nRaj\n",
        )
        .await;
    stack
        .wait_for_message(EMPLOYEE, "INBOX", &question_id, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let employee = stack.messages(EMPLOYEE, "INBOX").await;
    assert_eq!(
        employee.len(),
        1,
        "employee@ should have exactly the one answer to the new mail"
    );
    assert_eq!(in_reply_to(&employee[0].2), question_id);
    assert!(service.stop().success());
}
