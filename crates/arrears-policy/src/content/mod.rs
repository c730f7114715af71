//! Content rules: what a message or script may say (ALL-CONTENT, ALL-NO-BORROW), what it must
//! say (ALL-IDENTITY, CN-COMPLAINT), and what a voicemail may say (US-LCM).
//!
//! Prohibited words of every language are searched in every message, whatever its declared
//! language, so switching language mid-text does not evade the lists; only the exemptions for
//! standard safety sentences ("never pay into a personal account") follow the declared
//! language. A violation names the rule, the category and the lexicon term that matched.

mod lexicon;
mod normalize;

pub use lexicon::{Category, EMBEDDED_LEXICONS, Lexicon, LexiconError};

use crate::model::{Language, LegalStatus};
use crate::rule::RuleId;
use lexicon::{Hit, Requirement};
use normalize::{compact, fold};

/// The real records a message is bound to: a legal case (with its current status) and/or a
/// scheduled visit. Legal words are allowed only with a case far enough along (a summons needs
/// a filed case, "judgment" a judgment, "enforcement" an enforcement), never with a closed
/// one; visit words only with a scheduled visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Binding {
    pub legal_case_status: Option<LegalStatus>,
    pub visit_scheduled: bool,
}

impl Binding {
    /// No legal case, no visit: the binding of an ordinary reminder.
    pub const NONE: Binding = Binding {
        legal_case_status: None,
        visit_scheduled: false,
    };

    fn allows(&self, requirement: Requirement) -> bool {
        match requirement {
            Requirement::None => false,
            Requirement::Visit => self.visit_scheduled,
            Requirement::Case(needed) => self
                .legal_case_status
                .is_some_and(|s| s != LegalStatus::Closed && s.stage() >= needed.stage()),
        }
    }
}

/// One thing wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContentViolation {
    pub rule_id: RuleId,
    pub category: Category,
    /// The lexicon term that matched (as written in the lexicon), or what is missing.
    pub matched: String,
}

impl ContentViolation {
    fn new(rule_id: RuleId, category: Category, matched: impl Into<String>) -> ContentViolation {
        ContentViolation {
            rule_id,
            category,
            matched: matched.into(),
        }
    }
}

fn lexicon_unavailable(e: &LexiconError) -> Vec<ContentViolation> {
    // The embedded lists are tested to parse; should they ever not, nothing is vetted, so
    // nothing passes.
    vec![ContentViolation::new(
        RuleId::AllContent,
        Category::MissingMessage,
        format!("word lists unavailable: {e}"),
    )]
}

/// Checks a template or message against ALL-CONTENT and ALL-NO-BORROW with the embedded word
/// lists. `Ok(())` means no prohibited wording; every violation is listed otherwise.
pub fn check_template(
    text: &str,
    language: Language,
    binding: Binding,
) -> Result<(), Vec<ContentViolation>> {
    match Lexicon::embedded() {
        Ok(lex) => lex.check_template(text, language, binding),
        Err(e) => Err(lexicon_unavailable(&e)),
    }
}

impl Lexicon {
    /// `check_template` with this lexicon.
    pub fn check_template(
        &self,
        text: &str,
        language: Language,
        binding: Binding,
    ) -> Result<(), Vec<ContentViolation>> {
        let hits = self.scan(text, language);
        into_result(conduct_violations(&hits, binding))
    }
}

fn into_result(mut v: Vec<ContentViolation>) -> Result<(), Vec<ContentViolation>> {
    if v.is_empty() {
        Ok(())
    } else {
        v.sort();
        v.dedup();
        Err(v)
    }
}

