//! Threshold edges in certificate-file mode: certificates whose NotAfter lies exactly on and
//! around the thresholds, evaluated at a pinned `--now`, through the real binary.

mod common;

use common::{
    AUTH_CN, Nagios, Output, Run, TestCert, Workdir, anchor, auth_cert, auth_expiring, days,
    minutes_utc, rfc3339, seconds, selfsigned_expiring,
};
use time::OffsetDateTime;

/// Runs the check on one certificate (PEM) at [`anchor`] with extra options.
fn check_one(cert: &TestCert, options: &[&str]) -> Output {
    let dir = Workdir::new();
    let path = dir.write_pem("cert.pem", cert);
    Run::new()
        .certs([&path])
        .now(anchor())
        .args(options)
        .output()
}

/// What the nagios output of a single-certificate run must show.
struct Expect {
    code: i32,
    state: &'static str,
    days_left: i64,
    warn: &'static str,
    crit: &'static str,
}

/// Checks exit code, state, perfdata (value and thresholds as given) and the finding line of a
/// single-certificate run, and returns the parsed output for more checks.
fn assert_single(cert: &TestCert, kind: &str, output: &Output, expect: &Expect) -> Nagios {
    output.assert_code(expect.code);
    let nagios = output.nagios();
    let context = output.context();
    assert_eq!(nagios.state, expect.state, "{context}");

    let primary = nagios.perf("days_left");
    assert_eq!(primary.int(), expect.days_left, "{context}");
    assert_eq!(
        (primary.warn.as_str(), primary.crit.as_str()),
        (expect.warn, expect.crit),
        "thresholds are written back as given\n{context}"
    );
    let own = nagios.perf(&format!("{kind}_{}_days", cert.short()));
    assert_eq!(own.int(), expect.days_left, "{context}");
    assert_eq!(
        (own.warn.as_str(), own.crit.as_str()),
        (expect.warn, expect.crit),
        "{context}"
    );
    assert_eq!(nagios.perf("certificates").int(), 1, "{context}");
    let min_label = match kind {
        "auth" => "auth_min_days",
        _ => "selfsigned_min_days",
    };
    assert_eq!(nagios.perf(min_label).int(), expect.days_left, "{context}");

    let findings = nagios.finding_lines();
    assert_eq!(findings.len(), 1, "one finding per certificate\n{context}");
    assert!(
        findings[0].starts_with(&format!("{}: ", expect.state)),
        "{context}"
    );
    assert!(
        findings[0].contains(cert.short().as_str()) && findings[0].contains(&cert.subject()),
        "the finding names the certificate\n{context}"
    );
    assert!(
        findings[0].contains(&minutes_utc(cert.not_after)),
        "the finding gives the expiry\n{context}"
    );
    nagios
}

fn auth_expect(code: i32, state: &'static str, days_left: i64) -> Expect {
    Expect {
        code,
        state,
        days_left,
        warn: "60:",
        crit: "30:",
    }
}

fn selfsigned_expect(code: i32, state: &'static str, days_left: i64) -> Expect {
    Expect {
        code,
        state,
        days_left,
        warn: "30:",
        crit: "14:",
    }
}

/// An Auth Certificate expiring `offset` after the anchor, checked with the defaults.
fn auth_case(offset: time::Duration, expect: Expect) -> (TestCert, Nagios) {
    let cert = auth_expiring(anchor() + offset);
    let output = check_one(&cert, &[]);
    let nagios = assert_single(&cert, "auth", &output, &expect);
    (cert, nagios)
}

// --- Auth Certificate, default -w 60: -c 30: -----------------------------------------------

#[test]
fn auth_61_days_is_ok() {
    let (cert, nagios) = auth_case(days(61), auth_expect(0, "OK", 61));
    assert_eq!(
        nagios.summary,
        format!(
            "1 certificate OK, Auth Certificate {} expires in 61 days (2030-08-15)",
            cert.short()
        )
    );
}

