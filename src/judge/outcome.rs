//! What every rule of the judgement returns, so that [`super::judge`] merges them all alike.

use super::{Finding, Metric};

#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    /// Summary metrics (PRTG channels), in the order the outputs show them.
    pub metrics: Vec<Metric>,
    /// One metric per certificate (perfdata only), after every summary metric.
    pub certificate_metrics: Vec<Metric>,
    /// The first line when all is well; the first rule that has one wins.
    pub ok_summary: Option<String>,
}

impl Outcome {
    pub fn of_findings(findings: Vec<Finding>) -> Outcome {
        Outcome {
            findings,
            ..Outcome::default()
        }
    }

    pub fn of_finding(finding: Finding) -> Outcome {
        Outcome::of_findings(vec![finding])
    }

    pub fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// Appends `other`'s findings and metrics after this one's.
    pub fn merge(&mut self, other: Outcome) {
        self.findings.extend(other.findings);
        self.metrics.extend(other.metrics);
        self.certificate_metrics.extend(other.certificate_metrics);
        if self.ok_summary.is_none() {
            self.ok_summary = other.ok_summary;
        }
    }

    pub fn merged(mut self, other: Outcome) -> Outcome {
        self.merge(other);
        self
    }
}
