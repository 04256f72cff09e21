//! Certificates that no server's store lists: certificate files (`--cert`), the chains TLS
//! endpoints present (`--tls`) and the keys of the Auth metadata document (`--metadata`).
//!
//! Like the stores' certificates in [`super::build`], each becomes a model [`Certificate`]
//! here and nowhere else: the options only hand over what the readers and fetchers returned.

use super::build::{ModelError, model_error};
use super::{
    Certificate, ExchangeState, MetadataProblem, PublishedKey, PublishedMetadata, Sighting,
};
use crate::source::metadata::{FetchError, MetadataRecord};
use crate::source::tls::NetError;

impl ExchangeState {
    /// The certificates of one certificate file, all or none: one that cannot be read fails
    /// the file, named by its position when the file holds several.
    pub fn add_certificate_file(
        &mut self,
        ders: &[Vec<u8>],
        origin: &str,
    ) -> Result<(), ModelError> {
        let count = ders.len();
        let certificates = ders
            .iter()
            .enumerate()
            .map(|(position, der)| {
                Certificate::from_der(der).map_err(|e| {
                    let which = if count > 1 {
                        format!("certificate {} of {count}: ", position + 1)
                    } else {
                        String::new()
                    };
                    model_error(origin, format!("{which}{e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for certificate in certificates {
            self.add_certificate(certificate, Sighting::from_origin(origin));
        }
        Ok(())
    }

    /// What a `--tls` endpoint presented (its chain, leaf first), or why it could not be
    /// reached: the leaf, or with `whole_chain` every certificate. An endpoint's failure is a
    /// finding about the endpoint, never an input error.
    pub fn add_tls_chain(
        &mut self,
        origin: String,
        fetched: Result<Vec<Vec<u8>>, NetError>,
        whole_chain: bool,
    ) {
        let chain = match fetched {
            Ok(chain) => chain,
            Err(reason) => {
                self.unreachable_endpoints.push((origin, reason.0));
                return;
            }
        };
        let wanted = if whole_chain { chain.len() } else { 1 };
        for (position, der) in chain.iter().take(wanted).enumerate() {
            let sighting = if position == 0 {
                origin.clone()
            } else {
                format!("{origin}, chain element {}", position + 1)
            };
            match Certificate::from_der(der) {
                Ok(certificate) => {
                    self.add_certificate(certificate, Sighting::from_origin(sighting))
                }
                Err(e) => self.unreachable_endpoints.push((
                    sighting,
                    format!("presented a certificate that cannot be read: {e}"),
                )),
            }
        }
    }

    /// The Auth metadata document, read from a file or fetched.
    pub fn set_metadata(&mut self, record: MetadataRecord) {
        self.published = Some(PublishedMetadata::from_record(record));
    }

    /// The outcome of fetching the metadata document at `url`: the document, a server that
    /// answered with something unusable, or one that could not be reached.
    pub fn set_fetched_metadata(&mut self, url: &str, fetched: Result<MetadataRecord, FetchError>) {
        match fetched {
            Ok(record) => self.set_metadata(record),
            Err(FetchError::Unreachable(reason)) => {
                self.unreachable_endpoints.push((url.to_string(), reason));
            }
            Err(FetchError::Http(reason)) => {
                self.published = Some(PublishedMetadata::unusable(
                    url,
                    MetadataProblem::Http(reason),
                ));
            }
            Err(FetchError::Invalid(reason)) => {
                self.published = Some(PublishedMetadata::unusable(
                    url,
                    MetadataProblem::Invalid(reason.to_string()),
                ));
            }
        }
    }

    /// Adds the published metadata certificates that AuthConfig names (current, previous,
    /// next) to the certificates, seen at `metadata <origin>`: the organisation's judgement then
    /// knows the current certificate's facts even without a store export. Call once every
    /// input is loaded.
    pub fn adopt_published_auth_certificates(&mut self) {
        let (Some(published), Some(config)) = (&self.published, &self.auth_config) else {
            return;
        };
        let named = [&config.current, &config.previous, &config.next];
        let adopted: Vec<Certificate> = published
            .keys
            .iter()
            .filter_map(|key| key.certificate.clone())
            .filter(|c| named.iter().any(|n| n.as_ref() == Some(&c.thumbprint)))
            .collect();
        let origin = format!("metadata {}", published.origin);
        for certificate in adopted {
            self.add_certificate(certificate, Sighting::from_origin(origin.clone()));
        }
    }
}

impl PublishedMetadata {
    /// From a parsed document: every key decoded into a certificate where possible.
    pub fn from_record(record: MetadataRecord) -> PublishedMetadata {
        let keys = record
            .keys
            .into_iter()
            .map(|key| {
                let (certificate, problem, computed_x5t) = match key.der {
                    Ok(der) => {
                        let x5t = crate::types::x5t_of(&der);
                        match Certificate::from_der(&der) {
                            Ok(certificate) => (Some(certificate), None, Some(x5t)),
                            Err(e) => (None, Some(e.to_string()), Some(x5t)),
                        }
                    }
                    Err(problem) => (None, Some(problem), None),
                };
                PublishedKey {
                    usage: key.usage,
                    x5t: key.x5t,
                    computed_x5t,
                    certificate,
                    problem,
                }
            })
            .collect();
        PublishedMetadata {
            origin: record.origin,
            issuer: record.issuer,
            realm: record.realm,
            problem: None,
            keys,
        }
    }

    /// A document that was fetched but could not be used.
    pub fn unusable(origin: impl Into<String>, problem: MetadataProblem) -> PublishedMetadata {
        PublishedMetadata {
            origin: origin.into(),
            issuer: None,
            realm: None,
            problem: Some(problem),
            keys: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::self_signed_der as der;

    #[test]
    fn a_certificate_file_is_added_whole_or_not_at_all() {
        let mut state = ExchangeState::default();
        let err = state
            .add_certificate_file(&[der("a"), b"garbage".to_vec()], "two.pem")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("two.pem: certificate 2 of 2: not a DER X.509 certificate"),
            "{err}"
        );
        assert!(state.certificates.is_empty());
        state.add_certificate_file(&[der("a")], "one.pem").unwrap();
        assert_eq!(state.certificates[0].sightings[0].origin, "one.pem");
    }

    #[test]
    fn a_tls_chain_gives_its_leaf_or_every_element() {
        let chain = vec![der("leaf"), der("ca"), b"garbage".to_vec()];
        let mut leaf_only = ExchangeState::default();
        leaf_only.add_tls_chain("tls://a:443".into(), Ok(chain.clone()), false);
        assert_eq!(leaf_only.certificates.len(), 1);
        assert!(leaf_only.unreachable_endpoints.is_empty());

        let mut whole = ExchangeState::default();
        whole.add_tls_chain("tls://a:443".into(), Ok(chain), true);
        let origins: Vec<&str> = whole
            .certificates
            .iter()
            .map(|entry| entry.sightings[0].origin.as_str())
            .collect();
        assert_eq!(origins, ["tls://a:443", "tls://a:443, chain element 2"]);
        assert_eq!(
            whole.unreachable_endpoints[0].0,
            "tls://a:443, chain element 3"
        );

        let mut refused = ExchangeState::default();
        refused.add_tls_chain(
            "tls://b:25".into(),
            Err(NetError("connection refused".into())),
            false,
        );
        assert_eq!(
            refused.unreachable_endpoints,
            [("tls://b:25".to_string(), "connection refused".to_string())]
        );
    }
}
