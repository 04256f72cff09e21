//! The collector's bundle: any bytes -> text decoding -> bundle validation -> state -> judgement
//! -> every renderer.
#![no_main]

mod common;

use exchange_authcert::model::ExchangeState;
use exchange_authcert::source::bundle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = common::text(data) else {
        return;
    };
    match bundle::parse_bundle(&text) {
        Ok(record) => {
            let mut state = ExchangeState::default();
            match state.add_bundle(record, "fuzz.json") {
                Ok(()) => common::judge_and_render(&state),
                Err(error) => common::render_failure(&error.to_string()),
            }
        }
        Err(error) => {
            common::one_line_error(&error);
            common::render_failure(&error);
        }
    }
});