#[test]
fn auth_exactly_60_days_is_ok_inclusive_edge() {
    let (cert, nagios) = auth_case(days(60), auth_expect(0, "OK", 60));
    assert_eq!(
        nagios.long,
        vec![format!(
            "OK: Auth Certificate {} (CN={AUTH_CN}) expires in 60 days (2030-08-14 12:00 UTC) [thumbprint {}]",
            cert.short(),
            cert.thumbprint()
        )]
    );
}

#[test]
fn auth_one_second_under_60_days_is_warning() {
    // 59 days 23:59:59 left: whole days are rounded down.
    auth_case(days(60) - seconds(1), auth_expect(1, "WARNING", 59));
}

#[test]
fn auth_59_days_is_warning() {
    let (cert, nagios) = auth_case(days(59), auth_expect(1, "WARNING", 59));
    let message = format!(
        "Auth Certificate {} (CN={AUTH_CN}) expires in 59 days (2030-08-13 12:00 UTC)",
        cert.short()
    );
    assert_eq!(nagios.summary, message);
    assert_eq!(
        nagios.long,
        vec![format!(
            "WARNING: {message} [thumbprint {}]",
            cert.thumbprint()
        )]
    );
}

#[test]
fn auth_exactly_30_days_is_warning_inclusive_edge() {
    auth_case(days(30), auth_expect(1, "WARNING", 30));
}

#[test]
fn auth_one_second_under_30_days_is_critical() {
    auth_case(days(30) - seconds(1), auth_expect(2, "CRITICAL", 29));
}

#[test]
fn auth_29_days_is_critical() {
    let (cert, nagios) = auth_case(days(29), auth_expect(2, "CRITICAL", 29));
    assert_eq!(
        nagios.summary,
        format!(
            "Auth Certificate {} (CN={AUTH_CN}) expires in 29 days (2030-07-14 12:00 UTC)",
            cert.short()
        )
    );
}

#[test]
fn auth_expiring_at_this_very_second_is_critical_with_0_days() {
    // NotAfter == now: still valid (not expired), no whole day left.
    let (_, nagios) = auth_case(days(0), auth_expect(2, "CRITICAL", 0));
    assert!(
        nagios.summary.contains("expires in less than a day"),
        "{nagios:?}"
    );
}

#[test]
fn auth_expiring_later_today_is_critical_with_0_days() {
    let (_, nagios) = auth_case(seconds(12 * 3600), auth_expect(2, "CRITICAL", 0));
    assert!(
        nagios.summary.contains("expires in less than a day"),
        "{nagios:?}"
    );
}

#[test]
fn auth_expired_one_second_ago_is_critical_with_minus_1_days() {
    let (cert, nagios) = auth_case(-seconds(1), auth_expect(2, "CRITICAL", -1));
    assert!(
        nagios.summary.contains(" expired ") && !nagios.summary.contains("expires in"),
        "{nagios:?}"
    );
    assert!(nagios.long[0].starts_with("CRITICAL: Auth Certificate"));

    // The JSON report says why: cert.expired, days_left -1, seconds_left -1.
    let json = check_one(&cert, &["-o", "json"]);
    json.assert_code(2);
    let report = json.json();
    assert_eq!(report["status"], "CRITICAL");
    assert_eq!(report["findings"][0]["code"], "cert.expired");
    assert_eq!(report["findings"][0]["severity"], "critical");
    assert_eq!(report["certificates"][0]["days_left"], -1);
    assert_eq!(report["certificates"][0]["seconds_left"], -1);
    assert_eq!(report["certificates"][0]["state"], "critical");
}

#[test]
fn expired_is_critical_even_when_thresholds_would_not_alert() {
    // '~:' never alerts; an expired certificate is CRITICAL anyway.
    let cert = auth_expiring(anchor() - days(3));
    let output = check_one(&cert, &["-w", "~:", "-c", "~:"]);
    let nagios = assert_single(
        &cert,
        "auth",
        &output,
        &Expect {
            code: 2,
            state: "CRITICAL",
            days_left: -3,
            warn: "~:",
            crit: "~:",
        },
    );
    assert!(nagios.summary.contains(" expired "), "{nagios:?}");
}

