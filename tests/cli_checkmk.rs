//! `--output checkmk`: Checkmk local-check lines on the committed samples and the organisation
//! bundle (golden files), the line syntax Checkmk's parser accepts, service names that never
//! change between runs, states mapped from the findings, and exit code 0.

mod common;

use std::collections::BTreeMap;

use common::{
    Output, Run, Workdir, anchor, assert_golden, auth_expiring, days, selfsigned_expiring,
};

const NOW: &str = "2026-12-01T00:00:00Z";
const SAMPLES: [&str; 3] = [
    "samples/auth-certificate.pem",
    "samples/exch01-transport.cer",
    "samples/exch01-wmsvc-expired.pem",
];
const BUNDLE: &str = "samples/bundle-contoso.json";

/// One local-check line: `<state> "<service>" <metrics> <text>`.
#[derive(Debug, Clone)]
struct Line {
    state: u8,
    service: String,
    /// `(name, value, warn, crit, min, max)`; empty for `-`.
    metrics: Vec<[String; 6]>,
    summary: String,
    details: Vec<String>,
}

/// Parses every line as Checkmk 2.x's local-check parser would accept it, strictly: state 0-3
/// (we never use `P`), a double-quoted service name without quotes, metrics `-` or
/// `name=value;warn;crit;min;max|…` with numbers (or empty fields), a non-empty text whose
/// literal `\n` separates the details. Service names are unique.
fn parse_checkmk(output: &Output) -> Vec<Line> {
    let context = output.context();
    assert!(output.stdout.ends_with('\n'), "{context}");
    assert!(!output.stdout.contains('\r'), "{context}");
    let mut lines = Vec::new();
    for raw in output.stdout.lines() {
        let (state, rest) = raw
            .split_once(' ')
            .unwrap_or_else(|| panic!("no state in {raw:?}\n{context}"));
        let state: u8 = state
            .parse()
            .ok()
            .filter(|s| *s <= 3)
            .unwrap_or_else(|| panic!("state is not 0-3 in {raw:?}\n{context}"));
        let rest = rest
            .strip_prefix('"')
            .unwrap_or_else(|| panic!("service name not quoted in {raw:?}\n{context}"));
        let (service, rest) = rest
            .split_once("\" ")
            .unwrap_or_else(|| panic!("service name not closed in {raw:?}\n{context}"));
        assert!(
            !service.is_empty() && !service.contains(['"', '\'']),
            "bad service name {service:?}\n{context}"
        );
        assert_eq!(service.trim(), service, "{context}");
        let (metrics_text, text) = rest
            .split_once(' ')
            .unwrap_or_else(|| panic!("no text in {raw:?}\n{context}"));
        let mut metrics = Vec::new();
        if metrics_text != "-" {
            for item in metrics_text.split('|') {
                let (name, data) = item
                    .split_once('=')
                    .unwrap_or_else(|| panic!("metric without '=': {item:?}\n{context}"));
                assert!(
                    !name.is_empty()
                        && !name.starts_with(|c: char| c.is_ascii_digit())
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "bad metric name {name:?}\n{context}"
                );
                let fields: Vec<&str> = data.split(';').collect();
                assert_eq!(fields.len(), 5, "value;warn;crit;min;max in {item:?}");
                fields[0]
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("metric value not a number: {item:?}"));
                for field in &fields[1..] {
                    assert!(
                        field.is_empty() || field.parse::<f64>().is_ok(),
                        "levels and bounds are plain numbers (or empty): {item:?}\n{context}"
                    );
                }
                metrics.push([
                    name.to_string(),
                    fields[0].to_string(),
                    fields[1].to_string(),
                    fields[2].to_string(),
                    fields[3].to_string(),
                    fields[4].to_string(),
                ]);
            }
        }
        let mut parts = text.split("\\n");
        let summary = parts.next().unwrap_or("").to_string();
        assert!(
            !summary.trim().is_empty(),
            "empty text in {raw:?}\n{context}"
        );
        let details: Vec<String> = parts.map(str::to_string).collect();
        for detail in &details {
            assert!(
                ["CRITICAL: ", "WARNING: ", "UNKNOWN: ", "INFO: ", "OK: "]
                    .iter()
                    .any(|p| detail.starts_with(p)),
                "detail line is not 'SEVERITY: message': {detail:?}\n{context}"
            );
        }
        lines.push(Line {
            state,
            service: service.to_string(),
            metrics,
            summary,
            details,
        });
    }
    let mut names: Vec<&str> = lines.iter().map(|l| l.service.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names.len(),
        lines.len(),
        "service names are unique\n{context}"
    );
    lines
}

