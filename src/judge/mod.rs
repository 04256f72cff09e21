//! Judgement: [`ExchangeState`] + [`Policy`] -> [`Report`]. A pure function of its inputs, so
//! every rule is testable with a hand-built state and a pinned `now`.

pub mod action;
pub mod auth;
pub mod certificates;
pub mod findings;
pub mod freshness;
pub mod metadata;
pub mod metrics;
pub mod stores;
pub mod thresholds;

use chrono::{DateTime, SecondsFormat, Utc};
use nagiosplugin::ServiceState;
use serde::Serialize;

pub use findings::{Finding, FindingCode, Severity};
pub use metrics::{Channel, Metric, MetricId, MetricUnit};
pub use thresholds::{Range, RangeError, Thresholds};

pub use action::{Recommendation, RecommendedAction};

use crate::model::{AuthConfig, CertificateKind, ExchangeState, Server, Sighting};

/// Everything the judgement depends on besides the state: thresholds and the instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub now: DateTime<Utc>,
    /// Applied to Auth Certificates (`-w`/`-c`).
    pub auth: Thresholds,
    /// Applied to every other certificate (`--selfsigned-warning`/`--selfsigned-critical`).
    pub selfsigned: Thresholds,
    /// A next certificate must be staged once the current one has this many days left or fewer
    /// (`--rotation-window`; MEAC: 60).
    pub rotation_window_days: i64,
    /// A staged next certificate with this many days left or fewer is worth replacing
    /// (`--next-min-days`; MEAC: 120).
    pub next_min_days: i64,
    /// How long after its effective date a next certificate may stay unpublished: the
    /// servicelet runs every 12 h (`--publish-grace`, default 24 h).
    pub publish_grace: chrono::Duration,
    /// Older state is stale (`--max-age`, default 26 h: an hourly task plus a day of slack).
    /// `None` disables the check.
    pub max_age: Option<chrono::Duration>,
    /// The severity of a server whose certificates could not be queried (`--unreachable-state`).
    pub unreachable_severity: Severity,
}

impl Policy {
    /// Microsoft's and the project's defaults at `now`.
    pub fn defaults(now: DateTime<Utc>) -> Policy {
        Policy {
            now,
            auth: Thresholds::parse("60:", "30:").expect("default auth thresholds"),
            selfsigned: Thresholds::parse("30:", "14:").expect("default self-signed thresholds"),
            rotation_window_days: 60,
            next_min_days: 120,
            publish_grace: chrono::Duration::hours(24),
            max_age: Some(chrono::Duration::hours(26)),
            unreachable_severity: Severity::Unknown,
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
    /// What Microsoft's logic (MEAC) would do; `None` without AuthConfig.
    #[serde(serialize_with = "serialize_action")]
    pub recommended_action: Option<Recommendation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Recommendation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_config: Option<AuthConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Server>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hybrid_detected: Option<bool>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_optional_instant"
    )]
    pub collected_at: Option<DateTime<Utc>>,
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
            recommended_action: None,
            recommendation: None,
            auth_config: None,
            servers: Vec::new(),
            hybrid_detected: None,
            collected_at: None,
            failed: true,
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.state.exit_code()
    }
}

/// Judges the state: the organisation's Auth Certificate and stores when the inputs describe
/// an organisation, and every loose certificate file by its own expiry.
pub fn judge(state: &ExchangeState, policy: &Policy) -> Report {
    let mut findings = Vec::new();
    let mut metrics = Vec::new();
    let mut ok_summary = None;
    let mut recommendation = None;
    if state.is_organisation() {
        let auth = auth::judge(state, policy);
        findings.extend(auth.findings);
        findings.extend(stores::judge(state, policy));
        let freshness = freshness::judge(state, policy);
        findings.extend(freshness.findings);
        metrics.extend(auth.metrics);
        metrics.extend(stores::metrics(state, policy));
        metrics.extend(freshness.metric);
        ok_summary = auth.ok_summary;
        recommendation = action::recommend(state, policy);
    }
    let loose = certificates::judge_loose(state, policy);
    findings.extend(loose.findings);
    // The agentless inputs (--metadata, unreachable --metadata/--tls endpoints).
    let network = metadata::judge(state, policy);
    findings.extend(network.findings);
    if !state.is_organisation() {
        // The primary days left is an Auth Certificate's when there is one: a published one
        // beats loose self-signed or CA-issued certificates.
        let loose_has_auth = loose
            .summary_metrics
            .iter()
            .any(|m| m.label == MetricId::AuthMinDays.label());
        let mut summary_metrics = loose.summary_metrics;
        if let (false, Some(days_left)) = (loose_has_auth, network.days_left) {
            summary_metrics.retain(|m| m.label != MetricId::DaysLeft.label());
            summary_metrics.insert(0, days_left);
        }
        metrics.extend(summary_metrics);
        if state.certificates.is_empty() {
            ok_summary = ok_summary.or(network.ok_summary);
        }
    }
    metrics.push(Metric::summary(
        MetricId::Certificates,
        state.certificates.len() as i64,
        None,
    ));
    metrics.extend(loose.per_certificate_metrics);
    metrics.extend(network.per_certificate_metrics);
    if state.certificates.is_empty()
        && !state.is_organisation()
        && state.published.is_none()
        && state.unreachable_endpoints.is_empty()
    {
        findings.push(Finding::new(
            Severity::Unknown,
            FindingCode::InputInvalid,
            "the inputs hold no certificate to check",
        ));
    }
    if ok_summary.is_none() && state.certificates.is_empty() && state.published.is_none() {
        let count = state.unreachable_endpoints.len();
        if count > 0 {
            let plural = if count == 1 { "" } else { "s" };
            ok_summary = Some(format!(
                "{count} endpoint{plural} could not be reached (--unreachable-state)"
            ));
        }
    }
    // Worst first; the sort is stable, so equal findings keep the order rules produced them.
    findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity.rank()));
    let certificates = certificates::reports(state, policy, &findings);
    let overall = overall_state(&findings);
    let summary = one_line(&summarise(overall, &findings, &certificates, ok_summary));
    Report {
        state: overall,
        summary,
        checked_at: policy.now,
        findings,
        metrics,
        certificates,
        recommended_action: recommendation.clone(),
        recommendation,
        auth_config: state.auth_config.clone(),
        servers: state.servers.clone(),
        hybrid_detected: state.hybrid_detected,
        collected_at: state.collected_at,
        failed: false,
    }
}

