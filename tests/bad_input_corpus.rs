//! The bad-input corpus of issue 7: what a Windows machine (or a careless admin) can hand the
//! check, for every kind of input (`--bundle`, `--authconfig`, `--certificates`, `--servers`,
//! `--cert`, `--metadata FILE`) and for options out of range. `tests/cli_bad_input.rs` covers certificate files;
//! this corpus covers the organisation inputs mostly and does not repeat those cases.
//!
//! Every case: exit 3 with `EXCHANGE AUTHCERT UNKNOWN - <reason>` (one line, plus the same
//! reason as the only long-output line), the PRTG XML error document (`<error>1</error>`, exit
//! 0) with the same reason, never OK, never panic text, and within [`QUICK`]. Every input is
//! built here, in a temporary directory, from certificates made at test time.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use common::{Output, Run, TestCert, Workdir, anchor, auth_expiring, days, rfc3339};

/// Each run must end well within this (the tool's own default timeout is 10 s).
const QUICK: Duration = Duration::from_secs(5);

/// Text that must never reach a monitoring system.
const PANIC_TEXT: &[&str] = &[
    "panicked",
    "RUST_BACKTRACE",
    "internal error",
    "stack backtrace",
];

/// One bad command line and the reason its UNKNOWN must give.
struct Case {
    args: Vec<OsString>,
}