fn by_service(lines: &[Line]) -> BTreeMap<String, Line> {
    lines
        .iter()
        .map(|l| (l.service.clone(), l.clone()))
        .collect()
}

fn metric<'a>(line: &'a Line, name: &str) -> &'a [String; 6] {
    line.metrics
        .iter()
        .find(|m| m[0] == name)
        .unwrap_or_else(|| panic!("no metric {name} on {line:?}"))
}

fn samples() -> Output {
    Run::new()
        .certs(SAMPLES)
        .args(["--now", NOW, "-o", "checkmk"])
        .output()
}

fn bundle(path: &str, now: &str) -> Output {
    Run::new()
        .args(["--bundle", path, "--now", now, "-o", "checkmk"])
        .output()
}

/// The sample bundle with trouble: EXCH02 unreachable, EXCH03 without the current Auth
/// Certificate, collected three days before the check.
fn troubled_bundle(dir: &Workdir) -> String {
    let text = std::fs::read_to_string(common::CRATE_DIR.to_string() + "/" + BUNDLE).unwrap();
    let mut bundle: serde_json::Value = serde_json::from_str(&text).unwrap();
    let current = bundle["auth_config"]["CurrentCertificateThumbprint"].clone();
    bundle["collected_at"] = "2026-11-28T00:00:00Z".into();
    let servers = bundle["servers"].as_array_mut().unwrap();
    servers[1]["reachable"] = false.into();
    servers[1]["error"] = "WinRM cannot complete the operation".into();
    servers[1]["certificates"] = serde_json::json!([]);
    servers[2]["certificates"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["thumbprint"] != current);
    dir.write(
        "troubled.json",
        serde_json::to_string_pretty(&bundle).unwrap(),
    )
    .display()
    .to_string()
}

// --- golden files ----------------------------------------------------------------------------

#[test]
fn golden_samples() {
    let output = samples();
    output.assert_code(0);
    assert!(output.stderr.is_empty(), "{}", output.context());
    parse_checkmk(&output);
    assert_golden("samples.checkmk.txt", &output.stdout);
}

#[test]
fn golden_bundle() {
    let output = bundle(BUNDLE, NOW);
    output.assert_code(0);
    parse_checkmk(&output);
    assert_golden("bundle-contoso.checkmk.txt", &output.stdout);
}

#[test]
fn golden_error() {
    let output = Run::new()
        .args([
            "--cert",
            "samples/missing.pem",
            "--now",
            NOW,
            "-o",
            "checkmk",
        ])
        .output();
    output.assert_code(0);
    let lines = parse_checkmk(&output);
    assert_eq!(lines.len(), 1, "{}", output.context());
    assert_eq!(lines[0].service, "Exchange auth state");
    assert_eq!(lines[0].state, 3);
    assert_golden("missing.checkmk.txt", &output.stdout);
}

// --- services and states ---------------------------------------------------------------------

#[test]
fn samples_one_service_per_concern() {
    let output = samples();
    let services = by_service(&parse_checkmk(&output));
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "Exchange Auth certificate current",
            "Exchange auth state",
            "Exchange certificates"
        ],
        "{}",
        output.context()
    );
    // The overall state is the Nagios state; the Auth file is fine; the other two files are
    // one CRITICAL (expired) and one WARNING (19 days).
    assert_eq!(services["Exchange auth state"].state, 2);
    assert_eq!(services["Exchange Auth certificate current"].state, 0);
    let certificates = &services["Exchange certificates"];
    assert_eq!(certificates.state, 2);
    assert_eq!(certificates.details.len(), 2, "{}", output.context());
    assert_eq!(metric(certificates, "selfsigned_min_days")[1], "-61");
    // Days-left thresholds are lower bounds (60:), which are not written as numbers.
    let auth = metric(
        &services["Exchange Auth certificate current"],
        "auth_min_days",
    );
    assert_eq!(auth[1], "1506");
    assert_eq!((auth[2].as_str(), auth[3].as_str()), ("", ""));
}

