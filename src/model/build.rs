//! Building the one state from the records of every input, in any order.
//!
//! Servers are matched by [`Server::key_of`] (first DNS label, any case), because each input
//! names them differently: `Get-ExchangeServer` says `E2k16-1`, `PSComputerName`
//! `e2k16-1.contoso.lab`, an admin writes `EXCH01=file.xml`.

use std::collections::{HashMap, HashSet};
use std::iter::Peekable;
use std::vec;

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::organisation::{Hybrid, requires_auth_certificate};
use super::{
    AuthConfig, Certificate, CertificateError, ExchangeState, Inventory, Server, Sighting,
};
use crate::source::records::{
    AuthConfigRecord, BundleRecord, BundleServerRecord, CertificateRecord, InventoryRecord,
    ServerRecord,
};
use crate::types::Thumbprint;

#[derive(Debug, Error, PartialEq)]
#[error("{origin}: {reason}")]
pub struct ModelError {
    pub origin: String,
    pub reason: String,
}

type ParseResult = (Thumbprint, Result<Certificate, CertificateError>);

/// Certificates parsed ahead of [`ExchangeState::add_store`], in the order the stores meet
/// them for the first time (so each is found without a lookup).
struct Parsed<I: Iterator<Item = ParseResult>>(Peekable<I>);

impl Parsed<vec::IntoIter<ParseResult>> {
    fn nothing() -> Self {
        Parsed(Vec::new().into_iter().peekable())
    }
}

impl<I: Iterator<Item = ParseResult>> Parsed<I> {
    /// The parse of this certificate when it is the next one parsed ahead; `None` otherwise,
    /// and the caller parses it itself. (A bundle's new certificates are always parsed ahead:
    /// their records no longer hold the DER. Only a panic while parsing ends the parses early,
    /// and that panic is raised again when the parsing threads are joined, before
    /// [`ExchangeState::add_bundle`] returns.)
    fn take(&mut self, thumbprint: &Thumbprint) -> Option<Result<Certificate, CertificateError>> {
        self.0
            .next_if(|(parsed, _)| parsed == thumbprint)
            .map(|(_, result)| result)
    }
}

/// Fewer new certificates than this are parsed on one thread: starting threads costs more.
const PARALLEL_FROM: usize = 64;

pub(super) fn model_error(origin: &str, reason: impl Into<String>) -> ModelError {
    ModelError {
        origin: origin.to_string(),
        reason: reason.into(),
    }
}

impl ExchangeState {
    /// Sets AuthConfig; an organisation has exactly one, so a second is an error.
    pub fn set_auth_config(
        &mut self,
        record: AuthConfigRecord,
        origin: &str,
    ) -> Result<(), ModelError> {
        self.set_auth_config_value(AuthConfig {
            current: record.current,
            previous: record.previous,
            next: record.next,
            next_effective: record.next_effective,
            service_name: record.service_name,
            realm: record.realm,
            origin: origin.to_string(),
            error: None,
            changed_at: record.changed_at,
        })
    }

    /// Records that AuthConfig was asked for but could not be read.
    pub fn set_auth_config_error(
        &mut self,
        reason: String,
        origin: &str,
    ) -> Result<(), ModelError> {
        self.set_auth_config_value(AuthConfig {
            current: None,
            previous: None,
            next: None,
            next_effective: None,
            service_name: None,
            realm: None,
            origin: origin.to_string(),
            error: Some(reason),
            changed_at: None,
        })
    }

    fn set_auth_config_value(&mut self, config: AuthConfig) -> Result<(), ModelError> {
        if let Some(existing) = &self.auth_config {
            return Err(model_error(
                &config.origin,
                format!(
                    "a second AuthConfig (the first came from {}); an organisation has one",
                    existing.origin
                ),
            ));
        }
        self.auth_config = Some(config);
        Ok(())
    }

    /// Adds `Get-ExchangeServer` entries. Once a list is known, servers seen only in certificate
    /// exports are not assumed to need the Auth Certificate.
    pub fn add_server_list(&mut self, records: Vec<ServerRecord>) {
        if !self.server_list_given {
            self.server_list_given = true;
            for server in &mut self.servers {
                server.requires_auth_certificate = false;
            }
        }
        for record in records {
            let server = self.server_mut(&record.name);
            apply_server_record(server, record);
        }
    }

