//! Byte-level tokenizer for master files (RFC 1035 section 5.1).
//!
//! It cuts the text into *entries* (a directive or a resource record: one line, or several
//! joined by parentheses) and each entry into tokens. Tokens are byte ranges of the text; escapes
//! stay as written and are decoded by whoever reads the token, so no token allocates.
//!
//! Rules, as BIND applies them:
//! - `;` starts a comment that runs to the end of the line, except inside quotes.
//! - `(` and `)` delimit tokens; a newline inside parentheses is plain white space.
//! - A quoted string may not contain a newline ("unbalanced quotes" in BIND). A `"` also ends an
//!   unquoted token and starts a new quoted one (`foo"bar"` is two tokens).
//! - A backslash escapes the next byte wherever it appears (`\(`, `\;`, `\"`, `\ `).

/// One token: `text[start..end]`; for a quoted string the range excludes the quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tok {
    pub start: u32,
    pub end: u32,
    /// Line (1-based) on which the token starts.
    pub line: u32,
    /// Was written in double quotes.
    pub quoted: bool,
    /// Follows the previous token with no white space in between (`alpn="h2"`).
    pub joined: bool,
}

/// What kind of entry a line starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A `$` directive; the first token is the directive name.
    Directive,
    /// A record whose first token is its owner.
    Owned,
    /// A record that starts with white space: the owner is the previous one.
    Blank,
}

/// An entry's location; its tokens are in the vector passed to [`Lexer::next_entry`].
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub kind: EntryKind,
    /// Line on which the entry starts.
    pub line: u32,
    /// Byte offset of the entry's first byte in the text.
    pub offset: usize,
}

/// A lexical error: message and the line it was found on.
#[derive(Debug)]
pub struct LexError {
    pub line: u32,
    pub message: &'static str,
}

/// Bytes that end an unquoted token or need a look: white space, `;`, `(`, `)`, `"`, `\\`.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let special = b" \t\r\n;()\"\\";
    let mut i = 0;
    while i < special.len() {
        t[special[i] as usize] = true;
        i += 1;
    }
    t
};

/// Bytes that need a look inside a quoted string: `"`, `\\` and newline.
static QUOTED_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

pub struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
    line: u32,
}