#[test]
fn bundle_services_and_metrics() {
    let output = bundle(BUNDLE, NOW);
    let services = by_service(&parse_checkmk(&output));
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "Exchange Auth certificate current",
            "Exchange Auth certificate next",
            "Exchange auth state",
            "Exchange self-signed certificates EXCH01",
            "Exchange self-signed certificates EXCH02",
            "Exchange self-signed certificates EXCH03",
        ],
        "{}",
        output.context()
    );
    assert!(
        services.values().all(|l| l.state == 0),
        "{}",
        output.context()
    );
    let current = &services["Exchange Auth certificate current"];
    assert_eq!(metric(current, "auth_current_days")[1], "40");
    assert_eq!(
        metric(current, "servers_missing_auth_cert")[1..5],
        ["0", "0", "0", "0"]
    );
    assert!(current.summary.contains("rotation on track"), "{current:?}");
    let state = &services["Exchange auth state"];
    // --max-age 26 is the plain upper bound ~:26.
    assert_eq!(metric(state, "export_age_hours")[2], "26");
    assert_eq!(
        metric(
            &services["Exchange Auth certificate next"],
            "auth_next_days"
        )[1],
        "1825"
    );
}

#[test]
fn states_come_from_the_findings_of_each_concern() {
    let dir = Workdir::new();
    let path = troubled_bundle(&dir);
    let output = bundle(&path, NOW);
    output.assert_code(0);
    let services = by_service(&parse_checkmk(&output));
    let context = output.context();
    // auth.current.missing_on_servers is CRITICAL.
    let current = &services["Exchange Auth certificate current"];
    assert_eq!(current.state, 2, "{context}");
    assert!(current.summary.contains("EXCH03"), "{context}");
    assert_eq!(metric(current, "servers_missing_auth_cert")[1], "1");
    // The unreachable server is UNKNOWN on its own service, the others are fine.
    assert_eq!(
        services["Exchange self-signed certificates EXCH02"].state, 3,
        "{context}"
    );
    assert_eq!(
        services["Exchange self-signed certificates EXCH01"].state, 0,
        "{context}"
    );
    assert_eq!(
        services["Exchange Auth certificate next"].state, 0,
        "{context}"
    );
    // The overall service has the overall state and carries what no other service shows:
    // the stale export and the unreachable server.
    let state = &services["Exchange auth state"];
    assert_eq!(state.state, 2, "{context}");
    assert!(
        state
            .details
            .iter()
            .any(|d| d.starts_with("WARNING: ") && d.contains("collected 72 h ago")),
        "{context}"
    );
    assert!(
        state
            .details
            .iter()
            .any(|d| d.starts_with("UNKNOWN: ") && d.contains("EXCH02")),
        "{context}"
    );
    // The same state through nagios.
    let nagios = Run::new().args(["--bundle", &path, "--now", NOW]).output();
    nagios.assert_code(2);
}

#[test]
fn service_names_are_stable_across_runs() {
    // Organisation: the sample bundle, the troubled one and the sample bundle five years later
    // (every certificate expired) have the same services.
    let dir = Workdir::new();
    let troubled = troubled_bundle(&dir);
    let names = |output: &Output| -> Vec<String> {
        by_service(&parse_checkmk(output)).into_keys().collect()
    };
    let reference = names(&bundle(BUNDLE, NOW));
    assert_eq!(names(&bundle(&troubled, NOW)), reference);
    assert_eq!(names(&bundle(BUNDLE, "2031-12-01T00:00:00Z")), reference);

    // Certificate files: two runs on different certificates (new thumbprints, other states).
    let run = |auth_days: i64, other_days: i64| {
        let dir = Workdir::new();
        let auth = dir.write_pem("auth.pem", &auth_expiring(anchor() + days(auth_days)));
        let other = dir.write_pem(
            "transport.pem",
            &selfsigned_expiring("EXCH01", anchor() + days(other_days)),
        );
        let output = Run::new()
            .certs([auth, other])
            .args(["--now", &common::rfc3339(anchor()), "-o", "checkmk"])
            .output();
        output.assert_code(0);
        (names(&output), by_service(&parse_checkmk(&output)))
    };
    let (first, first_services) = run(900, 400);
    let (second, second_services) = run(10, -3);
    assert_eq!(first, second);
    assert_eq!(first_services["Exchange auth state"].state, 0);
    assert_eq!(second_services["Exchange auth state"].state, 2);
    assert_eq!(
        second_services["Exchange Auth certificate current"].state,
        2
    );
    assert_eq!(second_services["Exchange certificates"].state, 2);
}

