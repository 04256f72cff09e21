//! `--metadata URL|FILE` through the binary, against a real HTTPS server (rustls) on loopback:
//! valid documents in both key spellings, two keys, a wrong x5t, bad JSON, HTTP errors, a
//! redirect loop, oversized and gzip-bomb bodies, a server that never answers, trust
//! (`--ca-file`, `--insecure`), `--sni`/`--connect-to`, and saved files.

mod common;

use std::time::Duration;

use common::net::{self, KeyCase, Reply};
use common::{Run, TestCert, Workdir, anchor, auth_expiring, days};

const PATH: &str = "/autodiscover/metadata/json/1";

/// The certificates a test's server publishes.
struct Keys {
    current: TestCert,
    previous: TestCert,
    stray: TestCert,
}

fn keys() -> Keys {
    Keys {
        current: auth_expiring(anchor() + days(1000)),
        previous: auth_expiring(anchor() + days(10)),
        stray: auth_expiring(anchor() + days(1500)),
    }
}

/// An HTTPS server (CA-issued certificate for 127.0.0.1, localhost and mail.contoso.test)
/// serving every scripted case; returns its address and the CA file to trust it with.
fn server(dir: &Workdir, keys: &Keys) -> (std::net::SocketAddr, std::path::PathBuf) {
    let identity = net::trusted_identity();
    let ca = dir.write("ca.pem", &identity.ca_pem);
    let valid = net::metadata_doc(&[(&keys.current, None)], KeyCase::Lower);
    let camel = net::metadata_doc(&[(&keys.current, None)], KeyCase::Camel);
    let two = net::metadata_doc(
        &[(&keys.current, None), (&keys.previous, None)],
        KeyCase::Lower,
    );
    let stray = net::metadata_doc(&[(&keys.stray, None)], KeyCase::Lower);
    let wrong_x5t = net::metadata_doc(
        &[(&keys.current, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA"))],
        KeyCase::Lower,
    );
    let empty = net::metadata_doc(&[], KeyCase::Lower);
    let address = net::https_server(&identity, move |path| {
        match path.strip_prefix("/case").unwrap_or(path) {
            "/valid" | PATH => Reply::json(valid.clone()),
            "/camel" => Reply::json(camel.clone()),
            "/two" => Reply::json(two.clone()),
            "/stray" => Reply::json(stray.clone()),
            "/wrong-x5t" => Reply::json(wrong_x5t.clone()),
            "/empty" => Reply::json(empty.clone()),
            "/bad-json" => Reply::json("<html><body>Exchange error</body></html>"),
            "/404" => Reply::status(404),
            "/loop" => Reply::redirect("/case/loop"),
            "/moved" => Reply::redirect("/case/valid"),
            "/to-http" => Reply::redirect("http://127.0.0.1:1/case/valid"),
            "/oversized" => Reply::json(vec![b' '; 2 * 1024 * 1024]),
            "/gzip-bomb" => Reply::Respond(
                200,
                vec![
                    ("Content-Type".into(), "text/json".into()),
                    ("Content-Encoding".into(), "gzip".into()),
                ],
                bomb().to_vec(),
            ),
            "/slow" => Reply::Hang,
            _ => Reply::status(404),
        }
    });
    (address, ca)
}

/// 8 MiB of zeros, gzip-compressed to a few kilobytes; made once per test process.
fn bomb() -> &'static [u8] {
    static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BOMB.get_or_init(|| net::gzip_bomb(8 * 1024 * 1024))
}

fn url(address: std::net::SocketAddr, case: &str) -> String {
    format!("https://{address}/case{case}")
}

use common::net::finding_codes as codes;

fn metadata_run(url: &str, ca: &std::path::Path) -> Run {
    Run::new()
        .now(anchor())
        .arg("--metadata")
        .arg(url)
        .arg("--ca-file")
        .arg(ca)
}

#[test]
fn valid_document_in_both_key_spellings_is_ok() {
    let dir = Workdir::new();
    let keys = keys();
    let (address, ca) = server(&dir, &keys);
    for case in ["/valid", "/camel", "/moved"] {
        let out = metadata_run(&url(address, case), &ca).output();
        out.assert_code(0);
        let nagios = out.nagios();
        assert!(
            nagios
                .summary
                .starts_with("metadata publishes 1 signing certificate"),
            "{}",
            out.context()
        );
        assert_eq!(nagios.perf("days_left").int(), 1000, "{}", out.context());
        let label = format!("metadata_{}_days", keys.current.short());
        assert_eq!(nagios.perf(&label).warn, "60:");
        let json = metadata_run(&url(address, case), &ca)
            .args(["-o", "json"])
            .output()
            .json();
        assert_eq!(codes(&json), vec!["metadata.ok:ok"], "{case}");
    }
}

#[test]
fn expiring_published_certificate_uses_auth_thresholds() {
    let dir = Workdir::new();
    let keys = keys();
    let (address, ca) = server(&dir, &keys);
    let out = Run::new()
        .now(anchor() + days(960))
        .args(["--metadata", &url(address, "/valid"), "--ca-file"])
        .arg(&ca)
        .output();
    out.assert_code(1);
    assert!(
        out.first_line().contains("expires in 40 days"),
        "{}",
        out.context()
    );
    let out = Run::new()
        .now(anchor() + days(1001))
        .args(["--metadata", &url(address, "/valid"), "--ca-file"])
        .arg(&ca)
        .args(["-o", "json"])
        .output();
    out.assert_code(2);
    assert_eq!(codes(&out.json()), vec!["metadata.expired:critical"]);
}

#[test]
fn two_keys_and_authconfig_roles() {
    let dir = Workdir::new();
    let keys = keys();
    let (address, ca) = server(&dir, &keys);
    // Without AuthConfig: the older key expiring beside a newer one is information.
    let out = metadata_run(&url(address, "/two"), &ca)
        .args(["-o", "json"])
        .output();
    out.assert_code(0);
    let found = codes(&out.json());
    assert!(
        found.contains(&"metadata.expiring:info".to_string()),
        "{found:?}"
    );
    assert!(found.contains(&"metadata.ok:ok".to_string()), "{found:?}");

    // With AuthConfig: current published, previous may be.
    let authconfig = |current: &TestCert, previous: &TestCert| {
        format!(
            r#"{{"CurrentCertificateThumbprint":"{}","PreviousCertificateThumbprint":"{}","NextCertificateThumbprint":"","NextCertificateEffectiveDate":null,"ServiceName":"00000002-0000-0ff1-ce00-000000000000","Realm":""}}"#,
            current.thumbprint(),
            previous.thumbprint()
        )
    };
    let good = dir.write("authconfig.json", authconfig(&keys.current, &keys.previous));
    let json = metadata_run(&url(address, "/two"), &ca)
        .arg("--authconfig")
        .arg(&good)
        .args(["-o", "json"])
        .output()
        .json();
    let found = codes(&json);
    assert!(found.contains(&"metadata.ok:ok".to_string()), "{found:?}");
    assert!(
        found.contains(&"metadata.expiring:info".to_string()),
        "{found:?}"
    );
    assert!(
        !found
            .iter()
            .any(|c| c.starts_with("metadata.current_not_published")),
        "{found:?}"
    );

    // AuthConfig and the metadata alone (agentless): the current certificate's facts come from
    // the published document, judged by the organisation's rules.
    let out = metadata_run(&url(address, "/two"), &ca)
        .arg("--authconfig")
        .arg(&good)
        .args(["--max-age", "0"])
        .output();
    assert_eq!(
        out.nagios().perf("auth_current_days").int(),
        1000,
        "{}",
        out.context()
    );
    assert!(
        !out.stdout.contains("auth.current.not_found") && !out.stdout.contains("cannot be checked"),
        "{}",
        out.context()
    );

    // A document that publishes something else: current missing (CRITICAL), stray (WARNING).
    let out = metadata_run(&url(address, "/stray"), &ca)
        .arg("--authconfig")
        .arg(&good)
        .args(["-o", "json"])
        .output();
    out.assert_code(2);
    let found = codes(&out.json());
    assert!(
        found.contains(&"metadata.current_not_published:critical".to_string()),
        "{found:?}"
    );
    assert!(
        found.contains(&"metadata.unexpected_key:warning".to_string()),
        "{found:?}"
    );
}

#[test]
fn wrong_x5t_is_a_warning() {
    let dir = Workdir::new();
    let keys = keys();
    let (address, ca) = server(&dir, &keys);
    let out = metadata_run(&url(address, "/wrong-x5t"), &ca).output();
    out.assert_code(1);
    assert!(out.first_line().contains("x5t"), "{}", out.context());
    let json = metadata_run(&url(address, "/wrong-x5t"), &ca)
        .args(["-o", "json"])
        .output()
        .json();
    assert_eq!(
        codes(&json),
        vec!["metadata.x5t_mismatch:warning", "metadata.ok:ok"]
    );
}

#[test]
fn every_bad_answer_has_its_own_code_and_reason() {
    let dir = Workdir::new();
    let keys = keys();
    let (address, ca) = server(&dir, &keys);
    for (case, code, state, reason) in [
        ("/bad-json", "metadata.invalid", 3, "not JSON"),
        ("/404", "metadata.http_error", 3, "HTTP 404"),
        ("/loop", "metadata.http_error", 3, "more than 3 redirects"),
        ("/to-http", "metadata.http_error", 3, "only https"),
        (
            "/oversized",
            "metadata.http_error",
            3,
            "larger than 1024 KiB",
        ),
        (
            "/gzip-bomb",
            "metadata.http_error",
            3,
            "after decompression",
        ),
        (
            "/empty",
            "metadata.no_keys",
            2,
            "publishes no signing certificate",
        ),
    ] {
        let out = metadata_run(&url(address, case), &ca).output();
        out.assert_code(state);
        assert!(
            out.first_line().contains(reason),
            "{case}: {}",
            out.context()
        );
        assert_eq!(out.stdout.lines().count(), 2, "{case}: {}", out.context());
        let json = metadata_run(&url(address, case), &ca)
            .args(["-o", "json"])
            .output()
            .json();
        assert_eq!(
            json["findings"][0]["code"].as_str(),
            Some(code),
            "{case}: {json}"
        );
    }
}

#[test]
fn a_server_that_never_answers_is_unknown_within_the_timeout() {
    let dir = Workdir::new();
    let keys = keys();
    let (address, ca) = server(&dir, &keys);
    let out = metadata_run(&url(address, "/slow"), &ca)
        .args(["-t", "1"])
        .timeout(Duration::from_secs(10))
        .output();
    out.assert_code(3);
    assert!(
        out.first_line()
            .contains("could not be checked: no complete answer within"),
        "{}",
        out.context()
    );
    assert!(
        out.elapsed < Duration::from_secs(3),
        "took {:?}",
        out.elapsed
    );
    println!(
        "slow metadata server, -t 1: UNKNOWN after {:?}",
        out.elapsed
    );
}

#[test]
fn trust_needs_the_ca_or_insecure() {
    let dir = Workdir::new();
    let keys = keys();
    let (address, _ca) = server(&dir, &keys);
    let out = Run::new()
        .now(anchor())
        .args(["--metadata", &url(address, "/valid")])
        .output();
    out.assert_code(3);
    assert!(
        out.first_line().contains("not trusted (unknown issuer)"),
        "{}",
        out.context()
    );
    assert!(out.first_line().contains("--ca-file"), "{}", out.context());
    Run::new()
        .now(anchor())
        .args(["--metadata", &url(address, "/valid"), "--insecure"])
        .output()
        .assert_code(0);
}

#[test]
fn one_server_behind_a_load_balancer() {
    let dir = Workdir::new();
    let keys = keys();
    let (address, ca) = server(&dir, &keys);
    let port = address.port();
    // The URL names the service; --connect-to picks the server (no DNS lookup of the name).
    let out = metadata_run(&format!("https://mail.contoso.test:{port}{PATH}"), &ca)
        .args(["--connect-to", "127.0.0.1"])
        .output();
    out.assert_code(0);
    // The URL names the server; --sni asks it for the service's name.
    let out = metadata_run(&format!("https://127.0.0.1:{port}{PATH}"), &ca)
        .args(["--sni", "mail.contoso.test"])
        .output();
    out.assert_code(0);
}

#[test]
fn saved_files_and_malformed_files() {
    let dir = Workdir::new();
    let keys = keys();
    let good = dir.write(
        "metadata.json",
        net::metadata_doc(&[(&keys.current, None)], KeyCase::Camel),
    );
    let out = Run::new()
        .now(anchor())
        .arg("--metadata")
        .arg(&good)
        .output();
    out.assert_code(0);
    let bad = dir.write("bad.json", "{\"keys\": [");
    Run::new()
        .now(anchor())
        .arg("--metadata")
        .arg(&bad)
        .output()
        .assert_unknown("not JSON");
    let no_keys = dir.write("nokeys.json", "{\"issuer\": \"x\"}");
    Run::new()
        .now(anchor())
        .arg("--metadata")
        .arg(&no_keys)
        .output()
        .assert_unknown("no \"keys\" list");
}

#[test]
fn the_sample_document() {
    let out = Run::new()
        .args([
            "--now",
            "2026-12-01T00:00:00Z",
            "--metadata",
            "samples/metadata-contoso.json",
        ])
        .output();
    out.assert_code(0);
    assert!(
        out.first_line()
            .contains("metadata publishes 1 signing certificate, C4F63D98 expires in 1506 days"),
        "{}",
        out.context()
    );
}

#[test]
fn unreachable_servers_are_unknown_not_expired() {
    let port = net::closed_port();
    let out = Run::new()
        .args(["--metadata", &format!("https://127.0.0.1:{port}{PATH}")])
        .output();
    out.assert_code(3);
    assert!(
        out.first_line().contains("connection refused"),
        "{}",
        out.context()
    );
    assert!(!out.stdout.contains("expired"), "{}", out.context());
    let out = Run::new()
        .args(["--metadata", &format!("https://127.0.0.1:{port}{PATH}")])
        .args(["--unreachable-state", "warning"])
        .output();
    out.assert_code(1);

    let out = Run::new()
        .args([
            "--metadata",
            "https://no-such-host.invalid/autodiscover/metadata/json/1",
        ])
        .args(["-t", "2"])
        .output();
    out.assert_code(3);
    assert!(
        out.first_line().contains("cannot resolve host"),
        "{}",
        out.context()
    );
    assert!(
        out.elapsed < Duration::from_secs(3),
        "took {:?}",
        out.elapsed
    );
    println!("DNS failure: UNKNOWN after {:?}", out.elapsed);

    Run::new()
        .args([
            "--metadata",
            "http://127.0.0.1/autodiscover/metadata/json/1",
        ])
        .output()
        .assert_unknown("only https:// URLs");
}
