//! Quote stripping: split a decoded body into what the sender newly wrote and
//! the quoted thread below it, then trim the signature off the new part.
//!
//! The rule is "everything before the first quote marker is new": `>` lines,
//! "On … wrote:" attributions (English and Japanese, also wrapped over two
//! lines), Outlook's "-----Original Message-----" / "-----元のメッセージ-----"
//! separators and From:/Sent:/To:/Subject: (差出人:/送信日時:/宛先:/件名:)
//! header blocks, and forwarded-message markers.

use super::lower;
use std::borrow::Cow;

/// A body split into the new text and the quoted rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub new_text: String,
    pub quoted_text: String,
}

/// How many quoted layers the bottom-posting fallback digs through.
const MAX_FALLBACK_DEPTH: usize = 3;

/// Split `text` into new text (signature trimmed) and quoted text.
pub fn split(text: &str) -> Split {
    // `lines()` already drops the CR of a CRLF: only a lone CR needs the
    // copy. There is one when the text holds more CRs than CRLFs; counting
    // them is one SIMD pass, where finding each one (every line of a CRLF
    // body) cost a search per line.
    let (lines, crlfs) = lines_and_crlfs(text);
    let unified;
    let lines = if memchr::memchr_iter(b'\r', text.as_bytes()).count() == crlfs {
        lines
    } else {
        unified = unify_line_ends(text);
        lines_of(&unified)
    };
    let (new_lines, quoted_lines) = split_lines(&lines, 0);
    Split {
        new_text: strip_signature_lines(new_lines),
        quoted_text: trim_blank_lines(&quoted_lines),
    }
}

/// `text.lines()` collected, with the line feeds found by `memchr` (the
/// `lines()` iterator searched for each one anew, a large share of `split`).
fn lines_of(text: &str) -> Vec<&str> {
    lines_and_crlfs(text).0
}

/// [`lines_of`], and how many lines lost a CR (ended in CRLF).
fn lines_and_crlfs(text: &str) -> (Vec<&str>, usize) {
    let bytes = text.as_bytes();
    let mut crlfs = 0;
    // Room for lines of 32 bytes on average (mail lines are longer): a
    // guess is cheaper than counting the LFs in a pass of their own.
    let mut lines = Vec::with_capacity(bytes.len() / 32 + 4);
    let mut start = 0;
    for lf in memchr::memchr_iter(b'\n', bytes) {
        // LF is ASCII: both cuts are character boundaries.
        let line = text.get(start..lf).unwrap_or_default();
        let stripped = line.strip_suffix('\r');
        crlfs += usize::from(stripped.is_some());
        lines.push(stripped.unwrap_or(line));
        start = lf + 1;
    }
    if start < text.len() {
        lines.push(text.get(start..).unwrap_or_default());
    }
    (lines, crlfs)
}

/// CRLF and lone CR to LF in one pass (`replace("\r\n", "\n")` then
/// `replace('\r', "\n")` copied the text twice).
fn unify_line_ends(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    for cr in memchr::memchr_iter(b'\r', text.as_bytes()) {
        // CR is ASCII: both cuts are character boundaries.
        out.push_str(text.get(start..cr).unwrap_or_default());
        if text.as_bytes().get(cr + 1) != Some(&b'\n') {
            out.push('\n');
        }
        start = cr + 1;
    }
    out.push_str(text.get(start..).unwrap_or_default());
    out
}

/// Returns (new lines, quoted lines); the quoted lines are copied only when
/// they are not one run (bottom posting).
fn split_lines<'l, 'a>(lines: &'l [&'a str], depth: usize) -> (&'l [&'a str], Cow<'l, [&'a str]>) {
    let Some(marker) = first_marker(lines) else {
        return (lines, Cow::Borrowed(&[]));
    };
    let (before, after) = lines.split_at(marker);
    if before.iter().any(|l| !is_blank(l)) || depth >= MAX_FALLBACK_DEPTH {
        return (before, Cow::Borrowed(after));
    }
    // Nothing above the first marker: bottom posting (quote, then the answer)
    // or a forward without a note. Skip the leading quoted block and look again.
    let skip = leading_quote_block_len(after);
    let (head, rest) = after.split_at(skip.min(after.len()));
    let (new, quoted_rest) = split_lines(rest, depth + 1);
    if new.iter().all(|l| is_blank(l)) {
        return (&[], Cow::Borrowed(after));
    }
    let mut quoted = head.to_vec();
    quoted.extend_from_slice(&quoted_rest);
    (new, Cow::Owned(quoted))
}

