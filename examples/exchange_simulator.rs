//! An Exchange organisation simulator that stands in for `powershell.exe` in the tests of
//! `renew_exchange_authcert` (test code: examples are built by `cargo test`, never installed).
//!
//! ```text
//! exchange_simulator init --org ORG.json --scenario stage --now 2026-12-01T00:00:00Z [--servers 2]
//! exchange_simulator export --org ORG.json --out bundle.json     # the check's bundle format
//! EXSIM_ORG=ORG.json exchange_simulator -NoProfile -Command -    # what `run` starts
//! EXSIM_ORG=ORG.json exchange_simulator script FILE.ps1 -Yes     # a generated script
//! ```
//!
//! As PowerShell it reads one line at a time from stdin, parses it with tree-sitter-powershell
//! and executes the cmdlet invocations it finds, with the documented semantics: New-, Enable-,
//! Get-, Export-, Import-, Remove-ExchangeCertificate (not found vs unreachable, the default SMTP
//! certificate overwritten by -Force or by the default answer Yes), Get-/Set-AuthConfig (date
//! rules: past -> error, < 48 h -> needs -Force; -PublishCertificate; -ClearPreviousCertificate;
//! -CertificateThumbprint), Get-TransportService, Get-HybridConfiguration, Restart-Service
//! (MSExchangeServiceHost runs the AuthAdmin servicelet), Restart-WebAppPool, Invoke-Command,
//! ConvertTo-SecureString, Write-Output, Get-Date. The runner's prelude functions
//! `Invoke-RenewStep` and `Get-RenewState` are implemented natively (their PowerShell is
//! syntax-checked in tests/renew_script.rs); the step text they carry is executed as above.
//!
//! Real Exchange behaviour the plans must survive (issue 15; each rule's comment names its
//! Microsoft source): Export-ExchangeCertificate refuses the Auth Certificate (KB5069337);
//! Set-AuthConfig replicates the certificate within its AD site only (`init --other-site`);
//! New-ExchangeCertificate runs on the local server without -Server and ignores a piped
//! certificate; each server has a front-end (443, a CA certificate) and a back-end (444, the
//! transport certificate) web site, -Services IIS binds the front end, a bound certificate cannot
//! be removed; an expired certificate cannot be enabled; the clock moves 60 s per
//! state-changing cmdlet; output is written in code page 850. The step functions of the script
//! and prelude (Copy-RenewAuthCertificate, Restore-RenewTransport, Set-RenewBackEndCertificate)
//! are implemented natively from the Microsoft code they follow.
//!
//! Issue 15 items 8 to 10: `script FILE -Yes` runs a whole generated script (statements,
//! functions, `if`/`foreach`/`try`, the operators and .NET members the scripts use, a virtual
//! file system for the log and the record); the prelude's functions are defined from the base64
//! line `run` sends, so that step code calling them runs them as written. Modes, each with its
//! Microsoft source at the rule: `EXSIM_RAWDATA_ONLY=1` certificate objects with RawData only
//! while the current Auth Certificate is expired or locally missing (serialization signing;
//! MEAC's Import-ExchangeCertificateFromRawData.ps1); `EXSIM_PLAIN_SHELL=1` no Exchange cmdlets
//! until RemoteExchange.ps1 is dot-sourced and Connect-ExchangeServer runs (MEAC's
//! Confirm-ExchangeShell.ps1). Always: prompting cmdlets fail without `-Force` /
//! `-Confirm:$false`, as in a host without a console; every Set-AuthConfig moves AuthConfig's
//! whenChanged (exported as WhenChangedUTC); Get-Service and Get-WebAppPoolState answer for the
//! server the shell runs on.
//!
//! Fault injection: `EXSIM_FAIL=N` fails the N-th state-changing cmdlet (counted over the
//! organisation's life) before it acts; `EXSIM_FAIL=N+` after it acted. `EXSIM_FAIL_CMDLET=Name`
//! fails the first call of that cmdlet. Each fault fires once. `EXSIM_SERVICE_STUCK=SERVER`:
//! MSExchangeServiceHost does not start again after a restart there.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use exchange_authcert::model::{AUTH_CERTIFICATE_CN, Certificate, Thumbprint};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use tree_sitter::{Node, Parser};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Org {
    now: DateTime<Utc>,
    hybrid: bool,
    current: String,
    previous: String,
    next: String,
    next_effective: Option<DateTime<Utc>>,
    servers: Vec<SimServer>,
    /// State-changing cmdlets run so far (for EXSIM_FAIL).
    mutations: u64,
    faults_fired: Vec<String>,
    events: Vec<String>,
    #[serde(default)]
    secure_strings: u64,
    /// AD's whenChanged of AuthConfig: every Set-AuthConfig moves it (exported as
    /// WhenChangedUTC, as the collector 1.1.0 does).
    #[serde(default)]
    auth_changed: Option<DateTime<Utc>>,
    /// Files scripts wrote (the renewal log and record), by path.
    #[serde(default)]
    files: BTreeMap<String, Vec<String>>,
    /// Servers where MSExchangeServiceHost is stopped.
    #[serde(default)]
    stopped: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SimServer {
    name: String,
    reachable: bool,
    transport: String,
    certificates: Vec<SimCert>,
    /// The AD site. The certificate servicelet replicates the Auth Certificate to the
    /// Client Access servers of the site where Set-AuthConfig runs (DOMAIN.md §8; Microsoft
    /// Learn, Set-AuthConfig; MEAC only asks the admin to check other sites:
    /// MonitorExchangeAuthCertificate.ps1).
    #[serde(default)]
    site: String,
    /// The certificate bound to the Default Web Site (front end, 443): what
    /// `Enable-ExchangeCertificate -Services IIS` binds (DOMAIN.md §8; Microsoft Learn,
    /// Enable-ExchangeCertificate).
    #[serde(default)]
    front_end: String,
    /// The certificate bound to the Exchange Back End site (444): setup binds the internal
    /// transport certificate there; Enable-ExchangeCertificate never does
    /// (New-ExchangeAuthCertificate.ps1 removes IIS "to prevent it being bound to Front End").
    #[serde(default)]
    back_end: String,
}

/// The AD site every simulated server is in unless `init --other-site NAME` moves it.
const DEFAULT_SITE: &str = "Default-First-Site-Name";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SimCert {
    der: String,
    thumbprint: String,
    services: Vec<String>,
    friendly_name: String,
    exportable: bool,
}

impl SimCert {
    fn new(der: Vec<u8>, services: &[&str], friendly: &str) -> SimCert {
        SimCert {
            thumbprint: Thumbprint::of_der(&der).to_string(),
            der: STANDARD.encode(&der),
            services: services.iter().map(|s| s.to_string()).collect(),
            friendly_name: friendly.into(),
            exportable: true,
        }
    }
    fn facts(&self) -> Certificate {
        Certificate::from_der(&STANDARD.decode(&self.der).unwrap_or_default())
            .expect("simulator certificates are valid DER")
    }
}

impl SimServer {
    /// A certificate's services as Get-ExchangeCertificate shows them: IIS when either web
    /// site is bound to it, whatever the flags say.
    fn services_of(&self, c: &SimCert) -> Vec<String> {
        let mut list: Vec<String> = c.services.iter().filter(|s| *s != "IIS").cloned().collect();
        if self.front_end == c.thumbprint || self.back_end == c.thumbprint {
            list.insert(0, "IIS".into());
        }
        list
    }

    fn services_text(&self, c: &SimCert) -> String {
        let list = self.services_of(c);
        // EXSIM_REMOTE_SHELL=1: a remote Exchange shell sends the AllowedServices flags as a
        // number (DOMAIN.md §8; MEAC's New-ExchangeAuthCertificate.ps1 compares Services with
        // 0): IMAP 1, POP 2, UM 4, IIS 8, SMTP 16, Federation 32, UMCallRouter 64.
        if std::env::var("EXSIM_REMOTE_SHELL").is_ok_and(|v| v == "1") {
            let flags: u32 = list
                .iter()
                .map(|s| match s.as_str() {
                    "IMAP" => 1,
                    "POP" => 2,
                    "UM" => 4,
                    "IIS" => 8,
                    "SMTP" => 16,
                    "Federation" => 32,
                    "UMCallRouter" => 64,
                    _ => 0,
                })
                .sum();
            return flags.to_string();
        }
        if list.is_empty() {
            "None".into()
        } else {
            list.join(", ")
        }
    }

    fn site(&self) -> &str {
        if self.site.is_empty() {
            DEFAULT_SITE
        } else {
            &self.site
        }
    }

    fn holds(&self, thumbprint: &str) -> bool {
        self.certificates
            .iter()
            .any(|c| c.thumbprint.eq_ignore_ascii_case(thumbprint))
    }
}

fn make_cert(cn: &str, not_before: DateTime<Utc>, not_after: DateTime<Utc>) -> Vec<u8> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    let ts =
        |t: DateTime<Utc>| time::OffsetDateTime::from_unix_timestamp(t.timestamp()).expect("time");
    params.not_before = ts(not_before);
    params.not_after = ts(not_after);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().expect("key");
    params
        .self_signed(&key)
        .expect("certificate")
        .der()
        .to_vec()
}

// ------------------------------------------------------------------------------------------
// Scenarios
// ------------------------------------------------------------------------------------------