/// ALL-CONTENT and ALL-NO-BORROW violations among the hits.
fn conduct_violations(hits: &[Hit<'_>], binding: Binding) -> Vec<ContentViolation> {
    hits.iter()
        .filter_map(|h| {
            let t = h.term;
            let rule = match t.category {
                Category::Abusive | Category::Threat | Category::Impersonation => {
                    RuleId::AllContent
                }
                Category::LegalProcess | Category::Visit if !binding.allows(t.requirement) => {
                    RuleId::AllContent
                }
                Category::BorrowElsewhere | Category::SellAssets | Category::OtherAccount => {
                    RuleId::AllNoBorrow
                }
                _ => return None,
            };
            Some(ContentViolation::new(rule, t.category, t.display.clone()))
        })
        .collect()
}

/// Who a message must name and what it must carry (ALL-IDENTITY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    pub lender_name: &'a str,
    /// The agency sending on the lender's behalf; naming it also satisfies the rule.
    pub agency_name: Option<&'a str>,
    /// The rendered message's verification code. `None` checks a template instead: the
    /// placeholders `{{lender_name}}` and `{{verification_code}}` then count.
    pub verification_code: Option<&'a str>,
    /// Electronic messages (SMS, e-mail, push) must carry an opt-out.
    pub opt_out_required: bool,
}

const PLACEHOLDER_LENDER: &str = "{{lender_name}}";
const PLACEHOLDER_AGENCY: &str = "{{agency_name}}";
const PLACEHOLDER_CODE: &str = "{{verification_code}}";
const PLACEHOLDER_OPT_OUT: &str = "{{opt_out}}";
const PLACEHOLDER_CALLBACK: &str = "{{callback_number}}";

/// Checks that a message names the sender, carries the verification code and, when required,
/// an opt-out instruction (e.g. "Reply STOP", "回复TD退订") or the `{{opt_out}}` placeholder.
pub fn check_identity(text: &str, identity: &Identity<'_>) -> Result<(), Vec<ContentViolation>> {
    match Lexicon::embedded() {
        // Opt-out phrases are searched in every language; which language's safety sentences
        // are masked does not matter for them.
        Ok(lex) => into_result(identity_violations(
            &lex.scan(text, Language::En),
            text,
            identity,
        )),
        Err(e) => Err(lexicon_unavailable(&e)),
    }
}

