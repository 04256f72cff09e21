//! What Active Directory says (`--ldap`) -> the one state, through the same building API as
//! every other input: AuthConfig, the server list, and each server's internal transport
//! certificate as a model certificate.
//!
//! What AD cannot say, and how the state reflects it:
//! - The Auth Certificates themselves (their DER) are in no AD attribute: AuthConfig names them
//!   by thumbprint only. Their expiry comes from another input in the same run (`--metadata`,
//!   which publishes the current and previous ones; never the next).
//! - A server's certificate store is not in AD. So no store is recorded ([`Inventory`] stays
//!   `NotCollected`), and nothing can say whether a server holds the Auth Certificate. Until a
//!   per-server probe (`--probe-servers`) reads the stores, the servers from AD are listed for
//!   what they are (name, FQDN, site, version, roles) but not marked as required holders, so
//!   the run does not report every server "not collected": see [`ExchangeState::add_directory`].
//! - The internal transport certificate's DER *is* in AD (`msExchServerInternalTLSCert`). It is
//!   added as a certificate seen in the directory, its origin naming the server, and judged by
//!   its own expiry with the self-signed thresholds (it is not in a read store, so the
//!   store rules do not see it).
//!
//! [`Inventory`]: super::Inventory

use super::build::model_error;
use super::organisation::Hybrid;
use super::{Certificate, ExchangeState, ModelError, Server, Sighting};
use crate::source::ldap::DirectoryRecord;

impl ExchangeState {
    /// Adds the directory's AuthConfig and servers. `stores_observed` says whether another
    /// input of this run reads the servers' stores (bundle, exports, probes): only then are the
    /// Mailbox/Client Access servers required to hold the Auth Certificate, as
    /// `Get-ExchangeServer` makes them; otherwise requiring them would make every LDAP run
    /// UNKNOWN for a fact no input of the run can observe.
    pub fn add_directory(
        &mut self,
        directory: DirectoryRecord,
        stores_observed: bool,
    ) -> Result<(), ModelError> {
        let origin = directory.origin.clone();
        self.set_auth_config(directory.auth_config, &origin)?;
        // Only the HybridConfiguration object is read from AD (not the AuthServer and
        // partner application objects HealthChecker also looks at).
        self.hybrid.merge(Hybrid {
            configuration: Some(directory.hybrid_configuration),
            ..Hybrid::default()
        });
        self.hybrid_detected = self.hybrid.detected();
        let records = directory.servers.iter().map(|s| s.server.clone()).collect();
        self.add_server_list(records);
        if !stores_observed {
            for server in &mut self.servers {
                server.requires_auth_certificate = false;
            }
        }
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
        }
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
        // Nothing in this run reads stores: nobody is required to hold the Auth Certificate.
        assert!(state.servers.iter().all(|s| !s.requires_auth_certificate));
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