fn init(scenario: &str, now: DateTime<Utc>, count: usize) -> Result<Org, String> {
    let days = Duration::days;
    let mut org = Org {
        now,
        ..Org::default()
    };
    for i in 1..=count {
        let name = format!("EXCH{i:02}");
        let transport = SimCert::new(
            make_cert(&name, now - days(400), now + days(1400)),
            &["SMTP"],
            "Microsoft Exchange",
        );
        // The CA certificate clients see on the front end (443).
        let public = SimCert::new(
            make_cert("mail.contoso.lab", now - days(30), now + days(335)),
            &["IMAP", "POP"],
            "mail.contoso.lab",
        );
        let wmsvc = SimCert::new(
            make_cert(
                &format!("WMSvc-SHA2-{name}"),
                now - days(400),
                now + days(3000),
            ),
            &[],
            "WMSvc-SHA2",
        );
        org.servers.push(SimServer {
            name,
            reachable: true,
            transport: transport.thumbprint.clone(),
            site: DEFAULT_SITE.into(),
            front_end: public.thumbprint.clone(),
            back_end: transport.thumbprint.clone(),
            certificates: vec![transport, public, wmsvc],
        });
    }
    let auth = |nb: DateTime<Utc>, na: DateTime<Utc>| {
        SimCert::new(
            make_cert(AUTH_CERTIFICATE_CN, nb, na),
            &[],
            AUTH_CERTIFICATE_CN,
        )
    };
    let add_all = |org: &mut Org, cert: &SimCert| {
        org.servers
            .iter_mut()
            .for_each(|s| s.certificates.push(cert.clone()))
    };
    let healthy = auth(now - days(700), now + days(1100));
    match scenario {
        "healthy" | "selfsigned" | "selfsigned-remote" | "cleanup" => {
            add_all(&mut org, &healthy);
            org.current = healthy.thumbprint.clone();
            if scenario.starts_with("selfsigned") {
                // selfsigned-remote: the expiring transport certificate is on the last server,
                // not on the one the plan runs on.
                let at = if scenario == "selfsigned" {
                    0
                } else {
                    org.servers.len() - 1
                };
                let name = org.servers[at].name.clone();
                let renewed = SimCert::new(
                    make_cert(&name, now - days(1815), now + days(10)),
                    &["SMTP"],
                    "Microsoft Exchange",
                );
                let s = &mut org.servers[at];
                for c in &mut s.certificates {
                    c.services.retain(|x| x != "SMTP");
                }
                s.transport = renewed.thumbprint.clone();
                s.back_end = renewed.thumbprint.clone();
                s.certificates.push(renewed);
            }
            if scenario == "cleanup" {
                let last = org.servers.len() - 1;
                let dead = SimCert::new(
                    make_cert("old.contoso.lab", now - days(800), now - days(30)),
                    &[],
                    "old",
                );
                let old_auth = auth(now - days(2000), now - days(100));
                org.servers[last].certificates.push(dead);
                org.servers[last].certificates.push(old_auth);
            }
        }
        "stage" | "hybrid" | "unreachable" => {
            let cur = auth(now - days(1800), now + days(20));
            add_all(&mut org, &cur);
            org.current = cur.thumbprint.clone();
            org.hybrid = scenario == "hybrid";
            if scenario == "unreachable" {
                let last = org.servers.len() - 1;
                org.servers[last].reachable = false;
            }
        }
        // 3.5 days left: MEAC's rule stages 2 days (48 h) ahead (issue 15 item 7).
        "stage-short" => {
            let cur = auth(now - days(1800), now + Duration::hours(84));
            add_all(&mut org, &cur);
            org.current = cur.thumbprint.clone();
        }
        "replace" => {
            let cur = auth(now - days(1830), now - days(3));
            add_all(&mut org, &cur);
            org.current = cur.thumbprint.clone();
        }
        // Setup made the Auth Certificate and the internal transport certificates on the same
        // day: both have expired (issue 15 item 4).
        "replace-expired-transport" => {
            let cur = auth(now - days(1830), now - days(3));
            add_all(&mut org, &cur);
            org.current = cur.thumbprint.clone();
            for s in &mut org.servers {
                let expired = SimCert::new(
                    make_cert(&s.name, now - days(1830), now - days(3)),
                    &["SMTP"],
                    "Microsoft Exchange",
                );
                for c in &mut s.certificates {
                    c.services.retain(|x| x != "SMTP");
                }
                s.transport = expired.thumbprint.clone();
                s.back_end = expired.thumbprint.clone();
                s.certificates.push(expired);
            }
        }
        "replace-missing" => {
            let cur = auth(now - days(100), now + days(1000));
            org.current = cur.thumbprint.clone();
        }
        "import" => {
            add_all(&mut org, &healthy);
            org.current = healthy.thumbprint.clone();
            let last = org.servers.len() - 1;
            org.servers[last]
                .certificates
                .retain(|c| c.thumbprint != healthy.thumbprint);
        }
        "import-next" => {
            let cur = auth(now - days(1780), now + days(50));
            let next = auth(now - days(1), now + days(1800));
            add_all(&mut org, &cur);
            add_all(&mut org, &next);
            org.current = cur.thumbprint.clone();
            org.next = next.thumbprint.clone();
            org.next_effective = Some(now + days(20));
            let last = org.servers.len() - 1;
            org.servers[last]
                .certificates
                .retain(|c| c.thumbprint != next.thumbprint);
        }
        // A next certificate staged to take over only after the current one expires (MEAC's
        // judgement would leave a gap): it is staged again, before (issue 15 item 8's rerun of a
        // restaging).
        "restage" => {
            let cur = auth(now - days(1800), now + days(20));
            let next = auth(now - days(1), now + days(1800));
            add_all(&mut org, &cur);
            add_all(&mut org, &next);
            org.current = cur.thumbprint.clone();
            org.next = next.thumbprint.clone();
            org.next_effective = Some(now + days(25));
        }
        "publish" => {
            let cur = auth(now - days(1800), now + days(27));
            let next = auth(now - days(10), now + days(1800));
            add_all(&mut org, &cur);
            add_all(&mut org, &next);
            org.current = cur.thumbprint.clone();
            org.next = next.thumbprint.clone();
            org.next_effective = Some(now - days(3));
        }
        "clear" | "clear-expired" => {
            let prev = if scenario == "clear" {
                auth(now - days(1790), now + days(10))
            } else {
                auth(now - days(1900), now - days(5))
            };
            let cur = auth(now - days(60), now + days(1700));
            add_all(&mut org, &prev);
            add_all(&mut org, &cur);
            org.current = cur.thumbprint.clone();
            org.previous = prev.thumbprint.clone();
            // Published 30 days ago (AD whenChanged): past the default --clear-after of 7 days.
            org.auth_changed = Some(now - days(30));
        }
        other => return Err(format!("unknown scenario {other}")),
    }
    Ok(org)
}

fn export_bundle(org: &Org) -> Json {
    let when = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let servers: Vec<Json> = org
        .servers
        .iter()
        .map(|s| {
            let certificates: Vec<Json> = if s.reachable {
                s.certificates
                    .iter()
                    .map(|c| {
                        let status = if c.facts().is_expired(org.now) { "DateInvalid" } else { "Valid" };
                        json!({"thumbprint": c.thumbprint, "raw_data": c.der, "services": s.services_of(c), "friendly_name": c.friendly_name, "status": status})
                    })
                    .collect()
            } else {
                Vec::new()
            };
            json!({
                "name": s.name, "fqdn": format!("{}.contoso.lab", s.name.to_ascii_lowercase()),
                "site": s.site(), "version": "Version 15.2 (Build 1544.4)", "major_version": 15,
                "roles": ["Mailbox"], "is_edge": false, "reachable": s.reachable,
                "error": if s.reachable { Json::Null } else { json!("WinRM cannot complete the operation") },
                "internal_transport_certificate_thumbprint": if s.reachable { json!(s.transport) } else { Json::Null },
                "certificates": certificates,
            })
        })
        .collect();
    json!({
        "schema": "exchange-authcert-bundle", "schema_version": 1,
        "collected_at": when(org.now), "collected_on": "EXCH01.contoso.lab", "collector_version": "simulator",
        "auth_config": {
            "CurrentCertificateThumbprint": org.current, "PreviousCertificateThumbprint": org.previous,
            "NextCertificateThumbprint": org.next,
            "NextCertificateEffectiveDate": org.next_effective.map(when),
            "ServiceName": "00000002-0000-0ff1-ce00-000000000000", "Realm": "",
            "WhenChangedUTC": org.auth_changed.map(when)
        },
        "auth_config_error": null,
        "hybrid": {"detected": org.hybrid, "error": null},
        "servers": servers,
    })
}

// ------------------------------------------------------------------------------------------
// Values and the interpreter
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    Str(String),
    Date(DateTime<Utc>),
    Obj(BTreeMap<String, Value>),
    Arr(Vec<Value>),
    Secure(String),
    Bytes(Vec<u8>),
    Block(String),
    Int(i64),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => {
                if *b {
                    "True".into()
                } else {
                    "False".into()
                }
            }
            Value::Str(s) | Value::Block(s) => s.clone(),
            Value::Date(d) => d.to_rfc3339(),
            Value::Obj(m) => m
                .get("Thumbprint")
                .map(|v| v.text())
                .unwrap_or_else(|| "object".into()),
            Value::Arr(a) => a.iter().map(Value::text).collect::<Vec<_>>().join(" "),
            Value::Secure(_) => "System.Security.SecureString".into(),
            Value::Bytes(b) => format!("{} bytes", b.len()),
            Value::Int(i) => i.to_string(),
        }
    }
    /// PowerShell's truth: $null, $false, '', 0 and an empty array are false.
    fn truthy(&self) -> bool {
        !matches!(self, Value::Null | Value::Bool(false) | Value::Int(0))
            && !matches!(self, Value::Arr(a) if a.is_empty())
            && !matches!(self, Value::Str(s) if s.is_empty())
    }
}

struct Failure(String);

type R<T> = Result<T, Failure>;

fn fail<T>(message: impl Into<String>) -> R<T> {
    Err(Failure(message.into()))
}

struct Sim {
    org: Org,
    path: PathBuf,
    vars: BTreeMap<String, Value>,
    /// The server the shell runs on (Invoke-Command changes it).
    local: String,
    out: Vec<String>,
    parser: Parser,
    /// Functions the script or the runner's prelude defined (lower-case name -> script block).
    functions: BTreeMap<String, String>,
    /// Where statements' output goes while a function or script block runs.
    sinks: Vec<Vec<Value>>,
    /// The output of a function that ended with `return`.
    returned: Option<Vec<Value>>,
    /// Variables assigned as `$global:…`, kept when a function returns.
    global_names: std::collections::BTreeSet<String>,
    /// RemoteExchange.ps1 was dot-sourced (EXSIM_PLAIN_SHELL).
    remote_exchange_loaded: bool,
    /// The Exchange cmdlets are available (EXSIM_PLAIN_SHELL).
    connected: bool,
}

/// How long the simulator's clock moves per state-changing cmdlet.
const CMDLET_SECONDS: i64 = 60;

const MUTATING: &[&str] = &[
    "Copy-RenewAuthCertificate",
    "Set-RenewBackEndCertificate",
    "New-ExchangeCertificate",
    "Enable-ExchangeCertificate",
    "Import-ExchangeCertificate",
    "Export-ExchangeCertificate",
    "Remove-ExchangeCertificate",
    "Set-AuthConfig",
    "Restart-Service",
    "Restart-WebAppPool",
];

const SWITCHES: &[&str] = &[
    "Force",
    "BinaryEncoded",
    "AsPlainText",
    "PublishCertificate",
    "ClearPreviousCertificate",
];

impl Sim {
    fn plain_shell(&self) -> bool {
        std::env::var("EXSIM_PLAIN_SHELL").is_ok_and(|v| v == "1")
    }

