//! The rules file (`config/rules.toml`): its TOML model, the checks run at
//! load (every error names the file, the line and the rule), and the compiled
//! form the matcher uses — stems, word ids, Japanese atoms and first-bigram
//! indexes are built here once so classifying a mail is cheap.
//!
//! The format is documented at the top of `config/rules.toml`.

use super::text::{compact, for_each_deletion_hash, letter_counts, letter_mask, normalize, stem};
use crate::config::ConfigError;
use crate::verdict::Category;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use toml::Spanned;

/// A small multiplicative/FNV hasher: the keys are short words and char
/// pairs from our own rules file, so DoS-resistant SipHash buys nothing and
/// costs most of the lookup time.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        // The table takes bits from both ends: mix the high ones down.
        let h = self.0;
        (h ^ h >> 29).wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ h >> 32
    }
    fn write(&mut self, bytes: &[u8]) {
        // Eight bytes a step: a rule word is one or two steps.
        let mut h = self.0 ^ 0xcbf2_9ce4_8422_2325;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            h = (h ^ u64::from_le_bytes(word))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .rotate_left(31);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            h = (h ^ tail_word(rest) ^ (rest.len() as u64) << 56)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .rotate_left(31);
        }
        self.0 = h;
    }
    fn write_u8(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

/// The last 1 to 7 bytes as one number, read in place (copying them into a
/// zeroed buffer stalled the load that followed): two overlapping 4-byte
/// reads, or first, middle and last byte; with the length mixed in by the
/// caller, different tails give different numbers.
fn tail_word(rest: &[u8]) -> u64 {
    let n = rest.len();
    let byte = |i: usize| u64::from(rest.get(i).copied().unwrap_or(0));
    let le32 = |s: Option<&[u8]>| {
        u64::from(
            s.and_then(|s| s.try_into().ok())
                .map_or(0, u32::from_le_bytes),
        )
    };
    if n >= 4 {
        le32(rest.get(..4)) | le32(rest.get(n - 4..)) << 32
    } else if n > 0 {
        byte(0) | byte(n / 2) << 8 | byte(n - 1) << 16
    } else {
        0
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

// ---------------------------------------------------------------- raw TOML

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    #[serde(default)]
    settings: RawSettings,
    #[serde(default)]
    negation: RawNegation,
    #[serde(default)]
    auto: RawAuto,
    #[serde(default)]
    categories: BTreeMap<Spanned<String>, RawCategory>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    subject_weight: Option<Spanned<f64>>,
    reply_subject_weight: Option<Spanned<f64>>,
    outrank_ratio: Option<Spanned<f64>>,
    threshold: Option<Spanned<f64>>,
    margin: Option<Spanned<f64>>,
    en_gap: Option<Spanned<i64>>,
    ja_gap: Option<Spanned<i64>>,
    fuzzy_min_len: Option<Spanned<i64>>,
    group_once: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNegation {
    #[serde(default)]
    en_before: Vec<Spanned<String>>,
    en_window: Option<Spanned<i64>>,
    #[serde(default)]
    ja_after: Vec<Spanned<String>>,
    ja_window: Option<Spanned<i64>>,
    #[serde(default)]
    en_not: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAuto {
    #[serde(default)]
    sender_locals: Vec<Spanned<String>>,
    #[serde(default)]
    subject_prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    body_openings: Vec<Spanned<String>>,
    body_window: Option<Spanned<i64>>,
    body_max_len: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    threshold: Option<Spanned<f64>>,
    outrank_ratio: Option<Spanned<f64>>,
    #[serde(default)]
    outranks: Vec<Spanned<String>>,
    #[serde(default)]
    related: Vec<Spanned<String>>,
    #[serde(default)]
    terms: Vec<RawTerms>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerms {
    weight: Spanned<f64>,
    once: Option<bool>,
    #[serde(default)]
    en: Vec<Spanned<String>>,
    #[serde(default)]
    ja: Vec<Spanned<String>>,
}

// ---------------------------------------------------------------- compiled

/// Tunables from `[settings]` and `[negation]`.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub subject_weight: f32,
    /// Subject weight when the mail is a reply or forward: its subject names the old topic.
    pub reply_subject_weight: f32,
    pub margin: f32,
    pub en_gap: usize,
    pub ja_gap: usize,
    pub fuzzy_min_len: usize,
    pub en_window: usize,
    pub ja_window: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            subject_weight: 1.5,
            reply_subject_weight: 0.3,
            margin: 1.0,
            en_gap: 3,
            ja_gap: 12,
            fuzzy_min_len: 7,
            en_window: 3,
            ja_window: 4,
        }
    }
}

/// `[auto]`: the tunable parts of auto-generated detection (the header rules
/// are fixed by RFC 3834 and live in `auto.rs`).
#[derive(Debug, Clone, Default)]
pub(crate) struct AutoRules {
    pub sender_locals: Vec<String>,
    pub subject_prefixes: Vec<String>,
    pub body_openings: Vec<String>,
    /// `body_openings` in compact form (no spaces), compiled once.
    pub body_openings_compact: Vec<Vec<char>>,
    pub body_window: usize,
    pub body_max_len: usize,
}

/// Per-category decision data.
#[derive(Debug, Clone)]
pub(crate) struct CategoryRules {
    pub category: Category,
    pub threshold: f32,
    /// This category outranks another only with at least this share of its score.
    pub outrank_ratio: f32,
    pub outranks: Vec<Category>,
    pub related: Vec<Category>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TermKind {
    /// Segments of consecutive word ids; segments are joined by `..` gaps.
    En(Vec<Vec<u32>>),
    /// Japanese atoms (substrings) joined by `..` gaps.
    Ja(Vec<u32>),
}

#[derive(Debug, Clone)]
pub(crate) struct Term {
    /// Index into `Rules::categories`.
    pub cat: usize,
    /// The `[[terms]]` group it came from, when that group counts only once.
    pub once_group: Option<u32>,
    pub weight: f32,
    /// `subject:{term}` and `body:{term}` (the term as written in the file),
    /// for `Verdict::matched`; made once here so a verdict copies its
    /// evidence instead of formatting it.
    pub evidence: [String; 2],
}

/// A stem long enough to be matched with one typo.
#[derive(Debug, Clone)]
pub(crate) struct FuzzyWord {
    pub id: u32,
    pub stem: String,
    /// Its letter mask is kept apart, in `Rules::fuzzy_masks`.
    pub counts: [u8; 32],
}

/// The classification rules, read from `config/rules.toml` and compiled.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub(crate) origin: String,
    pub(crate) settings: Settings,
    pub(crate) auto: AutoRules,
    pub(crate) categories: Vec<CategoryRules>,
    pub(crate) terms: Vec<Term>,
    /// English stem -> word id.
    pub(crate) vocab: FastMap<String, u32>,
    /// Stems open to typo matching, bucketed by length in bytes.
    pub(crate) fuzzy: Vec<Vec<FuzzyWord>>,
    /// The letter masks of `fuzzy`, bucket by bucket in the same order: the
    /// first test reads these packed together instead of a whole word each.
    pub(crate) fuzzy_masks: Vec<Vec<u32>>,
    /// The hashes of each stem of `fuzzy` and of its one-byte deletions ->
    /// the stems' places in `fuzzy` (length, index), in order: a word one
    /// edit from a stem shares such a form with it, so one-edit searches
    /// look only here (a hash collision only adds a candidate).
    pub(crate) fuzzy_near: FastMap<u64, Vec<(u32, u32)>>,
    /// Word id -> English terms whose first word it is.
    pub(crate) en_first: Lists<EnStart>,
    /// The segments of the English terms that [`EnStart`] alone does not
    /// settle, each term as `[segment count, (length, word ids...)...]`.
    pub(crate) en_code: Vec<u32>,
    /// The chars of all atoms, one after another.
    pub(crate) ja_chars: Vec<char>,
    /// First two chars of an atom -> atoms starting with them.
    pub(crate) ja_bigram: BigramTable,
    /// The first chars of the atoms: most text positions are ruled out here,
    /// before the bigram lookup.
    pub(crate) ja_starts: CharFilter,
    /// The first two chars of the atoms, hashed: most of the positions left
    /// are ruled out here, before hashing into `ja_bigram`.
    pub(crate) ja_pairs: PairFilter,
    /// Atom id -> Japanese terms whose first segment it is.
    pub(crate) ja_first: Lists<JaStart>,
    /// The atoms after the first of the Japanese terms with a `..`.
    pub(crate) ja_chain: Vec<u32>,
    /// English negation cues and the words `{not}` stands for (normalised
    /// words), in one map so each text word is looked up once.
    pub(crate) en_cues: FastMap<String, Cue>,
    /// First byte -> bit set of the cues' lengths (31 = longer): most words
    /// are ruled out without hashing them.
    cue_shapes: Vec<u32>,
    /// English terms whose first word is `{not}`.
    pub(crate) not_first: Vec<EnStart>,
    /// Japanese negation cues (compact normalised).
    pub(crate) ja_negators: Vec<Vec<char>>,
    /// The first chars of `ja_negators`, so most positions after a term skip
    /// the comparisons; `None` when a cue is empty (it matches anywhere).
    pub(crate) ja_negator_starts: Option<CharFilter>,
}

/// An English term listed under its first word, with the word right after
/// it (when its first segment has two or more): most candidates are ruled
/// out by the next text word without reading the term, and most terms (one
/// or two words) are matched by it alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EnStart {
    pub term: u32,
    /// A word id, [`NOT_WORD`] or [`NO_WORD`] (the term is one word long).
    pub next: u32,
    /// Where the term is in `Rules::en_code`, or [`NO_CODE`] when the first
    /// word and `next` are the whole term.
    pub code: u32,
}

/// [`EnStart::code`] of a term its first two words settle.
pub(crate) const NO_CODE: u32 = u32::MAX;

/// A Japanese atom: its chars are `Rules::ja_chars[from..from + len]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JaAtom {
    pub id: u32,
    pub from: u32,
    pub len: u32,
    /// Its third char (`'\0'` for a two-char atom): most atoms whose first
    /// two chars the text has are ruled out here, before reading `ja_chars`.
    pub third: char,
}

