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
/// word), each list in order. Searching for `t=` / `T=` and `?` skips the
/// dense `=XX` of quoted-printable bodies that a scan for `=` stopped at.
#[derive(Debug, Default)]
pub struct LabelSites {
    pub params: Vec<usize>,
    pub words: Vec<usize>,
}

static T_EQ: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"t="));
static UPPER_T_EQ: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"T="));

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
        // `?` is rarer than `=` and a one-byte search is cheaper than a
        // two-byte one; `=?` cannot overlap itself, so this finds them all.
        let words = memchr::memchr_iter(b'?', raw)
            .filter_map(|q| q.checked_sub(1))
            .filter(|&eq| raw.get(eq) == Some(&b'='))
            .collect();
        LabelSites { params, words }
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
    // Both lists are in order and never share a start (the byte before a
    // param's label is `=` or `"`, before a word's `?`): merged as they go.
    let mut params = sites
        .params
        .iter()
        .map(|&eq| eq + 1 + usize::from(raw.get(eq + 1) == Some(&b'"')))
        .peekable();
    let mut words = sites.words.iter().map(|&w| w + 2).peekable();
    let starts = std::iter::from_fn(|| match (params.peek(), words.peek()) {
        (Some(p), Some(w)) if w < p => words.next(),
        (Some(_), _) => params.next(),
        (None, _) => words.next(),
    });
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
    // Alias names are made of these bytes, so an alias ends there exactly
    // when the run of them starting at `i` is the alias.
    let is_name_byte = |c: &u8| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_';
    const LONGEST: usize = 14;
    let name_len = raw
        .get(i..)?
        .iter()
        .take(LONGEST + 1)
        .take_while(|c| is_name_byte(c))
        .count();
    let name = raw.get(i..i + name_len)?;
    ALIASES
        .iter()
        .copied()
        .find(|(alias, _)| alias.len() == name_len && alias.as_bytes().eq_ignore_ascii_case(name))
}

/// Decode bytes of unknown charset: UTF-8 if valid (borrowed), else the
/// Japanese decoder that makes no replacement characters, else lossy UTF-8.
pub fn decode_unknown_cow(bytes: &[u8]) -> Cow<'_, str> {
    if memchr::memchr(0x1b, bytes).is_some()
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
    // The run of joined words not decoded yet: its canonical label (see
    // `canonical_ref`) and its bytes. One buffer serves every run.
    let mut run: Option<&str> = None;
    let mut bytes: Vec<u8> = Vec::new();
    let mut rest = value;
    loop {
        let Some(start) = find_pair(rest, b'=', b'?') else {
            flush(&mut out, &mut run, &mut bytes);
            out.push_str(rest);
            break;
        };
        let (literal, from_start) = rest.split_at(start);
        let joinable = is_blank(literal);
        let word = parse_word(from_start);
        let same = joinable
            && run.is_some_and(|cs| {
                word.as_ref()
                    .is_some_and(|w| w.charset.eq_ignore_ascii_case(cs))
            });
        let had_run = run.is_some();
        // A word that does not parse flushes the run as well, so flushing
        // before decoding into the shared buffer changes nothing.
        let mark = if same { bytes.len() } else { 0 };
        if !same {
            flush(&mut out, &mut run, &mut bytes);
        }
        let Some(word) = word.filter(|w| w.decode_into(&mut bytes)) else {
            bytes.truncate(mark);
            flush(&mut out, &mut run, &mut bytes);
            out.push_str(literal);
            out.push_str("=?");
            rest = from_start.get(2..).unwrap_or_default();
            continue;
        };
        if !same {
            // RFC 2047: whitespace between encoded words is dropped.
            if !(joinable && had_run) {
                out.push_str(literal);
            }
            run = Some(word.charset);
        }
        rest = from_start.get(word.used..).unwrap_or_default();
    }
    if memchr::memchr(0x1b, out.as_bytes()).is_some() {
        // Old mailers put raw ISO-2022-JP in headers without encoding it.
        if let Some(s) = decode_clean(ISO_2022_JP, out.as_bytes()) {
            return s;
        }
    }
    out
}

/// Whether `s` is all whitespace (`str::trim` leaves nothing), testing
/// bytes while they are ASCII: `\t`..=`\r` (with `\x0B`) and space are the
/// ASCII characters `char::is_whitespace` takes.
fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'\t'..=b'\r' | b' '))
        || (!s.is_ascii() && s.chars().all(char::is_whitespace))
}

