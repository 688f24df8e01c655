//! Text preparation for matching: normalisation (NFKC + lower case), the
//! fallback quote stripper, English tokens with light stems, and the compact
//! Japanese form that substring terms are searched in.
//!
//! Everything here is cheap and allocation-light because it runs once per
//! mail; the rules side (term stems, indexes) is prepared once at load.

use crate::parse::lower;
use std::borrow::Cow;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// NFKC + lower case, with the typographic apostrophes folded to `'` so
/// "didn’t" (Outlook, macOS) matches "didn't".
///
/// The NFKC + lower-case step is `parse::normalize`'s, done piece by piece so
/// that kana, kanji and ASCII (nearly all of a mail) skip the normalisation
/// machinery; the result is the same as normalising the whole text.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    normalize_into(&mut out, s);
    out
}

/// [`normalize`], appended to `out` (a buffer kept from mail to mail).
pub fn normalize_into(out: &mut String, s: &str) {
    let from = out.len();
    if s.is_ascii() {
        // ASCII is already NFKC: skip the decomposition machinery.
        out.push_str(s);
        if let Some(added) = out.get_mut(from..) {
            added.make_ascii_lowercase();
        }
        return;
    }
    let cased_cjk = push_nfkc(out, s);
    // Text already in NFKC has always been folded char by char, which keeps
    // the cased letters of the CJK block (Ꙁ): the rare text with one is
    // redone that way, so its result stays what it was.
    if cased_cjk && is_nfkc_quick(s.chars()) == IsNormalized::Yes {
        out.truncate(from);
        let mut run = 0;
        for (i, c) in s.char_indices() {
            if folds_to_itself(c) {
                continue;
            }
            out.push_str(s.get(run..i).unwrap_or_default());
            push_folded(out, c);
            run = i + c.len_utf8();
        }
        out.push_str(s.get(run..).unwrap_or_default());
    }
}

/// A letter with case in the block [`push_folded`] passes through: there
/// the two ways of folding differ.
fn is_cased_cjk(c: char) -> bool {
    ('\u{2E80}'..='\u{FE4F}').contains(&c) && !c.to_lowercase().eq([c])
}

/// Whether [`push_folded`] pushes `c` itself: ASCII other than capitals and
/// the backtick, and the caseless CJK block it passes through.
fn folds_to_itself(c: char) -> bool {
    if c.is_ascii() {
        !c.is_ascii_uppercase() && c != '`'
    } else {
        ('\u{2E80}'..='\u{FE4F}').contains(&c)
    }
}

/// Lower case and apostrophe folding of one character of normalised text.
fn push_folded(out: &mut String, c: char) {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '`' | '\u{00B4}' => out.push('\''),
        c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
        // Kana, kanji and CJK punctuation have no case: skip the case tables.
        c if ('\u{2E80}'..='\u{FE4F}').contains(&c) => out.push(c),
        c => out.extend(c.to_lowercase()),
    }
}

