//! Top-level header collection: every header as (lower-case name, trimmed
//! decoded value), in order, read from the raw bytes so that nothing the
//! later steps look at (Auto-Submitted, Precedence, List-Id, …) is lost.

use super::charset;
use mail_parser::Message;

/// All top-level headers of `msg`, decoded and unfolded.
pub fn collect(msg: &Message<'_>) -> Vec<(String, String)> {
    let Some(root) = msg.parts.first() else {
        return Vec::new();
    };
    root.headers
        .iter()
        .map(|h| {
            let raw = msg
                .raw_message
                .get(h.offset_start as usize..h.offset_end as usize)
                .unwrap_or_default();
            (h.name.as_str().to_ascii_lowercase(), decode_value(raw))
        })
        .collect()
}

/// Unfold, decode 8-bit bytes and RFC 2047 words, trim.
pub fn decode_value(raw: &[u8]) -> String {
    let text = charset::decode_unknown_cow(raw);
    // Unfolding drops the line breaks and the spaces before them; the
    // continuation line keeps its leading space.
    let mut unfolded = String::with_capacity(text.len());
    let mut start = 0;
    let breaks = memchr::memchr2_iter(b'\r', b'\n', text.as_bytes());
    for end in breaks.chain(std::iter::once(text.len())) {
        // CR and LF are ASCII, so both ends are character boundaries.
        unfolded.push_str(text.get(start..end).unwrap_or_default().trim_end());
        start = end + 1;
    }
    let trimmed = unfolded.trim();
    // Most values hold no encoded word and no raw JIS escape: they are done.
    if has_encoded_word(trimmed) || memchr::memchr(0x1b, trimmed.as_bytes()).is_some() {
        return trim_in_place(charset::decode_encoded_words(trimmed));
    }
    trim_in_place(unfolded)
}

/// `s.trim().to_string()` without a second allocation: nearly every raw
/// value starts with the space after the colon.
fn trim_in_place(mut s: String) -> String {
    let end = s.trim_end().len();
    s.truncate(end);
    let start = s.len() - s.trim_start().len();
    s.drain(..start);
    s
}

/// Whether `s` holds `=?`, the start of an RFC 2047 encoded word.
fn has_encoded_word(s: &str) -> bool {
    let bytes = s.as_bytes();
    memchr::memchr_iter(b'=', bytes).any(|i| bytes.get(i + 1) == Some(&b'?'))
}

/// Message ids from an id-list header value, without `<>`.
pub fn ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after = rest.get(open + 1..).unwrap_or_default();
        let Some(close) = after.find('>') else { break };
        let id = after.get(..close).unwrap_or_default().trim();
        if !id.is_empty() {
            out.push(id.to_string());
        }
        rest = after.get(close + 1..).unwrap_or_default();
    }
    if out.is_empty() {
        // Some mailers omit the brackets.
        out.extend(
            value
                .split([' ', ','])
                .map(str::trim)
                .filter(|s| s.contains('@'))
                .map(str::to_string),
        );
    }
    out
}
