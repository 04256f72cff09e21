//! Active Directory over LDAP (`--ldap`): Exchange's AuthConfig and server objects read from the
//! configuration partition, turned into typed records. No judgement and no model types here.
//!
//! Why from AD: everything the organisation view needs besides the certificates' own stores is
//! there, readable from a Linux monitoring host with an ordinary account, with nothing installed
//! on Exchange (issue 16). What is read, and where each fact was verified:
//!
//! - The organisation container is the `msExchOrganizationContainer` one level under
//!   `CN=Microsoft Exchange,CN=Services,<configurationNamingContext>` (CSS-Exchange
//!   Shared/ActiveDirectoryFunctions/Get-ExchangeContainer.ps1, Get-OrganizationContainer.ps1).
//! - AuthConfig is the `msExchAuthAuthConfig` object `CN=Auth Configuration` under it, with
//!   `msExchAuthCertificateThumbprint` (`0:` current, `1:` previous, `2:` next; one value without
//!   prefix is the current one), `msExchAuthNextEffectiveDate` (a `DateTime?` in Exchange's
//!   AuthConfigSchema; its LDAP syntax is not verified, so Generalized Time and a FILETIME
//!   integer are both accepted), `msExchAuthRealm`, `msExchAuthApplicationIdentifier`
//!   (DOMAIN.md section 8, decompiled Exchange AuthConfig/AuthConfigSchema).
//! - Servers are `msExchExchangeServer` objects (`Servers,CN=Exchange Administrative Group
//!   (FYDIBOHF23SPDLT),CN=Administrative Groups,<org>`: CSS-Exchange
//!   Get-InternalTransportCertificateFromServer.ps1, which reads `msExchServerInternalTLSCert`
//!   there as the DER of the internal transport certificate, as HealthChecker does).
//!   `msExchCurrentServerRoles` is Exchange's `[Flags] enum ServerRole`
//!   (Microsoft.Exchange.Data.Directory.SystemConfiguration; ServerSchema maps
//!   `CurrentServerRole` to this attribute; both seen in decompiled Exchange code in public
//!   repositories): Cafe 1, Mailbox 2, ClientAccess 4, UnifiedMessaging 16, HubTransport 32,
//!   Edge 64, FrontendTransport 16384. `networkAddress` holds `ncacn_ip_tcp:<FQDN>` among other
//!   protocol addresses (admin scripts take the FQDN from that value), `serialNumber` the
//!   version text (`Version 15.2 (Build 1544.4)`), `msExchServerSite` the DN of the AD site.
//! - AuthServers (`Get-AuthServer`) are `msExchAuthAuthServer` objects in `CN=Auth Servers`,
//!   partner applications (`Get-PartnerApplication`) `msExchAuthPartnerApplication` objects in
//!   `CN=Partner Applications`, both containers below `CN=Auth Configuration` (decompiled
//!   Exchange in the public repository PiratesRE/exchange_diff,
//!   Microsoft.Exchange.Data.Directory/Data/Directory/SystemConfiguration/: AuthServer.cs and
//!   PartnerApplication.cs, `GetContainerId`, `ObjectClassName`). Both keep ApplicationIdentifier
//!   in `msExchAuthApplicationIdentifier` and Enabled as bit 0 of `msExchAuthFlags`, an integer
//!   whose default is 1 (`PersistDefaultValue`: Exchange writes it), so an absent value reads
//!   as enabled, as Exchange reads it (AuthServerSchema.cs, PartnerApplicationSchema.cs). An AuthServer's Type is
//!   `msExchAuthAuthServerType`, Exchange's `enum AuthServerType { Unknown, MicrosoftACS,
//!   Facebook, LinkedIn, ADFS, AzureAD }` (AuthServerType.cs; declared without values, so 0 to
//!   5; evilashz/exchange-server-27065 has the same). NOT verified: how AD stores that enum (no
//!   schema file giving the attribute's syntax was found), so both the number and the name are
//!   accepted.
//!
//! How: TLS always (`ldaps://`, or `ldap://` with StartTLS, never a clear-text bind), the
//! server's certificate verified unless `--insecure`, a simple bind, then searches only; the
//! server and the AuthServer/partner application searches are paged and capped, referrals are
//! dropped (never chased), and every step ends by the check's deadline. ldap3's tokio runtime
//! is built here, so only a run with `--ldap` pays for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConn, LdapConnSettings, LdapError, Scope, SearchEntry, StdStream};

use super::SourceError;
use super::exchange_exports::major_from_text;
use super::records::{AuthConfigRecord, ServerRecord};
use super::tls::{self, Deadline};
use crate::types::Thumbprint;

/// Objects per page: AD's default MaxPageSize is 1000; smaller pages keep each answer small.
const PAGE_SIZE: i32 = 250;

/// More server objects than this is not an Exchange organisation this check can judge in `-t`;
/// the search stops with an error rather than reading without end.
pub const MAX_SERVERS: usize = 5000;

/// An organisation has a handful of AuthServers and partner applications (one per partner it
/// trusts); more than this is refused like too many servers.
pub const MAX_AUTH_OBJECTS: usize = 1000;

/// How the connection is protected. There is no clear-text mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapSecurity {
    /// `ldaps://`: TLS from the first byte (default port 636).
    Ldaps,
    /// `ldap://`: the StartTLS extended operation before the bind (default port 389); a server
    /// that refuses it is an error, never a clear-text bind.
    StartTls,
}

/// Where the directory is: from `--ldap URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapEndpoint {
    pub host: String,
    pub port: u16,
    pub security: LdapSecurity,
}

