//! A certificate's SHA-1, in the two spellings the inputs use: the thumbprint Windows shows
//! (40 upper-case hex digits) and the `x5t` of the Auth metadata document (base64url).

use base64::Engine;
use serde::Serialize;
use sha1::{Digest, Sha1};

/// A SHA-1 thumbprint as Windows shows it: 40 upper-case hex digits.
///
/// Kept inline (no heap): a large organisation looks thousands of certificates up by it, and
/// every sighting, finding and report carries one.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Thumbprint([u8; 40]);

/// The first 16 digits (64 bits of a SHA-1) tell thumbprints apart as well as all 40, and
/// hashing fewer bytes matters where thousands are looked up. Equal thumbprints hash equal.
impl std::hash::Hash for Thumbprint {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(&self.0[..16]);
    }
}

impl Thumbprint {
    pub fn of_der(der: &[u8]) -> Thumbprint {
        let digest = Sha1::digest(der);
        let mut digits = [0u8; 40];
        for (pair, byte) in digits.chunks_exact_mut(2).zip(digest.iter()) {
            pair.copy_from_slice(&hex_pair(*byte));
        }
        Thumbprint(digits)
    }

    /// Accepts what admins paste: any case, spaces or colons between bytes.
    pub fn parse(text: &str) -> Option<Thumbprint> {
        let mut digits = [0u8; 40];
        let mut count = 0;
        for c in text.chars().filter(|c| !c.is_whitespace() && *c != ':') {
            if !c.is_ascii_hexdigit() || count == digits.len() {
                return None;
            }
            digits[count] = c.to_ascii_uppercase() as u8;
            count += 1;
        }
        (count == digits.len()).then_some(Thumbprint(digits))
    }

    pub fn as_str(&self) -> &str {
        // Both constructors write ASCII hex digits only, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The first eight digits: enough to tell certificates apart in labels and summaries.
    pub fn short(&self) -> &str {
        &self.as_str()[..8]
    }
}

impl std::fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Thumbprint").field(&self.as_str()).finish()
    }
}

impl Serialize for Thumbprint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A byte as two upper-case hex digits.
fn hex_pair(byte: u8) -> [u8; 2] {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    [
        DIGITS[usize::from(byte >> 4)],
        DIGITS[usize::from(byte & 0x0F)],
    ]
}

/// Upper-case hex without `fmt`: a large organisation has tens of thousands of thumbprints,
/// and `{:02X}` per byte was a visible share of a 500-server check.
pub(crate) fn upper_hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.extend(hex_pair(*byte).map(char::from));
    }
    text
}

/// `x5t` as Exchange computes it: base64url of the SHA-1 of the DER, no padding.
pub fn x5t_of(der: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha1::digest(der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_parse_accepts_admin_spellings() {
        let t = Thumbprint::parse("e1:bd f9ae58c93c75e76c9dd882138fb8ff0fa786").unwrap();
        assert_eq!(t.as_str(), "E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786");
        assert!(Thumbprint::parse("E1BD").is_none());
        assert!(Thumbprint::parse("Z1BDF9AE58C93C75E76C9DD882138FB8FF0FA786").is_none());
    }

    #[test]
    fn x5t_is_base64url_without_padding() {
        // SHA-1 of the empty string, base64url without padding.
        assert_eq!(x5t_of(b""), "2jmj7l5rSw0yVb_vlWAYkK_YBwk");
    }
}
