//! Integration tests for `mfa_desk::parse`: each fixture in
//! tests/fixtures/parse/ (written by scripts/make-fixtures.py) is checked for
//! what a person reading the mail would check.

use mfa_desk::parse::{Inbound, normalize, parse};
use mfa_desk::verdict::Language;
use std::path::Path;

fn fixture(name: &str) -> Inbound {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parse")
        .join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&raw)
}

fn has_problem(inbound: &Inbound, words: &str) -> bool {
    inbound.problems.iter().any(|p| p.contains(words))
}

#[test]
fn iso_2022_jp_declared() {
    let m = fixture("iso2022jp_declared.eml");
    assert_eq!(m.subject, "【至急】二段階認証のコードが届かない件");
    assert_eq!(m.from_name.as_deref(), Some("山田 太郎"));
    assert_eq!(m.from_addr, "taro.yamada@example.co.jp");
    assert!(m.new_text.contains("二段階認証のコードがSMSで届きません"));
    assert!(
        m.new_text.contains("手順①②"),
        "NEC row 13 survives: {}",
        m.new_text
    );
    assert_eq!(m.language, Language::Ja);
    assert!(m.problems.is_empty(), "{:?}", m.problems);
}

#[test]
fn iso_2022_jp_without_charset_is_repaired() {
    let m = fixture("iso2022jp_undeclared_outlook.eml");
    assert!(m.new_text.contains("お問い合わせありがとうございます。"));
    assert!(!m.new_text.contains('\u{1b}'));
    assert_eq!(m.header("x-mailer"), Some("Microsoft Outlook 16.0"));
    assert!(has_problem(&m, "ISO-2022-JP without a declared charset"));
}

#[test]
fn shift_jis_quoted_printable() {
    let m = fixture("shiftjis_qp.eml");
    assert_eq!(m.subject, "スマホを紛失しました");
    assert_eq!(m.from_name.as_deref(), Some("鈴木 花子"));
    assert!(
        m.new_text
            .contains("電車の中でスマートフォンを紛失しました")
    );
}

#[test]
fn cp932_label_with_nec_and_ibm_characters() {
    let m = fixture("cp932_labelled.eml");
    assert_eq!(m.subject, "ログインできません①");
    assert_eq!(m.from_name.as_deref(), Some("髙橋 一郎"));
    assert!(
        m.new_text.contains("㈱サンプル商事の髙橋です。"),
        "{}",
        m.new_text
    );
    assert!(m.new_text.contains("手順①"));
    assert!(has_problem(&m, "cp932 was rewritten to windows-31j"));
}

#[test]
fn shift_jis_mislabelled_as_iso_2022_jp() {
    let m = fixture("sjis_labelled_as_jis.eml");
    assert_eq!(
        m.new_text,
        "髙橋です。認証コードが届きません。手順①を試しました。"
    );
    assert!(has_problem(&m, "decoded as Shift_JIS"));
}

#[test]
fn euc_jp() {
    let m = fixture("eucjp.eml");
    assert_eq!(m.subject, "YubiKeyが反応しません");
    assert!(m.new_text.contains("ランプが点きません"));
}

#[test]
fn utf8_base64() {
    let m = fixture("utf8_base64.eml");
    assert_eq!(m.subject, "身に覚えのない承認リクエスト");
    assert!(m.new_text.contains("承認リクエストが届きました"));
}

#[test]
fn subject_split_inside_a_character() {
    let m = fixture("subject_split_mid_char.eml");
    assert_eq!(m.subject, "二段階認証のコードが届きません");
    assert_eq!(m.header("subject"), Some("二段階認証のコードが届きません"));
}

#[test]
fn html_only_becomes_readable_text() {
    let m = fixture("html_only.eml");
    assert_eq!(m.content_type, "text/html");
    assert!(m.new_text.contains("お世話になっております。\n"));
    assert!(
        m.new_text
            .contains("Authenticator のコードが\"無効\"と表示されます。")
    );
    assert!(m.new_text.contains("R&D部 山田"));
    assert!(!m.new_text.contains('<') && !m.new_text.contains("&nbsp;"));
    assert!(!m.new_text.contains('\u{a0}'));
}

