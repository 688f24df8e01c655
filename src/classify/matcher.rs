//! Finding the rules' terms in one piece of normalised text (a subject or a
//! body), with negation.
//!
//! English: the text is tokenised, each word is mapped to a rule word id by
//! its stem (or, for long words, by one typo of edit distance), then terms
//! are matched on ids starting from a per-word index. Japanese: one pass over
//! the compact text looks up every char bigram in the atom index and checks
//! the atoms starting there. Both paths touch only terms that can match.

use super::rules::{EnStart, FuzzyWord, NO_CODE, NO_WORD, NOT_WORD, Rules};
use super::text::{
    compact_into, ends_sentence, for_each_deletion_hash, for_each_token, letter_counts,
    letter_mask, stem,
};

/// One occurrence of a term.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub term: u32,
    /// A negation cue governs it ("not lost", "紛失ではありません").
    pub negated: bool,
}

/// The buffers [`find`] works in, kept from text to text so that a mail
/// costs no allocations once a thread has seen one as long.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    words: Vec<Word>,
    /// The compact text, and the Japanese atoms found in it.
    chars: Vec<char>,
    occ: Vec<(u32, u32, u32)>,
    fuzzy: FuzzyScratch,
}

/// The typo search's buffers.
#[derive(Debug, Default)]
struct FuzzyScratch {
    /// Places in `Rules::fuzzy` of the candidate stems.
    near: Vec<(u32, u32)>,
}

impl Scratch {
    /// The bytes its buffers hold on to.
    pub(crate) fn held_bytes(&self) -> usize {
        self.words.capacity() * std::mem::size_of::<Word>()
            + self.chars.capacity() * std::mem::size_of::<char>()
            + self.occ.capacity() * std::mem::size_of::<(u32, u32, u32)>()
    }
}

/// Append every term occurrence in `norm` (already normalised) to `out`.
pub(crate) fn find(rules: &Rules, norm: &str, out: &mut Vec<Hit>, scratch: &mut Scratch) {
    if norm.is_empty() {
        return;
    }
    find_en(rules, norm, out, scratch);
    if !norm.is_ascii() && !rules.ja_bigram.is_empty() {
        find_ja(rules, norm, out, scratch);
    }
}

/// The rule word a text word stands for: same stem, or (for long words) a
/// stem one edit away — "authenticater" is "authenticator", "recieved" is
/// "received". Short words must match exactly: "lock"/"look" are different.
/// `memo` keeps the typo search's answers for this text: a long word the
/// rules do not know is often written more than once.
// Inlined into the per-word loop: as a call it cost ~20 instructions a word.
#[inline(always)]
fn word_id<'a>(
    rules: &Rules,
    raw: &'a str,
    memo: &mut Vec<(&'a str, Option<u32>)>,
    scratch: &mut FuzzyScratch,
) -> Option<u32> {
    let s = stem(raw);
    if let Some(id) = rules.vocab.get(s.as_ref()) {
        return Some(*id);
    }
    let min = rules.settings.fuzzy_min_len;
    if min == 0 || raw.len() < min || s.len() < 6 || !s.is_ascii() {
        return None;
    }
    if let Some(&(_, id)) = memo.iter().find(|(w, _)| *w == raw) {
        return id;
    }
    let id = fuzzy_id(rules, &s, scratch);
    memo.push((raw, id));
    id
}

/// `x.count_ones() > k`, by clearing the lowest set bit `k` times: a few
/// instructions where the portable popcount takes a dozen.
fn more_bits_than(mut x: u32, k: usize) -> bool {
    for _ in 0..k {
        x &= x.wrapping_sub(1);
    }
    x != 0
}

/// The rule word whose stem is nearest `s` within the allowed edits.
fn fuzzy_id(rules: &Rules, s: &str, scratch: &mut FuzzyScratch) -> Option<u32> {
    // Two edits only for long words, where two typos still leave the word unmistakable.
    let max_edits = if s.len() >= 12 { 2 } else { 1 };
    let mask = letter_mask(s);
    let counts = letter_counts(s);
    let mut best: Option<(usize, u32)> = None;
    let mut consider = |fw_mask: u32, fw: &FuzzyWord| {
        if more_bits_than(fw_mask ^ mask, 2 * max_edits) {
            return;
        }
        // One edit changes the letter counts by at most two (a swap by none):
        // a cheap lower bound that spares most edit-distance computations.
        let count_diff: u32 = (fw.counts.iter().zip(&counts))
            .map(|(a, b)| u32::from(a.abs_diff(*b)))
            .sum();
        if count_diff.div_ceil(2) as usize > max_edits {
            return;
        }
        let d = strsim::damerau_levenshtein(s, &fw.stem);
        // Six-letter stems only forgive a swapped pair ("reciev"): one changed
        // letter there too often makes another word ("attach"/"attack").
        if d == 1 && s.len().min(fw.stem.len()) < 7 && strsim::levenshtein(s, &fw.stem) != 2 {
            return;
        }
        if d <= max_edits && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, fw.id));
        }
    };
    if max_edits == 1 {
        // Only the stems sharing a one-deletion form with `s` can be one edit
        // away; taken in the order of the full scan below, so ties resolve alike.
        let near = &mut scratch.near;
        near.clear();
        for_each_deletion_hash(s.as_bytes(), |key| {
            if let Some(places) = rules.fuzzy_near.get(&key) {
                near.extend_from_slice(places);
            }
        });
        near.sort_unstable();
        near.dedup();
        for &(len, i) in near.iter() {
            let (len, i) = (len as usize, i as usize);
            let masks = rules.fuzzy_masks.get(len).and_then(|m| m.get(i));
            if let (Some(&m), Some(fw)) = (masks, rules.fuzzy.get(len).and_then(|w| w.get(i))) {
                consider(m, fw);
            }
        }
    } else {
        let lengths = s.len().saturating_sub(max_edits)..=s.len() + max_edits;
        for l in lengths {
            if let (Some(masks), Some(words)) = (rules.fuzzy_masks.get(l), rules.fuzzy.get(l)) {
                for (&m, fw) in masks.iter().zip(words) {
                    consider(m, fw);
                }
            }
        }
    }
    best.map(|(_, id)| id)
}

