//! Prometheus text exposition format, for node_exporter's textfile collector (`*.prom` files,
//! written with `--output-file`, which renames a finished temp file into place).
//!
//! `# HELP`/`# TYPE` then samples, gauges only, no timestamps on samples (the textfile collector
//! rejects them). Names use base units (`_seconds`, as `promtool check metrics` demands): the
//! absolute expiry as Unix seconds, like blackbox_exporter's `probe_ssl_earliest_cert_expiry`,
//! so alert rules compute `… - time()` and never read a stale countdown.
//!
//! A run that could not judge (bad input, timeout, internal error) still writes a valid file:
//! `exchange_authcert_check_success 0` and `exchange_authcert_check_state 3`, so alerts fire.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::judge::{CertificateReport, MetricId, Report, Severity, one_line};

pub const PREFIX: &str = "exchange_authcert";

/// The labels of one certificate series, in output order.
type Labels = Vec<(&'static str, String)>;

struct Family {
    name: String,
    help: &'static str,
    samples: Vec<(Labels, String)>,
}

impl Family {
    fn new(name: &str, help: &'static str) -> Family {
        Family {
            name: format!("{PREFIX}_{name}"),
            help,
            samples: Vec::new(),
        }
    }

    fn sample(mut self, labels: Labels, value: impl ToString) -> Family {
        self.samples.push((labels, value.to_string()));
        self
    }
}

pub fn render(report: &Report) -> String {
    let mut families = vec![
        Family::new(
            "check_success",
            "1 when the check could judge its inputs, 0 when it failed (bad input, timeout, internal error).",
        )
        .sample(Vec::new(), if report.failed { 0 } else { 1 }),
        Family::new(
            "check_state",
            "Overall state of the check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        )
        .sample(Vec::new(), report.state.exit_code()),
        Family::new(
            "check_timestamp_seconds",
            "When the check evaluated the state, as Unix seconds (--now when pinned).",
        )
        .sample(Vec::new(), report.checked_at.timestamp()),
    ];
    if !report.failed {
        let mut expiry = Family::new(
            "expiry_timestamp_seconds",
            "NotAfter of the certificate, as Unix seconds.",
        );
        let mut remaining = Family::new(
            "remaining_seconds",
            "Seconds from the check until NotAfter, negative once expired; the check's days left is this divided by 86400, rounded down.",
        );
        let mut state = Family::new(
            "state",
            "State of the certificate on this server (worst finding about it): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        );
        for certificate in &report.certificates {
            for placement in &certificate.placements {
                let labels = labels(certificate, placement.server.as_deref());
                expiry = expiry.sample(labels.clone(), certificate.not_after.timestamp());
                remaining = remaining.sample(labels.clone(), certificate.seconds_left);
                state = state.sample(labels, state_value(placement.state));
            }
        }
        families.extend([expiry, remaining, state]);
        if let Some(metric) = report.metric(MetricId::ServersMissingAuthCert) {
            families.push(
                Family::new(
                    "servers_missing_auth_cert",
                    "Servers that must hold the current Auth Certificate and do not.",
                )
                .sample(Vec::new(), metric.value),
            );
        }
        if let Some(age) = report.export_age {
            let age = age.num_seconds();
            families.push(
                Family::new(
                    "export_age_seconds",
                    "Age of the collected state (bundle or export files) when the check ran.",
                )
                .sample(Vec::new(), age),
            );
        }
    }
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for finding in &report.findings {
        *counts
            .entry((finding.code.as_str(), severity_name(finding.severity)))
            .or_default() += 1;
    }
    let mut findings = Family::new(
        "findings",
        "Findings of the check by stable code and severity (see the README's finding codes).",
    );
    for ((code, severity), count) in counts {
        findings = findings.sample(
            vec![
                ("code", code.to_string()),
                ("severity", severity.to_string()),
            ],
            count,
        );
    }
    families.push(findings);

    // A plain comment (readers ignore it) tells a human reading the file what happened.
    let mut out = format!(
        "# check_exchange_authcert: {} - {}\n",
        report.state,
        one_line(&report.summary)
    );
    for family in families {
        let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(family.help));
        let _ = writeln!(out, "# TYPE {} gauge", family.name);
        for (labels, value) in &family.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{} {value}", family.name);
            } else {
                let labels: Vec<String> = labels
                    .iter()
                    .map(|(name, value)| format!("{name}=\"{}\"", escape_label(value)))
                    .collect();
                let _ = writeln!(out, "{}{{{}}} {value}", family.name, labels.join(","));
            }
        }
    }
    out
}

fn labels(certificate: &CertificateReport, server: Option<&str>) -> Labels {
    vec![
        ("thumbprint", certificate.thumbprint.to_string()),
        ("role", certificate.primary_role().as_str().to_string()),
        ("server", server.unwrap_or("").to_string()),
        ("subject", certificate.subject.clone()),
        ("kind", certificate.kind.as_str().to_string()),
    ]
}

fn state_value(severity: Severity) -> i32 {
    match severity {
        Severity::Ok | Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
        Severity::Unknown => 3,
    }
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Ok => "ok",
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
        Severity::Unknown => "unknown",
    }
}

/// Label values: backslash, double quote and line feed are escaped.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out
}

/// HELP text: backslash and line feed are escaped.
fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("CN=a\\b \"c\"\nd"), "CN=a\\\\b \\\"c\\\"\\nd");
    }
}
