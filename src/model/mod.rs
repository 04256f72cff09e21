//! One model of what the inputs say about an Exchange organisation.
//!
//! Sources fill an [`ExchangeState`]; judgement reads it. Certificates are kept once per
//! thumbprint, with every place they were seen, so a certificate exported by three servers and
//! also given as a file is judged once and reported with all of its sightings.

pub mod build;
pub mod certificate;
pub mod directory;
pub mod loose;
pub mod organisation;
pub mod probe;

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::Serialize;

/// At its old path for judge, render, renew and the examples; it lives in [`crate::types`].
pub use crate::types::Thumbprint;
pub use build::ModelError;
pub use certificate::{AUTH_CERTIFICATE_CN, Certificate, CertificateError};
pub use organisation::{AuthConfig, Hybrid, Inventory, ProbedStore, Server};

/// What a certificate is, from its own facts (never from configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateKind {
    /// Subject CN `Microsoft Exchange Server Auth Certificate`.
    Auth,
    /// Any other certificate whose issuer is itself.
    #[serde(rename = "selfsigned")]
    SelfSigned,
    /// Issued by a CA.
    CaIssued,
}

impl CertificateKind {
    pub fn of(certificate: &Certificate) -> CertificateKind {
        if certificate.is_exchange_auth {
            CertificateKind::Auth
        } else if certificate.self_signed {
            CertificateKind::SelfSigned
        } else {
            CertificateKind::CaIssued
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CertificateKind::Auth => "auth",
            CertificateKind::SelfSigned => "selfsigned",
            CertificateKind::CaIssued => "ca_issued",
        }
    }
}

/// One place a certificate was seen.
#[derive(Debug, Clone, Serialize)]
pub struct Sighting {
    /// The file, URL or endpoint it came from.
    pub origin: String,
    /// The Exchange server whose store holds it, when the input says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Services it is enabled for (IIS, SMTP, ...); `None` when the input does not say (a
    /// certificate file, or a CliXml export whose Services hide in SerializationData).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
}

/// Every field equal; the server is compared first because it tells a certificate's sightings
/// apart soonest (the Auth Certificate is seen on every server, all from one bundle file).
impl PartialEq for Sighting {
    fn eq(&self, other: &Sighting) -> bool {
        // Destructured so that a new field cannot be left out of the comparison.
        let Sighting {
            origin,
            server,
            services,
            friendly_name,
        } = self;
        *server == other.server
            && *origin == other.origin
            && *services == other.services
            && *friendly_name == other.friendly_name
    }
}

impl Sighting {
    pub fn from_origin(origin: impl Into<String>) -> Sighting {
        Sighting {
            origin: origin.into(),
            server: None,
            services: None,
            friendly_name: None,
        }
    }
}

/// A certificate with every place it was seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificateEntry {
    pub certificate: Certificate,
    pub kind: CertificateKind,
    pub sightings: Vec<Sighting>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExchangeState {
    /// Unique by thumbprint, in the order first seen.
    pub certificates: Vec<CertificateEntry>,
    /// Position of each thumbprint in `certificates`: organisations export thousands.
    #[serde(skip)]
    index: HashMap<Thumbprint, usize>,
    pub auth_config: Option<AuthConfig>,
    pub servers: Vec<Server>,
    /// Position of each server in `servers` by [`Server::key_of`]: a 500-server organisation
    /// looks its servers up thousands of times while the state is built.
    #[serde(skip)]
    server_index: HashMap<String, usize>,
    /// (certificate, server) positions -> the first sighting of that certificate in that
    /// server's store. The Auth Certificate, and a CA certificate bound on every server, has a
    /// sighting per server: finding a server's one by scanning them made 500 servers quadratic.
    #[serde(skip)]
    store_sightings: HashMap<(usize, usize), usize>,
    /// Any sign of hybrid with Exchange Online (see [`Hybrid::detected`]); `None` when no
    /// input says.
    pub hybrid_detected: Option<bool>,
    /// The signs themselves.
    #[serde(skip)]
    pub hybrid: Hybrid,
    /// When the oldest part of the state was collected (bundle time or export file time).
    pub collected_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A `Get-ExchangeServer` list was given: only listed Mailbox/CAS servers need the
    /// Auth Certificate.
    #[serde(skip)]
    server_list_given: bool,
    /// The run has no input that reads the servers' stores (`--ldap` with `--metadata` only):
    /// a store nobody read is then the run's design, not a server left out.
    #[serde(skip)]
    stores_unobservable: bool,
    /// The Auth metadata document (`--metadata`), when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<PublishedMetadata>,
    /// Network endpoints (`--metadata` URL, `--tls`) that could not be reached:
    /// (endpoint, one-line reason). Never judged as "missing" or "expired".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreachable_endpoints: Vec<(String, String)>,
}

