//! Every output format on the committed samples (golden files in `tests/golden/`, refreshed with
//! `UPDATE_GOLDEN=1`), and the structure each monitoring system relies on: PRTG XML/JSON/v2
//! documents, the JSON report, stable channel names, text limits and clean human text.

mod common;

use std::collections::HashSet;

use serde_json::Value;

use common::{
    AUTH_CN, Output, Run, TestCert, Workdir, XmlElement, anchor, assert_golden, auth_expiring,
    ca_issued, days, selfsigned_expiring, test_ca, without_key,
};

const NOW: &str = "2026-12-01T00:00:00Z";
const SAMPLES: [&str; 3] = [
    "samples/auth-certificate.pem",
    "samples/exch01-transport.cer",
    "samples/exch01-wmsvc-expired.pem",
];
const MAX_TEXT_CHARS: usize = 2000;
const MAX_CHANNELS: usize = 50;

/// The committed samples at the pinned instant, paths relative to the crate directory.
fn samples(options: &[&str]) -> Output {
    Run::new()
        .certs(SAMPLES)
        .args(["--now", NOW])
        .args(options)
        .output()
}

/// The sample PFX (with its password file): one Auth Certificate, all well.
fn sample_pfx(options: &[&str]) -> Output {
    Run::new()
        .certs(["samples/auth-certificate.pfx"])
        .args([
            "--pfx-password-file",
            "samples/auth-certificate.pfx.password",
            "--now",
            NOW,
        ])
        .args(options)
        .output()
}

/// The JSON report as compared with its golden file: `tool_version` changes with every
/// release, so it is checked on its own and left out.
fn report_for_golden(output: &Output) -> String {
    let report = output.json();
    assert_eq!(
        report["tool_version"],
        env!("CARGO_PKG_VERSION"),
        "{}",
        output.context()
    );
    let mut text = serde_json::to_string_pretty(&without_key(report, "tool_version")).unwrap();
    text.push('\n');
    text
}

// --- golden files ----------------------------------------------------------------------------

#[test]
fn golden_nagios() {
    let output = samples(&[]);
    output.assert_code(2);
    assert!(output.stderr.is_empty(), "{}", output.context());
    output.nagios();
    assert_golden("samples.nagios.txt", &output.stdout);
}

#[test]
fn golden_nagios_verbose() {
    let output = samples(&["-v"]);
    output.assert_code(2);
    let nagios = output.nagios();
    // Three findings, then one detail line per certificate naming its file.
    assert_eq!(nagios.long.len(), 6, "{}", output.context());
    for (line, sample) in nagios.long[3..].iter().zip(SAMPLES) {
        assert!(line.starts_with("  "), "{line:?}");
        assert!(line.ends_with(&format!("sources={sample}")), "{line:?}");
    }
    assert_golden("samples.nagios-v.txt", &output.stdout);
}

#[test]
fn golden_prtg_xml() {
    let output = samples(&["-o", "prtg-xml"]);
    output.assert_code(0);
    output.xml();
    assert_golden("samples.prtg.xml", &output.stdout);
}

#[test]
fn golden_prtg_json() {
    let output = samples(&["-o", "prtg-json"]);
    output.assert_code(0);
    output.json();
    assert_golden("samples.prtg.json", &output.stdout);
}

#[test]
fn golden_prtg_v2() {
    let output = samples(&["-o", "prtg-v2"]);
    output.assert_code(0);
    output.json();
    assert_golden("samples.prtg-v2.json", &output.stdout);
}

#[test]
fn golden_json_report() {
    let output = samples(&["-o", "json"]);
    output.assert_code(2);
    assert_golden("samples.report.json", &report_for_golden(&output));
}

#[test]
fn golden_pfx_all_ok_nagios_verbose() {
    let output = sample_pfx(&["-v"]);
    output.assert_code(0);
    assert_eq!(output.nagios().state, "OK");
    assert_golden("auth-pfx.nagios-v.txt", &output.stdout);
}

