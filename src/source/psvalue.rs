//! One value tree for everything PowerShell writes: `Export-Clixml` and `ConvertTo-Json` (5.1 and
//! 7) both decode to [`PsValue`], so the Exchange mapping is written once, against property names,
//! and tolerates the ways the two formats and two PowerShell versions spell the same value.
//!
//! The accessors are deliberately forgiving about *representation* (a date may be a CliXml `DT`, an
//! ISO string or a 5.1 `/Date(ms)/` string; an enum a number, a name or a CliXml object) and strict
//! about *content* (text that is neither is an error, never a guess).

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};

/// A value as PowerShell serialised it.
#[derive(Debug, Clone, PartialEq)]
pub enum PsValue {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(String),
    DateTime(DateTime<FixedOffset>),
    Bytes(Vec<u8>),
    List(Vec<PsValue>),
    /// Shared rather than owned: a CliXml `<Ref>` points at an earlier object, and sharing makes
    /// resolving it O(1) instead of a deep copy (see the node budget in `clixml`).
    Object(Arc<PsObject>),
}

/// A PowerShell object: CliXml `<Obj>`, a JSON object, or a CliXml dictionary.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PsObject {
    /// Most derived first, without the `Deserialized.` prefix. Shared because CliXml repeats the
    /// same type list (`<TNRef>`) for every object of a type. Empty for JSON.
    pub type_names: Arc<[String]>,
    /// CliXml `<ToString>`: the text PowerShell shows, e.g. an enum's names.
    pub to_string: Option<String>,
    /// The primitive or collection the object wraps: an enum's `<I32>`, a collection's `<LST>`.
    pub value: Option<PsValue>,
    /// Adapted (`<Props>`) and extended (`<MS>`) properties merged, in document order; dictionary
    /// entries for a `<DCT>`.
    pub properties: Vec<(String, PsValue)>,
}

impl PsObject {
    /// The first property with this name, compared case-insensitively as PowerShell does.
    pub fn get(&self, name: &str) -> Option<&PsValue> {
        self.properties
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The property's text (see [`PsValue::string`]).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(PsValue::string)
    }

    /// The property's text when it is present and not blank.
    pub fn non_empty_text(&self, name: &str) -> Option<&str> {
        self.text(name).filter(|text| !text.trim().is_empty())
    }

    /// True when a type name is `name` or ends with `.name` (case-insensitive), so
    /// `has_type("AuthConfig")` matches `Microsoft.Exchange...SystemConfiguration.AuthConfig`.
    pub fn has_type(&self, name: &str) -> bool {
        self.type_names.iter().any(|type_name| {
            type_name.eq_ignore_ascii_case(name)
                || type_name
                    .len()
                    .checked_sub(name.len() + 1)
                    .and_then(|cut| type_name.get(cut..))
                    .is_some_and(|tail| {
                        tail.starts_with('.')
                            && tail.get(1..).is_some_and(|t| t.eq_ignore_ascii_case(name))
                    })
        })
    }
}

impl PsValue {
    pub fn is_null(&self) -> bool {
        matches!(self, PsValue::Null)
    }

    pub fn as_object(&self) -> Option<&PsObject> {
        match self {
            PsValue::Object(object) => Some(object),
            _ => None,
        }
    }

    /// A property of an object; `None` for anything else.
    pub fn get(&self, name: &str) -> Option<&PsValue> {
        self.as_object().and_then(|object| object.get(name))
    }

    /// Text: a string, or an object's `<ToString>` (else the text it wraps). Numbers are not
    /// turned into text: callers that accept numbers ask for them.
    pub fn string(&self) -> Option<&str> {
        match self {
            PsValue::String(text) => Some(text),
            PsValue::Object(object) => object
                .to_string
                .as_deref()
                .or_else(|| object.value.as_ref().and_then(PsValue::string)),
            _ => None,
        }
    }

    /// A whole number: integers, integral floats (JSON writes some counters as `2.0`), and the
    /// number an object wraps (a CliXml enum's `<I32>`).
    pub fn integer(&self) -> Option<i64> {
        match self {
            PsValue::Int(number) => Some(*number),
            PsValue::UInt(number) => i64::try_from(*number).ok(),
            PsValue::Float(number)
                if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 =>
            {
                Some(*number as i64)
            }
            PsValue::Object(object) => object.value.as_ref().and_then(PsValue::integer),
            _ => None,
        }
    }

