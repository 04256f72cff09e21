//! The organisation around the certificates: AuthConfig, the servers and what their stores hold.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::types::Thumbprint;

/// `Get-AuthConfig`: which certificate signs now, which did, which will.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthConfig {
    pub current: Option<Thumbprint>,
    pub previous: Option<Thumbprint>,
    pub next: Option<Thumbprint>,
    pub next_effective: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// The file it was read from.
    pub origin: String,
    /// Set when the collector could not read AuthConfig; the thumbprints are then all `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When AuthConfig last changed (AD's whenChanged): a rotation happened at the latest then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
}

/// Hybrid with Exchange Online, as HealthChecker detects it (Diagnostics/HealthChecker/Analyzer/
/// Invoke-AnalyzerHybridInformation.ps1); each `None` where no input says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Hybrid {
    /// A HybridConfiguration object exists (Get-HybridConfiguration).
    pub configuration: Option<bool>,
    /// OAuth to Exchange Online: an enabled evoSTS or ACS AuthServer plus the enabled Exchange
    /// Online partner application.
    pub oauth_to_exchange_online: Option<bool>,
    /// The dedicated hybrid application (an evoSTS AuthServer with a GUID application id):
    /// since 2025 ConfigureExchangeHybridApplication.ps1 uploads the current and the next Auth
    /// Certificate to it.
    pub dedicated_application: Option<bool>,
}

impl Hybrid {
    /// `Some(true)` when any sign says hybrid, `Some(false)` when every sign was read and none
    /// does, `None` otherwise.
    pub fn detected(&self) -> Option<bool> {
        let signs = [
            self.configuration,
            self.oauth_to_exchange_online,
            self.dedicated_application,
        ];
        if signs.contains(&Some(true)) {
            Some(true)
        } else if signs.iter().any(Option::is_some) {
            // Older bundles carry only the HybridConfiguration answer: that is the answer.
            Some(false)
        } else {
            None
        }
    }

    /// Signs from another input add up: any `true` wins, a known `false` fills an unknown.
    pub fn merge(&mut self, other: Hybrid) {
        let merge = |a: &mut Option<bool>, b: Option<bool>| {
            *a = match (*a, b) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), _) | (_, Some(false)) => Some(false),
                _ => None,
            }
        };
        merge(&mut self.configuration, other.configuration);
        merge(
            &mut self.oauth_to_exchange_online,
            other.oauth_to_exchange_online,
        );
        merge(&mut self.dedicated_application, other.dedicated_application);
    }
}

/// What is known about a server's certificate store.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Inventory {
    /// The store was read; it holds these certificates.
    Known { thumbprints: Vec<Thumbprint> },
    /// Seen through the server's own Auth metadata endpoint (`--probe-servers`). Exchange
    /// builds that document from the serving server's store: it publishes the current and
    /// previous certificates found there (each while valid) and cannot serve it when the
    /// current one, or its private key, is missing (DOMAIN.md section 8). So only these
    /// certificates are known, present or absent; the rest of the store is not.
    Probed(ProbedStore),
    /// The server could not be queried (MEAC's "unreachable", as opposed to "not found").
    Unreachable { reason: String },
    /// No input covers this server's store.
    NotCollected,
}

/// What a server's Auth metadata endpoint showed of its store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbedStore {
    /// The URL asked.
    pub origin: String,
    /// Published by the server: present in its store.
    pub published: Vec<Thumbprint>,
    /// Known absent: AuthConfig's current certificate when the server could not serve the
    /// document.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<Thumbprint>,
    /// The server answered, but not with the document (an HTTP error, not a metadata
    /// document): what it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Server {
    /// As Exchange names it (NetBIOS name), or as the export named it.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major_version: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    pub is_edge: bool,
    /// Mailbox/Client Access, version 15, not Edge: must hold the Auth Certificate.
    pub requires_auth_certificate: bool,
    pub inventory: Inventory,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_transport_certificate: Option<Thumbprint>,
}

impl Server {
    /// The key servers are matched by: the first DNS label, lower-case, so that `EXCH01`,
    /// `exch01.contoso.lab` and `Exch01` are one server.
    pub fn key_of(name: &str) -> String {
        name.trim()
            .split('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    }

    pub fn key(&self) -> String {
        Server::key_of(&self.name)
    }

    /// `Some(true/false)` when the store was read, `None` when that is unknown.
    pub fn holds(&self, thumbprint: &Thumbprint) -> Option<bool> {
        match &self.inventory {
            Inventory::Known { thumbprints } => Some(thumbprints.contains(thumbprint)),
            Inventory::Probed(probe) if probe.published.contains(thumbprint) => Some(true),
            Inventory::Probed(probe) if probe.absent.contains(thumbprint) => Some(false),
            Inventory::Probed(_) | Inventory::Unreachable { .. } | Inventory::NotCollected => None,
        }
    }

    /// Whether anything was learnt of the server's store: read, or probed with an answer.
    pub fn is_observed(&self) -> bool {
        matches!(
            self.inventory,
            Inventory::Known { .. } | Inventory::Probed(_)
        )
    }

    pub fn is_reachable(&self) -> bool {
        !matches!(self.inventory, Inventory::Unreachable { .. })
    }
}

/// Whether a `Get-ExchangeServer` entry must hold the Auth Certificate: MEAC's selection
/// (Mailbox or Client Access, version 15, not Edge: Get-ExchangeAuthCertificateStatus.ps1).
/// Unknown roles or version count as required: a server that cannot be ruled out is checked.
/// This is the one place that decides it; the judgement, the recommendation and the renewal
/// planner all read `Server::requires_auth_certificate`.
pub fn requires_auth_certificate(
    major_version: Option<u32>,
    roles: &[String],
    is_edge: bool,
) -> bool {
    let is_edge = is_edge || roles.iter().any(|r| r.eq_ignore_ascii_case("Edge"));
    let serves_clients = roles.is_empty()
        || roles.iter().any(|r| {
            r.eq_ignore_ascii_case("Mailbox")
                || r.eq_ignore_ascii_case("ClientAccess")
                || r.eq_ignore_ascii_case("Cafe")
        });
    !is_edge && serves_clients && major_version.is_none_or(|v| v == 15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_keys_ignore_domain_and_case() {
        assert_eq!(Server::key_of("EXCH01"), "exch01");
        assert_eq!(Server::key_of("exch01.contoso.lab"), "exch01");
        assert_eq!(Server::key_of(" Exch01 "), "exch01");
    }

    #[test]
    fn auth_certificate_is_required_on_mailbox_15_not_edge() {
        let roles = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(requires_auth_certificate(
            Some(15),
            &roles(&["Mailbox"]),
            false
        ));
        assert!(requires_auth_certificate(
            Some(15),
            &roles(&["ClientAccess", "Mailbox"]),
            false
        ));
        assert!(!requires_auth_certificate(
            Some(15),
            &roles(&["Edge"]),
            false
        ));
        assert!(!requires_auth_certificate(
            Some(15),
            &roles(&["Mailbox"]),
            true
        ));
        assert!(!requires_auth_certificate(
            Some(14),
            &roles(&["Mailbox"]),
            false
        ));
        assert!(requires_auth_certificate(None, &[], false));
    }
}