impl Case {
    fn new<I, S>(args: I) -> Case
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Case {
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// `OPTION PATH`.
    fn input(option: &str, path: &Path) -> Case {
        Case::new([OsString::from(option), path.as_os_str().to_os_string()])
    }

    fn and<I, S>(mut self, args: I) -> Case
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    fn run(&self, format: &str) -> Output {
        let output = Run::new()
            .timeout(QUICK)
            .args(&self.args)
            .args(["--now", &rfc3339(anchor()), "-o", format])
            .output();
        assert!(
            output.elapsed < QUICK,
            "took {:?}\n{}",
            output.elapsed,
            output.context()
        );
        for text in PANIC_TEXT {
            assert!(
                !output.stdout.contains(text) && !output.stderr.contains(text),
                "panic text {text:?}\n{}",
                output.context()
            );
        }
        assert!(
            output.stderr.is_empty(),
            "everything goes to stdout\n{}",
            output.context()
        );
        output
    }

    /// UNKNOWN with `reason` in Nagios form, and the PRTG XML error document saying the same.
    fn assert_fails(&self, reason: &str) {
        let nagios = self.run("nagios");
        nagios.assert_unknown(reason);
        let lines: Vec<&str> = nagios.stdout.lines().collect();
        let summary = lines[0]
            .strip_prefix("EXCHANGE AUTHCERT UNKNOWN - ")
            .expect("UNKNOWN line");
        assert_eq!(
            lines,
            [lines[0].to_string(), format!("UNKNOWN: {summary}")],
            "one line that says what is wrong\n{}",
            nagios.context()
        );

        let xml = self.run("prtg-xml");
        xml.assert_code(0);
        let root = xml.xml();
        assert_eq!(root.name, "prtg", "{}", xml.context());
        assert_eq!(root.child_text("error"), Some("1"), "{}", xml.context());
        assert_eq!(root.child_text("text"), Some(summary), "{}", xml.context());
        assert!(root.child("result").is_none(), "{}", xml.context());
    }
}

// --- building inputs --------------------------------------------------------------------------

const CLIXML_HEAD: &str =
    r#"<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">"#;

fn thumbprint_of(der: &[u8]) -> String {
    Sha1::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// A valid Auth Certificate (400 days left at the anchor) and a transport certificate.
struct Org {
    auth: TestCert,
    transport: TestCert,
}

impl Org {
    fn new() -> Org {
        Org {
            auth: auth_expiring(anchor() + days(400)),
            transport: common::selfsigned_expiring("EXCH01", anchor() + days(900)),
        }
    }

    /// `Get-AuthConfig | ConvertTo-Json` (PowerShell 7).
    fn auth_config_json(&self) -> Value {
        json!({
            "CurrentCertificateThumbprint": self.auth.thumbprint(),
            "PreviousCertificateThumbprint": "",
            "NextCertificateThumbprint": "",
            "NextCertificateEffectiveDate": null,
            "ServiceName": "00000002-0000-0ff1-ce00-000000000000",
            "Realm": ""
        })
    }

    /// `Get-AuthConfig | Export-Clixml`, reduced to what the reader looks at.
    fn auth_config_clixml_object(&self, ref_id: u32) -> String {
        format!(
            r#"<Obj RefId="{ref_id}"><TN RefId="{ref_id}"><T>Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthConfig</T><T>Deserialized.System.Object</T></TN><ToString>Auth Configuration</ToString><Props><S N="CurrentCertificateThumbprint">{}</S><S N="PreviousCertificateThumbprint"></S><S N="NextCertificateThumbprint"></S><Nil N="NextCertificateEffectiveDate" /><S N="ServiceName">00000002-0000-0ff1-ce00-000000000000</S></Props><MS><S N="PSComputerName">exch01.contoso.lab</S></MS></Obj>"#,
            self.auth.thumbprint()
        )
    }

    fn auth_config_clixml(&self) -> String {
        format!("{CLIXML_HEAD}{}</Objs>", self.auth_config_clixml_object(0))
    }

    /// `Get-ExchangeCertificate | Export-Clixml`: one object per `(RawData text, services)`.
    fn certificates_clixml(&self, entries: &[(String, &str)]) -> String {
        let mut text = String::from(CLIXML_HEAD);
        for (index, (raw_data, services)) in entries.iter().enumerate() {
            text.push_str(&format!(
                r#"<Obj RefId="{index}"><TN RefId="{index}"><T>Deserialized.Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate</T></TN><Props><BA N="RawData">{raw_data}</BA><S N="Services">{services}</S><S N="FriendlyName">Microsoft Exchange</S></Props><MS><S N="PSComputerName">exch01.contoso.lab</S></MS></Obj>"#
            ));
        }
        text.push_str("</Objs>");
        text
    }

    fn store_clixml(&self) -> String {
        self.certificates_clixml(&[
            (self.auth.base64(), "None"),
            (self.transport.base64(), "IIS, SMTP"),
        ])
    }

    /// One certificate as the bundle lists it.
    fn bundle_certificate(der: &[u8], services: &[&str]) -> Value {
        json!({
            "thumbprint": thumbprint_of(der),
            "raw_data": STANDARD.encode(der),
            "services": services,
            "friendly_name": "Microsoft Exchange",
            "status": "Valid"
        })
    }

    /// A valid one-server bundle collected an hour before the anchor.
    fn bundle(&self) -> Value {
        json!({
            "schema": "exchange-authcert-bundle",
            "schema_version": 1,
            "collected_at": rfc3339(anchor() - common::seconds(3600)),
            "collected_on": "exch01.contoso.lab",
            "auth_config": self.auth_config_json(),
            "auth_config_error": null,
            "hybrid": {"detected": false, "error": null},
            "servers": [{
                "name": "EXCH01",
                "fqdn": "exch01.contoso.lab",
                "site": "Default-First-Site-Name",
                "version": "Version 15.2 (Build 1544.4)",
                "major_version": 15,
                "roles": ["Mailbox"],
                "is_edge": false,
                "reachable": true,
                "error": null,
                "internal_transport_certificate_thumbprint": self.transport.thumbprint(),
                "certificates": [
                    Org::bundle_certificate(&self.auth.der, &[]),
                    Org::bundle_certificate(&self.transport.der, &["IIS", "SMTP"]),
                ]
            }]
        })
    }

    /// The bundle with `der` as EXCH01's first certificate (thumbprint made to match).
    fn bundle_with_der(&self, der: &[u8]) -> Value {
        let mut bundle = self.bundle();
        bundle["servers"][0]["certificates"][0] = Org::bundle_certificate(der, &[]);
        bundle
    }
}

fn write_json(dir: &Workdir, name: &str, value: &Value) -> PathBuf {
    dir.write(name, serde_json::to_string_pretty(value).unwrap())
}

fn utf16le(text: &str, bom: bool) -> Vec<u8> {
    let mut bytes = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

// --- DER surgery: validity dates no certificate library will write ----------------------------

/// Tag, header length and content length of the DER element at the start of `bytes`.
fn tlv(bytes: &[u8]) -> (u8, usize, usize) {
    let tag = bytes[0];
    match bytes[1] {
        short if short < 0x80 => (tag, 2, short as usize),
        long => {
            let count = (long & 0x7F) as usize;
            let length = bytes[2..2 + count]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (tag, 2 + count, length)
        }
    }
}

fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// The elements of a constructed element's content.
fn elements(content: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let (_, header, length) = tlv(rest);
        out.push(&rest[..header + length]);
        rest = &rest[header + length..];
    }
    out
}

fn content(element: &[u8]) -> &[u8] {
    let (_, header, length) = tlv(element);
    &element[header..header + length]
}

/// `der` with its validity replaced by two raw time elements (tag 0x17 UTCTime or 0x18
/// GeneralizedTime, and their text). The signature no longer verifies, which only makes the
/// certificate "not self-signed".
fn with_validity(der: &[u8], not_before: (u8, &str), not_after: (u8, &str)) -> Vec<u8> {
    let outer = elements(content(der));
    let tbs = elements(content(outer[0]));
    let validity_at = if tbs[0][0] == 0xA0 { 4 } else { 3 };
    let mut validity = encode(not_before.0, not_before.1.as_bytes());
    validity.extend(encode(not_after.0, not_after.1.as_bytes()));
    let mut tbs_content = Vec::new();
    for (index, element) in tbs.iter().enumerate() {
        if index == validity_at {
            tbs_content.extend(encode(0x30, &validity));
        } else {
            tbs_content.extend_from_slice(element);
        }
    }
    let mut certificate = encode(0x30, &tbs_content);
    for element in &outer[1..] {
        certificate.extend_from_slice(element);
    }
    encode(0x30, &certificate)
}

const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

// --- --bundle ---------------------------------------------------------------------------------

#[test]
fn bundle_empty_file() {
    let dir = Workdir::new();
    let path = dir.write("bundle.json", b"");
    Case::input("--bundle", &path).assert_fails("bundle.json: file is empty");
}

#[test]
fn bundle_bom_only() {
    let dir = Workdir::new();
    let path = dir.write("bundle.json", b"\xEF\xBB\xBF");
    Case::input("--bundle", &path).assert_fails("the file holds only white space");
}

#[test]
fn bundle_binary_garbage() {
    let dir = Workdir::new();
    let mut state: u32 = 0x9E37_79B9;
    // A PNG-like header, then noise: neither a BOM, UTF-8, UTF-16 nor JSON.
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend((0..4096).map(|_| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state >> 24) as u8
    }));
    let path = dir.write("bundle.json", bytes);
    Case::input("--bundle", &path)
        .assert_fails("not an exchange-authcert bundle: the document is not a JSON object");
}

