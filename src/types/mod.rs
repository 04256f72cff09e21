//! Small types that the inputs (`source`) and the model of the organisation (`model`) share.
//!
//! A leaf: it imports neither of them, so that the readers can name a certificate by its
//! thumbprint without knowing the model, and the model never reaches into a reader for a
//! helper.

mod thumbprint;

pub(crate) use thumbprint::upper_hex;
pub use thumbprint::{Thumbprint, x5t_of};
