//! Certificate files: PEM (any number of blocks, CRLF, other PEM blocks beside them), bare
//! base64, DER and PKCS#12. The format is read from the content, never from the extension:
//! Windows users name DER and base64 files `.cer` alike.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::text_encoding::TextEncoding;
use super::{SourceError, read_input_file};

/// How the certificates were stored, for messages and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertFileFormat {
    Pem,
    Base64,
    Der,
    Pkcs12,
}

/// Reads every certificate in `path`, as DER: the model reads their facts. `pfx_password` is
/// used for PKCS#12 only; without one the empty password is tried, which is what a PFX exported
/// with no password uses.
pub fn read_certificate_file(
    path: &Path,
    pfx_password: Option<&str>,
) -> Result<(CertFileFormat, Vec<Vec<u8>>), SourceError> {
    let bytes = read_input_file(path)?;
    let (format, ders) = split_certificates(&bytes, pfx_password)
        .map_err(|reason| SourceError::invalid(path, reason))?;
    if ders.is_empty() {
        let what = match format {
            CertFileFormat::Pem => "PEM file holds no CERTIFICATE block",
            CertFileFormat::Pkcs12 => "PKCS#12 file holds no certificate",
            CertFileFormat::Base64 | CertFileFormat::Der => "no certificate found",
        };
        return Err(SourceError::invalid(path, what));
    }
    Ok((format, ders))
}

/// Splits a file's bytes into DER certificates, detecting the format by content.
pub fn split_certificates(
    bytes: &[u8],
    pfx_password: Option<&str>,
) -> Result<(CertFileFormat, Vec<Vec<u8>>), String> {
    if looks_like_pkcs12(bytes) {
        return read_pkcs12(bytes, pfx_password.unwrap_or(""))
            .map(|ders| (CertFileFormat::Pkcs12, ders));
    }
    if bytes.first() == Some(&0x30) {
        return Ok((CertFileFormat::Der, vec![bytes.to_vec()]));
    }
    // Windows PowerShell 5.1 writes `>` and Out-File as UTF-16LE: PEM and base64 arrive so too.
    let text = match super::text_encoding::decode_text(bytes) {
        Ok((TextEncoding::Windows1252, _)) | Err(_) => {
            return Err("neither DER, PKCS#12 nor PEM text (binary data)".into());
        }
        Ok((_, text)) => text,
    };
    let text: &str = &text;
    if text.contains("-----BEGIN ") {
        return read_pem(text).map(|ders| (CertFileFormat::Pem, ders));
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err("file holds only white space".into());
    }
    match STANDARD.decode(compact.as_bytes()) {
        Ok(der) if der.first() == Some(&0x30) => Ok((CertFileFormat::Base64, vec![der])),
        _ => Err("neither DER, PKCS#12, PEM nor base64 text".into()),
    }
}

/// A PFX is a SEQUENCE whose first element is INTEGER 3; a certificate's is another SEQUENCE.
fn looks_like_pkcs12(bytes: &[u8]) -> bool {
    if bytes.first() != Some(&0x30) || bytes.len() < 2 {
        return false;
    }
    let header_len = match bytes[1] {
        length if length < 0x80 => 2,
        0x81 => 3,
        0x82 => 4,
        0x83 => 5,
        0x84 => 6,
        _ => return false,
    };
    bytes.get(header_len..header_len + 3) == Some(&[0x02, 0x01, 0x03][..])
}

fn read_pkcs12(bytes: &[u8], password: &str) -> Result<Vec<Vec<u8>>, String> {
    let archive =
        p12_keystore::Pkcs12Archive::from_pkcs12(bytes, password).map_err(|e| match e {
            p12_keystore::error::Error::MacError(_) => {
                if password.is_empty() {
                    "PKCS#12 file needs a password (--pfx-password-env or --pfx-password-file)"
                        .into()
                } else {
                    "wrong PKCS#12 password (integrity check failed)".into()
                }
            }
            // Without a MAC, a wrong password only shows as a decryption that fails.
            p12_keystore::error::Error::Pkcs5Error(_) | p12_keystore::error::Error::UnpadError => {
                "wrong PKCS#12 password (decryption failed)".into()
            }
            other => format!("unreadable PKCS#12 file: {other}"),
        })?;
    Ok(archive
        .certs
        .into_iter()
        .map(|bag| bag.cert.as_der().to_vec())
        .collect())
}

