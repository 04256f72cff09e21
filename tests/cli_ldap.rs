//! `--ldap` through the binary against a real OpenLDAP slapd on loopback (tests/common/ldap.rs):
//! LDAPS and StartTLS with a CA made at test time, a read-only account, the Exchange objects of
//! an organisation mid-rotation (three Mailbox servers, one in another site, an Edge server,
//! internal transport certificates as real DER), and the failures an admin meets: wrong
//! password, no TLS, a DC that does not answer, a missing object, an untrusted certificate.
//! The Auth Certificates themselves are not in AD: runs that judge them add `--metadata` from a
//! real HTTPS server (tests/common/net.rs).
//!
//! Every test skips with a note when slapd is not installed (CI installs it: .ci/run).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::exchange::{
    AuthConfigExport, ExportFormat, Organisation, Store, StoreCert, TextEncoding,
};
use common::ldap::{DateForm, DirectoryTree, MONITOR_DN, MONITOR_PASSWORD, Security, Slapd};
use common::net::{self, KeyCase, Reply};
use common::{Output, Run, TestCert, Workdir, anchor, auth_expiring, days, selfsigned_expiring};

const PASSWORD_VAR: &str = "CHECK_LDAP_PASSWORD";
const METADATA_PATH: &str = "/autodiscover/metadata/json/1";

/// The certificates of the fixture organisation.
struct Certs {
    current: TestCert,
    next: TestCert,
    transport: Vec<TestCert>,
}

impl Certs {
    /// A current certificate with `current_days` left, a next one valid for five years, and an
    /// internal transport certificate per server (EXCH02's with `transport_days` left).
    fn new(current_days: i64, transport_days: i64) -> Certs {
        let now = anchor();
        Certs {
            current: auth_expiring(now + days(current_days)),
            next: auth_expiring(now + days(5 * 365 - 20)),
            transport: ["EXCH01", "EXCH02", "EXCH03", "EDGE1"]
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let left = if i == 1 { transport_days } else { 1500 };
                    selfsigned_expiring(name, now + days(left))
                })
                .collect(),
        }
    }
}

/// The fixture organisation as `Get-*` would show it: EXCH01 and EXCH02 in the default site,
/// EXCH03 in Site-B, EDGE1 an Edge server; every Mailbox server holds the current and the next
/// certificate and its own transport certificate (SMTP).
fn organisation(certs: &Certs, config: AuthConfigExport) -> Organisation {
    let mut org = Organisation::new(anchor() - common::seconds(3600)).auth_config(config);
    let servers = common::exchange::servers_in_two_sites();
    for (info, transport) in servers.into_iter().zip(&certs.transport) {
        let mut store = vec![StoreCert::new(transport, &["SMTP"])];
        if !info.is_edge {
            store.insert(0, StoreCert::new(&certs.current, &[]));
            store.insert(1, StoreCert::new(&certs.next, &[]));
        }
        org = org
            .server(info, Store::Certificates(store))
            .internal_transport(transport);
    }
    org
}

fn mid_rotation(certs: &Certs, effective_in_days: i64) -> AuthConfigExport {
    AuthConfigExport::current(&certs.current).next(&certs.next, anchor() + days(effective_in_days))
}

/// An HTTPS server publishing `published` as Exchange's metadata document; its CA is written
/// into `dir` and returned with the URL.
fn metadata_server(dir: &Workdir, published: &[&TestCert]) -> (String, PathBuf) {
    let identity = net::trusted_identity();
    let keys: Vec<(&TestCert, Option<&str>)> = published.iter().map(|c| (*c, None)).collect();
    let document = net::metadata_doc(&keys, KeyCase::Lower);
    let address = net::https_server(&identity, move |path| {
        if path == METADATA_PATH {
            Reply::json(document.clone())
        } else {
            Reply::status(404)
        }
    });
    let ca = dir.write("metadata-ca.pem", &identity.ca_pem);
    (format!("https://{address}{METADATA_PATH}"), ca)
}

