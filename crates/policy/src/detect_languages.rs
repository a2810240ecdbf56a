//! `detect_languages`: the language of each paragraph of natural text (code blocks and URLs
//! skipped), by script for non-Latin scripts and by function-word frequency for Latin-script
//! languages, checked against an allowed or denied list of ISO 639-1 codes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::code::is_code_line;
use crate::error::PolicyConfigError;
use crate::message::{MessageInput, Role};
use crate::normalize::words;
use crate::params::invalid;
use crate::policy::{Detector, Policy};
use crate::scan::{Hit, ScanText, Severity};

/// `detect_languages` parameters. Codes are ISO 639-1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectLanguagesParams {
    /// If non-empty, only these languages are allowed.
    pub allowed: Vec<String>,
    /// These languages are never allowed.
    pub denied: Vec<String>,
    /// Natural text shorter than this many letters is not judged.
    pub min_letters: usize,
}

impl Default for DetectLanguagesParams {
    fn default() -> Self {
        Self {
            allowed: vec!["en".into()],
            denied: Vec::new(),
            min_letters: 40,
        }
    }
}

/// Supported languages: code, name, and for Latin-script languages their frequent function
/// words (the most common short words of each language's frequency lists).
const LANGUAGES: &[(&str, &str, &[&str])] = &[
    (
        "en",
        "English",
        &[
            "the", "and", "is", "are", "of", "to", "in", "that", "it", "for", "you", "with",
            "this", "have", "be", "on", "not", "what", "can", "how", "was", "please", "would",
            "from", "my", "we", "they", "an", "or", "will",
        ],
    ),
    (
        "fr",
        "French",
        &[
            "le", "la", "les", "et", "est", "des", "une", "un", "du", "que", "pour", "dans", "pas",
            "qui", "sur", "avec", "vous", "nous", "je", "ce", "il", "au", "sont", "mais", "ou",
            "mon", "votre", "cette", "très", "être",
        ],
    ),
    (
        "de",
        "German",
        &[
            "der", "die", "und", "das", "ist", "nicht", "ich", "sie", "es", "mit", "den", "ein",
            "eine", "zu", "auf", "für", "von", "dem", "sich", "auch", "wie", "wir", "bitte",
            "kann", "oder", "aber", "haben", "wird", "sind", "mein",
        ],
    ),
    (
        "es",
        "Spanish",
        &[
            "el",
            "la",
            "los",
            "las",
            "de",
            "que",
            "y",
            "en",
            "es",
            "por",
            "con",
            "para",
            "una",
            "un",
            "del",
            "se",
            "lo",
            "como",
            "más",
            "pero",
            "sus",
            "muy",
            "está",
            "son",
            "yo",
            "mi",
            "puedes",
            "por favor",
            "también",
            "hola",
        ],
    ),
    (
        "it",
        "Italian",
        &[
            "il", "di", "che", "è", "e", "la", "per", "un", "una", "non", "sono", "del", "della",
            "con", "gli", "le", "mi", "si", "ho", "come", "anche", "questo", "ma", "più", "io",
            "puoi", "grazie", "nel", "alla", "essere",
        ],
    ),
    (
        "pt",
        "Portuguese",
        &[
            "o", "a", "os", "as", "de", "que", "e", "do", "da", "em", "um", "uma", "para", "com",
            "não", "por", "mais", "se", "como", "mas", "foi", "ao", "seu", "sua", "você", "isso",
            "está", "obrigado", "são", "nos",
        ],
    ),
    (
        "nl",
        "Dutch",
        &[
            "de",
            "het",
            "een",
            "en",
            "van",
            "is",
            "dat",
            "niet",
            "ik",
            "je",
            "op",
            "te",
            "zijn",
            "voor",
            "met",
            "die",
            "maar",
            "ook",
            "er",
            "wat",
            "kan",
            "wij",
            "deze",
            "naar",
            "bij",
            "heb",
            "dit",
            "hoe",
            "alstublieft",
            "graag",
        ],
    ),
    (
        "sv",
        "Swedish",
        &[
            "och", "att", "det", "som", "en", "är", "jag", "på", "för", "med", "inte", "av",
            "till", "den", "har", "de", "ett", "om", "vi", "kan", "du", "men", "så", "var", "hur",
            "från", "eller", "också", "mycket", "tack",
        ],
    ),
    (
        "da",
        "Danish",
        &[
            "og", "at", "det", "er", "en", "til", "på", "jeg", "for", "med", "ikke", "af", "den",
            "har", "de", "et", "som", "vi", "kan", "du", "men", "så", "var", "hvordan", "fra",
            "eller", "også", "meget", "tak", "mig",
        ],
    ),
    (
        "no",
        "Norwegian",
        &[
            "og", "i", "det", "er", "en", "til", "på", "jeg", "for", "med", "ikke", "av", "den",
            "har", "de", "et", "som", "vi", "kan", "du", "men", "så", "var", "hvordan", "fra",
            "eller", "også", "veldig", "takk", "meg",
        ],
    ),
    (
        "fi",
        "Finnish",
        &[
            "ja", "on", "ei", "se", "että", "oli", "hän", "mutta", "kun", "niin", "kuin", "myös",
            "tai", "minä", "sinä", "me", "he", "ovat", "mitä", "miten", "voit", "kiitos", "tämä",
            "joka", "jos", "vain", "nyt", "ole", "olla", "siitä",
        ],
    ),
    (
        "pl",
        "Polish",
        &[
            "i",
            "w",
            "nie",
            "na",
            "to",
            "jest",
            "że",
            "się",
            "z",
            "do",
            "co",
            "jak",
            "ale",
            "po",
            "tak",
            "za",
            "od",
            "o",
            "już",
            "mnie",
            "czy",
            "tylko",
            "jestem",
            "proszę",
            "dla",
            "być",
            "może",
            "ten",
            "ta",
            "dziękuję",
        ],
    ),
    (
        "cs",
        "Czech",
        &[
            "a", "je", "to", "že", "se", "na", "v", "s", "z", "do", "jak", "ale", "o", "jsem",
            "mi", "by", "tak", "co", "jsou", "pro", "prosím", "děkuji", "také", "jeho", "její",
            "nebo", "když", "už", "není", "být",
        ],
    ),
    (
        "tr",
        "Turkish",
        &[
            "ve",
            "bir",
            "bu",
            "da",
            "de",
            "için",
            "ile",
            "ne",
            "çok",
            "ben",
            "sen",
            "o",
            "mi",
            "değil",
            "var",
            "yok",
            "gibi",
            "daha",
            "ama",
            "nasıl",
            "lütfen",
            "teşekkür",
            "olarak",
            "kadar",
            "sonra",
            "şey",
            "her",
            "ya",
            "ki",
            "bana",
        ],
    ),
    (
        "ro",
        "Romanian",
        &[
            "și",
            "în",
            "de",
            "la",
            "este",
            "nu",
            "cu",
            "pe",
            "un",
            "o",
            "care",
            "sunt",
            "din",
            "pentru",
            "mai",
            "ce",
            "să",
            "se",
            "am",
            "dar",
            "ca",
            "sau",
            "vă",
            "rog",
            "mulțumesc",
            "acest",
            "această",
            "fi",
            "foarte",
            "eu",
        ],
    ),
    (
        "id",
        "Indonesian",
        &[
            "dan",
            "yang",
            "di",
            "ini",
            "itu",
            "dengan",
            "untuk",
            "tidak",
            "dari",
            "dalam",
            "akan",
            "ke",
            "ada",
            "saya",
            "anda",
            "bisa",
            "juga",
            "atau",
            "kami",
            "mereka",
            "tolong",
            "terima",
            "kasih",
            "apa",
            "bagaimana",
            "sudah",
            "karena",
            "pada",
            "adalah",
            "sangat",
        ],
    ),
    ("ru", "Russian", &[]),
    ("uk", "Ukrainian", &[]),
    ("bg", "Bulgarian", &[]),
    ("el", "Greek", &[]),
    ("ar", "Arabic", &[]),
    ("fa", "Persian", &[]),
    ("he", "Hebrew", &[]),
    ("hi", "Hindi", &[]),
    ("th", "Thai", &[]),
    ("zh", "Chinese", &[]),
    ("ja", "Japanese", &[]),
    ("ko", "Korean", &[]),
];