    /// EXSIM_RAWDATA_ONLY=1 models PowerShell serialization signing: while the current Auth
    /// Certificate is expired or missing on the server the shell runs on, certificate objects
    /// arrive with RawData only (see `cert_value`).
    fn raw_data_only(&self) -> bool {
        if !std::env::var("EXSIM_RAWDATA_ONLY").is_ok_and(|v| v == "1") {
            return false;
        }
        let local = self
            .org
            .servers
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(&self.local));
        let current = local.and_then(|s| {
            s.certificates
                .iter()
                .find(|c| c.thumbprint.eq_ignore_ascii_case(&self.org.current))
        });
        current.is_none_or(|c| c.facts().is_expired(self.org.now))
    }

    fn save(&self) {
        if let Ok(text) = serde_json::to_string_pretty(&self.org) {
            let _ = std::fs::write(&self.path, text);
        }
    }

    fn server(&mut self, name: &str) -> R<&mut SimServer> {
        let key = name.split('.').next().unwrap_or("").to_ascii_lowercase();
        match self
            .org
            .servers
            .iter_mut()
            .find(|s| s.name.to_ascii_lowercase() == key)
        {
            Some(s) if s.reachable => Ok(s),
            Some(s) => fail(format!(
                "Connecting to remote server {} failed: WinRM cannot complete the operation.",
                s.name
            )),
            None => fail(format!(
                "The operation couldn't be performed because object '{name}' couldn't be found on 'dc01.contoso.lab'."
            )),
        }
    }

    fn parse(&mut self, code: &str) -> R<tree_sitter::Tree> {
        let tree = self
            .parser
            .parse(code, None)
            .ok_or(Failure("parser failed".into()))?;
        if tree.root_node().has_error() {
            return fail(format!(
                "ParserError: the simulator's PowerShell grammar rejects: {code}"
            ));
        }
        Ok(tree)
    }

    /// Runs a script (statements); output lines go to `self.out`.
    fn exec_code(&mut self, code: &str) -> R<()> {
        let values = self.run_block(code)?;
        values.into_iter().for_each(|v| self.emit(v));
        Ok(())
    }

    /// Runs statements and returns what they output (PowerShell's output stream).
    fn run_block(&mut self, code: &str) -> R<Vec<Value>> {
        let tree = self.parse(code)?;
        self.sinks.push(Vec::new());
        let result = self.exec_node(tree.root_node(), code);
        let values = self.sinks.pop().unwrap_or_default();
        match result {
            Ok(()) => Ok(values),
            Err(Failure(m)) if m == format!("{FLOW}return") => {
                self.returned = Some(values);
                Err(Failure(m))
            }
            Err(e) => Err(e),
        }
    }

    /// A script block's output as one value (`& $block`, Where-Object): nothing -> $null, one
    /// -> itself, more -> an array.
    fn invoke_block(&mut self, code: &str) -> R<Value> {
        match self.run_block(code) {
            Ok(values) => Ok(collapse(values)),
            Err(Failure(m)) if m == format!("{FLOW}return") => {
                Ok(collapse(self.returned.take().unwrap_or_default()))
            }
            Err(e) => Err(e),
        }
    }

    fn exec_node(&mut self, node: Node, src: &str) -> R<()> {
        match node.kind() {
            "program" | "statement_list" | "script_block" | "script_block_body"
            | "statement_block" => {
                let mut cursor = node.walk();
                let children: Vec<Node> = node.named_children(&mut cursor).collect();
                for child in children {
                    self.exec_node(child, src)?;
                }
                Ok(())
            }
            "empty_statement" | "comment" | "param_block" => Ok(()),
            "function_statement" => {
                let name = node
                    .named_child(0)
                    .map(|n| src[n.byte_range()].to_ascii_lowercase())
                    .unwrap_or_default();
                let body = node
                    .named_child(1)
                    .map(|n| src[n.byte_range()].to_string())
                    .unwrap_or_default();
                self.functions.insert(name, body);
                Ok(())
            }
            "flow_control_statement" => self.flow(node, src),
            "if_statement" => self.if_statement(node, src),
            "foreach_statement" => self.foreach_statement(node, src),
            "try_statement" => self.try_statement(node, src),
            "pipeline" => {
                let value = self.pipeline(node, src)?;
                self.emit(value);
                Ok(())
            }
            other => fail(format!(
                "the simulator does not implement '{other}': {}",
                &src[node.byte_range()]
            )),
        }
    }

    /// `exit`, `return`, `throw`, `continue`, `break`: signalled as failures with a marker
    /// that nothing but their target catches.
    fn flow(&mut self, node: Node, src: &str) -> R<()> {
        let text = src[node.byte_range()].trim();
        let word = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let value = match node.named_child(0) {
            Some(child) if child.kind() == "pipeline" => self.pipeline(child, src)?,
            Some(child) => self.expr(child, src)?,
            None => Value::Null,
        };
        match word.as_str() {
            "throw" => fail(value.text()),
            "return" => {
                self.emit(value);
                fail(format!("{FLOW}return"))
            }
            "exit" => fail(format!("{FLOW}exit {}", value.text())),
            "continue" => fail(format!("{FLOW}continue")),
            "break" => fail(format!("{FLOW}break")),
            other => fail(format!("the simulator does not implement '{other}'")),
        }
    }

    fn if_statement(&mut self, node: Node, src: &str) -> R<()> {
        let mut cursor = node.walk();
        let children: Vec<Node> = node.named_children(&mut cursor).collect();
        let mut i = 0;
        while i + 1 < children.len() && children[i].kind() == "pipeline" {
            if self.pipeline(children[i], src)?.truthy() {
                return self.exec_node(children[i + 1], src);
            }
            i += 2;
        }
        for rest in &children[i..] {
            match rest.kind() {
                "elseif_clauses" => {
                    let mut c = rest.walk();
                    let clauses: Vec<Node> = rest.named_children(&mut c).collect();
                    for clause in clauses {
                        let condition = clause.named_child(0).ok_or(Failure("elseif".into()))?;
                        if self.pipeline(condition, src)?.truthy() {
                            let block = clause.named_child(1).ok_or(Failure("elseif".into()))?;
                            return self.exec_node(block, src);
                        }
                    }
                }
                "else_clause" => {
                    let block = rest.named_child(0).ok_or(Failure("else".into()))?;
                    return self.exec_node(block, src);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn foreach_statement(&mut self, node: Node, src: &str) -> R<()> {
        let mut cursor = node.walk();
        let children: Vec<Node> = node.named_children(&mut cursor).collect();
        let (Some(var), Some(list), Some(body)) = (
            children.iter().find(|c| c.kind() == "variable"),
            children.iter().find(|c| c.kind() == "pipeline"),
            children.iter().find(|c| c.kind() == "statement_block"),
        ) else {
            return fail("foreach");
        };
        let name = variable_name(&src[var.byte_range()]);
        for item in items(self.pipeline(*list, src)?) {
            self.vars.insert(name.clone(), item);
            match self.exec_node(*body, src) {
                Err(Failure(m)) if m == format!("{FLOW}continue") => continue,
                Err(Failure(m)) if m == format!("{FLOW}break") => break,
                other => other?,
            }
        }
        Ok(())
    }

    fn try_statement(&mut self, node: Node, src: &str) -> R<()> {
        let body = node.named_child(0).ok_or(Failure("try".into()))?;
        match self.exec_node(body, src) {
            Err(Failure(message)) if !message.starts_with(FLOW) => {
                let mut cursor = node.walk();
                let clauses = node
                    .named_children(&mut cursor)
                    .find(|c| c.kind() == "catch_clauses");
                let Some(block) = clauses.and_then(|c| c.named_child(0)).and_then(|c| {
                    let mut k = c.walk();
                    c.named_children(&mut k)
                        .find(|n| n.kind() == "statement_block")
                }) else {
                    return Err(Failure(message));
                };
                let mut exception = BTreeMap::new();
                exception.insert("Message".to_string(), Value::Str(message));
                let mut error = BTreeMap::new();
                error.insert("Exception".to_string(), Value::Obj(exception));
                self.vars.insert("_".into(), Value::Obj(error));
                self.exec_node(block, src)
            }
            other => other,
        }
    }

    fn emit(&mut self, value: Value) {
        if let Some(sink) = self.sinks.last_mut() {
            match value {
                Value::Null => {}
                Value::Arr(list) => sink.extend(list),
                other => sink.push(other),
            }
            return;
        }
        match value {
            Value::Null => {}
            Value::Arr(list) => list.into_iter().for_each(|v| self.emit(v)),
            other => self.out.push(other.text()),
        }
    }

    fn pipeline(&mut self, node: Node, src: &str) -> R<Value> {
        let child = node
            .named_child(0)
            .ok_or(Failure("empty pipeline".into()))?;
        match child.kind() {
            "assignment_expression" => {
                let left = child.named_child(0).ok_or(Failure("assignment".into()))?;
                let operator = child
                    .named_child(1)
                    .map(|o| src[o.byte_range()].trim().to_string())
                    .unwrap_or_default();
                let right = child
                    .named_child(child.named_child_count() - 1)
                    .ok_or(Failure("assignment".into()))?;
                let mut value = if right.kind() == "pipeline" {
                    self.pipeline(right, src)?
                } else {
                    self.expr(right, src)?
                };
                let target = innermost(left);
                if target.kind() == "element_access" {
                    let table = target.named_child(0).ok_or(Failure("index".into()))?;
                    let key = target.named_child(1).ok_or(Failure("index".into()))?;
                    let key = self.expr(key, src)?.text();
                    let name = variable_name(&src[table.byte_range()]);
                    if let Some(Value::Obj(map)) = self.vars.get_mut(&name) {
                        map.insert(key, value);
                    }
                    return Ok(Value::Null);
                }
                let raw = src[target.byte_range()].trim();
                let name = variable_name(raw);
                if operator == "+=" {
                    let old = self.vars.get(&name).cloned().unwrap_or(Value::Null);
                    value = add(old, value);
                }
                if raw.to_ascii_lowercase().starts_with("$global:") {
                    self.global_names.insert(name.clone());
                }
                self.vars.insert(name, value);
                Ok(Value::Null)
            }
            "pipeline_chain" => {
                let mut cursor = child.walk();
                let parts: Vec<Node> = child.named_children(&mut cursor).collect();
                let mut input = None;
                for part in parts {
                    input = Some(if part.kind() == "command" {
                        self.command(part, src, input)?
                    } else {
                        self.expr(part, src)?
                    });
                }
                Ok(input.unwrap_or(Value::Null))
            }
            _ => self.expr(child, src),
        }
    }

    fn expr(&mut self, node: Node, src: &str) -> R<Value> {
        let text = &src[node.byte_range()];
        // `(Get-Date).AddHours(n)`: a date computed when the cmdlet runs.
        if let Some(hours) = hours_from_now(text) {
            return Ok(Value::Date(now_plus_hours(self.org.now, hours)));
        }
        match node.kind() {
            "string_literal" => {
                if text.starts_with('\'')
                    || text.starts_with('\u{2018}')
                    || text.starts_with('\u{2019}')
                {
                    Ok(Value::Str(unquote(text)))
                } else {
                    fail(format!(
                        "expandable strings are outside the plans' subset: {text}"
                    ))
                }
            }
            "verbatim_string_characters" => Ok(Value::Str(unquote(text))),
            "decimal_integer_literal" | "integer_literal" => Ok(text
                .trim()
                .parse::<i64>()
                .map_or_else(|_| Value::Str(text.to_string()), Value::Int)),
            "generic_token" => Ok(Value::Str(text.to_string())),
            "variable" => Ok(self.variable(text)),
            "member_access" => {
                let object =
                    self.expr(node.named_child(0).ok_or(Failure("member".into()))?, src)?;
                let member = node
                    .named_child(1)
                    .map(|n| src[n.byte_range()].to_string())
                    .unwrap_or_default();
                Ok(member_of(&object, &member))
            }
            "element_access" => {
                let object = self.expr(node.named_child(0).ok_or(Failure("index".into()))?, src)?;
                let key = self.expr(node.named_child(1).ok_or(Failure("index".into()))?, src)?;
                Ok(match (object, key) {
                    (Value::Arr(a), Value::Int(i)) => {
                        a.get(i as usize).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Obj(m), k) => m.get(&k.text()).cloned().unwrap_or(Value::Null),
                    (Value::Str(s), Value::Int(0)) => Value::Str(s),
                    _ => Value::Null,
                })
            }
            "invokation_expression" => self.invoke_method(node, src),
            "cast_expression" => {
                let ty = node
                    .named_child(0)
                    .map(|n| src[n.byte_range()].to_ascii_lowercase())
                    .unwrap_or_default();
                let value = self.expr(node.named_child(1).ok_or(Failure("cast".into()))?, src)?;
                Ok(cast(&ty, value))
            }
            "expression_with_unary_operator" => {
                let operand =
                    self.expr(node.named_child(0).ok_or(Failure("unary".into()))?, src)?;
                let op = text.trim_start();
                if op.starts_with('[') || op.starts_with('(') {
                    Ok(operand)
                } else if op.starts_with(',') {
                    Ok(Value::Arr(vec![operand]))
                } else if op.to_ascii_lowercase().starts_with("-not") || op.starts_with('!') {
                    Ok(Value::Bool(!operand.truthy()))
                } else {
                    fail(format!(
                        "the simulator does not implement the operator in {text}"
                    ))
                }
            }
            "hash_literal_expression" => {
                let mut map = BTreeMap::new();
                let Some(body) = node.named_child(0) else {
                    return Ok(Value::Obj(map));
                };
                let mut cursor = body.walk();
                let entries: Vec<Node> = body
                    .named_children(&mut cursor)
                    .filter(|n| n.kind() == "hash_entry")
                    .collect();
                for entry in entries {
                    let (Some(key), Some(value)) = (
                        entry.named_child(0),
                        entry.named_child(entry.named_child_count() - 1),
                    ) else {
                        continue;
                    };
                    let value = if value.kind() == "pipeline" {
                        self.pipeline(value, src)?
                    } else {
                        self.expr(value, src)?
                    };
                    map.insert(src[key.byte_range()].trim().to_string(), value);
                }
                Ok(Value::Obj(map))
            }
            "parenthesized_expression" => {
                let inner = node.named_child(0).ok_or(Failure("parentheses".into()))?;
                if inner.kind() == "pipeline" {
                    self.pipeline(inner, src)
                } else {
                    self.expr(inner, src)
                }
            }
            "array_expression" => {
                let mut values = Vec::new();
                if let Some(list) = node.named_child(0) {
                    let mut cursor = list.walk();
                    let items: Vec<Node> = list.named_children(&mut cursor).collect();
                    for item in items {
                        match self.pipeline(item, src)? {
                            Value::Arr(a) => values.extend(a),
                            Value::Null => {}
                            v => values.push(v),
                        }
                    }
                }
                Ok(Value::Arr(values))
            }
            "script_block_expression" => Ok(Value::Block(
                node.named_child(0)
                    .map(|n| src[n.byte_range()].to_string())
                    .unwrap_or_default(),
            )),
            "type_literal" => Ok(Value::Str(format!("opaque-{}", self.org.secure_strings))),
            "array_literal_expression" if node.named_child_count() > 1 => {
                let mut cursor = node.walk();
                let items: Vec<Node> = node.named_children(&mut cursor).collect();
                let mut values = Vec::new();
                for item in items {
                    values.push(self.expr(item, src)?);
                }
                Ok(Value::Arr(values))
            }
            // String concatenation, with `[char]0xNNNN` UTF-16 units: how the plans write
            // non-ASCII text in ASCII (Windows PowerShell 5.1 reads a script without BOM in the
            // ANSI code page: DOMAIN.md §8).
            "additive_expression" if node.named_child_count() > 1 => {
                let mut cursor = node.walk();
                let items: Vec<Node> = node.named_children(&mut cursor).collect();
                if items
                    .iter()
                    .any(|i| char_unit(&src[i.byte_range()]).is_some())
                {
                    let mut units: Vec<u16> = Vec::new();
                    for item in items {
                        match char_unit(&src[item.byte_range()]) {
                            Some(unit) => units.push(unit),
                            None => units.extend(self.expr(item, src)?.text().encode_utf16()),
                        }
                    }
                    return Ok(Value::Str(String::from_utf16_lossy(&units)));
                }
                self.binary(node, src)
            }
            "logical_expression"
            | "comparison_expression"
            | "format_expression"
            | "multiplicative_expression"
            | "bitwise_expression"
                if node.named_child_count() > 1 =>
            {
                self.binary(node, src)
            }
            _ if node.named_child_count() == 1 => {
                self.expr(node.named_child(0).ok_or(Failure("expr".into()))?, src)
            }
            other => fail(format!(
                "the simulator does not implement the expression '{other}': {text}"
            )),
        }
    }

    fn variable(&self, text: &str) -> Value {
        let raw = text.trim().trim_start_matches('$');
        if let Some(name) = raw.strip_prefix("env:") {
            return match name.to_ascii_lowercase().as_str() {
                "computername" => Value::Str(self.local.clone()),
                "temp" => Value::Str("C:\\Windows\\Temp".into()),
                "exchangeinstallpath" => Value::Str(EXCHANGE_INSTALL_PATH.into()),
                _ => Value::Null,
            };
        }
        let name = variable_name(text);
        match name.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => self
                .vars
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&name))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null),
        }
    }

    /// Left-associative binary operators: the operands are the named children, the operators
    /// the tokens between them.
    fn binary(&mut self, node: Node, src: &str) -> R<Value> {
        let mut cursor = node.walk();
        let children: Vec<Node> = node.children(&mut cursor).collect();
        let mut value: Option<Value> = None;
        let mut operator = String::new();
        for child in children {
            let is_operator = !child.is_named()
                || matches!(child.kind(), "comparison_operator" | "format_operator");
            if is_operator {
                operator = src[child.byte_range()].trim().to_ascii_lowercase();
                continue;
            }
            let right = self.expr(child, src)?;
            value = Some(match value {
                None => right,
                Some(left) => operate(&operator, left, right)?,
            });
        }
        Ok(value.unwrap_or(Value::Null))
    }

    /// `$x.Method(…)` and `[Type]::Method(…)`: the few .NET members the plans use.
    fn invoke_method(&mut self, node: Node, src: &str) -> R<Value> {
        let target = node.named_child(0).ok_or(Failure("invoke".into()))?;
        let method = node
            .named_child(1)
            .map(|n| src[n.byte_range()].to_ascii_lowercase())
            .unwrap_or_default();
        let mut args = Vec::new();
        if let Some(list) = node.named_child(2).and_then(|l| l.named_child(0)) {
            let mut cursor = list.walk();
            let items: Vec<Node> = list.named_children(&mut cursor).collect();
            for item in items {
                args.push(self.expr(item, src)?);
            }
        }
        let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
        if target.kind() == "type_literal" {
            let ty = src[target.byte_range()].to_ascii_lowercase();
            return Ok(match (ty.as_str(), method.as_str()) {
                (_, "isnullorempty") => Value::Bool(arg(0).text().is_empty()),
                (t, "tostring") if t.contains("bitconverter") => match arg(0) {
                    Value::Bytes(b) => Value::Str(
                        b.iter()
                            .map(|x| format!("{x:02X}"))
                            .collect::<Vec<_>>()
                            .join("-"),
                    ),
                    _ => Value::Null,
                },
                _ => Value::Str(format!("opaque-{}", self.org.secure_strings)),
            });
        }
        let object = self.expr(target, src)?;
        Ok(match (object, method.as_str()) {
            (Value::Str(s), "replace") => Value::Str(s.replace(&arg(0).text(), &arg(1).text())),
            (Value::Str(s), "toupperinvariant" | "toupper") => Value::Str(s.to_uppercase()),
            (Value::Str(s), "startswith") => Value::Bool(s.starts_with(&arg(0).text())),
            (Value::Str(s), "substring") => {
                let from = match arg(0) {
                    Value::Int(i) => i as usize,
                    _ => 0,
                };
                Value::Str(s.chars().skip(from).collect())
            }
            (Value::Str(s), "trim") => Value::Str(s.trim().to_string()),
            (Value::Str(s), "tostring") => Value::Str(s),
            (Value::Date(d), "touniversaltime") => Value::Date(d),
            (Value::Date(d), "addhours") => Value::Date(d + Duration::hours(number(&arg(0)))),
            (Value::Date(d), "addseconds") => Value::Date(d + Duration::seconds(number(&arg(0)))),
            (Value::Date(d), "tostring") => {
                Value::Str(d.to_rfc3339_opts(SecondsFormat::Secs, true))
            }
            (Value::Obj(m), "containskey") => Value::Bool(m.contains_key(&arg(0).text())),
            (Value::Obj(m), "computehash") if m.contains_key("__sha1") => match arg(0) {
                Value::Bytes(b) => Value::Bytes(sha1_bytes(&b)),
                _ => Value::Null,
            },
            (_, other) => {
                return fail(format!(
                    "the simulator does not implement the method {other}"
                ));
            }
        })
    }

    /// Calls a function the script or the prelude defined: its parameters bound by name, then
    /// by position; its own variables discarded afterwards, `$global:` ones kept.
    fn call_function(
        &mut self,
        body: &str,
        params: &BTreeMap<String, Value>,
        positional: Vec<Value>,
    ) -> R<Value> {
        let inner = body
            .trim()
            .strip_prefix('{')
            .and_then(|b| b.strip_suffix('}'))
            .unwrap_or(body)
            .to_string();
        let tree = self.parse(&inner)?;
        let names = parameter_names(tree.root_node(), &inner);
        let saved = self.vars.clone();
        let mut positional = positional.into_iter();
        for name in &names {
            let value = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .or_else(|| positional.next())
                .unwrap_or(Value::Null);
            self.vars.insert(name.clone(), value);
        }
        let result = self.run_block(&inner);
        let globals: Vec<(String, Value)> = self
            .global_names
            .iter()
            .filter_map(|n| self.vars.get(n).map(|v| (n.clone(), v.clone())))
            .collect();
        self.vars = saved;
        self.vars.extend(globals);
        match result {
            Ok(values) => Ok(collapse(values)),
            Err(Failure(m)) if m == format!("{FLOW}return") => {
                Ok(collapse(self.returned.take().unwrap_or_default()))
            }
            Err(e) => Err(e),
        }
    }

    fn command(&mut self, node: Node, src: &str, input: Option<Value>) -> R<Value> {
        let mut cursor = node.walk();
        let children: Vec<Node> = node.named_children(&mut cursor).collect();
        let first = children.first().ok_or(Failure("command".into()))?;
        if first.kind() == "command_invokation_operator" {
            let operator = src[first.byte_range()].trim().to_string();
            let target = children
                .get(1)
                .map(|n| src[n.byte_range()].to_string())
                .unwrap_or_default();
            if operator == "&" {
                let block = self.variable(target.trim());
                return match block {
                    Value::Block(code) => self.invoke_block(&code),
                    other => fail(format!("& needs a script block, not {}", other.text())),
                };
            }
            if target.contains("RemoteExchange.ps1") && target.contains("ExchangeInstallPath") {
                self.remote_exchange_loaded = true;
            }
            // `. ([ScriptBlock]::Create(…FromBase64String('…')))`: the runner's prelude; its
            // functions are defined (the simulator implements some natively, see `NATIVE`).
            if let Some(code) = base64_literal(&target) {
                self.define_functions(&code)?;
            }
            return Ok(Value::Null);
        }
        let name = src[first.byte_range()].to_string();
        let mut params: BTreeMap<String, Value> = BTreeMap::new();
        let mut positional = Vec::new();
        if let Some(elements) = children.iter().find(|c| c.kind() == "command_elements") {
            let mut c = elements.walk();
            let items: Vec<Node> = elements
                .named_children(&mut c)
                .filter(|n| n.kind() != "command_argument_sep")
                .collect();
            let mut i = 0;
            while i < items.len() {
                let item = items[i];
                if item.kind() == "command_parameter" {
                    let raw = &src[item.byte_range()];
                    let pname = raw
                        .trim_start_matches('-')
                        .trim_end_matches(':')
                        .to_string();
                    let takes_value = !SWITCHES.iter().any(|s| s.eq_ignore_ascii_case(&pname));
                    if takes_value
                        && i + 1 < items.len()
                        && items[i + 1].kind() != "command_parameter"
                    {
                        let value = self.expr(items[i + 1], src)?;
                        params.insert(pname.to_ascii_lowercase(), value);
                        i += 2;
                        continue;
                    }
                    params.insert(pname.to_ascii_lowercase(), Value::Bool(true));
                } else {
                    positional.push(self.expr(item, src)?);
                }
                i += 1;
            }
        }
        let defined = self.functions.get(&name.to_ascii_lowercase()).cloned();
        match defined {
            Some(body) if !NATIVE.iter().any(|n| n.eq_ignore_ascii_case(&name)) => {
                self.call_function(&body, &params, positional)
            }
            _ => self.cmdlet(&name, params, positional, input),
        }
    }

    /// Defines the functions of a script without running anything else.
    fn define_functions(&mut self, code: &str) -> R<()> {
        let tree = self.parse(code)?;
        let root = tree.root_node();
        let mut cursor = root.walk();
        let statements: Vec<Node> = root
            .named_children(&mut cursor)
            .flat_map(|n| {
                let mut c = n.walk();
                n.named_children(&mut c).collect::<Vec<_>>()
            })
            .filter(|n| n.kind() == "function_statement")
            .collect();
        for statement in statements {
            self.exec_node(statement, code)?;
        }
        Ok(())
    }

    fn fault(&mut self, name: &str, after: bool) -> R<()> {
        if !MUTATING.iter().any(|m| m.eq_ignore_ascii_case(name)) {
            return Ok(());
        }
        if !after {
            self.org.mutations += 1;
        }
        let n = self.org.mutations;
        if let Ok(spec) = std::env::var("EXSIM_FAIL") {
            let (number, when_after) = match spec.strip_suffix('+') {
                Some(s) => (s, true),
                None => (spec.as_str(), false),
            };
            let key = format!("fail:{spec}");
            if number.trim().parse::<u64>().ok() == Some(n)
                && when_after == after
                && !self.org.faults_fired.contains(&key)
            {
                self.org.faults_fired.push(key);
                self.org.events.push(format!(
                    "injected failure at cmdlet {n} ({name}){}",
                    if after { " after it acted" } else { "" }
                ));
                return fail(format!(
                    "injected failure at cmdlet {n} ({name}){}",
                    if after { " after it acted" } else { "" }
                ));
            }
        }
        if let Ok(target) = std::env::var("EXSIM_FAIL_CMDLET") {
            let key = format!("cmdlet:{target}");
            if !after && target.eq_ignore_ascii_case(name) && !self.org.faults_fired.contains(&key)
            {
                self.org.faults_fired.push(key);
                return fail(format!("injected failure in {name}"));
            }
        }
        Ok(())
    }

    fn cmdlet(
        &mut self,
        name: &str,
        p: BTreeMap<String, Value>,
        positional: Vec<Value>,
        input: Option<Value>,
    ) -> R<Value> {
        // Test fault, not an Exchange rule: EXSIM_HANG_CMDLET=Name never answers (a cmdlet
        // stuck on an unreachable server or a prompt), for the runner's timeouts.
        if std::env::var("EXSIM_HANG_CMDLET").is_ok_and(|h| h.eq_ignore_ascii_case(name)) {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
        self.fault(name, false)?;
        let silently = p
            .get("erroraction")
            .is_some_and(|v| v.text().eq_ignore_ascii_case("SilentlyContinue"));
        let result = self.cmdlet_inner(name, &p, positional, input);
        let result = match result {
            Err(Failure(m)) if silently && !m.starts_with("injected") && !m.starts_with(FLOW) => {
                self.org
                    .events
                    .push(format!("{name}: {m} (silently continued)"));
                Ok(Value::Null)
            }
            other => other,
        };
        if result.is_ok() && MUTATING.iter().any(|m| m.eq_ignore_ascii_case(name)) {
            self.org
                .events
                .push(format!("{name} {:?}", p.keys().collect::<Vec<_>>()));
            // The clock moves while a run goes on: every state-changing cmdlet takes time
            // (MEAC's New-ExchangeAuthCertificate.ps1 itself sleeps 5 s after creating the
            // certificate and 10 s after re-enabling the transport certificate).
            self.org.now += Duration::seconds(CMDLET_SECONDS);
            self.save();
            self.fault(name, true)?;
        }
        result
    }

    fn cmdlet_inner(
        &mut self,
        name: &str,
        p: &BTreeMap<String, Value>,
        positional: Vec<Value>,
        input: Option<Value>,
    ) -> R<Value> {
        let text = |k: &str| p.get(k).map(Value::text);
        let flag = |k: &str| p.get(k).is_some_and(Value::truthy);
        let now = self.org.now;
        let local = self.local.clone();
        let server_name = text("server").unwrap_or(local.clone());
        // EXSIM_PLAIN_SHELL=1: a Windows PowerShell without the Exchange cmdlets until
        // RemoteExchange.ps1 is dot-sourced and Connect-ExchangeServer has connected, as MEAC
        // loads them (CSS-Exchange Shared/Confirm-ExchangeShell.ps1).
        let lower = name.to_ascii_lowercase();
        if self.plain_shell() && !self.connected && is_exchange_cmdlet(&lower) {
            return fail(format!(
                "The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program."
            ));
        }
        let raw_only = self.raw_data_only();
        match lower.as_str() {
            "write-output" => Ok(p
                .get("inputobject")
                .cloned()
                .or_else(|| positional.into_iter().next())
                .unwrap_or(Value::Null)),
            "get-date" => Ok(match text("format") {
                Some(_) => Value::Str(now.format("%Y%m%d-%H%M%S").to_string()),
                None => Value::Date(now),
            }),
            "convertto-securestring" => {
                self.org.secure_strings += 1;
                Ok(Value::Secure(format!(
                    "secure-{}-{}",
                    std::process::id(),
                    self.org.secure_strings
                )))
            }
            "get-authconfig" => {
                let mut m = BTreeMap::new();
                m.insert(
                    "CurrentCertificateThumbprint".into(),
                    Value::Str(self.org.current.clone()),
                );
                m.insert(
                    "PreviousCertificateThumbprint".into(),
                    Value::Str(self.org.previous.clone()),
                );
                m.insert(
                    "NextCertificateThumbprint".into(),
                    Value::Str(self.org.next.clone()),
                );
                m.insert(
                    "NextCertificateEffectiveDate".into(),
                    self.org.next_effective.map_or(Value::Null, Value::Date),
                );
                Ok(Value::Obj(m))
            }
            "get-hybridconfiguration" => Ok(if self.org.hybrid {
                Value::Obj(BTreeMap::new())
            } else {
                Value::Null
            }),
            "get-transportservice" => {
                let identity = text("identity").unwrap_or(local);
                let s = self.server(&identity)?;
                let mut m = BTreeMap::new();
                m.insert("Identity".into(), Value::Str(s.name.clone()));
                m.insert(
                    "InternalTransportCertificateThumbprint".into(),
                    Value::Str(s.transport.clone()),
                );
                Ok(Value::Obj(m))
            }
            "get-exchangecertificate" => {
                let thumb = text("thumbprint");
                let s = self.server(&server_name)?;
                let list: Vec<Value> = s
                    .certificates
                    .iter()
                    .filter(|c| {
                        thumb
                            .as_ref()
                            .is_none_or(|t| t.eq_ignore_ascii_case(&c.thumbprint))
                    })
                    .map(|c| cert_value(c, s, raw_only))
                    .collect();
                match thumb {
                    Some(t) if list.is_empty() => fail(format!(
                        "The certificate with thumbprint {t} was not found on server {}.",
                        s.name
                    )),
                    Some(_) => Ok(list.into_iter().next().unwrap_or(Value::Null)),
                    None => Ok(Value::Arr(list)),
                }
            }
            "new-exchangecertificate" => {
                // The pipeline input (-Instance) is deprecated and no longer used, and the
                // cmdlet runs on the local server unless -Server is given (DOMAIN.md §8;
                // Microsoft Learn, New-ExchangeCertificate): a piped certificate neither
                // chooses the server nor the subject.
                let _ignored_instance = input;
                let target = server_name.clone();
                // Without -SubjectName the subject is the name of the server it runs on
                // (Microsoft Learn, New-ExchangeCertificate -SubjectName).
                let subject = text("subjectname").unwrap_or_else(|| format!("CN={target}"));
                let subject_cn = subject
                    .split_once('=')
                    .map(|(_, v)| v.to_string())
                    .unwrap_or(subject);
                let friendly = text("friendlyname").unwrap_or_else(|| "Microsoft Exchange".into());
                // Default services IMAP, POP, SMTP (Microsoft Learn, New-ExchangeCertificate
                // -Services).
                let services: Vec<String> = match text("services") {
                    Some(list) => parse_services(&list)?,
                    None => vec!["IMAP".into(), "POP".into(), "SMTP".into()],
                };
                let der = make_cert(
                    &subject_cn,
                    now - Duration::minutes(5),
                    now + Duration::days(5 * 365),
                );
                let mut cert = SimCert::new(der, &[], &friendly);
                cert.services = services.clone();
                cert.exportable = flag("privatekeyexportable");
                let s = self.server(&target)?;
                // "Overwrite the existing default SMTP certificate?" — the default answer is
                // Yes, and -Force answers Yes: either way the new one becomes the default.
                // EXSIM_SMTP_OVERWRITE=1: a build that takes the default SMTP certificate
                // whatever -Services says (tests the restore of the transport certificate).
                let overwrite_anyway =
                    std::env::var("EXSIM_SMTP_OVERWRITE").is_ok_and(|v| v == "1");
                if services.iter().any(|x| x == "SMTP") || overwrite_anyway {
                    // The overwrite question needs an answer; -Force gives it. A script run
                    // without a console (a task, the runner) cannot answer: the cmdlet fails
                    // (Microsoft Learn, New-ExchangeCertificate -Force: "hides warning or
                    // confirmation messages").
                    if !flag("force") {
                        return fail(NO_PROMPT);
                    }
                    s.transport = cert.thumbprint.clone();
                }
                // -Services IIS binds the Default Web Site (DOMAIN.md §8).
                if services.iter().any(|x| x == "IIS") {
                    s.front_end = cert.thumbprint.clone();
                }
                let value = cert_value(&cert, s, raw_only);
                s.certificates.push(cert);
                Ok(value)
            }
            "enable-exchangecertificate" => {
                let thumb = text("thumbprint").ok_or(Failure(
                    "Enable-ExchangeCertificate: -Thumbprint is required".into(),
                ))?;
                let services = parse_services(&text("services").unwrap_or_default())?;
                let s = self.server(&server_name)?;
                let Some(index) = s
                    .certificates
                    .iter()
                    .position(|c| c.thumbprint.eq_ignore_ascii_case(&thumb))
                else {
                    return fail(format!(
                        "The certificate with thumbprint {thumb} was not found on server {}.",
                        s.name
                    ));
                };
                if s.certificates[index].facts().is_expired(now) {
                    return fail(format!(
                        "The certificate with thumbprint {thumb} has expired."
                    ));
                }
                // -Services IIS binds the Default Web Site (front end, 443), never the
                // Exchange Back End site (DOMAIN.md §8; Microsoft Learn,
                // Enable-ExchangeCertificate; MEAC New-ExchangeAuthCertificate.ps1 removes IIS
                // from the transport certificate's services for that reason).
                if services.iter().any(|x| x == "IIS") {
                    s.front_end = s.certificates[index].thumbprint.clone();
                }
                if services.iter().any(|x| x == "SMTP") {
                    // Replacing the default SMTP certificate asks "Overwrite the existing default
                    // SMTP certificate?" unless -Force (Microsoft Learn,
                    // Enable-ExchangeCertificate -Force; MEAC's New-ExchangeAuthCertificate.ps1
                    // passes -Force).
                    if s.transport != s.certificates[index].thumbprint && !flag("force") {
                        return fail(NO_PROMPT);
                    }
                    s.transport = s.certificates[index].thumbprint.clone();
                }
                let cert = &mut s.certificates[index];
                for svc in services {
                    if !cert.services.contains(&svc) {
                        cert.services.push(svc);
                    }
                }
                Ok(Value::Null)
            }
            "export-exchangecertificate" => {
                let thumb = text("thumbprint").unwrap_or_default();
                // Since the October 2025 security update Export-ExchangeCertificate refuses the
                // Auth Certificate (KB5069337; DOMAIN.md §8; MEAC's
                // Import-ExchangeAuthCertificateToServers.ps1 exports through .NET instead).
                if self.is_auth_certificate(&server_name, &thumb)? {
                    return fail(format!(
                        "Export-ExchangeCertificate: exporting the Auth Certificate {thumb} with its private key is blocked (KB5069337)."
                    ));
                }
                let password = match p.get("password") {
                    Some(Value::Secure(id)) => id.clone(),
                    _ => {
                        return fail(
                            "Export-ExchangeCertificate: -Password must be a SecureString",
                        );
                    }
                };
                let s = self.server(&server_name)?;
                let cert = s
                    .certificates
                    .iter()
                    .find(|c| c.thumbprint.eq_ignore_ascii_case(&thumb))
                    .ok_or(Failure(format!(
                        "The certificate with thumbprint {thumb} was not found on server {}.",
                        s.name
                    )))?;
                if !cert.exportable {
                    return fail("The private key couldn't be exported as PKCS-12.");
                }
                let mut blob = format!("SIMPFX|{password}|{}|", cert.friendly_name).into_bytes();
                blob.extend(STANDARD.decode(&cert.der).unwrap_or_default());
                let mut m = BTreeMap::new();
                m.insert("FileData".into(), Value::Bytes(blob));
                Ok(Value::Obj(m))
            }
            "import-exchangecertificate" => {
                let Some(Value::Bytes(blob)) = p.get("filedata") else {
                    return fail("Import-ExchangeCertificate: -FileData must be bytes");
                };
                let password = match p.get("password") {
                    Some(Value::Secure(id)) => id.clone(),
                    _ => {
                        return fail(
                            "Import-ExchangeCertificate: -Password must be a SecureString",
                        );
                    }
                };
                let mut parts = blob.splitn(4, |b| *b == b'|');
                let (Some(b"SIMPFX"), Some(pw), Some(friendly), Some(der)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return fail("The PFX data is invalid.");
                };
                if pw != password.as_bytes() {
                    return fail("The PKCS12 password is incorrect.");
                }
                let mut cert = SimCert::new(der.to_vec(), &[], &String::from_utf8_lossy(friendly));
                cert.exportable = flag("privatekeyexportable");
                let s = self.server(&server_name)?;
                if s.certificates
                    .iter()
                    .any(|c| c.thumbprint == cert.thumbprint)
                {
                    return fail(format!(
                        "The certificate with thumbprint {} already exists.",
                        cert.thumbprint
                    ));
                }
                let value = cert_value(&cert, s, raw_only);
                s.certificates.push(cert);
                Ok(value)
            }
            "remove-exchangecertificate" => {
                // Destructive cmdlets pause for confirmation unless -Confirm:$false (Microsoft
                // Learn, Exchange cmdlets' -Confirm: "Remove-* cmdlets have a built-in pause").
                if !matches!(p.get("confirm"), Some(Value::Bool(false))) {
                    return fail(NO_PROMPT);
                }
                let thumb = text("thumbprint").unwrap_or_default();
                let (current, next) = (self.org.current.clone(), self.org.next.clone());
                let s = self.server(&server_name)?;
                let Some(index) = s
                    .certificates
                    .iter()
                    .position(|c| c.thumbprint.eq_ignore_ascii_case(&thumb))
                else {
                    return fail(format!(
                        "The certificate with thumbprint {thumb} was not found on server {}.",
                        s.name
                    ));
                };
                let c = &s.certificates[index];
                // In use: bound to a web site (front end 443 or back end 444), the default
                // SMTP (internal transport) certificate, or named by AuthConfig (Microsoft
                // Learn, Remove-ExchangeCertificate: a certificate in use can't be removed).
                if s.front_end == c.thumbprint
                    || s.back_end == c.thumbprint
                    || s.transport == c.thumbprint
                    || c.thumbprint == current
                    || c.thumbprint == next
                {
                    return fail(format!(
                        "The certificate with thumbprint {thumb} is in use and can't be removed."
                    ));
                }
                s.certificates.remove(index);
                Ok(Value::Null)
            }
            "set-authconfig" => self.set_auth_config(p),
            "copy-renewauthcertificate" => self.copy_auth_certificate(p),
            // The prelude's conditional re-enable: Enable-ExchangeCertificate (modelled below,
            // refusing an expired certificate) only when the transport certificate changed.
            "restore-renewtransport" => {
                let thumb = text("thumbprint").unwrap_or_default();
                if thumb.is_empty()
                    || self
                        .server(&server_name)?
                        .transport
                        .eq_ignore_ascii_case(&thumb)
                {
                    return Ok(Value::Null);
                }
                let mut enable = BTreeMap::new();
                enable.insert("server".to_string(), Value::Str(server_name.clone()));
                enable.insert("thumbprint".to_string(), Value::Str(thumb));
                enable.insert("services".to_string(), Value::Str("SMTP".into()));
                enable.insert("force".to_string(), Value::Bool(true));
                self.cmdlet("Enable-ExchangeCertificate", enable, Vec::new(), None)
            }
            // The prelude's IIS rebinding of the Exchange Back End site (444): the site's
            // https binding takes any certificate of the server's store (IIS
            // WebAdministration, AddSslCertificate); only that site changes (DOMAIN.md §8).
            "set-renewbackendcertificate" => {
                let thumb = text("thumbprint").unwrap_or_default();
                let s = self.server(&server_name)?;
                if !s.holds(&thumb) {
                    return fail(format!(
                        "A specified logon session does not exist. It may already have been terminated. (0x80070520): {thumb} is not in LocalMachine\\My on {}",
                        s.name
                    ));
                }
                s.back_end = thumb.to_ascii_uppercase();
                Ok(Value::Null)
            }
            "restart-service" => {
                let service = text("name").unwrap_or_default();
                if service.eq_ignore_ascii_case("MSExchangeServiceHost") {
                    // The AuthAdmin servicelet runs at service start.
                    if !self.org.next.is_empty()
                        && self.org.next_effective.is_some_and(|e| e <= now)
                    {
                        self.org.previous = std::mem::take(&mut self.org.current);
                        self.org.current = std::mem::take(&mut self.org.next);
                        self.org.next_effective = None;
                        self.org.auth_changed = Some(now);
                        self.org.events.push(
                            "AuthAdmin servicelet published the next certificate (event 2014)"
                                .into(),
                        );
                    }
                }
                // Test fault, not an Exchange rule: EXSIM_SERVICE_STUCK=SERVER, the service does
                // not start again there (a dependency or a certificate problem on start).
                let stuck = std::env::var("EXSIM_SERVICE_STUCK")
                    .is_ok_and(|s| s.eq_ignore_ascii_case(&local));
                self.org.stopped.retain(|s| !s.eq_ignore_ascii_case(&local));
                if stuck {
                    self.org.stopped.push(local.clone());
                }
                self.org
                    .events
                    .push(format!("{local}: service {service} restarted"));
                Ok(Value::Null)
            }
            "restart-webapppool" => {
                self.org.events.push(format!(
                    "{local}: app pool {} recycled",
                    text("name").unwrap_or_default()
                ));
                Ok(Value::Null)
            }
            "invoke-command" => {
                let computer = text("computername").unwrap_or_default();
                let Some(Value::Block(body)) = p.get("scriptblock").cloned() else {
                    return fail("Invoke-Command: -ScriptBlock is required");
                };
                let name = self.server(&computer)?.name.clone();
                let saved = std::mem::replace(&mut self.local, name);
                let result = self.invoke_block(&body);
                self.local = saved;
                result
            }
            "where-object" | "foreach-object" => {
                let Some(Value::Block(block)) = positional.into_iter().next() else {
                    return fail(format!("{name}: a script block is required"));
                };
                let mut kept = Vec::new();
                for item in items(input.unwrap_or(Value::Null)) {
                    self.vars.insert("_".into(), item.clone());
                    let result = self.invoke_block(&block)?;
                    if lower == "where-object" {
                        if result.truthy() {
                            kept.push(item);
                        }
                    } else {
                        kept.extend(items(result));
                    }
                }
                Ok(collapse(kept))
            }
            "select-object" => {
                let first = p.get("first").map(number).unwrap_or(i64::MAX);
                let list = items(input.unwrap_or(Value::Null));
                Ok(collapse(
                    list.into_iter().take(first.max(0) as usize).collect(),
                ))
            }
            "out-null" => Ok(Value::Null),
            "write-host" => {
                let value = p
                    .get("object")
                    .cloned()
                    .or_else(|| positional.into_iter().next())
                    .unwrap_or(Value::Null);
                self.out.push(value.text());
                Ok(Value::Null)
            }
            // A console-less host cannot prompt (the runner and the tests have no console).
            "read-host" => fail(NO_PROMPT),
            "get-command" => {
                if self.plain_shell() && !self.connected {
                    return fail("The term is not recognized as the name of a cmdlet.");
                }
                Ok(Value::Obj(BTreeMap::new()))
            }
            "connect-exchangeserver" => {
                if !self.remote_exchange_loaded {
                    return fail(
                        "The term 'Connect-ExchangeServer' is not recognized as the name of a cmdlet: dot-source RemoteExchange.ps1 first.",
                    );
                }
                self.connected = true;
                self.org.events.push(format!(
                    "{local}: Connect-ExchangeServer -auto (RemoteExchange.ps1)"
                ));
                Ok(Value::Null)
            }
            // Loads the snap-in (it works on a server, but is not Microsoft's supported way:
            // recorded so that tests can tell which way a script took).
            "add-pssnapin" => {
                self.connected = true;
                self.org.events.push(format!(
                    "{local}: Add-PSSnapin {}",
                    positional.first().map(Value::text).unwrap_or_default()
                ));
                Ok(Value::Null)
            }
            "join-path" => {
                let mut parts = positional.iter().map(Value::text).collect::<Vec<_>>();
                parts.extend(text("path"));
                parts.extend(text("childpath"));
                Ok(Value::Str(
                    parts
                        .iter()
                        .map(|p| p.trim_end_matches('\\').to_string())
                        .collect::<Vec<_>>()
                        .join("\\"),
                ))
            }
            "new-item" => Ok(Value::Null),
            "test-path" => {
                let path = text("path")
                    .or_else(|| positional.first().map(Value::text))
                    .unwrap_or_default();
                Ok(Value::Bool(self.org.files.contains_key(&path)))
            }
            "get-content" => {
                let path = text("path")
                    .or_else(|| positional.first().map(Value::text))
                    .unwrap_or_default();
                match self.org.files.get(&path) {
                    Some(lines) => Ok(Value::Arr(
                        lines.iter().map(|l| Value::Str(l.clone())).collect(),
                    )),
                    None => fail(format!(
                        "Cannot find path '{path}' because it does not exist."
                    )),
                }
            }
            "add-content" => {
                let path = text("path").unwrap_or_default();
                let value = text("value").unwrap_or_default();
                self.org.files.entry(path).or_default().push(value);
                Ok(Value::Null)
            }
            "start-sleep" => {
                self.org.now += Duration::seconds(p.get("seconds").map(number).unwrap_or(1));
                Ok(Value::Null)
            }
            "new-object" => {
                let ty = positional
                    .first()
                    .map(Value::text)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let mut m = BTreeMap::new();
                if ty.ends_with("sha1cryptoserviceprovider") {
                    m.insert("__sha1".into(), Value::Bool(true));
                } else if ty.ends_with("x509certificate2") {
                    let raw = items(p.get("argumentlist").cloned().unwrap_or(Value::Null))
                        .into_iter()
                        .find_map(|v| match v {
                            Value::Bytes(b) => Some(b),
                            _ => None,
                        })
                        .unwrap_or_default();
                    let facts = Certificate::from_der(&raw)
                        .map_err(|e| Failure(format!("Cannot find the requested object: {e}")))?;
                    m.insert(
                        "Thumbprint".into(),
                        Value::Str(Thumbprint::of_der(&raw).to_string()),
                    );
                    m.insert("Subject".into(), Value::Str(facts.subject.clone()));
                    m.insert("NotAfter".into(), Value::Date(facts.not_after));
                } else {
                    return fail(format!("New-Object: the simulator does not implement {ty}"));
                }
                Ok(Value::Obj(m))
            }
            // Get-Service on the server the shell runs on (Invoke-Command moves it): Running
            // unless a restart left MSExchangeServiceHost stopped (EXSIM_SERVICE_STUCK).
            "get-service" => {
                let service = text("name").unwrap_or_default();
                let stopped = service.eq_ignore_ascii_case("MSExchangeServiceHost")
                    && self
                        .org
                        .stopped
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(&local));
                let mut m = BTreeMap::new();
                m.insert("Name".into(), Value::Str(service));
                m.insert(
                    "Status".into(),
                    Value::Str(if stopped { "Stopped" } else { "Running" }.into()),
                );
                Ok(Value::Obj(m))
            }
            // IIS WebAdministration's Get-WebAppPoolState: Restart-WebAppPool (Microsoft Learn)
            // leaves the pool Started.
            "get-webapppoolstate" => {
                let mut m = BTreeMap::new();
                m.insert("Value".into(), Value::Str("Started".into()));
                Ok(Value::Obj(m))
            }
            "get-renewservicenames" => {
                let services = p
                    .get("services")
                    .cloned()
                    .or_else(|| positional.into_iter().next())
                    .unwrap_or(Value::Null)
                    .text();
                // The numbers a remote shell sends are Exchange's AllowedServices flags.
                let names: Vec<Value> = if let Ok(flags) = services.trim().parse::<i64>() {
                    exchange_authcert::source::exchange_exports::CERTIFICATE_SERVICES
                        .iter()
                        .filter(|(bit, _)| flags & bit != 0)
                        .map(|(_, n)| Value::Str(n.to_string()))
                        .collect()
                } else {
                    services
                        .split(',')
                        .map(|x| Value::Str(x.trim().to_string()))
                        .collect()
                };
                Ok(Value::Arr(names))
            }
            other => fail(format!(
                "The term '{other}' is not recognized as the name of a cmdlet (simulator)"
            )),
        }
    }

    fn set_auth_config(&mut self, p: &BTreeMap<String, Value>) -> R<Value> {
        let result = self.set_auth_config_inner(p);
        if result.is_ok() {
            // Any change of the AD object moves its whenChanged (Microsoft Learn, Active
            // Directory schema, When-Changed; DOMAIN.md §8: AuthConfig is an AD object).
            self.org.auth_changed = Some(self.org.now);
        }
        result
    }

    fn set_auth_config_inner(&mut self, p: &BTreeMap<String, Value>) -> R<Value> {
        let now = self.org.now;
        let force = p.get("force").is_some_and(Value::truthy);
        let clear = p.get("clearpreviouscertificate").is_some_and(Value::truthy);
        if let Some(thumb) = p.get("newcertificatethumbprint").map(Value::text) {
            let thumb = thumb.to_ascii_uppercase();
            let date = match p.get("newcertificateeffectivedate") {
                Some(Value::Date(d)) => *d,
                Some(Value::Str(s)) => DateTime::parse_from_rfc3339(s)
                    .map(|d| d.with_timezone(&Utc))
                    .map_err(|_| {
                        Failure(format!(
                            "Cannot convert value \"{s}\" to type \"System.DateTime\"."
                        ))
                    })?,
                _ => {
                    return fail(
                        "Set-AuthConfig: -NewCertificateEffectiveDate is required with -NewCertificateThumbprint",
                    );
                }
            };
            if date < now - Duration::minutes(5) {
                return fail("The new certificate effective date is invalid.");
            }
            if date < now + Duration::hours(48) && !force {
                return fail(
                    "The new certificate effective date is less than 48 hours from now: confirmation required (use -Force).",
                );
            }
            if thumb == self.org.current {
                return fail("The new certificate is the same as the current certificate.");
            }
            let local = self.local.clone();
            let s = self.server(&local)?;
            let cert = s
                .certificates
                .iter()
                .find(|c| c.thumbprint == thumb)
                .ok_or(Failure(format!(
                    "The certificate with thumbprint {thumb} was not found on server {}.",
                    s.name
                )))?;
            let facts = cert.facts();
            if facts.is_expired(now) || facts.not_after <= date {
                return fail("The certificate is expired or expires before the effective date.");
            }
            if !cert.exportable && !force {
                return fail("The certificate's private key is not exportable.");
            }
            self.org.next = thumb.clone();
            self.org.next_effective = Some(date);
            self.replicate_in_site(&thumb);
            return Ok(Value::Null);
        }
        if p.get("publishcertificate").is_some_and(Value::truthy) {
            if self.org.next.is_empty() {
                return fail("There is no next certificate to publish.");
            }
            let old = std::mem::take(&mut self.org.current);
            self.org.previous = if clear { String::new() } else { old };
            self.org.current = std::mem::take(&mut self.org.next);
            self.org.next_effective = None;
            // "immediately deployed to all Client Access servers" (Microsoft Learn,
            // Set-AuthConfig -PublishCertificate): of this AD site (DOMAIN.md §8).
            let current = self.org.current.clone();
            self.replicate_in_site(&current);
            return Ok(Value::Null);
        }
        if let Some(thumb) = p.get("certificatethumbprint").map(Value::text) {
            self.org.previous = std::mem::take(&mut self.org.current);
            self.org.current = thumb.to_ascii_uppercase();
            return Ok(Value::Null);
        }
        if clear {
            self.org.previous.clear();
            return Ok(Value::Null);
        }
        fail("Set-AuthConfig: no parameter the simulator knows")
    }

    fn is_auth_certificate(&mut self, server: &str, thumb: &str) -> R<bool> {
        let named = [&self.org.current, &self.org.next, &self.org.previous]
            .iter()
            .any(|t| !t.is_empty() && t.eq_ignore_ascii_case(thumb));
        let s = self.server(server)?;
        let subject_is_auth = s
            .certificates
            .iter()
            .find(|c| c.thumbprint.eq_ignore_ascii_case(thumb))
            .is_some_and(|c| c.facts().subject.contains(AUTH_CERTIFICATE_CN));
        Ok(named || subject_is_auth)
    }

    /// The certificate servicelet copies the certificate Set-AuthConfig names to the reachable
    /// servers of the AD site where it runs, from the local store (DOMAIN.md §2 and §8;
    /// Microsoft Learn, Set-AuthConfig). Servers in other sites keep lacking it: MEAC tells
    /// the admin to check them (MonitorExchangeAuthCertificate.ps1).
    fn replicate_in_site(&mut self, thumb: &str) {
        let local = self.local.clone();
        let Some(source) = self
            .org
            .servers
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(&local))
        else {
            return;
        };
        let site = source.site().to_string();
        let Some(cert) = source
            .certificates
            .iter()
            .find(|c| c.thumbprint.eq_ignore_ascii_case(thumb))
            .cloned()
        else {
            return;
        };
        let mut copied = cert;
        copied.services.clear();
        for s in &mut self.org.servers {
            if s.reachable && s.site() == site && !s.holds(thumb) {
                s.certificates.push(copied.clone());
                self.org.events.push(format!(
                    "certificate servicelet replicated {thumb} to {} (site {site})",
                    s.name
                ));
            }
        }
    }

    /// The prelude's `Copy-RenewAuthCertificate`: it waits for replication (the clock moves
    /// by the wait), then exports like MEAC's Export-CertificateAndPrivateKey.ps1
    /// (X509Certificate2.Export(Pfx) inside Invoke-Command on the source: fails without an
    /// exportable private key) and imports with Import-ExchangeCertificate
    /// (Import-ExchangeAuthCertificateToServers.ps1).
    fn copy_auth_certificate(&mut self, p: &BTreeMap<String, Value>) -> R<Value> {
        let text = |k: &str| p.get(k).map(Value::text).unwrap_or_default();
        let (source, target, thumb) = (text("source"), text("target"), text("thumbprint"));
        let wait: i64 = text("waitseconds").parse().unwrap_or(0);
        if self.server(&target)?.holds(&thumb) {
            self.out.push(format!("{target} holds {thumb}"));
            return Ok(Value::Null);
        }
        self.org.now += Duration::seconds(wait.max(0));
        if self.server(&target)?.holds(&thumb) {
            return Ok(Value::Null);
        }
        let cert = self
            .server(&source)?
            .certificates
            .iter()
            .find(|c| c.thumbprint.eq_ignore_ascii_case(&thumb))
            .cloned()
            .ok_or(Failure(format!(
                "Certificate with thumbprint {thumb} not found in LocalMachine\\My"
            )))?;
        if !cert.exportable {
            return fail(format!(
                "The private key couldn't be exported. It either couldn't be accessed or isn't exportable: {thumb}"
            ));
        }
        let mut copied = cert;
        copied.services.clear();
        copied.exportable = true;
        let s = self.server(&target)?;
        s.certificates.push(copied);
        self.org.events.push(format!(
            "copied {thumb} from {source} to {target} (.NET export)"
        ));
        Ok(Value::Null)
    }

    /// The runner's `Get-RenewState`, natively, except each certificate while the shell returns
    /// RawData only: then the prelude's own `ConvertTo-RenewCertificateEntry` makes the entry.
    fn renew_state(&mut self, servers: Vec<String>, nonce: &str) {
        let when = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let raw_only = self.raw_data_only();
        let entry_function = self
            .functions
            .get("convertto-renewcertificateentry")
            .cloned()
            .filter(|_| raw_only);
        let mut list: Vec<Json> = Vec::new();
        for name in &servers {
            let server = match self.server(name) {
                Ok(s) => s.clone(),
                Err(Failure(e)) => {
                    list.push(json!({"name": name, "reachable": false, "error": e, "transport": null, "certificates": []}));
                    continue;
                }
            };
            let mut certificates = Vec::new();
            for c in &server.certificates {
                certificates.push(match &entry_function {
                    Some(body) => {
                        let object = cert_value(c, &server, true);
                        match self.call_function(body, &BTreeMap::new(), vec![object]) {
                            Ok(Value::Obj(m)) => json!({
                                "thumbprint": m.get("thumbprint").map(Value::text),
                                "services": m.get("services").map(Value::text),
                                "not_after": m.get("not_after").map(Value::text),
                                "subject": m.get("subject").map(Value::text),
                            }),
                            Ok(other) => json!({"thumbprint": other.text()}),
                            Err(Failure(e)) => json!({"thumbprint": format!("ERROR {e}")}),
                        }
                    }
                    None => json!({"thumbprint": c.thumbprint, "services": server.services_text(c), "not_after": when(c.facts().not_after), "subject": c.facts().subject}),
                });
            }
            list.push(json!({
                "name": server.name, "reachable": true, "error": null, "transport": server.transport,
                "certificates": certificates,
            }));
        }
        let new: BTreeMap<String, String> = self
            .vars
            .iter()
            .filter(|(k, _)| k.starts_with("RenewNew"))
            .map(|(k, v)| (k.clone(), v.text()))
            .collect();
        let state = json!({
            "now": when(self.org.now),
            "computer": self.local,
            "auth": {"current": self.org.current, "previous": self.org.previous, "next": self.org.next, "next_effective": self.org.next_effective.map(when)},
            "hybrid": self.org.hybrid, "servers": list, "new": new,
        });
        self.out.push(format!("@@STATE {state}"));
        self.out.push(format!("@@END {nonce}"));
    }

    /// One line from the runner.
    fn line(&mut self, line: &str) {
        let tree = match self.parse(line) {
            Ok(tree) => tree,
            Err(Failure(e)) => {
                self.out.push(e);
                return;
            }
        };
        let root = tree.root_node();
        // The runner's two functions.
        if let Some(command) = first_command(root)
            && let Some(name_node) = command.named_child(0)
        {
            let name = &line[name_node.byte_range()];
            if name.eq_ignore_ascii_case("Invoke-RenewStep")
                || name.eq_ignore_ascii_case("Get-RenewState")
            {
                let mut params = BTreeMap::new();
                if let Some(elements) = command.named_child(1) {
                    let mut c = elements.walk();
                    let items: Vec<Node> = elements
                        .named_children(&mut c)
                        .filter(|n| n.kind() != "command_argument_sep")
                        .collect();
                    for pair in items.chunks(2) {
                        if let [k, v] = pair {
                            let key = line[k.byte_range()]
                                .trim_start_matches('-')
                                .to_ascii_lowercase();
                            if let Ok(value) = self.expr(*v, line) {
                                params.insert(key, value);
                            }
                        }
                    }
                }
                let nonce = params.get("nonce").map(Value::text).unwrap_or_default();
                if name.eq_ignore_ascii_case("Get-RenewState") {
                    let servers = match params.get("servers") {
                        Some(Value::Arr(a)) => a.iter().map(Value::text).collect(),
                        Some(v) => vec![v.text()],
                        None => Vec::new(),
                    };
                    self.renew_state(servers, &nonce);
                } else {
                    let id = params.get("id").map(Value::text).unwrap_or_default();
                    let code = params
                        .get("encoded")
                        .map(Value::text)
                        .and_then(|e| STANDARD.decode(e).ok())
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let before = self.out.len();
                    let result = self.exec_code(&code);
                    let produced: Vec<String> = self
                        .out
                        .drain(before..)
                        .map(|l| format!("@@OUT {l}"))
                        .collect();
                    self.out.extend(produced);
                    let (ok, error) = match result {
                        Ok(()) => (true, Json::Null),
                        Err(Failure(e)) => (false, json!(e)),
                    };
                    self.out.push(format!(
                        "@@RESULT {}",
                        json!({"id": id, "ok": ok, "error": error})
                    ));
                    self.out.push(format!("@@END {nonce}"));
                }
                self.save();
                return;
            }
        }
        if let Err(Failure(e)) = self.exec_node(root, line) {
            if e.starts_with(FLOW) {
                self.finish(0);
            }
            self.out.push(format!("ERROR: {e}"));
        }
        self.save();
    }

    /// Writes what is left and ends the process, as `exit` ends PowerShell.
    fn finish(&mut self, code: i32) -> ! {
        self.save();
        let mut stdout = std::io::stdout();
        for out in self.out.drain(..) {
            let mut bytes = oem_850(&out);
            bytes.push(b'\n');
            let _ = stdout.write_all(&bytes);
        }
        let _ = stdout.flush();
        std::process::exit(code)
    }

    /// `powershell.exe -File script.ps1 [-Yes] [-DryRun]`: the whole generated script, its
    /// functions interpreted (except `NATIVE`), its exit code the process's.
    fn run_script(&mut self, code: &str, switches: &[String]) -> ! {
        for switch in ["Yes", "DryRun"] {
            let on = switches
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&format!("-{switch}")));
            self.vars.insert(switch.into(), Value::Bool(on));
        }
        let result = self.exec_code(code);
        let status = match result {
            Ok(()) => 0,
            Err(Failure(e)) => match e.strip_prefix(&format!("{FLOW}exit ")) {
                Some(n) => n.trim().parse().unwrap_or(1),
                None => {
                    self.out.push(format!("ERROR: {e}"));
                    1
                }
            },
        };
        self.finish(status)
    }
}

