//! The application layer of Arrears: every use case lives here once, and the CLI, the
//! server and the dispatcher only adapt it (parse their input, call one function, render the
//! answer). Between the pure core (engine, policy, strategy) and the surfaces it owns:
//!
//! - [`rules`]: the lender's effective policy, set once (a file in file mode, versioned with an
//!   effective date in the store) and turned into the tightened packs every decision uses;
//! - [`context`]: one decision context (the borrower's complete facts and contact history),
//!   built the same way from a portfolio folder and from the store;
//! - [`contact`]: parse a contact once (`ContactSpec`) and decide it (pre-contact check,
//!   recording a reported contact, enqueueing a message, re-checking at send time);
//! - [`access`]: the borrower's ways into the portal (a sign-in code they ask for, a link staff
//!   send), through the outbox to the borrower's own phone or e-mail only;
//! - [`plan`]: plan the day over a portfolio, with the independent plan checker;
//! - [`legal`]: the court path: referrals, cases, enforcement measures, costs and the legal
//!   letters bound to the real case;
//! - [`agency`]: collection agencies: parties, placement and its notice, who may see a loan,
//!   placement and recall files, reported activity, remittance with commission;
//! - [`sale`]: debt sale: the sale tape, pricing and recording a sale, the assignment notices;
//! - [`settle`]: write-offs a supervisor approves under their own login, and settlements
//!   (offer within the lender's limits, acceptance, the daily review: paid or lapsed).
//!
//! The crate does no I/O of its own but through the store it is handed; time enters as
//! arguments.

pub mod access;
pub mod agency;
pub mod bureau;
pub mod contact;
pub mod context;
pub mod late;
pub mod legal;
pub mod plan;
pub mod rules;
pub mod sale;
pub mod settle;

pub use contact::{ContactSpec, SpecError, decide};
pub use context::{DecisionContext, from_store};
pub use plan::{DayPlan, PlanRequest, plan_day};
pub use rules::{EffectivePolicy, PolicyOrigin, RulesError};
