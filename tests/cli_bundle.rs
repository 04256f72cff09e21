//! The collector's bundle (`--bundle`, `plugins/windows/BUNDLE.md`) through the real binary:
//! the committed sample at its pinned dates, generated bundles of a three-server organisation
//! in each state the collector can report, the encodings a bundle may be re-saved in, every
//! way a file can fail to be a bundle, and all five output formats on one bundle.
//!
//! Expected values are derived from the bundle's own content (its certificates' DER, its
//! AuthConfig and `collected_at`) or from the dates the generated certificates were made with.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use time::OffsetDateTime;

use common::exchange::{
    AuthConfigExport, Organisation, StoreCert, TextEncoding, metric, report_findings, sorted,
    sorted_codes,
};
use common::{
    AUTH_CN, Output, Run, TestCert, Workdir, XmlElement, anchor, auth_cert, auth_expiring,
    ca_issued, days, minutes_utc, rfc3339, self_signed, selfsigned_expiring, test_ca, utc,
};

// =============================================================================================
// Helpers
// =============================================================================================

/// Whole days from `from` to `to`, rounded down: GUIDE.md's days left.
fn days_between(from: OffsetDateTime, to: OffsetDateTime) -> i64 {
    (to - from).whole_seconds().div_euclid(86_400)
}

fn ymd(instant: OffsetDateTime) -> String {
    rfc3339(instant)[..10].to_string()
}

fn parse_instant(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn report_of(output: &Output) -> Value {
    let report = output.json();
    assert_eq!(
        report["exit_code"].as_i64(),
        Some(i64::from(output.code)),
        "{}",
        output.context()
    );
    report
}

fn finding<'a>(report: &'a Value, code: &str) -> &'a Value {
    let matching: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect();
    assert_eq!(matching.len(), 1, "one {code}: {:#?}", report["findings"]);
    matching[0]
}

fn message<'a>(report: &'a Value, code: &str) -> &'a str {
    finding(report, code)["message"].as_str().unwrap()
}

fn channel(prtg: &XmlElement, name: &str) -> i64 {
    prtg.children_named("result")
        .find(|r| r.child_text("channel") == Some(name))
        .unwrap_or_else(|| panic!("no channel {name:?}"))
        .child_text("value")
        .unwrap()
        .parse()
        .unwrap()
}

/// The check on one bundle file at `now`.
fn check(path: &Path, now: OffsetDateTime, options: &[&str]) -> Output {
    Run::new()
        .arg("--bundle")
        .arg(path)
        .now(now)
        .args(options)
        .output()
}

// =============================================================================================
// The committed sample: samples/bundle-contoso.json
// =============================================================================================

const SAMPLE: &str = "samples/bundle-contoso.json";

/// What the sample holds, read from the file itself (its certificates are regenerated with
/// random keys, so thumbprints are never hard-coded).
struct Sample {
    collected_at: OffsetDateTime,
    current: String,
    next: String,
    effective: OffsetDateTime,
    servers: usize,
    /// Thumbprint -> (subject CN, not_after, self-signed).
    certificates: Vec<(String, Option<String>, OffsetDateTime, bool)>,
}

impl Sample {
    fn read() -> Sample {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE);
        let bundle: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let config = &bundle["auth_config"];
        let mut certificates: Vec<(String, Option<String>, OffsetDateTime, bool)> = Vec::new();
        for server in bundle["servers"].as_array().unwrap() {
            for cert in server["certificates"].as_array().unwrap() {
                let thumbprint = cert["thumbprint"].as_str().unwrap().to_string();
                if certificates.iter().any(|(t, ..)| *t == thumbprint) {
                    continue;
                }
                let der = STANDARD.decode(cert["raw_data"].as_str().unwrap()).unwrap();
                let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
                let cn = parsed
                    .subject()
                    .iter_common_name()
                    .next()
                    .and_then(|cn| cn.as_str().ok())
                    .map(str::to_string);
                let not_after =
                    OffsetDateTime::from_unix_timestamp(parsed.validity().not_after.timestamp())
                        .unwrap();
                let self_signed = parsed.subject().as_raw() == parsed.issuer().as_raw();
                certificates.push((thumbprint, cn, not_after, self_signed));
            }
        }
        Sample {
            collected_at: parse_instant(bundle["collected_at"].as_str().unwrap()),
            current: config["CurrentCertificateThumbprint"]
                .as_str()
                .unwrap()
                .to_string(),
            next: config["NextCertificateThumbprint"]
                .as_str()
                .unwrap()
                .to_string(),
            effective: parse_instant(config["NextCertificateEffectiveDate"].as_str().unwrap()),
            servers: bundle["servers"].as_array().unwrap().len(),
            certificates,
        }
    }

    fn not_after(&self, thumbprint: &str) -> OffsetDateTime {
        self.certificates
            .iter()
            .find(|(t, ..)| t == thumbprint)
            .unwrap()
            .2
    }

    fn selfsigned_min_days(&self, now: OffsetDateTime) -> i64 {
        self.certificates
            .iter()
            .filter(|(_, cn, _, self_signed)| *self_signed && cn.as_deref() != Some(AUTH_CN))
            .map(|(_, _, not_after, _)| days_between(now, *not_after))
            .min()
            .unwrap()
    }
}

