//! End-to-end tests with the real Icinga 2 daemon (Debian's `icinga2`):
//!
//! - `icinga2 daemon -C` validates a throwaway configuration that includes every file of
//!   `plugins/icinga2/` and hosts that make every example apply rule match;
//! - a running `icinga2` (throwaway configuration and run/state/cache/log directories, API on
//!   127.0.0.1 only) executes the `exchange_authcert` CheckCommand through the example apply
//!   rules on the committed samples (`--now` pinned); checks are forced through the REST API,
//!   and states, outputs and perfdata are read back through the REST API
//!   (`GET /v1/objects/services`) and from the PerfdataWriter's files.
//!
//! Without `icinga2` the tests say so and pass; with `CI=true` a missing `icinga2` fails them.

mod common;
mod system;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{BIN, CRATE_DIR};
use system::{Daemon, current_user, find_program, make_world_readable, run_bounded, skip};

const NOW: &str = "2026-12-01T00:00:00Z";
/// The files of plugins/icinga2/ that hold CheckCommands (a global zone in a distributed setup);
/// the others hold services.
const COMMAND_FILES: &[&str] = &["exchange_authcert.conf", "windows-agent.conf"];
const API_USER: &str = "exchange-authcert-test";
const API_PASSWORD: &str = "throwaway-loopback-only";
/// How long the daemon may take to come up and run every check once.
const DEADLINE: Duration = Duration::from_secs(90);

fn icinga2_binary(test: &str) -> Option<PathBuf> {
    let found = find_program(&[
        "icinga2",
        "/usr/sbin/icinga2",
        "/usr/lib/x86_64-linux-gnu/icinga2/sbin/icinga2",
    ]);
    if found.is_none() {
        skip(test, "icinga2 is not installed", "apt-get install icinga2");
    }
    found
}

/// A throwaway Icinga 2 installation: everything below one temporary directory.
struct Installation {
    _temp: tempfile::TempDir,
    dir: PathBuf,
}

