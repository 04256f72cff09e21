//! Renderers: [`Report`] -> the bytes one monitoring system reads. One file per format, and no
//! decisions here: states, texts and metrics all come from the judgement.

pub mod checkmk;
pub mod json;
pub mod nagios;
pub mod prometheus;
pub mod prtg;
pub mod prtg_json;
pub mod prtg_v2;
pub mod prtg_xml;

use clap::ValueEnum;

use crate::judge::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Nagios/Icinga plugin output: status line, perfdata, long output; exit 0-3.
    Nagios,
    /// PRTG EXE/Script Advanced XML; always exit 0.
    PrtgXml,
    /// PRTG EXE/Script Advanced JSON; always exit 0.
    PrtgJson,
    /// PRTG Script v2 JSON; always exit 0.
    PrtgV2,
    /// The full machine-readable report; exit code as for nagios.
    Json,
    /// Checkmk local check lines, one service per concern; always exit 0.
    Checkmk,
    /// Prometheus text format for node_exporter's textfile collector; always exit 0.
    Prometheus,
}

impl OutputFormat {
    /// The spelling used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Nagios => "nagios",
            OutputFormat::PrtgXml => "prtg-xml",
            OutputFormat::PrtgJson => "prtg-json",
            OutputFormat::PrtgV2 => "prtg-v2",
            OutputFormat::Json => "json",
            OutputFormat::Checkmk => "checkmk",
            OutputFormat::Prometheus => "prometheus",
        }
    }
}

/// What to print and how to exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub exit_code: i32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// `-v` count: adds certificate details to the Nagios long output.
    pub verbosity: u8,
}

pub fn render(report: &Report, format: OutputFormat, options: RenderOptions) -> Rendered {
    // PRTG reads the document, not the exit code: a non-zero exit makes it ignore the document.
    let prtg = |text: String| Rendered { text, exit_code: 0 };
    match format {
        OutputFormat::Nagios => Rendered {
            text: nagios::render(report, options),
            exit_code: report.exit_code(),
        },
        OutputFormat::Json => Rendered {
            text: json::render(report),
            exit_code: report.exit_code(),
        },
        OutputFormat::PrtgXml => prtg(prtg_xml::render(report)),
        OutputFormat::PrtgJson => prtg(prtg_json::render(report)),
        OutputFormat::PrtgV2 => prtg(prtg_v2::render(report)),
        // The Checkmk agent reads the lines and the textfile collector reads the file: the state
        // is in the document, and a non-zero exit would only add noise.
        OutputFormat::Checkmk => Rendered {
            text: checkmk::render(report),
            exit_code: 0,
        },
        OutputFormat::Prometheus => Rendered {
            text: prometheus::render(report),
            exit_code: 0,
        },
    }
}