/// One word of the text with everything term matching asks about it, looked
/// up once per word (a `{not}` term used to look its cue up again for each
/// of the forty terms starting with one).
#[derive(Debug, Clone, Copy)]
struct Word {
    /// The rule word it stands for, or [`NO_WORD`].
    id: u32,
    clause: u32,
    /// One of the words `{not}` stands for.
    not: bool,
    /// A negation cue ("not lost").
    negator: bool,
}

/// The words of `norm` into `words`, replacing what it held.
fn words(rules: &Rules, norm: &str, words: &mut Vec<Word>, fuzzy: &mut FuzzyScratch) {
    words.clear();
    let mut memo = Vec::new();
    for_each_token(norm, |t| {
        let cue = rules.cue(t.raw);
        words.push(Word {
            id: word_id(rules, t.raw, &mut memo, fuzzy).unwrap_or(NO_WORD),
            clause: t.clause,
            not: cue.not,
            negator: cue.negator,
        });
    });
}

fn find_en(rules: &Rules, norm: &str, out: &mut Vec<Hit>, scratch: &mut Scratch) {
    words(rules, norm, &mut scratch.words, &mut scratch.fuzzy);
    let words = scratch.words.as_slice();
    let empty: &[EnStart] = &[];
    for (i, word) in words.iter().enumerate() {
        let by_word = if word.id == NO_WORD {
            empty
        } else {
            rules.en_first.get(word.id as usize)
        };
        let by_not = if word.not {
            rules.not_first.as_slice()
        } else {
            empty
        };
        for start in by_word.iter().chain(by_not) {
            // The term's second word must follow at once, in the same clause.
            let next = start.next;
            if next != NO_WORD {
                let follows = words.get(i + 1).is_some_and(|w| {
                    w.clause == word.clause
                        && if next == NOT_WORD {
                            w.not
                        } else {
                            w.id == next
                        }
                });
                if !follows {
                    continue;
                }
            }
            // Most terms are their first two words: matched already.
            let gap_negated = if start.code == NO_CODE {
                false
            } else {
                let code = rules.en_code.get(start.code as usize..).unwrap_or_default();
                match match_en(rules, code, words, i) {
                    Some(gap_negated) => gap_negated,
                    None => continue,
                }
            };
            let negated = gap_negated || negated_before(rules, words, i);
            out.push(Hit {
                term: start.term,
                negated,
            });
        }
    }
}

/// Whether the words from `at` on, in `clause`, are the segment `seg`.
fn seq_at(seg: &[u32], words: &[Word], at: usize, clause: u32) -> bool {
    seg.iter().enumerate().all(|(k, w)| {
        words.get(at + k).is_some_and(|word| {
            word.clause == clause
                && if *w == NOT_WORD {
                    word.not
                } else {
                    word.id == *w
                }
        })
    })
}

/// The next segment of a term's code (`[length, word ids...]`), cut off `code`.
fn next_seg<'a>(code: &mut &'a [u32]) -> Option<&'a [u32]> {
    let (&len, rest) = code.split_first()?;
    let (seg, rest) = rest.split_at_checked(len as usize)?;
    *code = rest;
    Some(seg)
}

/// Match a term (its code in `Rules::en_code` onwards) at word `i`;
/// `Some(negated_in_gap)` when it matches.
fn match_en(rules: &Rules, code: &[u32], words: &[Word], i: usize) -> Option<bool> {
    let clause = words[i].clause;
    let (&segs, mut code) = code.split_first()?;
    let first = next_seg(&mut code)?;
    if !seq_at(first, words, i, clause) {
        return None;
    }
    let mut pos = i + first.len();
    let mut gap_negated = false;
    for _ in 1..segs {
        let seg = next_seg(&mut code)?;
        let last = (pos + rules.settings.en_gap).min(words.len().saturating_sub(1));
        let start = (pos..=last)
            .take_while(|s| words[*s].clause == clause)
            .find(|s| seq_at(seg, words, *s, clause))?;
        // "my phone is not lost": a cue inside the gap negates the phrase.
        gap_negated |= words[pos..start].iter().any(|w| w.negator);
        pos = start + seg.len();
    }
    Some(gap_negated)
}

