//! Options -> the network plan: the `--metadata` URL, the `--tls` endpoints and the `--ldap`
//! directory, checked before anything is sent (addresses, SNI, `--ca-file`, the LDAP password),
//! then fetched in parallel by one deadline that ends before the `-t` watchdog, so that a slow
//! endpoint gets its own reason.

use std::path::{Path, PathBuf};

use super::OptionError;
use super::args::InputArgs;
use super::inputs::InputError;
use crate::model::ExchangeState;
use crate::parallel::Job;
use crate::source::{SourceError, http::HttpsOptions, ldap, metadata, probe, tls};

/// Where `--metadata` points.
enum NetworkSource {
    Url(String, HttpsOptions),
    File(PathBuf),
}

/// What the agentless options ask for, checked and ready to run.
pub(super) struct NetworkPlan {
    metadata: Option<NetworkSource>,
    targets: Vec<tls::TlsTarget>,
    chain: bool,
    /// `--ldap`: unlike the endpoints above, a directory that cannot be read ends the run
    /// UNKNOWN (AuthConfig is the organisation view's root: without it nothing is judged).
    ldap: Option<ldap::LdapOptions>,
    /// Another input reads the servers' stores (`--certificates`, `--probe-servers`).
    stores_observed: bool,
    /// `--probe-servers`: how to reach and trust each server.
    probes: Option<ProbePlan>,
}

/// `--probe-servers` with its trust and `--resolve` pins; the servers come from the state.
struct ProbePlan {
    options: HttpsOptions,
    /// (lower-case NAME, where to connect) from `--resolve`.
    pins: Vec<(String, tls::HostPort)>,
}

impl ProbePlan {
    /// A target for every server that must hold the Auth Certificate, has an FQDN and whose
    /// store no other input read.
    fn targets(&self, state: &ExchangeState) -> Vec<probe::ProbeTarget> {
        state
            .servers
            .iter()
            .filter(|server| server.requires_auth_certificate && !server.is_observed())
            .filter_map(|server| {
                let fqdn = server.fqdn.as_deref()?.trim();
                let pin = self
                    .pins
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(fqdn))
                    .map(|(_, to)| to.clone());
                Some(probe::ProbeTarget {
                    server: server.name.clone(),
                    url: probe::metadata_url(fqdn),
                    options: HttpsOptions {
                        connect_to: pin,
                        ..self.options.clone()
                    },
                })
            })
            .collect()
    }
}

impl InputArgs {
    /// The network inputs, checked before anything is read or sent.
    pub(super) fn network_plan(&self) -> Result<NetworkPlan, InputError> {
        // `--ca-file` serves the metadata server, the domain controller and the probed servers:
        // read once, and only when one of them is asked for.
        let verifies = self.ldap.is_some()
            || self.probe_servers
            || self.metadata.as_deref().is_some_and(metadata::is_url);
        let extra_roots = match &self.ca_file {
            Some(path) if verifies => read_ca_file(path)?,
            _ => Vec::new(),
        };
        let connect_to = match &self.connect_to {
            Some(text) => Some(
                tls::HostPort::parse(text, 0)
                    .map_err(|e| OptionError(format!("--connect-to: {e}")))?,
            ),
            None => None,
        };
        let sni = match self.sni.as_deref().map(str::trim) {
            Some("") => return Err(OptionError("--sni needs a name".into()).into()),
            other => other.map(str::to_string),
        };
        // --connect-to without a port keeps the endpoint's port.
        let connect_to_for = |port: u16| {
            connect_to.clone().map(|mut to| {
                if to.port == 0 {
                    to.port = port;
                }
                to
            })
        };
        let metadata = match self.metadata.as_deref().map(str::trim) {
            None => None,
            Some("") => return Err(OptionError("--metadata needs a URL or a file".into()).into()),
            Some(spec) if metadata::is_url(spec) => {
                if !spec.to_ascii_lowercase().starts_with("https://") {
                    return Err(OptionError(format!(
                        "--metadata '{spec}': only https:// URLs are fetched"
                    ))
                    .into());
                }
                let port = spec
                    .parse::<ureq::http::Uri>()
                    .ok()
                    .and_then(|u| u.port_u16())
                    .unwrap_or(443);
                Some(NetworkSource::Url(
                    spec.to_string(),
                    HttpsOptions {
                        extra_roots: extra_roots.clone(),
                        insecure: self.insecure,
                        sni: sni.clone(),
                        connect_to: connect_to_for(port),
                    },
                ))
            }
            Some(spec) => Some(NetworkSource::File(PathBuf::from(spec))),
        };
        let default_port = self.starttls.map_or(443, tls::StartTls::default_port);
        let mut targets = Vec::new();
        for spec in &self.tls {
            let endpoint = tls::HostPort::parse(spec, default_port)
                .map_err(|e| OptionError(format!("--tls: {e}")))?;
            targets.push(tls::TlsTarget {
                connect_to: connect_to_for(endpoint.port),
                endpoint,
                starttls: self.starttls,
                sni: sni.clone(),
            });
        }
        Ok(NetworkPlan {
            metadata,
            targets,
            chain: self.chain,
            ldap: self.ldap_options(&extra_roots)?,
            stores_observed: !self.certificate_exports.is_empty() || self.probe_servers,
            probes: self.probe_plan(&extra_roots)?,
        })
    }

