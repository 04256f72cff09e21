//! End-to-end test with the real Nagios 4 daemon (Debian's `nagios4`): a throwaway configuration
//! in a temporary directory uses the command definitions of `plugins/nagios/` verbatim on the
//! committed samples (with `--now` pinned, so the states are fixed), Nagios runs the checks, and
//! the states and perfdata are read back from Nagios's own `status.dat` and service perfdata
//! file. The example services of `plugins/nagios/` are validated with `nagios4 -v` against the
//! sample objects Nagios ships.
//!
//! Without `nagios4` the tests say so and pass; with `CI=true` a missing `nagios4` fails them
//! (`.ci/run` installs it).

mod common;
mod system;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, CRATE_DIR};
use system::{Daemon, current_user, find_program, make_world_readable, run_bounded, skip};

/// The instant the samples were made for.
const NOW: &str = "2026-12-01T00:00:00Z";
/// How long Nagios may take to run every check once.
const CHECK_DEADLINE: Duration = Duration::from_secs(60);

fn nagios_binary(test: &str) -> Option<PathBuf> {
    let found = find_program(&["nagios4", "/usr/sbin/nagios4", "nagios"]);
    if found.is_none() {
        skip(test, "nagios4 is not installed", "apt-get install nagios4");
    }
    found
}

// ---------------------------------------------------------------------------------------------
// status.dat
// ---------------------------------------------------------------------------------------------

/// `servicestatus` blocks of a status.dat, by service description.
fn service_status(status_dat: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut services = BTreeMap::new();
    let mut current: Option<BTreeMap<String, String>> = None;
    for line in status_dat.lines() {
        let line = line.trim();
        if line == "servicestatus {" {
            current = Some(BTreeMap::new());
        } else if line == "}" {
            if let Some(block) = current.take()
                && let Some(name) = block.get("service_description")
            {
                services.insert(name.clone(), block);
            }
        } else if let Some(block) = current.as_mut()
            && let Some((key, value)) = line.split_once('=')
        {
            block.insert(key.to_string(), value.to_string());
        }
    }
    services
}

// ---------------------------------------------------------------------------------------------
// The throwaway installation
// ---------------------------------------------------------------------------------------------

/// One service of the test: its command line from plugins/nagios/ and what Nagios must record.
struct Case {
    host: &'static str,
    service: &'static str,
    check_command: String,
    state: u8,
    output_starts: &'static str,
    perfdata: &'static [&'static str],
}

/// Loopback servers presenting certificates, for the agentless commands.
struct Servers {
    /// Implicit TLS (like 443/444) with an Auth Certificate that has 1000 days left at NOW.
    tls_port: u16,
    /// SMTP with STARTTLS and a self-signed transport certificate with 20 days left at NOW.
    smtp: String,
}

fn servers() -> Servers {
    let now = common::utc(2026, 12, 1, 0, 0, 0);
    let auth = common::auth_expiring(now + common::days(1000) + common::seconds(3600));
    let transport =
        common::selfsigned_expiring("EXCH01", now + common::days(20) + common::seconds(3600));
    let tls = common::net::implicit_tls_server(&common::net::identity_of(&auth));
    let smtp = common::net::smtp_server(
        &common::net::identity_of(&transport),
        common::net::Smtp::Good,
    );
    Servers {
        tls_port: tls.port(),
        smtp: format!("127.0.0.1:{}", smtp.port()),
    }
}

