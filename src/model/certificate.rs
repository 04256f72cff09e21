//! The facts of one X.509 certificate, taken from its DER and nothing else.
//!
//! Exchange exports carry culture-formatted dates and names beside `RawData`; every fact here is
//! read from the DER so that two exports of the same certificate can never disagree.

use chrono::{DateTime, Utc};
use serde::Serialize;
use thiserror::Error;
use x509_parser::certificate::X509CertificateParser;
use x509_parser::der_parser::oid::Oid;
use x509_parser::nom::Parser;
use x509_parser::prelude::{X509Certificate, X509Name};
use x509_parser::public_key::PublicKey;

use crate::types::{Thumbprint, upper_hex};

/// The subject CN Exchange setup and `New-ExchangeCertificate` give the Auth Certificate.
pub const AUTH_CERTIFICATE_CN: &str = "Microsoft Exchange Server Auth Certificate";

#[derive(Debug, Error, PartialEq)]
pub enum CertificateError {
    #[error("not a DER X.509 certificate: {0}")]
    Malformed(String),
    #[error("{0} trailing bytes after the DER certificate")]
    TrailingBytes(usize),
    #[error("validity date outside what the tool can represent")]
    DateOutOfRange,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Certificate {
    pub thumbprint: Thumbprint,
    pub subject: String,
    pub issuer: String,
    /// Serial number in upper-case hex, as `certutil` and the certificate MMC show it.
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// Issuer equals subject and the signature verifies with the certificate's own key.
    pub self_signed: bool,
    pub key_algorithm: String,
    pub key_bits: Option<u32>,
    pub signature_algorithm: String,
    /// Subject CN is `Microsoft Exchange Server Auth Certificate`.
    pub is_exchange_auth: bool,
}

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Certificate, CertificateError> {
        Certificate::from_der_with_thumbprint(der, Thumbprint::of_der(der))
    }

    /// [`Certificate::from_der`] when the caller has just hashed the same bytes (the state
    /// builder hashes every record to find the certificates it already knows).
    pub(crate) fn from_der_with_thumbprint(
        der: &[u8],
        thumbprint: Thumbprint,
    ) -> Result<Certificate, CertificateError> {
        debug_assert_eq!(thumbprint, Thumbprint::of_der(der));
        // Extensions are read as a structure only: nothing here uses their contents, whose
        // parse errors x509-parser never makes fatal anyway, so what is accepted is the same.
        let (rest, x509) = X509CertificateParser::new()
            .with_deep_parse_extensions(false)
            .parse(der)
            .map_err(|e| CertificateError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertificateError::TrailingBytes(rest.len()));
        }
        let to_utc = |time: x509_parser::time::ASN1Time| {
            DateTime::<Utc>::from_timestamp(time.timestamp(), 0)
                .ok_or(CertificateError::DateOutOfRange)
        };
        let subject = name_text(x509.subject());
        let names_match = x509.subject().as_raw() == x509.issuer().as_raw();
        let issuer = if names_match {
            subject.clone()
        } else {
            name_text(x509.issuer())
        };
        let self_signed = names_match && x509.verify_signature(None).is_ok();
        let is_exchange_auth = x509
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .any(|cn| cn.eq_ignore_ascii_case(AUTH_CERTIFICATE_CN));
        let (key_algorithm, key_bits) = describe_key(&x509);
        Ok(Certificate {
            thumbprint,
            subject,
            issuer,
            serial: upper_hex(x509.raw_serial()),
            not_before: to_utc(x509.validity().not_before)?,
            not_after: to_utc(x509.validity().not_after)?,
            self_signed,
            key_algorithm,
            key_bits,
            signature_algorithm: algorithm_name(&x509.signature_algorithm.algorithm),
            is_exchange_auth,
        })
    }

    /// Whole days until NotAfter, rounded down: negative as soon as it has expired.
    pub fn days_left(&self, now: DateTime<Utc>) -> i64 {
        self.seconds_left(now).div_euclid(86_400)
    }

    pub fn seconds_left(&self, now: DateTime<Utc>) -> i64 {
        (self.not_after - now).num_seconds()
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now > self.not_after
    }

    pub fn is_not_yet_valid(&self, now: DateTime<Utc>) -> bool {
        now < self.not_before
    }
}

fn describe_key(x509: &X509Certificate<'_>) -> (String, Option<u32>) {
    let spki = x509.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA".into(), Some(significant_bits(rsa.modulus))),
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| algorithm_name(&oid))
                .unwrap_or_else(|| "unknown curve".into());
            (format!("EC {curve}"), Some(point.key_size() as u32))
        }
        Ok(PublicKey::DSA(y)) => ("DSA".into(), Some(significant_bits(y))),
        _ => (algorithm_name(&spki.algorithm.algorithm), None),
    }
}

