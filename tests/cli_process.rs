//! The check as a process started by a monitoring agent (Unix): a reader of stdout that went
//! away, standard streams the agent closed, arguments that are not UTF-8. On Linux the check
//! starts without Rust's runtime set-up (`src/process/entry.rs`), so these are its own doing. (Its
//! reopening of closed streams on /dev/null is a precaution no current path depends on: with or
//! without it, the closed-streams test below passes.)
#![cfg(unix)]

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use common::{BIN, CRATE_DIR, Workdir};

const NOW: &str = "2026-12-01T00:00:00Z";
const EXPIRED: &str = "samples/exch01-wmsvc-expired.pem";

#[test]
fn a_reader_that_went_away_leaves_the_exit_code_alone() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let status = Command::new(BIN)
        .current_dir(CRATE_DIR)
        .args(["--now", NOW, "--cert", EXPIRED])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::null())
        .status()
        .expect("run the check");
    // Not killed by SIGPIPE: the write fails and the check ends CRITICAL as judged.
    assert_eq!(status.signal(), None, "{status:?}");
    assert_eq!(status.code(), Some(2), "{status:?}");
}

#[test]
fn a_check_started_with_its_standard_streams_closed_still_writes_its_output_file() {
    let dir = Workdir::new();
    let file = dir.join("check.txt");
    let mut command = Command::new(BIN);
    command
        .current_dir(CRATE_DIR)
        .args(["--now", NOW, "--cert", EXPIRED, "--output-file"])
        .arg(&file);
    // SAFETY: close(2) only, between fork and exec.
    unsafe {
        command.pre_exec(|| {
            for fd in 0..3 {
                libc::close(fd);
            }
            Ok(())
        });
    }
    let status = command.status().expect("run the check");
    assert_eq!(status.code(), Some(2), "{status:?}");
    let written = std::fs::read_to_string(&file).expect("the output file");
    assert!(
        written.starts_with("EXCHANGE AUTHCERT CRITICAL - self-signed certificate"),
        "{written}"
    );
}

#[test]
fn an_argument_that_is_not_utf8_is_an_unreadable_file_not_a_panic() {
    let output = Command::new(BIN)
        .current_dir(CRATE_DIR)
        .args(["--now", NOW, "--cert"])
        .arg(OsStr::from_bytes(b"samples/no-\xff-such.pem"))
        .output()
        .expect("run the check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.starts_with("EXCHANGE AUTHCERT UNKNOWN - ")
            && stdout.contains("no-\u{fffd}-such.pem"),
        "{stdout}"
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
