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
    let text = charset::decode_unknown(raw);
    let unfolded: String = text
        .split(['\r', '\n'])
        .map(|piece| piece.trim_end())
        .filter(|piece| !piece.is_empty())
        .collect::<Vec<_>>()
        .join("");
    let decoded = charset::decode_encoded_words(unfolded.trim());
    decoded.trim().to_string()
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
