//! Things wrong with a mail that decoding silently papers over: line breaks
//! smuggled into a decoded Subject or name (header injection), NUL or
//! undecodable bytes in the headers, a second Message-ID, charsets nobody
//! knows, lines longer than mail allows. Each becomes a plain-words problem,
//! and the injected line breaks are removed from what mfa-desk keeps.

use super::Inbound;
use super::charset::LabelSites;
use crate::reply::templates::one_line;
use memchr::memmem::Finder;
use std::sync::LazyLock;

/// Check `raw` (whose charset label sites are `sites`) and the decoded
/// `inbound` (with `message_ids` Message-ID headers, counted while its
/// headers were read); clean the decoded header values.
pub fn check(raw: &[u8], sites: &LabelSites, inbound: &mut Inbound, message_ids: usize) {
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
    if memchr::memchr(0, head).is_some() {
        inbound
            .problems
            .push("the mail has NUL bytes in the headers".into());
    }
    // `from_utf8` has its own ASCII fast path: no separate `is_ascii` pass.
    if std::str::from_utf8(head).is_err() && !is_japanese_legacy(head) {
        inbound.problems.push(
            "the headers hold header bytes in no known charset; they were read as well as possible"
                .into(),
        );
    }
    if message_ids > 1 {
        inbound
            .problems
            .push("the mail has two Message-ID headers; the first was used".into());
    }
    for label in unknown_charsets(raw, sites) {
        inbound.problems.push(format!(
            "unknown charset {label}: the text was read as UTF-8 and may be garbled"
        ));
    }
    if has_long_line(raw) {
        inbound
            .problems
            .push("the mail has a line longer than 998 characters (RFC 5322's limit)".into());
    }
}

/// A line of more than 999 bytes before its line feed (a CR counts), that
/// is 1000 bytes in a row without a line feed. Each step looks at the next 1000
/// bytes and jumps past the last line feed in them, so short lines are not
/// visited one by one.
fn has_long_line(raw: &[u8]) -> bool {
    let mut start = 0;
    while let Some(window) = raw.get(start..start + 1000) {
        match memchr::memrchr(b'\n', window) {
            Some(nl) => start += nl + 1,
            None => return true,
        }
    }
    false
}

fn has_line_break(s: &str) -> bool {
    // CR and LF bytes are never part of a longer UTF-8 character.
    memchr::memchr2(b'\r', b'\n', s.as_bytes()).is_some()
}

/// Searchers built once: `memmem::find` builds one per call, which cost
/// more than searching a small mail.
static CRLF_CRLF: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n\r\n"));
static LF_LF: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\n\n"));

/// The bytes up to the first empty line.
fn header_block(raw: &[u8]) -> &[u8] {
    let end = CRLF_CRLF
        .find(raw)
        .or_else(|| LF_LF.find(raw))
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
/// knows (unknown labels fall back to UTF-8 in mail-parser). Labels are ASCII,
/// so the raw bytes are searched as they are, ignoring ASCII case.
fn unknown_charsets(raw: &[u8], sites: &LabelSites) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    // The label last passed to `note_if_unknown`.
    let mut last: &[u8] = &[];
    // `charset=label` or `charset="label"`.
    for &i in &sites.params {
        let rest = raw.get(i + 1..).unwrap_or_default();
        // `charset=3Dutf-8` is an HTML body's <meta> tag in quoted-printable
        // (`=` written `=3D`): body text, not a MIME parameter. Read as a
        // label it told admins that every such mail had an unknown charset.
        if rest.get(..2).is_some_and(|p| p.eq_ignore_ascii_case(b"3d")) {
            continue;
        }
        let quotes = rest.iter().take_while(|&&b| b == b'"').count();
        let rest = rest.get(quotes..).unwrap_or_default();
        let len = rest.iter().take_while(|&&b| is_label_byte(b)).count();
        let label = rest.get(..len).unwrap_or_default();
        // A mail repeats its labels; one already looked at changes nothing.
        if label != last {
            note_if_unknown(label, &mut labels);
            last = label;
        }
    }
    // `=?label?` (an encoded word); the label ends at the next `?`, anywhere.
    for &i in &sites.words {
        let rest = raw.get(i + 2..).unwrap_or_default();
        if let Some(q) = memchr::memchr(b'?', rest) {
            let label = rest[..q].split(|&b| b == b'*').next().unwrap_or_default();
            if label != last && label.len() < 40 && label.iter().all(|&b| is_label_byte(b)) {
                note_if_unknown(label, &mut labels);
                last = label;
            }
        }
    }
    labels.truncate(5);
    labels
}

