//! Typed rule parameters, and the one reader that both parses them from a pack and tightens
//! them from a lender policy.
//!
//! Every parameter is read through `Fields`, which knows the direction in which the value is
//! stricter (a later start hour, an earlier end hour, a lower cap, a longer retention, a
//! superset of restricted channels...). Reading a pack (`base = None`) requires every field;
//! reading a policy override (`base = Some(pack value)`) takes each field that is present,
//! refuses it if it is looser than the pack's, and keeps the pack's value otherwise. So the
//! same code defines what a rule's parameters are and which way each may move.

use crate::model::{Channel, ChannelSet, LocalWindow, NoticeKind, NoticeSet, hhmm, parse_hhmm};
use jiff::civil::Time;
use std::collections::BTreeSet;
use std::fmt::Display;

/// Why a parameter could not be read or tightened. The caller adds the pack and rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParamError {
    Missing {
        field: &'static str,
    },
    Invalid {
        field: String,
        message: String,
    },
    Unknown {
        field: String,
    },
    Looser {
        field: &'static str,
        pack_value: String,
        proposed: String,
    },
    Fixed {
        field: &'static str,
        pack_value: String,
        proposed: String,
    },
}

/// The direction in which a number or time is stricter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stricter {
    Lower,
    Higher,
}

