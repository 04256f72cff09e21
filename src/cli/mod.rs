//! Command-line options shared by the binaries, and the glue from options to the flow:
//! options -> sources -> [`ExchangeState`] and options -> [`Policy`].

#[cfg(target_os = "linux")]
pub mod entry;
pub mod guard;
pub mod watchdog;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::{Args, Parser};

use crate::judge::{Policy, Severity, Thresholds};
use crate::model::{ExchangeState, ModelError};
use crate::parallel::Job;
use crate::render::OutputFormat;
use crate::source::{SourceError, bundle, cert_file, exchange_exports};
use crate::source::{http::HttpsOptions, metadata, tls};

const EXAMPLES: &str = "\
Examples:
  # the whole organisation, from the collector's bundle (plugins/windows)
  check_exchange_authcert --bundle /var/lib/exchange/exchange-authstate.json

  # the same from raw Exchange exports (Export-Clixml or ConvertTo-Json), one file per server
  check_exchange_authcert --authconfig GetAuthConfig.xml --servers GetExchangeServer.xml \\
      --certificates EXCH01=EXCH01-certs.xml --certificates EXCH02=EXCH02-certs.xml

  # Nagios/Icinga: check certificate files (PEM, DER, PFX) with the default thresholds
  check_exchange_authcert --cert auth.cer --cert transport.pem

  # a password-protected PFX; the password never goes on the command line
  EXCH_PFX_PASSWORD=secret check_exchange_authcert --cert auth.pfx --pfx-password-env EXCH_PFX_PASSWORD

  # PRTG EXE/Script Advanced sensor
  check_exchange_authcert.exe --cert C:\\certs\\auth.cer --output prtg-xml

  # agentless, from a Linux monitoring host: the published Auth metadata, then SMTP's certificate
  check_exchange_authcert --metadata https://mail.contoso.com/autodiscover/metadata/json/1
  check_exchange_authcert --tls exch01.contoso.com --starttls smtp

  # Prometheus textfile collector (written atomically; stdout stays empty)
  check_exchange_authcert --bundle state.json --output prometheus \\
      --output-file /var/lib/prometheus/node-exporter/exchange_authcert.prom

  # what-if: how will it look on 1 March 2027, warning at 90 days
  check_exchange_authcert --cert auth.cer --now 2027-03-01T00:00:00Z -w 90: -c 30:

Thresholds use the Monitoring Plugins range syntax on days left: '60:' alerts below 60,
'~:10' above 10, '10:20' outside 10..20, '@10:20' inside; edges are inclusive.
Exit codes (nagios, json): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. PRTG, checkmk and prometheus
outputs always exit 0 (3 when --output-file cannot be written).";

#[derive(Debug, Parser)]
#[command(
    name = "check_exchange_authcert",
    version,
    about = "Monitoring check for the Exchange Server Auth certificate and self-signed certificates",
    after_help = EXAMPLES
)]
pub struct CheckArgs {
    #[command(flatten)]
    pub inputs: InputArgs,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,

    /// Output format.
    #[arg(help_heading = "Output")]
    #[arg(short = 'o', long, value_enum, default_value = "nagios")]
    pub output: OutputFormat,

    /// Seconds the whole check may take before it gives up with UNKNOWN.
    #[arg(
        help_heading = "Output",
        short = 't',
        long,
        default_value = "10",
        value_name = "SECONDS",
        allow_hyphen_values = true
    )]
    pub timeout: String,

    /// More detail in the long output (certificate facts and where each was seen).
    #[arg(short = 'v', long, action = clap::ArgAction::Count, help_heading = "Output")]
    pub verbose: u8,

    /// Write the output to FILE instead of stdout, atomically (a temp file in the same
    /// directory renamed over FILE): for the Prometheus textfile collector and scheduled
    /// tasks. The exit code stays as the format defines; a file that cannot be written is
    /// UNKNOWN (exit 3) with the reason on stdout.
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

/// Where the state comes from.
#[derive(Debug, Args)]
#[command(next_help_heading = "Inputs")]
pub struct InputArgs {
    /// The collector's bundle (plugins/windows/Export-ExchangeAuthState.ps1): AuthConfig,
    /// servers, every server's certificates, hybrid, collection time.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,

    /// `Get-AuthConfig` exported with Export-Clixml or ConvertTo-Json.
    #[arg(long, value_name = "FILE")]
    pub authconfig: Option<PathBuf>,