fn identity_violations(hits: &[Hit<'_>], text: &str, id: &Identity<'_>) -> Vec<ContentViolation> {
    let folded = fold(text);
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let template = id.verification_code.is_none();
    let mut v = Vec::new();

    let names = std::iter::once(id.lender_name).chain(id.agency_name);
    let named = names.into_iter().any(|n| contains_name(&folded, n))
        || (template
            && (squeezed.contains(PLACEHOLDER_LENDER) || squeezed.contains(PLACEHOLDER_AGENCY)));
    if !named {
        v.push(ContentViolation::new(
            RuleId::AllIdentity,
            Category::MissingSender,
            id.lender_name,
        ));
    }
    let coded = match id.verification_code {
        Some(code) => contains_code(&folded, code),
        None => squeezed.contains(PLACEHOLDER_CODE),
    };
    if !coded {
        v.push(ContentViolation::new(
            RuleId::AllIdentity,
            Category::MissingVerificationCode,
            "verification code",
        ));
    }
    if id.opt_out_required {
        let has_opt_out = (template && squeezed.contains(PLACEHOLDER_OPT_OUT))
            || hits.iter().any(|h| h.term.category == Category::OptOut);
        if !has_opt_out {
            v.push(ContentViolation::new(
                RuleId::AllIdentity,
                Category::MissingOptOut,
                "opt-out",
            ));
        }
    }
    v
}

/// The name appears, ignoring case, width, spacing and punctuation ("ACME  Finance" names
/// "Acme Finance"). A name with no letters names nothing.
fn contains_name(folded_text: &str, name: &str) -> bool {
    let n = compact(&fold(name));
    !n.is_empty() && compact(folded_text).contains(&n)
}

/// The code appears as a whole token: `7F3K` is not found inside `A7F3KB` or a phone number.
/// Chinese characters around it are boundaries (`验证码K7Q2。`).
fn contains_code(folded_text: &str, code: &str) -> bool {
    let code = fold(code.trim());
    if code.is_empty() {
        return false;
    }
    folded_text.match_indices(&code).any(|(i, m)| {
        let before = folded_text[..i].chars().next_back();
        let after = folded_text[i + m.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// US-LCM: a voicemail may name the business, ask for a reply, give a person's name and a
/// phone number, and nothing else. Checked mechanically: it must name the business, give a
/// callback number (seven or more digits, or `{{callback_number}}` in a template) and contain
/// no word that reveals a debt. That it says nothing else at all is left to template review.
pub fn check_limited_content(text: &str, business_name: &str) -> Result<(), Vec<ContentViolation>> {
    match Lexicon::embedded() {
        Ok(lex) => into_result(limited_content_violations(
            &lex.scan(text, Language::En),
            text,
            business_name,
        )),
        Err(e) => Err(lexicon_unavailable(&e)),
    }
}

fn limited_content_violations(
    hits: &[Hit<'_>],
    text: &str,
    business_name: &str,
) -> Vec<ContentViolation> {
    let folded = fold(text);
    let mut v: Vec<ContentViolation> = hits
        .iter()
        .filter(|h| h.term.category == Category::DebtDisclosure)
        .map(|h| {
            ContentViolation::new(
                RuleId::UsLcm,
                Category::DebtDisclosure,
                h.term.display.clone(),
            )
        })
        .collect();
    if !contains_name(&folded, business_name) {
        v.push(ContentViolation::new(
            RuleId::UsLcm,
            Category::MissingSender,
            business_name,
        ));
    }
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !has_phone_number(&folded) && !squeezed.contains(PLACEHOLDER_CALLBACK) {
        v.push(ContentViolation::new(
            RuleId::UsLcm,
            Category::MissingCallbackNumber,
            "callback number",
        ));
    }
    v
}

/// Seven or more digits in a row, allowing the separators people write in numbers.
fn has_phone_number(folded: &str) -> bool {
    let mut digits = 0;
    for c in folded.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            if digits >= 7 {
                return true;
            }
        } else if !matches!(c, ' ' | '-' | '.' | '(' | ')' | '+' | '/') {
            digits = 0;
        }
    }
    false
}

/// What the engine asks of one message; each flag turns on the check of one rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vetting<'a> {
    pub identity: Option<Identity<'a>>,
    /// US voicemail: US-LCM replaces the verification-code requirement.
    pub limited_content: bool,
    /// ALL-LOCATE: the template must not reveal a debt.
    pub locate: bool,
    /// US-TIMEBAR: no mention of suit.
    pub time_barred: bool,
    /// GB-FORBEARANCE: no pressure to pay in one go.
    pub no_pay_in_full_pressure: bool,
    /// CN-COMPLAINT: the hotline a notice must show.
    pub complaint_hotline: Option<&'a str>,
}

/// What one `vet` was asked, owned, so a thread can remember its last answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VetKey {
    lexicon: u64,
    language: Language,
    binding: Binding,
    text: String,
    /// Lender name, agency name, verification code, opt-out required.
    identity: Option<(String, Option<String>, Option<String>, bool)>,
    limited_content: bool,
    locate: bool,
    time_barred: bool,
    no_pay_in_full_pressure: bool,
    complaint_hotline: Option<String>,
}

impl VetKey {
    fn new(
        lex: &Lexicon,
        text: &str,
        language: Language,
        binding: Binding,
        ask: &Vetting<'_>,
    ) -> VetKey {
        VetKey {
            lexicon: lex.id(),
            language,
            binding,
            text: text.to_owned(),
            identity: ask.identity.map(|i| {
                (
                    i.lender_name.to_owned(),
                    i.agency_name.map(str::to_owned),
                    i.verification_code.map(str::to_owned),
                    i.opt_out_required,
                )
            }),
            limited_content: ask.limited_content,
            locate: ask.locate,
            time_barred: ask.time_barred,
            no_pay_in_full_pressure: ask.no_pay_in_full_pressure,
            complaint_hotline: ask.complaint_hotline.map(str::to_owned),
        }
    }

    /// The same question, compared field by field without building a key.
    fn asks(
        &self,
        lex: &Lexicon,
        text: &str,
        language: Language,
        binding: Binding,
        ask: &Vetting<'_>,
    ) -> bool {
        let identity_same = match (&self.identity, &ask.identity) {
            (None, None) => true,
            (Some((lender, agency, code, opt_out)), Some(i)) => {
                lender == i.lender_name
                    && agency.as_deref() == i.agency_name
                    && code.as_deref() == i.verification_code
                    && *opt_out == i.opt_out_required
            }
            _ => false,
        };
        self.lexicon == lex.id()
            && self.language == language
            && self.binding == binding
            && self.text == text
            && identity_same
            && self.limited_content == ask.limited_content
            && self.locate == ask.locate
            && self.time_barred == ask.time_barred
            && self.no_pay_in_full_pressure == ask.no_pay_in_full_pressure
            && self.complaint_hotline.as_deref() == ask.complaint_hotline
    }
}

/// Every violation of one message, found with a single scan of the text.
///
/// A message is vetted several times in a row with the same question (the planner's check at
/// its instant and at its window's end, the checker's two): each thread remembers its last
/// question and answer. The key is everything the answer depends on, so a remembered answer
/// is the vetting's own.
pub(crate) fn vet(
    lex: &Lexicon,
    text: &str,
    language: Language,
    binding: Binding,
    ask: &Vetting<'_>,
) -> Vec<ContentViolation> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(VetKey, Vec<ContentViolation>)>> =
            const { std::cell::RefCell::new(None) };
    }
    let remembered = LAST.with_borrow(|last| match last {
        Some((key, answer)) if key.asks(lex, text, language, binding, ask) => Some(answer.clone()),
        _ => None,
    });
    if let Some(answer) = remembered {
        return answer;
    }
    let answer = vet_uncached(lex, text, language, binding, ask);
    LAST.with_borrow_mut(|last| {
        *last = Some((
            VetKey::new(lex, text, language, binding, ask),
            answer.clone(),
        ));
    });
    answer
}

