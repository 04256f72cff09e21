//! Checks: facts about the live organisation that must hold before a step (preconditions) or
//! after it (verifications). One definition, three uses: a description for people, a
//! PowerShell expression for the script, and an evaluation on the state `run` re-reads.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::live::LiveState;
use super::powershell::{self, ServerName, ThumbRef, quote};

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
    /// Staged or already published: the next or the current certificate is this one.
    CurrentOrNextIs {
        thumbprint: ThumbRef,
    },
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
    /// Bound to no web site (its services do not include IIS).
    NoIis {
        server: ServerName,
        thumbprint: ThumbRef,
    },
    /// Valid for at least this many hours after the moment the step runs.
    ValidForHours {
        thumbprint: ThumbRef,
        hours: i64,
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
    /// AuthConfig's next certificate becomes effective before this instant.
    NextEffectiveBefore {
        at: DateTime<Utc>,
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
            Check::CurrentOrNextIs { thumbprint } => format!(
                "AuthConfig next or current certificate is {}",
                thumbprint.describe()
            ),
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
            Check::NoIis { server, thumbprint } => format!(
                "{} is bound to no web site (no IIS) on {server}",
                thumbprint.describe()
            ),
            Check::ValidForHours { thumbprint, hours } => format!(
                "{} is valid for at least {hours} h more",
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
            Check::NextEffectiveBefore { at } => format!(
                "AuthConfig's next certificate becomes effective before {}",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            Check::ValidUntil { thumbprint, at } => format!(
                "{} is valid beyond {}",
                thumbprint.describe(),
                at.format("%Y-%m-%d %H:%M UTC")
            ),
        }
    }

    /// The certificate the check names, if any.
    pub fn thumb_ref(&self) -> Option<&ThumbRef> {
        match self {
            Check::CurrentIs { thumbprint }
            | Check::NextIs { thumbprint }
            | Check::CurrentOrNextIs { thumbprint }
            | Check::PreviousIs { thumbprint }
            | Check::Present { thumbprint, .. }
            | Check::Absent { thumbprint, .. }
            | Check::NotBound { thumbprint, .. }
            | Check::NoIis { thumbprint, .. }
            | Check::ValidForHours { thumbprint, .. }
            | Check::BoundTo { thumbprint, .. }
            | Check::TransportIs { thumbprint, .. }
            | Check::ValidUntil { thumbprint, .. } => Some(thumbprint),
            Check::NextEmpty
            | Check::PreviousEmpty
            | Check::TransportUnchanged { .. }
            | Check::NextEffectiveBefore { .. }
            | Check::EffectiveAtLeast { .. } => None,
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
            format!("@(Get-RenewServiceNames ({}).Services)", cert(server, t))
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
            Check::CurrentOrNextIs { thumbprint } => format!(
                "@((Get-AuthConfig).NextCertificateThumbprint, (Get-AuthConfig).CurrentCertificateThumbprint) -contains {}",
                thumbprint.powershell()
            ),
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
            Check::NoIis { server, thumbprint } => {
                format!("{} -notcontains 'IIS'", services(server, thumbprint))
            }
            Check::ValidForHours { thumbprint, hours } => format!(
                "(Get-ExchangeCertificate -Thumbprint {} -ErrorAction SilentlyContinue | Select-Object -First 1).NotAfter.ToUniversalTime() -gt (Get-Date).ToUniversalTime().AddHours({hours})",
                thumbprint.powershell()
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
            Check::NextEffectiveBefore { at } => format!(
                "$null -ne (Get-AuthConfig).NextCertificateEffectiveDate -and ([datetime](Get-AuthConfig).NextCertificateEffectiveDate).ToUniversalTime() -lt ([datetime]{}).ToUniversalTime()",
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
        let resolve = |t: &ThumbRef| live.resolve(t);
        let server = |name: &ServerName| live.queried_server(name);
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        Ok(match self {
            Check::CurrentIs { thumbprint } => same(&live.auth.current, &resolve(thumbprint)?),
            Check::NextIs { thumbprint } => same(&live.auth.next, &resolve(thumbprint)?),
            Check::NextEmpty => live.auth.next.is_empty(),
            Check::CurrentOrNextIs { thumbprint } => {
                let t = resolve(thumbprint)?;
                same(&live.auth.next, &t) || same(&live.auth.current, &t)
            }
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
            Check::NoIis {
                server: s,
                thumbprint,
            } => server(s)?.find(&resolve(thumbprint)?).is_some_and(|c| {
                !c.service_list()
                    .iter()
                    .any(|svc| svc.eq_ignore_ascii_case("IIS"))
            }),
            Check::ValidForHours { thumbprint, hours } => {
                let t = resolve(thumbprint)?;
                let at = live.now + chrono::Duration::hours(*hours);
                live.servers
                    .iter()
                    .flat_map(|s| s.certificates.iter())
                    .find(|c| same(&c.thumbprint, &t))
                    .and_then(|c| c.not_after)
                    .is_some_and(|n| n > at)
            }
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
            Check::NextEffectiveBefore { at } => live.auth.next_effective.is_some_and(|e| e < *at),
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