    /// `Get-ExchangeCertificate` export (Export-Clixml or ConvertTo-Json), one per server;
    /// SERVER= names the server when the export does not (PSComputerName names the shell's
    /// host, not the server queried). Repeatable.
    #[arg(long = "certificates", value_name = "[SERVER=]FILE")]
    pub certificate_exports: Vec<String>,

    /// `Get-ExchangeServer` export: which servers must hold the Auth Certificate.
    #[arg(long, value_name = "FILE")]
    pub servers: Option<PathBuf>,

    /// Certificate file to check: PEM (any number of certificates), DER/.cer, base64 or
    /// PKCS#12/.pfx; the format is read from the content. Repeatable.
    #[arg(long = "cert", value_name = "FILE")]
    pub certs: Vec<PathBuf>,

    /// Name of an environment variable holding the PFX password.
    #[arg(long, value_name = "VAR", conflicts_with = "pfx_password_file")]
    pub pfx_password_env: Option<String>,

    /// File whose first line is the PFX password.
    #[arg(long, value_name = "FILE")]
    pub pfx_password_file: Option<PathBuf>,

    /// Exchange's Auth metadata document: an https URL
    /// (https://SERVER/autodiscover/metadata/json/1) fetched anonymously, or a saved file.
    #[arg(long, value_name = "URL|FILE", help_heading = "Agentless (network)")]
    pub metadata: Option<String>,

    /// Extra CA certificates (PEM) trusted for the --metadata URL, besides the webpki roots.
    #[arg(long, value_name = "PEM", help_heading = "Agentless (network)")]
    pub ca_file: Option<PathBuf>,

    /// Do not verify the --metadata server's certificate (internal CAs without --ca-file).
    #[arg(long, help_heading = "Agentless (network)")]
    pub insecure: bool,

    /// Server name to ask for (SNI; for --metadata also Host and verification) instead of the
    /// host in the URL or --tls.
    #[arg(long, value_name = "NAME", help_heading = "Agentless (network)")]
    pub sni: Option<String>,

    /// Connect to this address instead of the named host (one server behind a load balancer).
    #[arg(
        long,
        value_name = "ADDRESS[:PORT]",
        help_heading = "Agentless (network)"
    )]
    pub connect_to: Option<String>,

    /// Fetch the certificate chain this endpoint presents, without trusting it, and judge it.
    /// Default port 443, or 25/143/110 with --starttls smtp/imap/pop3. Repeatable.
    #[arg(
        long = "tls",
        value_name = "HOST[:PORT]",
        help_heading = "Agentless (network)"
    )]
    pub tls: Vec<String>,

    /// Speak this protocol in clear before the TLS handshake on every --tls endpoint.
    #[arg(
        long,
        value_enum,
        value_name = "PROTOCOL",
        requires = "tls",
        help_heading = "Agentless (network)"
    )]
    pub starttls: Option<tls::StartTls>,

    /// Judge every certificate of a --tls chain, not only the leaf.
    #[arg(long, requires = "tls", help_heading = "Agentless (network)")]
    pub chain: bool,
}

/// Thresholds and the instant of evaluation.
#[derive(Debug, Args)]
#[command(next_help_heading = "Judgement")]
pub struct ThresholdArgs {
    /// Warning range for Auth Certificates, in days left.
    #[arg(short = 'w', long, default_value = "60:", allow_hyphen_values = true)]
    pub warning: String,

    /// Critical range for Auth Certificates, in days left.
    #[arg(short = 'c', long, default_value = "30:", allow_hyphen_values = true)]
    pub critical: String,

    /// Warning range for every other certificate, in days left.
    #[arg(long, default_value = "30:", allow_hyphen_values = true)]
    pub selfsigned_warning: String,

    /// Critical range for every other certificate, in days left.
    #[arg(long, default_value = "14:", allow_hyphen_values = true)]
    pub selfsigned_critical: String,

    /// Evaluate at this instant (RFC 3339, e.g. 2027-03-01T00:00:00Z) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,

    /// Days before the current Auth Certificate expires by which a next one must be staged.
    #[arg(
        long,
        default_value = "60",
        value_name = "DAYS",
        allow_hyphen_values = true
    )]
    pub rotation_window: String,

    /// A staged next certificate with this many days left or fewer is reported.
    #[arg(
        long,
        default_value = "120",
        value_name = "DAYS",
        allow_hyphen_values = true
    )]
    pub next_min_days: String,

    /// Hours after its effective date a next certificate may stay unpublished.
    #[arg(
        long,
        default_value = "24",
        value_name = "HOURS",
        allow_hyphen_values = true
    )]
    pub publish_grace: String,

    /// Hours after which a bundle (or export file) is stale; 0 disables the check.
    #[arg(
        long,
        default_value = "26",
        value_name = "HOURS",
        allow_hyphen_values = true
    )]
    pub max_age: String,

    /// State of a server whose certificates could not be queried, or of a --metadata/--tls
    /// endpoint that could not be reached.
    #[arg(long, value_enum, default_value = "unknown", value_name = "STATE")]
    pub unreachable_state: StateOption,
}