impl LdapEndpoint {
    /// `ldaps://host[:port]` or `ldap://host[:port]` (StartTLS); a path, a query or any other
    /// scheme is refused: the base and filters are the check's own.
    pub fn parse(url: &str) -> Result<LdapEndpoint, String> {
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("'{url}' is not an ldaps:// or ldap:// URL"))?;
        let security = match scheme.to_ascii_lowercase().as_str() {
            "ldaps" => LdapSecurity::Ldaps,
            "ldap" => LdapSecurity::StartTls,
            other => {
                return Err(format!(
                    "'{url}': scheme '{other}' is not supported (ldaps://, or ldap:// with StartTLS)"
                ));
            }
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '@']) {
            return Err(format!(
                "'{url}': give only the host and port (the base is --ldap-base)"
            ));
        }
        let default_port = match security {
            LdapSecurity::Ldaps => 636,
            LdapSecurity::StartTls => 389,
        };
        let endpoint =
            tls::HostPort::parse(authority, default_port).map_err(|e| format!("'{url}': {e}"))?;
        Ok(LdapEndpoint {
            host: endpoint.host,
            port: endpoint.port,
            security,
        })
    }

    /// The URL as the reports name it.
    pub fn origin(&self) -> String {
        let scheme = match self.security {
            LdapSecurity::Ldaps => "ldaps",
            LdapSecurity::StartTls => "ldap",
        };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Everything a directory read needs, checked by the options.
#[derive(Clone)]
pub struct LdapOptions {
    pub endpoint: LdapEndpoint,
    /// A DN or a UPN (`monitor@contoso.com`): AD accepts both in a simple bind.
    pub user: String,
    pub password: String,
    /// The configuration naming context; read from the RootDSE when `None`.
    pub base: Option<String>,
    /// `--ca-file` certificates trusted besides the webpki roots.
    pub extra_roots: Vec<Vec<u8>>,
    pub insecure: bool,
}

impl std::fmt::Debug for LdapOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapOptions")
            .field("endpoint", &self.endpoint)
            .field("user", &self.user)
            .field("password", &"(hidden)")
            .field("base", &self.base)
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// One `msExchExchangeServer` object.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryServer {
    pub server: ServerRecord,
    /// `msExchServerInternalTLSCert`: the DER of the internal transport certificate.
    pub internal_transport_der: Option<Vec<u8>>,
}

/// One `msExchAuthAuthServer` object (`Get-AuthServer`), as stored: nothing decided here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthServerRecord {
    pub name: String,
    /// `msExchAuthAuthServerType` as `Get-AuthServer` names it (`AzureAD`, `MicrosoftACS`, ...);
    /// a value outside Exchange's enum is kept as stored, `None` when absent.
    pub server_type: Option<String>,
    /// Bit 0 of `msExchAuthFlags`.
    pub enabled: bool,
    /// `msExchAuthApplicationIdentifier`.
    pub application_identifier: Option<String>,
}

/// One `msExchAuthPartnerApplication` object (`Get-PartnerApplication`), as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartnerApplicationRecord {
    pub name: String,
    /// Bit 0 of `msExchAuthFlags`.
    pub enabled: bool,
    /// `msExchAuthApplicationIdentifier`.
    pub application_identifier: Option<String>,
}

/// What the directory says about the organisation.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryRecord {
    /// The `--ldap` URL.
    pub origin: String,
    /// The organisation's name (its container's CN).
    pub organisation: String,
    /// `msExchAuthAuthConfig`, with AD's `whenChanged` of the object as `changed_at`.
    pub auth_config: AuthConfigRecord,
    pub servers: Vec<DirectoryServer>,
    /// A HybridConfiguration object (`msExchCoexistenceRelationship` below
    /// `CN=Hybrid Configuration` in the organisation; decompiled Exchange HybridConfiguration)
    /// exists: what `Get-HybridConfiguration` answers.
    pub hybrid_configuration: bool,
    /// Every AuthServer below AuthConfig (none when its container does not exist).
    pub auth_servers: Vec<AuthServerRecord>,
    /// Every partner application below AuthConfig (none when its container does not exist).
    pub partner_applications: Vec<PartnerApplicationRecord>,
}

/// One entry as the directory returned it, attribute names in lower case (AD answers in the
/// schema's case, OpenLDAP in the request's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub dn: String,
    pub text: HashMap<String, Vec<String>>,
    pub binary: HashMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    fn from_search(entry: SearchEntry) -> Entry {
        let lower = |name: String| name.to_ascii_lowercase();
        Entry {
            dn: entry.dn,
            text: entry
                .attrs
                .into_iter()
                .map(|(k, v)| (lower(k), v))
                .collect(),
            binary: entry
                .bin_attrs
                .into_iter()
                .map(|(k, v)| (lower(k), v))
                .collect(),
        }
    }

    /// Every text value of an attribute.
    pub fn values(&self, name: &str) -> &[String] {
        self.text
            .get(&name.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// The first non-empty text value.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name)
            .iter()
            .map(|v| v.trim())
            .find(|v| !v.is_empty())
    }

    /// The first value as bytes, whether the library kept it as text (valid UTF-8) or binary.
    pub fn first_bytes(&self, name: &str) -> Option<Vec<u8>> {
        let name = name.to_ascii_lowercase();
        self.binary
            .get(&name)
            .and_then(|values| values.first().cloned())
            .or_else(|| {
                self.text
                    .get(&name)
                    .and_then(|values| values.first())
                    .map(|value| value.clone().into_bytes())
            })
            .filter(|bytes| !bytes.is_empty())
    }
}

// ---------------------------------------------------------------------------------------------
// Entries -> records (pure; unit-tested without a directory)
// ---------------------------------------------------------------------------------------------