/// Reads the parameter table of one rule, in pack mode or in tightening mode.
pub(crate) struct Fields<'a> {
    table: &'a toml::Table,
    seen: BTreeSet<&'static str>,
    tightening: bool,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(table: &'a toml::Table, tightening: bool) -> Fields<'a> {
        Fields {
            table,
            seen: BTreeSet::new(),
            tightening,
        }
    }

    /// Every key of the table must have been read: an unknown key is an error, never ignored
    /// (a misspelt `max_per_local_day` would otherwise silently keep the looser default).
    pub(crate) fn finish(self) -> Result<(), ParamError> {
        match self.table.keys().find(|k| !self.seen.contains(k.as_str())) {
            Some(k) => Err(ParamError::Unknown { field: k.clone() }),
            None => Ok(()),
        }
    }

    /// The raw value of `field`, or the pack's value when tightening and the policy is silent.
    fn raw<T: Clone>(
        &mut self,
        field: &'static str,
        base: Option<&T>,
    ) -> Result<Option<&'a toml::Value>, ParamError> {
        self.seen.insert(field);
        match (self.table.get(field), base) {
            (Some(v), _) => Ok(Some(v)),
            (None, Some(_)) => Ok(None),
            (None, None) => Err(ParamError::Missing { field }),
        }
    }

    fn invalid(field: &str, message: impl Into<String>) -> ParamError {
        ParamError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    fn compare<T: PartialOrd + Copy + Display>(
        &self,
        field: &'static str,
        base: Option<T>,
        proposed: T,
        stricter: Stricter,
    ) -> Result<T, ParamError> {
        match base {
            Some(b) if self.tightening => {
                let looser = match stricter {
                    Stricter::Lower => proposed > b,
                    Stricter::Higher => proposed < b,
                };
                if looser {
                    Err(ParamError::Looser {
                        field,
                        pack_value: b.to_string(),
                        proposed: proposed.to_string(),
                    })
                } else {
                    Ok(proposed)
                }
            }
            _ => Ok(proposed),
        }
    }

    fn read_u32(field: &str, v: &toml::Value) -> Result<u32, ParamError> {
        let i = v
            .as_integer()
            .ok_or_else(|| Self::invalid(field, format!("{v} is not an integer")))?;
        u32::try_from(i)
            .map_err(|_| Self::invalid(field, format!("{i} is outside 0..={}", u32::MAX)))
    }

    fn read_time(field: &str, v: &toml::Value) -> Result<Time, ParamError> {
        v.as_str()
            .and_then(parse_hhmm)
            .ok_or_else(|| Self::invalid(field, format!("{v} is not a local time \"HH:MM\"")))
    }

    /// A count or a number of days: `Stricter::Lower` for caps, `Higher` for waits.
    fn number(
        &mut self,
        field: &'static str,
        base: Option<u32>,
        stricter: Stricter,
    ) -> Result<u32, ParamError> {
        match self.raw(field, base.as_ref())? {
            Some(v) => {
                let n = Self::read_u32(field, v)?;
                self.compare(field, base, n, stricter)
            }
            None => base.ok_or(ParamError::Missing { field }),
        }
    }

    /// A cap: lower is stricter.
    pub(crate) fn cap(
        &mut self,
        field: &'static str,
        base: Option<u32>,
    ) -> Result<u32, ParamError> {
        self.number(field, base, Stricter::Lower)
    }

    /// A minimum, a wait or a retention: higher is stricter.
    pub(crate) fn floor(
        &mut self,
        field: &'static str,
        base: Option<u32>,
    ) -> Result<u32, ParamError> {
        self.number(field, base, Stricter::Higher)
    }

    /// An amount in minor units; lower is stricter.
    pub(crate) fn amount_cap(
        &mut self,
        field: &'static str,
        base: Option<i64>,
    ) -> Result<i64, ParamError> {
        match self.raw(field, base.as_ref())? {
            Some(v) => {
                let i = v
                    .as_integer()
                    .ok_or_else(|| Self::invalid(field, format!("{v} is not an integer")))?;
                if !(0..=arrears_domain::types::MAX_AMOUNT_MINOR).contains(&i) {
                    return Err(Self::invalid(
                        field,
                        format!(
                            "{i} is outside 0..={}",
                            arrears_domain::types::MAX_AMOUNT_MINOR
                        ),
                    ));
                }
                self.compare(field, base, i, Stricter::Lower)
            }
            None => base.ok_or(ParamError::Missing { field }),
        }
    }

    /// An optional cap in basis points: absent in a pack means no cap; a policy may add one
    /// or lower it, never remove or raise it.
    pub(crate) fn optional_bps(
        &mut self,
        field: &'static str,
        base: Option<Option<u32>>,
    ) -> Result<Option<u32>, ParamError> {
        self.seen.insert(field);
        let Some(v) = self.table.get(field) else {
            return Ok(base.flatten());
        };
        let bps = Self::read_u32(field, v)?;
        if i64::from(bps) > i64::from(arrears_domain::Bps::MAX) {
            return Err(Self::invalid(
                field,
                format!("{bps} exceeds {} basis points", arrears_domain::Bps::MAX),
            ));
        }
        match base {
            Some(Some(b)) if self.tightening => {
                self.compare(field, Some(b), bps, Stricter::Lower).map(Some)
            }
            _ => Ok(Some(bps)),
        }
    }

    /// A local time where later is stricter (a window's start).
    pub(crate) fn time_not_earlier(
        &mut self,
        field: &'static str,
        base: Option<Time>,
    ) -> Result<Time, ParamError> {
        self.time(field, base, Stricter::Higher)
    }

    /// A local time where earlier is stricter (a window's end).
    pub(crate) fn time_not_later(
        &mut self,
        field: &'static str,
        base: Option<Time>,
    ) -> Result<Time, ParamError> {
        self.time(field, base, Stricter::Lower)
    }

    fn time(
        &mut self,
        field: &'static str,
        base: Option<Time>,
        stricter: Stricter,
    ) -> Result<Time, ParamError> {
        match self.raw(field, base.as_ref())? {
            Some(v) => {
                let t = Self::read_time(field, v)?;
                match base {
                    Some(b) if self.tightening => {
                        let looser = match stricter {
                            Stricter::Lower => t > b,
                            Stricter::Higher => t < b,
                        };
                        if looser {
                            Err(ParamError::Looser {
                                field,
                                pack_value: hhmm(b),
                                proposed: hhmm(t),
                            })
                        } else {
                            Ok(t)
                        }
                    }
                    _ => Ok(t),
                }
            }
            None => base.ok_or(ParamError::Missing { field }),
        }
    }

    /// A boolean whose `strict` value may replace the other, never the reverse.
    pub(crate) fn flag(
        &mut self,
        field: &'static str,
        base: Option<bool>,
        strict: bool,
    ) -> Result<bool, ParamError> {
        match self.raw(field, base.as_ref())? {
            Some(v) => {
                let b = v
                    .as_bool()
                    .ok_or_else(|| Self::invalid(field, format!("{v} is not true or false")))?;
                match base {
                    Some(pack) if self.tightening && pack == strict && b != strict => {
                        Err(ParamError::Looser {
                            field,
                            pack_value: pack.to_string(),
                            proposed: b.to_string(),
                        })
                    }
                    _ => Ok(b),
                }
            }
            None => base.ok_or(ParamError::Missing { field }),
        }
    }

    /// Channels a restriction applies to: a policy may add channels, never drop one.
    pub(crate) fn restricted_channels(
        &mut self,
        field: &'static str,
        base: Option<ChannelSet>,
    ) -> Result<ChannelSet, ParamError> {
        self.channels(field, base, true)
    }

    /// Channels a permission applies to: a policy may drop channels, never add one.
    pub(crate) fn permitted_channels(
        &mut self,
        field: &'static str,
        base: Option<ChannelSet>,
    ) -> Result<ChannelSet, ParamError> {
        self.channels(field, base, false)
    }

    fn channels(
        &mut self,
        field: &'static str,
        base: Option<ChannelSet>,
        restriction: bool,
    ) -> Result<ChannelSet, ParamError> {
        match self.raw(field, base.as_ref())? {
            Some(v) => {
                let set = read_list(field, v, |s| Channel::parse(s).map_err(|e| e.to_string()))?
                    .into_iter()
                    .collect::<ChannelSet>();
                match base {
                    Some(b) if self.tightening => {
                        let ok = if restriction {
                            set.is_superset(b)
                        } else {
                            b.is_superset(set)
                        };
                        if ok {
                            Ok(set)
                        } else {
                            Err(ParamError::Looser {
                                field,
                                pack_value: b.to_string(),
                                proposed: set.to_string(),
                            })
                        }
                    }
                    _ => Ok(set),
                }
            }
            None => base.ok_or(ParamError::Missing { field }),
        }
    }

    /// Notices a hold permits: a policy may permit fewer, never more.
    pub(crate) fn permitted_notices(
        &mut self,
        field: &'static str,
        base: Option<NoticeSet>,
    ) -> Result<NoticeSet, ParamError> {
        match self.raw(field, base.as_ref())? {
            Some(v) => {
                let set = read_list(field, v, |s| {
                    NoticeKind::parse(s).map_err(|e| e.to_string())
                })?
                .into_iter()
                .collect::<NoticeSet>();
                match base {
                    Some(b) if self.tightening && !set.is_subset(b) => Err(ParamError::Looser {
                        field,
                        pack_value: b.to_string(),
                        proposed: set.to_string(),
                    }),
                    _ => Ok(set),
                }
            }
            None => base.ok_or(ParamError::Missing { field }),
        }
    }

    /// A text that is part of the law (a hotline number): a policy may only repeat it.
    pub(crate) fn fixed_text(
        &mut self,
        field: &'static str,
        base: Option<&str>,
    ) -> Result<String, ParamError> {
        match self.raw(field, base.as_ref())? {
            Some(v) => {
                let s = v
                    .as_str()
                    .ok_or_else(|| Self::invalid(field, format!("{v} is not a string")))?;
                if s.trim().is_empty() {
                    return Err(Self::invalid(field, "is empty"));
                }
                match base {
                    Some(b) if self.tightening && b != s => Err(ParamError::Fixed {
                        field,
                        pack_value: b.to_owned(),
                        proposed: s.to_owned(),
                    }),
                    _ => Ok(s.to_owned()),
                }
            }
            None => base.map(str::to_owned).ok_or(ParamError::Missing { field }),
        }
    }
}

