//! The report by topic: which findings and metrics belong together, the state of each part
//! of the organisation, and a line that says what is fine when nothing is wrong. Outputs that
//! show one item per concern (Checkmk's services) write these down as they are.

use std::collections::HashMap;

use nagiosplugin::ServiceState;

use super::report::{CertificateReport, CertificateRole};
use super::{Finding, FindingCode, MetricId, Report, Topic, overall_state, worst_messages};
use crate::model::CertificateKind;

/// One topic of the report: the whole run, the current or next Auth Certificate, one server's
/// store, or the certificate files.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicReport {
    topic: Topic,
    server: Option<String>,
    state: ServiceState,
    summary: String,
    findings: Vec<usize>,
    metrics: Vec<MetricId>,
}

impl TopicReport {
    pub fn topic(&self) -> Topic {
        self.topic
    }

    /// The server of a [`Topic::ServerStore`].
    pub fn server(&self) -> Option<&str> {
        self.server.as_deref()
    }

    /// The worst of its findings (the overall topic: the verdict).
    pub fn state(&self) -> ServiceState {
        self.state
    }

    /// Its worst findings' messages, or what is fine (the overall topic: the report's summary).
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// Positions in [`Report::findings`], worst first; see [`Report::findings_of`].
    pub fn finding_indexes(&self) -> &[usize] {
        &self.findings
    }

    /// The summary metrics that describe it, in output order (those the run has).
    pub fn metrics(&self) -> &[MetricId] {
        &self.metrics
    }

    /// A run that could not judge: the overall topic alone, its summary the reason.
    pub fn failure(summary: &str) -> TopicReport {
        TopicReport {
            topic: Topic::Overall,
            server: None,
            state: ServiceState::Unknown,
            summary: summary.to_string(),
            findings: Vec::new(),
            metrics: Vec::new(),
        }
    }
}

/// The topics a judged report has: always the overall one; the current certificate's in an
/// organisation or with an Auth certificate file; the next one's once AuthConfig is known;
/// one per server; and the certificate files that are not judged as Auth Certificates.
pub fn topics(report: &Report, organisation: bool) -> Vec<TopicReport> {
    let mut topics = vec![overall(report, organisation)];
    let loose_auth = report
        .certificates
        .iter()
        .any(|c| c.kind == CertificateKind::Auth && is_loose(c));
    if organisation || loose_auth {
        let metrics = if organisation {
            vec![MetricId::AuthCurrentDays, MetricId::ServersMissingAuthCert]
        } else {
            vec![MetricId::AuthMinDays]
        };
        topics.push(topic(
            report,
            Topic::AuthCurrent,
            None,
            metrics,
            current_fine(report),
        ));
    }
    // Known: given and readable, with a current thumbprint (else `auth.config.missing`).
    let auth_config_known = report.auth_config.is_some()
        && !report
            .findings
            .iter()
            .any(|f| f.code == FindingCode::AuthConfigMissing);
    if auth_config_known {
        let metrics = vec![MetricId::AuthNextDays];
        topics.push(topic(
            report,
            Topic::AuthNext,
            None,
            metrics,
            next_fine(report),
        ));
    }
    topics.extend(server_topics(report));
    let loose_other = report
        .certificates
        .iter()
        .any(|c| is_loose(c) && (organisation || c.kind != CertificateKind::Auth));
    if loose_other {
        let metrics = if organisation {
            Vec::new()
        } else {
            vec![MetricId::SelfSignedMinDays, MetricId::CaIssuedMinDays]
        };
        let fine = "no certificate file to check".to_string();
        topics.push(topic(report, Topic::CertificateFiles, None, metrics, fine));
    }
    topics
}

/// The whole run: the verdict and the report's summary; its findings are those no other topic
/// shows.
fn overall(report: &Report, organisation: bool) -> TopicReport {
    let metrics = if organisation {
        vec![
            MetricId::DaysLeft,
            MetricId::Certificates,
            MetricId::ExportAgeHours,
            MetricId::SelfSignedMinDays,
        ]
    } else {
        vec![MetricId::DaysLeft, MetricId::Certificates]
    };
    TopicReport {
        topic: Topic::Overall,
        server: None,
        state: report.state,
        summary: report.summary.clone(),
        findings: indexes(report, |f| f.topic == Topic::Overall),
        metrics: present(report, metrics),
    }
}