/// `parse::normalize(s)` (NFKC, lower case), then [`push_folded`].
///
/// Unicode guarantees a normalisation boundary before a stable character (a
/// starter that nothing composes with), and full-width ASCII and the
/// ideographic space decompose to such characters. So the text is cut into
/// pieces, each one such character followed by the run of other characters
/// after it: single characters are mapped directly, only pieces with
/// anything else (half-width kana, combining marks, ①) go through NFKC.
///
/// Whether a piece that went through NFKC had an [`is_cased_cjk`] letter.
fn push_nfkc(out: &mut String, s: &str) -> bool {
    let mut cased_cjk = false;
    let from = out.len();
    let bytes = s.as_bytes();
    // Start of the run of characters copied whole when something else comes.
    let mut run = 0;
    // Start of the character before `i`.
    let mut prev = 0;
    let mut i = 0;
    // Whether a copied run held an ASCII capital: lowered at the end.
    let mut upper = false;
    while i < bytes.len() {
        let plain = plain_run(bytes, i, &mut upper);
        if plain > i {
            // Each a single-character piece, but the last one starts the
            // piece found below when a non-starter follows it. A run ends
            // on ASCII or on a three-byte character.
            prev = if bytes.get(plain - 1).is_some_and(u8::is_ascii) {
                plain - 1
            } else {
                plain - 3
            };
            i = plain;
        }
        let rest = s.get(i..).unwrap_or_default();
        let Some(c) = rest.chars().next() else { break };
        // Pieces after the first start at a stable or width-folded character.
        let start = if i > 0 && !starts_piece(c) { prev } else { i };
        let first = s.get(start..).and_then(|r| r.chars().next()).unwrap_or(c);
        let mut end = i + c.len_utf8();
        for d in s.get(end..).unwrap_or_default().chars() {
            if starts_piece(d) {
                break;
            }
            end += d.len_utf8();
        }
        let single = end == start + first.len_utf8();
        out.push_str(s.get(run..start).unwrap_or_default());
        run = end;
        if single && is_stable(first) {
            // Its own NFKC form, and caseless apart from ASCII.
            push_folded(out, first);
        } else if let Some(folded) = width_fold(first).filter(|_| single) {
            push_folded(out, folded);
        } else {
            let piece = s.get(start..end).unwrap_or_default();
            cased_cjk |= piece.chars().any(is_cased_cjk);
            for n in piece.nfkc() {
                for l in n.to_lowercase() {
                    push_folded(out, l);
                }
            }
        }
        prev = start;
        i = end;
    }
    out.push_str(s.get(run..).unwrap_or_default());
    if upper {
        // Everything pushed other than the copied runs is lower case already.
        if let Some(added) = out.get_mut(from..) {
            added.make_ascii_lowercase();
        }
    }
    cased_cjk
}

/// Whether `c` starts a normalisation piece (see [`push_nfkc`]).
fn starts_piece(c: char) -> bool {
    is_stable(c) || width_fold(c).is_some()
}

/// The end of the run of characters from `bytes[i]` that are stable and
/// fold to themselves once ASCII is lowered (ASCII other than the backtick,
/// kana, CJK ideographs and punctuation); `upper` is set when it holds an
/// ASCII capital. Whole runs are passed over from the UTF-8 bytes: ASCII
/// eight bytes at a time, three-byte characters with one branch each
/// whatever their script, so text that switches between kana and kanji
/// costs no mispredicted branch per character.
fn plain_run(bytes: &[u8], mut i: usize, upper: &mut bool) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    loop {
        let start = i;
        while let Some(chunk) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
            let x = u64::from_le_bytes(*chunk);
            if x & HIGH != 0 {
                break;
            }
            // With the high bits clear no byte carries into the next: a byte
            // of `x ^ '`'` is zero (a backtick) exactly when adding 0x7F
            // leaves its high bit clear; a capital is at least 'A' and less
            // than '['.
            if !(x ^ (ONES * u64::from(b'`'))).wrapping_add(ONES * 0x7F) & HIGH != 0 {
                break;
            }
            let capitals = x.wrapping_add(ONES * (0x80 - u64::from(b'A')))
                & !x.wrapping_add(ONES * (0x80 - u64::from(b'[')))
                & HIGH;
            *upper |= capitals != 0;
            i += 8;
        }
        while let Some(&b) = bytes.get(i) {
            if !b.is_ascii() || b == b'`' {
                break;
            }
            *upper |= b.is_ascii_uppercase();
            i += 1;
        }
        let mut rest = bytes.get(i..).unwrap_or_default();
        while let [b0, b1, b2, tail @ ..] = rest {
            if !plain3(*b0, *b1, *b2) {
                break;
            }
            rest = tail;
        }
        i = bytes.len() - rest.len();
        if i == start {
            return i;
        }
    }
}

/// Whether the character starting `b0 b1 b2` is a three-byte one that is
/// stable and caseless: a CJK ideograph (U+4E00 to U+9FFF, lead and second
/// byte E4 B8 to E9 BF) or in the U+3000 table (E3 80 to E3 83). The lead
/// and second byte are compared as one number, so the lead needs no test of
/// its own and the two scripts no branch between them.
fn plain3(b0: u8, b1: u8, b2: u8) -> bool {
    let key = u32::from(b0) << 8 | u32::from(b1);
    let kanji = key.wrapping_sub(0xE4B8) <= 0xE9BF - 0xE4B8;
    let kana = key.wrapping_sub(0xE380) <= 3;
    let table = STABLE_3000[key as usize & 3] >> (b2 & 0x3F) & 1 == 1;
    kanji | (kana & table)
}