fn read_list<T>(
    field: &str,
    v: &toml::Value,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ParamError> {
    let arr = v
        .as_array()
        .ok_or_else(|| Fields::invalid(field, format!("{v} is not a list")))?;
    arr.iter()
        .map(|item| {
            let s = item
                .as_str()
                .ok_or_else(|| Fields::invalid(field, format!("{item} is not a string")))?;
            parse(s).map_err(|m| Fields::invalid(field, m))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The parameter shapes. Each `read` is used for both parsing (`base = None`) and tightening.
// ---------------------------------------------------------------------------------------

/// CN-HOURS, US-HOURS, GB-HOURS: `start <= local < end` on the listed channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursParams {
    pub window: LocalWindow,
    /// The contact channels the window restricts.
    pub channels: ChannelSet,
    /// Whether a time the borrower agreed replaces the window (CN: "unless the borrower agreed
    /// a time"). A policy may turn it off, never on.
    pub honor_agreed_hours: bool,
}

impl HoursParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&HoursParams>,
    ) -> Result<HoursParams, ParamError> {
        let start = f.time_not_earlier("start", base.map(|b| b.window.start()))?;
        let end = f.time_not_later("end", base.map(|b| b.window.end()))?;
        let window =
            LocalWindow::new(start, end).map_err(|e| Fields::invalid("start", e.to_string()))?;
        let channels = f.restricted_channels("channels", base.map(|b| b.channels))?;
        let honor_agreed_hours = f.flag(
            "honor_agreed_hours",
            base.map(|b| b.honor_agreed_hours),
            false,
        )?;
        Ok(HoursParams {
            window,
            channels,
            honor_agreed_hours,
        })
    }
}

/// CN-FREQ-CONNECTED, CN-FREQ-ATTEMPTS: at most `max_per_local_day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyCapParams {
    pub max_per_local_day: u32,
}

