//! What each monitoring system would show, computed from the bytes the check printed and
//! nothing else: the Nagios/Icinga exit code and status word, PRTG's channel limits and value
//! lookups (EXE/Script Advanced XML and JSON, Script v2), Checkmk's local-check lines
//! (including the computed state `P`), and the samples of a Prometheus textfile.
//!
//! Each evaluator follows the documented behaviour of its system (DOMAIN.md section 6, PRTG's
//! custom sensor and lookup manuals, Checkmk Werk #17 for `P`), not the check's renderers, so a
//! test can hold the renderers to what a user would see. `tests/cross_format.rs` uses them and
//! checks each one on hand-written documents.

use std::collections::BTreeMap;

use quick_xml::XmlVersion;
use quick_xml::events::Event;
use serde_json::Value;

use super::parse_xml;

// ---------------------------------------------------------------------------------------------
// The check's states and their two orders
// ---------------------------------------------------------------------------------------------

/// A Nagios state, as the check computes it and as Nagios, Icinga and Checkmk show it. The
/// derived order only sorts; which state is worse depends on who asks: compare with
/// [`CheckState::plugin_rank`] or [`CheckState::checkmk_rank`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckState {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl CheckState {
    pub const ALL: [CheckState; 4] = [
        CheckState::Ok,
        CheckState::Warning,
        CheckState::Critical,
        CheckState::Unknown,
    ];

    pub fn from_code(code: i64) -> Option<CheckState> {
        match code {
            0 => Some(CheckState::Ok),
            1 => Some(CheckState::Warning),
            2 => Some(CheckState::Critical),
            3 => Some(CheckState::Unknown),
            _ => None,
        }
    }

    pub fn code(self) -> i64 {
        match self {
            CheckState::Ok => 0,
            CheckState::Warning => 1,
            CheckState::Critical => 2,
            CheckState::Unknown => 3,
        }
    }

    /// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`: the Nagios status word.
    pub fn word(self) -> &'static str {
        match self {
            CheckState::Ok => "OK",
            CheckState::Warning => "WARNING",
            CheckState::Critical => "CRITICAL",
            CheckState::Unknown => "UNKNOWN",
        }
    }

    pub fn from_word(word: &str) -> Option<CheckState> {
        CheckState::ALL.into_iter().find(|s| s.word() == word)
    }

    /// The check's own order (`overall_state` in src/judge/mod.rs, the Monitoring Plugins
    /// convention): OK < UNKNOWN < WARNING < CRITICAL.
    pub fn plugin_rank(self) -> u8 {
        match self {
            CheckState::Ok => 0,
            CheckState::Unknown => 1,
            CheckState::Warning => 2,
            CheckState::Critical => 3,
        }
    }

    /// Checkmk's worst-of order for a host's services: OK < WARN < UNKNOWN < CRIT.
    pub fn checkmk_rank(self) -> u8 {
        match self {
            CheckState::Ok => 0,
            CheckState::Warning => 1,
            CheckState::Unknown => 2,
            CheckState::Critical => 3,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Nagios / Icinga
// ---------------------------------------------------------------------------------------------

/// What Nagios or Icinga shows: the state of the exit code, and the status word of the first
/// line (`EXCHANGE AUTHCERT <WORD> - …`) a human reads next to it. `None` where there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NagiosView {
    pub exit_state: Option<CheckState>,
    pub word_state: Option<CheckState>,
}

pub fn nagios_view(exit_code: i32, stdout: &str) -> NagiosView {
    let word_state = stdout
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("EXCHANGE AUTHCERT "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(CheckState::from_word);
    NagiosView {
        exit_state: CheckState::from_code(exit_code.into()),
        word_state,
    }
}

// ---------------------------------------------------------------------------------------------
// PRTG
// ---------------------------------------------------------------------------------------------

/// A PRTG sensor or channel state. PRTG has no UNKNOWN; a sensor whose document is an error
/// document is Down, which is shown as Error here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrtgState {
    Ok,
    Warning,
    Error,
}

impl PrtgState {
    /// A lookup's `state` attribute. `None` (a value shown without a state) leaves the sensor
    /// as it is, like Ok.
    pub fn from_lookup_state(text: &str) -> Result<PrtgState, String> {
        match text.to_ascii_lowercase().as_str() {
            "ok" | "none" => Ok(PrtgState::Ok),
            "warning" => Ok(PrtgState::Warning),
            "error" => Ok(PrtgState::Error),
            other => Err(format!("unknown lookup state {other:?}")),
        }
    }

    /// Script v2's `status`.
    pub fn from_v2_status(text: &str) -> Result<PrtgState, String> {
        match text {
            "ok" => Ok(PrtgState::Ok),
            "warning" => Ok(PrtgState::Warning),
            "error" => Ok(PrtgState::Error),
            other => Err(format!(
                "Script v2 status {other:?} is not ok/warning/error"
            )),
        }
    }
}

/// A value lookup (`.ovl`): `SingleInt` and `Range` entries, and the state of any other value.
#[derive(Debug, Clone, PartialEq)]
pub struct PrtgLookup {
    pub id: String,
    /// `undefinedState`: the state of a value no entry matches (PRTG's default: None).
    pub undefined: PrtgState,
    /// Inclusive `from..=to` ranges (a `SingleInt` is `value..=value`) and their states.
    pub entries: Vec<(i64, i64, PrtgState)>,
}

impl PrtgLookup {
    pub fn state_of(&self, value: f64) -> PrtgState {
        self.entries
            .iter()
            .find(|(from, to, _)| value.fract() == 0.0 && (*from..=*to).contains(&(value as i64)))
            .map(|(_, _, state)| *state)
            .unwrap_or(self.undefined)
    }
}

/// Parses a `.ovl` value lookup file.
pub fn parse_prtg_lookup(text: &str) -> Result<PrtgLookup, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut lookup: Option<PrtgLookup> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("lookup XML at byte {}: {e}", reader.buffer_position()))?;
        let start = match &event {
            Event::Start(start) | Event::Empty(start) => start,
            Event::Eof => break,
            _ => continue,
        };
        let mut attributes = BTreeMap::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| format!("lookup attribute: {e}"))?;
            let key = attribute.key.as_ref().to_ascii_lowercase();
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| format!("lookup attribute {key}: {e}"))?;
            attributes.insert(key, value.into_owned());
        }
        let number = |key: &str| -> Result<i64, String> {
            attributes
                .get(key)
                .ok_or_else(|| format!("lookup entry without {key}"))?
                .trim()
                .parse()
                .map_err(|e| format!("lookup {key}: {e}"))
        };
        let state = || -> Result<PrtgState, String> {
            PrtgState::from_lookup_state(attributes.get("state").map_or("None", String::as_str))
        };
        match start.name().as_ref() {
            "ValueLookup" => {
                lookup = Some(PrtgLookup {
                    id: attributes
                        .get("id")
                        .cloned()
                        .ok_or("ValueLookup without id")?,
                    undefined: PrtgState::from_lookup_state(
                        attributes
                            .get("undefinedstate")
                            .map_or("None", String::as_str),
                    )?,
                    entries: Vec::new(),
                })
            }
            "SingleInt" => {
                let value = number("value")?;
                let entry = (value, value, state()?);
                lookup
                    .as_mut()
                    .ok_or("SingleInt outside ValueLookup")?
                    .entries
                    .push(entry);
            }
            "Range" => {
                let entry = (number("from")?, number("to")?, state()?);
                lookup
                    .as_mut()
                    .ok_or("Range outside ValueLookup")?
                    .entries
                    .push(entry);
            }
            "BitField" => return Err("BitField lookups are not evaluated here".into()),
            _ => {}
        }
    }
    lookup.ok_or_else(|| "no ValueLookup element".into())
}

