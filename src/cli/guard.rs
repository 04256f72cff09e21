//! Process-level guarantees of a monitoring plugin: exactly one document on stdout, a bounded
//! run time, and no panic text reaching the monitoring system.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;

use crate::judge::{FindingCode, Report};
use crate::render::{OutputFormat, RenderOptions, Rendered, render};

/// Whoever prints first (the run, the watchdog or the panic hook) prints alone and exits.
static OUTPUT: Mutex<()> = Mutex::new(());

/// Prints `rendered` and exits with its code. Never returns.
pub fn emit(rendered: &Rendered) -> ! {
    let _guard = OUTPUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(rendered.text.as_bytes());
    let _ = stdout.flush();
    std::process::exit(rendered.exit_code)
}

/// Prints a failure report (UNKNOWN / PRTG error document) and exits.
pub fn fail(format: OutputFormat, code: FindingCode, message: &str) -> ! {
    let report = Report::failure(code, message, Utc::now());
    emit(&render(&report, format, RenderOptions::default()))
}

/// A panic becomes an UNKNOWN with a one-line reason instead of a backtrace.
pub fn install_panic_hook(format: OutputFormat) {
    std::panic::set_hook(Box::new(move |info| {
        let reason = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        fail(
            format,
            FindingCode::InternalError,
            &format!("internal error: {reason}{place} (please report this)"),
        )
    }));
}

/// Ends the process with UNKNOWN when the run takes longer than `timeout`.
pub fn start_watchdog(format: OutputFormat, timeout: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(timeout);
        fail(
            format,
            FindingCode::CheckTimeout,
            &format!(
                "check did not finish within {} seconds (-t/--timeout)",
                timeout.as_secs_f64()
            ),
        )
    });
}
