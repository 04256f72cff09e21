//! Bad input: every case ends quickly with UNKNOWN (exit 3) and a one-line reason in Nagios
//! form, a PRTG error document (exit 0) and a JSON report with status UNKNOWN. `--help` and
//! `--version` exit 3 as the Monitoring Plugins guidelines ask.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    Output, PfxStyle, Run, Workdir, anchor, auth_expiring, days, openssl_or_skip, write_pfx,
};

/// Each bad-input run must end well within this (the tool's own default timeout is 10 s).
const QUICK: Duration = Duration::from_secs(5);

/// One bad command line.
struct Case {
    args: Vec<OsString>,
    envs: Vec<(&'static str, &'static str)>,
    /// Appending `-o FORMAT` keeps the command line meaningful (false for `--output bogus`).
    other_formats: bool,
}

impl Case {
    fn new<I, S>(args: I) -> Case
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Case {
            args: args.into_iter().map(Into::into).collect(),
            envs: Vec::new(),
            other_formats: true,
        }
    }

    fn cert(path: &Path) -> Case {
        Case::new([OsString::from("--cert"), path.as_os_str().to_os_string()])
    }

    fn env(mut self, key: &'static str, value: &'static str) -> Case {
        self.envs.push((key, value));
        self
    }

    fn nagios_only(mut self) -> Case {
        self.other_formats = false;
        self
    }

    fn run(&self, format: Option<&str>) -> Output {
        let mut run = Run::new()
            .timeout(QUICK)
            .env_remove("CHECK_EXCHANGE_AUTHCERT_UNSET")
            .args(&self.args);
        if let Some(format) = format {
            run = run.args(["-o", format]);
        }
        for (key, value) in &self.envs {
            run = run.env(key, value);
        }
        let output = run.output();
        assert!(
            output.elapsed < QUICK,
            "took {:?}\n{}",
            output.elapsed,
            output.context()
        );
        assert!(
            output.stderr.is_empty(),
            "everything goes to stdout\n{}",
            output.context()
        );
        output
    }

    /// Nagios: exit 3, `EXCHANGE AUTHCERT UNKNOWN - <reason>`, the reason once more as the only
    /// long-output line. PRTG XML: the error document. JSON: status UNKNOWN, input.invalid.
    fn assert_fails(&self, reason: &str) {
        let nagios = self.run(None);
        nagios.assert_unknown(reason);
        let lines: Vec<&str> = nagios.stdout.lines().collect();
        let summary = lines[0]
            .strip_prefix("EXCHANGE AUTHCERT UNKNOWN - ")
            .unwrap();
        assert_eq!(
            lines,
            [lines[0].to_string(), format!("UNKNOWN: {summary}")],
            "a one-line reason\n{}",
            nagios.context()
        );
        if !self.other_formats {
            return;
        }

        let xml = self.run(Some("prtg-xml"));
        xml.assert_code(0);
        let root = xml.xml();
        let names: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(root.name, "prtg", "{}", xml.context());
        assert_eq!(names, ["error", "text"], "{}", xml.context());
        assert_eq!(root.child_text("error"), Some("1"), "{}", xml.context());
        assert_eq!(root.child_text("text"), Some(summary), "{}", xml.context());

        let json = self.run(Some("json"));
        json.assert_code(3);
        let report = json.json();
        assert_eq!(report["status"], "UNKNOWN", "{}", json.context());
        assert_eq!(report["exit_code"], 3, "{}", json.context());
        assert_eq!(report["summary"], summary, "{}", json.context());
        assert_eq!(report["findings"][0]["severity"], "unknown");
        assert_eq!(report["findings"][0]["code"], "input.invalid");
        assert_eq!(report["findings"][0]["message"], summary);
        assert_eq!(report["certificates"], serde_json::json!([]));

        let v2 = self.run(Some("prtg-v2"));
        v2.assert_code(0);
        let document = v2.json();
        assert_eq!(document["status"], "error", "{}", v2.context());
        assert_eq!(document["message"], summary, "{}", v2.context());
    }
}

fn valid_pem(dir: &Workdir) -> PathBuf {
    dir.write_pem("valid.pem", &auth_expiring(anchor() + days(100)))
}

// --- files ------------------------------------------------------------------------------------

#[test]
fn nonexistent_file() {
    Case::new(["--cert", "samples/nonexistent.pem"])
        .assert_fails("samples/nonexistent.pem: no such file");
}

