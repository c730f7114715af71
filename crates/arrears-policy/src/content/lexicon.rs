//! Word and phrase lists per language, as data (`lexicon/en.toml`, `lexicon/zh-CN.toml`).
//!
//! A lexicon file lists groups of terms by category. English terms are matched whole-word on
//! the token views (a trailing `*` on a word makes it a prefix: `arrest*` matches `arrested`);
//! Chinese terms are matched as substrings of the compact view. A legal-process group says
//! which legal-case status it needs (`requires_case`); visit groups need a scheduled visit.
//! An `[allow]` list names standard safety sentences ("never pay into a personal account")
//! whose words must not count against a message written in that language.

use super::normalize::{Token, compact, fold, token_views};
use crate::model::{Language, LegalStatus};
use aho_corasick::AhoCorasick;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

/// What a term is evidence of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Category {
    /// Insults, abusive or demeaning words (ALL-CONTENT).
    Abusive,
    /// Threats; claims of arrest, criminal liability or seizure (ALL-CONTENT).
    Threat,
    /// Posing as a court, police, government or lawyer (ALL-CONTENT).
    Impersonation,
    /// Court, summons, filing, judgment, enforcement, lawyer's letter (ALL-CONTENT unless bound).
    LegalProcess,
    /// Home or workplace visits (ALL-CONTENT unless a visit is scheduled).
    Visit,
    /// Urging to borrow elsewhere (ALL-NO-BORROW).
    BorrowElsewhere,
    /// Urging to sell assets (ALL-NO-BORROW).
    SellAssets,
    /// Paying into an account that is not the lender's (ALL-NO-BORROW).
    OtherAccount,
    /// Words that reveal a debt (US-LCM voicemails, ALL-LOCATE templates).
    DebtDisclosure,
    /// Pressure to pay everything at once (GB-FORBEARANCE, borrowers in difficulty).
    PayInFullPressure,
    /// An opt-out instruction (ALL-IDENTITY needs one; never a violation).
    OptOut,
    // The categories below are not lexicon groups: they name what a check found missing.
    /// The message does not name the lender or the agency acting for it (ALL-IDENTITY).
    MissingSender,
    /// The message lacks its verification code (ALL-IDENTITY).
    MissingVerificationCode,
    /// An electronic message lacks an opt-out (ALL-IDENTITY).
    MissingOptOut,
    /// A voicemail lacks a number to call back (US-LCM).
    MissingCallbackNumber,
    /// A notice lacks the complaint hotline (CN-COMPLAINT).
    MissingComplaintChannel,
    /// A message on a time-barred debt mentions suit (US-TIMEBAR).
    SuitOnTimeBarredDebt,
    /// A written contact carries no message text the engine could vet.
    MissingMessage,
}

impl Category {
    pub fn code(self) -> &'static str {
        match self {
            Category::Abusive => "abusive",
            Category::Threat => "threat",
            Category::Impersonation => "impersonation",
            Category::LegalProcess => "legal_process",
            Category::Visit => "visit",
            Category::BorrowElsewhere => "borrow_elsewhere",
            Category::SellAssets => "sell_assets",
            Category::OtherAccount => "other_account",
            Category::DebtDisclosure => "debt_disclosure",
            Category::PayInFullPressure => "pay_in_full_pressure",
            Category::OptOut => "opt_out",
            Category::MissingSender => "missing_sender",
            Category::MissingVerificationCode => "missing_verification_code",
            Category::MissingOptOut => "missing_opt_out",
            Category::MissingCallbackNumber => "missing_callback_number",
            Category::MissingComplaintChannel => "missing_complaint_channel",
            Category::SuitOnTimeBarredDebt => "suit_on_time_barred_debt",
            Category::MissingMessage => "missing_message",
        }
    }

    /// The categories a lexicon file may list.
    fn parse_group(s: &str) -> Option<Category> {
        [
            Category::Abusive,
            Category::Threat,
            Category::Impersonation,
            Category::LegalProcess,
            Category::Visit,
            Category::BorrowElsewhere,
            Category::SellAssets,
            Category::OtherAccount,
            Category::DebtDisclosure,
            Category::PayInFullPressure,
            Category::OptOut,
        ]
        .into_iter()
        .find(|c| c.code() == s)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// What must be on record for a term to be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Requirement {
    None,
    /// A legal case at least this far along (and not closed).
    Case(LegalStatus),
    /// A scheduled visit.
    Visit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    text: String,
    prefix: bool,
}

