//! The check's start on Linux, without Rust's runtime set-up.
//!
//! Before `main`, Rust's standard library prepares the process for programs that may overflow
//! their stack: to place the main thread's guard-page handler it reads and parses
//! `/proc/self/maps`. That set-up was 0.18 ms of the 1.4 ms a check on one PEM file took
//! (BENCHMARKS.md, fifth round), and the check is spawned every few minutes for every server. So
//! the check binary starts at the C entry point on Linux and does itself the two parts of that
//! set-up a plugin needs ([`prepare_process`]). What it leaves out: a stack overflow ends the
//! process with SIGSEGV instead of a message and SIGABRT; neither reaches the monitoring system
//! as a document, and the parsers bound their nesting so that input cannot overflow the stack.
//! Windows and other systems start through Rust's `main` as usual.

use std::ffi::{CStr, c_char, c_int};

/// What Rust's runtime would have done that a plugin relies on:
///
/// - standard streams closed by the caller are opened on `/dev/null`, so that a file the check
///   opens (an `--output-file`'s temp file) never becomes stdout;
/// - SIGPIPE is ignored: when the reader of stdout has gone, writing fails instead of killing
///   the check, which then ends with its exit code.
pub fn prepare_process() {
    let mut streams = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll(2) on a local array; open(2) of a constant path; signal(2) with SIG_IGN.
    unsafe {
        if libc::poll(streams.as_mut_ptr(), streams.len() as libc::nfds_t, 0) >= 0 {
            for stream in &streams {
                if stream.revents & libc::POLLNVAL != 0 {
                    // The lowest free descriptor: the closed stream's.
                    libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                }
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// The command line as the C entry point receives it, each argument as text (bytes that are not
/// UTF-8 replaced, so that a bad path is reported as a file that cannot be read).
///
/// # Safety
/// `argv` must point to `argc` NUL-terminated strings, as the C runtime passes them to `main`.
pub unsafe fn arguments(argc: c_int, argv: *const *const c_char) -> Vec<String> {
    (0..usize::try_from(argc).unwrap_or(0))
        .map(|i| {
            // SAFETY: the caller's promise.
            let argument = unsafe { CStr::from_ptr(*argv.add(i)) };
            argument.to_string_lossy().into_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    #[test]
    fn arguments_are_read_as_the_c_runtime_passes_them() {
        let owned = [
            CString::new("check_exchange_authcert").unwrap(),
            CString::new("--cert").unwrap(),
            CString::new(b"bad-\xff-name.pem".to_vec()).unwrap(),
        ];
        let pointers: Vec<_> = owned.iter().map(|a| a.as_ptr()).collect();
        // SAFETY: three NUL-terminated strings that outlive the call.
        let arguments = unsafe { super::arguments(3, pointers.as_ptr()) };
        assert_eq!(
            arguments,
            ["check_exchange_authcert", "--cert", "bad-\u{fffd}-name.pem"]
        );
    }
}
