//! Nagios / Icinga / Monitoring Plugins output.
//!
//! `EXCHANGE AUTHCERT <STATE> - <summary> | <perfdata>`, then one line per finding, worst first.
//! Thresholds are written back in range syntax (`60:`), never as bare numbers, which graphing
//! tools would read as upper bounds.

use std::fmt::Write;

use super::RenderOptions;
use crate::judge::{Metric, Report, one_line};

pub const LABEL: &str = "EXCHANGE AUTHCERT";

pub fn render(report: &Report, options: RenderOptions) -> String {
    let mut out = format!("{LABEL} {} - {}", report.state, one_line(&report.summary));
    let perfdata: Vec<String> = report.metrics.iter().map(perfdata).collect();
    if !perfdata.is_empty() {
        out.push_str(" | ");
        out.push_str(&perfdata.join(" "));
    }
    out.push('\n');
    // The summary keeps thumbprints short; each line names the whole one, which is what
    // Get-ExchangeCertificate -Thumbprint needs.
    for finding in &report.findings {
        let _ = write!(
            out,
            "{}: {}",
            finding.severity.label(),
            one_line(&finding.message)
        );
        match &finding.thumbprint {
            Some(thumbprint) => {
                let _ = writeln!(out, " [thumbprint {thumbprint}]");
            }
            None => out.push('\n'),
        }
    }
    if options.verbosity > 0 {
        for certificate in &report.certificates {
            let key = match certificate.key_bits {
                Some(bits) => format!("{} {bits}", certificate.key_algorithm),
                None => certificate.key_algorithm.clone(),
            };
            let roles: Vec<&str> = certificate.roles.iter().map(|r| r.as_str()).collect();
            let sources: Vec<String> = certificate
                .sources
                .iter()
                .map(|s| match &s.server {
                    Some(server) => format!("{server} ({})", s.origin),
                    None => s.origin.clone(),
                })
                .collect();
            let line = format!(
                "{} subject={} issuer={} serial={} not_before={} not_after={} days_left={} self_signed={} key={} signature={} roles={} sources={}",
                certificate.thumbprint,
                certificate.subject,
                certificate.issuer,
                certificate.serial,
                certificate.not_before.format("%Y-%m-%dT%H:%M:%SZ"),
                certificate.not_after.format("%Y-%m-%dT%H:%M:%SZ"),
                certificate.days_left,
                certificate.self_signed,
                key,
                certificate.signature_algorithm,
                roles.join(","),
                sources.join(", "),
            );
            let _ = writeln!(out, "  {}", one_line(&line));
        }
    }
    out
}

/// `label=value;warn;crit;min;max`; labels are sanitised by the judgement, so never quoted.
fn perfdata(metric: &Metric) -> String {
    let (warning, critical) = match &metric.thresholds {
        Some(t) => (t.warning.to_string(), t.critical.to_string()),
        None => (String::new(), String::new()),
    };
    let minimum = match metric.unit {
        crate::judge::MetricUnit::Count => "0",
        _ => "",
    };
    format!(
        "{}={};{warning};{critical};{minimum};",
        metric.label, metric.value
    )
}
