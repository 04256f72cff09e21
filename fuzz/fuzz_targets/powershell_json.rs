//! `ConvertTo-Json` documents: any bytes -> text decoding -> PowerShell JSON -> the three record readers.
#![no_main]

mod common;

use exchange_authcert::model::Certificate;
use exchange_authcert::source::{exchange_exports, powershell_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = common::text(data) else {
        return;
    };
    match powershell_json::parse(&text) {
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