#[test]
fn one_bad_file_among_good_ones_fails_the_run() {
    let dir = Workdir::new();
    let good = valid_pem(&dir);
    let mut case = Case::cert(&good);
    case.args
        .extend(["--cert".into(), "samples/nonexistent.pem".into()]);
    case.assert_fails("samples/nonexistent.pem: no such file");
}

#[test]
fn empty_file() {
    let dir = Workdir::new();
    let path = dir.write("empty.pem", b"");
    Case::cert(&path).assert_fails(&format!("{}: file is empty", path.display()));
}

#[test]
fn only_white_space() {
    let dir = Workdir::new();
    let path = dir.write("blank.cer", b" \r\n\t\r\n");
    Case::cert(&path).assert_fails("file holds only white space");
}

#[test]
fn a_directory() {
    let dir = Workdir::new();
    Case::cert(dir.path()).assert_fails(&format!(
        "{}: is a directory, not a file",
        dir.path().display()
    ));
}

#[cfg(unix)]
#[test]
fn a_fifo_does_not_hang() {
    let dir = Workdir::new();
    let fifo = dir.join("fifo.pem");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    // Nobody ever writes to it: opening it for reading would block until the timeout.
    Case::cert(&fifo).assert_fails("is not a regular file (device, FIFO or socket)");
}

#[cfg(unix)]
#[test]
fn a_device() {
    Case::new(["--cert", "/dev/null"])
        .assert_fails("/dev/null: is not a regular file (device, FIFO or socket)");
}

#[test]
fn a_file_over_the_size_cap() {
    let dir = Workdir::new();
    let path = dir.join("huge.pem");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(65 * 1024 * 1024).unwrap(); // sparse: costs no disk
    Case::cert(&path).assert_fails("larger than 64 MiB");
}

#[test]
fn binary_garbage() {
    let dir = Workdir::new();
    // Deterministic noise that is neither DER (0x30), a BOM nor UTF-8.
    let mut state: u32 = 0x1234_5678;
    let mut bytes = vec![0x89, 0xC3, 0x28];
    bytes.extend((0..500).map(|_| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 24) as u8
    }));
    let path = dir.write("garbage.cer", bytes);
    Case::cert(&path).assert_fails("neither DER, PKCS#12 nor PEM text (binary data)");
}

#[test]
fn pem_with_no_certificate_block() {
    let dir = Workdir::new();
    let cert = auth_expiring(anchor() + days(100));
    let path = dir.write("key-only.pem", &cert.key_pem);
    Case::cert(&path).assert_fails("PEM file holds no CERTIFICATE block");
}

#[test]
fn pem_with_bad_base64() {
    let dir = Workdir::new();
    let path = dir.write(
        "bad.pem",
        "-----BEGIN CERTIFICATE-----\nMIIB*not+base64!\n-----END CERTIFICATE-----\n",
    );
    Case::cert(&path).assert_fails("PEM certificate 1 is not valid base64");
}

#[test]
fn pem_without_end_line() {
    let dir = Workdir::new();
    let cert = auth_expiring(anchor() + days(100));
    let pem = cert.pem();
    let cut = &pem[..pem.find("-----END").unwrap()];
    let path = dir.write("cut.pem", cut);
    Case::cert(&path).assert_fails("PEM block 'CERTIFICATE' has no END line");
}

#[test]
fn pem_whose_second_certificate_is_not_a_certificate() {
    let dir = Workdir::new();
    let cert = auth_expiring(anchor() + days(100));
    let path = dir.write(
        "two.pem",
        format!(
            "{}-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
            cert.pem()
        ),
    );
    Case::cert(&path).assert_fails("certificate 2 of 2: not a DER X.509 certificate");
}

#[test]
fn truncated_der() {
    let dir = Workdir::new();
    let cert = auth_expiring(anchor() + days(100));
    let path = dir.write("truncated.cer", &cert.der[..cert.der.len() / 2]);
    Case::cert(&path).assert_fails("not a DER X.509 certificate");
}

#[test]
fn der_with_trailing_bytes() {
    let dir = Workdir::new();
    let cert = auth_expiring(anchor() + days(100));
    let mut bytes = cert.der.clone();
    bytes.extend([0, 0, 0]);
    let path = dir.write("trailing.cer", bytes);
    Case::cert(&path).assert_fails("3 trailing bytes after the DER certificate");
}

