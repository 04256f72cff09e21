//! `--probe-servers` through the binary: AuthConfig and the servers from a real slapd
//! (tests/common/ldap.rs), and every Mailbox server's own Auth metadata endpoint on a loopback
//! address of its own, answering from its store as Exchange does (tests/common/probe.rs): one
//! server that lacks the current certificate answers with an error, one never answers.
//!
//! One description of an organisation is read three ways (the collector's bundle, AD plus
//! probes, and a bundle plus probes) and the verdicts compared. Every test skips with a note
//! when slapd is not installed (CI installs it: .ci/run).

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use common::exchange::{
    AuthConfigExport, Organisation, Store, StoreCert, TextEncoding, report_findings,
};
use common::ldap::{DateForm, DirectoryTree, MONITOR_DN, MONITOR_PASSWORD, Security, Slapd};
use common::probe::{self, ProbedServers};
use common::{Output, Run, TestCert, Workdir, anchor, auth_expiring, days, selfsigned_expiring};

const PASSWORD_VAR: &str = "CHECK_PROBE_LDAP_PASSWORD";

/// What differs between the organisations of the tests.
#[derive(Clone)]
struct Description {
    current_days: i64,
    /// The next certificate's effective date, days from now, when one is staged.
    next_effective_in: Option<i64>,
    /// EXCH02's transport certificate's days left.
    transport_days: i64,
    /// Servers (by index) whose store lacks the current certificate.
    lacking_current: Vec<usize>,
    /// Servers (by index) that cannot be reached.
    unreachable: Vec<usize>,
    hybrid: bool,
    /// OAuth to Exchange Online through the dedicated hybrid application (AuthServer and
    /// partner application objects), without a HybridConfiguration object.
    hybrid_oauth: bool,
    /// AuthConfig last changed this many hours ago.
    changed_hours_ago: i64,
}

impl Default for Description {
    fn default() -> Description {
        Description {
            current_days: 1000,
            next_effective_in: None,
            transport_days: 1500,
            lacking_current: Vec::new(),
            unreachable: Vec::new(),
            hybrid: false,
            hybrid_oauth: false,
            changed_hours_ago: 24 * 90,
        }
    }
}

/// EXCH01 and EXCH02 in the default site, EXCH03 in Site-B, EDGE1 an Edge server; every
/// Mailbox server holds the current certificate (and the next one, when staged) and its own
/// transport certificate, bound to SMTP.
fn organisation(description: &Description) -> Organisation {
    let now = anchor();
    let current = auth_expiring(now + days(description.current_days));
    let next = auth_expiring(now + days(5 * 365 - 20));
    let mut config = AuthConfigExport::current(&current)
        .changed(now - common::seconds(3600 * description.changed_hours_ago));
    if let Some(effective) = description.next_effective_in {
        config = config.next(&next, now + days(effective));
    }
    let mut org = Organisation::new(now - common::seconds(3600))
        .auth_config(config)
        .hybrid(Some(description.hybrid));
    if description.hybrid_oauth {
        org = org.hybrid_oauth(true, true);
    }
    let servers = common::exchange::servers_in_two_sites();
    for (index, info) in servers.into_iter().enumerate() {
        let left = if index == 1 {
            description.transport_days
        } else {
            1500
        };
        let transport: TestCert = selfsigned_expiring(&info.name, now + days(left));
        let mut store = vec![StoreCert::new(&transport, &["SMTP"])];
        if !info.is_edge {
            if description.next_effective_in.is_some() {
                store.insert(0, StoreCert::new(&next, &[]));
            }
            if !description.lacking_current.contains(&index) {
                store.insert(0, StoreCert::new(&current, &[]));
            }
        }
        let store = if description.unreachable.contains(&index) {
            Store::Unreachable("WinRM: the server did not answer".into())
        } else {
            Store::Certificates(store)
        };
        org = org.server(info, store).internal_transport(&transport);
    }
    org
}

/// The directory of `org` on a real slapd; `None` (the test skips) without slapd.
fn directory(org: &Organisation) -> Option<Slapd> {
    Slapd::start(
        &DirectoryTree::of(org, DateForm::GeneralizedTime),
        Security::Tls,
    )
}

/// `--ca-file` trusting the DC and the servers.
fn trusted(dir: &Workdir, slapd: &Slapd, probes: &ProbedServers) -> PathBuf {
    let mut pem = std::fs::read_to_string(&slapd.ca_file).unwrap();
    pem.push_str(&std::fs::read_to_string(&probes.ca_file).unwrap());
    dir.write("trusted.pem", pem)
}

/// `--ldap ... --probe-servers` against `org`, as JSON.
fn ldap_and_probes(org: &Organisation, extra: &[&str]) -> Option<Output> {
    ldap_and_probes_serving(org, org, extra)
}

