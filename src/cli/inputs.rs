//! Options -> inputs -> one [`ExchangeState`]: every file is read by its source, handed to the
//! model as records, and the network inputs are fetched by one deadline ([`super::network`]).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::OptionError;
use super::args::InputArgs;
use super::network::network_budget;
use crate::model::{ExchangeState, ModelError};
use crate::source::{SourceError, bundle, cert_file, exchange_exports, metadata, tls};

/// Why the inputs could not become a state.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Option(#[from] OptionError),
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl InputArgs {
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
            && self.bundle.is_none()
            && self.authconfig.is_none()
            && self.certificate_exports.is_empty()
            && self.servers.is_none()
            && self.metadata.is_none()
            && self.tls.is_empty()
            && self.ldap.is_none()
    }

    /// Reads every input into one state, with network inputs bounded by the default `-t`.
    pub fn load_state(&self) -> Result<ExchangeState, InputError> {
        self.load_state_within(std::time::Duration::from_secs(10))
    }

    /// Reads every input into one state. Network inputs (`--metadata` URL, `--tls`) end before
    /// `timeout` (the `-t` watchdog), so an unreachable endpoint gets its precise reason.
    pub fn load_state_within(
        &self,
        timeout: std::time::Duration,
    ) -> Result<ExchangeState, InputError> {
        let deadline = tls::Deadline::after(network_budget(timeout));
        if self.is_empty() {
            return Err(OptionError(
                "no input: give --bundle, --authconfig with --certificates, --ldap with --probe-servers, --cert FILE, --metadata or --tls (see --help)".into(),
            )
            .into());
        }
        let network = self.network_plan()?;
        let mut state = ExchangeState::default();
        if let Some(path) = &self.bundle {
            let record = bundle::read_bundle(path)?;
            state.add_bundle(record, &origin(path))?;
        }
        if let Some(path) = &self.servers {
            state.add_server_list(exchange_exports::read_servers(path)?);
        }
        if let Some(path) = &self.authconfig {
            let record = exchange_exports::read_auth_config(path)?;
            state.set_auth_config(record, &origin(path))?;
            note_file_time(&mut state, path);
        }
        self.add_certificate_exports(&mut state)?;
        let password = self.pfx_password()?;
        for path in &self.certs {
            let (_, ders) = cert_file::read_certificate_file(path, password.as_deref())?;
            state.add_certificate_file(&ders, &origin(path))?;
        }
        if let Some(path) = network.metadata_file() {
            state.set_metadata(metadata::read_metadata_file(path)?);
        }
        network.run(&mut state, deadline)?;
        state.adopt_published_auth_certificates();
        Ok(state)
    }

    /// `--certificates [SERVER=]FILE`, each a store. Exports without SERVER= are credited to
    /// the server they name (PSComputerName names the shell's host): two such files naming the
    /// same server are two servers' stores exported from one shell, and merging them would hide
    /// a missing certificate.
    fn add_certificate_exports(&self, state: &mut ExchangeState) -> Result<(), InputError> {
        let mut unnamed_claims: Vec<(String, String)> = Vec::new();
        for spec in &self.certificate_exports {
            let (server, path) = split_server_spec(spec)?;
            let records = exchange_exports::read_certificates(&path)?;
            if server.is_none() {
                for name in records.iter().filter_map(|r| r.server.as_deref()) {
                    let key = crate::model::Server::key_of(name);
                    match unnamed_claims.iter().find(|(claimed, _)| *claimed == key) {
                        Some((_, other)) if *other != origin(&path) => {
                            return Err(OptionError(format!(
                                "--certificates {} and {other} both say they come from {name}: PSComputerName names the shell's host, not the server queried; name each file's server with SERVER=FILE",
                                origin(&path)
                            ))
                            .into());
                        }
                        Some(_) => {}
                        None => unnamed_claims.push((key, origin(&path))),
                    }
                }
            }
            state.add_certificate_export(server.as_deref(), records, &origin(&path))?;
            note_file_time(state, &path);
        }
        Ok(())
    }

    fn pfx_password(&self) -> Result<Option<String>, OptionError> {
        secret(
            self.pfx_password_env.as_deref(),
            self.pfx_password_file.as_deref(),
            "--pfx-password",
        )
    }
}

/// A secret from `<option>-env VAR` or `<option>-file FILE` (its first line); never from the
/// command line, where every user of the host can read it.
pub(super) fn secret(
    variable: Option<&str>,
    file: Option<&Path>,
    option: &str,
) -> Result<Option<String>, OptionError> {
    if let Some(variable) = variable {
        return std::env::var(variable).map(Some).map_err(|_| {
            OptionError(format!(
                "{option}-env: environment variable '{variable}' is not set"
            ))
        });
    }
    if let Some(path) = file {
        let bytes = crate::source::read_input_file(path)
            .map_err(|e| OptionError(format!("{option}-file: {e}")))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            OptionError(format!("{option}-file: {}: not UTF-8 text", path.display()))
        })?;
        let first_line = text
            .trim_start_matches('\u{feff}')
            .lines()
            .next()
            .unwrap_or("");
        return Ok(Some(first_line.to_string()));
    }
    Ok(None)
}

fn origin(path: &Path) -> String {
    path.display().to_string()
}

/// A raw export is as old as its file: its modification time is when it was exported.
fn note_file_time(state: &mut ExchangeState, path: &Path) {
    if let Ok(modified) = std::fs::metadata(path).and_then(|m| m.modified()) {
        state.note_collected_at(DateTime::<Utc>::from(modified));
    }
}

/// `SERVER=FILE` or `FILE`. A Windows path never has `=` before its drive colon, so the first
/// `=` separates the server when what precedes it is a plausible server name.
fn split_server_spec(spec: &str) -> Result<(Option<String>, PathBuf), OptionError> {
    if let Some((server, path)) = spec.split_once('=') {
        let plausible = !server.is_empty()
            && server
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if plausible {
            if path.is_empty() {
                return Err(OptionError(format!(
                    "--certificates '{spec}': no file after '='"
                )));
            }
            return Ok((Some(server.to_string()), PathBuf::from(path)));
        }
    }
    if spec.is_empty() {
        return Err(OptionError("--certificates needs a file".into()));
    }
    Ok((None, PathBuf::from(spec)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_specs() {
        assert_eq!(
            split_server_spec("EXCH01=certs.xml").unwrap(),
            (Some("EXCH01".into()), PathBuf::from("certs.xml"))
        );
        assert_eq!(
            split_server_spec("exch01.contoso.lab=C:\\exports\\c.xml")
                .unwrap()
                .0
                .as_deref(),
            Some("exch01.contoso.lab")
        );
        assert_eq!(
            split_server_spec("certs.xml").unwrap(),
            (None, PathBuf::from("certs.xml"))
        );
        assert_eq!(
            split_server_spec("C:\\a=b\\c.xml").unwrap(),
            (None, PathBuf::from("C:\\a=b\\c.xml"))
        );
        assert!(split_server_spec("EXCH01=").is_err());
    }
}