impl DailyCapParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&DailyCapParams>,
    ) -> Result<DailyCapParams, ParamError> {
        Ok(DailyCapParams {
            max_per_local_day: f.cap("max_per_local_day", base.map(|b| b.max_per_local_day))?,
        })
    }
}

/// US-7IN7: at most `max_attempts` calls in any `window_days` (rolling, 86,400 s days), and
/// none for `quiet_local_days` local days counted from a conversation's day as day 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallCadenceParams {
    pub max_attempts: u32,
    pub window_days: u32,
    pub quiet_local_days: u32,
}

impl CallCadenceParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&CallCadenceParams>,
    ) -> Result<CallCadenceParams, ParamError> {
        let p = CallCadenceParams {
            max_attempts: f.cap("max_attempts", base.map(|b| b.max_attempts))?,
            window_days: f.floor("window_days", base.map(|b| b.window_days))?,
            quiet_local_days: f.floor("quiet_local_days", base.map(|b| b.quiet_local_days))?,
        };
        if p.window_days == 0 || p.window_days > MAX_DAYS {
            return Err(Fields::invalid(
                "window_days",
                format!("must be 1..={MAX_DAYS}"),
            ));
        }
        if p.quiet_local_days > MAX_DAYS {
            return Err(Fields::invalid(
                "quiet_local_days",
                format!("must be 0..={MAX_DAYS}"),
            ));
        }
        Ok(p)
    }
}

/// The longest wait a day-count parameter may express; keeps instant arithmetic in range.
pub(crate) const MAX_DAYS: u32 = 3660;

/// CN-VISIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitParams {
    pub min_staff: u32,
    pub require_recording: bool,
}

impl VisitParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&VisitParams>,
    ) -> Result<VisitParams, ParamError> {
        Ok(VisitParams {
            min_staff: f.floor("min_staff", base.map(|b| b.min_staff))?,
            require_recording: f.flag(
                "require_recording",
                base.map(|b| b.require_recording),
                true,
            )?,
        })
    }
}

/// CN-AGENCY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgencyParams {
    pub require_prior_notice: bool,
    pub require_approved_agency: bool,
}