/// `msExchAuthCertificateThumbprint`: `0:` current, `1:` previous, `2:` next; a single value
/// without a prefix is the current one. An unreadable value is an error: guessing would judge
/// the wrong certificate.
pub fn auth_thumbprints(values: &[String]) -> Result<AuthThumbprints, String> {
    let mut slots: [Option<Thumbprint>; 3] = [None, None, None];
    for value in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let (slot, text) = match value.split_once(':') {
            Some((digit @ ("0" | "1" | "2"), text)) => (digit.parse::<usize>().unwrap_or(0), text),
            Some(_) => {
                return Err(format!(
                    "msExchAuthCertificateThumbprint value '{value}' has an unknown prefix (0:, 1: or 2:)"
                ));
            }
            None if values.len() == 1 => (0, value),
            None => {
                return Err(format!(
                    "msExchAuthCertificateThumbprint value '{value}' has no 0:/1:/2: prefix among several values"
                ));
            }
        };
        let thumbprint = Thumbprint::parse(text).ok_or_else(|| {
            format!("msExchAuthCertificateThumbprint value '{value}' is not a thumbprint")
        })?;
        slots[slot] = Some(thumbprint);
    }
    let [current, previous, next] = slots;
    Ok(AuthThumbprints {
        current,
        previous,
        next,
    })
}

/// The three slots of `msExchAuthCertificateThumbprint`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthThumbprints {
    pub current: Option<Thumbprint>,
    pub previous: Option<Thumbprint>,
    pub next: Option<Thumbprint>,
}

/// Generalized Time (`20230203141602.0Z`, `20230203141602+0100`) or a FILETIME integer (100 ns
/// since 1601; 0 and the maximum mean "never"). `Ok(None)` for "never".
pub fn directory_time(text: &str) -> Result<Option<DateTime<Utc>>, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.len() != 14 {
        return filetime(text);
    }
    generalized_time(text).map(Some)
}

fn filetime(text: &str) -> Result<Option<DateTime<Utc>>, String> {
    let ticks: i64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a FILETIME"))?;
    if ticks == 0 || ticks == i64::MAX {
        return Ok(None);
    }
    const UNIX_EPOCH_IN_FILETIME_SECONDS: i64 = 11_644_473_600;
    let seconds = ticks / 10_000_000 - UNIX_EPOCH_IN_FILETIME_SECONDS;
    let nanos = (ticks % 10_000_000) as u32 * 100;
    DateTime::from_timestamp(seconds, nanos)
        .map(Some)
        .ok_or_else(|| format!("FILETIME {text} is out of range"))
}

fn generalized_time(text: &str) -> Result<DateTime<Utc>, String> {
    let bad = || format!("'{text}' is not a Generalized Time (YYYYMMDDHHMMSS[.f]Z)");
    let digits = text.get(..14).ok_or_else(bad)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| digits[range].parse::<u32>().map_err(|_| bad());
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(4..6)?, number(6..8)?)
        .ok_or_else(bad)?;
    let local = date
        .and_hms_opt(number(8..10)?, number(10..12)?, number(12..14)?)
        .ok_or_else(bad)?;
    let mut rest = &text[14..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix(['.', ',']) {
        let length = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        let digits = &fraction[..length];
        if digits.is_empty() {
            return Err(bad());
        }
        let padded: String = digits.chars().chain("000000000".chars()).take(9).collect();
        nanos = padded.parse().map_err(|_| bad())?;
        rest = &fraction[length..];
    }
    let offset_seconds: i64 = match rest {
        "Z" | "z" => 0,
        zone if (zone.len() == 5) && zone.starts_with(['+', '-']) => {
            let hours: i64 = zone[1..3].parse().map_err(|_| bad())?;
            let minutes: i64 = zone[3..5].parse().map_err(|_| bad())?;
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return Err(bad()),
    };
    let utc = local.and_utc() - chrono::Duration::seconds(offset_seconds)
        + chrono::Duration::nanoseconds(i64::from(nanos));
    Ok(utc)
}

/// Exchange's `ServerRole` flags (see the module documentation for the source), in the
/// enum's order, named as `Get-ExchangeServer` names them.
const ROLE_BITS: [(u32, &str); 7] = [
    (1, "Cafe"),
    (2, "Mailbox"),
    (4, "ClientAccess"),
    (16, "UnifiedMessaging"),
    (32, "HubTransport"),
    (64, "Edge"),
    (16384, "FrontendTransport"),
];

/// The role names of an `msExchCurrentServerRoles` value.
pub fn role_names(mask: u32) -> Vec<String> {
    ROLE_BITS
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, name)| name.to_string())
        .collect()
}

/// `ncacn_ip_tcp:exch01.contoso.lab` among the `networkAddress` values.
pub fn fqdn_of(network_addresses: &[String]) -> Option<String> {
    network_addresses.iter().find_map(|value| {
        let (protocol, address) = value.trim().split_once(':')?;
        (protocol.eq_ignore_ascii_case("ncacn_ip_tcp") && !address.trim().is_empty())
            .then(|| address.trim().to_string())
    })
}

/// The first RDN's value: `CN=Site-A,CN=Sites,...` -> `Site-A` (escaped commas kept).
pub fn first_rdn_value(dn: &str) -> Option<String> {
    let mut value = String::new();
    let mut chars = dn.trim().chars();
    let mut seen_equals = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(escaped) = chars.next()
                    && seen_equals
                {
                    value.push(escaped);
                }
            }
            ',' => break,
            '=' if !seen_equals => seen_equals = true,
            c if seen_equals => value.push(c),
            _ => {}
        }
    }
    let value = value.trim().to_string();
    (seen_equals && !value.is_empty()).then_some(value)
}

