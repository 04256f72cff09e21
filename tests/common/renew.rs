//! Helpers for the renewal companion's tests: the Exchange simulator
//! (`examples/exchange_simulator.rs`) holding an organisation in a file, runs of
//! `renew_exchange_authcert` against it, and the check on its export.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// Every simulated organisation is created at this instant.
pub const NOW: &str = "2026-12-01T00:00:00Z";
pub const RENEW: &str = env!("CARGO_BIN_EXE_renew_exchange_authcert");
pub const CHECK: &str = env!("CARGO_BIN_EXE_check_exchange_authcert");

/// Every scenario the simulator can set up, with the options its renewal needs.
pub const SCENARIOS: &[(&str, &[&str])] = &[
    ("stage", &[]),
    ("replace", &["--emergency"]),
    ("replace-missing", &["--emergency"]),
    ("replace-expired-transport", &["--emergency", "--cleanup"]),
    ("import", &[]),
    ("import-next", &[]),
    ("publish", &[]),
    ("clear", &[]),
    ("clear-expired", &[]),
    ("selfsigned", &["--cleanup"]),
    ("selfsigned-remote", &["--cleanup"]),
    ("cleanup", &["--cleanup"]),
    ("hybrid", &["--hybrid-acknowledged"]),
    ("unreachable", &["--ignore-unreachable"]),
];

/// The simulator binary; built on demand when only some test targets were built.
pub fn simulator() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let debug = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = debug.join("examples").join(format!(
        "exchange_simulator{}",
        std::env::consts::EXE_SUFFIX
    ));
    // `cargo test` builds the examples; a narrower `cargo test --test …` may not have.
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/exchange_simulator.rs");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = match (modified(&path), modified(&source)) {
        (Some(built), Some(written)) => built < written,
        _ => true,
    };
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        if !stale {
            return;
        }
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--example", "exchange_simulator"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build --example exchange_simulator");
        assert!(status.success(), "building the simulator failed");
    });
    path
}

