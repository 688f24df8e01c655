//! Mask the secrets employees paste into support mail: one-time codes,
//! passwords and recovery codes, in Japanese and English.
//!
//! The text is matched on a *folded* copy, one char for one char (full-width
//! digits and letters to ASCII, upper to lower case), so that positions line
//! up with the original and only the secret's own characters are replaced.
//!
//! What counts as a secret, and why:
//! - a **one-time code** is a run of 6 to 8 digits (or `123 456`, or
//!   `123-456`) near a word that names a code ("code", "OTP", "コード",
//!   "認証番号", "ワンタイム", …). A bare number is not masked: dates, phone
//!   numbers, prices and ticket numbers are everyday support mail, and a
//!   number is only a code when the sender says so. The nearest label wins:
//!   in "code did not come, my phone is 0312345678" the number belongs to
//!   "phone". A one-time code becomes dots of its own length (`••••••`): it
//!   expires in seconds, and the length helps an admin see what was sent.
//! - a **password** is the word after "password:", "pw:", "パスワード：",
//!   "パスワードは", …; it always becomes eight dots, so its length is not told.
//! - a **recovery code** is a group like `abcd-efgh-1234` (three or more
//!   groups of 4–5 letters and digits, with a digit), or, after "recovery
//!   codes" / "リカバリーコード" / "バックアップコード", each 8–10 character
//!   code (with a digit) in the list that follows. Recovery codes never
//!   expire, so they are masked with their length kept only for the dots.

use std::collections::BTreeMap;

/// Kinds reported in [`Masked::found`], in plain words for a note.
pub const ONE_TIME_CODE: &str = "one-time code";
pub const PASSWORD: &str = "password";
pub const RECOVERY_CODE: &str = "recovery code";

/// The dot a masked character becomes.
pub const DOT: char = '•';
/// A password's mask: always this long, whatever the password's length.
const PASSWORD_MASK: &str = "••••••••";

/// Text with its secrets replaced, and which kinds were replaced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Masked {
    pub text: String,
    /// The kinds found, each once, in the order one-time code, password,
    /// recovery code (see the constants).
    pub found: Vec<&'static str>,
}

impl Masked {
    /// Whether anything was masked.
    pub fn is_clean(&self) -> bool {
        self.found.is_empty()
    }
}

/// Mask one-time codes, passwords and recovery codes in `text`.
pub fn mask_secrets(text: &str) -> Masked {
    let chars: Vec<char> = text.chars().collect();
    let folded: Vec<char> = chars.iter().map(|&c| fold(c)).collect();
    let labels = find_labels(&folded);
    let mut edits = Edits::default();
    // Most specific first: a password's value or a recovery list is claimed
    // before the number rule could see part of it as a one-time code.
    passwords(&folded, &labels, &mut edits);
    recovery_codes(&folded, &labels, &mut edits);
    one_time_codes(&folded, &labels, &mut edits);
    edits.apply(&chars)
}

// ---------------------------------------------------------------------------
// Folding and character classes

/// One char to one char: full-width ASCII to ASCII, lower case, the
/// ideographic space to a space, the full-width yen sign to `¥`.
fn fold(c: char) -> char {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        '\u{FFE5}' => '¥',
        _ => c,
    };
    c.to_ascii_lowercase()
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

// ---------------------------------------------------------------------------
// Labels: the words that say what a number is

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    /// Names a one-time code.
    Code,
    /// Names a password; only counts when a separator follows.
    Password,
    /// Names recovery or backup codes.
    Recovery,
    /// Names a number that is not a secret (phone, order, employee, serial…).
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Found {
    start: usize,
    end: usize,
    label: Label,
}

