//! Loose certificates (files given with `--cert`, judged by their own expiry: `cert.*`), the
//! per-certificate view of the report, and the file-mode summary metrics.

use std::collections::HashMap;

use super::outcome::Outcome;
use super::{
    CertificateReport, CertificateRole, Finding, FindingCode, Metric, MetricId, Placement, Policy,
    Severity, Topic, describe_kind, expiry_phrase, thresholds::Breach,
};
use crate::model::{CertificateEntry, CertificateKind, ExchangeState, Thumbprint};

/// A certificate seen in no server's store and not named by AuthConfig: judged on its own.
fn is_loose(entry: &CertificateEntry, state: &ExchangeState) -> bool {
    let in_a_store = entry.sightings.iter().any(|s| s.server.is_some());
    !in_a_store && auth_roles(&entry.certificate.thumbprint, state).is_empty()
}

/// The loose certificates, each judged by its own expiry: its findings and days left, and
/// for file mode `days_left` and the per-kind minimums. An Auth certificate file is the
/// current certificate's concern in file mode; beside an organisation it is just a file.
pub fn judge_loose(state: &ExchangeState, policy: &Policy) -> Outcome {
    let mut outcome = Outcome::default();
    let mut minimums: Vec<(CertificateKind, i64)> = Vec::new();
    for entry in state.certificates.iter().filter(|e| is_loose(e, state)) {
        let certificate = &entry.certificate;
        let days_left = certificate.days_left(policy.now);
        let thresholds = policy.thresholds_for(entry.kind);
        let topic = if entry.kind == CertificateKind::Auth && !state.is_organisation() {
            Topic::AuthCurrent
        } else {
            Topic::CertificateFiles
        };
        let mut findings = expiry_findings(entry, policy, None, ExpiryCodes::CERT);
        if entry.kind == CertificateKind::Auth {
            findings.extend(weak_auth_findings(entry, "Auth certificate file"));
        }
        outcome
            .findings
            .extend(findings.into_iter().map(|f| f.on_topic(topic)));
        outcome.certificate_metrics.push(Metric::per_certificate(
            &certificate.thumbprint,
            format!(
                "{}_{}_days",
                entry.kind.as_str(),
                certificate.thumbprint.short()
            ),
            days_left,
            thresholds.clone(),
        ));
        minimums.push((entry.kind, days_left));
    }
    outcome.metrics = summary_metrics(&minimums, policy);
    outcome
}

/// The finding codes one family of expiry rules uses.
#[derive(Clone, Copy)]
pub struct ExpiryCodes {
    pub expired: FindingCode,
    pub expiring: FindingCode,
    /// When set, an expired certificate bound to no service gets this informational code.
    pub unused_expired: Option<FindingCode>,
    /// An OK line for every certificate (file mode lists each file's certificates).
    pub ok: Option<FindingCode>,
}

impl ExpiryCodes {
    pub const CERT: ExpiryCodes = ExpiryCodes {
        expired: FindingCode::CertExpired,
        expiring: FindingCode::CertExpiring,
        unused_expired: None,
        ok: Some(FindingCode::CertOk),
    };
}

/// A certificate as one server's store holds it.
pub struct Held<'a> {
    pub server: &'a str,
    /// The services it is enabled for there; `None` when the export does not say.
    pub services: Option<&'a [String]>,
    /// It is the server's internal transport certificate: in use whatever its services say.
    pub internal_transport: bool,
}

impl Held<'_> {
    /// Known to be bound to no service, and not the internal transport certificate.
    pub fn is_unbound(&self) -> bool {
        self.services.is_some_and(<[String]>::is_empty) && !self.internal_transport
    }
}