    /// A boolean, also from the `True`/`False` text a depth-truncated 5.1 export leaves.
    pub fn bool(&self) -> Option<bool> {
        match self {
            PsValue::Bool(flag) => Some(*flag),
            PsValue::String(text) if text.trim().eq_ignore_ascii_case("true") => Some(true),
            PsValue::String(text) if text.trim().eq_ignore_ascii_case("false") => Some(false),
            PsValue::Object(object) => object.value.as_ref().and_then(PsValue::bool),
            _ => None,
        }
    }

    /// List items: a list, or the collection an object wraps (CliXml `<Obj><LST>`).
    pub fn list(&self) -> Option<&[PsValue]> {
        match self {
            PsValue::List(items) => Some(items),
            PsValue::Object(object) => object.value.as_ref().and_then(PsValue::list),
            _ => None,
        }
    }

    /// Binary data: CliXml `<BA>`, a base64 string (PowerShell 7 JSON) or a list of numbers
    /// 0..=255 (Windows PowerShell 5.1 JSON). `Ok(None)` for null.
    pub fn bytes(&self) -> Result<Option<Cow<'_, [u8]>>, String> {
        match self {
            PsValue::Null => Ok(None),
            PsValue::Bytes(bytes) => Ok(Some(Cow::Borrowed(bytes))),
            PsValue::String(text) => decode_base64(text).map(|bytes| Some(Cow::Owned(bytes))),
            PsValue::List(items) => items
                .iter()
                .map(|item| {
                    item.integer()
                        .and_then(|number| u8::try_from(number).ok())
                        .ok_or_else(|| "a list that holds a value other than 0..255".to_string())
                })
                .collect::<Result<Vec<u8>, String>>()
                .map(|bytes| Some(Cow::Owned(bytes))),
            PsValue::Object(object) => match &object.value {
                Some(inner) => inner.bytes(),
                None => Err("an object, not binary data".into()),
            },
            other => Err(format!("{}, not binary data", other.kind())),
        }
    }

    /// A date and time with its offset: CliXml `<DT>`, ISO-8601 text (offset or `Z`, any number
    /// of fraction digits; none means UTC) or a 5.1 `/Date(ms)/` string. A 5.1 `Get-Date` value
    /// that became `{"value": "/Date(..)/", "DateTime": "..."}` is read through its `value`.
    /// `Ok(None)` for null and empty text.
    pub fn datetime(&self) -> Result<Option<DateTime<FixedOffset>>, String> {
        match self {
            PsValue::Null => Ok(None),
            PsValue::DateTime(when) => Ok(Some(*when)),
            PsValue::String(text) if text.trim().is_empty() => Ok(None),
            PsValue::String(text) => parse_datetime(text)
                .map(Some)
                .ok_or_else(|| format!("{} is not a date and time", quoted(text))),
            PsValue::Object(object) => match (&object.value, object.get("value")) {
                (Some(inner), _) | (None, Some(inner)) => inner.datetime(),
                (None, None) => Err("an object, not a date and time".into()),
            },
            other => Err(format!("{}, not a date and time", other.kind())),
        }
    }

    /// [`PsValue::datetime`] as UTC.
    pub fn datetime_utc(&self) -> Result<Option<DateTime<Utc>>, String> {
        self.datetime()
            .map(|when| when.map(|when| when.with_timezone(&Utc)))
    }

    /// The name of a plain enum value: the text PowerShell wrote (a string, or a CliXml enum's
    /// `<ToString>`), else its number looked up in `names` (unknown numbers stay numbers).
    pub fn enum_name(&self, names: &[(i64, &str)]) -> Option<String> {
        if let Some(text) = self.string().map(str::trim).filter(|text| !text.is_empty()) {
            return Some(match text.parse::<i64>() {
                Ok(number) => name_of(number, names),
                Err(_) => text.to_string(),
            });
        }
        self.integer().map(|number| name_of(number, names))
    }

    /// The names of a `[Flags]` enum value: `"IMAP, POP, IIS"` split, or a number decomposed with
    /// `names` (ascending, as .NET prints them; bits without a name stay a number). Zero and
    /// `None` give an empty list.
    pub fn enum_flags(&self, names: &[(i64, &str)]) -> Option<Vec<String>> {
        if let Some(text) = self.string().map(str::trim) {
            if let Ok(number) = text.parse::<i64>() {
                return Some(flag_names(number, names));
            }
            let zero = names.iter().find(|(value, _)| *value == 0).map(|(_, n)| *n);
            return Some(
                text.split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .filter(|name| zero.is_none_or(|zero| !name.eq_ignore_ascii_case(zero)))
                    .map(str::to_string)
                    .collect(),
            );
        }
        self.integer().map(|number| flag_names(number, names))
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            PsValue::Null => "null",
            PsValue::Bool(_) => "a boolean",
            PsValue::Int(_) | PsValue::UInt(_) => "an integer",
            PsValue::Float(_) => "a number",
            PsValue::String(_) => "text",
            PsValue::DateTime(_) => "a date",
            PsValue::Bytes(_) => "binary data",
            PsValue::List(_) => "a list",
            PsValue::Object(_) => "an object",
        }
    }
}