/// ASCII words match on word boundaries; Japanese words anywhere.
/// Longer words come first so "認証番号" is a code, not a plain "番号".
const LABELS: &[(&str, Label)] = &[
    // Recovery first: "recovery code" must not read as a one-time "code".
    ("recovery codes", Label::Recovery),
    ("recovery code", Label::Recovery),
    ("backup codes", Label::Recovery),
    ("backup code", Label::Recovery),
    ("recovery key", Label::Recovery),
    ("リカバリーコード", Label::Recovery),
    ("リカバリコード", Label::Recovery),
    ("バックアップコード", Label::Recovery),
    ("回復コード", Label::Recovery),
    ("復旧コード", Label::Recovery),
    ("回復キー", Label::Recovery),
    ("ワンタイムパスワード", Label::Code),
    ("one-time password", Label::Code),
    ("one time password", Label::Code),
    ("password", Label::Password),
    ("passwd", Label::Password),
    ("pwd", Label::Password),
    ("pw", Label::Password),
    ("パスワード", Label::Password),
    ("セキュリティコード", Label::Code),
    ("確認コード", Label::Code),
    ("認証コード", Label::Code),
    ("認証番号", Label::Code),
    ("確認番号", Label::Code),
    ("暗証番号", Label::Code),
    ("ワンタイム", Label::Code),
    ("パスコード", Label::Code),
    ("コード", Label::Code),
    ("passcode", Label::Code),
    ("verification", Label::Code),
    ("codes", Label::Code),
    ("code", Label::Code),
    ("otp", Label::Code),
    ("totp", Label::Code),
    ("2fa", Label::Code),
    ("pin", Label::Code),
    ("認証", Label::Code),
    // Numbers that are not secrets.
    ("電話番号", Label::Other),
    ("番号", Label::Other),
    ("電話", Label::Other),
    ("携帯", Label::Other),
    ("内線", Label::Other),
    ("シリアル", Label::Other),
    ("社員", Label::Other),
    ("注文", Label::Other),
    ("請求", Label::Other),
    ("口座", Label::Other),
    ("郵便", Label::Other),
    ("〒", Label::Other),
    ("tel", Label::Other),
    ("phone", Label::Other),
    ("mobile", Label::Other),
    ("fax", Label::Other),
    ("ext", Label::Other),
    ("serial", Label::Other),
    ("s/n", Label::Other),
    ("id", Label::Other),
    ("no.", Label::Other),
    ("order", Label::Other),
    ("invoice", Label::Other),
    ("account", Label::Other),
    ("employee", Label::Other),
    ("zip", Label::Other),
    ("#", Label::Other),
];

/// Words before "code"/"コード" that make it a different kind of code.
const NOT_A_SECRET_CODE: &[&str] = &[
    "error",
    "zip",
    "postal",
    "post",
    "area",
    "country",
    "status",
    "promo",
    "discount",
    "product",
    "employee",
    "qr",
    "bar",
    "source",
    "dial",
    "coupon",
    "reference",
    "booking",
    "tracking",
    "color",
    "colour",
    "html",
    "exit",
    "エラー",
    "qr",
    "商品",
    "社員",
    "郵便",
    "バー",
    "ソース",
    "部署",
    "取引先",
    "クーポン",
    "文字",
    "色",
    "国",
];

fn starts_with_at(hay: &[char], at: usize, needle: &str) -> bool {
    (at..)
        .zip(needle.chars())
        .all(|(i, n)| hay.get(i) == Some(&n))
}

fn ends_with_at(hay: &[char], end: usize, needle: &str) -> bool {
    let n = needle.chars().count();
    end >= n && starts_with_at(hay, end - n, needle)
}

/// [`LABELS`] as chars, grouped by first char, each group in `LABELS` order
/// (so the longest word still wins): a position is then checked against the
/// few words that can start there, not all of them (this ran per char of
/// every mail and was a tenth of a backlog's CPU).
struct LabelIndex {
    by_first: std::collections::HashMap<char, Vec<(Vec<char>, Label)>>,
}

fn label_index() -> &'static LabelIndex {
    static INDEX: std::sync::OnceLock<LabelIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_first: std::collections::HashMap<char, Vec<(Vec<char>, Label)>> =
            std::collections::HashMap::new();
        for &(word, label) in LABELS {
            let chars: Vec<char> = word.chars().collect();
            if let Some(&first) = chars.first() {
                by_first.entry(first).or_default().push((chars, label));
            }
        }
        LabelIndex { by_first }
    })
}

/// Every label in the text, left to right, longest at each position.
fn find_labels(t: &[char]) -> Vec<Found> {
    let index = label_index();
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let first = t[i];
        // An ASCII word cannot start inside another word (see `on_boundaries`).
        let inside_word = is_alnum(first) && i > 0 && is_alnum(t[i - 1]);
        let hit = match index.by_first.get(&first) {
            Some(words) if !inside_word => words
                .iter()
                .find(|(word, _)| t[i..].starts_with(word) && on_boundaries(t, i, word.len())),
            _ => None,
        };
        match hit {
            Some((word, label)) => {
                let end = i + word.len();
                let label = if *label == Label::Code && is_other_code(t, i) {
                    Label::Other
                } else {
                    *label
                };
                out.push(Found {
                    start: i,
                    end,
                    label,
                });
                i = end;
            }
            None => i += 1,
        }
    }
    out
}