#[test]
fn golden_pfx_all_ok_prtg_v2() {
    let output = sample_pfx(&["-o", "prtg-v2"]);
    output.assert_code(0);
    assert_eq!(output.json()["status"], "ok");
    assert_golden("auth-pfx.prtg-v2.json", &output.stdout);
}

#[test]
fn golden_error_documents() {
    // Bad input in every format; none of these carries a time, so all are stable.
    let missing = ["--cert", "samples/missing.pem", "--now", NOW];
    for (format, golden, code) in [
        ("nagios", "missing.nagios.txt", 3),
        ("prtg-xml", "missing.prtg.xml", 0),
        ("prtg-json", "missing.prtg.json", 0),
        ("prtg-v2", "missing.prtg-v2.json", 0),
    ] {
        let output = Run::new().args(missing).args(["-o", format]).output();
        output.assert_code(code);
        assert!(
            output.stdout.contains("samples/missing.pem: no such file"),
            "{}",
            output.context()
        );
        assert_golden(golden, &output.stdout);
    }
}

// --- PRTG XML --------------------------------------------------------------------------------

/// The structure PRTG's EXE/Script Advanced sensor needs from a data document; returns the
/// channel names in order.
fn assert_prtg_xml_data(output: &Output) -> Vec<String> {
    output.assert_code(0);
    assert!(
        output
            .stdout
            .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{}",
        output.context()
    );
    let root = output.xml();
    let context = output.context();
    assert_eq!(root.name, "prtg", "{context}");
    assert!(root.child("error").is_none(), "{context}");
    let results: Vec<&XmlElement> = root.children_named("result").collect();
    assert!(!results.is_empty(), "{context}");
    assert!(results.len() <= MAX_CHANNELS, "{context}");
    let mut names = Vec::new();
    for result in &results {
        let name = result
            .child_text("channel")
            .expect("every result has a channel");
        assert!(!name.is_empty(), "{context}");
        let value = result
            .child_text("value")
            .expect("every result has a value");
        value
            .parse::<i64>()
            .unwrap_or_else(|_| panic!("value {value:?} is not an integer\n{context}"));
        match result.child_text("unit") {
            Some("Custom") => assert!(
                result.child("customunit").is_some() || result.child("valuelookup").is_some(),
                "{context}"
            ),
            Some("Count") => {}
            other => panic!("unexpected unit {other:?}\n{context}"),
        }
        if let Some(mode) = result.child_text("limitmode") {
            assert_eq!(mode, "1", "{context}");
        }
        for child in &result.children {
            assert!(
                [
                    "channel",
                    "value",
                    "unit",
                    "customunit",
                    "valuelookup",
                    "limitmode",
                    "limitminwarning",
                    "limitmaxwarning",
                    "limitminerror",
                    "limitmaxerror",
                ]
                .contains(&child.name.as_str()),
                "unexpected element {} in a result\n{context}",
                child.name
            );
        }
        names.push(name.to_string());
    }
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "channel names are unique\n{context}"
    );
    assert_eq!(
        names[0], "Days left",
        "the primary channel comes first\n{context}"
    );
    let text = root.child_text("text").expect("a text element");
    assert!(!text.is_empty(), "{context}");
    assert!(text.chars().count() <= MAX_TEXT_CHARS, "{context}");
    names
}

/// `<prtg><error>1</error><text>…</text></prtg>` and nothing else; returns the text.
fn assert_prtg_xml_error(output: &Output) -> String {
    output.assert_code(0);
    let root = output.xml();
    let context = output.context();
    assert_eq!(root.name, "prtg", "{context}");
    let names: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["error", "text"], "{context}");
    assert_eq!(root.child_text("error"), Some("1"), "{context}");
    let text = root.child_text("text").unwrap().to_string();
    assert!(
        !text.is_empty() && text.chars().count() <= MAX_TEXT_CHARS,
        "{context}"
    );
    text
}