/// A Japanese term listed under its first atom, with its later atoms
/// (`Rules::ja_chain[from..to]`, empty for a term without `..`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct JaStart {
    pub term: u32,
    pub from: u32,
    pub to: u32,
}

/// Lists of items kept in two arrays (where each list starts, and all items
/// in order): reading a list touches one slice, not a `Vec` header and then
/// an allocation of its own somewhere else on the heap.
#[derive(Debug, Clone)]
pub(crate) struct Lists<T> {
    /// List `i` is `items[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    items: Vec<T>,
}

impl<T> Default for Lists<T> {
    fn default() -> Self {
        Lists {
            starts: vec![0],
            items: Vec::new(),
        }
    }
}

impl<T> Lists<T> {
    fn from_nested(nested: Vec<Vec<T>>) -> Self {
        let mut lists = Lists {
            starts: Vec::with_capacity(nested.len() + 1),
            items: Vec::with_capacity(nested.iter().map(Vec::len).sum()),
        };
        lists.starts.push(0);
        for list in nested {
            lists.items.extend(list);
            lists.starts.push(lists.items.len() as u32);
        }
        lists
    }

    pub(crate) fn get(&self, i: usize) -> &[T] {
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&from), Some(&to)) => self
                .items
                .get(from as usize..to as usize)
                .unwrap_or_default(),
            _ => &[],
        }
    }
}

