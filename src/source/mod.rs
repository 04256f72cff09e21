//! Inputs: bytes from files (and later endpoints) turned into typed records. No judgement here.
//!
//! Every failure is a [`SourceError`] that names the input and says what is wrong with it in one
//! line, because it becomes the UNKNOWN text a monitoring admin reads.

pub mod bundle;
pub mod cert_file;
pub mod clixml;
pub mod exchange_exports;
pub mod http;
pub mod ldap;
pub mod mapped;
pub mod metadata;
pub mod powershell_json;
pub mod probe;
pub mod psvalue;
pub mod records;
pub mod text_encoding;
pub mod tls;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use thiserror::Error;

/// Larger inputs are refused: real exports are kilobytes, a bundle of 500 servers a few MB.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

impl SourceError {
    pub fn invalid(path: &Path, reason: impl Into<String>) -> SourceError {
        SourceError::Invalid {
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }

    fn unreadable(path: &Path, reason: impl Into<String>) -> SourceError {
        SourceError::Unreadable {
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }
}

/// An input file's bytes: read, or mapped when large ([`mapped`]).
#[derive(Debug)]
pub enum InputBytes {
    Read(Vec<u8>),
    #[cfg(unix)]
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for InputBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            InputBytes::Read(bytes) => bytes,
            #[cfg(unix)]
            InputBytes::Mapped(map) => map,
        }
    }
}

/// Reads a whole input file, refusing what cannot be a file export: directories and FIFOs
/// (opening a FIFO would block the check until the timeout), and anything over the size cap.
pub fn read_input_file(path: &Path) -> Result<InputBytes, SourceError> {
    let metadata =
        std::fs::metadata(path).map_err(|e| SourceError::unreadable(path, io_reason(&e)))?;
    if metadata.is_dir() {
        return Err(SourceError::unreadable(path, "is a directory, not a file"));
    }
    if !metadata.is_file() {
        return Err(SourceError::unreadable(
            path,
            "is not a regular file (device, FIFO or socket)",
        ));
    }
    if metadata.len() > MAX_INPUT_BYTES {
        return Err(too_large(path));
    }
    let file = File::open(path).map_err(|e| SourceError::unreadable(path, io_reason(&e)))?;
    // Large files are mapped, at the size of the file opened (it may have changed since the
    // path was looked at); small ones are read without asking again.
    #[cfg(unix)]
    if metadata.len() >= mapped::MAP_FROM_BYTES
        && let Some(map) = file
            .metadata()
            .ok()
            .filter(|opened| opened.is_file() && opened.len() <= MAX_INPUT_BYTES)
            .and_then(|opened| mapped::map(&file, opened.len()))
    {
        return Ok(InputBytes::Mapped(map));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SourceError::unreadable(path, io_reason(&e)))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_large(path));
    }
    if bytes.is_empty() {
        return Err(SourceError::invalid(path, "file is empty"));
    }
    Ok(InputBytes::Read(bytes))
}

/// Reader errors quote the document, and a malformed one can put anything there (a CliXml
/// entity "name" with a line break, `&\rD;`, was found by fuzzing). Line breaks and tabs become
/// spaces, other control characters U+FFFD, so that every error is one line.
pub(crate) fn one_line(message: &str) -> String {
    message
        .chars()
        .map(|c| match c {
            '\r' | '\n' | '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

fn too_large(path: &Path) -> SourceError {
    SourceError::unreadable(
        path,
        format!(
            "larger than {} MiB, not an Exchange export",
            MAX_INPUT_BYTES / 1024 / 1024
        ),
    )
}

/// The OS message without the "(os error N)" suffix, which means nothing to an admin.
fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let text = error.to_string();
            match text.find(" (os error") {
                Some(cut) => text[..cut].to_string(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_directories_missing_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_input_file(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("is a directory, not a file"), "{err}");

        let missing = dir.path().join("missing.pem");
        let err = read_input_file(&missing).unwrap_err().to_string();
        assert!(err.ends_with("no such file"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, b"").unwrap();
        let err = read_input_file(&empty).unwrap_err().to_string();
        assert!(err.ends_with("file is empty"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_fifo_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let err = read_input_file(&fifo).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