#[test]
fn prtg_xml_structure_on_the_samples() {
    let output = samples(&["-o", "prtg-xml"]);
    let names = assert_prtg_xml_data(&output);
    assert_eq!(
        names,
        [
            "Days left",
            "Status",
            "Auth certificate min days left",
            "Self-signed min days left",
            "Certificates"
        ]
    );
    let root = output.xml();
    let channel = |name: &str| {
        root.children_named("result")
            .find(|r| r.child_text("channel") == Some(name))
            .unwrap()
            .clone()
    };
    let primary = channel("Days left");
    assert_eq!(primary.child_text("value"), Some("1506"));
    assert_eq!(primary.child_text("customunit"), Some("days"));
    // Days left can sit below -w while the verdict is OK (a rotation on track), and PRTG keeps
    // the limits it first saw: the Status channel alerts, days left only counts.
    assert_eq!(primary.child("limitmode"), None);
    assert_eq!(primary.child("limitminwarning"), None);
    let status = channel("Status");
    assert_eq!(status.child_text("value"), Some("2"));
    assert_eq!(
        status.child_text("valuelookup"),
        Some("exchange.authcert.status")
    );
    assert_eq!(
        channel("Self-signed min days left").child_text("value"),
        Some("-61")
    );
    assert_eq!(channel("Certificates").child_text("value"), Some("3"));
    assert!(
        root.child_text("text").unwrap().starts_with("CRITICAL - "),
        "{}",
        output.context()
    );
}

#[test]
fn prtg_xml_error_document_for_bad_input() {
    let output = Run::new()
        .args(["--cert", "samples/missing.pem", "-o", "prtg-xml"])
        .output();
    let text = assert_prtg_xml_error(&output);
    assert_eq!(text, "samples/missing.pem: no such file");
    // Bad options too, even when clap refuses the command line.
    let output = Run::new().args(["-o", "prtg-xml", "--bogus"]).output();
    let text = assert_prtg_xml_error(&output);
    assert!(text.contains("--bogus"), "{text}");
}

// --- PRTG JSON -------------------------------------------------------------------------------

fn assert_prtg_json_data(output: &Output) -> Vec<String> {
    output.assert_code(0);
    let document = output.json();
    let context = output.context();
    let prtg = document["prtg"].as_object().expect("a prtg object");
    assert!(prtg.get("error").is_none(), "{context}");
    let results = prtg["result"].as_array().expect("a result array");
    assert!(
        !results.is_empty() && results.len() <= MAX_CHANNELS,
        "{context}"
    );
    let mut names = Vec::new();
    for result in results {
        let name = result["channel"].as_str().expect("a channel name");
        assert!(result["value"].is_i64(), "{context}");
        assert!(
            ["Custom", "Count"].contains(&result["unit"].as_str().unwrap()),
            "{context}"
        );
        names.push(name.to_string());
    }
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{context}");
    assert_eq!(names[0], "Days left", "{context}");
    let text = prtg["text"].as_str().expect("a text");
    assert!(
        !text.is_empty() && text.chars().count() <= MAX_TEXT_CHARS,
        "{context}"
    );
    names
}

#[test]
fn prtg_json_structure_on_the_samples() {
    let output = samples(&["-o", "prtg-json"]);
    let names = assert_prtg_json_data(&output);
    let xml_names = assert_prtg_xml_data(&samples(&["-o", "prtg-xml"]));
    assert_eq!(
        names, xml_names,
        "the JSON and XML forms carry the same channels"
    );
    let document = output.json();
    let first = &document["prtg"]["result"][0];
    assert_eq!(first["value"], 1506);
    assert_eq!(first["customunit"], "days");
    assert_eq!(first.get("limitmode"), None);
    assert_eq!(first.get("limitminwarning"), None);
}

#[test]
fn prtg_json_error_document_for_bad_input() {
    let output = Run::new()
        .args(["--cert", "samples", "-o", "prtg-json"])
        .output();
    output.assert_code(0);
    let document = output.json();
    assert_eq!(
        document,
        serde_json::json!({"prtg": {"error": 1, "text": "samples: is a directory, not a file"}})
    );
}

// --- PRTG Script v2 --------------------------------------------------------------------------

