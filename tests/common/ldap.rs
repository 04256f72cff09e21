//! A real OpenLDAP `slapd` for the `--ldap` tests: started on 127.0.0.1 with free ports, the
//! test-only Exchange schema (`tests/ldap/exchange.schema`), TLS from a CA made at test time
//! (LDAPS and StartTLS), and a directory written as LDIF from the same [`Organisation`]
//! description the bundle tests use, so one description can be read both ways.
//!
//! The tree mirrors Active Directory's configuration partition:
//! `CN=<server>,CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative
//! Groups,CN=<org>,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=lab`, the
//! AuthConfig at `CN=Auth Configuration,CN=<org>,...` with the AuthServers and partner
//! applications in `CN=Auth Servers` and `CN=Partner Applications` below it, sites at
//! `CN=<site>,CN=Sites,...`, and the RootDSE's `configurationNamingContext`. The account
//! `CN=monitor,...` may read, nothing more.
//!
//! Debian's slapd is installed by `.ci/run`; locally, [`Slapd::start`] returns `None` (and the
//! tests print a note and pass) when `/usr/sbin/slapd` is absent.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

use super::Workdir;
use super::exchange::{Organisation, Store};
use super::net::{self, ServerIdentity};

pub const SLAPD: &str = "/usr/sbin/slapd";
pub const SLAPADD: &str = "/usr/sbin/slapadd";
pub const CONFIG_NC: &str = "CN=Configuration,DC=contoso,DC=lab";
pub const MONITOR_DN: &str = "CN=monitor,CN=Configuration,DC=contoso,DC=lab";
pub const MONITOR_PASSWORD: &str = "read-only secret";
pub const ORG: &str = "Contoso";

/// Exchange's `ServerRole` flags as `msExchCurrentServerRoles` stores them (decompiled
/// Exchange, Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole).
const ROLE_BITS: &[(&str, u32)] = &[
    ("Cafe", 1),
    ("Mailbox", 2),
    ("ClientAccess", 4),
    ("UnifiedMessaging", 16),
    ("HubTransport", 32),
    ("Edge", 64),
    ("FrontendTransport", 16384),
];

/// Exchange's `AuthServerType` values as `msExchAuthAuthServerType` stores them (decompiled
/// Exchange AuthServerType: Unknown, MicrosoftACS, Facebook, LinkedIn, ADFS, AzureAD, declared
/// without values; that AD stores the number is not verified, the check accepts the name too).
const AUTH_SERVER_ACS: u32 = 1;
const AUTH_SERVER_ADFS: u32 = 4;
const AUTH_SERVER_AZURE_AD: u32 = 5;

/// `msExchAuthFlags` bits (decompiled Exchange AuthServerSchema): Enabled is bit 0,
/// IsDefaultAuthorizationEndpoint bit 1.
const AUTH_ENABLED: u32 = 1;
const AUTH_DEFAULT_ENDPOINT: u32 = 2;

/// The Exchange Online first-party application HealthChecker looks for.
pub const EXCHANGE_ONLINE_APP: &str = "00000002-0000-0ff1-ce00-000000000000";
/// The tenant of the fixture's AuthServers, and the dedicated hybrid application's id.
const TENANT_ID: &str = "3f1b2a9c-5d4e-4f60-8a7b-9c0d1e2f3a4b";
pub const DEDICATED_APP_ID: &str = "7c2e9b14-6a3d-4e58-b1f0-2d4c6e8a0b13";

/// How `msExchAuthNextEffectiveDate` is written (its AD syntax is not verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateForm {
    GeneralizedTime,
    FileTime,
}

/// The organisation as an AD configuration partition, in LDIF.
pub struct DirectoryTree {
    pub entries: Vec<String>,
}