impl<'a> Lexer<'a> {
    /// A lexer over `text`, whose first byte is on line `first_line`.
    pub fn new(text: &'a [u8], first_line: u32) -> Lexer<'a> {
        Lexer {
            text,
            pos: 0,
            line: first_line,
        }
    }

    /// The line the lexer is on (after the last entry it returned).
    pub fn line(&self) -> u32 {
        self.line
    }

    /// Reads the next entry's tokens into `toks` (cleared first). `None` at the end of the text.
    pub fn next_entry(&mut self, toks: &mut Vec<Tok>) -> Result<Option<Entry>, LexError> {
        toks.clear();
        let text = self.text;
        // Skip lines that are empty or hold only white space and comments.
        loop {
            if self.pos >= text.len() {
                return Ok(None);
            }
            let line_start = self.pos;
            let mut p = self.pos;
            while p < text.len() && matches!(text[p], b' ' | b'\t' | b'\r') {
                p += 1;
            }
            if p >= text.len() {
                self.pos = p;
                return Ok(None);
            }
            match text[p] {
                b'\n' => {
                    self.pos = p + 1;
                    self.line += 1;
                }
                b';' => {
                    while p < text.len() && text[p] != b'\n' {
                        p += 1;
                    }
                    self.pos = p;
                }
                _ => {
                    let kind = if p > line_start {
                        EntryKind::Blank
                    } else if text[p] == b'$' {
                        EntryKind::Directive
                    } else {
                        EntryKind::Owned
                    };
                    let entry = Entry {
                        kind,
                        line: self.line,
                        offset: line_start,
                    };
                    self.pos = p;
                    self.read_tokens(toks, entry.line)?;
                    return Ok(Some(entry));
                }
            }
        }
    }

    /// Reads tokens until a newline outside parentheses (consumed) or the end of the text.
    fn read_tokens(&mut self, toks: &mut Vec<Tok>, entry_line: u32) -> Result<(), LexError> {
        let text = self.text;
        let len = text.len();
        let mut depth = 0u32;
        let mut joined = false;
        let mut p = self.pos;
        loop {
            if p >= len {
                self.pos = p;
                if depth > 0 {
                    return Err(LexError {
                        line: entry_line,
                        message: "unterminated parenthesis (end of file inside '(')",
                    });
                }
                return Ok(());
            }
            let c = text[p];
            match c {
                b' ' | b'\t' | b'\r' => {
                    p += 1;
                    joined = false;
                }
                b'\n' => {
                    p += 1;
                    self.line += 1;
                    joined = false;
                    if depth == 0 {
                        self.pos = p;
                        return Ok(());
                    }
                }
                b';' => {
                    while p < len && text[p] != b'\n' {
                        p += 1;
                    }
                    joined = false;
                }
                b'(' => {
                    depth += 1;
                    p += 1;
                    joined = false;
                }
                b')' => {
                    if depth == 0 {
                        return Err(LexError {
                            line: self.line,
                            message: "')' without matching '('",
                        });
                    }
                    depth -= 1;
                    p += 1;
                    joined = false;
                }
                b'"' => {
                    let start = p + 1;
                    let mut q = start;
                    loop {
                        while q < len && !QUOTED_SPECIAL[text[q] as usize] {
                            q += 1;
                        }
                        if q >= len || text[q] == b'\n' {
                            return Err(LexError {
                                line: self.line,
                                message:
                                    "unterminated quoted string (missing '\"' before end of line)",
                            });
                        }
                        match text[q] {
                            b'"' => break,
                            b'\\' if text.get(q + 1) == Some(&b'\n') => {
                                return Err(LexError {
                                    line: self.line,
                                    message:
                                        "unterminated quoted string (backslash before end of line)",
                                });
                            }
                            b'\\' => q += 2,
                            _ => q += 1,
                        }
                    }
                    toks.push(Tok {
                        start: start as u32,
                        end: q as u32,
                        line: self.line,
                        quoted: true,
                        joined,
                    });
                    p = q + 1;
                    joined = true;
                }
                _ => {
                    let start = p;
                    while p < len {
                        // Plain bytes are by far the most common: skip them by table.
                        while p < len && !SPECIAL[text[p] as usize] {
                            p += 1;
                        }
                        if p >= len {
                            break;
                        }
                        match text[p] {
                            b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                            b'\\' => {
                                p += 1;
                                if p < len && text[p] == b'\n' {
                                    return Err(LexError {
                                        line: self.line,
                                        message: "backslash at end of line",
                                    });
                                }
                                p += 1;
                            }
                            _ => p += 1,
                        }
                    }
                    let end = p.min(len);
                    toks.push(Tok {
                        start: start as u32,
                        end: end as u32,
                        line: self.line,
                        quoted: false,
                        joined,
                    });
                    p = end;
                    joined = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(text: &str) -> Vec<(EntryKind, Vec<(String, bool)>)> {
        let mut lx = Lexer::new(text.as_bytes(), 1);
        let mut toks = Vec::new();
        let mut out = Vec::new();
        while let Some(e) = lx.next_entry(&mut toks).unwrap() {
            out.push((
                e.kind,
                toks.iter()
                    .map(|t| (text[t.start as usize..t.end as usize].to_string(), t.quoted))
                    .collect(),
            ));
        }
        out
    }

    #[test]
    fn parentheses_quotes_and_comments() {
        let got = lex("a IN TXT ( \"x; y\" ; c\n  \"(z)\" )\n\n; only\n  A 1.2.3.4\n$TTL 1\n");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, EntryKind::Owned);
        assert_eq!(
            got[0].1,
            vec![
                ("a".into(), false),
                ("IN".into(), false),
                ("TXT".into(), false),
                ("x; y".into(), true),
                ("(z)".into(), true)
            ]
        );
        assert_eq!(got[1].0, EntryKind::Blank);
        assert_eq!(got[2].0, EntryKind::Directive);
    }

    #[test]
    fn escapes_stay_in_tokens() {
        let got = lex("a\\ b TXT \"q\\\"\" c\\;d foo\"bar\"\n");
        let toks: Vec<_> = got[0].1.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(toks, ["a\\ b", "TXT", "q\\\"", "c\\;d", "foo", "bar"]);
    }

    #[test]
    fn errors_name_lines() {
        let mut toks = Vec::new();
        let mut lx = Lexer::new(b"a A 1\nb TXT ( x\n\n", 1);
        lx.next_entry(&mut toks).unwrap();
        assert_eq!(lx.next_entry(&mut toks).unwrap_err().line, 2);
        let mut lx = Lexer::new(b"\n\nb TXT \"x\n", 1);
        assert_eq!(lx.next_entry(&mut toks).unwrap_err().line, 3);
    }
}
