//! Monitoring Plugins threshold ranges (`10`, `10:`, `~:10`, `10:20`, `@10:20`).
//!
//! The nagiosplugin crate has no ranges and alerts at equality, which is wrong for "days left"
//! (`-w 60:` must be OK at exactly 60 days), so the range logic lives here. Semantics follow the
//! Monitoring Plugins development guidelines: a range alerts when the value lies *outside*
//! `start..=end`, or *inside* it when prefixed with `@`; both edges are inclusive.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A parsed threshold range. Displays as the text it was parsed from, so that perfdata and
/// documents echo exactly what the administrator configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    /// Lower edge; `None` is negative infinity (`~`).
    pub start: Option<f64>,
    /// Upper edge; `None` is positive infinity (nothing after the colon).
    pub end: Option<f64>,
    /// `@` prefix: alert when the value lies inside the range.
    pub inside: bool,
    text: String,
}

#[derive(Debug, Error, PartialEq)]
pub enum RangeError {
    #[error("empty threshold range")]
    Empty,
    #[error("threshold range '{text}': '{part}' is not a number")]
    NotANumber { text: String, part: String },
    #[error("threshold range '{0}': start is greater than end")]
    StartAfterEnd(String),
}

impl Range {
    /// True when `value` should raise this range's state.
    pub fn alerts(&self, value: f64) -> bool {
        let above_start = self.start.is_none_or(|start| value >= start);
        let below_end = self.end.is_none_or(|end| value <= end);
        let within = above_start && below_end;
        if self.inside { within } else { !within }
    }

    /// The text the range was parsed from (already trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(RangeError::Empty);
        }
        let (inside, body) = match text.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let number = |part: &str| -> Result<f64, RangeError> {
            match part.parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(value),
                _ => Err(RangeError::NotANumber {
                    text: text.to_string(),
                    part: part.to_string(),
                }),
            }
        };
        let (start, end) = match body.split_once(':') {
            // "10" means 0..10
            None => (Some(0.0), Some(number(body)?)),
            Some((start, end)) => {
                let start = match start {
                    "~" => None,
                    "" => Some(0.0),
                    other => Some(number(other)?),
                };
                let end = match end {
                    "" => None,
                    other => Some(number(other)?),
                };
                (start, end)
            }
        };
        if let (Some(start), Some(end)) = (start, end)
            && start > end
        {
            return Err(RangeError::StartAfterEnd(text.to_string()));
        }
        Ok(Range {
            start,
            end,
            inside,
            text: text.to_string(),
        })
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for Range {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// A warning and a critical range applied to one value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Thresholds {
    pub warning: Range,
    pub critical: Range,
}

/// The outcome of comparing a value with [`Thresholds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    None,
    Warning,
    Critical,
}

impl Thresholds {
    pub fn parse(warning: &str, critical: &str) -> Result<Self, RangeError> {
        Ok(Thresholds {
            warning: warning.parse()?,
            critical: critical.parse()?,
        })
    }

    pub fn evaluate(&self, value: f64) -> Breach {
        if self.critical.alerts(value) {
            Breach::Critical
        } else if self.warning.alerts(value) {
            Breach::Warning
        } else {
            Breach::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> Range {
        text.parse().unwrap()
    }

    #[test]
    fn plain_number_alerts_outside_zero_to_n() {
        let r = range("10");
        assert!(r.alerts(-0.5));
        assert!(!r.alerts(0.0));
        assert!(!r.alerts(10.0));
        assert!(r.alerts(10.01));
    }

    #[test]
    fn open_end_alerts_below_start_inclusive_edge() {
        let r = range("60:");
        assert!(!r.alerts(60.0), "exactly 60 days with 60: is OK");
        assert!(r.alerts(59.0));
        assert!(!r.alerts(1e9));
    }

    #[test]
    fn tilde_start_alerts_above_end() {
        let r = range("~:10");
        assert!(!r.alerts(-1e9));
        assert!(!r.alerts(10.0));
        assert!(r.alerts(11.0));
    }

    #[test]
    fn bounded_range_alerts_outside() {
        let r = range("10:20");
        assert!(r.alerts(9.9));
        assert!(!r.alerts(10.0));
        assert!(!r.alerts(20.0));
        assert!(r.alerts(20.1));
    }

    #[test]
    fn at_prefix_alerts_inside_inclusive() {
        let r = range("@10:20");
        assert!(!r.alerts(9.9));
        assert!(r.alerts(10.0));
        assert!(r.alerts(20.0));
        assert!(!r.alerts(20.1));
    }

    #[test]
    fn decimals_and_negative_values() {
        let r = range("-5.5:2.25");
        assert!(!r.alerts(-5.5));
        assert!(r.alerts(-5.6));
        assert!(!r.alerts(2.25));
        assert!(r.alerts(2.26));
    }

    #[test]
    fn display_echoes_configuration() {
        for text in ["60:", "10", "~:10", "@10:20", "0.5:1.5"] {
            assert_eq!(range(text).to_string(), text);
        }
    }

    #[test]
    fn invalid_ranges_are_errors() {
        assert_eq!("".parse::<Range>(), Err(RangeError::Empty));
        assert!(matches!(
            "abc".parse::<Range>(),
            Err(RangeError::NotANumber { .. })
        ));
        assert!(matches!(
            "10:x".parse::<Range>(),
            Err(RangeError::NotANumber { .. })
        ));
        assert!(matches!(
            "NaN".parse::<Range>(),
            Err(RangeError::NotANumber { .. })
        ));
        assert!(matches!(
            "inf:".parse::<Range>(),
            Err(RangeError::NotANumber { .. })
        ));
        assert_eq!(
            "20:10".parse::<Range>(),
            Err(RangeError::StartAfterEnd("20:10".into()))
        );
    }

    #[test]
    fn critical_wins_over_warning() {
        let t = Thresholds::parse("60:", "30:").unwrap();
        assert_eq!(t.evaluate(61.0), Breach::None);
        assert_eq!(t.evaluate(60.0), Breach::None);
        assert_eq!(t.evaluate(59.0), Breach::Warning);
        assert_eq!(t.evaluate(30.0), Breach::Warning);
        assert_eq!(t.evaluate(29.0), Breach::Critical);
    }
}
