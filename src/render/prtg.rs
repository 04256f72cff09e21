//! What the three PRTG formats share: the channel list, the status lookup and the message.
//!
//! PRTG fixes a channel's unit, limits and lookup when it first sees the channel's name, so the
//! names come from [`crate::judge::MetricId`] and never change; the primary channel comes first.

use nagiosplugin::ServiceState;

use crate::judge::{MetricUnit, Range, Report, one_line};

/// The lookup shipped as `plugins/prtg/exchange.authcert.status.ovl`.
pub const STATUS_LOOKUP: &str = "exchange.authcert.status";
pub const STATUS_CHANNEL: &str = "Status";
pub const STATUS_CHANNEL_ID: u32 = 10;
/// PRTG shows at most 2000 characters of the sensor message.
pub const MAX_TEXT_CHARS: usize = 2000;
pub const MAX_CHANNELS: usize = 50;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub min_warning: Option<f64>,
    pub max_warning: Option<f64>,
    pub min_error: Option<f64>,
    pub max_error: Option<f64>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrtgChannel {
    pub name: &'static str,
    pub id: u32,
    pub value: i64,
    /// `days`, `hours` or none (a plain count).
    pub custom_unit: Option<&'static str>,
    pub lookup: Option<&'static str>,
    pub limits: Limits,
}

/// The status value the lookup maps: 0 OK, 1 Warning, 2 Critical, 3 Unknown.
pub fn status_value(state: ServiceState) -> i64 {
    state.exit_code() as i64
}

pub fn channels(report: &Report) -> Vec<PrtgChannel> {
    let mut channels: Vec<PrtgChannel> = report
        .metrics
        .iter()
        .filter_map(|metric| {
            let channel = metric.channel?;
            // PRTG keeps the limits it saw when it created the channel: only limits that hold
            // in every run go there.
            let limits = metric
                .standing_limits()
                .map(|t| limits(&t.warning, &t.critical))
                .unwrap_or_default();
            Some(PrtgChannel {
                name: channel.name,
                id: channel.id,
                value: metric.value,
                custom_unit: match metric.unit {
                    MetricUnit::Days => Some("days"),
                    MetricUnit::Hours => Some("hours"),
                    MetricUnit::Count => None,
                },
                lookup: None,
                limits,
            })
        })
        .collect();
    let status = PrtgChannel {
        name: STATUS_CHANNEL,
        id: STATUS_CHANNEL_ID,
        value: status_value(report.state),
        custom_unit: None,
        lookup: Some(STATUS_LOOKUP),
        limits: Limits::default(),
    };
    // The primary channel stays first; the status channel follows it.
    let at = channels.len().min(1);
    channels.insert(at, status);
    channels.truncate(MAX_CHANNELS);
    channels
}

/// PRTG limits from Monitoring Plugins ranges. PRTG alerts strictly below a minimum and above a
/// maximum, as a non-inverted range does; an `@` range (alert inside) has no PRTG equivalent, and
/// the status channel carries that state instead.
fn limits(warning: &Range, critical: &Range) -> Limits {
    let edges = |range: &Range| {
        if range.inside {
            (None, None)
        } else {
            (range.start, range.end)
        }
    };
    let (min_warning, max_warning) = edges(warning);
    let (min_error, max_error) = edges(critical);
    Limits {
        min_warning,
        max_warning,
        min_error,
        max_error,
    }
}

/// The sensor message: state and summary on one line, cut to PRTG's limit.
pub fn message(report: &Report) -> String {
    let text = if report.failed {
        one_line(&report.summary)
    } else {
        format!("{} - {}", report.state, one_line(&report.summary))
    };
    truncate_chars(&text, MAX_TEXT_CHARS)
}

fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 3).collect();
    cut.push_str("...");
    cut
}

/// Numbers as PRTG reads them: integers without a fraction.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// The same as a JSON value: PRTG limits are integers unless the threshold has a fraction.
pub fn json_number(value: f64) -> serde_json::Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        serde_json::Value::from(value as i64)
    } else {
        serde_json::Value::from(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_from_ranges() {
        let l = limits(&"60:".parse().unwrap(), &"30:".parse().unwrap());
        assert_eq!(l.min_warning, Some(60.0));
        assert_eq!(l.min_error, Some(30.0));
        assert_eq!(l.max_warning, None);
        let l = limits(&"~:10".parse().unwrap(), &"@1:2".parse().unwrap());
        assert_eq!(l.max_warning, Some(10.0));
        assert_eq!(l.min_warning, None);
        assert_eq!((l.min_error, l.max_error), (None, None));
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        let long = "ä".repeat(3000);
        let cut = truncate_chars(&long, MAX_TEXT_CHARS);
        assert_eq!(cut.chars().count(), MAX_TEXT_CHARS);
    }
}
