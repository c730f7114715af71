//! The borrower portal's court section (`docs/legal.md`): the borrower's real legal cases as
//! the store holds them (court, case number, status, amounts claimed and awarded, the
//! judgment's date, how a closed case ended) and the enforcement measures ordered in each
//! (kind, date, authority, status), read through `Store::borrower_case_ids` and
//! `Store::case_file`. Only what is on record is shown: a borrower with no case sees no
//! section, so nothing on the portal speaks of a court without a real case. English and
//! Chinese.

use super::shared::format_minor;
use super::texts::Lang;
use crate::AppState;
use arrears_store::StoreError;

/// One measure as the borrower reads it.
pub(super) struct MeasureView {
    pub kind: &'static str,
    pub ordered_on: String,
    pub authority: String,
    pub status: &'static str,
}

/// One case as the borrower reads it.
pub(super) struct CaseView {
    pub case_id: String,
    pub loan: String,
    pub court: String,
    pub case_number: String,
    pub status_code: String,
    pub status: &'static str,
    pub claimed: String,
    pub awarded: String,
    pub judgment_on: String,
    pub measures: Vec<MeasureView>,
}

/// The section's words and cases.
pub(super) struct LegalView {
    pub title: &'static str,
    pub help: &'static str,
    pub court: &'static str,
    pub case_number: &'static str,
    pub status: &'static str,
    pub claimed: &'static str,
    pub awarded: &'static str,
    pub judgment_on: &'static str,
    pub measures: &'static str,
    pub cases: Vec<CaseView>,
}

fn status_words(lang: Lang, status: &str, outcome: Option<&str>) -> &'static str {
    match (lang, status, outcome) {
        (Lang::En, "filed", _) => "Filed with the court",
        (Lang::En, "judgment", _) => "Judgment given",
        (Lang::En, "enforcement", _) => "Enforcement",
        (Lang::En, "closed", Some("satisfied")) => "Closed: paid",
        (Lang::En, "closed", Some("withdrawn")) => "Closed: withdrawn",
        (Lang::En, "closed", Some("terminated")) => "Closed: enforcement ended",
        (Lang::En, _, _) => "Closed",
        (Lang::Zh, "filed", _) => "已立案",
        (Lang::Zh, "judgment", _) => "已判决",
        (Lang::Zh, "enforcement", _) => "执行中",
        (Lang::Zh, "closed", Some("satisfied")) => "已结案：已清偿",
        (Lang::Zh, "closed", Some("withdrawn")) => "已结案：已撤诉",
        (Lang::Zh, "closed", Some("terminated")) => "已结案：终结执行",
        (Lang::Zh, _, _) => "已结案",
    }
}

fn measure_words(lang: Lang, kind: &str) -> &'static str {
    match (lang, kind) {
        (Lang::En, "asset_freeze") => "Assets frozen",
        (Lang::En, "account_freeze") => "Bank account frozen",
        (Lang::En, "wage_garnishment") => "Wage garnishment",
        (Lang::En, "dishonest_debtor_listing") => "Listed as a dishonest judgment debtor",
        (Lang::En, "spending_restriction") => "High spending restricted",
        (Lang::En, _) => "Measure",
        (Lang::Zh, "asset_freeze") => "财产保全（冻结财产）",
        (Lang::Zh, "account_freeze") => "冻结银行账户",
        (Lang::Zh, "wage_garnishment") => "扣划工资",
        (Lang::Zh, "dishonest_debtor_listing") => "纳入失信被执行人名单",
        (Lang::Zh, "spending_restriction") => "限制高消费",
        (Lang::Zh, _) => "措施",
    }
}

fn measure_status_words(lang: Lang, status: &str) -> &'static str {
    match (lang, status) {
        (Lang::En, "applied") => "Applied for",
        (Lang::En, "in_force") => "In force",
        (Lang::En, "refused") => "Refused",
        (Lang::En, _) => "Lifted",
        (Lang::Zh, "applied") => "已申请",
        (Lang::Zh, "in_force") => "生效中",
        (Lang::Zh, "refused") => "未准许",
        (Lang::Zh, _) => "已解除",
    }
}

/// The section for a borrower: every case of their loans, oldest first.
pub(super) async fn view(
    state: &AppState,
    lang: Lang,
    borrower_id: &str,
) -> Result<LegalView, StoreError> {
    let store = state.store();
    let mut cases = Vec::new();
    for id in store.borrower_case_ids(borrower_id).await? {
        let Some(f) = store.case_file(&id).await? else {
            continue;
        };
        let k = f.case;
        cases.push(CaseView {
            status: status_words(lang, &k.status, f.outcome.as_deref()),
            status_code: k.status,
            claimed: if k.amount_claimed_minor > 0 {
                format_minor(k.amount_claimed_minor, &f.currency)
            } else {
                String::new()
            },
            awarded: k
                .amount_awarded_minor
                .map(|a| format_minor(a, &f.currency))
                .unwrap_or_default(),
            judgment_on: f.judgment_on.map(|d| d.to_string()).unwrap_or_default(),
            measures: f
                .measures
                .iter()
                .map(|m| MeasureView {
                    kind: measure_words(lang, &m.kind),
                    ordered_on: m.ordered_on.to_string(),
                    authority: m.authority.clone(),
                    status: measure_status_words(lang, &m.status),
                })
                .collect(),
            case_id: k.case_id,
            loan: k.loan_id,
            court: k.court,
            case_number: k.case_number,
        });
    }
    let w = match lang {
        Lang::En => [
            "Court cases about your loans",
            "These are the court cases we have filed about your loans, as the court recorded them. Only a case listed here is real: if anyone tells you of another, check with us.",
            "Court",
            "Case number",
            "Status",
            "Amount claimed",
            "Amount awarded",
            "Judgment date",
            "Enforcement measures",
        ],
        Lang::Zh => [
            "与您的借款有关的诉讼",
            "以下是我们就您的借款提起的诉讼，以法院记录为准。只有此处列出的案件是真实的；如有人向您提及其他案件，请与我们核实。",
            "法院",
            "案号",
            "状态",
            "诉讼请求金额",
            "判决金额",
            "判决日期",
            "执行措施",
        ],
    };
    Ok(LegalView {
        title: w[0],
        help: w[1],
        court: w[2],
        case_number: w[3],
        status: w[4],
        claimed: w[5],
        awarded: w[6],
        judgment_on: w[7],
        measures: w[8],
        cases,
    })
}
