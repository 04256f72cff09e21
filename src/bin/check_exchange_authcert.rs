//! `check_exchange_authcert`: options -> inputs -> state -> judgement -> one output document.
//!
//! On Linux the check starts at the C entry point, without Rust's runtime set-up
//! (`process::entry` says why and what it does instead).
#![cfg_attr(all(target_os = "linux", not(test)), no_main)]

use clap::Parser;
use clap::error::ErrorKind;

use exchange_authcert::cli::{CheckArgs, output_file_in, output_format_in, parse_timeout};
use exchange_authcert::judge::{FindingCode, judge};
use exchange_authcert::process::{guard, watchdog};
use exchange_authcert::render::{RenderOptions, render};

// Not in the test build of this file: there libtest's `main` runs (and this one would run the
// check with the harness's arguments).
#[cfg(all(target_os = "linux", not(test)))]
#[unsafe(no_mangle)]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    exchange_authcert::process::entry::prepare_process();
    // SAFETY: the C runtime passes argc and argv as they are.
    check(unsafe { exchange_authcert::process::entry::arguments(argc, argv) })
}

#[cfg(any(not(target_os = "linux"), test))]
fn main() {
    check(
        std::env::args_os()
            .map(|argument| argument.to_string_lossy().into_owned())
            .collect(),
    )
}

fn check(argv: Vec<String>) -> ! {
    let format = output_format_in(&argv);
    if let Some(path) = output_file_in(&argv) {
        guard::set_output_file(path, format);
    }
    guard::install_panic_hook(format);
    guard::report_shrunk_inputs(format);

    let args = match CheckArgs::try_parse_from(&argv) {
        Ok(args) => args,
        Err(error) => match error.kind() {
            // Monitoring Plugins guidelines: --help and --version exit UNKNOWN.
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                print!("{error}");
                std::process::exit(3);
            }
            _ => {
                let first_line = error.to_string();
                let first_line = first_line.lines().next().unwrap_or("invalid option");
                let reason = first_line.trim_start_matches("error: ");
                guard::fail(
                    format,
                    FindingCode::InputInvalid,
                    &format!("invalid option: {reason}"),
                )
            }
        },
    };
    if let Some(path) = &args.output_file {
        // Already set from the command line before parsing; this only covers a spelling the
        // pre-scan missed.
        guard::set_output_file(path.clone(), args.output);
    }
    let fail =
        |message: String| -> ! { guard::fail(args.output, FindingCode::InputInvalid, &message) };

    let timeout = parse_timeout(&args.timeout).unwrap_or_else(|e| fail(e.to_string()));
    watchdog::start(args.output, timeout);

    let now = args
        .thresholds
        .now()
        .unwrap_or_else(|e| fail(e.to_string()));
    let policy = args
        .thresholds
        .policy(now)
        .unwrap_or_else(|e| fail(e.to_string()));
    let state = args
        .inputs
        .load_state_within(timeout)
        .unwrap_or_else(|e| fail(e.to_string()));

    let report = judge(&state, &policy);
    let options = RenderOptions {
        verbosity: args.verbose,
    };
    guard::emit(&render(&report, args.output, options))
}
