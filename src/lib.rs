//! Monitoring and safe renewal of the Exchange Server Auth (OAuth) certificate and the servers'
//! self-signed certificates.
//!
//! The data flows one way, and the modules follow it:
//!
//! ```text
//! source (files, exports)  ->  model::ExchangeState  ->  judge::judge -> Report  ->  render
//!   bytes -> typed records      one model of the org      findings + metrics         one file per format
//! ```
//!
//! `types` holds the small types both ends of the first arrow share (`Thumbprint`). `cli` wires
//! command-line options to the flow, `process` makes every run end in exactly one document with
//! the right exit code (panics, `-t`, SIGBUS, closed streams), and the binaries in `src/bin`
//! stay thin.

pub mod cli;
pub mod judge;
pub mod model;
pub mod parallel;
pub mod process;
pub mod render;
pub mod renew;
pub mod source;
pub mod types;

/// Helpers the unit tests of several layers share.
#[cfg(test)]
pub(crate) mod test_support {
    /// A real self-signed ECDSA certificate with subject `CN=<cn>` and rcgen's default validity.
    pub fn self_signed_der(cn: &str) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }
}
