//! Top-level header collection: every header as (lower-case name, trimmed
//! decoded value), in order, read from the raw bytes so that nothing the
//! later steps look at (Auto-Submitted, Precedence, List-Id, …) is lost.
//!
//! A value is decoded the first time it is read: a mail's Received,
//! DKIM-Signature, ARC-* and Thread-Topic headers are kept but nearly never
//! looked at, and decoding each of them cost more than mail-parser's parse.

use super::charset;
use mail_parser::{HeaderName, Message};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use std::ops::Range;
use std::sync::OnceLock;

/// Top-level headers: lower-case names, values decoded on first read (the
/// same text an eager decoding gives). Serialised as a list of
/// `[name, value]` pairs, as a `Vec<(String, String)>` is.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    /// The header block as parsed; the value ranges point into it.
    raw: Box<[u8]>,
    /// The names not in [`LOWER_NAMES`], lower case, one after the other.
    names: String,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    name: Name,
    value: Range<usize>,
    decoded: OnceLock<String>,
}

/// Where a header's lower-case name is.
#[derive(Debug, Clone)]
enum Name {
    /// A name mail-parser knows, shared by every mail.
    Known(&'static str),
    /// A range of [`Headers::names`].
    Own(Range<usize>),
}

/// The lower-case names of the headers mail-parser knows, by
/// `HeaderName::id`, made on first use: most headers of a mail are known,
/// and copying and lower-casing their names for every mail cost more than
/// the rest of `collect`.
static LOWER_NAMES: [OnceLock<String>; 256] = [const { OnceLock::new() }; 256];

/// The lower-case name of a header mail-parser knows.
fn known_lower(name: &HeaderName<'_>) -> Option<&'static str> {
    if matches!(name, HeaderName::Other(_)) {
        return None;
    }
    let slot = LOWER_NAMES.get(usize::from(name.id()))?;
    Some(slot.get_or_init(|| name.as_static_str().to_ascii_lowercase()))
}

/// One header: its name now, its value when asked.
#[derive(Clone, Copy)]
pub struct Header<'a> {
    /// Lower case.
    pub name: &'a str,
    entry: &'a Entry,
    raw: &'a [u8],
}

impl<'a> Header<'a> {
    /// The trimmed decoded value (decoded on the first call, then kept).
    pub fn value(&self) -> &'a str {
        self.entry.decoded.get_or_init(|| {
            decode_value(self.raw.get(self.entry.value.clone()).unwrap_or_default())
        })
    }
}

impl Headers {
    /// Every header, in order.
    pub fn iter(&self) -> impl Iterator<Item = Header<'_>> + '_ {
        self.entries.iter().map(|entry| Header {
            name: match &entry.name {
                Name::Known(name) => name,
                Name::Own(range) => self.names.get(range.clone()).unwrap_or_default(),
            },
            entry,
            raw: &self.raw,
        })
    }

    /// The values of the headers named `name` (lower case), in order.
    pub fn named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.iter()
            .filter(move |h| h.name == name)
            .map(|h| h.value())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Add a header whose value is already decoded, as
    /// `Vec<(String, String)>::push` did (the name is kept as given).
    pub fn push(&mut self, (name, value): (String, String)) {
        let start = self.names.len();
        self.names.push_str(&name);
        self.entries.push(Entry {
            name: Name::Own(start..self.names.len()),
            value: 0..0,
            decoded: OnceLock::from(value),
        });
    }
}

impl<N: AsRef<str>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut headers = Headers::default();
        for (n, v) in iter {
            headers.push((n.as_ref().to_string(), v.into()));
        }
        headers
    }
}

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for h in self.iter() {
            seq.serialize_element(&(h.name, h.value()))?;
        }
        seq.end()
    }
}

