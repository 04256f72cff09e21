//! Certificate files as admins produce them: PEM (LF, CRLF, BOM, between other PEM blocks), DER,
//! bare base64 and PKCS#12 made by the real `openssl pkcs12 -export` (modern AES, legacy
//! Windows-style 3DES/SHA-1, empty password). The format comes from the content, so the same
//! certificate must give the same facts whatever the file looks like or is called.

mod common;

use std::path::Path;

use serde_json::Value;

use common::{
    AUTH_CN, PfxStyle, Run, TestCert, Workdir, anchor, auth_expiring, days, openssl_or_skip,
    rfc3339, selfsigned_expiring, write_pfx,
};

/// The JSON report of one run on `paths` at the anchor, exit code checked.
fn report<P: AsRef<Path>>(paths: &[P], extra: &[&str], envs: &[(&str, &str)], code: i32) -> Value {
    let mut run = Run::new()
        .certs(paths)
        .now(anchor())
        .args(["-o", "json"])
        .args(extra);
    for (key, value) in envs {
        run = run.env(key, value);
    }
    let output = run.output();
    output.assert_code(code);
    output.json()
}

/// Asserts that a report holds exactly `cert`, read from `path`.
fn assert_holds(report: &Value, cert: &TestCert, path: &Path) {
    let certificates = report["certificates"].as_array().expect("certificates");
    assert_eq!(certificates.len(), 1, "{report:#}");
    let c = &certificates[0];
    assert_eq!(c["thumbprint"], cert.thumbprint().as_str(), "{report:#}");
    assert_eq!(c["subject"], cert.subject().as_str(), "{report:#}");
    assert_eq!(
        c["not_after"],
        rfc3339(cert.not_after).as_str(),
        "{report:#}"
    );
    assert_eq!(
        c["not_before"],
        rfc3339(cert.not_before).as_str(),
        "{report:#}"
    );
    assert_eq!(c["self_signed"], true, "{report:#}");
    assert_eq!(
        c["sources"],
        serde_json::json!([{ "origin": path.display().to_string() }]),
        "{report:#}"
    );
}

fn auth_100_days() -> TestCert {
    auth_expiring(anchor() + days(100))
}

#[test]
fn pem_with_lf() {
    let dir = Workdir::new();
    let cert = auth_100_days();
    let path = dir.write_pem("auth.pem", &cert);
    assert_holds(&report(&[&path], &[], &[], 0), &cert, &path);
}

#[test]
fn pem_with_crlf_and_utf8_bom() {
    let dir = Workdir::new();
    let cert = auth_100_days();
    let crlf = dir.write_pem_crlf("auth-crlf.pem", &cert);
    assert_holds(&report(&[&crlf], &[], &[], 0), &cert, &crlf);
    let bom = dir.write("auth-bom.cer", format!("\u{feff}{}", cert.pem_crlf()));
    assert_holds(&report(&[&bom], &[], &[], 0), &cert, &bom);
}

#[test]
fn pem_between_other_blocks() {
    let dir = Workdir::new();
    let cert = auth_100_days();
    let path = dir.write_pem_bundle("bundle.pem", &cert);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("PRIVATE KEY-----") && text.contains("\r\n"),
        "{text}"
    );
    assert_holds(&report(&[&path], &[], &[], 0), &cert, &path);
}

#[test]
fn der_whatever_the_extension() {
    let dir = Workdir::new();
    let cert = auth_100_days();
    for name in ["auth.cer", "auth.der", "auth.pem", "auth"] {
        let path = dir.write_der(name, &cert);
        assert_holds(&report(&[&path], &[], &[], 0), &cert, &path);
    }
}

#[test]
fn bare_base64_on_one_line_and_wrapped() {
    let dir = Workdir::new();
    let cert = auth_100_days();
    let one_line = dir.write_base64("auth.b64", &cert);
    assert_holds(&report(&[&one_line], &[], &[], 0), &cert, &one_line);
    // Wrapped at 76 columns with CRLF and a UTF-8 BOM, as some Windows tools write it.
    let body = cert.base64();
    let wrapped: Vec<&str> = body
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let path = dir.write("auth.cer", format!("\u{feff}{}\r\n", wrapped.join("\r\n")));
    assert_holds(&report(&[&path], &[], &[], 0), &cert, &path);
}

