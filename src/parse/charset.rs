//! Charset repairs for Japanese mail that lies about its encoding: label
//! aliases mail-parser does not know, RFC 2047 words split mid-character,
//! ISO-2022-JP bodies without a declared charset, and bodies whose declared
//! charset produces replacement characters.

use encoding_rs::{EUC_JP, Encoding, ISO_2022_JP, SHIFT_JIS, UTF_8};
use memchr::memmem::Finder;
use std::borrow::Cow;
use std::sync::LazyLock;

/// Labels mail-parser 0.11 does not know, mapped to ones it does.
/// Longest first, so `iso-2022-jp-ms` is not taken for `iso-2022-jp`.
const ALIASES: [(&str, &str); 11] = [
    ("x-ms-cp932", "windows-31j"),
    ("iso-2022-jp-ms", "iso-2022-jp"),
    ("shift_jisx0213", "shift_jis"),
    ("shift_jis-2004", "shift_jis"),
    ("euc-jisx0213", "euc-jp"),
    ("euc-jis-2004", "euc-jp"),
    ("iso-2022-jp-2", "iso-2022-jp"),
    ("iso-2022-jp-3", "iso-2022-jp"),
    ("iso-2022-jp-1", "iso-2022-jp"),
    ("windows-932", "windows-31j"),
    ("cp932", "windows-31j"),
];

/// The canonical label for `label`, after the alias table.
pub fn canonical_label(label: &str) -> String {
    let lower = label.trim().trim_matches('"').to_ascii_lowercase();
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map(|(_, to)| (*to).to_string())
        .unwrap_or(lower)
}

/// The encoding_rs decoder for a charset label, aliases included.
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(canonical_label(label).as_bytes())
}

/// Where charset labels can start in a raw mail, found once and shared by
/// the alias rewrite and the unknown-charset check (`sanity`): the `=` of
/// every `charset=` (any case) and the start of every `=?` (an encoded
/// word), each list in order. Searching for `t=` / `T=` and `=?` skips the
/// dense `=XX` of quoted-printable bodies that a scan for `=` stopped at.
#[derive(Debug, Default)]
pub struct LabelSites {
    pub params: Vec<usize>,
    pub words: Vec<usize>,
}

static T_EQ: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"t="));
static UPPER_T_EQ: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"T="));
static WORD_START: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"=?"));

impl LabelSites {
    pub fn find(raw: &[u8]) -> LabelSites {
        let mut params: Vec<usize> = T_EQ
            .find_iter(raw)
            .chain(UPPER_T_EQ.find_iter(raw))
            .map(|t| t + 1)
            .filter(|&eq| {
                eq.checked_sub(7)
                    .and_then(|start| raw.get(start..eq))
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"charset"))
            })
            .collect();
        params.sort_unstable();
        LabelSites {
            params,
            words: WORD_START.find_iter(raw).collect(),
        }
    }
}

/// Rewrite charset aliases in the raw mail where the label is a charset:
/// after `charset=`, `charset="` or `=?` (an encoded word). Returns the
/// rewritten bytes and one problem line per distinct rewrite.
#[cfg(test)]
pub fn rewrite_aliases(raw: &[u8]) -> (Cow<'_, [u8]>, Vec<String>) {
    rewrite_aliases_at(raw, &LabelSites::find(raw))
}