/// Bits of a big-endian unsigned integer, ignoring leading zero bytes and bits.
fn significant_bits(bytes: &[u8]) -> u32 {
    let Some(first) = bytes.iter().position(|b| *b != 0) else {
        return 0;
    };
    let significant = &bytes[first..];
    significant.len() as u32 * 8 - significant[0].leading_zeros()
}

/// Names for the OIDs Exchange and Windows certificates actually use; anything else stays an OID.
/// Compared as OIDs, not as dotted text: formatting three OIDs per certificate showed in the
/// profile of a large organisation.
fn algorithm_name(oid: &Oid<'_>) -> String {
    use x509_parser::oid_registry as registry;
    let names = [
        (registry::OID_PKCS1_RSAENCRYPTION, "RSA"),
        (registry::OID_PKCS1_SHA1WITHRSA, "sha1WithRSAEncryption"),
        (registry::OID_PKCS1_SHA256WITHRSA, "sha256WithRSAEncryption"),
        (registry::OID_PKCS1_SHA384WITHRSA, "sha384WithRSAEncryption"),
        (registry::OID_PKCS1_SHA512WITHRSA, "sha512WithRSAEncryption"),
        (registry::OID_PKCS1_RSASSAPSS, "RSASSA-PSS"),
        (registry::OID_KEY_TYPE_EC_PUBLIC_KEY, "EC"),
        (registry::OID_SIG_ECDSA_WITH_SHA256, "ecdsa-with-SHA256"),
        (registry::OID_SIG_ECDSA_WITH_SHA384, "ecdsa-with-SHA384"),
        (registry::OID_SIG_ECDSA_WITH_SHA512, "ecdsa-with-SHA512"),
        (registry::OID_EC_P256, "P-256"),
        (registry::OID_NIST_EC_P384, "P-384"),
        (registry::OID_NIST_EC_P521, "P-521"),
        (registry::OID_SIG_ED25519, "Ed25519"),
    ];
    names
        .iter()
        .find(|(known, _)| known == oid)
        .map_or_else(|| oid.to_id_string(), |(_, name)| (*name).to_string())
}

/// A name exactly as x509-parser's `Display` writes it (`CN=…, O=…`: RDNs joined by ", ", the
/// attributes of one RDN by " + "). That `Display` builds x509-parser's whole OID registry on
/// first use, about a tenth of a certificate-file check's start-up. The names of Exchange's and
/// CAs' certificates use only the attribute types x509-parser abbreviates without the registry
/// (its `ABBREV_MAP`) with plain string values: those are written here; any other name goes to
/// `Display`.
fn name_text(name: &X509Name) -> String {
    abbreviated_name_text(name).unwrap_or_else(|| name.to_string())
}

/// `None` for a name with an attribute type outside x509-parser's abbreviations, or a value
/// that is not a plain (8-bit) string type holding UTF-8.
fn abbreviated_name_text(name: &X509Name) -> Option<String> {
    let mut text = String::new();
    for rdn in name.iter_rdn() {
        let mut rdn_text = String::new();
        for attribute in rdn.iter() {
            if !rdn_text.is_empty() {
                rdn_text.push_str(" + ");
            }
            rdn_text.push_str(abbreviation(attribute.attr_type())?);
            rdn_text.push('=');
            rdn_text.push_str(plain_string(attribute.attr_value())?);
        }
        // x509-parser's separators, also for an empty RDN.
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(&rdn_text);
    }
    Some(text)
}

/// x509-parser's `ABBREV_MAP` (objects.rs), which it consults before its registry.
fn abbreviation(oid: &Oid) -> Option<&'static str> {
    use x509_parser::oid_registry as registry;
    let abbreviations = [
        (registry::OID_X509_COMMON_NAME, "CN"),
        (registry::OID_X509_COUNTRY_NAME, "C"),
        (registry::OID_X509_LOCALITY_NAME, "L"),
        (registry::OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
        (registry::OID_X509_ORGANIZATION_NAME, "O"),
        (registry::OID_X509_ORGANIZATIONAL_UNIT, "OU"),
        (registry::OID_DOMAIN_COMPONENT, "DC"),
        (registry::OID_PKCS9_EMAIL_ADDRESS, "Email"),
    ];
    abbreviations
        .iter()
        .find(|(known, _)| known == oid)
        .map(|(_, abbreviation)| *abbreviation)
}