#[test]
fn auth_not_yet_valid_is_warning() {
    let not_before = anchor() + days(1);
    let cert = auth_cert(not_before, not_before + days(5 * 365));
    let output = check_one(&cert, &[]);
    output.assert_code(1);
    let nagios = output.nagios();
    assert_eq!(nagios.state, "WARNING");
    let message = format!(
        "Auth Certificate {} (CN={AUTH_CN}) is not valid before {}",
        cert.short(),
        minutes_utc(not_before)
    );
    assert_eq!(nagios.summary, message);
    assert_eq!(
        nagios.long,
        vec![format!(
            "WARNING: {message} [thumbprint {}]",
            cert.thumbprint()
        )]
    );
    assert_eq!(nagios.perf("days_left").int(), 5 * 365 + 1);

    let json = check_one(&cert, &["-o", "json"]);
    json.assert_code(1);
    assert_eq!(json.json()["findings"][0]["code"], "cert.not_yet_valid");
}

#[test]
fn not_yet_valid_and_expiring_lists_critical_before_warning() {
    let cert = auth_cert(anchor() + days(1), anchor() + days(10));
    let output = check_one(&cert, &[]);
    output.assert_code(2);
    let nagios = output.nagios();
    assert_eq!(nagios.state, "CRITICAL");
    assert_eq!(nagios.long.len(), 2, "{}", output.context());
    assert!(
        nagios.long[0].starts_with("CRITICAL: ") && nagios.long[0].contains("expires in 10 days")
    );
    assert!(
        nagios.long[1].starts_with("WARNING: ") && nagios.long[1].contains("is not valid before")
    );
    // The summary shows only the worst findings.
    assert!(!nagios.summary.contains("not valid before"), "{nagios:?}");
}

#[test]
fn now_with_an_offset_is_the_same_instant() {
    let cert = auth_expiring(anchor() + days(60));
    let dir = Workdir::new();
    let path = dir.write_pem("auth.pem", &cert);
    // 14:00+02:00 is 12:00Z: exactly 60 days left, OK.
    let output = Run::new()
        .certs([&path])
        .args(["--now", "2030-06-15T14:00:00+02:00", "-o", "json"])
        .output();
    output.assert_code(0);
    let report = output.json();
    assert_eq!(report["checked_at"], rfc3339(anchor()));
    assert_eq!(report["certificates"][0]["days_left"], 60);
    // One second later it is 59 days: WARNING.
    let later = Run::new()
        .certs([&path])
        .args(["--now", "2030-06-15T14:00:01+02:00"])
        .output();
    later.assert_code(1);
    assert_eq!(later.nagios().perf("days_left").int(), 59);
}

// --- self-signed certificates, default --selfsigned-warning 30: --selfsigned-critical 14: ---

fn selfsigned_case(days_left: i64, expect: Expect) -> Nagios {
    let cert = selfsigned_expiring("EXCH01", anchor() + days(days_left));
    let output = check_one(&cert, &[]);
    assert_single(&cert, "selfsigned", &output, &expect)
}

#[test]
fn selfsigned_31_days_is_ok() {
    let nagios = selfsigned_case(31, selfsigned_expect(0, "OK", 31));
    assert!(
        nagios
            .summary
            .starts_with("1 certificate OK, self-signed certificate "),
        "{nagios:?}"
    );
}

#[test]
fn selfsigned_exactly_30_days_is_ok_inclusive_edge() {
    selfsigned_case(30, selfsigned_expect(0, "OK", 30));
}

#[test]
fn selfsigned_29_days_is_warning() {
    let nagios = selfsigned_case(29, selfsigned_expect(1, "WARNING", 29));
    assert!(
        nagios.summary.starts_with("self-signed certificate ")
            && nagios.summary.contains("(CN=EXCH01) expires in 29 days"),
        "{nagios:?}"
    );
}