/// All top-level headers of `msg`; values are decoded and unfolded when read.
/// One entry per header of the root part, in order (`fill_headers` walks
/// both side by side).
pub fn collect(msg: &Message<'_>) -> Headers {
    let Some(root) = msg.parts.first() else {
        return Headers::default();
    };
    let raw = &msg.raw_message;
    let mut names = String::new();
    let mut entries = Vec::with_capacity(root.headers.len());
    // The top-level headers sit together at the start: that block is copied
    // once, and the value ranges (made in the same walk) moved to it after.
    // No header at all leaves lo > hi: an empty block.
    let (mut lo, mut hi) = (usize::MAX, 0);
    for h in &root.headers {
        let name = match known_lower(&h.name) {
            Some(name) => Name::Known(name),
            None => {
                let start = names.len();
                names.push_str(h.name.as_str());
                Name::Own(start..names.len())
            }
        };
        let (start, end) = (h.offset_start as usize, h.offset_end as usize);
        // A range outside the mail reads as an empty value, as before.
        let value = if start <= end && end <= raw.len() {
            lo = lo.min(start);
            hi = hi.max(end);
            start..end
        } else {
            usize::MAX..usize::MAX
        };
        entries.push(Entry {
            name,
            value,
            decoded: OnceLock::new(),
        });
    }
    for entry in &mut entries {
        entry.value = match entry.value.start {
            usize::MAX => 0..0,
            start => start - lo..entry.value.end - lo,
        };
    }
    // One pass over all the copied names rather than one call per name.
    names.make_ascii_lowercase();
    Headers {
        raw: raw.get(lo..hi).unwrap_or_default().into(),
        names,
        entries,
    }
}

/// Unfold, decode 8-bit bytes and RFC 2047 words, trim.
pub fn decode_value(raw: &[u8]) -> String {
    // Most values (ids, dates, addresses, plain subjects) are one line of
    // printable ASCII: trimmed, they are the answer as they are.
    let trimmed = raw.trim_ascii();
    if is_plain(trimmed)
        && let Ok(plain) = std::str::from_utf8(trimmed)
    {
        return plain.to_string();
    }
    let decoded = charset::decode_unknown_cow(raw);
    // Unfolding drops the line breaks and the spaces before them; the
    // continuation line keeps its leading space. Every piece loses its
    // trailing spaces, so skipping the leading ones first (the space after
    // the colon) leaves the unfolded value trimmed at both ends.
    let text = decoded.trim_start();
    let mut unfolded = String::with_capacity(text.len());
    let mut start = 0;
    let breaks = memchr::memchr2_iter(b'\r', b'\n', text.as_bytes());
    for end in breaks.chain(std::iter::once(text.len())) {
        // CR and LF are ASCII, so both ends are character boundaries.
        unfolded.push_str(text.get(start..end).unwrap_or_default().trim_end());
        start = end + 1;
    }
    // Most values hold no encoded word and no raw JIS escape: they are done.
    if has_encoded_word(&unfolded) || memchr::memchr(0x1b, unfolded.as_bytes()).is_some() {
        return trim_in_place(charset::decode_encoded_words(&unfolded));
    }
    unfolded
}

/// Whether `bytes` holds only printable ASCII other than `=`: no line
/// break to unfold, no `=?` or ESC to decode, no whitespace `str::trim`
/// takes that `trim_ascii` leaves (vertical tab, non-ASCII). Eight bytes
/// at a time; the bit tests (true for a byte with the high bit set, below
/// 0x20, or equal to `=`) may also fire on a byte next to such a byte,
/// never on a chunk without one.
fn is_plain(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word);
        let below_space = x.wrapping_sub(ONES * 0x20) & !x;
        let eq = x ^ (ONES * u64::from(b'='));
        let is_eq = eq.wrapping_sub(ONES) & !eq;
        if (x | below_space | is_eq) & HIGH != 0 {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&b| (0x20..0x80).contains(&b) && b != b'=')
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
#[cfg(test)]
pub fn ids(value: &str) -> Vec<String> {
    ids_in(value).map(str::to_string).collect()
}

/// [`ids`] borrowed from `value`, found as they are asked for: the first id
/// of a Message-ID costs neither a `Vec` nor a `String` per other id.
pub fn ids_in(value: &str) -> impl Iterator<Item = &str> {
    IdsIn {
        value,
        rest: Some(value),
        found: false,
        bare: None,
    }
}

struct IdsIn<'a> {
    value: &'a str,
    /// What is left to search for `<id>`; `None` once that search is over.
    rest: Option<&'a str>,
    /// Whether a bracketed id came out.
    found: bool,
    /// Some mailers omit the brackets: with no bracketed id, the words of
    /// the value (split at spaces and commas) that hold an `@`.
    bare: Option<std::str::Split<'a, [char; 2]>>,
}