impl Installation {
    fn new() -> Installation {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_path_buf();
        make_world_readable(&dir, 0o755);
        for sub in [
            "etc", "run", "state", "cache", "log", "spool", "perfdata", "samples",
        ] {
            std::fs::create_dir(dir.join(sub)).expect("dir");
            make_world_readable(&dir.join(sub), 0o755);
        }
        // The plugin files as shipped, and the plugin binary (Icinga may drop privileges: all of
        // it world-readable, the binary executable).
        // Flat in etc/plugins/ for a single node, and laid out in zones.d/ as the README says for
        // a distributed setup: the CheckCommands in a global zone, the services in the master's.
        for sub in [
            "plugins",
            "zones.d",
            "zones.d/global-templates",
            "zones.d/master",
        ] {
            std::fs::create_dir(dir.join("etc").join(sub)).expect("dir");
            make_world_readable(&dir.join("etc").join(sub), 0o755);
        }
        let plugins = Path::new(CRATE_DIR).join("plugins/icinga2");
        for entry in std::fs::read_dir(&plugins).expect("plugins/icinga2") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "conf") {
                let name = path
                    .file_name()
                    .expect("name")
                    .to_str()
                    .expect("UTF-8 name");
                let zone = if COMMAND_FILES.contains(&name) {
                    "global-templates"
                } else {
                    "master"
                };
                for target in [
                    format!("etc/plugins/{name}"),
                    format!("etc/zones.d/{zone}/{name}"),
                ] {
                    let copy = dir.join(target);
                    std::fs::copy(&path, &copy).expect("copying a .conf");
                    make_world_readable(&copy, 0o644);
                }
            }
        }
        let plugin = dir.join("check_exchange_authcert");
        std::fs::copy(BIN, &plugin).expect("copying the plugin");
        make_world_readable(&plugin, 0o755);
        for name in [
            "auth-certificate.pem",
            "exch01-transport.cer",
            "exch01-wmsvc-expired.pem",
            "bundle-contoso.json",
        ] {
            let copy = dir.join("samples").join(name);
            std::fs::copy(Path::new(CRATE_DIR).join("samples").join(name), &copy)
                .expect("copying a sample");
            make_world_readable(&copy, 0o644);
        }
        Installation { _temp: temp, dir }
    }

    fn path(&self, relative: &str) -> String {
        self.dir.join(relative).display().to_string()
    }

    /// The constants that keep Icinga inside the directory and as the current user.
    fn defines(&self) -> Vec<String> {
        let (user, group) = current_user();
        let d = self.dir.display();
        vec![
            format!("-DConfigDir={d}/etc"),
            format!("-DDataDir={d}/state"),
            format!("-DStateDir={d}/state"),
            format!("-DCacheDir={d}/cache"),
            format!("-DLogDir={d}/log"),
            format!("-DSpoolDir={d}/spool"),
            format!("-DInitRunDir={d}/run"),
            format!("-DPidPath={d}/run/icinga2.pid"),
            format!("-DVarsPath={d}/cache/icinga2.vars"),
            format!("-DObjectsPath={d}/cache/icinga2.debug"),
            format!("-DModAttrPath={d}/state/modified-attributes.conf"),
            format!("-DRunAsUser={user}"),
            format!("-DRunAsGroup={group}"),
        ]
    }

    /// The main configuration: the plugin files flat from etc/plugins/ (`zones == false`) or
    /// from etc/zones.d/ with a master and a global zone.
    fn write_config(&self, zones: bool, body: &str) -> PathBuf {
        let include = if zones {
            "object Zone \"global-templates\" { global = true }\ninclude_zones \"etc\", \"zones.d\""
        } else {
            "include \"plugins/exchange_authcert.conf\"\ninclude \"plugins/apply-examples.conf\""
        };
        let main = format!(
            "const PluginDir = \"{d}\"\n\
             const NodeName = \"localhost\"\n\
             const ZoneName = \"master\"\n\
             const TicketSalt = \"\"\n\
             include <itl>\n\
             include <plugins>\n\
             object Endpoint NodeName {{ }}\n\
             object Zone ZoneName {{ endpoints = [ NodeName ] }}\n\
             {include}\n\
             {body}\n",
            d = self.dir.display()
        );
        let path = self.dir.join("etc/icinga2.conf");
        std::fs::write(&path, main).expect("icinga2.conf");
        make_world_readable(&path, 0o644);
        path
    }

    fn command(&self, icinga2: &Path, config: &Path) -> Command {
        let mut command = Command::new(icinga2);
        command
            .arg("daemon")
            .arg("-c")
            .arg(config)
            .args(self.defines())
            .env_remove("ICINGA2_USER")
            .env_remove("ICINGA2_GROUP");
        command
    }
}

#[test]
fn icinga2_validates_the_plugin_configuration_with_every_apply_rule_matching() {
    const TEST: &str = "icinga2_validates_the_plugin_configuration_with_every_apply_rule_matching";
    let Some(icinga2) = icinga2_binary(TEST) else {
        return;
    };
    let installation = Installation::new();
    // The agent's endpoint and zone, below the master.
    let config = installation.write_config(
        true,
        r#"
object Endpoint "exch02.contoso.com" { }
object Zone "exch02.contoso.com" {
  endpoints = [ "exch02.contoso.com" ]
  parent = ZoneName
}
"#,
    );
    // Hosts that make every example rule of plugins/icinga2/ match, as the comments there show,
    // in the master's zone.
    let hosts = r#"
object Host "exch01.contoso.com" {
  check_command = "dummy"
  address = "exch01.contoso.com"
  vars.exchange_authcert_bundle_file = "/var/lib/exchange-authcert/contoso/exchange-authstate.json"
  vars.exchange_authcert_exports = {
    exchange_authcert_authconfig = "/var/lib/exchange-authcert/contoso/authconfig.xml"
    exchange_authcert_servers = "/var/lib/exchange-authcert/contoso/servers.xml"
    exchange_authcert_certificates = [ "EXCH01=/var/lib/exchange-authcert/contoso/EXCH01-certs.xml" ]
  }
  vars.exchange_authcert_metadata_check = true
  vars.exchange_authcert_directory = {
    exchange_authcert_ldap = "ldaps://dc1.contoso.com"
    exchange_authcert_ldap_user = "monitor@contoso.com"
    exchange_authcert_ldap_password_file = "/etc/icinga2/exchange-ldap.secret"
    exchange_authcert_metadata = "https://mail.contoso.com/autodiscover/metadata/json/1"
    exchange_authcert_probe_servers = true
    exchange_authcert_resolve = [ "exch01.contoso.com=10.0.0.11", "exch02.contoso.com=10.0.0.12:443" ]
  }
  vars.exchange_authcert_tls_endpoints = {
    "SMTP" = { exchange_authcert_starttls = "smtp" }
    "HTTPS" = { exchange_authcert_port = 443 }
    "Back end" = { exchange_authcert_port = 444, exchange_authcert_chain = true }
  }
  vars.exchange_authcert_files = {
    "Auth" = { exchange_authcert_cert = "/var/lib/exchange-authcert/exch01/auth.cer" }
  }
}
object Host "exch02.contoso.com" {
  check_command = "dummy"
  address = "exch02.contoso.com"
  vars.os = "Windows"
  vars.exchange_authcert_agent = true
  vars.exchange_authcert_nrpe = true
}
"#;
    let hosts_file = installation.dir.join("etc/zones.d/master/hosts.conf");
    std::fs::write(&hosts_file, hosts).expect("hosts.conf");
    make_world_readable(&hosts_file, 0o644);
    let (ok, text) = run_bounded(
        installation
            .command(&icinga2, &config)
            .arg("-C")
            .arg("-x")
            .arg("notice"),
        Duration::from_secs(60),
    );
    assert!(
        ok,
        "icinga2 daemon -C rejects plugins/icinga2/*.conf:\n{text}"
    );
    for needle in ["critical/", "does not match anywhere"] {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(needle)).collect();
        assert!(
            lines.is_empty(),
            "icinga2 daemon -C says:\n{}",
            lines.join("\n")
        );
    }
    // 1 bundle + 1 exports + 1 metadata + 1 directory + 3 TLS + 1 file + agent + NRPE.
    assert!(
        text.contains("Instantiated 10 Services."),
        "not every example service was created:\n{text}"
    );
}