impl Word {
    fn matches(&self, token: &str) -> bool {
        if self.prefix {
            token.starts_with(&self.text)
        } else {
            token == self.text
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// Substring of the compact view (zh-CN).
    Compact(String),
    /// Consecutive whole words of a token view (en); `joined` is the words concatenated,
    /// searched inside obfuscated single-letter runs.
    Words { words: Vec<Word>, joined: String },
}

/// One term of a lexicon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Term {
    pub category: Category,
    pub requirement: Requirement,
    pub language: Language,
    /// The term as written in the lexicon file.
    pub display: String,
    pattern: Pattern,
}

/// A lexicon term found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit<'l> {
    pub term: &'l Term,
}

/// Why a lexicon file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LexiconError {
    #[error("lexicon {file}: {message}")]
    Syntax { file: String, message: String },
    #[error("lexicon {file}: group {group}: {message}")]
    Group {
        file: String,
        group: usize,
        message: String,
    },
    #[error("lexicon {file}: term {term:?}: {message}")]
    Term {
        file: String,
        term: String,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLexicon {
    language: String,
    #[serde(default)]
    group: Vec<RawGroup>,
    #[serde(default)]
    allow: RawAllow,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    category: String,
    #[serde(default)]
    requires_case: Option<String>,
    terms: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    #[serde(default)]
    phrases: Vec<String>,
}

/// The embedded lexicon files.
pub const EMBEDDED_LEXICONS: &[(&str, &str)] = &[
    ("en", include_str!("../../lexicon/en.toml")),
    ("zh-CN", include_str!("../../lexicon/zh-CN.toml")),
];

static EMBEDDED: LazyLock<Result<Lexicon, LexiconError>> = LazyLock::new(|| {
    Lexicon::parse(
        &EMBEDDED_LEXICONS
            .iter()
            .map(|(_, t)| *t)
            .collect::<Vec<_>>(),
    )
});

/// The searchable word lists of every language loaded.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    /// Unique per parsed lexicon (0: the empty default), so a remembered scan is never
    /// answered for another lexicon.
    id: u64,
    terms: Vec<Term>,
    /// Word terms indexed by their exact first word, and (when the first word is a prefix)
    /// by its first three characters, so a token is compared with few terms.
    by_first_word: HashMap<String, Vec<usize>>,
    by_prefix_head: HashMap<String, Vec<usize>>,
    /// Compact (zh-CN) terms, searched in one pass; pattern `i` is term `compact_terms[i]`.
    compact_terms: Vec<usize>,
    compact_matcher: Option<AhoCorasick>,
    /// Safety sentences per language: compact ones searched in one pass, word ones masked.
    allow_compact: Vec<(Language, AhoCorasick)>,
    allow_words: Vec<(Language, Vec<Word>)>,
}