    /// `--probe-servers` and `--resolve`, checked before anything is sent.
    fn probe_plan(&self, extra_roots: &[Vec<u8>]) -> Result<Option<ProbePlan>, InputError> {
        if !self.probe_servers {
            return Ok(None);
        }
        if self.ldap.is_none() && self.bundle.is_none() && self.servers.is_none() {
            return Err(OptionError(
                "--probe-servers needs the servers: give --ldap, --bundle or --servers".into(),
            )
            .into());
        }
        let mut pins = Vec::new();
        for spec in &self.resolve {
            let (name, address) = spec
                .split_once('=')
                .filter(|(name, address)| !name.trim().is_empty() && !address.trim().is_empty())
                .ok_or_else(|| {
                    OptionError(format!("--resolve '{spec}': expected NAME=ADDRESS[:PORT]"))
                })?;
            let to = tls::HostPort::parse(address.trim(), 443)
                .map_err(|e| OptionError(format!("--resolve '{spec}': {e}")))?;
            pins.push((name.trim().to_ascii_lowercase(), to));
        }
        Ok(Some(ProbePlan {
            options: HttpsOptions {
                extra_roots: extra_roots.to_vec(),
                insecure: self.insecure,
                sni: None,
                connect_to: None,
            },
            pins,
        }))
    }

    /// `--ldap` and its account, checked before anything is sent.
    fn ldap_options(
        &self,
        extra_roots: &[Vec<u8>],
    ) -> Result<Option<ldap::LdapOptions>, InputError> {
        let Some(url) = &self.ldap else {
            return Ok(None);
        };
        let endpoint =
            ldap::LdapEndpoint::parse(url).map_err(|e| OptionError(format!("--ldap {e}")))?;
        let user = match self.ldap_user.as_deref().map(str::trim) {
            Some(user) if !user.is_empty() => user.to_string(),
            _ => return Err(OptionError("--ldap needs --ldap-user".into()).into()),
        };
        let password = super::inputs::secret(
            self.ldap_password_env.as_deref(),
            self.ldap_password_file.as_deref(),
            "--ldap-password",
        )?
        .ok_or_else(|| {
            OptionError(
                "--ldap needs --ldap-password-env VAR or --ldap-password-file FILE (never the password itself)".into(),
            )
        })?;
        let base = match self.ldap_base.as_deref().map(str::trim) {
            Some("") => return Err(OptionError("--ldap-base needs a DN".into()).into()),
            other => other.map(str::to_string),
        };
        if self.metadata.is_none() && self.certificate_exports.is_empty() && !self.probe_servers {
            // AD names the Auth Certificates by thumbprint only: without a source of their DER
            // the judgement would call the current one missing.
            return Err(OptionError(
                "--ldap reads AuthConfig and the servers, but AD holds only the Auth Certificate's thumbprint: add --probe-servers (or --metadata https://SERVER/autodiscover/metadata/json/1) to judge the certificate itself".into(),
            )
            .into());
        }
        Ok(Some(ldap::LdapOptions {
            endpoint,
            user,
            password,
            base,
            extra_roots: extra_roots.to_vec(),
            insecure: self.insecure,
        }))
    }
}

