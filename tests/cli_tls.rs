//! `--tls HOST[:PORT]` and `--starttls` through the binary, against real loopback servers: an
//! SMTP server that answers EHLO and STARTTLS with a self-signed chain (and ones that refuse),
//! an implicit-TLS server presenting an Auth Certificate, a black hole, a closed port, a name
//! that does not resolve, and `openssl s_server` as an independent TLS peer where installed.

mod common;

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::net::{self, Smtp};
use common::{Run, Workdir, anchor, auth_expiring, days, selfsigned_expiring};

use common::net::finding_codes as json_codes;

#[test]
fn smtp_starttls_presents_the_self_signed_transport_certificate() {
    let transport = selfsigned_expiring("EXCH01", anchor() + days(20));
    let address = net::smtp_server(&net::identity_of(&transport), Smtp::Good);
    let endpoint = format!("127.0.0.1:{}", address.port());
    let out = Run::new()
        .now(anchor())
        .args(["--tls", &endpoint, "--starttls", "smtp"])
        .output();
    // 20 days left: inside the self-signed warning range (30:), outside the critical (14:).
    out.assert_code(1);
    let nagios = out.nagios();
    assert!(
        nagios.summary.contains(&transport.short())
            && nagios.summary.contains("expires in 20 days"),
        "{}",
        out.context()
    );
    assert_eq!(
        nagios
            .perf(&format!("selfsigned_{}_days", transport.short()))
            .int(),
        20
    );
    // The thumbprint and where it was seen, to match with a bundle.
    let json = Run::new()
        .now(anchor())
        .args(["--tls", &endpoint, "--starttls", "smtp", "-o", "json"])
        .output()
        .json();
    let certificate = &json["certificates"][0];
    assert_eq!(
        certificate["thumbprint"].as_str(),
        Some(transport.thumbprint().as_str())
    );
    assert_eq!(
        certificate["sources"][0]["origin"].as_str(),
        Some(format!("tls://{endpoint} (starttls smtp)").as_str())
    );
    assert_eq!(json_codes(&json), vec!["cert.expiring:warning"]);
    let verbose = Run::new()
        .now(anchor())
        .args(["--tls", &endpoint, "--starttls", "smtp", "-v"])
        .output();
    assert!(
        verbose.stdout.contains(&transport.thumbprint()),
        "{}",
        verbose.context()
    );
}

#[test]
fn imap_and_pop3_starttls() {
    let transport = selfsigned_expiring("EXCH01", anchor() + days(400));
    let identity = net::identity_of(&transport);
    for (pop3, protocol) in [(false, "imap"), (true, "pop3")] {
        let address = net::line_starttls_server(&identity, pop3);
        let out = Run::new()
            .now(anchor())
            .args(["--tls", &format!("127.0.0.1:{}", address.port())])
            .args(["--starttls", protocol, "-o", "json"])
            .output();
        out.assert_code(0);
        let json = out.json();
        assert_eq!(
            json["certificates"][0]["thumbprint"].as_str(),
            Some(transport.thumbprint().as_str()),
            "{protocol}: {json}"
        );
    }
}

#[test]
fn smtp_answers_that_refuse_are_reported_clearly() {
    let transport = selfsigned_expiring("EXCH01", anchor() + days(400));
    let identity = net::identity_of(&transport);
    for (behaviour, reason) in [
        (Smtp::NoStartTls, "does not offer STARTTLS"),
        (
            Smtp::RefusesStartTls,
            "STARTTLS refused: 454 4.7.0 TLS not available",
        ),
        (Smtp::RefusesClient, "SMTP greeting refused: 554 5.7.1"),
    ] {
        let address = net::smtp_server(&identity, behaviour);
        let out = Run::new()
            .now(anchor())
            .args([
                "--tls",
                &format!("127.0.0.1:{}", address.port()),
                "--starttls",
                "smtp",
            ])
            .output();
        out.assert_code(3);
        assert!(
            out.first_line().contains(reason),
            "{behaviour:?}: {}",
            out.context()
        );
        assert!(!out.stdout.contains("expired"), "{}", out.context());
    }
}

