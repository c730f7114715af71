//! The borrower portal's credit-report section: the lines the monthly bureau files said about
//! the borrower (month, loan, status), read through `arrears_app::bureau::reported_about`,
//! and "Dispute this line", which opens a credit dispute of that loan through
//! `arrears_app::bureau::dispute_line` (so the next file reports it as disputed and never
//! negative). Withheld lines are not shown: nothing was said.

use super::portal::portal_form;
use super::shared::{Ctx, forbidden, internal, log_access, random_hex, redirect};
use super::texts::{Lang, label};
use crate::{AppState, now};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_store::BorrowerContacts;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

/// One reported line as the borrower reads it.
pub(super) struct BureauLineView {
    pub period: String,
    pub loan: String,
    pub status_code: String,
    pub status: String,
    /// The newest line of a loan without an open credit dispute offers "Dispute this line".
    pub disputable: bool,
    /// Why not, in words (a dispute open already), else empty.
    pub note: &'static str,
}

/// The section's words and lines.
pub(super) struct BureauView {
    pub title: &'static str,
    pub help: &'static str,
    pub month: &'static str,
    pub status: &'static str,
    pub dispute: &'static str,
    pub lines: Vec<BureauLineView>,
}

fn words(lang: Lang) -> [&'static str; 6] {
    match lang {
        Lang::En => [
            "What we reported to credit bureaus",
            "Each month we tell the credit bureaus the status of your loans. If a line is wrong, dispute it: until the dispute is resolved we report nothing negative about that loan, and if you are right we correct what we reported.",
            "Month",
            "Reported as",
            "Dispute this line",
            "Disputed: under review",
        ],
        Lang::Zh => [
            "我们向征信机构报送的信息",
            "我们每月向征信机构报送您贷款的状态。如有错误，请提出异议：异议解决前我们不报送该贷款的任何负面信息；如您的异议成立，我们将更正已报送的信息。",
            "月份",
            "报送状态",
            "对此条提出异议",
            "已提出异议：审核中",
        ],
    }
}

/// The notice after "Dispute this line".
pub(super) fn recorded(lang: Lang) -> &'static str {
    match lang {
        Lang::En => {
            "Your dispute of the credit report was recorded. Until it is resolved we report nothing negative about that loan."
        }
        Lang::Zh => "您对征信报送的异议已记录。异议解决前，我们不报送该贷款的任何负面信息。",
    }
}

/// A bureau status (or a correction) in the borrower's words.
fn status_words(lang: Lang, status: &str, corrects: &str) -> String {
    if !corrects.is_empty() {
        return match lang {
            Lang::En => format!("Correction of {corrects}: current"),
            Lang::Zh => format!("更正 {corrects}：正常"),
        };
    }
    label(lang, &format!("bureau_{status}"))
}

/// The section for a borrower.
pub(super) async fn view(
    state: &AppState,
    lang: Lang,
    bc: &BorrowerContacts,
) -> Result<BureauView, arrears_app::bureau::BureauError> {
    let [title, help, month, status, dispute, open_note] = words(lang);
    let recorded =
        arrears_app::bureau::reported_about(state.store(), bc.borrower.id.as_str()).await?;
    let open = |loan: &str| {
        bc.lifecycle.credit_disputes.iter().any(|d| {
            d.resolved_at.is_none() && d.loan_id.as_ref().is_none_or(|l| l.as_str() == loan)
        })
    };
    let mut newest_seen: Vec<String> = Vec::new();
    let lines = recorded
        .iter()
        .map(|r| {
            let newest = !newest_seen.contains(&r.loan_id);
            if newest {
                newest_seen.push(r.loan_id.clone());
            }
            let disputed = open(&r.loan_id);
            BureauLineView {
                period: r.period.clone(),
                loan: r.loan_id.clone(),
                status_code: r.status.clone(),
                status: status_words(lang, &r.status, &r.corrects),
                disputable: newest && !disputed,
                note: if newest && disputed { open_note } else { "" },
            }
        })
        .collect();
    Ok(BureauView {
        title,
        help,
        month,
        status,
        dispute,
        lines,
    })
}

#[derive(Deserialize)]
pub(super) struct CreditDisputeForm {
    loan_id: Option<String>,
}

/// "Dispute this line": a credit dispute of the loan, opened now (CSRF-checked, the session's
/// own borrower, a loan reported about them).
pub(super) async fn portal_credit_dispute(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    body: Bytes,
) -> Response {
    let (b, f) = match portal_form::<CreditDisputeForm>(&ctx, &borrower_id, &body) {
        Ok(x) => x,
        Err(refused) => return refused,
    };
    let (Ok(bid), Some(Ok(lid))) = (
        BorrowerId::parse("borrower_id", &b),
        f.and_then(|f| f.loan_id)
            .map(|l| LoanId::parse("loan_id", l.trim())),
    ) else {
        return forbidden(&ctx);
    };
    let Ok(rand) = random_hex() else {
        return internal(&ctx, "no randomness");
    };
    let dispute_id = format!("portal-cd-{}", &rand[..32]);
    match arrears_app::bureau::dispute_line(state.store(), &bid, &lid, &dispute_id, now()).await {
        Ok(_) => {}
        Err(arrears_app::bureau::BureauError::NotTheirs { .. }) => return forbidden(&ctx),
        Err(e) => return internal(&ctx, e),
    }
    if let Err(e) = log_access(
        &state,
        format!("portal:{b}"),
        "portal.credit_dispute",
        &b,
        Some(lid.as_str()),
    )
    .await
    {
        return internal(&ctx, e);
    }
    redirect(&format!("/portal/b/{b}?done=credit_dispute#bureau-title"))
}