impl DirectoryTree {
    /// `organisation` as AD holds it: AuthConfig (unless the organisation has none), every
    /// server with its roles, version, FQDN, site and internal transport certificate (the DER
    /// of the store certificate the organisation names as its internal transport one).
    pub fn of(organisation: &Organisation, dates: DateForm) -> DirectoryTree {
        let mut tree = DirectoryTree::skeleton(organisation);
        if let Some(config) = &organisation.auth_config {
            let mut lines = vec![
                format!("dn: CN=Auth Configuration,{}", organisation_dn()),
                "objectClass: msExchAuthAuthConfig".into(),
                "cn: Auth Configuration".into(),
                format!("msExchAuthApplicationIdentifier: {}", config.service_name),
                format!(
                    "whenChanged: {}",
                    directory_date(config.changed_at, DateForm::GeneralizedTime)
                ),
            ];
            for (slot, thumbprint) in [
                (0, &config.current),
                (1, &config.previous),
                (2, &config.next),
            ] {
                if !thumbprint.is_empty() {
                    lines.push(format!(
                        "msExchAuthCertificateThumbprint: {slot}:{thumbprint}"
                    ));
                }
            }
            if let Some(effective) = config.next_effective {
                lines.push(format!(
                    "msExchAuthNextEffectiveDate: {}",
                    directory_date(effective, dates)
                ));
            }
            if !config.realm.is_empty() {
                lines.push(format!("msExchAuthRealm: {}", config.realm));
            }
            tree.entries.push(lines.join("\n"));
            if let Some((oauth, dedicated)) = organisation.hybrid_oauth {
                tree.add_auth_objects(oauth, dedicated);
            }
        }
        if organisation.hybrid == Some(true) {
            // Get-HybridConfiguration's object: class msExchCoexistenceRelationship below
            // CN=Hybrid Configuration (decompiled Exchange HybridConfiguration).
            let container = format!("CN=Hybrid Configuration,{}", organisation_dn());
            tree.entries.push(format!(
                "dn: {container}\nobjectClass: container\ncn: Hybrid Configuration"
            ));
            tree.entries.push(format!(
                "dn: CN=Hybrid Configuration,{container}\nobjectClass: msExchCoexistenceRelationship\ncn: Hybrid Configuration"
            ));
        }
        for server in &organisation.servers {
            let transport = server
                .internal_transport
                .as_ref()
                .and_then(|thumbprint| match &server.store {
                    Store::Certificates(certs) => certs
                        .iter()
                        .find(|c| &c.thumbprint == thumbprint)
                        .map(|c| c.der.clone()),
                    _ => None,
                });
            let info = &server.info;
            let roles: u32 = ROLE_BITS
                .iter()
                .filter(|(name, _)| info.roles.iter().any(|r| r == name))
                .map(|(_, bit)| bit)
                .sum();
            tree.add_server(
                &info.name,
                roles,
                &info.version_text(),
                &info.fqdn,
                &info.site,
                transport.as_deref(),
            );
        }
        tree
    }

    /// The AuthServers and partner applications behind HealthChecker's two OAuth signs of
    /// hybrid (the collector's `hybrid_oauth`), so that the directory says what the bundle says:
    /// - the Exchange Online partner application, enabled exactly when `oauth` (disabled, it is
    ///   no sign);
    /// - an evoSTS (`AzureAD`) AuthServer, enabled when either sign is set, whose
    ///   ApplicationIdentifier is the dedicated application's id when `dedicated`;
    /// - an ACS AuthServer enabled with `oauth`, and an enabled ADFS one with a GUID id, which
    ///   is neither sign (HealthChecker counts only evoSTS and ACS).
    fn add_auth_objects(&mut self, oauth: bool, dedicated: bool) {
        let config = format!("CN=Auth Configuration,{}", organisation_dn());
        let servers = format!("CN=Auth Servers,{config}");
        let applications = format!("CN=Partner Applications,{config}");
        let container = |dn: &str, cn: &str| format!("dn: {dn}\nobjectClass: container\ncn: {cn}");
        self.entries.push(container(&servers, "Auth Servers"));
        self.entries
            .push(container(&applications, "Partner Applications"));
        let enabled = |on: bool| if on { AUTH_ENABLED } else { 0 };
        let evo_sts_flags = enabled(oauth || dedicated) | AUTH_DEFAULT_ENDPOINT;
        let evo_sts_app = dedicated.then_some(DEDICATED_APP_ID);
        for (name, kind, flags, application) in [
            ("EvoSts", AUTH_SERVER_AZURE_AD, evo_sts_flags, evo_sts_app),
            ("ACS", AUTH_SERVER_ACS, enabled(oauth), None),
            (
                "ADFS",
                AUTH_SERVER_ADFS,
                AUTH_ENABLED,
                Some(DEDICATED_APP_ID),
            ),
        ] {
            let cn = format!("{name} - {TENANT_ID}");
            let mut lines = vec![
                format!("dn: CN={cn},{servers}"),
                "objectClass: msExchAuthAuthServer".into(),
                format!("cn: {cn}"),
                format!("msExchAuthAuthServerType: {kind}"),
                format!("msExchAuthFlags: {flags}"),
                format!("msExchAuthRealm: {TENANT_ID}"),
            ];
            if let Some(application) = application {
                lines.push(format!("msExchAuthApplicationIdentifier: {application}"));
            }
            self.entries.push(lines.join("\n"));
        }
        self.entries.push(format!(
            "dn: CN=Exchange Online,{applications}\nobjectClass: msExchAuthPartnerApplication\ncn: Exchange Online\nmsExchAuthApplicationIdentifier: {EXCHANGE_ONLINE_APP}\nmsExchAuthFlags: {}",
            enabled(oauth)
        ));
    }

