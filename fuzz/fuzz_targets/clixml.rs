//! `Export-Clixml` documents: any bytes -> text decoding -> CliXml -> the three record readers.
#![no_main]

mod common;

use exchange_authcert::model::Certificate;
use exchange_authcert::source::{clixml, exchange_exports};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = common::text(data) else {
        return;
    };
    let _ = clixml::decode_escapes(&text);
    match clixml::parse(&text) {
        Ok(values) => records(&values),
        Err(error) => common::one_line_error(&error),
    }
});

fn records(values: &[exchange_authcert::source::psvalue::PsValue]) {
    if let Err(error) = exchange_exports::auth_config_from_values(values) {
        common::one_line_error(&error);
    }
    match exchange_exports::certificates_from_values(values) {
        Ok(records) => {
            for record in records {
                let _ = Certificate::from_der(&record.der);
            }
        }
        Err(error) => common::one_line_error(&error),
    }
    if let Err(error) = exchange_exports::servers_from_values(values) {
        common::one_line_error(&error);
    }
}
