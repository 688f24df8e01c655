//! Things wrong with a mail that decoding silently papers over: line breaks
//! smuggled into a decoded Subject or name (header injection), NUL or
//! undecodable bytes in the headers, a second Message-ID, charsets nobody
//! knows, lines longer than mail allows. Each becomes a plain-words problem,
//! and the injected line breaks are removed from what mfa-desk keeps.

use super::Inbound;
use crate::reply::templates::one_line;

/// Check `raw` and the decoded `inbound`; clean the decoded header values.
pub fn check(raw: &[u8], inbound: &mut Inbound) {
    if has_line_break(&inbound.subject) {
        inbound.subject = one_line(&inbound.subject);
        inbound.problems.push(
            "the Subject holds a line break (a header injection attempt?); it was put on one line"
                .into(),
        );
    }
    if let Some(name) = inbound.from_name.as_deref()
        && has_line_break(name)
    {
        inbound.from_name = Some(one_line(name));
        inbound
            .problems
            .push("the From name holds a line break (a header injection attempt?); it was put on one line".into());
    }
    let head = header_block(raw);
    if head.contains(&0) {
        inbound
            .problems
            .push("the mail has NUL bytes in the headers".into());
    }
    if !head.is_ascii() && std::str::from_utf8(head).is_err() && !is_japanese_legacy(head) {
        inbound.problems.push(
            "the headers hold header bytes in no known charset; they were read as well as possible"
                .into(),
        );
    }
    if inbound.headers_named("message-id").count() > 1 {
        inbound
            .problems
            .push("the mail has two Message-ID headers; the first was used".into());
    }
    for label in unknown_charsets(raw) {
        inbound.problems.push(format!(
            "unknown charset {label}: the text was read as UTF-8 and may be garbled"
        ));
    }
    if raw.split(|b| *b == b'\n').any(|l| l.len() > 999) {
        inbound
            .problems
            .push("the mail has a line longer than 998 characters (RFC 5322's limit)".into());
    }
}

fn has_line_break(s: &str) -> bool {
    s.contains(['\r', '\n'])
}

/// The bytes up to the first empty line.
fn header_block(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    &raw[..end]
}

/// Raw Shift_JIS or EUC-JP in headers is common in old Japanese mailers and
/// is decoded elsewhere; it is not "no known charset".
fn is_japanese_legacy(bytes: &[u8]) -> bool {
    [encoding_rs::SHIFT_JIS, encoding_rs::EUC_JP]
        .iter()
        .any(|enc| !enc.decode_without_bom_handling(bytes).1)
}

/// Charset labels in `charset=` parameters and encoded words that no decoder
/// knows (unknown labels fall back to UTF-8 in mail-parser).
fn unknown_charsets(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let lower = text.to_ascii_lowercase();
    let mut labels: Vec<String> = Vec::new();
    let mut push = |label: &str| {
        let label = label.trim_matches(['"', '\'', ' ', ';']).to_string();
        if !label.is_empty() && !known(&label) && !labels.contains(&label) {
            labels.push(label);
        }
    };
    for (i, _) in lower.match_indices("charset=") {
        let rest = &lower[i + 8..];
        let label: String = rest
            .trim_start_matches('"')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-_.:".contains(*c))
            .collect();
        push(&label);
    }
    for (i, _) in lower.match_indices("=?") {
        let rest = &lower[i + 2..];
        if let Some(q) = rest.find('?') {
            let label = rest[..q].split('*').next().unwrap_or("");
            if label.len() < 40
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            {
                push(label);
            }
        }
    }
    labels.truncate(5);
    labels
}

fn known(label: &str) -> bool {
    matches!(label, "utf-8" | "utf8" | "us-ascii" | "ascii")
        || mail_parser::decoders::charsets::map::charset_decoder(label.as_bytes()).is_some()
        || encoding_rs::Encoding::for_label(label.as_bytes()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_line_breaks_are_named_and_removed() {
        let mut m = Inbound {
            subject: "x\r\nBcc: evil@attacker.test".into(),
            ..Inbound::default()
        };
        check(b"Subject: x\r\n\r\nbody", &mut m);
        assert_eq!(m.subject, "x Bcc: evil@attacker.test");
        assert!(m.problems.iter().any(|p| p.contains("line break")));
    }

    #[test]
    fn known_charsets_are_not_problems() {
        let raw = b"Subject: =?ISO-2022-JP?B?GyRC?= =?utf-8?q?x?= =?Shift_JIS?B?gqA=?=\r\nContent-Type: text/plain; charset=\"windows-31j\"\r\n\r\nhi";
        assert!(
            unknown_charsets(raw).is_empty(),
            "{:?}",
            unknown_charsets(raw)
        );
        assert_eq!(
            unknown_charsets(b"Content-Type: text/plain; charset=x-unknown-42\r\n\r\nhi"),
            vec!["x-unknown-42".to_string()]
        );
    }
}
