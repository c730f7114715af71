//! Collection agencies (migration 0020, `docs/agency.md`): the agencies as parties, the
//! credentials bound to one agency (API tokens and users with `agency_id`), which loans an
//! agency holds at an instant (a live placement: placed at or before it, not recalled at or
//! before it), the activity an agency reports (kept as reported, idempotent by its id), the
//! loans' money for the remittance, and the list of files written for agencies. Every table is
//! append-only.

use crate::schema::{date_text, int, text, ts};
use crate::sql::{Cell, Ty};
use crate::{Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;

/// An agency to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgency {
    pub agency_id: String,
    pub name: String,
    /// Jurisdiction codes (`CN`, `CN-11`, `US-NY`, …), sorted, each once.
    pub jurisdictions: Vec<String>,
    pub commission_bps: i64,
    pub term_days: i64,
    pub created_by: String,
    pub created_at: Timestamp,
}

/// A stored agency.
pub type StoredAgency = NewAgency;

/// What adding an agency did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgencyAdded {
    Added,
    /// The same agency (same name, jurisdictions, rate and term) is on record.
    AlreadyRecorded,
    /// Another agency is on record under this id (agencies are never changed).
    Conflict(Box<StoredAgency>),
}

/// A placement as an agency's files and statements need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyPlacement {
    pub placement_id: String,
    pub loan_id: String,
    pub borrower_id: String,
    pub currency: String,
    pub placed_at: Timestamp,
    pub commission_bps: Option<i64>,
    pub recalled_at: Option<Timestamp>,
    pub recall_reason: Option<String>,
}

impl AgencyPlacement {
    /// Live at `at`: placed at or before it and not recalled at or before it.
    pub fn live_at(&self, at: Timestamp) -> bool {
        self.placed_at <= at && self.recalled_at.is_none_or(|r| at < r)
    }
}

/// One row of agency activity as reported (over the API or in a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivity {
    pub activity_id: String,
    pub agency_id: String,
    pub loan_id: String,
    /// `contact`, `promise` or `payment`.
    pub kind: String,
    pub at: Timestamp,
    pub amount_minor: Option<i64>,
    pub body_sha256: String,
    /// `api` or `file:NAME:LINE`.
    pub source: String,
    pub actor: String,
}

/// What recording one activity row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityRecorded {
    Recorded,
    AlreadyRecorded,
    /// The id is on record with another row.
    Conflict,
}

/// A payment or reversal of a loan, as the remittance reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanPaymentRow {
    pub loan_id: String,
    pub payment_id: String,
    pub received_at: Timestamp,
    pub amount_minor: i64,
    pub reverses: Option<String>,
}

fn get_text(c: &Cell) -> String {
    c.text().unwrap_or_default().to_owned()
}

fn get_ts(table: &'static str, column: &'static str, c: &Cell) -> Result<Timestamp, StoreError> {
    let s = c.text().unwrap_or_default();
    s.parse().map_err(|_| StoreError::Corrupt {
        table,
        key: s.to_owned(),
        column,
        detail: "does not read back".into(),
    })
}

fn opt_ts(
    table: &'static str,
    column: &'static str,
    c: &Cell,
) -> Result<Option<Timestamp>, StoreError> {
    match c.text() {
        None => Ok(None),
        Some(_) => get_ts(table, column, c).map(Some),
    }
}

impl Store {
    /// Adds an agency; the same agency again changes nothing, another under its id is a
    /// conflict (agencies are never changed).
    pub async fn add_agency(&self, a: &NewAgency) -> Result<AgencyAdded, StoreError> {
        if let Some(old) = self.agency(&a.agency_id).await? {
            let same = old.name == a.name
                && old.jurisdictions == a.jurisdictions
                && old.commission_bps == a.commission_bps
                && old.term_days == a.term_days;
            return Ok(if same {
                AgencyAdded::AlreadyRecorded
            } else {
                AgencyAdded::Conflict(Box::new(old))
            });
        }
        let d = self.dialect();
        let n = self
            .exec_once(
                "adding an agency",
                &format!(
                    "INSERT INTO agencies (agency_id, name, jurisdictions, commission_bps, term_days, created_by, created_at) \
                     SELECT $1, $2, $3, $4, $5, $6, {} WHERE NOT EXISTS \
                     (SELECT 1 FROM agencies WHERE agency_id = $1)",
                    d.param(7, Ty::Ts)
                ),
                &[
                    text(&a.agency_id),
                    text(&a.name),
                    text(&a.jurisdictions.join(" ")),
                    int(a.commission_bps),
                    int(a.term_days),
                    text(&a.created_by),
                    ts(a.created_at),
                ],
            )
            .await?;
        Ok(if n == 0 {
            AgencyAdded::AlreadyRecorded
        } else {
            AgencyAdded::Added
        })
    }

