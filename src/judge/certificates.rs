//! Expiry judgement of individual certificates (`cert.*` findings) and the summary metrics.

use super::{
    CertificateReport, Finding, FindingCode, Metric, MetricId, Policy, Severity, describe_kind,
    thresholds::Breach,
};
use crate::model::{CertificateEntry, CertificateKind};

/// What the judgement says about one certificate.
pub struct CertificateVerdict {
    pub report: CertificateReport,
    pub findings: Vec<Finding>,
    pub metric: Metric,
}

pub fn judge_certificate(entry: &CertificateEntry, policy: &Policy) -> CertificateVerdict {
    let certificate = &entry.certificate;
    let now = policy.now;
    let days_left = certificate.days_left(now);
    let thresholds = policy.thresholds_for(entry.kind);
    let what = format!(
        "{} {} ({})",
        describe_kind(entry.kind),
        certificate.thumbprint.short(),
        certificate.subject
    );
    let expiry = certificate.not_after.format("%Y-%m-%d %H:%M UTC");
    let thumbprint = &certificate.thumbprint;

    let mut findings = Vec::new();
    if certificate.is_expired(now) {
        findings.push(
            Finding::new(
                Severity::Critical,
                FindingCode::CertExpired,
                format!("{what} expired {} days ago ({expiry})", -days_left),
            )
            .about(thumbprint),
        );
    } else {
        let severity = match thresholds.evaluate(days_left as f64) {
            Breach::Critical => Some(Severity::Critical),
            Breach::Warning => Some(Severity::Warning),
            Breach::None => None,
        };
        if let Some(severity) = severity {
            findings.push(
                Finding::new(
                    severity,
                    FindingCode::CertExpiring,
                    format!("{what} expires in {days_left} days ({expiry})"),
                )
                .about(thumbprint),
            );
        }
    }
    if certificate.is_not_yet_valid(now) {
        findings.push(
            Finding::new(
                Severity::Warning,
                FindingCode::CertNotYetValid,
                format!(
                    "{what} is not valid before {}",
                    certificate.not_before.format("%Y-%m-%d %H:%M UTC")
                ),
            )
            .about(thumbprint),
        );
    }
    if findings.is_empty() {
        findings.push(
            Finding::new(
                Severity::Ok,
                FindingCode::CertOk,
                format!("{what} expires in {days_left} days ({expiry})"),
            )
            .about(thumbprint),
        );
    }
    let state = findings
        .iter()
        .map(|f| f.severity)
        .max_by_key(|s| s.rank())
        .unwrap_or(Severity::Ok);

    let report = CertificateReport {
        thumbprint: certificate.thumbprint.clone(),
        subject: certificate.subject.clone(),
        issuer: certificate.issuer.clone(),
        serial: certificate.serial.clone(),
        not_before: certificate.not_before,
        not_after: certificate.not_after,
        days_left,
        seconds_left: certificate.seconds_left(now),
        self_signed: certificate.self_signed,
        key_algorithm: certificate.key_algorithm.clone(),
        key_bits: certificate.key_bits,
        signature_algorithm: certificate.signature_algorithm.clone(),
        kind: entry.kind,
        roles: vec![entry.kind.as_str()],
        state,
        sources: entry.sightings.clone(),
    };
    let metric = Metric::per_certificate(
        format!(
            "{}_{}_days",
            entry.kind.as_str(),
            certificate.thumbprint.short()
        ),
        days_left,
        thresholds.clone(),
    );
    CertificateVerdict {
        report,
        findings,
        metric,
    }
}

/// The summary metrics: the primary "days left" first, then the minimum per kind and a count.
pub fn summary_metrics(certificates: &[CertificateReport], policy: &Policy) -> Vec<Metric> {
    let min_days = |kind: Option<CertificateKind>| {
        certificates
            .iter()
            .filter(|c| kind.is_none_or(|kind| c.kind == kind))
            .map(|c| c.days_left)
            .min()
    };
    let mut metrics = Vec::new();
    let auth_min = min_days(Some(CertificateKind::Auth));
    let primary = match auth_min {
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
    metrics.push(Metric::summary(
        MetricId::Certificates,
        certificates.len() as i64,
        None,
    ));
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
