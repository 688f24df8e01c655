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
    /// One pass over the bytes: words end at whitespace (as
    /// `split_whitespace` cuts them); a word's letter runs count unless it
    /// held `@`, `http` or `www.` (ASCII case ignored), which a window of
    /// its last four bytes spots as they go by. Kana and kanji are told
    /// from their UTF-8 bytes (see [`Kind::of3`]); only rare characters go
    /// through a `char` decoder.
    fn of(text: &str) -> Evidence {
        let mut ev = Evidence::default();
        let mut word = Word::default();
        let mut rest = text.as_bytes();
        loop {
            let kind = match *rest {
                [] => break,
                [byte, ref tail @ ..] if byte.is_ascii_alphabetic() => {
                    // A letter run, read in one go.
                    word.runs += 1;
                    word.last4 = word.last4 << 8 | u32::from(byte | 0x20);
                    rest = tail;
                    while let [byte, ref tail @ ..] = *rest
                        && byte.is_ascii_alphabetic()
                    {
                        word.last4 = word.last4 << 8 | u32::from(byte | 0x20);
                        word.no_evidence |= word.last4 == u32::from_be_bytes(*b"http");
                        rest = tail;
                    }
                    continue;
                }
                [byte, ref tail @ ..] if byte < 0x80 => {
                    rest = tail;
                    if byte.is_ascii_whitespace() || byte == 0x0B {
                        word.end(&mut ev);
                    } else {
                        word.last4 = word.last4 << 8 | u32::from(byte);
                        word.no_evidence |=
                            byte == b'@' || word.last4 == u32::from_be_bytes(*b"www.");
                    }
                    continue;
                }
                // The text is valid UTF-8: this is a whole character.
                [b0 @ 0xE0..=0xEF, b1, b2, ref tail @ ..] if b0 != 0xE1 && b0 != 0xE2 => {
                    rest = tail;
                    Kind::of3(b0, b1, b2)
                }
                _ => {
                    let at = text.len() - rest.len();
                    let c = text.get(at..).and_then(|s| s.chars().next());
                    let width = c.map_or(1, char::len_utf8);
                    rest = rest.get(width..).unwrap_or_default();
                    c.map_or(Kind::Other, Kind::of)
                }
            };
            match kind {
                Kind::Kana => {
                    ev.kana += 1;
                    ev.japanese += 1;
                }
                Kind::Kanji => ev.japanese += 1,
                Kind::Space => {
                    word.end(&mut ev);
                    continue;
                }
                Kind::Other => {}
            }
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

/// What a non-ASCII character counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Hiragana, katakana (full and half width).
    Kana,
    /// CJK ideographs, extension A and compatibility ideographs.
    Kanji,
    /// Whitespace: ends a word.
    Space,
    Other,
}

impl Kind {
    fn of(c: char) -> Kind {
        match c {
            '\u{3041}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}' => Kind::Kana,
            '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' => {
                Kind::Kanji
            }
            _ if c.is_whitespace() => Kind::Space,
            _ => Kind::Other,
        }
    }

    /// [`Kind::of`] for the three-byte character `b0 b1 b2`, from the bytes
    /// (`b1` carries code point bits 6..12): most of Japanese text is decided
    /// by `b0` alone. Not for E1 and E2 leads (U+1000..U+2FFF), which hold
    /// whitespace and go through [`Kind::of`].
    fn of3(b0: u8, b1: u8, b2: u8) -> Kind {
        match (b0, b1) {
            // U+5000..U+9FFF.
            (0xE5..=0xE9, _) => Kind::Kanji,
            // U+4DC0..U+4DFF (hexagrams) between extension A and U+4E00.
            (0xE4, 0xB7) => Kind::Other,
            (0xE4, _) => Kind::Kanji,
            // U+3000 (ideographic space), U+3001..U+303F (punctuation).
            (0xE3, 0x80) if b2 == 0x80 => Kind::Space,
            // U+3040 is unassigned; U+3041..U+30FF are kana.
            (0xE3, 0x81) if b2 == 0x80 => Kind::Other,
            (0xE3, 0x81..=0x83) => Kind::Kana,
            // U+3400..U+3FFF: extension A.
            (0xE3, 0x90..) => Kind::Kanji,
            // U+F900..U+FAFF, U+FF66..U+FF7F, U+FF80..U+FF9F.
            (0xEF, 0xA4..=0xAB) => Kind::Kanji,
            (0xEF, 0xBD) if b2 >= 0xA6 => Kind::Kana,
            (0xEF, 0xBE) if b2 <= 0x9F => Kind::Kana,
            _ => Kind::Other,
        }
    }
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

    /// The former pass over `chars()`, which the byte pass must agree with.
    fn reference(text: &str) -> Evidence {
        let mut ev = Evidence::default();
        let (mut runs, mut in_latin, mut last4, mut no_evidence) = (0, false, 0u32, false);
        fn end(ev: &mut Evidence, runs: &mut usize, last4: &mut u32, no: &mut bool) {
            if !*no {
                ev.latin += *runs;
            }
            (*runs, *last4, *no) = (0, 0, false);
        }
        for c in text.chars() {
            if c.is_ascii() {
                if c.is_ascii_whitespace() || c == '\u{0B}' {
                    end(&mut ev, &mut runs, &mut last4, &mut no_evidence);
                    in_latin = false;
                    continue;
                }
                let latin = c.is_ascii_alphabetic();
                if latin && !in_latin {
                    runs += 1;
                }
                in_latin = latin;
                last4 = last4 << 8 | u32::from(c.to_ascii_lowercase() as u8);
                no_evidence |= c == '@'
                    || last4 == u32::from_be_bytes(*b"http")
                    || last4 == u32::from_be_bytes(*b"www.");
                continue;
            }
            let kana = matches!(c, '\u{3041}'..='\u{309F}' | '\u{30A0}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}');
            let kanji = matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}');
            if kana {
                ev.kana += 1;
                ev.japanese += 1;
            } else if kanji {
                ev.japanese += 1;
            } else if c.is_whitespace() {
                end(&mut ev, &mut runs, &mut last4, &mut no_evidence);
                in_latin = false;
                continue;
            }
            in_latin = false;
            last4 <<= 8;
        }
        end(&mut ev, &mut runs, &mut last4, &mut no_evidence);
        ev
    }

    #[test]
    fn byte_pass_classes_every_character_as_the_char_pass_did() {
        for c in ('\u{80}'..='\u{10FFFF}').step_by(1) {
            if u32::from(c) > 0xFFFF && u32::from(c) % 61 != 0 {
                continue;
            }
            let text = format!("ab{c}cd {c}x");
            let (new, old) = (Evidence::of(&text), reference(&text));
            assert_eq!(
                (new.japanese, new.kana, new.latin),
                (old.japanese, old.kana, old.latin),
                "{c:?}"
            );
        }
    }

    #[test]
    fn byte_pass_counts_as_the_char_pass_did() {
        let pieces = [
            "Hi", " ", "code", "\t", "\n", "\u{0B}", "\u{0C}", "@", "http", "HTTP", "www.", "Ww",
            "w.", "ht", "tp", ".", "-", "の", "コ", "ｺ", "漢", "㐀", "\u{4DC0}", "\u{3040}",
            "\u{3000}", "\u{a0}", "\u{2003}", "\u{85}", "、", "é", "😀", "\u{F900}", "\u{FF9F}",
            "\0", "Ｈ",
        ];
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let text: String = (0..seed % 20)
                .map(|k| pieces[(seed.rotate_left(k as u32 * 3) % pieces.len() as u64) as usize])
                .collect();
            let (new, old) = (Evidence::of(&text), reference(&text));
            assert_eq!(
                (new.japanese, new.kana, new.latin),
                (old.japanese, old.kana, old.latin),
                "{text:?}"
            );
        }
    }
}
