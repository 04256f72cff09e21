//! The machine-readable report, read by other tools and by the renewal companion.
//!
//! `schema_version` changes only when a field changes meaning or disappears; new fields may be
//! added at any time.

use serde::Serialize;

use crate::judge::Report;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    tool: &'static str,
    tool_version: &'static str,
    exit_code: i32,
    #[serde(flatten)]
    report: &'a Report,
}

pub fn render(report: &Report) -> String {
    let document = Document {
        schema_version: SCHEMA_VERSION,
        tool: "check_exchange_authcert",
        tool_version: env!("CARGO_PKG_VERSION"),
        exit_code: report.exit_code(),
        report,
    };
    let mut text = serde_json::to_string_pretty(&document).expect("the report always serialises");
    text.push('\n');
    text
}