    /// The containers down to the servers' container, the sites, and the monitoring account.
    fn skeleton(organisation: &Organisation) -> DirectoryTree {
        let mut sites: Vec<&str> = organisation
            .servers
            .iter()
            .map(|s| s.info.site.as_str())
            .collect();
        sites.sort();
        sites.dedup();
        let container = |dn: &str, cn: &str| format!("dn: {dn}\nobjectClass: container\ncn: {cn}");
        let mut entries = vec![
            container(CONFIG_NC, "Configuration"),
            format!(
                "dn: {MONITOR_DN}\nobjectClass: person\ncn: monitor\nsn: monitor\nuserPassword: {MONITOR_PASSWORD}"
            ),
            container(&format!("CN=Sites,{CONFIG_NC}"), "Sites"),
            container(&format!("CN=Services,{CONFIG_NC}"), "Services"),
            container(&exchange_dn(), "Microsoft Exchange"),
            format!(
                "dn: {}\nobjectClass: msExchOrganizationContainer\ncn: {ORG}",
                organisation_dn()
            ),
            container(
                &format!("CN=Administrative Groups,{}", organisation_dn()),
                "Administrative Groups",
            ),
            container(
                &format!(
                    "CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,{}",
                    organisation_dn()
                ),
                "Exchange Administrative Group (FYDIBOHF23SPDLT)",
            ),
            container(&servers_dn(), "Servers"),
        ];
        for site in sites {
            entries.push(format!(
                "dn: CN={site},CN=Sites,{CONFIG_NC}\nobjectClass: site\ncn: {site}"
            ));
        }
        DirectoryTree { entries }
    }

    /// One `msExchExchangeServer` object as Exchange setup writes it.
    pub fn add_server(
        &mut self,
        name: &str,
        roles: u32,
        version: &str,
        fqdn: &str,
        site: &str,
        transport_der: Option<&[u8]>,
    ) {
        let mut lines = vec![
            format!("dn: CN={name},{}", servers_dn()),
            "objectClass: msExchExchangeServer".into(),
            format!("cn: {name}"),
            format!("msExchCurrentServerRoles: {roles}"),
            format!("serialNumber: {version}"),
            format!("networkAddress: ncacn_vns_spp:{name}"),
            format!("networkAddress: netbios:{name}"),
            format!("networkAddress: ncacn_ip_tcp:{fqdn}"),
            format!("msExchServerSite: CN={site},CN=Sites,{CONFIG_NC}"),
        ];
        if let Some(der) = transport_der {
            lines.push(format!(
                "msExchServerInternalTLSCert:: {}",
                STANDARD.encode(der)
            ));
        }
        self.entries.push(lines.join("\n"));
    }

    pub fn ldif(&self) -> String {
        let mut text = self.entries.join("\n\n");
        text.push('\n');
        text
    }
}

pub fn exchange_dn() -> String {
    format!("CN=Microsoft Exchange,CN=Services,{CONFIG_NC}")
}

pub fn organisation_dn() -> String {
    format!("CN={ORG},{}", exchange_dn())
}

pub fn servers_dn() -> String {
    format!(
        "CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,{}",
        organisation_dn()
    )
}

fn directory_date(instant: OffsetDateTime, form: DateForm) -> String {
    let utc = instant.to_offset(time::UtcOffset::UTC);
    match form {
        DateForm::GeneralizedTime => format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}.0Z",
            utc.year(),
            u8::from(utc.month()),
            utc.day(),
            utc.hour(),
            utc.minute(),
            utc.second()
        ),
        DateForm::FileTime => ((utc.unix_timestamp() + 11_644_473_600) * 10_000_000).to_string(),
    }
}

/// Whether TLS is configured on the listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `ldaps://` and `ldap://` with StartTLS, certificate from [`Slapd::ca_file`]'s CA.
    Tls,
    /// No TLS at all: `ldap://` only, StartTLS refused.
    Plain,
}

