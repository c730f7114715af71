//! Message templates: minijinja text per template id and language, vetted when loaded.
//!
//! Loading a template compiles it with `UndefinedBehavior::Strict` (a misspelt variable is an
//! error, never an empty string), checks its source against ALL-CONTENT and ALL-NO-BORROW, and
//! checks that it names the lender and carries the verification code (`{{ lender_name }}`,
//! `{{ verification_code }}`, ALL-IDENTITY). It is then rendered once with sample values and
//! the result is checked again, so words assembled by template logic are caught too. Only
//! this loader constructs a [`CheckedTemplate`], and rendering needs one: a template that
//! failed cannot be used. Each rendered message is vetted once more by `check` with the
//! borrower's real values before any contact is allowed.

use crate::strategy::StrategyError;
use arrears_policy::{Binding, Identity, Language, check_identity, check_template};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::collections::BTreeMap;

/// The variables a template may use. All are strings, already formatted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageVars {
    pub borrower_name: String,
    /// The overdue amount, e.g. `¥123.45` (see `format_amount`).
    pub amount: String,
    /// The date the oldest unpaid installment fell (or falls) due, `YYYY-MM-DD`.
    pub due_date: String,
    pub dpd: String,
    pub loan_id: String,
    pub lender_name: String,
    pub verification_code: String,
    /// The opt-out instruction in the message's language (`opt_out_text`).
    pub opt_out: String,
    /// The regulator's complaint hotline where the pack names one (CN-COMPLAINT), else empty.
    pub complaint_hotline: String,
}

/// The standard opt-out instruction of a language; both match the content rules' opt-out
/// phrases ("reply stop", "回复TD").
pub fn opt_out_text(language: Language) -> &'static str {
    match language {
        Language::ZhCn => "回复TD退订",
        Language::En => "Reply STOP to opt out.",
    }
}

impl MessageVars {
    fn sample(language: Language, lender_name: &str) -> MessageVars {
        MessageVars {
            borrower_name: match language {
                Language::ZhCn => "王伟".into(),
                Language::En => "Jane Doe".into(),
            },
            amount: "¥123.45".into(),
            due_date: "2026-11-20".into(),
            dpd: "8".into(),
            loan_id: "L00000001".into(),
            lender_name: lender_name.into(),
            verification_code: "K7Q2M-8XW3T".into(),
            opt_out: opt_out_text(language).into(),
            complaint_hotline: "12378".into(),
        }
    }
}

/// A template that passed every load-time check. Only `TemplateSet::load` makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTemplate {
    id: String,
    language: Language,
    key: String,
    has_opt_out: bool,
}

impl CheckedTemplate {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn language(&self) -> Language {
        self.language
    }

    /// The template carries `{{ opt_out }}` (or a literal opt-out phrase).
    pub fn has_opt_out(&self) -> bool {
        self.has_opt_out
    }
}

/// Rendering failed (a value the template needs is missing, or a filter failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {id} ({language}): {message}")]
pub struct RenderError {
    pub id: String,
    pub language: Language,
    pub message: String,
}

/// Every template of a strategy, compiled and vetted.
#[derive(Debug)]
pub struct TemplateSet {
    env: Environment<'static>,
    templates: BTreeMap<(String, Language), CheckedTemplate>,
}

impl TemplateSet {
    /// Loads `id -> language tag -> source`. Every problem is reported, each naming
    /// `templates.<id>.<language>`.
    pub fn load(
        sources: &BTreeMap<String, BTreeMap<String, String>>,
        lender_name: &str,
    ) -> Result<TemplateSet, Vec<StrategyError>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut errors = Vec::new();
        let mut templates = BTreeMap::new();
        for (id, langs) in sources {
            for (tag, source) in langs {
                let field = format!("templates.{id}.{tag}");
                let err = |message: String| StrategyError::new(None, &field, message);
                let language = match Language::parse(tag) {
                    Ok(l) if l.tag() == tag => l,
                    Ok(l) => {
                        errors.push(err(format!("write the language as {:?}", l.tag())));
                        continue;
                    }
                    Err(e) => {
                        errors.push(err(e.to_string()));
                        continue;
                    }
                };
                let key = format!("{id}/{tag}");
                if let Err(e) = env.add_template_owned(key.clone(), source.clone()) {
                    errors.push(err(format!("does not compile: {e}")));
                    continue;
                }
                let mut problems = vet_text(source, language, lender_name, true);
                let squeezed: String = source.chars().filter(|c| !c.is_whitespace()).collect();
                let has_opt_out = squeezed.contains("{{opt_out}}")
                    || check_identity(
                        source,
                        &Identity {
                            lender_name,
                            agency_name: None,
                            verification_code: None,
                            opt_out_required: true,
                        },
                    )
                    .is_ok();
                let sample = MessageVars::sample(language, lender_name);
                match env.get_template(&key).and_then(|t| t.render(&sample)) {
                    Ok(text) => {
                        for p in vet_text(&text, language, lender_name, false) {
                            problems.push(format!("rendered with sample values: {p}"));
                        }
                    }
                    Err(e) => problems.push(format!("does not render: {e}")),
                }
                if problems.is_empty() {
                    templates.insert(
                        (id.clone(), language),
                        CheckedTemplate {
                            id: id.clone(),
                            language,
                            key,
                            has_opt_out,
                        },
                    );
                } else {
                    errors.extend(problems.into_iter().map(err));
                }
            }
        }
        if errors.is_empty() {
            Ok(TemplateSet { env, templates })
        } else {
            Err(errors)
        }
    }

    /// The checked template for `id` in `language`, if it exists and passed.
    pub fn get(&self, id: &str, language: Language) -> Option<&CheckedTemplate> {
        self.templates.get(&(id.to_owned(), language))
    }

    /// The languages a template id has.
    pub fn languages(&self, id: &str) -> Vec<Language> {
        self.templates
            .keys()
            .filter(|(i, _)| i == id)
            .map(|(_, l)| *l)
            .collect()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.templates.keys().map(|(i, _)| i.as_str())
    }

    pub fn render(&self, t: &CheckedTemplate, vars: &MessageVars) -> Result<String, RenderError> {
        self.env
            .get_template(&t.key)
            .and_then(|tpl| tpl.render(vars))
            .map_err(|e| RenderError {
                id: t.id.clone(),
                language: t.language,
                message: e.to_string(),
            })
    }
}

