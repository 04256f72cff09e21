//! The Monitoring Plugins range parser: the first line is the warning range, the second the
//! critical one. A parsed range echoes its text and evaluates every value without panicking.
#![no_main]

use exchange_authcert::judge::{Range, Thresholds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (warning, critical) = text.split_once('\n').unwrap_or((&text, "30:"));
    for raw in [warning, critical] {
        if let Ok(range) = raw.parse::<Range>() {
            assert_eq!(range.to_string(), raw.trim());
            if let (Some(start), Some(end)) = (range.start, range.end) {
                assert!(start <= end);
            }
            for value in [f64::MIN, -1.0, 0.0, 0.5, 30.0, 60.0, 1e300, f64::MAX] {
                let _ = range.alerts(value);
            }
        }
    }
    if let Ok(thresholds) = Thresholds::parse(warning, critical) {
        for value in [-36500.0, -1.0, 0.0, 14.0, 30.0, 60.0, 36500.0] {
            let _ = thresholds.evaluate(value);
        }
    }
});