/// PRTG's channel limits; PRTG applies them only with `LimitMode` 1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrtgLimits {
    pub min_error: Option<f64>,
    pub max_error: Option<f64>,
    pub min_warning: Option<f64>,
    pub max_warning: Option<f64>,
}

impl PrtgLimits {
    pub fn is_empty(&self) -> bool {
        *self == PrtgLimits::default()
    }

    /// A stable text for comparing limits between runs: `none` when no limit is set.
    pub fn signature(&self) -> String {
        if self.is_empty() {
            return "none".into();
        }
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| v.to_string());
        format!(
            "minerror {} maxerror {} minwarning {} maxwarning {}",
            show(self.min_error),
            show(self.max_error),
            show(self.min_warning),
            show(self.max_warning)
        )
    }
}

/// One `<result>` (XML) or `result` entry (JSON) of an EXE/Script Advanced document.
#[derive(Debug, Clone, PartialEq)]
pub struct PrtgChannel {
    pub name: String,
    pub value: f64,
    pub limit_mode: bool,
    pub limits: PrtgLimits,
    pub lookup: Option<String>,
    /// `<Warning>1</Warning>`: the channel (and so the sensor) is in a warning state.
    pub warning: bool,
}

/// An EXE/Script Advanced document: the error form, or channels.
#[derive(Debug, Clone, PartialEq)]
pub enum PrtgDocument {
    Error {
        text: String,
    },
    Channels {
        channels: Vec<PrtgChannel>,
        text: String,
    },
}

