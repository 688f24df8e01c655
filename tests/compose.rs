//! Composed mail, read back with mail-parser the way a mail client would:
//! headers, threading, loop-prevention markers, decoded Japanese bodies, and
//! no way for an employee's subject to add a header.

use mail_parser::{HeaderValue, MessageParser};
use mfa_desk::reply::compose::{AutoSubmitted, ComposeError, Draft, compose};

const TEXT_JA: &str = "山田 太郎 様\n\n情報システム部です。\nお問い合わせありがとうございます。\n① 機種変更の手順 & <注意>\n";
const HTML_JA: &str = "<p>山田 太郎 様</p><p>お問い合わせありがとうございます。</p>";

fn draft<'a>(
    to: &'a [String],
    references: &'a [String],
    extra: &'a [(String, String)],
) -> Draft<'a> {
    Draft {
        from: "情報システム部 <support@example.co.jp>",
        to,
        subject: "[MFA-12] 機種変更時の認証アプリの移行手順",
        text: TEXT_JA,
        html: None,
        message_id: "MFA-12.1@support.example.co.jp",
        in_reply_to: Some("<CAF=abc123@mail.example.com>"),
        references,
        auto_submitted: AutoSubmitted::AutoReplied,
        extra_headers: extra,
    }
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn raw_header<'a>(raw: &'a str, name: &str) -> Vec<&'a str> {
    let head = raw.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
        })
        .collect()
}

#[test]
fn an_automatic_reply_has_threading_and_loop_headers() {
    let to = vec!["山田 太郎 <yamada@example.co.jp>".to_string()];
    let refs = vec![
        "<root@mail.example.com>".to_string(),
        "CAF=abc123@mail.example.com".to_string(),
    ];
    let extra = vec![("X-MFA-Desk-Ticket".to_string(), "MFA-12".to_string())];
    let bytes = compose(&draft(&to, &refs, &extra)).expect("composes");
    let raw = String::from_utf8(bytes.clone()).expect("the wire form is ASCII");
    assert!(raw.is_ascii(), "non-ASCII must be encoded:\n{raw}");
    assert!(!raw.replace("\r\n", "").contains('\n'), "bare LF in output");

    let msg = MessageParser::default().parse(&bytes).expect("parses");
    assert_eq!(
        msg.subject(),
        Some("[MFA-12] 機種変更時の認証アプリの移行手順")
    );
    assert_eq!(msg.message_id(), Some("MFA-12.1@support.example.co.jp"));
    assert_eq!(ids(msg.in_reply_to()), vec!["CAF=abc123@mail.example.com"]);
    assert_eq!(
        ids(msg.references()),
        vec!["root@mail.example.com", "CAF=abc123@mail.example.com"]
    );
    let from = msg.from().and_then(|a| a.first()).expect("From");
    assert_eq!(from.name(), Some("情報システム部"));
    assert_eq!(from.address(), Some("support@example.co.jp"));
    let to = msg.to().and_then(|a| a.first()).expect("To");
    assert_eq!(to.name(), Some("山田 太郎"));
    assert_eq!(to.address(), Some("yamada@example.co.jp"));

    assert_eq!(
        msg.body_text(0).as_deref().map(|t| t.replace("\r\n", "\n")),
        Some(TEXT_JA.to_string())
    );
    assert!(
        !raw.contains("text/html") && !raw.contains("multipart"),
        "{raw}"
    );
    assert!(
        raw.to_ascii_lowercase()
            .contains("content-type: text/plain; charset=utf-8"),
        "{raw}"
    );

    assert_eq!(
        raw_header(&raw, "Auto-Submitted"),
        vec!["Auto-Submitted: auto-replied"]
    );
    assert_eq!(
        raw_header(&raw, "Precedence"),
        vec!["Precedence: auto_reply"]
    );
    assert_eq!(
        raw_header(&raw, "X-Auto-Response-Suppress"),
        vec!["X-Auto-Response-Suppress: All"]
    );
    assert_eq!(
        raw_header(&raw, "X-MFA-Desk-Ticket"),
        vec!["X-MFA-Desk-Ticket: MFA-12"]
    );
    assert_eq!(
        raw_header(&raw, "In-Reply-To"),
        vec!["In-Reply-To: <CAF=abc123@mail.example.com>"]
    );
    assert_eq!(raw_header(&raw, "Date").len(), 1);
    assert_eq!(raw_header(&raw, "MIME-Version").len(), 1);
}