/// Length of the block at the start of `lines` that is clearly quoting:
/// markers, header lines, `>` lines and blank lines.
fn leading_quote_block_len(lines: &[&str]) -> usize {
    lines
        .iter()
        .take_while(|l| {
            let t = l.trim();
            t.is_empty()
                || is_quote_line(t)
                || is_separator(t)
                || header_key(t).is_some()
                || is_attribution(t)
                || is_underscore_rule(t)
        })
        .count()
}

/// Index of the first line that starts the quoted part.
fn first_marker(lines: &[&str]) -> Option<usize> {
    for (i, raw) in lines.iter().enumerate() {
        let line = trim(raw);
        if line.is_empty() || !may_be_marker(line) {
            continue;
        }
        if is_quote_line(line) || is_separator(line) {
            return Some(i);
        }
        if is_attribution(line) {
            // A wrapped attribution ("On Mon, … Taro <t@x>\nwrote:"): start at
            // the line that opens it.
            return Some(match previous_nonblank(lines, i) {
                Some(p) if opens_attribution(lines[p].trim()) => p,
                _ => i,
            });
        }
        if opens_attribution(line)
            && next_nonblank(lines, i).is_some_and(|n| closes_attribution(lines[n].trim()))
        {
            return Some(i);
        }
        if is_header_block(lines, i) {
            // Outlook puts a ____ rule (HTML form) above the header block.
            return Some(match previous_nonblank(lines, i) {
                Some(p) if is_underscore_rule(lines[p].trim()) => p,
                _ => i,
            });
        }
    }
    None
}

/// Whether a trimmed, non-empty line can start any marker [`first_marker`]
/// looks for, from its first and last characters: a quote mark, a rule or
/// `*` (separators, bold header keys), a digit (a date), a colon at the end
/// (attributions), or the first letter of a separator, "On" or a From key.
fn may_be_marker(line: &str) -> bool {
    // From the bytes: a first or last character outside ASCII is compared
    // as a whole, and an ASCII one lower-cases byte for byte.
    let bytes = line.as_bytes();
    if bytes.ends_with(b":") || bytes.ends_with("：".as_bytes()) {
        return true;
    }
    match bytes.first() {
        None => false,
        Some(&b) if b.is_ascii() => {
            matches!(b, b'>' | b'-' | b'=' | b'_' | b'*' | b'0'..=b'9')
                || matches!(b.to_ascii_lowercase(), b'o' | b'f' | b'b' | b'm')
        }
        // None of these has case, and no character outside ASCII
        // lower-cases to o, f, b or m.
        Some(_) => line.chars().next().is_some_and(|c| {
            matches!(
                c,
                '＞' | '－' | '―' | '元' | 'オ' | '転' | '以' | '差' | '送'
            )
        }),
    }
}

fn previous_nonblank(lines: &[&str], i: usize) -> Option<usize> {
    (0..i)
        .rev()
        .find(|&j| lines.get(j).is_some_and(|l| !is_blank(l)))
}

fn next_nonblank(lines: &[&str], i: usize) -> Option<usize> {
    (i + 1..lines.len()).find(|&j| lines.get(j).is_some_and(|l| !is_blank(l)))
}

fn is_quote_line(line: &str) -> bool {
    line.starts_with('>') || line.starts_with('＞')
}