fn cases(dir: &Path, servers: &Servers) -> Vec<Case> {
    let sample = |name: &str| dir.join("samples").join(name).display().to_string();
    let mut cases = vec![
        Case {
            host: "exch01",
            service: "auth-certificate-ok",
            check_command: format!(
                "check_exchange_authcert_cert!{}!--now {NOW}",
                sample("auth-certificate.pem")
            ),
            state: 0,
            output_starts: "EXCHANGE AUTHCERT OK - ",
            perfdata: &[
                "days_left=1506;60:;30:;;",
                "auth_C4F63D98_days=1506;60:;30:;;",
            ],
        },
        Case {
            host: "exch01",
            service: "transport-warning",
            check_command: format!(
                "check_exchange_authcert_cert!{}!--now {NOW}",
                sample("exch01-transport.cer")
            ),
            state: 1,
            output_starts: "EXCHANGE AUTHCERT WARNING - self-signed certificate A1A9AE55",
            perfdata: &["days_left=19;30:;14:;;", "selfsigned_min_days=19;30:;14:;;"],
        },
        Case {
            host: "exch01",
            service: "wmsvc-critical",
            check_command: format!(
                "check_exchange_authcert_cert!{}!--now {NOW}",
                sample("exch01-wmsvc-expired.pem")
            ),
            state: 2,
            output_starts: "EXCHANGE AUTHCERT CRITICAL - self-signed certificate 9CFFBE41",
            perfdata: &["days_left=-61;30:;14:;;"],
        },
        Case {
            host: "exch01",
            service: "missing-file-unknown",
            check_command: format!(
                "check_exchange_authcert_cert!{}!--now {NOW}",
                sample("missing.pem")
            ),
            state: 3,
            output_starts: "EXCHANGE AUTHCERT UNKNOWN - ",
            perfdata: &[],
        },
        Case {
            host: "exch01",
            service: "bundle-ok",
            check_command: format!(
                "check_exchange_authcert_bundle!{}!--now {NOW}",
                sample("bundle-contoso.json")
            ),
            state: 0,
            output_starts: "EXCHANGE AUTHCERT OK - Auth Certificate 1BB4E003",
            // A rotation on track: OK with 40 days left, so no -w 60 in the perfdata either.
            perfdata: &[
                "days_left=40;;;;",
                "auth_current_days=40;;;;",
                "servers_missing_auth_cert=0;",
            ],
        },
        Case {
            // Thresholds through the last argument, as the README shows: 1506 days is below 2000.
            host: "exch01",
            service: "auth-certificate-thresholds",
            check_command: format!(
                "check_exchange_authcert!--cert {} --now {NOW} -w 2000: -c 1000:",
                sample("auth-certificate.pem")
            ),
            state: 1,
            output_starts: "EXCHANGE AUTHCERT WARNING - ",
            perfdata: &["days_left=1506;2000:;1000:;;"],
        },
        Case {
            // $HOSTADDRESS$ is 127.0.0.1; the port is $ARG1$.
            host: "exch01",
            service: "tls-ok",
            check_command: format!(
                "check_exchange_authcert_tls!{}!--now {NOW}",
                servers.tls_port
            ),
            state: 0,
            output_starts: "EXCHANGE AUTHCERT OK - ",
            perfdata: &["days_left=1000;60:;30:;;"],
        },
        Case {
            // A host whose address carries the port of the test's SMTP server.
            host: "smtp01",
            service: "smtp-starttls-warning",
            check_command: format!("check_exchange_authcert_starttls!smtp!--now {NOW}"),
            state: 1,
            output_starts: "EXCHANGE AUTHCERT WARNING - self-signed certificate ",
            perfdata: &["days_left=20;30:;14:;;"],
        },
    ];
    if Path::new(CRATE_DIR)
        .join("samples/metadata-contoso.json")
        .is_file()
    {
        cases.push(Case {
            host: "exch01",
            service: "metadata-file-ok",
            check_command: format!(
                "check_exchange_authcert_metadata_url!{}!--now {NOW}",
                sample("metadata-contoso.json")
            ),
            state: 0,
            output_starts: "EXCHANGE AUTHCERT OK - metadata publishes 1 signing certificate",
            perfdata: &["days_left=1506;60:;30:;;"],
        });
    }
    cases
}