fn sample_run(now: OffsetDateTime, options: &[&str]) -> Output {
    Run::new()
        .args(["--bundle", SAMPLE])
        .now(now)
        .args(options)
        .output()
}

#[test]
fn sample_bundle_on_its_day_is_ok_with_the_rotation_on_track() {
    let sample = Sample::read();
    let now = utc(2026, 12, 1, 0, 0, 0);
    let current_not_after = sample.not_after(&sample.current);
    let current_days = days_between(now, current_not_after);
    let next_days = days_between(now, sample.not_after(&sample.next));
    // What samples/README-bundle.txt promises: inside the 60-day window, with a next
    // certificate of five years that takes over before the current one expires.
    assert!((30..60).contains(&current_days), "{current_days}");
    assert!(next_days > 120);
    assert!(sample.effective > now && sample.effective < current_not_after);
    assert_eq!(sample.servers, 3);

    let output = sample_run(now, &[]);
    output.assert_code(0);
    let nagios = output.nagios();
    assert_eq!(nagios.state, "OK");
    assert_eq!(
        nagios.summary,
        format!(
            "Auth Certificate {} valid for {current_days} days (until {}), on 3 of 3 servers, next {} effective {}",
            &sample.current[..8],
            ymd(current_not_after),
            &sample.next[..8],
            ymd(sample.effective)
        )
    );
    assert_eq!(nagios.perf("auth_current_days").int(), current_days);
    assert_eq!(nagios.perf("days_left").int(), current_days);
    // Below -w 60 while the rotation is on track: the verdict is OK, so no threshold says
    // otherwise (Icinga colours perfdata by them).
    assert_eq!(nagios.perf("days_left").warn, "");
    assert_eq!(nagios.perf("auth_current_days").warn, "");
    assert_eq!(nagios.perf("auth_next_days").int(), next_days);
    assert_eq!(nagios.perf("servers_missing_auth_cert").int(), 0);
    assert_eq!(
        nagios.perf("selfsigned_min_days").int(),
        sample.selfsigned_min_days(now)
    );
    assert_eq!(
        nagios.perf("export_age_hours").int(),
        (now - sample.collected_at).whole_hours()
    );
    assert_eq!(
        nagios.perf("certificates").int(),
        sample.certificates.len() as i64
    );
    let info = format!(
        "INFO: current Auth Certificate {} expires in {current_days} days ({}); rotation on track: next {} takes over {} [thumbprint {}]",
        &sample.current[..8],
        minutes_utc(current_not_after),
        &sample.next[..8],
        minutes_utc(sample.effective),
        sample.current
    );
    assert_eq!(nagios.long, vec![info], "{}", output.context());

    let output = sample_run(now, &["-o", "json"]);
    let report = report_of(&output);
    assert_eq!(
        sorted_codes(&report),
        sorted(&[("info", "auth.current.expiring")])
    );
    assert_eq!(report["recommended_action"], "none");
    assert_eq!(report["hybrid_detected"], false);
    assert_eq!(report["collected_at"], rfc3339(sample.collected_at));
    assert_eq!(report["auth_config"]["current"], sample.current);
    assert_eq!(report["auth_config"]["next"], sample.next);
    assert_eq!(
        report["auth_config"]["next_effective"],
        rfc3339(sample.effective)
    );
    for server in report["servers"].as_array().unwrap() {
        assert_eq!(server["inventory"]["status"], "known");
        assert_eq!(server["requires_auth_certificate"], true);
        // The bundle names each server's internal transport certificate.
        let transport = server["internal_transport_certificate"].as_str().unwrap();
        let listed = report["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["thumbprint"] == transport)
            .unwrap();
        assert!(
            listed["roles"]
                .as_array()
                .unwrap()
                .contains(&json!("internal_transport"))
        );
        assert_eq!(
            listed["subject"],
            format!("CN={}", server["name"].as_str().unwrap())
        );
    }
}

#[test]
fn sample_bundle_five_days_later_is_overdue_and_stale() {
    let sample = Sample::read();
    let now = utc(2026, 12, 6, 0, 0, 0);
    let current_days = days_between(now, sample.not_after(&sample.current));
    let overdue_hours = (now - sample.effective).whole_hours();
    let age_hours = (now - sample.collected_at).whole_hours();
    assert!(overdue_hours > 24 && age_hours > 26);
    let expiring = if current_days < 30 {
        "critical"
    } else {
        "warning"
    };

    let output = sample_run(now, &["-o", "json"]);
    let report = report_of(&output);
    assert_eq!(
        sorted_codes(&report),
        sorted(&[
            (expiring, "auth.current.expiring"),
            ("warning", "auth.next.overdue"),
            ("warning", "export.stale"),
        ]),
        "{}",
        output.context()
    );
    assert!(
        message(&report, "auth.next.overdue").contains(&format!(
            "was due {} ({overdue_hours} h ago)",
            minutes_utc(sample.effective)
        )),
        "{}",
        output.context()
    );
    assert_eq!(
        message(&report, "export.stale"),
        format!(
            "the state was collected {age_hours} h ago ({}), more than --max-age 26 h: is the collector's scheduled task running?",
            minutes_utc(sample.collected_at)
        )
    );
    // The rotation is no longer on track: the current certificate's countdown counts again.
    assert!(!message(&report, "auth.current.expiring").contains("on track"));
    assert_eq!(metric(&report, "auth_current_days"), Some(current_days));
    assert_eq!(metric(&report, "export_age_hours"), Some(age_hours));
    // The servicelet is not publishing a next certificate every server holds: publish it.
    assert_eq!(report["recommended_action"], "publish_next");

    let output = sample_run(now, &[]);
    output.assert_code(if expiring == "critical" { 2 } else { 1 });

    // --max-age 0 turns the freshness check off; the age is still measured.
    let output = sample_run(now, &["--max-age", "0", "-o", "json"]);
    let report = report_of(&output);
    assert_eq!(
        sorted_codes(&report),
        sorted(&[
            (expiring, "auth.current.expiring"),
            ("warning", "auth.next.overdue"),
        ])
    );
    assert_eq!(metric(&report, "export_age_hours"), Some(age_hours));
    let output = sample_run(now, &["--max-age", "0"]);
    let nagios = output.nagios();
    let age = nagios.perf("export_age_hours");
    assert_eq!(
        (age.warn.as_str(), age.crit.as_str()),
        ("", ""),
        "no threshold once disabled"
    );
}

// =============================================================================================
// Generated bundles: a three-server organisation in each state
// =============================================================================================

fn now() -> OffsetDateTime {
    anchor()
}

const SERVERS: [&str; 3] = ["EXCH01", "EXCH02", "EXCH03"];

/// The certificates every Contoso server holds besides the Auth certificates: its internal
/// transport certificate (IIS, SMTP), its WMSvc certificate, and the CA-issued mail certificate.
struct Contoso {
    mail: StoreCert,
    own: Vec<(TestCert, TestCert)>,
}

impl Contoso {
    fn new() -> Contoso {
        let ca = test_ca("Contoso Issuing CA");
        let mail = ca_issued(
            "mail.contoso.lab",
            now() - days(100),
            now() + days(265),
            &ca,
        );
        Contoso {
            mail: StoreCert::new(&mail, &["IMAP", "POP", "IIS", "SMTP"]),
            own: SERVERS
                .iter()
                .map(|name| {
                    (
                        selfsigned_expiring(name, now() + days(1200)),
                        // WMSvc certificates are valid ten years.
                        self_signed(
                            &format!("WMSvc-SHA2-{name}"),
                            now() - days(1000),
                            now() + days(2650),
                        ),
                    )
                })
                .collect(),
        }
    }

    /// The organisation with `auth[i]` in server i's store.
    fn organisation(&self, config: AuthConfigExport, auth: [&[&TestCert]; 3]) -> Organisation {
        let mut org = Organisation::new(now()).auth_config(config);
        for (i, name) in SERVERS.iter().enumerate() {
            let (transport, wmsvc) = &self.own[i];
            let mut certs: Vec<StoreCert> =
                auth[i].iter().map(|c| StoreCert::new(c, &[])).collect();
            certs.push(StoreCert::new(transport, &["IIS", "SMTP"]));
            certs.push(StoreCert::new(wmsvc, &[]));
            certs.push(self.mail.clone());
            org = org.mailbox(name, certs).internal_transport(transport);
        }
        org
    }
}

/// Writes `org` as the collector does and runs the check (JSON report and nagios).
fn run_generated(org: &Organisation, options: &[&str]) -> (Output, Value, Output) {
    let dir = Workdir::new();
    let path = org.write_bundle(&dir, "exchange-authstate.json", TextEncoding::Utf8);
    let json = check(&path, now(), &[&["-o", "json"], options].concat());
    let report = report_of(&json);
    let nagios = check(&path, now(), options);
    assert_eq!(nagios.code, json.code, "{}", nagios.context());
    nagios.nagios();
    (json, report, nagios)
}

#[test]
fn generated_healthy() {
    let contoso = Contoso::new();
    let current = auth_expiring(now() + days(1000));
    let org = contoso.organisation(
        AuthConfigExport::current(&current),
        [&[&current], &[&current], &[&current]],
    );
    let (output, report, nagios) = run_generated(&org, &[]);
    output.assert_code(0);
    assert_eq!(sorted_codes(&report), sorted(&[]), "{}", output.context());
    assert_eq!(report["recommended_action"], "none");
    let nagios = nagios.nagios();
    assert_eq!(
        nagios.summary,
        format!(
            "Auth Certificate {} valid for 1000 days (until {}), on 3 of 3 servers",
            current.short(),
            ymd(current.not_after)
        )
    );
    assert_eq!(nagios.perf("auth_current_days").int(), 1000);
    assert_eq!(nagios.perf("selfsigned_min_days").int(), 1200);
    assert_eq!(nagios.perf("export_age_hours").int(), 0);
    // current + 3 transport + 3 WMSvc + the shared mail certificate.
    assert_eq!(nagios.perf("certificates").int(), 8);
    let mail = report["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["thumbprint"] == contoso.mail.thumbprint.as_str())
        .unwrap();
    assert_eq!(mail["kind"], "ca_issued");
    assert_eq!(
        mail["sources"].as_array().unwrap().len(),
        3,
        "seen on every server"
    );
}

#[test]
fn generated_expiring_without_a_next_certificate() {
    let contoso = Contoso::new();
    let current = auth_expiring(now() + days(20));
    let org = contoso.organisation(
        AuthConfigExport::current(&current),
        [&[&current], &[&current], &[&current]],
    );
    let (output, report, _) = run_generated(&org, &[]);
    output.assert_code(2);
    assert_eq!(
        sorted_codes(&report),
        sorted(&[
            ("critical", "auth.current.expiring"),
            ("warning", "auth.next.not_staged"),
        ])
    );
    assert_eq!(
        message(&report, "auth.current.expiring"),
        format!(
            "current Auth Certificate {} expires in 20 days ({})",
            current.short(),
            minutes_utc(current.not_after)
        )
    );
    assert_eq!(report["recommended_action"], "stage_next");
    assert_eq!(metric(&report, "auth_current_days"), Some(20));
}

#[test]
fn generated_missing_on_the_last_server() {
    let contoso = Contoso::new();
    let current = auth_expiring(now() + days(1000));
    let org = contoso.organisation(
        AuthConfigExport::current(&current),
        [&[&current], &[&current], &[]],
    );
    let (output, report, nagios) = run_generated(&org, &[]);
    output.assert_code(2);
    assert_eq!(
        sorted_codes(&report),
        sorted(&[("critical", "auth.current.missing_on_servers")])
    );
    assert_eq!(
        message(&report, "auth.current.missing_on_servers"),
        format!(
            "current Auth Certificate {} is missing on 1 of 3 servers: EXCH03",
            current.short()
        )
    );
    assert_eq!(report["recommended_action"], "import_current");
    assert_eq!(report["recommendation"]["servers"], json!(["EXCH03"]));
    assert_eq!(nagios.nagios().perf("servers_missing_auth_cert").int(), 1);
}

#[test]
fn generated_unreachable_server() {
    let contoso = Contoso::new();
    let current = auth_expiring(now() + days(1000));
    let mut org = contoso.organisation(
        AuthConfigExport::current(&current),
        [&[&current], &[&current], &[&current]],
    );
    org.servers[2].store = common::exchange::Store::Unreachable(
        "Connecting to remote server exch03.contoso.lab failed:\r\n  WinRM cannot complete the operation."
            .into(),
    );
    org.servers[2].internal_transport = None;
    let (output, report, nagios) = run_generated(&org, &[]);
    output.assert_code(3);
    assert_eq!(
        sorted_codes(&report),
        sorted(&[("unknown", "servers.unreachable")])
    );
    // The collector's multi-line error arrives on one line.
    assert_eq!(
        message(&report, "servers.unreachable"),
        "server EXCH03 could not be queried: Connecting to remote server exch03.contoso.lab failed: WinRM cannot complete the operation."
    );
    assert_eq!(
        report["recommendation"]["unreachable_servers"],
        json!(["EXCH03"])
    );
    assert_eq!(report["recommended_action"], "none");
    let nagios = nagios.nagios();
    assert_eq!(nagios.state, "UNKNOWN");
    assert_eq!(nagios.summary, message(&report, "servers.unreachable"));
    // UNKNOWN with data keeps its perfdata.
    assert_eq!(nagios.perf("auth_current_days").int(), 1000);

    for (state, code, severity) in [
        ("warning", 1, "warning"),
        ("critical", 2, "critical"),
        ("ok", 0, "info"),
    ] {
        let (output, report, _) = run_generated(&org, &["--unreachable-state", state]);
        output.assert_code(code);
        assert_eq!(
            sorted_codes(&report),
            sorted(&[(severity, "servers.unreachable")])
        );
    }

    // PRTG Script v2: UNKNOWN with data is worth a look, not a down sensor.
    let dir = Workdir::new();
    let path = org.write_bundle(&dir, "b.json", TextEncoding::Utf8);
    let output = check(&path, now(), &["-o", "prtg-v2"]);
    output.assert_code(0);
    let v2 = output.json();
    assert_eq!(v2["status"], "warning");
    let status = v2["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == 10)
        .unwrap();
    assert_eq!(status["value"], 3);
}

#[test]
fn generated_rotation_on_track_then_published() {
    let contoso = Contoso::new();
    let current = auth_expiring(now() + days(40));
    let next = auth_cert(now() - days(1), now() + days(1824));
    let effective = now() + days(2);
    let all: [&[&TestCert]; 3] = [&[&current, &next], &[&current, &next], &[&current, &next]];
    let org = contoso.organisation(
        AuthConfigExport::current(&current).next(&next, effective),
        all,
    );
    let (output, report, nagios) = run_generated(&org, &[]);
    output.assert_code(0);
    assert_eq!(
        sorted_codes(&report),
        sorted(&[("info", "auth.current.expiring")])
    );
    assert!(
        message(&report, "auth.current.expiring").ends_with(&format!(
            "rotation on track: next {} takes over {}",
            next.short(),
            minutes_utc(effective)
        ))
    );
    assert_eq!(report["recommended_action"], "none");
    let nagios = nagios.nagios();
    assert_eq!(nagios.perf("auth_next_days").int(), 1824);
    assert!(nagios.summary.ends_with(&format!(
        "next {} effective {}",
        next.short(),
        ymd(effective)
    )));

    // After the servicelet published it: the old one is previous, nothing is staged.
    let published = AuthConfigExport::current(&next).previous(&current);
    let mut org = contoso.organisation(published, all);
    org.collected_at = now();
    let (output, report, _) = run_generated(&org, &[]);
    output.assert_code(0);
    assert_eq!(
        sorted_codes(&report),
        sorted(&[("info", "auth.previous.lingering")])
    );
    assert_eq!(
        message(&report, "auth.previous.lingering"),
        format!(
            "previous Auth Certificate {} is still set (40 days left)",
            current.short()
        )
    );
    assert_eq!(metric(&report, "auth_current_days"), Some(1824));
}

#[test]
fn generated_hybrid() {
    let contoso = Contoso::new();
    let current = auth_expiring(now() + days(1000));
    let steady = contoso
        .organisation(
            AuthConfigExport::current(&current),
            [&[&current], &[&current], &[&current]],
        )
        .hybrid(Some(true));
    let (output, report, _) = run_generated(&steady, &[]);
    output.assert_code(0);
    assert_eq!(
        sorted_codes(&report),
        sorted(&[("info", "hybrid.detected")])
    );
    assert_eq!(report["hybrid_detected"], true);

    let next = auth_cert(now() - days(1), now() + days(1824));
    let pending = contoso
        .organisation(
            AuthConfigExport::current(&current).next(&next, now() + days(5)),
            [&[&current, &next], &[&current, &next], &[&current, &next]],
        )
        .hybrid(Some(true));
    let (output, report, _) = run_generated(&pending, &[]);
    output.assert_code(1);
    assert_eq!(
        sorted_codes(&report),
        sorted(&[("warning", "hybrid.detected")])
    );
    assert!(message(&report, "hybrid.detected").contains("Hybrid Configuration Wizard"));

    // `Get-HybridConfiguration` failed: unknown, nothing reported.
    let unknown = steady.clone().hybrid(None);
    let (output, report, _) = run_generated(&unknown, &[]);
    output.assert_code(0);
    assert_eq!(sorted_codes(&report), sorted(&[]));
    assert_eq!(report.get("hybrid_detected"), None);
}

#[test]
fn generated_stale_bundle() {
    let contoso = Contoso::new();
    let current = auth_expiring(now() + days(1000));
    let mut org = contoso.organisation(
        AuthConfigExport::current(&current),
        [&[&current], &[&current], &[&current]],
    );
    org.collected_at = now() - days(2);
    let (output, report, nagios) = run_generated(&org, &[]);
    output.assert_code(1);
    assert_eq!(
        sorted_codes(&report),
        sorted(&[("warning", "export.stale")])
    );
    assert_eq!(metric(&report, "export_age_hours"), Some(48));
    assert_eq!(report["collected_at"], rfc3339(now() - days(2)));
    let nagios = nagios.nagios();
    let age = nagios.perf("export_age_hours");
    assert_eq!((age.int(), age.warn.as_str()), (48, "~:26"));
    // Days are counted from --now, not from the collection time.
    assert_eq!(nagios.perf("auth_current_days").int(), 1000);

    let (output, _, _) = run_generated(&org, &["--max-age", "0"]);
    output.assert_code(0);
    let (output, _, _) = run_generated(&org, &["--max-age", "48"]);
    output.assert_code(0);
    let (output, _, _) = run_generated(&org, &["--max-age", "47"]);
    output.assert_code(1);

    // A bundle from the future (clock skew) is fresh.
    org.collected_at = now() + time::Duration::hours(3);
    let (output, report, _) = run_generated(&org, &[]);
    output.assert_code(0);
    assert_eq!(metric(&report, "export_age_hours"), Some(0));
}

// =============================================================================================
// Encodings
// =============================================================================================

fn utf16be_with_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFE, 0xFF];
    bytes.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    bytes
}

#[test]
fn a_bundle_re_saved_in_utf16_or_with_a_bom_reads_the_same() {
    let contoso = Contoso::new();
    let current = auth_expiring(now() + days(45));
    let org = contoso.organisation(
        AuthConfigExport::current(&current),
        [&[&current], &[&current], &[]],
    );
    let text = serde_json::to_string_pretty(&org.bundle()).unwrap();
    let variants: Vec<(&str, Vec<u8>)> = vec![
        ("UTF-8", TextEncoding::Utf8.encode(&text)),
        ("UTF-8 with BOM", TextEncoding::Utf8Bom.encode(&text)),
        ("UTF-16LE with BOM", TextEncoding::Utf16LeBom.encode(&text)),
        ("UTF-16BE with BOM", utf16be_with_bom(&text)),
        // `Out-File` in 5.1 also ends the file with CRLF.
        (
            "UTF-16LE with BOM and CRLF",
            TextEncoding::Utf16LeBom.encode(&format!("{}\r\n", text.replace('\n', "\r\n"))),
        ),
    ];
    let mut outputs = Vec::new();
    for (name, bytes) in variants {
        let dir = Workdir::new();
        dir.write("exchange-authstate.json", bytes);
        let run = |options: &[&str]| {
            Run::new()
                .cwd(dir.path())
                .args(["--bundle", "exchange-authstate.json"])
                .now(now())
                .args(options)
                .output()
        };
        let nagios = run(&[]);
        nagios.assert_code(2);
        let json = run(&["-o", "json"]);
        let report = report_of(&json);
        assert_eq!(
            sorted_codes(&report),
            sorted(&[
                ("warning", "auth.current.expiring"),
                ("warning", "auth.next.not_staged"),
                ("critical", "auth.current.missing_on_servers"),
            ]),
            "{name}\n{}",
            json.context()
        );
        outputs.push((name, nagios.stdout, json.stdout));
    }
    for pair in outputs.windows(2) {
        assert_eq!(
            (&pair[0].1, &pair[0].2),
            (&pair[1].1, &pair[1].2),
            "{} and {} differ",
            pair[0].0,
            pair[1].0
        );
    }
}

// =============================================================================================
// What is not a bundle
// =============================================================================================

/// A valid generated bundle as JSON, to be broken.
fn valid_bundle() -> (Value, TestCert, TestCert) {
    let contoso = Contoso::new();
    let current = auth_expiring(now() + days(1000));
    let org = contoso.organisation(
        AuthConfigExport::current(&current),
        [&[&current], &[&current], &[&current]],
    );
    let other = contoso.own.into_iter().next().unwrap().0;
    (org.bundle(), current, other)
}

/// Every output of a run on a file that cannot be read as a bundle: UNKNOWN with `<file>:
/// <reason>` for nagios and json, the error document for the PRTG formats.
fn assert_refused(path: &Path, reason: &str) {
    let expected = format!("{}: {reason}", path.display());
    let output = check(path, now(), &[]);
    output.assert_unknown(&expected);

    let output = check(path, now(), &["-o", "json"]);
    output.assert_code(3);
    let report = report_of(&output);
    assert_eq!(report["status"], "UNKNOWN");
    let findings = report_findings(&report);
    assert_eq!(findings.len(), 1, "{}", output.context());
    assert_eq!(findings[0].code, "input.invalid");
    assert!(
        findings[0].message.starts_with(&expected),
        "{}",
        output.context()
    );
    assert_eq!(report["recommended_action"], Value::Null);

    let output = check(path, now(), &["-o", "prtg-xml"]);
    output.assert_code(0);
    let prtg = output.xml();
    assert_eq!(prtg.name, "prtg");
    assert_eq!(prtg.child_text("error"), Some("1"), "{}", output.context());
    assert!(
        prtg.child_text("text").unwrap().starts_with(&expected),
        "{}",
        output.context()
    );
    assert_eq!(prtg.children_named("result").count(), 0);

    let output = check(path, now(), &["-o", "prtg-json"]);
    output.assert_code(0);
    let document = output.json();
    assert_eq!(document["prtg"]["error"], 1);
    assert!(
        document["prtg"]["text"]
            .as_str()
            .unwrap()
            .starts_with(&expected)
    );

    let output = check(path, now(), &["-o", "prtg-v2"]);
    output.assert_code(0);
    let document = output.json();
    assert_eq!(document["status"], "error");
    assert_eq!(document["channels"], json!([]));
    assert!(document["message"].as_str().unwrap().starts_with(&expected));
}

fn write_json(dir: &Workdir, name: &str, value: &Value) -> PathBuf {
    dir.write(name, serde_json::to_string_pretty(value).unwrap())
}

#[test]
fn a_newer_schema_version_is_refused() {
    let (mut bundle, _, _) = valid_bundle();
    bundle["schema_version"] = json!(2);
    let dir = Workdir::new();
    let path = write_json(&dir, "exchange-authstate.json", &bundle);
    assert_refused(
        &path,
        "bundle schema version 2 is newer than this check understands (1); update the check",
    );
}

#[test]
fn a_thumbprint_that_does_not_match_its_raw_data_is_refused() {
    let (mut bundle, current, other) = valid_bundle();
    bundle["servers"][1]["certificates"][0]["thumbprint"] = json!(other.thumbprint());
    let dir = Workdir::new();
    let path = write_json(&dir, "exchange-authstate.json", &bundle);
    assert_refused(
        &path,
        &format!(
            "server EXCH02 certificate 1: thumbprint {} does not match its RawData ({})",
            other.thumbprint(),
            current.thumbprint()
        ),
    );
}

#[test]
fn files_that_are_not_bundles_are_refused() {
    let current = auth_expiring(now() + days(1000));
    let dir = Workdir::new();
    // The admin's exports given as --bundle by mistake.
    let clixml = dir.write(
        "authconfig.xml",
        TextEncoding::Utf16LeBom.encode(&AuthConfigExport::current(&current).clixml()),
    );
    assert_refused(&clixml, "not an exchange-authcert bundle: XML, not JSON");
    let json_object = write_json(
        &dir,
        "authconfig.json",
        &AuthConfigExport::current(&current).json7_value(),
    );
    assert_refused(
        &json_object,
        "not an exchange-authcert bundle (no \"schema\": \"exchange-authcert-bundle\")",
    );
    let empty_array = write_json(&dir, "list.json", &json!([]));
    assert_refused(
        &empty_array,
        "not an exchange-authcert bundle: the document is not a JSON object",
    );
    let other_schema = write_json(
        &dir,
        "other.json",
        &json!({"schema": "something-else", "schema_version": 1}),
    );
    assert_refused(
        &other_schema,
        "not an exchange-authcert bundle (schema is \"something-else\")",
    );
    let blank = dir.write("blank.json", TextEncoding::Utf8Bom.encode(" \r\n"));
    assert_refused(
        &blank,
        "not an exchange-authcert bundle: the file holds only white space",
    );
}

#[test]
fn a_json_array_is_refused_as_not_an_object() {
    let dir = Workdir::new();
    for (name, value) in [
        ("two.json", json!([{"Name": "EXCH01"}, {"Name": "EXCH02"}])),
        (
            "three.json",
            json!([{"Name": "EXCH01"}, {"Name": "EXCH02"}, {"Name": "EXCH03"}]),
        ),
    ] {
        let path = write_json(&dir, name, &value);
        assert_refused(
            &path,
            "not an exchange-authcert bundle: the document is not a JSON object",
        );
    }
}

#[test]
fn a_truncated_bundle_is_refused() {
    let (bundle, _, _) = valid_bundle();
    let text = serde_json::to_string_pretty(&bundle).unwrap();
    let dir = Workdir::new();
    // Cut where the collector's write might have stopped: in the middle of a certificate.
    let cut = &text[..text.len() * 2 / 3];
    let path = dir.write("exchange-authstate.json", cut);
    assert_refused(&path, "not valid JSON (truncated?)");
    // The same in UTF-16LE (a copy interrupted on a Windows share).
    let path = dir.write("utf16.json", TextEncoding::Utf16LeBom.encode(cut));
    assert_refused(&path, "not valid JSON (truncated?)");
}

#[test]
fn a_bundle_with_a_broken_field_names_it() {
    let (bundle, _, _) = valid_bundle();
    let dir = Workdir::new();
    type Edit = fn(&mut Value);
    let cases: Vec<(Edit, &str)> = vec![
        (
            |b| b["collected_at"] = json!("2030-06-15T12:00:00"),
            "collected_at \"2030-06-15T12:00:00\" is not an ISO-8601 date with offset",
        ),
        (
            |b| b["auth_config"]["NextCertificateThumbprint"] = json!("not a thumbprint"),
            "auth_config: NextCertificateThumbprint \"not a thumbprint\" is not a thumbprint",
        ),
        (
            |b| b["servers"][2]["name"] = json!("exch01"),
            "server exch01 appears twice",
        ),
        (
            |b| b["servers"][0]["certificates"][1]["raw_data"] = json!("not base64!"),
            "server EXCH01 certificate 2: raw_data is not valid base64",
        ),
    ];
    for (n, (edit, reason)) in cases.into_iter().enumerate() {
        let mut broken = bundle.clone();
        edit(&mut broken);
        let path = write_json(&dir, &format!("broken{n}.json"), &broken);
        assert_refused(&path, reason);
    }
}

// =============================================================================================
// All five output formats on one bundle
// =============================================================================================

#[test]
fn all_five_output_formats_agree_on_one_bundle() {
    let contoso = Contoso::new();
    let current = auth_expiring(now() + days(45));
    let org = contoso.organisation(
        AuthConfigExport::current(&current),
        [&[&current], &[&current], &[&current]],
    );
    let dir = Workdir::new();
    let path = org.write_bundle(&dir, "exchange-authstate.json", TextEncoding::Utf8);
    let run = |format: &str| check(&path, now(), &["-o", format]);

    // The JSON report is the reference: WARNING, 45 days, stage a next certificate.
    let json_output = run("json");
    json_output.assert_code(1);
    let report = report_of(&json_output);
    assert_eq!(report["status"], "WARNING");
    assert_eq!(report["recommended_action"], "stage_next");
    let days_left = metric(&report, "days_left").unwrap();
    assert_eq!(days_left, 45);
    let summary = report["summary"].as_str().unwrap();

    let nagios_output = run("nagios");
    nagios_output.assert_code(1);
    let nagios = nagios_output.nagios();
    assert_eq!(nagios.state, "WARNING");
    assert_eq!(nagios.summary, summary);
    assert_eq!(nagios.perf("days_left").int(), days_left);
    for metric_value in report["metrics"].as_array().unwrap() {
        let label = metric_value["label"].as_str().unwrap();
        assert_eq!(
            nagios.perf(label).int(),
            metric_value["value"].as_i64().unwrap(),
            "{label}"
        );
    }

    let xml_output = run("prtg-xml");
    xml_output.assert_code(0);
    let prtg = xml_output.xml();
    assert_eq!(prtg.child_text("error"), None);
    assert_eq!(prtg.children[0].child_text("channel"), Some("Days left"));
    assert_eq!(channel(&prtg, "Days left"), days_left);
    assert_eq!(channel(&prtg, "Status"), 1);
    assert_eq!(channel(&prtg, "Auth current days left"), 45);
    assert_eq!(channel(&prtg, "Servers missing Auth certificate"), 0);
    assert_eq!(
        prtg.child_text("text"),
        Some(format!("WARNING - {summary}").as_str())
    );

    let prtg_json_output = run("prtg-json");
    prtg_json_output.assert_code(0);
    let prtg_json = prtg_json_output.json();
    let results = prtg_json["prtg"]["result"].as_array().unwrap();
    let value_of = |name: &str| {
        results
            .iter()
            .find(|r| r["channel"] == name)
            .unwrap_or_else(|| panic!("no {name}"))["value"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(results[0]["channel"], "Days left");
    assert_eq!(value_of("Days left"), days_left);
    assert_eq!(value_of("Status"), 1);
    assert_eq!(prtg_json["prtg"]["text"], format!("WARNING - {summary}"));
    // The XML and JSON forms carry the same channels in the same order.
    let xml_channels: Vec<(String, i64)> = prtg
        .children_named("result")
        .map(|r| {
            (
                r.child_text("channel").unwrap().to_string(),
                r.child_text("value").unwrap().parse().unwrap(),
            )
        })
        .collect();
    let json_channels: Vec<(String, i64)> = results
        .iter()
        .map(|r| {
            (
                r["channel"].as_str().unwrap().to_string(),
                r["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(xml_channels, json_channels);

    let v2_output = run("prtg-v2");
    v2_output.assert_code(0);
    let v2 = v2_output.json();
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["status"], "warning");
    assert_eq!(v2["message"], format!("WARNING - {summary}"));
    let v2_channels: Vec<(String, i64)> = v2["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(v2_channels, xml_channels);
    let by_id = |id: i64| {
        v2["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["value"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(by_id(10), 1, "Status");
    assert_eq!(by_id(11), days_left, "Days left");
    assert_eq!(by_id(16), 45, "Auth current days left");
    assert_eq!(by_id(18), 0, "Servers missing Auth certificate");
}