#[test]
fn implicit_tls_auth_certificate_uses_auth_thresholds_and_chain_option() {
    let auth = auth_expiring(anchor() + days(45));
    let address = net::implicit_tls_server(&net::identity_of(&auth));
    let endpoint = format!("127.0.0.1:{}", address.port());
    // 45 days: OK for self-signed thresholds, WARNING for Auth (60:).
    let out = Run::new().now(anchor()).args(["--tls", &endpoint]).output();
    out.assert_code(1);
    assert!(
        out.first_line().contains("Auth Certificate"),
        "{}",
        out.context()
    );

    // A CA-issued chain: the leaf only, or every element with --chain.
    let identity = net::trusted_identity();
    let address = net::implicit_tls_server(&identity);
    let endpoint = format!("127.0.0.1:{}", address.port());
    let json = Run::new()
        .args(["--tls", &endpoint, "-o", "json"])
        .output()
        .json();
    assert_eq!(json["certificates"].as_array().unwrap().len(), 1, "{json}");
    let json = Run::new()
        .args(["--tls", &endpoint, "--chain", "-o", "json"])
        .output()
        .json();
    let certificates = json["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 2, "{json}");
    assert!(
        certificates[1]["sources"][0]["origin"]
            .as_str()
            .unwrap()
            .ends_with("chain element 2"),
        "{json}"
    );
}

#[test]
fn several_endpoints_in_one_run() {
    let transport = selfsigned_expiring("EXCH01", anchor() + days(400));
    let backend = selfsigned_expiring("EXCH01-backend", anchor() + days(5));
    let a = net::implicit_tls_server(&net::identity_of(&transport));
    let b = net::implicit_tls_server(&net::identity_of(&backend));
    let out = Run::new()
        .now(anchor())
        .args(["--tls", &format!("localhost:{}", a.port())])
        .args(["--tls", &format!("127.0.0.1:{}", b.port())])
        .output();
    out.assert_code(2);
    assert_eq!(
        out.nagios().perf("certificates").int(),
        2,
        "{}",
        out.context()
    );
}

#[test]
fn black_hole_is_unknown_within_the_timeout() {
    let hole = net::black_hole();
    for starttls in [None, Some("smtp")] {
        let mut run = Run::new()
            .args(["--tls", &format!("127.0.0.1:{}", hole.port()), "-t", "1"])
            .timeout(Duration::from_secs(10));
        if let Some(protocol) = starttls {
            run = run.args(["--starttls", protocol]);
        }
        let out = run.output();
        out.assert_code(3);
        assert!(
            out.first_line().contains("could not be checked")
                && out.first_line().contains("no answer within"),
            "{}",
            out.context()
        );
        assert!(
            !out.first_line().contains("did not finish"),
            "{}",
            out.context()
        );
        assert!(
            out.elapsed < Duration::from_secs(3),
            "took {:?}",
            out.elapsed
        );
        println!(
            "black hole ({starttls:?}), -t 1: UNKNOWN after {:?}",
            out.elapsed
        );
    }
}

#[test]
fn refused_unresolvable_and_not_tls() {
    let port = net::closed_port();
    let out = Run::new()
        .args(["--tls", &format!("127.0.0.1:{port}")])
        .output();
    out.assert_code(3);
    assert!(
        out.first_line().contains("connection refused"),
        "{}",
        out.context()
    );
    Run::new()
        .args([
            "--tls",
            &format!("127.0.0.1:{port}"),
            "--unreachable-state",
            "critical",
        ])
        .output()
        .assert_code(2);
    let out = Run::new()
        .args([
            "--tls",
            &format!("127.0.0.1:{port}"),
            "--unreachable-state",
            "ok",
        ])
        .output();
    out.assert_code(0);
    assert!(
        out.first_line().contains("could not be reached"),
        "{}",
        out.context()
    );

    let out = Run::new()
        .args(["--tls", "no-such-host.invalid:25", "-t", "2"])
        .output();
    out.assert_code(3);
    assert!(
        out.first_line()
            .contains("cannot resolve host 'no-such-host.invalid'"),
        "{}",
        out.context()
    );
    println!("DNS failure: UNKNOWN after {:?}", out.elapsed);

    let alert = net::alert_server();
    let out = Run::new()
        .args(["--tls", &format!("127.0.0.1:{}", alert.port())])
        .output();
    out.assert_code(3);
    assert!(
        out.first_line()
            .contains("the server sent a TLS alert: handshake failure"),
        "{}",
        out.context()
    );
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.context());

    // A plain SMTP server spoken to as if it were TLS.
    let transport = selfsigned_expiring("EXCH01", anchor() + days(400));
    let smtp = net::smtp_server(&net::identity_of(&transport), Smtp::Good);
    let out = Run::new()
        .args(["--tls", &format!("127.0.0.1:{}", smtp.port()), "-t", "3"])
        .output();
    out.assert_code(3);
    assert!(out.first_line().contains("TLS"), "{}", out.context());

    Run::new()
        .args(["--tls", "host:99999"])
        .output()
        .assert_unknown("port must be a number");
    Run::new()
        .args(["--starttls", "smtp"])
        .output()
        .assert_unknown("invalid option");
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn openssl_s_server_as_an_independent_peer() {
    if !common::openssl_or_skip() {
        return;
    }
    let dir = Workdir::new();
    let transport = selfsigned_expiring("EXCH02", anchor() + days(300));
    let cert = dir.write_pem("cert.pem", &transport);
    let key = dir.write("key.pem", &transport.key_pem);
    let port = net::closed_port();
    let child = Command::new(common::OPENSSL)
        .args(["s_server", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        println!("skipped: openssl s_server could not start");
        return;
    };
    let _server = Killed(child);
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(5) {
            println!("skipped: openssl s_server did not listen");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Run::new()
        .now(anchor())
        .args(["--tls", &format!("127.0.0.1:{port}"), "-o", "json"])
        .output();
    out.assert_code(0);
    let json = out.json();
    assert_eq!(
        json["certificates"][0]["thumbprint"].as_str(),
        Some(transport.thumbprint().as_str()),
        "{json}"
    );
}
