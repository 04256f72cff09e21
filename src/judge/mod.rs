//! Judgement: [`ExchangeState`] + [`Policy`] -> [`Report`]. A pure function of its inputs, so
//! every rule is testable with a hand-built state and a pinned `now`.

pub mod certificates;
pub mod findings;
pub mod metrics;
pub mod thresholds;

use chrono::{DateTime, SecondsFormat, Utc};
use nagiosplugin::ServiceState;
use serde::Serialize;

pub use findings::{Finding, FindingCode, Severity};
pub use metrics::{Channel, Metric, MetricId, MetricUnit};
pub use thresholds::{Range, RangeError, Thresholds};

use crate::model::{CertificateKind, ExchangeState, Sighting};

/// Everything the judgement depends on besides the state: thresholds and the instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub now: DateTime<Utc>,
    /// Applied to Auth Certificates (`-w`/`-c`).
    pub auth: Thresholds,
    /// Applied to every other certificate (`--selfsigned-warning`/`--selfsigned-critical`).
    pub selfsigned: Thresholds,
}

impl Policy {
    /// Microsoft's and the project's defaults at `now`.
    pub fn defaults(now: DateTime<Utc>) -> Policy {
        Policy {
            now,
            auth: Thresholds::parse("60:", "30:").expect("default auth thresholds"),
            selfsigned: Thresholds::parse("30:", "14:").expect("default self-signed thresholds"),
        }
    }

    pub fn thresholds_for(&self, kind: CertificateKind) -> &Thresholds {
        match kind {
            CertificateKind::Auth => &self.auth,
            CertificateKind::SelfSigned | CertificateKind::CaIssued => &self.selfsigned,
        }
    }
}

/// One certificate as the report shows it: its facts, where it was seen, and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificateReport {
    pub thumbprint: crate::model::Thumbprint,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    #[serde(serialize_with = "serialize_instant")]
    pub not_before: DateTime<Utc>,
    #[serde(serialize_with = "serialize_instant")]
    pub not_after: DateTime<Utc>,
    pub days_left: i64,
    pub seconds_left: i64,
    pub self_signed: bool,
    pub key_algorithm: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_bits: Option<u32>,
    pub signature_algorithm: String,
    pub kind: CertificateKind,
    pub roles: Vec<&'static str>,
    pub state: Severity,
    pub sources: Vec<Sighting>,
}

/// The outcome of one check run; renderers turn it into bytes and decide nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    #[serde(rename = "status", serialize_with = "serialize_state")]
    pub state: ServiceState,
    pub summary: String,
    #[serde(serialize_with = "serialize_instant")]
    pub checked_at: DateTime<Utc>,
    /// Worst first.
    pub findings: Vec<Finding>,
    /// Summary metrics first (the primary one first), then one per certificate.
    pub metrics: Vec<Metric>,
    pub certificates: Vec<CertificateReport>,
    /// True when the check could not judge at all (bad input, timeout, internal error): PRTG
    /// outputs then print their error document instead of channels.
    #[serde(skip)]
    pub failed: bool,
}

impl Report {
    /// A report for a run that could not judge anything: UNKNOWN with one reason.
    pub fn failure(code: FindingCode, message: impl Into<String>, at: DateTime<Utc>) -> Report {
        let message = one_line(&message.into());
        Report {
            state: ServiceState::Unknown,
            summary: message.clone(),
            checked_at: at,
            findings: vec![Finding::new(Severity::Unknown, code, message)],
            metrics: Vec::new(),
            certificates: Vec::new(),
            failed: true,
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.state.exit_code()
    }
}

/// Judges every certificate in `state`.
pub fn judge(state: &ExchangeState, policy: &Policy) -> Report {
    let mut findings = Vec::new();
    let mut reports = Vec::new();
    let mut metrics = Vec::new();
    for entry in &state.certificates {
        let verdict = certificates::judge_certificate(entry, policy);
        findings.extend(verdict.findings);
        metrics.push(verdict.metric);
        reports.push(verdict.report);
    }
    if reports.is_empty() {
        findings.push(Finding::new(
            Severity::Unknown,
            FindingCode::InputInvalid,
            "the inputs hold no certificate to check",
        ));
    }
    let mut all_metrics = certificates::summary_metrics(&reports, policy);
    all_metrics.extend(metrics);
    findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity.rank()));
    let state = overall_state(&findings);
    let summary = one_line(&summarise(state, &findings, &reports));
    Report {
        state,
        summary,
        checked_at: policy.now,
        findings,
        metrics: all_metrics,
        certificates: reports,
        failed: false,
    }
}

fn overall_state(findings: &[Finding]) -> ServiceState {
    findings
        .iter()
        .map(|finding| match finding.severity {
            Severity::Ok | Severity::Info => ServiceState::Ok,
            Severity::Warning => ServiceState::Warning,
            Severity::Critical => ServiceState::Critical,
            Severity::Unknown => ServiceState::Unknown,
        })
        .max()
        .unwrap_or(ServiceState::Unknown)
}

/// The first line: the worst findings, or the nearest expiry when all is well.
fn summarise(
    state: ServiceState,
    findings: &[Finding],
    certificates: &[CertificateReport],
) -> String {
    const SHOWN: usize = 3;
    if state == ServiceState::Ok && !certificates.is_empty() {
        let nearest = certificates
            .iter()
            .filter(|c| c.kind == CertificateKind::Auth)
            .min_by_key(|c| c.seconds_left)
            .or_else(|| certificates.iter().min_by_key(|c| c.seconds_left))
            .expect("certificates is not empty");
        let count = certificates.len();
        let plural = if count == 1 { "" } else { "s" };
        return format!(
            "{count} certificate{plural} OK, {} {} expires in {} days ({})",
            describe_kind(nearest.kind),
            nearest.thumbprint.short(),
            nearest.days_left,
            nearest.not_after.format("%Y-%m-%d")
        );
    }
    let worst_rank = findings.first().map(|f| f.severity.rank()).unwrap_or(0);
    let worst: Vec<&str> = findings
        .iter()
        .filter(|f| f.severity.rank() == worst_rank)
        .map(|f| f.message.as_str())
        .collect();
    let mut summary = worst[..worst.len().min(SHOWN)].join("; ");
    if worst.len() > SHOWN {
        summary.push_str(&format!(" (and {} more)", worst.len() - SHOWN));
    }
    summary
}

pub(crate) fn describe_kind(kind: CertificateKind) -> &'static str {
    match kind {
        CertificateKind::Auth => "Auth Certificate",
        CertificateKind::SelfSigned => "self-signed certificate",
        CertificateKind::CaIssued => "certificate",
    }
}

/// Human text ends up on a Nagios status line: one line, and never a `|` (it starts perfdata).
pub fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "/")
}

fn serialize_instant<S: serde::Serializer>(
    instant: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&instant.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn serialize_state<S: serde::Serializer>(
    state: &ServiceState,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&state.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_removes_newlines_and_pipes() {
        assert_eq!(one_line("a\r\n b | c\n"), "a b / c");
    }

    #[test]
    fn empty_state_is_unknown() {
        let report = judge(&ExchangeState::default(), &Policy::defaults(Utc::now()));
        assert_eq!(report.state, ServiceState::Unknown);
        assert_eq!(report.summary, "the inputs hold no certificate to check");
        assert_eq!(report.findings[0].code, FindingCode::InputInvalid);
    }
}