/// Labels nearly every mail uses (lower case), all known: the ones
/// [`is_common`] takes (both checked by a test).
#[cfg(test)]
const COMMON_LABELS: [&[u8]; 8] = [
    b"utf-8",
    b"us-ascii",
    b"iso-2022-jp",
    b"shift_jis",
    b"iso-8859-1",
    b"euc-jp",
    b"windows-1252",
    b"windows-31j",
];

/// Whether `lower` is a label nearly every mail uses, all known: these skip
/// the decoder look-ups. A `match` compares the length first, then only the
/// labels of that length.
fn is_common(lower: &[u8]) -> bool {
    matches!(
        lower,
        b"utf-8"
            | b"us-ascii"
            | b"iso-2022-jp"
            | b"shift_jis"
            | b"iso-8859-1"
            | b"euc-jp"
            | b"windows-1252"
            | b"windows-31j"
    )
}

/// Add `label` (ASCII label bytes) to `labels`, lower case, if no decoder
/// knows it and it is not there yet.
fn note_if_unknown(label: &[u8], labels: &mut Vec<String>) {
    if label.is_empty() {
        return;
    }
    // Lower-case on the stack and allocate only for an unknown label.
    let mut buf = [0u8; 64];
    let Some(lower) = buf.get_mut(..label.len()) else {
        // Longer than any charset name (and any common label); rare enough
        // to take the slow way.
        let label = String::from_utf8_lossy(label).to_ascii_lowercase();
        if !known(&label) && !labels.contains(&label) {
            labels.push(label);
        }
        return;
    };
    lower.copy_from_slice(label);
    lower.make_ascii_lowercase();
    if is_common(lower) {
        return;
    }
    // Label bytes are ASCII (checked by the callers), so this never fails.
    let Ok(lower) = std::str::from_utf8(lower) else {
        return;
    };
    if !known(lower) && !labels.iter().any(|l| l == lower) {
        labels.push(lower.to_string());
    }
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')
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
        let raw = b"Subject: x\r\n\r\nbody";
        check(raw, &LabelSites::find(raw), &mut m, 1);
        assert_eq!(m.subject, "x Bcc: evil@attacker.test");
        assert!(m.problems.iter().any(|p| p.contains("line break")));
    }

    #[test]
    fn a_quoted_printable_meta_charset_is_not_a_label() {
        // Outlook and Gmail put the charset in the HTML part's <meta> too;
        // quoted-printable writes its `=` as `=3D`.
        let raw = b"Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<meta http-equiv=3D\"Content-Type\" content=3D\"text/html; charset=3Dutf-8\"><meta charset=3D\"iso-2022-jp\">\r\n--b--\r\n";
        let m = crate::parse::parse(raw);
        assert!(
            !m.problems.iter().any(|p| p.contains("charset")),
            "{:?}",
            m.problems
        );
    }

    #[test]
    fn known_charsets_are_not_problems() {
        let raw = b"Subject: =?ISO-2022-JP?B?GyRC?= =?utf-8?q?x?= =?Shift_JIS?B?gqA=?=\r\nContent-Type: text/plain; charset=\"windows-31j\"\r\n\r\nhi";
        let unknown = |raw: &[u8]| unknown_charsets(raw, &LabelSites::find(raw));
        assert!(unknown(raw).is_empty(), "{:?}", unknown(raw));
        assert_eq!(
            unknown(b"Content-Type: text/plain; charset=x-unknown-42\r\n\r\nhi"),
            vec!["x-unknown-42".to_string()]
        );
        for label in COMMON_LABELS {
            assert!(is_common(label));
            let label = std::str::from_utf8(label).unwrap_or_default();
            assert!(known(label), "{label}");
        }
        let repeated = b"charset=x-a\r\ncharset=x-a\r\n=?x-b?q?a?= =?X-A?q?a?= =?x-b?q?a?=\r\n";
        assert_eq!(
            unknown(repeated),
            vec!["x-a".to_string(), "x-b".to_string()]
        );
        for raw in [&b"ab"[..], b"", b"\n", &[b'a'; 999], &[b'a'; 1000]] {
            let reference = raw.split(|&b| b == b'\n').any(|l| l.len() > 999);
            assert_eq!(has_long_line(raw), reference);
        }
    }
}
