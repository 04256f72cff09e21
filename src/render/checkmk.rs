//! Checkmk local check (`/usr/lib/check_mk_agent/local/`, `%ProgramData%\checkmk\agent\local`).
//!
//! One line per service: `<state> "<service name>" <metrics> <text>`, metrics
//! `name=value;warn;crit;min;max|…` or `-`, text with a literal `\n` before the details (Checkmk
//! turns it into long output). One service per concern, with names that never change between
//! runs (they contain no thumbprint, only the server name):
//!
//! - `Exchange auth state`: always; the overall state (as the Nagios output), and the findings
//!   no other service covers (unreachable servers, stale export, missing AuthConfig, hybrid,
//!   CA-issued certificates in the stores, bad input). A run that could not judge at all prints
//!   only this line, UNKNOWN with the reason.
//! - `Exchange Auth certificate current`: the current Auth Certificate (`auth.current.*`,
//!   `auth.previous.*`; a missing AuthConfig too), or in certificate-file mode the Auth
//!   certificate files (`cert.*` about Auth certificates).
//! - `Exchange Auth certificate next`: `auth.next.*`; only when AuthConfig is known (read, with
//!   a current thumbprint: no `auth.config.missing`).
//! - `Exchange self-signed certificates <SERVER>`: per server of the organisation,
//!   `selfsigned.*` and `auth.unreferenced` on that server (an unreachable or uncollected server
//!   shows that finding here as well).
//! - `Exchange certificates`: the loose certificate files that are not Auth certificates (in
//!   organisation mode: every loose certificate file).
//!
//! A service's state is the worst of its findings, as the judgement combines them; nothing is
//! judged here. Thresholds: with a fixed state (0-3) Checkmk applies no levels (it reads
//! `WARN_LOWER:WARN_UPPER` levels only for the computed state `P`, which we do not use because
//! the judgement decides). The warn/crit fields are therefore informational, and only written
//! where a Monitoring Plugins range is a plain upper bound (`~:26` -> `26`; `0` on a count),
//! which every reader understands the same way; lower bounds such as the days-left `60:` are
//! left empty rather than written as numbers a reader would take for upper levels.

use std::fmt::Write;

use nagiosplugin::ServiceState;

use crate::judge::{
    CertificateReport, Finding, FindingCode, Metric, MetricUnit, Range, Report, one_line,
    overall_state,
};
use crate::model::CertificateKind;

pub const SERVICE_STATE: &str = "Exchange auth state";
pub const SERVICE_CURRENT: &str = "Exchange Auth certificate current";
pub const SERVICE_NEXT: &str = "Exchange Auth certificate next";
pub const SERVICE_SERVER_PREFIX: &str = "Exchange self-signed certificates";
pub const SERVICE_CERTIFICATES: &str = "Exchange certificates";

/// How many finding messages the first line of a service shows.
const SHOWN: usize = 3;

/// Which service a finding belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Home {
    State,
    Current,
    Next,
    Server(String),
    Certificates,
}

struct Service {
    name: String,
    home: Home,
    metrics: Vec<String>,
    /// Used when the service has no finding at all.
    fallback: String,
    /// The overall service takes the report's state rather than its own findings'.
    state: Option<ServiceState>,
}