/// Expiry findings for one certificate, optionally as held by one server (with the services
/// it is bound to there). Expired is CRITICAL whatever the thresholds say, except for an
/// unbound certificate when the codes have an informational "unused" code.
pub fn expiry_findings(
    entry: &CertificateEntry,
    policy: &Policy,
    held: Option<&Held>,
    codes: ExpiryCodes,
) -> Vec<Finding> {
    let certificate = &entry.certificate;
    let now = policy.now;
    // Most certificates of a large organisation are fine: their description is only built
    // when a finding needs it.
    let what = || describe_held(entry, held);
    let expiry = || {
        format!(
            "{} ({})",
            expiry_phrase(certificate, now),
            certificate.not_after.format("%Y-%m-%d %H:%M UTC")
        )
    };
    let mut findings = Vec::new();
    let mut push = |severity, code, message: String| {
        let mut finding = Finding::new(severity, code, message).about(&certificate.thumbprint);
        if let Some(held) = held {
            finding = finding.on_server(held.server);
            // A CA-issued certificate in a store shows with the run as a whole.
            if finding.topic == Topic::CertificateFiles {
                finding = finding.on_topic(Topic::Overall);
            }
        }
        findings.push(finding);
    };
    if certificate.is_expired(now) {
        match codes.unused_expired {
            Some(unused) if held.is_some_and(Held::is_unbound) => push(
                Severity::Info,
                unused,
                format!("{} {}: it can be removed", what(), expiry()),
            ),
            _ => push(
                Severity::Critical,
                codes.expired,
                format!("{} {}", what(), expiry()),
            ),
        }
    } else if let Some(severity) = breach(policy, entry) {
        push(severity, codes.expiring, format!("{} {}", what(), expiry()));
    }
    if certificate.is_not_yet_valid(now) {
        push(
            Severity::Warning,
            FindingCode::CertNotYetValid,
            format!(
                "{} is not valid before {}",
                what(),
                certificate.not_before.format("%Y-%m-%d %H:%M UTC")
            ),
        );
    }
    if let (true, Some(ok)) = (findings.is_empty(), codes.ok) {
        findings.push(
            Finding::new(Severity::Ok, ok, format!("{} {}", what(), expiry()))
                .about(&certificate.thumbprint),
        );
    }
    findings
}

/// The severity the certificate's kind's thresholds give its days left, if they alert.
fn breach(policy: &Policy, entry: &CertificateEntry) -> Option<Severity> {
    let days_left = entry.certificate.days_left(policy.now) as f64;
    match policy.thresholds_for(entry.kind).evaluate(days_left) {
        Breach::Critical => Some(Severity::Critical),
        Breach::Warning => Some(Severity::Warning),
        Breach::None => None,
    }
}

/// "self-signed certificate 9CFFBE41 (CN=...)", with the server, its role there and the
/// services it is bound to when a store holds it.
fn describe_held(entry: &CertificateEntry, held: Option<&Held>) -> String {
    let certificate = &entry.certificate;
    let what = format!(
        "{} {} ({})",
        describe_kind(entry.kind),
        certificate.thumbprint.short(),
        certificate.subject
    );
    let Some(held) = held else {
        return what;
    };
    let bound = match held.services {
        Some([]) => " (bound to no service)".to_string(),
        Some(list) => format!(" (bound to {})", list.join(", ")),
        None => String::new(),
    };
    let transport = if held.internal_transport {
        " (its internal transport certificate)"
    } else {
        ""
    };
    format!("server {}: {what}{transport}{bound}", held.server)
}

/// An Auth Certificate with a key or signature HealthChecker flags (Invoke-AnalyzerSecurity-
/// ExchangeCertificates.ps1): an RSA key under 2048 bits is red (CRITICAL here), a SHA-1 or
/// MD5 signature yellow (WARNING). `what` names it ("current Auth Certificate").
pub fn weak_auth_findings(entry: &CertificateEntry, what: &str) -> Vec<Finding> {
    const MIN_RSA_BITS: u32 = 2048;
    let certificate = &entry.certificate;
    let mut findings = Vec::new();
    if certificate.key_algorithm == "RSA"
        && let Some(bits) = certificate.key_bits
        && bits < MIN_RSA_BITS
    {
        findings.push(
            Finding::new(
                Severity::Critical,
                FindingCode::AuthWeakKey,
                format!(
                    "{what} {} has a {bits}-bit RSA key (at least {MIN_RSA_BITS} bits): replace it with a new one",
                    certificate.thumbprint.short()
                ),
            )
            .about(&certificate.thumbprint),
        );
    }
    if is_weak_signature(&certificate.signature_algorithm) {
        findings.push(
            Finding::new(
                Severity::Warning,
                FindingCode::AuthWeakSignature,
                format!(
                    "{what} {} is signed with {} (SHA-1 or MD5): renew it with a SHA-256 signature",
                    certificate.thumbprint.short(),
                    certificate.signature_algorithm
                ),
            )
            .about(&certificate.thumbprint),
        );
    }
    findings
}

/// SHA-1 and MD5 signatures, by name or, where our names lack one, by OID (md5WithRSA,
/// sha1WithRSA, the old OIW sha1WithRSA, ecdsa-with-SHA1).
fn is_weak_signature(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("sha1")
        || lower.contains("md5")
        || matches!(
            name,
            "1.2.840.113549.1.1.4" | "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" | "1.2.840.10045.4.1"
        )
}

/// The AuthConfig roles of a thumbprint.
pub fn auth_roles(thumbprint: &Thumbprint, state: &ExchangeState) -> Vec<CertificateRole> {
    let Some(config) = &state.auth_config else {
        return Vec::new();
    };
    [
        (&config.current, CertificateRole::AuthCurrent),
        (&config.next, CertificateRole::AuthNext),
        (&config.previous, CertificateRole::AuthPrevious),
    ]
    .into_iter()
    .filter(|(role, _)| role.as_ref() == Some(thumbprint))
    .map(|(_, name)| name)
    .collect()
}

