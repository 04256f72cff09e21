//! Large input files mapped into memory instead of read (Unix only).
//!
//! Reading a 12 MB bundle copied it from the page cache into fresh memory: 10-13 ms on the
//! benchmark VM, the largest part of a 500-server check that runs on one core. A mapping shares
//! the page cache's pages and costs about 1.5 ms.
//!
//! The price of a mapping: when another program truncates the file while the check reads it,
//! touching the lost pages raises SIGBUS, which would kill the check without a word. So a file
//! is mapped only once the program has a SIGBUS handler that prints a document and exits with
//! its code ([`allow_mapping`]; the check's is `crate::process::sigbus`). Without one (the
//! library in tests or fuzzing) files are read. Windows never maps: a mapped file cannot be
//! replaced there, and the collector replaces its bundle.

use std::sync::OnceLock;

/// Set by [`allow_mapping`]; unset, files are read.
static ARM_SIGBUS_HANDLER: OnceLock<fn() -> bool> = OnceLock::new();

/// Files from this size up are mapped: below it, reading costs no more than mapping.
pub const MAP_FROM_BYTES: u64 = 1024 * 1024;

/// Allows mapping large input files. `arm` is called before every mapping and installs, on its
/// first call, the handler that ends the process with a document when a mapped file shrinks
/// while it is read; it answers false when there is none, and the file is read instead. The
/// handler is process machinery ([`crate::process`]), which hands it in here: the sources never
/// import the layers above them.
pub fn allow_mapping(arm: fn() -> bool) {
    let _ = ARM_SIGBUS_HANDLER.set(arm);
}

/// The file's first `len` bytes, mapped; `None` when mapping is not allowed or fails (the
/// caller then reads the file).
#[cfg(unix)]
pub fn map(file: &std::fs::File, len: u64) -> Option<memmap2::Mmap> {
    if len < MAP_FROM_BYTES || !ARM_SIGBUS_HANDLER.get().is_some_and(|arm| arm()) {
        return None;
    }
    let len = usize::try_from(len).ok()?;
    // SAFETY: the mapping is read-only and private. Another program can still change or
    // truncate the file under it: a change shows up as changed text (which the parsers handle
    // like any other text), a truncation as SIGBUS, which the armed handler turns into the
    // prepared report before anything reads the lost pages.
    unsafe {
        memmap2::MmapOptions::new()
            .len(len)
            .populate()
            .map(file)
            .ok()
    }
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn small_files_and_files_without_a_report_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.json");
        std::fs::write(&small, b"{}").unwrap();
        let bytes = crate::source::read_input_file(&small).unwrap();
        assert!(matches!(bytes, crate::source::InputBytes::Read(_)));
        assert_eq!(&*bytes, b"{}");
    }
}