pub fn render(report: &Report) -> String {
    if report.failed {
        return format!(
            "{} {} - {}\n",
            ServiceState::Unknown.exit_code(),
            quote(SERVICE_STATE),
            text(&report.summary)
        );
    }
    let organisation = report.auth_config.is_some() || !report.servers.is_empty();
    let metric = |label: &str| report.metrics.iter().find(|m| m.label == label);
    let metrics = |labels: &[&str]| -> Vec<String> {
        labels
            .iter()
            .filter_map(|label| metric(label))
            .map(checkmk_metric)
            .collect()
    };

    let mut services = vec![Service {
        name: SERVICE_STATE.into(),
        home: Home::State,
        metrics: if organisation {
            metrics(&[
                "days_left",
                "certificates",
                "export_age_hours",
                "selfsigned_min_days",
            ])
        } else {
            metrics(&["days_left", "certificates"])
        },
        fallback: one_line(&report.summary),
        state: Some(report.state),
    }];
    let loose_auth = report
        .certificates
        .iter()
        .any(|c| c.kind == CertificateKind::Auth && is_loose(c));
    if organisation || loose_auth {
        services.push(Service {
            name: SERVICE_CURRENT.into(),
            home: Home::Current,
            metrics: if organisation {
                metrics(&["auth_current_days", "servers_missing_auth_cert"])
            } else {
                metrics(&["auth_min_days"])
            },
            fallback: current_fallback(report),
            state: None,
        });
    }
    // Known: given and readable, with a current thumbprint (else the check reports
    // `auth.config.missing`, on the overall and the current service).
    let auth_config_known = report.auth_config.is_some()
        && !report
            .findings
            .iter()
            .any(|f| f.code == FindingCode::AuthConfigMissing);
    if auth_config_known {
        services.push(Service {
            name: SERVICE_NEXT.into(),
            home: Home::Next,
            metrics: metrics(&["auth_next_days"]),
            fallback: next_fallback(report),
            state: None,
        });
    }
    for server in &report.servers {
        services.push(Service {
            name: format!("{SERVICE_SERVER_PREFIX} {}", service_part(&server.name)),
            home: Home::Server(server.name.clone()),
            metrics: Vec::new(),
            fallback: server_fallback(report, &server.name),
            state: None,
        });
    }
    let loose_other = report
        .certificates
        .iter()
        .any(|c| is_loose(c) && (organisation || c.kind != CertificateKind::Auth));
    if loose_other {
        services.push(Service {
            name: SERVICE_CERTIFICATES.into(),
            home: Home::Certificates,
            metrics: if organisation {
                Vec::new()
            } else {
                metrics(&["selfsigned_min_days", "ca_issued_min_days"])
            },
            fallback: "no certificate file to check".into(),
            state: None,
        });
    }

    let mut out = String::new();
    for service in &services {
        let findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|finding| belongs_to(finding, &service.home, report, organisation))
            .collect();
        let state = service
            .state
            .unwrap_or_else(|| overall_state(findings.iter().copied()));
        let metrics = if service.metrics.is_empty() {
            "-".to_string()
        } else {
            service.metrics.join("|")
        };
        let summary = if service.home == Home::State {
            // The overall service: the report's own summary; its details list what no other
            // service shows.
            one_line(&report.summary)
        } else {
            summarise(&findings).unwrap_or_else(|| service.fallback.clone())
        };
        let mut line = format!(
            "{} {} {metrics} {}",
            state.exit_code(),
            quote(&service.name),
            text(&summary)
        );
        let details: Vec<String> = findings
            .iter()
            .map(|f| format!("{}: {}", f.severity.label(), text(&f.message)))
            .collect();
        let summary_covers_all = findings.len() == 1 && service.home != Home::State;
        if !details.is_empty() && !summary_covers_all {
            for detail in details {
                line.push_str("\\n");
                line.push_str(&detail);
            }
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// Whether `finding` shows on the service `home`. Every finding has one home; a missing
/// AuthConfig also shows on the current certificate's service, and a server that could not be
/// read (or was not collected) also on that server's service.
fn belongs_to(finding: &Finding, home: &Home, report: &Report, organisation: bool) -> bool {
    let primary = home_of(finding, report, organisation);
    if &primary == home {
        return true;
    }
    match (finding.code, home) {
        (FindingCode::AuthConfigMissing, Home::Current) => true,
        (FindingCode::ServersUnreachable | FindingCode::ServersNotCollected, Home::Server(s)) => {
            finding.server.as_deref() == Some(s.as_str())
        }
        _ => false,
    }
}

/// A finding's service, by its code's prefix and the server it concerns.
fn home_of(finding: &Finding, report: &Report, organisation: bool) -> Home {
    let code = finding.code.as_str();
    let server = finding.server.clone();
    if code.starts_with("auth.current.") || code.starts_with("auth.previous.") {
        return Home::Current;
    }
    if code.starts_with("auth.next.") {
        return Home::Next;
    }
    if code.starts_with("selfsigned.") || finding.code == FindingCode::AuthUnreferenced {
        return match server {
            Some(server) if report.servers.iter().any(|s| s.name == server) => Home::Server(server),
            _ => Home::State,
        };
    }
    if code.starts_with("cert.") && server.is_none() {
        let kind = finding.thumbprint.as_ref().and_then(|thumbprint| {
            report
                .certificates
                .iter()
                .find(|c| &c.thumbprint == thumbprint)
                .map(|c| c.kind)
        });
        return match kind {
            Some(CertificateKind::Auth) if !organisation => Home::Current,
            Some(_) => Home::Certificates,
            None => Home::State,
        };
    }
    Home::State
}

/// A certificate from a file: seen in no server's store and given no AuthConfig role.
fn is_loose(certificate: &CertificateReport) -> bool {
    certificate.sources.iter().all(|s| s.server.is_none())
        && !certificate
            .roles
            .iter()
            .any(|r| matches!(*r, "auth_current" | "auth_next" | "auth_previous"))
}

/// The messages of the worst findings (findings are already worst first).
fn summarise(findings: &[&Finding]) -> Option<String> {
    let worst = findings.first()?.severity.rank();
    let messages: Vec<&str> = findings
        .iter()
        .filter(|f| f.severity.rank() == worst)
        .map(|f| f.message.as_str())
        .collect();
    let mut summary = messages[..messages.len().min(SHOWN)].join("; ");
    if messages.len() > SHOWN {
        summary.push_str(&format!(" (and {} more)", messages.len() - SHOWN));
    }
    Some(summary)
}

fn find<'a>(
    report: &'a Report,
    thumbprint: &crate::model::Thumbprint,
) -> Option<&'a CertificateReport> {
    report
        .certificates
        .iter()
        .find(|c| &c.thumbprint == thumbprint)
}