#[test]
fn bundle_utf16_without_bom_truncated_to_an_odd_length() {
    let dir = Workdir::new();
    let text = serde_json::to_string(&Org::new().bundle()).unwrap();
    let mut bytes = utf16le(&text, false);
    bytes.truncate((bytes.len() / 2) | 1);
    let path = dir.write("bundle.json", bytes);
    Case::input("--bundle", &path).assert_fails("UTF-16 text with an odd number of bytes");
}

#[test]
fn bundle_utf16_without_bom_cut_in_the_middle() {
    let dir = Workdir::new();
    let text = serde_json::to_string(&Org::new().bundle()).unwrap();
    let mut bytes = utf16le(&text, false);
    bytes.truncate(bytes.len() / 4 * 2);
    let path = dir.write("bundle.json", bytes);
    Case::input("--bundle", &path).assert_fails("not valid JSON (truncated?)");
}

#[test]
fn bundle_that_is_xml() {
    let dir = Workdir::new();
    let path = dir.write("bundle.json", Org::new().auth_config_clixml());
    Case::input("--bundle", &path).assert_fails("not an exchange-authcert bundle: XML, not JSON");
}

#[test]
fn bundle_deeply_nested() {
    let dir = Workdir::new();
    let text = format!(
        r#"{{"schema": "exchange-authcert-bundle", "schema_version": 1, "collected_at": "2030-06-15T11:00:00Z", "servers": [{}{}]}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let path = dir.write("bundle.json", text);
    Case::input("--bundle", &path).assert_fails("invalid bundle (schema version 1)");
}

#[test]
fn bundle_of_100_mb_on_one_line() {
    let dir = Workdir::new();
    let path = dir.join("bundle.json");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        file.write_all(br#"{"schema": "exchange-authcert-bundle", "padding": ""#)
            .unwrap();
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..100 {
            file.write_all(&chunk).unwrap();
        }
        file.write_all(b"\"}").unwrap();
    }
    assert!(std::fs::metadata(&path).unwrap().len() > 100 * 1024 * 1024);
    Case::input("--bundle", &path).assert_fails("larger than 64 MiB, not an Exchange export");
}

#[test]
fn bundle_schema_version_from_the_future() {
    let dir = Workdir::new();
    let mut bundle = Org::new().bundle();
    bundle["schema_version"] = json!(2);
    let path = write_json(&dir, "bundle.json", &bundle);
    Case::input("--bundle", &path).assert_fails("bundle schema version 2 is newer");
}

#[test]
fn bundle_bad_base64_in_raw_data() {
    let dir = Workdir::new();
    let mut bundle = Org::new().bundle();
    bundle["servers"][0]["certificates"][1]["raw_data"] = json!("MIIB!!not*base64");
    let path = write_json(&dir, "bundle.json", &bundle);
    Case::input("--bundle", &path)
        .assert_fails("server EXCH01 certificate 2: raw_data is not valid base64");
}

#[test]
fn bundle_truncated_der() {
    let dir = Workdir::new();
    let org = Org::new();
    let der = &org.auth.der[..org.auth.der.len() - 40];
    let path = write_json(&dir, "bundle.json", &org.bundle_with_der(der));
    Case::input("--bundle", &path)
        .assert_fails("certificate 1 (EXCH01): not a DER X.509 certificate");
}

#[test]
fn bundle_over_long_der() {
    let dir = Workdir::new();
    let org = Org::new();
    let mut der = org.auth.der.clone();
    der.extend([0u8; 16]);
    let path = write_json(&dir, "bundle.json", &org.bundle_with_der(&der));
    Case::input("--bundle", &path)
        .assert_fails("certificate 1 (EXCH01): 16 trailing bytes after the DER certificate");
}

#[test]
fn bundle_raw_data_that_is_not_a_certificate() {
    let dir = Workdir::new();
    let org = Org::new();
    let path = write_json(
        &dir,
        "bundle.json",
        &org.bundle_with_der(b"MZ\x90\x00 this is a program"),
    );
    Case::input("--bundle", &path)
        .assert_fails("certificate 1 (EXCH01): not a DER X.509 certificate");
}

#[test]
fn bundle_duplicate_thumbprint_with_other_raw_data() {
    let dir = Workdir::new();
    let org = Org::new();
    let mut bundle = org.bundle();
    let mut impostor = Org::bundle_certificate(&org.transport.der, &["IIS"]);
    impostor["thumbprint"] = json!(org.auth.thumbprint());
    bundle["servers"][0]["certificates"]
        .as_array_mut()
        .unwrap()
        .push(impostor);
    let path = write_json(&dir, "bundle.json", &bundle);
    Case::input("--bundle", &path).assert_fails(&format!(
        "server EXCH01 certificate 3: thumbprint {} does not match its RawData",
        org.auth.thumbprint()
    ));
}

#[test]
fn bundle_duplicate_thumbprint_with_conflicting_services() {
    let dir = Workdir::new();
    let org = Org::new();
    let mut bundle = org.bundle();
    bundle["servers"][0]["certificates"]
        .as_array_mut()
        .unwrap()
        .push(Org::bundle_certificate(
            &org.transport.der,
            &["IMAP", "POP"],
        ));
    let path = write_json(&dir, "bundle.json", &bundle);
    Case::input("--bundle", &path).assert_fails(&format!(
        "certificate {} is listed twice for EXCH01 with different services",
        org.transport.thumbprint()
    ));
}

#[test]
fn bundle_server_listed_twice() {
    let dir = Workdir::new();
    let mut bundle = Org::new().bundle();
    let mut twin = bundle["servers"][0].clone();
    twin["name"] = json!("exch01");
    bundle["servers"].as_array_mut().unwrap().push(twin);
    let path = write_json(&dir, "bundle.json", &bundle);
    Case::input("--bundle", &path).assert_fails("server exch01 appears twice");
}

#[test]
fn bundle_date_without_offset() {
    let dir = Workdir::new();
    let mut bundle = Org::new().bundle();
    bundle["collected_at"] = json!("2030-06-15T11:00:00");
    let path = write_json(&dir, "bundle.json", &bundle);
    Case::input("--bundle", &path).assert_fails("is not an ISO-8601 date with offset");
}

#[test]
fn bundle_with_a_second_auth_config_from_authconfig() {
    let dir = Workdir::new();
    let org = Org::new();
    let bundle = write_json(&dir, "bundle.json", &org.bundle());
    let auth = dir.write("authconfig.xml", org.auth_config_clixml());
    Case::input("--bundle", &bundle)
        .and([OsString::from("--authconfig"), auth.into_os_string()])
        .assert_fails("a second AuthConfig (the first came from");
}

#[test]
fn bundle_a_directory() {
    let dir = Workdir::new();
    Case::input("--bundle", dir.path()).assert_fails("is a directory, not a file");
}

// --- certificate dates (hand-built DER in a bundle) -------------------------------------------

#[test]
fn not_after_beyond_9999_generalized_time() {
    let dir = Workdir::new();
    let org = Org::new();
    let der = with_validity(
        &org.auth.der,
        (UTC_TIME, "250101000000Z"),
        (GENERALIZED_TIME, "100000101000000Z"),
    );
    let path = write_json(&dir, "bundle.json", &org.bundle_with_der(&der));
    Case::input("--bundle", &path)
        .assert_fails("certificate 1 (EXCH01): not a DER X.509 certificate");
}

#[test]
fn not_after_with_month_13_utc_time() {
    let dir = Workdir::new();
    let org = Org::new();
    let der = with_validity(
        &org.auth.der,
        (UTC_TIME, "250101000000Z"),
        (UTC_TIME, "311301000000Z"),
    );
    let path = write_json(&dir, "bundle.json", &org.bundle_with_der(&der));
    Case::input("--bundle", &path)
        .assert_fails("certificate 1 (EXCH01): not a DER X.509 certificate");
}

#[test]
fn utc_time_with_a_four_digit_year() {
    let dir = Workdir::new();
    let org = Org::new();
    let der = with_validity(
        &org.auth.der,
        (UTC_TIME, "20250101000000Z"),
        (UTC_TIME, "20310101000000Z"),
    );
    let path = write_json(&dir, "bundle.json", &org.bundle_with_der(&der));
    Case::input("--bundle", &path)
        .assert_fails("certificate 1 (EXCH01): not a DER X.509 certificate");
}

/// Dates a certificate may legally carry at the edges of both ASN.1 forms are judged, not
/// refused: before 1950 (GeneralizedTime only; UTCTime cannot say it) is long expired, the
/// RFC 5280 "no expiry" 9999-12-31 is valid. Never UNKNOWN, never a panic.
#[test]
fn edge_dates_are_judged_not_refused() {
    let dir = Workdir::new();
    let org = Org::new();
    let ancient = with_validity(
        &org.auth.der,
        (GENERALIZED_TIME, "19000101000000Z"),
        (GENERALIZED_TIME, "19491231235959Z"),
    );
    let eternal = with_validity(
        &org.transport.der,
        (UTC_TIME, "500101000000Z"),
        (GENERALIZED_TIME, "99991231235959Z"),
    );
    let ancient_path = dir.write("ancient.cer", &ancient);
    let eternal_path = dir.write("eternal.cer", &eternal);

    let output = Case::input("--cert", &ancient_path).run("nagios");
    output.assert_code(2);
    assert!(
        output.first_line().contains("expired"),
        "{}",
        output.context()
    );
    let output = Case::input("--cert", &eternal_path).run("json");
    output.assert_code(0);
    let report = output.json();
    assert_eq!(
        report["certificates"][0]["not_after"],
        "9999-12-31T23:59:59Z"
    );
    assert!(report["certificates"][0]["days_left"].as_i64().unwrap() > 2_900_000);
}

// --- --authconfig -----------------------------------------------------------------------------

#[test]
fn authconfig_bom_only_utf16() {
    let dir = Workdir::new();
    let path = dir.write("authconfig.xml", b"\xFF\xFE");
    Case::input("--authconfig", &path)
        .assert_fails("holds only white space, not an Export-Clixml or ConvertTo-Json document");
}

#[test]
fn authconfig_binary_garbage() {
    let dir = Workdir::new();
    let bytes: Vec<u8> = (0u32..3000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
        .collect();
    let path = dir.write("authconfig.xml", bytes);
    Case::input("--authconfig", &path)
        .assert_fails("not an Export-Clixml or ConvertTo-Json document");
}

#[test]
fn authconfig_utf16_without_bom_truncated_to_an_odd_length() {
    let dir = Workdir::new();
    let mut bytes = utf16le(&Org::new().auth_config_clixml(), false);
    bytes.pop();
    let path = dir.write("authconfig.xml", bytes);
    Case::input("--authconfig", &path)
        .assert_fails("UTF-16 text with an odd number of bytes (truncated file?)");
}

#[test]
fn authconfig_with_doctype_and_entity_expansion() {
    let dir = Workdir::new();
    let text = format!(
        r#"<?xml version="1.0"?>
<!DOCTYPE Objs [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
{CLIXML_HEAD}<Obj RefId="0"><Props><S N="CurrentCertificateThumbprint">&lol3;</S></Props></Obj></Objs>"#
    );
    let path = dir.write("authconfig.xml", text);
    Case::input("--authconfig", &path).assert_fails("CliXml: DOCTYPE declarations are refused");
}

#[test]
fn authconfig_with_an_external_entity() {
    let dir = Workdir::new();
    let text = format!(
        "<!DOCTYPE Objs [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n{CLIXML_HEAD}<S>&xxe;</S></Objs>"
    );
    let path = dir.write("authconfig.xml", text);
    Case::input("--authconfig", &path).assert_fails("CliXml: DOCTYPE declarations are refused");
}

#[test]
fn authconfig_with_an_undeclared_entity() {
    let dir = Workdir::new();
    let text = format!(
        r#"{CLIXML_HEAD}<Obj RefId="0"><Props><S N="CurrentCertificateThumbprint">&xxe;</S></Props></Obj></Objs>"#
    );
    let path = dir.write("authconfig.xml", text);
    Case::input("--authconfig", &path).assert_fails("CliXml: undefined entity &xxe;");
}

#[test]
fn authconfig_deeply_nested_xml() {
    let dir = Workdir::new();
    let text = format!(
        "{CLIXML_HEAD}{}{}</Objs>",
        "<Obj><LST>".repeat(50_000),
        "</LST></Obj>".repeat(50_000)
    );
    let path = dir.write("authconfig.xml", text);
    Case::input("--authconfig", &path)
        .assert_fails("CliXml: elements nested deeper than 64 levels");
}

#[test]
fn authconfig_deeply_nested_json() {
    let dir = Workdir::new();
    let text = format!(
        r#"{{"CurrentCertificateThumbprint": {}1{}}}"#,
        r#"{"a":"#.repeat(100_000),
        "}".repeat(100_000)
    );
    let path = dir.write("authconfig.json", text);
    Case::input("--authconfig", &path).assert_fails("JSON: nested deeper than 64 levels");
}

#[test]
fn authconfig_two_objects_in_one_file() {
    let dir = Workdir::new();
    let org = Org::new();
    let text = format!(
        "{CLIXML_HEAD}{}{}</Objs>",
        org.auth_config_clixml_object(0),
        org.auth_config_clixml_object(1)
    );
    let path = dir.write("authconfig.xml", text);
    Case::input("--authconfig", &path).assert_fails("holds 2 AuthConfig objects, expected 1");
}

#[test]
fn authconfig_two_objects_in_json() {
    let dir = Workdir::new();
    let org = Org::new();
    let text = json!([org.auth_config_json(), org.auth_config_json()]).to_string();
    let path = dir.write("authconfig.json", text);
    Case::input("--authconfig", &path).assert_fails("holds 2 AuthConfig objects, expected 1");
}

#[test]
fn authconfig_that_is_a_certificate_export() {
    let dir = Workdir::new();
    let path = dir.write("authconfig.xml", Org::new().store_clixml());
    Case::input("--authconfig", &path)
        .assert_fails("it looks like a Get-ExchangeCertificate export");
}

#[test]
fn authconfig_truncated() {
    let dir = Workdir::new();
    let text = Org::new().auth_config_clixml();
    let cut = text.strip_suffix("</Obj></Objs>").unwrap();
    let path = dir.write("authconfig.xml", cut);
    Case::input("--authconfig", &path).assert_fails("CliXml: unexpected end of document");
}

#[test]
fn authconfig_mangled_thumbprint() {
    let dir = Workdir::new();
    let mut value = Org::new().auth_config_json();
    value["NextCertificateThumbprint"] = json!("E1BD F9AE 58C9 (copy)");
    let path = write_json(&dir, "authconfig.json", &value);
    Case::input("--authconfig", &path).assert_fails(
        "NextCertificateThumbprint \"E1BD F9AE 58C9 (copy)\" is not a certificate thumbprint",
    );
}

#[test]
fn authconfig_effective_date_that_is_no_date() {
    let dir = Workdir::new();
    let mut value = Org::new().auth_config_json();
    value["NextCertificateEffectiveDate"] = json!("next Tuesday");
    let path = write_json(&dir, "authconfig.json", &value);
    Case::input("--authconfig", &path).assert_fails("NextCertificateEffectiveDate: ");
}

#[cfg(unix)]
#[test]
fn authconfig_a_fifo_does_not_hang() {
    let dir = Workdir::new();
    let fifo = make_fifo(&dir, "authconfig.xml");
    Case::input("--authconfig", &fifo)
        .assert_fails("is not a regular file (device, FIFO or socket)");
}

// --- --certificates ---------------------------------------------------------------------------

#[test]
fn certificates_bad_base64_in_clixml_raw_data() {
    let dir = Workdir::new();
    let org = Org::new();
    let text = org.certificates_clixml(&[("MIIB%%%%".into(), "None")]);
    let path = dir.write("certs.xml", text);
    Case::input("--certificates", &path).assert_fails("CliXml: <BA N=\"RawData\">");
}

#[test]
fn certificates_bad_base64_in_json_raw_data() {
    let dir = Workdir::new();
    let text = json!([{"RawData": "MIIB not base64 ***", "PSComputerName": "EXCH01"}]).to_string();
    let path = dir.write("certs.json", text);
    Case::input("--certificates", &path).assert_fails("RawData is ");
}

#[test]
fn certificates_json_byte_array_out_of_range() {
    let dir = Workdir::new();
    let text = json!([{"RawData": [48, 130, 300, 1], "PSComputerName": "EXCH01"}]).to_string();
    let path = dir.write("certs.json", text);
    Case::input("--certificates", &path).assert_fails("RawData is ");
}

#[test]
fn certificates_truncated_der() {
    let dir = Workdir::new();
    let org = Org::new();
    let cut = STANDARD.encode(&org.transport.der[..org.transport.der.len() / 2]);
    let path = dir.write("certs.xml", org.certificates_clixml(&[(cut, "SMTP")]));
    Case::input("--certificates", &path)
        .assert_fails("certificate 1 (exch01.contoso.lab): not a DER X.509 certificate");
}

#[test]
fn certificates_over_long_der() {
    let dir = Workdir::new();
    let org = Org::new();
    let mut der = org.transport.der.clone();
    der.extend(org.auth.der.iter().take(100));
    let text = org.certificates_clixml(&[(STANDARD.encode(&der), "SMTP")]);
    let path = dir.write("certs.xml", text);
    Case::new([OsString::from("--certificates"), {
        let mut spec = OsString::from("EXCH01=");
        spec.push(path.as_os_str());
        spec
    }])
    .assert_fails("certificate 1 (EXCH01): 100 trailing bytes after the DER certificate");
}

#[test]
fn certificates_duplicate_thumbprint_with_conflicting_services() {
    let dir = Workdir::new();
    let org = Org::new();
    let text = org.certificates_clixml(&[
        (org.transport.base64(), "IIS, SMTP"),
        (org.auth.base64(), "None"),
        (org.transport.base64(), "IMAP"),
    ]);
    let path = dir.write("certs.xml", text);
    Case::input("--certificates", &path).assert_fails(&format!(
        "certificate {} is listed twice for exch01.contoso.lab with different services",
        org.transport.thumbprint()
    ));
}

#[test]
fn certificates_without_a_server_name() {
    let dir = Workdir::new();
    let org = Org::new();
    let text = json!([{"RawData": org.transport.base64(), "Services": "SMTP"}]).to_string();
    let path = dir.write("certs.json", text);
    Case::input("--certificates", &path)
        .assert_fails("the export does not say which server it is from");
}

#[test]
fn certificates_given_an_authconfig_export() {
    let dir = Workdir::new();
    let path = dir.write("certs.xml", Org::new().auth_config_clixml());
    Case::input("--certificates", &path).assert_fails("holds no certificate (no RawData)");
}

#[test]
fn certificates_server_name_without_a_file() {
    Case::new(["--certificates", "EXCH01="])
        .assert_fails("--certificates 'EXCH01=': no file after '='");
}

#[test]
fn certificates_a_directory() {
    let dir = Workdir::new();
    let mut spec = OsString::from("EXCH01=");
    spec.push(dir.path().as_os_str());
    Case::new([OsString::from("--certificates"), spec]).assert_fails("is a directory, not a file");
}

#[test]
fn certificates_unreadable_file() {
    let dir = Workdir::new();
    let path = dir.write("certs.xml", Org::new().store_clixml());
    if !make_unreadable(&path) {
        return;
    }
    Case::input("--certificates", &path).assert_fails("certs.xml: permission denied");
}

// --- --servers --------------------------------------------------------------------------------

#[test]
fn servers_empty_list() {
    let dir = Workdir::new();
    let path = dir.write("servers.json", "[]");
    Case::input("--servers", &path).assert_fails("holds no Exchange server object");
}

#[test]
fn servers_given_a_certificate_export() {
    let dir = Workdir::new();
    let path = dir.write("servers.xml", Org::new().store_clixml());
    Case::input("--servers", &path).assert_fails("has no Name (not a Get-ExchangeServer object)");
}

#[test]
fn servers_deeply_nested_json_in_utf16() {
    let dir = Workdir::new();
    let text = format!(
        r#"[{{"Name": "EXCH01", "Site": {}{}}}]"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let path = dir.write("servers.json", utf16le(&text, true));
    Case::input("--servers", &path).assert_fails("JSON: nested deeper than 64 levels");
}

#[test]
fn servers_unreadable_file() {
    let dir = Workdir::new();
    let path = dir.write("servers.json", r#"[{"Name": "EXCH01"}]"#);
    if !make_unreadable(&path) {
        return;
    }
    Case::input("--servers", &path).assert_fails("servers.json: permission denied");
}

#[cfg(unix)]
#[test]
fn servers_a_fifo_does_not_hang() {
    let dir = Workdir::new();
    let fifo = make_fifo(&dir, "servers.xml");
    Case::input("--servers", &fifo).assert_fails("is not a regular file (device, FIFO or socket)");
}

// --- options out of range (with a valid bundle, so the option is what fails) -----------------

fn valid_bundle(dir: &Workdir) -> PathBuf {
    write_json(dir, "bundle.json", &Org::new().bundle())
}

#[test]
fn option_rotation_window_negative() {
    let dir = Workdir::new();
    Case::input("--bundle", &valid_bundle(&dir))
        .and(["--rotation-window=-1"])
        .assert_fails("--rotation-window '-1' must be a whole number from 0 to 1826");
    Case::input("--bundle", &valid_bundle(&dir))
        .and(["--rotation-window", "-1"])
        .assert_fails("--rotation-window '-1' must be a whole number from 0 to 1826");
}

#[test]
fn option_max_age_not_a_number() {
    let dir = Workdir::new();
    Case::input("--bundle", &valid_bundle(&dir))
        .and(["--max-age", "abc"])
        .assert_fails("--max-age 'abc' must be a whole number from 0 to 87600");
}

#[test]
fn option_publish_grace_too_large() {
    let dir = Workdir::new();
    Case::input("--bundle", &valid_bundle(&dir))
        .and(["--publish-grace", "999999999"])
        .assert_fails("--publish-grace '999999999' must be a whole number from 0 to 87600");
}

#[test]
fn option_next_min_days_too_large() {
    let dir = Workdir::new();
    Case::input("--bundle", &valid_bundle(&dir))
        .and(["--next-min-days", "1827"])
        .assert_fails("--next-min-days '1827' must be a whole number from 0 to 1826");
}

#[test]
fn option_timeout_over_an_hour() {
    let dir = Workdir::new();
    Case::input("--bundle", &valid_bundle(&dir))
        .and(["-t", "3601"])
        .assert_fails("-t/--timeout '3601' must be a number of seconds greater than 0");
}

#[test]
fn option_unreachable_state_unknown_word() {
    let dir = Workdir::new();
    Case::input("--bundle", &valid_bundle(&dir))
        .and(["--unreachable-state", "maybe"])
        .assert_fails("invalid option: invalid value 'maybe' for '--unreachable-state");
}

#[test]
fn option_warning_range_start_after_end() {
    let dir = Workdir::new();
    Case::input("--bundle", &valid_bundle(&dir))
        .and(["-w", "60:30"])
        .assert_fails("invalid -w/-c: threshold range '60:30': start is greater than end");
}

#[test]
fn option_selfsigned_critical_not_a_number() {
    let dir = Workdir::new();
    Case::input("--bundle", &valid_bundle(&dir))
        .and(["--selfsigned-critical", "1e999:"])
        .assert_fails("threshold range '1e999:': '1e999' is not a number");
}

// --- helpers for special files ----------------------------------------------------------------

#[cfg(unix)]
fn make_fifo(dir: &Workdir, name: &str) -> PathBuf {
    let fifo = dir.join(name);
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    fifo
}

/// chmod 000; false (after a note) where that does not make a file unreadable: as root, or on
/// a system without Unix permissions.
fn make_unreadable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::File::open(path).is_ok() {
            println!("skipped: running as root, a chmod 000 file stays readable");
            return false;
        }
        true
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        println!("skipped: no Unix permissions");
        false
    }
}

// --- --metadata FILE --------------------------------------------------------------------------

#[test]
fn metadata_that_is_an_html_login_page() {
    let dir = Workdir::new();
    let path = dir.write("metadata.json", "<html><body>Sign in</body></html>");
    Case::input("--metadata", &path).assert_fails("not JSON: expected value at line 1 column 1");
}

#[test]
fn metadata_that_is_a_json_array() {
    let dir = Workdir::new();
    let path = dir.write("metadata.json", "[1, 2]");
    Case::input("--metadata", &path)
        .assert_fails("not a metadata document: the JSON is not an object");
}

/// A document that reads but publishes a key that is not base64 is judged (UNKNOWN with the
/// reason, as a finding of the metadata rules), not refused: never OK, never a panic.
#[test]
fn metadata_bad_base64_in_a_published_key() {
    let dir = Workdir::new();
    let path = dir.write(
        "metadata.json",
        r#"{"id": "_x", "realm": "contoso.lab", "keys": [{"usage": "signing", "keyinfo": {"x5t": "abc"}, "keyvalue": {"type": "x509Certificate", "value": "MIIB***notbase64"}}]}"#,
    );
    let output = Case::input("--metadata", &path).run("nagios");
    output.assert_code(3);
    let first = output.first_line();
    assert!(
        first.starts_with("EXCHANGE AUTHCERT UNKNOWN - ")
            && first.contains("published key 1: keyvalue.value is not base64"),
        "{}",
        output.context()
    );
}