/// The state of one channel and why. A channel with a value lookup takes its state from the
/// lookup (PRTG ignores limits on lookup channels); otherwise, with limit mode on, a value below
/// the minimum or above the maximum error limit is Error, else below/above a warning limit is
/// Warning (both strictly).
pub fn prtg_channel_state(
    channel: &PrtgChannel,
    lookups: &[PrtgLookup],
) -> Result<(PrtgState, String), String> {
    let value = channel.value;
    if let Some(id) = &channel.lookup {
        let lookup = lookups
            .iter()
            .find(|l| l.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| format!("channel {:?} uses the unknown lookup {id:?}", channel.name))?;
        let state = lookup.state_of(value);
        return Ok((state, format!("value {value} -> {state:?} in lookup {id}")));
    }
    let mut state = PrtgState::Ok;
    let mut why = String::from("within its limits");
    if channel.limit_mode {
        let limits = &channel.limits;
        let breaches = [
            (limits.min_error, true, PrtgState::Error, "limitminerror"),
            (limits.max_error, false, PrtgState::Error, "limitmaxerror"),
            (
                limits.min_warning,
                true,
                PrtgState::Warning,
                "limitminwarning",
            ),
            (
                limits.max_warning,
                false,
                PrtgState::Warning,
                "limitmaxwarning",
            ),
        ];
        for (limit, is_minimum, limit_state, field) in breaches {
            let Some(limit) = limit else { continue };
            let breached = if is_minimum {
                value < limit
            } else {
                value > limit
            };
            if breached && limit_state > state {
                state = limit_state;
                let relation = if is_minimum { "<" } else { ">" };
                why = format!("value {value} {relation} {field} {limit}");
            }
        }
    }
    if channel.warning && state < PrtgState::Warning {
        state = PrtgState::Warning;
        why = "the channel's Warning flag is set".into();
    }
    Ok((state, why))
}

/// The sensor state PRTG shows for a document: Down (Error) for the error form, else the
/// worst channel.
pub fn prtg_sensor_state(
    document: &PrtgDocument,
    lookups: &[PrtgLookup],
) -> Result<PrtgState, String> {
    match document {
        PrtgDocument::Error { .. } => Ok(PrtgState::Error),
        PrtgDocument::Channels { channels, .. } => {
            let mut worst = PrtgState::Ok;
            for channel in channels {
                worst = worst.max(prtg_channel_state(channel, lookups)?.0);
            }
            Ok(worst)
        }
    }
}

fn parse_number(text: &str, what: &str) -> Result<f64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{what} is not a number: {text:?}"))
}

fn parse_flag(text: &str, what: &str) -> Result<bool, String> {
    Ok(parse_number(text, what)? != 0.0)
}

