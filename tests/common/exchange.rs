//! Generators for what an Exchange organisation looks like to the check in organisation mode:
//! the exports an admin makes in the Exchange Management Shell (`Get-AuthConfig`,
//! `Get-ExchangeCertificate`, `Get-ExchangeServer`, saved with `Export-Clixml` or `ConvertTo-Json`
//! in Windows PowerShell 5.1 or PowerShell 7, in the encodings Windows writes), and the collector's
//! bundle (`plugins/windows/BUNDLE.md`), all built around real certificates made by rcgen at exact
//! dates (see [`super::TestCert`]).
//!
//! The shapes follow the real exports in `../shared/fixtures/css-exchange`: the CliXml type names
//! (`<TN>` on first use, `<TNRef>` after), `<BA N="RawData">` as the only certificate fact,
//! `PSComputerName` in `<MS>` naming the shell's host (not the server queried), `_x000D__x000A_`
//! line breaks in `<ToString>`, enums as `<Obj>` with `<ToString>` and `<I32>`. The JSON shapes
//! follow what `ConvertTo-Json` writes: 5.1 with `"\/Date(ms)\/"` dates, enums as integers, byte
//! arrays as arrays of numbers, a lone object without brackets, `"key":  value` spacing and
//! HTML-safe escapes; 7 with ISO-8601 dates with offset, base64 byte arrays and enum names.
//!
//! An [`Organisation`] describes the state once and writes it as exports in any format or as a
//! bundle, so the same scenario can be checked through every input path.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use time::{OffsetDateTime, UtcOffset};

use super::{AUTH_CN, TestCert, Workdir, days, rfc3339, self_signed};

/// `Get-AuthConfig`'s `ServiceName` in every on-premises organisation.
pub const SERVICE_NAME: &str = "00000002-0000-0ff1-ce00-000000000000";
/// The CliXml namespace `Export-Clixml` writes on `<Objs>`.
pub const PS_NAMESPACE: &str = "http://schemas.microsoft.com/powershell/2004/04";
/// The AD domain of the generated organisations.
pub const DOMAIN: &str = "contoso.lab";
/// The AD site of the generated servers.
pub const SITE: &str = "Default-First-Site-Name";

// ---------------------------------------------------------------------------------------------
// Text encodings
// ---------------------------------------------------------------------------------------------

/// How a file's text is encoded on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// Windows PowerShell 5.1 `Export-Clixml`, `Out-File`, `>`.
    Utf16LeBom,
    /// Windows PowerShell 5.1 `-Encoding UTF8`.
    Utf8Bom,
    /// PowerShell 7 (and the collector).
    Utf8,
}

impl TextEncoding {
    pub const ALL: [TextEncoding; 3] = [
        TextEncoding::Utf16LeBom,
        TextEncoding::Utf8Bom,
        TextEncoding::Utf8,
    ];

    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            TextEncoding::Utf16LeBom => {
                let mut bytes = vec![0xFF, 0xFE];
                bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
                bytes
            }
            TextEncoding::Utf8Bom => {
                let mut bytes = b"\xEF\xBB\xBF".to_vec();
                bytes.extend(text.as_bytes());
                bytes
            }
            TextEncoding::Utf8 => text.as_bytes().to_vec(),
        }
    }
}

/// The text of a file in any of the encodings above (BOM sniffed), for re-encoding fixtures.
pub fn decode_text(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8(rest.to_vec()).expect("UTF-8 text");
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        return String::from_utf16(&units).expect("UTF-16LE text");
    }
    String::from_utf8(bytes.to_vec()).expect("UTF-8 text")
}

/// Sets a file's modification time: a raw export is as old as its file.
pub fn set_mtime(path: &Path, at: OffsetDateTime) {
    let nanos = at.unix_timestamp_nanos();
    let time = if nanos >= 0 {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(nanos as u64)
    } else {
        SystemTime::UNIX_EPOCH - std::time::Duration::from_nanos(nanos.unsigned_abs() as u64)
    };
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(time))
        .unwrap_or_else(|e| panic!("setting the mtime of {}: {e}", path.display()));
}

/// Writes `text` in `encoding` to `dir/name` with the modification time `mtime`.
pub fn write_text(
    dir: &Workdir,
    name: &str,
    text: &str,
    encoding: TextEncoding,
    mtime: OffsetDateTime,
) -> PathBuf {
    let path = dir.write(name, encoding.encode(text));
    set_mtime(&path, mtime);
    path
}

// ---------------------------------------------------------------------------------------------
// Export formats
// ---------------------------------------------------------------------------------------------