/// `check_exchange_authcert_ldap` (the certificate from `--metadata`) and
/// `check_exchange_authcert_ldap_probes` (every server asked, tests/common/probe.rs) against the
/// loopback slapd (tests/common/ldap.rs, files in `dir`), each with the binary's own result for
/// the same arguments, which Nagios must record as it is; `None` without slapd.
fn ldap_cases(dir: &Path) -> Option<(common::ldap::LdapCheck, Vec<(Case, common::Output)>)> {
    let check = common::ldap::LdapCheck::start(dir, common::utc(2026, 12, 1, 0, 0, 0))?;
    let url = check.slapd.ldaps_url();
    let display = |p: &Path| p.display().to_string();
    let resolve: Vec<String> = check
        .probes
        .resolve
        .iter()
        .map(|pin| format!("--resolve {pin}"))
        .collect();
    let runs = [
        (
            "ldap-warning",
            check.args(&url, display),
            format!(
                "check_exchange_authcert_ldap!{url}!{}!{}!{}!--ca-file {} --now {NOW}",
                common::ldap::MONITOR_DN,
                check.password_file.display(),
                check.metadata.display(),
                check.ca_file.display(),
            ),
        ),
        (
            "ldap-probes-warning",
            check.probe_args(&url, display),
            format!(
                "check_exchange_authcert_ldap_probes!{url}!{}!{}!--ca-file {} {} --now {NOW}",
                common::ldap::MONITOR_DN,
                check.password_file.display(),
                check.probe_ca_file.display(),
                resolve.join(" "),
            ),
        ),
    ];
    let cases = runs
        .into_iter()
        .map(|(service, args, check_command)| {
            let direct = common::Run::new().args(args).output();
            assert_eq!(
                direct.code,
                1,
                "the fixture's verdict is a WARNING\n{}",
                direct.context()
            );
            let case = Case {
                host: "exch01",
                service,
                check_command,
                state: 1,
                output_starts: "EXCHANGE AUTHCERT WARNING - ",
                // The Auth Certificate's days; the WARNING is EXCH02's transport certificate.
                perfdata: &[
                    "days_left=1000;60:;30:;;",
                    "auth_current_days=1000;60:;30:;;",
                ],
            };
            (case, direct)
        })
        .collect();
    Some((check, cases))
}