/// Parses an EXE/Script Advanced XML document (element names are case-insensitive in PRTG).
pub fn parse_prtg_xml(text: &str) -> Result<PrtgDocument, String> {
    let root = parse_xml(text)?;
    if !root.name.eq_ignore_ascii_case("prtg") {
        return Err(format!("root element is <{}>, not <prtg>", root.name));
    }
    let child_text = |element: &super::XmlElement, name: &str| -> Option<String> {
        element
            .children
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| c.text.clone())
    };
    let message = child_text(&root, "text").unwrap_or_default();
    if let Some(error) = child_text(&root, "error")
        && parse_flag(&error, "<error>")?
    {
        return Ok(PrtgDocument::Error { text: message });
    }
    let mut channels = Vec::new();
    for result in root
        .children
        .iter()
        .filter(|c| c.name.eq_ignore_ascii_case("result"))
    {
        let field = |name: &str| child_text(result, name);
        let name = field("channel").ok_or("a <result> without <channel>")?;
        let number = |name: &str| -> Result<Option<f64>, String> {
            field(name)
                .map(|t| parse_number(&t, &format!("<{name}> of {:?}", field("channel"))))
                .transpose()
        };
        channels.push(PrtgChannel {
            value: number("value")?.ok_or_else(|| format!("channel {name:?} has no <value>"))?,
            limit_mode: number("limitmode")?.is_some_and(|m| m != 0.0),
            limits: PrtgLimits {
                min_error: number("limitminerror")?,
                max_error: number("limitmaxerror")?,
                min_warning: number("limitminwarning")?,
                max_warning: number("limitmaxwarning")?,
            },
            lookup: field("valuelookup"),
            warning: number("warning")?.is_some_and(|w| w != 0.0),
            name,
        });
    }
    Ok(PrtgDocument::Channels {
        channels,
        text: message,
    })
}

/// A JSON number or a string holding one (PRTG accepts both).
fn json_number(value: &Value, what: &str) -> Result<Option<f64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) => parse_number(s, what).map(Some),
        other => Err(format!("{what} is not a number: {other}")),
    }
}

/// Parses an EXE/Script Advanced JSON document (`{"prtg": {…}}`; keys case-insensitive).
pub fn parse_prtg_json(text: &str) -> Result<PrtgDocument, String> {
    let document: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let lowered = |value: &Value| -> BTreeMap<String, Value> {
        value
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let top = lowered(&document);
    let prtg = lowered(top.get("prtg").ok_or("no \"prtg\" object")?);
    let message = prtg
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(error) = prtg.get("error")
        && json_number(error, "\"error\"")?.is_some_and(|e| e != 0.0)
    {
        return Ok(PrtgDocument::Error { text: message });
    }
    let results = match prtg.get("result") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        // A single result may be written without brackets.
        Some(single) => vec![single.clone()],
    };
    let mut channels = Vec::new();
    for result in &results {
        let result = lowered(result);
        let name = result
            .get("channel")
            .and_then(Value::as_str)
            .ok_or("a result without \"channel\"")?
            .to_string();
        let number = |key: &str| -> Result<Option<f64>, String> {
            result
                .get(key)
                .map(|v| json_number(v, &format!("{key} of {name:?}")))
                .transpose()
                .map(Option::flatten)
        };
        channels.push(PrtgChannel {
            value: number("value")?.ok_or_else(|| format!("channel {name:?} has no value"))?,
            limit_mode: number("limitmode")?.is_some_and(|m| m != 0.0),
            limits: PrtgLimits {
                min_error: number("limitminerror")?,
                max_error: number("limitmaxerror")?,
                min_warning: number("limitminwarning")?,
                max_warning: number("limitmaxwarning")?,
            },
            lookup: result
                .get("valuelookup")
                .and_then(Value::as_str)
                .map(str::to_string),
            warning: number("warning")?.is_some_and(|w| w != 0.0),
            name,
        });
    }
    Ok(PrtgDocument::Channels {
        channels,
        text: message,
    })
}

