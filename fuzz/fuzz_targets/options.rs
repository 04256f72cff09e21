//! The command line: NUL-separated arguments -> clap -> thresholds, policy and timeout (never
//! the inputs, which would touch the file system). An option out of range is an error, never a
//! panic, and the output format is found even on a command line clap refuses.
#![no_main]

mod common;

use clap::Parser;
use exchange_authcert::cli::{CheckArgs, output_format_in, parse_timeout};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut argv = vec!["check_exchange_authcert".to_string()];
    argv.extend(text.split('\0').take(64).map(str::to_string));
    let _ = output_format_in(&argv);
    let Ok(args) = CheckArgs::try_parse_from(&argv) else {
        return;
    };
    if let Err(error) = parse_timeout(&args.timeout) {
        common::render_failure(&error.to_string());
    }
    let now = match args.thresholds.now() {
        Ok(now) => now,
        Err(error) => return common::render_failure(&error.to_string()),
    };
    match args.thresholds.policy(now) {
        Ok(policy) => {
            let state = exchange_authcert::model::ExchangeState::default();
            let report = exchange_authcert::judge::judge(&state, &policy);
            common::check_outputs(&report);
        }
        Err(error) => common::render_failure(&error.to_string()),
    }
});