/// Runs a command with optional stdin, failing the test after a minute.
pub fn run_command(mut command: Command, stdin: Option<&str>) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A binary being re-linked by a concurrent build (shared target directory) cannot be
    // started for a moment ("Text file busy"): retry briefly.
    let mut attempts = 0;
    let mut child = loop {
        match command.spawn() {
            Ok(child) => break child,
            Err(error) if attempts < 50 => {
                attempts += 1;
                eprintln!("spawn {:?}: {error}; retrying", command.get_program());
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(error) => panic!("spawn {:?}: {error}", command.get_program()),
        }
    };
    let mut input = child.stdin.take().expect("stdin");
    let text = stdin.unwrap_or("").to_string();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("command did not finish within 120 s: {command:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    Output {
        status,
        stdout: reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

pub fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A simulated organisation in a temporary directory.
pub struct SimOrg {
    pub dir: tempfile::TempDir,
    pub org: PathBuf,
    pub scenario: String,
}

impl SimOrg {
    pub fn new(scenario: &str) -> SimOrg {
        SimOrg::with(scenario, &[])
    }

    /// A scenario with more of `init`'s options (`--servers 3`, `--other-site EXCH03`).
    pub fn with(scenario: &str, init: &[&str]) -> SimOrg {
        let dir = tempfile::tempdir().expect("temporary directory");
        let org = dir.path().join("org.json");
        let output = run_command(
            {
                let mut c = Command::new(simulator());
                c.args(["init", "--org"])
                    .arg(&org)
                    .args(["--scenario", scenario, "--now", NOW])
                    .args(init);
                c
            },
            None,
        );
        assert!(output.status.success(), "simulator init: {}", text(&output));
        SimOrg {
            dir,
            org,
            scenario: scenario.into(),
        }
    }

    /// Replaces the organisation by a fresh one (the journal stays).
    pub fn reinit(&self, scenario: &str) {
        let mut c = Command::new(simulator());
        c.args(["init", "--org"])
            .arg(&self.org)
            .args(["--scenario", scenario, "--now", NOW]);
        let output = run_command(c, None);
        assert!(output.status.success(), "simulator init: {}", text(&output));
    }

    pub fn state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(&self.org).expect("org file"))
            .expect("org JSON")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The organisation as the collector's bundle.
    pub fn export(&self, name: &str) -> PathBuf {
        let out = self.path(name);
        let mut c = Command::new(simulator());
        c.args(["export", "--org"])
            .arg(&self.org)
            .arg("--out")
            .arg(&out);
        let output = run_command(c, None);
        assert!(
            output.status.success(),
            "simulator export: {}",
            text(&output)
        );
        out
    }

    /// `renew_exchange_authcert <args> --bundle <export> --now NOW`, PowerShell = the simulator.
    pub fn renew(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let bundle = self.export("input.json");
        let mut c = Command::new(RENEW);
        c.args(args)
            .arg("--bundle")
            .arg(&bundle)
            .args(["--now", NOW])
            .env("EXSIM_ORG", &self.org)
            .env_remove("EXSIM_FAIL")
            .env_remove("EXSIM_FAIL_CMDLET")
            .env_remove("EXSIM_SMTP_OVERWRITE")
            .env_remove("EXSIM_COMPUTER")
            .env_remove("EXSIM_HANG_CMDLET")
            .env_remove("EXSIM_REMOTE_SHELL")
            .env_remove("EXSIM_RAWDATA_ONLY")
            .env_remove("EXSIM_PLAIN_SHELL")
            .env_remove("EXSIM_SERVICE_STUCK")
            .current_dir(self.dir.path());
        if args.first() == Some(&"run") {
            c.arg("--powershell")
                .arg(simulator())
                .arg("--journal")
                .arg(self.path("journal.jsonl"))
                .arg("--log")
                .arg(self.path("renewal.log"));
        }
        for (k, v) in env {
            c.env(k, v);
        }
        run_command(c, stdin)
    }

    /// `script --out <name>` with the options: the generated script's path.
    pub fn script_file(&self, name: &str, options: &[&str]) -> PathBuf {
        let path = self.path(name);
        let mut args = vec!["script", "--out", path.to_str().expect("UTF-8 path")];
        args.extend_from_slice(options);
        let output = self.renew(&args, &[], None);
        assert!(output.status.success(), "script: {}", text(&output));
        path
    }

    /// The simulator runs a generated script as `powershell.exe -File script.ps1 -Yes` would.
    pub fn run_script(&self, script: &Path, env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(simulator());
        c.arg("script")
            .arg(script)
            .arg("-Yes")
            .env("EXSIM_ORG", &self.org)
            .env_remove("EXSIM_FAIL")
            .env_remove("EXSIM_FAIL_CMDLET")
            .env_remove("EXSIM_RAWDATA_ONLY")
            .env_remove("EXSIM_PLAIN_SHELL")
            .env_remove("EXSIM_SERVICE_STUCK");
        for (k, v) in env {
            c.env(k, v);
        }
        run_command(c, None)
    }

    /// `run --execute --yes` with the scenario's options.
    pub fn run_execute(&self, options: &[&str], env: &[(&str, &str)]) -> Output {
        let mut args = vec!["run", "--execute", "--yes"];
        args.extend_from_slice(options);
        self.renew(&args, env, None)
    }

    /// The check on the simulator's export.
    pub fn check(&self) -> (i32, String) {
        let bundle = self.export("after.json");
        let mut c = Command::new(CHECK);
        c.arg("--bundle").arg(&bundle).args(["--now", NOW, "-v"]);
        let output = run_command(c, None);
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }

    pub fn journal(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path("journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("renewal.log")).unwrap_or_default()
    }
}

/// NotAfter of a certificate in the simulator's file.
pub fn not_after(cert: &Value) -> chrono::DateTime<chrono::Utc> {
    let der = STANDARD
        .decode(cert["der"].as_str().unwrap_or(""))
        .expect("base64 DER");
    exchange_authcert::model::Certificate::from_der(&der)
        .expect("DER")
        .not_after
}

pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(NOW)
        .expect("NOW")
        .with_timezone(&chrono::Utc)
}

fn store<'a>(server: &'a Value) -> impl Iterator<Item = &'a Value> + 'a {
    server["certificates"].as_array().into_iter().flatten()
}

fn holds<'a>(server: &'a Value, thumbprint: &str) -> Option<&'a Value> {
    store(server).find(|c| c["thumbprint"].as_str() == Some(thumbprint))
}

