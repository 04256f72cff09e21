//! What Active Directory says (`--ldap`) -> the one state, through the same building API as
//! every other input: AuthConfig, the server list, and each server's internal transport
//! certificate as a model certificate.
//!
//! What AD cannot say, and how the state reflects it:
//! - The Auth Certificates themselves (their DER) are in no AD attribute: AuthConfig names them
//!   by thumbprint only. Their expiry comes from another input in the same run (`--metadata`,
//!   which publishes the current and previous ones; never the next).
//! - A server's certificate store is not in AD. So no store is recorded ([`Inventory`] stays
//!   `NotCollected`), and nothing can say whether a server holds the Auth Certificate. Without
//!   per-server probes (`--probe-servers`) or store exports, the servers from AD are listed for
//!   what they are (name, FQDN, site, version, roles, required to hold the Auth Certificate as
//!   MEAC selects them) and the state says that its stores are not observable, so the run does
//!   not report every server "not collected": see [`ExchangeState::add_directory`].
//! - The internal transport certificate's DER *is* in AD (`msExchServerInternalTLSCert`). It is
//!   added as a certificate seen in the directory, its origin naming the server, and judged by
//!   its own expiry with the self-signed thresholds (it is not in a read store, so the
//!   store rules do not see it).
//!
//! - Hybrid: all three of HealthChecker's signs are in AD (the HybridConfiguration object, the
//!   AuthServers, the partner applications), so a directory read answers each of them, `false`
//!   where the objects do not exist.
//!
//! [`Inventory`]: super::Inventory

use super::build::model_error;
use super::organisation::Hybrid;
use super::{Certificate, ExchangeState, ModelError, Server, Sighting};
use crate::source::ldap::{AuthServerRecord, DirectoryRecord, PartnerApplicationRecord};

/// The Exchange Online first-party application's id (HealthChecker's partner application test).
pub const EXCHANGE_ONLINE_APPLICATION_ID: &str = "00000002-0000-0ff1-ce00-000000000000";

/// `Get-AuthServer | Where-Object { $_.Type.ToString() -eq $type -and $_.Enabled -eq $true }`.
fn enabled_of_type<'a>(
    servers: &'a [AuthServerRecord],
    server_type: &'a str,
) -> impl Iterator<Item = &'a AuthServerRecord> {
    servers
        .iter()
        .filter(move |s| s.enabled && s.server_type.as_deref() == Some(server_type))
}

/// HealthChecker's "OAuth to Exchange Online" (CSS-Exchange Diagnostics/HealthChecker/Analyzer/
/// Invoke-AnalyzerHybridInformation.ps1, `$oAuthConfigured`; the collector's Get-HybridEntry in
/// plugins/windows/Export-ExchangeAuthState.ps1 records the same): an enabled `AzureAD` (evoSTS)
/// or `MicrosoftACS` AuthServer, and the enabled partner application
/// `00000002-0000-0ff1-ce00-000000000000` (PowerShell's `-eq`: any case).
pub fn oauth_to_exchange_online(
    servers: &[AuthServerRecord],
    applications: &[PartnerApplicationRecord],
) -> bool {
    let token_issuer = enabled_of_type(servers, "AzureAD")
        .chain(enabled_of_type(servers, "MicrosoftACS"))
        .next()
        .is_some();
    let exchange_online = applications.iter().any(|a| {
        a.enabled
            && a.application_identifier
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(EXCHANGE_ONLINE_APPLICATION_ID))
    });
    token_issuer && exchange_online
}

/// HealthChecker's dedicated hybrid application (Invoke-AnalyzerHybridInformation.ps1,
/// `$dedicatedHybridAppAuthServer`; the collector records the same): an enabled `AzureAD`
/// AuthServer whose ApplicationIdentifier `-match`es a GUID, i.e. contains one anywhere, any
/// case (ConfigureExchangeHybridApplication.ps1 sets it to the application's id).
pub fn dedicated_hybrid_application(servers: &[AuthServerRecord]) -> bool {
    enabled_of_type(servers, "AzureAD").any(|s| {
        s.application_identifier
            .as_deref()
            .is_some_and(contains_guid)
    })
}

/// HealthChecker's `$guidRegEx` unanchored: 8-4-4-4-12 hexadecimal digits somewhere in `text`.
fn contains_guid(text: &str) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let is_guid = |candidate: &[u8]| {
        let mut at = 0;
        GROUPS.iter().enumerate().all(|(i, &length)| {
            let hex = candidate[at..at + length].iter().all(u8::is_ascii_hexdigit);
            at += length;
            let dash = i == GROUPS.len() - 1 || candidate[at] == b'-';
            at += 1;
            hex && dash
        })
    };
    text.as_bytes().windows(36).any(is_guid)
}