/// The language name of a supported ISO 639-1 code.
pub fn language_name(code: &str) -> Option<&'static str> {
    LANGUAGES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, n, _)| *n)
}

/// Every supported code.
pub fn supported_codes() -> Vec<&'static str> {
    LANGUAGES.iter().map(|(c, _, _)| *c).collect()
}

const BULGARIAN_WORDS: &[&str] = &[
    "и",
    "на",
    "да",
    "се",
    "за",
    "от",
    "не",
    "е",
    "са",
    "като",
    "това",
    "но",
    "съм",
    "със",
    "ще",
    "във",
    "към",
    "който",
    "какво",
];
const RUSSIAN_WORDS: &[&str] = &[
    "и",
    "в",
    "не",
    "на",
    "что",
    "я",
    "с",
    "он",
    "как",
    "это",
    "по",
    "но",
    "они",
    "к",
    "у",
    "же",
    "вы",
    "за",
    "бы",
    "так",
    "от",
    "мне",
    "есть",
    "пожалуйста",
];

/// Function word -> bit set of the Latin-script languages (indexes into `LANGUAGES`) it
/// belongs to.
static FUNCTION_WORDS: LazyLock<HashMap<&'static [u8], u32, BuildHasherDefault<Fnv>>> =
    LazyLock::new(|| {
        let mut map: HashMap<&'static [u8], u32, BuildHasherDefault<Fnv>> = HashMap::default();
        for (i, (_, _, words)) in LANGUAGES.iter().enumerate() {
            for w in *words {
                *map.entry(w.as_bytes()).or_insert(0) |= 1 << i;
            }
        }
        map
    });

