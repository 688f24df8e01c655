//! Case-insensitive comparisons without a lower-cased copy: the quote and
//! signature detectors test every line of every mail, and allocating a
//! lower-case string per line cost more than the tests themselves.
//!
//! Each function agrees with `s.to_lowercase()` followed by the plain
//! comparison, for needles that hold no Greek sigma (the only character
//! `str::to_lowercase` maps by context).

/// `s.to_lowercase() == lower`.
pub fn eq(s: &str, lower: &str) -> bool {
    s.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

/// `s.to_lowercase().starts_with(lower)`.
pub fn starts_with(s: &str, lower: &str) -> bool {
    let mut folded = s.chars().flat_map(char::to_lowercase);
    lower.chars().all(|c| folded.next() == Some(c))
}

/// ASCII-only `contains`, ignoring ASCII case: `http` in `HTTPS://…`.
pub fn contains_ascii(s: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    s.len() >= needle.len()
        && s.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
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
        assert!(contains_ascii("see HTTPS://x", "http"));
        assert!(!contains_ascii("ht", "http"));
    }
}
