#![forbid(unsafe_code)]
//! Sans-IO protocol core (in progress).