/// A negation cue within the window before the term, in the same clause.
fn negated_before(rules: &Rules, words: &[Word], i: usize) -> bool {
    let clause = words[i].clause;
    words[i.saturating_sub(rules.settings.en_window)..i]
        .iter()
        .any(|w| w.clause == clause && w.negator)
}

fn find_ja(rules: &Rules, norm: &str, out: &mut Vec<Hit>, scratch: &mut Scratch) {
    compact_into(&mut scratch.chars, norm);
    let chars = scratch.chars.as_slice();
    if chars.len() < 2 {
        return;
    }
    // (atom, start, end) in char positions, in text order (by start).
    let occ = &mut scratch.occ;
    occ.clear();
    // Positions 0..pairs start a char pair.
    let pairs = chars.len() - 1;
    let mut base = 0;
    while base < pairs {
        let block = chars.get(base..pairs.min(base + 64)).unwrap_or_default();
        // The first-char filter over up to 64 positions, into a bit set
        // without a branch a char: whether a char starts an atom is a coin
        // toss to the branch predictor.
        let mut starts = 0u64;
        for (j, &c) in block.iter().enumerate() {
            starts |= u64::from(rules.ja_starts.may_contain(c)) << j;
        }
        let at = base;
        base += block.len();
        while starts != 0 {
            let i = at + starts.trailing_zeros() as usize;
            starts &= starts - 1;
            find_atoms_at(rules, chars, i, occ);
        }
    }
    for &(atom, _, end) in occ.iter() {
        for start in rules.ja_first.get(atom as usize) {
            let (from, to) = (start.from as usize, start.to as usize);
            let later = rules.ja_chain.get(from..to).unwrap_or_default();
            if let Some(end) = chain_ja(rules, later, occ, chars, end as usize) {
                let negated = negated_after(rules, chars, end);
                out.push(Hit {
                    term: start.term,
                    negated,
                });
            }
        }
    }
}

/// The atoms starting at char `i` (whose first char passed the filter) onto `occ`.
fn find_atoms_at(rules: &Rules, chars: &[char], i: usize, occ: &mut Vec<(u32, u32, u32)>) {
    let rest = chars.get(i..).unwrap_or_default();
    let (Some(&a), Some(&b)) = (rest.first(), rest.get(1)) else {
        return;
    };
    if !rules.ja_pairs.may_contain(a, b) {
        return;
    }
    for atom in rules.ja_bigram.get(a, b) {
        let (from, len) = (atom.from as usize, atom.len as usize);
        // The bigram matched: compare the third char (kept in the entry),
        // then the rest in place.
        let found = len <= 2
            || (rest.get(2) == Some(&atom.third)
                && rest.len() >= len
                && (rest.get(3..len).unwrap_or_default().iter())
                    .zip(rules.ja_chars.get(from + 3..from + len).unwrap_or_default())
                    .all(|(x, y)| x == y));
        if found {
            occ.push((atom.id, i as u32, (i + len) as u32));
        }
    }
}

/// Follow a `..`-joined Japanese term from the end of its first atom
/// through its `later` atoms; the end of the last atom when every later atom
/// follows within the gap, in the same sentence.
fn chain_ja(
    rules: &Rules,
    later: &[u32],
    occ: &[(u32, u32, u32)],
    chars: &[char],
    mut end: usize,
) -> Option<usize> {
    for &next in later {
        let limit = end + rules.settings.ja_gap;
        // `occ` is in start order: the window [end, limit] is one run of it.
        let from = occ.partition_point(|&(_, s, _)| (s as usize) < end);
        let &(_, _, e) = occ
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&(_, s, _)| s as usize <= limit)
            .filter(|(a, _, _)| *a == next)
            .find(|&&(_, s, _)| !chars[end..s as usize].iter().any(|c| ends_sentence(*c)))?;
        end = e as usize;
    }
    Some(end)
}

/// A cue right after the term ("紛失ではありません", "変えていません").
fn negated_after(rules: &Rules, chars: &[char], end: usize) -> bool {
    for pos in end..=(end + rules.settings.ja_window).min(chars.len()) {
        if pos < chars.len() && ends_sentence(chars[pos]) {
            return false;
        }
        let rest = &chars[pos..];
        if let Some(starts) = &rules.ja_negator_starts
            && !rest.first().is_some_and(|c| starts.may_contain(*c))
        {
            continue;
        }
        // The first char rules out most cues before a whole comparison.
        if rules
            .ja_negators
            .iter()
            .any(|cue| cue.first().is_none_or(|f| rest.first() == Some(f)) && rest.starts_with(cue))
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::more_bits_than;

    #[test]
    fn bit_bound_is_popcount() {
        for x in [0u32, 1, 2, 3, 7, 0x8000_0001, 0xF0, u32::MAX, 0x1010, 0x111] {
            for k in 0..6 {
                assert_eq!(
                    more_bits_than(x, k),
                    x.count_ones() as usize > k,
                    "{x:#x} {k}"
                );
            }
        }
    }
}
