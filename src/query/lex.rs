//! Tokens of the filter language, each with the byte offset where it starts.
//!
//! Words join dotted parts (`http.status`, `annotation.gameid`, `rootcause.fault.entity`);
//! strings are double-quoted with `\"` and `\\` escapes; `#[ ... ]` carries the raw JSON of a
//! `rootcause.json` pattern.

use super::Error;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    /// The text of a `#[ ... ]` JSON array, brackets included (without the `#`).
    Json(String),
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Bang,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("'{w}'"),
            Tok::Str(s) => format!("the string \"{s}\""),
            Tok::Num(n) => format!("the number {n}"),
            Tok::Json(_) => "a #[...] pattern".into(),
            other => format!("'{}'", other.symbol()),
        }
    }

    pub fn symbol(&self) -> &'static str {
        match self {
            Tok::Eq => "=",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Bang => "!",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Colon => ":",
            _ => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
    pub end: usize,
}

fn word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

pub fn lex(src: &str) -> Result<Vec<Token>, Error> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let simple = |t: Tok, len: usize| (t, len);
        let (tok, len) = match c {
            b'=' if b.get(i + 1) == Some(&b'=') => simple(Tok::Eq, 2),
            b'=' => simple(Tok::Eq, 1),
            b'!' if b.get(i + 1) == Some(&b'=') => simple(Tok::Ne, 2),
            b'!' => simple(Tok::Bang, 1),
            b'<' if b.get(i + 1) == Some(&b'=') => simple(Tok::Le, 2),
            b'<' => simple(Tok::Lt, 1),
            b'>' if b.get(i + 1) == Some(&b'=') => simple(Tok::Ge, 2),
            b'>' => simple(Tok::Gt, 1),
            b'(' => simple(Tok::LParen, 1),
            b')' => simple(Tok::RParen, 1),
            b'{' => simple(Tok::LBrace, 1),
            b'}' => simple(Tok::RBrace, 1),
            b'[' => simple(Tok::LBracket, 1),
            b']' => simple(Tok::RBracket, 1),
            b',' => simple(Tok::Comma, 1),
            b':' => simple(Tok::Colon, 1),
            b'"' => {
                let (s, len) = string(src, i)?;
                (Tok::Str(s), len)
            }
            b'#' if b.get(i + 1) == Some(&b'[') => {
                let len =
                    json_array(b, i + 1).ok_or_else(|| Error::new(i, "unterminated #[ pattern"))?;
                (Tok::Json(src[i + 1..i + 1 + len].to_owned()), len + 1)
            }
            b'0'..=b'9' | b'-' | b'.' if number_at(b, i) => {
                let mut j = i + 1;
                while j < b.len()
                    && (b[j].is_ascii_digit()
                        || b[j] == b'.'
                        || b[j] == b'e'
                        || b[j] == b'E'
                        || ((b[j] == b'-' || b[j] == b'+') && matches!(b[j - 1], b'e' | b'E')))
                {
                    j += 1;
                }
                let text = &src[i..j];
                let n: f64 = text
                    .parse()
                    .map_err(|_| Error::new(i, format!("'{text}' is not a number")))?;
                (Tok::Num(n), j - i)
            }
            c if word_start(c) => {
                let mut j = i + 1;
                loop {
                    while j < b.len() && word_char(b[j]) {
                        j += 1;
                    }
                    // A dot joins the next part when a word character follows it.
                    if j + 1 < b.len() && b[j] == b'.' && word_char(b[j + 1]) {
                        j += 1;
                        continue;
                    }
                    break;
                }
                (Tok::Word(src[i..j].to_owned()), j - i)
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(Error::new(i, format!("unexpected character {ch:?}")));
            }
        };
        i += len;
        out.push(Token {
            tok,
            pos: start,
            end: i,
        });
    }
    Ok(out)
}

fn number_at(b: &[u8], i: usize) -> bool {
    match b[i] {
        b'0'..=b'9' => true,
        b'-' | b'.' => b.get(i + 1).is_some_and(|c| {
            c.is_ascii_digit() || (*c == b'.' && b.get(i + 2).is_some_and(u8::is_ascii_digit))
        }),
        _ => false,
    }
}

/// A double-quoted string starting at `i`; returns its value and its length in bytes.
fn string(src: &str, i: usize) -> Result<(String, usize), Error> {
    let mut out = String::new();
    let mut chars = src[i + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, off + 2)),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((eo, e)) => {
                    return Err(Error::new(
                        i + 1 + eo,
                        format!("unknown escape '\\{e}' in a string"),
                    ));
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(Error::new(i, "unterminated string"))
}

/// Length of the JSON array starting with `[` at `i`, brackets balanced outside strings.
fn json_array(b: &[u8], i: usize) -> Option<usize> {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for (off, &c) in b[i..].iter().enumerate() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(off + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn dotted_words_numbers_strings_and_operators() {
        assert_eq!(
            toks(r#"http.status>=500 AND annotation.x != "a\"b" -1.5"#),
            vec![
                Tok::Word("http.status".into()),
                Tok::Ge,
                Tok::Num(500.0),
                Tok::Word("AND".into()),
                Tok::Word("annotation.x".into()),
                Tok::Ne,
                Tok::Str("a\"b".into()),
                Tok::Num(-1.5),
            ]
        );
    }

    #[test]
    fn json_patterns_are_captured_whole() {
        let t = toks(r#"rootcause.json = #[{"Services":[{"Name":"a]"}]}]"#);
        assert_eq!(t[2], Tok::Json(r#"[{"Services":[{"Name":"a]"}]}]"#.into()));
    }

    #[test]
    fn positions_point_at_the_problem() {
        assert_eq!(
            lex(r#"user = "abc"#).unwrap_err(),
            Error::new(7, "unterminated string")
        );
        assert_eq!(lex("ok & fault").unwrap_err().pos, 3);
    }
}