/// The string types x509-parser writes as their bytes read as UTF-8 (`attribute_value_to_string`
/// in its x509.rs); BMPString and non-string values are left to it.
fn plain_string<'a>(value: &'a x509_parser::der_parser::asn1_rs::Any) -> Option<&'a str> {
    use x509_parser::der_parser::asn1_rs::Tag;
    let plain = [
        Tag::NumericString,
        Tag::VisibleString,
        Tag::PrintableString,
        Tag::GeneralString,
        Tag::ObjectDescriptor,
        Tag::GraphicString,
        Tag::T61String,
        Tag::VideotexString,
        Tag::Utf8String,
        Tag::Ia5String,
    ];
    if !plain.contains(&value.tag()) {
        return None;
    }
    std::str::from_utf8(value.data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The subject of a certificate made with `attributes`, written both ways, and whether our
    /// own writer took it.
    fn both_ways(attributes: &[(rcgen::DnType, rcgen::DnValue)]) -> (String, String, bool) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in attributes {
            params.distinguished_name.push(kind.clone(), value.clone());
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let (_, x509) = X509CertificateParser::new().parse(&der).unwrap();
        let ours = abbreviated_name_text(x509.subject());
        (
            name_text(x509.subject()),
            x509.subject().to_string(),
            ours.is_some(),
        )
    }

    #[test]
    fn names_are_written_as_x509_parsers_display_writes_them() {
        use rcgen::{DnType, DnValue};
        let dc = || DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]);
        let email = || DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]);
        let utf8 = |s: &str| DnValue::Utf8String(s.into());
        let cases: Vec<(Vec<(DnType, DnValue)>, bool)> = vec![
            (vec![(DnType::CommonName, utf8("EXCH01"))], true),
            (
                vec![
                    (
                        DnType::CountryName,
                        DnValue::PrintableString("DE".try_into().unwrap()),
                    ),
                    (DnType::StateOrProvinceName, utf8("Bayern")),
                    (DnType::LocalityName, utf8("München")),
                    (DnType::OrganizationName, utf8("Contoso, Ltd")),
                    (DnType::OrganizationalUnitName, utf8("IT + Mail")),
                    (dc(), DnValue::Ia5String("contoso".try_into().unwrap())),
                    (
                        email(),
                        DnValue::Ia5String("admin@contoso.com".try_into().unwrap()),
                    ),
                    (
                        DnType::CommonName,
                        utf8("Microsoft Exchange Server Auth Certificate"),
                    ),
                ],
                true,
            ),
            (
                vec![(
                    DnType::CommonName,
                    DnValue::TeletexString("mail".try_into().unwrap()),
                )],
                true,
            ),
            // Left to x509-parser: a BMPString, an attribute type it names from its registry
            // (serialNumber), one it does not know at all.
            (
                vec![(
                    DnType::CommonName,
                    DnValue::BmpString("Łódź".try_into().unwrap()),
                )],
                false,
            ),
            (
                vec![
                    (DnType::CommonName, utf8("EXCH01")),
                    (DnType::CustomDnType(vec![2, 5, 4, 5]), utf8("1234")),
                ],
                false,
            ),
            (
                vec![(
                    DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 311, 99]),
                    utf8("x"),
                )],
                false,
            ),
        ];
        for (attributes, written_here) in cases {
            let (ours, theirs, taken) = both_ways(&attributes);
            assert_eq!(ours, theirs, "{attributes:?}");
            assert_eq!(taken, written_here, "{theirs}");
        }
    }

    /// A self-signed ECDSA certificate valid from 2024-01-01 for `days_valid` days.
    fn self_signed(cn: &str, days_valid: i64) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = params.not_before + time::Duration::days(days_valid);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_facts_of_an_auth_certificate() {
        let der = self_signed(AUTH_CERTIFICATE_CN, 5 * 365);
        let cert = Certificate::from_der(&der).unwrap();
        assert!(cert.is_exchange_auth);
        assert!(cert.self_signed);
        assert_eq!(cert.subject, format!("CN={AUTH_CERTIFICATE_CN}"));
        assert_eq!(cert.thumbprint.as_str().len(), 40);
        assert_eq!(cert.thumbprint, Thumbprint::of_der(&der));
        assert_eq!(
            cert.not_before,
            Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn days_left_rounds_down_and_goes_negative_once_expired() {
        let der = self_signed("host", 10);
        let cert = Certificate::from_der(&der).unwrap();
        let not_after = cert.not_after;
        assert_eq!(cert.days_left(not_after - chrono::Duration::days(3)), 3);
        assert_eq!(
            cert.days_left(not_after - chrono::Duration::days(3) + chrono::Duration::seconds(1)),
            2
        );
        assert_eq!(cert.days_left(not_after), 0);
        assert!(!cert.is_expired(not_after));
        assert_eq!(cert.days_left(not_after + chrono::Duration::seconds(1)), -1);
        assert!(cert.is_expired(not_after + chrono::Duration::seconds(1)));
    }

    #[test]
    fn rejects_garbage_and_trailing_bytes() {
        assert!(matches!(
            Certificate::from_der(b"not a certificate"),
            Err(CertificateError::Malformed(_))
        ));
        let mut der = self_signed("host", 10);
        der.extend_from_slice(&[0, 0]);
        assert_eq!(
            Certificate::from_der(&der),
            Err(CertificateError::TrailingBytes(2))
        );
    }

    #[test]
    fn counts_significant_bits() {
        assert_eq!(significant_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(significant_bits(&[0x01, 0xff]), 9);
        assert_eq!(significant_bits(&[0, 0]), 0);
    }
}
