//! `ConvertTo-Json` documents decoded to [`PsValue`]s.
//!
//! Both PowerShell generations are accepted as they come; the differences are absorbed by the
//! [`PsValue`] accessors, not here: Windows PowerShell 5.1 writes dates as `"\/Date(ms)\/"`, enums
//! as integers, byte arrays as arrays of numbers, and turns anything deeper than `-Depth` (2 by
//! default) into its `ToString()` text; PowerShell 7 writes ISO-8601 dates, base64 byte arrays and,
//! with `-EnumsAsStrings`, enum names. Strings stay strings (a date is recognised only when a
//! caller asks for one), so no text is ever misread as a date.
//!
//! Values are deserialised straight into [`PsValue`] (no intermediate `serde_json::Value`), with
//! nesting capped at [`MAX_DEPTH`] so deep input is an error, never a stack overflow. A long array
//! of integers 0..=255 (a 5.1 `byte[]`) becomes [`PsValue::Bytes`] rather than a list.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::psvalue::{PsObject, PsValue};

/// Deepest nesting of arrays and objects accepted (serde_json's own limit is 128).
pub const MAX_DEPTH: usize = 64;

/// Shortest array of small integers read as binary data (see `visit_seq`); shorter ones stay
/// lists, since a few small numbers are more likely a list than bytes.
pub const BYTE_ARRAY_MIN: usize = 32;

/// Decodes a `ConvertTo-Json` document: the items of a top-level array, or the single value.
///
/// Windows PowerShell 5.1 wraps some arrays as `{"value": [...], "Count": n}` (an array that went
/// through a PSObject); that wrapper is unwrapped too.
pub fn parse(text: &str) -> Result<Vec<PsValue>, String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Seed { depth: 0 }
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|e| format!("JSON: {}", super::one_line(&e.to_string())))?;
    Ok(match value {
        PsValue::List(items) => items,
        PsValue::Object(object) => match count_wrapper_items(&object) {
            Some(items) => items.to_vec(),
            None => vec![PsValue::Object(object)],
        },
        other => vec![other],
    })
}

/// The items of a 5.1 `{"value": [...], "Count": n}` wrapper.
fn count_wrapper_items(object: &PsObject) -> Option<&[PsValue]> {
    if object.properties.len() != 2 || object.get("Count").and_then(PsValue::integer).is_none() {
        return None;
    }
    match object.get("value") {
        Some(PsValue::List(items)) => Some(items),
        _ => None,
    }
}

/// Deserialises one value at a known depth.
#[derive(Clone, Copy)]
struct Seed {
    depth: usize,
}

