//! The whole check from bytes to every renderer, as `InputArgs::load_state` wires it but without
//! files: the input is a list of parts separated by `PART_SEPARATOR`, each starting with a tag
//! byte that says which option it stands for:
//!
//! - `B` `--bundle`, `A` `--authconfig`, `S` `--servers`;
//! - `C` `--certificates FILE`, `c` `--certificates EXCH01=FILE`;
//! - `X` `--cert FILE` without a password, `P` `--cert FILE` with the sample PFX password.
//!
//! A refused part ends the run with the failure report, as the binary does; otherwise the state
//! is judged with the default policy. Either way every output format is rendered and checked.
#![no_main]

mod common;

use exchange_authcert::model::{Certificate, ExchangeState, Sighting};
use exchange_authcert::source::{bundle, cert_file, exchange_exports};
use libfuzzer_sys::fuzz_target;

const PART_SEPARATOR: &[u8] = b"\n--8<--\n";
const MAX_PARTS: usize = 8;

fuzz_target!(|data: &[u8]| {
    let mut state = ExchangeState::default();
    for (index, part) in split(data).into_iter().take(MAX_PARTS).enumerate() {
        let Some((&tag, body)) = part.split_first() else {
            continue;
        };
        let origin = format!("part{index}");
        if let Err(error) = add(&mut state, tag, body, &origin) {
            common::one_line_error(&error);
            common::render_failure(&error);
            return;
        }
    }
    common::judge_and_render(&state);
});

fn add(state: &mut ExchangeState, tag: u8, body: &[u8], origin: &str) -> Result<(), String> {
    let text = || common::text(body).ok_or_else(|| "undecodable text".to_string());
    match tag {
        b'B' => {
            let record = bundle::parse_bundle(&text()?)?;
            state.add_bundle(record, origin).map_err(|e| e.to_string())
        }
        b'A' => {
            let values = exchange_exports::parse_export(&text()?)?;
            let record = exchange_exports::auth_config_from_values(&values)?;
            state
                .set_auth_config(record, origin)
                .map_err(|e| e.to_string())
        }
        b'S' => {
            let values = exchange_exports::parse_export(&text()?)?;
            state.add_server_list(exchange_exports::servers_from_values(&values)?);
            Ok(())
        }
        b'C' | b'c' => {
            let values = exchange_exports::parse_export(&text()?)?;
            let records = exchange_exports::certificates_from_values(&values)?;
            let server = (tag == b'c').then_some("EXCH01");
            state
                .add_certificate_export(server, records, origin)
                .map_err(|e| e.to_string())
        }
        b'X' | b'P' => {
            let password = (tag == b'P').then_some(common::SAMPLE_PFX_PASSWORD);
            let (_, ders) = cert_file::split_certificates(body, password)?;
            if ders.is_empty() {
                return Err("no certificate found".into());
            }
            for der in ders {
                let certificate = Certificate::from_der(&der).map_err(|e| e.to_string())?;
                state.add_certificate(certificate, Sighting::from_origin(origin));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest
        .windows(PART_SEPARATOR.len())
        .position(|window| window == PART_SEPARATOR)
    {
        parts.push(&rest[..at]);
        rest = &rest[at + PART_SEPARATOR.len()..];
    }
    parts.push(rest);
    parts
}
