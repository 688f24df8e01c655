//! Size cap: a mail over 25 MB is not handed whole to mail-parser; only the
//! headers and the first megabyte of the body are read (enough for the text
//! part, which comes first in practice; attachments are skipped).

use std::borrow::Cow;

/// Above this size only the head of the mail is parsed.
pub const MAX_FULL_PARSE: usize = 25 * 1024 * 1024;
/// How much of the body is kept for a mail over the cap.
pub const BODY_KEPT: usize = 1024 * 1024;

/// The bytes to parse, and a problem line when the mail was cut.
pub fn cap(raw: &[u8]) -> (Cow<'_, [u8]>, Option<String>) {
    if raw.len() <= MAX_FULL_PARSE {
        return (Cow::Borrowed(raw), None);
    }
    let header_end = find(raw, b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| find(raw, b"\n\n").map(|p| p + 2))
        .unwrap_or(0);
    let mut end = header_end.saturating_add(BODY_KEPT).min(raw.len());
    // End on a line boundary so no encoded line is cut in half.
    if let Some(nl) = raw
        .get(header_end..end)
        .and_then(|b| b.iter().rposition(|&c| c == b'\n'))
    {
        end = header_end + nl + 1;
    }
    let kept = raw.get(..end).unwrap_or(raw);
    let problem = format!(
        "mail is {} MB; attachments were not read",
        (raw.len() + 512 * 1024) / (1024 * 1024)
    );
    (Cow::Borrowed(kept), Some(problem))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
