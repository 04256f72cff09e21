//! The collector's bundle: one JSON document written by
//! `plugins/windows/Export-ExchangeAuthState.ps1` with everything the check needs from an
//! Exchange organisation (AuthConfig, servers, every server's certificates, hybrid), so the check
//! itself never needs the Exchange Management Shell. The format is specified in
//! `plugins/windows/BUNDLE.md`; this reader follows that document.
//!
//! Unknown fields are ignored (newer collectors may add some); a newer `schema_version` is
//! refused, because it may change the meaning of known fields. Every certificate's thumbprint is
//! checked against the SHA-1 of its `raw_data`, so a bundle edited by hand cannot make the check
//! judge one certificate under another's thumbprint.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::records::{
    AuthConfigRecord, BundleRecord, BundleServerRecord, CertificateRecord, HybridRecord,
    InventoryRecord, ServerRecord,
};
use super::text_encoding::decode_text;
use super::{SourceError, read_input_file};
use crate::types::Thumbprint;

/// The value of the bundle's `schema` field.
pub const BUNDLE_SCHEMA: &str = "exchange-authcert-bundle";

/// The newest `schema_version` this reader understands.
pub const BUNDLE_SCHEMA_VERSION: u32 = 1;

/// Longest piece of file content quoted in an error message.
const MAX_QUOTED_CHARS: usize = 64;

/// Reads and validates a bundle file (UTF-8 with or without BOM, or UTF-16 with BOM).
pub fn read_bundle(path: &Path) -> Result<BundleRecord, SourceError> {
    let bytes = read_input_file(path)?;
    let (_, text) = decode_text(&bytes).map_err(|reason| SourceError::invalid(path, reason))?;
    parse_bundle(&text).map_err(|reason| SourceError::invalid(path, reason))
}

/// Parses and validates the text of a bundle; the error is one line saying what is wrong.
///
/// `schema` and `schema_version` are judged before anything else, so that a file of another
/// kind or a newer bundle gets a message about that rather than about some field it lacks. A
/// large bundle is megabytes, so a valid one is read once (a scan, then its servers); only a
/// document that fails is read again, whole and then for its header, to say what is wrong.
pub fn parse_bundle(text: &str) -> Result<BundleRecord, String> {
    check_document_start(text)?;
    // The servers are parsed in two stages: the document with each server left as raw JSON
    // (a fast scan), then every server on all cores, where it is also converted (decoding and
    // hashing every certificate is most of the work in a large bundle). Any parse error is
    // reported by the one-pass parse of the whole document, so that it names the first fault
    // in document order, with its line and column, exactly as a one-pass parse would.
    let Ok(mut raw) = serde_json::from_str::<RawBundle<&RawValue>>(text) else {
        return Err(whole_document_error(text));
    };
    check_header(&Header {
        schema: raw.schema.take(),
        schema_version: raw.schema_version.take(),
    })?;
    let servers = raw.servers.take().map(|servers| {
        let numbered: Vec<(usize, &RawValue)> = servers
            .into_iter()
            .enumerate()
            .map(|(index, server)| (index + 1, server))
            .collect();
        crate::parallel::map_in_order(&numbered, 2, |(position, server)| {
            serde_json::from_str::<RawServer>(server.get())
                .map(|server| convert_server(*position, server))
        })
    });
    let servers = match servers {
        Some(parsed) if parsed.iter().any(Result::is_err) => {
            return Err(whole_document_error(text));
        }
        Some(parsed) => Some(parsed.into_iter().flatten().collect()),
        None => None,
    };
    convert(raw, servers)
}

/// The error of a document that did not parse: the header's fault first (a file of another
/// kind, a newer schema), else serde's message for the first fault in the document.
fn whole_document_error(text: &str) -> String {
    let error = match serde_json::from_str::<RawBundle<RawServer>>(text) {
        Ok(_) => return "invalid bundle (schema version 1): it did not parse in two stages".into(),
        Err(error) => error,
    };
    match read_header(text).and_then(|header| check_header(&header)) {
        Err(header_fault) => header_fault,
        Ok(()) => format!(
            "invalid bundle (schema version 1): {}",
            collapse_whitespace(&error.to_string())
        ),
    }
}

fn check_document_start(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("not an exchange-authcert bundle: the file holds only white space".into());
    }
    if text.trim_start().starts_with('<') {
        return Err("not an exchange-authcert bundle: XML, not JSON".into());
    }
    // serde fills a struct from a JSON array by position: refuse anything but an object first.
    if !text.trim_start().starts_with('{') {
        return Err("not an exchange-authcert bundle: the document is not a JSON object".into());
    }
    Ok(())
}

/// The header alone, from a document that did not parse as a whole.
fn read_header(text: &str) -> Result<Header, String> {
    serde_json::from_str(text).map_err(|e| {
        let detail = collapse_whitespace(&e.to_string());
        match e.classify() {
            serde_json::error::Category::Eof => format!("not valid JSON (truncated?): {detail}"),
            serde_json::error::Category::Data => {
                "not an exchange-authcert bundle: the document is not a JSON object".to_string()
            }
            _ => format!("not valid JSON: {detail}"),
        }
    })
}

