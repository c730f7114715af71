//! The compliance extension tables of `compliance.md` that the portfolio model does not hold:
//! `contact_persons` (people linked to a borrower, designated or harvested, and whether they
//! refused further contact) and `legal_cases` (real court cases of a loan, whose status binds
//! legal words in messages). Both are optional files in the portfolio folder
//! (`contact_persons.csv`, `legal_cases.csv`), read with the same conventions as the other
//! tables: a header naming the columns (any order, extra columns ignored, a missing required
//! column is an error for the whole file), one row per line, and every bad row reported with
//! file, line (the header is line 1), column and reason, never dropped silently.
//! References are resolved against the accepted portfolio: a person of an unknown borrower,
//! or a case of an unknown loan, is rejected (`unknown_reference`); a repeated id keeps the
//! first row (`duplicate_id`).

use crate::IoError;
use arrears_domain::{FieldError, Portfolio, Reason, parse};
use jiff::civil::Date;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A person linked to a borrower (`contact_persons`). Personal data is masked in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ContactPersonRow {
    pub person_id: Box<str>,
    /// Index into `Portfolio::borrowers`.
    pub borrower: u32,
    pub name: Option<Box<str>>,
    pub phone: Option<Box<str>>,
    pub email: Option<Box<str>>,
    pub relation: Option<Box<str>>,
    /// `designated`, `address_book` (never contactable) or `contract` (co-borrower, guarantor).
    pub source: Box<str>,
    pub refused: bool,
}

impl std::fmt::Debug for ContactPersonRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContactPerson")
            .field("person_id", &self.person_id)
            .field("borrower", &self.borrower)
            .field("name", &self.name.as_ref().map(|_| "***"))
            .field("phone", &self.phone.as_ref().map(|_| "***"))
            .field("source", &self.source)
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

/// A real court case of a loan (`legal_cases`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalCaseRow {
    pub case_id: Box<str>,
    /// Index into `Portfolio::loans`.
    pub loan: u32,
    pub court: Box<str>,
    pub case_number: Box<str>,
    /// `filed`, `judgment`, `enforcement` or `closed`.
    pub status: Box<str>,
    pub updated_on: Option<Date>,
}

/// A rejected row or a malformed optional field read as empty (`severity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtReject {
    pub file: String,
    pub line: u64,
    pub column: &'static str,
    /// `error` (row rejected) or `warning` (field read as empty).
    pub severity: &'static str,
    pub reason: Reason,
    pub detail: String,
}

impl std::fmt::Display for ExtReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} line {}, column {}: {} ({}): {}",
            self.file, self.line, self.column, self.severity, self.reason, self.detail
        )
    }
}

/// The extension tables of a portfolio folder (empty when the files are absent).
#[derive(Debug, Default)]
pub struct Extensions {
    pub contact_persons: Vec<ContactPersonRow>,
    pub legal_cases: Vec<LegalCaseRow>,
    pub rejects: Vec<ExtReject>,
    /// Rows read per table (contact_persons, legal_cases).
    pub rows_read: [u64; 2],
}

struct Table {
    file: String,
    path: PathBuf,
    names: HashMap<String, usize>,
    rows: Vec<(u64, csv::StringRecord)>,
}

fn load(dir: &Path, name: &str, required: &[&'static str]) -> Result<Option<Table>, IoError> {
    let path = dir.join(format!("{name}.csv"));
    if dir.join(format!("{name}.parquet")).is_file() {
        return Err(IoError::Config {
            path: dir.join(format!("{name}.parquet")),
            reason: format!("{name} is read from CSV only; convert it to {name}.csv"),
        });
    }
    if !path.is_file() {
        return Ok(None);
    }
    let file = std::fs::File::open(&path).map_err(|e| IoError::io(&path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(std::io::BufReader::new(file));
    let csv_err = |e: csv::Error| IoError::Csv {
        path: path.clone(),
        reason: e.to_string(),
    };
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let mut names = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim_start_matches('\u{feff}').to_owned();
        if names.insert(h.clone(), i).is_some() {
            return Err(IoError::DuplicateColumn {
                path: path.clone(),
                column: h,
            });
        }
    }
    for &c in required {
        if !names.contains_key(c) {
            return Err(IoError::MissingColumn {
                path: path.clone(),
                column: c,
            });
        }
    }
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() == 1 && rec.get(0) == Some("") {
            continue;
        }
        rows.push((line, rec));
    }
    Ok(Some(Table {
        file: format!("{name}.csv"),
        path,
        names,
        rows,
    }))
}

impl Table {
    fn cell<'r>(&self, rec: &'r csv::StringRecord, column: &str) -> Option<&'r str> {
        self.names
            .get(column)
            .and_then(|&i| rec.get(i))
            .filter(|s| !s.is_empty())
    }

    fn need<'r>(
        &self,
        rec: &'r csv::StringRecord,
        column: &'static str,
    ) -> Result<&'r str, FieldError> {
        self.cell(rec, column)
            .ok_or_else(|| FieldError::new(column, Reason::MissingValue, "required value is empty"))
    }
}