impl AgencyParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&AgencyParams>,
    ) -> Result<AgencyParams, ParamError> {
        Ok(AgencyParams {
            require_prior_notice: f.flag(
                "require_prior_notice",
                base.map(|b| b.require_prior_notice),
                true,
            )?,
            require_approved_agency: f.flag(
                "require_approved_agency",
                base.map(|b| b.require_approved_agency),
                true,
            )?,
        })
    }
}

/// CN-CREDIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnCreditParams {
    pub require_prior_notice: bool,
    /// Days within which a credit dispute must be answered; lower is stricter.
    pub dispute_response_days: u32,
}

impl CnCreditParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&CnCreditParams>,
    ) -> Result<CnCreditParams, ParamError> {
        Ok(CnCreditParams {
            require_prior_notice: f.flag(
                "require_prior_notice",
                base.map(|b| b.require_prior_notice),
                true,
            )?,
            dispute_response_days: f.cap(
                "dispute_response_days",
                base.map(|b| b.dispute_response_days),
            )?,
        })
    }
}

/// US-CREDIT: report only after the consumer was contacted, or `notice_wait_days` (86,400 s
/// days) after a notice that did not bounce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsCreditParams {
    pub notice_wait_days: u32,
}

impl UsCreditParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&UsCreditParams>,
    ) -> Result<UsCreditParams, ParamError> {
        let p = UsCreditParams {
            notice_wait_days: f.floor("notice_wait_days", base.map(|b| b.notice_wait_days))?,
        };
        if p.notice_wait_days > MAX_DAYS {
            return Err(Fields::invalid(
                "notice_wait_days",
                format!("must be 0..={MAX_DAYS}"),
            ));
        }
        Ok(p)
    }
}

/// CN-COST, US-COST: the annual cost cap in basis points; `None` = no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostParams {
    pub max_annual_cost_bps: Option<u32>,
}

impl CostParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&CostParams>,
    ) -> Result<CostParams, ParamError> {
        Ok(CostParams {
            max_annual_cost_bps: f
                .optional_bps("max_annual_cost_bps", base.map(|b| b.max_annual_cost_bps))?,
        })
    }
}

/// What a retention period is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionAnchor {
    /// The record's own instant (CN-RECORDS).
    Record,
    /// The last collection activity on the account (US-RECORDS).
    LastActivity,
}

impl RetentionAnchor {
    fn parse(s: &str) -> Option<RetentionAnchor> {
        match s {
            "record" => Some(RetentionAnchor::Record),
            "last_activity" => Some(RetentionAnchor::LastActivity),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            RetentionAnchor::Record => "record",
            RetentionAnchor::LastActivity => "last_activity",
        }
    }
}

/// CN-RECORDS, US-RECORDS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordsParams {
    pub retention_years: u32,
    pub counted_from: RetentionAnchor,
}

impl RecordsParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&RecordsParams>,
    ) -> Result<RecordsParams, ParamError> {
        let retention_years = f.floor("retention_years", base.map(|b| b.retention_years))?;
        if retention_years > 100 {
            return Err(Fields::invalid("retention_years", "must be 0..=100"));
        }
        let anchor = f.fixed_text("counted_from", base.map(|b| b.counted_from.code()))?;
        let counted_from = RetentionAnchor::parse(&anchor).ok_or_else(|| {
            Fields::invalid(
                "counted_from",
                format!("{anchor:?} is not record or last_activity"),
            )
        })?;
        Ok(RecordsParams {
            retention_years,
            counted_from,
        })
    }
}

/// CN-COMPLAINT: the hotline borrower-facing notices must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintParams {
    pub hotline: String,
}

impl ComplaintParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&ComplaintParams>,
    ) -> Result<ComplaintParams, ParamError> {
        Ok(ComplaintParams {
            hotline: f.fixed_text("hotline", base.map(|b| b.hotline.as_str()))?,
        })
    }
}