/// An `msExchAuthAuthConfig` entry -> the AuthConfig record.
pub fn auth_config_of(entry: &Entry) -> Result<AuthConfigRecord, String> {
    let AuthThumbprints {
        current,
        previous,
        next,
    } = auth_thumbprints(entry.values("msExchAuthCertificateThumbprint"))
        .map_err(|e| format!("{}: {e}", entry.dn))?;
    let next_effective = match entry.first("msExchAuthNextEffectiveDate") {
        Some(text) => directory_time(text)
            .map_err(|e| format!("{}: msExchAuthNextEffectiveDate {e}", entry.dn))?,
        None => None,
    };
    let changed_at = entry
        .first("whenChanged")
        .and_then(|text| generalized_time(text).ok());
    Ok(AuthConfigRecord {
        current,
        previous,
        next,
        next_effective,
        service_name: entry
            .first("msExchAuthApplicationIdentifier")
            .map(str::to_string),
        realm: entry.first("msExchAuthRealm").map(str::to_string),
        changed_at,
    })
}

/// An `msExchExchangeServer` entry -> a server record and its transport certificate's DER.
pub fn server_of(entry: &Entry) -> Result<DirectoryServer, String> {
    let name = entry
        .first("name")
        .or_else(|| entry.first("cn"))
        .map(str::to_string)
        .or_else(|| first_rdn_value(&entry.dn))
        .ok_or_else(|| format!("{}: a server object without a name", entry.dn))?;
    let mask = match entry.first("msExchCurrentServerRoles") {
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            format!(
                "{}: msExchCurrentServerRoles '{text}' is not a number",
                entry.dn
            )
        })? as u32),
        None => None,
    };
    let roles = mask.map(role_names).unwrap_or_default();
    let version = entry.first("serialNumber").map(str::to_string);
    Ok(DirectoryServer {
        server: ServerRecord {
            fqdn: fqdn_of(entry.values("networkAddress")),
            site: entry.first("msExchServerSite").and_then(first_rdn_value),
            major_version: version.as_deref().and_then(major_from_text),
            version,
            is_edge: roles.iter().any(|r| r == "Edge"),
            roles,
            name,
        },
        internal_transport_der: entry.first_bytes("msExchServerInternalTLSCert"),
    })
}

/// Exchange's `AuthServerType` in declaration order, so each name's index is its value (see
/// the module documentation for the source).
const AUTH_SERVER_TYPES: [&str; 6] = [
    "Unknown",
    "MicrosoftACS",
    "Facebook",
    "LinkedIn",
    "ADFS",
    "AzureAD",
];

/// `msExchAuthAuthServerType` -> the name `Get-AuthServer` shows. How AD stores the enum is not
/// verified, so the number (`5`) and the name (`AzureAD`, any case) both read as `AzureAD`; any
/// other value is kept as stored, so it matches no type.
pub fn auth_server_type_name(value: &str) -> String {
    let value = value.trim();
    let by_number = value
        .parse::<usize>()
        .ok()
        .and_then(|number| AUTH_SERVER_TYPES.get(number));
    let by_name = AUTH_SERVER_TYPES
        .iter()
        .find(|name| name.eq_ignore_ascii_case(value));
    by_number
        .or(by_name)
        .map_or_else(|| value.to_string(), |name| name.to_string())
}

/// Enabled: bit 0 of `msExchAuthFlags`. Absent, it is Exchange's default (1): enabled. A value
/// that is not a number is an error: guessing would say hybrid, or not, on no evidence.
pub fn auth_enabled(entry: &Entry) -> Result<bool, String> {
    match entry.first("msExchAuthFlags") {
        None => Ok(true),
        Some(text) => text
            .parse::<i64>()
            .map(|flags| flags & 1 == 1)
            .map_err(|_| format!("{}: msExchAuthFlags '{text}' is not a number", entry.dn)),
    }
}

/// The object's name: `name`, `cn`, or the first RDN.
fn object_name(entry: &Entry) -> String {
    entry
        .first("name")
        .or_else(|| entry.first("cn"))
        .map(str::to_string)
        .or_else(|| first_rdn_value(&entry.dn))
        .unwrap_or_else(|| entry.dn.clone())
}

/// An `msExchAuthAuthServer` entry -> its record.
pub fn auth_server_of(entry: &Entry) -> Result<AuthServerRecord, String> {
    Ok(AuthServerRecord {
        name: object_name(entry),
        server_type: entry
            .first("msExchAuthAuthServerType")
            .map(auth_server_type_name),
        enabled: auth_enabled(entry)?,
        application_identifier: entry
            .first("msExchAuthApplicationIdentifier")
            .map(str::to_string),
    })
}

/// An `msExchAuthPartnerApplication` entry -> its record.
pub fn partner_application_of(entry: &Entry) -> Result<PartnerApplicationRecord, String> {
    Ok(PartnerApplicationRecord {
        name: object_name(entry),
        enabled: auth_enabled(entry)?,
        application_identifier: entry
            .first("msExchAuthApplicationIdentifier")
            .map(str::to_string),
    })
}

/// Whether an entry is of `class` (AD lists every class of the chain in `objectClass`).
fn has_class(entry: &Entry, class: &str) -> bool {
    entry
        .values("objectClass")
        .iter()
        .any(|value| value.trim().eq_ignore_ascii_case(class))
}

// ---------------------------------------------------------------------------------------------
// The directory read
// ---------------------------------------------------------------------------------------------

const AUTH_CONFIG_ATTRIBUTES: [&str; 6] = [
    "msExchAuthCertificateThumbprint",
    "msExchAuthNextEffectiveDate",
    "msExchAuthRealm",
    "msExchAuthApplicationIdentifier",
    "whenChanged",
    "cn",
];

/// The AuthServer and partner application attributes the hybrid signs need.
const AUTH_OBJECT_ATTRIBUTES: [&str; 6] = [
    "objectClass",
    "name",
    "cn",
    "msExchAuthAuthServerType",
    "msExchAuthFlags",
    "msExchAuthApplicationIdentifier",
];