/// A service state an admin can choose for a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateOption {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl StateOption {
    fn severity(self) -> Severity {
        match self {
            // OK still shows the line, as information.
            StateOption::Ok => Severity::Info,
            StateOption::Warning => Severity::Warning,
            StateOption::Critical => Severity::Critical,
            StateOption::Unknown => Severity::Unknown,
        }
    }
}

/// An option that cannot be used: the run ends UNKNOWN with this text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OptionError(pub String);

impl ThresholdArgs {
    pub fn now(&self) -> Result<DateTime<Utc>, OptionError> {
        match &self.now {
            None => Ok(Utc::now()),
            Some(text) => DateTime::parse_from_rfc3339(text.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    OptionError(format!(
                        "--now '{text}' is not an RFC 3339 instant ({e}); example: 2027-03-01T00:00:00Z"
                    ))
                }),
        }
    }

    pub fn policy(&self, now: DateTime<Utc>) -> Result<Policy, OptionError> {
        let pair = |warning: &str, critical: &str, names: &str| {
            Thresholds::parse(warning, critical)
                .map_err(|e| OptionError(format!("invalid {names}: {e}")))
        };
        let hours = |text: &str, name: &str| {
            whole_number(text, name, 0, 24 * 365 * 10).map(chrono::Duration::hours)
        };
        let max_age = hours(&self.max_age, "--max-age")?;
        Ok(Policy {
            now,
            auth: pair(&self.warning, &self.critical, "-w/-c")?,
            selfsigned: pair(
                &self.selfsigned_warning,
                &self.selfsigned_critical,
                "--selfsigned-warning/--selfsigned-critical",
            )?,
            rotation_window_days: whole_number(
                &self.rotation_window,
                "--rotation-window",
                0,
                1826,
            )?,
            next_min_days: whole_number(&self.next_min_days, "--next-min-days", 0, 1826)?,
            publish_grace: hours(&self.publish_grace, "--publish-grace")?,
            max_age: (max_age > chrono::Duration::zero()).then_some(max_age),
            unreachable_severity: self.unreachable_state.severity(),
        })
    }
}

fn whole_number(text: &str, name: &str, min: i64, max: i64) -> Result<i64, OptionError> {
    match text.trim().parse::<i64>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(OptionError(format!(
            "{name} '{text}' must be a whole number from {min} to {max}"
        ))),
    }
}