impl Seed {
    fn deeper<E: de::Error>(self) -> Result<Seed, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!(
                "nested deeper than {MAX_DEPTH} levels; refusing the document"
            )));
        }
        Ok(Seed {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = PsValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<PsValue, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed {
    type Value = PsValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<PsValue, E> {
        Ok(PsValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<PsValue, E> {
        Ok(PsValue::Null)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<PsValue, E> {
        Ok(PsValue::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<PsValue, E> {
        Ok(PsValue::Int(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<PsValue, E> {
        Ok(i64::try_from(value).map_or(PsValue::UInt(value), PsValue::Int))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<PsValue, E> {
        Ok(PsValue::Float(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<PsValue, E> {
        Ok(PsValue::String(value.to_string()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<PsValue, E> {
        Ok(PsValue::String(value))
    }

    /// Arrays of at least [`BYTE_ARRAY_MIN`] integers that all fit a byte are how 5.1 writes a
    /// `byte[]` (`RawData`); they become [`PsValue::Bytes`], one byte each instead of a 32-byte
    /// value each, which keeps a large certificate export small and fast to read.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PsValue, A::Error> {
        let inner = self.deeper()?;
        let mut bytes: Vec<u8> = Vec::new();
        let mut items: Vec<PsValue> = Vec::new();
        let mut only_bytes = true;
        while let Some(item) = seq.next_element_seed(inner)? {
            if only_bytes {
                if let Some(byte) = item.integer().and_then(|n| u8::try_from(n).ok())
                    && matches!(item, PsValue::Int(_))
                {
                    bytes.push(byte);
                    continue;
                }
                only_bytes = false;
                items.reserve(bytes.len() + 1);
                items.extend(bytes.drain(..).map(|byte| PsValue::Int(byte.into())));
            }
            items.push(item);
        }
        if only_bytes && bytes.len() >= BYTE_ARRAY_MIN {
            return Ok(PsValue::Bytes(bytes));
        }
        items.extend(bytes.into_iter().map(|byte| PsValue::Int(byte.into())));
        Ok(PsValue::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PsValue, A::Error> {
        let inner = self.deeper()?;
        let mut properties = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(inner)?;
            properties.push((key, value));
        }
        Ok(PsValue::Object(Arc::new(PsObject {
            properties,
            ..PsObject::default()
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn one(text: &str) -> PsValue {
        let mut values = parse(text).unwrap();
        assert_eq!(values.len(), 1, "{values:?}");
        values.remove(0)
    }

    #[test]
    fn scalars() {
        assert_eq!(
            parse(r#"[null, true, -5, 18446744073709551615, 1.5, "x"]"#).unwrap(),
            [
                PsValue::Null,
                PsValue::Bool(true),
                PsValue::Int(-5),
                PsValue::UInt(u64::MAX),
                PsValue::Float(1.5),
                PsValue::String("x".into())
            ]
        );
        assert_eq!(parse("7").unwrap(), [PsValue::Int(7)]);
        assert_eq!(parse("[]").unwrap(), Vec::<PsValue>::new());
    }

    #[test]
    fn a_single_object_or_an_array_of_objects() {
        let single = one(r#"{"Name": "E2k16-1", "Fqdn": "E2k16-1.Contoso.lab"}"#);
        assert_eq!(
            single.get("name").and_then(PsValue::string),
            Some("E2k16-1")
        );
        let names: Vec<_> = single
            .as_object()
            .unwrap()
            .properties
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(names, ["Name", "Fqdn"], "document order is kept");
        let many = parse(r#"[{"Name": "a"}, {"Name": "b"}]"#).unwrap();
        assert_eq!(many.len(), 2);
    }

    #[test]
    fn the_51_value_count_wrapper_is_unwrapped() {
        let values = parse(r#"{"value": [{"Name": "a"}, {"Name": "b"}], "Count": 2}"#).unwrap();
        assert_eq!(values.len(), 2);
        assert_eq!(values[1].get("Name").and_then(PsValue::string), Some("b"));
        // An object that merely has a `value` property stays an object.
        let values = parse(r#"{"value": [1], "Count": 1, "Other": 2}"#).unwrap();
        assert_eq!(values.len(), 1);
    }

    #[test]
    fn windows_powershell_51_style() {
        // What `Get-AuthConfig | ConvertTo-Json` writes in Windows PowerShell 5.1.
        let text = r#"{
            "CurrentCertificateThumbprint":  "E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786",
            "NextCertificateEffectiveDate":  "\/Date(1675433762000)\/",
            "ExchangeVersion":  "0.20 (15.0.0.0)",
            "ObjectState":  1,
            "RawData":  [48, 130, 1, 10]
        }"#;
        let value = one(text);
        assert_eq!(
            value
                .get("NextCertificateEffectiveDate")
                .unwrap()
                .datetime_utc()
                .unwrap(),
            Some(Utc.with_ymd_and_hms(2023, 2, 3, 14, 16, 2).unwrap())
        );
        assert_same_bytes_and_state(&value);
    }

    #[test]
    fn powershell_7_style() {
        let text = json!({
            "NextCertificateEffectiveDate": "2023-02-03T15:16:02.1234567+01:00",
            "ObjectState": "Unchanged",
            "RawData": "MIIBCg=="
        })
        .to_string();
        let value = one(&text);
        let when = value
            .get("NextCertificateEffectiveDate")
            .unwrap()
            .datetime_utc()
            .unwrap()
            .unwrap();
        assert_eq!(when.timestamp(), 1675433762);
        assert_same_bytes_and_state(&value);
    }

    /// Both PowerShell editions write these differently (byte arrays or base64, enum numbers or
    /// names): the reader must give the same values.
    fn assert_same_bytes_and_state(value: &PsValue) {
        assert_eq!(
            value
                .get("RawData")
                .unwrap()
                .bytes()
                .unwrap()
                .unwrap()
                .as_ref(),
            &[48, 130, 1, 10]
        );
        assert_eq!(
            value
                .get("ObjectState")
                .unwrap()
                .enum_name(&[(1, "Unchanged")]),
            Some("Unchanged".into())
        );
    }

    #[test]
    fn long_arrays_of_small_integers_are_bytes() {
        let bytes: Vec<u8> = (0..=255).collect();
        let value = one(&json!({ "RawData": bytes }).to_string());
        assert_eq!(value.get("RawData"), Some(&PsValue::Bytes(bytes)));
        let short = one(&json!({ "Ports": [25, 587] }).to_string());
        assert_eq!(
            short.get("Ports"),
            Some(&PsValue::List(vec![PsValue::Int(25), PsValue::Int(587)]))
        );
        let mut mixed: Vec<i64> = vec![1; 40];
        mixed.push(256);
        let value = one(&json!({ "Numbers": mixed }).to_string());
        let list = value.get("Numbers").and_then(PsValue::list).unwrap();
        assert_eq!(list.len(), 41);
        assert_eq!(list[40], PsValue::Int(256));
        let floats = one(&json!({ "x": vec![1.0; 40] }).to_string());
        assert!(matches!(floats.get("x"), Some(PsValue::List(_))));
        assert_eq!(
            parse(&json!([vec![7; 40]]).to_string()).unwrap(),
            [PsValue::Bytes(vec![7; 40])]
        );
    }

    #[test]
    fn errors_are_one_line_with_position() {
        assert_eq!(
            parse("").unwrap_err(),
            "JSON: EOF while parsing a value at line 1 column 0"
        );
        assert_eq!(
            parse("x").unwrap_err(),
            "JSON: expected value at line 1 column 1"
        );
        assert!(
            parse(r#"{"a": 1"#)
                .unwrap_err()
                .starts_with("JSON: EOF while parsing")
        );
        assert!(
            parse(r#"{"a": 1} {"b": 2}"#)
                .unwrap_err()
                .contains("trailing characters")
        );
        assert!(parse("[1,]").unwrap_err().starts_with("JSON: "));
        let truncated = json!([{"Name": "a", "Nested": {"x": [1, 2, 3]}}]).to_string();
        for cut in 0..truncated.len() {
            let err = parse(&truncated[..cut]).unwrap_err();
            assert!(err.starts_with("JSON: ") && !err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn nesting_is_limited() {
        let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        let err = parse(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(
            err.starts_with("JSON: nested deeper than 64 levels; refusing the document at line 1"),
            "{err}"
        );
        let objects = format!(
            "{}1{}",
            r#"{"a":"#.repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&objects).unwrap_err().contains("nested deeper"));
        // Far deeper than a stack could recurse: an error, not an overflow.
        assert!(
            parse(&nested(1_000_000))
                .unwrap_err()
                .contains("nested deeper")
        );
        assert!(
            parse(&"[".repeat(1_000_000))
                .unwrap_err()
                .contains("nested deeper")
        );
    }
}
