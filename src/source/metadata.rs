//! `--metadata URL|FILE`: Exchange's Auth metadata document (DOMAIN.md section 5), fetched over
//! HTTPS (`https://<server>/autodiscover/metadata/json/1`) or read from a saved file.
//!
//! Parsing only: the published keys with their usage, `x5t` as written and the decoded DER.
//! Property names are matched case-insensitively (Exchange writes `keyinfo`/`keyvalue`, other
//! Microsoft services `keyInfo`/`keyValue`). A key that cannot be decoded stays in the record
//! with its problem, so the judgement can say which one is wrong.

use std::path::Path;

use base64::Engine;
use serde_json::{Map, Value};

use super::SourceError;
use super::http::{HttpError, HttpsOptions};
use super::tls::Deadline;

/// The document as published.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataRecord {
    /// The URL or file it came from.
    pub origin: String,
    pub issuer: Option<String>,
    pub realm: Option<String>,
    pub service_name: Option<String>,
    pub keys: Vec<PublishedKeyRecord>,
}

/// One entry of `keys`.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedKeyRecord {
    /// `usage` (Exchange: `signing`).
    pub usage: Option<String>,
    /// `keyinfo.x5t` as written (base64url SHA-1 of the DER, no padding).
    pub x5t: Option<String>,
    /// The DER of `keyvalue.value`, or why it could not be decoded.
    pub der: Result<Vec<u8>, String>,
}

/// Why a document is not a metadata document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a metadata document: {0}")]
    Shape(String),
}

/// Why fetching a document failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The server could not be reached (DNS, connection, TLS, timeout).
    #[error("{0}")]
    Unreachable(String),
    /// It answered with an HTTP error, a redirect loop, an oversized body ...
    #[error("{0}")]
    Http(String),
    /// It answered 200 with something that is not a metadata document.
    #[error("{0}")]
    Invalid(MetadataError),
}

/// True when `--metadata` names a URL rather than a file.
pub fn is_url(spec: &str) -> bool {
    let lower = spec.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// Fetches and parses the document at `url`.
pub fn fetch_metadata(
    url: &str,
    options: &HttpsOptions,
    deadline: Deadline,
) -> Result<MetadataRecord, FetchError> {
    let body = super::http::get(url, options, deadline).map_err(|e| match e {
        HttpError::Unreachable(reason) => FetchError::Unreachable(reason),
        HttpError::Http(reason) => FetchError::Http(reason),
    })?;
    parse_metadata(&body, url).map_err(FetchError::Invalid)
}

/// Reads a saved document (any encoding Windows writes).
pub fn read_metadata_file(path: &Path) -> Result<MetadataRecord, SourceError> {
    let bytes = super::read_input_file(path)?;
    parse_metadata(&bytes, &path.display().to_string())
        .map_err(|e| SourceError::invalid(path, e.to_string()))
}

/// Parses a document; `origin` names it in the record.
pub fn parse_metadata(bytes: &[u8], origin: &str) -> Result<MetadataRecord, MetadataError> {
    let (_, text) = super::text_encoding::decode_text(bytes).map_err(MetadataError::NotJson)?;
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(MetadataError::NotJson("the document is empty".into()));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let start: String = text.chars().take(40).filter(|c| !c.is_control()).collect();
        MetadataError::NotJson(format!("{e} (it starts with '{start}')"))
    })?;
    let Value::Object(root) = value else {
        return Err(MetadataError::Shape("the JSON is not an object".into()));
    };
    let keys = match field(&root, "keys") {
        Some(Value::Array(keys)) => keys,
        Some(Value::Null) | None => {
            return Err(MetadataError::Shape("it has no \"keys\" list".into()));
        }
        Some(_) => return Err(MetadataError::Shape("\"keys\" is not a list".into())),
    };
    Ok(MetadataRecord {
        origin: origin.to_string(),
        issuer: text_field(&root, "issuer"),
        realm: text_field(&root, "realm"),
        service_name: text_field(&root, "serviceName"),
        keys: keys
            .iter()
            .enumerate()
            .map(|(i, k)| parse_key(i, k))
            .collect(),
    })
}