#[test]
fn selfsigned_15_days_is_warning() {
    selfsigned_case(15, selfsigned_expect(1, "WARNING", 15));
}

#[test]
fn selfsigned_exactly_14_days_is_warning_inclusive_edge() {
    selfsigned_case(14, selfsigned_expect(1, "WARNING", 14));
}

#[test]
fn selfsigned_13_days_is_critical() {
    selfsigned_case(13, selfsigned_expect(2, "CRITICAL", 13));
}

#[test]
fn selfsigned_thresholds_do_not_apply_to_the_auth_certificate() {
    // 45 days: OK for a self-signed certificate, WARNING for the Auth Certificate.
    let dir = Workdir::new();
    let auth = auth_expiring(anchor() + days(45));
    let transport = selfsigned_expiring("EXCH01", anchor() + days(45));
    let output = Run::new()
        .certs([
            dir.write_pem("auth.pem", &auth),
            dir.write_pem("t.pem", &transport),
        ])
        .now(anchor())
        .output();
    output.assert_code(1);
    let nagios = output.nagios();
    assert_eq!(nagios.long.len(), 2);
    assert!(
        nagios.long[0].starts_with("WARNING: Auth Certificate"),
        "{nagios:?}"
    );
    assert!(
        nagios.long[1].starts_with("OK: self-signed certificate"),
        "{nagios:?}"
    );
    let own = nagios.perf(&format!("selfsigned_{}_days", transport.short()));
    assert_eq!((own.warn.as_str(), own.crit.as_str()), ("30:", "14:"));
    assert_eq!(nagios.perf("days_left").warn, "60:");
    assert_eq!(nagios.perf("certificates").int(), 2);
}

#[test]
fn custom_selfsigned_ranges_leave_the_auth_ranges_alone() {
    let dir = Workdir::new();
    let auth = auth_expiring(anchor() + days(100));
    let transport = selfsigned_expiring("EXCH01", anchor() + days(44));
    let output = Run::new()
        .certs([
            dir.write_pem("auth.pem", &auth),
            dir.write_pem("t.pem", &transport),
        ])
        .now(anchor())
        .args([
            "--selfsigned-warning",
            "45:",
            "--selfsigned-critical",
            "20:",
        ])
        .output();
    output.assert_code(1);
    let nagios = output.nagios();
    assert!(
        nagios.long[0].starts_with("WARNING: self-signed certificate"),
        "{nagios:?}"
    );
    let min = nagios.perf("selfsigned_min_days");
    assert_eq!(
        (min.int(), min.warn.as_str(), min.crit.as_str()),
        (44, "45:", "20:")
    );
    let primary = nagios.perf("days_left");
    assert_eq!(
        (primary.int(), primary.warn.as_str(), primary.crit.as_str()),
        (100, "60:", "30:")
    );
}

#[test]
fn worst_first_with_one_certificate_per_state() {
    let dir = Workdir::new();
    let ok = auth_expiring(anchor() + days(400));
    let warning = selfsigned_expiring("EXCH02", anchor() + days(20));
    let critical = selfsigned_expiring("EXCH03", anchor() + days(5));
    let expired = selfsigned_expiring("WMSvc-SHA2-EXCH01", anchor() - days(2));
    let output = Run::new()
        .certs([
            dir.write_pem("ok.pem", &ok),
            dir.write_pem("warning.pem", &warning),
            dir.write_pem("critical.pem", &critical),
            dir.write_pem("expired.pem", &expired),
        ])
        .now(anchor())
        .output();
    output.assert_code(2);
    let nagios = output.nagios();
    let prefixes: Vec<&str> = nagios
        .long
        .iter()
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(
        prefixes,
        ["CRITICAL", "CRITICAL", "WARNING", "OK"],
        "{}",
        output.context()
    );
    // Both CRITICAL findings are in the summary, the WARNING one is not.
    assert!(nagios.summary.contains(&critical.short()), "{nagios:?}");
    assert!(nagios.summary.contains(&expired.short()), "{nagios:?}");
    assert!(!nagios.summary.contains(&warning.short()), "{nagios:?}");
    assert_eq!(nagios.perf("selfsigned_min_days").int(), -2);
    assert_eq!(nagios.perf("days_left").int(), 400);
    assert_eq!(nagios.perf("certificates").int(), 4);
}

