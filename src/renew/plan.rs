//! What a plan is: scenarios and reasons, the servers it covers, and ordered steps with
//! their checks, impact and rollback. `render`, `script` and `run` consume it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::check::{Check, CheckView};
use super::planner::Planned;
use super::powershell::{self, ServerName, Statement};
use crate::model::Thumbprint;

/// Why the plan does what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Emergency: a new Auth Certificate becomes current now.
    Replace,
    /// Planned rotation: a new certificate is staged as next.
    StageNext,
    ImportCurrent,
    ImportNext,
    /// The servicelet did not publish the next certificate: publish it.
    PublishOverdue,
    /// A valid next certificate on every server takes over now instead of a replacement.
    PublishNext,
    /// The next certificate staged again, effective before the current one expires.
    RestageNext,
    ClearPrevious,
    /// Renew expiring self-signed server certificates.
    SelfSigned,
    /// Remove expired certificates bound to nothing (`--cleanup`).
    Cleanup,
    Nothing,
}

impl Scenario {
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Replace => "replace",
            Scenario::StageNext => "stage_next",
            Scenario::ImportCurrent => "import_current",
            Scenario::ImportNext => "import_next",
            Scenario::PublishOverdue => "publish_overdue",
            Scenario::PublishNext => "publish_next",
            Scenario::RestageNext => "restage_next",
            Scenario::ClearPrevious => "clear_previous",
            Scenario::SelfSigned => "self_signed",
            Scenario::Cleanup => "cleanup",
            Scenario::Nothing => "nothing",
        }
    }
}

/// One step of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Stable within a plan: `new-auth-certificate`, `import-new-exch02` …
    pub id: String,
    pub title: String,
    pub why: String,
    /// Exactly what runs.
    pub powershell: String,
    #[serde(skip)]
    pub statements: Vec<Statement>,
    pub preconditions: Vec<CheckView>,
    pub verify: Vec<CheckView>,
    /// What shows in the live state that the step is already done, when that differs from its
    /// verifications (a later step may change what it verified: publishing moves the staged
    /// certificate from next to current). `None`: its verifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_when: Option<Vec<CheckView>>,
    pub impact: String,
    pub rollback: String,
    /// The server the step acts on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerName>,
    /// The step changes this server's internal transport certificate on purpose (renewal of
    /// the transport certificate itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces_transport_on: Option<ServerName>,
    /// The step renews this internal transport certificate: a rerun finds its successor as the
    /// server's transport certificate (same subject, another thumbprint).
    #[serde(skip)]
    pub transport_successor: Option<TransportSuccessor>,
}

/// How a rerun of a script recognises the renewal of an internal transport certificate that
/// an earlier run made: `$global:RenewNew<slot>`.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportSuccessor {
    pub slot: u8,
    pub server: ServerName,
    pub old: Thumbprint,
    pub subject: String,
}

impl Step {
    pub fn new(id: impl Into<String>, title: impl Into<String>, why: impl Into<String>) -> Step {
        Step {
            id: id.into(),
            title: title.into(),
            why: why.into(),
            powershell: String::new(),
            statements: Vec::new(),
            preconditions: Vec::new(),
            verify: Vec::new(),
            done_when: None,
            impact: "none".into(),
            rollback: "none needed".into(),
            server: None,
            replaces_transport_on: None,
            transport_successor: None,
        }
    }

    pub fn statements(mut self, statements: Vec<Statement>) -> Step {
        self.powershell = powershell::render(&statements);
        self.statements = statements;
        self
    }

    pub fn pre(mut self, check: Check) -> Step {
        self.preconditions.push(check.into());
        self
    }

    pub fn verify(mut self, check: Check) -> Step {
        self.verify.push(check.into());
        self
    }

    /// A fact that shows the step is done even after later steps ran (see `done_when`).
    pub fn done_when(mut self, check: Check) -> Step {
        self.done_when
            .get_or_insert_with(Vec::new)
            .push(check.into());
        self
    }

    /// The checks that, all holding in the live state, make a rerun skip the step; empty when
    /// the live state cannot show it (a restart).
    pub fn done_checks(&self) -> &[CheckView] {
        self.done_when.as_deref().unwrap_or(&self.verify)
    }

    pub fn impact(mut self, text: impl Into<String>) -> Step {
        self.impact = text.into();
        self
    }

    pub fn rollback(mut self, text: impl Into<String>) -> Step {
        self.rollback = text.into();
        self
    }

    pub fn on(mut self, server: &ServerName) -> Step {
        self.server = Some(server.clone());
        self
    }
}

/// What will be done, in order, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub created_at: DateTime<Utc>,
    pub scenarios: Vec<Scenario>,
    pub reasons: Vec<String>,
    /// The reachable servers that must hold the Auth Certificate; states are re-read for these.
    pub servers: Vec<ServerName>,
    /// Servers left out (unreachable, with `--ignore-unreachable`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_servers: Vec<String>,
    /// Reasons the plan must not be executed (hybrid without acknowledgement, unreachable
    /// servers, replace without --emergency). `plan` shows them; `script` and `run` refuse.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<String>,
    pub notes: Vec<String>,
    pub steps: Vec<Step>,
    /// Changes when the steps change: a journal of another plan is not resumed.
    pub fingerprint: String,
    /// The server the plan must run on: where the new Auth Certificate is created, because
    /// `Set-AuthConfig -NewCertificateThumbprint` looks for it in the local store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_on: Option<ServerName>,
    /// The thumbprints AuthConfig named when the plan was made: any other thumbprint a rerun
    /// finds there as next or current is the new Auth Certificate an earlier run staged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auth_before: Vec<Thumbprint>,
}

impl Plan {
    /// The planner's result with the steps built from its decisions.
    pub(super) fn new(planned: Planned, steps: Vec<Step>) -> Plan {
        let scenarios = planned.scenarios();
        let run_on = planned.run_on().cloned();
        let auth_before = planned.auth_before.clone();
        Plan {
            created_at: planned.now,
            scenarios,
            reasons: planned.reasons,
            servers: planned.servers,
            skipped_servers: planned.skipped,
            refusals: planned.refusals,
            notes: planned.notes,
            fingerprint: fingerprint(&steps),
            steps,
            run_on,
            auth_before,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// FNV-1a over the steps' ids: identifies a plan in its journal (the effective date moves
/// with the clock, the sequence of steps does not).
fn fingerprint(steps: &[Step]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for step in steps {
        for byte in step.id.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}