/// Both CAs in one `--ca-file`.
fn ca_file(dir: &Workdir, slapd: &Slapd, more: &[&PathBuf]) -> PathBuf {
    let mut pem = std::fs::read_to_string(&slapd.ca_file).unwrap();
    for path in more {
        pem.push_str(&std::fs::read_to_string(path).unwrap());
    }
    dir.write("trusted.pem", pem)
}

/// `--ldap URL` as the monitoring account, the password from the environment.
fn ldap_run(url: &str) -> Run {
    Run::new()
        .args(["--ldap", url, "--ldap-user", MONITOR_DN])
        .args(["--ldap-password-env", PASSWORD_VAR])
        .env(PASSWORD_VAR, MONITOR_PASSWORD)
        .now(anchor())
}

/// [`ldap_run`] for a run that must fail at the directory: a `--metadata` URL is required
/// beside `--ldap`, and this one (a closed port) is never the reason.
fn failing_run(url: &str) -> Run {
    ldap_run(url).args([
        "--metadata",
        "https://127.0.0.1:1/autodiscover/metadata/json/1",
    ])
}

/// The finding codes of a JSON report.
fn codes(output: &Output) -> Vec<String> {
    output.json()["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A healthy organisation mid-rotation read over LDAPS, the current certificate's expiry from
/// the metadata: OK, every server listed with what AD says of it.
#[test]
fn healthy_mid_rotation_over_ldaps() {
    let certs = Certs::new(1000, 1500);
    let org = organisation(&certs, mid_rotation(&certs, 10));
    let Some(slapd) = Slapd::start(
        &DirectoryTree::of(&org, DateForm::GeneralizedTime),
        Security::Tls,
    ) else {
        return;
    };
    let dir = Workdir::new();
    let (url, metadata_ca) = metadata_server(&dir, &[&certs.current]);
    let trusted = ca_file(&dir, &slapd, &[&metadata_ca]);
    let output = ldap_run(&slapd.ldaps_url())
        .arg("--ca-file")
        .arg(&trusted)
        .args(["--metadata", &url, "--output", "json"])
        .output();
    output.assert_code(0);
    let report = output.json();
    let servers = report["servers"].as_array().expect("servers");
    let names: Vec<&str> = servers
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["EXCH01", "EXCH02", "EXCH03", "EDGE1"],
        "{}",
        output.context()
    );
    assert_eq!(servers[2]["site"], "Site-B");
    assert_eq!(servers[0]["fqdn"], "exch01.contoso.lab");
    assert_eq!(servers[0]["major_version"], 15);
    assert_eq!(servers[3]["is_edge"], true);
    // MEAC's selection, though no input of this run reads stores: no server is "not
    // collected", and the servers in two sites are noted.
    assert_eq!(servers[0]["requires_auth_certificate"], true);
    assert_eq!(servers[3]["requires_auth_certificate"], false);
    let found = codes(&output);
    assert!(
        found.contains(&"servers.multiple_sites".to_string())
            && !found.contains(&"servers.not_collected".to_string()),
        "{found:?}"
    );
    assert_eq!(
        servers[1]["internal_transport_certificate"],
        certs.transport[1].thumbprint()
    );
    let config = &report["auth_config"];
    assert_eq!(config["current"], certs.current.thumbprint());
    assert_eq!(config["next"], certs.next.thumbprint());
    assert_eq!(
        config["next_effective"],
        common::rfc3339(anchor() + days(10))
    );
    // AD's whenChanged of the AuthConfig object.
    assert_eq!(
        config["changed_at"],
        common::rfc3339(org.auth_config.as_ref().unwrap().changed_at)
    );
    assert_eq!(report["hybrid_detected"], false);
    // Every transport certificate was read from AD and judged.
    for cert in &certs.transport {
        assert!(
            output.stdout.contains(&cert.thumbprint()),
            "{} not in the report\n{}",
            cert.cn,
            output.context()
        );
    }
}

/// StartTLS on ldap://, and the next effective date as a FILETIME integer: the same verdict.
#[test]
fn starttls_and_filetime_dates() {
    let certs = Certs::new(1000, 1500);
    let org = organisation(&certs, mid_rotation(&certs, 10));
    let Some(slapd) = Slapd::start(&DirectoryTree::of(&org, DateForm::FileTime), Security::Tls)
    else {
        return;
    };
    let dir = Workdir::new();
    let (url, metadata_ca) = metadata_server(&dir, &[&certs.current]);
    let trusted = ca_file(&dir, &slapd, &[&metadata_ca]);
    let output = ldap_run(&slapd.starttls_url())
        .arg("--ca-file")
        .arg(&trusted)
        .args(["--metadata", &url, "--output", "json"])
        .output();
    output.assert_code(0);
    assert_eq!(
        output.json()["auth_config"]["next_effective"],
        common::rfc3339(anchor() + days(10))
    );
}

/// The current certificate has 20 days left and nothing is staged: CRITICAL, and the rotation
/// rule asks for a next certificate.
#[test]
fn expiring_current_certificate() {
    let certs = Certs::new(20, 1500);
    let org = organisation(&certs, AuthConfigExport::current(&certs.current));
    let Some(slapd) = Slapd::start(
        &DirectoryTree::of(&org, DateForm::GeneralizedTime),
        Security::Tls,
    ) else {
        return;
    };
    let dir = Workdir::new();
    let (url, metadata_ca) = metadata_server(&dir, &[&certs.current]);
    let trusted = ca_file(&dir, &slapd, &[&metadata_ca]);
    let output = ldap_run(&slapd.ldaps_url())
        .arg("--ca-file")
        .arg(&trusted)
        .args(["--metadata", &url, "--output", "json"])
        .output();
    output.assert_code(2);
    let found = codes(&output);
    assert!(
        found.contains(&"auth.current.expiring".to_string()),
        "{found:?}"
    );
    assert!(
        found.contains(&"auth.next.not_staged".to_string()),
        "{found:?}"
    );
}

/// The next certificate's effective date passed three days ago and it is still next: the
/// AuthAdmin servicelet is not publishing it.
#[test]
fn next_certificate_overdue() {
    let certs = Certs::new(1000, 1500);
    let org = organisation(&certs, mid_rotation(&certs, -3));
    let Some(slapd) = Slapd::start(
        &DirectoryTree::of(&org, DateForm::GeneralizedTime),
        Security::Tls,
    ) else {
        return;
    };
    let dir = Workdir::new();
    let (url, metadata_ca) = metadata_server(&dir, &[&certs.current]);
    let trusted = ca_file(&dir, &slapd, &[&metadata_ca]);
    let output = ldap_run(&slapd.ldaps_url())
        .arg("--ca-file")
        .arg(&trusted)
        .args(["--metadata", &url, "--output", "json"])
        .output();
    output.assert_code(1);
    assert!(
        codes(&output).contains(&"auth.next.overdue".to_string()),
        "{}",
        output.context()
    );
}

/// EXCH02's internal transport certificate (from msExchServerInternalTLSCert) has 10 days left:
/// CRITICAL under the self-signed thresholds, naming the server.
#[test]
fn expiring_transport_certificate_from_ad() {
    let certs = Certs::new(1000, 10);
    let org = organisation(&certs, AuthConfigExport::current(&certs.current));
    let Some(slapd) = Slapd::start(
        &DirectoryTree::of(&org, DateForm::GeneralizedTime),
        Security::Tls,
    ) else {
        return;
    };
    let dir = Workdir::new();
    let (url, metadata_ca) = metadata_server(&dir, &[&certs.current]);
    let trusted = ca_file(&dir, &slapd, &[&metadata_ca]);
    let output = ldap_run(&slapd.ldaps_url())
        .arg("--ca-file")
        .arg(&trusted)
        .args(["--metadata", &url])
        .output();
    output.assert_code(2);
    let nagios = output.nagios();
    let line = nagios
        .finding_lines()
        .into_iter()
        .find(|line| line.contains(&certs.transport[1].short()))
        .unwrap_or_else(|| {
            panic!(
                "no finding about EXCH02's certificate\n{}",
                output.context()
            )
        });
    assert!(line.contains("EXCH02"), "{line}");
}

/// Without `--metadata` (or stores) the directory alone names the current certificate but
/// cannot date it: refused with the reason, before anything is sent.
#[test]
fn directory_alone_cannot_date_the_auth_certificate() {
    ldap_run("ldaps://127.0.0.1:1")
        .output()
        .assert_unknown("add --probe-servers");
}

/// AD in place of the `--authconfig`/`--servers` exports, with one certificate export per
/// server: the stores are read, so the Mailbox servers must hold the current certificate, and
/// EXCH02, whose store lacks it, is named. (No `--metadata`: the stores hold the DER.)
#[test]
fn server_missing_the_certificate_with_store_exports() {
    let certs = Certs::new(1000, 1500);
    let mut org = organisation(&certs, AuthConfigExport::current(&certs.current));
    if let Store::Certificates(store) = &mut org.servers[1].store {
        store.retain(|c| c.thumbprint != certs.current.thumbprint());
    }
    let Some(slapd) = Slapd::start(
        &DirectoryTree::of(&org, DateForm::GeneralizedTime),
        Security::Tls,
    ) else {
        return;
    };
    let dir = Workdir::new();
    let exports = org.write_exports(&dir, ExportFormat::CliXml);
    let certificates: Vec<&String> = exports
        .chunks(2)
        .filter(|pair| pair[0] == "--certificates")
        .flatten()
        .collect();
    assert_eq!(certificates.len(), 8, "{exports:?}");
    let output = ldap_run(&slapd.ldaps_url())
        .arg("--ca-file")
        .arg(&slapd.ca_file)
        .args(certificates)
        .args(["--output", "json"])
        .output();
    output.assert_code(2);
    let report = output.json();
    let missing = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "auth.current.missing_on_servers")
        .unwrap_or_else(|| panic!("no missing_on_servers finding\n{}", output.context()));
    let message = missing["message"].as_str().unwrap();
    assert!(
        message.contains("missing on 1 of 3 servers: EXCH02"),
        "{message}"
    );
    assert_eq!(report["servers"][0]["requires_auth_certificate"], true);
    assert_eq!(report["servers"][3]["requires_auth_certificate"], false);
}