fn first_command(root: Node) -> Option<Node> {
    let mut node = root;
    loop {
        if node.kind() == "command" {
            return Some(node);
        }
        node = node.named_child(0)?;
        if node.kind() == "assignment_expression" {
            return None;
        }
    }
}

/// A certificate as the Exchange shell returns it. `raw_only`: with PowerShell serialization
/// signing and an expired (or locally missing) Auth Certificate the objects fail to
/// deserialize and carry RawData only (CSS-Exchange
/// Shared/CertificateFunctions/Import-ExchangeCertificateFromRawData.ps1, used by MEAC's
/// Get-ExchangeServerCertificate.ps1 and New-ExchangeAuthCertificate.ps1; DOMAIN.md §8).
fn cert_value(c: &SimCert, server: &SimServer, raw_only: bool) -> Value {
    let facts = c.facts();
    let mut m = BTreeMap::new();
    if raw_only {
        m.insert(
            "RawData".into(),
            Value::Bytes(STANDARD.decode(&c.der).unwrap_or_default()),
        );
        return Value::Obj(m);
    }
    m.insert("Thumbprint".into(), Value::Str(c.thumbprint.clone()));
    m.insert("Subject".into(), Value::Str(facts.subject.clone()));
    m.insert("FriendlyName".into(), Value::Str(c.friendly_name.clone()));
    m.insert("Services".into(), Value::Str(server.services_text(c)));
    m.insert("NotAfter".into(), Value::Date(facts.not_after));
    m.insert("Server".into(), Value::Str(server.name.clone()));
    Value::Obj(m)
}