/// A client for the throwaway API: basic auth, the self-made certificate not verified
/// (loopback only).
struct Api {
    agent: ureq::Agent,
    base: String,
    authorization: String,
}

impl Api {
    fn new(port: u16) -> Api {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .disable_verification(true)
                    .build(),
            )
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Api {
            agent,
            base: format!("https://127.0.0.1:{port}/v1"),
            authorization: format!(
                "Basic {}",
                STANDARD.encode(format!("{API_USER}:{API_PASSWORD}"))
            ),
        }
    }

    /// GET: status code and body, or the transport error as text.
    fn get(&self, path: &str) -> Result<(u16, String), String> {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.authorization)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    fn post(&self, path: &str, body: &serde_json::Value) -> Result<(u16, String), String> {
        let mut response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", &self.authorization)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok((status, body))
    }
}

/// What Icinga must record for one service.
struct Expected {
    service: &'static str,
    state: u8,
    output_starts: &'static str,
    perfdata: &'static [&'static str],
}

const EXPECTED: &[Expected] = &[
    Expected {
        service: "exchange-authcert",
        state: 0,
        output_starts: "EXCHANGE AUTHCERT OK - Auth Certificate 1BB4E003",
        // A rotation on track: OK with 40 days left, so no -w 60 in the perfdata either.
        perfdata: &["days_left=40;;;;", "auth_current_days=40;;;;"],
    },
    Expected {
        service: "exchange-authcert-file ok",
        state: 0,
        output_starts: "EXCHANGE AUTHCERT OK - ",
        perfdata: &[
            "days_left=1506;60:;30:;;",
            "auth_C4F63D98_days=1506;60:;30:;;",
        ],
    },
    Expected {
        service: "exchange-authcert-file warning",
        state: 1,
        output_starts: "EXCHANGE AUTHCERT WARNING - self-signed certificate A1A9AE55",
        perfdata: &["days_left=19;30:;14:;;"],
    },
    Expected {
        service: "exchange-authcert-file critical",
        state: 2,
        output_starts: "EXCHANGE AUTHCERT CRITICAL - self-signed certificate 9CFFBE41",
        perfdata: &["days_left=-61;30:;14:;;"],
    },
    Expected {
        service: "exchange-authcert-file unknown",
        state: 3,
        output_starts: "EXCHANGE AUTHCERT UNKNOWN - ",
        perfdata: &[],
    },
    Expected {
        service: "exchange-authcert-file thresholds",
        state: 1,
        output_starts: "EXCHANGE AUTHCERT WARNING - ",
        perfdata: &["days_left=1506;2000:;1000:;;"],
    },
];