#[test]
fn html_makes_multipart_alternative() {
    let to = vec!["yamada@example.co.jp".to_string()];
    let mut d = draft(&to, &[], &[]);
    d.html = Some(HTML_JA);
    let bytes = compose(&d).expect("composes");
    let raw = String::from_utf8(bytes.clone()).expect("ascii");
    assert!(raw.contains("multipart/alternative"), "{raw}");
    let msg = MessageParser::default().parse(&bytes).expect("parses");
    assert_eq!(
        msg.body_text(0).as_deref().map(|t| t.replace("\r\n", "\n")),
        Some(TEXT_JA.to_string())
    );
    assert_eq!(msg.body_html(0).as_deref(), Some(HTML_JA));
    // No References given: no empty header either.
    assert!(raw_header(&raw, "References").is_empty());
}

#[test]
fn a_mail_from_a_person_has_no_auto_markers() {
    let to = vec!["yamada@example.co.jp".to_string()];
    let mut d = draft(&to, &[], &[]);
    d.auto_submitted = AutoSubmitted::No;
    let raw = String::from_utf8(compose(&d).expect("composes")).expect("ascii");
    assert!(raw_header(&raw, "Auto-Submitted").is_empty());
    assert!(raw_header(&raw, "Precedence").is_empty());
    assert_eq!(
        raw_header(&raw, "X-Auto-Response-Suppress"),
        vec!["X-Auto-Response-Suppress: All"]
    );

    d.auto_submitted = AutoSubmitted::AutoGenerated;
    d.in_reply_to = None;
    let raw = String::from_utf8(compose(&d).expect("composes")).expect("ascii");
    assert_eq!(
        raw_header(&raw, "Auto-Submitted"),
        vec!["Auto-Submitted: auto-generated"]
    );
    assert!(raw_header(&raw, "In-Reply-To").is_empty());
}

#[test]
fn an_injected_subject_cannot_add_a_header() {
    let to = vec!["yamada@example.co.jp".to_string()];
    let mut d = draft(&to, &[], &[]);
    d.subject = "Re: help\r\nBcc: attacker@evil.example\r\n\r\nfake body";
    let bytes = compose(&d).expect("composes");
    let raw = String::from_utf8(bytes.clone()).expect("ascii");
    assert!(raw_header(&raw, "Bcc").is_empty(), "{raw}");
    let msg = MessageParser::default().parse(&bytes).expect("parses");
    assert_eq!(
        msg.subject(),
        Some("Re: help Bcc: attacker@evil.example fake body")
    );
    assert!(msg.header("Bcc").is_none());

    // A line break smuggled into an inbound Message-ID is dropped, not written.
    let refs = vec!["ok@x".to_string(), "bad@x\r\nBcc: a@b".to_string()];
    let mut d = draft(&to, &refs, &[]);
    d.in_reply_to = Some("evil@x\r\nBcc: a@b");
    let raw = String::from_utf8(compose(&d).expect("composes")).expect("ascii");
    assert!(raw_header(&raw, "Bcc").is_empty(), "{raw}");
    assert!(raw_header(&raw, "In-Reply-To").is_empty(), "{raw}");
    assert_eq!(raw_header(&raw, "References"), vec!["References: <ok@x>"]);
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let to = vec!["yamada@example.co.jp".to_string()];
    let none: Vec<String> = Vec::new();

    let mut d = draft(&none, &[], &[]);
    assert!(matches!(compose(&d), Err(ComposeError::NoRecipient)));
    d.to = &to;

    d.from = "not an address";
    let err = compose(&d).expect_err("bad From");
    assert!(
        err.to_string().contains("From address `not an address`"),
        "{err}"
    );
    d.from = "support@example.co.jp";

    d.message_id = "no-at-sign";
    assert!(matches!(compose(&d), Err(ComposeError::MessageId(_))));
    d.message_id = "<MFA-12.2@support.example.co.jp>";
    assert!(compose(&d).is_ok());

    let bad_to = vec!["yamada@".to_string()];
    d.to = &bad_to;
    assert!(matches!(
        compose(&d),
        Err(ComposeError::Address { field: "To", .. })
    ));

    for (name, value, want) in [
        ("Bcc", "x@y", "set by mfa-desk"),
        ("auto-submitted", "no", "set by mfa-desk"),
        ("X Bad", "v", "cannot be a header name"),
        ("X-Bad:", "v", "cannot be a header name"),
        ("X-Ticket", "MFA-1\r\nBcc: x@y", "line break"),
    ] {
        let extra = vec![(name.to_string(), value.to_string())];
        let mut d = draft(&to, &[], &extra);
        d.message_id = "a@b";
        let err = compose(&d).expect_err(name);
        assert!(err.to_string().contains(want), "{name}: {err}");
    }
}