/// The ASCII function words of `FUNCTION_WORDS` (at most 16 bytes) packed into `u128`
/// keys of an open-addressing table: `detect_ascii` looks up every word of a message, and
/// one multiply-shift hash of the packed word is far cheaper than hashing a byte slice.
struct AsciiWordTable {
    slots: Vec<(u128, u32)>,
}

const ASCII_TABLE_BITS: u32 = 11;

impl AsciiWordTable {
    fn build() -> AsciiWordTable {
        let mut slots = vec![(0u128, 0u32); 1 << ASCII_TABLE_BITS];
        for (word, mask) in FUNCTION_WORDS.iter() {
            let Some(key) = pack(word) else { continue };
            let mut i = slot_of(key);
            while slots[i].0 != 0 && slots[i].0 != key {
                i = (i + 1) & (slots.len() - 1);
            }
            slots[i] = (key, slots[i].1 | mask);
        }
        AsciiWordTable { slots }
    }

    /// The language mask of a lowercase ASCII word packed by `pack`.
    fn get_key(&self, key: u128) -> Option<u32> {
        let mut i = slot_of(key);
        loop {
            match self.slots[i] {
                (0, _) => return None,
                (k, mask) if k == key => return Some(mask),
                _ => i = (i + 1) & (self.slots.len() - 1),
            }
        }
    }
}

/// A non-empty ASCII word of at most 16 bytes as a number (zero bytes fill the rest, so
/// distinct words get distinct keys and no key is 0).
fn pack(word: &[u8]) -> Option<u128> {
    if word.is_empty() || word.len() > 16 || !word.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes[..word.len()].copy_from_slice(word);
    Some(u128::from_le_bytes(bytes))
}

fn slot_of(key: u128) -> usize {
    let folded = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - ASCII_TABLE_BITS)) as usize
}

static ASCII_FUNCTION_WORDS: LazyLock<AsciiWordTable> = LazyLock::new(AsciiWordTable::build);