fn simple_org() -> (Certs, Organisation) {
    let certs = Certs::new(1000, 1500);
    let org = organisation(&certs, AuthConfigExport::current(&certs.current));
    (certs, org)
}

#[test]
fn wrong_password_is_unknown() {
    let (_, org) = simple_org();
    let Some(slapd) = Slapd::start(
        &DirectoryTree::of(&org, DateForm::GeneralizedTime),
        Security::Tls,
    ) else {
        return;
    };
    failing_run(&slapd.ldaps_url())
        .arg("--ca-file")
        .arg(&slapd.ca_file)
        .env(PASSWORD_VAR, "not the password")
        .output()
        .assert_unknown("invalid credentials");
}

/// A password file works; an empty password (an anonymous bind in disguise) is refused.
#[test]
fn password_file_and_empty_password() {
    let (certs, org) = simple_org();
    let Some(slapd) = Slapd::start(
        &DirectoryTree::of(&org, DateForm::GeneralizedTime),
        Security::Tls,
    ) else {
        return;
    };
    let dir = Workdir::new();
    let (url, metadata_ca) = metadata_server(&dir, &[&certs.current]);
    let trusted = ca_file(&dir, &slapd, &[&metadata_ca]);
    let file = dir.write("password", format!("{MONITOR_PASSWORD}\r\n"));
    Run::new()
        .args(["--ldap", &slapd.ldaps_url(), "--ldap-user", MONITOR_DN])
        .arg("--ldap-password-file")
        .arg(&file)
        .arg("--ca-file")
        .arg(&trusted)
        .args(["--metadata", &url])
        .now(anchor())
        .output()
        .assert_code(0);
    failing_run(&slapd.ldaps_url())
        .arg("--ca-file")
        .arg(&slapd.ca_file)
        .env(PASSWORD_VAR, "")
        .output()
        .assert_unknown("password is empty");
}

