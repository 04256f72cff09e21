//! How old the state is: a bundle the scheduled task stopped writing shows yesterday's truth.

use super::{Finding, FindingCode, Metric, MetricId, Policy, Severity, Thresholds};
use crate::model::ExchangeState;

pub struct FreshnessOutcome {
    pub findings: Vec<Finding>,
    pub metric: Option<Metric>,
}

pub fn judge(state: &ExchangeState, policy: &Policy) -> FreshnessOutcome {
    let Some(collected_at) = state.collected_at else {
        return FreshnessOutcome {
            findings: Vec::new(),
            metric: None,
        };
    };
    // A state from the future (clock skew, or --now in the past) is simply fresh.
    let age = (policy.now - collected_at).max(chrono::Duration::zero());
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
    FreshnessOutcome {
        findings,
        metric: Some(Metric::summary(MetricId::ExportAgeHours, hours, thresholds)),
    }
}