// --- custom ranges -------------------------------------------------------------------------

/// The Auth Certificate with `days_left` whole days left, checked with `-w warn -c crit`:
/// exit code and perfdata thresholds echoed exactly.
fn auth_with_ranges(days_left: i64, warn: &'static str, crit: &'static str) -> (i64, Nagios) {
    let cert = auth_expiring(anchor() + days(days_left));
    let output = check_one(&cert, &["-w", warn, "-c", crit]);
    let nagios = output.nagios();
    let primary = nagios.perf("days_left");
    assert_eq!(primary.int(), days_left, "{}", output.context());
    assert_eq!(
        (primary.warn.as_str(), primary.crit.as_str()),
        (warn, crit),
        "thresholds written back as given\n{}",
        output.context()
    );
    let expected_state = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][output.code as usize];
    assert_eq!(nagios.state, expected_state, "{}", output.context());
    (output.code as i64, nagios)
}

fn assert_codes(warn: &'static str, crit: &'static str, cases: &[(i64, i64)]) {
    for &(days_left, code) in cases {
        let (actual, nagios) = auth_with_ranges(days_left, warn, crit);
        assert_eq!(
            actual, code,
            "-w {warn} -c {crit} with {days_left} days left: {nagios:?}"
        );
    }
}

#[test]
fn plain_number_ranges_alert_outside_zero_to_n() {
    // -w 10 -c 5: OK inside 0..5 (edges inclusive), CRITICAL above 5.
    assert_codes("10", "5", &[(3, 0), (5, 0), (6, 2), (10, 2), (11, 2)]);
    // -w 10 -c 20: OK up to 10, WARNING 11..20, CRITICAL above 20.
    assert_codes("10", "20", &[(0, 0), (10, 0), (11, 1), (20, 1), (21, 2)]);
}

#[test]
fn tilde_ranges_alert_above_the_end() {
    assert_codes(
        "~:10",
        "~:20",
        &[(0, 0), (10, 0), (11, 1), (20, 1), (21, 2)],
    );
}

#[test]
fn at_ranges_alert_inside_inclusive() {
    assert_codes(
        "@10:20",
        "@0:5",
        &[(0, 2), (5, 2), (6, 0), (9, 0), (10, 1), (20, 1), (21, 0)],
    );
}

#[test]
fn decimal_ranges_compare_whole_days_left() {
    assert_codes("60.5:", "30.5:", &[(61, 0), (60, 1), (31, 1), (30, 2)]);
}

#[test]
fn decimal_range_reaches_perfdata_not_prtg_limits() {
    let cert = auth_expiring(anchor() + days(61));
    let nagios = check_one(&cert, &["-w", "60.5:", "-c", "30.5:"]).nagios();
    assert_eq!(nagios.perf("days_left").warn, "60.5:");
    assert_eq!(nagios.perf("days_left").crit, "30.5:");
    // PRTG keeps a channel's first limits, and days left may sit below -w while all is well:
    // the Status channel carries the verdict instead.
    let output = check_one(&cert, &["-w", "60.5:", "-c", "30.5:", "-o", "prtg-xml"]);
    output.assert_code(0);
    let xml = output.xml();
    let first = xml.child("result").expect("a result");
    assert_eq!(first.child_text("channel"), Some("Days left"));
    assert_eq!(first.child_text("value"), Some("61"));
    assert!(first.child("limitmode").is_none());
    assert!(first.child("limitminwarning").is_none());
}

