//! Zone-file (RFC 1035 master file) parser. Being written; see the module contract in the brief.
