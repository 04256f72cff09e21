//! Metrics: the numbers every output carries (perfdata, PRTG channels, JSON).
//!
//! Summary metrics have a fixed identity ([`MetricId`]): their perfdata label, PRTG channel name
//! and Script v2 channel id never change between runs, because PRTG fixes a channel's unit and
//! limits when it first sees its name. Per-certificate metrics are perfdata only.

use serde::Serialize;

use super::findings::Topic;
use super::thresholds::Thresholds;
use crate::model::Thumbprint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricUnit {
    Days,
    Hours,
    Count,
}

/// The summary metrics, each a PRTG channel. Ids start at 11: 10 is the status channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricId {
    /// Fewest days left among the Auth Certificates that matter (all certificates when none
    /// is an Auth Certificate). Always the first, primary, channel.
    DaysLeft,
    AuthMinDays,
    SelfSignedMinDays,
    CaIssuedMinDays,
    Certificates,
    /// Days left of AuthConfig's current certificate; -1 when it is missing or expired (as MEAC).
    AuthCurrentDays,
    /// Days left of the staged next certificate; -1 when it is missing or expired.
    AuthNextDays,
    ServersMissingAuthCert,
    ExportAgeHours,
}

impl MetricId {
    pub const ALL: [MetricId; 9] = [
        MetricId::DaysLeft,
        MetricId::AuthMinDays,
        MetricId::SelfSignedMinDays,
        MetricId::CaIssuedMinDays,
        MetricId::Certificates,
        MetricId::AuthCurrentDays,
        MetricId::AuthNextDays,
        MetricId::ServersMissingAuthCert,
        MetricId::ExportAgeHours,
    ];

    pub fn label(self) -> &'static str {
        match self {
            MetricId::DaysLeft => "days_left",
            MetricId::AuthMinDays => "auth_min_days",
            MetricId::SelfSignedMinDays => "selfsigned_min_days",
            MetricId::CaIssuedMinDays => "ca_issued_min_days",
            MetricId::Certificates => "certificates",
            MetricId::AuthCurrentDays => "auth_current_days",
            MetricId::AuthNextDays => "auth_next_days",
            MetricId::ServersMissingAuthCert => "servers_missing_auth_cert",
            MetricId::ExportAgeHours => "export_age_hours",
        }
    }

    pub fn channel_name(self) -> &'static str {
        match self {
            MetricId::DaysLeft => "Days left",
            MetricId::AuthMinDays => "Auth certificate min days left",
            MetricId::SelfSignedMinDays => "Self-signed min days left",
            MetricId::CaIssuedMinDays => "CA-issued min days left",
            MetricId::Certificates => "Certificates",
            MetricId::AuthCurrentDays => "Auth current days left",
            MetricId::AuthNextDays => "Auth next days left",
            MetricId::ServersMissingAuthCert => "Servers missing Auth certificate",
            MetricId::ExportAgeHours => "Export age",
        }
    }

    pub fn channel_id(self) -> u32 {
        match self {
            MetricId::DaysLeft => 11,
            MetricId::AuthMinDays => 12,
            MetricId::SelfSignedMinDays => 13,
            MetricId::CaIssuedMinDays => 14,
            MetricId::Certificates => 15,
            MetricId::AuthCurrentDays => 16,
            MetricId::AuthNextDays => 17,
            MetricId::ServersMissingAuthCert => 18,
            MetricId::ExportAgeHours => 19,
        }
    }

    /// The part of the organisation the number describes (`days_left` describes the current
    /// Auth Certificate in an organisation, the run as a whole in file mode).
    pub fn topic(self, organisation: bool) -> Topic {
        match self {
            MetricId::DaysLeft if organisation => Topic::AuthCurrent,
            MetricId::AuthMinDays if !organisation => Topic::AuthCurrent,
            MetricId::AuthCurrentDays | MetricId::ServersMissingAuthCert => Topic::AuthCurrent,
            MetricId::AuthNextDays => Topic::AuthNext,
            MetricId::SelfSignedMinDays | MetricId::CaIssuedMinDays if !organisation => {
                Topic::CertificateFiles
            }
            _ => Topic::Overall,
        }
    }

    /// Whether the metric's limits agree with the verdict in every run, by construction: the
    /// judgement raises a finding at least as severe whenever the value breaches them. Only
    /// such limits may go to a system that fixes a channel's limits when it first sees it
    /// (PRTG): days left can sit below -w while all is well (a rotation on track), so its
    /// limits would hold a channel in Warning that the verdict calls OK.
    pub fn limits_hold_in_every_run(self) -> bool {
        match self {
            // auth.current.missing_on_servers is CRITICAL whenever a server lacks it.
            MetricId::ServersMissingAuthCert => true,
            // export.stale is a WARNING whenever the age passes --max-age, whose whole hours
            // are the limit.
            MetricId::ExportAgeHours => true,
            _ => false,
        }
    }

    pub fn unit(self) -> MetricUnit {
        match self {
            MetricId::Certificates | MetricId::ServersMissingAuthCert => MetricUnit::Count,
            MetricId::ExportAgeHours => MetricUnit::Hours,
            _ => MetricUnit::Days,
        }
    }
}