    /// Adds one server's certificate store as an export or the collector read it.
    pub fn add_store(
        &mut self,
        server_name: &str,
        records: Vec<CertificateRecord>,
        origin: &str,
    ) -> Result<(), ModelError> {
        self.add_parsed_store(server_name, records, origin, &mut Parsed::nothing())
    }

    /// [`ExchangeState::add_store`] with the new certificates parsed beforehand.
    fn add_parsed_store(
        &mut self,
        server_name: &str,
        records: Vec<CertificateRecord>,
        origin: &str,
        parsed: &mut Parsed<impl Iterator<Item = ParseResult>>,
    ) -> Result<(), ModelError> {
        let mut thumbprints = Vec::with_capacity(records.len());
        // A store holds a certificate once: the same one listed twice must say the same.
        let mut services_of: HashMap<Thumbprint, Option<Vec<String>>> = HashMap::new();
        let server_position = self.server_position_or_new(server_name);
        let server_shown = self.servers[server_position].name.clone();
        for (position, record) in records.into_iter().enumerate() {
            let thumbprint = record.thumbprint;
            // A certificate already known (the Auth Certificate is on every server) is the same
            // DER: it parsed before, and parsing verifies a signature, so it is not parsed again.
            let new_certificate = match self.certificate(&thumbprint) {
                Some(_) => None,
                None => Some(
                    parsed
                        .take(&thumbprint)
                        .unwrap_or_else(|| {
                            Certificate::from_der_with_thumbprint(&record.der, thumbprint.clone())
                        })
                        .map_err(|e| {
                            model_error(
                                origin,
                                format!("certificate {} ({server_name}): {e}", position + 1),
                            )
                        })?,
                ),
            };
            match services_of.get(&thumbprint) {
                Some(first) if !same_services(first, &record.services) => {
                    return Err(model_error(
                        origin,
                        format!(
                            "certificate {thumbprint} is listed twice for {server_name} with different services ({} and {})",
                            services_text(first),
                            services_text(&record.services)
                        ),
                    ));
                }
                Some(_) => continue,
                None => {
                    services_of.insert(thumbprint.clone(), record.services.clone());
                }
            }
            let sighting = Sighting {
                origin: origin.to_string(),
                server: Some(server_shown.clone()),
                services: record.services,
                friendly_name: record.friendly_name.filter(|name| !name.is_empty()),
            };
            match new_certificate {
                Some(certificate) => {
                    self.add_store_certificate(certificate, server_position, sighting)
                }
                None => self.add_store_sighting(&thumbprint, server_position, sighting),
            }
            thumbprints.push(thumbprint);
        }
        let server = &mut self.servers[server_position];
        match &mut server.inventory {
            Inventory::Known { thumbprints: known } => {
                for thumbprint in thumbprints {
                    if !known.contains(&thumbprint) {
                        known.push(thumbprint);
                    }
                }
            }
            // A store that was read wins over "unreachable"/"not collected" from another input.
            other => *other = Inventory::Known { thumbprints },
        }
        Ok(())
    }

    /// Adds the certificates of an export file, grouped by the server each record names;
    /// `server_override` (from `SERVER=FILE`) names the server for all of them.
    pub fn add_certificate_export(
        &mut self,
        server_override: Option<&str>,
        records: Vec<CertificateRecord>,
        origin: &str,
    ) -> Result<(), ModelError> {
        let mut groups: Vec<(String, Vec<CertificateRecord>)> = Vec::new();
        for record in records {
            let server = match (server_override, &record.server) {
                (Some(name), _) => name.to_string(),
                (None, Some(name)) if !name.trim().is_empty() => name.trim().to_string(),
                (None, _) => {
                    return Err(model_error(
                        origin,
                        "the export does not say which server it is from (no PSComputerName or Identity); name it with SERVER=FILE",
                    ));
                }
            };
            match groups
                .iter_mut()
                .find(|(name, _)| Server::key_of(name) == Server::key_of(&server))
            {
                Some((_, group)) => group.push(record),
                None => groups.push((server, vec![record])),
            }
        }
        for (server, group) in groups {
            self.add_store(&server, group, origin)?;
        }
        Ok(())
    }

