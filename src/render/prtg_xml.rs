//! PRTG EXE/Script Advanced, XML form (`Custom Sensors\EXEXML`).

use std::fmt::Write;

use quick_xml::escape::escape;

use super::prtg::{self, PrtgChannel};
use crate::judge::Report;

pub fn render(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<prtg>\n");
    if report.failed {
        out.push_str("  <error>1</error>\n");
    } else {
        for channel in prtg::channels(report) {
            write_result(&mut out, &channel);
        }
    }
    let _ = writeln!(
        out,
        "  <text>{}</text>",
        escape(xml_chars(&prtg::message(report)).as_str())
    );
    out.push_str("</prtg>\n");
    out
}

/// Characters XML 1.0 cannot carry (control characters, U+FFFE, U+FFFF), which a message
/// quoting a broken input file may hold, become U+FFFD: PRTG refuses a document that is not
/// well-formed, and would then show neither the reason nor the error.
fn xml_chars(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
            _ => c,
        })
        .collect()
}

fn write_result(out: &mut String, channel: &PrtgChannel) {
    let mut lines = Vec::new();
    lines.push(("channel", escape(channel.name).into_owned()));
    lines.push(("value", channel.value.to_string()));
    match (channel.custom_unit, channel.lookup) {
        (_, Some(lookup)) => {
            lines.push(("unit", "Custom".into()));
            lines.push(("valuelookup", lookup.into()));
        }
        (Some(unit), None) => {
            lines.push(("unit", "Custom".into()));
            lines.push(("customunit", unit.into()));
        }
        (None, None) => lines.push(("unit", "Count".into())),
    }
    let limits = &channel.limits;
    if !limits.is_empty() {
        lines.push(("limitmode", "1".into()));
        for (name, value) in [
            ("limitminwarning", limits.min_warning),
            ("limitmaxwarning", limits.max_warning),
            ("limitminerror", limits.min_error),
            ("limitmaxerror", limits.max_error),
        ] {
            if let Some(value) = value {
                lines.push((name, prtg::number(value)));
            }
        }
    }
    out.push_str("  <result>\n");
    for (name, value) in lines {
        let _ = writeln!(out, "    <{name}>{value}</{name}>");
    }
    out.push_str("  </result>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::FindingCode;

    /// Found by fuzzing: a reason quoting the input put control characters and U+FFFF into the
    /// document, which is then not XML.
    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        let report = Report::failure(
            FindingCode::InputInvalid,
            "range '\u{1}x' and \u{FFFF}\u{FFFE} and \u{0}",
            chrono::Utc::now(),
        );
        let text = render(&report);
        assert!(
            text.contains(
                "<text>range &apos;\u{FFFD}x&apos; and \u{FFFD}\u{FFFD} and \u{FFFD}</text>"
            ),
            "{text}"
        );
    }
}
