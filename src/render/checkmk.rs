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
//! Services are the report's topics ([`crate::judge::TopicReport`]): which findings and metrics
//! each shows, its state and its first line all come from the judgement; nothing is judged here. Thresholds: with a fixed state (0-3) Checkmk applies no levels (it reads
//! `WARN_LOWER:WARN_UPPER` levels only for the computed state `P`, which we do not use because
//! the judgement decides). The warn/crit fields are therefore informational, and only written
//! where a Monitoring Plugins range is a plain upper bound (`~:26` -> `26`; `0` on a count),
//! which every reader understands the same way; lower bounds such as the days-left `60:` are
//! left empty rather than written as numbers a reader would take for upper levels.

use std::fmt::Write;

use nagiosplugin::ServiceState;

use crate::judge::{Metric, MetricUnit, Range, Report, Topic, TopicReport, one_line};

pub const SERVICE_STATE: &str = "Exchange auth state";
pub const SERVICE_CURRENT: &str = "Exchange Auth certificate current";
pub const SERVICE_NEXT: &str = "Exchange Auth certificate next";
pub const SERVICE_SERVER_PREFIX: &str = "Exchange self-signed certificates";
pub const SERVICE_CERTIFICATES: &str = "Exchange certificates";

pub fn render(report: &Report) -> String {
    if report.failed {
        return format!(
            "{} {} - {}\n",
            ServiceState::Unknown.exit_code(),
            quote(SERVICE_STATE),
            text(&report.summary)
        );
    }
    let mut out = String::new();
    for topic in &report.topics {
        let _ = writeln!(out, "{}", service_line(report, topic));
    }
    out
}

fn service_name(topic: &TopicReport) -> String {
    match topic.topic() {
        Topic::Overall => SERVICE_STATE.into(),
        Topic::AuthCurrent => SERVICE_CURRENT.into(),
        Topic::AuthNext => SERVICE_NEXT.into(),
        Topic::ServerStore => format!(
            "{SERVICE_SERVER_PREFIX} {}",
            service_part(topic.server().unwrap_or_default())
        ),
        Topic::CertificateFiles => SERVICE_CERTIFICATES.into(),
    }
}

/// `<state> "<service>" <metrics> <summary>`, then the findings as long output after a
/// literal `\n` (left out where the summary is the one finding).
fn service_line(report: &Report, topic: &TopicReport) -> String {
    let metrics: Vec<String> = topic
        .metrics()
        .iter()
        .filter_map(|&id| report.metric(id))
        .map(checkmk_metric)
        .collect();
    let metrics = if metrics.is_empty() {
        "-".to_string()
    } else {
        metrics.join("|")
    };
    let mut line = format!(
        "{} {} {metrics} {}",
        topic.state().exit_code(),
        quote(&service_name(topic)),
        text(topic.summary())
    );
    let summary_is_the_finding =
        topic.finding_indexes().len() == 1 && topic.topic() != Topic::Overall;
    if !summary_is_the_finding {
        for finding in report.findings_of(topic) {
            line.push_str("\\n");
            let _ = write!(
                line,
                "{}: {}",
                finding.severity.label(),
                text(&finding.message)
            );
        }
    }
    line
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
