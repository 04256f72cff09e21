//! What each server's own Auth metadata endpoint says of its store (`--probe-servers`) -> the
//! one state, as [`Inventory::Probed`].
//!
//! Exchange builds `https://<server>/autodiscover/metadata/json/1` from the serving server's
//! local machine store (decompiled Exchange: AuthMetadataBuilder, OAuthConfigHelper; DOMAIN.md
//! section 8):
//! - it publishes AuthConfig's current and previous certificates, each only while valid, and
//!   never the next one: a published key is a certificate that server holds;
//! - it cannot serve the document when the current certificate, or its private key, is
//!   missing there: an error answer means the current certificate is absent (or broken) on
//!   that server;
//! - it caches the document up to 12 hours, so shortly after a rotation a server can still
//!   publish the old pair: a current certificate it does not publish is unknown there, not
//!   missing.
//!
//! A server whose store another input read (a bundle, `--certificates`) keeps that store: it
//! lists every certificate, which a probe cannot.

use super::{Certificate, ExchangeState, Inventory, ProbedStore, Sighting, Thumbprint};
use crate::source::metadata::{FetchError, MetadataRecord};

impl ExchangeState {
    /// Records the answer of `server`'s metadata endpoint at `url`. Call once AuthConfig is
    /// known (the refusal's meaning names its current certificate).
    pub fn add_probe(
        &mut self,
        server: &str,
        url: &str,
        answer: Result<MetadataRecord, FetchError>,
    ) {
        let Some(position) = self.server_position(server) else {
            debug_assert!(false, "probe of unknown server {server}");
            return;
        };
        if matches!(self.servers[position].inventory, Inventory::Known { .. }) {
            return;
        }
        let refusal = |reason: String, state: &ExchangeState| ProbedStore {
            origin: url.to_string(),
            published: Vec::new(),
            absent: state
                .auth_config
                .as_ref()
                .and_then(|config| config.current.clone())
                .into_iter()
                .collect(),
            refused: Some(reason),
        };
        let inventory = match answer {
            Ok(document) => {
                let published = self.add_published_keys(position, url, document);
                Inventory::Probed(ProbedStore {
                    origin: url.to_string(),
                    published,
                    absent: Vec::new(),
                    refused: None,
                })
            }
            Err(FetchError::Unreachable(reason)) => Inventory::Unreachable {
                reason: format!("{url}: {reason}"),
            },
            Err(FetchError::Http(reason)) => Inventory::Probed(refusal(reason, self)),
            Err(FetchError::Invalid(reason)) => Inventory::Probed(refusal(
                format!("not the metadata document: {reason}"),
                self,
            )),
        };
        self.servers[position].inventory = inventory;
    }

    /// Adds the certificates a server publishes as certificates of its store; returns their
    /// thumbprints. A key whose `x5t` does not match its certificate is not taken as published.
    fn add_published_keys(
        &mut self,
        position: usize,
        url: &str,
        document: MetadataRecord,
    ) -> Vec<Thumbprint> {
        let name = self.servers[position].name.clone();
        let mut published = Vec::new();
        for key in document.keys {
            let Ok(der) = key.der else { continue };
            if key
                .x5t
                .as_deref()
                .is_some_and(|x5t| x5t != crate::types::x5t_of(&der))
            {
                continue;
            }
            let Ok(certificate) = Certificate::from_der(&der) else {
                continue;
            };
            let thumbprint = certificate.thumbprint.clone();
            let sighting = Sighting {
                server: Some(name.clone()),
                ..Sighting::from_origin(format!("probe {url}"))
            };
            self.add_store_certificate(certificate, position, sighting);
            if !published.contains(&thumbprint) {
                published.push(thumbprint);
            }
        }
        published
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::metadata::PublishedKeyRecord;
    use crate::source::records::{AuthConfigRecord, ServerRecord};
    use crate::test_support::self_signed_der as der;

    fn state_with(current: &[u8]) -> ExchangeState {
        let mut state = ExchangeState::default();
        state.add_server_list(vec![ServerRecord {
            name: "EXCH01".into(),
            fqdn: Some("exch01.contoso.lab".into()),
            site: None,
            version: None,
            major_version: Some(15),
            roles: vec!["Mailbox".into()],
            is_edge: false,
        }]);
        state
            .set_auth_config(
                AuthConfigRecord {
                    current: Some(Thumbprint::of_der(current)),
                    ..AuthConfigRecord::default()
                },
                "ldap",
            )
            .unwrap();
        state
    }

    fn document(keys: &[(&[u8], Option<String>)]) -> MetadataRecord {
        MetadataRecord {
            origin: "u".into(),
            issuer: None,
            realm: None,
            service_name: None,
            keys: keys
                .iter()
                .map(|(der, x5t)| PublishedKeyRecord {
                    usage: Some("signing".into()),
                    x5t: x5t.clone(),
                    der: Ok(der.to_vec()),
                })
                .collect(),
        }
    }

    const URL: &str = "https://exch01.contoso.lab/autodiscover/metadata/json/1";

    #[test]
    fn a_published_current_certificate_is_held() {
        let current = der("Microsoft Exchange Server Auth Certificate");
        let mut state = state_with(&current);
        let x5t = crate::types::x5t_of(&current);
        state.add_probe("EXCH01", URL, Ok(document(&[(&current, Some(x5t))])));
        let server = state.server("EXCH01").unwrap();
        assert_eq!(server.holds(&Thumbprint::of_der(&current)), Some(true));
        let entry = state.certificate(&Thumbprint::of_der(&current)).unwrap();
        assert_eq!(entry.sightings[0].server.as_deref(), Some("EXCH01"));
    }

    #[test]
    fn a_refusal_means_the_current_certificate_is_absent() {
        let current = der("Microsoft Exchange Server Auth Certificate");
        let mut state = state_with(&current);
        state.add_probe("EXCH01", URL, Err(FetchError::Http("HTTP 500".into())));
        let server = state.server("EXCH01").unwrap();
        assert_eq!(server.holds(&Thumbprint::of_der(&current)), Some(false));
        assert!(server.is_observed());
    }

    #[test]
    fn an_unpublished_current_certificate_is_unknown_and_a_wrong_x5t_is_not_published() {
        let current = der("Microsoft Exchange Server Auth Certificate");
        let other = der("Old Auth");
        let mut state = state_with(&current);
        state.add_probe(
            "EXCH01",
            URL,
            Ok(document(&[
                (&current, Some("wrong".into())),
                (&other, None),
            ])),
        );
        let server = state.server("EXCH01").unwrap();
        assert_eq!(server.holds(&Thumbprint::of_der(&current)), None);
        assert_eq!(server.holds(&Thumbprint::of_der(&other)), Some(true));
    }

    #[test]
    fn an_unreachable_server_is_unreachable() {
        let current = der("Microsoft Exchange Server Auth Certificate");
        let mut state = state_with(&current);
        state.add_probe(
            "EXCH01",
            URL,
            Err(FetchError::Unreachable("connection refused".into())),
        );
        let server = state.server("EXCH01").unwrap();
        assert!(!server.is_reachable());
        assert!(
            matches!(&server.inventory, Inventory::Unreachable { reason } if reason.contains(URL))
        );
    }
}
