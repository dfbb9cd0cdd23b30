//! The document list of a PutTraceSegments body.
//!
//! Every document arrives as a JSON string inside the request's JSON, each of its quotes
//! escaped, so a general parser stops at every other token of it; reading these strings was a
//! tenth of the cost of a call. Bodies shaped as every SDK and the CLI send them (an object
//! whose one member is `TraceSegmentDocuments`, an array of strings) are read here in one pass
//! per string; anything else, and anything this reader does not accept, goes to serde_json,
//! which gives the same documents or the error a client should see.

use crate::model::json_text::{Cursor, ends_run, plain_bytes, unescape};
use serde::Deserialize;

#[derive(Deserialize)]
struct PutRequest {
    #[serde(rename = "TraceSegmentDocuments")]
    docs: Option<Vec<String>>,
}

/// The documents of a body, unescaped one after another into one text.
#[derive(Debug, Default, PartialEq)]
pub struct Documents {
    text: String,
    /// Where each document ends in `text`.
    ends: Vec<usize>,
}

impl Documents {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| &self.text[a..b])
    }

    fn from_strings(docs: Vec<String>) -> Documents {
        let mut out = Documents::default();
        for d in docs {
            out.text.push_str(&d);
            out.ends.push(out.text.len());
        }
        out
    }
}

/// The documents of `body`; `None` when the member is absent or null.
pub fn documents(body: &[u8]) -> Result<Option<Documents>, serde_json::Error> {
    if let Some(docs) = Reader::new(body).put_request() {
        return Ok(docs);
    }
    serde_json::from_slice::<PutRequest>(body).map(|r| r.docs.map(Documents::from_strings))
}

struct Reader<'a> {
    c: Cursor<'a>,
    /// The strings read so far, unescaped, in the first `written` bytes: never longer than
    /// the body, so sized as the body once.
    text: Vec<u8>,
    written: usize,
}

impl<'a> Reader<'a> {
    fn new(src: &'a [u8]) -> Self {
        Reader {
            c: Cursor::new(src),
            text: vec![0; src.len()],
            written: 0,
        }
    }

    /// `None` for anything but the plain shape (the caller then parses it in full).
    fn put_request(mut self) -> Option<Option<Documents>> {
        self.c.eat(b'{')?;
        if self.c.peek()? == b'}' {
            self.c.at += 1;
            return self.c.end().then_some(None);
        }
        let key = self.string()?;
        if &self.text[key] != b"TraceSegmentDocuments" {
            return None;
        }
        self.written = 0;
        self.c.eat(b':')?;
        let ends = if self.c.peek()? == b'n' {
            self.c.literal(b"null")?;
            None
        } else {
            Some(self.strings()?)
        };
        self.c.eat(b'}')?;
        if !self.c.end() {
            return None;
        }
        let Some(ends) = ends else {
            return Some(None);
        };
        // Whole strings were copied between ASCII delimiters and escapes were written as
        // characters, so the text is valid exactly when the body's strings were.
        self.text.truncate(self.written);
        let text = String::from_utf8(self.text).ok()?;
        Some(Some(Documents { text, ends }))
    }

    /// The strings of an array, one after another in `text`; where each ends.
    fn strings(&mut self) -> Option<Vec<usize>> {
        self.c.eat(b'[')?;
        let mut ends = Vec::new();
        if self.c.peek()? == b']' {
            self.c.at += 1;
            return Some(ends);
        }
        loop {
            ends.push(self.string()?.end);
            match self.c.next_byte()? {
                b',' => continue,
                b']' => return Some(ends),
                _ => return None,
            }
        }
    }