    async fn agencies_where(
        &self,
        filter: &str,
        args: &[Cell],
    ) -> Result<Vec<StoredAgency>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading agencies",
                &format!(
                    "SELECT agency_id, name, jurisdictions, {}, {}, created_by, {} FROM agencies {filter} ORDER BY agency_id",
                    d.select("commission_bps", Ty::Int),
                    d.select("term_days", Ty::Int),
                    d.select("created_at", Ty::Ts)
                ),
                args,
                &[
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Int,
                    Ty::Int,
                    Ty::Text,
                    Ty::Ts,
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(NewAgency {
                    agency_id: get_text(&r[0]),
                    name: get_text(&r[1]),
                    jurisdictions: r[2]
                        .text()
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect(),
                    commission_bps: r[3].int().unwrap_or_default(),
                    term_days: r[4].int().unwrap_or_default(),
                    created_by: get_text(&r[5]),
                    created_at: get_ts("agencies", "created_at", &r[6])?,
                })
            })
            .collect()
    }

    /// Every agency, by id.
    pub async fn agencies(&self) -> Result<Vec<StoredAgency>, StoreError> {
        self.agencies_where("", &[]).await
    }

    pub async fn agency(&self, agency_id: &str) -> Result<Option<StoredAgency>, StoreError> {
        Ok(self
            .agencies_where("WHERE agency_id = $1", &[text(agency_id)])
            .await?
            .into_iter()
            .next())
    }

    /// Stores a new API token bound to one agency, in one statement (a token is never live
    /// without its binding). False when a live token has the name.
    pub async fn create_agency_token(
        &self,
        name: &str,
        token_sha256: &str,
        scopes: &[&str],
        agency_id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut sorted: Vec<&str> = scopes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let d = self.dialect();
        let n = self
            .exec_once(
                "storing an agency token",
                &format!(
                    "INSERT INTO api_tokens (name, token_sha256, created_at, scopes, scopes_granted_by, agency_id) \
                     SELECT $1, $2, {}, $4, 'cli', $5 WHERE NOT EXISTS \
                     (SELECT 1 FROM api_tokens WHERE name = $1 AND revoked_at IS NULL)",
                    d.param(3, Ty::Ts)
                ),
                &[
                    text(name),
                    text(token_sha256),
                    ts(at),
                    text(&sorted.join(" ")),
                    text(agency_id),
                ],
            )
            .await?;
        Ok(n > 0)
    }

    /// The live token with this hash: its name, scopes and agency (none: the lender's own).
    pub async fn token_grant(
        &self,
        token_sha256: &str,
    ) -> Result<Option<(String, Vec<String>, Option<String>)>, StoreError> {
        let rows = self
            .fetch_once(
                "looking up a token",
                "SELECT name, scopes, agency_id FROM api_tokens \
                 WHERE token_sha256 = $1 AND revoked_at IS NULL",
                &[text(token_sha256)],
                &[Ty::Text, Ty::Text, Ty::Text],
            )
            .await?;
        Ok(rows.first().and_then(|r| {
            Some((
                r[0].text()?.to_owned(),
                r[1].text()
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                r[2].text().map(str::to_owned),
            ))
        }))
    }

    /// The live tokens bound to an agency, by name (`arrears tokens list` shows the binding).
    pub async fn agency_tokens(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .fetch_once(
                "listing agency tokens",
                "SELECT name, agency_id FROM api_tokens \
                 WHERE revoked_at IS NULL AND agency_id IS NOT NULL ORDER BY name",
                &[],
                &[Ty::Text, Ty::Text],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (get_text(&r[0]), get_text(&r[1])))
            .collect())
    }

    /// Adds a user bound to one agency (role `agent`: the pages show them only the loans
    /// placed with the agency). False when the username is taken.
    pub async fn add_agency_user(
        &self,
        username: &str,
        password_hash: &str,
        agency_id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let d = self.dialect();
        let n = self
            .exec_once(
                "adding an agency user",
                &format!(
                    "INSERT INTO users (username, role, password_hash, created_at, agency_id) \
                     SELECT $1, 'agent', $2, {}, $4 WHERE NOT EXISTS \
                     (SELECT 1 FROM users WHERE username = $1)",
                    d.param(3, Ty::Ts)
                ),
                &[text(username), text(password_hash), ts(at), text(agency_id)],
            )
            .await?;
        Ok(n > 0)
    }

    /// The agency a user is bound to (none: the lender's own staff, or no such user).
    pub async fn user_agency(&self, username: &str) -> Result<Option<String>, StoreError> {
        let rows = self
            .fetch_once(
                "looking up a user's agency",
                "SELECT agency_id FROM users WHERE username = $1",
                &[text(username)],
                &[Ty::Text],
            )
            .await?;
        Ok(rows.first().and_then(|r| r[0].text().map(str::to_owned)))
    }

    /// Every placement with an agency (live or recalled), by placement instant.
    pub async fn agency_placements(
        &self,
        agency_id: &str,
    ) -> Result<Vec<AgencyPlacement>, StoreError> {
        self.placements_where("p.agency_id = $1", &[text(agency_id)])
            .await
    }

    /// The placements of one loan with one agency.
    pub async fn agency_loan_placements(
        &self,
        agency_id: &str,
        loan_id: &str,
    ) -> Result<Vec<AgencyPlacement>, StoreError> {
        self.placements_where(
            "p.agency_id = $1 AND p.loan_id = $2",
            &[text(agency_id), text(loan_id)],
        )
        .await
    }

    async fn placements_where(
        &self,
        filter: &str,
        args: &[Cell],
    ) -> Result<Vec<AgencyPlacement>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading an agency's placements",
                &format!(
                    "SELECT p.placement_id, p.loan_id, l.borrower_id, l.currency, {}, {}, {}, r.reason \
                     FROM placements p JOIN loans l ON l.loan_id = p.loan_id \
                     LEFT JOIN placement_recalls r ON r.placement_id = p.placement_id \
                     WHERE {filter} ORDER BY p.placed_at, p.placement_id",
                    d.select("p.placed_at", Ty::Ts),
                    d.select("p.commission_bps", Ty::Int),
                    d.select("r.recalled_at", Ty::Ts)
                ),
                args,
                &[
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Ts,
                    Ty::Int,
                    Ty::Ts,
                    Ty::Text,
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AgencyPlacement {
                    placement_id: get_text(&r[0]),
                    loan_id: get_text(&r[1]),
                    borrower_id: get_text(&r[2]),
                    currency: get_text(&r[3]),
                    placed_at: get_ts("placements", "placed_at", &r[4])?,
                    commission_bps: r[5].int(),
                    recalled_at: opt_ts("placement_recalls", "recalled_at", &r[6])?,
                    recall_reason: r[7].text().map(str::to_owned),
                })
            })
            .collect()
    }

    /// The loan of a placement.
    pub async fn placement_loan(&self, placement_id: &str) -> Result<Option<String>, StoreError> {
        let rows = self
            .fetch_once(
                "reading a placement's loan",
                "SELECT loan_id FROM placements WHERE placement_id = $1",
                &[text(placement_id)],
                &[Ty::Text],
            )
            .await?;
        Ok(rows.first().and_then(|r| r[0].text().map(str::to_owned)))
    }

    /// The agency of a placement.
    pub async fn placement_agency(&self, placement_id: &str) -> Result<Option<String>, StoreError> {
        let rows = self
            .fetch_once(
                "reading a placement's agency",
                "SELECT agency_id FROM placements WHERE placement_id = $1",
                &[text(placement_id)],
                &[Ty::Text],
            )
            .await?;
        Ok(rows.first().and_then(|r| r[0].text().map(str::to_owned)))
    }

    /// Whether `loan_id` is placed with `agency_id` at `at` (a live placement). The one
    /// question every agency credential's access is decided by.
    pub async fn placed_with(
        &self,
        agency_id: &str,
        loan_id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self
            .agency_loan_placements(agency_id, loan_id)
            .await?
            .iter()
            .any(|p| p.live_at(at)))
    }

    /// Records one row of agency activity, idempotently by its id.
    pub async fn record_agency_activity(
        &self,
        a: &NewActivity,
        recorded_at: Timestamp,
    ) -> Result<ActivityRecorded, StoreError> {
        let d = self.dialect();
        let n = self
            .exec_once(
                "recording agency activity",
                &format!(
                    "INSERT INTO agency_activity (activity_id, agency_id, loan_id, kind, at, amount_minor, body_sha256, source, actor, recorded_at) \
                     SELECT $1, $2, $3, $4, {}, $6, $7, $8, $9, {} WHERE NOT EXISTS \
                     (SELECT 1 FROM agency_activity WHERE activity_id = $1)",
                    d.param(5, Ty::Ts),
                    d.param(10, Ty::Ts)
                ),
                &[
                    text(&a.activity_id),
                    text(&a.agency_id),
                    text(&a.loan_id),
                    text(&a.kind),
                    ts(a.at),
                    Cell::Int(a.amount_minor),
                    text(&a.body_sha256),
                    text(&a.source),
                    text(&a.actor),
                    ts(recorded_at),
                ],
            )
            .await?;
        if n > 0 {
            return Ok(ActivityRecorded::Recorded);
        }
        let rows = self
            .fetch_once(
                "reading agency activity",
                "SELECT body_sha256 FROM agency_activity WHERE activity_id = $1",
                &[text(&a.activity_id)],
                &[Ty::Text],
            )
            .await?;
        Ok(match rows.first().and_then(|r| r[0].text()) {
            Some(h) if h == a.body_sha256 => ActivityRecorded::AlreadyRecorded,
            _ => ActivityRecorded::Conflict,
        })
    }

    /// An agency's reported activity: (loan, kind, at, amount), by instant.
    pub async fn agency_activity(
        &self,
        agency_id: &str,
    ) -> Result<Vec<(String, String, Timestamp, Option<i64>)>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading agency activity",
                &format!(
                    "SELECT loan_id, kind, {}, {} FROM agency_activity WHERE agency_id = $1 \
                     ORDER BY at, activity_id",
                    d.select("at", Ty::Ts),
                    d.select("amount_minor", Ty::Int)
                ),
                &[text(agency_id)],
                &[Ty::Text, Ty::Text, Ty::Ts, Ty::Int],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    get_text(&r[0]),
                    get_text(&r[1]),
                    get_ts("agency_activity", "at", &r[2])?,
                    r[3].int(),
                ))
            })
            .collect()
    }

    /// The payments and reversals of every loan ever placed with an agency.
    pub async fn agency_loan_money(
        &self,
        agency_id: &str,
    ) -> Result<Vec<LoanPaymentRow>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading the placed loans' payments",
                &format!(
                    "SELECT m.loan_id, m.payment_id, {}, {}, m.reverses FROM payments m \
                     WHERE m.loan_id IN (SELECT loan_id FROM placements WHERE agency_id = $1) \
                     ORDER BY m.loan_id, m.received_at, m.payment_id",
                    d.select("m.received_at", Ty::Ts),
                    d.select("m.amount_minor", Ty::Int)
                ),
                &[text(agency_id)],
                &[Ty::Text, Ty::Text, Ty::Ts, Ty::Int, Ty::Text],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LoanPaymentRow {
                    loan_id: get_text(&r[0]),
                    payment_id: get_text(&r[1]),
                    received_at: get_ts("payments", "received_at", &r[2])?,
                    amount_minor: r[3].int().unwrap_or_default(),
                    reverses: r[4].text().map(str::to_owned),
                })
            })
            .collect()
    }

    /// Lists a file written for an agency (placement, recall or remittance).
    pub async fn record_agency_file(
        &self,
        agency_id: &str,
        kind: &str,
        period: (Date, Date),
        loans: i64,
        sha256: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let d = self.dialect();
        self.exec_once(
            "listing an agency file",
            &format!(
                "INSERT INTO agency_files (agency_id, kind, period_from, period_to, loans, sha256, written_at) \
                 VALUES ($1, $2, {}, {}, $5, $6, {})",
                d.param(3, Ty::Date),
                d.param(4, Ty::Date),
                d.param(7, Ty::Ts)
            ),
            &[
                text(agency_id),
                text(kind),
                text(&date_text(period.0)),
                text(&date_text(period.1)),
                int(loans),
                text(sha256),
                ts(at),
            ],
        )
        .await?;
        Ok(())
    }

    /// How many files of a kind were written for an agency.
    pub async fn agency_file_count(&self, agency_id: &str, kind: &str) -> Result<i64, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "counting agency files",
                &format!(
                    "SELECT {} FROM agency_files WHERE agency_id = $1 AND kind = $2",
                    d.select("COUNT(*)", Ty::Int)
                ),
                &[text(agency_id), text(kind)],
                &[Ty::Int],
            )
            .await?;
        Ok(rows.first().and_then(|r| r[0].int()).unwrap_or_default())
    }
}
