//! The `-t` deadline: a check still at work when it passes ends with UNKNOWN (exit 3) and the
//! reason (a PRTG error document for PRTG), in the `--output-file` when one is given, whatever
//! the check was doing at that moment.
//!
//! On Unix an interval timer raises SIGALRM, and its handler writes a document made when the
//! timer was set, then `_exit`s. A sleeping thread would take less code, but starting it was
//! 0.05-0.15 ms of the 1.4 ms a check on one PEM file takes (a 2 MiB stack, a malloc arena,
//! about 20 system calls), and that check runs every few minutes for every server. Windows has
//! no SIGALRM: there (and should the timer be refused) a thread sleeps, then fails the check.
//!
//! The document made in advance carries the start of the run as its time, not the moment the
//! deadline passed.

use std::time::Duration;

use super::guard;
use crate::judge::FindingCode;
use crate::render::OutputFormat;

/// Ends the process with UNKNOWN when the run takes longer than `timeout`.
///
/// When the system refuses both the timer and the thread (a monitoring agent's account limited to
/// a few processes), the check runs without a deadline rather than failing: its network inputs
/// keep deadlines of their own.
pub fn start(format: OutputFormat, timeout: Duration) {
    #[cfg(unix)]
    if alarm::start(format, timeout) {
        return;
    }
    start_thread(format, timeout);
}

fn reason(timeout: Duration) -> String {
    format!(
        "check did not finish within {} seconds (-t/--timeout)",
        timeout.as_secs_f64()
    )
}

fn start_thread(format: OutputFormat, timeout: Duration) {
    let _no_watchdog_when_refused =
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                std::thread::sleep(timeout);
                guard::fail(format, FindingCode::CheckTimeout, &reason(timeout))
            });
}

#[cfg(unix)]
mod alarm {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::OnceLock;
    use std::time::Duration;

    use chrono::Utc;

    use super::super::guard;
    use super::super::sole_document;
    use crate::judge::{FindingCode, Report};
    use crate::render::{OutputFormat, RenderOptions, render};

    /// Everything the handler writes, made before the timer is set.
    struct Prepared {
        /// The document for stdout; with an `--output-file`, what stdout gets when the file
        /// cannot be written.
        stdout: Vec<u8>,
        exit_code: i32,
        file: Option<PreparedFile>,
    }

    struct PreparedFile {
        temp: CString,
        path: CString,
        text: Vec<u8>,
        exit_code: i32,
    }

    static PREPARED: OnceLock<Prepared> = OnceLock::new();

    /// Sets the timer; false when it could not be set (the caller then starts a thread).
    pub fn start(format: OutputFormat, timeout: Duration) -> bool {
        let reason = super::reason(timeout);
        let report = Report::failure(FindingCode::CheckTimeout, reason.as_str(), Utc::now());
        let rendered = render(&report, format, RenderOptions::default());
        let exit_code = rendered.exit_code;
        let prepared = match guard::output_file() {
            None => Prepared {
                stdout: rendered.text.into_bytes(),
                exit_code,
                file: None,
            },
            Some((path, file_format)) => {
                let fallback = |why: &str| guard::output_file_failure(path, *file_format, why);
                let (file, failure) =
                    match prepare_file(path, rendered.text.into_bytes(), exit_code) {
                        Ok(file) => (
                            Some(file),
                            fallback(&format!("{reason}, and then it could not be written")),
                        ),
                        Err(why) => (None, fallback(&format!("{why} ({reason})"))),
                    };
                Prepared {
                    stdout: failure.text.into_bytes(),
                    exit_code: failure.exit_code,
                    file,
                }
            }
        };
        if PREPARED.set(prepared).is_err() {
            return true; // already running
        }
        // At least 1 us: a zero timer would never fire.
        let micros = timeout.as_micros().max(1);
        let interval = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: (micros / 1_000_000) as libc::time_t,
                tv_usec: (micros % 1_000_000) as libc::suseconds_t,
            },
        };
        // SAFETY: the handler only reads PREPARED, set above, and calls async-signal-safe
        // functions (open, write, fsync, close, rename, unlink, _exit). SA_RESTART: when the
        // run's own document is already being written the handler returns, and that write
        // must go on.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_alarm as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()) == 0
                && libc::setitimer(libc::ITIMER_REAL, &interval, std::ptr::null_mut()) == 0
        }
    }

    fn prepare_file(path: &Path, text: Vec<u8>, exit_code: i32) -> Result<PreparedFile, String> {
        let temp = guard::temp_file_beside(path)?;
        let c_path = |p: &Path| {
            CString::new(p.as_os_str().as_bytes()).map_err(|_| "a NUL byte in the path".to_string())
        };
        Ok(PreparedFile {
            temp: c_path(&temp)?,
            path: c_path(path)?,
            text,
            exit_code,
        })
    }

    extern "C" fn on_alarm(_signal: libc::c_int) {
        if !sole_document::claim() {
            return; // the run's own document is on its way out
        }
        if let Some(prepared) = PREPARED.get() {
            if let Some(file) = &prepared.file
                && write_file(file)
            {
                // SAFETY: async-signal-safe.
                unsafe { libc::_exit(file.exit_code) }
            }
            sole_document::write_all_to_fd(libc::STDOUT_FILENO, &prepared.stdout);
            // SAFETY: async-signal-safe.
            unsafe { libc::_exit(prepared.exit_code) }
        }
        // SAFETY: async-signal-safe.
        unsafe { libc::_exit(3) }
    }

    /// [`guard::write_atomically`] in system calls a signal handler may make.
    fn write_file(file: &PreparedFile) -> bool {
        // SAFETY: async-signal-safe calls on NUL-terminated paths made before the timer was set.
        unsafe {
            let fd = libc::open(
                file.temp.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
                0o666 as libc::c_uint,
            );
            if fd < 0 {
                return false;
            }
            let written = sole_document::write_all_to_fd(fd, &file.text) && libc::fsync(fd) == 0;
            let closed = libc::close(fd) == 0;
            if written && closed && libc::rename(file.temp.as_ptr(), file.path.as_ptr()) == 0 {
                return true;
            }
            libc::unlink(file.temp.as_ptr());
            false
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::process::Command;
    use std::time::Duration;

    use crate::render::OutputFormat;

    /// Set in the child process the test starts: the timer must not end the test run.
    const CHILD: &str = "EXCHANGE_AUTHCERT_WATCHDOG_TEST";

    #[test]
    fn the_alarm_is_silent_once_the_runs_own_document_is_on_its_way_out() {
        if std::env::var_os(CHILD).is_some() {
            assert!(crate::process::sole_document::claim());
            assert!(super::alarm::start(
                OutputFormat::Nagios,
                Duration::from_millis(1)
            ));
            // The alarm fires during this sleep and must leave the run alone.
            std::thread::sleep(Duration::from_millis(200));
            println!("the run's own document");
            std::process::exit(0);
        }
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "process::watchdog::tests::the_alarm_is_silent_once_the_runs_own_document_is_on_its_way_out",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "stdout: {stdout}");
        assert!(
            stdout.ends_with("the run's own document\n") && !stdout.contains("UNKNOWN"),
            "stdout: {stdout}"
        );
    }
}