/// A directory without TLS: StartTLS is refused and no clear-text bind follows.
#[test]
fn plain_ldap_is_refused() {
    let (_, org) = simple_org();
    let Some(slapd) = Slapd::start(
        &DirectoryTree::of(&org, DateForm::GeneralizedTime),
        Security::Plain,
    ) else {
        return;
    };
    failing_run(&slapd.starttls_url())
        .output()
        .assert_unknown("refused StartTLS");
    // Other schemes never reach the network.
    failing_run(&format!("ldapi://{}", slapd.ldap))
        .output()
        .assert_unknown("not supported");
}

#[test]
fn unreachable_domain_controller() {
    let port = net::closed_port();
    let output = failing_run(&format!("ldaps://127.0.0.1:{port}")).output();
    output.assert_unknown("unreachable");
}

/// A DC that accepts the connection and never answers: the TLS handshake ends by `-t` with its
/// own reason, before the watchdog.
#[test]
fn silent_domain_controller_ends_within_the_timeout() {
    let address = net::black_hole();
    let output = failing_run(&format!("ldaps://{address}"))
        .args(["-t", "2"])
        .output();
    output.assert_unknown("no time left (-t)");
    assert!(
        output.elapsed < Duration::from_secs(3),
        "{:?}",
        output.elapsed
    );
}