/// A running slapd; stopped (by its own process id) when dropped.
pub struct Slapd {
    child: Child,
    pub ldaps: Option<SocketAddr>,
    pub ldap: SocketAddr,
    pub ca_file: PathBuf,
    pub dir: Workdir,
}

impl Slapd {
    /// Loads `tree` with slapadd and starts slapd; `None` (with a note on stderr) when slapd is
    /// not installed.
    pub fn start(tree: &DirectoryTree, security: Security) -> Option<Slapd> {
        if !Path::new(SLAPD).exists() || !Path::new(SLAPADD).exists() {
            eprintln!(
                "note: {SLAPD} is not installed; skipping this LDAP test (apt-get install slapd ldap-utils; CI installs it)"
            );
            return None;
        }
        let mut dir = Workdir::new();
        let identity = net::trusted_identity();
        let ca_file = dir.write("ca.pem", &identity.ca_pem);
        let config = write_config(&dir, &identity, security);
        let ldif = dir.write("tree.ldif", tree.ldif());
        load(&config, &ldif);
        for _attempt in 0..5 {
            let ldap = free_address();
            let ldaps = (security == Security::Tls).then(free_address);
            let mut urls = format!("ldap://{ldap}/");
            if let Some(ldaps) = ldaps {
                urls.push_str(&format!(" ldaps://{ldaps}/"));
            }
            let mut command = Command::new(SLAPD);
            command.args(["-d", "0", "-h", &urls, "-f"]).arg(&config);
            if is_root() {
                command.args(["-u", "root"]);
            }
            let log = std::fs::File::create(dir.join("slapd.log")).expect("slapd log");
            let child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("starting slapd");
            let mut slapd = Slapd {
                child,
                ldaps,
                ldap,
                ca_file: ca_file.clone(),
                dir,
            };
            if slapd.wait_ready() {
                return Some(slapd);
            }
            // A port taken between choosing and binding: try others.
            slapd.stop();
            dir = slapd.take_dir();
        }
        panic!("slapd did not start; see its log");
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://{}", self.ldaps.expect("LDAPS listener"))
    }

    pub fn starttls_url(&self) -> String {
        format!("ldap://{}", self.ldap)
    }

    fn wait_ready(&mut self) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let up = |address: Option<SocketAddr>| {
                address.is_none_or(|a| {
                    TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok()
                })
            };
            if up(Some(self.ldap)) && up(self.ldaps) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn take_dir(&mut self) -> Workdir {
        std::mem::take(&mut self.dir)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("slapd.log")).unwrap_or_default()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn free_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], net::closed_port()))
}

/// `slapd.conf`: core and the test schema, the RootDSE's configurationNamingContext, one mdb
/// database, read access for the monitoring account only, and small size limits so that only
/// a paged search can read many servers.
fn write_config(dir: &Workdir, identity: &ServerIdentity, security: Security) -> PathBuf {
    let schema = Path::new(super::CRATE_DIR).join("tests/ldap/exchange.schema");
    let root_dse = dir.write(
        "rootdse.ldif",
        format!("dn:\nconfigurationNamingContext: {CONFIG_NC}\n"),
    );
    std::fs::create_dir_all(dir.join("db")).expect("database directory");
    let tls = match security {
        Security::Tls => {
            let chain: String = identity.chain.iter().take(1).map(|der| pem(der)).collect();
            let cert = dir.write("server.pem", chain);
            let key = dir.write("server.key", &identity.key_pem);
            format!(
                "TLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
                cert.display(),
                key.display()
            )
        }
        Security::Plain => String::new(),
    };
    let config = format!(
        "include /etc/ldap/schema/core.schema
include {schema}
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
rootDSE {root_dse}
{tls}
database mdb
directory {dir}/db
maxsize 268435456
suffix \"{CONFIG_NC}\"
rootdn \"CN=admin,{CONFIG_NC}\"
rootpw admin-only-for-slapadd
limits dn.exact=\"{MONITOR_DN}\" size.soft=100 size.hard=100 size.pr=250 size.prtotal=unlimited
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact=\"{MONITOR_DN}\" read by * none
",
        schema = schema.display(),
        dir = dir.path().display(),
        root_dse = root_dse.display(),
    );
    dir.write("slapd.conf", config)
}

fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64"))
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

