//! The few options read before clap parses the command line: the output format and the
//! `--output-file`. Even a command line clap refuses must end in one document, in the format the
//! monitoring system expects and in the file it reads.

use std::path::PathBuf;

use crate::render::OutputFormat;

/// The output format named on a command line, found without clap so that even a command line
/// clap rejects gets its error in the format the monitoring system expects.
pub fn output_format_in(args: &[String]) -> OutputFormat {
    use clap::ValueEnum;
    let mut chosen = OutputFormat::Nagios;
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let value = if arg == "--output" || arg == "-o" {
            iter.next().map(String::as_str)
        } else if let Some(value) = arg.strip_prefix("--output=") {
            Some(value)
        } else {
            arg.strip_prefix("-o").filter(|v| !v.is_empty())
        };
        if let Some(format) = value.and_then(|v| OutputFormat::from_str(v, true).ok()) {
            chosen = format;
        }
    }
    chosen
}

/// The `--output-file` named on a command line, found without clap (as the output format), so
/// that even a command line clap rejects leaves its failure document in the file: a textfile
/// collector then sees `exchange_authcert_check_success 0` instead of yesterday's file.
pub fn output_file_in(args: &[String]) -> Option<PathBuf> {
    let mut chosen = None;
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        if arg == "--output-file" {
            if let Some(value) = iter.next() {
                chosen = Some(PathBuf::from(value));
            }
        } else if let Some(value) = arg.strip_prefix("--output-file=") {
            chosen = Some(PathBuf::from(value));
        }
    }
    chosen.filter(|path| !path.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_output_file_before_parsing() {
        assert_eq!(output_file_in(&args(&["x", "--cert", "a"])), None);
        assert_eq!(
            output_file_in(&args(&["x", "--output-file", "/tmp/a.prom", "--bogus"])),
            Some(PathBuf::from("/tmp/a.prom"))
        );
        assert_eq!(
            output_file_in(&args(&["x", "--output-file=b.prom"])),
            Some(PathBuf::from("b.prom"))
        );
        assert_eq!(output_file_in(&args(&["x", "--output-file="])), None);
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_the_output_format_before_parsing() {
        assert_eq!(output_format_in(&args(&["x"])), OutputFormat::Nagios);
        assert_eq!(
            output_format_in(&args(&["x", "--bogus", "--output", "prtg-xml"])),
            OutputFormat::PrtgXml
        );
        assert_eq!(
            output_format_in(&args(&["x", "--output=prtg-v2"])),
            OutputFormat::PrtgV2
        );
        assert_eq!(
            output_format_in(&args(&["x", "-ojson"])),
            OutputFormat::Json
        );
    }
}