fn parse_services(list: &str) -> R<Vec<String>> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let known = [
            "IIS",
            "SMTP",
            "IMAP",
            "POP",
            "UM",
            "UMCallRouter",
            "Federation",
        ];
        if part.eq_ignore_ascii_case("None") {
            continue;
        }
        match known.iter().find(|k| k.eq_ignore_ascii_case(part)) {
            Some(k) => out.push(k.to_string()),
            None => return fail(format!("Cannot convert '{part}' to AllowedServices")),
        }
    }
    Ok(out)
}

/// Windows PowerShell writes redirected output in the OEM code page (DOMAIN.md §8; Microsoft
/// Learn, about_Character_Encoding): code page 850 on a Western European system; a character
/// it lacks becomes '?'. Only the letters the tests use are mapped.
fn oem_850(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            c if c.is_ascii() => c as u8,
            'ü' => 0x81,
            'é' => 0x82,
            'ä' => 0x84,
            'Ä' => 0x8E,
            'ö' => 0x94,
            'Ö' => 0x99,
            'Ü' => 0x9A,
            'ñ' => 0xA4,
            'Ñ' => 0xA5,
            'ß' => 0xE1,
            _ => b'?',
        })
        .collect()
}

/// `n` of `(Get-Date).AddHours(n)`.
fn hours_from_now(text: &str) -> Option<i64> {
    let inner = text
        .trim()
        .strip_prefix("(Get-Date).AddHours(")?
        .strip_suffix(')')?;
    inner.trim().parse().ok()
}