/// ASCII words must stand alone ("pin" is not in "spinning", "id" not in
/// "did"); Japanese words have no spaces to stand between.
fn on_boundaries(t: &[char], start: usize, len: usize) -> bool {
    let ascii_word = t.get(start).is_some_and(|&c| c.is_ascii_alphanumeric());
    if !ascii_word {
        return true;
    }
    let before_ok = start == 0 || !is_alnum(t[start - 1]);
    let end = start + len;
    let after_ok = match t.get(end) {
        None => true,
        // "codes", "passwords", "pws": a plural still names the thing.
        Some('s') => !t.get(end + 1).copied().is_some_and(is_alnum),
        Some(&c) => !is_alnum(c),
    };
    before_ok && after_ok
}

/// "error code", "QRコード", "郵便番号" …: the word before a code label.
fn is_other_code(t: &[char], start: usize) -> bool {
    let mut end = start;
    while end > 0 && is_space(t[end - 1]) {
        end -= 1;
    }
    NOT_A_SECRET_CODE.iter().any(|w| {
        ends_with_at(t, end, w) && {
            // An ASCII word must be whole: "bar code", not "foobar code".
            let n = w.chars().count();
            !w.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                || end == n
                || !is_alnum(t[end - n - 1])
        }
    })
}

// ---------------------------------------------------------------------------
// Edits

/// Replacements by start position, never overlapping. A map keeps the
/// overlap check logarithmic: a long mail can hold thousands of codes.
#[derive(Default)]
struct Edits {
    /// start → (end, replacement, kind).
    list: BTreeMap<usize, (usize, String, &'static str)>,
}

impl Edits {
    fn overlaps(&self, start: usize, end: usize) -> bool {
        let before = self.list.range(..end).next_back();
        before.is_some_and(|(_, (e, _, _))| *e > start)
    }

    /// Mask `start..end` with its own length of dots.
    fn dots(&mut self, start: usize, end: usize, kind: &'static str) {
        let dots: String = std::iter::repeat_n(DOT, end.saturating_sub(start)).collect();
        self.replace(start, end, &dots, kind);
    }

    fn replace(&mut self, start: usize, end: usize, with: &str, kind: &'static str) {
        if start < end && !self.overlaps(start, end) {
            self.list.insert(start, (end, with.to_string(), kind));
        }
    }