/// First two chars -> the atoms starting with them, in an open-addressed
/// table: a probe reads the packed keys (8 bytes a slot), only a found pair
/// reads its place in `atoms`, where the atoms of a pair lie together.
#[derive(Debug, Clone, Default)]
pub(crate) struct BigramTable {
    /// `bigram_key` of each slot; `EMPTY_PAIR` for a free one.
    keys: Vec<u64>,
    /// The slot's atoms: `atoms[from..to]`.
    places: Vec<(u32, u32)>,
    /// log2 of `keys.len()`.
    bits: u32,
    atoms: Vec<JaAtom>,
}

/// No char pair has this key (chars are below 0x110000).
const EMPTY_PAIR: u64 = u64::MAX;

impl BigramTable {
    fn new(lists: Vec<((char, char), Vec<JaAtom>)>) -> Self {
        // At most half full: a probe rarely reads a second slot, and an
        // insert always finds a free one (a cap on the size would let a huge
        // rule file fill the table and loop here at start-up).
        let bits = (lists.len() * 2)
            .next_power_of_two()
            .max(16)
            .trailing_zeros();
        let mut table = BigramTable {
            keys: vec![EMPTY_PAIR; 1 << bits],
            places: vec![(0, 0); 1 << bits],
            bits,
            atoms: Vec::new(),
        };
        let mask = table.keys.len() - 1;
        for ((a, b), atoms) in lists {
            let from = table.atoms.len() as u32;
            table.atoms.extend(atoms);
            let to = table.atoms.len() as u32;
            let mut i = table.home(a, b);
            while table.keys[i] != EMPTY_PAIR {
                i = (i + 1) & mask;
            }
            table.keys[i] = bigram_key(a, b);
            table.places[i] = (from, to);
        }
        table
    }

    fn home(&self, a: char, b: char) -> usize {
        (pair_hash(a, b) >> (32 - self.bits)) as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.atoms.is_empty()
    }