fn check_header(header: &Header) -> Result<(), String> {
    match &header.schema {
        Some(serde_json::Value::String(schema)) if schema == BUNDLE_SCHEMA => {}
        Some(serde_json::Value::String(schema)) => {
            return Err(format!(
                "not an exchange-authcert bundle (schema is {})",
                quoted(schema)
            ));
        }
        Some(_) | None => {
            return Err(format!(
                "not an exchange-authcert bundle (no \"schema\": \"{BUNDLE_SCHEMA}\")"
            ));
        }
    }
    let version = match &header.schema_version {
        None | Some(serde_json::Value::Null) => {
            return Err("bundle has no schema_version".into());
        }
        Some(value) => value.as_u64().filter(|v| *v >= 1).ok_or_else(|| {
            format!(
                "bundle schema_version must be a whole number from 1, not {}",
                quoted(&value.to_string())
            )
        })?,
    };
    if version > u64::from(BUNDLE_SCHEMA_VERSION) {
        return Err(format!(
            "bundle schema version {version} is newer than this check understands \
             ({BUNDLE_SCHEMA_VERSION}); update the check"
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Header {
    schema: Option<serde_json::Value>,
    schema_version: Option<serde_json::Value>,
}

/// The document; `Server` is [`RawServer`], or `&RawValue` to parse the servers apart.
#[derive(Deserialize)]
struct RawBundle<Server> {
    // The header's fields, read in the same pass (serde's `flatten` would buffer the document).
    schema: Option<serde_json::Value>,
    schema_version: Option<serde_json::Value>,
    collected_at: Option<String>,
    collected_on: Option<String>,
    auth_config: Option<RawAuthConfig>,
    auth_config_error: Option<String>,
    hybrid: Option<RawHybrid>,
    servers: Option<Vec<Server>>,
}

/// `Get-AuthConfig`, with the property names Exchange uses.
#[derive(Deserialize)]
struct RawAuthConfig {
    #[serde(rename = "CurrentCertificateThumbprint")]
    current: Option<String>,
    #[serde(rename = "PreviousCertificateThumbprint")]
    previous: Option<String>,
    #[serde(rename = "NextCertificateThumbprint")]
    next: Option<String>,
    #[serde(rename = "NextCertificateEffectiveDate")]
    next_effective: Option<String>,
    #[serde(rename = "ServiceName")]
    service_name: Option<String>,
    #[serde(rename = "Realm")]
    realm: Option<String>,
    /// Collector 1.1: AD's whenChanged of the AuthConfig object.
    #[serde(rename = "WhenChangedUTC")]
    when_changed: Option<String>,
}

#[derive(Deserialize)]
struct RawHybrid {
    detected: Option<bool>,
    /// Collector 1.1 (BUNDLE.md): HealthChecker's two other signs of hybrid.
    oauth_to_exchange_online: Option<bool>,
    dedicated_application: Option<bool>,
}

#[derive(Deserialize)]
struct RawServer<'a> {
    name: Option<String>,
    fqdn: Option<String>,
    site: Option<String>,
    version: Option<String>,
    major_version: Option<u32>,
    #[serde(default, deserialize_with = "string_list")]
    roles: Vec<String>,
    is_edge: Option<bool>,
    reachable: Option<bool>,
    error: Option<String>,
    internal_transport_certificate_thumbprint: Option<String>,
    #[serde(borrow)]
    certificates: Option<Vec<RawCertificate<'a>>>,
}

#[derive(Deserialize)]
struct RawCertificate<'a> {
    // Text fields are borrowed from the document where nothing needs unescaping (base64 never
    // does): a large bundle has tens of thousands of them, copied once into the records.
    #[serde(default, borrow, deserialize_with = "borrowed_text")]
    thumbprint: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed_text")]
    raw_data: Option<Cow<'a, str>>,
    /// Absent: the collector did not say (unknown), which differs from `[]` (bound to nothing).
    #[serde(default, deserialize_with = "optional_string_list")]
    services: Option<Vec<String>>,
    #[serde(default, borrow, deserialize_with = "borrowed_text")]
    friendly_name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed_text")]
    status: Option<Cow<'a, str>>,
}

/// An optional string borrowed from the document when it holds no escape. Serde borrows a
/// `Cow<str>` field only when it is not wrapped: `Option<Cow<str>>` would always be copied
/// (serde-rs/serde#1497), 11 MB of base64 in a 500-server bundle.
fn borrowed_text<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Text<'a>>::deserialize(deserializer)?.map(|text| text.0))
}

/// The bundle from its parsed header and its servers, each already converted (in order).
fn convert(
    raw: RawBundle<&RawValue>,
    servers: Option<Vec<Result<BundleServerRecord, String>>>,
) -> Result<BundleRecord, String> {
    let collected_at = match raw.collected_at.as_deref().map(str::trim) {
        None | Some("") => return Err("bundle has no collected_at".into()),
        Some(text) => parse_date(text).ok_or_else(|| {
            format!(
                "collected_at {} is not an ISO-8601 date with offset",
                quoted(text)
            )
        })?,
    };
    let auth_config = raw.auth_config.map(convert_auth_config).transpose()?;
    let Some(converted) = servers else {
        return Err("bundle has no servers list".into());
    };
    let mut seen = HashSet::new();
    let mut servers = Vec::with_capacity(converted.len());
    for server in converted {
        let server = server?;
        if !seen.insert(server.server.name.to_ascii_lowercase()) {
            return Err(format!(
                "server {} appears twice",
                shown(&server.server.name)
            ));
        }
        servers.push(server);
    }
    Ok(BundleRecord {
        schema_version: BUNDLE_SCHEMA_VERSION,
        collected_at,
        collected_on: non_empty(raw.collected_on),
        auth_config,
        auth_config_error: non_empty(raw.auth_config_error).map(|e| collapse_whitespace(&e)),
        servers,
        hybrid: raw.hybrid.map(convert_hybrid).unwrap_or_default(),
    })
}

fn convert_hybrid(raw: RawHybrid) -> HybridRecord {
    HybridRecord {
        configuration: raw.detected,
        oauth_to_exchange_online: raw.oauth_to_exchange_online,
        dedicated_application: raw.dedicated_application,
    }
}

fn convert_auth_config(raw: RawAuthConfig) -> Result<AuthConfigRecord, String> {
    let thumbprint = |field: &str, value: Option<String>| {
        optional_thumbprint(value.as_deref())
            .map_err(|text| format!("auth_config: {field} {} is not a thumbprint", quoted(text)))
    };
    let next_effective = auth_config_date("NextCertificateEffectiveDate", raw.next_effective)?;
    let changed_at = auth_config_date("WhenChangedUTC", raw.when_changed)?;
    Ok(AuthConfigRecord {
        current: thumbprint("CurrentCertificateThumbprint", raw.current)?,
        previous: thumbprint("PreviousCertificateThumbprint", raw.previous)?,
        next: thumbprint("NextCertificateThumbprint", raw.next)?,
        next_effective,
        service_name: raw.service_name,
        realm: raw.realm,
        changed_at,
    })
}

/// An optional AuthConfig date: blank is none, anything else must be ISO-8601 with an offset.
fn auth_config_date(field: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, String> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => parse_date(text).map(Some).ok_or_else(|| {
            format!(
                "auth_config: {field} {} is not an ISO-8601 date with offset",
                quoted(text)
            )
        }),
    }
}