fn now_plus_hours(now: DateTime<Utc>, hours: i64) -> DateTime<Utc> {
    now + Duration::hours(hours)
}

/// `[char]0x0142` as its UTF-16 unit.
fn char_unit(text: &str) -> Option<u16> {
    let hex = text.trim().strip_prefix("[char]0x")?;
    u16::from_str_radix(hex, 16).ok()
}

fn variable_name(text: &str) -> String {
    let name = text.trim().trim_start_matches('$');
    let name = name
        .strip_prefix("global:")
        .or_else(|| name.strip_prefix("script:"))
        .unwrap_or(name);
    name.to_string()
}

fn unquote(text: &str) -> String {
    let inner: String = {
        let mut chars: Vec<char> = text.chars().collect();
        if chars.len() >= 2 {
            chars.remove(0);
            chars.pop();
        }
        chars.into_iter().collect()
    };
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}')
            && chars.peek() == Some(&c)
        {
            chars.next();
        }
    }
    out
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("init") => (|| -> Result<(), String> {
            let org_path = arg_value(&args, "--org").ok_or("--org")?;
            let scenario = arg_value(&args, "--scenario").ok_or("--scenario")?;
            let now = arg_value(&args, "--now").ok_or("--now")?;
            let now = DateTime::parse_from_rfc3339(&now)
                .map_err(|e| e.to_string())?
                .with_timezone(&Utc);
            let count = arg_value(&args, "--servers")
                .map_or(Ok(2), |s| s.parse::<usize>())
                .map_err(|e| e.to_string())?;
            let mut org = init(&scenario, now, count)?;
            // --extra-subject CN: one more certificate with that subject on every server (a
            // CA certificate for an Exchange URL, bound to nothing).
            if let Some(cn) = arg_value(&args, "--extra-subject") {
                for s in &mut org.servers {
                    let extra = SimCert::new(
                        make_cert(&cn, now - Duration::days(10), now + Duration::days(355)),
                        &[],
                        &cn,
                    );
                    s.certificates.push(extra);
                }
            }
            // --other-site NAME: that server is in another AD site, out of the certificate
            // servicelet's reach (DOMAIN.md §8).
            if let Some(name) = arg_value(&args, "--other-site") {
                for s in &mut org.servers {
                    if s.name.eq_ignore_ascii_case(&name) {
                        s.site = "Branch-Site".into();
                    }
                }
            }
            std::fs::write(
                &org_path,
                serde_json::to_string_pretty(&org).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())
        })(),
        Some("export") => (|| -> Result<(), String> {
            let org_path = arg_value(&args, "--org").ok_or("--org")?;
            let out = arg_value(&args, "--out").ok_or("--out")?;
            let org: Org = serde_json::from_str(
                &std::fs::read_to_string(&org_path).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            std::fs::write(
                out,
                serde_json::to_string_pretty(&export_bundle(&org)).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())
        })(),
        // A development aid: the syntax tree the simulator reads a file as.
        Some("tree") => (|| -> Result<(), String> {
            let file = args.get(2).ok_or("tree FILE")?;
            let code = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
            let mut parser = Parser::new();
            parser
                .set_language(&tree_sitter_powershell::LANGUAGE.into())
                .map_err(|e| e.to_string())?;
            let tree = parser.parse(&code, None).ok_or("parse")?;
            println!("{}", tree.root_node().to_sexp());
            Ok(())
        })(),
        _ => shell(),
    };
    if let Err(e) = result {
        eprintln!("exchange_simulator: {e}");
        std::process::exit(2);
    }
}