/// PRTG's name and id for a summary metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Channel {
    pub name: &'static str,
    pub id: u32,
}

/// Which number a metric is: renderers find metrics by this, never by their label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricKey {
    Summary(MetricId),
    /// Days left of one certificate (a file's, or one published in the metadata).
    Certificate(Thumbprint),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    #[serde(skip)]
    pub key: MetricKey,
    /// Stable, sanitised perfdata label (`[A-Za-z0-9_]`).
    pub label: String,
    pub value: i64,
    pub unit: MetricUnit,
    /// The thresholds the value was judged against in this run; absent where the judgement
    /// overrode them (see [`super::judge`]), so that no reader alerts where the verdict does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
    /// Set for summary metrics, which PRTG shows as channels.
    #[serde(skip)]
    pub channel: Option<Channel>,
}

impl Metric {
    pub fn summary(id: MetricId, value: i64, thresholds: Option<Thresholds>) -> Metric {
        Metric {
            key: MetricKey::Summary(id),
            label: id.label().to_string(),
            value,
            unit: id.unit(),
            thresholds,
            channel: Some(Channel {
                name: id.channel_name(),
                id: id.channel_id(),
            }),
        }
    }

    pub fn per_certificate(
        thumbprint: &Thumbprint,
        label: String,
        value: i64,
        thresholds: Thresholds,
    ) -> Metric {
        Metric {
            key: MetricKey::Certificate(thumbprint.clone()),
            label: sanitise_label(&label),
            value,
            unit: MetricUnit::Days,
            thresholds: Some(thresholds),
            channel: None,
        }
    }

    pub fn id(&self) -> Option<MetricId> {
        match self.key {
            MetricKey::Summary(id) => Some(id),
            MetricKey::Certificate(_) => None,
        }
    }

    /// The limits a system that fixes them at first sight (PRTG) may apply: only those that
    /// hold in every run ([`MetricId::limits_hold_in_every_run`]).
    pub fn standing_limits(&self) -> Option<&Thresholds> {
        self.id()
            .filter(|id| id.limits_hold_in_every_run())
            .and(self.thresholds.as_ref())
    }
}

/// Perfdata labels must survive every consumer (Nagios, PNP4Nagios, Graphite, InfluxDB):
/// keep letters, digits and `_`, replace anything else with `_`.
pub fn sanitise_label(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_ids_and_names_are_unique() {
        let all = MetricId::ALL;
        let ids: std::collections::HashSet<_> = all.iter().map(|m| m.channel_id()).collect();
        let names: std::collections::HashSet<_> = all.iter().map(|m| m.channel_name()).collect();
        assert_eq!(ids.len(), all.len());
        assert_eq!(names.len(), all.len());
        assert!(all.iter().all(|m| m.channel_id() > 10));
    }

    #[test]
    fn labels_are_sanitised() {
        assert_eq!(sanitise_label("auth E1BD'=|x"), "auth_E1BD___x");
    }
}