/// Characters that are their own NFKC form in any context, start a
/// normalisation piece (canonical combining class 0, nothing composes with
/// them) and have no case: ASCII, hiragana, katakana, CJK ideographs and the
/// common CJK punctuation. Checked against the Unicode tables in the tests.
///
/// It runs on the characters [`plain_run`] does not pass over: the U+3000
/// block is one bit table instead of a chain of range tests.
fn is_stable(c: char) -> bool {
    let u = u32::from(c);
    if u < 0x80 || u.wrapping_sub(0x4E00) <= 0x9FFF - 0x4E00 {
        return true;
    }
    u >> 8 == 0x30 && STABLE_3000[(u as usize >> 6) & 3] >> (u & 63) & 1 == 1
}

/// The stable characters of U+3000 to U+30FF, one bit each:
/// 、。 々 〈…】 hiragana ぁ…ゖ, katakana ァ…ヺ and ー.
const STABLE_3000: [u64; 4] = {
    let mut bits = [0u64; 4];
    let mut u = 0usize;
    while u < 0x100 {
        let stable =
            matches!(u, 0x01..=0x02 | 0x05 | 0x08..=0x11 | 0x41..=0x96 | 0xA1..=0xFA | 0xFC);
        if stable {
            bits[u >> 6] |= 1 << (u & 63);
        }
        u += 1;
    }
    bits
};

/// The NFKC form of full-width ASCII (`Ａ` → `A`) and the ideographic space,
/// common in Japanese mail: one ASCII character each.
fn width_fold(c: char) -> Option<char> {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0),
        '\u{3000}' => Some(' '),
        _ => None,
    }
}

/// Strip a leading run of reply/forward prefixes ("Re:", "RE:", "Fwd:",
/// "転送:", "返信:", "AW:", "[EXTERNAL]") so the subject's own words remain.
pub fn strip_subject_prefixes(subject: &str) -> &str {
    const PREFIXES: [&str; 12] = [
        "re:", "fw:", "fwd:", "aw:", "wg:", "sv:", "vs:", "tr:", "返信:", "転送:", "re：", "fw：",
    ];
    let mut s = subject.trim_start();
    // Each prefix starts with one of these (lower case): most subjects are
    // ruled out by their first character before twelve comparisons.
    let may_start = |s: &str| {
        lower::first_lower(s)
            .is_some_and(|c| matches!(c, 'r' | 'f' | 'a' | 'w' | 's' | 'v' | 't' | '返' | '転'))
    };
    while may_start(s)
        && let Some(p) = PREFIXES.iter().find(|p| lower::starts_with(s, p))
    {
        // Advance by the prefix's length in chars (lower-casing keeps the count for these).
        let n = p.chars().count();
        let cut = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
        s = s[cut..].trim_start();
    }
    s
}

/// Whether a (normalised) subject starts with a reply prefix ("Re:", "返信:").
pub fn is_reply(subject: &str) -> bool {
    let s = subject.trim_start();
    ["re:", "re :", "aw:", "sv:", "vs:", "返信:", "re："]
        .iter()
        .any(|p| s.starts_with(p))
}

/// The part of a body the sender wrote in this mail.
///
/// `parse` splits quotes off into `quoted_text`; this cruder cut is applied
/// on top (and to an `Inbound` built otherwise): it drops `>` lines and stops
/// at the usual reply/forward headers (Gmail "On … wrote:", Outlook
/// "-----Original Message-----" and "From:/Sent:" blocks, their Japanese
/// forms). It is not a no-op on parse's new text: it also stops at a bare
/// rule of dashes or a `--` line that parse keeps, so skipping it for speed
/// would change verdicts (checked on random line mixes).
pub fn own_text(body: &str) -> String {
    let mut out = String::new();
    own_text_into(&mut out, body);
    out
}

