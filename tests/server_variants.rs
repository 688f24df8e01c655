//! `ImapSource` and `SmtpMailer` against servers unlike the default test
//! stack: a Dovecot that offers no IDLE, MOVE or UIDPLUS (older and smaller
//! servers), IMAP and SMTP logins with XOAUTH2 tokens checked by an OAuth2
//! introspection endpoint (what Microsoft 365 and Google Workspace require),
//! and IDLE renewed on a short period (behind a NAT that forgets quiet
//! connections). Real Dovecot and Postfix each time, with the capability
//! list or the passdb changed (scripts/mailstack).

mod support;

use mfa_desk::send::smtp::SmtpMailer;
use mfa_desk::source::imap::ImapSource;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::mailstack::{EMPLOYEE, MailStack, SUPPORT, flags_of, rand_u64, unique};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// Dovecot 2.3's list without IDLE, MOVE and UIDPLUS.
const NO_IDLE_MOVE_UIDPLUS: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT \
     SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND \
     URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE LIST-EXTENDED I18NLEVEL=1 \
     CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS \
     BINARY SPECIAL-USE LITERAL+";

#[tokio::test(flavor = "multi_thread")]
async fn without_idle_the_source_polls_at_its_interval() {
    let Some(stack) =
        MailStack::start_variant("without_idle_polls", Some(NO_IDLE_MOVE_UIDPLUS), None)
    else {
        return;
    };
    let mut cfg = stack.imap_config(SUPPORT);
    cfg.poll_interval_secs = 2;
    let report = ImapSource::new(cfg.clone()).check().await.unwrap();
    assert!(report.contains("IDLE: no"), "{report}");

    let mut src = ImapSource::new(cfg);
    assert!(src.fetch_unhandled(10).await.unwrap().is_empty());
    let (_tx, mut rx) = watch::channel(false);
    // No IDLE: the wait is the poll interval, whatever arrives meanwhile.
    let t = Instant::now();
    src.wait_for_new_mail(&mut rx).await.unwrap();
    let waited = t.elapsed();
    eprintln!("poll wait without mail: {waited:?}");
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    let subject = unique("code never arrives (polling)");
    stack.send_mail(EMPLOYEE, SUPPORT, &subject, "x").await;
    stack
        .wait_for_message(SUPPORT, "INBOX", &subject, Duration::from_secs(10))
        .await;
    let t = Instant::now();
    src.wait_for_new_mail(&mut rx).await.unwrap();
    let got = src.fetch_unhandled(10).await.unwrap();
    eprintln!("fetched {:?} after the delivery", t.elapsed());
    assert!(
        got.iter()
            .any(|f| String::from_utf8_lossy(&f.raw).contains(&subject)),
        "the next poll did not find the new mail"
    );
    src.logout().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_move_and_uidplus_handled_mail_is_copied_and_never_fetched_again() {
    let Some(stack) =
        MailStack::start_variant("without_move_uidplus", Some(NO_IDLE_MOVE_UIDPLUS), None)
    else {
        return;
    };
    let mut cfg = stack.imap_config(SUPPORT);
    cfg.processed_folder = Some("Processed".into());
    let report = ImapSource::new(cfg.clone()).check().await.unwrap();
    assert!(report.contains("MOVE: no"), "{report}");

    let mut src = ImapSource::new(cfg);
    let handled = unique("new phone (no MOVE)");
    let quarantined = unique("broken (no MOVE)");
    for s in [&handled, &quarantined] {
        stack.send_mail(EMPLOYEE, SUPPORT, s, "x").await;
        stack
            .wait_for_message(SUPPORT, "INBOX", s, Duration::from_secs(10))
            .await;
    }
    let got = src.fetch_unhandled(10).await.unwrap();
    let find = |s: &str| {
        got.iter()
            .find(|f| String::from_utf8_lossy(&f.raw).contains(s))
            .map(|f| f.source_ref.clone())
            .expect("fetched")
    };
    src.mark_handled(&find(&handled)).await.unwrap();
    src.quarantine(&find(&quarantined)).await.unwrap();

    // COPY, then \Deleted in place: without UIDPLUS no EXPUNGE, which would
    // also purge mail a person deleted on purpose.
    let processed = stack.messages(SUPPORT, "Processed").await;
    assert!(
        flags_of(&processed, &handled).is_some(),
        "not copied to Processed"
    );
    let q = stack.messages(SUPPORT, "Quarantine").await;
    assert!(
        flags_of(&q, &quarantined).is_some(),
        "not copied to Quarantine"
    );
    let inbox = stack.messages(SUPPORT, "INBOX").await;
    for s in [&handled, &quarantined] {
        let flags = flags_of(&inbox, s).expect("the original stays until expunged");
        assert!(flags.iter().any(|f| f == "Deleted"), "{s}: {flags:?}");
    }
    // A new session (a restart) does not take them again.
    src.logout().await;
    let mut again = ImapSource::new({
        let mut cfg = stack.imap_config(SUPPORT);
        cfg.processed_folder = Some("Processed".into());
        cfg
    });
    assert!(again.fetch_unhandled(10).await.unwrap().is_empty());
    again.logout().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_is_renewed_on_its_period_and_the_session_keeps_working() {
    let Some(stack) = MailStack::start("idle_is_renewed") else {
        return;
    };
    let mut cfg = stack.imap_config(SUPPORT);
    cfg.idle_renew_secs = 1;
    let mut src = ImapSource::new(cfg);
    assert!(src.fetch_unhandled(10).await.unwrap().is_empty());
    let (_tx, mut rx) = watch::channel(false);
    // Three quiet renewals: each IDLE ends with DONE after ~1 s, no mail.
    for round in 0..3 {
        let t = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), src.wait_for_new_mail(&mut rx))
            .await
            .expect("IDLE was not renewed")
            .unwrap();
        let waited = t.elapsed();
        eprintln!("renewal {round}: IDLE ended after {waited:?}");
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        assert!(src.fetch_unhandled(10).await.unwrap().is_empty());
    }
    assert_eq!(src.outage_secs(), None, "a renewal is not an outage");
    // The same session still sees new mail.
    let subject = unique("after renewals");
    stack.send_mail(EMPLOYEE, SUPPORT, &subject, "x").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = src.fetch_unhandled(10).await.unwrap();
        if got
            .iter()
            .any(|f| String::from_utf8_lossy(&f.raw).contains(&subject))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mail after the renewals was not seen"
        );
        tokio::time::timeout(Duration::from_secs(5), src.wait_for_new_mail(&mut rx))
            .await
            .expect("the wait did not end")
            .unwrap();
    }
    src.logout().await;
}