const SERVER_ATTRIBUTES: [&str; 7] = [
    "name",
    "cn",
    "msExchCurrentServerRoles",
    "serialNumber",
    "networkAddress",
    "msExchServerSite",
    "msExchServerInternalTLSCert",
];

/// Binds and reads the organisation, all by `deadline`. Every failure is one line naming the
/// step: unreachable, TLS, StartTLS refused, bind refused, an object missing.
pub fn read_directory(
    options: &LdapOptions,
    deadline: Deadline,
) -> Result<DirectoryRecord, SourceError> {
    let origin = options.endpoint.origin();
    let fail = |reason: String| SourceError::Unreadable {
        path: origin.clone(),
        reason: super::one_line(&reason),
    };
    let mut session = Session::open(options, deadline).map_err(fail)?;
    let result = session.read(options).map_err(fail);
    session.close();
    let read = result?;
    Ok(DirectoryRecord {
        origin,
        organisation: read.organisation,
        auth_config: read.auth_config,
        servers: read.servers,
        hybrid_configuration: read.hybrid_configuration,
        auth_servers: read.auth_servers,
        partner_applications: read.partner_applications,
    })
}

/// A bound connection and the deadline every operation keeps to.
struct Session {
    connection: LdapConn,
    deadline: Deadline,
}

impl Session {
    /// Resolves and connects here (bounded threads, like `--tls`), then lets ldap3 do TLS or
    /// StartTLS on that stream and binds.
    fn open(options: &LdapOptions, deadline: Deadline) -> Result<Session, String> {
        let endpoint = &options.endpoint;
        if options.password.is_empty() {
            // An empty password is an unauthenticated bind that "succeeds" (RFC 4513 5.1.2).
            return Err("the LDAP password is empty: refused (an unauthenticated bind)".into());
        }
        let addresses = tls::resolve(&endpoint.host, endpoint.port, deadline)
            .map_err(|e| format!("the domain controller is unreachable: {}", e.0))?;
        let stream = tls::connect(&addresses, deadline)
            .map_err(|e| format!("the domain controller is unreachable: {}", e.0))?;
        let left = deadline
            .remaining("before the TLS handshake")
            .map_err(|e| e.0)?;
        let settings = LdapConnSettings::new()
            .set_conn_timeout(left)
            .set_std_stream(StdStream::Tcp(stream))
            .set_config(tls_config(options)?)
            .set_starttls(endpoint.security == LdapSecurity::StartTls);
        // The URL only tells ldap3 the scheme and the name to verify: the stream is ours.
        let connection = LdapConn::with_settings(settings, &endpoint.origin())
            .map_err(|e| connect_reason(&e, endpoint.security))?;
        let mut session = Session {
            connection,
            deadline,
        };
        let left = session.left("to bind")?;
        let bound = session
            .connection
            .with_timeout(left)
            .simple_bind(&options.user, &options.password)
            .map_err(|e| operation_reason("the bind", &e))?;
        if bound.rc != 0 {
            return Err(bind_reason(bound.rc, &bound.text, &options.user));
        }
        Ok(session)
    }

    fn left(&self, doing: &str) -> Result<Duration, String> {
        self.deadline.remaining(doing).map_err(|e| e.0)
    }

    fn close(mut self) {
        let _ = self.connection.unbind();
    }

    fn read(&mut self, options: &LdapOptions) -> Result<Read, String> {
        let configuration = match &options.base {
            Some(base) => base.clone(),
            None => self.configuration_naming_context()?,
        };
        let exchange = format!("CN=Microsoft Exchange,CN=Services,{configuration}");
        let organisation = self.organisation(&exchange)?;
        let organisation_name =
            first_rdn_value(&organisation.dn).unwrap_or_else(|| organisation.dn.clone());
        let auth_config = self.auth_config(&organisation.dn)?;
        let servers = self.servers(&organisation.dn)?;
        let hybrid_configuration = self.hybrid_configuration(&organisation.dn)?;
        let (auth_servers, partner_applications) = self.auth_objects(&organisation.dn)?;
        Ok(Read {
            auth_config,
            servers,
            hybrid_configuration,
            auth_servers,
            partner_applications,
            organisation: organisation_name,
        })
    }

    /// Every AuthServer and partner application, in one paged search below AuthConfig (their
    /// containers `CN=Auth Servers` and `CN=Partner Applications` are its children). A missing
    /// container is an answer: the organisation has none.
    fn auth_objects(
        &mut self,
        organisation: &str,
    ) -> Result<(Vec<AuthServerRecord>, Vec<PartnerApplicationRecord>), String> {
        let base = format!("CN=Auth Configuration,{organisation}");
        let entries = match self.paged_search(
            &base,
            "(|(objectClass=msExchAuthAuthServer)(objectClass=msExchAuthPartnerApplication))",
            &AUTH_OBJECT_ATTRIBUTES,
            "AuthServers and partner applications",
            MAX_AUTH_OBJECTS,
        ) {
            Ok(entries) => entries,
            Err(SearchError::NoSuchObject(_)) => Vec::new(),
            Err(SearchError::Failed(reason)) => return Err(reason),
        };
        let mut servers = Vec::new();
        let mut applications = Vec::new();
        for entry in &entries {
            if has_class(entry, "msExchAuthAuthServer") {
                servers.push(auth_server_of(entry)?);
            } else if has_class(entry, "msExchAuthPartnerApplication") {
                applications.push(partner_application_of(entry)?);
            }
        }
        Ok((servers, applications))
    }

    /// Whether the organisation has a HybridConfiguration object; its container exists only
    /// once the Hybrid Configuration Wizard ran.
    fn hybrid_configuration(&mut self, organisation: &str) -> Result<bool, String> {
        let container = format!("CN=Hybrid Configuration,{organisation}");
        match self.search(
            &container,
            Scope::OneLevel,
            "(objectClass=msExchCoexistenceRelationship)",
            &["cn"],
            "the HybridConfiguration",
        ) {
            Ok(found) => Ok(!found.is_empty()),
            Err(SearchError::NoSuchObject(_)) => Ok(false),
            Err(SearchError::Failed(reason)) => Err(reason),
        }
    }

