//! The organisation as a run re-reads it on the Exchange server, step after step.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::powershell::{ServerName, ThumbRef};

/// The organisation as re-read on the Exchange server during a run (JSON from the run's
/// `Get-RenewState`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveState {
    pub now: DateTime<Utc>,
    /// `$env:COMPUTERNAME` of the PowerShell session.
    #[serde(default)]
    pub computer: Option<String>,
    pub auth: LiveAuth,
    #[serde(default)]
    pub hybrid: Option<bool>,
    #[serde(default)]
    pub servers: Vec<LiveServer>,
    /// `$global:RenewNew*` variables: certificates made by steps.
    #[serde(default)]
    pub new: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveAuth {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub current: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub previous: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub next: String,
    #[serde(default)]
    pub next_effective: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveServer {
    pub name: String,
    pub reachable: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub transport: Option<String>,
    #[serde(default)]
    pub certificates: Vec<LiveCertificate>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveCertificate {
    pub thumbprint: String,
    /// `Services` as Exchange prints it: `"IIS, SMTP"`, `"None"`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub services: String,
    #[serde(default)]
    pub not_after: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub subject: String,
}

impl LiveCertificate {
    /// The services by name. A remote Exchange shell sends the `AllowedServices` flags as a
    /// number (DOMAIN.md §8): `24` is IIS and SMTP.
    pub fn service_list(&self) -> Vec<String> {
        if let Ok(flags) = self.services.trim().parse::<i64>() {
            return crate::source::exchange_exports::CERTIFICATE_SERVICES
                .iter()
                .filter(|(bit, _)| *bit != 0 && flags & bit != 0)
                .map(|(_, name)| name.to_string())
                .collect();
        }
        self.services
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("None"))
            .collect()
    }
}

impl LiveServer {
    pub fn find(&self, thumbprint: &str) -> Option<&LiveCertificate> {
        self.certificates
            .iter()
            .find(|c| c.thumbprint.eq_ignore_ascii_case(thumbprint))
    }
}

impl LiveState {
    pub fn server(&self, name: &ServerName) -> Option<&LiveServer> {
        self.servers
            .iter()
            .find(|s| crate::model::Server::key_of(&s.name) == name.key())
    }

    /// A server that answered the re-read; why not, otherwise.
    pub fn queried_server(&self, name: &ServerName) -> Result<&LiveServer, String> {
        let s = self
            .server(name)
            .ok_or_else(|| format!("server {name} is not in the live state"))?;
        if s.reachable {
            Ok(s)
        } else {
            Err(format!(
                "server {name} could not be queried: {}",
                s.error.as_deref().unwrap_or("unreachable")
            ))
        }
    }

    /// The thumbprint a check names: known when planning, or made by a step of this run
    /// (`$global:RenewNew<slot>`, upper case); an error while that step has not run.
    pub fn resolve(&self, thumbprint: &ThumbRef) -> Result<String, String> {
        match thumbprint {
            ThumbRef::Known(t) => Ok(t.to_string()),
            ThumbRef::New(slot) => self
                .new
                .get(&ThumbRef::variable(*slot))
                .filter(|t| !t.is_empty())
                .map(|t| t.to_ascii_uppercase())
                .ok_or_else(|| format!("{} is not known yet", thumbprint.describe())),
        }
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}
