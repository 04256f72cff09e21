//! The renewal companion: [`ExchangeState`] + [`Report`] -> [`Plan`] -> text/JSON, a PowerShell
//! script, or a guided run.
//!
//! ```text
//! ExchangeState + Report (judge) + RenewOptions --decide--> Plan (ordered steps)
//!     Plan --render--> numbered text / JSON          (plan)
//!     Plan --script--> Windows PowerShell 5.1 script (script)
//!     Plan --run-----> one powershell.exe, step by step, verified against the live state (run)
//! ```
//!
//! Nothing here re-derives what the judgement decided: the scenario starts from the report's
//! recommended action and findings.

pub mod decide;
pub mod powershell;
pub mod render;
pub mod run;
pub mod script;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use decide::{RenewOptions, decide};
use powershell::{ServerName, Statement, ThumbRef, quote};

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
            Scenario::ClearPrevious => "clear_previous",
            Scenario::SelfSigned => "self_signed",
            Scenario::Cleanup => "cleanup",
            Scenario::Nothing => "nothing",
        }
    }
}

/// A fact about the live organisation, checked before (precondition) or after (verification)
/// a step. `run` evaluates it on the state it re-reads; `script` renders it as PowerShell.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Check {
    CurrentIs {
        thumbprint: ThumbRef,
    },
    NextIs {
        thumbprint: ThumbRef,
    },
    NextEmpty,
    PreviousIs {
        thumbprint: ThumbRef,
    },
    PreviousEmpty,
    /// The certificate is in the server's store.
    Present {
        server: ServerName,
        thumbprint: ThumbRef,
    },
    Absent {
        server: ServerName,
        thumbprint: ThumbRef,
    },
    /// Enabled for none of IIS, SMTP, IMAP, POP.
    NotBound {
        server: ServerName,
        thumbprint: ThumbRef,
    },
    /// Enabled for at least these services.
    BoundTo {
        server: ServerName,
        thumbprint: ThumbRef,
        services: Vec<String>,
    },
    /// The internal transport certificate is the one recorded before the first step.
    TransportUnchanged {
        server: ServerName,
    },
    TransportIs {
        server: ServerName,
        thumbprint: ThumbRef,
    },
    /// An effective date at least this many hours after the moment the step runs.
    EffectiveAtLeast {
        at: DateTime<Utc>,
        hours: i64,
    },
    /// The certificate expires after this instant.
    ValidUntil {
        thumbprint: ThumbRef,
        at: DateTime<Utc>,
    },
}