    fn apply(self, chars: &[char]) -> Masked {
        let mut text = String::with_capacity(chars.len() * 2);
        let mut at = 0;
        for (start, (end, with, _)) in &self.list {
            text.extend(chars.get(at..*start).unwrap_or_default());
            text.push_str(with);
            at = *end;
        }
        text.extend(chars.get(at..).unwrap_or_default());
        let found = [ONE_TIME_CODE, PASSWORD, RECOVERY_CODE]
            .into_iter()
            .filter(|k| self.list.values().any(|e| e.2 == *k))
            .collect();
        Masked { text, found }
    }
}

// ---------------------------------------------------------------------------
// Passwords

/// Words after which a number is a length or a date, not a password
/// ("パスワードは8文字以上", "パスワードは2026年に変更").
const COUNTERS: &[&str] = &[
    "文字", "桁", "回", "日", "年", "月", "ヶ月", "か月", "カ月", "時", "分", "秒", "週",
];

fn passwords(t: &[char], labels: &[Found], edits: &mut Edits) {
    for l in labels.iter().filter(|l| l.label == Label::Password) {
        let mut i = l.end;
        while t.get(i).copied().is_some_and(is_space) {
            i += 1;
        }
        // "password:", "pw =", "パスワード：", "パスワードは"; never "password reset".
        match t.get(i) {
            Some(':' | '=' | 'は') => i += 1,
            _ => continue,
        }
        while t.get(i).copied().is_some_and(is_space) {
            i += 1;
        }
        let quote = match t.get(i) {
            Some(&q @ ('"' | '\'' | '`')) => Some(q),
            Some('「' | '『' | '“' | '‘') => Some('」'),
            _ => None,
        };
        if quote.is_some() {
            i += 1;
        }
        // Inside ASCII quotes a password may hold spaces; otherwise it ends
        // at a blank or at the first non-ASCII character ("です", "」").
        let ascii_quote = quote.filter(|&q| q != '」');
        let start = i;
        while let Some(&c) = t.get(i) {
            let part = match ascii_quote {
                Some(q) => c != q && (c.is_ascii_graphic() || c == ' '),
                None => c.is_ascii_graphic(),
            };
            if !part {
                break;
            }
            i += 1;
        }
        let value = &t[start..i];
        if value.len() < 4 || value.iter().all(|&c| c == '*' || c == 'x') {
            continue;
        }
        if COUNTERS.iter().any(|w| starts_with_at(t, i, w)) {
            continue;
        }
        edits.replace(start, i, PASSWORD_MASK, PASSWORD);
    }
}

// ---------------------------------------------------------------------------
// Recovery codes

/// A grouped code at `i`: `abcd-efgh-1234`, groups of 4–5 letters and digits
/// joined by `-`. Returns its end and the number of groups.
fn grouped_code(t: &[char], i: usize) -> Option<(usize, usize)> {
    let mut groups = 0;
    let mut at = i;
    loop {
        let start = at;
        while t.get(at).copied().is_some_and(is_alnum) {
            at += 1;
        }
        let len = at - start;
        if !(4..=5).contains(&len) {
            // The previous group ended the code only if this one is empty.
            return None;
        }
        groups += 1;
        if t.get(at) == Some(&'-') && t.get(at + 1).copied().is_some_and(is_alnum) {
            at += 1;
            continue;
        }
        return Some((at, groups));
    }
}

/// A token boundary: not inside a word, number or hyphenated name.
fn free_before(t: &[char], i: usize) -> bool {
    i == 0 || !(is_alnum(t[i - 1]) || matches!(t[i - 1], '-' | '_' | '/' | '.' | '@' | '#'))
}

fn free_after(t: &[char], end: usize) -> bool {
    match t.get(end) {
        None => true,
        Some(&c) if is_alnum(c) || matches!(c, '_' | '@' | '/') => false,
        // "abcd-efgh-1234." ends a sentence; "abcd-efgh-1234.5" does not.
        Some('-' | '.' | ',' | ':') => !t.get(end + 1).copied().is_some_and(is_alnum),
        Some(_) => true,
    }
}

fn has_digit(s: &[char]) -> bool {
    s.iter().copied().any(is_digit)
}

fn recovery_codes(t: &[char], labels: &[Found], edits: &mut Edits) {
    // Anywhere: three or more groups with a digit (not "state-of-the-art",
    // not a date, not a phone number: their groups are shorter).
    let mut i = 0;
    while i < t.len() {
        if is_alnum(t[i])
            && free_before(t, i)
            && let Some((end, groups)) = grouped_code(t, i)
            && groups >= 3
            && has_digit(&t[i..end])
            && free_after(t, end)
        {
            edits.dots(i, end, RECOVERY_CODE);
            i = end;
            continue;
        }
        i += 1;
    }
    // In the list after "recovery codes": single codes and shorter groups too.
    // Several labels on one line or in one list are one list: read it once
    // (a hostile line of a million "recovery code" words stays linear).
    let mut done_until = 0;
    for l in labels.iter().filter(|l| l.label == Label::Recovery) {
        if l.end < done_until {
            continue;
        }
        for (start, end) in recovery_list_lines(t, l.end) {
            mask_listed_codes(t, start, end, edits);
            done_until = done_until.max(end);
        }
    }
}

/// The rest of the label's line and, if that line introduces a list (ends
/// with ':' or holds a code), the following lines up to the first line
/// without a code (blank lines right after the label are skipped). At most
/// 30 lines: a list of recovery codes is 8 to 16 lines.
fn recovery_list_lines(t: &[char], from: usize) -> Vec<(usize, usize)> {
    let line_end = |s: usize| {
        t[s..]
            .iter()
            .position(|&c| c == '\n')
            .map_or(t.len(), |p| s + p)
    };
    let mut out = Vec::new();
    let first_end = line_end(from);
    out.push((from, first_end));
    let rest: String = t[from..first_end].iter().collect();
    let rest = rest.trim_end();
    let introduces = rest.ends_with(':') || line_has_code(t, from, first_end);
    if !introduces {
        return out;
    }
    let mut at = first_end + 1;
    let mut seen_code = line_has_code(t, from, first_end);
    let mut blanks = 0;
    for _ in 0..30 {
        if at >= t.len() {
            break;
        }
        let end = line_end(at);
        let line = &t[at..end];
        if line.iter().all(|c| c.is_whitespace()) {
            if seen_code || blanks >= 2 {
                break;
            }
            blanks += 1;
        } else if line_has_code(t, at, end) {
            out.push((at, end));
            seen_code = true;
        } else {
            break;
        }
        at = end + 1;
    }
    out
}

/// A code in a recovery list: 8–10 letters and digits with a digit (not a
/// plain word like "yesterday"), not a phone number; or `1234 5678`; or a
/// grouped code of two or more groups.
fn listed_code(t: &[char], i: usize) -> Option<usize> {
    if !free_before(t, i) || !is_alnum(t[i]) {
        return None;
    }
    if let Some((end, groups)) = grouped_code(t, i)
        && groups >= 2
        && free_after(t, end)
    {
        return Some(end);
    }
    let mut end = i;
    while t.get(end).copied().is_some_and(is_alnum) {
        end += 1;
    }
    let token = &t[i..end];
    // "1234 5678": Google's backup codes as printed.
    if token.len() == 4
        && token.iter().copied().all(is_digit)
        && t.get(end) == Some(&' ')
        && (1..=4).all(|k| t.get(end + k).copied().is_some_and(is_digit))
        && free_after(t, end + 5)
    {
        return Some(end + 5);
    }
    let phone_like = token.iter().copied().all(is_digit) && token.first() == Some(&'0');
    ((8..=10).contains(&token.len()) && has_digit(token) && !phone_like && free_after(t, end))
        .then_some(end)
}

fn line_has_code(t: &[char], start: usize, end: usize) -> bool {
    (start..end).any(|i| listed_code(t, i).is_some_and(|e| e <= end))
}

fn mask_listed_codes(t: &[char], start: usize, end: usize, edits: &mut Edits) {
    let mut i = start;
    while i < end {
        if let Some(e) = listed_code(t, i).filter(|&e| e <= end) {
            edits.dots(i, e, RECOVERY_CODE);
            i = e;
        } else {
            i += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// One-time codes

/// How far before a number its label may be (a sentence, in characters).
const LABEL_BEFORE: usize = 60;
/// How far after: "123456 is the code", "123456というコード".
const LABEL_AFTER: usize = 16;

/// Currency signs before, units after: a price, not a code.
const CURRENCY: &[char] = &['¥', '$', '€', '£', '円'];
const UNITS_AFTER: &[&str] = &[
    "円", "万", "yen", "jpy", "usd", "ドル", "年", "件", "個", "人", "名", "回", "歳", "mb", "kb",
    "gb", "km", "kg", "px", "ms",
];

fn one_time_codes(t: &[char], labels: &[Found], edits: &mut Edits) {
    let mut i = 0;
    while i < t.len() {
        if !is_digit(t[i]) || (i > 0 && is_digit(t[i - 1])) {
            i += 1;
            continue;
        }
        let Some(end) = code_shape(t, i) else {
            // Skip the whole digit run so its tail is not tried on its own.
            while t.get(i).copied().is_some_and(is_digit) {
                i += 1;
            }
            continue;
        };
        if !looks_like_other_number(t, i, end) && labelled_as_code(t, labels, i, end) {
            edits.dots(i, end, ONE_TIME_CODE);
        }
        i = end;
    }
}

/// The end of a code-shaped number starting at `i`: 6–8 digits, or two
/// groups of 3–4 digits joined by one space, or `123-456`.
fn code_shape(t: &[char], i: usize) -> Option<usize> {
    let run = |s: usize| t[s..].iter().take_while(|&&c| is_digit(c)).count();
    let first = run(i);
    let end = i + first;
    if (6..=8).contains(&first) {
        return Some(end);
    }
    if (3..=4).contains(&first)
        && let Some(&sep @ (' ' | '-')) = t.get(end)
    {
        let second = run(end + 1);
        let ok = match sep {
            // 3-3 only: 123-4567 is a Japanese postal code.
            '-' => first == 3 && second == 3,
            _ => (3..=4).contains(&second) && (6..=8).contains(&(first + second)),
        };
        if ok {
            return Some(end + 1 + second);
        }
    }
    None
}

/// Part of a longer number, a date, a price, an identifier.
fn looks_like_other_number(t: &[char], start: usize, end: usize) -> bool {
    let before = start.checked_sub(1).map(|p| t[p]);
    let before2 = start.checked_sub(2).map(|p| t[p]);
    let after = t.get(end).copied();
    let after2 = t.get(end + 1).copied();
    // Glued to letters or to another number: "MFA-1234567", "AADSTS500121",
    // "1,234,567", "12.345678", "03-1234-5678", "+81 90 1234 5678".
    if before.is_some_and(|c| is_alnum(c) || matches!(c, '_' | '#' | '+' | '/' | '@')) {
        return true;
    }
    if before.is_some_and(|c| matches!(c, '-' | '.' | ',' | ':' | '(' | ' '))
        && before2.is_some_and(is_digit)
    {
        return true;
    }
    if before == Some('-') && before2.is_some_and(is_alnum) {
        return true;
    }
    if after.is_some_and(|c| is_alnum(c) || matches!(c, '_' | '@' | '%' | '/'))
        && !starts_with_unit_word(t, end)
    {
        return true;
    }
    if after.is_some_and(|c| matches!(c, '-' | '.' | ',' | ':' | ' ' | ')'))
        && after2.is_some_and(is_digit)
    {
        return true;
    }
    if before.is_some_and(|c| CURRENCY.contains(&c))
        || (before == Some(' ') && before2.is_some_and(|c| CURRENCY.contains(&c)))
    {
        return true;
    }
    let mut a = end;
    while t.get(a).copied().is_some_and(is_space) {
        a += 1;
    }
    if UNITS_AFTER.iter().any(|u| starts_with_at(t, a, u)) {
        return true;
    }
    let digits: String = t[start..end].iter().filter(|c| is_digit(**c)).collect();
    digits.len() == 8 && end - start == 8 && is_date(&digits)
}

/// Letters right after a number that are not a unit ("123456is") glue it
/// into a word; a unit word is judged by `UNITS_AFTER`.
fn starts_with_unit_word(t: &[char], at: usize) -> bool {
    UNITS_AFTER.iter().any(|u| starts_with_at(t, at, u))
}

/// `YYYYMMDD` between 1900 and 2099: a date written without separators.
fn is_date(d: &str) -> bool {
    let n = |r: std::ops::Range<usize>| d.get(r).and_then(|s| s.parse::<u32>().ok());
    matches!(
        (n(0..4), n(4..6), n(6..8)),
        (Some(1900..=2099), Some(1..=12), Some(1..=31))
    )
}

/// The nearest label before the number (within a sentence or two, no blank
/// line between) names a code; or, failing any label before, a code label
/// follows closely on the same line.
fn labelled_as_code(t: &[char], labels: &[Found], start: usize, end: usize) -> bool {
    let idx = labels.partition_point(|l| l.end <= start);
    if let Some(l) = idx.checked_sub(1).map(|k| labels[k])
        && start - l.end <= LABEL_BEFORE
        && !has_blank_line(&t[l.end..start])
    {
        // A number after "password" without ':' is not known to be secret
        // (the password rule took every "password: …" already).
        if matches!(l.label, Label::Code | Label::Recovery) {
            return true;
        }
        // "the code on my phone is 482913": the phone is where the code is,
        // not what the number is. A code label just before the phone word, on
        // the same line, decides for a number too short to be a phone number.
        let digits = t[start..end].iter().filter(|c| is_digit(**c)).count();
        let is_phone_word = ["phone", "mobile", "携帯", "スマホ", "電話"]
            .iter()
            .any(|w| ends_with_at(t, l.end, w));
        if l.label == Label::Other && is_phone_word && digits <= 8 && t[start] != '0' {
            return idx.checked_sub(2).map(|k| labels[k]).is_some_and(|c| {
                c.label == Label::Code
                    && l.start - c.end <= LABEL_BEFORE
                    && !t[c.end..start].contains(&'\n')
            });
        }
        return false;
    }
    labels[idx..]
        .iter()
        .take_while(|l| l.start >= end && l.start - end <= LABEL_AFTER)
        .find(|l| !t[end..l.start].contains(&'\n'))
        .is_some_and(|l| l.label == Label::Code)
}

fn has_blank_line(s: &[char]) -> bool {
    let mut newlines = 0;
    for &c in s {
        match c {
            '\n' => {
                newlines += 1;
                if newlines >= 2 {
                    return true;
                }
            }
            c if c.is_whitespace() => {}
            _ => newlines = 0,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(s: &str) -> String {
        mask_secrets(s).text
    }

    /// Nothing in `s` is a secret: it comes back unchanged.
    fn unchanged(s: &str) {
        let m = mask_secrets(s);
        assert_eq!(m.text, s, "masked something in {s:?}");
        assert!(m.found.is_empty(), "{s:?}: {:?}", m.found);
    }

    #[test]
    fn one_time_codes_in_english() {
        assert_eq!(masked("My code is 123456"), "My code is ••••••");
        assert_eq!(
            masked("The verification code 83920147 did not work."),
            "The verification code •••••••• did not work."
        );
        assert_eq!(masked("OTP: 9876543"), "OTP: •••••••");
        assert_eq!(
            masked("I typed 482913 as the code"),
            "I typed •••••• as the code"
        );
        assert_eq!(
            masked("The code I got:\n482913\nbut it says invalid"),
            "The code I got:\n••••••\nbut it says invalid"
        );
        assert_eq!(masked("code 123 456 fails"), "code ••••••• fails");
        assert_eq!(masked("code: 123-456"), "code: •••••••");
        assert_eq!(masked("Codes: 111111, 222222."), "Codes: ••••••, ••••••.");
        assert_eq!(masked("PIN 12345678"), "PIN ••••••••");
        assert_eq!(
            masked("the code that came by SMS this morning was 654321"),
            "the code that came by SMS this morning was ••••••"
        );
        let m = mask_secrets("code 123456");
        assert_eq!(m.found, vec![ONE_TIME_CODE]);
    }

    #[test]
    fn one_time_codes_in_japanese() {
        assert_eq!(
            masked("認証コードは123456でしたが、エラーになりました。"),
            "認証コードは••••••でしたが、エラーになりました。"
        );
        assert_eq!(masked("確認コード：１２３４５６"), "確認コード：••••••");
        assert_eq!(masked("認証番号 8765432 を入力"), "認証番号 ••••••• を入力");
        assert_eq!(
            masked("ワンタイムパスワード（654321）が通りません"),
            "ワンタイムパスワード（••••••）が通りません"
        );
        assert_eq!(
            masked("SMSで届いたコード 246810 を入れても弾かれます"),
            "SMSで届いたコード •••••• を入れても弾かれます"
        );
        assert_eq!(
            masked("ＯＴＰは１２３４５６７８です"),
            "ＯＴＰは••••••••です"
        );
        assert_eq!(
            masked("135790というコードが届きました"),
            "••••••というコードが届きました"
        );
        assert_eq!(masked("コード　１２３　４５６"), "コード　•••••••");
    }

    #[test]
    fn numbers_that_are_not_codes() {
        unchanged("The code never arrives. Meeting on 2026-11-25 at 10:30.");
        unchanged("No code yet. Call me: 03-1234-5678 or 090-1234-5678.");
        unchanged("code did not come; my phone is 0312345678");
        assert_eq!(
            mask_secrets("The code on my phone is 482913 but it is rejected.").text,
            "The code on my phone is •••••• but it is rejected."
        );
        unchanged("code did not come; phone +81 90 1234 5678");
        unchanged("コードが届きません。電話番号は09012345678です。");
        unchanged("コードが届きません。社員番号 1234567 です。");
        unchanged("認証コードが来ません。〒123-4567 東京都");
        unchanged("[MFA-12] code still missing, see MFA-1234567");
        unchanged("the code cost ¥123456 or $1234567 or 1,234,567円 last year");
        unchanged("コードの件、見積は123456円です");
        unchanged("Error code 500121 appears, AADSTS500121");
        unchanged("エラーコード 700082 が表示されます");
        unchanged("QRコード 123456 番の画面");
        unchanged("zip code 1234567");
        unchanged("The code was sent on 20261125.");
        unchanged("My YubiKey (serial 12345678) broke; code?");
        unchanged("I got 123456 but nothing else"); // no label: not known to be a code
        unchanged("code\n\nLater: 123456 is my order");
        unchanged("code v1.2.345678 build");
        unchanged("コードは2026年11月25日に届きました");
        unchanged("code 12.345678 and 0.1234567");
        unchanged("code size 1234567 MB");
        unchanged("Order #1234567 has no code");
        unchanged("");
    }

    #[test]
    fn passwords() {
        assert_eq!(masked("password: hunter22"), "password: ••••••••");
        assert_eq!(
            masked("Password:Tr0ub4dor&3 please"),
            "Password:•••••••• please"
        );
        assert_eq!(masked("pw: abc1"), "pw: ••••••••");
        assert_eq!(masked("PW = s3cr3t!"), "PW = ••••••••");
        assert_eq!(
            masked("new password: \"s3cret pass\" ok"),
            "new password: \"••••••••\" ok"
        );
        assert_eq!(masked("パスワード：Passw0rd"), "パスワード：••••••••");
        assert_eq!(masked("パスワード:Ｐａｓｓ１２３"), "パスワード:••••••••");
        assert_eq!(
            masked("パスワードはabc12345です。"),
            "パスワードは••••••••です。"
        );
        assert_eq!(
            masked("仮パスワードは「Temp-2026!」です"),
            "仮パスワードは「••••••••」です"
        );
        assert_eq!(mask_secrets("pw: letmein").found, vec![PASSWORD]);
    }

    #[test]
    fn words_about_passwords_are_not_passwords() {
        unchanged("I forgot my password.");
        unchanged("password reset link did not arrive");
        unchanged("パスワードを忘れました");
        unchanged("パスワードは忘れました");
        unchanged("パスワードは8文字以上と言われました");
        unchanged("パスワードは2026年に変更しました");
        unchanged("パスワードは12文字です");
        unchanged("Password: ********");
        unchanged("passwordless sign-in: enabled");
        unchanged("spw: nothing");
    }

    #[test]
    fn recovery_codes() {
        assert_eq!(
            masked("I still have abcd-efgh-1234 written down"),
            "I still have •••••••••••••• written down"
        );
        assert_eq!(
            masked("Recovery codes:\n\n1. 4f8a9c2e1b\n2. 7d3e6b1a90\n3. a1b2c-d3e4f\n\nThanks"),
            "Recovery codes:\n\n1. ••••••••••\n2. ••••••••••\n3. •••••••••••\n\nThanks"
        );
        assert_eq!(
            masked("バックアップコード：\n1234 5678\n8765 4321\nよろしくお願いします"),
            "バックアップコード：\n•••••••••\n•••••••••\nよろしくお願いします"
        );
        assert_eq!(
            masked("リカバリーコードは 12345678 と 87654321 です"),
            "リカバリーコードは •••••••• と •••••••• です"
        );
        assert_eq!(
            masked("my recovery code is x7k9m2p4q1"),
            "my recovery code is ••••••••••"
        );
        assert_eq!(
            mask_secrets("backup codes: 12345678").found,
            vec![RECOVERY_CODE]
        );
    }

    #[test]
    fn things_near_recovery_words_that_are_not_codes() {
        unchanged("My recovery codes don't work.\nCall me at 0312345678 yesterday");
        unchanged("リカバリーコードを紛失しました。\n連絡先 0312345678");
        unchanged("Recovery codes: I lost them yesterday, sorry");
        unchanged("a state-of-the-art well-known-fact thing");
        unchanged("Dates 2026-11-25 and 2026-11-26, phone 03-1234-5678");
        unchanged("ISO-8601 and UTF-8 and MFA-12 and x-unknown-42");
        unchanged("uuid-like abcd-efgh-ijkl words without digits");
    }

    #[test]
    fn several_kinds_are_all_reported() {
        let m = mask_secrets(
            "コード 123456 が通りません。パスワード：Abc12345\nrecovery code abcd-1234-efgh",
        );
        assert_eq!(
            m.text,
            "コード •••••• が通りません。パスワード：••••••••\nrecovery code ••••••••••••••"
        );
        assert_eq!(m.found, vec![ONE_TIME_CODE, PASSWORD, RECOVERY_CODE]);
        assert!(!m.is_clean());
    }

    #[test]
    fn odd_text_does_not_panic() {
        for s in [
            "code",
            "code ",
            "password:",
            "パスワードは",
            "recovery codes:\n",
            "1234",
            "123 ",
            "123-",
            "12345678901234567890 code",
            "\u{fffd}\u{0}code\u{0}123456",
            "ー－ー",
            "recovery codes:\n\n\n\n",
            "code 123456-",
            "-123456 code",
        ] {
            let _ = mask_secrets(s);
        }
        let long = "code 123456 ".repeat(20_000);
        let m = mask_secrets(&long);
        assert!(!m.text.contains("123456"));
    }
}