/// US-VALIDATION.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationParams {
    /// Days (86,400 s) after the initial communication by which the notice must be sent.
    pub notice_within_days: u32,
    /// Business days after sending at which receipt is assumed.
    pub receipt_business_days: u32,
    /// Days after assumed receipt at which the validation period ends.
    pub validation_period_days: u32,
}

impl ValidationParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&ValidationParams>,
    ) -> Result<ValidationParams, ParamError> {
        let p = ValidationParams {
            notice_within_days: f.cap("notice_within_days", base.map(|b| b.notice_within_days))?,
            receipt_business_days: f.floor(
                "receipt_business_days",
                base.map(|b| b.receipt_business_days),
            )?,
            validation_period_days: f.floor(
                "validation_period_days",
                base.map(|b| b.validation_period_days),
            )?,
        };
        for (field, v) in [
            ("notice_within_days", p.notice_within_days),
            ("receipt_business_days", p.receipt_business_days),
            ("validation_period_days", p.validation_period_days),
        ] {
            if v > MAX_DAYS {
                return Err(Fields::invalid(field, format!("must be 0..={MAX_DAYS}")));
            }
        }
        Ok(p)
    }
}

/// US-EOPT: the channels on which a recorded opt-out stops messages to that target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptOutParams {
    pub channels: ChannelSet,
}

impl OptOutParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&OptOutParams>,
    ) -> Result<OptOutParams, ParamError> {
        Ok(OptOutParams {
            channels: f.restricted_channels("channels", base.map(|b| b.channels))?,
        })
    }
}

/// US-CHARGEOFF: days past due at which a closed-end loan is proposed for charge-off. A lower
/// number is treated as stricter (the loss is recognised sooner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeOffParams {
    pub dpd: u32,
}

impl ChargeOffParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&ChargeOffParams>,
    ) -> Result<ChargeOffParams, ParamError> {
        Ok(ChargeOffParams {
            dpd: f.cap("dpd", base.map(|b| b.dpd))?,
        })
    }
}

/// GB-CHARGES: the highest arrears charge, in the pack currency's minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargesParams {
    pub max_charge_minor: i64,
}

impl ChargesParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&ChargesParams>,
    ) -> Result<ChargesParams, ParamError> {
        Ok(ChargesParams {
            max_charge_minor: f.amount_cap("max_charge_minor", base.map(|b| b.max_charge_minor))?,
        })
    }
}

/// ALL-CEASE, ALL-HOLD-DISPUTE: the notices still allowed, and on which channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermittedNoticesParams {
    pub permitted_notices: NoticeSet,
    pub notice_channels: ChannelSet,
}

impl PermittedNoticesParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&PermittedNoticesParams>,
    ) -> Result<PermittedNoticesParams, ParamError> {
        Ok(PermittedNoticesParams {
            permitted_notices: f
                .permitted_notices("permitted_notices", base.map(|b| b.permitted_notices))?,
            notice_channels: f
                .permitted_channels("notice_channels", base.map(|b| b.notice_channels))?,
        })
    }
}

/// ALL-LOCATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocateParams {
    pub max_contacts_per_person: u32,
    pub channels: ChannelSet,
}

impl LocateParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&LocateParams>,
    ) -> Result<LocateParams, ParamError> {
        Ok(LocateParams {
            max_contacts_per_person: f.cap(
                "max_contacts_per_person",
                base.map(|b| b.max_contacts_per_person),
            )?,
            channels: f.permitted_channels("channels", base.map(|b| b.channels))?,
        })
    }
}

/// ALL-FEE-CAP: whether a collection fee may be charged at all (and then only when the
/// contract allows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeCapParams {
    pub collection_fee_allowed: bool,
}

impl FeeCapParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&FeeCapParams>,
    ) -> Result<FeeCapParams, ParamError> {
        Ok(FeeCapParams {
            collection_fee_allowed: f.flag(
                "collection_fee_allowed",
                base.map(|b| b.collection_fee_allowed),
                false,
            )?,
        })
    }
}

/// ALL-IDENTITY: which messages must identify the sender, which must carry an opt-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityParams {
    pub channels: ChannelSet,
    pub opt_out_channels: ChannelSet,
}