/// FNV-1a: short keys, no adversarial input concerns for a read-only table of function
/// words, and much cheaper than SipHash per word.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Detects the language of a stretch of natural text, or `None` when it cannot tell.
pub(crate) fn detect(text: &str) -> Option<&'static str> {
    if text.is_ascii() {
        return detect_ascii(text).1;
    }
    let (
        mut latin,
        mut cyr,
        mut greek,
        mut arabic,
        mut hebrew,
        mut deva,
        mut thai,
        mut han,
        mut kana,
        mut hangul,
    ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    let mut ukr = 0;
    let mut persian = 0;
    for c in text.chars() {
        let u = c as u32;
        match u {
            0x41..=0x5A | 0x61..=0x7A | 0xC0..=0x24F => latin += 1,
            0x400..=0x4FF => {
                cyr += 1;
                if matches!(c, 'і' | 'ї' | 'є' | 'ґ' | 'І' | 'Ї' | 'Є' | 'Ґ') {
                    ukr += 1;
                }
            }
            0x370..=0x3FF => greek += 1,
            0x600..=0x6FF => {
                arabic += 1;
                if matches!(c, 'پ' | 'چ' | 'ژ' | 'گ' | 'ک' | 'ی') {
                    persian += 1;
                }
            }
            0x590..=0x5FF => hebrew += 1,
            0x900..=0x97F => deva += 1,
            0xE00..=0xE7F => thai += 1,
            0x4E00..=0x9FFF => han += 1,
            0x3040..=0x30FF => kana += 1,
            0xAC00..=0xD7AF | 0x1100..=0x11FF => hangul += 1,
            _ => {}
        }
    }
    let scripts = [
        (cyr, "cyr"),
        (greek, "el"),
        (arabic, "ar"),
        (hebrew, "he"),
        (deva, "hi"),
        (thai, "th"),
        (han + kana, "cjk"),
        (hangul, "ko"),
        (latin, "latin"),
    ];
    let total: usize = scripts.iter().map(|s| s.0).sum();
    if total == 0 {
        return None;
    }
    let (count, script) = scripts.iter().copied().max_by_key(|s| s.0)?;
    if count * 2 < total {
        return None;
    }
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphabetic() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    Some(match script {
        "cyr" => {
            if ukr > 0 {
                "uk"
            } else {
                let bg = words.iter().filter(|w| BULGARIAN_WORDS.contains(w)).count();
                let ru = words.iter().filter(|w| RUSSIAN_WORDS.contains(w)).count();
                if bg > ru {
                    "bg"
                } else {
                    "ru"
                }
            }
        }
        "ar" => {
            if persian * 20 > arabic {
                "fa"
            } else {
                "ar"
            }
        }
        "cjk" => {
            if kana > 0 {
                "ja"
            } else {
                "zh"
            }
        }
        "latin" => {
            let mut counts = [0usize; 32];
            for w in &words {
                if let Some(mask) = FUNCTION_WORDS.get(w.as_bytes()) {
                    for (i, count) in counts.iter_mut().enumerate().take(LANGUAGES.len()) {
                        if mask & (1 << i) != 0 {
                            *count += 1;
                        }
                    }
                }
            }
            let mut ranked: Vec<(usize, usize)> = counts
                .iter()
                .copied()
                .enumerate()
                .take(LANGUAGES.len())
                .map(|(i, c)| (c, i))
                .collect();
            ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let best = Some((LANGUAGES[ranked[0].1].0, ranked[0].0));
            let second = ranked[1].0;
            let (code, hits) = best?;
            // Few function words, or a near tie, is too little to judge.
            if hits < 2 || hits * 10 < words.len() || hits <= second {
                return None;
            }
            code
        }
        other => other,
    })
}

/// Latin-script detection for ASCII text without allocating, in one pass that also
/// counts the letters: words lowercased into a stack buffer and looked up in the
/// function-word table.
fn detect_ascii(text: &str) -> (usize, Option<&'static str>) {
    let mut judge = AsciiJudge::new();
    judge.feed(text.as_bytes());
    judge.verdict()
}

/// Each ASCII byte lowercased if it is a letter, `'` for an apostrophe (both belong to a
/// word), 0 for every other byte (a word boundary).
static WORD_BYTE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if byte.is_ascii_alphabetic() {
            table[b] = byte.to_ascii_lowercase();
        } else if byte == b'\'' {
            table[b] = b'\'';
        }
        b += 1;
    }
    table
};

/// For eight ASCII bytes, the high bit of each byte that is a letter, and of each that is
/// an apostrophe (no carry crosses a byte: every byte is below 0x80).
fn word_bytes(w: u64) -> (u64, u64) {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let v = w | 0x2020_2020_2020_2020;
    // v >= b'a' and v <= b'z', byte by byte.
    let at_least_a = v + 0x1F1F_1F1F_1F1F_1F1F;
    let at_most_z = 0xFAFA_FAFA_FAFA_FAFA - v;
    let letter = at_least_a & at_most_z & HIGH;
    let x = w ^ 0x2727_2727_2727_2727;
    let apostrophe = !(((x & LOW7) + LOW7) | x) & HIGH;
    (letter, apostrophe)
}