#[test]
fn text_that_is_not_a_certificate() {
    let dir = Workdir::new();
    let path = dir.write("notes.txt", "Auth certificate thumbprint: see the wiki\n");
    Case::cert(&path).assert_fails("neither DER, PKCS#12, PEM nor base64 text");
    // Valid base64 that is not DER.
    let path = dir.write("hello.cer", "aGVsbG8gd29ybGQ=\n");
    Case::cert(&path).assert_fails("neither DER, PKCS#12, PEM nor base64 text");
}

// --- PKCS#12 ----------------------------------------------------------------------------------

#[test]
fn pfx_with_wrong_password() {
    if !openssl_or_skip() {
        return;
    }
    let dir = Workdir::new();
    let cert = auth_expiring(anchor() + days(100));
    for style in [PfxStyle::Modern, PfxStyle::Legacy3Des] {
        let path = write_pfx(&dir, &format!("{style:?}.pfx"), &cert, "right", style);
        Case::new([
            OsString::from("--cert"),
            path.into_os_string(),
            "--pfx-password-env".into(),
            "PFX_PASSWORD".into(),
        ])
        .env("PFX_PASSWORD", "wrong")
        .assert_fails("wrong PKCS#12 password (integrity check failed)");
    }
}

#[test]
fn pfx_with_wrong_password_from_file() {
    let dir = Workdir::new();
    let password = dir.write("password.txt", "not-sample\n");
    Case::new([
        OsString::from("--cert"),
        "samples/auth-certificate.pfx".into(),
        "--pfx-password-file".into(),
        password.into_os_string(),
    ])
    .assert_fails("samples/auth-certificate.pfx: wrong PKCS#12 password");
}

#[test]
fn pfx_needing_a_password_when_none_is_given() {
    Case::new(["--cert", "samples/auth-certificate.pfx"]).assert_fails(
        "samples/auth-certificate.pfx: PKCS#12 file needs a password (--pfx-password-env or --pfx-password-file)",
    );
}

#[test]
fn pfx_password_env_naming_an_unset_variable() {
    Case::new([
        "--cert",
        "samples/auth-certificate.pfx",
        "--pfx-password-env",
        "CHECK_EXCHANGE_AUTHCERT_UNSET",
    ])
    .assert_fails(
        "--pfx-password-env: environment variable 'CHECK_EXCHANGE_AUTHCERT_UNSET' is not set",
    );
}

#[test]
fn pfx_password_file_missing() {
    Case::new([
        "--cert",
        "samples/auth-certificate.pfx",
        "--pfx-password-file",
        "samples/no-such-password",
    ])
    .assert_fails("--pfx-password-file: samples/no-such-password: no such file");
}

#[test]
fn pfx_password_from_env_and_file_at_once() {
    Case::new([
        "--cert",
        "samples/auth-certificate.pfx",
        "--pfx-password-env",
        "X",
        "--pfx-password-file",
        "samples/auth-certificate.pfx.password",
    ])
    .assert_fails("invalid option: the argument '--pfx-password-env <VAR>' cannot be used with '--pfx-password-file <FILE>'");
}

