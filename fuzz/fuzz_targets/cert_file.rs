//! Certificate files (PEM, base64, DER, PKCS#12): the first byte chooses the PFX password (none,
//! empty, the sample's), the rest is the file. Every certificate found is parsed, judged and
//! rendered.
#![no_main]

mod common;

use exchange_authcert::model::{Certificate, ExchangeState, Sighting};
use exchange_authcert::source::cert_file::split_certificates;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let password = match selector % 3 {
        0 => None,
        1 => Some(""),
        _ => Some(common::SAMPLE_PFX_PASSWORD),
    };
    let ders = match split_certificates(file, password) {
        Ok((_, ders)) => ders,
        Err(error) => {
            common::one_line_error(&error);
            return;
        }
    };
    let mut state = ExchangeState::default();
    for der in &ders {
        match Certificate::from_der(der) {
            Ok(certificate) => {
                state.add_certificate(certificate, Sighting::from_origin("fuzz.pem"));
            }
            Err(error) => common::one_line_error(&error.to_string()),
        }
    }
    common::judge_and_render(&state);
});