    /// Adds everything the collector's bundle carries.
    pub fn add_bundle(&mut self, mut bundle: BundleRecord, origin: &str) -> Result<(), ModelError> {
        match (bundle.auth_config, bundle.auth_config_error) {
            (Some(config), _) => self.set_auth_config(config, origin)?,
            (None, Some(error)) => self.set_auth_config_error(error, origin)?,
            (None, None) => {
                self.set_auth_config_error("the bundle holds no AuthConfig".into(), origin)?
            }
        }
        let listed: Vec<ServerRecord> = bundle.servers.iter().map(|s| s.server.clone()).collect();
        self.add_server_list(listed);
        // Parsing (a signature verification for each self-signed certificate) is most of the
        // work for a large organisation: it runs on all cores, while this thread builds the
        // state from the certificates parsed so far, in the bundle's order (so errors are as
        // without this).
        let work = self.take_new_certificates(&mut bundle.servers);
        // Sized once: entries are large, and 500 servers add thousands.
        self.certificates.reserve(work.len());
        self.index.reserve(work.len());
        self.store_sightings.reserve(
            bundle
                .servers
                .iter()
                .map(|server| match &server.inventory {
                    InventoryRecord::Certificates(records) => records.len(),
                    InventoryRecord::Unreachable(_) => 0,
                })
                .sum(),
        );
        let parse = |(thumbprint, der): &(Thumbprint, Vec<u8>)| {
            (
                thumbprint.clone(),
                Certificate::from_der_with_thumbprint(der, thumbprint.clone()),
            )
        };
        crate::parallel::stream_in_order(&work, PARALLEL_FROM, parse, |parsed| {
            let mut parsed = Parsed(parsed.peekable());
            for entry in bundle.servers {
                let name = entry.server.name.clone();
                match entry.inventory {
                    InventoryRecord::Certificates(records) => {
                        self.add_parsed_store(&name, records, origin, &mut parsed)?
                    }
                    InventoryRecord::Unreachable(reason) => {
                        let server = self.server_mut(&name);
                        if !matches!(server.inventory, Inventory::Known { .. }) {
                            server.inventory = Inventory::Unreachable { reason };
                        }
                    }
                }
                if entry.internal_transport_certificate.is_some() {
                    self.server_mut(&name).internal_transport_certificate =
                        entry.internal_transport_certificate;
                }
            }
            Ok::<(), ModelError>(())
        })?;
        self.hybrid.merge(Hybrid {
            configuration: bundle.hybrid.configuration,
            oauth_to_exchange_online: bundle.hybrid.oauth_to_exchange_online,
            dedicated_application: bundle.hybrid.dedicated_application,
        });
        self.hybrid_detected = self.hybrid.detected();
        self.note_collected_at(bundle.collected_at);
        Ok(())
    }

    /// The distinct certificates of a bundle not yet in the state, with their DER, in the
    /// order in which [`ExchangeState::add_bundle`] meets each for the first time: the order in
    /// which it takes their parses. The DER moves out of its record (which is then only
    /// bookkeeping), so that the records can be consumed while the certificates are parsed.
    fn take_new_certificates(
        &self,
        servers: &mut [BundleServerRecord],
    ) -> Vec<(Thumbprint, Vec<u8>)> {
        let mut seen = HashSet::new();
        let mut work = Vec::new();
        for server in servers {
            if let InventoryRecord::Certificates(records) = &mut server.inventory {
                for record in records {
                    let thumbprint = &record.thumbprint;
                    if self.certificate(thumbprint).is_none() && seen.insert(thumbprint.clone()) {
                        work.push((thumbprint.clone(), std::mem::take(&mut record.der)));
                    }
                }
            }
        }
        work
    }

    /// Keeps the oldest collection time: the state is as old as its oldest part.
    pub fn note_collected_at(&mut self, at: DateTime<Utc>) {
        self.collected_at = Some(self.collected_at.map_or(at, |known| known.min(at)));
    }

    pub fn server(&self, name: &str) -> Option<&Server> {
        self.server_position(name)
            .map(|position| &self.servers[position])
    }

