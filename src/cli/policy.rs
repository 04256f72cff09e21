//! Options -> the run's rules: the judge's [`Policy`] from the threshold options, the instant
//! the certificates are judged at, and the `-t` time limit of the whole run.

use chrono::{DateTime, Utc};

use super::OptionError;
use super::args::{StateOption, ThresholdArgs};
use crate::judge::{Policy, Severity, Thresholds};

impl StateOption {
    fn severity(self) -> Severity {
        match self {
            // OK still shows the line, as information.
            StateOption::Ok => Severity::Info,
            StateOption::Warning => Severity::Warning,
            StateOption::Critical => Severity::Critical,
            StateOption::Unknown => Severity::Unknown,
        }
    }
}

impl ThresholdArgs {
    pub fn now(&self) -> Result<DateTime<Utc>, OptionError> {
        match &self.now {
            None => Ok(Utc::now()),
            Some(text) => DateTime::parse_from_rfc3339(text.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    OptionError(format!(
                        "--now '{text}' is not an RFC 3339 instant ({e}); example: 2027-03-01T00:00:00Z"
                    ))
                }),
        }
    }

    pub fn policy(&self, now: DateTime<Utc>) -> Result<Policy, OptionError> {
        let pair = |warning: &str, critical: &str, names: &str| {
            Thresholds::parse(warning, critical)
                .map_err(|e| OptionError(format!("invalid {names}: {e}")))
        };
        let hours = |text: &str, name: &str| {
            whole_number(text, name, 0, 24 * 365 * 10).map(chrono::Duration::hours)
        };
        let max_age = hours(&self.max_age, "--max-age")?;
        Ok(Policy {
            now,
            auth: pair(&self.warning, &self.critical, "-w/-c")?,
            selfsigned: pair(
                &self.selfsigned_warning,
                &self.selfsigned_critical,
                "--selfsigned-warning/--selfsigned-critical",
            )?,
            rotation_window_days: whole_number(
                &self.rotation_window,
                "--rotation-window",
                0,
                1826,
            )?,
            next_min_days: whole_number(&self.next_min_days, "--next-min-days", 0, 1826)?,
            publish_grace: hours(&self.publish_grace, "--publish-grace")?,
            max_age: (max_age > chrono::Duration::zero()).then_some(max_age),
            unreachable_severity: self.unreachable_state.severity(),
            alert_unbound: self.alert_unbound,
        })
    }
}

fn whole_number(text: &str, name: &str, min: i64, max: i64) -> Result<i64, OptionError> {
    match text.trim().parse::<i64>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(OptionError(format!(
            "{name} '{text}' must be a whole number from {min} to {max}"
        ))),
    }
}

/// Seconds from `-t`: positive and at most an hour (Icinga kills a plugin after a minute anyway).
pub fn parse_timeout(text: &str) -> Result<std::time::Duration, OptionError> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 3600.0 => {
            Ok(std::time::Duration::from_secs_f64(seconds))
        }
        _ => Err(OptionError(format!(
            "-t/--timeout '{text}' must be a number of seconds greater than 0 and at most 3600"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_bounds() {
        assert!(parse_timeout("10").is_ok());
        assert!(parse_timeout("0.5").is_ok());
        for bad in ["0", "-1", "abc", "3601", "NaN", "inf"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }
}
