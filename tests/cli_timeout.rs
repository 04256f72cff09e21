//! The `-t` watchdog: a check still working when its timeout passes ends with UNKNOWN (exit 3)
//! and the reason, as a PRTG error document for PRTG, and in the `--output-file` when one is
//! given, whatever the check was doing at that moment.
//!
//! Network inputs have deadlines of their own, shorter than `-t`, so the network tests never
//! reach the watchdog; here the work itself outlasts a 1 ms timeout: a bundle of 2,000
//! self-signed certificates, each parsed and its signature verified (tens of milliseconds even
//! in a release build).

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use common::exchange::{Organisation, TextEncoding};
use common::{Output, Run, Workdir, anchor, rfc3339};

const REASON: &str = "check did not finish within 0.001 seconds (-t/--timeout)";
const QUICK: Duration = Duration::from_secs(30);

/// The slow bundle, written once for all tests of this file.
fn slow_bundle() -> &'static (Workdir, PathBuf) {
    static BUNDLE: OnceLock<(Workdir, PathBuf)> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let org = Organisation::new(anchor()).self_signed_stores(200, 10);
        let dir = Workdir::new();
        let path = org.write_bundle(&dir, "slow.json", TextEncoding::Utf8);
        (dir, path)
    })
}

fn slow_check(extra: &[&str]) -> Output {
    let (_, path) = slow_bundle();
    Run::new()
        .timeout(QUICK)
        .arg("--bundle")
        .arg(path)
        .args(["--now", &rfc3339(anchor()), "-t", "0.001"])
        .args(extra)
        .output()
}

#[test]
fn the_bundle_is_judged_without_the_timeout() {
    // The counterpart: with the default timeout the same bundle is judged, so what the tests
    // below see is the watchdog, not a bad bundle.
    let (_, path) = slow_bundle();
    let output = Run::new()
        .timeout(QUICK)
        .arg("--bundle")
        .arg(path)
        .args(["--now", &rfc3339(anchor())])
        .output();
    assert!(output.code <= 2, "{}", output.context());
    assert!(
        !output.first_line().contains("did not finish"),
        "{}",
        output.context()
    );
}

#[test]
fn nagios_gets_unknown_with_the_reason() {
    slow_check(&[]).assert_unknown(REASON);
}

#[test]
fn prtg_gets_its_error_document() {
    let xml = slow_check(&["-o", "prtg-xml"]);
    xml.assert_code(0);
    let root = xml.xml();
    assert_eq!(root.child_text("error"), Some("1"), "{}", xml.context());
    assert_eq!(root.child_text("text"), Some(REASON), "{}", xml.context());

    let v2 = slow_check(&["-o", "prtg-v2"]);
    v2.assert_code(0);
    assert_eq!(v2.json()["status"], "error", "{}", v2.context());
}

#[test]
fn the_output_file_gets_the_document() {
    let dir = Workdir::new();
    let file = dir.join("check.txt");
    let output = slow_check(&["--output-file", file.to_str().unwrap()]);
    output.assert_code(3);
    assert!(output.stdout.is_empty(), "{}", output.context());
    let written = std::fs::read_to_string(&file).expect("the output file");
    assert!(
        written.starts_with(&format!("EXCHANGE AUTHCERT UNKNOWN - {REASON}")),
        "{written}"
    );
}

#[test]
fn a_prtg_output_file_gets_the_error_document_and_exit_code_0() {
    let dir = Workdir::new();
    let file = dir.join("prtg.xml");
    let output = slow_check(&["-o", "prtg-xml", "--output-file", file.to_str().unwrap()]);
    output.assert_code(0);
    assert!(output.stdout.is_empty(), "{}", output.context());
    let written = std::fs::read_to_string(&file).expect("the output file");
    assert!(written.contains("<error>1</error>"), "{written}");
    assert!(written.contains(REASON), "{written}");
    // Only the document itself is left: the temp file was renamed over it.
    let names: Vec<_> = std::fs::read_dir(dir.join("."))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["prtg.xml"], "{names:?}");
}

#[test]
fn an_output_file_that_cannot_be_written_leaves_the_reason_on_stdout() {
    let dir = Workdir::new();
    let file = dir.join("no-such-directory/check.txt");
    let output = slow_check(&["--output-file", file.to_str().unwrap()]);
    output.assert_code(3);
    let first = output.first_line();
    assert!(
        first.starts_with("EXCHANGE AUTHCERT UNKNOWN - cannot write --output-file")
            && first.contains("does not exist")
            && first.contains(REASON),
        "{}",
        output.context()
    );
}
