//! Process-level guarantees of a monitoring plugin: exactly one document on stdout (or in the
//! `--output-file`), a bounded run time, and no panic text reaching the monitoring system.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::Utc;

use super::sole_document;
use crate::judge::{FindingCode, Report};
use crate::render::{OutputFormat, RenderOptions, Rendered, render};

/// `--output-file`: where the document goes instead of stdout, and the format a failure to
/// write it is reported in. Set once, before anything can be emitted.
static OUTPUT_FILE: OnceLock<(PathBuf, OutputFormat)> = OnceLock::new();

/// Sends every document (the result, or any failure) to `path` instead of stdout. The file is
/// replaced atomically; stdout then stays empty unless the file cannot be written, which is
/// UNKNOWN with the reason on stdout (in `format`) and exit code 3.
pub fn set_output_file(path: PathBuf, format: OutputFormat) {
    let _ = OUTPUT_FILE.set((path, format));
}

/// The `--output-file` and the format its failures are reported in, once set.
pub fn output_file() -> Option<&'static (PathBuf, OutputFormat)> {
    OUTPUT_FILE.get()
}

/// Prints `rendered` (or writes it to the `--output-file`) and exits with its code. Never
/// returns; when another document is already on its way out (the watchdog's, or a panic's),
/// waits for that one to end the process.
pub fn emit(rendered: &Rendered) -> ! {
    if !sole_document::claim() {
        loop {
            std::thread::park();
        }
    }
    let mut stdout = std::io::stdout().lock();
    if let Some((path, format)) = OUTPUT_FILE.get() {
        match write_atomically(path, rendered.text.as_bytes()) {
            Ok(()) => std::process::exit(rendered.exit_code),
            Err(reason) => {
                let failure = output_file_failure(path, *format, &reason);
                let _ = stdout.write_all(failure.text.as_bytes());
                let _ = stdout.flush();
                std::process::exit(failure.exit_code)
            }
        }
    }
    let _ = stdout.write_all(rendered.text.as_bytes());
    let _ = stdout.flush();
    std::process::exit(rendered.exit_code)
}

/// Writes a temp file next to `path` and renames it over `path`, so that readers (the textfile
/// collector, a monitoring agent) see the old file or the new one, never a part. The temp name
/// starts with a dot and ends in `.tmp`, so `*.prom` globs skip it. On Windows `rename` replaces
/// an existing file too (MoveFileEx with MOVEFILE_REPLACE_EXISTING).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let temp = temp_file_beside(path)?;
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)
    })();
    result.map_err(|error| {
        let _ = std::fs::remove_file(&temp);
        error.to_string()
    })
}

/// The temp file [`write_atomically`] writes before renaming it over `path`.
pub fn temp_file_beside(path: &Path) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .ok_or_else(|| "not a file name".to_string())?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !directory.is_dir() {
        return Err(format!("directory {} does not exist", directory.display()));
    }
    Ok(directory.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// What goes to stdout when the `--output-file` cannot be written: UNKNOWN, exit code 3.
pub fn output_file_failure(path: &Path, format: OutputFormat, reason: &str) -> Rendered {
    let message = format!("cannot write --output-file {}: {reason}", path.display());
    let report = Report::failure(FindingCode::InputInvalid, message, Utc::now());
    let rendered = render(&report, format, RenderOptions::default());
    Rendered {
        exit_code: 3,
        ..rendered
    }
}

/// Prints a failure report (UNKNOWN / PRTG error document) and exits.
pub fn fail(format: OutputFormat, code: FindingCode, message: &str) -> ! {
    let report = Report::failure(code, message, Utc::now());
    emit(&render(&report, format, RenderOptions::default()))
}

/// Lets large input files be mapped instead of copied ([`crate::source::mapped`]). When one is
/// truncated by another program while the check reads it, the check prints an UNKNOWN (a PRTG
/// error document) with this reason and exits 3 instead of dying of SIGBUS. That document goes
/// to stdout even with `--output-file`: the handler keeps to one `write(2)` and `_exit(2)`, and
/// the agent still sees exit code 3.
pub fn report_shrunk_inputs(format: OutputFormat) {
    super::sigbus::report_shrunk_inputs_with(move || {
        let report = Report::failure(
            FindingCode::InputInvalid,
            "an input file was truncated while it was read (rewritten in place by another program); run the check again",
            Utc::now(),
        );
        let rendered = render(&report, format, RenderOptions::default());
        (rendered.text.into_bytes(), rendered.exit_code)
    });
}

/// The text a panic was raised with.
pub fn panic_reason(info: &std::panic::PanicHookInfo<'_>) -> String {
    info.payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".into())
}

/// A panic becomes an UNKNOWN with a one-line reason instead of a backtrace.
pub fn install_panic_hook(format: OutputFormat) {
    std::panic::set_hook(Box::new(move |info| {
        let reason = panic_reason(info);
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
