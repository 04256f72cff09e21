//! PRTG EXE/Script Advanced, JSON form: the same channels as the XML form.

use serde_json::{Map, Value, json};

use super::prtg::{self, PrtgChannel};
use crate::judge::Report;

pub fn render(report: &Report) -> String {
    let document = if report.failed {
        json!({"prtg": {"error": 1, "text": prtg::message(report)}})
    } else {
        let results: Vec<Value> = prtg::channels(report).iter().map(result).collect();
        json!({"prtg": {"result": results, "text": prtg::message(report)}})
    };
    let mut text = serde_json::to_string_pretty(&document).expect("JSON values always serialise");
    text.push('\n');
    text
}

fn result(channel: &PrtgChannel) -> Value {
    let mut object = Map::new();
    object.insert("channel".into(), json!(channel.name));
    object.insert("value".into(), json!(channel.value));
    match (channel.custom_unit, channel.lookup) {
        (_, Some(lookup)) => {
            object.insert("unit".into(), json!("Custom"));
            object.insert("valuelookup".into(), json!(lookup));
        }
        (Some(unit), None) => {
            object.insert("unit".into(), json!("Custom"));
            object.insert("customunit".into(), json!(unit));
        }
        (None, None) => {
            object.insert("unit".into(), json!("Count"));
        }
    }
    let limits = &channel.limits;
    if !limits.is_empty() {
        object.insert("limitmode".into(), json!(1));
        for (name, value) in [
            ("limitminwarning", limits.min_warning),
            ("limitmaxwarning", limits.max_warning),
            ("limitminerror", limits.min_error),
            ("limitmaxerror", limits.max_error),
        ] {
            if let Some(value) = value {
                object.insert(name.into(), prtg::json_number(value));
            }
        }
    }
    Value::Object(object)
}