fn reachable(org: &Value) -> impl Iterator<Item = &Value> {
    org["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["reachable"].as_bool() == Some(true))
}

/// The current Auth Certificate is set, valid and in every reachable store.
pub fn current_is_valid_everywhere(org: &Value) -> bool {
    let current = org["current"].as_str().unwrap_or("");
    !current.is_empty()
        && reachable(org).all(|s| holds(s, current).is_some_and(|c| not_after(c) > now()))
}

/// The safety invariants on an organisation after a run (complete, failed or interrupted),
/// compared with the one before. `transport_renewal` allows the plan's own renewal of an
/// internal transport certificate.
pub fn assert_not_broken(before: &Value, after: &Value, transport_renewal: bool, context: &str) {
    // A valid current Auth Certificate on every reachable server, if there was one before.
    if current_is_valid_everywhere(before) {
        assert!(
            current_is_valid_everywhere(after),
            "{context}: current Auth Certificate broken: {after:#}"
        );
    }
    // Whatever AuthConfig names as current is in every reachable store.
    let current = after["current"].as_str().unwrap_or("");
    if !current.is_empty() && current != before["current"].as_str().unwrap_or("") {
        assert!(
            reachable(after).all(|s| holds(s, current).is_some()),
            "{context}: a new current certificate is missing on a server"
        );
    }
    // The previous certificate is only cleared once the new one is current everywhere, or
    // when it had expired.
    let previous_before = before["previous"].as_str().unwrap_or("");
    let current_before = before["current"].as_str().unwrap_or("");
    let old_expired = |thumb: &str| {
        before["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(store)
            .find(|c| c["thumbprint"].as_str() == Some(thumb))
            .is_none_or(|c| not_after(c) <= now())
    };
    if after["previous"].as_str() == Some("") && !previous_before.is_empty() {
        assert!(
            old_expired(previous_before) || current_is_valid_everywhere(after),
            "{context}: previous cleared too early"
        );
    }
    if after["previous"].as_str() == Some("")
        && current != current_before
        && !current_before.is_empty()
    {
        // The emergency sequence clears the old current: only allowed when it had expired.
        assert!(
            old_expired(current_before),
            "{context}: a still valid old certificate was cleared"
        );
    }
    // Internal transport certificates unchanged (or, for a transport renewal, a valid one).
    for (b, a) in reachable(before).zip(after["servers"].as_array().into_iter().flatten()) {
        let tb = b["transport"].as_str().unwrap_or("");
        let ta = a["transport"].as_str().unwrap_or("");
        if tb == ta {
            continue;
        }
        assert!(
            transport_renewal
                && holds(a, ta).is_some_and(|c| not_after(c) > now()
                    && c["friendly_name"] != "Microsoft Exchange Server Auth Certificate"),
            "{context}: internal transport certificate of {} changed from {tb} to {ta}",
            a["name"]
        );
    }
    // No plan moves a web binding: the front end (Default Web Site, 443) keeps the certificate
    // clients see, and no web site is ever bound to an Auth Certificate.
    for (b, a) in reachable(before).zip(after["servers"].as_array().into_iter().flatten()) {
        assert_eq!(
            b["front_end"], a["front_end"],
            "{context}: the front end of {} was rebound",
            a["name"]
        );
        for site in ["front_end", "back_end"] {
            let bound = a[site].as_str().unwrap_or("");
            assert!(
                holds(a, bound).is_none_or(
                    |c| c["friendly_name"] != "Microsoft Exchange Server Auth Certificate"
                ),
                "{context}: {site} of {} bound to an Auth Certificate",
                a["name"]
            );
        }
    }
    // The Auth Certificate is never enabled for IIS, SMTP, IMAP or POP.
    for s in after["servers"].as_array().into_iter().flatten() {
        for c in store(s) {
            if c["friendly_name"] == "Microsoft Exchange Server Auth Certificate" {
                let services: Vec<&str> = c["services"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                assert!(
                    !services
                        .iter()
                        .any(|x| ["IIS", "SMTP", "IMAP", "POP"].contains(x)),
                    "{context}: Auth Certificate enabled for {services:?} on {}",
                    s["name"]
                );
            }
        }
    }
}