    /// The atoms starting with `a`, `b`, in the order they were added.
    pub(crate) fn get(&self, a: char, b: char) -> &[JaAtom] {
        let key = bigram_key(a, b);
        let mask = self.keys.len().wrapping_sub(1);
        let mut i = self.home(a, b);
        while let Some(&k) = self.keys.get(i) {
            if k == key {
                let &(from, to) = self.places.get(i).unwrap_or(&(0, 0));
                return self
                    .atoms
                    .get(from as usize..to as usize)
                    .unwrap_or_default();
            }
            if k == EMPTY_PAIR {
                break;
            }
            i = (i + 1) & mask;
        }
        &[]
    }
}

/// What an English word is to negation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cue {
    /// In `[negation] en_before`: negates a term right after it.
    pub negator: bool,
    /// In `[negation] en_not`: one of the words `{not}` stands for.
    pub not: bool,
}

impl Rules {
    /// What `word` (a normalised text word) is to negation.
    pub(crate) fn cue(&self, word: &str) -> Cue {
        let Some(&first) = word.as_bytes().first() else {
            return Cue::default();
        };
        let maybe = self
            .cue_shapes
            .get(usize::from(first))
            .is_some_and(|lengths| lengths >> word.len().min(31) & 1 == 1);
        if !maybe {
            return Cue::default();
        }
        self.en_cues.get(word).copied().unwrap_or_default()
    }
}

fn cue_shapes(cues: &FastMap<String, Cue>) -> Vec<u32> {
    let mut shapes = vec![0u32; 256];
    for word in cues.keys() {
        if let Some(&first) = word.as_bytes().first() {
            shapes[usize::from(first)] |= 1 << word.len().min(31);
        }
    }
    shapes
}

fn en_cues(negators: Vec<String>, nots: Vec<String>) -> FastMap<String, Cue> {
    let mut cues: FastMap<String, Cue> = FastMap::default();
    for w in negators {
        cues.entry(w).or_default().negator = true;
    }
    for w in nots {
        cues.entry(w).or_default().not = true;
    }
    cues
}

/// 65536 bits (8 KiB), in a fixed-size array: a 16-bit index needs no
/// bounds check.
#[derive(Debug, Clone)]
struct Bits(Box<[u64; 1 << 10]>);

impl Default for Bits {
    fn default() -> Self {
        Bits(Box::new([0; 1 << 10]))
    }
}

impl Bits {
    fn set(&mut self, k: u16) {
        self.0[usize::from(k >> 6)] |= 1 << (k & 63);
    }

    fn get(&self, k: u16) -> bool {
        self.0[usize::from(k >> 6)] >> (k & 63) & 1 == 1
    }
}

/// A set of chars kept by their low 16 bits (8 KiB): "maybe in the set"
/// in a few instructions, with false positives only.
#[derive(Debug, Clone, Default)]
pub(crate) struct CharFilter(Bits);

impl CharFilter {
    fn insert(&mut self, c: char) {
        self.0.set(u32::from(c) as u16);
    }

    pub(crate) fn may_contain(&self, c: char) -> bool {
        self.0.get(u32::from(c) as u16)
    }
}

/// A set of char pairs kept by a 16-bit hash of the pair (8 KiB), like
/// [`CharFilter`]: false positives only.
#[derive(Debug, Clone, Default)]
pub(crate) struct PairFilter(Bits);

/// The hash of a char pair [`PairFilter`] and [`BigramTable`] share: its
/// top bits pick the bit and the slot, so the table's probe reuses it.
fn pair_hash(a: char, b: char) -> u32 {
    (u32::from(a).wrapping_mul(0x9E37_79B1) ^ u32::from(b)).wrapping_mul(0x85EB_CA6B)
}

impl PairFilter {
    fn insert(&mut self, a: char, b: char) {
        self.0.set((pair_hash(a, b) >> 16) as u16);
    }

    pub(crate) fn may_contain(&self, a: char, b: char) -> bool {
        self.0.get((pair_hash(a, b) >> 16) as u16)
    }
}

/// The word id `{not}` compiles to.
pub(crate) const NOT_WORD: u32 = u32::MAX;

/// No word: the id of a text word the rules do not know, the next word of a
/// one-word term. Never in a term.
pub(crate) const NO_WORD: u32 = u32::MAX - 1;

pub(crate) fn bigram_key(a: char, b: char) -> u64 {
    (u64::from(u32::from(a)) << 32) | u64::from(u32::from(b))
}

