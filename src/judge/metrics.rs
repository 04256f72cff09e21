//! Metrics: the numbers every output carries (perfdata, PRTG channels, JSON).
//!
//! Summary metrics have a fixed identity ([`MetricId`]): their perfdata label, PRTG channel name
//! and Script v2 channel id never change between runs, because PRTG fixes a channel's unit and
//! limits when it first sees its name. Per-certificate metrics are perfdata only.

use serde::Serialize;

use super::thresholds::Thresholds;

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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    /// Stable, sanitised perfdata label (`[A-Za-z0-9_]`).
    pub label: String,
    pub value: i64,
    pub unit: MetricUnit,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
    /// Set for summary metrics, which PRTG shows as channels.
    #[serde(skip)]
    pub channel: Option<Channel>,
}

impl Metric {
    pub fn summary(id: MetricId, value: i64, thresholds: Option<Thresholds>) -> Metric {
        Metric {
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

    pub fn per_certificate(label: String, value: i64, thresholds: Thresholds) -> Metric {
        Metric {
            label: sanitise_label(&label),
            value,
            unit: MetricUnit::Days,
            thresholds: Some(thresholds),
            channel: None,
        }
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
        let all = [
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