/// A DC whose TLS certificate is not trusted: UNKNOWN naming TLS; `--insecure` accepts it.
#[test]
fn untrusted_certificate_and_insecure() {
    let (certs, org) = simple_org();
    let Some(slapd) = Slapd::start(
        &DirectoryTree::of(&org, DateForm::GeneralizedTime),
        Security::Tls,
    ) else {
        return;
    };
    failing_run(&slapd.ldaps_url())
        .output()
        .assert_unknown("TLS");
    let dir = Workdir::new();
    let (url, metadata_ca) = metadata_server(&dir, &[&certs.current]);
    ldap_run(&slapd.ldaps_url())
        .arg("--insecure")
        .arg("--ca-file")
        .arg(&metadata_ca)
        .args(["--metadata", &url])
        .output()
        .assert_code(0);
}

/// An organisation without AuthConfig, and a forest without Exchange: one line saying which.
#[test]
fn missing_objects() {
    let certs = Certs::new(1000, 1500);
    let mut org = organisation(&certs, AuthConfigExport::current(&certs.current));
    org.auth_config = None;
    let Some(slapd) = Slapd::start(
        &DirectoryTree::of(&org, DateForm::GeneralizedTime),
        Security::Tls,
    ) else {
        return;
    };
    failing_run(&slapd.ldaps_url())
        .arg("--ca-file")
        .arg(&slapd.ca_file)
        .output()
        .assert_unknown("no AuthConfig");
    failing_run(&slapd.ldaps_url())
        .arg("--ca-file")
        .arg(&slapd.ca_file)
        .args(["--ldap-base", "CN=Elsewhere,DC=contoso,DC=lab"])
        .output()
        .assert_unknown("does not exist");
}