/// [`own_text`], appended to `out` (a buffer kept from mail to mail).
pub fn own_text_into(out: &mut String, body: &str) {
    // Each kept line gets a line feed: one more than the body may have.
    out.reserve(body.len() + 1);
    let mut lines = body.lines();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.starts_with('>') || t.starts_with('＞') {
            continue;
        }
        // The lines after this one, read only for an Outlook header block.
        if is_quote_header(t, lines.clone()) {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
}

fn is_quote_header<'a>(t: &str, rest: impl Iterator<Item = &'a str>) -> bool {
    // Outlook's header block starts with one of these.
    const HEADER_START: [&str; 5] = ["from:", "差出人:", "差出人：", "送信者:", "送信元:"];
    // Cheap gate first, without a lower-cased copy: every marker below
    // starts with `-` or `_`, ends with a colon, or starts with "begin
    // forwarded message" or a header-block key.
    if !t.ends_with([':', '：'])
        && !t.starts_with(['-', '_'])
        && !(lower::first_lower(t).is_some_and(|c| matches!(c, 'b' | 'f' | '差' | '送'))
            && (lower::starts_with(t, "begin forwarded message")
                || HEADER_START.iter().any(|h| lower::starts_with(t, h))))
    {
        return false;
    }
    let lower = t.to_lowercase();
    if lower == "--" || t == "-- " {
        return true; // signature separator
    }
    let dashes = lower.trim_matches(|c| c == '-' || c == ' ' || c == '_');
    if (lower.starts_with("---") || lower.starts_with("___"))
        && (dashes.is_empty()
            || dashes.contains("original message")
            || dashes.contains("forwarded message")
            || dashes.contains("元のメッセージ")
            || dashes.contains("転送")
            || dashes.contains("オリジナル"))
    {
        return true;
    }
    if lower.starts_with("begin forwarded message") {
        return true;
    }
    if (lower.ends_with("wrote:")
        || lower.ends_with("書きました:")
        || lower.ends_with("書きました："))
        && (lower.starts_with("on ") || lower.contains('@') || lower.contains('年'))
    {
        return true;
    }
    // Outlook's header block: "From: …" followed closely by "Sent:"/"Date:"/"To:".
    if HEADER_START.iter().any(|h| lower.starts_with(h)) {
        return rest.take(4).any(|l| {
            let l = l.trim();
            [
                "sent:",
                "date:",
                "to:",
                "subject:",
                "送信日時:",
                "日時:",
                "宛先:",
                "件名:",
                "送信日時：",
            ]
            .iter()
            .any(|h| lower::starts_with(l, h))
        });
    }
    false
}

/// One English word of the text.
#[derive(Debug, Clone, Copy)]
pub struct Token<'a> {
    /// The word as written (normalised), e.g. "didn't".
    pub raw: &'a str,
    /// Clause number: negation and gapped phrases never cross a clause.
    pub clause: u32,
}

/// Split normalised text into English words. Letters, digits and inner
/// apostrophes make a word; sentence punctuation, commas, blank lines and any
/// non-ASCII character (Japanese text) end the clause.
pub fn tokenize(norm: &str) -> Vec<Token<'_>> {
    let mut out = Vec::with_capacity(norm.len() / 5);
    for_each_token(norm, |t| out.push(t));
    out
}

/// [`tokenize`], handing each word to `f` instead of collecting them.
///
/// Walks bytes, not chars: a non-ASCII character (Japanese text) only ends
/// the word and the clause, so a whole run of them is skipped at once and
/// counts as one clause break (clause numbers are only compared for
/// equality: a break is a break).
pub fn for_each_token<'a>(norm: &'a str, mut f: impl FnMut(Token<'a>)) {
    let mut clause = 0u32;
    let mut prev_newline = false;
    let bytes = norm.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii_alphanumeric() {
            // A whole word in one tight loop: letters, digits and inner
            // apostrophes (one with a letter after it).
            let start = i;
            i += 1;
            while let Some(&c) = bytes.get(i) {
                let inner = c.is_ascii_alphanumeric()
                    || (c == b'\'' && bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic));
                if !inner {
                    break;
                }
                i += 1;
            }
            f(Token {
                raw: norm.get(start..i).unwrap_or_default(),
                clause,
            });
            prev_newline = false;
            continue;
        }
        if !b.is_ascii() {
            clause += 1;
            prev_newline = false;
            i = next_ascii(bytes, i);
            continue;
        }
        let breaks = match b {
            b'\n' => {
                let blank = prev_newline;
                prev_newline = true;
                blank
            }
            b' ' | b'\t' | b'\r' | b'-' | b'/' | b'"' | b'\'' | b'*' => false,
            b => matches!(
                b,
                b'.' | b',' | b';' | b':' | b'!' | b'?' | b'(' | b')' | b'[' | b']'
            ),
        };
        if !matches!(b, b'\n' | b'\r' | b' ' | b'\t') {
            prev_newline = false;
        }
        if breaks {
            clause += 1;
        }
        i += 1;
    }
}

