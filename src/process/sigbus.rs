//! The SIGBUS handler that lets the sources map large input files ([`crate::source::mapped`]).
//!
//! When another program truncates a mapped file while the check reads it, touching the lost
//! pages raises SIGBUS, which would kill the check without a word. The handler prints a document
//! made before the first mapping and exits with its code instead; it is installed with that
//! first mapping, so that a check on small files never pays for it.

use std::sync::OnceLock;

/// What a SIGBUS prints and the exit code it ends with: made once, before the first mapping.
type ShrunkReport = (Vec<u8>, i32);

static REPORT_MAKER: OnceLock<Box<dyn Fn() -> ShrunkReport + Send + Sync>> = OnceLock::new();

/// Allows mapping large input files. `report` makes the document (and exit code) that ends the
/// process when a mapped file shrinks while it is read; it runs once, before the first mapping,
/// so that a check on small files never pays for it.
pub fn report_shrunk_inputs_with(report: impl Fn() -> ShrunkReport + Send + Sync + 'static) {
    let _ = REPORT_MAKER.set(Box::new(report));
    #[cfg(unix)]
    crate::source::mapped::allow_mapping(handler::arm);
}

#[cfg(unix)]
mod handler {
    use std::sync::OnceLock;

    use super::super::sole_document;

    static REPORT: OnceLock<super::ShrunkReport> = OnceLock::new();
    static ARMED: OnceLock<bool> = OnceLock::new();

    /// Prepares the report and installs the handler, once; false when mapping is not allowed.
    pub fn arm() -> bool {
        *ARMED.get_or_init(|| {
            let Some(maker) = super::REPORT_MAKER.get() else {
                return false;
            };
            let _ = REPORT.set(maker());
            // SAFETY: a plain handler that only reads statics set before it is installed and
            // calls async-signal-safe functions (write, _exit, pause).
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) == 0
            }
        })
    }

    extern "C" fn on_sigbus(_signal: libc::c_int) {
        // Another thread (faulting on the same lost page, or the watchdog) is already writing
        // its document: wait for it to end the process. Returning would fault again.
        if !sole_document::claim() {
            loop {
                // SAFETY: async-signal-safe.
                unsafe { libc::pause() };
            }
        }
        let (text, code) = match REPORT.get() {
            Some((text, code)) => (text.as_slice(), *code),
            None => (&[][..], 3),
        };
        sole_document::write_all_to_fd(libc::STDOUT_FILENO, text);
        // SAFETY: async-signal-safe; nothing else may run after a lost page was touched.
        unsafe { libc::_exit(code) }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::process::Command;

    /// Set in the child process that [`a_file_truncated_under_the_check_ends_in_the_report`]
    /// starts: the SIGBUS ends that process, not the test run.
    const CHILD: &str = "EXCHANGE_AUTHCERT_MAPPED_TEST_FILE";

    #[test]
    fn a_file_truncated_under_the_check_ends_in_the_report() {
        if let Ok(path) = std::env::var(CHILD) {
            super::report_shrunk_inputs_with(|| (b"UNKNOWN - truncated\n".to_vec(), 3));
            let bytes = crate::source::read_input_file(std::path::Path::new(&path)).unwrap();
            assert!(matches!(bytes, crate::source::InputBytes::Mapped(_)));
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(0)
                .unwrap();
            // The last page is gone now: touching it raises SIGBUS.
            let last = bytes[bytes.len() - 1];
            panic!("read {last} from a truncated mapping");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle.json");
        std::fs::write(
            &path,
            vec![b' '; 2 * crate::source::mapped::MAP_FROM_BYTES as usize],
        )
        .unwrap();
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "process::sigbus::tests::a_file_truncated_under_the_check_ends_in_the_report",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(3), "stdout: {stdout}");
        assert!(
            stdout.ends_with("UNKNOWN - truncated\n"),
            "stdout: {stdout}"
        );
    }
}