/// What an Auth metadata document publishes (DOMAIN.md section 5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedMetadata {
    /// The URL or file it came from.
    pub origin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// The server answered, but not with a usable document; `keys` is then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<MetadataProblem>,
    pub keys: Vec<PublishedKey>,
}

/// Why a fetched document could not be used.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "reason", rename_all = "snake_case")]
pub enum MetadataProblem {
    /// An HTTP error status, a redirect loop, an oversized body ...
    Http(String),
    /// Not JSON, or not a metadata document.
    Invalid(String),
}

/// One published key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    /// `x5t` as published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    /// `x5t` computed from the DER (base64url SHA-1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computed_x5t: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
    /// Why the key could not be decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl ExchangeState {
    /// Adds a certificate, or a further sighting of one already known.
    pub fn add_certificate(&mut self, certificate: Certificate, sighting: Sighting) {
        if self.index.contains_key(&certificate.thumbprint) {
            self.add_sighting(&certificate.thumbprint, sighting);
            return;
        }
        self.push_certificate(certificate, sighting);
    }

    /// Appends a certificate the caller has found unknown; returns its position.
    fn push_certificate(&mut self, certificate: Certificate, sighting: Sighting) -> usize {
        let position = self.certificates.len();
        self.index.insert(certificate.thumbprint.clone(), position);
        self.certificates.push(CertificateEntry {
            kind: CertificateKind::of(&certificate),
            certificate,
            sightings: vec![sighting],
        });
        position
    }

    /// Notes one more place a known certificate was seen (an unknown thumbprint is ignored: the
    /// callers have just found it).
    pub(crate) fn add_sighting(&mut self, thumbprint: &Thumbprint, sighting: Sighting) {
        let Some(&position) = self.index.get(thumbprint) else {
            debug_assert!(false, "sighting of unknown certificate {thumbprint}");
            return;
        };
        let entry = &mut self.certificates[position];
        if !entry.sightings.contains(&sighting) {
            entry.sightings.push(sighting);
        }
    }

    /// [`ExchangeState::add_certificate`] for a certificate in the store of the server at
    /// `server` (a position in `servers`), whose name `sighting` carries.
    pub(crate) fn add_store_certificate(
        &mut self,
        certificate: Certificate,
        server: usize,
        sighting: Sighting,
    ) {
        if self.index.contains_key(&certificate.thumbprint) {
            let thumbprint = certificate.thumbprint.clone();
            self.add_store_sighting(&thumbprint, server, sighting);
            return;
        }
        let position = self.push_certificate(certificate, sighting);
        self.store_sightings.insert((position, server), 0);
    }

    /// [`ExchangeState::add_sighting`] for a known certificate in the store of the server at
    /// `server`. Sightings on different servers never equal each other, so one is compared
    /// with the others only when this server already has one (a store read twice).
    pub(crate) fn add_store_sighting(
        &mut self,
        thumbprint: &Thumbprint,
        server: usize,
        sighting: Sighting,
    ) {
        let Some(&position) = self.index.get(thumbprint) else {
            debug_assert!(false, "sighting of unknown certificate {thumbprint}");
            return;
        };
        let entry = &mut self.certificates[position];
        match self.store_sightings.entry((position, server)) {
            Entry::Occupied(_) if entry.sightings.contains(&sighting) => return,
            Entry::Occupied(_) => {}
            Entry::Vacant(first) => {
                first.insert(entry.sightings.len());
            }
        }
        entry.sightings.push(sighting);
    }

    /// Whether some input of the run reads stores, so that a required server whose store
    /// nobody read was left out (see [`ExchangeState::add_directory`]).
    pub fn stores_observable(&self) -> bool {
        !self.stores_unobservable
    }

    pub fn certificate(&self, thumbprint: &Thumbprint) -> Option<&CertificateEntry> {
        self.index
            .get(thumbprint)
            .map(|&position| &self.certificates[position])
    }
}