/// The index of the first ASCII byte at or after `from` (or the length),
/// eight bytes at a time.
fn next_ascii(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    let rest = bytes.get(from..).unwrap_or_default();
    for chunk in rest.chunks_exact(8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        if word & 0x8080_8080_8080_8080 != 0x8080_8080_8080_8080 {
            break;
        }
        i += 8;
    }
    while bytes.get(i).is_some_and(|b| !b.is_ascii()) {
        i += 1;
    }
    i
}

/// A light suffix stemmer, applied alike to rule words and text words so
/// arrive/arrives/arrived/arriving all meet at "arriv". It is not a real
/// morphological analyser: irregular forms (lost/lose, got/get) are listed as
/// separate terms in the rules.
pub fn stem(word: &str) -> Cow<'_, str> {
    let w = word.strip_suffix("'s").unwrap_or(word);
    if !w.is_ascii() {
        return Cow::Borrowed(w);
    }
    // Every suffix below ends in one of these letters: most words skip the
    // suffix tests.
    let mut s = w;
    if matches!(w.as_bytes().last(), Some(b's' | b'd' | b'g' | b'e')) {
        for (suffix, replacement) in [("ies", "y"), ("ied", "y")] {
            if let Some(s) = w.strip_suffix(suffix)
                && s.len() >= 2
            {
                return Cow::Owned(format!("{s}{replacement}"));
            }
        }
        for suffix in ["ing", "ed", "es", "s", "e"] {
            if let Some(rest) = s.strip_suffix(suffix)
                && rest.len() >= 3
                && !(suffix == "s" && rest.ends_with('s'))
            {
                s = rest;
                break;
            }
        }
    }
    let b = s.as_bytes();
    if b.len() > 3 {
        let (x, y) = (b[b.len() - 1], b[b.len() - 2]);
        if x == y && !matches!(x, b'a' | b'e' | b'i' | b'o' | b'u' | b's' | b'l') {
            return Cow::Borrowed(&s[..s.len() - 1]);
        }
    }
    Cow::Borrowed(s)
}

/// The compact form Japanese terms are searched in: normalised text with all
/// whitespace removed (Japanese mail is hard-wrapped mid-word), as chars so
/// windows are counted in characters.
pub fn compact(norm: &str) -> Vec<char> {
    let mut out = Vec::new();
    compact_into(&mut out, norm);
    out
}

/// [`compact`] into `out` (a buffer kept from mail to mail), replacing what
/// it held.
pub fn compact_into(out: &mut Vec<char>, norm: &str) {
    out.clear();
    out.reserve(norm.len());
    for c in norm.chars() {
        if !is_space(c) {
            out.push(c);
        }
    }
}

/// `char::is_whitespace`, with the CJK range (most of a Japanese text)
/// answered before the Unicode table: no whitespace lies above U+3000.
fn is_space(c: char) -> bool {
    c <= '\u{3000}' && c.is_whitespace()
}

/// Whether a character ends a sentence for Japanese windows.
pub fn ends_sentence(c: char) -> bool {
    matches!(c, '。' | '!' | '?' | '.' | '\u{FF61}')
}

/// How often each letter a–z occurs (anything else counted together in slot
/// 26; the last five stay 0, a width the compiler compares in one vector):
/// a lower bound on edit distance, see `matcher::word_id`.
pub fn letter_counts(s: &str) -> [u8; 32] {
    let mut counts = [0u8; 32];
    for b in s.bytes() {
        let slot = if b.is_ascii_lowercase() {
            usize::from(b - b'a')
        } else {
            26
        };
        counts[slot] = counts[slot].saturating_add(1);
    }
    counts
}

