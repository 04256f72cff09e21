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
//! `cli` wires command-line options to that flow; the binaries in `src/bin` stay thin.

pub mod cli;
pub mod judge;
pub mod model;
pub mod render;
pub mod renew;
pub mod source;