/// `position` counts from 1, for messages about servers without a name.
fn convert_server(position: usize, raw: RawServer<'_>) -> Result<BundleServerRecord, String> {
    let name = match raw.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => return Err(format!("server {position} in the servers list has no name")),
    };
    let internal_transport_certificate = optional_thumbprint(
        raw.internal_transport_certificate_thumbprint.as_deref(),
    )
    .map_err(|text| {
        format!(
            "server {}: internal_transport_certificate_thumbprint {} is not a thumbprint",
            shown(&name),
            quoted(text)
        )
    })?;
    let inventory = if raw.reachable.unwrap_or(true) {
        let Some(raw_certificates) = raw.certificates else {
            return Err(format!(
                "server {} is reachable but has no certificates list",
                shown(&name)
            ));
        };
        let certificates = raw_certificates
            .into_iter()
            .enumerate()
            .map(|(index, raw)| convert_certificate(&name, index + 1, raw))
            .collect::<Result<Vec<_>, _>>()?;
        InventoryRecord::Certificates(certificates)
    } else {
        let reason = non_empty(raw.error)
            .map(|e| collapse_whitespace(&e))
            .unwrap_or_else(|| "unreachable (the bundle gives no reason)".into());
        InventoryRecord::Unreachable(reason)
    };
    Ok(BundleServerRecord {
        server: ServerRecord {
            name,
            fqdn: non_empty(raw.fqdn),
            site: non_empty(raw.site),
            version: non_empty(raw.version),
            major_version: raw.major_version,
            roles: raw.roles,
            is_edge: raw.is_edge.unwrap_or(false),
        },
        inventory,
        internal_transport_certificate,
    })
}

/// `position` counts from 1.
fn convert_certificate(
    server: &str,
    position: usize,
    raw: RawCertificate<'_>,
) -> Result<CertificateRecord, String> {
    let which = || format!("server {} certificate {position}", shown(server));
    let stated = match raw.thumbprint.as_deref().map(str::trim) {
        None | Some("") => return Err(format!("{}: no thumbprint", which())),
        Some(text) => Thumbprint::parse(text).ok_or_else(|| {
            format!(
                "{}: thumbprint {} is not a thumbprint",
                which(),
                quoted(text)
            )
        })?,
    };
    let raw_data = raw.raw_data.as_deref().unwrap_or("");
    // The collector writes one unbroken base64 line, decoded as it is; anything else is decoded
    // again without its white space (by the base64 crate, whose errors say where the fault is).
    let der = match base64_simd::STANDARD.decode_to_vec(raw_data.as_bytes()) {
        Ok(der) if !der.is_empty() => der,
        _ => {
            let compact: String = raw_data.chars().filter(|c| !c.is_whitespace()).collect();
            if compact.is_empty() {
                return Err(format!("{}: no raw_data", which()));
            }
            STANDARD
                .decode(compact.as_bytes())
                .map_err(|e| format!("{}: raw_data is not valid base64 ({e})", which()))?
        }
    };
    let actual = Thumbprint::of_der(&der);
    if actual != stated {
        return Err(format!(
            "{}: thumbprint {stated} does not match its RawData ({actual})",
            which()
        ));
    }
    Ok(CertificateRecord {
        server: Some(server.to_string()),
        services: raw.services,
        friendly_name: raw.friendly_name.map(Cow::into_owned),
        status: non_empty(raw.status.map(Cow::into_owned)),
        ..CertificateRecord::hashed(actual, der)
    })
}

