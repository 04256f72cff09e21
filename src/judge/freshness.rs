//! How old the state is: a bundle the scheduled task stopped writing shows yesterday's truth.

use super::outcome::Outcome;
use super::{Finding, FindingCode, Metric, MetricId, Policy, Severity, Thresholds};
use crate::model::ExchangeState;

/// How long ago the state was collected; a state from the future (clock skew, or `--now` in
/// the past) is simply fresh.
pub fn export_age(state: &ExchangeState, policy: &Policy) -> Option<chrono::Duration> {
    let collected_at = state.collected_at?;
    Some((policy.now - collected_at).max(chrono::Duration::zero()))
}

pub fn judge(state: &ExchangeState, policy: &Policy) -> Outcome {
    let (Some(collected_at), Some(age)) = (state.collected_at, export_age(state, policy)) else {
        return Outcome::default();
    };
    let hours = age.num_hours();
    let mut findings = Vec::new();
    let thresholds = policy
        .max_age
        .and_then(|max_age| Thresholds::parse(&format!("~:{}", max_age.num_hours()), "~:").ok());
    if let Some(max_age) = policy.max_age
        && age > max_age
    {
        findings.push(Finding::new(
            Severity::Warning,
            FindingCode::ExportStale,
            format!(
                "the state was collected {hours} h ago ({}), more than --max-age {} h: is the collector's scheduled task running?",
                collected_at.format("%Y-%m-%d %H:%M UTC"),
                max_age.num_hours()
            ),
        ));
    }
    Outcome {
        metrics: vec![Metric::summary(MetricId::ExportAgeHours, hours, thresholds)],
        ..Outcome::of_findings(findings)
    }
}