impl<'a> Iterator for IdsIn<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        while let Some(rest) = self.rest {
            // `str::find` with a char goes through the generic byte search;
            // memchr's is quicker even on a short value. `<` and `>` are
            // ASCII, so their offsets are character boundaries.
            let Some(open) = memchr::memchr(b'<', rest.as_bytes()) else {
                self.rest = None;
                break;
            };
            let after = rest.get(open + 1..).unwrap_or_default();
            let Some(close) = memchr::memchr(b'>', after.as_bytes()) else {
                self.rest = None;
                break;
            };
            self.rest = Some(after.get(close + 1..).unwrap_or_default());
            let id = after.get(..close).unwrap_or_default().trim();
            if !id.is_empty() {
                self.found = true;
                return Some(id);
            }
        }
        if self.found {
            return None;
        }
        let value = self.value;
        self.bare
            .get_or_insert_with(|| value.split([' ', ',']))
            .map(str::trim)
            .find(|s| s.contains('@'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `decode_value` as it was before it skipped the leading spaces first.
    fn decode_value_old(raw: &[u8]) -> String {
        let text = charset::decode_unknown_cow(raw);
        let mut unfolded = String::with_capacity(text.len());
        let mut start = 0;
        let breaks = memchr::memchr2_iter(b'\r', b'\n', text.as_bytes());
        for end in breaks.chain(std::iter::once(text.len())) {
            unfolded.push_str(text.get(start..end).unwrap_or_default().trim_end());
            start = end + 1;
        }
        let trimmed = unfolded.trim();
        if has_encoded_word(trimmed) || memchr::memchr(0x1b, trimmed.as_bytes()).is_some() {
            return trim_in_place(charset::decode_encoded_words(trimmed));
        }
        trim_in_place(unfolded)
    }

    /// `ids` as it was, collecting into a `Vec` as it went.
    fn ids_old(value: &str) -> Vec<String> {
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

    #[test]
    fn known_names_are_lower_case() {
        for name in [
            "Subject",
            "FROM",
            "message-id",
            "DKIM-Signature",
            "ARC-Seal",
            "List-ID",
            "X-Mailer",
        ] {
            let parsed = HeaderName::parse(name).unwrap_or(HeaderName::Other("".into()));
            let lower = known_lower(&parsed).map(str::to_string);
            let expected = (!matches!(parsed, HeaderName::Other(_)))
                .then(|| parsed.as_str().to_ascii_lowercase());
            assert_eq!(lower, expected, "{name}");
            // Made once, then shared by every mail.
            if let (Some(a), Some(b)) = (known_lower(&parsed), known_lower(&parsed)) {
                assert!(std::ptr::eq(a, b), "{name}");
            }
        }
    }

    #[test]
    fn ids_match_the_old_ones() {
        let pieces = [
            "<a@x>", "< >", "<>", "<", ">", "b@y", " ", ",", "c", "<d", "e@z>",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let value = format!("{a}{b}{c}");
                    assert_eq!(ids(&value), ids_old(&value), "{value:?}");
                    let spaced = format!("{a} {b},{c}");
                    assert_eq!(ids(&spaced), ids_old(&spaced), "{spaced:?}");
                }
            }
        }
    }

    #[test]
    fn decode_value_matches_the_old_one() {
        let pieces = [
            " ",
            "\t",
            "\r\n",
            "\n",
            "\r",
            "\r\n ",
            "\u{3000}",
            "\u{b}",
            "\u{a0}",
            "a",
            "認証",
            "=?UTF-8?B?6KqN6A==?=",
            "=?UTF-8?B?qLw=?=",
            "\u{1b}$B4A\u{1b}(B",
            "=?",
            "\u{85}",
        ];
        let mut inputs: Vec<Vec<u8>> = vec![
            b"\xff\xfe x\r\n".to_vec(),
            b" \x82\xa0\r\n".to_vec(),
            b" <id.1234567890@mail.example.com>\r\n".to_vec(),
            b"\t Mon, 7 Dec 2026 02:30:41 +0000 \r\n".to_vec(),
            b" a=b c\x7f~\r\n".to_vec(),
            b" 0123456789abcde\x0b\r\n".to_vec(),
            b"\x0c0123456789abcdef\x0c".to_vec(),
        ];
        for b in 0..=255u8 {
            for at in [0, 7, 8, 15, 16, 17] {
                let mut raw = b" 0123456789abcdefghij".to_vec();
                raw.insert(at + 1, b);
                raw.extend_from_slice(b"\r\n");
                inputs.push(raw);
            }
        }
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    inputs.push(format!("{a}{b}{c}").into_bytes());
                    inputs.push(format!("{a}{b} x {c}{a}\r\n").into_bytes());
                }
            }
        }
        for raw in &inputs {
            assert_eq!(decode_value(raw), decode_value_old(raw), "{raw:?}");
        }
    }
}