fn vet_uncached(
    lex: &Lexicon,
    text: &str,
    language: Language,
    binding: Binding,
    ask: &Vetting<'_>,
) -> Vec<ContentViolation> {
    let hits = lex.scan(text, language);
    let mut v = conduct_violations(&hits, binding);
    for h in &hits {
        let t = h.term;
        match t.category {
            Category::LegalProcess if ask.time_barred => {
                v.push(ContentViolation::new(
                    RuleId::UsTimebar,
                    Category::SuitOnTimeBarredDebt,
                    t.display.clone(),
                ));
            }
            Category::DebtDisclosure if ask.locate => {
                v.push(ContentViolation::new(
                    RuleId::AllLocate,
                    Category::DebtDisclosure,
                    t.display.clone(),
                ));
            }
            Category::PayInFullPressure if ask.no_pay_in_full_pressure => {
                v.push(ContentViolation::new(
                    RuleId::GbForbearance,
                    Category::PayInFullPressure,
                    t.display.clone(),
                ));
            }
            _ => {}
        }
    }
    if let Some(id) = &ask.identity {
        if ask.limited_content {
            v.extend(limited_content_violations(&hits, text, id.lender_name));
        } else {
            v.extend(identity_violations(&hits, text, id));
        }
    }
    if let Some(hotline) = ask.complaint_hotline
        && !compact(&fold(text)).contains(&compact(&fold(hotline)))
    {
        v.push(ContentViolation::new(
            RuleId::CnComplaint,
            Category::MissingComplaintChannel,
            hotline,
        ));
    }
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TEXTS: [&str; 4] = [
        "Acme Finance: 120.00 is due. Code K7Q2MX. Reply STOP to opt out.",
        "Acme Finance: a summons has been issued by the court. Code K7Q2MX.",
        "【Acme Finance】您的账单已逾期，验证码K7Q2MX，回复TD退订。投诉热线12378",
        "Pay in full today or we tell your family. Code K7Q2MX.",
    ];

    proptest! {
        /// Whatever sequence of questions a thread asks, the remembered answer is the one a
        /// fresh vetting gives: no field of the question is left out of the key.
        #[test]
        fn a_remembered_vetting_is_the_vettings_own(
            asks in proptest::collection::vec(
                (0..4usize, any::<bool>(), any::<bool>(), 0..3usize, any::<[bool; 6]>()),
                1..24,
            )
        ) {
            let lex = Lexicon::embedded().expect("embedded lexicon");
            for (t, zh, filed, who, flags) in asks {
                let text = TEXTS[t];
                let language = if zh { Language::ZhCn } else { Language::En };
                let binding = Binding {
                    legal_case_status: filed.then_some(LegalStatus::Filed),
                    visit_scheduled: flags[5],
                };
                let identity = match who {
                    0 => None,
                    1 => Some(Identity {
                        lender_name: "Acme Finance",
                        agency_name: None,
                        verification_code: Some("K7Q2MX"),
                        opt_out_required: flags[0],
                    }),
                    _ => Some(Identity {
                        lender_name: "Other Lender",
                        agency_name: Some("Acme Finance"),
                        verification_code: None,
                        opt_out_required: flags[0],
                    }),
                };
                let ask = Vetting {
                    identity,
                    limited_content: flags[1],
                    locate: flags[2],
                    time_barred: flags[3],
                    no_pay_in_full_pressure: flags[4],
                    complaint_hotline: flags[5].then_some("12378"),
                };
                let fresh = vet_uncached(lex, text, language, binding, &ask);
                prop_assert_eq!(vet(lex, text, language, binding, &ask), fresh.clone());
                // Asked again at once: answered from memory, still the same.
                prop_assert_eq!(vet(lex, text, language, binding, &ask), fresh);
            }
        }
    }

    #[test]
    fn legal_words_need_a_matching_case() {
        let text = "A summons has been issued by the court.";
        assert!(check_template(text, Language::En, Binding::NONE).is_err());
        let filed = Binding {
            legal_case_status: Some(LegalStatus::Filed),
            visit_scheduled: false,
        };
        assert_eq!(check_template(text, Language::En, filed), Ok(()));
        let closed = Binding {
            legal_case_status: Some(LegalStatus::Closed),
            visit_scheduled: false,
        };
        assert!(check_template(text, Language::En, closed).is_err());
        let enforcement = "法院已对您的案件强制执行";
        assert!(check_template(enforcement, Language::ZhCn, filed).is_err());
        let enf = Binding {
            legal_case_status: Some(LegalStatus::Enforcement),
            visit_scheduled: false,
        };
        assert_eq!(check_template(enforcement, Language::ZhCn, enf), Ok(()));
    }

    #[test]
    fn identity_in_templates_and_rendered_messages() {
        let id = Identity {
            lender_name: "Acme Finance",
            agency_name: None,
            verification_code: Some("7F3K"),
            opt_out_required: true,
        };
        assert_eq!(
            check_identity(
                "ACME  finance: payment reminder. Code 7F3K. Reply STOP to opt out.",
                &id
            ),
            Ok(())
        );
        let errs = check_identity("Payment reminder. Code A7F3KB.", &id).unwrap_err();
        let cats: Vec<Category> = errs.iter().map(|e| e.category).collect();
        assert_eq!(
            cats,
            vec![
                Category::MissingSender,
                Category::MissingVerificationCode,
                Category::MissingOptOut
            ]
        );
        let template = Identity {
            verification_code: None,
            ..id
        };
        assert_eq!(
            check_identity(
                "{{ lender_name }}: code {{verification_code}}. {{opt_out}}",
                &template
            ),
            Ok(())
        );
        assert!(check_identity("{{lender_name}}: code {{verification_code}}.", &id).is_err());
    }

    #[test]
    fn voicemail_is_limited_content() {
        assert_eq!(
            check_limited_content(
                "Hi, this is Jane from Acme Services. Please call us back at 800-555-0100.",
                "Acme Services"
            ),
            Ok(())
        );
        let errs = check_limited_content(
            "This is Acme Services about your overdue loan payment.",
            "Acme Services",
        )
        .unwrap_err();
        assert!(errs.iter().any(|e| e.category == Category::DebtDisclosure));
        assert!(
            errs.iter()
                .any(|e| e.category == Category::MissingCallbackNumber)
        );
        assert!(errs.iter().all(|e| e.rule_id == RuleId::UsLcm));
    }
}
