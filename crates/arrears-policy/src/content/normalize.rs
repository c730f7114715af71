//! Text normalization for the content rules.
//!
//! `fold` maps what looks the same to the same characters: full-width ASCII (U+FF01–U+FF5E)
//! to ASCII and the ideographic space U+3000 to a space (the part of NFKC that matters for
//! evasion in zh-CN/en text), lower-cases, and deletes invisible characters (zero-width
//! spaces and joiners, soft hyphens, bidi marks, variation selectors) that can be slipped
//! between letters without showing.
//!
//! Two views of the folded text are then searched:
//! - `compact`: only letters and digits, every space, punctuation mark and symbol removed, so
//!   `起 诉`, `起*诉` and `起诉` are the same. Chinese has no word boundaries, so zh-CN terms
//!   are searched here as substrings.
//! - `tokens`: words of Latin-script text, where English terms are matched whole-word (so `sue`
//!   never matches `pursue` or `issue`, and `court` never matches `courtesy`). Evasion by
//!   spreading a word out is undone in two ways: letters joined only by punctuation or symbols
//!   (`c*o*u*r*t`, `co.urt`) are also read glued together as one word, and a run of three or
//!   more single characters (`c o u r t`, `C.O.U.R.T`) is read as one obfuscated word that
//!   matches any term it contains.

/// Invisible characters deleted before matching: they separate nothing a reader can see.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
    )
}

/// Full-width to half-width, lower case, invisible characters removed.
pub(crate) fn fold(text: &str) -> String {
    // Most messages are plain ASCII, where folding is lower-casing.
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_invisible(c) {
            continue;
        }
        let c = match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if is_ideograph(c) {
            // No case: spares the case table's lookup for each character of Chinese text.
            out.push(c);
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The CJK Unified Ideographs block: every code point in it is an assigned letter (`Lo`)
/// with no case mapping (a test checks this against the standard library's tables).
fn is_ideograph(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF)
}

/// `char::is_alphanumeric`, answered without the Unicode tables for ASCII and ideographs.
fn is_alphanumeric(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else {
        is_ideograph(c) || c.is_alphanumeric()
    }
}

/// Letters and digits only.
pub(crate) fn compact(folded: &str) -> String {
    let mut out = String::with_capacity(folded.len());
    out.extend(folded.chars().filter(|&c| is_alphanumeric(c)));
    out
}

/// CJK and other scripts without spaces between words: they end a Latin word like a space.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF | 0x3040..=0x30FF | 0x3100..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xA960..=0xA97F | 0xAC00..=0xD7FF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF)
}

fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else {
        // The cheap range test first: Chinese text is nearly all CJK.
        !is_cjk(c) && c.is_alphanumeric()
    }
}

/// A word of one view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub text: String,
    /// A run of single characters read as one word: matched by substring, not whole-word.
    pub obfuscated: bool,
}

/// The two token views of a folded text: split at every non-letter, and glued across
/// punctuation that has no space around it.
pub(crate) fn token_views(folded: &str) -> [Vec<Token>; 2] {
    // Each run of word characters, with whether only punctuation/symbols (no space, no CJK)
    // stood between it and the previous run.
    let mut runs: Vec<(String, bool)> = Vec::new();
    let mut current = String::new();
    let mut glued = false;
    let mut hard_break = true;
    for c in folded.chars() {
        if is_word_char(c) {
            if current.is_empty() {
                glued = !runs.is_empty() && !hard_break;
            }
            current.push(c);
        } else {
            if !current.is_empty() {
                runs.push((std::mem::take(&mut current), glued));
                hard_break = false;
            }
            if c.is_whitespace() || is_alphanumeric(c) {
                hard_break = true;
            }
        }
    }
    if !current.is_empty() {
        runs.push((current, glued));
    }

    let split: Vec<String> = runs.iter().map(|(t, _)| t.clone()).collect();
    let mut joined: Vec<String> = Vec::new();
    for (t, glued) in runs {
        match joined.last_mut() {
            Some(last) if glued => last.push_str(&t),
            _ => joined.push(t),
        }
    }
    [merge_single_chars(split), merge_single_chars(joined)]
}

/// Runs of three or more one-character words become one obfuscated word.
fn merge_single_chars(words: Vec<String>) -> Vec<Token> {
    const MIN_RUN: usize = 3;
    let mut out = Vec::with_capacity(words.len());
    let mut run: Vec<String> = Vec::new();
    let flush = |run: &mut Vec<String>, out: &mut Vec<Token>| {
        if run.len() >= MIN_RUN {
            out.push(Token {
                text: run.concat(),
                obfuscated: true,
            });
            run.clear();
        } else {
            out.extend(run.drain(..).map(|text| Token {
                text,
                obfuscated: false,
            }));
        }
    };
    for w in words {
        if w.chars().count() == 1 {
            run.push(w);
        } else {
            flush(&mut run, &mut out);
            out.push(Token {
                text: w,
                obfuscated: false,
            });
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(view: &[Token]) -> Vec<(&str, bool)> {
        view.iter()
            .map(|t| (t.text.as_str(), t.obfuscated))
            .collect()
    }

    #[test]
    fn the_fast_paths_agree_with_the_unicode_tables() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            assert_eq!(is_alphanumeric(c), c.is_alphanumeric(), "{c:?}");
            if is_ideograph(c) {
                assert!(c.to_lowercase().eq([c]), "{c:?} has a lower case");
            }
        }
        let text = "Dear MR. Smith: 12,407.00 DUE 28 Nov; pay AT once!";
        assert_eq!(fold(text), text.to_lowercase());
    }

    #[test]
    fn folds_width_case_and_invisibles() {
        assert_eq!(fold("ＣＯＵＲＴ"), "court");
        assert_eq!(fold("Ｃ\u{200B}ｏ\u{FEFF}urt\u{3000}起诉"), "court 起诉");
        assert_eq!(fold("ÉCOLE"), "école");
        assert_eq!(compact("起 *诉！ c.o"), "起诉co");
    }

    #[test]
    fn views_split_glue_and_merge_single_letters() {
        let [split, glued] = token_views(&fold("C.O.U.R.T and co*urt, now!idiot"));
        assert_eq!(
            words(&split),
            vec![
                ("court", true),
                ("and", false),
                ("co", false),
                ("urt", false),
                ("now", false),
                ("idiot", false)
            ]
        );
        assert_eq!(
            words(&glued),
            vec![
                ("court", false),
                ("and", false),
                ("court", false),
                ("nowidiot", false)
            ]
        );
        let [split, _] = token_views(&fold("s u e 你好court"));
        assert_eq!(words(&split), vec![("sue", true), ("court", false)]);
        let [split, _] = token_views(&fold("I a b"));
        assert_eq!(words(&split), vec![("iab", true)]);
        let [split, _] = token_views(&fold("I am a"));
        assert_eq!(
            words(&split),
            vec![("i", false), ("am", false), ("a", false)]
        );
    }
}