    /// Found through the index; `servers` is public, so a server added to it directly is still
    /// found by name.
    pub(super) fn server_position(&self, name: &str) -> Option<usize> {
        let key = Server::key_of(name);
        match self.server_index.get(&key) {
            Some(&position)
                if self
                    .servers
                    .get(position)
                    .is_some_and(|server| has_key(&server.name, &key)) =>
            {
                Some(position)
            }
            // Every server added here is indexed: a miss means unknown, unless `servers` was
            // changed from outside (it is public), which the scan still covers. Scanning on
            // every miss made adding 500 servers quadratic.
            None if self.server_index.len() == self.servers.len() => None,
            _ => self
                .servers
                .iter()
                .position(|server| has_key(&server.name, &key)),
        }
    }

    /// The server with this name, created (not yet collected) when unknown.
    fn server_mut(&mut self, name: &str) -> &mut Server {
        let position = self.server_position_or_new(name);
        &mut self.servers[position]
    }

    /// The position of [`ExchangeState::server_mut`]'s server.
    fn server_position_or_new(&mut self, name: &str) -> usize {
        match self.server_position(name) {
            Some(position) => position,
            None => {
                self.servers.push(Server {
                    name: name.trim().to_string(),
                    fqdn: name.contains('.').then(|| name.trim().to_string()),
                    site: None,
                    version: None,
                    major_version: None,
                    roles: Vec::new(),
                    is_edge: false,
                    requires_auth_certificate: !self.server_list_given,
                    inventory: Inventory::NotCollected,
                    internal_transport_certificate: None,
                });
                let position = self.servers.len() - 1;
                self.server_index.insert(Server::key_of(name), position);
                position
            }
        }
    }

    /// True when the inputs describe an organisation (AuthConfig, servers or stores), not just
    /// loose certificate files.
    pub fn is_organisation(&self) -> bool {
        self.auth_config.is_some() || !self.servers.is_empty()
    }

    /// The certificates a server's store holds, with that server's sighting.
    pub fn store_of<'a>(
        &'a self,
        server: &'a Server,
    ) -> impl Iterator<Item = (&'a super::CertificateEntry, Option<&'a Sighting>)> + 'a {
        let thumbprints: &[Thumbprint] = match &server.inventory {
            Inventory::Known { thumbprints } => thumbprints,
            _ => &[],
        };
        let key = server.key();
        let server_position = self.server_position(&server.name);
        thumbprints.iter().filter_map(move |thumbprint| {
            let position = *self.index.get(thumbprint)?;
            let entry = &self.certificates[position];
            // The server's first sighting, when it carries the server's name as it is now:
            // then no other sighting can be an earlier exact match.
            let indexed = server_position
                .and_then(|server| self.store_sightings.get(&(position, server)))
                .and_then(|&sighting| entry.sightings.get(sighting))
                .filter(|s| s.server.as_deref() == Some(server.name.as_str()));
            // Otherwise (the server was renamed by a server list after its store was added, or
            // the sighting was added from outside the builder) the sightings are searched:
            // the current name first, then any name of the server.
            let sighting = indexed.or_else(|| {
                entry
                    .sightings
                    .iter()
                    .find(|s| s.server.as_deref() == Some(server.name.as_str()))
                    .or_else(|| {
                        entry
                            .sightings
                            .iter()
                            .find(|s| s.server.as_deref().is_some_and(|n| has_key(n, &key)))
                    })
            });
            Some((entry, sighting))
        })
    }
}

/// `Server::key_of(name) == key` without allocating: these comparisons run for every server
/// and every sighting, and organisations have hundreds of servers.
fn has_key(name: &str, key: &str) -> bool {
    let first_label = name.trim().split('.').next().unwrap_or_default();
    first_label.eq_ignore_ascii_case(key)
}

/// Services compared as a set, in any case and order; unknown only equals unknown.
fn same_services(a: &Option<Vec<String>>, b: &Option<Vec<String>>) -> bool {
    let normalise = |list: &Option<Vec<String>>| {
        list.as_ref().map(|list| {
            let mut names: Vec<String> =
                list.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
            names.sort();
            names.dedup();
            names
        })
    };
    normalise(a) == normalise(b)
}