fn describe(certificate: &CertificateReport) -> String {
    format!(
        "{} ({}) {} days left (until {})",
        certificate.thumbprint.short(),
        certificate.subject,
        certificate.days_left,
        certificate.not_after.format("%Y-%m-%d %H:%M UTC")
    )
}

fn current_fallback(report: &Report) -> String {
    let current = report
        .auth_config
        .as_ref()
        .and_then(|config| config.current.as_ref());
    match current {
        Some(thumbprint) => match find(report, thumbprint) {
            Some(certificate) => format!("current Auth Certificate {}", describe(certificate)),
            None => format!("current Auth Certificate {}", thumbprint.short()),
        },
        None => "no current Auth Certificate".into(),
    }
}

fn next_fallback(report: &Report) -> String {
    let Some(config) = &report.auth_config else {
        return "AuthConfig unknown".into();
    };
    let Some(next) = &config.next else {
        return "no next Auth Certificate staged".into();
    };
    let effective = config
        .next_effective
        .map(|d| format!(", effective {}", d.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    match find(report, next) {
        Some(certificate) => format!("next Auth Certificate {}{effective}", describe(certificate)),
        None => format!("next Auth Certificate {}{effective}", next.short()),
    }
}

fn server_fallback(report: &Report, server: &str) -> String {
    let on_server: Vec<&CertificateReport> = report
        .certificates
        .iter()
        .filter(|c| c.kind == CertificateKind::SelfSigned)
        .filter(|c| {
            c.sources
                .iter()
                .any(|s| s.server.as_deref() == Some(server))
        })
        .collect();
    if on_server.is_empty() {
        return format!("server {server}: no self-signed certificate in its store");
    }
    let plural = if on_server.len() == 1 { "" } else { "s" };
    let list: Vec<String> = on_server.iter().map(|c| describe(c)).collect();
    format!(
        "server {server}: {} self-signed certificate{plural}: {}",
        on_server.len(),
        list.join(", ")
    )
}

/// `name=value;warn;crit;min;max`, thresholds only where they are plain upper bounds.
fn checkmk_metric(metric: &Metric) -> String {
    let count = metric.unit == MetricUnit::Count;
    let level = |range: Option<&Range>| {
        range
            .and_then(|range| upper_bound(range, count))
            .map(number)
            .unwrap_or_default()
    };
    let thresholds = metric.thresholds.as_ref();
    let warning = level(thresholds.map(|t| &t.warning));
    let critical = level(thresholds.map(|t| &t.critical));
    let minimum = if count { "0" } else { "" };
    format!(
        "{}={};{warning};{critical};{minimum};",
        metric.label, metric.value
    )
}

/// The end of a range that alerts only above it: `~:N`, or `N`/`0:N` on a count, which cannot
/// go below zero.
fn upper_bound(range: &Range, count: bool) -> Option<f64> {
    if range.inside {
        return None;
    }
    match range.start {
        None => range.end,
        Some(start) if count && start == 0.0 => range.end,
        Some(_) => None,
    }
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// Service names are quoted; Checkmk allows anything in them but quotes.
fn quote(name: &str) -> String {
    format!("\"{}\"", service_part(name))
}

fn service_part(name: &str) -> String {
    one_line(name).replace(['"', '\''], "")
}

/// Status text: one line, and no accidental `\n` (Checkmk turns the two characters into a line
/// break, and Windows paths contain them).
fn text(message: &str) -> String {
    one_line(message).replace("\\n", "\\ n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bounds_only() {
        let range = |text: &str| text.parse::<Range>().unwrap();
        assert_eq!(upper_bound(&range("~:26"), false), Some(26.0));
        assert_eq!(upper_bound(&range("60:"), false), None);
        assert_eq!(upper_bound(&range("10"), false), None);
        assert_eq!(upper_bound(&range("0"), true), Some(0.0));
        assert_eq!(upper_bound(&range("@1:5"), true), None);
        assert_eq!(upper_bound(&range("~:"), false), None);
    }

    #[test]
    fn text_is_one_line_without_escapes() {
        assert_eq!(text("C:\\new\\x\r\nnext"), "C:\\ new\\x next");
        assert_eq!(quote("a \"b\" 'c'"), "\"a b c\"");
    }
}
