//! PRTG Script v2 (`Custom Sensors\scripts`, `/opt/paessler/share/scripts`).
//!
//! Script v2 has no limits in its output: the `status` field carries the judgement, and the
//! channels carry the numbers under ids that never change.

use nagiosplugin::ServiceState;
use serde_json::{Value, json};

use super::prtg;
use crate::judge::Report;

pub fn render(report: &Report) -> String {
    let status = if report.failed {
        "error"
    } else {
        match report.state {
            ServiceState::Ok => "ok",
            // UNKNOWN with data (e.g. a server could not be queried) is worth a look, not a
            // "down" sensor.
            ServiceState::Warning | ServiceState::Unknown => "warning",
            ServiceState::Critical => "error",
        }
    };
    let channels: Vec<Value> = if report.failed {
        Vec::new()
    } else {
        prtg::channels(report)
            .iter()
            .map(|channel| match channel.lookup {
                Some(lookup) => json!({
                    "id": channel.id,
                    "name": channel.name,
                    "type": "lookup",
                    "lookup_name": lookup,
                    "value": channel.value,
                }),
                None => json!({
                    "id": channel.id,
                    "name": channel.name,
                    "type": "integer",
                    "value": channel.value,
                }),
            })
            .collect()
    };
    let document = json!({
        "version": 2,
        "status": status,
        "message": prtg::message(report),
        "channels": channels,
    });
    let mut text = serde_json::to_string_pretty(&document).expect("JSON values always serialise");
    text.push('\n');
    text
}