#[test]
fn alternative_prefers_plain_text() {
    let m = fixture("multipart_alternative.eml");
    assert_eq!(m.content_type, "multipart/alternative");
    assert!(
        m.new_text
            .contains("How do I set up the authenticator app on my new laptop?")
    );
    assert!(!m.new_text.contains("HTML VERSION ONLY"));
    assert_eq!(m.language, Language::En);
}

#[test]
fn outlook_english_reply() {
    let m = fixture("outlook_en_reply.eml");
    assert!(m.new_text.contains("the code still does not arrive by SMS"));
    assert!(!m.new_text.contains("Please restart your phone"));
    assert!(!m.new_text.contains("Original Message"));
    assert!(m.quoted_text.contains("Please restart your phone"));
    assert_eq!(m.in_reply_to, ["guide-1@example.co.jp"]);
    assert_eq!(
        m.references,
        ["case-1@example.co.jp", "guide-1@example.co.jp"]
    );
}

#[test]
fn outlook_html_reply_with_bold_headers() {
    let m = fixture("outlook_html_reply.eml");
    assert_eq!(m.new_text, "Still locked out after 30 minutes.");
    assert!(m.quoted_text.contains("unlock itself"));
}

#[test]
fn outlook_japanese_reply() {
    let m = fixture("outlook_ja_reply.eml");
    assert!(m.new_text.contains("まだロックされたままです"));
    assert!(!m.new_text.contains("再起動してください"));
    assert!(!m.new_text.contains("差出人"));
    assert!(
        m.quoted_text
            .contains("スマートフォンを再起動してください。")
    );
}

#[test]
fn gmail_wrapped_on_wrote() {
    let m = fixture("gmail_on_wrote.eml");
    assert_eq!(m.new_text, "It worked after the reset, thank you!");
    assert!(m.quoted_text.contains("Your account has been unlocked"));
}

#[test]
fn gmail_japanese_attribution() {
    let m = fixture("gmail_ja_attribution.eml");
    assert_eq!(
        m.new_text,
        "ありがとうございます。新しいiPhoneで設定できました。"
    );
    assert!(m.quoted_text.contains("移行用のQRコード"));
}

#[test]
fn dash_dash_signature_is_trimmed() {
    let m = fixture("signature_dashdash.eml");
    assert!(m.new_text.contains("no longer get push notifications"));
    assert!(!m.new_text.contains("TEL"));
    assert!(!m.new_text.contains("Sales Department"));
}

#[test]
fn mobile_footer_is_trimmed() {
    let m = fixture("iphone_footer.eml");
    assert_eq!(m.new_text, "外出先ですがSMSのコードが届きません。");
}

#[test]
fn english_over_japanese_quote_is_english() {
    let m = fixture("english_over_japanese_quote.eml");
    assert_eq!(m.language, Language::En);
    assert!(m.new_text.contains("The code still does not arrive."));
    assert!(!m.new_text.contains("お問い合わせ"));
    assert_eq!(m.subject, "Re: 認証コードが届きません");
}

#[test]
fn missing_message_id_is_a_problem() {
    let m = fixture("missing_message_id.eml");
    assert_eq!(m.message_id, None);
    assert!(has_problem(&m, "no Message-ID"));
    assert!(m.dedup_key().starts_with("sha256:"));
    assert_eq!(m.raw_sha256.len(), 64);
}

#[test]
fn broken_mime_still_gives_the_text() {
    let m = fixture("broken_mime.eml");
    assert!(m.new_text.contains("My YubiKey is broken"));
    assert!(has_problem(&m, "never closed"));
    assert_eq!(m.message_id.as_deref(), Some("broken-mime@example.co.jp"));
}

#[test]
fn empty_mail() {
    let m = fixture("empty.eml");
    assert!(has_problem(&m, "empty"));
    assert_eq!(m.language, Language::Ja);
    assert!(m.dedup_key().starts_with("sha256:"));
}

#[test]
fn auto_reply_headers_are_kept() {
    let m = fixture("auto_reply_headers.eml");
    assert_eq!(m.header("auto-submitted"), Some("auto-replied"));
    assert_eq!(m.header("x-autoreply"), Some("yes"));
    assert_eq!(m.header("precedence"), Some("auto_reply"));
    assert_eq!(m.header("return-path"), Some("<>"));
    assert_eq!(
        m.header("subject"),
        Some("自動応答: 認証コードが届きません")
    );
}