fn name_of(number: i64, names: &[(i64, &str)]) -> String {
    names
        .iter()
        .find(|(value, _)| *value == number)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| number.to_string())
}

fn flag_names(number: i64, names: &[(i64, &str)]) -> Vec<String> {
    if number == 0 {
        return Vec::new();
    }
    if number < 0 {
        return vec![number.to_string()];
    }
    let mut single_bits: Vec<(i64, &str)> = names
        .iter()
        .filter(|(value, _)| *value > 0 && (*value & (*value - 1)) == 0)
        .copied()
        .collect();
    single_bits.sort_by_key(|(value, _)| *value);
    let mut rest = number;
    let mut out = Vec::new();
    for (value, name) in single_bits {
        if rest & value == value {
            out.push(name.to_string());
            rest &= !value;
        }
    }
    if rest != 0 {
        out.push(rest.to_string());
    }
    out
}

/// Base64 as .NET writes it; line breaks and blanks inside are tolerated.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let trimmed = text.trim();
    STANDARD
        .decode(trimmed)
        .or_else(|_| {
            let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
            STANDARD.decode(compact)
        })
        .map_err(|_| "text that is not valid base64".to_string())
}

/// Parses the date forms PowerShell writes: ISO-8601 with offset or `Z` (0 to 9 fraction
/// digits), ISO-8601 without offset (read as UTC: `DateTimeKind.Unspecified` has no better
/// reading), and Windows PowerShell 5.1 JSON `/Date(ms)/` or `/Date(ms+HHMM)/` (the
/// milliseconds are UTC; the offset only says how it was displayed).
pub fn parse_datetime(text: &str) -> Option<DateTime<FixedOffset>> {
    let text = text.trim();
    if let Some(inner) = text
        .strip_prefix("/Date(")
        .or_else(|| text.strip_prefix("\\/Date("))
        .and_then(|rest| {
            rest.strip_suffix(")/")
                .or_else(|| rest.strip_suffix(")\\/"))
        })
    {
        return parse_ms_date(inner);
    }
    if let Ok(when) = DateTime::parse_from_rfc3339(text) {
        return Some(when);
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc().fixed_offset())
}

fn parse_ms_date(inner: &str) -> Option<DateTime<FixedOffset>> {
    // The sign of the offset is the first '+' or '-' after the first character (which may be
    // the sign of the milliseconds).
    let split = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map(|(at, _)| at);
    let (millis, offset) = match split {
        Some(at) => (inner.get(..at)?, inner.get(at..)),
        None => (inner, None),
    };
    let utc = DateTime::<Utc>::from_timestamp_millis(millis.parse::<i64>().ok()?)?;
    let offset = match offset {
        None => FixedOffset::east_opt(0)?,
        Some(offset) => {
            let (sign, digits) = offset.split_at_checked(1)?;
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hours: i32 = digits.get(..2)?.parse().ok()?;
            let minutes: i32 = digits.get(2..)?.parse().ok()?;
            let seconds = (hours * 60 + minutes) * 60;
            FixedOffset::east_opt(if sign == "-" { -seconds } else { seconds })?
        }
    };
    Some(utc.with_timezone(&offset))
}