/// "-----Original Message-----", "-----元のメッセージ-----",
/// "---------- Forwarded message ---------", "-------- 転送メッセージ --------",
/// "Begin forwarded message:".
fn is_separator(line: &str) -> bool {
    const SEPARATORS: [&str; 10] = [
        "original message",
        "original",
        "元のメッセージ",
        "オリジナルメッセージ",
        "forwarded message",
        "begin forwarded message",
        "転送メッセージ",
        "転送されたメッセージ",
        "以下、転送メッセージ",
        "message d'origine",
    ];
    let rule = |c: char| matches!(c, '-' | '=' | '_' | '－' | '―' | ' ' | '　');
    // The lower-cased first character must start a separator: this rules
    // out nearly every line before ten case-folding comparisons. It is
    // tested from the front alone (a non-empty core starts there), before
    // the trims from the end.
    let may_start = |s: &str| {
        lower::first_lower(s)
            .is_some_and(|f| matches!(f, 'o' | 'f' | 'b' | 'm' | '元' | 'オ' | '転' | '以'))
    };
    if !may_start(line.trim_start_matches(rule).trim_start()) {
        return false;
    }
    let core = line.trim_matches(rule).trim_end_matches([':', '：']).trim();
    if !may_start(core) {
        return false;
    }
    // An ASCII core lower-cases byte for byte: only a separator of its
    // length can match (most cores are ordinary lines that start like one).
    if core.is_ascii() {
        return SEPARATORS
            .iter()
            .any(|s| s.len() == core.len() && core.eq_ignore_ascii_case(s));
    }
    SEPARATORS.iter().any(|s| lower::eq(core, s))
}

fn is_underscore_rule(line: &str) -> bool {
    line.chars().count() >= 8 && line.chars().all(|c| c == '_' || c == '＿')
}

/// A date-led line: "2026年11月20日(金) 10:00 …" or "2026/11/20 …".
fn starts_with_date(line: &str) -> bool {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits != 4 {
        return false;
    }
    let rest = &line[digits..];
    rest.starts_with('年') || rest.starts_with('/') || rest.starts_with('-')
}

/// The first line of an attribution that may continue on the next line.
fn opens_attribution(line: &str) -> bool {
    line.starts_with("On ") || starts_with_date(line)
}

/// The second line of a wrapped attribution.
fn closes_attribution(line: &str) -> bool {
    let lower = line.to_lowercase();
    let body = lower.trim_end_matches([':', '：']).trim_end();
    body.len() < lower.len()
        && (body.ends_with("wrote") || body.ends_with("書きました") || body.ends_with('>'))
}

/// "On … wrote:", "… <x@y>:", "2026年11月20日(金) 10:00 山田太郎 <…>:",
/// "…さんは書きました:".
fn is_attribution(line: &str) -> bool {
    // Lower-casing never makes or removes a final colon: test it before copying.
    if !line.ends_with([':', '：']) {
        return false;
    }
    let lower = line.to_lowercase();
    let body = lower.trim_end_matches([':', '：']).trim_end();
    if body.ends_with("wrote") {
        return lower.starts_with("on ")
            || lower.contains('@')
            || lower.chars().any(|c| c.is_ascii_digit());
    }
    if body.ends_with("書きました") || body.ends_with("書き込みました") {
        return true;
    }
    if body.ends_with('>') && lower.contains('@') {
        return true;
    }
    starts_with_date(line) && lower.contains('@')
}

/// The key of a mail-header-looking line ("From:", "**差出人:**"), lower case.
fn header_key(line: &str) -> Option<&'static str> {
    let line = line.trim_start_matches(['*', ' ', '　']);
    let pos = colon(line)?;
    let key = line.get(..pos)?.trim().trim_matches('*').trim();
    const KEYS: [&str; 17] = [
        "from",
        "sent",
        "date",
        "to",
        "cc",
        "subject",
        "差出人",
        "送信者",
        "送信元",
        "送信日時",
        "送信日",
        "日付",
        "日時",
        "宛先",
        "件名",
        "reply-to",
        "bcc",
    ];
    // An ASCII key lower-cases byte for byte, so only the ASCII keys of its
    // length can match; any other is compared from its first character.
    if key.is_ascii() {
        return KEYS
            .into_iter()
            .find(|k| k.len() == key.len() && key.eq_ignore_ascii_case(k));
    }
    let first = lower::first_lower(key)?;
    KEYS.into_iter()
        .find(|k| k.starts_with(first) && lower::eq(key, k))
}

/// Byte offset of the first `:` or `：` (U+FF1A, EF BC 9A in UTF-8): a byte
/// search instead of decoding every character of every line.
fn colon(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    memchr::memchr2_iter(b':', 0xEF, b)
        .find(|&i| b[i] == b':' || b.get(i..i + 3) == Some(&[0xEF, 0xBC, 0x9A]))
}

fn is_from_key(key: &str) -> bool {
    matches!(key, "from" | "差出人" | "送信者" | "送信元")
}