/// Returns `(id, name)` of every channel.
fn assert_prtg_v2(output: &Output) -> Vec<(u64, String)> {
    output.assert_code(0);
    let document = output.json();
    let context = output.context();
    assert_eq!(document["version"], 2, "{context}");
    let status = document["status"].as_str().expect("a status");
    assert!(["ok", "warning", "error"].contains(&status), "{context}");
    let message = document["message"].as_str().expect("a message");
    assert!(!message.is_empty(), "{context}");
    assert!(message.chars().count() <= MAX_TEXT_CHARS, "{context}");
    let channels = document["channels"].as_array().expect("a channel array");
    assert!(channels.len() <= MAX_CHANNELS, "{context}");
    let mut seen = Vec::new();
    for channel in channels {
        let id = channel["id"].as_u64().expect("an integer id");
        assert!((10..=i32::MAX as u64).contains(&id), "{context}");
        let name = channel["name"].as_str().expect("a name").to_string();
        let kind = channel["type"].as_str().expect("a type");
        assert!(["integer", "float", "lookup"].contains(&kind), "{context}");
        assert!(channel["value"].is_number(), "{context}");
        if kind == "lookup" {
            assert!(channel["lookup_name"].is_string(), "{context}");
        }
        seen.push((id, name));
    }
    let ids: HashSet<u64> = seen.iter().map(|(id, _)| *id).collect();
    let names: HashSet<&String> = seen.iter().map(|(_, name)| name).collect();
    assert_eq!(ids.len(), seen.len(), "channel ids are unique\n{context}");
    assert_eq!(
        names.len(),
        seen.len(),
        "channel names are unique\n{context}"
    );
    seen
}

#[test]
fn prtg_v2_structure_on_the_samples() {
    let output = samples(&["-o", "prtg-v2"]);
    let channels = assert_prtg_v2(&output);
    assert_eq!(
        channels,
        [
            (11, "Days left".to_string()),
            (10, "Status".to_string()),
            (12, "Auth certificate min days left".to_string()),
            (13, "Self-signed min days left".to_string()),
            (15, "Certificates".to_string()),
        ]
    );
    let document = output.json();
    assert_eq!(document["status"], "error");
    assert!(
        document["message"]
            .as_str()
            .unwrap()
            .starts_with("CRITICAL - ")
    );
}

#[test]
fn prtg_v2_error_document_for_bad_input() {
    let output = Run::new()
        .args([
            "--now",
            "yesterday",
            "--cert",
            "samples/auth-certificate.pem",
            "-o",
            "prtg-v2",
        ])
        .output();
    let channels = assert_prtg_v2(&output);
    assert!(channels.is_empty());
    let document = output.json();
    assert_eq!(document["status"], "error");
    assert!(
        document["message"]
            .as_str()
            .unwrap()
            .starts_with("--now 'yesterday' is not an RFC 3339 instant"),
        "{}",
        output.context()
    );
}

// --- JSON report -----------------------------------------------------------------------------

fn is_rfc3339_utc(text: &str) -> bool {
    let b = text.as_bytes();
    text.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && text
            .chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
}