impl Lexicon {
    /// The embedded en and zh-CN lists.
    pub fn embedded() -> Result<&'static Lexicon, LexiconError> {
        EMBEDDED.as_ref().map_err(Clone::clone)
    }

    /// Reads one or more lexicon files (one per language) into one searchable lexicon.
    pub fn parse(files: &[&str]) -> Result<Lexicon, LexiconError> {
        let mut lex = Lexicon::default();
        for text in files {
            let raw: RawLexicon = toml::from_str(text).map_err(|e| LexiconError::Syntax {
                file: "<input>".into(),
                message: e.to_string(),
            })?;
            let file = raw.language.clone();
            let language = Language::parse(&raw.language).map_err(|e| LexiconError::Syntax {
                file: file.clone(),
                message: e.to_string(),
            })?;
            for (i, g) in raw.group.iter().enumerate() {
                let group_err = |message: String| LexiconError::Group {
                    file: file.clone(),
                    group: i + 1,
                    message,
                };
                let category = Category::parse_group(&g.category).ok_or_else(|| {
                    group_err(format!("{:?} is not a lexicon category", g.category))
                })?;
                let requirement = match (category, &g.requires_case) {
                    (Category::LegalProcess, Some(s)) => Requirement::Case(
                        LegalStatus::parse(s)
                            .ok()
                            .filter(|s| *s != LegalStatus::Closed)
                            .ok_or_else(|| {
                                group_err(format!(
                                    "requires_case {s:?} is not filed, judgment or enforcement"
                                ))
                            })?,
                    ),
                    (Category::LegalProcess, None) => {
                        return Err(group_err(
                            "a legal_process group needs requires_case".into(),
                        ));
                    }
                    (_, Some(_)) => {
                        return Err(group_err(
                            "only legal_process groups take requires_case".into(),
                        ));
                    }
                    (Category::Visit, None) => Requirement::Visit,
                    (_, None) => Requirement::None,
                };
                for t in &g.terms {
                    let term_err = |message: String| LexiconError::Term {
                        file: file.clone(),
                        term: t.clone(),
                        message,
                    };
                    let pattern = pattern(language, t).map_err(term_err)?;
                    if lex
                        .terms
                        .iter()
                        .any(|e| e.pattern == pattern && e.language == language)
                    {
                        return Err(term_err(
                            "repeats a term that reads the same after normalization".into(),
                        ));
                    }
                    lex.push(Term {
                        category,
                        requirement,
                        language,
                        display: t.clone(),
                        pattern,
                    });
                }
            }
            let mut allow_compact = Vec::new();
            for p in &raw.allow.phrases {
                let term_err = |message: String| LexiconError::Term {
                    file: file.clone(),
                    term: p.clone(),
                    message,
                };
                match pattern(language, p).map_err(term_err)? {
                    Pattern::Compact(c) => allow_compact.push(c),
                    Pattern::Words { words, .. } => lex.allow_words.push((language, words)),
                }
            }
            if !allow_compact.is_empty() {
                let ac = AhoCorasick::new(&allow_compact).map_err(|e| LexiconError::Syntax {
                    file: file.clone(),
                    message: e.to_string(),
                })?;
                lex.allow_compact.push((language, ac));
            }
        }
        let compact_patterns: Vec<&str> = lex
            .compact_terms
            .iter()
            .filter_map(|&i| match lex.terms.get(i).map(|t| &t.pattern) {
                Some(Pattern::Compact(c)) => Some(c.as_str()),
                _ => None,
            })
            .collect();
        if !compact_patterns.is_empty() {
            let ac = AhoCorasick::new(&compact_patterns).map_err(|e| LexiconError::Syntax {
                file: "<all>".into(),
                message: e.to_string(),
            })?;
            lex.compact_matcher = Some(ac);
        }
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        lex.id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(lex)
    }

    fn push(&mut self, term: Term) {
        let i = self.terms.len();
        match &term.pattern {
            Pattern::Compact(_) => self.compact_terms.push(i),
            Pattern::Words { words, .. } => match words.first() {
                Some(w) if w.prefix => self
                    .by_prefix_head
                    .entry(head(&w.text))
                    .or_default()
                    .push(i),
                Some(w) => self
                    .by_first_word
                    .entry(w.text.clone())
                    .or_default()
                    .push(i),
                None => {}
            },
        }
        self.terms.push(term);
    }

    /// Every distinct term of this lexicon found in `text`. Safety sentences of `language`
    /// are masked first.
    pub(crate) fn scan(&self, text: &str, language: Language) -> Vec<Hit<'_>> {
        // The same text is often vetted several times in a row (a pre-contact check at two
        // instants, then the template check): each thread remembers its last scan. The key is
        // the whole text, the language and the lexicon, so the answer is the scan's own.
        /// Lexicon id, language, text, and the terms found in it.
        type LastScan = Option<(u64, Language, String, Vec<usize>)>;
        thread_local! {
            static LAST: std::cell::RefCell<LastScan> = const { std::cell::RefCell::new(None) };
        }
        let remembered = LAST.with_borrow(|last| match last {
            Some((id, lang, t, found)) if *id == self.id && *lang == language && t == text => {
                Some(found.clone())
            }
            _ => None,
        });
        let found = match remembered {
            Some(found) => found,
            None => {
                let found = self.scan_terms(text, language);
                LAST.with_borrow_mut(|last| {
                    *last = Some((self.id, language, text.to_owned(), found.clone()));
                });
                found
            }
        };
        found
            .into_iter()
            .filter_map(|i| self.terms.get(i))
            .map(|term| Hit { term })
            .collect()
    }

    /// Unique per parsed lexicon (0: the empty default).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The indexes of the terms found in `text`, in order.
    fn scan_terms(&self, text: &str, language: Language) -> Vec<usize> {
        let folded = fold(text);
        let mut found: BTreeSet<usize> = BTreeSet::new();

        // Chinese (and any compact) terms: substrings of the compact view, all found in one
        // pass; a match lying inside an allowed sentence of the declared language does not
        // count.
        if let Some(matcher) = &self.compact_matcher {
            let compact_text = compact(&folded);
            let allowed: Vec<(usize, usize)> = self
                .allow_compact
                .iter()
                .filter(|(lang, _)| *lang == language)
                .flat_map(|(_, ac)| {
                    ac.find_overlapping_iter(&compact_text)
                        .map(|m| (m.start(), m.end()))
                })
                .collect();
            for m in matcher.find_overlapping_iter(&compact_text) {
                let inside_allowed = allowed.iter().any(|&(s, e)| s <= m.start() && m.end() <= e);
                if !inside_allowed && let Some(&i) = self.compact_terms.get(m.pattern().as_usize())
                {
                    found.insert(i);
                }
            }
        }

        // English terms: whole words on both token views.
        for mut view in token_views(&folded) {
            for (lang, words) in &self.allow_words {
                if *lang == language {
                    mask_phrase(&mut view, words);
                }
            }
            self.scan_view(&view, &mut found);
        }
        found.into_iter().collect()
    }

    fn scan_view(&self, view: &[Token], found: &mut BTreeSet<usize>) {
        for (pos, token) in view.iter().enumerate() {
            if token.obfuscated {
                // A spread-out word: any English term hidden inside it counts.
                for (i, term) in self.terms.iter().enumerate() {
                    if let Pattern::Words { joined, .. } = &term.pattern
                        && joined.len() >= 3
                        && token.text.contains(joined.as_str())
                    {
                        found.insert(i);
                    }
                }
                continue;
            }
            let exact = self.by_first_word.get(&token.text).into_iter().flatten();
            let prefixed = self
                .by_prefix_head
                .get(&head(&token.text))
                .into_iter()
                .flatten();
            let candidates = exact.chain(prefixed);
            for &i in candidates {
                if let Some(Term {
                    pattern: Pattern::Words { words, .. },
                    ..
                }) = self.terms.get(i)
                    && words_match_at(view, pos, words)
                {
                    found.insert(i);
                }
            }
        }
    }
}