/// Every certificate as the report shows it; its state is the worst finding about it, and
/// its state on a server the worst finding about it there or on no server in particular.
pub fn reports(
    state: &ExchangeState,
    policy: &Policy,
    findings: &[Finding],
) -> Vec<CertificateReport> {
    let mut about: HashMap<&Thumbprint, Vec<&Finding>> = HashMap::new();
    for finding in findings {
        if let Some(thumbprint) = &finding.thumbprint {
            about.entry(thumbprint).or_default().push(finding);
        }
    }
    let internal_transport: std::collections::HashSet<&Thumbprint> = state
        .servers
        .iter()
        .filter_map(|s| s.internal_transport_certificate.as_ref())
        .collect();
    // On all cores for a large organisation: each report copies its certificate's facts.
    crate::parallel::map_in_order(&state.certificates, 256, |entry| {
        let certificate = &entry.certificate;
        let mut roles = vec![CertificateRole::of_kind(entry.kind)];
        roles.extend(auth_roles(&certificate.thumbprint, state));
        if internal_transport.contains(&certificate.thumbprint) {
            roles.push(CertificateRole::InternalTransport);
        }
        let findings = about
            .get(&certificate.thumbprint)
            .map_or(&[][..], Vec::as_slice);
        CertificateReport {
            thumbprint: certificate.thumbprint.clone(),
            subject: certificate.subject.clone(),
            issuer: certificate.issuer.clone(),
            serial: certificate.serial.clone(),
            not_before: certificate.not_before,
            not_after: certificate.not_after,
            days_left: certificate.days_left(policy.now),
            seconds_left: certificate.seconds_left(policy.now),
            self_signed: certificate.self_signed,
            key_algorithm: certificate.key_algorithm.clone(),
            key_bits: certificate.key_bits,
            signature_algorithm: certificate.signature_algorithm.clone(),
            kind: entry.kind,
            roles,
            state: worst(findings.iter().copied()),
            placements: placements(entry)
                .into_iter()
                .map(|server| Placement {
                    state: worst(
                        findings
                            .iter()
                            .copied()
                            .filter(|f| f.server.is_none() || f.server.as_deref() == server),
                    ),
                    server: server.map(str::to_string),
                })
                .collect(),
            sources: entry.sightings.clone(),
        }
    })
}

fn worst<'a>(findings: impl Iterator<Item = &'a Finding>) -> Severity {
    findings
        .map(|f| f.severity)
        .max_by_key(|severity| severity.rank())
        .unwrap_or(Severity::Ok)
}

/// The servers whose stores hold the certificate, or one place without a server for a file
/// (a certificate in a store and also given as a file: the stores tell more).
fn placements(entry: &CertificateEntry) -> Vec<Option<&str>> {
    let mut servers: Vec<Option<&str>> = Vec::new();
    for sighting in &entry.sightings {
        let server = sighting.server.as_deref();
        if !servers.contains(&server) {
            servers.push(server);
        }
    }
    if servers.len() > 1 {
        servers.retain(Option::is_some);
    }
    if servers.is_empty() {
        servers.push(None);
    }
    servers
}