/// Reads CERTIFICATE blocks and skips every other PEM block (keys, CSRs, CRLs).
fn read_pem(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut ders = Vec::new();
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN ") {
        let after_begin = &rest[begin + "-----BEGIN ".len()..];
        let label_end = after_begin
            .find("-----")
            .ok_or("PEM BEGIN line is not terminated")?;
        let label = &after_begin[..label_end];
        // The label ends on its BEGIN line; else the "label" would be the file's content.
        if label.contains(['\r', '\n']) || label.len() > 64 {
            return Err("PEM BEGIN line is not terminated".into());
        }
        let body_start = &after_begin[label_end + "-----".len()..];
        let end_marker = format!("-----END {label}-----");
        let body_len = body_start
            .find(&end_marker)
            .ok_or_else(|| format!("PEM block '{label}' has no END line"))?;
        let body = &body_start[..body_len];
        rest = &body_start[body_len + end_marker.len()..];
        if !matches!(
            label,
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE"
        ) {
            continue;
        }
        // Headers (RFC 1421 "Key: value") may precede the base64; they never hold certificates.
        let base64: String = body
            .lines()
            .filter(|line| !line.contains(':'))
            .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
            .collect();
        let der = STANDARD.decode(base64.as_bytes()).map_err(|e| {
            format!(
                "PEM certificate {} is not valid base64: {e}",
                ders.len() + 1
            )
        })?;
        ders.push(der);
    }
    Ok(ders)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der_of(cn: &str) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn pem_of(der: &[u8], line_end: &str) -> String {
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----{line_end}{}{line_end}-----END CERTIFICATE-----{line_end}",
            lines.join(line_end)
        )
    }

    #[test]
    fn pem_with_several_blocks_crlf_and_a_key_block() {
        let (a, b) = (der_of("a"), der_of("b"));
        let text = format!(
            "subject=CN=a\r\n{}-----BEGIN PRIVATE KEY-----\r\nAAAA\r\n-----END PRIVATE KEY-----\r\n{}",
            pem_of(&a, "\r\n"),
            pem_of(&b, "\r\n")
        );
        let (format, ders) = split_certificates(text.as_bytes(), None).unwrap();
        assert_eq!(format, CertFileFormat::Pem);
        assert_eq!(ders, vec![a, b]);
    }

    #[test]
    fn der_and_bare_base64_are_detected_by_content() {
        let der = der_of("a");
        assert_eq!(
            split_certificates(&der, None).unwrap(),
            (CertFileFormat::Der, vec![der.clone()])
        );
        let base64 = format!("\u{feff}{}\r\n", STANDARD.encode(&der));
        assert_eq!(
            split_certificates(base64.as_bytes(), None).unwrap(),
            (CertFileFormat::Base64, vec![der])
        );
    }

    #[test]
    fn pem_without_certificate_is_empty_and_garbage_is_refused() {
        let key_only = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            split_certificates(key_only.as_bytes(), None)
                .unwrap()
                .1
                .len(),
            0
        );
        assert!(split_certificates(&[0xff, 0xfe, 0x00, 0x01], None).is_err());
        assert!(split_certificates(b"hello world", None).is_err());
        assert!(split_certificates(b"-----BEGIN CERTIFICATE-----\nAAA", None).is_err());
    }

    /// Found by fuzzing: a mangled BEGIN line made the whole file the block's label, and the
    /// error message quoted it.
    #[test]
    fn a_begin_line_without_its_dashes_is_refused_in_one_short_line() {
        let text = "-----BEGIN CERTIFIC\nMIIB\n-----END CERTIFICATE-----\n";
        let err = split_certificates(text.as_bytes(), None).unwrap_err();
        assert_eq!(err, "PEM BEGIN line is not terminated");
        let long = format!("-----BEGIN {}-----\n", "A".repeat(65));
        let err = split_certificates(long.as_bytes(), None).unwrap_err();
        assert_eq!(err, "PEM BEGIN line is not terminated");
    }

    #[test]
    fn pkcs12_header_detection() {
        assert!(looks_like_pkcs12(&[
            0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03
        ]));
        assert!(!looks_like_pkcs12(&[0x30, 0x82, 0x01, 0x00, 0x30, 0x82]));
        assert!(!looks_like_pkcs12(&[0x30]));
    }
}