/// The service the `exchange-authcert-ldap` rule creates from `exchange_authcert_directory`.
const LDAP_SERVICE: &str = "exchange-authcert-ldap";

fn free_loopback_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binding a loopback port")
        .local_addr()
        .expect("local address")
        .port()
}

#[test]
fn icinga2_runs_the_check_command_and_reports_states_and_perfdata_through_its_api() {
    const TEST: &str =
        "icinga2_runs_the_check_command_and_reports_states_and_perfdata_through_its_api";
    let Some(icinga2) = icinga2_binary(TEST) else {
        return;
    };
    let installation = Installation::new();

    // The API's certificate: self-signed for NodeName, its own CA.
    let certificate = common::self_signed(
        "localhost",
        common::utc(2020, 1, 1, 0, 0, 0),
        common::utc(2045, 1, 1, 0, 0, 0),
    );
    let certs = installation.dir.join("state/certs");
    std::fs::create_dir(&certs).expect("certs dir");
    std::fs::write(certs.join("localhost.crt"), certificate.pem()).expect("crt");
    std::fs::write(certs.join("ca.crt"), certificate.pem()).expect("ca");
    std::fs::write(certs.join("localhost.key"), &certificate.key_pem).expect("key");

    // The directory rule against the loopback slapd, and the binary's own result for the same
    // arguments, which Icinga must record as it is.
    let ldap = common::ldap::LdapCheck::start(
        &installation.dir.join("samples"),
        common::utc(2026, 12, 1, 0, 0, 0),
    );
    let (ldap_vars, direct) = match &ldap {
        Some(check) => {
            let url = check.slapd.ldaps_url();
            let direct = common::Run::new()
                .args(check.probe_args(&url, |p| p.display().to_string()))
                .output();
            assert_eq!(
                direct.code,
                1,
                "the fixture's verdict is a WARNING\n{}",
                direct.context()
            );
            for file in [&check.password_file, &check.probe_ca_file] {
                make_world_readable(file, 0o644);
            }
            // The recommended setup: every server asked (tests/common/probe.rs), each pinned
            // to its loopback address.
            let resolve: Vec<String> = check
                .probes
                .resolve
                .iter()
                .map(|pin| format!("\"{pin}\""))
                .collect();
            let vars = format!(
                "vars.exchange_authcert_directory = {{\n    exchange_authcert_ldap = \"{url}\"\n    exchange_authcert_ldap_user = \"{}\"\n    exchange_authcert_ldap_password_file = \"{}\"\n    exchange_authcert_probe_servers = true\n    exchange_authcert_resolve = [ {} ]\n    exchange_authcert_ca_file = \"{}\"\n  }}",
                common::ldap::MONITOR_DN,
                check.password_file.display(),
                resolve.join(", "),
                check.probe_ca_file.display()
            );
            (vars, Some(direct))
        }
        None if system::in_ci() => {
            panic!("{TEST}: slapd is not installed, but CI=true: .ci/run must install it")
        }
        None => {
            eprintln!("note: slapd is not installed: the --ldap service is left out");
            (String::new(), None)
        }
    };
    let mut services: Vec<&str> = EXPECTED.iter().map(|e| e.service).collect();
    if direct.is_some() {
        services.push(LDAP_SERVICE);
    }

    let port = free_loopback_port();
    let sample = |name: &str| installation.path(&format!("samples/{name}"));
    let perfdata = installation.path("perfdata");
    let body = format!(
        r#"
object CheckerComponent "checker" {{ }}
object ApiListener "api" {{
  bind_host = "127.0.0.1"
  bind_port = {port}
  accept_config = false
  accept_commands = false
}}
object ApiUser "{API_USER}" {{
  password = "{API_PASSWORD}"
  permissions = [ "objects/query/*", "actions/reschedule-check" ]
}}
object PerfdataWriter "perfdata" {{
  service_perfdata_path = "{perfdata}/service-perfdata"
  service_temp_path = "{perfdata}/service-perfdata.tmp"
  host_perfdata_path = "{perfdata}/host-perfdata"
  host_temp_path = "{perfdata}/host-perfdata.tmp"
  service_format_template = "RECORD\t$service.name$\t$service.state_id$\t$service.perfdata$"
  rotation_interval = 1s
}}
object Host "exch01" {{
  check_command = "dummy"
  enable_active_checks = false
  vars.exchange_authcert_now = "{NOW}"
  vars.exchange_authcert_bundle_file = "{bundle}"
  {ldap_vars}
  vars.exchange_authcert_files = {{
    "ok" = {{ exchange_authcert_cert = [ "{auth}" ] }}
    "warning" = {{ exchange_authcert_cert = "{transport}" }}
    "critical" = {{ exchange_authcert_cert = [ "{wmsvc}" ] }}
    "unknown" = {{ exchange_authcert_cert = [ "{missing}" ] }}
    "thresholds" = {{
      exchange_authcert_cert = [ "{auth}" ]
      exchange_authcert_warning = "2000:"
      exchange_authcert_critical = "1000:"
    }}
  }}
}}
"#,
        bundle = sample("bundle-contoso.json"),
        auth = sample("auth-certificate.pem"),
        transport = sample("exch01-transport.cer"),
        wmsvc = sample("exch01-wmsvc-expired.pem"),
        missing = sample("missing.pem"),
    );
    let config = installation.write_config(false, &body);
    for entry in std::fs::read_dir(&certs).expect("certs") {
        make_world_readable(&entry.expect("entry").path(), 0o644);
    }

    let log = installation.dir.join("daemon.out");
    let mut daemon = Daemon::spawn(
        "icinga2",
        &mut installation.command(&icinga2, &config),
        &log,
    );
    let api = Api::new(port);
    let started = Instant::now();
    let daemon_log = || std::fs::read_to_string(&log).unwrap_or_default();

    // Wait for the API, then force every check now (the example rules check hourly, with the
    // first check spread over that hour).
    let mut forced = false;
    let mut last = String::new();
    let results: BTreeMap<String, serde_json::Value> = loop {
        if let Some(status) = daemon.exited() {
            panic!("icinga2 ended early ({status}):\n{}", daemon_log());
        }
        if started.elapsed() > DEADLINE {
            panic!(
                "after {DEADLINE:?} Icinga had not checked every service; last answer:\n{last}\ndaemon output:\n{}",
                daemon_log()
            );
        }
        if !forced {
            let request = serde_json::json!({
                "type": "Service",
                "filter": "host.name == \"exch01\"",
                "force": true,
            });
            match api.post("/actions/reschedule-check", &request) {
                Ok((200, answer)) => {
                    let rescheduled = serde_json::from_str::<serde_json::Value>(&answer)
                        .ok()
                        .and_then(|v| v["results"].as_array().map(Vec::len))
                        .unwrap_or(0);
                    forced = rescheduled == services.len();
                    last = answer;
                }
                Ok((status, answer)) => last = format!("HTTP {status}: {answer}"),
                Err(e) => last = e,
            }
        } else {
            match api.get("/objects/services?attrs=last_check_result&attrs=state") {
                Ok((200, answer)) => {
                    let value: serde_json::Value =
                        serde_json::from_str(&answer).expect("the API answers JSON");
                    let results: BTreeMap<String, serde_json::Value> = value["results"]
                        .as_array()
                        .expect("results")
                        .iter()
                        .filter(|r| !r["attrs"]["last_check_result"].is_null())
                        .map(|r| {
                            let name = r["name"].as_str().unwrap_or_default();
                            let service = name.split_once('!').map_or(name, |(_, s)| s);
                            (service.to_string(), r["attrs"]["last_check_result"].clone())
                        })
                        .collect();
                    if services.iter().all(|s| results.contains_key(*s)) {
                        break results;
                    }
                    last = answer;
                }
                Ok((status, answer)) => last = format!("HTTP {status}: {answer}"),
                Err(e) => last = e,
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    };

    // The PerfdataWriter's rotated files (and the one being written).
    let perf_started = Instant::now();
    let written: BTreeMap<String, (String, String)> = loop {
        let mut records = BTreeMap::new();
        for entry in std::fs::read_dir(installation.dir.join("perfdata")).expect("perfdata") {
            let path = entry.expect("entry").path();
            let is_service = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("service-perfdata"));
            if !is_service {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for line in text.lines() {
                let fields: Vec<&str> = line.splitn(4, '\t').collect();
                if let ["RECORD", service, state, perf] = fields[..] {
                    records.insert(service.to_string(), (state.to_string(), perf.to_string()));
                }
            }
        }
        if services.iter().all(|s| records.contains_key(*s))
            || perf_started.elapsed() > Duration::from_secs(20)
        {
            break records;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    drop(daemon);

    let mut failures = Vec::new();
    for expected in EXPECTED {
        let result = &results[expected.service];
        let output = result["output"].as_str().unwrap_or_default();
        let state = result["state"].as_f64().unwrap_or(-1.0);
        let exit = result["exit_status"].as_f64().unwrap_or(-1.0);
        if state != f64::from(expected.state) || exit != f64::from(expected.state) {
            failures.push(format!(
                "{}: state {state}, exit status {exit} (expected {}); output {output:?}",
                expected.service, expected.state
            ));
        }
        if !output.starts_with(expected.output_starts) {
            failures.push(format!(
                "{}: output {output:?} does not start with {:?}",
                expected.service, expected.output_starts
            ));
        }
        let perf: Vec<String> = result["performance_data"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| i.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        for item in expected.perfdata {
            if !perf.iter().any(|p| p == item) {
                failures.push(format!(
                    "{}: performance_data {perf:?} lacks {item:?}",
                    expected.service
                ));
            }
        }
        if expected.perfdata.is_empty() && !perf.is_empty() {
            failures.push(format!(
                "{}: an UNKNOWN without data has perfdata {perf:?}",
                expected.service
            ));
        }
        // The command line Icinga built from the CheckCommand's arguments.
        let command: Vec<&str> = result["command"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        if !command.windows(2).any(|w| w == ["--now", NOW]) {
            failures.push(format!(
                "{}: the command line lacks --now {NOW}: {command:?}",
                expected.service
            ));
        }
        match written.get(expected.service) {
            None => failures.push(format!(
                "{}: no record in the PerfdataWriter's files",
                expected.service
            )),
            Some((state, line)) => {
                if *state != expected.state.to_string() {
                    failures.push(format!(
                        "{}: PerfdataWriter state {state} (expected {})",
                        expected.service, expected.state
                    ));
                }
                for item in expected.perfdata {
                    if !line.split(' ').any(|p| p == *item) {
                        failures.push(format!(
                            "{}: PerfdataWriter line {line:?} lacks {item:?}",
                            expected.service
                        ));
                    }
                }
            }
        }
    }
    // The directory service: Icinga's state, output and perfdata (split at '|' and at spaces)
    // and the PerfdataWriter's record are the binary's own.
    if let Some(direct) = &direct {
        let result = &results[LDAP_SERVICE];
        let first = direct.stdout.lines().next().unwrap_or_default();
        let (text, perf) = first.split_once('|').unwrap_or((first, ""));
        let recorded_perf: Vec<&str> = result["performance_data"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let output = result["output"].as_str().unwrap_or_default();
        let expected_state = f64::from(direct.code);
        // Icinga keeps the long output below the first line, without the perfdata.
        let expected_output: Vec<&str> = std::iter::once(text.trim())
            .chain(direct.stdout.lines().skip(1).map(str::trim))
            .collect();
        if result["state"].as_f64() != Some(expected_state)
            || output.lines().map(str::trim).collect::<Vec<_>>() != expected_output
            || recorded_perf != perf.split_whitespace().collect::<Vec<_>>()
        {
            failures.push(format!(
                "{LDAP_SERVICE}: Icinga recorded state {}, output {output:?}, perfdata {recorded_perf:?}; directly: {}",
                result["state"],
                direct.context()
            ));
        }
        let command: Vec<&str> = result["command"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let resolves = command.iter().filter(|a| **a == "--resolve").count();
        if !command.contains(&"--ldap") || !command.contains(&"--probe-servers") || resolves != 2 {
            failures.push(format!(
                "{LDAP_SERVICE}: the command line should have --ldap, --probe-servers and one --resolve per server: {command:?}"
            ));
        }
        match written.get(LDAP_SERVICE) {
            Some((state, line))
                if *state == direct.code.to_string() && line.trim() == perf.trim() => {}
            other => failures.push(format!(
                "{LDAP_SERVICE}: PerfdataWriter recorded {other:?}, directly {:?}",
                (direct.code, perf.trim())
            )),
        }
    }
    drop(ldap);
    assert!(
        failures.is_empty(),
        "Icinga recorded other results than expected:\n{}",
        failures.join("\n")
    );
}