/// The bytes that may mark an address for `may_hold_address`: `@`, `:` and `.`.
static ADDRESS_MARK: [bool; 256] = {
    let mut table = [false; 256];
    table[b'@' as usize] = true;
    table[b':' as usize] = true;
    table[b'.' as usize] = true;
    table
};

/// The running state of `detect_ascii`, so that a paragraph can be fed piece by piece
/// (its lines' words, addresses left out) without first being copied into one string.
#[derive(Clone)]
struct AsciiJudge {
    table: &'static AsciiWordTable,
    counts: [usize; 32],
    words: usize,
    letters: usize,
    // The current word (letters and apostrophes) lowercased, and its length, which may
    // exceed the 16 bytes a key holds; bytes past the length are stale.
    buf: [u8; 16],
    len: usize,
}

impl AsciiJudge {
    fn new() -> AsciiJudge {
        AsciiJudge {
            table: &ASCII_FUNCTION_WORDS,
            counts: [0; 32],
            words: 0,
            letters: 0,
            buf: [0; 16],
            len: 0,
        }
    }

    /// Continues the text with `bytes` (ASCII); a word may continue from the bytes fed
    /// before, as it would in one string.
    fn feed(&mut self, bytes: &[u8]) {
        // The hot loop works on locals; the state goes back into `self` at a word's end.
        let mut letters = self.letters;
        let mut len = self.len;
        for &b in bytes {
            let lower = WORD_BYTE[usize::from(b)];
            if lower != 0 {
                letters += usize::from(lower != b'\'');
                if let Some(slot) = self.buf.get_mut(len) {
                    *slot = lower;
                }
                len += 1;
            } else if len > 0 {
                self.len = len;
                self.end_word();
                len = 0;
            }
        }
        self.letters = letters;
        self.len = len;
    }

    /// `feed(line)` followed by `end_word()`, for an ASCII line fed at a word boundary,
    /// unless the line may hold an address (as `may_hold_address` tells): then `false`, and
    /// the state is partly updated. Each word's end is found eight bytes at a time and the
    /// word is looked up straight from the line's bytes, without being copied.
    fn feed_line(&mut self, line: &[u8]) -> bool {
        debug_assert_eq!(self.len, 0);
        debug_assert!(line.is_ascii());
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let n = line.len();
        let mut i = 0;
        let mut letters = 0;
        loop {
            while i < n && WORD_BYTE[usize::from(line[i])] == 0 {
                if ADDRESS_MARK[usize::from(line[i])]
                    && (line[i] != b'.' || i >= 3 && &line[i - 3..i] == b"www")
                {
                    return false;
                }
                i += 1;
            }
            if i == n {
                break;
            }
            let start = i;
            let mut apostrophes = 0;
            loop {
                let Some(chunk) = line.get(i..i + 8) else {
                    while i < n && WORD_BYTE[usize::from(line[i])] != 0 {
                        apostrophes += usize::from(line[i] == b'\'');
                        i += 1;
                    }
                    break;
                };
                let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
                let (letter, apostrophe) = word_bytes(w);
                let other = !(letter | apostrophe) & HIGH;
                if other == 0 {
                    if apostrophe != 0 {
                        apostrophes += apostrophe.count_ones() as usize;
                    }
                    i += 8;
                    continue;
                }
                let k = other.trailing_zeros() as usize / 8;
                if k > 0 && apostrophe != 0 {
                    let below = (1u64 << (8 * k)) - 1;
                    apostrophes += (apostrophe & below).count_ones() as usize;
                }
                i += k;
                break;
            }
            letters += i - start - apostrophes;
            self.word(&line[start..], i - start);
        }
        self.letters += letters;
        true
    }

    /// Counts the word of `len` bytes (letters and apostrophes) at the start of `rest` and
    /// its function-word hits, as `end_word` does.
    #[inline(always)]
    fn word(&mut self, rest: &[u8], len: usize) {
        self.words += 1;
        if len > 16 {
            return;
        }
        let raw = match rest.get(..16) {
            Some(chunk) => u128::from_le_bytes(chunk.try_into().unwrap_or([0; 16])),
            None => {
                let mut bytes = [0u8; 16];
                bytes[..len].copy_from_slice(&rest[..len]);
                u128::from_le_bytes(bytes)
            }
        };
        let keep = if len == 16 {
            u128::MAX
        } else {
            (1u128 << (8 * len)) - 1
        };
        // 0x20 lowercases an ASCII letter and leaves an apostrophe (0x27) as it is.
        let key = (raw | 0x2020_2020_2020_2020_2020_2020_2020_2020) & keep;
        let mut mask = self.table.get_key(key).unwrap_or(0);
        while mask != 0 {
            self.counts[mask.trailing_zeros() as usize] += 1;
            mask &= mask - 1;
        }
    }