#[test]
fn bounce_is_detectable() {
    let m = fixture("bounce_report.eml");
    assert_eq!(
        m.content_type,
        "multipart/report; report-type=delivery-status"
    );
    assert_eq!(m.from_addr, "mailer-daemon@example.co.jp");
}

#[test]
fn attachments_are_listed() {
    let m = fixture("with_attachment.eml");
    assert_eq!(m.attachments.len(), 1);
    let a = &m.attachments[0];
    assert_eq!(a.name.as_deref(), Some("画面.png"));
    assert_eq!(a.mime_type, "image/png");
    assert_eq!(a.size, 1024);
    assert_eq!(m.new_text, "エラー画面を添付します。");
}

#[test]
fn addresses_and_date() {
    let m = fixture("outlook_en_reply.eml");
    assert_eq!(m.from_addr, "john.smith@example.co.jp");
    assert_eq!(m.to, ["support@example.co.jp"]);
    assert!(m.cc.is_empty());
    // Fri, 20 Nov 2026 10:00:00 +0900
    assert_eq!(m.date, Some(1_795_136_400));
    assert_eq!(
        m.message_id.as_deref(),
        Some("outlook-en-reply@example.co.jp")
    );
}

#[test]
fn normalize_folds_width_and_case() {
    assert_eq!(normalize("ＭＦＡのｺｰﾄﾞ"), "mfaのコード");
}

#[test]
fn sample_inbox_parses_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/inbox");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/inbox exists") {
        let path = entry.expect("dir entry").path();
        let m = parse(&std::fs::read(&path).expect("readable"));
        assert!(
            m.problems.is_empty(),
            "{}: {:?}",
            path.display(),
            m.problems
        );
        assert!(!m.new_text.is_empty(), "{}", path.display());
        assert!(!m.subject.is_empty(), "{}", path.display());
        assert_eq!(m.to, ["support@example.co.jp"], "{}", path.display());
        count += 1;
    }
    assert!(count >= 12);
}

#[test]
fn garbage_never_panics() {
    // A fixed pseudo-random generator: the test is the same on every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let seeds: Vec<Vec<u8>> = [
        "iso2022jp_declared.eml",
        "broken_mime.eml",
        "html_only.eml",
        "with_attachment.eml",
    ]
    .iter()
    .map(|n| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/parse")
                .join(n),
        )
        .expect("fixture")
    })
    .collect();
    for seed in &seeds {
        for _ in 0..200 {
            let mut raw = seed.clone();
            let len = raw.len().max(1);
            for _ in 0..(next() % 8) {
                let at = (next() as usize) % len;
                if let Some(b) = raw.get_mut(at) {
                    *b = next() as u8;
                }
            }
            raw.truncate((next() as usize) % (len + 1));
            let _ = parse(&raw);
        }
    }
    for raw in [
        &b"\xff\xfe\x00"[..],
        b"no headers at all",
        b"Subject: =?UTF-8?B?",
        b"Subject: =?ISO-2022-JP?B?GyRC?=\r\n\r\n\x1b$B",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n",
        b"From: <>\r\nTo: ,,,\r\n\r\n>\r\n-- \r\n",
    ] {
        let _ = parse(raw);
    }
}

#[test]
fn deep_nesting_still_gives_an_inbound() {
    let mut raw = String::from("From: a@example.co.jp\r\nMessage-ID: <deep@example.co.jp>\r\n");
    for depth in 0..200 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{depth}\"\r\n\r\n--b{depth}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\nDeep inside.\r\n");
    let m = parse(raw.as_bytes());
    assert_eq!(m.from_addr, "a@example.co.jp");
    assert!(has_problem(&m, "nested"), "{:?}", m.problems);
}

#[test]
fn huge_mail_reads_only_the_head() {
    let mut raw = b"From: big@example.co.jp\r\nMessage-ID: <big@example.co.jp>\r\nSubject: Big\r\n\
Content-Type: multipart/mixed; boundary=\"z\"\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\n\
Please see the attached log.\r\n--z\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    let line = b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n";
    while raw.len() < 26 * 1024 * 1024 {
        raw.extend_from_slice(line);
    }
    raw.extend_from_slice(b"--z--\r\n");
    let m = parse(&raw);
    assert_eq!(m.subject, "Big");
    assert!(m.new_text.contains("Please see the attached log."));
    assert!(
        has_problem(&m, "mail is 26 MB; attachments were not read"),
        "{:?}",
        m.problems
    );
}