/// The matcher's indexes as they grow while the rules load, packed into
/// `Rules` at the end.
#[derive(Default)]
struct Pending {
    /// Every (category, term) compiled so far, to drop duplicates.
    compiled: HashSet<(usize, TermKind)>,
    en_first: Vec<Vec<EnStart>>,
    /// Atom chars -> atom id.
    atom_ids: HashMap<Vec<char>, u32>,
    ja_bigram: FastMap<(char, char), Vec<JaAtom>>,
    ja_first: Vec<Vec<JaStart>>,
}

/// What the terms of one `[[terms]]` group share.
struct TermGroup<'a> {
    /// Index into `Rules::categories`.
    cat: usize,
    weight: f32,
    once_group: Option<u32>,
    /// `[categories.name]`, for error messages.
    label: &'a str,
}

/// Collects the first error with the line it happened on.
struct Checker<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Checker<'_> {
    fn err(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ConfigError {
        let start = span.start.min(self.text.len());
        let line = self.text[..start].matches('\n').count() + 1;
        ConfigError::Invalid {
            path: self.origin.to_string(),
            line,
            message: message.into(),
        }
    }

    fn positive(
        &self,
        v: &Option<Spanned<f64>>,
        what: &str,
        default: f32,
    ) -> Result<f32, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if s.get_ref().is_finite() && *s.get_ref() > 0.0 && *s.get_ref() <= 100.0 => {
                Ok(*s.get_ref() as f32)
            }
            Some(s) => Err(self.err(
                s.span(),
                format!(
                    "{what} must be a number above 0 and at most 100, not {}",
                    s.get_ref()
                ),
            )),
        }
    }

    /// A number from 0 to `max` (zero allowed).
    fn ratio(
        &self,
        v: &Option<Spanned<f64>>,
        what: &str,
        default: f32,
        max: f64,
    ) -> Result<f32, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if s.get_ref().is_finite() && (0.0..=max).contains(s.get_ref()) => {
                Ok(*s.get_ref() as f32)
            }
            Some(s) => Err(self.err(
                s.span(),
                format!(
                    "{what} must be a number from 0 to {max}, not {}",
                    s.get_ref()
                ),
            )),
        }
    }

    fn count(
        &self,
        v: &Option<Spanned<i64>>,
        what: &str,
        default: usize,
        max: i64,
    ) -> Result<usize, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if (0..=max).contains(s.get_ref()) => Ok(*s.get_ref() as usize),
            Some(s) => Err(self.err(
                s.span(),
                format!(
                    "{what} must be a whole number from 0 to {max}, not {}",
                    s.get_ref()
                ),
            )),
        }
    }

    fn category(&self, name: &Spanned<String>, context: &str) -> Result<Category, ConfigError> {
        name.get_ref()
            .parse::<Category>()
            .map_err(|e| self.err(name.span(), format!("{context}: {e}")))
    }

    fn words(&self, list: &[Spanned<String>], what: &str) -> Result<Vec<String>, ConfigError> {
        list.iter()
            .map(|s| {
                let n = normalize(s.get_ref().trim());
                if n.is_empty() {
                    Err(self.err(s.span(), format!("{what}: an entry is empty")))
                } else {
                    Ok(n)
                }
            })
            .collect()
    }
}

impl Rules {
    /// Parse rules from TOML text. `origin` names the file in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Rules, ConfigError> {
        let raw: RawRules = toml::from_str(text).map_err(|e| ConfigError::toml(origin, text, e))?;
        let ck = Checker { origin, text };
        let d = Settings::default();
        let s = &raw.settings;
        let settings = Settings {
            subject_weight: ck.positive(
                &s.subject_weight,
                "[settings] subject_weight",
                d.subject_weight,
            )?,
            reply_subject_weight: ck.ratio(
                &s.reply_subject_weight,
                "[settings] reply_subject_weight",
                d.reply_subject_weight,
                100.0,
            )?,
            margin: match &s.margin {
                Some(m) if *m.get_ref() == 0.0 => 0.0,
                m => ck.positive(m, "[settings] margin", d.margin)?,
            },
            en_gap: ck.count(&s.en_gap, "[settings] en_gap", d.en_gap, 10)?,
            ja_gap: ck.count(&s.ja_gap, "[settings] ja_gap", d.ja_gap, 40)?,
            fuzzy_min_len: ck.count(
                &s.fuzzy_min_len,
                "[settings] fuzzy_min_len",
                d.fuzzy_min_len,
                100,
            )?,
            en_window: ck.count(
                &raw.negation.en_window,
                "[negation] en_window",
                d.en_window,
                10,
            )?,
            ja_window: ck.count(
                &raw.negation.ja_window,
                "[negation] ja_window",
                d.ja_window,
                20,
            )?,
        };
        let default_threshold = ck.positive(&s.threshold, "[settings] threshold", 2.0)?;
        let default_outrank_ratio =
            ck.ratio(&s.outrank_ratio, "[settings] outrank_ratio", 0.5, 100.0)?;