#[test]
fn pfx_without_certificate() {
    if !openssl_or_skip() {
        return;
    }
    let dir = Workdir::new();
    let cert = auth_expiring(anchor() + days(100));
    let key = dir.write("key.pem", &cert.key_pem);
    let path = dir.join("key-only.pfx");
    let status = std::process::Command::new(common::OPENSSL)
        .args([
            "pkcs12", "-export", "-nocerts", "-passout", "pass:pw", "-inkey",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&path)
        .output()
        .expect("openssl");
    assert!(status.status.success(), "{status:?}");
    Case::new([
        OsString::from("--cert"),
        path.into_os_string(),
        "--pfx-password-env".into(),
        "PFX_PASSWORD".into(),
    ])
    .env("PFX_PASSWORD", "pw")
    .assert_fails("PKCS#12 file holds no certificate");
}

// --- options ----------------------------------------------------------------------------------

#[test]
fn unknown_option() {
    Case::new(["--cert", "samples/auth-certificate.pem", "--bogus"])
        .assert_fails("invalid option: unexpected argument '--bogus' found");
}

#[test]
fn unknown_output_format() {
    Case::new([
        "--cert",
        "samples/auth-certificate.pem",
        "--output",
        "bogus",
    ])
    .nagios_only()
    .assert_fails("invalid option: invalid value 'bogus' for '--output <OUTPUT>'");
}

#[test]
fn now_that_is_not_rfc3339() {
    Case::new([
        "--cert",
        "samples/auth-certificate.pem",
        "--now",
        "yesterday",
    ])
    .assert_fails("--now 'yesterday' is not an RFC 3339 instant");
    Case::new([
        "--cert",
        "samples/auth-certificate.pem",
        "--now",
        "2026-12-01",
    ])
    .assert_fails("--now '2026-12-01' is not an RFC 3339 instant");
}

#[test]
fn timeout_zero() {
    Case::new(["--cert", "samples/auth-certificate.pem", "-t", "0"])
        .assert_fails("-t/--timeout '0' must be a number of seconds");
}

#[test]
fn timeout_not_a_number() {
    Case::new(["--cert", "samples/auth-certificate.pem", "-t", "abc"])
        .assert_fails("-t/--timeout 'abc' must be a number of seconds");
    Case::new(["--cert", "samples/auth-certificate.pem", "--timeout=-5"])
        .assert_fails("-t/--timeout '-5' must be a number of seconds");
    // Without '=', too: -t takes a value that starts with '-' like -w/-c do.
    Case::new(["--cert", "samples/auth-certificate.pem", "-t", "-5"])
        .assert_fails("-t/--timeout '-5' must be a number of seconds");
    Case::new(["--cert", "samples/auth-certificate.pem", "-t", "3601"])
        .assert_fails("-t/--timeout '3601' must be a number of seconds");
}

#[test]
fn valid_fractional_timeout_is_accepted() {
    // The counterpart of the cases above: a short but sufficient timeout runs normally.
    let output = Run::new()
        .timeout(QUICK)
        .args([
            "--cert",
            "samples/auth-certificate.pem",
            "--now",
            "2026-12-01T00:00:00Z",
            "-t",
            "2.5",
        ])
        .output();
    output.assert_code(0);
    assert_eq!(output.nagios().state, "OK");
}

#[test]
fn no_cert_at_all() {
    // The reason names --cert among the inputs the check accepts.
    for case in [
        Case::new(Vec::<OsString>::new()),
        Case::new(["--now", "2026-12-01T00:00:00Z", "-w", "90:"]),
    ] {
        case.assert_fails("no input: give ");
        let output = case.run(None);
        assert!(
            output.first_line().contains("--cert FILE"),
            "{}",
            output.context()
        );
    }
}

#[test]
fn cert_without_a_value() {
    Case::new(["--cert"])
        .nagios_only()
        .assert_fails("invalid option: a value is required for '--cert <FILE>'");
}

// --- help and version ---------------------------------------------------------------------------

fn assert_exit_3_on_stdout(output: &Output) {
    output.assert_code(3);
    assert!(output.stderr.is_empty(), "{}", output.context());
    assert!(output.elapsed < QUICK, "{}", output.context());
}

#[test]
fn help_exits_3_and_prints_usage() {
    for flag in ["--help", "-h"] {
        let output = Run::new().timeout(QUICK).arg(flag).output();
        assert_exit_3_on_stdout(&output);
        let text = &output.stdout;
        assert!(
            text.contains("Usage: check_exchange_authcert [OPTIONS]"),
            "{}",
            output.context()
        );
        for option in [
            "--cert <FILE>",
            "--pfx-password-env <VAR>",
            "--pfx-password-file <FILE>",
            "--warning <WARNING>",
            "--critical <CRITICAL>",
            "--now <RFC3339>",
            "--output <OUTPUT>",
            "--timeout <SECONDS>",
            "--verbose",
            "--version",
        ] {
            assert!(
                text.contains(option),
                "{flag}: no {option}\n{}",
                output.context()
            );
        }
        if flag == "--help" {
            // Long help lists the formats and the exit codes.
            for word in [
                "prtg-xml",
                "prtg-json",
                "prtg-v2",
                "json",
                "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
            ] {
                assert!(
                    text.contains(word),
                    "--help: no {word}\n{}",
                    output.context()
                );
            }
        }
    }
}

#[test]
fn version_exits_3_and_prints_the_version() {
    for flag in ["--version", "-V"] {
        let output = Run::new().timeout(QUICK).arg(flag).output();
        assert_exit_3_on_stdout(&output);
        assert_eq!(
            output.stdout,
            format!("check_exchange_authcert {}\n", env!("CARGO_PKG_VERSION")),
            "{}",
            output.context()
        );
    }
}