/// 500 server objects: more than the account may read in one search (size limit 100), so
/// only the paged search reads them all, well within `-t`.
#[test]
fn five_hundred_servers_are_paged() {
    let certs = Certs::new(1000, 1500);
    let org = organisation(&certs, AuthConfigExport::current(&certs.current));
    let mut tree = DirectoryTree::of(&org, DateForm::GeneralizedTime);
    for i in 0..496 {
        let name = format!("MBX{i:03}");
        tree.add_server(
            &name,
            2,
            "Version 15.2 (Build 1544.4)",
            &format!("{}.contoso.lab", name.to_lowercase()),
            common::exchange::SITE,
            None,
        );
    }
    let Some(slapd) = Slapd::start(&tree, Security::Tls) else {
        return;
    };
    let dir = Workdir::new();
    let (url, metadata_ca) = metadata_server(&dir, &[&certs.current]);
    let trusted = ca_file(&dir, &slapd, &[&metadata_ca]);
    let output = ldap_run(&slapd.ldaps_url())
        .arg("--ca-file")
        .arg(&trusted)
        .args(["--metadata", &url, "--output", "json", "-t", "10"])
        .output();
    output.assert_code(0);
    assert_eq!(output.json()["servers"].as_array().unwrap().len(), 500);
    assert!(
        output.elapsed < Duration::from_secs(8),
        "{:?}",
        output.elapsed
    );
}

/// Options that cannot work are refused before anything is sent.
#[test]
fn option_errors() {
    Run::new()
        .args(["--ldap", "ldaps://127.0.0.1:1", "--ldap-user", MONITOR_DN])
        .output()
        .assert_unknown("--ldap-password-env");
    Run::new()
        .args(["--ldap", "ldaps://127.0.0.1:1", "--ldap-user", MONITOR_DN])
        .args(["--ldap-password-env", "CHECK_LDAP_UNSET_VARIABLE"])
        .env_remove("CHECK_LDAP_UNSET_VARIABLE")
        .output()
        .assert_unknown("is not set");
    failing_run("ldaps://dc1/CN=Configuration")
        .output()
        .assert_unknown("--ldap-base");
}