/// Exchange writes an empty string for an unset thumbprint. `Err` carries the invalid text.
fn optional_thumbprint(value: Option<&str>) -> Result<Option<Thumbprint>, &str> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => Thumbprint::parse(text).map(Some).ok_or(text),
    }
}

/// ISO-8601 / RFC 3339 with offset, any number of fraction digits (the collector writes UTC
/// `Z`). Also the `/Date(ms)/` form Windows PowerShell 5.1 `ConvertTo-Json` gives a `DateTime`,
/// in case a hand-made bundle passes one through.
fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(date) = DateTime::parse_from_rfc3339(text) {
        return Some(date.with_timezone(&Utc));
    }
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    // An offset suffix (`+0100`) only says how to display it: the milliseconds are UTC.
    let digits_end = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map_or(inner.len(), |(at, _)| at);
    let millis: i64 = inner[..digits_end].parse().ok()?;
    DateTime::<Utc>::from_timestamp_millis(millis)
}

/// A list of strings; also a lone string (what `ConvertTo-Json` in Windows PowerShell 5.1 makes
/// of a one-element array when the collector is careless) and null (an empty list).
fn optional_string_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    string_list(deserializer).map(Some)
}

fn string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct StringList;

    impl<'de> Visitor<'de> for StringList {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of strings")
        }

        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Vec<String>, E> {
            Ok(vec![value.to_string()])
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                items.push(item);
            }
            Ok(items)
        }
    }

    deserializer.deserialize_any(StringList)
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.trim().is_empty())
}

