//! One model of what the inputs say about an Exchange organisation.
//!
//! Sources fill an [`ExchangeState`]; judgement reads it. Certificates are kept once per
//! thumbprint, with every place they were seen, so a certificate exported by three servers and
//! also given as a file is judged once and reported with all of its sightings.

pub mod build;
pub mod certificate;
pub mod organisation;

use std::collections::HashMap;

use serde::Serialize;

pub use build::ModelError;
pub use certificate::{AUTH_CERTIFICATE_CN, Certificate, CertificateError, Thumbprint};
pub use organisation::{AuthConfig, Inventory, Server};

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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// `Get-HybridConfiguration` returned an object; `None` when no input says.
    pub hybrid_detected: Option<bool>,
    /// When the oldest part of the state was collected (bundle time or export file time).
    pub collected_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A `Get-ExchangeServer` list was given: only listed Mailbox/CAS servers need the
    /// Auth Certificate.
    #[serde(skip)]
    server_list_given: bool,
}

impl ExchangeState {
    /// Adds a certificate, or a further sighting of one already known.
    pub fn add_certificate(&mut self, certificate: Certificate, sighting: Sighting) {
        match self.index.get(&certificate.thumbprint) {
            Some(&position) => {
                let entry = &mut self.certificates[position];
                if !entry.sightings.contains(&sighting) {
                    entry.sightings.push(sighting);
                }
            }
            None => {
                self.index
                    .insert(certificate.thumbprint.clone(), self.certificates.len());
                self.certificates.push(CertificateEntry {
                    kind: CertificateKind::of(&certificate),
                    certificate,
                    sightings: vec![sighting],
                });
            }
        }
    }

    pub fn certificate(&self, thumbprint: &Thumbprint) -> Option<&CertificateEntry> {
        self.index
            .get(thumbprint)
            .map(|&position| &self.certificates[position])
    }
}