#[test]
fn several_certificates_in_one_pem_file() {
    let dir = Workdir::new();
    let auth = auth_100_days();
    let transport = selfsigned_expiring("EXCH01", anchor() + days(20));
    let path = dir.write("chain.pem", format!("{}\n{}", auth.pem(), transport.pem()));
    let output = Run::new().certs([&path]).now(anchor()).output();
    output.assert_code(1);
    let nagios = output.nagios();
    assert_eq!(nagios.perf("certificates").int(), 2);
    assert_eq!(
        nagios.perf(&format!("auth_{}_days", auth.short())).int(),
        100
    );
    assert_eq!(
        nagios
            .perf(&format!("selfsigned_{}_days", transport.short()))
            .int(),
        20
    );
    assert!(
        nagios.long[0].starts_with("WARNING: self-signed certificate"),
        "{nagios:?}"
    );
}

#[test]
fn the_same_certificate_in_several_files_is_judged_once_with_every_source() {
    let dir = Workdir::new();
    let cert = auth_100_days();
    let paths = vec![
        dir.write_pem("a.pem", &cert),
        dir.write_der("a.cer", &cert),
        dir.write_base64("a.b64", &cert),
    ];
    // The first file twice: still one source for it.
    let mut given = paths.clone();
    given.push(paths[0].clone());
    let report = report(&given, &[], &[], 0);
    let certificates = report["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 1, "{report:#}");
    let origins: Vec<&str> = certificates[0]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["origin"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(origins, expected);
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    let certificates_metric = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["label"] == "certificates")
        .unwrap();
    assert_eq!(certificates_metric["value"], 1);
}

#[test]
fn a_ca_issued_certificate_is_neither_auth_nor_self_signed() {
    let dir = Workdir::new();
    let ca = common::test_ca("Contoso Issuing CA");
    let owa = common::ca_issued(
        "mail.contoso.com",
        anchor() - days(30),
        anchor() + days(20),
        &ca,
    );
    let path = dir.write_pem("owa.pem", &owa);
    let report = report(&[path], &[], &[], 1);
    let c = &report["certificates"][0];
    assert_eq!(c["self_signed"], false);
    assert_eq!(c["issuer"], "CN=Contoso Issuing CA");
    assert_eq!(c["roles"], serde_json::json!(["ca_issued"]));
    assert_eq!(c["days_left"], 20);
    // Other certificates use the self-signed thresholds (30:/14:): 20 days is a warning.
    assert_eq!(report["findings"][0]["code"], "cert.expiring");
    assert_eq!(report["findings"][0]["severity"], "warning");
}

#[test]
fn auth_certificate_is_recognised_by_its_subject_cn() {
    let dir = Workdir::new();
    // A certificate *named* like the Auth Certificate in another attribute is not one.
    let lookalike = selfsigned_expiring(&format!("{AUTH_CN} (copy)"), anchor() + days(100));
    let real = auth_100_days();
    let report = report(
        &[
            dir.write_pem("lookalike.pem", &lookalike),
            dir.write_pem("real.pem", &real),
        ],
        &[],
        &[],
        0,
    );
    let roles: Vec<&Value> = report["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["roles"][0])
        .collect();
    assert_eq!(roles, [&Value::from("selfsigned"), &Value::from("auth")]);
}

// --- PKCS#12 made by openssl -------------------------------------------------------------------

#[test]
fn pfx_modern_aes_with_password_from_env() {
    if !openssl_or_skip() {
        return;
    }
    let dir = Workdir::new();
    let cert = auth_100_days();
    let path = write_pfx(&dir, "auth.pfx", &cert, "p@ss word!", PfxStyle::Modern);
    let report = report(
        &[&path],
        &["--pfx-password-env", "EXCH_PFX_PASSWORD"],
        &[("EXCH_PFX_PASSWORD", "p@ss word!")],
        0,
    );
    assert_holds(&report, &cert, &path);
}

#[test]
fn pfx_legacy_3des_sha1_with_password_from_file() {
    if !openssl_or_skip() {
        return;
    }
    let dir = Workdir::new();
    let cert = auth_100_days();
    let path = write_pfx(
        &dir,
        "auth-legacy.pfx",
        &cert,
        "Secret1",
        PfxStyle::Legacy3Des,
    );
    // Only the first line counts; a UTF-8 BOM and CRLF as Notepad writes them.
    let password = dir.write("password.txt", "\u{feff}Secret1\r\nsecond line\r\n");
    let report = report(
        &[&path],
        &["--pfx-password-file", password.to_str().unwrap()],
        &[],
        0,
    );
    assert_holds(&report, &cert, &path);
}

#[test]
fn pfx_with_an_empty_password_needs_no_option() {
    if !openssl_or_skip() {
        return;
    }
    let dir = Workdir::new();
    let cert = selfsigned_expiring("EXCH01", anchor() + days(40));
    for style in [PfxStyle::Modern, PfxStyle::Legacy3Des] {
        let path = write_pfx(&dir, &format!("{style:?}.pfx"), &cert, "", style);
        assert_holds(&report(&[&path], &[], &[], 0), &cert, &path);
        // An explicitly empty password works too.
        let with_env = report(
            &[&path],
            &["--pfx-password-env", "EMPTY_PFX_PASSWORD"],
            &[("EMPTY_PFX_PASSWORD", "")],
            0,
        );
        assert_holds(&with_env, &cert, &path);
    }
}

#[test]
fn pfx_and_pem_of_the_same_certificate_are_one_certificate() {
    if !openssl_or_skip() {
        return;
    }
    let dir = Workdir::new();
    let cert = auth_expiring(anchor() + days(45));
    let pfx = write_pfx(&dir, "auth.pfx", &cert, "pw", PfxStyle::Legacy3Des);
    let pem = dir.write_pem("auth.pem", &cert);
    let output = Run::new()
        .certs([&pfx, &pem])
        .now(anchor())
        .args(["--pfx-password-env", "PW", "-v"])
        .env("PW", "pw")
        .output();
    output.assert_code(1);
    let nagios = output.nagios();
    assert_eq!(nagios.perf("certificates").int(), 1);
    assert_eq!(nagios.long.len(), 2, "{}", output.context());
    assert!(
        nagios.long[1].ends_with(&format!("sources={}, {}", pfx.display(), pem.display())),
        "{}",
        output.context()
    );
}

#[test]
fn the_sample_pfx_with_its_password_file() {
    let output = Run::new()
        .args([
            "--cert",
            "samples/auth-certificate.pfx",
            "--pfx-password-file",
            "samples/auth-certificate.pfx.password",
            "--cert",
            "samples/auth-certificate.pem",
            "--now",
            "2026-12-01T00:00:00Z",
            "-o",
            "json",
        ])
        .output();
    output.assert_code(0);
    let report = output.json();
    // The PFX holds the same certificate as the PEM sample.
    assert_eq!(report["certificates"].as_array().unwrap().len(), 1);
    assert_eq!(
        report["certificates"][0]["thumbprint"],
        "C4F63D98A94C3F1DDA68A5AF9D0F476C29CA860F"
    );
    assert_eq!(
        report["certificates"][0]["sources"],
        serde_json::json!([
            {"origin": "samples/auth-certificate.pfx"},
            {"origin": "samples/auth-certificate.pem"}
        ])
    );
}

/// Windows PowerShell 5.1 writes `[Convert]::ToBase64String($c.RawData) > auth.cer` and
/// `Out-File` as UTF-16LE with a BOM; DOMAIN.md section 5 says readers must cope with it.
#[test]
fn base64_and_pem_written_by_windows_powershell_as_utf16le() {
    let dir = Workdir::new();
    let cert = auth_100_days();
    let utf16 = |text: &str| -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        bytes
    };
    let base64 = dir.write("auth.cer", utf16(&format!("{}\r\n", cert.base64())));
    assert_holds(&report(&[&base64], &[], &[], 0), &cert, &base64);
    let pem = dir.write("auth.pem", utf16(&cert.pem_crlf()));
    assert_holds(&report(&[&pem], &[], &[], 0), &cert, &pem);
}
