//! Text normalisation for matching: the classifier compares keywords against
//! `normalize(text)`, so full-width letters, half-width kana and NBSP all meet
//! their ordinary forms. `Inbound` fields themselves are never normalised
//! (replies echo the subject as the person wrote it).

use unicode_normalization::UnicodeNormalization;

/// NFKC + lower case: `ＭＦＡ` → `mfa`, `ｺｰﾄﾞ` → `コード`, NBSP → space.
pub fn normalize(text: &str) -> String {
    text.nfkc().flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn folds_width_and_case() {
        assert_eq!(normalize("ＭＦＡ"), "mfa");
        assert_eq!(normalize("ｺｰﾄﾞ"), "コード");
        assert_eq!(normalize("Code\u{a0}ABC"), "code abc");
        assert_eq!(normalize("①"), "1");
    }
}
