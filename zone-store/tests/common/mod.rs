//! Helpers shared by the zone-store integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The named-checkzone binary (PATH, then /usr/sbin and /sbin), or `None`: the caller skips
/// its BIND cross-check after a loud message. Under CI=true a missing one fails the test.
pub fn named_checkzone() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join("named-checkzone"))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("named-checkzone is not installed and CI=true: install bind9-utils");
        }
        eprintln!(
            "\n!!! SKIPPED: named-checkzone not found; the BIND cross-check is not run !!!\n"
        );
    }
    found
}