impl NetworkPlan {
    /// `--metadata FILE`: a saved document, read with the other files.
    pub(super) fn metadata_file(&self) -> Option<&Path> {
        match &self.metadata {
            Some(NetworkSource::File(path)) => Some(path),
            _ => None,
        }
    }

    /// Fetches the metadata URL and every `--tls` endpoint in parallel, by one deadline. A
    /// failure is recorded in the state (judged as a finding), never an input error.
    /// The directory (`--ldap`) is read beside them; its failure is the run's error.
    pub(super) fn run(
        &self,
        state: &mut ExchangeState,
        deadline: tls::Deadline,
    ) -> Result<(), InputError> {
        let url = match &self.metadata {
            Some(NetworkSource::Url(url, options)) => Some((url, options)),
            _ => None,
        };
        if url.is_none() && self.targets.is_empty() && self.ldap.is_none() && self.probes.is_none()
        {
            return Ok(());
        }
        let (metadata_result, chains, directory) = std::thread::scope(|scope| {
            let directory = self
                .ldap
                .as_ref()
                .map(|options| Job::start(scope, move || ldap::read_directory(options, deadline)));
            let metadata = url.map(|(url, options)| {
                Job::start(scope, move || {
                    metadata::fetch_metadata(url, options, deadline)
                })
            });
            let chains: Vec<_> = self
                .targets
                .iter()
                .map(|target| Job::start(scope, move || tls::fetch_chain(target, deadline)))
                .collect();
            let lost = || tls::NetError("the network thread failed".into());
            let metadata = metadata.map(|job| {
                job.finish()
                    .unwrap_or_else(|| Err(metadata::FetchError::Unreachable(lost().0)))
            });
            let chains: Vec<_> = chains
                .into_iter()
                .map(|job| job.finish().unwrap_or_else(|| Err(lost())))
                .collect();
            let directory = directory.map(|job| {
                job.finish().unwrap_or_else(|| {
                    Err(SourceError::Unreadable {
                        path: "--ldap".into(),
                        reason: "the directory thread failed".into(),
                    })
                })
            });
            (metadata, chains, directory)
        });
        if let Some(directory) = directory {
            state.add_directory(directory?, self.stores_observed)?;
        }
        if let (Some((url, _)), Some(result)) = (url, metadata_result) {
            state.set_fetched_metadata(url, result);
        }
        for (target, result) in self.targets.iter().zip(chains) {
            state.add_tls_chain(target.origin(), result, self.chain);
        }
        // The servers to probe are known only now (from the directory or a bundle).
        if let Some(probes) = &self.probes {
            let targets = probes.targets(state);
            let answers = probe::probe_servers(&targets, deadline);
            for (target, answer) in targets.iter().zip(answers) {
                state.add_probe(&target.server, &target.url, answer);
            }
        }
        Ok(())
    }
}

/// Network steps end this much before the `-t` watchdog: a fifth of `-t`, at most half a second.
pub(super) fn network_budget(timeout: std::time::Duration) -> std::time::Duration {
    let margin = timeout
        .mul_f64(0.2)
        .min(std::time::Duration::from_millis(500));
    timeout.saturating_sub(margin)
}

/// `--ca-file`: every CERTIFICATE block of a PEM file.
fn read_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, InputError> {
    use rustls_pki_types::pem::PemObject;
    let bytes = crate::source::read_input_file(path)?;
    let certificates: Vec<Vec<u8>> = rustls_pki_types::CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .map(|c| c.as_ref().to_vec())
        .collect();
    if certificates.is_empty() {
        return Err(SourceError::invalid(path, "--ca-file: no PEM CERTIFICATE block").into());
    }
    Ok(certificates)
}