/// One channel of a Script v2 document.
#[derive(Debug, Clone, PartialEq)]
pub struct PrtgV2Channel {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub value: f64,
    pub lookup: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrtgV2Document {
    pub status: PrtgState,
    pub message: String,
    pub channels: Vec<PrtgV2Channel>,
}

/// Channel fields this evaluator understands. Script v2 channels carry no limits; a field
/// outside this list (limits, say) is an error, so that the evaluator learns it before a test
/// trusts it.
const V2_CHANNEL_FIELDS: &[&str] = &["id", "name", "type", "value", "lookup_name", "kind"];

pub fn parse_prtg_v2(text: &str) -> Result<PrtgV2Document, String> {
    let document: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if document["version"] != 2 {
        return Err(format!("version is {}, not 2", document["version"]));
    }
    let status = PrtgState::from_v2_status(document["status"].as_str().unwrap_or_default())?;
    let mut channels = Vec::new();
    for channel in document["channels"].as_array().ok_or("no channels array")? {
        let object = channel.as_object().ok_or("a channel is not an object")?;
        if let Some(unknown) = object
            .keys()
            .find(|k| !V2_CHANNEL_FIELDS.contains(&k.as_str()))
        {
            return Err(format!(
                "channel field {unknown:?} is not evaluated here: {channel}"
            ));
        }
        channels.push(PrtgV2Channel {
            id: channel["id"].as_i64().ok_or("channel id")?,
            name: channel["name"].as_str().ok_or("channel name")?.to_string(),
            kind: channel["type"].as_str().ok_or("channel type")?.to_string(),
            value: json_number(&channel["value"], "channel value")?.ok_or("channel value")?,
            lookup: channel["lookup_name"].as_str().map(str::to_string),
        });
    }
    Ok(PrtgV2Document {
        status,
        message: document["message"].as_str().unwrap_or_default().to_string(),
        channels,
    })
}

/// The sensor state of a Script v2 document: its `status`, made worse by any lookup channel
/// whose value the lookup maps to a worse state.
pub fn prtg_v2_sensor_state(
    document: &PrtgV2Document,
    lookups: &[PrtgLookup],
) -> Result<(PrtgState, Vec<String>), String> {
    let mut state = document.status;
    let mut causes = vec![format!("status {:?}", document.status)];
    for channel in &document.channels {
        if channel.kind != "lookup" {
            continue;
        }
        let id = channel
            .lookup
            .as_ref()
            .ok_or_else(|| format!("lookup channel {:?} without lookup_name", channel.name))?;
        let lookup = lookups
            .iter()
            .find(|l| l.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| format!("channel {:?} uses the unknown lookup {id:?}", channel.name))?;
        let channel_state = lookup.state_of(channel.value);
        causes.push(format!(
            "channel {:?} value {} -> {channel_state:?} in lookup {id}",
            channel.name, channel.value
        ));
        state = state.max(channel_state);
    }
    Ok((state, causes))
}

// ---------------------------------------------------------------------------------------------
// Checkmk local checks
// ---------------------------------------------------------------------------------------------

/// `warn` or `crit` of a local-check metric: `upper`, or `lower:upper` (either may be empty).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CheckmkLevels {
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

impl CheckmkLevels {
    fn parse(text: &str) -> Result<Option<CheckmkLevels>, String> {
        if text.is_empty() {
            return Ok(None);
        }
        let number = |t: &str| -> Result<Option<f64>, String> {
            if t.is_empty() {
                Ok(None)
            } else {
                parse_number(t, "a Checkmk level").map(Some)
            }
        };
        let levels = match text.split_once(':') {
            Some((lower, upper)) => CheckmkLevels {
                lower: number(lower)?,
                upper: number(upper)?,
            },
            None => CheckmkLevels {
                lower: None,
                upper: number(text)?,
            },
        };
        Ok(Some(levels))
    }