/// File mode: the primary "days left" first, then the minimum per kind.
fn summary_metrics(minimums: &[(CertificateKind, i64)], policy: &Policy) -> Vec<Metric> {
    let min_days = |kind: Option<CertificateKind>| {
        minimums
            .iter()
            .filter(|(k, _)| kind.is_none_or(|kind| *k == kind))
            .map(|(_, days)| *days)
            .min()
    };
    let mut metrics = Vec::new();
    let primary = match min_days(Some(CertificateKind::Auth)) {
        Some(days) => Some((days, policy.auth.clone())),
        None => min_days(None).map(|days| (days, policy.selfsigned.clone())),
    };
    if let Some((days, thresholds)) = primary {
        metrics.push(Metric::summary(MetricId::DaysLeft, days, Some(thresholds)));
    }
    for (id, kind) in [
        (MetricId::AuthMinDays, CertificateKind::Auth),
        (MetricId::SelfSignedMinDays, CertificateKind::SelfSigned),
        (MetricId::CaIssuedMinDays, CertificateKind::CaIssued),
    ] {
        if let Some(days) = min_days(Some(kind)) {
            let thresholds = policy.thresholds_for(kind).clone();
            metrics.push(Metric::summary(id, days, Some(thresholds)));
        }
    }
    metrics
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::judge::judge;
    use crate::model::{Certificate, ExchangeState, Sighting, Thumbprint};

    fn certificate(kind: CertificateKind, not_after_days: i64) -> Certificate {
        let not_before = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let subject = match kind {
            CertificateKind::Auth => "CN=Microsoft Exchange Server Auth Certificate".to_string(),
            _ => format!("CN=host{not_after_days}"),
        };
        Certificate {
            thumbprint: Thumbprint::of_der(subject.as_bytes()),
            issuer: if kind == CertificateKind::CaIssued {
                "CN=Some CA".into()
            } else {
                subject.clone()
            },
            subject,
            serial: "01".into(),
            not_before,
            not_after: not_before + Duration::days(not_after_days),
            self_signed: kind != CertificateKind::CaIssued,
            key_algorithm: "RSA".into(),
            key_bits: Some(2048),
            signature_algorithm: "sha256WithRSAEncryption".into(),
            is_exchange_auth: kind == CertificateKind::Auth,
        }
    }

    fn state_of(certificates: Vec<Certificate>) -> ExchangeState {
        let mut state = ExchangeState::default();
        for c in certificates {
            state.add_certificate(c, Sighting::from_origin("test"));
        }
        state
    }

    fn policy_at_days(days: i64) -> Policy {
        Policy::defaults(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + Duration::days(days))
    }

    #[test]
    fn auth_thresholds_with_inclusive_edges() {
        let state = state_of(vec![certificate(CertificateKind::Auth, 1000)]);
        for (days_left, expected) in [
            (61, Severity::Ok),
            (60, Severity::Ok),
            (59, Severity::Warning),
            (30, Severity::Warning),
            (29, Severity::Critical),
            (0, Severity::Critical),
        ] {
            let report = judge(&state, &policy_at_days(1000 - days_left));
            assert_eq!(report.certificates[0].days_left, days_left);
            assert_eq!(
                report.certificates[0].state, expected,
                "{days_left} days left"
            );
        }
    }

    #[test]
    fn other_certificates_use_selfsigned_thresholds() {
        let state = state_of(vec![certificate(CertificateKind::SelfSigned, 100)]);
        assert_eq!(
            judge(&state, &policy_at_days(100 - 45)).certificates[0].state,
            Severity::Ok
        );
        assert_eq!(
            judge(&state, &policy_at_days(100 - 30)).certificates[0].state,
            Severity::Ok
        );
        assert_eq!(
            judge(&state, &policy_at_days(100 - 29)).certificates[0].state,
            Severity::Warning
        );
        assert_eq!(
            judge(&state, &policy_at_days(100 - 13)).certificates[0].state,
            Severity::Critical
        );
    }

    #[test]
    fn expired_is_critical_even_with_permissive_thresholds() {
        let state = state_of(vec![certificate(CertificateKind::SelfSigned, 10)]);
        let mut policy = policy_at_days(11);
        policy.selfsigned = crate::judge::Thresholds::parse("~:", "~:").unwrap();
        let report = judge(&state, &policy);
        assert_eq!(report.findings[0].code, FindingCode::CertExpired);
        assert_eq!(report.state, nagiosplugin::ServiceState::Critical);
        assert_eq!(report.certificates[0].days_left, -1);
    }

    #[test]
    fn not_yet_valid_is_a_warning() {
        let state = state_of(vec![certificate(CertificateKind::Auth, 1000)]);
        let report = judge(&state, &policy_at_days(-2));
        assert_eq!(report.findings[0].code, FindingCode::CertNotYetValid);
        assert_eq!(report.state, nagiosplugin::ServiceState::Warning);
    }

    #[test]
    fn primary_metric_is_the_auth_minimum_when_there_is_one() {
        let state = state_of(vec![
            certificate(CertificateKind::SelfSigned, 50),
            certificate(CertificateKind::Auth, 500),
        ]);
        let report = judge(&state, &policy_at_days(0));
        assert_eq!(report.metrics[0].label, "days_left");
        assert_eq!(report.metrics[0].value, 500);
        let without_auth = state_of(vec![certificate(CertificateKind::SelfSigned, 50)]);
        assert_eq!(
            judge(&without_auth, &policy_at_days(0)).metrics[0].value,
            50
        );
    }

    #[test]
    fn findings_are_sorted_worst_first() {
        let state = state_of(vec![
            certificate(CertificateKind::Auth, 500),
            certificate(CertificateKind::SelfSigned, 20),
            certificate(CertificateKind::CaIssued, 5),
        ]);
        let report = judge(&state, &policy_at_days(0));
        let ranks: Vec<u8> = report.findings.iter().map(|f| f.severity.rank()).collect();
        let mut sorted = ranks.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(ranks, sorted);
        assert_eq!(report.findings[0].severity, Severity::Critical);
        assert!(
            report.summary.contains("expires in 5 days"),
            "{}",
            report.summary
        );
    }
}