    /// The RootDSE's `configurationNamingContext`.
    fn configuration_naming_context(&mut self) -> Result<String, String> {
        let entries = self.search(
            "",
            Scope::Base,
            "(objectClass=*)",
            &["configurationNamingContext"],
            "the RootDSE",
        )?;
        entries
            .iter()
            .find_map(|e| e.first("configurationNamingContext").map(str::to_string))
            .ok_or_else(|| {
                "the RootDSE has no configurationNamingContext (not Active Directory? give --ldap-base)"
                    .to_string()
            })
    }

    fn organisation(&mut self, exchange: &str) -> Result<Entry, String> {
        let mut found = self.search(
            exchange,
            Scope::OneLevel,
            "(objectClass=msExchOrganizationContainer)",
            &["cn"],
            "the Exchange organisation",
        )?;
        match found.len() {
            0 => Err(format!(
                "no Exchange organisation (msExchOrganizationContainer) under {exchange}"
            )),
            1 => Ok(found.remove(0)),
            n => Err(format!(
                "{n} Exchange organisations under {exchange}; a forest has one"
            )),
        }
    }

    fn auth_config(&mut self, organisation: &str) -> Result<AuthConfigRecord, String> {
        let mut found = self.search(
            organisation,
            Scope::OneLevel,
            "(objectClass=msExchAuthAuthConfig)",
            &AUTH_CONFIG_ATTRIBUTES,
            "AuthConfig",
        )?;
        match found.len() {
            0 => Err(format!(
                "no AuthConfig (msExchAuthAuthConfig, CN=Auth Configuration) under {organisation}"
            )),
            1 => auth_config_of(&found.remove(0)),
            n => Err(format!(
                "{n} AuthConfig objects under {organisation}; an organisation has one"
            )),
        }
    }

    /// Every `msExchExchangeServer` under the organisation, paged.
    fn servers(&mut self, organisation: &str) -> Result<Vec<DirectoryServer>, String> {
        let entries = self.paged_search(
            organisation,
            "(objectClass=msExchExchangeServer)",
            &SERVER_ATTRIBUTES,
            "Exchange servers",
            MAX_SERVERS,
        )?;
        entries.iter().map(server_of).collect()
    }

    /// One paged subtree search: entries only, referrals dropped, more than `limit` entries
    /// refused, the deadline checked between entries.
    fn paged_search(
        &mut self,
        base: &str,
        filter: &str,
        attributes: &[&str],
        what: &str,
        limit: usize,
    ) -> Result<Vec<Entry>, SearchError> {
        let left = self
            .left(&format!("to search the {what}"))
            .map_err(SearchError::Failed)?;
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        let doing = format!("the search for {what}");
        let mut stream = self
            .connection
            .with_timeout(left)
            .streaming_search_with(adapters, base, Scope::Subtree, filter, attributes.to_vec())
            .map_err(|e| SearchError::Failed(operation_reason(&doing, &e)))?;
        let mut entries = Vec::new();
        loop {
            if self.deadline.remaining("").is_err() {
                return Err(SearchError::Failed(format!(
                    "no time left (-t) during {doing}"
                )));
            }
            match stream.next() {
                Ok(Some(entry)) => {
                    if entries.len() == limit {
                        return Err(SearchError::Failed(format!(
                            "more than {limit} {what}: refused"
                        )));
                    }
                    entries.push(Entry::from_search(SearchEntry::construct(entry)));
                }
                Ok(None) => break,
                Err(e) => return Err(SearchError::Failed(operation_reason(&doing, &e))),
            }
        }
        let done = stream.result();
        match done.rc {
            0 => Ok(entries),
            NO_SUCH_OBJECT => Err(SearchError::NoSuchObject(format!(
                "{base} does not exist (searching {what})"
            ))),
            rc => Err(SearchError::Failed(result_reason(&doing, rc, &done.text))),
        }
    }

    /// One unpaged search (small answers): entries only, referrals dropped.
    fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attributes: &[&str],
        what: &str,
    ) -> Result<Vec<Entry>, SearchError> {
        let left = self
            .left(&format!("to read {what}"))
            .map_err(SearchError::Failed)?;
        let doing = format!("the search for {what}");
        let ldap3::SearchResult(entries, result) = self
            .connection
            .with_timeout(left)
            .search(base, scope, filter, attributes.to_vec())
            .map_err(|e| SearchError::Failed(operation_reason(&doing, &e)))?;
        if result.rc == NO_SUCH_OBJECT {
            return Err(SearchError::NoSuchObject(format!(
                "{base} does not exist (searching {what})"
            )));
        }
        if result.rc != 0 {
            return Err(SearchError::Failed(result_reason(
                &doing,
                result.rc,
                &result.text,
            )));
        }
        Ok(entries
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .map(|e| Entry::from_search(SearchEntry::construct(e)))
            .collect())
    }
}

/// What a session's directory read returns.
struct Read {
    organisation: String,
    auth_config: AuthConfigRecord,
    servers: Vec<DirectoryServer>,
    hybrid_configuration: bool,
    auth_servers: Vec<AuthServerRecord>,
    partner_applications: Vec<PartnerApplicationRecord>,
}

/// Why a search failed; a missing base is an answer for optional objects.
enum SearchError {
    NoSuchObject(String),
    Failed(String),
}

impl From<SearchError> for String {
    fn from(error: SearchError) -> String {
        match error {
            SearchError::NoSuchObject(reason) | SearchError::Failed(reason) => reason,
        }
    }
}