/// The hybrid finding of a JSON report: its severity and message, `None` without one.
fn hybrid_finding(output: &Output) -> Option<(String, String)> {
    output.json()["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["code"] == "hybrid.detected")
        .map(|f| {
            let text = |key: &str| f[key].as_str().unwrap_or_default().to_string();
            (text("severity"), text("message"))
        })
}

/// The collector's bundle of `org`, run with the same `--metadata` and CA as the AD run.
fn bundle_run(org: &Organisation, dir: &Workdir, trusted: &PathBuf, url: &str) -> Output {
    let bundle = org.write_bundle(dir, "bundle.json", TextEncoding::Utf8);
    Run::new()
        .arg("--bundle")
        .arg(&bundle)
        .arg("--ca-file")
        .arg(trusted)
        .args(["--metadata", url, "--output", "json"])
        .now(anchor())
        .output()
}

/// HealthChecker's other signs of hybrid, read from the AuthServer and partner application
/// objects (tests/common/ldap.rs writes them from the same `hybrid_oauth` the bundle carries),
/// with no HybridConfiguration object: OAuth to Exchange Online, the dedicated hybrid
/// application, both, neither. Right after a rotation (the previous certificate still set and
/// valid, published beside the current one) hybrid is a WARNING, in steady state INFO, exactly
/// as the bundle of the same organisation says (tests/cli_exchange.rs `hybrid_moments`).
#[test]
fn hybrid_through_oauth_from_the_directory() {
    for (oauth, dedicated, rotated, severity, how) in [
        (true, false, true, "warning", "OAuth to Exchange Online"),
        (false, true, true, "warning", "dedicated hybrid application"),
        (
            true,
            true,
            false,
            "info",
            "OAuth to Exchange Online, dedicated hybrid application",
        ),
        (false, false, true, "", ""),
    ] {
        let certs = Certs::new(1000, 1500);
        let previous = auth_expiring(anchor() + days(20));
        let config = AuthConfigExport::current(&certs.current);
        let (config, published) = if rotated {
            (config.previous(&previous), vec![&certs.current, &previous])
        } else {
            (config, vec![&certs.current])
        };
        let org = organisation(&certs, config)
            .hybrid(Some(false))
            .hybrid_oauth(oauth, dedicated);
        let Some(slapd) = Slapd::start(
            &DirectoryTree::of(&org, DateForm::GeneralizedTime),
            Security::Tls,
        ) else {
            return;
        };
        let dir = Workdir::new();
        let (url, metadata_ca) = metadata_server(&dir, &published);
        let trusted = ca_file(&dir, &slapd, &[&metadata_ca]);
        let from_ad = ldap_run(&slapd.ldaps_url())
            .arg("--ca-file")
            .arg(&trusted)
            .args(["--metadata", &url, "--output", "json"])
            .output();
        let from_bundle = bundle_run(&org, &dir, &trusted, &url);
        let context = format!(
            "oauth {oauth}, dedicated {dedicated}\nbundle:\n{}\nAD:\n{}",
            from_bundle.context(),
            from_ad.context()
        );
        let hybrid = oauth || dedicated;
        assert_eq!(from_ad.json()["hybrid_detected"], hybrid, "{context}");
        let found = hybrid_finding(&from_ad);
        assert_eq!(found, hybrid_finding(&from_bundle), "{context}");
        assert_eq!(from_ad.code, from_bundle.code, "{context}");
        let Some((found_severity, message)) = found else {
            assert!(!hybrid, "{context}");
            from_ad.assert_code(0);
            continue;
        };
        assert_eq!(found_severity, severity, "{context}");
        from_ad.assert_code(if severity == "warning" { 1 } else { 0 });
        let expected = if rotated {
            format!("hybrid with Exchange Online ({how}) and the previous Auth Certificate")
        } else {
            format!("hybrid configuration detected ({how})")
        };
        assert!(message.starts_with(&expected), "{message}\n{context}");
    }
}

/// One organisation, described once, read as the collector's bundle and as an AD tree (with
/// the same published metadata): the same verdict and the same findings, except what AD cannot
/// know. Precisely: (1) AD holds no store, so the bundle's store findings (Auth Certificate
/// missing on a server, an Auth-named certificate AuthConfig does not reference, unbound or
/// other certificates) cannot appear; (2) AD holds the
/// internal transport certificates, which are judged under the same thresholds but as
/// certificates of the directory (`cert.*`), not of a store (`selfsigned.*`); (3) AD has no DER
/// of the next Auth Certificate (the metadata never publishes it), so findings about the next
/// certificate's own expiry need a store (with hybrid, the warning that Exchange Online must
/// trust a staged next certificate needs it too). Hybrid is read from AD by all of
/// HealthChecker's signs (the HybridConfiguration object, and the AuthServer and partner
/// application objects behind OAuth to Exchange Online and the dedicated hybrid application),
/// so the hybrid organisations here, by HybridConfiguration or by OAuth alone, agree too, down
/// to the signs the hybrid finding names.
#[test]
fn the_directory_and_the_bundle_agree() {
    for (current_days, transport_days, effective, hybrid, oauth) in [
        (1000, 1500, Some(10), false, None),
        (20, 1500, Some(-3), false, None),
        (1000, 10, Some(5), false, Some((false, false))),
        (1000, 1500, None, true, None),
        (1000, 1500, None, false, Some((true, false))),
        (20, 1500, None, false, Some((false, true))),
    ] {
        let certs = Certs::new(current_days, transport_days);
        let config = match effective {
            Some(days) => mid_rotation(&certs, days),
            None => AuthConfigExport::current(&certs.current),
        };
        let mut org = organisation(&certs, config).hybrid(Some(hybrid));
        if let Some((oauth, dedicated)) = oauth {
            org = org.hybrid_oauth(oauth, dedicated);
        }
        let Some(slapd) = Slapd::start(
            &DirectoryTree::of(&org, DateForm::GeneralizedTime),
            Security::Tls,
        ) else {
            return;
        };
        let dir = Workdir::new();
        let (url, metadata_ca) = metadata_server(&dir, &[&certs.current]);
        let trusted = ca_file(&dir, &slapd, &[&metadata_ca]);
        let from_bundle = bundle_run(&org, &dir, &trusted, &url);
        let from_ad = ldap_run(&slapd.ldaps_url())
            .arg("--ca-file")
            .arg(&trusted)
            .args(["--metadata", &url, "--output", "json"])
            .output();
        let context = format!(
            "bundle:\n{}\nAD:\n{}",
            from_bundle.context(),
            from_ad.context()
        );
        assert_eq!(from_bundle.code, from_ad.code, "{context}");
        assert_eq!(
            hybrid_finding(&from_bundle),
            hybrid_finding(&from_ad),
            "{context}"
        );
        let comparable = |output: &Output| {
            common::exchange::report_findings(&output.json())
                .into_iter()
                .filter(|f| !f.code.starts_with("servers."))
                .map(|f| (f.severity, f.code.replace("selfsigned.", "cert.")))
                .filter(|(_, code)| code != "cert.ok")
                .collect::<std::collections::BTreeSet<_>>()
        };
        let (bundle_findings, ad_findings) = (comparable(&from_bundle), comparable(&from_ad));
        let only_in_bundle: Vec<_> = bundle_findings.difference(&ad_findings).collect();
        let only_in_ad: Vec<_> = ad_findings.difference(&bundle_findings).collect();
        // Difference (1): findings about what a store holds.
        let store_codes = [
            "auth.current.missing_on_servers",
            "auth.next.missing_on_servers",
            "auth.unreferenced",
            "transport.missing",
        ];
        assert!(
            only_in_bundle
                .iter()
                .all(|(_, code)| store_codes.contains(&code.as_str())
                    || code.ends_with(".unbound")
                    || code.ends_with(".unused_expired")),
            "{only_in_bundle:?}\n{context}"
        );
        // Nothing the AD run says that the bundle run does not: a staged next certificate whose
        // DER no input of the AD run holds is not judged (judge/auth.rs), rather than called
        // "in no store".
        assert!(only_in_ad.is_empty(), "{only_in_ad:?}\n{context}");
    }
}

/// Not a test: `cargo test --release --test cli_ldap -- --ignored --nocapture bench` prints the
/// whole-process wall time and peak RSS (GNU time) of one organisation of 500 Mailbox servers
/// read from slapd and from the collector's bundle, both with the same `--metadata`; set
/// BENCH_BIN to measure another binary (e.g. target/release/check_exchange_authcert).
#[test]
#[ignore]
fn bench_500_servers_ldap_against_bundle() {
    let now = anchor();
    let current = auth_expiring(now + days(1000));
    let org =
        common::exchange::mailboxes_holding(&current, AuthConfigExport::current(&current), 500);
    let Some(slapd) = Slapd::start(
        &DirectoryTree::of(&org, DateForm::GeneralizedTime),
        Security::Tls,
    ) else {
        return;
    };
    let dir = Workdir::new();
    let (url, metadata_ca) = metadata_server(&dir, &[&current]);
    let trusted = ca_file(&dir, &slapd, &[&metadata_ca]);
    let bundle = org.write_bundle(&dir, "bundle.json", TextEncoding::Utf8);
    let binary = std::env::var("BENCH_BIN").unwrap_or_else(|_| common::BIN.to_string());
    let now_text = common::rfc3339(now);
    let common_args = [
        "--ca-file".to_string(),
        trusted.display().to_string(),
        "--metadata".into(),
        url,
        "--now".into(),
        now_text,
    ];
    let ldap_args: Vec<String> = [
        "--ldap",
        &slapd.ldaps_url(),
        "--ldap-user",
        MONITOR_DN,
        "--ldap-password-env",
        PASSWORD_VAR,
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(common_args.iter().cloned())
    .collect();
    let bundle_args: Vec<String> = ["--bundle".to_string(), bundle.display().to_string()]
        .into_iter()
        .chain(common_args.iter().cloned())
        .collect();
    for (name, args) in [("ldap", ldap_args), ("bundle", bundle_args)] {
        common::print_wall_and_rss(name, &binary, &args, (PASSWORD_VAR, MONITOR_PASSWORD));
    }
}