/// [`rewrite_aliases`] with the label sites already found.
pub fn rewrite_aliases_at<'a>(raw: &'a [u8], sites: &LabelSites) -> (Cow<'a, [u8]>, Vec<String>) {
    // Where a label would start: after `charset=` or `charset="`, after `=?`.
    let mut starts: Vec<usize> = sites
        .params
        .iter()
        .map(|&eq| eq + 1 + usize::from(raw.get(eq + 1) == Some(&b'"')))
        .chain(sites.words.iter().map(|&w| w + 2))
        .collect();
    if starts.is_empty() {
        return (Cow::Borrowed(raw), Vec::new());
    }
    starts.sort_unstable();
    let mut out: Option<Vec<u8>> = None;
    let mut problems: Vec<String> = Vec::new();
    // Copied up to here.
    let mut done = 0;
    for i in starts {
        if i < done {
            continue;
        }
        let Some((alias, to)) = alias_at(raw, i) else {
            continue;
        };
        let buf = out.get_or_insert_with(|| Vec::with_capacity(raw.len() + 16));
        buf.extend_from_slice(raw.get(done..i).unwrap_or_default());
        buf.extend_from_slice(to.as_bytes());
        let note = format!("charset label {alias} was rewritten to {to}");
        if !problems.contains(&note) {
            problems.push(note);
        }
        done = i + alias.len();
    }
    match out {
        Some(mut buf) => {
            buf.extend_from_slice(raw.get(done..).unwrap_or_default());
            (Cow::Owned(buf), problems)
        }
        None => (Cow::Borrowed(raw), problems),
    }
}

/// An alias starting at `i` (a label position) and ending there.
fn alias_at(raw: &[u8], i: usize) -> Option<(&'static str, &'static str)> {
    // Every alias starts with one of these letters.
    if !matches!(
        raw.get(i)?.to_ascii_lowercase(),
        b'x' | b'i' | b's' | b'e' | b'w' | b'c'
    ) {
        return None;
    }
    ALIASES.iter().copied().find(|(alias, _)| {
        let end = i + alias.len();
        raw.get(i..end)
            .is_some_and(|s| s.eq_ignore_ascii_case(alias.as_bytes()))
            && !raw
                .get(end)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
    })
}

/// Decode bytes of unknown charset: UTF-8 if valid, else the Japanese
/// decoder that makes no replacement characters, else lossy UTF-8.
pub fn decode_unknown(bytes: &[u8]) -> String {
    decode_unknown_cow(bytes).into_owned()
}

/// [`decode_unknown`], borrowing when the bytes are already clean UTF-8.
pub fn decode_unknown_cow(bytes: &[u8]) -> Cow<'_, str> {
    if bytes.contains(&0x1b)
        && let Some(s) = decode_clean(ISO_2022_JP, bytes)
    {
        return Cow::Owned(s);
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(s);
    }
    for enc in [SHIFT_JIS, EUC_JP] {
        if let Some(s) = decode_clean(enc, bytes) {
            return Cow::Owned(s);
        }
    }
    String::from_utf8_lossy(bytes)
}

fn decode_clean(enc: &'static Encoding, bytes: &[u8]) -> Option<String> {
    enc.decode_without_bom_handling_and_without_replacement(bytes)
        .map(Cow::into_owned)
}

/// Decode RFC 2047 encoded words in a header value. Adjacent words (only
/// whitespace between them) in the same charset are joined as bytes first,
/// so a character split across two words decodes correctly.
pub fn decode_encoded_words(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut pending: Option<(String, Vec<u8>)> = None;
    let mut rest = value;
    loop {
        let Some(start) = find_pair(rest, b'=', b'?') else {
            flush(&mut out, &mut pending);
            out.push_str(rest);
            break;
        };
        let (literal, from_start) = rest.split_at(start);
        let Some((charset, bytes, used)) = parse_word(from_start) else {
            flush(&mut out, &mut pending);
            out.push_str(literal);
            out.push_str("=?");
            rest = from_start.get(2..).unwrap_or_default();
            continue;
        };
        let joinable = literal.trim().is_empty();
        match pending.as_mut() {
            Some((cs, buf)) if joinable && *cs == charset => buf.extend_from_slice(&bytes),
            Some(_) if joinable => {
                // RFC 2047: whitespace between encoded words is dropped.
                flush(&mut out, &mut pending);
                pending = Some((charset, bytes));
            }
            _ => {
                flush(&mut out, &mut pending);
                out.push_str(literal);
                pending = Some((charset, bytes));
            }
        }
        rest = from_start.get(used..).unwrap_or_default();
    }
    if out.contains('\u{1b}') {
        // Old mailers put raw ISO-2022-JP in headers without encoding it.
        if let Some(s) = decode_clean(ISO_2022_JP, out.as_bytes()) {
            return s;
        }
    }
    out
}

