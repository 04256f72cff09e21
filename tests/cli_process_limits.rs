//! A monitoring agent's account may be allowed very few processes, and on Linux threads count
//! (`RLIMIT_NPROC`). The check then does its work on the calling thread alone and prints exactly
//! what it prints with threads to spare: never "internal error: failed to spawn thread".
//!
//! The limit is set with bash's `ulimit -u 1` before `exec`; as root (which the limit does not
//! bind) the runs are made as `nobody` with `runuser`. A machine where the limit does not bite
//! skips with a message; CI (`CI` set) fails instead of skipping.

#![cfg(target_os = "linux")]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_check_exchange_authcert");
const NOW: &str = "2026-12-01T00:00:00Z";

/// Where `nobody` can read the binary and the inputs.
struct SharedDir {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    root: PathBuf,
}

impl SharedDir {
    fn new() -> SharedDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = root.join("check_exchange_authcert");
        std::fs::copy(BIN, &bin).expect("copy the binary");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        SharedDir {
            _dir: dir,
            bin,
            root,
        }
    }

    fn add(&self, file: &Path) -> PathBuf {
        let copy = self.root.join(file.file_name().unwrap());
        std::fs::copy(file, &copy).expect("copy an input");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
        copy
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `bash -c 'SETUP exec "$@"' bash PROGRAM ARGS...`, as `nobody` when running as root.
fn shell(setup: &str, program: &Path, args: &[&str]) -> Output {
    let script = format!("{setup} exec \"$@\"");
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--", "bash", "-c", &script, "bash"]);
        c
    } else {
        let mut c = Command::new("bash");
        c.args(["-c", &script, "bash"]);
        c
    };
    command
        .arg(program)
        .args(args)
        .output()
        .expect("run bash (and runuser as root)")
}

fn limited(program: &Path, args: &[&str]) -> Output {
    shell("ulimit -u 1 &&", program, args)
}

fn unlimited(program: &Path, args: &[&str]) -> Output {
    shell("", program, args)
}

/// True when a process under the limit really cannot start a thread or process here.
fn limit_bites() -> bool {
    // `timeout` forks its command at once (bash would retry a refused fork for seconds).
    let probe = limited(Path::new("timeout"), &["5", "true"]);
    let bites = !probe.status.success();
    if !bites {
        let reason = "ulimit -u 1 does not stop new threads here (a container without limits?)";
        assert!(std::env::var_os("CI").is_none(), "{reason}");
        eprintln!("skipped: {reason}");
    }
    bites
}

fn assert_same_without_threads(shared: &SharedDir, args: &[&str]) {
    let free = unlimited(&shared.bin, args);
    let tight = limited(&shared.bin, args);
    let free_text = String::from_utf8_lossy(&free.stdout);
    let tight_text = String::from_utf8_lossy(&tight.stdout);
    assert!(
        !tight_text.contains("internal error"),
        "under the process limit: {tight_text}{}",
        String::from_utf8_lossy(&tight.stderr)
    );
    assert!(
        free.status.code().is_some_and(|code| code <= 3),
        "{args:?}: {free_text}"
    );
    assert_eq!(
        tight.status.code(),
        free.status.code(),
        "{args:?}: {tight_text}"
    );
    assert_eq!(tight_text, free_text, "{args:?}");
}

#[test]
fn a_bundle_is_judged_the_same_without_spare_threads() {
    if !limit_bites() {
        return;
    }
    let shared = SharedDir::new();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/bundle-contoso.json");
    let bundle = shared.add(&sample);
    let bundle = bundle.to_str().unwrap();
    // The reader converts servers on worker threads and the watchdog is a thread of its own.
    for format in ["nagios", "json", "prtg-xml"] {
        assert_same_without_threads(
            &shared,
            &["--bundle", bundle, "--now", NOW, "-o", format, "-v"],
        );
    }
}

#[test]
fn network_checks_run_without_spare_threads() {
    if !limit_bites() {
        return;
    }
    let shared = SharedDir::new();
    // A closed port: the name lookup and the connection run on the calling thread.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("localhost:{port}");
    let url = format!("https://localhost:{port}/FederationMetadata/2007-06/FederationMetadata.xml");
    assert_same_without_threads(&shared, &["--tls", &target, "-t", "5"]);
    assert_same_without_threads(&shared, &["--metadata", &url, "--tls", &target, "-t", "5"]);
}