/// Stands in for `powershell.exe -Command -`.
fn shell() -> Result<(), String> {
    let path = PathBuf::from(std::env::var("EXSIM_ORG").map_err(|_| "EXSIM_ORG is not set")?);
    let org: Org =
        serde_json::from_str(&std::fs::read_to_string(&path).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .map_err(|e| e.to_string())?;
    // EXSIM_COMPUTER: the server the shell runs on (default: the first).
    let local = std::env::var("EXSIM_COMPUTER").ok().unwrap_or_else(|| {
        org.servers
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default()
    });
    let mut sim = Sim {
        org,
        path,
        vars: BTreeMap::new(),
        local,
        out: Vec::new(),
        parser,
        functions: BTreeMap::new(),
        sinks: Vec::new(),
        returned: None,
        global_names: Default::default(),
        remote_exchange_loaded: false,
        connected: false,
    };
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "script") {
        let file = args.get(2).ok_or("script FILE [-Yes] [-DryRun]")?;
        let code = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
        sim.run_script(&code, &args[3..]);
    }
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        sim.line(&line);
        for out in sim.out.drain(..) {
            let mut bytes = oem_850(&out);
            bytes.push(b'\n');
            let _ = stdout.write_all(&bytes);
        }
        let _ = stdout.flush();
    }
    sim.save();
    Ok(())
}

