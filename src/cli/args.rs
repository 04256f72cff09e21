//! The command line as clap reads it: the options with their help, and the examples after it.
//!
//! Values stay as typed (thresholds, durations and addresses are text here): what they mean is
//! built once parsing is done, in [`super::policy`], [`super::inputs`] and [`super::network`],
//! whose errors name the option in the check's own words.

use std::path::PathBuf;

use clap::{Args, Parser};

use crate::render::OutputFormat;
use crate::source::tls;

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

  # agentless organisation: AuthConfig and servers from Active Directory, then every server
  # asked for the Auth Certificate it publishes (the password never goes on the command line)
  LDAP_PASSWORD=secret check_exchange_authcert --ldap ldaps://dc1.contoso.com \\
      --ldap-user monitor@contoso.com --ldap-password-env LDAP_PASSWORD --ca-file corp-ca.pem \\
      --probe-servers

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

    /// Extra CA certificates (PEM) trusted for the --metadata URL and the --ldap domain
    /// controller, besides the webpki roots.
    #[arg(long, value_name = "PEM", help_heading = "Agentless (network)")]
    pub ca_file: Option<PathBuf>,

    /// Do not verify the --metadata server's or the --ldap domain controller's certificate
    /// (internal CAs without --ca-file).
    #[arg(long, help_heading = "Agentless (network)")]
    pub insecure: bool,

    /// Read AuthConfig and the Exchange servers from Active Directory: ldaps://DC[:636], or
    /// ldap://DC[:389] with StartTLS (required: never a clear-text bind). Bind and search only.
    /// The Auth Certificates themselves are not in AD: add --probe-servers (or --metadata)
    /// for them.
    #[arg(
        long,
        value_name = "URL",
        requires = "ldap_user",
        conflicts_with_all = ["bundle", "authconfig", "servers"],
        help_heading = "Active Directory (agentless)"
    )]
    pub ldap: Option<String>,

    /// The account for the simple bind: a DN or a UPN (monitor@contoso.com). Reading the
    /// configuration partition is enough.
    #[arg(
        long,
        value_name = "USER",
        requires = "ldap",
        help_heading = "Active Directory (agentless)"
    )]
    pub ldap_user: Option<String>,

    /// Name of an environment variable holding the --ldap-user password.
    #[arg(
        long,
        value_name = "VAR",
        requires = "ldap",
        conflicts_with = "ldap_password_file",
        help_heading = "Active Directory (agentless)"
    )]
    pub ldap_password_env: Option<String>,

    /// File whose first line is the --ldap-user password.
    #[arg(
        long,
        value_name = "FILE",
        requires = "ldap",
        help_heading = "Active Directory (agentless)"
    )]
    pub ldap_password_file: Option<PathBuf>,

    /// The configuration naming context (CN=Configuration,DC=contoso,DC=com); by default read
    /// from the domain controller's RootDSE.
    #[arg(
        long,
        value_name = "DN",
        requires = "ldap",
        help_heading = "Active Directory (agentless)"
    )]
    pub ldap_base: Option<String>,

    /// Ask every server that must hold the Auth Certificate (from --ldap, --bundle or
    /// --servers) for its own Auth metadata (https://FQDN/autodiscover/metadata/json/1), in
    /// parallel: the current certificate published = present there, an error answer = missing
    /// or broken there, no answer = unreachable. Servers whose store a bundle or export read
    /// are not asked. Trust as for --metadata (--ca-file, --insecure).
    #[arg(long, help_heading = "Per-server probes (agentless)")]
    pub probe_servers: bool,

    /// Connect to ADDRESS[:PORT] whenever NAME is probed (SNI, Host and verification keep
    /// NAME): for a monitoring host without the servers in its DNS. Repeatable.
    #[arg(
        long,
        value_name = "NAME=ADDRESS[:PORT]",
        requires = "probe_servers",
        help_heading = "Per-server probes (agentless)"
    )]
    pub resolve: Vec<String>,

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

    /// Alert on certificates in the stores that are bound to no service (neither the Auth nor
    /// the internal transport certificate) as on any other; by default they are information.
    #[arg(long)]
    pub alert_unbound: bool,
}

/// A service state an admin can choose for a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateOption {
    Ok,
    Warning,
    Critical,
    Unknown,
}
