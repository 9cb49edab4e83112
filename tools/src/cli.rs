//! The command lines of the xfr-tools binaries, one module each.

pub mod xfr_frontend;
pub mod xfr_zone;