    /// A JSON string, unescaped onto `text`; where it is there.
    ///
    /// Eight bytes at a time: each chunk is copied whole before looking for the first byte
    /// that ends the run (a quote, a backslash or a control byte), and the write position
    /// moves only past the plain ones. Runs between a document's escaped quotes are short,
    /// and copying each with its own `memcpy` cost more than scanning it.
    fn string(&mut self) -> Option<std::ops::Range<usize>> {
        self.c.eat(b'"')?;
        let (src, out) = (self.c.src, &mut self.text);
        let (mut i, begin) = (self.c.at, self.written);
        let mut w = begin;
        loop {
            // `w` never passes `i` (unescaping only shortens) and `out` is as long as `src`,
            // so wherever eight bytes can be read, eight can be written.
            if let Some(chunk) = src.get(i..i + 8) {
                out[w..w + 8].copy_from_slice(chunk);
                let plain = plain_bytes(chunk);
                (i, w) = (i + plain, w + plain);
                if plain == 8 {
                    continue;
                }
            } else {
                let plain = src[i..]
                    .iter()
                    .position(|&b| ends_run(b))
                    .unwrap_or(src.len() - i);
                out[w..w + plain].copy_from_slice(&src[i..i + plain]);
                (i, w) = (i + plain, w + plain);
            }
            match *src.get(i)? {
                b'"' => break,
                b'\\' if src.get(i + 1) == Some(&b'"') => {
                    out[w] = b'"';
                    (i, w) = (i + 2, w + 1);
                }
                b'\\' => {
                    let (c, used) = unescape(&src[i + 1..])?;
                    let bytes = c.len_utf8();
                    c.encode_utf8(&mut out[w..w + bytes]);
                    (i, w) = (i + 1 + used, w + bytes);
                }
                _ => return None,
            }
        }
        self.c.at = i + 1;
        self.written = w;
        Some(begin..w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Read = Option<Option<Vec<String>>>;

    fn strings(docs: Option<Documents>) -> Option<Vec<String>> {
        docs.map(|d| d.iter().map(str::to_owned).collect())
    }

    /// What this reader and serde_json read of `body`.
    fn both(body: &str) -> (Read, Read) {
        let fast = Reader::new(body.as_bytes()).put_request().map(strings);
        let full = serde_json::from_slice::<PutRequest>(body.as_bytes())
            .ok()
            .map(|r| r.docs);
        (fast, full)
    }

    #[test]
    fn the_plain_shape_reads_as_serde_json_reads_it() {
        let doc = r#"{"name":"a\"b","x":"\\ \/ \b\f\n\r\t é \u00e9 \ud83d\ude00 \u20ac"}"#;
        for body in [
            serde_json::json!({ "TraceSegmentDocuments": [doc, "", "plain"] }).to_string(),
            format!(
                " {{ \"TraceSegmentDocuments\" :\n[ {} , \"x\" ] }} \n",
                serde_json::to_string(doc).unwrap()
            ),
            r#"{"TraceSegmentDocuments":[]}"#.into(),
            r#"{"TraceSegmentDocuments":null}"#.into(),
            "{}".into(),
        ] {
            let (fast, full) = both(&body);
            assert!(fast.is_some(), "{body}");
            assert_eq!(fast, full, "{body}");
        }
    }

    #[test]
    fn anything_else_is_left_to_serde_json() {
        for body in [
            r#"{"Other":1,"TraceSegmentDocuments":["a"]}"#,
            r#"{"TraceSegmentDocuments":["a"],"Other":1}"#,
            r#"{"TraceSegmentDocuments":[1]}"#,
            r#"{"TraceSegmentDocuments":"a"}"#,
            r#"{"TraceSegmentDocuments":["a\x"]}"#,
            r#"{"TraceSegmentDocuments":["\ud800"]}"#,
            r#"{"TraceSegmentDocuments":["\ud800\u0041"]}"#,
            "{\"TraceSegmentDocuments\":[\"a\u{1}\"]}",
            r#"{"TraceSegmentDocuments":["a"]} x"#,
            r#"{"TraceSegmentDocuments":["a""#,
            r#"{"TraceSegmentDocuments":["a",]}"#,
        ] {
            assert_eq!(Reader::new(body.as_bytes()).put_request(), None, "{body}");
            assert_eq!(
                documents(body.as_bytes()).ok().map(strings),
                serde_json::from_str::<PutRequest>(body)
                    .ok()
                    .map(|r| r.docs),
                "{body}"
            );
        }
        // An escaped key is still the member.
        let body = br#"{"Trace\u0053egmentDocuments":["a"]}"#;
        assert_eq!(
            strings(documents(body).unwrap()),
            Some(vec!["a".to_owned()])
        );
        assert!(Reader::new(body).put_request().is_some());
        assert!(documents(br#"{"TraceSegmentDocuments":["\ud800"]}"#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_strings_read_back_as_written(docs: Vec<String>) {
            let body = serde_json::json!({ "TraceSegmentDocuments": docs }).to_string();
            let read = Reader::new(body.as_bytes()).put_request().map(strings);
            proptest::prop_assert_eq!(read, Some(Some(docs)));
        }
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let mut body = br#"{"TraceSegmentDocuments":[""#.to_vec();
        body.extend_from_slice(&[0xff, b'"', b']', b'}']);
        assert_eq!(Reader::new(&body).put_request(), None);
        assert!(documents(&body).is_err());
    }
}
