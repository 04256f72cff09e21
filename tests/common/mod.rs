//! Shared helpers for the CLI tests of `check_exchange_authcert` in certificate-file mode:
//! running the real binary under a timeout, making real certificates with rcgen (and PKCS#12
//! files with the real `openssl` command), and reading the outputs back (Nagios lines, PRTG XML,
//! JSON, golden files).
//!
//! Every test crate includes this module and uses a different part of it.
#![allow(dead_code)]

pub mod exchange;
pub mod ldap;
pub mod monitors;
pub mod net;
pub mod probe;
pub mod renew;
pub mod weak;

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};
use time::OffsetDateTime;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_check_exchange_authcert");
/// The crate directory: outputs name sample files relative to it.
pub const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The Nagios label at the start of the first line.
pub const LABEL: &str = "EXCHANGE AUTHCERT";
/// Subject CN of every Exchange Server Auth Certificate.
pub const AUTH_CN: &str = "Microsoft Exchange Server Auth Certificate";
/// Where the PFX tests expect openssl.
pub const OPENSSL: &str = "/usr/bin/openssl";

/// How long any run may take before the test fails (a hang is a bug of its own).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Environment variables that must not leak from the developer's shell into a run.
const SCRUBBED_ENV: &[&str] = &["RUST_BACKTRACE", "RUST_LIB_BACKTRACE"];

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// One run of the binary: arguments, environment, working directory and a timeout guard.
#[derive(Debug, Clone)]
pub struct Run {
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    cwd: PathBuf,
    timeout: Duration,
}

impl Default for Run {
    fn default() -> Self {
        Run::new()
    }
}