fn topic(
    report: &Report,
    topic: Topic,
    server: Option<String>,
    metrics: Vec<MetricId>,
    fine: String,
) -> TopicReport {
    let findings = indexes(report, |f| shows_on(f, topic, server.as_deref()));
    with_findings(report, topic, server, metrics, fine, findings)
}

fn with_findings(
    report: &Report,
    topic: Topic,
    server: Option<String>,
    metrics: Vec<MetricId>,
    fine: String,
    findings: Vec<usize>,
) -> TopicReport {
    let shown: Vec<&Finding> = findings.iter().map(|&i| &report.findings[i]).collect();
    TopicReport {
        topic,
        state: overall_state(shown.iter().copied()),
        summary: worst_messages(&shown).unwrap_or(fine),
        server,
        findings,
        metrics: present(report, metrics),
    }
}

/// Whether a finding shows on a topic other than the overall one. A missing AuthConfig also
/// shows on the current certificate's topic, and a server that could not be read (or was not
/// collected) also on that server's.
fn shows_on(finding: &Finding, topic: Topic, server: Option<&str>) -> bool {
    let also = match (finding.code, topic) {
        (FindingCode::AuthConfigMissing, Topic::AuthCurrent) => true,
        (
            FindingCode::ServersUnreachable | FindingCode::ServersNotCollected,
            Topic::ServerStore,
        ) => finding.server.as_deref() == server,
        _ => false,
    };
    also || (finding.topic == topic
        && (topic != Topic::ServerStore || finding.server.as_deref() == server))
}

/// One topic per server's store. Findings and certificates are grouped by server in one pass:
/// a large organisation has hundreds of servers and thousands of findings.
fn server_topics(report: &Report) -> Vec<TopicReport> {
    let mut findings_on: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, finding) in report.findings.iter().enumerate() {
        if let Some(server) = &finding.server {
            findings_on.entry(server).or_default().push(index);
        }
    }
    let mut selfsigned_on: HashMap<&str, Vec<&CertificateReport>> = HashMap::new();
    for certificate in &report.certificates {
        if certificate.kind != CertificateKind::SelfSigned {
            continue;
        }
        for sighting in &certificate.sources {
            if let Some(server) = &sighting.server {
                let list = selfsigned_on.entry(server).or_default();
                // Two sightings on one server (two export files) name it once.
                if !list
                    .last()
                    .is_some_and(|last| std::ptr::eq(*last, certificate))
                {
                    list.push(certificate);
                }
            }
        }
    }
    report
        .servers
        .iter()
        .map(|server| {
            let name = server.name.as_str();
            let findings = findings_on
                .get(name)
                .map(|list| {
                    list.iter()
                        .copied()
                        .filter(|&i| shows_on(&report.findings[i], Topic::ServerStore, Some(name)))
                        .collect()
                })
                .unwrap_or_default();
            let certificates = selfsigned_on.get(name).map(Vec::as_slice).unwrap_or(&[]);
            let fine = server_fine(name, certificates);
            let server = Some(server.name.clone());
            with_findings(
                report,
                Topic::ServerStore,
                server,
                Vec::new(),
                fine,
                findings,
            )
        })
        .collect()
}

fn indexes(report: &Report, wanted: impl Fn(&Finding) -> bool) -> Vec<usize> {
    (0..report.findings.len())
        .filter(|&i| wanted(&report.findings[i]))
        .collect()
}

fn present(report: &Report, metrics: Vec<MetricId>) -> Vec<MetricId> {
    metrics
        .into_iter()
        .filter(|&id| report.metric(id).is_some())
        .collect()
}

/// A certificate from a file: seen in no server's store and given no AuthConfig role.
fn is_loose(certificate: &CertificateReport) -> bool {
    certificate.sources.iter().all(|s| s.server.is_none())
        && ![
            CertificateRole::AuthCurrent,
            CertificateRole::AuthNext,
            CertificateRole::AuthPrevious,
        ]
        .into_iter()
        .any(|role| certificate.has_role(role))
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

fn current_fine(report: &Report) -> String {
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

fn next_fine(report: &Report) -> String {
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

fn server_fine(server: &str, on_server: &[&CertificateReport]) -> String {
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