/// Byte offset of the first `a` immediately followed by `b` (both ASCII).
/// `str::find` with a two-byte needle sets up a full substring searcher on
/// every call; this is a plain `memchr` scan.
fn find_pair(s: &str, a: u8, b: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    memchr::memchr_iter(a, bytes).find(|&i| bytes.get(i + 1) == Some(&b))
}

fn flush(out: &mut String, pending: &mut Option<(String, Vec<u8>)>) {
    if let Some((charset, bytes)) = pending.take() {
        // `charset` is already canonical (see `parse_word`).
        match Encoding::for_label(charset.as_bytes()) {
            Some(enc) => out.push_str(&enc.decode_without_bom_handling(&bytes).0),
            None => out.push_str(&decode_unknown(&bytes)),
        }
    }
}

/// Parse one `=?charset?B|Q?payload?=` at the start of `s`:
/// (charset label, decoded bytes, bytes consumed).
fn parse_word(s: &str) -> Option<(String, Vec<u8>, usize)> {
    let inner = s.strip_prefix("=?")?;
    let q1 = inner.find('?')?;
    let charset = inner.get(..q1)?;
    if charset.is_empty() || charset.len() > 40 || charset.contains(char::is_whitespace) {
        return None;
    }
    // RFC 2231 language suffix: `utf-8*ja`.
    let charset = charset.split('*').next().unwrap_or(charset);
    let after = inner.get(q1 + 1..)?;
    let mut chars = after.chars();
    let kind = chars.next()?.to_ascii_uppercase();
    if chars.next()? != '?' {
        return None;
    }
    let payload_and_rest = after.get(2..)?;
    let end = find_pair(payload_and_rest, b'?', b'=')?;
    let payload = payload_and_rest.get(..end)?;
    if payload.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match kind {
        'B' => base64(payload.as_bytes())?,
        'Q' => q_decode(payload.as_bytes()),
        _ => return None,
    };
    let used = 2 + q1 + 1 + 2 + end + 2;
    Some((canonical_label(charset), bytes, used))
}

