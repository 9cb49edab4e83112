//! DNS wire constants used by the protocol core (RFC 1035 section 4.1, RFC 6895).

/// Length of the fixed DNS header (RFC 1035 section 4.1.1).
pub const HEADER_BYTES: usize = 12;
/// Largest DNS message over TCP: the 2-byte length prefix caps it (RFC 1035 section 4.2.2).
pub const MESSAGE_BYTES_MAX: usize = 65535;
/// Longest name in wire format (RFC 1035 section 2.3.4).
pub const NAME_BYTES_MAX: usize = 255;
/// Longest question: a name plus QTYPE and QCLASS.
pub const QUESTION_BYTES_MAX: usize = NAME_BYTES_MAX + 4;

pub const FLAG_QR: u16 = 0x8000;
pub const FLAG_AA: u16 = 0x0400;
pub const FLAG_TC: u16 = 0x0200;
pub const FLAG_RD: u16 = 0x0100;
pub const FLAG_RA: u16 = 0x0080;
pub const FLAG_AD: u16 = 0x0020;
pub const FLAG_CD: u16 = 0x0010;
pub const OPCODE_MASK: u16 = 0x7800;
pub const OPCODE_SHIFT: u16 = 11;

pub const OPCODE_QUERY: u8 = 0;
/// NOTIFY (RFC 1996).
pub const OPCODE_NOTIFY: u8 = 4;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;
pub const RCODE_NOTAUTH: u8 = 9;
/// BADVERS (RFC 6891 section 6.1.3): an extended RCODE, 16, carried as 1 in the OPT record's
/// upper RCODE bits with 0 in the header.
pub const RCODE_BADVERS: u16 = 16;

pub const TYPE_SOA: u16 = 6;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_TSIG: u16 = 250;
pub const TYPE_IXFR: u16 = 251;
pub const TYPE_AXFR: u16 = 252;
pub const CLASS_IN: u16 = 1;
pub const CLASS_ANY: u16 = 255;

/// The UDP payload size xfrd advertises in the OPT records it returns (the DNS flag day 2020
/// value: fits an IPv6 minimum MTU without fragmentation).
pub const EDNS_UDP_PAYLOAD_BYTES: u16 = 1232;
/// The DO bit of the OPT record's flags (RFC 3225 section 3).
pub const EDNS_FLAG_DO: u16 = 0x8000;
/// The EDNS EXPIRE option (RFC 7314 section 2): empty in a query, a 32-bit count of seconds in
/// a response.
pub const EDNS_OPTION_EXPIRE: u16 = 9;
/// The EDNS Padding option (RFC 7830 section 3): zero octets that bring a message to a chosen
/// length.
pub const EDNS_OPTION_PADDING: u16 = 12;
/// The block length responses are padded to (RFC 8467 section 4.1, the recommended strategy:
/// responses to a multiple of 468 octets).
pub const PADDING_BLOCK_RESPONSES: usize = 468;
/// The largest block length a responder pads to: padding is at most one block less one byte,
/// taken from a static buffer of zeros this long.
pub const PADDING_BLOCK_MAX: usize = 4096;
/// Zero octets for padding options.
pub static PADDING_ZEROS: [u8; PADDING_BLOCK_MAX] = [0; PADDING_BLOCK_MAX];
/// Bytes of an option header (code, length).
pub const EDNS_OPTION_HEADER_BYTES: usize = 4;

pub fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

pub fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}