/// [`ldap_and_probes`] with AD as `org` says and the servers answering as `served` says.
fn ldap_and_probes_serving(
    org: &Organisation,
    served: &Organisation,
    extra: &[&str],
) -> Option<Output> {
    let slapd = directory(org)?;
    let dir = Workdir::new();
    let probes = probe::serve(served, anchor(), &dir);
    Some(
        Run::new()
            .args(["--ldap", &slapd.ldaps_url(), "--ldap-user", MONITOR_DN])
            .args(["--ldap-password-env", PASSWORD_VAR])
            .env(PASSWORD_VAR, MONITOR_PASSWORD)
            .args(probes.args())
            .arg("--ca-file")
            .arg(trusted(&dir, &slapd, &probes))
            .args(["--output", "json", "-t", "5"])
            .args(extra)
            .now(anchor())
            .timeout(Duration::from_secs(20))
            .output(),
    )
}

fn codes(output: &Output) -> Vec<String> {
    report_findings(&output.json())
        .into_iter()
        .map(|f| f.code)
        .collect()
}

fn finding(output: &Output, code: &str) -> common::exchange::ReportFinding {
    report_findings(&output.json())
        .into_iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code}\n{}", output.context()))
}

/// Healthy, mid-rotation: no --metadata, yet the current certificate is judged (each server
/// publishes it), every Mailbox server counts as holding it, the Edge server is not asked.
#[test]
fn healthy_organisation_from_ad_and_probes() {
    let org = organisation(&Description {
        next_effective_in: Some(10),
        ..Description::default()
    });
    let Some(output) = ldap_and_probes(&org, &[]) else {
        return;
    };
    output.assert_code(0);
    let report = output.json();
    let servers = report["servers"].as_array().unwrap();
    for server in &servers[..3] {
        assert_eq!(server["inventory"]["status"], "probed", "{server}");
        assert_eq!(
            server["inventory"]["published"].as_array().unwrap().len(),
            1,
            "{server}"
        );
    }
    assert_eq!(servers[3]["inventory"]["status"], "not_collected");
    let current = org.auth_config.as_ref().unwrap().current.clone();
    let entry = report["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["thumbprint"] == current.as_str())
        .unwrap_or_else(|| panic!("the current certificate is not in the report\n{report}"));
    assert!(entry["days_left"].as_i64().unwrap() > 900, "{entry}");
    // The servers are required now (a run without probes lists them as not required).
    assert_eq!(servers[0]["requires_auth_certificate"], true);
    assert!(codes(&output).contains(&"servers.multiple_sites".to_string()));
}

/// EXCH02's store lacks the current certificate: its endpoint answers HTTP 500, as Exchange's
/// does, and the verdict names it, as the bundle's does.
#[test]
fn a_server_without_the_certificate_answers_with_an_error() {
    let org = organisation(&Description {
        lacking_current: vec![1],
        ..Description::default()
    });
    let Some(output) = ldap_and_probes(&org, &[]) else {
        return;
    };
    output.assert_code(2);
    let missing = finding(&output, "auth.current.missing_on_servers");
    assert!(
        missing
            .message
            .contains("missing on 1 of 3 servers: EXCH02"),
        "{}",
        missing.message
    );
    let refused = finding(&output, "servers.probe_refused");
    assert_eq!(refused.server.as_deref(), Some("EXCH02"));
    assert!(refused.message.contains("HTTP 500"), "{}", refused.message);
}

/// EXCH03 never answers: UNKNOWN for that server, by -t, with the reason; warning when
/// `--unreachable-state warning` says so.
#[test]
fn a_server_that_never_answers_is_unknown_within_the_timeout() {
    let org = organisation(&Description {
        unreachable: vec![2],
        ..Description::default()
    });
    let Some(output) = ldap_and_probes(&org, &[]) else {
        return;
    };
    output.assert_code(3);
    assert!(
        output.elapsed < Duration::from_secs(5),
        "{:?}",
        output.elapsed
    );
    let unreachable = finding(&output, "servers.unreachable");
    assert_eq!(unreachable.server.as_deref(), Some("EXCH03"));
    assert!(
        unreachable
            .message
            .contains("https://exch03.contoso.lab/autodiscover/metadata/json/1"),
        "{}",
        unreachable.message
    );
    let Some(output) = ldap_and_probes(&org, &["--unreachable-state", "warning"]) else {
        return;
    };
    output.assert_code(1);
}

/// Right after a rotation no server publishes the new current certificate yet (Exchange
/// caches the document up to 12 h): WARNING, not CRITICAL; a day later it is CRITICAL.
#[test]
fn a_fresh_rotation_is_not_yet_published() {
    for (hours_ago, expected) in [(2, 1), (30, 2)] {
        let description = Description {
            changed_hours_ago: hours_ago,
            ..Description::default()
        };
        let org = organisation(&description);
        // Every server still serves the document of the certificate before: the previous one.
        let mut served = org.clone();
        let old = auth_expiring(anchor() + days(30));
        for server in &mut served.servers {
            if let Store::Certificates(store) = &mut server.store {
                store.push(StoreCert::new(&old, &[]));
            }
        }
        let config = served.auth_config.as_mut().unwrap();
        config.current = old.thumbprint();
        let Some(output) = ldap_and_probes_serving(&org, &served, &[]) else {
            return;
        };
        output.assert_code(expected);
        let not_found = finding(&output, "auth.current.not_found");
        assert_eq!(
            not_found.severity,
            if expected == 1 { "warning" } else { "critical" },
            "{}",
            output.context()
        );
        assert!(codes(&output).contains(&"servers.probe_unconfirmed".to_string()));
    }
}

/// A bundle in which EXCH02 could not be queried, plus probes: the probe answers for it.
#[test]
fn probes_complete_a_bundle() {
    let org = organisation(&Description {
        unreachable: vec![1],
        ..Description::default()
    });
    let dir = Workdir::new();
    let bundle = org.write_bundle(&dir, "bundle.json", TextEncoding::Utf8);
    let before = Run::new()
        .arg("--bundle")
        .arg(&bundle)
        .args(["--output", "json"])
        .now(anchor())
        .output();
    before.assert_code(3);
    // The server is back: its endpoint answers from a store that holds the certificate.
    let mut live = org.clone();
    live.servers[1].store = org.servers[0].store.clone();
    let probes = probe::serve(&live, anchor(), &dir);
    let after = Run::new()
        .arg("--bundle")
        .arg(&bundle)
        .args(probes.args())
        .arg("--ca-file")
        .arg(&probes.ca_file)
        .args(["--output", "json"])
        .now(anchor())
        .output();
    after.assert_code(0);
    let report = after.json();
    assert_eq!(report["servers"][0]["inventory"]["status"], "known");
    assert_eq!(report["servers"][1]["inventory"]["status"], "probed");
}

/// The servers from a `Get-ExchangeServer` export and AuthConfig from `Get-AuthConfig`, no store
/// exports: the probes read the stores, and EXCH02, lacking the current certificate, is named.
#[test]
fn probes_with_the_shell_exports() {
    let org = organisation(&Description {
        lacking_current: vec![1],
        ..Description::default()
    });
    let dir = Workdir::new();
    let exports = org.write_exports(&dir, common::exchange::ExportFormat::CliXml);
    let without_stores: Vec<&String> = exports
        .chunks(2)
        .filter(|pair| pair[0] != "--certificates")
        .flatten()
        .collect();
    assert_eq!(without_stores.len(), 4, "{exports:?}");
    let probes = probe::serve(&org, anchor(), &dir);
    let output = Run::new()
        .args(without_stores)
        .args(probes.args())
        .arg("--ca-file")
        .arg(&probes.ca_file)
        .args(["--output", "json"])
        .now(anchor())
        .output();
    output.assert_code(2);
    let missing = finding(&output, "auth.current.missing_on_servers");
    assert!(
        missing
            .message
            .contains("missing on 1 of 3 servers: EXCH02"),
        "{}",
        output.context()
    );
}

/// One description, read from the collector's bundle and from AD plus probes: the same exit
/// code and the same alerts. Documented differences (GUIDE.md, per-server probes): a probe
/// never sees the next certificate or any certificate but the published Auth ones, so findings
/// about what else a store holds are the bundle's alone; the AD run judges the transport
/// certificates from msExchServerInternalTLSCert as certificates outside a store (`cert.*`
/// where the bundle says `selfsigned.*`); and only the probes say how each server answered
/// (`servers.probe_*`, information).
#[test]
fn ad_and_probes_judge_as_the_bundle_does() {
    let cases = [
        Description::default(),
        Description {
            next_effective_in: Some(10),
            ..Description::default()
        },
        Description {
            current_days: 20,
            ..Description::default()
        },
        Description {
            next_effective_in: Some(-3),
            ..Description::default()
        },
        Description {
            lacking_current: vec![1],
            ..Description::default()
        },
        Description {
            lacking_current: vec![0, 1, 2],
            ..Description::default()
        },
        Description {
            unreachable: vec![2],
            ..Description::default()
        },
        Description {
            transport_days: 10,
            ..Description::default()
        },
        // Hybrid, and the current certificate made five days ago: rerun the HCW.
        Description {
            hybrid: true,
            current_days: 5 * 365 - 5,
            changed_hours_ago: 24 * 5,
            ..Description::default()
        },
        Description {
            hybrid: true,
            ..Description::default()
        },
        Description {
            hybrid_oauth: true,
            current_days: 5 * 365 - 5,
            changed_hours_ago: 24 * 5,
            ..Description::default()
        },
    ];
    let mut seen = BTreeSet::new();
    for description in cases {
        let org = organisation(&description);
        let Some(from_ad) = ldap_and_probes(&org, &[]) else {
            return;
        };
        let dir = Workdir::new();
        let bundle = org.write_bundle(&dir, "bundle.json", TextEncoding::Utf8);
        let from_bundle = Run::new()
            .arg("--bundle")
            .arg(&bundle)
            .args(["--output", "json"])
            .now(anchor())
            .output();
        let context = format!(
            "bundle:\n{}\nAD and probes:\n{}",
            from_bundle.context(),
            from_ad.context()
        );
        assert_eq!(from_bundle.code, from_ad.code, "{context}");
        let agreed = alerts(&from_bundle);
        assert_eq!(agreed, alerts(&from_ad), "{context}");
        seen.extend(agreed.into_iter().map(|(_, code, _)| code));
    }
    // The cases reach every kind of alert they were written for.
    let expected = [
        "auth.current.expiring",
        "auth.current.missing_on_servers",
        "auth.current.not_found",
        "auth.next.not_staged",
        "auth.next.overdue",
        "cert.expiring",
        "hybrid.detected",
        "servers.unreachable",
    ];
    let seen: Vec<&str> = seen.iter().map(String::as_str).collect();
    assert_eq!(seen, expected);
}

/// (severity, code, server) of every finding that is not information, with the documented
/// differences folded.
fn alerts(output: &Output) -> BTreeSet<(String, String, Option<String>)> {
    report_findings(&output.json())
        .into_iter()
        .filter(|f| f.severity != "info" && f.severity != "ok")
        .map(|f| {
            let code = f.code.replace("selfsigned.", "cert.");
            // A certificate outside a store names no server; the finding text does.
            let server = if code.starts_with("cert.") {
                None
            } else {
                f.server
            };
            (f.severity, code, server)
        })
        .collect()
}

#[test]
fn option_errors() {
    common::run(&["--probe-servers", "--cert", "samples/auth-certificate.pem"])
        .assert_unknown("--probe-servers needs the servers");
    common::run(&[
        "--bundle",
        "samples/bundle-contoso.json",
        "--probe-servers",
        "--resolve",
        "exch01.contoso.lab",
    ])
    .assert_unknown("expected NAME=ADDRESS[:PORT]");
}

/// Not a test: `cargo test --release --test cli_probe -- --ignored --nocapture bench` prints the
/// whole-process wall time and peak RSS (GNU time) of 50 Mailbox servers read from slapd and
/// probed, each endpoint answering after 100 ms (and at once), against the collector's bundle
/// of the same organisation; BENCH_BIN measures another binary.
#[test]
#[ignore]
fn bench_50_servers_probed_against_bundle() {
    let now = anchor();
    let current = auth_expiring(now + days(1000));
    let org = common::exchange::mailboxes_holding(
        &current,
        AuthConfigExport::current(&current).changed(now - days(90)),
        50,
    );
    let Some(slapd) = directory(&org) else {
        return;
    };
    let dir = Workdir::new();
    let bundle = org.write_bundle(&dir, "bundle.json", TextEncoding::Utf8);
    let binary = std::env::var("BENCH_BIN").unwrap_or_else(|_| common::BIN.to_string());
    let now_text = common::rfc3339(now);
    let mut runs: Vec<(String, Vec<String>)> = Vec::new();
    let dirs = [Workdir::new(), Workdir::new()];
    for (latency_ms, dir) in [0, 100].into_iter().zip(&dirs) {
        let probes = probe::serve_after(&org, now, dir.path(), Duration::from_millis(latency_ms));
        let mut args: Vec<String> = [
            "--ldap",
            &slapd.ldaps_url(),
            "--ldap-user",
            MONITOR_DN,
            "--ldap-password-env",
            PASSWORD_VAR,
            "--ca-file",
            &trusted(dir, &slapd, &probes).display().to_string(),
            "--now",
            &now_text,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(probes.args());
        runs.push((format!("ldap + 50 probes, {latency_ms} ms each"), args));
    }
    runs.push((
        "bundle".into(),
        vec![
            "--bundle".into(),
            bundle.display().to_string(),
            "--now".into(),
            now_text.clone(),
        ],
    ));
    for (name, args) in runs {
        common::print_wall_and_rss(&name, &binary, &args, (PASSWORD_VAR, MONITOR_PASSWORD));
    }
}