/// Text for a message: quoted, on one line, and short.
pub(crate) fn quoted(text: &str) -> String {
    const MAX: usize = 60;
    let mut short: String = text.chars().take(MAX).collect();
    if text.chars().nth(MAX).is_some() {
        short.push('…');
    }
    format!("{short:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn object(properties: Vec<(&str, PsValue)>) -> PsValue {
        PsValue::Object(Arc::new(PsObject {
            properties: properties
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
            ..PsObject::default()
        }))
    }

    fn enum_object(text: &str, number: i64) -> PsValue {
        PsValue::Object(Arc::new(PsObject {
            type_names: vec!["Some.Enum".to_string(), "System.Enum".to_string()].into(),
            to_string: Some(text.to_string()),
            value: Some(PsValue::Int(number)),
            properties: Vec::new(),
        }))
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn get_is_case_insensitive_and_first_wins() {
        let value = object(vec![
            ("Name", PsValue::String("first".into())),
            ("NAME", PsValue::String("second".into())),
        ]);
        assert_eq!(value.get("name").and_then(PsValue::string), Some("first"));
        assert!(value.get("missing").is_none());
        assert!(PsValue::Int(1).get("name").is_none());
    }

    #[test]
    fn has_type_matches_full_and_short_names() {
        let object = PsObject {
            type_names: vec![
                "Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthConfig".to_string(),
                "System.Object".to_string(),
            ]
            .into(),
            ..PsObject::default()
        };
        assert!(object.has_type("AuthConfig"));
        assert!(object.has_type("authconfig"));
        assert!(object.has_type("System.Object"));
        assert!(!object.has_type("Config"));
        assert!(!object.has_type("SystemConfiguration.AuthConfigX"));
    }

    #[test]
    fn dates_in_every_form() {
        let expected = utc(2023, 2, 3, 14, 16, 2);
        for text in [
            "2023-02-03T14:16:02+00:00",
            "2023-02-03T14:16:02Z",
            "2023-02-03T08:16:02-06:00",
            "2023-02-03T14:16:02.0000000Z",
            "2023-02-03T14:16:02",
            "/Date(1675433762000)/",
            "\\/Date(1675433762000)\\/",
            "/Date(1675433762000+0100)/",
            "/Date(1675433762000-0800)/",
        ] {
            let value = PsValue::String(text.into());
            assert_eq!(value.datetime_utc().unwrap(), Some(expected), "{text}");
        }
        let fraction = PsValue::String("2023-01-05T12:08:37.6177687Z".into());
        let when = fraction.datetime_utc().unwrap().unwrap();
        assert_eq!(when.timestamp_subsec_nanos(), 617_768_700);
        let offset = PsValue::String("/Date(1675433762000+0130)/".into())
            .datetime()
            .unwrap()
            .unwrap();
        assert_eq!(offset.offset().local_minus_utc(), 5400);
        assert_eq!(
            PsValue::String("/Date(-1000)/".into())
                .datetime_utc()
                .unwrap(),
            Some(utc(1969, 12, 31, 23, 59, 59))
        );
    }

    #[test]
    fn dates_null_empty_and_wrong() {
        assert_eq!(PsValue::Null.datetime_utc().unwrap(), None);
        assert_eq!(PsValue::String("  ".into()).datetime_utc().unwrap(), None);
        let err = PsValue::String("next Tuesday".into())
            .datetime_utc()
            .unwrap_err();
        assert_eq!(err, "\"next Tuesday\" is not a date and time");
        assert!(PsValue::Int(5).datetime_utc().is_err());
        for bad in [
            "/Date(abc)/",
            "/Date(1+01)/",
            "/Date()/",
            "/Date(99999999999999999999)/",
        ] {
            assert!(PsValue::String(bad.into()).datetime_utc().is_err(), "{bad}");
        }
        // PowerShell 5.1 ConvertTo-Json of Get-Date output.
        let wrapped = object(vec![
            ("value", PsValue::String("/Date(1675433762000)/".into())),
            (
                "DateTime",
                PsValue::String("Friday, February 3, 2023".into()),
            ),
        ]);
        assert_eq!(
            wrapped.datetime_utc().unwrap(),
            Some(utc(2023, 2, 3, 14, 16, 2))
        );
    }

    #[test]
    fn bytes_from_binary_base64_and_number_lists() {
        assert_eq!(
            PsValue::Bytes(vec![1, 2])
                .bytes()
                .unwrap()
                .unwrap()
                .as_ref(),
            &[1, 2]
        );
        assert_eq!(
            PsValue::String("AQID".into())
                .bytes()
                .unwrap()
                .unwrap()
                .as_ref(),
            &[1, 2, 3]
        );
        assert_eq!(
            PsValue::String("AQ\r\nID".into())
                .bytes()
                .unwrap()
                .unwrap()
                .as_ref(),
            &[1, 2, 3]
        );
        let list = PsValue::List(vec![
            PsValue::Int(48),
            PsValue::UInt(130),
            PsValue::Float(3.0),
        ]);
        assert_eq!(list.bytes().unwrap().unwrap().as_ref(), &[48, 130, 3]);
        assert_eq!(PsValue::Null.bytes().unwrap(), None);
        assert!(PsValue::String("not base64!".into()).bytes().is_err());
        assert!(PsValue::List(vec![PsValue::Int(256)]).bytes().is_err());
        assert!(PsValue::List(vec![PsValue::Int(-1)]).bytes().is_err());
        assert!(PsValue::Bool(true).bytes().is_err());
    }

    #[test]
    fn integers_and_booleans() {
        assert_eq!(PsValue::Int(-3).integer(), Some(-3));
        assert_eq!(PsValue::UInt(7).integer(), Some(7));
        assert_eq!(PsValue::UInt(u64::MAX).integer(), None);
        assert_eq!(PsValue::Float(2.0).integer(), Some(2));
        assert_eq!(PsValue::Float(2.5).integer(), None);
        assert_eq!(PsValue::Float(f64::NAN).integer(), None);
        assert_eq!(enum_object("Mailbox", 2).integer(), Some(2));
        assert_eq!(PsValue::String("2".into()).integer(), None);
        assert_eq!(PsValue::Bool(true).bool(), Some(true));
        assert_eq!(PsValue::String("False".into()).bool(), Some(false));
        assert_eq!(PsValue::Int(1).bool(), None);
    }

    #[test]
    fn strings_and_lists_look_through_objects() {
        assert_eq!(enum_object("Mailbox", 2).string(), Some("Mailbox"));
        let wrapped = PsValue::Object(Arc::new(PsObject {
            value: Some(PsValue::List(vec![PsValue::String("PING1".into())])),
            ..PsObject::default()
        }));
        assert_eq!(wrapped.list().map(<[PsValue]>::len), Some(1));
        assert_eq!(wrapped.string(), None);
        assert_eq!(PsValue::Int(1).string(), None);
    }

    const STATUS: &[(i64, &str)] = &[(0, "Unknown"), (1, "Valid"), (2, "Revoked")];
    const SERVICES: &[(i64, &str)] = &[
        (0, "None"),
        (1, "IMAP"),
        (2, "POP"),
        (8, "IIS"),
        (16, "SMTP"),
        (27, "Composite"),
    ];

    #[test]
    fn enums_as_number_string_and_object() {
        assert_eq!(PsValue::Int(1).enum_name(STATUS).as_deref(), Some("Valid"));
        assert_eq!(PsValue::Int(9).enum_name(STATUS).as_deref(), Some("9"));
        assert_eq!(
            PsValue::String("Valid".into()).enum_name(STATUS).as_deref(),
            Some("Valid")
        );
        assert_eq!(
            PsValue::String("2".into()).enum_name(STATUS).as_deref(),
            Some("Revoked")
        );
        assert_eq!(
            enum_object("Valid", 1).enum_name(STATUS).as_deref(),
            Some("Valid")
        );
        assert_eq!(PsValue::Null.enum_name(STATUS), None);
    }

    #[test]
    fn flags_as_number_string_and_object() {
        let names = |value: PsValue| value.enum_flags(SERVICES).unwrap();
        assert_eq!(names(PsValue::Int(27)), ["IMAP", "POP", "IIS", "SMTP"]);
        assert_eq!(names(PsValue::Int(0)), Vec::<String>::new());
        assert_eq!(names(PsValue::Int(8 + 64)), ["IIS", "64"]);
        assert_eq!(names(PsValue::String("IIS, SMTP".into())), ["IIS", "SMTP"]);
        assert_eq!(names(PsValue::String("None".into())), Vec::<String>::new());
        assert_eq!(names(PsValue::String("24".into())), ["IIS", "SMTP"]);
        assert_eq!(
            names(enum_object("IMAP, POP, IIS, SMTP", 27)),
            ["IMAP", "POP", "IIS", "SMTP"]
        );
        assert_eq!(names(PsValue::Int(-1)), ["-1"]);
        assert_eq!(PsValue::Null.enum_flags(SERVICES), None);
    }

    #[test]
    fn quoted_keeps_messages_short_and_on_one_line() {
        assert_eq!(quoted("a\r\nb"), "\"a\\r\\nb\"");
        let long = "x".repeat(100);
        assert_eq!(quoted(&long).chars().count(), 60 + 3);
    }
}