impl IdentityParams {
    pub(crate) fn read(
        f: &mut Fields<'_>,
        base: Option<&IdentityParams>,
    ) -> Result<IdentityParams, ParamError> {
        Ok(IdentityParams {
            channels: f.restricted_channels("channels", base.map(|b| b.channels))?,
            opt_out_channels: f
                .restricted_channels("opt_out_channels", base.map(|b| b.opt_out_channels))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        s.parse::<toml::Table>().unwrap()
    }

    #[test]
    fn pack_mode_requires_every_field_and_rejects_unknown_ones() {
        let t = table("start = \"08:00\"\nchannels = [\"call\"]\nhonor_agreed_hours = false");
        let mut f = Fields::new(&t, false);
        assert_eq!(
            HoursParams::read(&mut f, None).unwrap_err(),
            ParamError::Missing { field: "end" }
        );

        let t = table("max_per_local_day = 3\nmax_per_day = 2");
        let mut f = Fields::new(&t, false);
        DailyCapParams::read(&mut f, None).unwrap();
        assert_eq!(
            f.finish().unwrap_err(),
            ParamError::Unknown {
                field: "max_per_day".into()
            }
        );
    }

    #[test]
    fn tightening_accepts_stricter_and_refuses_looser() {
        let base = HoursParams {
            window: LocalWindow::new(parse_hhmm("08:00").unwrap(), parse_hhmm("22:00").unwrap())
                .unwrap(),
            channels: [Channel::Call, Channel::Sms].into_iter().collect(),
            honor_agreed_hours: true,
        };
        let t = table(
            "end = \"21:00\"\nchannels = [\"call\", \"sms\", \"push\"]\nhonor_agreed_hours = false",
        );
        let tight = HoursParams::read(&mut Fields::new(&t, true), Some(&base)).unwrap();
        assert_eq!(tight.window.end(), parse_hhmm("21:00").unwrap());
        assert!(tight.channels.contains(Channel::Push));
        assert!(!tight.honor_agreed_hours);

        let t = table("start = \"07:30\"");
        assert_eq!(
            HoursParams::read(&mut Fields::new(&t, true), Some(&base)).unwrap_err(),
            ParamError::Looser {
                field: "start",
                pack_value: "08:00".into(),
                proposed: "07:30".into()
            }
        );
        let t = table("channels = [\"call\"]");
        assert!(matches!(
            HoursParams::read(&mut Fields::new(&t, true), Some(&base)).unwrap_err(),
            ParamError::Looser {
                field: "channels",
                ..
            }
        ));
        let t = table("start = \"21:30\"");
        assert!(matches!(
            HoursParams::read(&mut Fields::new(&t, true), Some(&tight)).unwrap_err(),
            ParamError::Invalid { .. }
        ));
    }

    #[test]
    fn optional_caps_can_be_added_never_removed_or_raised() {
        let none = CostParams {
            max_annual_cost_bps: None,
        };
        let t = table("max_annual_cost_bps = 3600");
        assert_eq!(
            CostParams::read(&mut Fields::new(&t, true), Some(&none))
                .unwrap()
                .max_annual_cost_bps,
            Some(3600)
        );
        let some = CostParams {
            max_annual_cost_bps: Some(2400),
        };
        let t = table("max_annual_cost_bps = 3600");
        assert!(CostParams::read(&mut Fields::new(&t, true), Some(&some)).is_err());
        let t = table("");
        assert_eq!(
            CostParams::read(&mut Fields::new(&t, true), Some(&some)).unwrap(),
            some
        );
    }

    #[test]
    fn fixed_texts_cannot_change() {
        let base = ComplaintParams {
            hotline: "12378".into(),
        };
        let t = table("hotline = \"95555\"");
        assert!(matches!(
            ComplaintParams::read(&mut Fields::new(&t, true), Some(&base)).unwrap_err(),
            ParamError::Fixed {
                field: "hotline",
                ..
            }
        ));
    }
}
