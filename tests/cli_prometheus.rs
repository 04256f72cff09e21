//! `--output prometheus`: the textfile-collector format on the committed samples and the
//! organisation bundle (golden files), parsed here and linted by `promtool check metrics`, the
//! failure document alerts rely on, label escaping, and the example alert rules
//! (`promtool check rules`). The promtool tests skip, saying so, when promtool is not installed
//! (Debian/Ubuntu: `apt-get install prometheus`).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{Output, Run, Workdir, anchor, assert_golden, days, selfsigned_expiring};

const NOW: &str = "2026-12-01T00:00:00Z";
/// `NOW` as Unix seconds.
const NOW_SECONDS: i64 = 1_796_083_200;
const SAMPLES: [&str; 3] = [
    "samples/auth-certificate.pem",
    "samples/exch01-transport.cer",
    "samples/exch01-wmsvc-expired.pem",
];
const BUNDLE: &str = "samples/bundle-contoso.json";
const RULES: &str = "plugins/prometheus/exchange-authcert.rules.yml";

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }
}

/// Parses the text exposition format strictly: every family has `# HELP` and `# TYPE … gauge`
/// before its samples, samples have no timestamp, label values use only the three escapes,
/// no series appears twice.
fn parse_prometheus(output: &Output) -> Vec<Sample> {
    let context = output.context();
    assert!(output.stdout.ends_with('\n'), "{context}");
    let mut helped = HashSet::new();
    let mut typed = HashSet::new();
    let mut samples = Vec::new();
    let mut seen = HashSet::new();
    for line in output.stdout.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty(), "{context}");
            assert!(helped.insert(name.to_string()), "HELP twice for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert_eq!(kind, "gauge", "{context}");
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(typed.insert(name.to_string()), "TYPE twice for {name}");
            continue;
        }
        if line.starts_with('#') {
            continue; // a comment
        }
        let (name, rest) = match line.find('{') {
            Some(brace) => (&line[..brace], &line[brace..]),
            None => line
                .split_once(' ')
                .map(|(n, _)| (n, &line[n.len()..]))
                .unwrap(),
        };
        assert!(
            name.starts_with("exchange_authcert_")
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "bad metric name {name:?}\n{context}"
        );
        assert!(typed.contains(name), "sample before its TYPE: {line:?}");
        let mut labels = BTreeMap::new();
        let rest = if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.chars();
            loop {
                let label: String = chars.by_ref().take_while(|c| *c != '=').collect();
                assert!(
                    !label.is_empty() && label.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                    "bad label name {label:?} in {line:?}"
                );
                assert_eq!(
                    chars.next(),
                    Some('"'),
                    "label value not quoted in {line:?}"
                );
                let mut value = String::new();
                loop {
                    match chars.next().expect("unterminated label value") {
                        '\\' => match chars.next() {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => panic!("bad escape {other:?} in {line:?}"),
                        },
                        '"' => break,
                        '\n' => panic!("raw line feed in {line:?}"),
                        c => value.push(c),
                    }
                }
                labels.insert(label, value);
                match chars.next() {
                    Some(',') => continue,
                    Some('}') => break,
                    other => panic!("unexpected {other:?} after a label in {line:?}"),
                }
            }
            chars.as_str().to_string()
        } else {
            rest.to_string()
        };
        let fields: Vec<&str> = rest.trim_start_matches(' ').split(' ').collect();
        assert_eq!(
            fields.len(),
            1,
            "no timestamps on samples: {line:?}\n{context}"
        );
        let value: f64 = fields[0]
            .parse()
            .unwrap_or_else(|_| panic!("value not a number in {line:?}"));
        let sample = Sample {
            name: name.to_string(),
            labels,
            value,
        };
        assert!(
            seen.insert(format!("{}{:?}", sample.name, sample.labels)),
            "duplicate series {line:?}"
        );
        samples.push(sample);
    }
    samples
}

fn value(samples: &[Sample], name: &str) -> f64 {
    let found: Vec<&Sample> = samples.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "exactly one {name}: {found:?}");
    found[0].value
}

