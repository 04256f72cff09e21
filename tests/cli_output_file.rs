//! `--output-file PATH`: the document goes to the file (atomically: a temp file in the same
//! directory renamed into place), stdout stays empty, the exit code stays as the format
//! defines, and a file that cannot be written is UNKNOWN (exit 3) with the reason on stdout.

mod common;

use std::path::Path;

use common::{Output, Run, Workdir};

const NOW: &str = "2026-12-01T00:00:00Z";
const SAMPLES: [&str; 3] = [
    "samples/auth-certificate.pem",
    "samples/exch01-transport.cer",
    "samples/exch01-wmsvc-expired.pem",
];

fn samples(format: &str, extra: &[&str]) -> Output {
    Run::new()
        .certs(SAMPLES)
        .args(["--now", NOW, "-o", format])
        .args(extra)
        .output()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_format_writes_the_same_document_and_keeps_its_exit_code() {
    let dir = Workdir::new();
    for (format, code) in [
        ("nagios", 2),
        ("json", 2),
        ("prtg-xml", 0),
        ("prtg-json", 0),
        ("prtg-v2", 0),
        ("checkmk", 0),
        ("prometheus", 0),
    ] {
        let on_stdout = samples(format, &[]);
        on_stdout.assert_code(code);
        let path = dir.join(&format!("{format}.out"));
        let to_file = samples(format, &["--output-file", path.to_str().unwrap()]);
        to_file.assert_code(code);
        assert_eq!(
            to_file.stdout,
            "",
            "stdout stays empty\n{}",
            to_file.context()
        );
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written, on_stdout.stdout, "{format}");
    }
    // Nothing but the outputs: no temp file left behind.
    let names = listing(dir.path());
    assert_eq!(names.len(), 7, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".out")), "{names:?}");
}

#[test]
fn replaces_an_existing_file_completely() {
    let dir = Workdir::new();
    let path = dir.write("exchange_authcert.prom", "old content ".repeat(10_000));
    let output = samples("prometheus", &["--output-file", path.to_str().unwrap()]);
    output.assert_code(0);
    assert_eq!(output.stdout, "");
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        written.starts_with("# check_exchange_authcert: CRITICAL - "),
        "{written}"
    );
    assert!(!written.contains("old content"));
    assert!(written.ends_with("\n"));
    assert_eq!(listing(dir.path()), ["exchange_authcert.prom"]);
}

#[test]
fn a_missing_directory_is_unknown_with_the_reason_on_stdout() {
    let dir = Workdir::new();
    let path = dir.join("no-such-dir/exchange_authcert.prom");
    let output = samples("nagios", &["--output-file", path.to_str().unwrap()]);
    output.assert_unknown("cannot write --output-file");
    assert!(
        output.first_line().contains("does not exist"),
        "{}",
        output.context()
    );
    assert!(!path.exists());
    assert!(listing(dir.path()).is_empty());

    // Whatever the format: exit 3 and the reason in that format on stdout.
    let output = samples("prometheus", &["--output-file", path.to_str().unwrap()]);
    output.assert_code(3);
    assert!(
        output
            .stdout
            .starts_with("# check_exchange_authcert: UNKNOWN - cannot write --output-file"),
        "{}",
        output.context()
    );
    assert!(output.stdout.contains("exchange_authcert_check_success 0"));
    let output = samples("prtg-xml", &["--output-file", path.to_str().unwrap()]);
    output.assert_code(3);
    assert!(
        output.stdout.contains("<error>1</error>"),
        "{}",
        output.context()
    );
}

#[test]
fn a_directory_as_the_file_is_unknown() {
    let dir = Workdir::new();
    std::fs::create_dir(dir.join("taken")).unwrap();
    let path = dir.join("taken");
    let output = samples("checkmk", &["--output-file", path.to_str().unwrap()]);
    output.assert_code(3);
    assert!(
        output
            .stdout
            .starts_with("3 \"Exchange auth state\" - cannot write --output-file"),
        "{}",
        output.context()
    );
    // The failed attempt left no temp file.
    assert_eq!(listing(dir.path()), ["taken"]);
}

#[test]
fn failures_of_the_check_go_to_the_file_too() {
    // A textfile collector must see the failure (check_success 0), not yesterday's file.
    let dir = Workdir::new();
    let path = dir.write(
        "exchange_authcert.prom",
        "exchange_authcert_check_success 1\n",
    );
    for args in [
        vec!["--cert", "samples/missing.pem"],
        // Rejected by the option parser: the pre-scan still finds the file.
        vec!["--bogus"],
    ] {
        let output = Run::new()
            .args(&args)
            .args(["-o", "prometheus", "--output-file", path.to_str().unwrap()])
            .output();
        output.assert_code(0);
        assert_eq!(output.stdout, "", "{}", output.context());
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(
            written.contains("exchange_authcert_check_success 0\n"),
            "{written}"
        );
        assert!(
            written.contains("exchange_authcert_check_state 3\n"),
            "{written}"
        );
    }
    // Nagios keeps its exit code 3 and writes the UNKNOWN line to the file.
    let text = dir.join("nagios.txt");
    let output = Run::new()
        .args(["--cert", "samples/missing.pem", "--output-file"])
        .arg(&text)
        .output();
    output.assert_code(3);
    assert_eq!(output.stdout, "");
    let written = std::fs::read_to_string(&text).unwrap();
    assert!(
        written.starts_with("EXCHANGE AUTHCERT UNKNOWN - samples/missing.pem: no such file\n"),
        "{written}"
    );
}

#[test]
fn equals_form_and_relative_paths() {
    let dir = Workdir::new();
    let crate_dir = Path::new(common::CRATE_DIR);
    let output = Run::new()
        .cwd(dir.path())
        .arg("--cert")
        .arg(crate_dir.join(SAMPLES[0]))
        .args(["--now", NOW, "-o", "checkmk", "--output-file=local.txt"])
        .output();
    output.assert_code(0);
    assert_eq!(output.stdout, "");
    let written = std::fs::read_to_string(dir.join("local.txt")).unwrap();
    assert!(
        written.starts_with("0 \"Exchange auth state\" "),
        "{written}"
    );
    assert_eq!(listing(dir.path()), ["local.txt"]);
}