fn services_text(services: &Option<Vec<String>>) -> String {
    match services {
        None => "unknown".into(),
        Some(list) if list.is_empty() => "None".into(),
        Some(list) => list.join(", "),
    }
}

fn apply_server_record(server: &mut Server, record: ServerRecord) {
    server.requires_auth_certificate =
        requires_auth_certificate(record.major_version, &record.roles, record.is_edge);
    server.name = record.name;
    server.fqdn = record.fqdn.or(server.fqdn.take());
    server.site = record.site;
    server.version = record.version;
    server.major_version = record.major_version;
    server.roles = record.roles;
    server.is_edge = record.is_edge;
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::self_signed_der as der;

    fn record(der: Vec<u8>, server: Option<&str>) -> CertificateRecord {
        CertificateRecord {
            server: server.map(str::to_string),
            services: Some(vec!["SMTP".into()]),
            friendly_name: Some("Microsoft Exchange".into()),
            ..CertificateRecord::new(der)
        }
    }

    fn server_record(name: &str, roles: &[&str]) -> ServerRecord {
        ServerRecord {
            name: name.into(),
            fqdn: Some(format!("{name}.contoso.lab")),
            site: Some("Site-A".into()),
            version: Some("Version 15.2 (Build 1544.4)".into()),
            major_version: Some(15),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            is_edge: false,
        }
    }

    #[test]
    fn stores_from_exports_match_listed_servers_by_short_name() {
        let mut state = ExchangeState::default();
        state.add_server_list(vec![
            server_record("E2k16-1", &["Mailbox"]),
            server_record("EDGE1", &["Edge"]),
        ]);
        let cert = der("E2k16-1");
        state
            .add_certificate_export(
                None,
                vec![record(cert.clone(), Some("e2k16-1.contoso.lab"))],
                "x.xml",
            )
            .unwrap();
        assert_eq!(state.servers.len(), 2);
        let server = state.server("E2K16-1.contoso.lab").unwrap();
        assert!(server.requires_auth_certificate);
        assert_eq!(server.holds(&Thumbprint::of_der(&cert)), Some(true));
        assert!(!state.server("edge1").unwrap().requires_auth_certificate);
        let (entry, sighting) = state.store_of(server).next().unwrap();
        assert_eq!(entry.certificate.thumbprint, Thumbprint::of_der(&cert));
        assert_eq!(sighting.unwrap().services, Some(vec!["SMTP".to_string()]));
    }

    #[test]
    fn a_second_auth_config_is_refused() {
        let mut state = ExchangeState::default();
        state
            .set_auth_config(AuthConfigRecord::default(), "a.xml")
            .unwrap();
        let err = state
            .set_auth_config(AuthConfigRecord::default(), "b.xml")
            .unwrap_err();
        assert!(err.to_string().contains("second AuthConfig"), "{err}");
    }

    #[test]
    fn a_certificate_listed_twice_in_one_store_must_agree() {
        let cert = der("EXCH01");
        let mut state = ExchangeState::default();
        let mut other = record(cert.clone(), Some("EXCH01"));
        other.services = Some(vec!["IMAP".into()]);
        let err = state
            .add_store(
                "EXCH01",
                vec![record(cert.clone(), Some("EXCH01")), other],
                "x.xml",
            )
            .unwrap_err();
        assert_eq!(
            err.reason,
            format!(
                "certificate {} is listed twice for EXCH01 with different services (SMTP and IMAP)",
                Thumbprint::of_der(&cert)
            )
        );

        // The same facts twice are one certificate, listed once.
        let mut state = ExchangeState::default();
        let mut again = record(cert.clone(), Some("EXCH01"));
        again.services = Some(vec![" smtp".into()]);
        state
            .add_store(
                "EXCH01",
                vec![record(cert.clone(), Some("EXCH01")), again],
                "x.xml",
            )
            .unwrap();
        let server = state.server("EXCH01").unwrap();
        assert_eq!(state.store_of(server).count(), 1);
        assert_eq!(state.certificates[0].sightings.len(), 1);
    }

    #[test]
    fn a_large_bundle_parsed_on_several_threads_gives_the_same_state_and_errors() {
        let ders: Vec<Vec<u8>> = (0..PARALLEL_FROM + 6)
            .map(|i| der(&format!("host{i}")))
            .collect();
        let records: Vec<CertificateRecord> = ders
            .iter()
            .map(|d| record(d.clone(), Some("EXCH01")))
            .collect();
        let at = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .to_utc();
        let bundle = BundleRecord {
            schema_version: 1,
            collected_at: at,
            collected_on: None,
            auth_config: None,
            auth_config_error: None,
            servers: vec![BundleServerRecord {
                server: server_record("EXCH01", &["Mailbox"]),
                inventory: InventoryRecord::Certificates(records.clone()),
                internal_transport_certificate: None,
            }],
            hybrid: Default::default(),
        };
        let mut parallel = ExchangeState::default();
        parallel.add_bundle(bundle.clone(), "b.json").unwrap();
        let mut sequential = ExchangeState::default();
        sequential
            .set_auth_config_error("the bundle holds no AuthConfig".into(), "b.json")
            .unwrap();
        sequential.add_server_list(vec![server_record("EXCH01", &["Mailbox"])]);
        sequential.add_store("EXCH01", records, "b.json").unwrap();
        sequential.note_collected_at(at);
        assert_eq!(parallel, sequential);

        let mut broken = bundle;
        if let InventoryRecord::Certificates(records) = &mut broken.servers[0].inventory {
            let mut truncated = records[PARALLEL_FROM].der.clone();
            truncated.truncate(50);
            records[PARALLEL_FROM] = record(truncated, Some("EXCH01"));
        }
        let err = ExchangeState::default()
            .add_bundle(broken, "b.json")
            .unwrap_err();
        assert!(
            err.reason.starts_with(&format!(
                "certificate {} (EXCH01): not a DER X.509 certificate",
                PARALLEL_FROM + 1
            )),
            "{err}"
        );
    }

    /// A server's sighting of each certificate in its store: its own (not another server's),
    /// the one under its current name after a server list renamed it, and one per origin when
    /// the same store is read twice (a second identical reading adds nothing).
    #[test]
    fn each_server_finds_its_own_sighting() {
        let shared = der("wildcard.contoso.lab");
        let own = der("EXCH01");
        let mut state = ExchangeState::default();
        let mut iis = record(shared.clone(), Some("exch01.contoso.lab"));
        iis.services = Some(vec!["IIS".into()]);
        state
            .add_store(
                "exch01.contoso.lab",
                vec![iis, record(own.clone(), None)],
                "a.xml",
            )
            .unwrap();
        state
            .add_store("EXCH02", vec![record(shared.clone(), None)], "a.xml")
            .unwrap();
        // The same store again from the same file: nothing new.
        state
            .add_store("EXCH02", vec![record(shared.clone(), None)], "a.xml")
            .unwrap();
        let services = |state: &ExchangeState, server: &str| {
            let server = state.server(server).unwrap();
            state
                .store_of(server)
                .map(|(entry, sighting)| {
                    let sighting = sighting.unwrap();
                    assert_eq!(sighting.server.as_deref(), Some(server.name.as_str()));
                    (
                        entry.certificate.thumbprint.clone(),
                        sighting.services.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let smtp = Some(vec!["SMTP".to_string()]);
        assert_eq!(
            services(&state, "EXCH01"),
            [
                (Thumbprint::of_der(&shared), Some(vec!["IIS".to_string()])),
                (Thumbprint::of_der(&own), smtp.clone()),
            ]
        );
        assert_eq!(
            services(&state, "EXCH02"),
            [(Thumbprint::of_der(&shared), smtp.clone())]
        );
        assert_eq!(state.certificates[0].sightings.len(), 2);

        // Get-ExchangeServer names it EXCH01; an export read afterwards says SMTP only. Its
        // sighting (under the current name) is the one the store shows.
        state.add_server_list(vec![server_record("EXCH01", &["Mailbox"])]);
        state
            .add_store("EXCH01", vec![record(shared.clone(), None)], "b.xml")
            .unwrap();
        assert_eq!(state.certificates[0].sightings.len(), 3);
        let renamed = state.server("EXCH01").unwrap();
        let origins: Vec<(String, Option<Vec<String>>)> = state
            .store_of(renamed)
            .map(|(_, sighting)| {
                let sighting = sighting.unwrap();
                (sighting.origin.clone(), sighting.services.clone())
            })
            .collect();
        // The certificate read only before the rename is still found, under the old name.
        assert_eq!(
            origins,
            [
                ("b.xml".to_string(), smtp.clone()),
                ("a.xml".to_string(), smtp)
            ]
        );
    }

    /// The state is built while the certificates are still being parsed: the first fault in
    /// the bundle's order is reported, whether it is a certificate that does not parse or a
    /// store that lists one twice with different services, and wherever the parsing stands.
    #[test]
    fn a_streamed_bundle_reports_its_first_fault_in_order() {
        const PER_SERVER: usize = 40;
        let servers = ["EXCH01", "EXCH02", "EXCH03"];
        let ders: Vec<Vec<u8>> = (0..servers.len() * PER_SERVER)
            .map(|i| der(&format!("host{i}")))
            .collect();
        let bundle_with = |fault: &dyn Fn(usize, &mut Vec<CertificateRecord>)| {
            let servers = servers
                .iter()
                .enumerate()
                .map(|(s, name)| {
                    let mut records: Vec<CertificateRecord> = ders
                        [s * PER_SERVER..(s + 1) * PER_SERVER]
                        .iter()
                        .map(|d| record(d.clone(), Some(name)))
                        .collect();
                    fault(s, &mut records);
                    BundleServerRecord {
                        server: server_record(name, &["Mailbox"]),
                        inventory: InventoryRecord::Certificates(records),
                        internal_transport_certificate: None,
                    }
                })
                .collect();
            BundleRecord {
                schema_version: 1,
                collected_at: Utc::now(),
                collected_on: None,
                auth_config: None,
                auth_config_error: None,
                servers,
                hybrid: Default::default(),
            }
        };
        let truncate = |records: &mut Vec<CertificateRecord>, at: usize| {
            let mut short = records[at].der.clone();
            short.truncate(50);
            records[at] = record(short, records[at].server.as_deref());
        };
        let listed_twice = |records: &mut Vec<CertificateRecord>, at: usize| {
            let mut twice = records[0].clone();
            twice.services = Some(vec!["IIS".into()]);
            records.insert(at, twice);
        };
        let error_of = |bundle| ExchangeState::default().add_bundle(bundle, "b.json");

        let conflict_first = bundle_with(&|server, records| match server {
            1 => listed_twice(records, 30),
            2 => truncate(records, 5),
            _ => {}
        });
        let err = error_of(conflict_first).unwrap_err();
        assert!(err.reason.contains("listed twice for EXCH02"), "{err}");

        let parse_first = bundle_with(&|server, records| match server {
            1 => truncate(records, 30),
            2 => listed_twice(records, 5),
            _ => {}
        });
        let err = error_of(parse_first).unwrap_err();
        assert!(
            err.reason
                .starts_with("certificate 31 (EXCH02): not a DER X.509 certificate"),
            "{err}"
        );

        let sound = bundle_with(&|_, _| {});
        let mut state = ExchangeState::default();
        state.add_bundle(sound, "b.json").unwrap();
        assert_eq!(state.certificates.len(), servers.len() * PER_SERVER);
        for (position, entry) in state.certificates.iter().enumerate() {
            assert_eq!(
                entry.certificate.thumbprint,
                Thumbprint::of_der(&ders[position])
            );
        }
    }

    #[test]
    fn export_without_server_needs_a_name() {
        let mut state = ExchangeState::default();
        let err = state
            .add_certificate_export(None, vec![record(der("a"), None)], "x.xml")
            .unwrap_err();
        assert!(err.reason.contains("SERVER=FILE"));
        state
            .add_certificate_export(Some("EXCH01"), vec![record(der("a"), None)], "x.xml")
            .unwrap();
        assert!(state.server("exch01").is_some());
    }

    #[test]
    fn the_oldest_collection_time_wins() {
        let mut state = ExchangeState::default();
        let t1 = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .to_utc();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        state.note_collected_at(t1);
        state.note_collected_at(t0);
        state.note_collected_at(t1);
        assert_eq!(state.collected_at, Some(t0));
    }
}