/// Hand `f` a hash of the word and of every string made by deleting one of
/// its bytes: a word one edit (insertion, deletion, change or swap of
/// neighbours) from another shares one of these strings, so one of these
/// hashes, with it. Computed in one pass, without building the strings.
pub fn for_each_deletion_hash(word: &[u8], mut f: impl FnMut(u64)) {
    let whole = poly_hash(word);
    f(whole);
    // From the end: `rest` is the hash of the bytes after `k`, `weight` the
    // power of the multiplier byte `k` carries in `whole`.
    let (mut rest, mut weight) = (0u64, 1u64);
    for &b in word.iter().rev() {
        let from_k = u64::from(b).wrapping_mul(weight).wrapping_add(rest);
        // The bytes before `k` carry one power too many in `whole`: the
        // multiplier is odd, so dividing by it is multiplying by its inverse.
        let before = whole.wrapping_sub(from_k).wrapping_mul(POLY_INVERSE);
        f(before.wrapping_add(rest));
        rest = from_k;
        weight = weight.wrapping_mul(POLY);
    }
}

/// The multiplier of [`poly_hash`] (odd) and its inverse modulo 2^64.
const POLY: u64 = 0x0100_0000_01b3;
const POLY_INVERSE: u64 = {
    // Newton's iteration doubles the correct low bits each step.
    let mut inv = POLY;
    let mut i = 0;
    while i < 6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(POLY.wrapping_mul(inv)));
        i += 1;
    }
    inv
};

/// The polynomial hash of `bytes`: each byte times the multiplier to the
/// power of the bytes after it.
pub fn poly_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |h, &b| {
        h.wrapping_mul(POLY).wrapping_add(u64::from(b))
    })
}