/// Whether `s` holds a `char::is_whitespace` character (see [`is_blank`]).
fn has_whitespace(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'\t'..=b'\r' | b' '))
        || (!s.is_ascii() && s.contains(char::is_whitespace))
}

/// [`has_whitespace`] for bytes cut from a `str` at ASCII characters.
fn has_whitespace_bytes(b: &[u8]) -> bool {
    std::str::from_utf8(b).is_ok_and(has_whitespace)
}

/// Byte offset of the first `a` immediately followed by `b` (both ASCII).
/// `str::find` with a two-byte needle sets up a full substring searcher on
/// every call; this is a plain `memchr` scan.
fn find_pair(s: &str, a: u8, b: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    memchr::memchr_iter(a, bytes).find(|&i| bytes.get(i + 1) == Some(&b))
}

/// Decode the pending run's bytes into `out` and end the run.
fn flush(out: &mut String, run: &mut Option<&str>, bytes: &mut Vec<u8>) {
    if let Some(label) = run.take() {
        match encoding_for_canonical(label) {
            Some(enc) => decode_into(enc, bytes, out),
            None => out.push_str(&decode_unknown_cow(bytes)),
        }
        bytes.clear();
    }
}

/// `enc.decode_without_bom_handling(bytes)` appended to `out`, straight
/// into it rather than through a new String.
fn decode_into(enc: &'static Encoding, bytes: &[u8], out: &mut String) {
    if enc == UTF_8
        && let Ok(s) = std::str::from_utf8(bytes)
    {
        out.push_str(s);
        return;
    }
    let mut decoder = enc.new_decoder_without_bom_handling();
    match decoder.max_utf8_buffer_length(bytes.len()) {
        Some(room) => {
            out.reserve(room);
            // With that much room the whole input is decoded in one call.
            let _ = decoder.decode_to_string(bytes, out, true);
        }
        None => out.push_str(&enc.decode_without_bom_handling(bytes).0),
    }
}

/// The label `canonical_label` gives, up to ASCII case, without allocating:
/// an alias's target or the label itself.
fn canonical_ref(label: &str) -> &str {
    let label = label.trim().trim_matches('"');
    ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(label))
        .map_or(label, |(_, to)| to)
}

/// `Encoding::for_label` for a label from `canonical_ref`, the labels
/// Japanese mail uses nearly always tried first.
fn encoding_for_canonical(label: &str) -> Option<&'static Encoding> {
    for (known, enc) in [
        ("utf-8", UTF_8),
        ("iso-2022-jp", ISO_2022_JP),
        ("shift_jis", SHIFT_JIS),
    ] {
        if label.eq_ignore_ascii_case(known) {
            return Some(enc);
        }
    }
    Encoding::for_label(label.as_bytes())
}

/// One `=?charset?B|Q?payload?=`, not decoded yet.
struct Word<'a> {
    /// From `canonical_ref`.
    charset: &'a str,
    base64: bool,
    payload: &'a [u8],
    /// Bytes from `=?` to `?=` included.
    used: usize,
}

impl Word<'_> {
    /// Append the payload's bytes to `out`; false (with `out` possibly
    /// grown) when the word is not one: whitespace in the payload, or
    /// base64 with a character outside the alphabet.
    fn decode_into(&self, out: &mut Vec<u8>) -> bool {
        if !self.base64 {
            return q_decode_into(self.payload, out);
        }
        match base64_into(self.payload, out, false) {
            Some(end) => !self.payload.get(end..).is_some_and(has_whitespace_bytes),
            None => false,
        }
    }
}

