//! What the administrator allows the plan to do (the renewal options of the command line).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::powershell::ValidationError;

#[derive(Debug, Clone, PartialEq)]
pub struct RenewOptions {
    /// Consent to the emergency sequence and to effective dates less than 48 h ahead.
    pub emergency: bool,
    /// Overrides MEAC's staging date rule.
    pub effective_in: Option<Duration>,
    /// How long the current certificate must have been active before the previous one goes.
    pub clear_after: Duration,
    /// Also remove expired certificates bound to nothing.
    pub cleanup: bool,
    pub hybrid_acknowledged: bool,
    pub ignore_unreachable: bool,
    /// Plan from a bundle older than `--max-age` (refused otherwise).
    pub allow_stale: bool,
    /// `--clear-previous`: clear the previous certificate although when the current one became
    /// active is not known (the administrator knows).
    pub clear_previous: bool,
    /// From the run's journal: when an earlier run first saw each thumbprint (upper case) as
    /// AuthConfig's current certificate.
    pub current_seen: BTreeMap<String, DateTime<Utc>>,
}

impl Default for RenewOptions {
    fn default() -> Self {
        RenewOptions {
            emergency: false,
            effective_in: None,
            clear_after: Duration::days(7),
            cleanup: false,
            hybrid_acknowledged: false,
            ignore_unreachable: false,
            allow_stale: false,
            clear_previous: false,
            current_seen: BTreeMap::new(),
        }
    }
}

/// `72h`, `5d`, `30` (days).
pub fn parse_duration(text: &str, option: &str) -> Result<Duration, ValidationError> {
    let t = text.trim();
    let (number, unit) = match t.strip_suffix(['h', 'H']) {
        Some(n) => (n, 'h'),
        None => (t.strip_suffix(['d', 'D']).unwrap_or(t), 'd'),
    };
    match number.trim().parse::<i64>() {
        Ok(n) if (0..=3650 * 24).contains(&n) => Ok(if unit == 'h' {
            Duration::hours(n)
        } else {
            Duration::days(n.min(3650))
        }),
        _ => Err(ValidationError(format!(
            "{option} '{text}' must be a whole number of hours (72h) or days (5d)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_hours_or_days() {
        assert_eq!(parse_duration("72h", "x").unwrap(), Duration::hours(72));
        assert_eq!(parse_duration("10d", "x").unwrap(), Duration::days(10));
        assert_eq!(parse_duration("7", "x").unwrap(), Duration::days(7));
        for bad in ["", "soon", "-3", "3w", "1.5d"] {
            assert!(parse_duration(bad, "--clear-after").is_err(), "{bad}");
        }
    }
}