/// The fields other tools read, with their types; returns the report.
fn assert_report(output: &Output) -> Value {
    let report = output.json();
    let context = output.context();
    assert_eq!(report["schema_version"], 1, "{context}");
    assert_eq!(report["tool"], "check_exchange_authcert", "{context}");
    let status = report["status"].as_str().expect("status");
    let expected_code = ["OK", "WARNING", "CRITICAL", "UNKNOWN"]
        .iter()
        .position(|s| *s == status)
        .unwrap_or_else(|| panic!("unexpected status {status}\n{context}"));
    assert_eq!(report["exit_code"], expected_code as i64, "{context}");
    assert_eq!(output.code, expected_code as i32, "{context}");
    let summary = report["summary"].as_str().expect("summary");
    assert!(!summary.is_empty() && !summary.contains('\n'), "{context}");
    assert!(
        is_rfc3339_utc(report["checked_at"].as_str().expect("checked_at")),
        "{context}"
    );
    let findings = report["findings"].as_array().expect("findings");
    assert!(!findings.is_empty(), "{context}");
    for finding in findings {
        let severity = finding["severity"].as_str().expect("severity");
        assert!(
            ["ok", "info", "warning", "critical", "unknown"].contains(&severity),
            "{context}"
        );
        let code = finding["code"].as_str().expect("code");
        assert!(code.contains('.'), "{context}");
        assert!(finding["message"].is_string(), "{context}");
    }
    for certificate in report["certificates"].as_array().expect("certificates") {
        let thumbprint = certificate["thumbprint"].as_str().expect("thumbprint");
        assert!(
            thumbprint.len() == 40
                && thumbprint
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)),
            "{context}"
        );
        for key in ["subject", "issuer"] {
            assert!(certificate[key].is_string(), "{key}\n{context}");
        }
        for key in ["not_before", "not_after"] {
            assert!(
                is_rfc3339_utc(certificate[key].as_str().expect(key)),
                "{key}\n{context}"
            );
        }
        assert!(certificate["days_left"].is_i64(), "{context}");
        assert!(certificate["self_signed"].is_boolean(), "{context}");
        let roles = certificate["roles"].as_array().expect("roles");
        assert!(
            !roles.is_empty() && roles.iter().all(Value::is_string),
            "{context}"
        );
        let sources = certificate["sources"].as_array().expect("sources");
        assert!(!sources.is_empty(), "{context}");
        for source in sources {
            assert!(source["origin"].is_string(), "{context}");
        }
    }
    report
}