/// The first three characters of a word (prefix terms are at least three long).
fn head(word: &str) -> String {
    word.chars().take(3).collect()
}

fn words_match_at(view: &[Token], pos: usize, words: &[Word]) -> bool {
    words.iter().enumerate().all(|(k, w)| {
        view.get(pos + k)
            .is_some_and(|t| !t.obfuscated && w.matches(&t.text))
    })
}

/// Blanks the tokens of every occurrence of an allowed phrase.
fn mask_phrase(view: &mut [Token], words: &[Word]) {
    if words.is_empty() {
        return;
    }
    let mut pos = 0;
    while pos + words.len() <= view.len() {
        if words_match_at(view, pos, words) {
            for t in view.iter_mut().skip(pos).take(words.len()) {
                t.text.clear();
            }
            pos += words.len();
        } else {
            pos += 1;
        }
    }
}

/// The pattern of a term: compact for Chinese, words for English (normalized exactly like a
/// message, so `lawyer's letter` is the words `lawyers letter`).
fn pattern(language: Language, term: &str) -> Result<Pattern, String> {
    match language {
        Language::ZhCn => {
            let c = compact(&fold(term));
            if c.is_empty() {
                Err("has no letters".into())
            } else {
                Ok(Pattern::Compact(c))
            }
        }
        Language::En => {
            let mut words = Vec::new();
            for raw in term.split_whitespace() {
                let (body, prefix) = match raw.strip_suffix('*') {
                    Some(b) => (b, true),
                    None => (raw, false),
                };
                let text: String = compact(&fold(body));
                if text.is_empty() {
                    return Err(format!("word {raw:?} has no letters"));
                }
                if prefix && text.chars().count() < 3 {
                    return Err(format!("prefix {raw:?} is shorter than 3 letters"));
                }
                words.push(Word { text, prefix });
            }
            if words.is_empty() {
                return Err("is empty".into());
            }
            let joined = words.iter().map(|w| w.text.as_str()).collect();
            Ok(Pattern::Words { words, joined })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(text: &str, language: Language) -> Vec<String> {
        Lexicon::embedded()
            .unwrap()
            .scan(text, language)
            .iter()
            .map(|h| h.term.display.clone())
            .collect()
    }

    #[test]
    fn embedded_lexicons_parse() {
        let lex = Lexicon::embedded().unwrap();
        for cat in [
            Category::Abusive,
            Category::Threat,
            Category::Impersonation,
            Category::LegalProcess,
            Category::Visit,
        ] {
            for lang in Language::ALL {
                assert!(
                    lex.terms
                        .iter()
                        .any(|t| t.category == cat && t.language == *lang),
                    "{cat} {lang}"
                );
            }
        }
    }

    #[test]
    fn whole_words_and_prefixes() {
        assert_eq!(hits("We will sue you", Language::En), vec!["sue"]);
        assert!(hits("We will pursue the issue with courtesy", Language::En).is_empty());
        assert_eq!(hits("You will be ARRESTED", Language::En), vec!["arrest*"]);
        assert_eq!(
            hits("a lawyer’s letter", Language::En),
            vec!["lawyer's letter"]
        );
    }

    #[test]
    fn allowed_safety_sentences_are_masked_in_their_language_only() {
        assert!(
            hits(
                "We will never ask you to pay into a personal account.",
                Language::En
            )
            .is_empty()
        );
        assert!(!hits("Pay into my personal account.", Language::En).is_empty());
        assert!(hits("请认准官方渠道，切勿向任何个人账户转账。", Language::ZhCn).is_empty());
        assert!(!hits("请转账到个人账户", Language::ZhCn).is_empty());
    }

    #[test]
    fn a_remembered_scan_answers_only_for_its_own_lexicon_and_text() {
        let file = |w: &str| {
            format!("language = \"en\"\n[[group]]\ncategory = \"abusive\"\nterms = [\"{w}\"]")
        };
        let a = Lexicon::parse(&[&file("idiot")]).unwrap();
        let b = Lexicon::parse(&[&file("loser")]).unwrap();
        let found = |lex: &Lexicon, text: &str| {
            lex.scan(text, Language::En)
                .iter()
                .map(|h| h.term.display.clone())
                .collect::<Vec<_>>()
        };
        let text = "pay now, idiot";
        assert_eq!(found(&a, text), ["idiot"]);
        assert_eq!(found(&a, text), ["idiot"]);
        assert!(found(&b, text).is_empty());
        assert_eq!(found(&b, "pay now, loser"), ["loser"]);
        assert!(found(&b, "pay now, loser").len() == 1 && found(&a, "pay now, loser").is_empty());
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(matches!(
            Lexicon::parse(&["language = \"en\"\n[[group]]\ncategory = \"rude\"\nterms = [\"x\"]"])
                .unwrap_err(),
            LexiconError::Group { .. }
        ));
        assert!(matches!(
            Lexicon::parse(&[
                "language = \"en\"\n[[group]]\ncategory = \"legal_process\"\nterms = [\"court\"]"
            ])
            .unwrap_err(),
            LexiconError::Group { .. }
        ));
        assert!(matches!(
            Lexicon::parse(&[
                "language = \"en\"\n[[group]]\ncategory = \"abusive\"\nterms = [\"a*\"]"
            ])
            .unwrap_err(),
            LexiconError::Term { .. }
        ));
        assert!(Lexicon::parse(&["language = \"fr\""]).is_err());
    }
}