/// Collapses line breaks and runs of white space: PowerShell error messages span lines, and
/// every message here ends up on one line of monitoring output.
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// File content for a message: control characters escaped, cut to a sane length.
fn shown(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().take(MAX_QUOTED_CHARS) {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if text.chars().nth(MAX_QUOTED_CHARS).is_some() {
        out.push('…');
    }
    out
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", shown(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::{Value, json};

    use crate::test_support::self_signed_der as certificate;

    fn certificate_json(der: &[u8], services: &[&str]) -> Value {
        json!({
            "thumbprint": Thumbprint::of_der(der).as_str(),
            "raw_data": STANDARD.encode(der),
            "services": services,
            "friendly_name": "Microsoft Exchange",
            "status": "Valid",
        })
    }

    #[test]
    fn certificate_text_is_borrowed_from_the_document_unless_escaped() {
        let text = r#"{"thumbprint": "AB", "raw_data": "MIIB+/==", "friendly_name": "a\"b", "status": null}"#;
        let raw: RawCertificate<'_> = serde_json::from_str(text).unwrap();
        assert!(matches!(raw.thumbprint, Some(Cow::Borrowed("AB"))));
        assert!(matches!(raw.raw_data, Some(Cow::Borrowed("MIIB+/=="))));
        assert!(matches!(raw.friendly_name.as_deref(), Some("a\"b")));
        assert!(matches!(raw.friendly_name, Some(Cow::Owned(_))));
        assert!(raw.status.is_none());
        let absent: RawCertificate<'_> = serde_json::from_str("{}").unwrap();
        assert!(absent.thumbprint.is_none() && absent.raw_data.is_none());
    }

    /// The SIMD decoder is the fast path only: whatever it accepts, the base64 crate (whose
    /// errors the messages quote) must accept with the same bytes, and what it refuses is then
    /// decoded again. Non-canonical last symbols, bad padding, white space, other alphabets.
    #[test]
    fn the_fast_base64_decoder_accepts_only_what_the_strict_one_does() {
        let cases = [
            "QQ==",
            "QR==",
            "QUI=",
            "QUJ=",
            "QQ",
            "QQ=",
            "Q===",
            "",
            " QQ==",
            "QQ==\n",
            "Q",
            "QUJD",
            "QU=D",
            "****",
            "QUJD\r\nQUJD",
            "QUJD-_==",
            "QUJD+/==",
            "QUJD+/8=",
            "=QUJ",
            "QUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJD",
            "QUJDQUJDQUJDQUJDQUJDQUJD=",
        ];
        for case in cases {
            let strict = STANDARD.decode(case);
            match base64_simd::STANDARD.decode_to_vec(case) {
                Ok(fast) => assert_eq!(strict.ok(), Some(fast), "{case:?}"),
                Err(_) => assert!(
                    strict.is_err(),
                    "{case:?}: only the SIMD decoder refused it"
                ),
            }
        }
    }

    struct Fixture {
        auth: Vec<u8>,
        transport: Vec<u8>,
        bundle: Value,
    }

    fn fixture() -> Fixture {
        let auth = certificate("Microsoft Exchange Server Auth Certificate");
        let transport = certificate("EXCH01");
        let transport2 = certificate("EXCH02");
        let auth_tp = Thumbprint::of_der(&auth).to_string();
        let bundle = json!({
            "schema": "exchange-authcert-bundle",
            "schema_version": 1,
            "collected_at": "2026-11-26T22:00:00Z",
            "collected_on": "EXCH01.contoso.lab",
            "collector_version": "1.0.0",
            "auth_config": {
                "CurrentCertificateThumbprint": auth_tp,
                "PreviousCertificateThumbprint": "",
                "NextCertificateThumbprint": "",
                "NextCertificateEffectiveDate": null,
                "ServiceName": "00000002-0000-0ff1-ce00-000000000000",
                "Realm": ""
            },
            "auth_config_error": null,
            "hybrid": {"detected": false, "error": null},
            "servers": [
                {"name": "EXCH01", "fqdn": "exch01.contoso.lab", "site": "Default-First-Site-Name",
                 "version": "Version 15.2 (Build 1544.4)", "major_version": 15, "roles": ["Mailbox"],
                 "is_edge": false, "reachable": true, "error": null,
                 "internal_transport_certificate_thumbprint": Thumbprint::of_der(&transport).as_str(),
                 "certificates": [certificate_json(&auth, &[]), certificate_json(&transport, &["IIS", "SMTP"])]},
                {"name": "EXCH02", "fqdn": "exch02.contoso.lab", "site": "Default-First-Site-Name",
                 "version": "Version 15.2 (Build 1544.4)", "major_version": 15, "roles": ["Mailbox"],
                 "is_edge": false, "reachable": true, "error": null,
                 "internal_transport_certificate_thumbprint": null,
                 "certificates": [certificate_json(&auth, &[]), certificate_json(&transport2, &["SMTP"])]}
            ]
        });
        Fixture {
            auth,
            transport,
            bundle,
        }
    }

    fn parse(bundle: &Value) -> Result<BundleRecord, String> {
        parse_bundle(&serde_json::to_string_pretty(bundle).unwrap())
    }

    fn parse_err(bundle: &Value) -> String {
        match parse(bundle) {
            Ok(_) => panic!("bundle was accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn reads_a_valid_bundle() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exchange-authstate.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&f.bundle).unwrap()).unwrap();
        let bundle = read_bundle(&path).unwrap();

        assert_eq!(bundle.schema_version, 1);
        assert_eq!(
            bundle.collected_at,
            Utc.with_ymd_and_hms(2026, 11, 26, 22, 0, 0).unwrap()
        );
        assert_eq!(bundle.collected_on.as_deref(), Some("EXCH01.contoso.lab"));
        assert_eq!(bundle.hybrid.configuration, Some(false));
        assert_eq!(bundle.auth_config_error, None);
        let auth_config = bundle.auth_config.unwrap();
        assert_eq!(auth_config.current, Some(Thumbprint::of_der(&f.auth)));
        assert_eq!(auth_config.previous, None);
        assert_eq!(auth_config.next, None);
        assert_eq!(auth_config.next_effective, None);
        assert_eq!(
            auth_config.service_name.as_deref(),
            Some("00000002-0000-0ff1-ce00-000000000000")
        );

        assert_eq!(bundle.servers.len(), 2);
        let exch01 = &bundle.servers[0];
        assert_eq!(
            exch01.server,
            ServerRecord {
                name: "EXCH01".into(),
                fqdn: Some("exch01.contoso.lab".into()),
                site: Some("Default-First-Site-Name".into()),
                version: Some("Version 15.2 (Build 1544.4)".into()),
                major_version: Some(15),
                roles: vec!["Mailbox".into()],
                is_edge: false,
            }
        );
        assert_eq!(
            exch01.internal_transport_certificate,
            Some(Thumbprint::of_der(&f.transport))
        );
        let InventoryRecord::Certificates(certificates) = &exch01.inventory else {
            panic!("EXCH01 should be reachable");
        };
        assert_eq!(certificates.len(), 2);
        assert_eq!(certificates[0].der, f.auth);
        assert_eq!(certificates[0].services, Some(vec![]));
        assert_eq!(certificates[1].der, f.transport);
        assert_eq!(certificates[1].server.as_deref(), Some("EXCH01"));
        assert_eq!(
            certificates[1].services.as_deref(),
            Some(&["IIS", "SMTP"].map(String::from)[..])
        );
        assert_eq!(
            certificates[1].friendly_name.as_deref(),
            Some("Microsoft Exchange")
        );
        assert_eq!(certificates[1].status.as_deref(), Some("Valid"));
        assert_eq!(bundle.servers[1].internal_transport_certificate, None);
    }

    #[test]
    fn accepts_utf8_bom_and_utf16_with_bom() {
        let f = fixture();
        let text = serde_json::to_string_pretty(&f.bundle).unwrap();
        let expected = parse_bundle(&text).unwrap();
        let dir = tempfile::tempdir().unwrap();

        let mut utf8_bom = b"\xEF\xBB\xBF".to_vec();
        utf8_bom.extend(text.as_bytes());
        let mut utf16le = vec![0xFF, 0xFE];
        utf16le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let mut utf16be = vec![0xFE, 0xFF];
        utf16be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));

        for (name, bytes) in [
            ("utf8bom.json", utf8_bom),
            ("utf16le.json", utf16le),
            ("utf16be.json", utf16be),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            assert_eq!(read_bundle(&path).unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn unreachable_server_keeps_its_reason_on_one_line() {
        let mut f = fixture();
        let server = &mut f.bundle["servers"][1];
        server["reachable"] = json!(false);
        server["error"] = json!(
            "Connecting to remote server exch02 failed:\r\n  WinRM cannot complete the operation."
        );
        server["certificates"] = json!([]);
        let bundle = parse(&f.bundle).unwrap();
        assert_eq!(
            bundle.servers[1].inventory,
            InventoryRecord::Unreachable(
                "Connecting to remote server exch02 failed: WinRM cannot complete the operation."
                    .into()
            )
        );

        let server = &mut f.bundle["servers"][1];
        server["error"] = Value::Null;
        server.as_object_mut().unwrap().remove("certificates");
        let bundle = parse(&f.bundle).unwrap();
        assert!(matches!(
            &bundle.servers[1].inventory,
            InventoryRecord::Unreachable(reason) if reason.contains("no reason")
        ));
    }

    #[test]
    fn missing_auth_config_and_unknown_hybrid() {
        let mut f = fixture();
        f.bundle["auth_config"] = Value::Null;
        f.bundle["auth_config_error"] = json!(
            "The operation couldn't be performed because object 'AuthConfig' couldn't be found."
        );
        f.bundle["hybrid"] = json!({"detected": null, "error": "access denied"});
        let bundle = parse(&f.bundle).unwrap();
        assert_eq!(bundle.auth_config, None);
        assert!(
            bundle
                .auth_config_error
                .as_deref()
                .unwrap()
                .contains("'AuthConfig' couldn't be found")
        );
        assert_eq!(bundle.hybrid.configuration, None);

        let object = f.bundle.as_object_mut().unwrap();
        object.remove("auth_config");
        object.remove("auth_config_error");
        object.remove("hybrid");
        let bundle = parse(&f.bundle).unwrap();
        assert_eq!(bundle.auth_config, None);
        assert_eq!(bundle.auth_config_error, None);
        assert_eq!(bundle.hybrid.configuration, None);
    }

    #[test]
    fn reads_a_staged_next_certificate_and_its_date() {
        let mut f = fixture();
        let next = certificate("Microsoft Exchange Server Auth Certificate");
        let auth_config = &mut f.bundle["auth_config"];
        auth_config["NextCertificateThumbprint"] =
            json!(Thumbprint::of_der(&next).as_str().to_ascii_lowercase());
        auth_config["NextCertificateEffectiveDate"] = json!("2026-11-28T21:59:59.1234567+01:00");
        auth_config["PreviousCertificateThumbprint"] = json!("");
        let auth_config = parse(&f.bundle).unwrap().auth_config.unwrap();
        assert_eq!(auth_config.next, Some(Thumbprint::of_der(&next)));
        assert_eq!(
            auth_config.next_effective.unwrap().to_rfc3339(),
            "2026-11-28T20:59:59.123456700+00:00"
        );

        // The date form Windows PowerShell 5.1 ConvertTo-Json writes for a DateTime.
        f.bundle["auth_config"]["NextCertificateEffectiveDate"] = json!("/Date(1700000000000)/");
        let auth_config = parse(&f.bundle).unwrap().auth_config.unwrap();
        assert_eq!(
            auth_config.next_effective,
            DateTime::<Utc>::from_timestamp(1_700_000_000, 0)
        );
    }

    #[test]
    fn refuses_what_is_not_a_bundle() {
        let cases = [
            ("[]", "the document is not a JSON object"),
            ("\"text\"", "the document is not a JSON object"),
            (
                "<Objs Version=\"1.1.0.1\"></Objs>",
                "not an exchange-authcert bundle: XML",
            ),
            ("{\"servers\": []}", "no \"schema\""),
            (
                "{\"schema\": \"something-else\", \"schema_version\": 1}",
                "schema is \"something-else\"",
            ),
            (
                "{\"schema\": \"exchange-authcert-bundle\"}",
                "bundle has no schema_version",
            ),
            (
                "{\"schema\": \"exchange-authcert-bundle\", \"schema_version\": \"1\"}",
                "schema_version must be a whole number",
            ),
            (
                "{\"schema\": \"exchange-authcert-bundle\", \"schema_version\": 0}",
                "schema_version must be a whole number",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_bundle(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(err.starts_with("not an") || err.contains("schema"), "{err}");
        }
    }

    #[test]
    fn refuses_a_newer_schema_version_before_reading_fields() {
        // Version 2 may have renamed fields: the version is the message, not a missing field.
        let text = r#"{"schema": "exchange-authcert-bundle", "schema_version": 2, "servers": 7}"#;
        assert_eq!(
            parse_bundle(text).unwrap_err(),
            "bundle schema version 2 is newer than this check understands (1); update the check"
        );
    }

    #[test]
    fn ignores_unknown_fields_everywhere() {
        let mut f = fixture();
        let expected = parse(&f.bundle).unwrap();
        f.bundle["future_top_level"] = json!({"nested": [1, 2, {"x": null}]});
        f.bundle["auth_config"]["SomethingNew"] = json!(true);
        f.bundle["hybrid"]["endpoint"] = json!("mail.contoso.com");
        f.bundle["servers"][0]["os"] = json!("Windows Server 2022");
        f.bundle["servers"][0]["certificates"][0]["has_private_key"] = json!(true);
        assert_eq!(parse(&f.bundle).unwrap(), expected);
    }

    #[test]
    fn tolerates_a_lone_string_where_a_list_belongs() {
        let mut f = fixture();
        f.bundle["servers"][0]["roles"] = json!("Mailbox");
        f.bundle["servers"][0]["certificates"][1]["services"] = json!("SMTP");
        f.bundle["servers"][1]["roles"] = Value::Null;
        let bundle = parse(&f.bundle).unwrap();
        assert_eq!(bundle.servers[0].server.roles, ["Mailbox"]);
        assert!(bundle.servers[1].server.roles.is_empty());
        let InventoryRecord::Certificates(certificates) = &bundle.servers[0].inventory else {
            panic!("reachable");
        };
        assert_eq!(
            certificates[1].services.as_deref(),
            Some(&["SMTP"].map(String::from)[..])
        );
    }

    #[test]
    fn thumbprint_must_match_raw_data() {
        let mut f = fixture();
        let other = Thumbprint::of_der(&f.transport);
        f.bundle["servers"][1]["certificates"][0]["thumbprint"] = json!(other.as_str());
        let err = parse_err(&f.bundle);
        assert_eq!(
            err,
            format!(
                "server EXCH02 certificate 1: thumbprint {other} does not match its RawData ({})",
                Thumbprint::of_der(&f.auth)
            )
        );
    }

    #[test]
    fn each_validation_error_names_what_is_wrong() {
        type Edit = fn(&mut Value);
        let cases: [(Edit, &str); 14] = [
            (
                |b| b["servers"][0]["certificates"][1]["thumbprint"] = json!("XYZ"),
                "server EXCH01 certificate 2: thumbprint \"XYZ\" is not a thumbprint",
            ),
            (
                |b| b["servers"][0]["certificates"][1]["thumbprint"] = json!(""),
                "server EXCH01 certificate 2: no thumbprint",
            ),
            (
                |b| b["servers"][1]["certificates"][0]["raw_data"] = json!("not base64!"),
                "server EXCH02 certificate 1: raw_data is not valid base64",
            ),
            (
                |b| b["servers"][1]["certificates"][0]["raw_data"] = Value::Null,
                "server EXCH02 certificate 1: no raw_data",
            ),
            (
                |b| b["servers"][0]["internal_transport_certificate_thumbprint"] = json!("12AB"),
                "server EXCH01: internal_transport_certificate_thumbprint \"12AB\" is not a thumbprint",
            ),
            (
                |b| b["auth_config"]["CurrentCertificateThumbprint"] = json!("none"),
                "auth_config: CurrentCertificateThumbprint \"none\" is not a thumbprint",
            ),
            (
                |b| b["auth_config"]["NextCertificateThumbprint"] = json!("G".repeat(40)),
                "auth_config: NextCertificateThumbprint",
            ),
            (
                |b| b["auth_config"]["NextCertificateEffectiveDate"] = json!("12/02/2026 10:00"),
                "auth_config: NextCertificateEffectiveDate \"12/02/2026 10:00\" is not an ISO-8601 date",
            ),
            (
                |b| b["collected_at"] = json!("2026-11-26T22:00:00"),
                "collected_at \"2026-11-26T22:00:00\" is not an ISO-8601 date with offset",
            ),
            (
                |b| b["collected_at"] = Value::Null,
                "bundle has no collected_at",
            ),
            (
                |b| b["servers"][1]["name"] = json!("  "),
                "server 2 in the servers list has no name",
            ),
            (
                |b| b["servers"][1]["name"] = json!("exch01"),
                "server exch01 appears twice",
            ),
            (
                |b| b["servers"][1]["certificates"] = Value::Null,
                "server EXCH02 is reachable but has no certificates list",
            ),
            (|b| b["servers"] = Value::Null, "bundle has no servers list"),
        ];
        for (edit, expected) in cases {
            let mut f = fixture();
            edit(&mut f.bundle);
            let err = parse_err(&f.bundle);
            assert!(
                err.starts_with(expected),
                "expected {expected:?}, got {err:?}"
            );
        }
    }

    #[test]
    fn wrong_types_are_errors_with_a_position() {
        let mut f = fixture();
        f.bundle["servers"][0]["certificates"][0]["status"] = json!(0);
        let err = parse_err(&f.bundle);
        assert!(
            err.starts_with("invalid bundle (schema version 1): invalid type: integer `0`"),
            "{err}"
        );
        assert!(err.contains("line"), "{err}");
    }

    /// Servers are parsed apart from the document, but a fault is reported as the one-pass
    /// parse of the whole document reports it: the first in document order, with the line
    /// and column in the file (not in the server's own text).
    #[test]
    fn a_fault_inside_a_server_is_placed_in_the_whole_document() {
        let mut f = fixture();
        f.bundle["servers"][1]["certificates"][0]["status"] = json!(0);
        // A later fault outside the servers list does not hide the earlier one.
        let top = f.bundle.as_object_mut().unwrap();
        top.remove("hybrid");
        top.insert("hybrid".into(), json!({"detected": "yes"}));
        let text = serde_json::to_string_pretty(&f.bundle).unwrap();
        let one_pass = serde_json::from_str::<RawBundle<RawServer>>(&text)
            .err()
            .unwrap()
            .to_string();
        let status_line = text.find("\"status\": 0").unwrap();
        let line = text[..status_line].matches('\n').count() + 1;
        assert!(text.find("\"hybrid\"").unwrap() > status_line);
        assert!(one_pass.contains("integer `0`"), "{one_pass}");
        assert!(one_pass.contains(&format!("line {line} ")), "{one_pass}");
        assert_eq!(
            parse_bundle(&text).unwrap_err(),
            format!("invalid bundle (schema version 1): {one_pass}")
        );
    }

    #[test]
    fn quoted_content_is_short_and_on_one_line() {
        let mut f = fixture();
        let long = format!("bad\n{}", "A".repeat(10_000));
        f.bundle["auth_config"]["CurrentCertificateThumbprint"] = json!(long);
        let err = parse_err(&f.bundle);
        assert!(!err.contains('\n'), "{err}");
        assert!(err.len() < 200, "{err}");
        assert!(err.contains("bad\\nAAA"), "{err}");
    }

    #[test]
    fn truncated_json_is_an_error() {
        let f = fixture();
        let text = serde_json::to_string_pretty(&f.bundle).unwrap();
        let cut = &text[..text.len() / 2];
        let err = parse_bundle(cut).unwrap_err();
        assert!(err.starts_with("not valid JSON (truncated?)"), "{err}");
        assert!(err.contains("line"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.json");
        std::fs::write(&path, cut).unwrap();
        let err = read_bundle(&path).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(200_000);
        assert!(parse_bundle(&deep).is_err());
        let deep_objects = "{\"a\":".repeat(200_000);
        assert!(parse_bundle(&deep_objects).is_err());

        // Inside the fields the reader looks at.
        let header = r#"{"schema": "exchange-authcert-bundle", "schema_version": 1, "#;
        for field in ["schema_version", "servers", "auth_config", "collected_at"] {
            let text = format!(
                "{}\"{field}\": {}{}}}",
                header.replace(&format!("\"{field}\": 1, "), ""),
                "[".repeat(200_000),
                "]".repeat(200_000)
            );
            assert!(parse_bundle(&text).is_err(), "{field}");
        }
        let text = format!(
            "{{\"schema\": {}{}}}",
            "[".repeat(200_000),
            "]".repeat(200_000)
        );
        assert!(parse_bundle(&text).is_err());
    }

    #[test]
    fn deep_nesting_in_an_unknown_field_is_skipped_without_recursion() {
        let mut f = fixture();
        f.bundle["servers"] = json!([]);
        let text = serde_json::to_string(&f.bundle).unwrap();
        let nested = format!(
            "{{\"extra\": {}{}, {}",
            "[".repeat(100_000),
            "]".repeat(100_000),
            &text[1..]
        );
        // Skipped iteratively by serde_json: either accepted or refused, never a crash.
        let _ = parse_bundle(&nested);
    }

    #[test]
    fn garbage_never_panics() {
        let f = fixture();
        let text = serde_json::to_string(&f.bundle).unwrap();
        let bytes = text.as_bytes();
        for step in [1usize, 7, 13, 101] {
            for cut in (0..bytes.len()).step_by(step) {
                let _ = parse_bundle(&String::from_utf8_lossy(&bytes[..cut]));
            }
        }
        assert!(
            parse_bundle(" \r\n")
                .unwrap_err()
                .contains("only white space")
        );
        for text in [
            "",
            " ",
            "null",
            "{}",
            "{\"schema\": null}",
            "1e999999",
            "\u{0}",
        ] {
            assert!(parse_bundle(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn reads_the_sample_bundle() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/bundle-contoso.json");
        let bundle = read_bundle(&path).unwrap();
        assert_eq!(
            bundle.collected_at,
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
        let auth_config = bundle.auth_config.unwrap();
        let current = auth_config.current.unwrap();
        let next = auth_config.next.unwrap();
        assert_eq!(
            auth_config.next_effective,
            Some(Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 0).unwrap())
        );
        assert_eq!(bundle.servers.len(), 3);
        for server in &bundle.servers {
            let InventoryRecord::Certificates(certificates) = &server.inventory else {
                panic!("{} should be reachable", server.server.name);
            };
            let parsed: Vec<_> = certificates
                .iter()
                .map(|c| crate::model::Certificate::from_der(&c.der).unwrap())
                .collect();
            for wanted in [&current, &next] {
                let auth = parsed.iter().find(|c| &c.thumbprint == wanted).unwrap();
                assert!(auth.is_exchange_auth && auth.self_signed);
            }
            let transport = server.internal_transport_certificate.as_ref().unwrap();
            let transport = parsed.iter().find(|c| &c.thumbprint == transport).unwrap();
            assert_eq!(transport.subject, format!("CN={}", server.server.name));
        }
    }
}