    /// A word boundary, as any byte other than a letter or an apostrophe is.
    fn end_word(&mut self) {
        if self.len == 0 {
            return;
        }
        self.words += 1;
        let len = std::mem::take(&mut self.len);
        if len > 16 {
            return;
        }
        // Packed as in `pack`: the word's bytes, zeros after.
        let keep = if len == 16 {
            u128::MAX
        } else {
            (1u128 << (8 * len)) - 1
        };
        let key = u128::from_le_bytes(self.buf) & keep;
        let mut mask = self.table.get_key(key).unwrap_or(0);
        while mask != 0 {
            self.counts[mask.trailing_zeros() as usize] += 1;
            mask &= mask - 1;
        }
    }

    /// The letters counted and the language, if the function words name one clearly.
    fn verdict(mut self) -> (usize, Option<&'static str>) {
        self.end_word();
        let mut best = (0usize, 0usize);
        let mut second = 0usize;
        for (i, &c) in self.counts.iter().enumerate().take(LANGUAGES.len()) {
            if c > best.0 {
                second = best.0;
                best = (c, i);
            } else if c > second {
                second = c;
            }
        }
        let (hits, idx) = best;
        if hits < 2 || hits * 10 < self.words || hits <= second {
            return (self.letters, None);
        }
        (self.letters, Some(LANGUAGES[idx].0))
    }
}

/// Whether a word is a URL (`://`, `www.`) or an e-mail address (`@`), which say nothing
/// about the language.
fn is_address(word: &str) -> bool {
    let bytes = word.as_bytes();
    bytes.starts_with(b"www.")
        || bytes
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'@' || b == b':' && bytes[i + 1..].starts_with(b"//"))
}

/// A paragraph of natural text: its span (first to last non-blank byte) and the byte
/// range of its lines, newlines included.
struct Paragraph {
    span: Range<usize>,
    lines: Range<usize>,
}

/// Paragraphs of natural text with code blocks and code lines left out.
fn prose_paragraphs(text: &str, code: &[Range<usize>]) -> Vec<Paragraph> {
    let mut out = Vec::new();
    let mut current: Option<Paragraph> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let in_code = code.iter().any(|c| c.start <= start && start < c.end);
        if line.trim().is_empty() || in_code || is_code_line(line) {
            out.extend(current.take());
            continue;
        }
        let entry = current.get_or_insert(Paragraph {
            span: start..start,
            lines: start..start,
        });
        entry.span.end = start + line.trim_end().len();
        entry.lines.end = offset;
    }
    out.extend(current.take());
    out
}

/// A paragraph's text as judged: each line's words without URLs and e-mail addresses,
/// single-spaced, a space before each line.
fn paragraph_text(text: &str, lines: Range<usize>) -> String {
    let mut out = String::new();
    for line in text[lines].split_inclusive('\n') {
        out.push(' ');
        let mut first = true;
        for word in words(line.trim()).filter(|w| !is_address(w)) {
            if !first {
                out.push(' ');
            }
            out.push_str(word);
            first = false;
        }
    }
    out
}

/// Whether an ASCII line may hold a URL or an e-mail address (an `@`, a `:` or `www.`):
/// a line without one is judged whole, without being split into words first.
fn may_hold_address(line: &[u8]) -> bool {
    line.iter()
        .enumerate()
        .any(|(i, &b)| b == b'@' || b == b':' || b == b'.' && i >= 3 && &line[i - 3..i] == b"www")
}

/// `detect_ascii(&paragraph_text(text, lines))` for an ASCII paragraph, without building
/// the string: spaces and word boundaries are the same to the judge.
fn judge_ascii_paragraph(text: &str, lines: Range<usize>) -> (usize, Option<&'static str>) {
    let mut judge = AsciiJudge::new();
    for line in text[lines].split_inclusive('\n') {
        let content = line.trim();
        judge.end_word();
        // Most lines hold no address: judged word by word straight from the line, and
        // judged again below from the state before it if an address mark turns up.
        let before = judge.clone();
        if judge.feed_line(content.as_bytes()) {
            continue;
        }
        judge = before;
        if may_hold_address(content.as_bytes()) {
            for word in words(content).filter(|w| !is_address(w)) {
                judge.end_word();
                judge.feed(word.as_bytes());
            }
        } else {
            judge.feed(content.as_bytes());
        }
    }
    judge.verdict()
}

