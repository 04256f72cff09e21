//! The report: everything the outputs write down, decided by the judgement.

use chrono::{DateTime, SecondsFormat, Utc};
use nagiosplugin::ServiceState;
use serde::Serialize;

use super::topics::TopicReport;
use super::{Finding, FindingCode, Metric, MetricId, Recommendation, Severity, one_line};
use crate::model::{AuthConfig, CertificateKind, Server, Sighting};

/// One certificate as the report shows it: its facts, where it was seen, and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificateReport {
    pub thumbprint: crate::model::Thumbprint,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    #[serde(serialize_with = "serialize_instant")]
    pub not_before: DateTime<Utc>,
    #[serde(serialize_with = "serialize_instant")]
    pub not_after: DateTime<Utc>,
    pub days_left: i64,
    pub seconds_left: i64,
    pub self_signed: bool,
    pub key_algorithm: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_bits: Option<u32>,
    pub signature_algorithm: String,
    pub kind: CertificateKind,
    /// Its kind first, then what AuthConfig and the servers use it for.
    pub roles: Vec<CertificateRole>,
    /// The worst finding about it.
    pub state: Severity,
    pub sources: Vec<Sighting>,
    /// Each place it is held (a server's store, or none for a file) with the worst finding
    /// about it there.
    #[serde(skip)]
    pub placements: Vec<Placement>,
}

impl CertificateReport {
    /// The most specific role: AuthConfig's first, then internal transport, then the kind.
    pub fn primary_role(&self) -> CertificateRole {
        [
            CertificateRole::AuthCurrent,
            CertificateRole::AuthNext,
            CertificateRole::AuthPrevious,
            CertificateRole::InternalTransport,
        ]
        .into_iter()
        .find(|role| self.roles.contains(role))
        .unwrap_or(CertificateRole::of_kind(self.kind))
    }

    pub fn has_role(&self, role: CertificateRole) -> bool {
        self.roles.contains(&role)
    }
}

/// What a certificate is and what it is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateRole {
    Auth,
    #[serde(rename = "selfsigned")]
    SelfSigned,
    CaIssued,
    AuthCurrent,
    AuthNext,
    AuthPrevious,
    InternalTransport,
}

impl CertificateRole {
    pub fn of_kind(kind: CertificateKind) -> CertificateRole {
        match kind {
            CertificateKind::Auth => CertificateRole::Auth,
            CertificateKind::SelfSigned => CertificateRole::SelfSigned,
            CertificateKind::CaIssued => CertificateRole::CaIssued,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CertificateRole::Auth => "auth",
            CertificateRole::SelfSigned => "selfsigned",
            CertificateRole::CaIssued => "ca_issued",
            CertificateRole::AuthCurrent => "auth_current",
            CertificateRole::AuthNext => "auth_next",
            CertificateRole::AuthPrevious => "auth_previous",
            CertificateRole::InternalTransport => "internal_transport",
        }
    }
}

/// One place a certificate is held, and its state there.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The server whose store holds it; `None` for a file or an endpoint.
    pub server: Option<String>,
    pub state: Severity,
}

/// The outcome of one check run; renderers turn it into bytes and decide nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    #[serde(rename = "status", serialize_with = "serialize_state")]
    pub state: ServiceState,
    pub summary: String,
    #[serde(serialize_with = "serialize_instant")]
    pub checked_at: DateTime<Utc>,
    /// Worst first.
    pub findings: Vec<Finding>,
    /// Summary metrics first (the primary one first), then one per certificate.
    pub metrics: Vec<Metric>,
    pub certificates: Vec<CertificateReport>,
    /// What Microsoft's logic (MEAC) would do; `None` without AuthConfig.
    #[serde(serialize_with = "serialize_action")]
    pub recommended_action: Option<Recommendation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Recommendation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_config: Option<AuthConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Server>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hybrid_detected: Option<bool>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_optional_instant"
    )]
    pub collected_at: Option<DateTime<Utc>>,
    /// How old the collected state was when the check ran (`None` without a collection time).
    #[serde(skip)]
    pub export_age: Option<chrono::Duration>,
    /// The report by topic: the overall one first, then the current and next Auth
    /// Certificate, each server's store and the certificate files, where the run has them.
    #[serde(skip)]
    pub topics: Vec<TopicReport>,
    /// True when the check could not judge at all (bad input, timeout, internal error): PRTG
    /// outputs then print their error document instead of channels.
    #[serde(skip)]
    pub failed: bool,
}

impl Report {
    /// A report for a run that could not judge anything: UNKNOWN with one reason.
    pub fn failure(code: FindingCode, message: impl Into<String>, at: DateTime<Utc>) -> Report {
        let message = one_line(&message.into());
        Report {
            state: ServiceState::Unknown,
            summary: message.clone(),
            checked_at: at,
            findings: vec![Finding::new(Severity::Unknown, code, message)],
            metrics: Vec::new(),
            certificates: Vec::new(),
            recommended_action: None,
            recommendation: None,
            auth_config: None,
            servers: Vec::new(),
            hybrid_detected: None,
            collected_at: None,
            export_age: None,
            topics: Vec::new(),
            failed: true,
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.state.exit_code()
    }

    pub fn metric(&self, id: MetricId) -> Option<&Metric> {
        self.metrics.iter().find(|metric| metric.id() == Some(id))
    }

    /// The findings a topic shows, worst first.
    pub fn findings_of<'a>(&'a self, topic: &'a TopicReport) -> impl Iterator<Item = &'a Finding> {
        topic
            .finding_indexes()
            .iter()
            .map(|&index| &self.findings[index])
    }
}

fn serialize_instant<S: serde::Serializer>(
    instant: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&instant.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn serialize_optional_instant<S: serde::Serializer>(
    instant: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match instant {
        Some(instant) => serialize_instant(instant, serializer),
        None => serializer.serialize_none(),
    }
}

fn serialize_action<S: serde::Serializer>(
    recommendation: &Option<Recommendation>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match recommendation {
        Some(recommendation) => serializer.serialize_str(recommendation.action.as_str()),
        None => serializer.serialize_none(),
    }
}

fn serialize_state<S: serde::Serializer>(
    state: &ServiceState,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&state.to_string())
}