/// An Outlook reply header: a From line followed closely by Sent/To/Subject
/// lines (or all of them squeezed into one line by HTML-to-text).
fn is_header_block(lines: &[&str], i: usize) -> bool {
    let Some(line) = lines.get(i).map(|l| l.trim()) else {
        return false;
    };
    // Every From key starts with one of these: most lines stop here. The
    // trims are `header_key`'s, as far as they reach the key's first char.
    let head = line.trim_start_matches(['*', ' ', '　']).trim_start();
    let first = lower::first_lower(head.trim_start_matches('*').trim_start());
    if !first.is_some_and(|c| matches!(c, 'f' | '差' | '送')) {
        return false;
    }
    let Some(key) = header_key(line) else {
        return false;
    };
    if !is_from_key(key) {
        return false;
    }
    let lower = line.to_lowercase();
    if ["sent:", "送信日時:", "送信日時：", "subject:", "件名:"]
        .iter()
        .any(|k| lower.contains(k))
    {
        return true;
    }
    let others = lines
        .iter()
        .skip(i + 1)
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .take(5)
        .filter_map(header_key)
        .filter(|k| !is_from_key(k))
        .count();
    others >= 2
}

/// Trim the signature and mobile footer off the end of the new text. Only
/// the tail is looked at, so a rule line in the middle of real content stays.
pub fn strip_signature(text: &str) -> String {
    strip_signature_lines(&lines_of(text))
}

/// [`strip_signature`] on text already split into lines.
fn strip_signature_lines(mut lines: &[&str]) -> String {
    trim_trailing_blank(&mut lines);

    // Mobile footers: "Sent from my iPhone", "iPhoneから送信".
    if let Some(pos) = lines
        .iter()
        .rposition(|l| !is_blank(l))
        .filter(|&p| is_mobile_footer(trim(lines[p])))
    {
        lines = &lines[..pos];
        trim_trailing_blank(&mut lines);
    }

    // The "-- " separator: only if it closes the mail (≤ 15 lines follow).
    // Its first two bytes rule out other lines before trimming them.
    if let Some(pos) = lines
        .iter()
        .rposition(|l| l.starts_with("--") && l.trim_end() == "--")
        && lines.len() - pos <= 16
        && has_content(&lines[..pos])
    {
        lines = &lines[..pos];
        trim_trailing_blank(&mut lines);
    }

    // A ruled signature block (━━━, ────, ====, ****, -----) near the end
    // that carries name/company/TEL cues.
    // A cue at or below the rule: the last line with a cue is looked for
    // once, when the first rule line comes, not once per rule line.
    let start = lines.len().saturating_sub(14);
    let mut last_cue = None;
    let cut = (start..lines.len()).find(|&p| {
        may_be_rule(lines[p])
            && is_rule(trim(lines[p]))
            && has_content(&lines[..p])
            && lines[p + 1..]
                .iter()
                .all(|l| l.len() <= 60 || l.chars().count() <= 60)
            && last_cue
                .get_or_insert_with(|| {
                    (start..lines.len())
                        .rev()
                        .find(|&i| has_signature_cue(lines[i]))
                })
                .is_some_and(|c| c >= p)
    });
    if let Some(pos) = cut {
        lines = &lines[..pos];
        trim_trailing_blank(&mut lines);
    }
    trim_blank_lines(lines)
}

fn has_content(lines: &[&str]) -> bool {
    lines.iter().any(|l| !is_blank(l))
}

fn trim_trailing_blank(lines: &mut &[&str]) {
    while let Some((last, rest)) = lines.split_last()
        && is_blank(last)
    {
        *lines = rest;
    }
}

/// The lines from the first to the last non-blank one, line ends trimmed, joined.
fn trim_blank_lines(lines: &[&str]) -> String {
    let first = lines.iter().position(|l| !is_blank(l));
    let last = lines.iter().rposition(|l| !is_blank(l));
    let (Some(f), Some(l)) = (first, last) else {
        return String::new();
    };
    let kept = lines.get(f..=l).unwrap_or_default();
    // Sized once: growing it line by line copied it again and again.
    let mut out = String::with_capacity(kept.iter().map(|line| line.len() + 1).sum());
    for (i, line) in kept.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(trim_end(line));
    }
    out
}