/// Lays out plugin, samples, commands and the main configuration in `dir`.
fn lay_out(dir: &Path, cases: &[Case], servers: &Servers) -> PathBuf {
    make_world_readable(dir, 0o755);
    let plugin = dir.join("check_exchange_authcert");
    std::fs::copy(BIN, &plugin).expect("copying the plugin");
    make_world_readable(&plugin, 0o755);
    let samples = dir.join("samples");
    std::fs::create_dir(&samples).expect("samples dir");
    for name in [
        "auth-certificate.pem",
        "exch01-transport.cer",
        "exch01-wmsvc-expired.pem",
        "bundle-contoso.json",
        "metadata-contoso.json",
    ] {
        let source = Path::new(CRATE_DIR).join("samples").join(name);
        if source.is_file() {
            std::fs::copy(source, samples.join(name)).expect("copying a sample");
        }
    }
    for sub in ["spool", "rw"] {
        std::fs::create_dir(dir.join(sub)).expect("dir");
    }
    let commands = Path::new(CRATE_DIR).join("plugins/nagios/exchange_authcert_commands.cfg");
    std::fs::copy(&commands, dir.join("commands.cfg")).expect("copying the commands");

    std::fs::write(
        dir.join("resource.cfg"),
        format!("$USER1$={}\n", dir.display()),
    )
    .expect("resource.cfg");

    let mut objects = String::from(
        "define timeperiod {\n  timeperiod_name always\n  alias always\n  sunday 00:00-24:00\n  monday 00:00-24:00\n  tuesday 00:00-24:00\n  wednesday 00:00-24:00\n  thursday 00:00-24:00\n  friday 00:00-24:00\n  saturday 00:00-24:00\n}\n\
         define command {\n  command_name noop\n  command_line /bin/true\n}\n\
         define contact {\n  contact_name nobody\n  host_notifications_enabled 0\n  service_notifications_enabled 0\n  host_notification_period always\n  service_notification_period always\n  host_notification_options n\n  service_notification_options n\n  host_notification_commands noop\n  service_notification_commands noop\n}\n\
         define host {\n  name test-host\n  max_check_attempts 1\n  check_interval 600\n  check_period always\n  contacts nobody\n  notification_period always\n  active_checks_enabled 0\n  register 0\n}\n",
    );
    objects
        .push_str("define host {\n  use test-host\n  host_name exch01\n  address 127.0.0.1\n}\n");
    objects.push_str(&format!(
        "define host {{\n  use test-host\n  host_name smtp01\n  address {}\n}}\n",
        servers.smtp
    ));
    for case in cases {
        objects.push_str(&format!(
            "define service {{\n  host_name {}\n  service_description {}\n  check_command {}\n  max_check_attempts 1\n  check_interval 600\n  retry_interval 600\n  check_period always\n  contacts nobody\n  notification_period always\n  process_perf_data 1\n}}\n",
            case.host, case.service, case.check_command
        ));
    }
    std::fs::write(dir.join("objects.cfg"), objects).expect("objects.cfg");

    let (user, group) = current_user();
    let d = dir.display();
    // interval_length=1 makes intervals seconds; the spread of 1 puts every initial check in
    // the first second; nothing outside `dir` is read or written.
    let main = format!(
        "log_file={d}/nagios.log
cfg_file={d}/objects.cfg
cfg_file={d}/commands.cfg
resource_file={d}/resource.cfg
status_file={d}/status.dat
status_update_interval=1
object_cache_file={d}/objects.cache
precached_object_file={d}/objects.precache
temp_file={d}/nagios.tmp
temp_path={d}
lock_file={d}/nagios.lock
check_result_path={d}/spool
command_file={d}/rw/nagios.cmd
query_socket={d}/rw/nagios.qh
check_external_commands=1
nagios_user={user}
nagios_group={group}
retain_state_information=0
state_retention_file={d}/retention.dat
use_syslog=0
log_initial_states=1
interval_length=1
max_service_check_spread=1
max_host_check_spread=1
check_result_reaper_frequency=1
service_inter_check_delay_method=n
host_inter_check_delay_method=n
service_check_timeout=30
process_performance_data=1
service_perfdata_file={d}/service-perfdata
service_perfdata_file_template=$SERVICEDESC$\\t$SERVICESTATEID$\\t$SERVICEPERFDATA$
service_perfdata_file_mode=a
service_perfdata_file_processing_interval=0
enable_notifications=0
enable_flap_detection=0
check_for_updates=0
illegal_macro_output_chars=`~$&|'\"<>
"
    );
    let cfg = dir.join("nagios.cfg");
    std::fs::write(&cfg, main).expect("nagios.cfg");
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_file() && path != plugin {
            make_world_readable(&path, 0o644);
        }
    }
    cfg
}

#[test]
fn nagios_runs_the_plugin_commands_and_records_states_and_perfdata() {
    const TEST: &str = "nagios_runs_the_plugin_commands_and_records_states_and_perfdata";
    let Some(nagios) = nagios_binary(TEST) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let servers = servers();
    let mut cases = cases(dir, &servers);
    let ldap = ldap_cases(dir);
    match &ldap {
        Some((_, ldap_cases)) => cases.extend(ldap_cases.iter().map(|(case, _)| Case {
            check_command: case.check_command.clone(),
            ..*case
        })),
        None if system::in_ci() => {
            panic!("{TEST}: slapd is not installed, but CI=true: .ci/run must install it")
        }
        None => eprintln!("note: slapd is not installed: the --ldap service is left out"),
    }
    let cfg = lay_out(dir, &cases, &servers);

    let (ok, text) = run_bounded(
        Command::new(&nagios).arg("-v").arg(&cfg),
        Duration::from_secs(30),
    );
    assert!(ok, "nagios4 -v rejects the configuration:\n{text}");

    let log = dir.join("daemon.out");
    let mut daemon = Daemon::spawn("nagios4", Command::new(&nagios).arg(&cfg), &log);
    let status_path = dir.join("status.dat");
    let started = Instant::now();
    let services = loop {
        if let Some(status) = daemon.exited() {
            panic!(
                "nagios4 ended early ({status}):\n{}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default(),
                std::fs::read_to_string(dir.join("nagios.log")).unwrap_or_default()
            );
        }
        let text = std::fs::read_to_string(&status_path).unwrap_or_default();
        let services = service_status(&text);
        let checked = cases
            .iter()
            .filter(|c| {
                services
                    .get(c.service)
                    .is_some_and(|s| s.get("has_been_checked").map(String::as_str) == Some("1"))
            })
            .count();
        if checked == cases.len() {
            break services;
        }
        if started.elapsed() > CHECK_DEADLINE {
            panic!(
                "after {CHECK_DEADLINE:?} Nagios had checked {checked} of {} services\nstatus.dat:\n{text}\nnagios.log:\n{}",
                cases.len(),
                std::fs::read_to_string(dir.join("nagios.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };

    // The perfdata file is written when Nagios processes the results; give it a moment.
    let perfdata_path = dir.join("service-perfdata");
    let perf_started = Instant::now();
    let perf_lines: BTreeMap<String, (String, String)> = loop {
        let text = std::fs::read_to_string(&perfdata_path).unwrap_or_default();
        let lines: BTreeMap<String, (String, String)> = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.splitn(3, '\t');
                Some((
                    fields.next()?.to_string(),
                    (fields.next()?.to_string(), fields.next()?.to_string()),
                ))
            })
            .collect();
        if cases.iter().all(|c| lines.contains_key(c.service))
            || perf_started.elapsed() > Duration::from_secs(20)
        {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(daemon);

    let mut failures = Vec::new();
    for case in &cases {
        let status = &services[case.service];
        let field = |key: &str| status.get(key).cloned().unwrap_or_default();
        if field("current_state") != case.state.to_string() {
            failures.push(format!(
                "{}: current_state {} (expected {}), output {:?}",
                case.service,
                field("current_state"),
                case.state,
                field("plugin_output")
            ));
        }
        if !field("plugin_output").starts_with(case.output_starts) {
            failures.push(format!(
                "{}: plugin_output {:?} does not start with {:?}",
                case.service,
                field("plugin_output"),
                case.output_starts
            ));
        }
        let status_perf = field("performance_data");
        match perf_lines.get(case.service) {
            None => failures.push(format!("{}: no line in the perfdata file", case.service)),
            Some((state, perf)) => {
                if *state != case.state.to_string() {
                    failures.push(format!(
                        "{}: perfdata file state {state} (expected {})",
                        case.service, case.state
                    ));
                }
                if perf.trim() != status_perf.trim() {
                    failures.push(format!(
                        "{}: perfdata file {perf:?} differs from status.dat {status_perf:?}",
                        case.service
                    ));
                }
            }
        }
        for item in case.perfdata {
            if !status_perf.split(' ').any(|p| p.starts_with(item)) {
                failures.push(format!(
                    "{}: perfdata {status_perf:?} lacks {item:?}",
                    case.service
                ));
            }
        }
        if case.perfdata.is_empty() && !status_perf.is_empty() {
            failures.push(format!(
                "{}: an UNKNOWN without data has perfdata {status_perf:?}",
                case.service
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "Nagios recorded other results than expected:\n{}",
        failures.join("\n")
    );
    // What Nagios recorded for the --ldap services is what the binary says directly: the
    // state, the first line and the perfdata (Nagios splits the line at '|').
    for (case, direct) in ldap.iter().flat_map(|(_, cases)| cases) {
        let status = &services[case.service];
        let first = direct.stdout.lines().next().unwrap_or_default();
        let (text, perf) = first.split_once('|').unwrap_or((first, ""));
        let recorded = (
            status["current_state"].as_str(),
            status["plugin_output"].trim(),
            status["performance_data"].trim(),
        );
        assert_eq!(
            recorded,
            (direct.code.to_string().as_str(), text.trim(), perf.trim()),
            "Nagios recorded another result than the binary gives directly\n{}",
            direct.context()
        );
    }
    let missing = &services["missing-file-unknown"]["plugin_output"];
    assert!(
        missing.contains("missing.pem") && missing.contains("no such file"),
        "the UNKNOWN names the file and the reason: {missing:?}"
    );
}

#[test]
fn nagios_accepts_the_example_services_with_the_shipped_sample_objects() {
    const TEST: &str = "nagios_accepts_the_example_services_with_the_shipped_sample_objects";
    let Some(nagios) = nagios_binary(TEST) else {
        return;
    };
    let shipped = Path::new("/etc/nagios4/objects");
    if !shipped.join("templates.cfg").is_file() {
        skip(
            TEST,
            "/etc/nagios4/objects/templates.cfg is missing",
            "apt-get install nagios4",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    make_world_readable(dir, 0o755);
    let plugins = Path::new(CRATE_DIR).join("plugins/nagios");
    let (user, group) = current_user();
    let d = dir.display();
    let mut main = String::new();
    for name in [
        "commands.cfg",
        "contacts.cfg",
        "timeperiods.cfg",
        "templates.cfg",
    ] {
        main.push_str(&format!("cfg_file={}\n", shipped.join(name).display()));
    }
    for name in [
        "exchange_authcert_commands.cfg",
        "exchange_authcert_services.example.cfg",
    ] {
        let copy = dir.join(name);
        std::fs::copy(plugins.join(name), &copy).expect("copying plugins/nagios");
        make_world_readable(&copy, 0o644);
        main.push_str(&format!("cfg_file={}\n", copy.display()));
    }
    main.push_str(&format!(
        "resource_file={d}/resource.cfg\ncheck_result_path={d}\nlock_file={d}/nagios.lock\n\
         temp_file={d}/nagios.tmp\nnagios_user={user}\nnagios_group={group}\n\
         illegal_macro_output_chars=`~$&|'\"<>\n"
    ));
    std::fs::write(
        dir.join("resource.cfg"),
        "$USER1$=/usr/lib/nagios/plugins\n",
    )
    .expect("w");
    let cfg = dir.join("nagios.cfg");
    std::fs::write(&cfg, main).expect("nagios.cfg");
    let (ok, text) = run_bounded(
        Command::new(&nagios).arg("-v").arg(&cfg),
        Duration::from_secs(30),
    );
    assert!(
        ok && text.contains("Total Warnings: 0") && text.contains("Total Errors:   0"),
        "nagios4 -v does not accept plugins/nagios/*.cfg cleanly:\n{text}"
    );
    // Every command the README documents is defined, and every one is used by an example.
    let commands =
        std::fs::read_to_string(plugins.join("exchange_authcert_commands.cfg")).expect("commands");
    let examples = std::fs::read_to_string(plugins.join("exchange_authcert_services.example.cfg"))
        .expect("examples");
    let readme = std::fs::read_to_string(plugins.join("README.md")).expect("README");
    for line in commands.lines() {
        if let Some(name) = line.trim().strip_prefix("command_name") {
            let name = name.trim();
            assert!(
                readme.contains(&format!("`{name}`")),
                "plugins/nagios/README.md does not document {name}"
            );
            let used = examples.contains(&format!("{name}!"));
            assert!(
                used || [
                    "check_exchange_authcert",
                    "check_exchange_authcert_metadata_url"
                ]
                .contains(&name),
                "no example service uses {name}"
            );
        }
    }
}