fn one_of<'a>(column: &'static str, s: &'a str, allowed: &[&str]) -> Result<&'a str, FieldError> {
    if allowed.contains(&s) {
        Ok(s)
    } else {
        Err(FieldError::new(
            column,
            Reason::InvalidValue,
            format!("{s:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

/// Reads `contact_persons.csv` and `legal_cases.csv` from `dir`, if present.
pub fn read_extensions(dir: &Path, portfolio: &Portfolio) -> Result<Extensions, IoError> {
    let mut out = Extensions::default();
    let borrowers: HashMap<&str, u32> = portfolio
        .borrowers
        .iter()
        .enumerate()
        .filter_map(|(i, b)| u32::try_from(i).ok().map(|i| (b.id.as_str(), i)))
        .collect();
    let loans: HashMap<&str, u32> = portfolio
        .loans
        .iter()
        .enumerate()
        .filter_map(|(i, l)| u32::try_from(i).ok().map(|i| (l.id.as_str(), i)))
        .collect();
    let reject = |t: &Table, line: u64, e: FieldError, severity: &'static str| ExtReject {
        file: t.file.clone(),
        line,
        column: e.column,
        severity,
        reason: e.reason,
        detail: e.detail,
    };

    if let Some(t) = load(
        dir,
        "contact_persons",
        &["person_id", "borrower_id", "source"],
    )? {
        let mut seen = HashSet::new();
        for (line, rec) in &t.rows {
            out.rows_read[0] += 1;
            let mut warnings = Vec::new();
            let row = (|| -> Result<ContactPersonRow, FieldError> {
                let id = t.need(rec, "person_id")?;
                let bid = t.need(rec, "borrower_id")?;
                let source = one_of(
                    "source",
                    t.need(rec, "source")?,
                    &["designated", "address_book", "contract"],
                )?;
                let refused = match t.cell(rec, "refused") {
                    None => false,
                    Some(s) => parse::boolean("refused", s)?,
                };
                let mut opt = |column: &'static str, f: fn(&'static str, &str) -> Result<Box<str>, FieldError>| {
                    t.cell(rec, column).and_then(|s| match f(column, s) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            warnings.push(e);
                            None
                        }
                    })
                };
                let phone = opt("phone", parse::phone);
                let email = opt("email", parse::email);
                if !seen.insert(id.to_owned()) {
                    return Err(FieldError::new(
                        "person_id",
                        Reason::DuplicateId,
                        format!("{id:?} appeared in an earlier row, which is kept"),
                    ));
                }
                let borrower = *borrowers.get(bid).ok_or_else(|| {
                    FieldError::new(
                        "borrower_id",
                        Reason::UnknownReference,
                        format!("no accepted borrower {bid:?}"),
                    )
                })?;
                Ok(ContactPersonRow {
                    person_id: id.into(),
                    borrower,
                    name: t.cell(rec, "name").map(Into::into),
                    phone,
                    email,
                    relation: t.cell(rec, "relation").map(Into::into),
                    source: source.into(),
                    refused,
                })
            })();
            match row {
                Ok(r) => {
                    out.rejects.extend(
                        warnings
                            .into_iter()
                            .map(|w| reject(&t, *line, w, "warning")),
                    );
                    out.contact_persons.push(r);
                }
                Err(e) => out.rejects.push(reject(&t, *line, e, "error")),
            }
        }
        let _ = &t.path;
    }

    if let Some(t) = load(
        dir,
        "legal_cases",
        &["case_id", "loan_id", "court", "case_number", "status"],
    )? {
        let mut seen = HashSet::new();
        for (line, rec) in &t.rows {
            out.rows_read[1] += 1;
            let row = (|| -> Result<LegalCaseRow, FieldError> {
                let id = t.need(rec, "case_id")?;
                let lid = t.need(rec, "loan_id")?;
                let court = t.need(rec, "court")?;
                let number = t.need(rec, "case_number")?;
                let status = one_of(
                    "status",
                    t.need(rec, "status")?,
                    &["filed", "judgment", "enforcement", "closed"],
                )?;
                let updated_on = t
                    .cell(rec, "updated_on")
                    .map(|s| parse::date("updated_on", s))
                    .transpose()?;
                if !seen.insert(id.to_owned()) {
                    return Err(FieldError::new(
                        "case_id",
                        Reason::DuplicateId,
                        format!("{id:?} appeared in an earlier row, which is kept"),
                    ));
                }
                let loan = *loans.get(lid).ok_or_else(|| {
                    FieldError::new(
                        "loan_id",
                        Reason::UnknownReference,
                        format!("no accepted loan {lid:?}"),
                    )
                })?;
                Ok(LegalCaseRow {
                    case_id: id.into(),
                    loan,
                    court: court.into(),
                    case_number: number.into(),
                    status: status.into(),
                    updated_on,
                })
            })();
            match row {
                Ok(r) => out.legal_cases.push(r),
                Err(e) => out.rejects.push(reject(&t, *line, e, "error")),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portfolio(dir: &Path) -> Portfolio {
        std::fs::write(
            dir.join("borrowers.csv"),
            "borrower_id,name,phone,email,timezone,jurisdiction\nB1,Ann,+8613800138000,,Asia/Shanghai,CN\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("loans.csv"),
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\nL1,B1,p,CNY,100000,1000,0,2026-01-01\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("installments.csv"),
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\nL1,1,2026-02-01,100000,0,0\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("payments.csv"),
            "payment_id,loan_id,received_at,amount_minor\n",
        )
        .unwrap();
        crate::read_portfolio(dir, &|_, _| {}).unwrap().portfolio
    }

    #[test]
    fn rows_are_read_or_rejected_with_file_line_column_reason() {
        let d = tempfile::tempdir().unwrap();
        let p = portfolio(d.path());
        std::fs::write(
            d.path().join("contact_persons.csv"),
            "person_id,borrower_id,name,phone,relation,source,refused\n\
             P1,B1,Li,+8613900139000,sister,designated,false\n\
             P2,B1,Wu,+8613900139001,friend,address_book,\n\
             P1,B1,Li,+8613900139000,sister,designated,false\n\
             P3,B9,Zhao,,,designated,false\n\
             P4,B1,Qian,12345,,designated,true\n\
             P5,B1,Sun,,,harvested,false\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("legal_cases.csv"),
            "case_id,loan_id,court,case_number,status,updated_on\n\
             K1,L1,Shanghai Pudong Court,(2026)沪0115民初123号,filed,2026-10-01\n\
             K2,L9,Court,1,filed,\n\
             K3,L1,Court,2,pending,\n\
             K4,L1,Court,3,closed,2026-13-01\n",
        )
        .unwrap();
        let e = read_extensions(d.path(), &p).unwrap();
        assert_eq!(e.rows_read, [6, 4]);
        let ids: Vec<&str> = e.contact_persons.iter().map(|c| &*c.person_id).collect();
        assert_eq!(ids, ["P1", "P2", "P4"]);
        assert!(e.contact_persons[2].refused && e.contact_persons[2].phone.is_none());
        assert_eq!(e.legal_cases.len(), 1);
        assert_eq!(&*e.legal_cases[0].status, "filed");
        let shown: Vec<String> = e.rejects.iter().map(ToString::to_string).collect();
        let want = [
            "contact_persons.csv line 4, column person_id: error (duplicate_id)",
            "contact_persons.csv line 5, column borrower_id: error (unknown_reference)",
            "contact_persons.csv line 6, column phone: warning (invalid_value)",
            "contact_persons.csv line 7, column source: error (invalid_value)",
            "legal_cases.csv line 3, column loan_id: error (unknown_reference)",
            "legal_cases.csv line 4, column status: error (invalid_value)",
            "legal_cases.csv line 5, column updated_on: error (invalid_value)",
        ];
        assert_eq!(shown.len(), want.len(), "{shown:#?}");
        for (s, w) in shown.iter().zip(want) {
            assert!(s.starts_with(w), "{s} / {w}");
        }
    }

    #[test]
    fn absent_files_are_empty_and_a_missing_column_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = portfolio(d.path());
        let e = read_extensions(d.path(), &p).unwrap();
        assert!(e.contact_persons.is_empty() && e.legal_cases.is_empty() && e.rejects.is_empty());
        std::fs::write(
            d.path().join("legal_cases.csv"),
            "case_id,loan_id,court,status\n",
        )
        .unwrap();
        let err = read_extensions(d.path(), &p).unwrap_err().to_string();
        assert!(
            err.contains("legal_cases.csv") && err.contains("case_number"),
            "{err}"
        );
    }
}