/// Parse one `=?charset?B|Q?payload?=` at the start of `s`.
fn parse_word(s: &str) -> Option<Word<'_>> {
    let inner = s.strip_prefix("=?")?;
    let q1 = memchr::memchr(b'?', inner.as_bytes())?;
    let charset = inner.get(..q1)?;
    if charset.is_empty() || charset.len() > 40 || has_whitespace(charset) {
        return None;
    }
    // RFC 2231 language suffix: `utf-8*ja`.
    let charset = charset.split('*').next().unwrap_or(charset);
    let after = inner.get(q1 + 1..)?;
    let base64 = match after.as_bytes().first()? {
        b'B' | b'b' => true,
        b'Q' | b'q' => false,
        _ => return None,
    };
    if after.as_bytes().get(1) != Some(&b'?') {
        return None;
    }
    let payload_and_rest = after.get(2..)?;
    let end = find_pair(payload_and_rest, b'?', b'=')?;
    // Whitespace in the payload is looked for while decoding it.
    let payload = payload_and_rest.get(..end)?;
    Some(Word {
        charset: canonical_ref(charset),
        base64,
        payload: payload.as_bytes(),
        used: 2 + q1 + 1 + 2 + end + 2,
    })
}

/// Plain base64 (padding optional); `None` on a character outside the alphabet.
pub fn base64(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    base64_into(input, &mut out, true).map(|_| out)
}

/// What a byte is to base64: its value (below 64), or one of these.
const B64_SKIP: u8 = 0xfd;
const B64_END: u8 = 0xfe;
const B64_BAD: u8 = 0xff;

