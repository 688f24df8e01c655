//! Case-insensitive comparisons without a lower-cased copy: the quote and
//! signature detectors test every line of every mail, and allocating a
//! lower-case string per line cost more than the tests themselves.
//!
//! Each function agrees with `s.to_lowercase()` followed by the plain
//! comparison, for needles that hold no Greek sigma (the only character
//! `str::to_lowercase` maps by context).

/// The first character of `s.to_lowercase()`: a cheap first test before
/// [`eq`] or [`starts_with`]. Kana, kanji and CJK punctuation (U+3000 to
/// U+9FFF, checked in the tests) have no case, so they skip the case tables.
pub fn first_lower(s: &str) -> Option<char> {
    let c = s.chars().next()?;
    if c.is_ascii() {
        Some(c.to_ascii_lowercase())
    } else if ('\u{3000}'..='\u{9FFF}').contains(&c) {
        Some(c)
    } else {
        c.to_lowercase().next()
    }
}

/// `s.to_lowercase() == lower`.
pub fn eq(s: &str, lower: &str) -> bool {
    s.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

/// `s.to_lowercase().starts_with(lower)`.
pub fn starts_with(s: &str, lower: &str) -> bool {
    let mut folded = s.chars().flat_map(char::to_lowercase);
    lower.chars().all(|c| folded.next() == Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_to_lowercase() {
        let samples = [
            "Original Message",
            "ORIGINAL MESSAGE",
            "元のメッセージ",
            "\u{212a}elvin",
            "\u{130}stanbul",
            "",
            "Sent From My iPhone",
        ];
        let needles = [
            "original message",
            "元のメッセージ",
            "kelvin",
            "i\u{307}stanbul",
            "",
            "sent from my ",
        ];
        for s in samples {
            for n in needles {
                let l = s.to_lowercase();
                assert_eq!(eq(s, n), l == n, "{s:?} {n:?}");
                assert_eq!(starts_with(s, n), l.starts_with(n), "{s:?} {n:?}");
            }
        }
        let cased = ('\u{3000}'..='\u{9FFF}').find(|c| c.to_lowercase().ne([*c]));
        assert_eq!(cased, None, "first_lower's caseless range");
        for s in samples {
            assert_eq!(first_lower(s), s.to_lowercase().chars().next(), "{s:?}");
        }
    }
}