impl Check {
    pub fn describe(&self) -> String {
        match self {
            Check::CurrentIs { thumbprint } => {
                format!(
                    "AuthConfig current certificate is {}",
                    thumbprint.describe()
                )
            }
            Check::NextIs { thumbprint } => {
                format!("AuthConfig next certificate is {}", thumbprint.describe())
            }
            Check::NextEmpty => "AuthConfig has no next certificate".into(),
            Check::PreviousIs { thumbprint } => {
                format!(
                    "AuthConfig previous certificate is {}",
                    thumbprint.describe()
                )
            }
            Check::PreviousEmpty => "AuthConfig has no previous certificate".into(),
            Check::Present { server, thumbprint } => {
                format!("{} is in the store of {server}", thumbprint.describe())
            }
            Check::Absent { server, thumbprint } => {
                format!(
                    "{} is no longer in the store of {server}",
                    thumbprint.describe()
                )
            }
            Check::NotBound { server, thumbprint } => format!(
                "{} is enabled for none of IIS, SMTP, IMAP, POP on {server}",
                thumbprint.describe()
            ),
            Check::BoundTo {
                server,
                thumbprint,
                services,
            } => format!(
                "{} is enabled for {} on {server}",
                thumbprint.describe(),
                services.join(", ")
            ),
            Check::TransportUnchanged { server } => {
                format!("the internal transport certificate of {server} is unchanged")
            }
            Check::TransportIs { server, thumbprint } => format!(
                "the internal transport certificate of {server} is {}",
                thumbprint.describe()
            ),
            Check::EffectiveAtLeast { at, hours } => format!(
                "the effective date {} is at least {hours} h ahead",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            Check::ValidUntil { thumbprint, at } => format!(
                "{} is valid beyond {}",
                thumbprint.describe(),
                at.format("%Y-%m-%d %H:%M UTC")
            ),
        }
    }

    /// A PowerShell expression that is `$true` when the check holds.
    pub fn powershell(&self) -> String {
        let cert = |server: &ServerName, t: &ThumbRef| {
            format!(
                "(Get-ExchangeCertificate -Server {} -Thumbprint {} -ErrorAction SilentlyContinue)",
                quote(server.as_str()),
                t.powershell()
            )
        };
        let services = |server: &ServerName, t: &ThumbRef| {
            format!(
                "@(({}).Services.ToString() -split ',\\s*')",
                cert(server, t)
            )
        };
        match self {
            Check::CurrentIs { thumbprint } => format!(
                "(Get-AuthConfig).CurrentCertificateThumbprint -eq {}",
                thumbprint.powershell()
            ),
            Check::NextIs { thumbprint } => format!(
                "(Get-AuthConfig).NextCertificateThumbprint -eq {}",
                thumbprint.powershell()
            ),
            Check::NextEmpty => {
                "[string]::IsNullOrEmpty((Get-AuthConfig).NextCertificateThumbprint)".into()
            }
            Check::PreviousIs { thumbprint } => format!(
                "(Get-AuthConfig).PreviousCertificateThumbprint -eq {}",
                thumbprint.powershell()
            ),
            Check::PreviousEmpty => {
                "[string]::IsNullOrEmpty((Get-AuthConfig).PreviousCertificateThumbprint)".into()
            }
            Check::Present { server, thumbprint } => {
                format!("$null -ne {}", cert(server, thumbprint))
            }
            Check::Absent { server, thumbprint } => {
                format!("$null -eq {}", cert(server, thumbprint))
            }
            Check::NotBound { server, thumbprint } => format!(
                "$null -eq ({} | Where-Object {{ @('IIS', 'SMTP', 'IMAP', 'POP') -contains $_ }})",
                services(server, thumbprint)
            ),
            Check::BoundTo {
                server,
                thumbprint,
                services: wanted,
            } => {
                let list: Vec<String> = wanted.iter().map(|s| quote(s)).collect();
                format!(
                    "$null -eq (@({}) | Where-Object {{ {} -notcontains $_ }})",
                    list.join(", "),
                    services(server, thumbprint)
                )
            }
            Check::TransportUnchanged { server } => format!(
                "(Get-TransportService -Identity {0}).InternalTransportCertificateThumbprint -eq $RenewTransportBefore[{0}]",
                quote(server.as_str())
            ),
            Check::TransportIs { server, thumbprint } => format!(
                "(Get-TransportService -Identity {}).InternalTransportCertificateThumbprint -eq {}",
                quote(server.as_str()),
                thumbprint.powershell()
            ),
            Check::EffectiveAtLeast { at, hours } => format!(
                "([datetime]{}).ToUniversalTime() -ge (Get-Date).ToUniversalTime().AddHours({hours})",
                quote(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            ),
            Check::ValidUntil { thumbprint, at } => format!(
                "(Get-ExchangeCertificate -Thumbprint {} -ErrorAction SilentlyContinue | Select-Object -First 1).NotAfter.ToUniversalTime() -gt ([datetime]{}).ToUniversalTime()",
                thumbprint.powershell(),
                quote(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            ),
        }
    }

    /// Evaluates the check on a live state; `baseline` is the state before the first step.
    pub fn holds(&self, live: &LiveState, baseline: &LiveState) -> Result<bool, String> {
        let resolve = |t: &ThumbRef| -> Result<String, String> {
            match t {
                ThumbRef::Known(t) => Ok(t.to_string()),
                ThumbRef::New(slot) => live
                    .new
                    .get(&ThumbRef::variable(*slot))
                    .filter(|t| !t.is_empty())
                    .map(|t| t.to_ascii_uppercase())
                    .ok_or_else(|| format!("{} is not known yet", t.describe())),
            }
        };
        let server = |name: &ServerName| -> Result<&LiveServer, String> {
            let s = live
                .server(name)
                .ok_or_else(|| format!("server {name} is not in the live state"))?;
            if s.reachable {
                Ok(s)
            } else {
                Err(format!(
                    "server {name} could not be queried: {}",
                    s.error.as_deref().unwrap_or("unreachable")
                ))
            }
        };
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        Ok(match self {
            Check::CurrentIs { thumbprint } => same(&live.auth.current, &resolve(thumbprint)?),
            Check::NextIs { thumbprint } => same(&live.auth.next, &resolve(thumbprint)?),
            Check::NextEmpty => live.auth.next.is_empty(),
            Check::PreviousIs { thumbprint } => same(&live.auth.previous, &resolve(thumbprint)?),
            Check::PreviousEmpty => live.auth.previous.is_empty(),
            Check::Present {
                server: s,
                thumbprint,
            } => server(s)?.find(&resolve(thumbprint)?).is_some(),
            Check::Absent {
                server: s,
                thumbprint,
            } => server(s)?.find(&resolve(thumbprint)?).is_none(),
            Check::NotBound {
                server: s,
                thumbprint,
            } => server(s)?.find(&resolve(thumbprint)?).is_some_and(|c| {
                !c.service_list().iter().any(|svc| {
                    powershell::FORBIDDEN_FOR_AUTH
                        .iter()
                        .any(|f| f.eq_ignore_ascii_case(svc))
                })
            }),
            Check::BoundTo {
                server: s,
                thumbprint,
                services,
            } => server(s)?.find(&resolve(thumbprint)?).is_some_and(|c| {
                let has = c.service_list();
                services
                    .iter()
                    .all(|w| has.iter().any(|h| h.eq_ignore_ascii_case(w)))
            }),
            Check::TransportUnchanged { server: s } => {
                let before = baseline.server(s).and_then(|b| b.transport.clone());
                let now = server(s)?.transport.clone();
                match before {
                    Some(before) => now.is_some_and(|n| same(&n, &before)),
                    None => true,
                }
            }
            Check::TransportIs {
                server: s,
                thumbprint,
            } => server(s)?
                .transport
                .as_deref()
                .is_some_and(|t| same(t, &resolve(thumbprint).unwrap_or_default())),
            Check::EffectiveAtLeast { at, hours } => {
                *at >= live.now + chrono::Duration::hours(*hours)
            }
            Check::ValidUntil { thumbprint, at } => {
                let t = resolve(thumbprint)?;
                live.servers
                    .iter()
                    .flat_map(|s| s.certificates.iter())
                    .find(|c| same(&c.thumbprint, &t))
                    .and_then(|c| c.not_after)
                    .is_some_and(|n| n > *at)
            }
        })
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
    pub impact: String,
    pub rollback: String,
    /// The server the step acts on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerName>,
    /// The step changes this server's internal transport certificate on purpose (renewal of
    /// the transport certificate itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces_transport_on: Option<ServerName>,
}

/// A check with its text and PowerShell, as plans show it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckView {
    pub description: String,
    pub powershell: String,
    #[serde(flatten)]
    pub check: Check,
}

impl From<Check> for CheckView {
    fn from(check: Check) -> CheckView {
        CheckView {
            description: check.describe(),
            powershell: check.powershell(),
            check,
        }
    }
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
            impact: "none".into(),
            rollback: "none needed".into(),
            server: None,
            replaces_transport_on: None,
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
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The organisation as re-read on the Exchange server during a run (JSON from the run's
/// `Get-RenewState`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveState {
    pub now: DateTime<Utc>,
    /// `$env:COMPUTERNAME` of the PowerShell session.
    #[serde(default)]
    pub computer: Option<String>,
    pub auth: LiveAuth,
    #[serde(default)]
    pub hybrid: Option<bool>,
    #[serde(default)]
    pub servers: Vec<LiveServer>,
    /// `$global:RenewNew*` variables: certificates made by steps.
    #[serde(default)]
    pub new: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveAuth {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub current: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub previous: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub next: String,
    #[serde(default)]
    pub next_effective: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveServer {
    pub name: String,
    pub reachable: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub transport: Option<String>,
    #[serde(default)]
    pub certificates: Vec<LiveCertificate>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveCertificate {
    pub thumbprint: String,
    /// `Services` as Exchange prints it: `"IIS, SMTP"`, `"None"`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub services: String,
    #[serde(default)]
    pub not_after: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub subject: String,
}

impl LiveCertificate {
    pub fn service_list(&self) -> Vec<String> {
        self.services
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("None"))
            .collect()
    }
}

impl LiveServer {
    pub fn find(&self, thumbprint: &str) -> Option<&LiveCertificate> {
        self.certificates
            .iter()
            .find(|c| c.thumbprint.eq_ignore_ascii_case(thumbprint))
    }
}

impl LiveState {
    pub fn server(&self, name: &ServerName) -> Option<&LiveServer> {
        self.servers
            .iter()
            .find(|s| crate::model::Server::key_of(&s.name) == name.key())
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}