/// How an admin saved an Exchange Management Shell result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `| Export-Clixml file.xml` (Windows PowerShell 5.1, the Exchange Management Shell).
    CliXml,
    /// `| ConvertTo-Json > file.json` in Windows PowerShell 5.1.
    Json51,
    /// `| ConvertTo-Json -EnumsAsStrings | Set-Content file.json` in PowerShell 7.
    Json7,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 3] = [
        ExportFormat::CliXml,
        ExportFormat::Json51,
        ExportFormat::Json7,
    ];

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::CliXml => "xml",
            ExportFormat::Json51 | ExportFormat::Json7 => "json",
        }
    }

    /// The encoding Windows writes by default for this way of saving.
    pub fn default_encoding(self) -> TextEncoding {
        match self {
            ExportFormat::CliXml | ExportFormat::Json51 => TextEncoding::Utf16LeBom,
            ExportFormat::Json7 => TextEncoding::Utf8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::CliXml => "Export-Clixml",
            ExportFormat::Json51 => "ConvertTo-Json (5.1)",
            ExportFormat::Json7 => "ConvertTo-Json (7)",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dates as PowerShell writes them
// ---------------------------------------------------------------------------------------------

/// The offset the generated Exchange servers' clocks run in (CET): dates in CliXml and
/// PowerShell 7 JSON carry it, as a real export's local times do.
pub fn server_offset() -> UtcOffset {
    UtcOffset::from_hms(1, 0, 0).expect("offset")
}

/// `2023-02-03T15:16:02+01:00`, with up to 7 fraction digits when there is a fraction (as
/// `XmlConvert` and PowerShell 7 write a `DateTime`).
pub fn iso_with_offset(instant: OffsetDateTime, offset: UtcOffset) -> String {
    let t = instant.to_offset(offset);
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let ticks = t.nanosecond() / 100;
    if ticks > 0 {
        let fraction = format!("{ticks:07}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    let (hours, minutes, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    let _ = write!(
        text,
        "{sign}{:02}:{:02}",
        hours.unsigned_abs(),
        minutes.unsigned_abs()
    );
    text
}

/// `/Date(1675433762000)/`: what Windows PowerShell 5.1 makes of a `DateTime` (the slashes are
/// escaped when the JSON is written).
pub fn ms_date(instant: OffsetDateTime) -> String {
    format!("/Date({})/", instant.unix_timestamp_nanos() / 1_000_000)
}

/// `01/05/2028 09:04:48`: the culture-formatted (en-US) date of a certificate's `ToString()`.
fn us_date(instant: OffsetDateTime) -> String {
    let t = instant.to_offset(server_offset());
    format!(
        "{:02}/{:02}/{:04} {:02}:{:02}:{:02}",
        u8::from(t.month()),
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

// ---------------------------------------------------------------------------------------------
// CliXml writing
// ---------------------------------------------------------------------------------------------

/// Escapes text for a CliXml string: XML entities, and control characters as `_xHHHH_` (an
/// underscore that would start such an escape is itself escaped as `_x005F_`).
pub fn clixml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (at, &c) in chars.iter().enumerate() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '_' if chars.get(at + 1) == Some(&'x') => out.push_str("_x005F_"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "_x{:04X}_", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Writes one `Export-Clixml` document, allocating `RefId`s for objects and type-name lists as
/// PowerShell does (`<TN RefId>` on first use of a list, `<TNRef>` afterwards).
pub struct CliXmlWriter {
    out: String,
    next_object: u32,
    types: Vec<Vec<String>>,
}

impl Default for CliXmlWriter {
    fn default() -> Self {
        CliXmlWriter::new()
    }
}

impl CliXmlWriter {
    pub fn new() -> CliXmlWriter {
        CliXmlWriter {
            out: format!("<Objs Version=\"1.1.0.1\" xmlns=\"{PS_NAMESPACE}\">\n"),
            next_object: 0,
            types: Vec::new(),
        }
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</Objs>");
        self.out
    }

    fn line(&mut self, indent: usize, text: &str) {
        self.out.push_str(&" ".repeat(indent));
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// `<Obj [N="name"] RefId="n">` and the type names.
    pub fn open_object(&mut self, indent: usize, name: Option<&str>, types: &[&str]) {
        let id = self.next_object;
        self.next_object += 1;
        let name = name
            .map(|n| format!(" N=\"{}\"", clixml_escape(n)))
            .unwrap_or_default();
        self.line(indent, &format!("<Obj{name} RefId=\"{id}\">"));
        let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        match self.types.iter().position(|known| *known == types) {
            Some(type_id) => self.line(indent + 2, &format!("<TNRef RefId=\"{type_id}\" />")),
            None => {
                let type_id = self.types.len();
                self.line(indent + 2, &format!("<TN RefId=\"{type_id}\">"));
                for t in &types {
                    self.line(indent + 4, &format!("<T>{}</T>", clixml_escape(t)));
                }
                self.line(indent + 2, "</TN>");
                self.types.push(types);
            }
        }
    }

    pub fn close_object(&mut self, indent: usize) {
        self.line(indent, "</Obj>");
    }

    pub fn tostring_element(&mut self, indent: usize, text: &str) {
        if text.is_empty() {
            self.line(indent, "<ToString />");
        } else {
            self.line(
                indent,
                &format!("<ToString>{}</ToString>", clixml_escape(text)),
            );
        }
    }

    /// A primitive property: `<S N="Name">text</S>`, `<B ...>`, `<I32 ...>`, `<DT ...>` ...
    pub fn value(&mut self, indent: usize, tag: &str, name: &str, text: &str) {
        self.line(
            indent,
            &format!(
                "<{tag} N=\"{}\">{}</{tag}>",
                clixml_escape(name),
                clixml_escape(text)
            ),
        );
    }

    pub fn nil(&mut self, indent: usize, name: &str) {
        self.line(indent, &format!("<Nil N=\"{}\" />", clixml_escape(name)));
    }

    /// An enum value as PowerShell serialises one: an object with the enum's type names, its
    /// `ToString()` and its number.
    pub fn enum_value(
        &mut self,
        indent: usize,
        name: &str,
        types: &[&str],
        text: &str,
        value: i64,
    ) {
        self.open_object(indent, Some(name), types);
        self.tostring_element(indent + 2, text);
        self.line(indent + 2, &format!("<I32>{value}</I32>"));
        self.close_object(indent);
    }

    /// Free-form content (already escaped), one line.
    pub fn raw(&mut self, indent: usize, text: &str) {
        self.line(indent, text);
    }

    /// The `<MS>` block of an object that came through a remote Exchange Management Shell.
    pub fn member_set(&mut self, indent: usize, ps_computer_name: Option<&str>, runspace: &str) {
        self.line(indent, "<MS>");
        if let Some(host) = ps_computer_name {
            self.value(indent + 2, "S", "PSComputerName", host);
        }
        self.value(indent + 2, "G", "RunspaceId", runspace);
        self.value(indent + 2, "B", "PSShowComputerName", "false");
        self.line(indent, "</MS>");
    }
}

const EXCHANGE_CERTIFICATE_TYPES: &[&str] = &[
    "Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate",
    "System.Security.Cryptography.X509Certificates.X509Certificate2",
    "System.Security.Cryptography.X509Certificates.X509Certificate",
    "System.Object",
];
const ALLOWED_SERVICES_TYPES: &[&str] = &[
    "Microsoft.Exchange.Management.SystemConfigurationTasks.AllowedServices",
    "System.Enum",
    "System.ValueType",
    "System.Object",
];
const CERTIFICATE_STATUS_TYPES: &[&str] = &[
    "Microsoft.Exchange.Management.SystemConfigurationTasks.CertificateStatus",
    "System.Enum",
    "System.ValueType",
    "System.Object",
];
const AUTH_CONFIG_TYPES: &[&str] = &[
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthConfig",
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADConfigurationObject",
    "Microsoft.Exchange.Data.Directory.ADObject",
    "Microsoft.Exchange.Data.Directory.ADRawEntry",
    "Microsoft.Exchange.Data.ConfigurableObject",
    "System.Object",
];
const OBJECT_STATE_TYPES: &[&str] = &[
    "Microsoft.Exchange.Data.ObjectState",
    "System.Enum",
    "System.ValueType",
    "System.Object",
];
const EXCHANGE_SERVER_TYPES: &[&str] = &[
    "Microsoft.Exchange.Data.Directory.Management.ExchangeServer",
    "Microsoft.Exchange.Data.Directory.Management.ADPresentationObject",
    "Microsoft.Exchange.Data.Directory.ADObject",
    "Microsoft.Exchange.Data.Directory.ADRawEntry",
    "Microsoft.Exchange.Data.ConfigurableObject",
    "System.Object",
];
const SERVER_VERSION_TYPES: &[&str] = &["Microsoft.Exchange.Data.ServerVersion", "System.Object"];
const AD_OBJECT_ID_TYPES: &[&str] = &[
    "Microsoft.Exchange.Data.Directory.ADObjectId",
    "Microsoft.Exchange.Data.ObjectId",
    "System.Object",
];
const SERVER_ROLE_TYPES: &[&str] = &[
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole",
    "System.Enum",
    "System.ValueType",
    "System.Object",
];
const RUNSPACE_ID: &str = "7b6050c3-dac9-42ab-a0dc-c7f0b409c6bf";

// ---------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------

/// `AllowedServices` flags, as .NET prints them (ascending).
pub const CERTIFICATE_SERVICES: &[(i64, &str)] = &[
    (1, "IMAP"),
    (2, "POP"),
    (4, "UM"),
    (8, "IIS"),
    (16, "SMTP"),
    (32, "Federation"),
    (64, "UMCallRouter"),
];

/// `ServerRole` flags the generated servers use.
pub const SERVER_ROLES: &[(i64, &str)] = &[
    (1, "Cafe"),
    (2, "Mailbox"),
    (4, "ClientAccess"),
    (32, "HubTransport"),
    (64, "Edge"),
];

/// The number of a `[Flags]` enum value from its names.
pub fn flags_value(names: &[String], table: &[(i64, &str)]) -> i64 {
    names
        .iter()
        .map(|name| {
            table
                .iter()
                .find(|(_, known)| known.eq_ignore_ascii_case(name))
                .unwrap_or_else(|| panic!("unknown flag {name}"))
                .0
        })
        .sum()
}

/// The text .NET gives a `[Flags]` enum value: names in ascending order, `None` for zero.
pub fn flags_text(names: &[String], table: &[(i64, &str)]) -> String {
    let value = flags_value(names, table);
    if value == 0 {
        return "None".into();
    }
    table
        .iter()
        .filter(|(bit, _)| value & bit != 0)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// JSON writing
// ---------------------------------------------------------------------------------------------

/// A JSON document as Windows PowerShell 5.1's `ConvertTo-Json` writes it: four-space indents,
/// two spaces after the colon, `"\/Date(ms)\/"` dates, and `< > & '` escaped as `\u003c` ...
pub fn json51_text(value: &Value) -> String {
    let mut out = String::new();
    write_json51(&mut out, value, 0);
    out
}

fn write_json51(out: &mut String, value: &Value, indent: usize) {
    let pad = |n: usize| " ".repeat(n);
    match value {
        Value::Object(map) if map.is_empty() => out.push_str("{\n\n}"),
        Value::Object(map) => {
            out.push_str("{\n");
            let items: Vec<String> = map
                .iter()
                .map(|(key, item)| {
                    let mut text = format!("{}{}:  ", pad(indent + 4), json51_string(key));
                    write_json51(&mut text, item, indent + 4);
                    text
                })
                .collect();
            out.push_str(&items.join(",\n"));
            out.push('\n');
            out.push_str(&pad(indent));
            out.push('}');
        }
        Value::Array(items) if items.is_empty() => {
            out.push_str("[\n\n");
            out.push_str(&pad(indent));
            out.push(']');
        }
        Value::Array(items) => {
            out.push_str("[\n");
            let items: Vec<String> = items
                .iter()
                .map(|item| {
                    let mut text = pad(indent + 4);
                    write_json51(&mut text, item, indent + 4);
                    text
                })
                .collect();
            out.push_str(&items.join(",\n"));
            out.push('\n');
            out.push_str(&pad(indent));
            out.push(']');
        }
        Value::String(text) => out.push_str(&json51_string(text)),
        other => out.push_str(&other.to_string()),
    }
}

fn json51_string(text: &str) -> String {
    let quoted = Value::String(text.to_string()).to_string();
    let quoted = quoted
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027");
    if text.starts_with("/Date(") && text.ends_with(")/") {
        quoted.replace('/', "\\/")
    } else {
        quoted
    }
}

/// A JSON document as PowerShell 7's `ConvertTo-Json` writes it (two-space indents).
pub fn json7_text(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON")
}

/// `ConvertTo-Json` of a pipeline: one object without brackets, several as an array.
fn pipeline(mut items: Vec<Value>) -> Value {
    if items.len() == 1 {
        items.remove(0)
    } else {
        Value::Array(items)
    }
}

// ---------------------------------------------------------------------------------------------
// Get-AuthConfig
// ---------------------------------------------------------------------------------------------

/// A `Get-AuthConfig` result. Thumbprints are empty strings when unset, as Exchange writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfigExport {
    pub current: String,
    pub previous: String,
    pub next: String,
    pub next_effective: Option<OffsetDateTime>,
    pub service_name: String,
    pub realm: String,
    /// `WhenChangedUTC` (AD's whenChanged).
    pub changed_at: OffsetDateTime,
    /// The Exchange Management Shell's host (`PSComputerName`).
    pub host: String,
}

impl AuthConfigExport {
    /// `current` signs; nothing staged, no previous.
    pub fn current(current: &TestCert) -> AuthConfigExport {
        AuthConfigExport::with_current_thumbprint(&current.thumbprint())
    }

    pub fn with_current_thumbprint(thumbprint: &str) -> AuthConfigExport {
        AuthConfigExport {
            current: thumbprint.to_string(),
            previous: String::new(),
            next: String::new(),
            next_effective: None,
            service_name: SERVICE_NAME.into(),
            realm: String::new(),
            changed_at: crate::common::utc(2021, 7, 29, 5, 20, 48),
            host: format!("exch01.{DOMAIN}"),
        }
    }

    /// AuthConfig last changed at `at` (whenChanged).
    pub fn changed(mut self, at: OffsetDateTime) -> AuthConfigExport {
        self.changed_at = at;
        self
    }

    /// `Set-AuthConfig -NewCertificateThumbprint <next> -NewCertificateEffectiveDate <effective>`.
    pub fn next(mut self, next: &TestCert, effective: OffsetDateTime) -> AuthConfigExport {
        self.next = next.thumbprint();
        self.next_effective = Some(effective);
        self
    }

    /// The staged next certificate by thumbprint only (a certificate no store holds).
    pub fn next_thumbprint(mut self, thumbprint: &str, effective: OffsetDateTime) -> Self {
        self.next = thumbprint.to_string();
        self.next_effective = Some(effective);
        self
    }

    pub fn previous(mut self, previous: &TestCert) -> AuthConfigExport {
        self.previous = previous.thumbprint();
        self
    }

    pub fn previous_thumbprint(mut self, thumbprint: &str) -> AuthConfigExport {
        self.previous = thumbprint.to_string();
        self
    }

    pub fn render(&self, format: ExportFormat) -> String {
        match format {
            ExportFormat::CliXml => self.clixml(),
            ExportFormat::Json51 => json51_text(&self.json51_value()),
            ExportFormat::Json7 => json7_text(&self.json7_value()),
        }
    }

    /// `Get-AuthConfig | Export-Clixml`, shaped like the fixture `GetAuthConfig.xml`.
    pub fn clixml(&self) -> String {
        let mut w = CliXmlWriter::new();
        w.open_object(2, None, AUTH_CONFIG_TYPES);
        w.tostring_element(4, "Auth Configuration");
        w.raw(4, "<Props>");
        w.value(6, "S", "CurrentCertificateThumbprint", &self.current);
        w.value(6, "S", "PreviousCertificateThumbprint", &self.previous);
        w.value(6, "S", "NextCertificateThumbprint", &self.next);
        match self.next_effective {
            Some(at) => w.value(
                6,
                "DT",
                "NextCertificateEffectiveDate",
                &iso_with_offset(at, server_offset()),
            ),
            None => w.nil(6, "NextCertificateEffectiveDate"),
        }
        w.value(6, "S", "ServiceName", &self.service_name);
        w.value(6, "S", "Realm", &self.realm);
        w.value(6, "S", "DeploymentId", "");
        w.value(6, "S", "IssuerIdentifier", "");
        w.value(6, "S", "Name", "Auth Configuration");
        w.value(
            6,
            "S",
            "DistinguishedName",
            "CN=Auth Configuration,CN=Contoso Labs,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=lab",
        );
        w.value(6, "DT", "WhenChangedUTC", &rfc3339(self.changed_at));
        w.value(6, "B", "IsValid", "true");
        w.enum_value(6, "ObjectState", OBJECT_STATE_TYPES, "Unchanged", 1);
        w.raw(4, "</Props>");
        w.member_set(4, Some(&self.host), RUNSPACE_ID);
        w.close_object(2);
        w.finish()
    }

    fn json_common(&self, date: Value) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("CurrentCertificateThumbprint".into(), json!(self.current));
        map.insert("PreviousCertificateThumbprint".into(), json!(self.previous));
        map.insert("NextCertificateThumbprint".into(), json!(self.next));
        map.insert("NextCertificateEffectiveDate".into(), date);
        map.insert("ServiceName".into(), json!(self.service_name));
        map.insert("Realm".into(), json!(self.realm));
        map.insert("DeploymentId".into(), json!(""));
        map.insert("IssuerIdentifier".into(), json!(""));
        map.insert("Name".into(), json!("Auth Configuration"));
        map.insert("ExchangeVersion".into(), json!("0.20 (15.0.0.0)"));
        map.insert("IsValid".into(), json!(true));
        map
    }

    /// `WhenChangedUTC` as each shell writes dates.
    fn with_changed(mut map: Map<String, Value>, changed: Value) -> Value {
        map.insert("WhenChangedUTC".into(), changed);
        Value::Object(map)
    }

    /// `Get-AuthConfig | ConvertTo-Json` in Windows PowerShell 5.1.
    pub fn json51_value(&self) -> Value {
        let date = self.next_effective.map(|at| json!(ms_date(at)));
        let mut map = self.json_common(date.unwrap_or(Value::Null));
        map.insert(
            "Identity".into(),
            json!({"Name": "Auth Configuration", "IsDeleted": false, "Depth": 6,
                   "DistinguishedName": "CN=Auth Configuration,CN=Contoso Labs,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=lab"}),
        );
        map.insert("ObjectState".into(), json!(1));
        map.insert("PSComputerName".into(), json!(self.host));
        map.insert("RunspaceId".into(), json!(RUNSPACE_ID));
        map.insert("PSShowComputerName".into(), json!(false));
        Self::with_changed(map, json!(ms_date(self.changed_at)))
    }

    /// `Get-AuthConfig | ConvertTo-Json -EnumsAsStrings` in PowerShell 7.
    pub fn json7_value(&self) -> Value {
        let date = self
            .next_effective
            .map(|at| json!(iso_with_offset(at, server_offset())));
        let mut map = self.json_common(date.unwrap_or(Value::Null));
        map.insert("Identity".into(), json!("Auth Configuration"));
        map.insert("ObjectState".into(), json!("Unchanged"));
        map.insert("PSComputerName".into(), json!(self.host));
        Self::with_changed(
            map,
            json!(iso_with_offset(self.changed_at, server_offset())),
        )
    }

    /// The bundle's `auth_config` (BUNDLE.md): UTC dates with `Z`.
    pub fn bundle_value(&self) -> Value {
        json!({
            "CurrentCertificateThumbprint": self.current,
            "PreviousCertificateThumbprint": self.previous,
            "NextCertificateThumbprint": self.next,
            "NextCertificateEffectiveDate": self.next_effective.map(rfc3339),
            "ServiceName": self.service_name,
            "Realm": self.realm,
            "WhenChangedUTC": rfc3339(self.changed_at),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Get-ExchangeCertificate
// ---------------------------------------------------------------------------------------------

/// One certificate in a server's store, with the services it is bound to there.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreCert {
    pub der: Vec<u8>,
    pub thumbprint: String,
    pub cn: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub services: Vec<String>,
    pub friendly_name: String,
    pub status: String,
}

impl StoreCert {
    /// `cert` bound to `services` (`[]` for none). The friendly name is what Exchange gives
    /// such a certificate.
    pub fn new(cert: &TestCert, services: &[&str]) -> StoreCert {
        let friendly_name = if cert.cn == AUTH_CN {
            AUTH_CN.to_string()
        } else if cert.cn.starts_with("WMSvc") {
            "WMSVC-SHA2".to_string()
        } else {
            "Microsoft Exchange".to_string()
        };
        StoreCert {
            der: cert.der.clone(),
            thumbprint: cert.thumbprint(),
            cn: cert.cn.clone(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            services: services.iter().map(|s| s.to_string()).collect(),
            friendly_name,
            status: "Valid".into(),
        }
    }

    /// The certificate as Exchange would report it at `now` (`DateInvalid` once expired).
    fn status_at(&self, now: Option<OffsetDateTime>) -> &str {
        match now {
            Some(now) if now > self.not_after => "DateInvalid",
            _ => &self.status,
        }
    }

    fn services_value(&self) -> i64 {
        flags_value(&self.services, CERTIFICATE_SERVICES)
    }

    fn services_text(&self) -> String {
        flags_text(&self.services, CERTIFICATE_SERVICES)
    }

    fn serial_hex(&self) -> String {
        let (_, parsed) = x509_parser::parse_x509_certificate(&self.der).expect("test DER");
        parsed
            .tbs_certificate
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// `ToString()` of an `X509Certificate2`, with its culture-formatted dates (never read).
    fn to_string_text(&self) -> String {
        format!(
            "[Subject]\r\n  CN={cn}\r\n\r\n[Issuer]\r\n  CN={cn}\r\n\r\n[Serial Number]\r\n  {serial}\r\n\r\n[Not Before]\r\n  {nb}\r\n\r\n[Not After]\r\n  {na}\r\n\r\n[Thumbprint]\r\n  {tp}\r\n",
            cn = self.cn,
            serial = self.serial_hex(),
            nb = us_date(self.not_before),
            na = us_date(self.not_after),
            tp = self.thumbprint
        )
    }
}

/// What a CliXml certificate object carries besides `RawData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliXmlCertificates {
    /// Exactly as the real fixture: `RawData` only (Exchange's own serialisation hides the
    /// rest, `Services` included, in `SerializationData`).
    RawDataOnly,
    /// `RawData` plus `Services` (an enum object), `Status` and `FriendlyName`, as a
    /// `Get-ExchangeCertificate | Select-Object *` export carries them.
    WithServices,
}

/// `Get-ExchangeCertificate -Server <server> | Export-Clixml`, one `<Obj>` per certificate;
/// `host` is the shell's host (`PSComputerName`), `None` for a local export without it.
pub fn certificates_clixml(
    certs: &[StoreCert],
    host: Option<&str>,
    style: CliXmlCertificates,
) -> String {
    let mut w = CliXmlWriter::new();
    for cert in certs {
        w.open_object(2, None, EXCHANGE_CERTIFICATE_TYPES);
        w.tostring_element(4, &cert.to_string_text());
        w.raw(4, "<Props>");
        w.value(6, "BA", "RawData", &STANDARD.encode(&cert.der));
        if style == CliXmlCertificates::WithServices {
            w.enum_value(
                6,
                "Services",
                ALLOWED_SERVICES_TYPES,
                &cert.services_text(),
                cert.services_value(),
            );
            w.enum_value(6, "Status", CERTIFICATE_STATUS_TYPES, &cert.status, 1);
            w.value(6, "S", "FriendlyName", &cert.friendly_name);
        }
        w.raw(4, "</Props>");
        w.member_set(4, host, RUNSPACE_ID);
        w.close_object(2);
    }
    w.finish()
}

fn certificate_json_common(cert: &StoreCert, server: Option<&str>) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("HasPrivateKey".into(), json!(true));
    map.insert("FriendlyName".into(), json!(cert.friendly_name));
    map.insert("IsSelfSigned".into(), json!(true));
    map.insert("Issuer".into(), json!(format!("CN={}", cert.cn)));
    map.insert("Subject".into(), json!(format!("CN={}", cert.cn)));
    map.insert("SerialNumber".into(), json!(cert.serial_hex()));
    map.insert("Thumbprint".into(), json!(cert.thumbprint));
    map.insert("PublicKeySize".into(), json!(256));
    if let Some(server) = server {
        map.insert(
            "Identity".into(),
            json!(format!("{server}\\{}", cert.thumbprint)),
        );
    }
    map
}

/// `Get-ExchangeCertificate -Server <server> | ConvertTo-Json > file` in Windows PowerShell 5.1:
/// `Identity` is `SERVER\THUMBPRINT` when `server` is given.
pub fn certificates_json51_value(
    certs: &[StoreCert],
    server: Option<&str>,
    host: Option<&str>,
) -> Value {
    pipeline(
        certs
            .iter()
            .map(|cert| {
                let mut map = certificate_json_common(cert, server);
                map.insert("NotAfter".into(), json!(ms_date(cert.not_after)));
                map.insert("NotBefore".into(), json!(ms_date(cert.not_before)));
                map.insert("Services".into(), json!(cert.services_value()));
                map.insert("Status".into(), json!(1));
                map.insert("RootCAType".into(), json!(3));
                map.insert(
                    "RawData".into(),
                    Value::Array(cert.der.iter().map(|b| json!(b)).collect()),
                );
                if let Some(host) = host {
                    map.insert("PSComputerName".into(), json!(host));
                }
                map.insert("RunspaceId".into(), json!(RUNSPACE_ID));
                map.insert("PSShowComputerName".into(), json!(false));
                Value::Object(map)
            })
            .collect(),
    )
}

/// The same in PowerShell 7 with `-EnumsAsStrings`.
pub fn certificates_json7_value(
    certs: &[StoreCert],
    server: Option<&str>,
    host: Option<&str>,
) -> Value {
    pipeline(
        certs
            .iter()
            .map(|cert| {
                let mut map = certificate_json_common(cert, server);
                map.insert(
                    "NotAfter".into(),
                    json!(iso_with_offset(cert.not_after, server_offset())),
                );
                map.insert(
                    "NotBefore".into(),
                    json!(iso_with_offset(cert.not_before, server_offset())),
                );
                map.insert("Services".into(), json!(cert.services_text()));
                map.insert("Status".into(), json!(cert.status));
                map.insert("RootCAType".into(), json!("Registry"));
                map.insert("RawData".into(), json!(STANDARD.encode(&cert.der)));
                if let Some(host) = host {
                    map.insert("PSComputerName".into(), json!(host));
                }
                Value::Object(map)
            })
            .collect(),
    )
}

/// A certificate export in `format`; JSON names the server in `Identity` when `server` is given.
pub fn certificates_export(
    format: ExportFormat,
    certs: &[StoreCert],
    server: Option<&str>,
    host: Option<&str>,
) -> String {
    match format {
        ExportFormat::CliXml => certificates_clixml(certs, host, CliXmlCertificates::WithServices),
        ExportFormat::Json51 => json51_text(&certificates_json51_value(certs, server, host)),
        ExportFormat::Json7 => json7_text(&certificates_json7_value(certs, server, host)),
    }
}

// ---------------------------------------------------------------------------------------------
// Get-ExchangeServer
// ---------------------------------------------------------------------------------------------

/// One `Get-ExchangeServer` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    pub name: String,
    pub fqdn: String,
    pub site: String,
    /// Major, minor, build, revision of `AdminDisplayVersion`.
    pub version: (u32, u32, u32, u32),
    pub roles: Vec<String>,
    pub is_edge: bool,
}

impl ServerInfo {
    /// An Exchange 2019 Mailbox server (`ServerRole` Mailbox).
    pub fn mailbox(name: &str) -> ServerInfo {
        ServerInfo {
            name: name.to_string(),
            fqdn: format!("{}.{DOMAIN}", name.to_ascii_lowercase()),
            site: SITE.to_string(),
            version: (15, 2, 1544, 4),
            roles: vec!["Mailbox".into()],
            is_edge: false,
        }
    }

    /// An Edge Transport server: never holds the Auth Certificate.
    pub fn edge(name: &str) -> ServerInfo {
        ServerInfo {
            roles: vec!["Edge".into()],
            is_edge: true,
            ..ServerInfo::mailbox(name)
        }
    }

    /// `Version 15.2 (Build 1544.4)`.
    pub fn version_text(&self) -> String {
        let (major, minor, build, revision) = self.version;
        format!("Version {major}.{minor} (Build {build}.{revision})")
    }

    fn role_value(&self) -> i64 {
        flags_value(&self.roles, SERVER_ROLES)
    }

    fn role_text(&self) -> String {
        flags_text(&self.roles, SERVER_ROLES)
    }

    fn site_path(&self) -> String {
        format!("{DOMAIN}/Configuration/Sites/{}", self.site)
    }

    fn site_dn(&self) -> String {
        format!(
            "CN={},CN=Sites,CN=Configuration,DC=contoso,DC=lab",
            self.site
        )
    }

    fn json_common(&self) -> Map<String, Value> {
        let (major, minor, build, revision) = self.version;
        let mut map = Map::new();
        map.insert("Name".into(), json!(self.name));
        map.insert("Domain".into(), json!(DOMAIN));
        map.insert("Fqdn".into(), json!(self.fqdn));
        map.insert("IsEdgeServer".into(), json!(self.is_edge));
        map.insert(
            "IsMailboxServer".into(),
            json!(self.roles.iter().any(|r| r == "Mailbox")),
        );
        map.insert("IsE15OrLater".into(), json!(true));
        map.insert(
            "AdminDisplayVersion".into(),
            json!({"Major": major, "Minor": minor, "Build": build, "Revision": revision,
                   "FilePatchLevelDescription": null}),
        );
        map
    }
}

/// `Get-ExchangeServer | Export-Clixml`, shaped like the fixture `GetExchangeServer.xml`.
pub fn servers_clixml(servers: &[ServerInfo], host: &str) -> String {
    let mut w = CliXmlWriter::new();
    for server in servers {
        let (major, minor, build, revision) = server.version;
        w.open_object(2, None, EXCHANGE_SERVER_TYPES);
        w.tostring_element(4, &server.name);
        w.raw(4, "<Props>");
        w.value(6, "S", "Name", &server.name);
        w.value(6, "S", "Domain", DOMAIN);
        w.value(6, "S", "Fqdn", &server.fqdn);
        w.value(6, "B", "IsClientAccessServer", "true");
        w.value(
            6,
            "B",
            "IsEdgeServer",
            if server.is_edge { "true" } else { "false" },
        );
        w.value(
            6,
            "B",
            "IsMailboxServer",
            if server.roles.iter().any(|r| r == "Mailbox") {
                "true"
            } else {
                "false"
            },
        );
        w.open_object(6, Some("AdminDisplayVersion"), SERVER_VERSION_TYPES);
        w.tostring_element(8, &server.version_text());
        w.raw(8, "<Props>");
        w.value(10, "I32", "Major", &major.to_string());
        w.value(10, "I32", "Minor", &minor.to_string());
        w.value(10, "I32", "Build", &build.to_string());
        w.value(10, "I32", "Revision", &revision.to_string());
        w.nil(10, "FilePatchLevelDescription");
        w.raw(8, "</Props>");
        w.close_object(6);
        w.open_object(6, Some("Site"), AD_OBJECT_ID_TYPES);
        w.tostring_element(8, &server.site_path());
        w.raw(8, "<Props>");
        w.value(10, "B", "IsDeleted", "false");
        w.value(10, "S", "Rdn", &format!("CN={}", server.site));
        w.value(10, "S", "DistinguishedName", &server.site_dn());
        w.value(10, "S", "Name", &server.site);
        w.raw(8, "</Props>");
        w.close_object(6);
        w.enum_value(
            6,
            "ServerRole",
            SERVER_ROLE_TYPES,
            &server.role_text(),
            server.role_value(),
        );
        w.value(6, "DT", "WhenChangedUTC", "2023-01-05T12:08:37.6177687Z");
        w.raw(4, "</Props>");
        w.member_set(4, Some(host), RUNSPACE_ID);
        w.close_object(2);
    }
    w.finish()
}

/// `Get-ExchangeServer | ConvertTo-Json` (5.1): `Site` cut to its text at depth 2, roles as a
/// number.
pub fn servers_json51_value(servers: &[ServerInfo], host: &str) -> Value {
    pipeline(
        servers
            .iter()
            .map(|server| {
                let mut map = server.json_common();
                map.insert("Site".into(), json!(server.site_path()));
                map.insert("ServerRole".into(), json!(server.role_value()));
                map.insert("Edition".into(), json!(3));
                map.insert("PSComputerName".into(), json!(host));
                Value::Object(map)
            })
            .collect(),
    )
}

/// `Get-ExchangeServer | ConvertTo-Json -EnumsAsStrings` (7): `Site` an object, roles as names.
pub fn servers_json7_value(servers: &[ServerInfo], host: &str) -> Value {
    pipeline(
        servers
            .iter()
            .map(|server| {
                let mut map = server.json_common();
                map.insert(
                    "Site".into(),
                    json!({"Name": server.site, "DistinguishedName": server.site_dn(),
                           "IsDeleted": false, "Depth": 4}),
                );
                map.insert("ServerRole".into(), json!(server.role_text()));
                map.insert("Edition".into(), json!("Enterprise"));
                map.insert("PSComputerName".into(), json!(host));
                Value::Object(map)
            })
            .collect(),
    )
}

pub fn servers_export(format: ExportFormat, servers: &[ServerInfo], host: &str) -> String {
    match format {
        ExportFormat::CliXml => servers_clixml(servers, host),
        ExportFormat::Json51 => json51_text(&servers_json51_value(servers, host)),
        ExportFormat::Json7 => json7_text(&servers_json7_value(servers, host)),
    }
}

// ---------------------------------------------------------------------------------------------
// An organisation, as exports or as a bundle
// ---------------------------------------------------------------------------------------------

/// What is known about one server's store.
#[derive(Debug, Clone, PartialEq)]
pub enum Store {
    Certificates(Vec<StoreCert>),
    /// `Get-ExchangeCertificate -Server` failed (bundle only: exports just lack the file).
    Unreachable(String),
    /// Listed, but nobody exported its certificates.
    NotCollected,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrgServer {
    pub info: ServerInfo,
    pub store: Store,
    pub internal_transport: Option<String>,
}

/// An Exchange organisation at one collection time.
#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    pub auth_config: Option<AuthConfigExport>,
    pub auth_config_error: Option<String>,
    pub servers: Vec<OrgServer>,
    /// `None`: unknown (exports never say).
    pub hybrid: Option<bool>,
    /// Collector 1.1: OAuth to Exchange Online and the dedicated hybrid application.
    pub hybrid_oauth: Option<(bool, bool)>,
    pub collected_at: OffsetDateTime,
    /// Where the shell or the collector ran.
    pub host: String,
}

impl Organisation {
    pub fn new(collected_at: OffsetDateTime) -> Organisation {
        Organisation {
            auth_config: None,
            auth_config_error: None,
            servers: Vec::new(),
            hybrid: Some(false),
            hybrid_oauth: None,
            collected_at,
            host: format!("EXCH01.{DOMAIN}"),
        }
    }

    pub fn auth_config(mut self, config: AuthConfigExport) -> Organisation {
        self.auth_config = Some(config);
        self
    }

    /// The collector could not read AuthConfig (bundle only).
    pub fn auth_config_error(mut self, error: &str) -> Organisation {
        self.auth_config = None;
        self.auth_config_error = Some(error.to_string());
        self
    }

    /// A Mailbox server whose store holds `certs`.
    pub fn mailbox(self, name: &str, certs: Vec<StoreCert>) -> Organisation {
        self.server(ServerInfo::mailbox(name), Store::Certificates(certs))
    }

    /// `servers` Mailbox servers (EXCH000, EXCH001, ...), each with `per_server` self-signed IIS
    /// certificates of its own: every one costs a signature verification, so such a bundle is
    /// slow to check on purpose (the `-t` watchdog tests).
    pub fn self_signed_stores(mut self, servers: usize, per_server: usize) -> Organisation {
        let now = self.collected_at;
        for server in 0..servers {
            let store = (0..per_server)
                .map(|i| {
                    let cert = self_signed(
                        &format!("host{i}.exch{server:03}.contoso.lab"),
                        now - days(30),
                        now + days(365),
                    );
                    StoreCert::new(&cert, &["IIS"])
                })
                .collect();
            self = self.mailbox(&format!("EXCH{server:03}"), store);
        }
        self
    }

    pub fn server(mut self, info: ServerInfo, store: Store) -> Organisation {
        self.servers.push(OrgServer {
            info,
            store,
            internal_transport: None,
        });
        self
    }

    pub fn unreachable(self, name: &str, reason: &str) -> Organisation {
        self.server(
            ServerInfo::mailbox(name),
            Store::Unreachable(reason.to_string()),
        )
    }

    pub fn not_collected(self, name: &str) -> Organisation {
        self.server(ServerInfo::mailbox(name), Store::NotCollected)
    }

    /// Names the internal transport certificate of the last server added.
    pub fn internal_transport(mut self, cert: &TestCert) -> Organisation {
        self.servers
            .last_mut()
            .expect("a server to name the certificate of")
            .internal_transport = Some(cert.thumbprint());
        self
    }

    pub fn hybrid(mut self, detected: Option<bool>) -> Organisation {
        self.hybrid = detected;
        self
    }

    /// HealthChecker's other signs of hybrid, as collector 1.1 records them.
    pub fn hybrid_oauth(mut self, oauth_to_exchange_online: bool, dedicated: bool) -> Organisation {
        self.hybrid_oauth = Some((oauth_to_exchange_online, dedicated));
        self
    }

    // --- the bundle --------------------------------------------------------------------------

    /// The collector's bundle (BUNDLE.md, schema version 1).
    pub fn bundle(&self) -> Value {
        let servers: Vec<Value> = self
            .servers
            .iter()
            .map(|server| {
                let info = &server.info;
                let (reachable, error, certificates) = match &server.store {
                    Store::Certificates(certs) => (
                        true,
                        Value::Null,
                        Value::Array(certs.iter().map(bundle_certificate).collect()),
                    ),
                    Store::Unreachable(reason) => (false, json!(reason), json!([])),
                    Store::NotCollected => {
                        panic!("a bundle has every server's store or its error")
                    }
                };
                json!({
                    "name": info.name,
                    "fqdn": info.fqdn,
                    "site": info.site,
                    "version": info.version_text(),
                    "major_version": info.version.0,
                    "roles": info.roles,
                    "is_edge": info.is_edge,
                    "reachable": reachable,
                    "error": error,
                    "internal_transport_certificate_thumbprint": server.internal_transport,
                    "certificates": certificates,
                })
            })
            .collect();
        json!({
            "schema": "exchange-authcert-bundle",
            "schema_version": 1,
            "collected_at": rfc3339(self.collected_at),
            "collected_on": self.host,
            "collector_version": "1.0.0",
            "auth_config": self.auth_config.as_ref().map(AuthConfigExport::bundle_value),
            "auth_config_error": self.auth_config_error,
            "hybrid": self.hybrid_value(),
            "servers": servers,
        })
    }

    fn hybrid_value(&self) -> Value {
        let mut hybrid = match self.hybrid {
            Some(detected) => json!({"detected": detected, "error": null}),
            None if self.hybrid_oauth.is_some() => json!({"detected": null, "error": "denied"}),
            None => return Value::Null,
        };
        if let Some((oauth, dedicated)) = self.hybrid_oauth {
            hybrid["oauth_to_exchange_online"] = json!(oauth);
            hybrid["dedicated_application"] = json!(dedicated);
        }
        hybrid
    }

    /// Writes the bundle as the collector does (pretty JSON) in `encoding`.
    pub fn write_bundle(&self, dir: &Workdir, name: &str, encoding: TextEncoding) -> PathBuf {
        let text = serde_json::to_string_pretty(&self.bundle()).expect("JSON");
        dir.write(name, encoding.encode(&text))
    }

    // --- the exports -------------------------------------------------------------------------

    /// Writes the organisation as an admin's exports in `format` (each file in the encoding
    /// Windows gives it, dated `collected_at`) and returns the options that read them:
    /// `--authconfig`, `--servers`, and one `--certificates` per server whose store is known.
    /// CliXml files are named with `SERVER=FILE` (their `PSComputerName` is the shell's host);
    /// JSON names the server in each certificate's `Identity`.
    pub fn write_exports(&self, dir: &Workdir, format: ExportFormat) -> Vec<String> {
        self.write_exports_encoded(dir, format, format.default_encoding())
    }

    pub fn write_exports_encoded(
        &self,
        dir: &Workdir,
        format: ExportFormat,
        encoding: TextEncoding,
    ) -> Vec<String> {
        let ext = format.extension();
        let write = |name: &str, text: &str| {
            write_text(dir, name, text, encoding, self.collected_at)
                .display()
                .to_string()
        };
        let mut args = Vec::new();
        if let Some(config) = &self.auth_config {
            let mut config = config.clone();
            config.host = self.host.to_ascii_lowercase();
            args.push("--authconfig".to_string());
            args.push(write(&format!("authconfig.{ext}"), &config.render(format)));
        }
        if !self.servers.is_empty() {
            let infos: Vec<ServerInfo> = self.servers.iter().map(|s| s.info.clone()).collect();
            args.push("--servers".to_string());
            args.push(write(
                &format!("servers.{ext}"),
                &servers_export(format, &infos, &self.host.to_ascii_lowercase()),
            ));
        }
        for server in &self.servers {
            let Store::Certificates(certs) = &server.store else {
                continue;
            };
            let name = &server.info.name;
            let host = self.host.to_ascii_lowercase();
            let text = certificates_export(format, certs, Some(name), Some(&host));
            let path = write(&format!("{name}-certificates.{ext}"), &text);
            args.push("--certificates".to_string());
            args.push(match format {
                ExportFormat::CliXml => format!("{name}={path}"),
                ExportFormat::Json51 | ExportFormat::Json7 => path,
            });
        }
        args
    }
}

/// One certificate of a bundle's server.
pub fn bundle_certificate(cert: &StoreCert) -> Value {
    json!({
        "thumbprint": cert.thumbprint,
        "raw_data": STANDARD.encode(&cert.der),
        "services": cert.services,
        "friendly_name": cert.friendly_name,
        "status": cert.status,
    })
}

// ---------------------------------------------------------------------------------------------
// Reading the JSON report
// ---------------------------------------------------------------------------------------------

/// One finding of the JSON report, in comparable form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReportFinding {
    pub severity: String,
    pub code: String,
    pub message: String,
    pub thumbprint: Option<String>,
    pub server: Option<String>,
}

/// The findings of a JSON report, in report order.
pub fn report_findings(report: &Value) -> Vec<ReportFinding> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| ReportFinding {
            severity: f["severity"].as_str().expect("severity").to_string(),
            code: f["code"].as_str().expect("code").to_string(),
            message: f["message"].as_str().expect("message").to_string(),
            thumbprint: f["thumbprint"].as_str().map(str::to_string),
            server: f["server"].as_str().map(str::to_string),
        })
        .collect()
}

/// `(severity, code)` of every finding, in report order.
pub fn severity_codes(report: &Value) -> Vec<(String, String)> {
    report_findings(report)
        .into_iter()
        .map(|f| (f.severity, f.code))
        .collect()
}

/// The value of a JSON report metric.
pub fn metric(report: &Value, label: &str) -> Option<i64> {
    report["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["label"] == label)
        .and_then(|m| m["value"].as_i64())
}

/// `(severity, code)` pairs, sorted: what a scenario expects, independent of rule order.
pub fn sorted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(s, c)| (s.to_string(), c.to_string()))
        .collect();
    pairs.sort();
    pairs
}

/// The report's `(severity, code)` pairs, sorted like [`sorted`].
pub fn sorted_codes(report: &Value) -> Vec<(String, String)> {
    let mut pairs = severity_codes(report);
    pairs.sort();
    pairs
}

// ---------------------------------------------------------------------------------------------
// Building blocks the organisation tests share, at the anchor instant
// ---------------------------------------------------------------------------------------------

/// An internal transport certificate (`CN=<server>`) valid until `not_after`.
pub fn transport(server: &str, not_after: OffsetDateTime) -> TestCert {
    crate::common::selfsigned_expiring(server, not_after)
}

/// A healthy server's own certificates: its internal transport certificate (IIS and SMTP),
/// 1500 days left at the anchor.
pub fn own_certs(server: &str) -> Vec<StoreCert> {
    vec![StoreCert::new(
        &transport(server, crate::common::anchor() + crate::common::days(1500)),
        &["IIS", "SMTP"],
    )]
}

/// `auth` certificates (bound to nothing) plus the server's own ones.
pub fn store(server: &str, auth: &[&TestCert]) -> Vec<StoreCert> {
    let mut certs: Vec<StoreCert> = auth.iter().map(|c| StoreCert::new(c, &[])).collect();
    certs.extend(own_certs(server));
    certs
}

/// `count` Mailbox servers (MBX000, MBX001 ...) collected an hour before the anchor, each
/// holding `current` and its own internal transport certificate (SMTP, 1500 days left): the
/// organisation of the scale benchmarks.
pub fn mailboxes_holding(
    current: &TestCert,
    config: AuthConfigExport,
    count: usize,
) -> Organisation {
    let now = crate::common::anchor();
    let mut org = Organisation::new(now - crate::common::seconds(3600)).auth_config(config);
    for i in 0..count {
        let name = format!("MBX{i:03}");
        let transport = crate::common::selfsigned_expiring(&name, now + crate::common::days(1500));
        org = org
            .server(
                ServerInfo::mailbox(&name),
                Store::Certificates(vec![
                    StoreCert::new(current, &[]),
                    StoreCert::new(&transport, &["SMTP"]),
                ]),
            )
            .internal_transport(&transport);
    }
    org
}

/// The servers of the agentless fixtures: EXCH01 and EXCH02 in the default site, EXCH03 in
/// Site-B, EDGE1 an Edge server.
pub fn servers_in_two_sites() -> [ServerInfo; 4] {
    [
        ServerInfo::mailbox("EXCH01"),
        ServerInfo::mailbox("EXCH02"),
        ServerInfo {
            site: "Site-B".into(),
            ..ServerInfo::mailbox("EXCH03")
        },
        ServerInfo::edge("EDGE1"),
    ]
}

/// Two Mailbox servers, EXCH01 and EXCH02, collected at the anchor.
pub fn two_servers(
    config: AuthConfigExport,
    exch01: Vec<StoreCert>,
    exch02: Vec<StoreCert>,
) -> Organisation {
    Organisation::new(crate::common::anchor())
        .auth_config(config)
        .mailbox("EXCH01", exch01)
        .mailbox("EXCH02", exch02)
}

/// EXCH01 and EXCH02 hold a current certificate with 1000 days left and the given own
/// certificates.
pub fn with_own(exch01: Vec<StoreCert>, exch02: Vec<StoreCert>) -> Organisation {
    let current = crate::common::auth_expiring(crate::common::anchor() + crate::common::days(1000));
    let with_current = |mut certs: Vec<StoreCert>| {
        certs.insert(0, StoreCert::new(&current, &[]));
        certs
    };
    two_servers(
        AuthConfigExport::current(&current),
        with_current(exch01),
        with_current(exch02),
    )
}

/// The `promtool` on PATH (Debian's `prometheus` package), or `None` after printing `note`.
pub fn promtool(note: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        println!("{note}");
    }
    found
}