static B64_TABLE: [u8; 256] = {
    let mut table = [B64_BAD; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table[b'=' as usize] = B64_END;
    table[b'\r' as usize] = B64_SKIP;
    table[b'\n' as usize] = B64_SKIP;
    table[b' ' as usize] = B64_SKIP;
    table[b'\t' as usize] = B64_SKIP;
    table
};

/// [`base64`] appended to `out`: decoding stops at the first `=`, whose
/// offset (or the input's length) is returned. `None` on a character
/// outside the alphabet, or on whitespace unless `skip_whitespace`.
fn base64_into(input: &[u8], out: &mut Vec<u8>, skip_whitespace: bool) -> Option<usize> {
    out.reserve(input.len() / 4 * 3 + 3);
    let value = |c: u8| B64_TABLE[usize::from(c)];
    // Four alphabet characters make three bytes: the bulk of any payload.
    let mut i = 0;
    while let Some(&[a, b, c, d]) = input.get(i..i + 4) {
        let (a, b, c, d) = (value(a), value(b), value(c), value(d));
        if (a | b | c | d) >= 64 {
            break;
        }
        let n = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        i += 4;
    }
    // The rest one character at a time: padding, whitespace, a short tail.
    let mut acc: u32 = 0;
    let mut bits = 0;
    for (at, &c) in input.iter().enumerate().skip(i) {
        let v = match value(c) {
            B64_END => return Some(at),
            B64_SKIP if skip_whitespace => continue,
            v if v < 64 => v,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(input.len())
}

/// RFC 2047 Q decoding appended to `out`; false if the payload holds
/// whitespace (then it is no encoded word).
fn q_decode_into(input: &[u8], out: &mut Vec<u8>) -> bool {
    out.reserve(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        match c {
            b'_' => out.push(b' '),
            b'=' => {
                if let Some(v) = input.get(i + 1..i + 3).and_then(hex_byte) {
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(b'=');
            }
            b'\t'..=b'\r' | b' ' => return false,
            _ => out.push(c),
        }
        i += 1;
    }
    // Other whitespace is not ASCII.
    input.is_ascii() || !has_whitespace_bytes(input)
}

/// The byte two hex digits stand for, as `u8::from_str_radix(pair, 16)`
/// reads them: that also takes a `+` sign, so `+F` is 0x0F.
fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    match *pair {
        [b'+', lo] => digit(lo),
        [hi, lo] => Some(digit(hi)? * 16 + digit(lo)?),
        _ => None,
    }
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
            if let Some(v) = input.get(i + 1..i + 3).and_then(hex_byte) {
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
    if memchr::memchr(0x1b, &bytes).is_some() {
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

    /// The decoders as they were before they decoded into shared buffers,
    /// kept to check that the new ones give the same text.
    mod old {
        use super::super::{ALIASES, ISO_2022_JP, decode_clean, decode_unknown_cow};
        use encoding_rs::Encoding;

        pub fn canonical_label(label: &str) -> String {
            let lower = label.trim().trim_matches('"').to_ascii_lowercase();
            ALIASES
                .iter()
                .find(|(alias, _)| *alias == lower)
                .map(|(_, to)| (*to).to_string())
                .unwrap_or(lower)
        }

        fn decode_unknown(bytes: &[u8]) -> String {
            decode_unknown_cow(bytes).into_owned()
        }

        /// Decode RFC 2047 encoded words in a header value. Adjacent words (only
        /// whitespace between them) in the same charset are joined as bytes first,
        /// so a character split across two words decodes correctly.
        pub fn decode_encoded_words_old(value: &str) -> String {
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
        pub fn quoted_printable_old(input: &[u8]) -> Vec<u8> {
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
    }

    /// `alias_at` as it was: every alias compared where the label starts.
    fn alias_at_old(raw: &[u8], i: usize) -> Option<(&'static str, &'static str)> {
        ALIASES.iter().copied().find(|(alias, _)| {
            let end = i + alias.len();
            raw.get(i..end)
                .is_some_and(|s| s.eq_ignore_ascii_case(alias.as_bytes()))
                && !raw
                    .get(end)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        })
    }

    #[test]
    fn alias_search_matches_the_old_one() {
        let mut raw = Vec::new();
        for (alias, _) in ALIASES {
            for end in ["", "\"", "?", "-", "_", "x", "0", ".", " "] {
                raw.extend_from_slice(b"charset=");
                raw.extend_from_slice(alias.to_ascii_uppercase().as_bytes());
                raw.extend_from_slice(end.as_bytes());
                raw.extend_from_slice(b";=?");
                raw.extend_from_slice(alias.as_bytes().get(..alias.len() - 1).unwrap_or_default());
                raw.extend_from_slice(end.as_bytes());
                raw.extend_from_slice(b"?=\r\n");
            }
        }
        raw.extend_from_slice("=?utf-8?= é=?cp932".as_bytes());
        for i in 0..=raw.len() + 1 {
            assert_eq!(alias_at(&raw, i), alias_at_old(&raw, i), "{i}");
        }
        raw.extend_from_slice(b"CHARSET=cp932 ChArSeT=\"X\" charseT=T=?T=T?=?");
        let sites = LabelSites::find(&raw);
        let old_words: Vec<usize> = memchr::memmem::find_iter(&raw, b"=?").collect();
        assert_eq!(sites.words, old_words);
        let mut old_params: Vec<usize> = memchr::memmem::find_iter(&raw, b"=")
            .filter(|&eq| {
                eq.checked_sub(7)
                    .and_then(|start| raw.get(start..eq))
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"charset"))
            })
            .collect();
        old_params.sort_unstable();
        assert_eq!(sites.params, old_params);
        assert!(sites.params.len() > 3);
        // The merged starts rewrite as the sorted list did.
        let (out, problems) = rewrite_aliases(&raw);
        let mut starts: Vec<usize> = sites
            .params
            .iter()
            .map(|&eq| eq + 1 + usize::from(raw.get(eq + 1) == Some(&b'"')))
            .chain(sites.words.iter().map(|&w| w + 2))
            .collect();
        starts.sort_unstable();
        let mut expected = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        let mut done = 0;
        for i in starts {
            if i < done {
                continue;
            }
            if let Some((alias, to)) = alias_at(&raw, i) {
                expected.extend_from_slice(&raw[done..i]);
                expected.extend_from_slice(to.as_bytes());
                let note = format!("charset label {alias} was rewritten to {to}");
                if !notes.contains(&note) {
                    notes.push(note);
                }
                done = i + alias.len();
            }
        }
        expected.extend_from_slice(&raw[done..]);
        assert_eq!(out.as_ref(), &expected[..]);
        assert_eq!(problems, notes);
    }

    #[test]
    fn decoders_match_the_old_ones() {
        let (jis, _, _) = ISO_2022_JP.encode("認証コード");
        let (sjis, _, _) = SHIFT_JIS.encode("髙橋①");
        let b64 = |b: &[u8]| {
            const A: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut s = String::new();
            for c in b.chunks(3) {
                let n = c.iter().fold(0u32, |n, &x| n << 8 | u32::from(x)) << (8 * (3 - c.len()));
                for k in 0..=c.len() {
                    s.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
                }
            }
            s
        };
        let words = [
            "=?UTF-8?B?6KqN6A==?=".to_string(),
            "=?utf-8?B?qLw=?=".into(),
            "=?UTF-8?Q?caf=C3=A9_ok?=".into(),
            "=?utf-8?q?a=+Fb=2?=".into(),
            "=?utf-8?q?=E8=AA?=".into(),
            "=?utf8?q?=8D?=".into(),
            format!("=?ISO-2022-JP?B?{}?=", b64(&jis)),
            format!("=?iso-2022-jp-ms?B?{}?=", b64(&jis[..5])),
            format!("=?iso-2022-jp?B?{}?=", b64(&jis[5..])),
            format!("=?Shift_JIS?B?{}?=", b64(&sjis)),
            format!("=?cp932?B?{}?=", b64(&sjis[..3])),
            format!("=?WINDOWS-31J?B?{}?=", b64(&sjis[3..])),
            format!("=?x-unknown?B?{}?=", b64(&sjis)),
            format!("=?\"shift_jis\"?B?{}?=", b64(&sjis)),
            "=?utf-8*ja?B?44GC?=".into(),
            "=?*ja?B?44GC?=".into(),
            "=?UTF-8?B?44G!?=".into(),
            "=?UTF-8?B?4=!G?=".into(),
            "=?UTF-8?X?abc?=".into(),
            "=?UTF-8?B?44 GC?=".into(),
            "=?UTF-8?B?44GC= ?=".into(),
            "=?UTF-8?B?44GC=\u{3000}?=".into(),
            "=?UTF-8?B?44GC\u{3000}?=".into(),
            "=?UTF-8?Q?a\u{3000}b?=".into(),
            "=?UTF-8?Q?a\u{b}b?=".into(),
            "=?UTF-8?Q?\u{e9}=E9?=".into(),
            "=?UTF-8?B?6KqN6KiM44Kz44O844OJ?=".into(),
            "=?UTF-8?B?6KqN6KiM44Kz44O844O?=".into(),
            "=?UTF\u{3000}8?B?44GC?=".into(),
            "=?UTF-8?é?abc?=".into(),
            "=??B?44GC?=".into(),
            "=?iso-8859-1?q?=E9t=E9?=".into(),
            "=?us-ascii?Q?plain?=".into(),
            "=?UTF-8?B?".into(),
            "=?".into(),
            "\u{1b}$B4A;z\u{1b}(B".into(),
            "=?UTF-8?Q?=1B$B4A;z=1B(B?=".into(),
        ];
        let gaps = [
            "",
            " ",
            "\t",
            "  \u{3000}",
            "\u{b}",
            "\u{a0}",
            " x ",
            "Re: ",
            "é",
            "=",
            "?=",
        ];
        let mut inputs: Vec<String> = Vec::new();
        for a in &words {
            inputs.push(a.clone());
            for g in gaps {
                inputs.push(format!("{g}{a}{g}"));
                for b in &words {
                    inputs.push(format!("{a}{g}{b}"));
                    inputs.push(format!("{g}{a}{g}{b}{g}{a}"));
                }
            }
        }
        for input in &inputs {
            assert_eq!(
                decode_encoded_words(input),
                old::decode_encoded_words_old(input),
                "{input:?}"
            );
        }
        for input in [
            "a=3Db=\r\nc=\nd=+F=+=xy=E9=",
            "=",
            "==41",
            "=4",
            "=\r",
            "=é1",
        ] {
            assert_eq!(
                quoted_printable(input.as_bytes()),
                old::quoted_printable_old(input.as_bytes())
            );
        }
        let mut b64_inputs: Vec<String> = [
            "",
            "QQ",
            "QUJD",
            "QUJDRA==",
            "QUJD\r\nRA=",
            "QU JD\tRA",
            "QUJD=!x",
            "QU!D",
            "QUJDRA=\u{b}",
            "QUJDRE\u{b}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        b64_inputs.push(b64(&jis).repeat(5));
        b64_inputs.push(format!("{}\r\n{}", b64(&sjis), b64(&jis)));
        for input in &b64_inputs {
            assert_eq!(
                base64(input.as_bytes()),
                old::base64(input.as_bytes()),
                "{input:?}"
            );
        }
        for label in [
            "utf-8",
            "UTF8",
            "\"cp932\"",
            "X-MS-CP932",
            "iso-2022-jp-2",
            "nope",
            "",
            "shift_jis",
        ] {
            assert_eq!(
                encoding_for_canonical(canonical_ref(label)),
                Encoding::for_label(old::canonical_label(label).as_bytes())
            );
        }
    }

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