/// The service state of a set of findings: the worst, INFO counting as OK, UNKNOWN below
/// WARNING (the Monitoring Plugins order). Renderers that split findings per service use it too.
pub fn overall_state<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> ServiceState {
    findings
        .into_iter()
        .map(|finding| match finding.severity {
            Severity::Ok | Severity::Info => ServiceState::Ok,
            Severity::Warning => ServiceState::Warning,
            Severity::Critical => ServiceState::Critical,
            Severity::Unknown => ServiceState::Unknown,
        })
        .max()
        .unwrap_or(ServiceState::Ok)
}

/// The first line: the worst findings, or when all is well the organisation's summary or the
/// nearest expiry among the certificates.
fn summarise(
    state: ServiceState,
    findings: &[Finding],
    certificates: &[CertificateReport],
    ok_summary: Option<String>,
) -> String {
    const SHOWN: usize = 3;
    if state == ServiceState::Ok {
        if let Some(summary) = ok_summary {
            return summary;
        }
        let nearest = certificates
            .iter()
            .filter(|c| c.kind == CertificateKind::Auth)
            .min_by_key(|c| c.seconds_left)
            .or_else(|| certificates.iter().min_by_key(|c| c.seconds_left));
        let Some(nearest) = nearest else {
            return "no problem found".into();
        };
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

/// "expires in 12 days", "expires in less than a day", "expired 1 day ago": whole days as an
/// admin counts them (an hour past NotAfter is not "1 day ago").
pub fn expiry_phrase(certificate: &crate::model::Certificate, now: DateTime<Utc>) -> String {
    let days = |n: i64| {
        if n == 1 {
            "1 day".to_string()
        } else {
            format!("{n} days")
        }
    };
    if certificate.is_expired(now) {
        match (now - certificate.not_after).num_days() {
            0 => "expired less than a day ago".into(),
            n => format!("expired {} ago", days(n)),
        }
    } else {
        match certificate.days_left(now) {
            0 => "expires in less than a day".into(),
            n => format!("expires in {}", days(n)),
        }
    }
}

pub(crate) fn describe_kind(kind: CertificateKind) -> &'static str {
    match kind {
        CertificateKind::Auth => "Auth Certificate",
        CertificateKind::SelfSigned => "self-signed certificate",
        CertificateKind::CaIssued => "certificate",
    }
}

/// Human text ends up on a Nagios status line: one line, and never a `|` (it starts perfdata)
/// nor another control character (a NUL ends the line for C readers; found by fuzzing).
pub fn one_line(text: &str) -> String {
    // Most messages are one clean line already; every finding passes through here.
    if text
        .chars()
        .all(|c| c != '|' && (c == '\t' || !c.is_control()))
    {
        return text.trim().to_string();
    }
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "/")
        .chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

fn serialize_instant<S: serde::Serializer>(
    instant: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&instant.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn serialize_optional_instant<S: serde::Serializer>(
    instant: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match instant {
        Some(instant) => serialize_instant(instant, serializer),
        None => serializer.serialize_none(),
    }
}

fn serialize_action<S: serde::Serializer>(
    recommendation: &Option<Recommendation>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match recommendation {
        Some(recommendation) => serializer.serialize_str(recommendation.action.as_str()),
        None => serializer.serialize_none(),
    }
}

fn serialize_state<S: serde::Serializer>(
    state: &ServiceState,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&state.to_string())
}

#[cfg(test)]
mod organisation_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_removes_newlines_and_pipes() {
        assert_eq!(one_line("a\r\n b | c\n"), "a b / c");
        assert_eq!(
            one_line("x\u{0}y\u{1b}[1mz\tw"),
            "x\u{FFFD}y\u{FFFD}[1mz\tw"
        );
    }

    #[test]
    fn empty_state_is_unknown() {
        let report = judge(&ExchangeState::default(), &Policy::defaults(Utc::now()));
        assert_eq!(report.state, ServiceState::Unknown);
        assert_eq!(report.summary, "the inputs hold no certificate to check");
        assert_eq!(report.findings[0].code, FindingCode::InputInvalid);
    }
}