/// The compiled policy.
pub(crate) struct DetectLanguages {
    params: DetectLanguagesParams,
}

impl DetectLanguages {
    pub fn compile(params: &DetectLanguagesParams) -> DetectLanguages {
        DetectLanguages {
            params: params.clone(),
        }
    }
}

impl Detector for DetectLanguages {
    fn scan(&self, text: &ScanText<'_>, _input: &MessageInput<'_>, out: &mut Vec<Hit>) {
        let code: Vec<Range<usize>> = text.code_regions(3).map(|r| r.span.clone()).collect();
        for Paragraph { span, lines } in prose_paragraphs(text.text, &code) {
            // An ASCII paragraph is counted and judged in one pass over its lines; other
            // text is copied out without its addresses first. (A paragraph whose only
            // non-ASCII characters sit in its addresses or spaces is ASCII once copied.)
            let paragraph = (!text.text[lines.clone()].is_ascii())
                .then(|| paragraph_text(text.text, lines.clone()));
            let (letters, code) = match &paragraph {
                None => judge_ascii_paragraph(text.text, lines),
                Some(paragraph) if paragraph.is_ascii() => detect_ascii(paragraph),
                Some(paragraph) => {
                    // A CJK character carries about as much text as a short word.
                    let letters: usize = paragraph
                        .chars()
                        .filter(|c| c.is_alphabetic())
                        .map(|c| {
                            if matches!(c as u32, 0x3040..=0x30FF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF) {
                                3
                            } else {
                                1
                            }
                        })
                        .sum();
                    if letters < self.params.min_letters {
                        continue;
                    }
                    (letters, detect(paragraph))
                }
            };
            if letters < self.params.min_letters {
                continue;
            }
            let Some(code) = code else {
                continue;
            };
            let denied = self.params.denied.iter().any(|d| d == code);
            let not_allowed =
                !self.params.allowed.is_empty() && !self.params.allowed.iter().any(|a| a == code);
            if denied || not_allowed {
                out.push(Hit {
                    rule: if denied {
                        format!("language_denied:{code}")
                    } else {
                        format!("language_not_allowed:{code}")
                    },
                    evidence: format!(
                        "{} paragraph ({letters} letters)",
                        language_name(code).unwrap_or(code)
                    ),
                    span,
                    severity: Severity::Low,
                });
            }
        }
    }

    fn scans_decoded(&self) -> bool {
        false
    }
}

impl Policy for DetectLanguages {
    const ID: &'static str = "detect_languages";
    const NAME: &'static str = "Detect Languages";
    const TAG: &'static str = "Language";
    const APPLIES_TO: &'static [Role] = &[Role::User, Role::Assistant];
    const DESCRIPTION: &'static str =
        "Language of the natural text against an allowed or denied list.";
    type Params = DetectLanguagesParams;

