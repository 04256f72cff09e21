//! The renewal companion: [`ExchangeState`] + [`Report`] -> [`Plan`] -> text/JSON, a PowerShell
//! script, or a guided run.
//!
//! ```text
//! ExchangeState + Report (judge) + RenewOptions
//!     --planner------> decisions: which scenarios, and why (reasons, notes, refusals)
//!     --steps--------> Plan: ordered steps of typed PowerShell, each with its checks
//!     Plan --render--> numbered text / JSON          (plan)
//!     Plan --script--> Windows PowerShell 5.1 script (script)
//!     Plan --run-----> one powershell.exe, step by step, verified against the live state (run)
//! ```
//!
//! Nothing here re-derives what the judgement decided: the scenario starts from the report's
//! recommended action and findings. The planner's module documentation lists which of its
//! rules are its own and which mirror the judgement (and should come from it).
//!
//! | module | what |
//! | --- | --- |
//! | `options` | what the administrator allows (`--emergency`, `--effective-in` …) |
//! | `planner` | the named rules: scenarios and why |
//! | `steps` | the step builder: decisions -> typed PowerShell steps |
//! | `plan`, `check` | a plan, its steps, and the checks before and after each step |
//! | `powershell` | validation, quoting and the typed PowerShell builder |
//! | `render`, `script`, `run` | the three ways to show or execute one plan |
//! | `live` | the state a run re-reads on the Exchange server |

pub mod check;
pub mod live;
pub mod options;
pub mod plan;
pub mod planner;
pub mod powershell;
pub mod render;
pub mod run;
pub mod script;
pub mod steps;

pub use check::{Check, CheckView};
pub use live::{LiveAuth, LiveCertificate, LiveServer, LiveState};
pub use options::{RenewOptions, parse_duration};
pub use plan::{Plan, Scenario, Step};

use crate::judge::Report;
use crate::model::ExchangeState;
use powershell::ValidationError;

/// Builds the plan: the planner's decisions, then their steps. Errors are inputs that fail
/// validation or a state nothing can be planned from; situations that forbid execution
/// become `refusals` in the plan.
pub fn decide(
    state: &ExchangeState,
    report: &Report,
    options: &RenewOptions,
) -> Result<Plan, ValidationError> {
    let planned = planner::plan(state, report, options)?;
    let steps = steps::build(&planned);
    Ok(Plan::new(planned, steps))
}
