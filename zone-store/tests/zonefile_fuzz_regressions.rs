//! Inputs the fuzz targets (fuzz/) found to break the parser, kept as tests.

use std::path::Path;

use zone_store::zonefile::{parse_str, ParseOptions};
use zone_store::Name;

fn parse(text: &str) -> Result<usize, String> {
    let opts = ParseOptions::new(Name::parse("example.com.", None).unwrap());
    parse_str(text, Path::new("fuzz.zone"), &opts)
        .map(|z| z.records.len())
        .map_err(|e| e.to_string())
}

const HEAD: &str = "$TTL 1h\n@ IN SOA ns hm 1 2 3 4 5\n@ IN NS ns\nns IN A 192.0.2.1\n";

/// A line of bare parentheses (at the start of a line, so read as an entry with an owner) holds
/// no tokens: named-checkzone loads such a zone and reads nothing there; so do we.
#[test]
fn a_line_of_bare_parentheses_is_nothing() {
    for line in ["( \t)\n", "()\n", "(\n)\n", "( ; comment\n )\n"] {
        assert_eq!(parse(&format!("{HEAD}{line}")), Ok(3), "line {line:?}");
    }
    // Alone, it is a zone without an SOA: an error, not a panic.
    assert!(parse("( \t)").is_err());
}