#[test]
fn negative_range_edges_are_accepted() {
    // '-5:' must not be taken for an option; 2 days left lies inside both ranges.
    let cert = auth_expiring(anchor() + days(2));
    let output = check_one(&cert, &["-w", "-5:", "-c", "-10:"]);
    output.assert_code(0);
    let primary = output.nagios().perf("days_left").clone();
    assert_eq!(
        (primary.warn.as_str(), primary.crit.as_str()),
        ("-5:", "-10:")
    );
}

// --- invalid ranges --------------------------------------------------------------------------

fn assert_invalid_range(options: &[&str], reason: &str) {
    let cert = auth_expiring(anchor() + days(100));
    let output = check_one(&cert, options);
    output.assert_unknown(reason);
    let nagios = output.nagios();
    assert_eq!(nagios.state, "UNKNOWN");
    assert!(nagios.perfdata.is_empty(), "{}", output.context());
    assert_eq!(
        nagios.long,
        vec![format!("UNKNOWN: {}", nagios.summary)],
        "one reason, once\n{}",
        output.context()
    );
}

#[test]
fn invalid_warning_range_not_a_number() {
    assert_invalid_range(
        &["-w", "abc"],
        "invalid -w/-c: threshold range 'abc': 'abc' is not a number",
    );
}

#[test]
fn invalid_warning_range_start_after_end() {
    assert_invalid_range(
        &["-w", "20:10"],
        "invalid -w/-c: threshold range '20:10': start is greater than end",
    );
}

#[test]
fn invalid_warning_range_empty() {
    assert_invalid_range(&["-w", ""], "invalid -w/-c: empty threshold range");
    assert_invalid_range(&["-w", "  "], "invalid -w/-c: empty threshold range");
}

#[test]
fn invalid_critical_and_selfsigned_ranges() {
    assert_invalid_range(&["-c", "10:x"], "invalid -w/-c: threshold range '10:x'");
    assert_invalid_range(&["-c", "@"], "invalid -w/-c: threshold range '@'");
    assert_invalid_range(
        &["--selfsigned-warning", "abc"],
        "invalid --selfsigned-warning/--selfsigned-critical: threshold range 'abc'",
    );
    assert_invalid_range(
        &["--selfsigned-critical", "NaN"],
        "invalid --selfsigned-warning/--selfsigned-critical: threshold range 'NaN'",
    );
}

#[test]
fn invalid_range_in_prtg_and_json_outputs() {
    let cert = auth_expiring(anchor() + days(100));
    let xml = check_one(&cert, &["-w", "20:10", "-o", "prtg-xml"]);
    xml.assert_code(0);
    let document = xml.xml();
    assert_eq!(document.name, "prtg");
    assert_eq!(document.child_text("error"), Some("1"));
    assert!(document.child("result").is_none());
    assert!(
        document
            .child_text("text")
            .unwrap()
            .contains("threshold range '20:10': start is greater than end"),
        "{}",
        xml.context()
    );

    let json = check_one(&cert, &["-w", "20:10", "-o", "json"]);
    json.assert_code(3);
    let report = json.json();
    assert_eq!(report["status"], "UNKNOWN");
    assert_eq!(report["exit_code"], 3);
    assert_eq!(report["findings"][0]["code"], "input.invalid");
    assert_eq!(report["certificates"], serde_json::json!([]));
}

/// Times in messages are those of the certificate, at minute precision, in UTC.
#[test]
fn expiry_in_messages_is_utc_to_the_minute() {
    let not_after: OffsetDateTime = anchor() + days(59) + seconds(3 * 3600 + 7 * 60 + 42);
    let cert = auth_expiring(not_after);
    let output = check_one(&cert, &[]);
    output.assert_code(1);
    let nagios = output.nagios();
    assert!(
        nagios
            .summary
            .ends_with("expires in 59 days (2030-08-13 15:07 UTC)"),
        "{nagios:?}"
    );
}
