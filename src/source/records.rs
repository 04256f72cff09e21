//! Typed records the Exchange readers produce: what `Get-AuthConfig`, `Get-ExchangeCertificate`,
//! `Get-ExchangeServer` and the collector's bundle say, before any judgement.
//!
//! Every reader (CliXml, PowerShell JSON, bundle) produces these same records, so the state is
//! built in one place whatever the file format was.

use chrono::{DateTime, Utc};

use crate::types::Thumbprint;

/// `Get-AuthConfig`. Thumbprints are `None` where Exchange writes an empty string.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthConfigRecord {
    pub current: Option<Thumbprint>,
    pub previous: Option<Thumbprint>,
    pub next: Option<Thumbprint>,
    pub next_effective: Option<DateTime<Utc>>,
    pub service_name: Option<String>,
    pub realm: Option<String>,
    /// When AuthConfig last changed (`WhenChangedUTC`, AD's whenChanged), when the input says.
    pub changed_at: Option<DateTime<Utc>>,
}

/// One certificate from `Get-ExchangeCertificate`. All certificate facts come from `der`.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateRecord {
    pub der: Vec<u8>,
    /// SHA-1 of `der`, hashed once by the reader ([`CertificateRecord::new`]): the state
    /// builder looks every record up by it, and a large organisation has thousands.
    pub thumbprint: Thumbprint,
    /// The server whose store holds it: from `Identity` (`SERVER\THUMBPRINT`) when the export
    /// carries it, else from `PSComputerName` (which names the shell's host, see DOMAIN.md §5).
    pub server: Option<String>,
    /// Services it is enabled for, e.g. `["IIS", "SMTP"]`; empty for `None`. `None` when the
    /// export does not say (Export-Clixml hides Services inside SerializationData), which is
    /// not the same as "bound to nothing".
    pub services: Option<Vec<String>>,
    pub friendly_name: Option<String>,
    /// `Status` as Exchange reports it (`Valid`, `Invalid`, ...), when present.
    pub status: Option<String>,
}

impl CertificateRecord {
    /// A record of `der` and nothing else known yet.
    pub fn new(der: Vec<u8>) -> CertificateRecord {
        CertificateRecord::hashed(Thumbprint::of_der(&der), der)
    }

    /// For a reader that has just hashed `der` itself (to check a stated thumbprint).
    pub(crate) fn hashed(thumbprint: Thumbprint, der: Vec<u8>) -> CertificateRecord {
        debug_assert_eq!(thumbprint, Thumbprint::of_der(&der));
        CertificateRecord {
            der,
            thumbprint,
            server: None,
            services: None,
            friendly_name: None,
            status: None,
        }
    }
}

/// One server from `Get-ExchangeServer`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerRecord {
    /// NetBIOS name as Exchange shows it (`Name`).
    pub name: String,
    pub fqdn: Option<String>,
    /// AD site name (the last element of `Site`).
    pub site: Option<String>,
    /// `AdminDisplayVersion` as text, e.g. `Version 15.2 (Build 1544.4)`.
    pub version: Option<String>,
    /// Major version from `AdminDisplayVersion`/`VersionNumber` (15 for 2013 to SE).
    pub major_version: Option<u32>,
    /// `ServerRole` split into names, e.g. `["Mailbox"]`, `["ClientAccess", "Mailbox"]`.
    pub roles: Vec<String>,
    pub is_edge: bool,
}

/// What the collector learnt about one server's certificate store.
#[derive(Debug, Clone, PartialEq)]
pub enum InventoryRecord {
    Certificates(Vec<CertificateRecord>),
    /// The server could not be queried; the text says why (MEAC tells this apart from "not found").
    Unreachable(String),
}

/// One server in the collector's bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleServerRecord {
    pub server: ServerRecord,
    pub inventory: InventoryRecord,
    /// Thumbprint of the certificate `Get-ExchangeCertificate` lists as the internal transport
    /// certificate (`Get-TransportService`/`InternalTransportCertificateThumbprint`).
    pub internal_transport_certificate: Option<Thumbprint>,
}

/// The collector's bundle (`plugins/windows/Export-ExchangeAuthState.ps1`), schema version 1.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleRecord {
    pub schema_version: u32,
    pub collected_at: DateTime<Utc>,
    /// The host the collector ran on.
    pub collected_on: Option<String>,
    pub auth_config: Option<AuthConfigRecord>,
    /// Why AuthConfig could not be read, when it could not.
    pub auth_config_error: Option<String>,
    pub servers: Vec<BundleServerRecord>,
    pub hybrid: HybridRecord,
}

/// What the inputs say of hybrid with Exchange Online; `None` where they do not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HybridRecord {
    /// `Get-HybridConfiguration` returned an object.
    pub configuration: Option<bool>,
    /// OAuth to Exchange Online is configured: an enabled evoSTS (AzureAD) or ACS AuthServer and
    /// the enabled Exchange Online partner application (HealthChecker's test).
    pub oauth_to_exchange_online: Option<bool>,
    /// An enabled evoSTS AuthServer whose ApplicationIdentifier is a GUID: the dedicated hybrid
    /// application in Entra ID (HealthChecker; ConfigureExchangeHybridApplication.ps1).
    pub dedicated_application: Option<bool>,
}