/// What a prompting cmdlet answers in a host without a console: PowerShell cannot ask, so the
/// cmdlet fails (Microsoft Learn, about_Preference_Variables and the Exchange cmdlets' -Confirm
/// and -Force parameters).
const NO_PROMPT: &str = "PowerShell is in NonInteractive mode. Read and Prompt functionality is not available: the cmdlet asks for confirmation (pass -Confirm:$false or -Force)";

fn is_exchange_cmdlet(name: &str) -> bool {
    name.ends_with("-exchangecertificate")
        || matches!(
            name,
            "get-authconfig"
                | "set-authconfig"
                | "get-transportservice"
                | "get-hybridconfiguration"
        )
}

/// Marks control flow (`return`, `exit` …) travelling up as a failure; `catch` ignores it.
const FLOW: &str = "\u{0}flow:";

/// `$env:ExchangeInstallPath` on the simulated servers.
const EXCHANGE_INSTALL_PATH: &str = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\";

/// Functions of the script and the prelude the simulator implements natively (from the
/// Microsoft code they follow); every other defined function runs as written.
const NATIVE: &[&str] = &[
    "Copy-RenewAuthCertificate",
    "Restore-RenewTransport",
    "Set-RenewBackEndCertificate",
    "Get-RenewServiceNames",
];

fn collapse(mut values: Vec<Value>) -> Value {
    match values.len() {
        0 => Value::Null,
        1 => values.remove(0),
        _ => Value::Arr(values),
    }
}

fn items(value: Value) -> Vec<Value> {
    match value {
        Value::Null => Vec::new(),
        Value::Arr(a) => a,
        other => vec![other],
    }
}

fn number(value: &Value) -> i64 {
    match value {
        Value::Int(i) => *i,
        other => other.text().trim().parse().unwrap_or(0),
    }
}

/// `$a + $b` and `+=`: arrays grow, numbers add, anything else concatenates as text.
fn add(left: Value, right: Value) -> Value {
    match (left, right) {
        (Value::Null, r) => r,
        (Value::Arr(mut a), Value::Arr(b)) => {
            a.extend(b);
            Value::Arr(a)
        }
        (Value::Arr(mut a), r) => {
            a.push(r);
            Value::Arr(a)
        }
        (Value::Int(a), r @ (Value::Int(_) | Value::Str(_))) => Value::Int(a + number(&r)),
        (l, r) => Value::Str(l.text() + &r.text()),
    }
}

/// PowerShell compares strings case-insensitively; dates and numbers by value.
fn compare(left: &Value, right: &Value) -> Option<std::cmp::Ordering> {
    match (left, right) {
        (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
        (Value::Int(a), b) => Some(a.cmp(&number(b))),
        (a, Value::Int(b)) => Some(number(a).cmp(b)),
        (a, b) => Some(
            a.text()
                .to_ascii_lowercase()
                .cmp(&b.text().to_ascii_lowercase()),
        ),
    }
}

fn equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (a, b) => compare(a, b) == Some(std::cmp::Ordering::Equal),
    }
}

fn operate(operator: &str, left: Value, right: Value) -> R<Value> {
    use std::cmp::Ordering::*;
    let ordered = |wanted: &[std::cmp::Ordering]| {
        Value::Bool(compare(&left, &right).is_some_and(|o| wanted.contains(&o)))
    };
    Ok(match operator {
        "-eq" => Value::Bool(equal(&left, &right)),
        "-ne" => Value::Bool(!equal(&left, &right)),
        "-gt" => ordered(&[Greater]),
        "-ge" => ordered(&[Greater, Equal]),
        "-lt" => ordered(&[Less]),
        "-le" => ordered(&[Less, Equal]),
        "-contains" => Value::Bool(items(left).iter().any(|v| equal(v, &right))),
        "-notcontains" => Value::Bool(!items(left).iter().any(|v| equal(v, &right))),
        "-and" => Value::Bool(left.truthy() && right.truthy()),
        "-or" => Value::Bool(left.truthy() || right.truthy()),
        "+" => add(left, right),
        "-join" => Value::Str(
            items(left)
                .iter()
                .map(Value::text)
                .collect::<Vec<_>>()
                .join(&right.text()),
        ),
        // Only the patterns the plans use: an escaped literal character (`'\.'`).
        "-split" => {
            let pattern = right.text().replace('\\', "");
            Value::Arr(
                left.text()
                    .split(pattern.as_str())
                    .map(|p| Value::Str(p.to_string()))
                    .collect(),
            )
        }
        "-f" => {
            let args = items(right);
            let mut text = left.text();
            for (i, arg) in args.iter().enumerate() {
                text = text.replace(&format!("{{{i}}}"), &arg.text());
            }
            Value::Str(text)
        }
        other => {
            return fail(format!(
                "the simulator does not implement the operator {other}"
            ));
        }
    })
}

fn member_of(object: &Value, member: &str) -> Value {
    match (object, member.to_ascii_lowercase().as_str()) {
        (Value::Arr(a), "count" | "length") => Value::Int(a.len() as i64),
        (Value::Null, "count") => Value::Int(0),
        (Value::Str(s), "length") => Value::Int(s.chars().count() as i64),
        (Value::Obj(m), "keys") if !m.contains_key("Keys") => {
            Value::Arr(m.keys().map(|k| Value::Str(k.clone())).collect())
        }
        (Value::Obj(m), _) => m
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(member))
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null),
        (Value::Date(d), "touniversaltime") => Value::Date(*d),
        (_, "count") => Value::Int(1),
        _ => Value::Null,
    }
}

fn cast(ty: &str, value: Value) -> Value {
    match ty.trim_matches(['[', ']']) {
        "string" => match value {
            Value::Null => Value::Str(String::new()),
            other => Value::Str(other.text()),
        },
        "int" => Value::Int(number(&value)),
        "bool" => Value::Bool(value.truthy()),
        "datetime" => match value {
            Value::Str(s) => DateTime::parse_from_rfc3339(&s)
                .map(|d| Value::Date(d.with_timezone(&Utc)))
                .unwrap_or(Value::Null),
            other => other,
        },
        _ => value,
    }
}

fn sha1_bytes(bytes: &[u8]) -> Vec<u8> {
    let hex = Thumbprint::of_der(bytes).to_string();
    (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// The names of a script block's `param(…)` variables, in order.
fn parameter_names(root: Node, src: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if node.kind() == "script_parameter" {
            let mut c = node.walk();
            if let Some(v) = node.named_children(&mut c).find(|n| n.kind() == "variable") {
                names.push((v.start_byte(), variable_name(&src[v.byte_range()])));
            }
            continue;
        }
        if matches!(node.kind(), "script_block_body" | "statement_list") {
            continue;
        }
        let mut c = node.walk();
        stack.extend(node.named_children(&mut c));
    }
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

/// The node an expression wrapper chain (`logical_expression` … `unary_expression`) holds.
fn innermost(mut node: Node) -> Node {
    while node.named_child_count() == 1 && node.kind() != "element_access" {
        match node.named_child(0) {
            Some(child) => node = child,
            None => break,
        }
    }
    node
}

/// The base64 text of the runner's prelude line, decoded.
fn base64_literal(text: &str) -> Option<String> {
    let start = text.find("FromBase64String('")? + "FromBase64String('".len();
    let end = start + text[start..].find('\'')?;
    let bytes = STANDARD.decode(&text[start..end]).ok()?;
    String::from_utf8(bytes).ok()
}
