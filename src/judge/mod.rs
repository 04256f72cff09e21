//! Judgement: [`ExchangeState`] + [`Policy`] -> [`Report`]. A pure function of its inputs, so
//! every rule is testable with a hand-built state and a pinned `now`.

pub mod action;
pub mod auth;
pub mod certificates;
pub mod findings;
pub mod freshness;
pub mod metadata;
pub mod metrics;
pub mod outcome;
pub mod report;
pub mod stores;
pub mod thresholds;
pub mod topics;

use chrono::{DateTime, Utc};
use nagiosplugin::ServiceState;

pub use findings::{Finding, FindingCode, Severity, Topic};
pub use metrics::{Channel, Metric, MetricId, MetricKey, MetricUnit};
pub use report::{CertificateReport, CertificateRole, Placement, Report};
pub use thresholds::{Range, RangeError, Thresholds};
pub use topics::TopicReport;

pub use action::{Recommendation, RecommendedAction};

use crate::model::{CertificateKind, ExchangeState};
use outcome::Outcome;
use thresholds::Breach;

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
    /// Alert on certificates bound to no service as on any other (`--alert-unbound`); by
    /// default they are information, since nothing uses them.
    pub alert_unbound: bool,
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
            alert_unbound: false,
        }
    }

    pub fn thresholds_for(&self, kind: CertificateKind) -> &Thresholds {
        match kind {
            CertificateKind::Auth => &self.auth,
            CertificateKind::SelfSigned | CertificateKind::CaIssued => &self.selfsigned,
        }
    }
}

/// Judges the state: the organisation's Auth Certificate and stores when the inputs describe
/// an organisation, and every loose certificate file by its own expiry.
pub fn judge(state: &ExchangeState, policy: &Policy) -> Report {
    let organisation = state.is_organisation();
    let mut recommendation = None;
    let mut outcome = Outcome::default();
    if organisation {
        outcome = auth::judge(state, policy)
            .merged(stores::judge(state, policy))
            .merged(freshness::judge(state, policy));
        recommendation = action::recommend(state, policy);
    }
    let loose = certificates::judge_loose(state, policy);
    // The agentless inputs (--metadata, unreachable --metadata/--tls endpoints).
    let network = metadata::judge(state, policy);
    let file_mode_summary = (!organisation).then(|| file_mode_metrics(&loose, &network));
    outcome.findings.extend(loose.findings);
    outcome.findings.extend(network.findings);
    if let Some(metrics) = file_mode_summary {
        outcome.metrics.extend(metrics);
        if state.certificates.is_empty() {
            outcome.ok_summary = outcome.ok_summary.or(network.ok_summary);
        }
    }
    outcome.metrics.push(Metric::summary(
        MetricId::Certificates,
        state.certificates.len() as i64,
        None,
    ));
    let mut metrics = outcome.metrics;
    metrics.extend(loose.certificate_metrics);
    metrics.extend(network.certificate_metrics);
    let mut findings = outcome.findings;
    findings.extend(nothing_to_check(state));
    let ok_summary = outcome
        .ok_summary
        .or_else(|| unreachable_only_summary(state));
    // Worst first; the sort is stable, so equal findings keep the order rules produced them.
    findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity.rank()));
    let certificates = certificates::reports(state, policy, &findings);
    let overall = overall_state(&findings);
    let summary = one_line(&summarise(overall, &findings, &certificates, ok_summary));
    let mut report = Report {
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
        export_age: freshness::export_age(state, policy),
        topics: Vec::new(),
        failed: false,
    };
    report.topics = topics::topics(&report, organisation);
    keep_thresholds_that_agree(&mut report, organisation);
    report
}

/// File mode: `days_left` and the per-kind minimums of the files; the primary days left is an
/// Auth Certificate's when there is one, and a published one beats loose self-signed or
/// CA-issued certificates.
fn file_mode_metrics(loose: &Outcome, network: &Outcome) -> Vec<Metric> {
    let loose_has_auth = loose
        .metrics
        .iter()
        .any(|m| m.id() == Some(MetricId::AuthMinDays));
    let mut metrics = loose.metrics.clone();
    let published_days_left = network
        .metrics
        .iter()
        .find(|m| m.id() == Some(MetricId::DaysLeft));
    if let (false, Some(days_left)) = (loose_has_auth, published_days_left) {
        metrics.retain(|m| m.id() != Some(MetricId::DaysLeft));
        metrics.insert(0, days_left.clone());
    }
    metrics
}

fn nothing_to_check(state: &ExchangeState) -> Option<Finding> {
    let nothing = state.certificates.is_empty()
        && !state.is_organisation()
        && state.published.is_none()
        && state.unreachable_endpoints.is_empty();
    nothing.then(|| {
        Finding::new(
            Severity::Unknown,
            FindingCode::InputInvalid,
            "the inputs hold no certificate to check",
        )
    })
}

/// The first line of a run whose only inputs were endpoints that could not be reached.
fn unreachable_only_summary(state: &ExchangeState) -> Option<String> {
    let count = state.unreachable_endpoints.len();
    if count == 0 || !state.certificates.is_empty() || state.published.is_some() {
        return None;
    }
    let plural = if count == 1 { "" } else { "s" };
    Some(format!(
        "{count} endpoint{plural} could not be reached (--unreachable-state)"
    ))
}

/// A metric keeps its thresholds only where they alert no more than the judgement does about
/// what it measures (its topic's state; a certificate's own state), so that no system reading
/// them shows a state the check did not compute: e.g. the current certificate's days left
/// below -w while a staged rotation takes over in time, which the judgement calls OK.
fn keep_thresholds_that_agree(report: &mut Report, organisation: bool) {
    let topic_state = |topic: Topic| {
        report
            .topics
            .iter()
            .find(|t| t.topic() == topic && t.server().is_none())
            .map_or(report.state, TopicReport::state)
    };
    let judged: Vec<ServiceState> = report
        .metrics
        .iter()
        .map(|metric| match &metric.key {
            MetricKey::Summary(id) => topic_state(id.topic(organisation)),
            MetricKey::Certificate(thumbprint) => report
                .certificates
                .iter()
                .find(|c| &c.thumbprint == thumbprint)
                .map_or(report.state, |c| c.state.service_state()),
        })
        .collect();
    for (metric, judged) in report.metrics.iter_mut().zip(judged) {
        let alerts = metric
            .thresholds
            .as_ref()
            .map(|t| breach_state(t.evaluate(metric.value as f64)));
        if alerts.is_some_and(|alerts| alerts > judged) {
            metric.thresholds = None;
        }
    }
}

fn breach_state(breach: Breach) -> ServiceState {
    match breach {
        Breach::Critical => ServiceState::Critical,
        Breach::Warning => ServiceState::Warning,
        Breach::None => ServiceState::Ok,
    }
}

/// The service state of a set of findings: the worst, INFO counting as OK, UNKNOWN below
/// WARNING (the Monitoring Plugins order). Renderers that split findings per service use it too.
pub fn overall_state<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> ServiceState {
    findings
        .into_iter()
        .map(|finding| finding.severity.service_state())
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
    let findings: Vec<&Finding> = findings.iter().collect();
    worst_messages(&findings).unwrap_or_default()
}

/// The messages of the worst findings (findings are worst first), a few of them.
pub(crate) fn worst_messages(findings: &[&Finding]) -> Option<String> {
    const SHOWN: usize = 3;
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
