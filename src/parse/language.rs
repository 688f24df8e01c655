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
    /// Branch-light pass over the bytes. ASCII goes eight bytes at a time:
    /// lane masks give the letters, and letter-run starts are counted lane
    /// by lane without a branch (a run never crosses a word, so the total
    /// is the sum over words). Words holding `@`, `http` or `www.` (ASCII case ignored) give
    /// no evidence: such a word is found when its trigger goes by (a lane
    /// test for `@`, `tp` and `w.`, rarely true) and its runs taken back.
    /// A non-ASCII character is classed from a table on its first two bytes
    /// and a range test on the third, with no branch on its class: Japanese
    /// text mixes kana and kanji too freely for a branch to guess.
    fn of(text: &str) -> Evidence {
        let bytes = text.as_bytes();
        let n = bytes.len();
        let (mut runs, mut kana, mut kanji) = (0usize, 0usize, 0usize);
        // Runs of words that turned out to be addresses or links.
        let mut no_evidence_runs = 0usize;
        // The end of the last such word: its later triggers are no news.
        let mut counted_until = 0usize;
        let mut prev_letter = false;
        // The byte before the block when it is ASCII, else 0.
        let mut prev_byte = 0u8;
        let mut i = 0;
        while i < n {
            let w = load8(bytes, i);
            // ASCII lanes at the front (8 when all are; padding is 0).
            let k = ((w & HIGH).trailing_zeros() / 8) as usize;
            if k == 0 {
                // A stretch of non-ASCII characters (the text is valid UTF-8,
                // so `i` is always at a character's first byte).
                while let Some(&b0) = bytes.get(i)
                    && b0 >= 0x80
                {
                    // One bounds check for both followers (a 2-byte last
                    // character takes the other way; 0 is no third byte).
                    let (b1, b2) = match bytes.get(i + 1..i + 3) {
                        Some(&[b1, b2]) => (b1, b2),
                        _ => (bytes.get(i + 1).copied().unwrap_or(0), 0),
                    };
                    let class = CLASS[(row(b0) | usize::from(b1 & 0x3F)) & (CLASS.len() - 1)];
                    let (lo, span) = (class as u8, (class >> 8) as u8 & 0x7F);
                    kana += usize::from(b2.wrapping_sub(lo) <= span);
                    kanji += usize::from(class >> 15);
                    i += b0.leading_ones() as usize;
                }
                prev_letter = false;
                prev_byte = 0;
                continue;
            }
            // Only the ASCII lanes (k >= 1).
            let w = w & u64::MAX >> (64 - 8 * k);
            let lower = w | (ONES * 0x20);
            let letter = (lower + ONES * (0x80 - u64::from(b'a')))
                & !(lower + ONES * (0x80 - u64::from(b'z') - 1))
                & HIGH;
            let before = letter << 8 | u64::from(prev_letter) << 7;
            // One bit (bit 7) per lane at most: the multiply adds the lanes
            // into the top one (no POPCNT in the baseline x86-64 target).
            runs += (((letter & !before) >> 7).wrapping_mul(ONES) >> 56) as usize;
            prev_letter = letter >> (8 * k - 1) & 1 != 0;
            let prev = (w << 8 | u64::from(prev_byte)) | (ONES * 0x20);
            let mut triggers = eq_lanes(lower, b'p') & eq_lanes(prev, b't')
                | eq_lanes(w, b'.') & eq_lanes(prev, b'w')
                | eq_lanes(w, b'@');
            while triggers != 0 {
                let j = i + (triggers.trailing_zeros() / 8) as usize;
                triggers &= triggers - 1;
                if j >= counted_until && is_trigger(bytes, j) {
                    let (start, end) = word_around(text, j);
                    no_evidence_runs += letter_runs(bytes.get(start..end).unwrap_or_default());
                    counted_until = end;
                }
            }
            prev_byte = (w >> (8 * (k - 1))) as u8;
            i += k;
        }
        Evidence {
            japanese: kana + kanji,
            kana,
            latin: runs - no_evidence_runs,
        }
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

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = ONES * 0x80;

/// The eight bytes at `i`, little-endian, zero past the end.
fn load8(bytes: &[u8], i: usize) -> u64 {
    let mut block = [0u8; 8];
    match bytes.get(i..i + 8) {
        Some(b) => block.copy_from_slice(b),
        None => {
            let tail = bytes.get(i..).unwrap_or_default();
            block[..tail.len()].copy_from_slice(tail);
        }
    }
    u64::from_le_bytes(block)
}

/// The high bit of each lane of `x` that equals `c` (lanes and `c` below
/// 0x80, so no lane carries into the next).
fn eq_lanes(x: u64, c: u8) -> u64 {
    let t = x ^ (ONES * u64::from(c));
    !(t + ONES * 0x7F) & HIGH
}

/// Whether the ASCII byte at `j` ends `@`, `http` or `www.` (ASCII case
/// ignored; `| 0x20` lower-cases exactly the letters compared with here).
fn is_trigger(bytes: &[u8], j: usize) -> bool {
    let lower = |k: usize| bytes.get(k).map_or(0, |b| b | 0x20);
    match bytes.get(j) {
        Some(b'@') => true,
        Some(b'.') => j >= 3 && [lower(j - 3), lower(j - 2), lower(j - 1)] == *b"www",
        Some(b'p' | b'P') => j >= 3 && [lower(j - 3), lower(j - 2), lower(j - 1)] == *b"htt",
        _ => false,
    }
}

/// The word (cut at whitespace, as `split_whitespace` cuts) holding the
/// character at `j`, as a byte range.
fn word_around(text: &str, j: usize) -> (usize, usize) {
    let start = text
        .get(..j)
        .and_then(|head| head.char_indices().rev().find(|(_, c)| c.is_whitespace()))
        .map_or(0, |(p, c)| p + c.len_utf8());
    let end = text
        .get(j..)
        .and_then(|tail| tail.find(char::is_whitespace))
        .map_or(text.len(), |p| j + p);
    (start, end)
}

/// Runs of ASCII letters in `word`.
fn letter_runs(word: &[u8]) -> usize {
    let mut prev = false;
    word.iter()
        .filter(|b| {
            let letter = b.is_ascii_alphabetic();
            let start = letter && !prev;
            prev = letter;
            start
        })
        .count()
}

/// Offset of the [`CLASS`] row for a character's first byte (C0 and up,
/// as every non-ASCII first byte is): row 1 for E3, 2 for E4, 3 for
/// E5..E9, 4 for EF; row 0 (nothing Japanese) for every other byte. One
/// cache line of table.
fn row(b0: u8) -> usize {
    const ROWS: [u16; 64] = {
        let mut rows = [0u16; 64];
        rows[0x23] = 64;
        rows[0x24] = 2 * 64;
        let mut b = 0x25;
        while b <= 0x29 {
            rows[b] = 3 * 64;
            b += 1;
        }
        rows[0x2F] = 4 * 64;
        rows
    };
    usize::from(ROWS[usize::from(b0 & 0x3F)])
}

/// Per [`row`] and low six bits of the second byte: the third bytes that
/// make kana (`lo` and `span`: `b2 - lo <= span`), and whether the
/// character is a kanji, packed as `lo | span << 8 | kanji << 15`.
/// Kana: U+3041..U+30FF (E3 81 81 ..= E3 83 BF) and U+FF66..U+FF9F
/// (EF BD A6 ..= EF BE 9F). Kanji: U+3400..U+4DBF (E3 90 .. E4 B6),
/// U+4E00..U+9FFF (E4 B8 .. E9 BF) and U+F900..U+FAFF (EF A4 .. EF AB).
/// Rows 5..7 are never used: they make the length a power of two, so
/// masking the index replaces the bounds check.
const CLASS: [u16; 8 * 64] = {
    // No third byte (they are 80..BF) is C0 or above.
    const NONE: u16 = 0xC0;
    const ALL_KANA: u16 = 0x80 | 0x3F << 8;
    const KANJI: u16 = NONE | 1 << 15;
    let mut class = [NONE; 8 * 64];
    let mut b1 = 0x80;
    while b1 <= 0xBF {
        let at = b1 & 0x3F;
        class[64 + at] = match b1 {
            0x81 => 0x81 | 0x3E << 8,
            0x82 | 0x83 => ALL_KANA,
            0x90.. => KANJI,
            _ => NONE,
        };
        class[2 * 64 + at] = if b1 == 0xB7 { NONE } else { KANJI };
        class[3 * 64 + at] = KANJI;
        class[4 * 64 + at] = match b1 {
            0xA4..=0xAB => KANJI,
            0xBD => 0xA6 | 0x19 << 8,
            0xBE => 0x80 | 0x1F << 8,
            _ => NONE,
        };
        b1 += 1;
    }
    class
};

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
            let text: String = (0..seed % 64)
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