    /// Outside the levels, strictly: a value exactly on a level is the better state (Werk #17).
    fn breached_by(&self, value: f64) -> bool {
        self.upper.is_some_and(|u| value > u) || self.lower.is_some_and(|l| value < l)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckmkMetric {
    pub name: String,
    pub value: f64,
    pub warn: Option<CheckmkLevels>,
    pub crit: Option<CheckmkLevels>,
}

/// One local-check line.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckmkService {
    pub name: String,
    /// The state Checkmk shows: the fixed one, or for `P` the one computed from the metrics.
    pub state: CheckState,
    /// `P`: computed from the metrics' levels.
    pub computed: bool,
    pub metrics: Vec<CheckmkMetric>,
    pub text: String,
}

/// The state Checkmk computes for `P` (Werk #17): per metric CRIT outside the crit levels,
/// else WARN outside the warn levels; the worst metric (Checkmk order) wins; OK without
/// metrics or levels.
pub fn checkmk_computed_state(metrics: &[CheckmkMetric]) -> CheckState {
    let of = |metric: &CheckmkMetric| {
        if metric.crit.is_some_and(|c| c.breached_by(metric.value)) {
            CheckState::Critical
        } else if metric.warn.is_some_and(|w| w.breached_by(metric.value)) {
            CheckState::Warning
        } else {
            CheckState::Ok
        }
    };
    checkmk_worst(metrics.iter().map(of))
}

/// The worst state in Checkmk's order (CRIT > UNKNOWN > WARN > OK); OK for none.
pub fn checkmk_worst(states: impl IntoIterator<Item = CheckState>) -> CheckState {
    states
        .into_iter()
        .max_by_key(|s| s.checkmk_rank())
        .unwrap_or(CheckState::Ok)
}

fn parse_checkmk_metric(item: &str) -> Result<CheckmkMetric, String> {
    let (name, data) = item
        .split_once('=')
        .ok_or_else(|| format!("metric without '=': {item:?}"))?;
    let fields: Vec<&str> = data.split(';').collect();
    if fields.len() > 5 {
        return Err(format!(
            "metric with more than value;warn;crit;min;max: {item:?}"
        ));
    }
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    Ok(CheckmkMetric {
        name: name.to_string(),
        value: parse_number(field(0), &format!("the value of {name}"))?,
        warn: CheckmkLevels::parse(field(1))?,
        crit: CheckmkLevels::parse(field(2))?,
    })
}

/// Parses local-check output: `<0-3|P> <"name"|name> <metrics|-> <text>` per line.
pub fn parse_checkmk(text: &str) -> Result<Vec<CheckmkService>, String> {
    let mut services = Vec::new();
    for line in text.lines() {
        let (state, rest) = line
            .split_once(' ')
            .ok_or_else(|| format!("line without a service: {line:?}"))?;
        let (name, rest) = match rest.strip_prefix('"') {
            Some(quoted) => quoted
                .split_once('"')
                .ok_or_else(|| format!("unterminated service name: {line:?}"))?,
            None => rest.split_once(' ').unwrap_or((rest, "")),
        };
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let (metrics_text, text) = rest.split_once(' ').unwrap_or((rest, ""));
        let metrics = if metrics_text == "-" || metrics_text.is_empty() {
            Vec::new()
        } else {
            metrics_text
                .split('|')
                .map(parse_checkmk_metric)
                .collect::<Result<_, _>>()?
        };
        let (state, computed) = match state {
            "P" => (checkmk_computed_state(&metrics), true),
            code => (
                code.parse()
                    .ok()
                    .and_then(CheckState::from_code)
                    .ok_or_else(|| format!("state {code:?} is not 0-3 or P: {line:?}"))?,
                false,
            ),
        };
        services.push(CheckmkService {
            name: name.to_string(),
            state,
            computed,
            metrics,
            text: text.to_string(),
        });
    }
    Ok(services)
}

// ---------------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------------

/// One sample of a textfile: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl PromSample {
    /// The sample as a PromQL series selector with `extra` labels added, for promtool's
    /// `input_series` (label values escaped as in the exposition format).
    pub fn selector(&self, extra: &[(&str, &str)]) -> String {
        let mut labels = self.labels.clone();
        for (name, value) in extra {
            labels.insert(name.to_string(), value.to_string());
        }
        let labels: Vec<String> = labels
            .iter()
            .map(|(name, value)| {
                let escaped = value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                format!("{name}=\"{escaped}\"")
            })
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

/// Parses the text exposition format (comments skipped, no timestamps expected).
pub fn parse_prometheus(text: &str) -> Result<Vec<PromSample>, String> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(at) => (&line[..at], &line[at..]),
            None => return Err(format!("sample without a value: {line:?}")),
        };
        let mut labels = BTreeMap::new();
        let mut chars = rest.chars().peekable();
        if chars.peek() == Some(&'{') {
            chars.next();
            loop {
                if chars.peek() == Some(&'}') {
                    chars.next();
                    break;
                }
                let label: String = chars.by_ref().take_while(|c| *c != '=').collect();
                if chars.next() != Some('"') {
                    return Err(format!("label value not quoted: {line:?}"));
                }
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some(c) => value.push(c),
                            None => return Err(format!("dangling escape: {line:?}")),
                        },
                        Some('"') => break,
                        Some(c) => value.push(c),
                        None => return Err(format!("unterminated label value: {line:?}")),
                    }
                }
                labels.insert(label, value);
                match chars.next() {
                    Some(',') => continue,
                    Some('}') => break,
                    other => return Err(format!("unexpected {other:?} in {line:?}")),
                }
            }
        }
        let rest: String = chars.collect();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() != 1 {
            return Err(format!("expected one value (no timestamp): {line:?}"));
        }
        samples.push(PromSample {
            name: name.to_string(),
            labels,
            value: parse_number(fields[0], "a sample value")?,
        });
    }
    Ok(samples)
}