#[test]
fn json_report_fields_on_the_samples() {
    let output = samples(&["-o", "json"]);
    let report = assert_report(&output);
    assert_eq!(report["status"], "CRITICAL");
    assert_eq!(report["checked_at"], NOW);
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["cert.expired", "cert.expiring", "cert.ok"]);
    let certificates = report["certificates"].as_array().unwrap();
    let facts: Vec<(&str, &str, i64, &str)> = certificates
        .iter()
        .map(|c| {
            (
                c["subject"].as_str().unwrap(),
                c["not_after"].as_str().unwrap(),
                c["days_left"].as_i64().unwrap(),
                c["sources"][0]["origin"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        facts,
        [
            (
                "CN=Microsoft Exchange Server Auth Certificate",
                "2031-01-15T12:00:00Z",
                1506,
                SAMPLES[0]
            ),
            ("CN=EXCH01", "2026-12-20T09:00:00Z", 19, SAMPLES[1]),
            (
                "CN=WMSvc-SHA2-EXCH01",
                "2026-10-01T08:00:00Z",
                -61,
                SAMPLES[2]
            ),
        ]
    );
    assert_eq!(certificates[0]["roles"], serde_json::json!(["auth"]));
    assert_eq!(certificates[1]["roles"], serde_json::json!(["selfsigned"]));
    assert!(certificates.iter().all(|c| c["self_signed"] == true));
}

#[test]
fn json_report_thumbprint_is_the_sha1_of_the_der() {
    // exch01-transport.cer is DER: its thumbprint is the SHA-1 of the file.
    use sha1::{Digest, Sha1};
    let der = std::fs::read(format!("{}/{}", common::CRATE_DIR, SAMPLES[1])).unwrap();
    let expected: String = Sha1::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let output = Run::new()
        .args(["--cert", SAMPLES[1], "--now", NOW, "-o", "json"])
        .output();
    let report = assert_report(&output);
    assert_eq!(report["certificates"][0]["thumbprint"], expected.as_str());
    assert_eq!(report["findings"][0]["thumbprint"], expected.as_str());
}

#[test]
fn json_report_for_bad_input_is_unknown_without_certificates() {
    let output = Run::new()
        .args(["--cert", "samples/missing.pem", "-o", "json"])
        .output();
    let report = assert_report(&output);
    assert_eq!(report["status"], "UNKNOWN");
    assert_eq!(report["summary"], "samples/missing.pem: no such file");
    assert_eq!(report["findings"][0]["code"], "input.invalid");
    assert_eq!(report["findings"][0]["severity"], "unknown");
    assert_eq!(report["certificates"], serde_json::json!([]));
    assert_eq!(report["metrics"], serde_json::json!([]));
}

// --- the formats agree -----------------------------------------------------------------------

#[test]
fn every_format_reports_the_same_state_and_days() {
    let dir = Workdir::new();
    for (days_left, state, code, v2_status, lookup) in [
        (100, "OK", 0, "ok", "0"),
        (45, "WARNING", 1, "warning", "1"),
        (10, "CRITICAL", 2, "error", "2"),
    ] {
        let cert = auth_expiring(anchor() + days(days_left));
        let path = dir.write_pem(&format!("auth-{days_left}.pem"), &cert);
        let run = |format: &str| {
            Run::new()
                .certs([&path])
                .now(anchor())
                .args(["-o", format])
                .output()
        };

        let nagios = run("nagios");
        nagios.assert_code(code);
        let parsed = nagios.nagios();
        assert_eq!(parsed.state, state);
        assert_eq!(parsed.perf("days_left").int(), days_left);

        let report = run("json");
        report.assert_code(code);
        let report = assert_report(&report);
        assert_eq!(report["status"], state);
        assert_eq!(report["summary"].as_str(), Some(parsed.summary.as_str()));
        assert_eq!(report["metrics"][0]["label"], "days_left");
        assert_eq!(report["metrics"][0]["value"], days_left);

        let xml = run("prtg-xml");
        assert_prtg_xml_data(&xml);
        let root = xml.xml();
        let results: Vec<&XmlElement> = root.children_named("result").collect();
        assert_eq!(
            results[0].child_text("value"),
            Some(days_left.to_string().as_str())
        );
        assert_eq!(results[1].child_text("channel"), Some("Status"));
        assert_eq!(results[1].child_text("value"), Some(lookup));
        assert_eq!(
            root.child_text("text").map(str::to_string),
            Some(format!("{state} - {}", parsed.summary))
        );

        let prtg_json = run("prtg-json");
        assert_prtg_json_data(&prtg_json);
        let document = prtg_json.json();
        assert_eq!(document["prtg"]["result"][0]["value"], days_left);
        assert_eq!(
            document["prtg"]["text"].as_str().map(str::to_string),
            Some(format!("{state} - {}", parsed.summary))
        );

        let v2 = run("prtg-v2");
        assert_prtg_v2(&v2);
        let document = v2.json();
        assert_eq!(document["status"], v2_status);
        assert_eq!(document["channels"][0]["value"], days_left);
    }
}

// --- channel stability ------------------------------------------------------------------------

/// Channel names (XML and JSON) and `(id, name)` pairs (v2) of a run on these files.
fn channels_of(
    paths: &[std::path::PathBuf],
    now: time::OffsetDateTime,
) -> (Vec<String>, Vec<(u64, String)>) {
    let run = |format: &str| {
        Run::new()
            .certs(paths)
            .now(now)
            .args(["-o", format])
            .output()
    };
    let xml = assert_prtg_xml_data(&run("prtg-xml"));
    let json = assert_prtg_json_data(&run("prtg-json"));
    assert_eq!(xml, json);
    let v2 = assert_prtg_v2(&run("prtg-v2"));
    let v2_names: Vec<String> = v2.iter().map(|(_, name)| name.clone()).collect();
    assert_eq!(xml, v2_names);
    (xml, v2)
}

#[test]
fn channel_names_do_not_depend_on_the_certificates() {
    // Two sets of different certificates of the same kinds (Auth, self-signed, CA-issued),
    // one all well and one all failing: PRTG must see the same channels.
    let dir = Workdir::new();
    let ca = test_ca("Contoso Issuing CA");
    let healthy: Vec<TestCert> = vec![
        auth_expiring(anchor() + days(900)),
        selfsigned_expiring("EXCH01", anchor() + days(800)),
        ca_issued(
            "mail.contoso.com",
            anchor() - days(10),
            anchor() + days(300),
            &ca,
        ),
    ];
    let failing: Vec<TestCert> = vec![
        auth_expiring(anchor() - days(1)),
        auth_expiring(anchor() + days(20)),
        selfsigned_expiring("EXCH02", anchor() + days(3)),
        selfsigned_expiring("WMSvc-SHA2-EXCH02", anchor() + days(1)),
        ca_issued(
            "owa.contoso.com",
            anchor() - days(400),
            anchor() - days(35),
            &ca,
        ),
    ];
    let write = |prefix: &str, certs: &[TestCert]| -> Vec<std::path::PathBuf> {
        certs
            .iter()
            .enumerate()
            .map(|(i, c)| dir.write_pem(&format!("{prefix}-{i}.pem"), c))
            .collect()
    };
    let (names_a, v2_a) = channels_of(&write("healthy", &healthy), anchor());
    let (names_b, v2_b) = channels_of(&write("failing", &failing), anchor());
    assert_eq!(names_a, names_b);
    assert_eq!(v2_a, v2_b);
    assert_eq!(
        names_a,
        [
            "Days left",
            "Status",
            "Auth certificate min days left",
            "Self-signed min days left",
            "CA-issued min days left",
            "Certificates"
        ]
    );
    assert!(v2_a.contains(&(14, "CA-issued min days left".to_string())));
}

#[test]
fn channel_names_match_the_samples_for_generated_certificates_of_the_same_kinds() {
    let dir = Workdir::new();
    let paths = vec![
        dir.write_pem("auth.pem", &auth_expiring(anchor() + days(10))),
        dir.write_der(
            "transport.cer",
            &selfsigned_expiring("EXCH09", anchor() + days(400)),
        ),
    ];
    let (generated, generated_v2) = channels_of(&paths, anchor());
    let sample_paths: Vec<std::path::PathBuf> =
        SAMPLES.iter().map(std::path::PathBuf::from).collect();
    let (sampled, sampled_v2) = channels_of(&sample_paths, common::utc(2026, 12, 1, 0, 0, 0));
    assert_eq!(generated, sampled);
    assert_eq!(generated_v2, sampled_v2);
}

// --- limits and clean text ----------------------------------------------------------------------

#[test]
fn many_failing_certificates_stay_within_prtg_limits() {
    let dir = Workdir::new();
    let paths: Vec<std::path::PathBuf> = (0..60)
        .map(|i| {
            let cert = selfsigned_expiring(&format!("EXCH{i:02}"), anchor() + days(i % 10));
            dir.write_pem(&format!("server-{i:02}.pem"), &cert)
        })
        .collect();
    let nagios = Run::new().certs(&paths).now(anchor()).output();
    nagios.assert_code(2);
    let parsed = nagios.nagios();
    assert_eq!(parsed.perf("certificates").int(), 60);
    assert_eq!(parsed.finding_lines().len(), 60);
    assert!(parsed.summary.contains(" more)"), "{}", parsed.summary);

    let xml = Run::new()
        .certs(&paths)
        .now(anchor())
        .args(["-o", "prtg-xml"])
        .output();
    let names = assert_prtg_xml_data(&xml);
    assert!(names.len() <= MAX_CHANNELS);
    let v2 = Run::new()
        .certs(&paths)
        .now(anchor())
        .args(["-o", "prtg-v2"])
        .output();
    assert!(assert_prtg_v2(&v2).len() <= MAX_CHANNELS);
}

#[test]
fn long_messages_are_cut_to_2000_characters_and_escaped() {
    // Three CRITICAL certificates whose names alone exceed PRTG's limit, with characters XML
    // must escape and non-ASCII characters (the limit counts characters, not bytes).
    let dir = Workdir::new();
    let paths: Vec<std::path::PathBuf> = (0..3)
        .map(|i| {
            let cn = format!("EXCH0{i} <&> \"Zürich\" {}", "ä".repeat(900));
            let cert = selfsigned_expiring(&cn, anchor() + days(2));
            dir.write_pem(&format!("long-{i}.pem"), &cert)
        })
        .collect();
    let run = |format: &str| {
        Run::new()
            .certs(&paths)
            .now(anchor())
            .args(["-o", format])
            .output()
    };
    let xml = run("prtg-xml");
    assert_prtg_xml_data(&xml);
    let text = xml.xml().child_text("text").unwrap().to_string();
    assert_eq!(text.chars().count(), MAX_TEXT_CHARS, "{text}");
    assert!(
        text.starts_with("CRITICAL - self-signed certificate"),
        "{text}"
    );
    assert!(
        text.contains("(CN=EXCH00 <&> \"Zürich\" ä"),
        "escaped and read back: {text}"
    );

    let prtg_json = run("prtg-json");
    assert_prtg_json_data(&prtg_json);
    let text = prtg_json.json()["prtg"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(text.chars().count(), MAX_TEXT_CHARS);

    let v2 = run("prtg-v2");
    assert_prtg_v2(&v2);
    let message = v2.json()["message"].as_str().unwrap().to_string();
    assert_eq!(message.chars().count(), MAX_TEXT_CHARS);
}

#[test]
fn no_pipe_or_line_break_from_certificate_names_reaches_human_text() {
    // A subject CN with '|' and line breaks must not start perfdata or add lines.
    let dir = Workdir::new();
    let cn = "EXCH01 | evil=1;2;3\nCRITICAL: injected\r\nline";
    let cert = selfsigned_expiring(cn, anchor() + days(5));
    let auth = auth_expiring(anchor() + days(500));
    let paths = [
        dir.write_pem("evil.pem", &cert),
        dir.write_pem("auth.pem", &auth),
    ];
    for verbose in [false, true] {
        let output = Run::new()
            .certs(&paths)
            .now(anchor())
            .args(if verbose { vec!["-v"] } else { vec![] })
            .output();
        output.assert_code(2);
        // parse_nagios refuses a second '|' on the first line and any '|' later.
        let nagios = output.nagios();
        let expected_lines = if verbose { 4 } else { 2 };
        assert_eq!(nagios.long.len(), expected_lines, "{}", output.context());
        assert!(nagios.long[0].starts_with("CRITICAL: self-signed certificate"));
        assert!(nagios.long[1].starts_with("OK: Auth Certificate"));
        assert!(!nagios.has_perf("evil"), "{}", output.context());
        assert_eq!(nagios.perfdata.len(), 6, "{}", output.context());
    }
    for format in ["prtg-xml", "prtg-json", "prtg-v2", "json"] {
        let output = Run::new()
            .certs(&paths)
            .now(anchor())
            .args(["-o", format])
            .output();
        let text = match format {
            "prtg-xml" => output.xml().child_text("text").unwrap().to_string(),
            "prtg-json" => output.json()["prtg"]["text"].as_str().unwrap().to_string(),
            "prtg-v2" => output.json()["message"].as_str().unwrap().to_string(),
            _ => output.json()["summary"].as_str().unwrap().to_string(),
        };
        assert!(
            !text.contains('|') && !text.contains('\n') && !text.contains('\r'),
            "{format}: {text:?}"
        );
    }
}

#[test]
fn primary_channel_without_an_auth_certificate_uses_the_selfsigned_thresholds() {
    let dir = Workdir::new();
    let cert = selfsigned_expiring("EXCH01", anchor() + days(20));
    let output = Run::new()
        .certs([dir.write_pem("t.pem", &cert)])
        .now(anchor())
        .args(["-o", "prtg-xml"])
        .output();
    let names = assert_prtg_xml_data(&output);
    assert_eq!(
        names,
        [
            "Days left",
            "Status",
            "Self-signed min days left",
            "Certificates"
        ]
    );
    let root = output.xml();
    let first = root.child("result").unwrap();
    assert_eq!(first.child_text("value"), Some("20"));
    assert_eq!(first.child("limitminwarning"), None);
    let nagios = Run::new()
        .certs([dir.write_pem("t.pem", &cert)])
        .now(anchor())
        .output()
        .nagios();
    assert_eq!(nagios.perf("days_left").warn, "30:");
    assert_eq!(nagios.perf("days_left").crit, "14:");
    assert!(root.child_text("text").unwrap().starts_with("WARNING - "));
    // The Auth Certificate's subject is not in this message.
    assert!(!root.child_text("text").unwrap().contains(AUTH_CN));
}