/// Seconds from `-t`: positive and at most an hour (Icinga kills a plugin after a minute anyway).
pub fn parse_timeout(text: &str) -> Result<std::time::Duration, OptionError> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 3600.0 => {
            Ok(std::time::Duration::from_secs_f64(seconds))
        }
        _ => Err(OptionError(format!(
            "-t/--timeout '{text}' must be a number of seconds greater than 0 and at most 3600"
        ))),
    }
}

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
                "no input: give --bundle, --authconfig with --certificates, --cert FILE, --metadata or --tls (see --help)".into(),
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
        // Exports without SERVER= are credited to the server they name (PSComputerName names
        // the shell's host): two such files naming the same server are two servers' stores
        // exported from one shell, and merging them would hide a missing certificate.
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
            note_file_time(&mut state, &path);
        }
        let password = self.pfx_password()?;
        for path in &self.certs {
            let (_, ders) = cert_file::read_certificate_file(path, password.as_deref())?;
            state.add_certificate_file(&ders, &origin(path))?;
        }
        if let Some(NetworkSource::File(path)) = &network.metadata {
            state.set_metadata(metadata::read_metadata_file(path)?);
        }
        network.run(&mut state, deadline);
        state.adopt_published_auth_certificates();
        Ok(state)
    }

    /// The network inputs, checked before anything is read or sent.
    fn network_plan(&self) -> Result<NetworkPlan, InputError> {
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
                let extra_roots = match &self.ca_file {
                    Some(path) => read_ca_file(path)?,
                    None => Vec::new(),
                };
                Some(NetworkSource::Url(
                    spec.to_string(),
                    HttpsOptions {
                        extra_roots,
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
        })
    }

    fn pfx_password(&self) -> Result<Option<String>, OptionError> {
        if let Some(variable) = &self.pfx_password_env {
            return std::env::var(variable).map(Some).map_err(|_| {
                OptionError(format!(
                    "--pfx-password-env: environment variable '{variable}' is not set"
                ))
            });
        }
        if let Some(path) = &self.pfx_password_file {
            let bytes = crate::source::read_input_file(path)
                .map_err(|e| OptionError(format!("--pfx-password-file: {e}")))?;
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                OptionError(format!(
                    "--pfx-password-file: {}: not UTF-8 text",
                    path.display()
                ))
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
}

fn origin(path: &Path) -> String {
    path.display().to_string()
}

/// Network steps end this much before the `-t` watchdog: a fifth of `-t`, at most half a second.
fn network_budget(timeout: std::time::Duration) -> std::time::Duration {
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

enum NetworkSource {
    Url(String, HttpsOptions),
    File(PathBuf),
}

/// What the agentless options ask for, checked and ready to run.
struct NetworkPlan {
    metadata: Option<NetworkSource>,
    targets: Vec<tls::TlsTarget>,
    chain: bool,
}

impl NetworkPlan {
    /// Fetches the metadata URL and every `--tls` endpoint in parallel, by one deadline. A
    /// failure is recorded in the state (judged as a finding), never an input error.
    fn run(&self, state: &mut ExchangeState, deadline: tls::Deadline) {
        let url = match &self.metadata {
            Some(NetworkSource::Url(url, options)) => Some((url, options)),
            _ => None,
        };
        if url.is_none() && self.targets.is_empty() {
            return;
        }
        let (metadata_result, chains) = std::thread::scope(|scope| {
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
            (metadata, chains)
        });
        if let (Some((url, _)), Some(result)) = (url, metadata_result) {
            state.set_fetched_metadata(url, result);
        }
        for (target, result) in self.targets.iter().zip(chains) {
            state.add_tls_chain(target.origin(), result, self.chain);
        }
    }
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

/// The output format named on a command line, found without clap so that even a command line
/// clap rejects gets its error in the format the monitoring system expects.
pub fn output_format_in(args: &[String]) -> OutputFormat {
    use clap::ValueEnum;
    let mut chosen = OutputFormat::Nagios;
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let value = if arg == "--output" || arg == "-o" {
            iter.next().map(String::as_str)
        } else if let Some(value) = arg.strip_prefix("--output=") {
            Some(value)
        } else {
            arg.strip_prefix("-o").filter(|v| !v.is_empty())
        };
        if let Some(format) = value.and_then(|v| OutputFormat::from_str(v, true).ok()) {
            chosen = format;
        }
    }
    chosen
}

/// The `--output-file` named on a command line, found without clap (as the output format), so
/// that even a command line clap rejects leaves its failure document in the file: a textfile
/// collector then sees `exchange_authcert_check_success 0` instead of yesterday's file.
pub fn output_file_in(args: &[String]) -> Option<PathBuf> {
    let mut chosen = None;
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        if arg == "--output-file" {
            if let Some(value) = iter.next() {
                chosen = Some(PathBuf::from(value));
            }
        } else if let Some(value) = arg.strip_prefix("--output-file=") {
            chosen = Some(PathBuf::from(value));
        }
    }
    chosen.filter(|path| !path.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_output_file_before_parsing() {
        assert_eq!(output_file_in(&args(&["x", "--cert", "a"])), None);
        assert_eq!(
            output_file_in(&args(&["x", "--output-file", "/tmp/a.prom", "--bogus"])),
            Some(PathBuf::from("/tmp/a.prom"))
        );
        assert_eq!(
            output_file_in(&args(&["x", "--output-file=b.prom"])),
            Some(PathBuf::from("b.prom"))
        );
        assert_eq!(output_file_in(&args(&["x", "--output-file="])), None);
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_the_output_format_before_parsing() {
        assert_eq!(output_format_in(&args(&["x"])), OutputFormat::Nagios);
        assert_eq!(
            output_format_in(&args(&["x", "--bogus", "--output", "prtg-xml"])),
            OutputFormat::PrtgXml
        );
        assert_eq!(
            output_format_in(&args(&["x", "--output=prtg-v2"])),
            OutputFormat::PrtgV2
        );
        assert_eq!(
            output_format_in(&args(&["x", "-ojson"])),
            OutputFormat::Json
        );
    }

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

    #[test]
    fn timeout_bounds() {
        assert!(parse_timeout("10").is_ok());
        assert!(parse_timeout("0.5").is_ok());
        for bad in ["0", "-1", "abc", "3601", "NaN", "inf"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }
}