/// A minimal OAuth2 token introspection endpoint (RFC 7662, as Dovecot's
/// oauth2 passdb calls it with `introspection_mode = post`): `good` is
/// active for `user`, every other token is not. Counts the calls.
async fn introspection_endpoint(good: String, user: String) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/introspect", listener.local_addr().expect("addr"));
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let (good, user, counter) = (good.clone(), user.clone(), counter.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Headers, then Content-Length bytes of form body.
                loop {
                    let Ok(n) = conn.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            let body = &text[end + 4..];
                            counter.fetch_add(1, Ordering::SeqCst);
                            let active = body.split('&').any(|kv| kv == format!("token={good}"));
                            let json = if active {
                                format!(r#"{{"active":true,"username":"{user}"}}"#)
                            } else {
                                r#"{"active":false}"#.to_string()
                            };
                            let reply = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                                 Content-Length: {}\r\nConnection: close\r\n\r\n{json}",
                                json.len()
                            );
                            let _ = conn.write_all(reply.as_bytes()).await;
                            let _ = conn.shutdown().await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, calls)
}

#[tokio::test(flavor = "multi_thread")]
async fn xoauth2_logs_in_to_imap_and_smtp_with_the_token_from_token_command() {
    let good = format!("ya29.test-{:016x}", rand_u64());
    let (url, calls) = introspection_endpoint(good.clone(), SUPPORT.to_string()).await;
    let Some(stack) = MailStack::start_variant("xoauth2", None, Some(&url)) else {
        return;
    };
    let oauth = |token: &str| {
        let mut cfg = stack.imap_config(SUPPORT);
        cfg.password_command = None;
        cfg.token_command = Some(format!("printf '%s' '{token}'"));
        cfg
    };

    let report = ImapSource::new(oauth(&good)).check().await.unwrap();
    eprintln!("{report}");
    assert!(
        calls.load(Ordering::SeqCst) >= 1,
        "Dovecot never asked the endpoint"
    );

    let mut src = ImapSource::new(oauth(&good));
    let subject = unique("lost my phone (oauth)");
    stack.send_mail(EMPLOYEE, SUPPORT, &subject, "x").await;
    stack
        .wait_for_message(SUPPORT, "INBOX", &subject, Duration::from_secs(10))
        .await;
    let got = src.fetch_unhandled(10).await.unwrap();
    let f = got
        .iter()
        .find(|f| String::from_utf8_lossy(&f.raw).contains(&subject))
        .expect("fetched over an XOAUTH2 session");
    src.mark_handled(&f.source_ref).await.unwrap();
    assert!(src.fetch_unhandled(10).await.unwrap().is_empty());
    src.logout().await;

    // An expired or foreign token: plain words, and the token is not in them.
    let bad = format!("expired-{:016x}", rand_u64());
    let err = ImapSource::new(oauth(&bad))
        .check()
        .await
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(err.contains("refused the OAuth2 token"), "{err}");
    assert!(err.contains(SUPPORT), "{err}");
    assert!(!err.contains(&bad), "the token leaked: {err}");

    // SMTP: Postfix hands the SASL exchange to the same Dovecot auth.
    let mut smtp = stack.smtp_config();
    smtp.username = Some(SUPPORT.into());
    smtp.token_command = Some(format!("printf '%s' '{good}'"));
    let mailer = SmtpMailer::new(&smtp).unwrap();
    let summary = mailer.check().await.unwrap();
    assert!(
        summary.contains(&format!("logged in as {SUPPORT}")),
        "{summary}"
    );
    let id = format!("<oauth-{:016x}@example.test>", rand_u64());
    let raw = format!(
        "From: support@example.test\r\nTo: employee@example.test\r\nSubject: oauth\r\n\
         Message-ID: {id}\r\n\r\nsent with an XOAUTH2 login\r\n"
    );
    mailer
        .send_raw(SUPPORT, &[EMPLOYEE.to_string()], raw.as_bytes())
        .await
        .unwrap();
    stack
        .wait_for_message(EMPLOYEE, "INBOX", &id, Duration::from_secs(10))
        .await;
    smtp.token_command = Some(format!("printf '%s' '{bad}'"));
    let err = SmtpMailer::new(&smtp).unwrap().check().await.unwrap_err();
    eprintln!("{err}");
    // A fresh token may work: retried, with words an admin can act on.
    assert!(!err.is_permanent(), "{err}");
    assert!(
        err.to_string().contains("refused the OAuth2 token"),
        "{err}"
    );
    assert!(err.to_string().contains(SUPPORT), "{err}");
    assert!(!err.to_string().contains(&bad), "the token leaked: {err}");
}