fn parse_key(index: usize, key: &Value) -> PublishedKeyRecord {
    let Value::Object(key) = key else {
        return PublishedKeyRecord {
            usage: None,
            x5t: None,
            der: Err(format!("key {} is not an object", index + 1)),
        };
    };
    let x5t = match field(key, "keyInfo") {
        Some(Value::Object(info)) => text_field(info, "x5t"),
        _ => None,
    };
    let der = match field(key, "keyValue") {
        Some(Value::Object(value)) => decode_key_value(value),
        _ => Err("no keyvalue".to_string()),
    };
    PublishedKeyRecord {
        usage: text_field(key, "usage"),
        x5t,
        der,
    }
}

fn decode_key_value(value: &Map<String, Value>) -> Result<Vec<u8>, String> {
    match text_field(value, "type") {
        Some(kind) if kind.eq_ignore_ascii_case("x509Certificate") => {}
        Some(kind) => return Err(format!("key type '{kind}' is not x509Certificate")),
        None => return Err("keyvalue has no type".into()),
    }
    let text = text_field(value, "value").ok_or("keyvalue has no value")?;
    decode_base64(&text).ok_or_else(|| "keyvalue.value is not base64".to_string())
}

/// Standard or URL-safe base64, with or without padding, whitespace ignored.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let unpadded = compact.trim_end_matches('=');
    if unpadded.is_empty() {
        return None;
    }
    STANDARD_NO_PAD
        .decode(unpadded)
        .or_else(|_| URL_SAFE_NO_PAD.decode(unpadded))
        .ok()
}

/// The member named `name`, in any case.
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

fn text_field(object: &Map<String, Value>, name: &str) -> Option<String> {
    match field(object, name) {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.trim().to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(keys: &str) -> String {
        format!(
            r#"{{"id":"_x","version":"1.0","name":"Exchange","realm":"contoso.com","serviceName":"00000002-0000-0ff1-ce00-000000000000","issuer":"00000002-0000-0ff1-ce00-000000000000@contoso.com","allowedAudiences":[],"keys":[{keys}],"endpoints":[]}}"#
        )
    }

    #[test]
    fn reads_keys_in_any_case() {
        let lower = doc(
            r#"{"usage":"signing","keyinfo":{"x5t":"abc"},"keyvalue":{"type":"x509Certificate","value":"AAEC"}}"#,
        );
        let camel = doc(
            r#"{"Usage":"signing","keyInfo":{"X5T":"abc"},"keyValue":{"Type":"X509CERTIFICATE","Value":"AAEC"}}"#,
        );
        for text in [lower, camel] {
            let record = parse_metadata(text.as_bytes(), "t").unwrap();
            assert_eq!(record.realm.as_deref(), Some("contoso.com"));
            assert_eq!(record.keys.len(), 1);
            assert_eq!(record.keys[0].usage.as_deref(), Some("signing"));
            assert_eq!(record.keys[0].x5t.as_deref(), Some("abc"));
            assert_eq!(record.keys[0].der, Ok(vec![0, 1, 2]));
        }
    }

    #[test]
    fn typed_errors() {
        assert!(matches!(
            parse_metadata(b"<html>", "t"),
            Err(MetadataError::NotJson(_))
        ));
        assert!(matches!(
            parse_metadata(b"[1]", "t"),
            Err(MetadataError::Shape(_))
        ));
        assert!(matches!(
            parse_metadata(b"{\"id\":1}", "t"),
            Err(MetadataError::Shape(_))
        ));
        assert_eq!(
            parse_metadata(doc("").as_bytes(), "t").unwrap().keys,
            vec![]
        );
        let bad = parse_metadata(
            doc(r#"{"usage":"signing","keyvalue":{"type":"rsa","value":"AAEC"}}, 7"#).as_bytes(),
            "t",
        )
        .unwrap();
        assert!(bad.keys[0].der.as_ref().unwrap_err().contains("rsa"));
        assert!(bad.keys[1].der.is_err());
    }

    #[test]
    fn base64_variants() {
        assert_eq!(decode_base64("AA EC\r\n"), Some(vec![0, 1, 2]));
        assert_eq!(decode_base64("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(decode_base64("+/8="), Some(vec![0xfb, 0xff]));
        assert_eq!(decode_base64("!!"), None);
    }
}