#[test]
fn text_never_breaks_a_line() {
    // A subject with a line break, quotes, a pipe and a literal backslash-n stays on its line.
    let dir = Workdir::new();
    let cert = selfsigned_expiring("EXCH01 \"x\" | y\\n\nCRITICAL: z", anchor() + days(5));
    let path = dir.write_pem("evil.pem", &cert);
    let output = Run::new()
        .certs([path])
        .args(["--now", &common::rfc3339(anchor()), "-o", "checkmk"])
        .output();
    output.assert_code(0);
    let lines = parse_checkmk(&output);
    assert_eq!(lines.len(), 2, "{}", output.context());
    let certificates = by_service(&lines)["Exchange certificates"].clone();
    assert_eq!(certificates.state, 2);
    assert!(certificates.details.is_empty(), "{certificates:?}");
}

#[test]
fn bad_options_are_one_unknown_line() {
    let output = Run::new().args(["-o", "checkmk", "--bogus"]).output();
    output.assert_code(0);
    let lines = parse_checkmk(&output);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].state, 3);
    assert!(lines[0].summary.contains("--bogus"), "{}", output.context());
}

#[test]
fn the_agent_wrapper_runs_the_check() {
    // plugins/checkmk/exchange_authcert, as the agent would run it (paths from the environment).
    let script = std::path::Path::new(common::CRATE_DIR).join("plugins/checkmk/exchange_authcert");
    let bundle = std::path::Path::new(common::CRATE_DIR).join(BUNDLE);
    let result = std::process::Command::new("sh")
        .arg(&script)
        .env("CHECK_EXCHANGE_AUTHCERT", common::BIN)
        .env("EXCHANGE_AUTHCERT_BUNDLE", &bundle)
        .output()
        .expect("running sh");
    assert_eq!(result.status.code(), Some(0));
    let output = Output {
        command: script.display().to_string(),
        code: 0,
        stdout: String::from_utf8(result.stdout).unwrap(),
        stderr: String::from_utf8_lossy(&result.stderr).into_owned(),
        elapsed: std::time::Duration::ZERO,
    };
    let names: Vec<String> = parse_checkmk(&output)
        .into_iter()
        .map(|l| l.service)
        .collect();
    assert_eq!(names.len(), 6, "{}", output.context());

    // Without the binary: one UNKNOWN line, still exit 0.
    let result = std::process::Command::new("sh")
        .arg(&script)
        .env(
            "CHECK_EXCHANGE_AUTHCERT",
            "/nonexistent/check_exchange_authcert",
        )
        .output()
        .expect("running sh");
    assert_eq!(result.status.code(), Some(0));
    let stdout = String::from_utf8(result.stdout).unwrap();
    assert!(
        stdout.starts_with("3 \"Exchange auth state\" - "),
        "{stdout}"
    );
}

#[test]
fn an_unreadable_authconfig_shows_on_current_and_overall() {
    let dir = Workdir::new();
    let text = std::fs::read_to_string(common::CRATE_DIR.to_string() + "/" + BUNDLE).unwrap();
    let mut bundle: serde_json::Value = serde_json::from_str(&text).unwrap();
    bundle["auth_config"] = serde_json::Value::Null;
    bundle["auth_config_error"] = "Get-AuthConfig: access denied".into();
    let path = dir.write("no-authconfig.json", bundle.to_string());
    let output = bundle_run_path(&path);
    output.assert_code(0);
    let services = by_service(&parse_checkmk(&output));
    let context = output.context();
    for name in ["Exchange auth state", "Exchange Auth certificate current"] {
        assert_eq!(services[name].state, 2, "{name}\n{context}");
        assert!(
            services[name].summary.contains("access denied"),
            "{context}"
        );
    }
    // Without AuthConfig there is nothing to say about a next certificate.
    assert!(
        !services.contains_key("Exchange Auth certificate next"),
        "{context}"
    );
    assert_eq!(
        services["Exchange self-signed certificates EXCH01"].state, 0,
        "{context}"
    );
}

fn bundle_run_path(path: &std::path::Path) -> Output {
    Run::new()
        .arg("--bundle")
        .arg(path)
        .args(["--now", NOW, "-o", "checkmk"])
        .output()
}
