//! xfr-tools: the command-line tools of xfrd (`xfr-zone`, `xfr-frontend`, in `src/bin/`).
//!
//! The library holds only their command lines ([`cli`]), so that `xfr-dist` (dist/) generates
//! man pages and shell completions from the very definitions the binaries parse.

pub mod cli;