impl Run {
    /// A run in the crate directory with the default timeout and no arguments yet.
    pub fn new() -> Run {
        Run {
            args: Vec::new(),
            envs: Vec::new(),
            cwd: PathBuf::from(CRATE_DIR),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Run {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// `--cert PATH` for every path.
    pub fn certs<I, P>(mut self, paths: I) -> Run
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        for path in paths {
            self.args.push("--cert".into());
            self.args.push(path.as_ref().as_os_str().to_os_string());
        }
        self
    }

    /// `--now` with an exact instant.
    pub fn now(self, instant: OffsetDateTime) -> Run {
        self.arg("--now").arg(rfc3339(instant))
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Run {
        self.envs.push((
            key.as_ref().to_os_string(),
            Some(value.as_ref().to_os_string()),
        ));
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Run {
        self.envs.push((key.as_ref().to_os_string(), None));
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Run {
        self.cwd = dir.as_ref().to_path_buf();
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Run {
        self.timeout = timeout;
        self
    }

    /// Runs the binary; fails the test if it does not end within the timeout (the child is
    /// killed first) or if it dies from a signal.
    pub fn output(&self) -> Output {
        let mut command = Command::new(BIN);
        command
            .args(&self.args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for key in SCRUBBED_ENV {
            command.env_remove(key);
        }
        for (key, value) in &self.envs {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let started = Instant::now();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for the child") {
                break status;
            }
            if started.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not finish within {:?}: {}",
                    BIN,
                    self.timeout,
                    self.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = started.elapsed();
        let stdout = stdout.join().expect("stdout reader");
        let stderr = stderr.join().expect("stderr reader");
        let code = status.code().unwrap_or_else(|| {
            panic!(
                "{} ended without an exit code ({status}): {}\nstdout:\n{}\nstderr:\n{}",
                BIN,
                self.describe(),
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            )
        });
        Output {
            command: self.describe(),
            code,
            stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed,
        }
    }

    fn describe(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        format!("check_exchange_authcert {}", args.join(" "))
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Shorthand: runs the binary in the crate directory with these arguments.
pub fn run<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Run::new().args(args).output()
}

/// What one run printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    pub command: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Context for assertion messages.
    pub fn context(&self) -> String {
        format!(
            "command: {}\nexit code: {}\nstdout:\n{}\nstderr:\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }

    pub fn assert_code(&self, expected: i32) -> &Output {
        assert_eq!(
            self.code,
            expected,
            "unexpected exit code\n{}",
            self.context()
        );
        self
    }

    pub fn first_line(&self) -> &str {
        self.stdout.lines().next().unwrap_or("")
    }

    /// The Nagios output, with its shape checked.
    pub fn nagios(&self) -> Nagios {
        parse_nagios(&self.stdout).unwrap_or_else(|e| panic!("{e}\n{}", self.context()))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", self.context()))
    }

    pub fn xml(&self) -> XmlElement {
        parse_xml(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not well-formed XML: {e}\n{}", self.context()))
    }

    /// The UNKNOWN first line of a run that could not judge anything, with its reason.
    pub fn assert_unknown(&self, reason: &str) -> &Output {
        self.assert_code(3);
        let first = self.first_line();
        assert!(
            first.starts_with("EXCHANGE AUTHCERT UNKNOWN - "),
            "first line is not an UNKNOWN status line\n{}",
            self.context()
        );
        assert!(
            first.contains(reason),
            "first line does not give the reason {reason:?}\n{}",
            self.context()
        );
        assert!(
            !first.contains('|'),
            "an UNKNOWN without data has no perfdata and no '|'\n{}",
            self.context()
        );
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/// An instant in UTC.
pub fn utc(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> OffsetDateTime {
    let month = time::Month::try_from(month).expect("month");
    time::Date::from_calendar_date(year, month, day)
        .expect("date")
        .with_hms(hour, minute, second)
        .expect("time")
        .assume_utc()
}

/// The instant most threshold tests evaluate at (`--now`).
pub fn anchor() -> OffsetDateTime {
    utc(2030, 6, 15, 12, 0, 0)
}

pub fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

pub fn seconds(n: i64) -> time::Duration {
    time::Duration::seconds(n)
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form `--now` takes and the JSON report writes.
pub fn rfc3339(instant: OffsetDateTime) -> String {
    let t = instant.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `YYYY-MM-DD HH:MM UTC`, as finding messages show an expiry.
pub fn minutes_utc(instant: OffsetDateTime) -> String {
    let t = instant.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

/// A certificate made at test time, with its key (for PKCS#12) and the facts it was made with.
pub struct TestCert {
    pub cn: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub der: Vec<u8>,
    pub key_pem: String,
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
}

fn params_for(
    cn: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

/// A self-signed ECDSA certificate with exactly this subject CN and validity.
pub fn self_signed(cn: &str, not_before: OffsetDateTime, not_after: OffsetDateTime) -> TestCert {
    let params = params_for(cn, not_before, not_after);
    let key = rcgen::KeyPair::generate().expect("key pair");
    let certificate = params.self_signed(&key).expect("self-signed certificate");
    TestCert {
        cn: cn.to_string(),
        not_before,
        not_after,
        der: certificate.der().to_vec(),
        key_pem: key.serialize_pem(),
        params,
        key,
    }
}

/// A self-signed Exchange Server Auth Certificate.
pub fn auth_cert(not_before: OffsetDateTime, not_after: OffsetDateTime) -> TestCert {
    self_signed(AUTH_CN, not_before, not_after)
}

/// An Auth Certificate valid for five years up to `not_after`.
pub fn auth_expiring(not_after: OffsetDateTime) -> TestCert {
    auth_cert(not_after - days(5 * 365), not_after)
}

/// A self-signed server certificate (`CN=<cn>`) valid for five years up to `not_after`.
pub fn selfsigned_expiring(cn: &str, not_after: OffsetDateTime) -> TestCert {
    self_signed(cn, not_after - days(5 * 365), not_after)
}

/// A CA that can issue certificates.
pub fn test_ca(cn: &str) -> TestCert {
    let mut params = params_for(cn, utc(2020, 1, 1, 0, 0, 0), utc(2045, 1, 1, 0, 0, 0));
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().expect("key pair");
    let certificate = params.self_signed(&key).expect("CA certificate");
    TestCert {
        cn: cn.to_string(),
        not_before: params.not_before,
        not_after: params.not_after,
        der: certificate.der().to_vec(),
        key_pem: key.serialize_pem(),
        params,
        key,
    }
}

/// A certificate issued by `ca` (not self-signed).
pub fn ca_issued(
    cn: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    ca: &TestCert,
) -> TestCert {
    let params = params_for(cn, not_before, not_after);
    let key = rcgen::KeyPair::generate().expect("key pair");
    let issuer = rcgen::Issuer::from_params(&ca.params, &ca.key);
    let certificate = params.signed_by(&key, &issuer).expect("issued certificate");
    TestCert {
        cn: cn.to_string(),
        not_before,
        not_after,
        der: certificate.der().to_vec(),
        key_pem: key.serialize_pem(),
        params,
        key,
    }
}

impl TestCert {
    /// A certificate made elsewhere (see [`weak`]); its rcgen key is a stand-in that cannot
    /// issue for it.
    pub fn from_parts(
        cn: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        der: Vec<u8>,
        params: rcgen::CertificateParams,
    ) -> TestCert {
        let key = rcgen::KeyPair::generate().expect("key pair");
        TestCert {
            cn: cn.to_string(),
            not_before,
            not_after,
            der,
            key_pem: key.serialize_pem(),
            params,
            key,
        }
    }

    /// Upper-case hex SHA-1 of the DER, as Windows shows thumbprints.
    pub fn thumbprint(&self) -> String {
        Sha1::digest(&self.der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// The first eight digits of the thumbprint, as summaries and perfdata labels show it.
    pub fn short(&self) -> String {
        self.thumbprint()[..8].to_string()
    }

    pub fn subject(&self) -> String {
        format!("CN={}", self.cn)
    }

    pub fn base64(&self) -> String {
        STANDARD.encode(&self.der)
    }

    /// A PEM CERTIFICATE block with lines of 64 characters and `line_end` line ends.
    pub fn pem_with(&self, line_end: &str) -> String {
        let body = self.base64();
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----{line_end}{}{line_end}-----END CERTIFICATE-----{line_end}",
            lines.join(line_end)
        )
    }

    pub fn pem(&self) -> String {
        self.pem_with("\n")
    }

    pub fn pem_crlf(&self) -> String {
        self.pem_with("\r\n")
    }
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// A temporary directory for the files of one test.
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Default for Workdir {
    fn default() -> Self {
        Workdir::new()
    }
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, bytes).expect("writing a test file");
        path
    }

    pub fn write_pem(&self, name: &str, cert: &TestCert) -> PathBuf {
        self.write(name, cert.pem())
    }

    pub fn write_pem_crlf(&self, name: &str, cert: &TestCert) -> PathBuf {
        self.write(name, cert.pem_crlf())
    }

    pub fn write_der(&self, name: &str, cert: &TestCert) -> PathBuf {
        self.write(name, &cert.der)
    }

    /// Bare base64 of the DER on one line (what `[Convert]::ToBase64String($c.RawData)` gives).
    pub fn write_base64(&self, name: &str, cert: &TestCert) -> PathBuf {
        self.write(name, format!("{}\n", cert.base64()))
    }

    /// The certificate between other PEM blocks (a private key, a CSR-like block) and the
    /// "Bag Attributes" text `openssl pkcs12 -nodes` writes, with CRLF line ends.
    pub fn write_pem_bundle(&self, name: &str, cert: &TestCert) -> PathBuf {
        let key_crlf = cert.key_pem.replace("\r\n", "\n").replace('\n', "\r\n");
        let text = format!(
            "Bag Attributes\r\n    friendlyName: {}\r\nsubject=CN = {}\r\n{}{}-----BEGIN CERTIFICATE REQUEST-----\r\nAAAA\r\n-----END CERTIFICATE REQUEST-----\r\n",
            cert.cn,
            cert.cn,
            key_crlf,
            cert.pem_crlf()
        );
        self.write(name, text)
    }
}

// ---------------------------------------------------------------------------------------------
// PKCS#12 with the real openssl command
// ---------------------------------------------------------------------------------------------

/// How a PFX is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PfxStyle {
    /// OpenSSL 3 defaults: PBES2 with AES-256-CBC, HMAC-SHA256 MAC.
    Modern,
    /// What older Windows exports look like: 3DES for keys and certificates, SHA-1 MAC.
    Legacy3Des,
}

pub fn openssl_available() -> bool {
    Path::new(OPENSSL).is_file()
}

/// False, after printing a note, when openssl is not installed: PFX tests then return early.
pub fn openssl_or_skip() -> bool {
    if openssl_available() {
        true
    } else {
        println!("skipped: openssl not installed");
        false
    }
}

/// Writes `name` as a PKCS#12 file holding `cert` and its key, protected by `password` (empty:
/// `-passout pass:`), made by `openssl pkcs12 -export`.
pub fn write_pfx(
    dir: &Workdir,
    name: &str,
    cert: &TestCert,
    password: &str,
    style: PfxStyle,
) -> PathBuf {
    let cert_path = dir.write(&format!("{name}.cert.pem"), cert.pem());
    let key_path = dir.write(&format!("{name}.key.pem"), &cert.key_pem);
    let out = dir.join(name);
    let mut command = Command::new(OPENSSL);
    command
        .arg("pkcs12")
        .arg("-export")
        .arg("-in")
        .arg(&cert_path)
        .arg("-inkey")
        .arg(&key_path)
        .arg("-name")
        .arg(&cert.cn)
        .arg("-passout")
        .arg(format!("pass:{password}"))
        .arg("-out")
        .arg(&out);
    if style == PfxStyle::Legacy3Des {
        command.args([
            "-certpbe",
            "PBE-SHA1-3DES",
            "-keypbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ]);
    }
    let result = command.output().expect("running openssl pkcs12");
    assert!(
        result.status.success(),
        "openssl pkcs12 -export failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::remove_file(&key_path).expect("removing the key file");
    std::fs::remove_file(&cert_path).expect("removing the certificate file");
    out
}

// ---------------------------------------------------------------------------------------------
// Nagios output
// ---------------------------------------------------------------------------------------------

/// One perfdata item `label=value;warn;crit;min;max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Perf {
    pub label: String,
    pub value: String,
    pub warn: String,
    pub crit: String,
    pub min: String,
    pub max: String,
}

impl Perf {
    pub fn int(&self) -> i64 {
        self.value
            .parse()
            .unwrap_or_else(|_| panic!("perfdata {} is not an integer: {}", self.label, self.value))
    }
}

/// A Nagios plugin output split into its parts.
#[derive(Debug, Clone)]
pub struct Nagios {
    pub first_line: String,
    pub state: String,
    pub summary: String,
    pub perfdata: Vec<Perf>,
    /// Lines after the first.
    pub long: Vec<String>,
}

impl Nagios {
    pub fn perf(&self, label: &str) -> &Perf {
        self.perfdata
            .iter()
            .find(|p| p.label == label)
            .unwrap_or_else(|| panic!("no perfdata {label:?} in {:?}", self.first_line))
    }

    pub fn has_perf(&self, label: &str) -> bool {
        self.perfdata.iter().any(|p| p.label == label)
    }

    /// The long-output lines that are findings (`SEVERITY: message`).
    pub fn finding_lines(&self) -> Vec<&str> {
        self.long
            .iter()
            .map(String::as_str)
            .filter(|l| severity_rank(l).is_some())
            .collect()
    }
}

/// Rank of a long-output finding line; worst (CRITICAL) highest. `None` for other lines.
pub fn severity_rank(line: &str) -> Option<u8> {
    let (label, _) = line.split_once(": ")?;
    match label {
        "CRITICAL" => Some(4),
        "WARNING" => Some(3),
        "UNKNOWN" => Some(2),
        "INFO" => Some(1),
        "OK" => Some(0),
        _ => None,
    }
}

/// Splits and checks a Nagios output: `EXCHANGE AUTHCERT <STATE> - <summary>[ | <perfdata>]`,
/// perfdata items well formed, no `|` anywhere in human text, and finding lines worst first.
pub fn parse_nagios(stdout: &str) -> Result<Nagios, String> {
    if !stdout.ends_with('\n') {
        return Err("output does not end with a newline".into());
    }
    let mut lines = stdout.lines();
    let first_line = lines.next().ok_or("empty output")?.to_string();
    let rest = first_line
        .strip_prefix(&format!("{LABEL} "))
        .ok_or_else(|| format!("first line does not start with {LABEL:?}: {first_line:?}"))?;
    let (state, rest) = rest
        .split_once(" - ")
        .ok_or_else(|| format!("no ' - ' after the state: {first_line:?}"))?;
    if !["OK", "WARNING", "CRITICAL", "UNKNOWN"].contains(&state) {
        return Err(format!("unknown state {state:?} in {first_line:?}"));
    }
    let pipes = first_line.matches('|').count();
    let (summary, perfdata_text) = match pipes {
        0 => (rest, None),
        1 => {
            let (summary, perfdata) = rest
                .split_once(" | ")
                .ok_or_else(|| format!("'|' not surrounded by spaces: {first_line:?}"))?;
            (summary, Some(perfdata))
        }
        _ => {
            return Err(format!(
                "more than one '|' on the first line: {first_line:?}"
            ));
        }
    };
    if summary.trim().is_empty() {
        return Err(format!("empty summary: {first_line:?}"));
    }
    let mut perfdata = Vec::new();
    if let Some(text) = perfdata_text {
        for item in text.split(' ') {
            perfdata.push(parse_perf(item)?);
        }
    }
    let long: Vec<String> = lines.map(str::to_string).collect();
    for line in &long {
        if line.contains('|') {
            return Err(format!("'|' in long output: {line:?}"));
        }
        if line.trim().is_empty() {
            return Err("empty long-output line".into());
        }
    }
    let ranks: Vec<u8> = long.iter().filter_map(|l| severity_rank(l)).collect();
    if ranks.windows(2).any(|w| w[0] < w[1]) {
        return Err(format!("long output is not worst first: {long:#?}"));
    }
    Ok(Nagios {
        first_line: first_line.clone(),
        state: state.to_string(),
        summary: summary.to_string(),
        perfdata,
        long,
    })
}

fn parse_perf(item: &str) -> Result<Perf, String> {
    let (label, data) = item
        .split_once('=')
        .ok_or_else(|| format!("perfdata item without '=': {item:?}"))?;
    if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("perfdata label is not [A-Za-z0-9_]+: {item:?}"));
    }
    let fields: Vec<&str> = data.split(';').collect();
    if fields.len() != 5 {
        return Err(format!(
            "perfdata item is not value;warn;crit;min;max: {item:?}"
        ));
    }
    let value = fields[0];
    if value.parse::<f64>().is_err() {
        return Err(format!("perfdata value is not a number: {item:?}"));
    }
    for range in &fields[1..3] {
        if !range.is_empty() && !is_range(range) {
            return Err(format!(
                "perfdata threshold {range:?} is not a range: {item:?}"
            ));
        }
    }
    for number in &fields[3..5] {
        if !number.is_empty() && number.parse::<f64>().is_err() {
            return Err(format!(
                "perfdata min/max {number:?} is not a number: {item:?}"
            ));
        }
    }
    Ok(Perf {
        label: label.to_string(),
        value: value.to_string(),
        warn: fields[1].to_string(),
        crit: fields[2].to_string(),
        min: fields[3].to_string(),
        max: fields[4].to_string(),
    })
}

/// Monitoring Plugins range syntax: `[@][start:][end]`, start may be `~`.
fn is_range(text: &str) -> bool {
    let body = text.strip_prefix('@').unwrap_or(text);
    let number = |s: &str| s.parse::<f64>().is_ok();
    match body.split_once(':') {
        None => number(body),
        Some((start, end)) => {
            (start.is_empty() || start == "~" || number(start)) && (end.is_empty() || number(end))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------------

/// A parsed XML element: name, text (entities resolved) and child elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlElement {
    pub name: String,
    pub text: String,
    pub children: Vec<XmlElement>,
}

impl XmlElement {
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlElement> {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn child(&self, name: &str) -> Option<&XmlElement> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Parses a document with quick-xml into a tree; exactly one root element.
pub fn parse_xml(text: &str) -> Result<XmlElement, String> {
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<XmlElement> = Vec::new();
    let mut root: Option<XmlElement> = None;
    let name_of = |name: &str| -> Result<String, String> { Ok(name.to_string()) };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(start) => stack.push(XmlElement {
                name: name_of(start.name().as_ref())?,
                text: String::new(),
                children: Vec::new(),
            }),
            Event::Empty(start) => {
                let element = XmlElement {
                    name: name_of(start.name().as_ref())?,
                    text: String::new(),
                    children: Vec::new(),
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Err("empty root element".into()),
                }
            }
            Event::End(_) => {
                let mut element = stack.pop().ok_or("end tag without start")?;
                element.text = element.text.trim().to_string();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => {
                        if root.replace(element).is_some() {
                            return Err("more than one root element".into());
                        }
                    }
                }
            }
            Event::Text(text) => {
                let content = text.xml10_content();
                match stack.last_mut() {
                    Some(element) => element.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(format!("text outside the root: {content:?}")),
                }
            }
            Event::CData(data) => {
                let content = data.into_inner().into_owned();
                stack
                    .last_mut()
                    .ok_or("CDATA outside the root")?
                    .text
                    .push_str(&content);
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => match reference.xml10_content().as_ref() {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => return Err(format!("unknown entity &{other};")),
                    },
                };
                stack
                    .last_mut()
                    .ok_or("entity outside the root")?
                    .text
                    .push_str(&resolved);
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err("unexpected DOCTYPE".into()),
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("unclosed element".into());
    }
    root.ok_or_else(|| "no root element".into())
}

// ---------------------------------------------------------------------------------------------
// Golden files
// ---------------------------------------------------------------------------------------------

pub fn golden_path(name: &str) -> PathBuf {
    Path::new(CRATE_DIR).join("tests").join("golden").join(name)
}

/// Compares `actual` with `tests/golden/<name>`; with `UPDATE_GOLDEN=1` writes it instead.
pub fn assert_golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("creating tests/golden");
        std::fs::write(&path, actual).expect("writing a golden file");
        println!("updated {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read golden file {}: {e}\n(run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "output differs from golden file {}\n(- golden, + actual; run with UPDATE_GOLDEN=1 to accept)\n{}",
            path.display(),
            line_diff(&expected, actual)
        );
    }
}

/// A readable line diff: removed lines prefixed with `- `, added with `+ `, each change with
/// three unchanged lines of context (`  `); longer unchanged stretches are elided. Lines are
/// quoted so that differences in white space and line ends show.
pub fn line_diff(expected: &str, actual: &str) -> String {
    const CONTEXT: usize = 3;
    let a: Vec<&str> = expected.split('\n').collect();
    let b: Vec<&str> = actual.split('\n').collect();
    // Longest common subsequence table (outputs are small).
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // (marker, line) for the whole comparison.
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', b[j]));
            j += 1;
        } else {
            ops.push(('-', a[i]));
            i += 1;
        }
    }
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let near_change = |k: usize| {
        changed
            .iter()
            .any(|&c| k + CONTEXT >= c && k <= c + CONTEXT)
    };
    let mut out = String::new();
    let mut elided = false;
    for (k, (marker, line)) in ops.iter().enumerate() {
        if near_change(k) {
            out.push_str(&format!("{marker} {line:?}\n"));
            elided = false;
        } else if !elided {
            out.push_str("  ...\n");
            elided = true;
        }
    }
    out
}

/// Removes `key` from a JSON object (for fields that change by design, e.g. `tool_version`).
pub fn without_key(mut value: serde_json::Value, key: &str) -> serde_json::Value {
    if let Some(object) = value.as_object_mut() {
        // `retain` keeps the order of the other keys (`remove` may swap the last one in).
        object.retain(|name, _| name != key);
    }
    value
}

// ---------------------------------------------------------------------------------------------
// Benchmarks (ignored tests that print)
// ---------------------------------------------------------------------------------------------

/// Runs `binary args` 15 times under GNU time; prints and returns the median wall time in
/// seconds and the highest peak RSS in KiB. Every run must exit 0.
pub fn print_wall_and_rss(
    name: &str,
    binary: &str,
    args: &[String],
    env: (&str, &str),
) -> (f64, u64) {
    let mut samples: Vec<(f64, u64)> = (0..15)
        .map(|_| {
            let out = Command::new("/usr/bin/time")
                .args(["-f", "%e %M"])
                .arg(binary)
                .args(args)
                .env(env.0, env.1)
                .output()
                .expect("GNU time");
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().last().unwrap_or_default().to_string();
            let mut fields = last.split_whitespace();
            let seconds: f64 = fields.next().unwrap().parse().unwrap();
            let kib: u64 = fields.next().unwrap().parse().unwrap();
            (seconds, kib)
        })
        .collect();
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let median = samples[samples.len() / 2].0;
    let max_rss = samples.iter().map(|s| s.1).max().unwrap();
    println!("{name}: median wall {median:.3} s, peak RSS {max_rss} KiB (max of 15 runs)");
    (median, max_rss)
}