/// The `promtool` on PATH, or `None` after saying why.
fn promtool() -> Option<PathBuf> {
    common::exchange::promtool(
        "skipped: promtool not installed (Debian/Ubuntu: apt-get install prometheus); the format is still checked by this test's own parser",
    )
}

/// `promtool check metrics` on the output: the format and the naming lint (base units, …).
fn assert_promtool_accepts(output: &Output) {
    let Some(promtool) = promtool() else { return };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(output.stdout.as_bytes())
        .unwrap();
    let result = child.wait_with_output().unwrap();
    assert!(
        result.status.success(),
        "promtool check metrics rejects the output:\n{}{}\n{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr),
        output.context()
    );
}

fn samples_run() -> Output {
    Run::new()
        .certs(SAMPLES)
        .args(["--now", NOW, "-o", "prometheus"])
        .output()
}

fn bundle_run() -> Output {
    Run::new()
        .args(["--bundle", BUNDLE, "--now", NOW, "-o", "prometheus"])
        .output()
}

// --- golden files and promtool ---------------------------------------------------------------

#[test]
fn golden_samples() {
    let output = samples_run();
    output.assert_code(0);
    assert!(output.stderr.is_empty(), "{}", output.context());
    parse_prometheus(&output);
    assert_promtool_accepts(&output);
    assert_golden("samples.prometheus.txt", &output.stdout);
}

#[test]
fn golden_bundle() {
    let output = bundle_run();
    output.assert_code(0);
    parse_prometheus(&output);
    assert_promtool_accepts(&output);
    assert_golden("bundle-contoso.prometheus.txt", &output.stdout);
}

// --- content ---------------------------------------------------------------------------------

#[test]
fn samples_values() {
    let output = samples_run();
    let samples = parse_prometheus(&output);
    assert_eq!(value(&samples, "exchange_authcert_check_success"), 1.0);
    assert_eq!(value(&samples, "exchange_authcert_check_state"), 2.0);
    assert_eq!(
        value(&samples, "exchange_authcert_check_timestamp_seconds"),
        NOW_SECONDS as f64
    );
    let expiry: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "exchange_authcert_expiry_timestamp_seconds")
        .collect();
    assert_eq!(expiry.len(), 3, "{}", output.context());
    // The expired WMSvc certificate: NotAfter 2026-10-01 08:00 UTC, state CRITICAL.
    let wmsvc = expiry
        .iter()
        .find(|s| s.label("subject") == "CN=WMSvc-SHA2-EXCH01")
        .unwrap();
    assert_eq!(wmsvc.value, 1_790_841_600.0);
    assert_eq!(wmsvc.label("server"), "");
    assert_eq!(wmsvc.label("role"), "selfsigned");
    let state_of = |subject: &str| {
        samples
            .iter()
            .find(|s| s.name == "exchange_authcert_state" && s.label("subject") == subject)
            .unwrap()
            .value
    };
    assert_eq!(state_of("CN=WMSvc-SHA2-EXCH01"), 2.0);
    assert_eq!(state_of("CN=EXCH01"), 1.0);
    assert_eq!(
        state_of("CN=Microsoft Exchange Server Auth Certificate"),
        0.0
    );
    // remaining = expiry - check time.
    let remaining = samples
        .iter()
        .find(|s| {
            s.name == "exchange_authcert_remaining_seconds"
                && s.label("subject") == "CN=WMSvc-SHA2-EXCH01"
        })
        .unwrap();
    assert_eq!(remaining.value, 1_790_841_600.0 - NOW_SECONDS as f64);
    // No organisation: no server count, no export age.
    assert!(!samples.iter().any(|s| s.name.contains("servers_missing")));
    assert!(!samples.iter().any(|s| s.name.contains("export_age")));
}

