//! Command-line options shared by the binaries, and the glue from options to the flow, split
//! as ripgrep splits its flags: the clap definitions stay close to the command line ([`args`]);
//! what the options mean is built once parsing is done:
//!
//! - [`policy`]: options -> the judge's [`Policy`](crate::judge::Policy), the instant, `-t`
//! - [`inputs`]: options -> sources -> [`ExchangeState`](crate::model::ExchangeState)
//! - [`network`]: the `--metadata` and `--tls` fetches, their deadline and trust
//! - [`prescan`]: the output format and file, read before clap so that its errors are
//!   documents too

pub mod args;
pub mod inputs;
pub mod network;
pub mod policy;
pub mod prescan;

pub use args::{CheckArgs, InputArgs, StateOption, ThresholdArgs};
pub use inputs::InputError;
pub use policy::parse_timeout;
pub use prescan::{output_file_in, output_format_in};

/// An option that cannot be used: the run ends UNKNOWN with this text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OptionError(pub String);
