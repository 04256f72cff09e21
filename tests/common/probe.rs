//! Every Exchange server's own Auth metadata endpoint for `--probe-servers`, each on a loopback
//! address of its own (127.0.0.2, 127.0.0.3 ...) with a certificate for its FQDN from a CA made
//! at test time, answering from the same [`Organisation`] description the bundle and the LDAP
//! tests use, so that one description can be read all three ways.
//!
//! What a server answers is what Exchange's AuthMetadataBuilder does with its own store
//! (decompiled Exchange: AuthMetadataBuilder and OAuthConfigHelper; DOMAIN.md section 8):
//! - the document publishes AuthConfig's current and previous certificates, each only while
//!   its NotAfter is after now, read from the serving server's store; never the next one;
//! - a current certificate missing from that store throws (InvalidAuthConfigurationException),
//!   and the server answers with an error (HTTP 500) instead of a document;
//! - a server that cannot be reached never answers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use super::Workdir;
use super::exchange::{AuthConfigExport, Organisation, Store, StoreCert};
use super::net::{self, KeyCase, Reply};

pub const METADATA_PATH: &str = "/autodiscover/metadata/json/1";

/// The options that point the check at the simulated servers.
pub struct ProbedServers {
    /// `--resolve FQDN=ADDRESS:PORT`, one per server.
    pub resolve: Vec<String>,
    /// The CA that issued every server's certificate (`--ca-file`).
    pub ca_file: PathBuf,
}

impl ProbedServers {
    /// `--probe-servers --resolve ...` (the caller adds a `--ca-file` that trusts
    /// [`ProbedServers::ca_file`]).
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["--probe-servers".to_string()];
        for pin in &self.resolve {
            args.push("--resolve".into());
            args.push(pin.clone());
        }
        args
    }
}

/// Starts an endpoint for every server of `organisation` that must hold the Auth Certificate,
/// answering as Exchange would at `now`. A server whose store is unreachable accepts and never
/// answers; one nobody collected has nothing listening.
pub fn serve(organisation: &Organisation, now: OffsetDateTime, dir: &Workdir) -> ProbedServers {
    serve_after(organisation, now, dir.path(), Duration::ZERO)
}

/// [`serve`], each server answering after `latency`, the CA written into `dir`.
pub fn serve_after(
    organisation: &Organisation,
    now: OffsetDateTime,
    dir: &Path,
    latency: Duration,
) -> ProbedServers {
    let fqdns: Vec<&str> = organisation
        .servers
        .iter()
        .map(|s| s.info.fqdn.as_str())
        .collect();
    let identity = net::trusted_identity_for(&fqdns);
    let config = organisation.auth_config.clone();
    let mut resolve = Vec::new();
    for (index, server) in organisation.servers.iter().enumerate() {
        if server.info.is_edge {
            continue;
        }
        let address = match &server.store {
            Store::Certificates(store) => {
                let answer = Reply::Slow(
                    latency,
                    Box::new(metadata_answer(config.as_ref(), store, now)),
                );
                net::https_server_on(&format!("127.0.0.{}", index + 2), &identity, move |path| {
                    if path == METADATA_PATH {
                        answer.clone()
                    } else {
                        Reply::status(404)
                    }
                })
            }
            Store::Unreachable(_) => net::black_hole(),
            Store::NotCollected => std::net::SocketAddr::from(([127, 0, 0, 1], net::closed_port())),
        };
        resolve.push(format!("{}={address}", server.info.fqdn));
    }
    let ca_file = dir.join("probe-ca.pem");
    std::fs::write(&ca_file, &identity.ca_pem).expect("writing the servers' CA");
    ProbedServers { resolve, ca_file }
}

/// AuthMetadataBuilder's answer for a server whose store is `store`.
pub fn metadata_answer(
    config: Option<&AuthConfigExport>,
    store: &[StoreCert],
    now: OffsetDateTime,
) -> Reply {
    let Some(config) = config else {
        return Reply::status(500);
    };
    let held = |thumbprint: &str| store.iter().find(|c| c.thumbprint == thumbprint);
    if held(&config.current).is_none() {
        return Reply::status(500);
    }
    let keys: Vec<(&[u8], Option<&str>)> = [&config.current, &config.previous]
        .into_iter()
        .filter_map(|thumbprint| held(thumbprint))
        .filter(|cert| cert.not_after > now)
        .map(|cert| (cert.der.as_slice(), None))
        .collect();
    Reply::json(net::metadata_doc_of(&keys, KeyCase::Lower))
}