/// ASCII whitespace as `char::is_whitespace` has it (with U+000B), as a
/// mask test rather than a chain of compares.
fn is_ascii_space(b: u8) -> bool {
    const SPACES: u64 = 1 << b' ' | 1 << b'\t' | 1 << b'\n' | 1 << 0x0B | 1 << 0x0C | 1 << b'\r';
    (b < 64) & (SPACES >> (b & 63) & 1 != 0)
}

/// Whether `b` starts with a whitespace character. Only ASCII whitespace
/// and the leads C2 (U+0085, U+00A0), E1 (U+1680), E2 (U+2000..U+205F)
/// and E3 80 80 (U+3000) can; the test has no branch on the byte, since
/// Japanese and ASCII lines alternate too freely for one to be guessed.
fn starts_with_space(b: &[u8]) -> bool {
    let Some(&f) = b.first() else {
        return false;
    };
    let head = match b {
        [b0, b1, b2, ..] => u32::from_le_bytes([*b0, *b1, *b2, 0]),
        _ => u32::from(f),
    };
    is_ascii_space(f) | (f == 0xC2) | (f == 0xE1) | (f == 0xE2) | (head == 0x0080_80E3)
}

/// Whether `b` may end with a whitespace character, from its last three
/// bytes and without a branch on them: false only when it does not.
fn may_end_with_space(b: &[u8]) -> bool {
    let Some(&last) = b.last() else {
        return false;
    };
    let tail = match b {
        [.., t0, t1, t2] => u32::from_le_bytes([*t0, *t1, *t2, 0]),
        _ => 0,
    };
    // U+2000..U+200A, U+2028, U+2029, U+202F: E2 80 and these low bits.
    const E2_80: u64 = 0x7FF | 1 << 0x28 | 1 << 0x29 | 1 << 0x2F;
    let two = tail >> 8;
    is_ascii_space(last)
        | (tail == 0x0080_80E3)
        | ((tail & 0xFFFF) == 0x80E2) & (E2_80 >> (last & 0x3F) & 1 != 0)
        | (tail == 0x009F_81E2)
        | (tail == 0x0080_9AE1)
        | (two == 0x85C2)
        | (two == 0xA0C2)
        // Shorter than three bytes: leave it to `trim`.
        | (b.len() < 3)
}

/// `line.trim().is_empty()`: a line that does not start with whitespace
/// is not blank, and most lines are told so without decoding. Any text
/// may be passed, not only a line.
pub(super) fn is_blank(line: &str) -> bool {
    line.is_empty() || starts_with_space(line.as_bytes()) && line.trim_start().is_empty()
}

/// `line.trim()`, without the character pass when neither end is whitespace
/// (most lines).
fn trim(line: &str) -> &str {
    let b = line.as_bytes();
    if starts_with_space(b) | may_end_with_space(b) {
        line.trim()
    } else {
        line
    }
}

/// `line.trim_end()`, without the character pass when the end is not
/// whitespace (most lines).
fn trim_end(line: &str) -> &str {
    if may_end_with_space(line.as_bytes()) {
        line.trim_end()
    } else {
        line
    }
}

fn is_mobile_footer(line: &str) -> bool {
    // Compared without a lower-cased copy of the (often long) line. Only
    // `から送信` itself lower-cases to `から送信`, so the end is tested as is.
    // Each English footer starts with `s` or `g` once lower-cased.
    let english = matches!(lower::first_lower(line), Some('s' | 'g'));
    (english
        && (lower::starts_with(line, "sent from my ")
            || lower::starts_with(line, "sent from outlook")
            || lower::starts_with(line, "sent from mail for")
            || lower::starts_with(line, "get outlook for")))
        || (line.ends_with("から送信") && line.to_lowercase().chars().count() <= 30)
}

fn is_rule(line: &str) -> bool {
    const RULE: &[char] = &[
        '━', '─', '═', '=', '＝', '*', '＊', '-', '－', '―', '_', '~', '～', '■', '□', '◆', '◇',
        '+', '#', '・', '┃', '│',
    ];
    // Every rule character starts with one of these bytes: a text line is
    // ruled out by its first byte, before the character test.
    if !line.as_bytes().first().is_some_and(|b| {
        matches!(
            b,
            b'=' | b'*' | b'-' | b'_' | b'~' | b'+' | b'#' | 0xE2 | 0xE3 | 0xEF
        )
    }) {
        return false;
    }
    // The character test first: it stops at a text line's first letter.
    line.chars().all(|c| RULE.contains(&c)) && line.chars().count() >= 4
}