fn load(config: &Path, ldif: &Path) {
    let output = Command::new(SLAPADD)
        .arg("-f")
        .arg(config)
        .arg("-l")
        .arg(ldif)
        .arg("-q")
        .output()
        .expect("running slapadd");
    assert!(
        output.status.success(),
        "slapadd failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The organisation the tests that run `--ldap` through another program (Wine, Nagios 4,
/// Icinga 2) read: two Mailbox servers on the current Auth Certificate, EXCH02's internal
/// transport certificate 20 days from expiry, so the verdict is a WARNING (a non-zero exit code
/// every side must pass on). The Auth Certificate comes from a saved metadata document
/// (`--metadata FILE`), so nothing but slapd listens.
pub struct LdapCheck {
    pub slapd: Slapd,
    /// The metadata document publishing the current Auth Certificate.
    pub metadata: PathBuf,
    /// The monitoring account's password on its first line.
    pub password_file: PathBuf,
    /// The CA of slapd's certificate.
    pub ca_file: PathBuf,
    /// Each server's own metadata endpoint, for `--probe-servers` in place of `--metadata`.
    pub probes: super::probe::ProbedServers,
    /// slapd's CA and the servers' CA in one file, for the probing run.
    pub probe_ca_file: PathBuf,
    /// What `--now` must say for the verdict above.
    pub now: OffsetDateTime,
}

impl LdapCheck {
    /// Starts slapd with TLS and writes the files into `dir` (which the caller may have to make
    /// readable to a daemon); `None` when slapd is not installed.
    pub fn start(dir: &Path, now: OffsetDateTime) -> Option<LdapCheck> {
        let current = super::auth_expiring(now + super::days(1000) + super::seconds(3600));
        let transport: Vec<super::TestCert> = [("EXCH01", 1500), ("EXCH02", 20)]
            .iter()
            .map(|(name, left)| {
                super::selfsigned_expiring(name, now + super::days(*left) + super::seconds(3600))
            })
            .collect();
        let mut organisation = Organisation::new(now - super::seconds(3600))
            .auth_config(super::exchange::AuthConfigExport::current(&current));
        for (name, cert) in ["EXCH01", "EXCH02"].iter().zip(&transport) {
            let store = vec![
                super::exchange::StoreCert::new(&current, &[]),
                super::exchange::StoreCert::new(cert, &["SMTP"]),
            ];
            organisation = organisation
                .server(
                    super::exchange::ServerInfo::mailbox(name),
                    Store::Certificates(store),
                )
                .internal_transport(cert);
        }
        let tree = DirectoryTree::of(&organisation, DateForm::GeneralizedTime);
        let slapd = Slapd::start(&tree, Security::Tls)?;
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("writing an LDAP case file");
            path
        };
        let metadata = write(
            "ldap-metadata.json",
            &net::metadata_doc(&[(&current, None)], net::KeyCase::Lower),
        );
        let password_file = write("ldap-password", &format!("{MONITOR_PASSWORD}\n"));
        let slapd_ca = std::fs::read_to_string(&slapd.ca_file).expect("slapd's CA");
        let ca_file = write("ldap-ca.pem", &slapd_ca);
        let probes = super::probe::serve_after(&organisation, now, dir, std::time::Duration::ZERO);
        let servers_ca = std::fs::read_to_string(&probes.ca_file).expect("the servers' CA");
        let probe_ca_file = write("ldap-probe-ca.pem", &format!("{slapd_ca}{servers_ca}"));
        Some(LdapCheck {
            slapd,
            metadata,
            password_file,
            ca_file,
            probes,
            probe_ca_file,
            now,
        })
    }

    /// [`LdapCheck::args`] with `--probe-servers` (and every server's `--resolve`) in place of
    /// `--metadata`.
    pub fn probe_args(&self, url: &str, path: impl Fn(&Path) -> String) -> Vec<String> {
        let mut args = self.directory_args(url, &path, &self.probe_ca_file);
        args.extend(self.probes.args());
        args
    }

    /// The directory, the account, `--ca-file CA` and `--now`.
    fn directory_args(&self, url: &str, path: &impl Fn(&Path) -> String, ca: &Path) -> Vec<String> {
        [
            "--ldap",
            url,
            "--ldap-user",
            MONITOR_DN,
            "--ldap-password-file",
            &path(&self.password_file),
            "--ca-file",
            &path(ca),
            "--now",
            &super::rfc3339(self.now),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// The check's arguments for `url`, every file named through `path` (a Wine test gives
    /// `Z:\…` spellings).
    pub fn args(&self, url: &str, path: impl Fn(&Path) -> String) -> Vec<String> {
        let mut args = self.directory_args(url, &path, &self.ca_file);
        args.extend(["--metadata".to_string(), path(&self.metadata)]);
        args
    }
}