/// Content and identity problems of a template source (`template` = placeholders count) or
/// of a rendered sample.
fn vet_text(text: &str, language: Language, lender_name: &str, template: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(v) = check_template(text, language, Binding::NONE) {
        for x in v {
            out.push(format!(
                "{}: {:?} wording {:?}",
                x.rule_id.as_str(),
                x.category,
                x.matched
            ));
        }
    }
    let sample_code = "K7Q2M-8XW3T";
    let identity = Identity {
        lender_name,
        agency_name: None,
        verification_code: if template { None } else { Some(sample_code) },
        opt_out_required: false,
    };
    if let Err(v) = check_identity(text, &identity) {
        for x in v {
            out.push(format!(
                "{}: {:?} (a message must name the lender with {{{{ lender_name }}}} and carry {{{{ verification_code }}}})",
                x.rule_id.as_str(),
                x.category
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(id: &str, tag: &str, src: &str) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut m = BTreeMap::new();
        m.entry(id.to_owned())
            .or_insert_with(BTreeMap::new)
            .insert(tag.to_owned(), src.to_owned());
        m
    }

    const OK_EN: &str = "{{ lender_name }}: {{ borrower_name }}, {{ amount }} is overdue since {{ due_date }}. Code {{ verification_code }}. {{ opt_out }}";

    #[test]
    fn a_good_template_loads_and_renders() {
        let set = TemplateSet::load(&one("r", "en", OK_EN), "Acme Finance").unwrap();
        let t = set.get("r", Language::En).unwrap();
        assert!(t.has_opt_out());
        let mut v = MessageVars::sample(Language::En, "Acme Finance");
        v.amount = "$5.00".into();
        let text = set.render(t, &v).unwrap();
        assert!(
            text.starts_with("Acme Finance: Jane Doe, $5.00 is overdue"),
            "{text}"
        );
    }

    #[test]
    fn abusive_or_fake_authority_wording_cannot_load() {
        for (tag, src) in [
            (
                "en",
                "{{ lender_name }}: pay now or we will send the p o l i c e. {{ verification_code }}",
            ),
            (
                "en",
                "{{ lender_name }}: our COURT team will visit. {{ verification_code }}",
            ),
            (
                "zh-CN",
                "{{ lender_name }}：再不还款将起　诉您。{{ verification_code }}",
            ),
            (
                "zh-CN",
                "{{ lender_name }}：上门催收。{{ verification_code }}",
            ),
        ] {
            let e = TemplateSet::load(&one("bad", tag, src), "Acme").unwrap_err();
            assert!(
                e.iter().any(|x| x.to_string().contains("ALL-CONTENT")),
                "{src}: {e:?}"
            );
            assert!(e[0].to_string().contains(&format!("templates.bad.{tag}")));
        }
    }

    #[test]
    fn words_assembled_by_template_logic_are_caught_after_rendering() {
        let src = "{{ lender_name }}: {{ 'arr' ~ 'est' }} warrant. {{ verification_code }}";
        let e = TemplateSet::load(&one("t", "en", src), "Acme").unwrap_err();
        assert!(
            e.iter()
                .any(|x| x.to_string().contains("rendered with sample values")),
            "{e:?}"
        );
    }

    #[test]
    fn identity_and_strict_variables_are_required() {
        let e = TemplateSet::load(&one("t", "en", "Please pay {{ amount }}."), "Acme").unwrap_err();
        let s: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert!(s.iter().any(|x| x.contains("ALL-IDENTITY")), "{s:?}");
        let e = TemplateSet::load(
            &one(
                "t",
                "en",
                "{{ lender_name }} {{ verification_code }} {{ amout }}",
            ),
            "Acme",
        )
        .unwrap_err();
        assert!(e[0].to_string().contains("does not render"), "{e:?}");
        let e = TemplateSet::load(&one("t", "fr", OK_EN), "Acme").unwrap_err();
        assert!(e[0].to_string().contains("templates.t.fr"));
    }
}