        let a = &raw.auto;
        let auto = AutoRules {
            sender_locals: ck.words(&a.sender_locals, "[auto] sender_locals")?,
            subject_prefixes: ck.words(&a.subject_prefixes, "[auto] subject_prefixes")?,
            body_openings: ck.words(&a.body_openings, "[auto] body_openings")?,
            body_openings_compact: ck
                .words(&a.body_openings, "[auto] body_openings")?
                .iter()
                .map(|o| compact(o))
                .collect(),
            body_window: ck.count(&a.body_window, "[auto] body_window", 200, 10_000)?,
            body_max_len: ck.count(&a.body_max_len, "[auto] body_max_len", 1200, 100_000)?,
        };

        let mut rules = Rules {
            origin: origin.to_string(),
            settings,
            auto,
            en_cues: en_cues(
                ck.words(&raw.negation.en_before, "[negation] en_before")?,
                ck.words(&raw.negation.en_not, "[negation] en_not")?,
            ),
            ja_negators: ck
                .words(&raw.negation.ja_after, "[negation] ja_after")?
                .iter()
                .map(|w| compact(w))
                .collect(),
            ..Rules::default()
        };
        rules.cue_shapes = cue_shapes(&rules.en_cues);
        rules.ja_negator_starts =
            rules
                .ja_negators
                .iter()
                .try_fold(CharFilter::default(), |mut starts, cue| {
                    starts.insert(*cue.first()?);
                    Some(starts)
                });