/// Whether `line.trim()` may be a rule, from the line's first byte alone:
/// rule characters start with one of `=*-_~+#` or E2, E3, EF, and a line
/// that starts with no whitespace either (ASCII, or a C2, E1, E2 or E3
/// lead byte) trims to a string that starts with the same byte.
fn may_be_rule(line: &str) -> bool {
    line.as_bytes().first().is_some_and(|&b| {
        matches!(
            b,
            b'=' | b'*'
                | b'-'
                | b'_'
                | b'~'
                | b'+'
                | b'#'
                | b'\t'
                | b'\n'
                | 0x0B
                | 0x0C
                | b'\r'
                | b' '
                | 0xC2
                | 0xE1
                | 0xE2
                | 0xE3
                | 0xEF
        )
    })
}

fn has_signature_cue(line: &str) -> bool {
    // One pass over the characters, each compared with the cues that start
    // with it, rather than a lower-cased copy searched for fifteen cues. The
    // ASCII cues are matched ignoring ASCII case: no character outside ASCII
    // lower-cases into them (`İ` gives `i` and a combining dot), and
    // lower-casing changes none of the other cues.
    let ascii = |rest: &str, cue: &str| {
        rest.as_bytes()
            .get(..cue.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(cue.as_bytes()))
    };
    line.char_indices().any(|(i, c)| {
        let rest = line.get(i..).unwrap_or_default();
        match c {
            '@' | '㈱' | '部' | '課' | '〒' => true,
            't' | 'T' => ascii(rest, "tel"),
            'f' | 'F' => ascii(rest, "fax"),
            'm' | 'M' => ascii(rest, "mail"),
            'h' | 'H' => ascii(rest, "http"),
            '(' => rest.starts_with("(株)"),
            '電' => rest.starts_with("電話"),
            '内' => rest.starts_with("内線"),
            '携' => rest.starts_with("携帯"),
            '株' => rest.starts_with("株式会社"),
            '有' => rest.starts_with("有限会社"),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_unify_as_two_replaces_did() {
        for t in [
            "a\r\nb",
            "a\rb",
            "\r\r\n\n\r",
            "x\r",
            "\r\nx\r\n\r\n",
            "仕様\r\n",
        ] {
            assert_eq!(
                unify_line_ends(t),
                t.replace("\r\n", "\n").replace('\r', "\n")
            );
        }
    }

    #[test]
    fn byte_level_helpers_agree_with_the_plain_forms() {
        for t in [
            "",
            "a",
            "a\n",
            "\n",
            "a\r\nb\r\n\r\n",
            "x\n\ny",
            "仕様\r\n書",
        ] {
            assert_eq!(lines_of(t), t.lines().collect::<Vec<_>>(), "{t:?}");
        }
        let cues = |l: &str| {
            let lower = l.to_lowercase();
            [
                "tel",
                "fax",
                "mail",
                "電話",
                "内線",
                "携帯",
                "株式会社",
                "有限会社",
            ]
            .iter()
            .chain(&["(株)", "㈱", "部", "課", "@", "http", "〒"])
            .any(|cue| lower.contains(cue))
        };
        for line in [
            "株式会社サンプル",
            "(株)",
            "(株",
            "有限会社",
            "有限",
            "電話 03",
            "電",
            "内線12",
            "携帯: 090",
            "携",
            "MAIL",
            "Ｍail",
            "e-Mail:",
            "HTTP",
            "htt",
            "TE",
            "Fax",
            "x@y",
        ] {
            assert_eq!(has_signature_cue(line), cues(line), "{line:?}");
        }
        for c in ('\0'..=char::MAX).filter(|c| u32::from(*c) <= 0xFFFF || u32::from(*c) % 97 == 0) {
            for line in [
                format!("{c}"),
                format!("ma{c}l"),
                format!("mai{c}"),
                format!("{c}ail TEL"),
                format!("{c}ttp"),
                format!("{c}el"),
                format!("(株{c}"),
                format!("{c}----"),
                format!("{c}{c}{c}{c}"),
            ] {
                assert_eq!(has_signature_cue(&line), cues(&line), "{line:?}");
                assert!(may_be_rule(&line) || !is_rule(line.trim()), "{line:?}");
            }
            let sep = format!("-- {c}riginal message --");
            let old = sep
                .trim_matches(|c| matches!(c, '-' | '=' | '_' | '－' | '―' | ' ' | '　'))
                .to_lowercase()
                == "original message";
            assert_eq!(is_separator(&sep), old, "{sep:?}");
        }
    }

    #[test]
    fn lone_crs_are_told_from_crlfs_by_count() {
        for t in [
            "",
            "a",
            "a\r\nb",
            "a\rb",
            "a\r",
            "\r",
            "a\r\r\n",
            "\r\n\r",
            "a\n\rb",
            "a\r\n",
            "\r\n",
            "x\r\n> q\r\n",
            "x\r\n> q\ry\r\n",
        ] {
            let lone = t
                .bytes()
                .enumerate()
                .any(|(i, b)| b == b'\r' && t.as_bytes().get(i + 1) != Some(&b'\n'));
            let (_, crlfs) = lines_and_crlfs(t);
            assert_eq!(t.matches('\r').count() != crlfs, lone, "{t:?}");
            let plain = unify_line_ends(t);
            let expected = if lone { plain.as_str() } else { t };
            let lines = lines_of(expected);
            let (new, quoted) = split_lines(&lines, 0);
            let want = Split {
                new_text: strip_signature_lines(new),
                quoted_text: trim_blank_lines(&quoted),
            };
            assert_eq!(split(t), want, "{t:?}");
        }
    }

    #[test]
    fn byte_trims_agree_with_the_char_trims() {
        for c in ('\0'..=char::MAX).filter(|c| u32::from(*c) <= 0xFFFF || u32::from(*c) % 97 == 0) {
            for line in [
                format!("{c}"),
                format!(" {c}"),
                format!("{c} "),
                format!("\t{c}\r"),
                format!("a{c}"),
                format!("{c}a"),
                format!("{c}{c}"),
                format!(" \u{3000}{c}\u{a0} "),
            ] {
                assert_eq!(is_blank(&line), line.trim().is_empty(), "{line:?}");
                assert_eq!(trim(&line), line.trim(), "{line:?}");
                assert_eq!(trim_end(&line), line.trim_end(), "{line:?}");
            }
        }
        for line in ["", " ", "\u{b}", "\u{1c}"] {
            assert_eq!(is_blank(line), line.trim().is_empty(), "{line:?}");
            assert_eq!(trim(line), line.trim(), "{line:?}");
            assert_eq!(trim_end(line), line.trim_end(), "{line:?}");
        }
    }

    fn former_may_be_marker(line: &str) -> bool {
        if line.ends_with([':', '：']) {
            return true;
        }
        let Some(first) = line.chars().next() else {
            return false;
        };
        if matches!(first, '>' | '＞' | '-' | '=' | '_' | '－' | '―' | '*')
            || first.is_ascii_digit()
        {
            return true;
        }
        lower::first_lower(line).is_some_and(|f| {
            matches!(
                f,
                'o' | 'f' | 'b' | 'm' | '元' | 'オ' | '転' | '以' | '差' | '送'
            )
        })
    }

    #[test]
    fn marker_filter_agrees_with_its_former_form() {
        for c in ('\0'..=char::MAX).filter(|c| u32::from(*c) <= 0xFFFF || u32::from(*c) % 97 == 0) {
            for line in [
                format!("{c}"),
                format!("{c} x"),
                format!("x {c}"),
                format!("{c}:"),
            ] {
                assert_eq!(
                    may_be_marker(&line),
                    former_may_be_marker(&line),
                    "{line:?}"
                );
            }
        }
        assert!(!may_be_marker(""));
    }

    #[test]
    fn trimmed_lines_are_joined_as_before() {
        let plain = |lines: &[&str]| {
            let f = lines.iter().position(|l| !l.trim().is_empty());
            let l = lines.iter().rposition(|l| !l.trim().is_empty());
            match (f, l) {
                (Some(f), Some(l)) => lines[f..=l]
                    .iter()
                    .map(|l| l.trim_end())
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            }
        };
        for t in [
            "",
            "\n\n",
            "a",
            "a\nb",
            "\n a \nb\n\n",
            "a\r\nb",
            "a  \nb",
            "a\n\u{3000}\nb\u{3000}",
            "x\n\n\ny\n",
            " \t\n本文\n署名　\n",
        ] {
            let lines = lines_of(t);
            assert_eq!(trim_blank_lines(&lines), plain(&lines), "{t:?}");
        }
    }

    #[test]
    fn gt_quotes_and_on_wrote() {
        let s = split(
            "The code never arrives.\n\nOn Mon, Nov 16, 2026 at 9:00 AM Support <support@example.co.jp> wrote:\n> Please try again.\n",
        );
        assert_eq!(s.new_text, "The code never arrives.");
        assert!(s.quoted_text.contains("Please try again."));
    }

    #[test]
    fn wrapped_on_wrote() {
        let s = split(
            "New.\nOn Mon, Nov 16, 2026 at 9:00 AM Support Desk <support@example.co.jp>\nwrote:\n> old\n",
        );
        assert_eq!(s.new_text, "New.");
    }

    #[test]
    fn outlook_japanese_header_block() {
        let s = split(
            "新しい内容です。\n\n差出人: サポート <support@example.co.jp>\n送信日時: 2026年11月20日 10:00\n宛先: 山田\n件名: RE: コード\n\n古い内容",
        );
        assert_eq!(s.new_text, "新しい内容です。");
        assert!(s.quoted_text.contains("古い内容"));
    }

    #[test]
    fn outlook_html_form_with_rule_and_bold() {
        let s = split(
            "New text.\n\n________________________________\n**From:** Support\n**Sent:** Friday\n**To:** Taro\n**Subject:** Re: x\n\nOld text.",
        );
        assert_eq!(s.new_text, "New text.");
    }

    #[test]
    fn gmail_japanese_attribution() {
        let s = split(
            "届きました。\n\n2026年11月20日(金) 10:00 山田太郎 <taro@example.co.jp>:\n> 古い\n",
        );
        assert_eq!(s.new_text, "届きました。");
    }

    #[test]
    fn bottom_posting_keeps_answer() {
        let s = split("> Did it work?\n\nNo, it still fails.\n");
        assert_eq!(s.new_text, "No, it still fails.");
    }

    #[test]
    fn forwards_keep_the_note_or_the_forwarded_text() {
        let fwd = "---------- Forwarded message ---------\nFrom: Security <noreply@example.com>\nDate: Fri\nSubject: Sign-in alert\nTo: <t@example.co.jp>\n\nUnusual sign-in detected.\n";
        let with_note = format!("これは何でしょうか?\n\n{fwd}");
        assert_eq!(split(&with_note).new_text, "これは何でしょうか?");
        assert!(split(&with_note).quoted_text.contains("Unusual sign-in"));
        assert_eq!(split(fwd).new_text, "Unusual sign-in detected.");
        let ja = "確認お願いします\n\n-------- 転送メッセージ --------\n件名: x\n\n古い";
        assert_eq!(split(ja).new_text, "確認お願いします");
        let san = "了解です。\n\n山田さんは書きました:\n> 古い";
        assert_eq!(split(san).new_text, "了解です。");
    }

    #[test]
    fn from_line_filter_agrees_with_header_key() {
        for line in [
            "From: a",
            "**From:** a",
            "*\t*From: a",
            "* *From: a",
            "差出人: a",
            "　送信者： a",
            "Fw: x",
            ": from",
            "*\t: from",
            "FROM:",
        ] {
            let lines = [line, "Sent: x", "To: y"];
            let reference = header_key(line.trim()).is_some_and(is_from_key);
            assert_eq!(is_header_block(&lines, 0), reference, "{line:?}");
        }
    }

    #[test]
    fn signatures() {
        assert_eq!(strip_signature("Help me.\n-- \nTaro\nTEL 03"), "Help me.");
        assert_eq!(strip_signature("助けて\n\niPhoneから送信"), "助けて");
        assert_eq!(
            strip_signature(
                "本文\n━━━━━━━━\n山田太郎\n株式会社サンプル\nTEL: 03-0000-0000\n━━━━━━━━"
            ),
            "本文"
        );
        // A rule in the middle of content with no signature cue stays.
        assert_eq!(
            strip_signature("手順\n=====\n1. 開く\n2. 押す"),
            "手順\n=====\n1. 開く\n2. 押す"
        );
    }
}
