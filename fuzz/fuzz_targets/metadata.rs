//! The Auth metadata document (`--metadata FILE`): any bytes -> `parse_metadata` -> the state
//! as `InputArgs::load_state` builds it -> judgement -> every renderer.
#![no_main]

mod common;

use exchange_authcert::model::{ExchangeState, PublishedMetadata};
use exchange_authcert::source::metadata::parse_metadata;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_metadata(data, "metadata.json") {
        Ok(record) => {
            let mut state = ExchangeState::default();
            state.published = Some(PublishedMetadata::from_record(record));
            state.adopt_published_auth_certificates();
            common::judge_and_render(&state);
        }
        Err(error) => {
            let message = error.to_string();
            common::one_line_error(&message);
            common::render_failure(&message);
        }
    }
});
