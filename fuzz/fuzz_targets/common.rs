//! What the targets share: text decoding as the readers do it, a fixed `now`, and the checks
//! every rendered report must pass whatever the input was.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use exchange_authcert::judge::{FindingCode, Policy, Report, judge};
use exchange_authcert::model::ExchangeState;
use exchange_authcert::render::{OutputFormat, RenderOptions, render};
use exchange_authcert::source::text_encoding::decode_text;

/// The password of `samples/auth-certificate.pfx` (its `.pfx.password` file).
pub const SAMPLE_PFX_PASSWORD: &str = "sample";

/// The instant the samples were made for: results are reproducible.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
}

/// The file's text as every reader decodes it, or `None` where the readers would refuse it.
pub fn text(bytes: &[u8]) -> Option<String> {
    decode_text(bytes).ok().map(|(_, text)| text.into_owned())
}

/// Reader errors become the UNKNOWN line: the readers promise one line.
pub fn one_line_error(error: &str) {
    assert!(
        !error.contains('\n') && !error.contains('\r'),
        "error is not one line: {error:?}"
    );
}

/// Judges the state with the default policy and checks every output format.
pub fn judge_and_render(state: &ExchangeState) {
    let report = judge(state, &Policy::defaults(now()));
    check_outputs(&report);
}

/// What the check prints when the input is refused.
pub fn render_failure(message: &str) {
    let report = Report::failure(FindingCode::InputInvalid, message, now());
    check_outputs(&report);
    let nagios = render(&report, OutputFormat::Nagios, RenderOptions::default());
    assert_eq!(nagios.exit_code, 3);
    assert!(nagios.text.starts_with("EXCHANGE AUTHCERT UNKNOWN - "));
    assert_eq!(nagios.text.lines().count(), 2, "{:?}", nagios.text);
}

/// Every format: the right exit code, the documented shape, parseable documents.
pub fn check_outputs(report: &Report) {
    for verbosity in [0u8, 2] {
        let options = RenderOptions { verbosity };
        let nagios = render(report, OutputFormat::Nagios, options);
        assert!((0..=3).contains(&nagios.exit_code));
        let first = nagios.text.lines().next().unwrap_or_default();
        assert!(first.starts_with("EXCHANGE AUTHCERT "), "{first:?}");
        assert!(
            first.matches('|').count() <= 1,
            "a '|' in the text: {first:?}"
        );
        let expected_lines = 1
            + report.findings.len()
            + if verbosity > 0 {
                report.certificates.len()
            } else {
                0
            };
        assert_eq!(
            nagios.text.lines().count(),
            expected_lines,
            "every finding and certificate on one line: {:?}",
            nagios.text
        );
        if report.failed {
            assert_eq!(nagios.exit_code, 3, "a refused input is never OK");
        }
    }
    let options = RenderOptions::default();
    let xml = render(report, OutputFormat::PrtgXml, options);
    assert_eq!(xml.exit_code, 0);
    well_formed_xml(&xml.text);
    if report.failed {
        assert!(xml.text.contains("<error>1</error>"));
    }
    for format in [
        OutputFormat::PrtgJson,
        OutputFormat::PrtgV2,
        OutputFormat::Json,
    ] {
        let rendered = render(report, format, options);
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&rendered.text) {
            panic!(
                "{} output is not JSON ({e}): {:?}",
                format.name(),
                rendered.text
            );
        }
    }
}

/// PRTG refuses a document that is not well-formed XML 1.0, control characters included.
fn well_formed_xml(text: &str) {
    for c in text.chars() {
        let allowed = matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}';
        assert!(
            allowed,
            "character {c:?} is not allowed in XML 1.0: {text:?}"
        );
    }
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(_) => {}
            Err(e) => panic!("PRTG XML is not well-formed ({e}): {text:?}"),
        }
    }
    assert_eq!(depth, 0, "unbalanced PRTG XML: {text:?}");
}