/// A 26-letter bitmask, used to skip edit-distance work on words that cannot
/// be within one edit of each other.
pub fn letter_mask(s: &str) -> u32 {
    s.bytes()
        .filter(u8::is_ascii_lowercase)
        .fold(0, |m, b| m | 1 << (b - b'a'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_width_case_and_apostrophes() {
        assert_eq!(normalize("ＭＦＡ ｺｰﾄﾞ"), "mfa コード");
        assert_eq!(normalize("Didn’t ARRIVE"), "didn't arrive");
    }

    /// `normalize` as it was first written: quick check over the whole text,
    /// else NFKC of the whole text. The piecewise version must agree.
    fn reference_normalize(s: &str) -> String {
        let mut out = String::new();
        if s.is_ascii() {
            out.extend(s.chars().map(|c| c.to_ascii_lowercase()));
        } else if is_nfkc_quick(s.chars()) == IsNormalized::Yes {
            s.chars().for_each(|c| push_folded(&mut out, c));
        } else {
            crate::parse::normalize(s)
                .chars()
                .for_each(|c| push_folded(&mut out, c));
        }
        out
    }

    #[test]
    fn stable_table_is_the_listed_ranges() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let listed = matches!(c,
                '\0'..='\u{7F}'
                | '\u{3001}'..='\u{3002}'
                | '\u{3005}'
                | '\u{3008}'..='\u{3011}'
                | '\u{3041}'..='\u{3096}'
                | '\u{30A1}'..='\u{30FA}'
                | '\u{30FC}'
                | '\u{4E00}'..='\u{9FFF}');
            assert_eq!(is_stable(c), listed, "{c:?}");
        }
    }

    #[test]
    fn stable_and_width_tables_hold() {
        use unicode_normalization::char::canonical_combining_class;
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            if is_stable(c) {
                let one = std::iter::once(c);
                assert_eq!(is_nfkc_quick(one), IsNormalized::Yes, "{c:?}");
                assert_eq!(canonical_combining_class(c), 0, "{c:?}");
                assert!(c.is_ascii() || c.to_lowercase().eq([c]), "{c:?}");
            }
            if let Some(f) = width_fold(c) {
                assert!(f.is_ascii(), "{c:?}");
                assert!(c.to_string().nfkc().eq([f]), "{c:?}");
            }
        }
    }

    #[test]
    fn folding_differs_only_for_cased_cjk() {
        // Folding a normalised char alone vs. lower-casing it first.
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            if is_nfkc_quick(std::iter::once(c)) != IsNormalized::Yes {
                continue;
            }
            let (mut alone, mut lowered) = (String::new(), String::new());
            push_folded(&mut alone, c);
            c.to_lowercase().for_each(|l| push_folded(&mut lowered, l));
            assert!(alone == lowered || is_cased_cjk(c), "{c:?}");
        }
    }

    #[test]
    fn plain_run_is_stable_and_self_folding() {
        let mut buf = [0u8; 4];
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            let lower = c.to_ascii_lowercase();
            let plain = is_stable(c) && folds_to_itself(lower);
            let mut upper = false;
            assert_eq!(
                plain_run(bytes, 0, &mut upper),
                if plain { bytes.len() } else { 0 },
                "{c:?}"
            );
            assert_eq!(upper, c.is_ascii_uppercase(), "{c:?}");
        }
        // Runs eight bytes at a time, stopping at what is not plain.
        let text = "abcdefghIJKLMNOPqrstuvwx漢かナ。yz`abcdefghijklmn";
        let mut upper = false;
        assert_eq!(
            plain_run(text.as_bytes(), 0, &mut upper),
            text.find('`').unwrap_or(0)
        );
        assert!(upper);
        let lower = "abcdefgh0123456789 \n";
        let mut upper = false;
        assert_eq!(plain_run(lower.as_bytes(), 0, &mut upper), lower.len());
        assert!(!upper);
        for at in 0..16 {
            let mut text = String::from("abcdefghijklmnopqrstuvwx");
            text.insert(at, '`');
            assert_eq!(plain_run(text.as_bytes(), 0, &mut false), at);
            let mut text = String::from("abcdefghijklmnopqrstuvwx");
            text.insert(at, 'ｶ');
            assert_eq!(plain_run(text.as_bytes(), 0, &mut false), at);
            let mut text = String::from("abcdefghijklmnopqrstuvwx");
            text.insert(at, 'Q');
            let mut upper = false;
            assert_eq!(plain_run(text.as_bytes(), 0, &mut upper), text.len());
            assert!(upper);
        }
    }

    #[test]
    fn piecewise_nfkc_matches_whole_text() {
        // Stable, width-folded, composing, compatibility and cased characters.
        let alphabet = [
            'a', 'Z', '`', ' ', '\n', 'か', 'カ', 'ー', '漢', '。', 'Ａ', '！', '\u{3000}', 'ｶ',
            '\u{FF9E}', '\u{FF9F}', 'ﾟ', '\u{3099}', '\u{309A}', '\u{0301}', '\u{0323}', 'e', '①',
            '㍿', 'ﬁ', 'Σ', 'ς', '\u{A640}', '\u{130}', '\u{212A}', '\u{2019}', '´', '\u{1100}',
            '\u{1161}', '\u{11A8}', '가', 'é', '\u{2126}', 'Å', '\u{FB2A}',
        ];
        let mut buf = String::new();
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    buf.clear();
                    buf.extend([a, b, c]);
                    assert_eq!(normalize(&buf), reference_normalize(&buf), "{buf:?}");
                }
            }
        }
        let mixed = "ＭＦＡの認証ｺｰﾄﾞが届きません（iPhone）。Didn’t ARRIVE ①　ﾃｽﾄ";
        assert_eq!(normalize(mixed), reference_normalize(mixed));
    }

    #[test]
    fn space_test_is_unicode_whitespace() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            assert_eq!(is_space(c), c.is_whitespace(), "{c:?}");
        }
        assert_eq!(compact(" a\u{3000}か\n\u{B}き "), ['a', 'か', 'き']);
    }

    #[test]
    fn deletion_hashes_are_the_deletions_hashes() {
        assert_eq!(POLY.wrapping_mul(POLY_INVERSE), 1);
        for word in ["", "a", "abc", "receiv", "arrivv", "authenticator"] {
            let mut got = Vec::new();
            for_each_deletion_hash(word.as_bytes(), |h| got.push(h));
            let mut want = vec![poly_hash(word.as_bytes())];
            for k in (0..word.len()).rev() {
                let mut d = word.as_bytes().to_vec();
                d.remove(k);
                want.push(poly_hash(&d));
            }
            assert_eq!(got, want, "{word}");
        }
    }

    #[test]
    fn one_edit_shares_a_deletion() {
        let deletions = |s: &str| {
            let mut all = Vec::new();
            for_each_deletion_hash(s.as_bytes(), |d| all.push(d));
            all
        };
        let words = [
            "receiv", "reciev", "receive", "recive", "receivx", "xeceiv", "rceeiv",
        ];
        for a in words {
            for b in words {
                let (da, db) = (deletions(a), deletions(b));
                let shared = da.iter().any(|d| db.contains(d));
                if strsim::damerau_levenshtein(a, b) <= 1 {
                    assert!(shared, "{a} {b}");
                }
            }
        }
    }

    #[test]
    fn stems_meet() {
        for w in ["arrive", "arrives", "arrived", "arriving"] {
            assert_eq!(stem(w), "arriv", "{w}");
        }
        assert_eq!(stem("stopped"), stem("stop"));
        assert_eq!(stem("replies"), stem("reply"));
        assert_eq!(stem("codes"), stem("code"));
        assert_eq!(stem("pushes"), stem("push"));
    }

    /// `for_each_token` as it was first written, a byte at a time: the
    /// word-at-a-time version must give the same words and clauses.
    fn reference_tokens(norm: &str) -> Vec<(&str, u32)> {
        let (mut out, mut clause, mut start, mut prev_newline) = (Vec::new(), 0, None, false);
        let bytes = norm.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let word_char = b.is_ascii_alphanumeric()
                || (b == b'\''
                    && start.is_some()
                    && bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic));
            if word_char {
                start = start.or(Some(i));
                prev_newline = false;
                continue;
            }
            if let Some(s) = start.take() {
                out.push((&norm[s..i], clause));
            }
            if !b.is_ascii() {
                // Only the first byte of a non-ASCII run counts.
                if i == 0 || bytes[i - 1].is_ascii() {
                    clause += 1;
                }
                prev_newline = false;
                continue;
            }
            let breaks = match b {
                b'\n' => std::mem::replace(&mut prev_newline, true),
                b'.' | b',' | b';' | b':' | b'!' | b'?' | b'(' | b')' | b'[' | b']' => true,
                _ => false,
            };
            if !matches!(b, b'\n' | b'\r' | b' ' | b'\t') {
                prev_newline = false;
            }
            clause += u32::from(breaks);
        }
        if let Some(s) = start {
            out.push((&norm[s..], clause));
        }
        out
    }

    #[test]
    fn word_at_a_time_tokens_match_byte_at_a_time() {
        let alphabet = [
            "a", "Z9", "'", "'s", " ", "\n", "\n\n", "\r\n", ".", "-", "か", "。", "\t", "#",
        ];
        let mut text = String::new();
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    for d in alphabet {
                        text.clear();
                        text.extend([a, b, c, d]);
                        let mut got = Vec::new();
                        for_each_token(&text, |t| got.push((t.raw, t.clause)));
                        assert_eq!(got, reference_tokens(&text), "{text:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn clauses_split_on_punctuation_and_japanese() {
        let n = normalize("I did not, lose it. 私のphone");
        let t = tokenize(&n);
        let words: Vec<&str> = t.iter().map(|t| t.raw).collect();
        assert_eq!(words, ["i", "did", "not", "lose", "it", "phone"]);
        assert_eq!(t[2].clause, t[0].clause);
        assert_ne!(t[3].clause, t[2].clause);
        assert_ne!(t[5].clause, t[4].clause);
    }

    #[test]
    fn subject_prefixes_go() {
        assert_eq!(strip_subject_prefixes("RE: Fwd: code"), "code");
        assert_eq!(strip_subject_prefixes("転送: コード"), "コード");
    }

    #[test]
    fn quotes_are_dropped() {
        let body =
            "my phone is new\n\nOn Mon, 1 Jan 2024, Bob <b@x.com> wrote:\n> I lost my phone\n";
        assert_eq!(own_text(body).trim(), "my phone is new");
        let ja = "機種変更しました。\n-----Original Message-----\nFrom: x\n紛失";
        assert_eq!(own_text(ja).trim(), "機種変更しました。");
        let ol = "hello\nFrom: Bob\nSent: Monday\nlost phone";
        assert_eq!(own_text(ol).trim(), "hello");
    }
}
