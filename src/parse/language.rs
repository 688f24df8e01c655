//! Which language to answer in: Japanese or English, decided from what the
//! person newly wrote (quotes are already removed), with the subject only as
//! a tie-breaker when the new text says too little.

use crate::verdict::Language;

/// Counts of script evidence in a piece of text.
#[derive(Debug, Default, Clone, Copy)]
struct Evidence {
    /// Hiragana, katakana (full and half width) and CJK ideographs.
    japanese: usize,
    /// Kana only: English mail almost never contains kana, kanji may be a name.
    kana: usize,
    /// Latin words (letter runs) outside URLs and mail addresses: a word
    /// weighs about what one Japanese character does.
    latin: usize,
}

impl Evidence {
    /// One pass over the characters: words end at whitespace (as
    /// `split_whitespace` cuts them); a word's letter runs count unless it
    /// held `@`, `http` or `www.` (ASCII case ignored), which a window of
    /// its last four bytes spots as they go by.
    fn of(text: &str) -> Evidence {
        let mut ev = Evidence::default();
        let mut word = Word::default();
        for c in text.chars() {
            if c.is_ascii() {
                if c.is_ascii_whitespace() || c == '\u{0B}' {
                    word.end(&mut ev);
                    continue;
                }
                let latin = c.is_ascii_alphabetic();
                if latin && !word.in_latin {
                    word.runs += 1;
                }
                word.in_latin = latin;
                // ASCII, so the cast keeps the byte.
                word.last4 = word.last4 << 8 | u32::from(c.to_ascii_lowercase() as u8);
                word.no_evidence |= c == '@'
                    || word.last4 == u32::from_be_bytes(*b"http")
                    || word.last4 == u32::from_be_bytes(*b"www.");
                continue;
            }
            // Kana and kanji (most of Japanese text) are not whitespace:
            // they are tested first.
            if is_kana(c) {
                ev.kana += 1;
                ev.japanese += 1;
            } else if is_kanji(c) {
                ev.japanese += 1;
            } else if c.is_whitespace() {
                word.end(&mut ev);
                continue;
            }
            word.in_latin = false;
            // No ASCII needle runs across another character.
            word.last4 <<= 8;
        }
        word.end(&mut ev);
        ev
    }

    fn is_weak(&self) -> bool {
        self.japanese < 2 && self.latin < 2
    }

    fn decide(&self) -> Language {
        if self.japanese == 0 && self.latin == 0 {
            return Language::Ja;
        }
        // A Japanese name in an English signature must not flip the answer,
        // so kanji without any kana count for half.
        let weight = if self.kana == 0 {
            self.japanese / 2
        } else {
            self.japanese
        };
        if weight >= self.latin {
            Language::Ja
        } else {
            Language::En
        }
    }
}

/// The word being read by [`Evidence::of`].
#[derive(Default)]
struct Word {
    /// Latin letter runs so far.
    runs: usize,
    in_latin: bool,
    /// The last four ASCII bytes, lower-cased (0 for any other character).
    last4: u32,
    /// An address or a link: the same in both languages, no evidence.
    no_evidence: bool,
}

impl Word {
    fn end(&mut self, ev: &mut Evidence) {
        if !self.no_evidence {
            ev.latin += self.runs;
        }
        *self = Word::default();
    }
}

fn is_kana(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{309F}' | '\u{30A0}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}')
}

fn is_kanji(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

/// The language to answer in. `new_text` decides; the subject only helps
/// when the new text is (almost) empty. Nothing at all → Japanese.
pub fn detect(new_text: &str, subject: &str) -> Language {
    let body = Evidence::of(new_text);
    if !body.is_weak() {
        return body.decide();
    }
    let subj = Evidence::of(subject);
    let both = Evidence {
        japanese: body.japanese + subj.japanese,
        kana: body.kana + subj.kana,
        latin: body.latin + subj.latin,
    };
    both.decide()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_with_product_names_is_japanese() {
        assert_eq!(
            detect("Microsoft Authenticatorのコードが届きません。", ""),
            Language::Ja
        );
    }

    #[test]
    fn english_with_japanese_name_and_subject_is_english() {
        assert_eq!(
            detect(
                "Hi, the code still does not arrive on my phone.\n山田太郎",
                "Re: 認証コードが届きません"
            ),
            Language::En
        );
    }

    #[test]
    fn empty_defaults_to_japanese_and_subject_breaks_ties() {
        assert_eq!(detect("", ""), Language::Ja);
        assert_eq!(detect("", "Cannot sign in"), Language::En);
        assert_eq!(detect("ok", "ログインできません"), Language::Ja);
    }
}