const INVALID_CREDENTIALS: u32 = 49;
const NO_SUCH_OBJECT: u32 = 32;

/// Trust as `--metadata` has it: the webpki roots plus `--ca-file`, or none with `--insecure`.
fn tls_config(options: &LdapOptions) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let config = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny { provider }))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for root in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            let _ = roots.add(root.clone());
        }
        for der in &options.extra_roots {
            roots
                .add(rustls_pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| format!("--ca-file: {e}"))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// `--insecure`: any server certificate is accepted; the handshake's signatures are still
/// checked, so the session is encrypted to whoever answered.
#[derive(Debug)]
struct AcceptAny {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn bind_reason(rc: u32, text: &str, user: &str) -> String {
    match rc {
        INVALID_CREDENTIALS => format!(
            "the bind as '{user}' was refused: invalid credentials (wrong user or password, or the account is locked or expired)"
        ),
        _ => result_reason(&format!("the bind as '{user}'"), rc, text),
    }
}

fn result_reason(doing: &str, rc: u32, text: &str) -> String {
    let text = text.trim();
    let detail = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    };
    format!(
        "{doing} failed with LDAP result {rc} ({}){detail}",
        result_name(rc)
    )
}

/// RFC 4511 result codes an admin may meet here.
fn result_name(rc: u32) -> &'static str {
    match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        13 => "confidentialityRequired",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        _ => "see RFC 4511",
    }
}

/// Why the connection (TLS, StartTLS) failed, in an admin's words.
fn connect_reason(error: &LdapError, security: LdapSecurity) -> String {
    match error {
        LdapError::Timeout { .. } => "no time left (-t) during the TLS handshake".into(),
        LdapError::LdapResult { result } if security == LdapSecurity::StartTls => format!(
            "the domain controller refused StartTLS ({}); a clear-text bind is never made: use ldaps:// or enable StartTLS",
            result_reason("StartTLS", result.rc, &result.text)
        ),
        LdapError::Io { source } => match source
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls_error) => format!("TLS handshake: {}", tls::tls_reason(tls_error)),
            None => format!("TLS handshake: {source}"),
        },
        other => format!("connection: {other}"),
    }
}