#[test]
fn bundle_values() {
    let output = bundle_run();
    let samples = parse_prometheus(&output);
    assert_eq!(value(&samples, "exchange_authcert_check_state"), 0.0);
    assert_eq!(
        value(&samples, "exchange_authcert_servers_missing_auth_cert"),
        0.0
    );
    assert_eq!(value(&samples, "exchange_authcert_export_age_seconds"), 0.0);
    // The current Auth Certificate once per server that holds it.
    let current: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == "exchange_authcert_expiry_timestamp_seconds"
                && s.label("role") == "auth_current"
        })
        .collect();
    let servers: Vec<&str> = current.iter().map(|s| s.label("server")).collect();
    assert_eq!(servers, ["EXCH01", "EXCH02", "EXCH03"]);
    assert!(current.iter().all(|s| s.value == 1_799_539_200.0)); // 2027-01-10
    assert!(
        samples
            .iter()
            .any(|s| s.label("role") == "auth_next" && s.label("server") == "EXCH02")
    );
    assert!(
        samples
            .iter()
            .any(|s| s.label("role") == "internal_transport" && s.label("subject") == "CN=EXCH03")
    );
}

#[test]
fn failed_run_writes_success_0_and_state_3() {
    for args in [
        vec!["--cert", "samples/missing.pem", "-o", "prometheus"],
        vec!["-o", "prometheus", "--bogus"],
    ] {
        let output = Run::new().args(&args).output();
        output.assert_code(0);
        let samples = parse_prometheus(&output);
        assert_promtool_accepts(&output);
        assert_eq!(value(&samples, "exchange_authcert_check_success"), 0.0);
        assert_eq!(value(&samples, "exchange_authcert_check_state"), 3.0);
        assert!(
            !samples
                .iter()
                .any(|s| s.name == "exchange_authcert_expiry_timestamp_seconds"),
            "{}",
            output.context()
        );
        let finding = samples
            .iter()
            .find(|s| s.name == "exchange_authcert_findings")
            .unwrap();
        assert_eq!(finding.label("code"), "input.invalid");
        assert_eq!(finding.label("severity"), "unknown");
        // The reason is in a comment for a human reading the file.
        assert!(
            output
                .stdout
                .starts_with("# check_exchange_authcert: UNKNOWN - "),
            "{}",
            output.context()
        );
    }
}

#[test]
fn label_values_are_escaped() {
    let dir = Workdir::new();
    let subject = "EXCH01 \"quoted\" back\\slash\nnext line";
    let cert = selfsigned_expiring(subject, anchor() + days(100));
    let path = dir.write_pem("evil.pem", &cert);
    let output = Run::new()
        .certs([path])
        .args(["--now", &common::rfc3339(anchor()), "-o", "prometheus"])
        .output();
    output.assert_code(0);
    let samples = parse_prometheus(&output);
    assert_promtool_accepts(&output);
    let expiry = samples
        .iter()
        .find(|s| s.name == "exchange_authcert_expiry_timestamp_seconds")
        .unwrap();
    // The subject as the certificate has it, after unescaping.
    assert!(
        expiry.label("subject").contains("\"quoted\" back\\slash"),
        "{expiry:?}"
    );
    assert_eq!(expiry.label("thumbprint"), cert.thumbprint());
}

// --- alert rules -----------------------------------------------------------------------------

#[test]
fn alert_rules_pass_promtool() {
    let path = std::path::Path::new(common::CRATE_DIR).join(RULES);
    let text = std::fs::read_to_string(&path).expect("the example rules exist");
    // Every metric the rules use is one the check writes.
    let output = bundle_run();
    let names: HashSet<String> = parse_prometheus(&output)
        .into_iter()
        .map(|s| s.name)
        .collect();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("exchange_authcert_") {
            assert!(
                names.contains(word) || word == "exchange_authcert_findings",
                "the rules use {word}, which the check does not write"
            );
        }
    }
    let Some(promtool) = promtool() else { return };
    let result = Command::new(promtool)
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .expect("running promtool");
    assert!(
        result.status.success(),
        "promtool check rules {RULES}:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}

#[test]
fn alert_rules_fire_on_the_series_the_check_writes() {
    // plugins/prometheus/exchange-authcert.rules.test.yml: promtool's rule unit tests.
    let Some(promtool) = promtool() else { return };
    let dir = std::path::Path::new(common::CRATE_DIR).join("plugins/prometheus");
    let result = Command::new(promtool)
        .args(["test", "rules", "exchange-authcert.rules.test.yml"])
        .current_dir(&dir)
        .output()
        .expect("running promtool");
    assert!(
        result.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}
