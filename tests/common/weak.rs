//! Auth Certificates with the weaknesses HealthChecker flags (an RSA key under 2048 bits, a
//! SHA-1 signature), which rcgen cannot make: ring signs with RSA keys of 2048 bits and more,
//! and never with SHA-1. rcgen lays out the certificate and asks [`RsaTestKey`] to sign; the
//! rsa crate signs. A SHA-1 certificate is made with SHA-256 and then re-signed: its two
//! algorithm identifiers are rewritten (the OIDs have the same length) and the new TBS signed.

use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha1::{Digest, Sha1};
use time::OffsetDateTime;

use super::{AUTH_CN, TestCert};

const SHA256_WITH_RSA: [u8; 11] = [6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11];
const SHA1_WITH_RSA: [u8; 11] = [6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 5];
/// DER DigestInfo prefixes of PKCS#1 v1.5 signatures (RFC 8017, section 9.2).
const SHA256_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 6, 9, 0x60, 0x86, 0x48, 1, 0x65, 3, 4, 2, 1, 5, 0, 4, 0x20,
];
const SHA1_INFO: [u8; 15] = [
    0x30, 0x21, 0x30, 0x09, 6, 5, 0x2b, 0x0e, 3, 2, 0x1a, 5, 0, 4, 0x14,
];

/// The digest a certificate is signed with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SignedWith {
    Sha256,
    Sha1,
}

struct RsaTestKey {
    key: RsaPrivateKey,
    public_pkcs1: Vec<u8>,
}

impl rcgen::PublicKeyData for RsaTestKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_pkcs1
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl rcgen::SigningKey for RsaTestKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(sign(&self.key, SignedWith::Sha256, message))
    }
}

fn sign(key: &RsaPrivateKey, digest: SignedWith, message: &[u8]) -> Vec<u8> {
    let mut info = Vec::new();
    match digest {
        SignedWith::Sha256 => {
            info.extend(SHA256_INFO);
            info.extend(ring::digest::digest(&ring::digest::SHA256, message).as_ref());
        }
        SignedWith::Sha1 => {
            info.extend(SHA1_INFO);
            info.extend(Sha1::digest(message));
        }
    }
    key.sign(Pkcs1v15Sign::new_unprefixed(), &info)
        .expect("PKCS#1 v1.5 signature")
}

/// An RSA key of `bits` made by openssl (fast at any size, and installed wherever the tests
/// run: the PFX tests use it too). `None` when openssl is missing.
fn openssl_rsa_key(bits: u32) -> Option<RsaPrivateKey> {
    let output = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
        .arg(format!("rsa_keygen_bits:{bits}"))
        .output()
        .ok()?;
    assert!(output.status.success(), "openssl genpkey failed");
    let pem = String::from_utf8(output.stdout).expect("PEM");
    Some(RsaPrivateKey::from_pkcs8_pem(&pem).expect("a PKCS#8 RSA key"))
}

/// A self-signed Auth Certificate with an RSA key of `bits`, signed with `digest`; `None`
/// when openssl is missing.
pub fn weak_auth_cert(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    bits: u32,
    digest: SignedWith,
) -> Option<TestCert> {
    let key = openssl_rsa_key(bits)?;
    let public_pkcs1 = key
        .to_public_key()
        .to_pkcs1_der()
        .expect("public key DER")
        .into_vec();
    let signer = RsaTestKey { key, public_pkcs1 };
    let params = super::params_for(AUTH_CN, not_before, not_after);
    let mut der = params
        .self_signed(&signer)
        .expect("RSA certificate")
        .der()
        .to_vec();
    if digest == SignedWith::Sha1 {
        resign_with_sha1(&mut der, &signer.key);
    }
    Some(TestCert::from_parts(
        AUTH_CN, not_before, not_after, der, params,
    ))
}

/// Rewrites both signature algorithm identifiers to sha1WithRSAEncryption and replaces the
/// signature with one over the rewritten TBS (same key, so the same length).
fn resign_with_sha1(der: &mut [u8], key: &RsaPrivateKey) {
    let mut rewritten = 0;
    let mut at = 0;
    while let Some(offset) = der[at..]
        .windows(SHA256_WITH_RSA.len())
        .position(|w| w == SHA256_WITH_RSA)
    {
        let start = at + offset;
        der[start..start + SHA1_WITH_RSA.len()].copy_from_slice(&SHA1_WITH_RSA);
        rewritten += 1;
        at = start + SHA1_WITH_RSA.len();
    }
    assert_eq!(rewritten, 2, "the TBS and the outer algorithm identifier");
    let (tbs_start, tbs_end) = tbs_range(der);
    let signature = sign(key, SignedWith::Sha1, &der[tbs_start..tbs_end]);
    let end = der.len();
    der[end - signature.len()..].copy_from_slice(&signature);
}

/// Where the TBSCertificate lies: the first element of the outer SEQUENCE, with its header.
fn tbs_range(der: &[u8]) -> (usize, usize) {
    let (_, outer_header) = length_at(der, 0);
    let tbs_start = outer_header;
    let (tbs_length, tbs_header) = length_at(der, tbs_start);
    (tbs_start, tbs_start + tbs_header + tbs_length)
}

/// The content length of the DER element at `at`, and its header's length.
fn length_at(der: &[u8], at: usize) -> (usize, usize) {
    let first = der[at + 1];
    if first < 0x80 {
        return (first as usize, 2);
    }
    let count = (first & 0x7f) as usize;
    let length = der[at + 2..at + 2 + count]
        .iter()
        .fold(0usize, |length, byte| (length << 8) | *byte as usize);
    (length, 2 + count)
}
