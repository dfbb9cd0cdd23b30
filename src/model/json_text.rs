//! Pieces of JSON text reading shared by the hand-written readers of the hot paths (the
//! PutTraceSegments body, segment documents). Each reader accepts only the shapes it expects
//! and answers `None` for anything else, leaving the decision to serde_json; so these pieces
//! never need to explain an error, only to recognise what is plainly valid.

/// A position in JSON text.
pub struct Cursor<'a> {
    pub src: &'a [u8],
    pub at: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        Cursor { src, at: 0 }
    }

    pub fn skip_ws(&mut self) {
        while self
            .src
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace, left unread.
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.src.get(self.at).copied()
    }

    pub fn next_byte(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    pub fn eat(&mut self, want: u8) -> Option<()> {
        (self.next_byte()? == want).then_some(())
    }

    pub fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.skip_ws();
        self.src[self.at..].starts_with(word).then(|| {
            self.at += word.len();
        })
    }

    /// Whether only whitespace is left.
    pub fn end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// How many bytes from `at` on come before one that ends a string's plain run.
    pub fn plain_run(&self) -> usize {
        let (src, start) = (self.src, self.at);
        let mut i = start;
        while let Some(chunk) = src.get(i..i + 8) {
            let plain = plain_bytes(chunk);
            i += plain;
            if plain < 8 {
                return i - start;
            }
        }
        i += src[i..]
            .iter()
            .position(|&b| ends_run(b))
            .unwrap_or(src.len() - i);
        i - start
    }

    /// Where a number's text is, checked against JSON's grammar (what follows it is the caller's to
    /// check: `01` reads as `0`, and the `1` after it is no separator).
    pub fn number(&mut self) -> Option<std::ops::Range<usize>> {
        self.skip_ws();
        let (src, start) = (self.src, self.at);
        let digits = |mut i: usize| {
            while src.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let mut i = start + usize::from(src.get(start) == Some(&b'-'));
        match src.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits(i + 1),
            _ => return None,
        }
        if src.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return None;
            }
            i = end;
        }
        if matches!(src.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(src.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return None;
            }
            i = end;
        }
        self.at = i;
        Some(start..i)
    }
}

/// A byte that ends a plain run in a JSON string: the closing quote, an escape, or a control
/// byte (which JSON does not allow there).
pub fn ends_run(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// How many of the eight bytes come before the first that ends a run, without a branch per
/// byte: a lane of `zero(x)` has its high bit set where `x` has a zero byte (exact up to the
/// first one, which is all that is read).
pub fn plain_bytes(chunk: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let v = u64::from_le_bytes(chunk.try_into().unwrap_or([b'"'; 8]));
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let hits = zero(v ^ (ONES * b'"' as u64))
        | zero(v ^ (ONES * b'\\' as u64))
        | (v.wrapping_sub(ONES * 0x20) & !v & HIGH);
    (hits.trailing_zeros() / 8) as usize
}

/// The character an escape stands for (`src` starts after the backslash) and the bytes it
/// took; `None` for an invalid escape, including an unpaired surrogate.
pub fn unescape(src: &[u8]) -> Option<(char, usize)> {
    let c = match *src.first()? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let hi = hex4(src.get(1..5)?)?;
            if !(0xD800..0xDC00).contains(&hi) {
                return Some((char::from_u32(hi)?, 5));
            }
            if src.get(5..7)? != b"\\u" {
                return None;
            }
            let lo = hex4(src.get(7..11)?)?;
            if !(0xDC00..0xE000).contains(&lo) {
                return None;
            }
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            return Some((char::from_u32(c)?, 11));
        }
        _ => return None,
    };
    Some((c, 1))
}

fn hex4(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc << 4 | (d as char).to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_json_grammar() {
        for (text, read) in [
            ("0", Some("0")),
            ("-0", Some("-0")),
            ("12.5e-3,", Some("12.5e-3")),
            ("1E+9}", Some("1E+9")),
            (" 1700000000.123456", Some("1700000000.123456")),
            ("01", Some("0")),
            ("-", None),
            ("+1", None),
            (".5", None),
            ("1.", None),
            ("1e", None),
            ("1e+", None),
            ("-a", None),
        ] {
            let mut c = Cursor::new(text.as_bytes());
            assert_eq!(c.number().map(|r| &text[r]), read, "{text}");
        }
    }

    #[test]
    fn a_plain_run_stops_at_a_quote_an_escape_or_a_control_byte() {
        for (text, run) in [
            ("abc\"", 3),
            ("abcdefghijkl\\n", 12),
            ("abcdefgh\u{1}", 8),
            ("", 0),
            ("abcdefghijklmnopq", 17),
        ] {
            assert_eq!(Cursor::new(text.as_bytes()).plain_run(), run, "{text:?}");
        }
    }
}