        let group_once = s.group_once.unwrap_or(false);
        let mut next_group = 0u32;
        // Only loading needs these lists as they grow: `Rules` keeps them packed.
        let mut pending = Pending::default();
        for (name, cat) in &raw.categories {
            let category = ck.category(name, "[categories] has a table for an unknown category")?;
            if category == Category::AutoGenerated {
                return Err(ck.err(
                    name.span(),
                    "[categories.auto_generated]: auto-generated mail is detected by the [auto] section, not by terms",
                ));
            }
            let label = format!("[categories.{}]", name.get_ref());
            let idx = rules.categories.len();
            let mut outranks = Vec::new();
            for o in &cat.outranks {
                if o.get_ref() == "*" {
                    outranks.extend(Category::ALL.iter().copied().filter(|c| *c != category));
                } else {
                    outranks.push(ck.category(o, &format!("{label} outranks"))?);
                }
            }
            let related = cat
                .related
                .iter()
                .map(|r| ck.category(r, &format!("{label} related")))
                .collect::<Result<Vec<_>, _>>()?;
            rules.categories.push(CategoryRules {
                category,
                outrank_ratio: ck.ratio(
                    &cat.outrank_ratio,
                    &format!("{label} outrank_ratio"),
                    default_outrank_ratio,
                    100.0,
                )?,
                threshold: ck.positive(
                    &cat.threshold,
                    &format!("{label} threshold"),
                    default_threshold,
                )?,
                outranks,
                related,
            });
            for group in &cat.terms {
                let w = *group.weight.get_ref();
                if !w.is_finite() || w == 0.0 || w.abs() > 100.0 {
                    return Err(ck.err(
                        group.weight.span(),
                        format!("{label} terms: weight must be a non-zero number from -100 to 100, not {w}"),
                    ));
                }
                if group.en.is_empty() && group.ja.is_empty() {
                    return Err(ck.err(
                        group.weight.span(),
                        format!("{label} terms: a [[terms]] group with weight {w} lists no `en` or `ja` terms"),
                    ));
                }
                let once = group.once.unwrap_or(group_once).then_some(next_group);
                next_group += 1;
                let into = TermGroup {
                    cat: idx,
                    weight: w as f32,
                    once_group: once,
                    label: &label,
                };
                for t in group.en.iter().chain(&group.ja) {
                    rules.add_term(&ck, &mut pending, &into, t)?;
                }
            }
        }
        rules.en_first = Lists::from_nested(pending.en_first);
        rules.ja_first = Lists::from_nested(pending.ja_first);
        rules.ja_bigram = BigramTable::new(pending.ja_bigram.into_iter().collect());
        Ok(rules)
    }

    fn add_term(
        &mut self,
        ck: &Checker<'_>,
        pending: &mut Pending,
        group: &TermGroup<'_>,
        term: &Spanned<String>,
    ) -> Result<(), ConfigError> {
        let &TermGroup {
            cat,
            weight,
            once_group,
            label,
        } = group;
        let written = term.get_ref().trim();
        let norm = normalize(written);
        let parts: Vec<&str> = norm.split("..").map(str::trim).collect();
        if norm.trim().is_empty() || parts.iter().any(|p| p.is_empty()) {
            return Err(ck.err(
                term.span(),
                format!("{label} term `{written}` is empty or has an empty side of `..`"),
            ));
        }
        // A term with any non-ASCII character is Japanese: matched as a
        // substring of the compact text. Otherwise it is English words.
        let kind = if norm.is_ascii() {
            let mut segs = Vec::new();
            for p in &parts {
                let mut seg = Vec::new();
                for chunk in p.split_whitespace() {
                    if chunk == "{not}" {
                        if !self.en_cues.values().any(|c| c.not) {
                            return Err(ck.err(
                                term.span(),
                                format!("{label} term `{written}` uses {{not}} but [negation] en_not lists no words"),
                            ));
                        }
                        seg.push(NOT_WORD);
                        continue;
                    }
                    for w in chunk
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '\''))
                        .filter(|w| !w.is_empty())
                    {
                        seg.push(self.word_id(pending, w));
                    }
                }
                if seg.is_empty() {
                    return Err(ck.err(
                        term.span(),
                        format!("{label} term `{written}` has no words"),
                    ));
                }
                segs.push(seg);
            }
            TermKind::En(segs)
        } else {
            let mut atoms = Vec::new();
            for p in &parts {
                let chars = compact(p);
                if chars.len() < 2 {
                    return Err(ck.err(
                        term.span(),
                        format!(
                            "{label} term `{written}`: a Japanese term (or each side of `..`) needs at least two characters"
                        ),
                    ));
                }
                atoms.push(self.atom_id(pending, chars));
            }
            TermKind::Ja(atoms)
        };
        // "works now" and "working now" stem alike: the same term twice would count twice.
        if !pending.compiled.insert((cat, kind.clone())) {
            return Ok(());
        }
        let id = self.terms.len() as u32;
        match &kind {
            TermKind::En(segs) => {
                // One segment of one or two words: the start entry is the whole term.
                let settled = segs.len() == 1 && segs[0].len() <= 2;
                let code = if settled {
                    NO_CODE
                } else {
                    let code = self.en_code.len() as u32;
                    self.en_code.push(segs.len() as u32);
                    for seg in segs {
                        self.en_code.push(seg.len() as u32);
                        self.en_code.extend_from_slice(seg);
                    }
                    code
                };
                let start = EnStart {
                    term: id,
                    next: segs[0].get(1).copied().unwrap_or(NO_WORD),
                    code,
                };
                match segs[0][0] {
                    NOT_WORD => self.not_first.push(start),
                    first => pending.en_first[first as usize].push(start),
                }
            }
            TermKind::Ja(atoms) => {
                let from = self.ja_chain.len() as u32;
                self.ja_chain.extend_from_slice(&atoms[1..]);
                let start = JaStart {
                    term: id,
                    from,
                    to: self.ja_chain.len() as u32,
                };
                pending.ja_first[atoms[0] as usize].push(start);
            }
        }
        self.terms.push(Term {
            cat,
            once_group,
            weight,
            evidence: [format!("subject:{written}"), format!("body:{written}")],
        });
        Ok(())
    }

    fn word_id(&mut self, pending: &mut Pending, word: &str) -> u32 {
        let s = stem(word).into_owned();
        if let Some(id) = self.vocab.get(&s) {
            return *id;
        }
        let id = pending.en_first.len() as u32;
        pending.en_first.push(Vec::new());
        if s.len() >= 6 {
            if self.fuzzy.len() <= s.len() {
                self.fuzzy.resize(s.len() + 1, Vec::new());
                self.fuzzy_masks.resize(s.len() + 1, Vec::new());
            }
            let place = (s.len() as u32, self.fuzzy[s.len()].len() as u32);
            for_each_deletion_hash(s.as_bytes(), |key| {
                let places = self.fuzzy_near.entry(key).or_default();
                // Deleting either of two equal neighbours gives the same form.
                if places.last() != Some(&place) {
                    places.push(place);
                }
            });
            self.fuzzy_masks[s.len()].push(letter_mask(&s));
            self.fuzzy[s.len()].push(FuzzyWord {
                id,
                counts: letter_counts(&s),
                stem: s.clone(),
            });
        }
        self.vocab.insert(s, id);
        id
    }

    fn atom_id(&mut self, pending: &mut Pending, chars: Vec<char>) -> u32 {
        if let Some(&id) = pending.atom_ids.get(&chars) {
            return id;
        }
        let id = pending.atom_ids.len() as u32;
        let atom = JaAtom {
            id,
            from: self.ja_chars.len() as u32,
            len: chars.len() as u32,
            third: chars.get(2).copied().unwrap_or('\0'),
        };
        let pair = (chars[0], chars[1]);
        pending.ja_bigram.entry(pair).or_default().push(atom);
        self.ja_starts.insert(chars[0]);
        self.ja_pairs.insert(chars[0], chars[1]);
        self.ja_chars.extend_from_slice(&chars);
        pending.ja_first.push(Vec::new());
        pending.atom_ids.insert(chars, id);
        id
    }

    /// The file the rules were read from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How many terms were compiled (all categories, both languages).
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match Rules::from_toml(text, "rules.toml") {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_category_names_file_and_line() {
        let e = err("[settings]\nmargin = 1.0\n\n[categories.lost_phone]\nthreshold = 2.0\n");
        assert!(e.starts_with("rules.toml, line 4:"), "{e}");
        assert!(e.contains("lost_phone"), "{e}");
    }

    #[test]
    fn empty_term_is_rejected_with_its_line() {
        let e = err(
            "[categories.phone_lost]\n[[categories.phone_lost.terms]]\nweight = 2\nen = [\"lost my phone\",\n  \"  \"]\n",
        );
        assert!(e.starts_with("rules.toml, line 5:"), "{e}");
        assert!(e.contains("phone_lost"), "{e}");
    }

    #[test]
    fn bad_weight_is_rejected() {
        let e = err(
            "[categories.setup_help]\n[[categories.setup_help.terms]]\nweight = 0\nen = [\"qr code\"]\n",
        );
        assert!(e.starts_with("rules.toml, line 3:"), "{e}");
        assert!(e.contains("weight"), "{e}");
        let e = err(
            "[categories.setup_help]\n[[categories.setup_help.terms]]\nweight = nan\nen = [\"qr\"]\n",
        );
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn unknown_key_and_bad_outranks_are_rejected() {
        // toml reports an unknown key at its table; the message names the key.
        let e = err("[settings]\nsubject_weigth = 2\n");
        assert!(e.starts_with("rules.toml, line "), "{e}");
        assert!(e.contains("subject_weigth"), "{e}");
        let e = err("[categories.phone_lost]\noutranks = [\"code\"]\n");
        assert!(e.contains("line 2") && e.contains("outranks"), "{e}");
    }

    #[test]
    fn short_japanese_term_is_rejected() {
        let e = err(
            "[categories.phone_lost]\n[[categories.phone_lost.terms]]\nweight = 1\nja = [\"紛\"]\n",
        );
        assert!(e.contains("line 4") && e.contains("two characters"), "{e}");
    }

    #[test]
    fn packed_lists_and_bigrams_keep_order() {
        let lists = Lists::from_nested(vec![vec![1u32, 2], vec![], vec![3]]);
        assert_eq!(lists.get(0), [1, 2]);
        assert!(lists.get(1).is_empty());
        assert_eq!(lists.get(2), [3]);
        assert!(lists.get(3).is_empty());
        let atom = |id| JaAtom {
            id,
            from: 0,
            len: 2,
            third: '\0',
        };
        let pairs: Vec<((char, char), Vec<JaAtom>)> = (0..40u32)
            .map(|k| {
                (
                    ('あ', char::from_u32(0x4E00 + k).unwrap_or('x')),
                    vec![atom(k), atom(k + 100)],
                )
            })
            .collect();
        let table = BigramTable::new(pairs);
        for k in 0..40u32 {
            let b = char::from_u32(0x4E00 + k).unwrap_or('x');
            let ids: Vec<u32> = table.get('あ', b).iter().map(|a| a.id).collect();
            assert_eq!(ids, [k, k + 100]);
            assert!(table.get(b, 'あ').is_empty());
        }
    }

    #[test]
    fn shipped_rules_load() {
        let text = include_str!("../../config/rules.toml");
        let rules = Rules::from_toml(text, "config/rules.toml").expect("shipped rules must load");
        assert!(rules.term_count() > 100);
    }
}