/// Plain base64 (padding optional); `None` on a character outside the alphabet.
pub fn base64(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

fn q_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        match c {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = input
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(b'=');
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Quoted-printable body decoding (soft line breaks removed).
pub fn quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c == b'=' {
            match (input.get(i + 1), input.get(i + 2)) {
                (Some(b'\r'), Some(b'\n')) => {
                    i += 3;
                    continue;
                }
                (Some(b'\n'), _) => {
                    i += 2;
                    continue;
                }
                _ => {}
            }
            let hex = input
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// ISO-2022-JP escape sequences: JIS X 0208 (`ESC $B`, `ESC $@`), JIS X 0212
/// (`ESC $(D`), back to ASCII / Roman (`ESC (B`, `ESC (J`), half-width kana.
fn has_jis_escapes(text: &str) -> bool {
    // Only the bytes after an ESC are compared: most text has none.
    let b = text.as_bytes();
    memchr::memchr_iter(0x1b, b).any(|i| {
        let rest = b.get(i + 1..).unwrap_or_default();
        [&b"$B"[..], b"$@", b"(B", b"(J", b"$(D", b"(I"]
            .iter()
            .any(|e| rest.starts_with(e))
    })
}

/// Fix one decoded text part. `declared` is the charset parameter as
/// written; `raw_bytes` gives the part's bytes after transfer decoding
/// (before charset decoding), computed only if needed.
pub fn repair_part<'a>(
    text: &'a str,
    declared: Option<&str>,
    raw_bytes: impl FnOnce() -> Option<Vec<u8>>,
    problems: &mut Vec<String>,
) -> Cow<'a, str> {
    let declared_name = declared.map(str::trim).filter(|d| !d.is_empty());
    let mut fixed: Cow<'_, str> = Cow::Borrowed(text);
    if has_jis_escapes(text) {
        // ISO-2022-JP is 7-bit, so the lossy UTF-8 reading kept every byte.
        if let Some(s) = decode_clean(ISO_2022_JP, text.as_bytes()) {
            problems.push(match declared_name {
                None => "body was ISO-2022-JP without a declared charset; decoded as ISO-2022-JP"
                    .to_string(),
                Some(d) => format!(
                    "body was declared as {d} but contained ISO-2022-JP escapes; decoded as ISO-2022-JP"
                ),
            });
            fixed = Cow::Owned(s);
        }
    }
    if !fixed.contains('\u{fffd}') {
        return fixed;
    }
    let Some(bytes) = raw_bytes() else {
        problems.push("body contains characters that could not be decoded".into());
        return fixed;
    };
    let declared_enc = declared_name.and_then(encoding_for_label);
    let mut candidates: Vec<&'static Encoding> = Vec::new();
    if bytes.contains(&0x1b) {
        candidates.push(ISO_2022_JP);
    }
    candidates.extend([UTF_8, SHIFT_JIS, EUC_JP]);
    for enc in candidates {
        if Some(enc) == declared_enc && enc != UTF_8 {
            continue;
        }
        if let Some(s) = decode_clean(enc, &bytes) {
            if s.contains('\u{fffd}') {
                // The sender's text itself has U+FFFD: nothing better to find.
                return fixed;
            }
            problems.push(format!(
                "body declared as {} did not decode cleanly; decoded as {}",
                declared_name.unwrap_or("no charset"),
                enc.name()
            ));
            return Cow::Owned(s);
        }
    }
    problems.push("body contains characters that could not be decoded".into());
    fixed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_split_words() {
        // "認証" in UTF-8 is E8 AA 8D E8 A8 BC; split after the 4th byte.
        let v = "=?UTF-8?B?6KqN6A==?= =?UTF-8?B?qLw=?=";
        assert_eq!(decode_encoded_words(v), "認証");
    }

    #[test]
    fn keeps_plain_text_around_words() {
        assert_eq!(
            decode_encoded_words("Re: =?utf-8?q?caf=C3=A9?= ok"),
            "Re: café ok"
        );
        assert_eq!(decode_encoded_words("broken =?x"), "broken =?x");
    }

    #[test]
    fn rewrites_only_charset_positions() {
        let raw = b"Subject: =?CP932?B?gWA=?=\r\nContent-Type: text/plain; charset=\"cp932\"\r\n\r\ncp932 in text\r\n";
        let (out, problems) = rewrite_aliases(raw);
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("=?windows-31j?B?"));
        assert!(out.contains("charset=\"windows-31j\""));
        assert!(out.contains("\r\ncp932 in text"));
        assert_eq!(
            problems,
            ["charset label cp932 was rewritten to windows-31j"]
        );
        let (_, none) = rewrite_aliases(b"charset=iso-2022-jp\r\n");
        assert!(none.is_empty());
    }

    #[test]
    fn undeclared_jis_is_repaired() {
        let (bytes, _, _) = ISO_2022_JP.encode("お問い合わせ");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut problems = Vec::new();
        assert_eq!(
            repair_part(&text, None, || None, &mut problems),
            "お問い合わせ"
        );
        assert!(problems[0].contains("without a declared charset"));
    }

    #[test]
    fn mislabelled_shift_jis_is_repaired() {
        let (bytes, _, _) = SHIFT_JIS.encode("髙橋①");
        let (bad, _, _) = ISO_2022_JP.decode(&bytes);
        let mut problems = Vec::new();
        let out = repair_part(
            &bad,
            Some("iso-2022-jp"),
            || Some(bytes.to_vec()),
            &mut problems,
        );
        assert_eq!(out, "髙橋①");
        assert!(problems[0].contains("Shift_JIS"));
    }
}
