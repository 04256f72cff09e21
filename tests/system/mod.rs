//! Support for the system tests (`tests/system_*.rs`) that drive real external programs:
//! finding them, skipping (or failing under CI) when they are missing, running them with a
//! bound on time, and stopping daemons on every path out of a test.
#![allow(dead_code)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The first candidate that exists, looking names up in PATH and the sbin directories.
pub fn find_program(candidates: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    candidates.iter().find_map(|name| {
        if name.contains('/') {
            Path::new(name).is_file().then(|| PathBuf::from(name))
        } else {
            dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
        }
    })
}

/// Skips the test with a message on the real stderr (not captured by the test harness), or fails
/// it under CI, where every tool must be installed.
pub fn skip(test: &str, why: &str, install: &str) {
    if in_ci() {
        panic!("{test}: {why}, but CI=true: .ci/run must install it ({install})");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {why} ({install} to run it)"
    );
}

unsafe extern "C" {
    /// kill(2) from the C library std already links.
    fn kill(pid: i32, sig: i32) -> i32;
}
pub const SIGTERM: i32 = 15;
pub const SIGKILL: i32 = 9;

/// Signals a whole process group (the daemon and its workers).
pub fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe {
        kill(-(pgid as i32), signal);
    }
}

/// Runs a command in its own process group, killed after `timeout`; returns exit status
/// success and the combined output.
pub fn run_bounded(command: &mut Command, timeout: Duration) -> (bool, String) {
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out.reopen().expect("reopen"))
        .stderr(out.reopen().expect("reopen"))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > timeout {
            signal_group(child.id(), SIGKILL);
            let _ = child.wait();
            panic!(
                "{command:?} did not finish within {timeout:?}:\n{}",
                std::fs::read_to_string(out.path()).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(out.path()).unwrap_or_default();
    (status.success(), text)
}

/// A running daemon in its own process group: stopped (TERM, then KILL) when dropped, so on
/// every path out of the test, panics included.
pub struct Daemon {
    pub child: Child,
    name: &'static str,
}

impl Daemon {
    pub fn spawn(name: &'static str, command: &mut Command, log: &Path) -> Daemon {
        let log = std::fs::File::create(log).expect("daemon log");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon { child, name }
    }

    /// The exit status if the daemon already ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pgid = self.child.id();
        if self.exited().is_none() {
            signal_group(pgid, SIGTERM);
            let started = Instant::now();
            while self.exited().is_none() && started.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Workers may outlive the main process: the group goes in any case.
        signal_group(pgid, SIGKILL);
        let _ = self.child.wait();
        let _ = self.name;
    }
}

pub fn current_user() -> (String, String) {
    let id = |flag: &str| {
        let out = Command::new("id").arg(flag).output().expect("running id");
        String::from_utf8(out.stdout)
            .expect("id prints UTF-8")
            .trim()
            .to_string()
    };
    (id("-un"), id("-gn"))
}

pub fn make_world_readable(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