impl ExchangeState {
    /// Adds the directory's AuthConfig and servers. `stores_observed` says whether another
    /// input of this run reads the servers' stores (exports, probes): when none does, the
    /// stores are marked not observable, so that a required server whose store nobody read is
    /// not reported "not collected" (every LDAP run would be UNKNOWN for a fact no input of the
    /// run can observe).
    pub fn add_directory(
        &mut self,
        directory: DirectoryRecord,
        stores_observed: bool,
    ) -> Result<(), ModelError> {
        let origin = directory.origin.clone();
        self.set_auth_config(directory.auth_config, &origin)?;
        // The directory was read: a sign whose objects are missing is a known `false`.
        self.hybrid.merge(Hybrid {
            configuration: Some(directory.hybrid_configuration),
            oauth_to_exchange_online: Some(oauth_to_exchange_online(
                &directory.auth_servers,
                &directory.partner_applications,
            )),
            dedicated_application: Some(dedicated_hybrid_application(&directory.auth_servers)),
        });
        self.hybrid_detected = self.hybrid.detected();
        let records = directory.servers.iter().map(|s| s.server.clone()).collect();
        self.add_server_list(records);
        self.stores_unobservable = !stores_observed;
        for server in directory.servers {
            let Some(der) = server.internal_transport_der else {
                continue;
            };
            let name = &server.server.name;
            let certificate = Certificate::from_der(&der).map_err(|e| {
                model_error(&origin, format!("{name}: msExchServerInternalTLSCert: {e}"))
            })?;
            let key = Server::key_of(name);
            if let Some(listed) = self.servers.iter_mut().find(|s| s.key() == key) {
                listed.internal_transport_certificate = Some(certificate.thumbprint.clone());
            }
            let sighting = Sighting {
                ..Sighting::from_origin(format!(
                    "{origin} (internal transport certificate of {name}, msExchServerInternalTLSCert)"
                ))
            };
            self.add_certificate(certificate, sighting);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::ldap::DirectoryServer;
    use crate::source::records::{AuthConfigRecord, ServerRecord};
    use crate::test_support::self_signed_der as der;
    use crate::types::Thumbprint;

    fn server(name: &str, roles: &[&str], transport: Option<Vec<u8>>) -> DirectoryServer {
        DirectoryServer {
            server: ServerRecord {
                name: name.into(),
                fqdn: Some(format!("{}.contoso.lab", name.to_lowercase())),
                site: Some("Site-A".into()),
                version: Some("Version 15.2 (Build 1544.4)".into()),
                major_version: Some(15),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                is_edge: roles.contains(&"Edge"),
            },
            internal_transport_der: transport,
        }
    }

    fn directory(servers: Vec<DirectoryServer>) -> DirectoryRecord {
        DirectoryRecord {
            origin: "ldaps://dc1:636".into(),
            organisation: "Contoso".into(),
            auth_config: AuthConfigRecord {
                current: Thumbprint::parse("E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786"),
                ..AuthConfigRecord::default()
            },
            servers,
            hybrid_configuration: false,
            auth_servers: Vec::new(),
            partner_applications: Vec::new(),
        }
    }

    fn auth_server(server_type: &str, enabled: bool, application: &str) -> AuthServerRecord {
        AuthServerRecord {
            name: format!("{server_type} - test"),
            server_type: Some(server_type.into()),
            enabled,
            application_identifier: (!application.is_empty()).then(|| application.into()),
        }
    }

    fn partner(application: &str, enabled: bool) -> PartnerApplicationRecord {
        PartnerApplicationRecord {
            name: "Exchange Online".into(),
            enabled,
            application_identifier: Some(application.into()),
        }
    }

    const APP_GUID: &str = "a1b2c3d4-0000-4000-8000-00000000abcd";

    #[test]
    fn oauth_to_exchange_online_as_healthchecker_tests_it() {
        let exo = [partner(EXCHANGE_ONLINE_APPLICATION_ID, true)];
        let evo = [auth_server("AzureAD", true, "")];
        let acs = [auth_server("MicrosoftACS", true, "")];
        assert!(oauth_to_exchange_online(&evo, &exo));
        assert!(oauth_to_exchange_online(&acs, &exo));
        // `-eq` ignores case.
        let upper = [partner(
            &EXCHANGE_ONLINE_APPLICATION_ID.to_uppercase(),
            true,
        )];
        assert!(oauth_to_exchange_online(&evo, &upper));
        // Each half alone, a disabled half, or another type is not enough.
        assert!(!oauth_to_exchange_online(&evo, &[]));
        assert!(!oauth_to_exchange_online(&[], &exo));
        assert!(!oauth_to_exchange_online(
            &[auth_server("AzureAD", false, "")],
            &exo
        ));
        assert!(!oauth_to_exchange_online(
            &evo,
            &[partner(EXCHANGE_ONLINE_APPLICATION_ID, false)]
        ));
        assert!(!oauth_to_exchange_online(
            &[auth_server("ADFS", true, "")],
            &exo
        ));
        assert!(!oauth_to_exchange_online(
            &evo,
            &[partner("00000004-0000-0ff1-ce00-000000000000", true)]
        ));
    }

    #[test]
    fn the_dedicated_application_is_an_enabled_evosts_with_a_guid() {
        assert!(dedicated_hybrid_application(&[auth_server(
            "AzureAD", true, APP_GUID
        )]));
        // `-match` is unanchored and ignores case.
        let embedded = format!("app {} here", APP_GUID.to_uppercase());
        assert!(dedicated_hybrid_application(&[auth_server(
            "AzureAD", true, &embedded
        )]));
        assert!(!dedicated_hybrid_application(&[auth_server(
            "AzureAD", false, APP_GUID
        )]));
        assert!(!dedicated_hybrid_application(&[auth_server(
            "MicrosoftACS",
            true,
            APP_GUID
        )]));
        assert!(!dedicated_hybrid_application(&[auth_server(
            "AzureAD", true, ""
        )]));
        assert!(!dedicated_hybrid_application(&[auth_server(
            "AzureAD",
            true,
            "not-a-guid"
        )]));
        assert!(!contains_guid("a1b2c3d4-0000-4000-8000-00000000abc"));
        assert!(!contains_guid("a1b2c3d4_0000-4000-8000-00000000abcd"));
    }

    #[test]
    fn the_directory_answers_every_hybrid_sign() {
        let mut state = ExchangeState::default();
        state.add_directory(directory(Vec::new()), false).unwrap();
        assert_eq!(
            state.hybrid,
            Hybrid {
                configuration: Some(false),
                oauth_to_exchange_online: Some(false),
                dedicated_application: Some(false),
            }
        );
        let mut record = directory(Vec::new());
        record.auth_servers = vec![auth_server("AzureAD", true, APP_GUID)];
        record.partner_applications = vec![partner(EXCHANGE_ONLINE_APPLICATION_ID, true)];
        let mut state = ExchangeState::default();
        state.add_directory(record, false).unwrap();
        assert_eq!(state.hybrid.oauth_to_exchange_online, Some(true));
        assert_eq!(state.hybrid.dedicated_application, Some(true));
        assert_eq!(state.hybrid_detected, Some(true));
    }

    #[test]
    fn servers_and_transport_certificates_from_the_directory() {
        let transport = der("EXCH01");
        let mut state = ExchangeState::default();
        state
            .add_directory(
                directory(vec![
                    server("EXCH01", &["Mailbox"], Some(transport.clone())),
                    server("EDGE1", &["Edge"], None),
                ]),
                false,
            )
            .unwrap();
        assert_eq!(state.servers.len(), 2);
        let exch01 = state.server("exch01").unwrap();
        assert_eq!(
            exch01.internal_transport_certificate,
            Some(Thumbprint::of_der(&transport))
        );
        // Nothing in this run reads stores: the servers keep their role, the stores are not
        // observable.
        assert!(state.server("EXCH01").unwrap().requires_auth_certificate);
        assert!(!state.stores_observable());
        let entry = state.certificate(&Thumbprint::of_der(&transport)).unwrap();
        assert!(entry.sightings[0].origin.contains("EXCH01"));
        assert_eq!(entry.sightings[0].server, None);
        assert!(state.auth_config.as_ref().unwrap().current.is_some());
        assert_eq!(state.hybrid_detected, Some(false));
    }

    #[test]
    fn servers_are_required_when_stores_are_observed() {
        let mut state = ExchangeState::default();
        state
            .add_directory(
                directory(vec![
                    server("EXCH01", &["Mailbox"], None),
                    server("EDGE1", &["Edge"], None),
                ]),
                true,
            )
            .unwrap();
        assert!(state.server("EXCH01").unwrap().requires_auth_certificate);
        assert!(!state.server("EDGE1").unwrap().requires_auth_certificate);
    }

    #[test]
    fn a_broken_transport_certificate_names_its_server() {
        let mut state = ExchangeState::default();
        let err = state
            .add_directory(
                directory(vec![server("EXCH01", &["Mailbox"], Some(vec![1, 2, 3]))]),
                false,
            )
            .unwrap_err();
        assert!(
            err.reason
                .starts_with("EXCH01: msExchServerInternalTLSCert"),
            "{err}"
        );
    }
}