    fn validate(params: &DetectLanguagesParams, enabled: bool) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        for (name, list) in [("allowed", &params.allowed), ("denied", &params.denied)] {
            for (i, code) in list.iter().enumerate() {
                if language_name(code).is_none() {
                    return Err(invalid(
                        id,
                        format!("{name}[{i}]"),
                        format!(
                            "is `{code}`, an unknown language code; valid values: {}",
                            supported_codes().join(", ")
                        ),
                    ));
                }
            }
        }
        if enabled && params.allowed.is_empty() && params.denied.is_empty() {
            return Err(invalid(
                id,
                "allowed",
                "and `denied` are both empty; valid values: at least one ISO 639-1 code in either",
            ));
        }
        Ok(())
    }

    fn compile(params: &DetectLanguagesParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Ok(Box::new(DetectLanguages::compile(params)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::code_regions;
    use proptest::prelude::*;

    /// Prose lines with function words, addresses, code lines and odd bytes.
    fn paragraph_like_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("the ".to_owned()),
            Just("de la ".to_owned()),
            Just("und das ".to_owned()),
            Just("don't ".to_owned()),
            Just("www.example.com ".to_owned()),
            Just("see http://x.io/a:b ".to_owned()),
            Just("mail a@b.c ".to_owned()),
            Just("Note: ".to_owned()),
            Just("\n".to_owned()),
            Just("\n\n".to_owned()),
            Just("fn main() {\n".to_owned()),
            Just("```\nlet x = 1;\n```\n".to_owned()),
            Just("abcdefghijklmnopqrst ".to_owned()),
            Just("\u{a0}".to_owned()),
            "[a-zA-Z' .,:/@\t-]{0,16}",
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn an_ascii_paragraph_is_judged_as_its_copied_text_is(text in paragraph_like_text()) {
            let code: Vec<Range<usize>> = code_regions(&text, 3).into_iter().map(|r| r.span).collect();
            for paragraph in prose_paragraphs(&text, &code) {
                if text[paragraph.lines.clone()].is_ascii() {
                    let copied = paragraph_text(&text, paragraph.lines.clone());
                    prop_assert_eq!(judge_ascii_paragraph(&text, paragraph.lines), detect_ascii(&copied));
                }
            }
        }
    }

    /// Lines of words, apostrophes, address marks and other ASCII bytes, some near 16 bytes.
    fn ascii_line() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("the ".to_owned()),
            Just("Please ".to_owned()),
            Just("don't ".to_owned()),
            Just("www.".to_owned()),
            Just("ww.".to_owned()),
            Just("a@b ".to_owned()),
            Just("x:y ".to_owned()),
            Just("end. ".to_owned()),
            Just("abcdefghijklmnop ".to_owned()),
            Just("abcdefghijklmnopq".to_owned()),
            "[a-zA-Z' .,:/@\t0-9-]{0,20}",
        ];
        prop::collection::vec(piece, 0..12).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn a_line_is_fed_as_the_byte_at_a_time_feed_does(
            prefix in ascii_line(),
            line in ascii_line(),
        ) {
            // Reference: the byte-at-a-time `feed` and `end_word`, after `may_hold_address`.
            let mut reference = AsciiJudge::new();
            reference.feed(prefix.as_bytes());
            reference.end_word();
            let mut fast = reference.clone();
            let fed = fast.feed_line(line.as_bytes());
            prop_assert_eq!(fed, !may_hold_address(line.as_bytes()));
            if fed {
                reference.feed(line.as_bytes());
                reference.end_word();
                prop_assert_eq!(
                    (fast.counts, fast.words, fast.letters, fast.len),
                    (reference.counts, reference.words, reference.letters, reference.len)
                );
                prop_assert_eq!(fast.verdict(), reference.verdict());
            }
        }
    }

    #[test]
    fn common_languages_are_told_apart() {
        assert_eq!(
            detect("Could you please tell me how the weather is going to be this weekend?"),
            Some("en")
        );
        assert_eq!(
            detect("Pouvez-vous me dire quel temps il fera ce week-end dans la région?"),
            Some("fr")
        );
        assert_eq!(
            detect(
                "Kannst du mir bitte sagen, wie das Wetter am Wochenende wird und ob es regnet?"
            ),
            Some("de")
        );
        assert_eq!(
            detect("¿Puedes decirme qué tiempo hará este fin de semana en la ciudad y por qué?"),
            Some("es")
        );
        assert_eq!(
            detect("Скажите, пожалуйста, какая погода будет на выходных в Москве?"),
            Some("ru")
        );
        assert_eq!(
            detect("今週末の天気はどうなりますか？教えてください。"),
            Some("ja")
        );
        assert_eq!(detect("这个周末的天气怎么样？请告诉我。"), Some("zh"));
    }

    #[test]
    fn unknown_codes_are_not_supported() {
        assert!(language_name("xx").is_none());
        assert_eq!(language_name("fr"), Some("French"));
    }

    #[test]
    fn code_is_skipped_when_judging_language() {
        let text = "```\nfn main() { let x = 1; }\n```\nWhat does this do?";
        let code: Vec<Range<usize>> = code_regions(text, 3).into_iter().map(|r| r.span).collect();
        let paragraphs = prose_paragraphs(text, &code);
        assert_eq!(paragraphs.len(), 1);
        assert!(paragraph_text(text, paragraphs[0].lines.clone()).contains("What does this do"));
    }
}
