//! One document per run. The run's result, a failure, the panic hook, the `-t` watchdog and the
//! report of a file truncated under its mapping can each end the process; whichever claims the
//! output first writes its document and exits, the others write nothing. The last two run in
//! signal handlers, so claiming is a single atomic swap and the writing here is `write(2)` alone.

use std::sync::atomic::{AtomicBool, Ordering};

static CLAIMED: AtomicBool = AtomicBool::new(false);

/// True for the first caller of the process only. Async-signal-safe.
pub fn claim() -> bool {
    !CLAIMED.swap(true, Ordering::SeqCst)
}

/// Writes all of `bytes` to `fd` with `write(2)` alone, for signal handlers; false when the
/// descriptor refused them.
#[cfg(unix)]
pub fn write_all_to_fd(fd: libc::c_int, bytes: &[u8]) -> bool {
    let mut written = 0;
    while written < bytes.len() {
        // SAFETY: write(2) on a slice that outlives the call; async-signal-safe.
        let n = unsafe { libc::write(fd, bytes[written..].as_ptr().cast(), bytes.len() - written) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return false;
        }
        written += n as usize;
    }
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_first_claim_wins() {
        // The process-wide flag: this is the only test that claims it.
        assert!(super::claim());
        assert!(!super::claim());
    }
}