fn operation_reason(doing: &str, error: &LdapError) -> String {
    match error {
        LdapError::Timeout { .. } => format!("no time left (-t) during {doing}"),
        LdapError::LdapResult { result } => result_reason(doing, result.rc, &result.text),
        other => format!("{doing} failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn urls_are_ldaps_or_starttls_only() {
        let ldaps = LdapEndpoint::parse("ldaps://dc1.contoso.lab").unwrap();
        assert_eq!((ldaps.port, ldaps.security), (636, LdapSecurity::Ldaps));
        let starttls = LdapEndpoint::parse("LDAP://dc1.contoso.lab:3389/").unwrap();
        assert_eq!(
            (starttls.port, starttls.security),
            (3389, LdapSecurity::StartTls)
        );
        assert_eq!(starttls.origin(), "ldap://dc1.contoso.lab:3389");
        for bad in [
            "dc1.contoso.lab",
            "ldapi:///var/run/slapd",
            "https://dc1",
            "ldaps://dc1/dc=contoso,dc=lab",
            "ldaps://user@dc1",
            "ldaps://",
        ] {
            assert!(LdapEndpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn thumbprints_by_prefix_or_single() {
        let a = "E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786";
        let b = "BC6BF924D6EF046E64F8D1987DC1D7D2F4C0042A";
        let AuthThumbprints {
            current,
            previous,
            next,
        } = auth_thumbprints(&[format!("2:{b}"), format!("0:{a}")]).unwrap();
        assert_eq!(current.unwrap().as_str(), a);
        assert_eq!(previous, None);
        assert_eq!(next.unwrap().as_str(), b);
        let single = auth_thumbprints(&[a.to_string()]).unwrap();
        assert_eq!(single.current.unwrap().as_str(), a);
        assert!(auth_thumbprints(&[a.to_string(), format!("1:{b}")]).is_err());
        assert!(auth_thumbprints(&[format!("7:{a}")]).is_err());
        assert!(auth_thumbprints(&["0:nothex".to_string()]).is_err());
        assert_eq!(auth_thumbprints(&[]).unwrap(), AuthThumbprints::default());
    }

    #[test]
    fn dates_as_generalized_time_or_filetime() {
        let at = time("2023-02-03T14:16:02Z");
        assert_eq!(directory_time("20230203141602.0Z").unwrap(), Some(at));
        assert_eq!(directory_time("20230203141602Z").unwrap(), Some(at));
        assert_eq!(directory_time("20230203151602+0100").unwrap(), Some(at));
        assert_eq!(
            directory_time("20230203141602.5Z").unwrap(),
            Some(at + chrono::Duration::milliseconds(500))
        );
        // 2023-02-03T14:16:02Z as FILETIME.
        let ticks = (at.timestamp() + 11_644_473_600) * 10_000_000;
        assert_eq!(directory_time(&ticks.to_string()).unwrap(), Some(at));
        assert_eq!(directory_time("0").unwrap(), None);
        assert_eq!(directory_time(&i64::MAX.to_string()).unwrap(), None);
        for bad in ["2023-02-03", "20231303141602Z", "20230203141602", "x", ""] {
            assert!(directory_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_fqdn_site_version() {
        assert_eq!(role_names(2), ["Mailbox"]);
        assert_eq!(role_names(64), ["Edge"]);
        // An Exchange 2016/2019 Mailbox server: Cafe, Mailbox, ClientAccess, UM, Hub, FrontendTransport.
        assert_eq!(
            role_names(16439),
            [
                "Cafe",
                "Mailbox",
                "ClientAccess",
                "UnifiedMessaging",
                "HubTransport",
                "FrontendTransport"
            ]
        );
        let addresses: Vec<String> = [
            "ncacn_vns_spp:EXCH01",
            "netbios:EXCH01",
            "ncacn_ip_tcp:exch01.contoso.lab",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(fqdn_of(&addresses).as_deref(), Some("exch01.contoso.lab"));
        assert_eq!(fqdn_of(&addresses[..2]), None);
        assert_eq!(
            first_rdn_value("CN=Site-B,CN=Sites,CN=Configuration,DC=contoso,DC=lab").as_deref(),
            Some("Site-B")
        );
        assert_eq!(first_rdn_value(r"CN=a\,b,DC=x").as_deref(), Some("a,b"));
        assert_eq!(first_rdn_value(""), None);
        assert_eq!(major_from_text("Version 15.2 (Build 1544.4)"), Some(15));
        assert_eq!(major_from_text("Version 14.3 (Build 123.4)"), Some(14));
    }

    #[test]
    fn entries_become_records() {
        let mut entry = Entry {
            dn: "CN=EDGE1,CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=lab".into(),
            ..Entry::default()
        };
        entry.text.insert(
            "mSExchCurrentServerRoles".to_ascii_lowercase(),
            vec!["64".into()],
        );
        entry.text.insert(
            "serialnumber".into(),
            vec!["Version 15.2 (Build 1544.4)".into()],
        );
        entry
            .binary
            .insert("msexchserverinternaltlscert".into(), vec![vec![0x30, 0x82]]);
        let server = server_of(&entry).unwrap();
        assert_eq!(server.server.name, "EDGE1");
        assert!(server.server.is_edge);
        assert_eq!(server.server.major_version, Some(15));
        assert_eq!(server.internal_transport_der, Some(vec![0x30, 0x82]));

        entry
            .text
            .insert("msexchcurrentserverroles".into(), vec!["many".into()]);
        assert!(server_of(&entry).unwrap_err().contains("not a number"));

        let mut config = Entry {
            dn: "CN=Auth Configuration,CN=Contoso".into(),
            ..Entry::default()
        };
        config.text.insert(
            "msexchauthnexteffectivedate".into(),
            vec!["20230203141602.0Z".into()],
        );
        config
            .text
            .insert("whenchanged".into(), vec!["20230104120000.0Z".into()]);
        let read = auth_config_of(&config).unwrap();
        assert_eq!(read.next_effective, Some(time("2023-02-03T14:16:02Z")));
        assert_eq!(read.changed_at, Some(time("2023-01-04T12:00:00Z")));
        config
            .text
            .insert("msexchauthnexteffectivedate".into(), vec!["soon".into()]);
        assert!(auth_config_of(&config).is_err());
    }

    #[test]
    fn auth_server_types_by_number_or_name() {
        assert_eq!(auth_server_type_name("5"), "AzureAD");
        assert_eq!(auth_server_type_name(" azuread "), "AzureAD");
        assert_eq!(auth_server_type_name("1"), "MicrosoftACS");
        assert_eq!(auth_server_type_name("MicrosoftACS"), "MicrosoftACS");
        assert_eq!(auth_server_type_name("4"), "ADFS");
        assert_eq!(auth_server_type_name("0"), "Unknown");
        // Outside Exchange's enum: kept as stored, so it is no known type.
        assert_eq!(auth_server_type_name("9"), "9");
        assert_eq!(auth_server_type_name("evoSTS"), "evoSTS");
    }

    #[test]
    fn auth_objects_become_records() {
        let mut server = Entry {
            dn: "CN=EvoSts - 1234,CN=Auth Servers,CN=Auth Configuration,CN=Contoso".into(),
            ..Entry::default()
        };
        server
            .text
            .insert("msexchauthauthservertype".into(), vec!["5".into()]);
        server.text.insert(
            "msexchauthapplicationidentifier".into(),
            vec!["a1b2c3d4-0000-4000-8000-00000000abcd".into()],
        );
        // No msExchAuthFlags: Exchange's default, enabled.
        let record = auth_server_of(&server).unwrap();
        assert_eq!(record.name, "EvoSts - 1234");
        assert_eq!(record.server_type.as_deref(), Some("AzureAD"));
        assert!(record.enabled);
        assert_eq!(
            record.application_identifier.as_deref(),
            Some("a1b2c3d4-0000-4000-8000-00000000abcd")
        );
        // Bit 0 is Enabled; bit 1 (IsDefaultAuthorizationEndpoint) is not.
        for (flags, enabled) in [("0", false), ("2", false), ("1", true), ("3", true)] {
            server
                .text
                .insert("msexchauthflags".into(), vec![flags.into()]);
            assert_eq!(auth_server_of(&server).unwrap().enabled, enabled, "{flags}");
        }
        server
            .text
            .insert("msexchauthflags".into(), vec!["on".into()]);
        assert!(
            auth_server_of(&server)
                .unwrap_err()
                .contains("msExchAuthFlags 'on' is not a number")
        );

        let mut application = Entry {
            dn: "CN=Exchange Online,CN=Partner Applications,CN=Auth Configuration,CN=Contoso"
                .into(),
            ..Entry::default()
        };
        application.text.insert(
            "msexchauthapplicationidentifier".into(),
            vec!["00000002-0000-0ff1-ce00-000000000000".into()],
        );
        application
            .text
            .insert("msexchauthflags".into(), vec!["0".into()]);
        let record = partner_application_of(&application).unwrap();
        assert_eq!(record.name, "Exchange Online");
        assert!(!record.enabled);
        application.text.insert(
            "objectclass".into(),
            vec!["top".into(), "msExchAuthPartnerApplication".into()],
        );
        assert!(has_class(&application, "msexchauthpartnerapplication"));
        assert!(!has_class(&application, "msExchAuthAuthServer"));
    }
}
