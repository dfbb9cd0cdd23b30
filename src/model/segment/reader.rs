//! Segment documents read straight into an [`Entity`], without serde's visitors: parsing
//! through the derived readers was the largest part of ingest after the network, a visit and
//! an `Option` wrapper per field for documents whose every field is a plain scalar.
//!
//! Only documents as SDKs and exporters write them are read here: strings where strings are
//! expected, numbers for times and statuses, objects for the typed blocks. Anything else (a
//! field twice, a number where a string is expected, an escaped key, lone surrogates, deep
//! nesting) answers `None`, and the caller parses with serde, which gives the same entity or
//! the error the client should see. The unit tests hold both readers to the same answers.

use super::{
    AnnotationValue, Annotations, Aws, AwsEc2, AwsEcs, Cause, CauseDetails, Entity, Exception,
    Http, HttpRequest, HttpResponse, Link,
};
use crate::model::json_text::{Cursor, unescape};
use std::borrow::Cow;

/// Deeper nesting goes to serde_json, which has its own limit (128).
const MAX_DEPTH: u32 = 64;

/// The entity of a document that starts with `{`; `None` where serde must decide.
pub fn read(doc: &str) -> Option<Entity<'_>> {
    let mut r = Reader {
        text: doc,
        c: Cursor::new(doc.as_bytes()),
        depth: 0,
    };
    let mut e = Entity::default();
    r.entity(&mut e)?;
    r.c.end().then_some(e)
}

struct Reader<'a> {
    text: &'a str,
    c: Cursor<'a>,
    depth: u32,
}

/// Marks field number `bit` as read; `None` the second time (serde refuses duplicate fields).
fn first(seen: &mut u32, bit: u32) -> Option<()> {
    let was = *seen;
    *seen |= 1 << bit;
    (was & (1 << bit) == 0).then_some(())
}

/// Stores field number `bit`, read for the first time.
fn set<T>(seen: &mut u32, bit: u32, field: &mut T, value: T) -> Option<()> {
    *field = value;
    first(seen, bit)
}

impl<'a> Reader<'a> {
    /// Reads an object's members, each through `member` with its key (plain keys only).
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.items(b'{', b'}', |r| {
            let Cow::Borrowed(key) = r.string()? else {
                return None;
            };
            r.c.eat(b':')?;
            member(r, key)
        })
    }

    /// An object read into `out`, each member through `field` (which reads past members it
    /// does not know), `seen` tracking the fields read.
    fn fill<T>(
        &mut self,
        out: &mut T,
        mut field: impl FnMut(&mut Self, &mut T, &mut u32, &'a str) -> Option<()>,
    ) -> Option<()> {
        let mut seen = 0;
        self.object(|r, key| field(r, out, &mut seen, key))
    }

    /// An object read into a `T` from its defaults, as [`fill`](Self::fill) reads it.
    fn record<T: Default>(
        &mut self,
        field: impl FnMut(&mut Self, &mut T, &mut u32, &'a str) -> Option<()>,
    ) -> Option<T> {
        let mut out = T::default();
        self.fill(&mut out, field)?;
        Some(out)
    }

    /// Reads an array's elements, each through `element`.
    fn array(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.items(b'[', b']', element)
    }

    /// The comma-separated items of a container from `open` to `close`.
    fn items(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.c.eat(open)?;
        self.enter()?;
        if self.c.peek()? == close {
            self.c.at += 1;
        } else {
            loop {
                item(self)?;
                match self.c.next_byte()? {
                    b',' => {}
                    b if b == close => break,
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A string, borrowed from the document unless it has escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.c.eat(b'"')?;
        let start = self.c.at;
        self.c.at += self.c.plain_run();
        let src = self.c.src;
        match *src.get(self.c.at)? {
            b'"' => {
                self.c.at += 1;
                // Cut at ASCII bytes of a `str`: on character boundaries.
                return Some(Cow::Borrowed(&self.text[start..self.c.at - 1]));
            }
            b'\\' => {}
            _ => return None,
        }
        let mut out = String::from(&self.text[start..self.c.at]);
        loop {
            match *src.get(self.c.at)? {
                b'"' => {
                    self.c.at += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    let (ch, used) = unescape(&src[self.c.at + 1..])?;
                    out.push(ch);
                    self.c.at += 1 + used;
                }
                _ => return None,
            }
            let run = self.c.plain_run();
            out.push_str(&self.text[self.c.at..self.c.at + run]);
            self.c.at += run;
        }
    }

    /// Any value, read past.
    fn skip(&mut self) -> Option<()> {
        match self.c.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|r, _| r.skip()),
            b'[' => self.array(Self::skip),
            b't' => self.c.literal(b"true"),
            b'f' => self.c.literal(b"false"),
            b'n' => self.c.literal(b"null"),
            _ => self.c.number().map(drop),
        }
    }

    /// `null` as `None`; anything else through `read`.
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.c.peek()? == b'n' {
            self.c.literal(b"null")?;
            return Some(None);
        }
        read(self).map(Some)
    }

    /// As `lenient::string`, except that numbers (which it writes out) go to serde.
    fn lenient_string(&mut self) -> Option<Option<Cow<'a, str>>> {
        match self.c.peek()? {
            b'"' => self.string().map(Some),
            b'n' | b't' | b'f' | b'{' | b'[' => self.skip().map(|()| None),
            _ => None,
        }
    }

    /// As `lenient::boolean`.
    fn lenient_bool(&mut self) -> Option<Option<bool>> {
        Some(match self.c.peek()? {
            b't' => self.c.literal(b"true").map(|()| Some(true))?,
            b'f' => self.c.literal(b"false").map(|()| Some(false))?,
            b'"' => match &*self.string()? {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => self.skip().map(|()| None)?,
        })
    }

    /// A number as serde_json reads it into an `f64` (correctly rounded, `float_roundtrip`).
    fn float(&mut self) -> Option<f64> {
        let at = self.c.number()?;
        let v: f64 = self.text[at].parse().ok()?;
        v.is_finite().then_some(v)
    }

    fn optional_float(&mut self) -> Option<Option<f64>> {
        self.nullable(Self::float)
    }

    /// As `lenient::integer`, for integer literals; other values go to serde.
    fn lenient_integer(&mut self) -> Option<Option<i64>> {
        self.nullable(|r| {
            let at = r.c.number()?;
            r.text[at].parse().ok()
        })
    }

    /// An entity, read in place: it is large, and moving it through the readers' returns
    /// cost more than the reading.
    fn entity(&mut self, e: &mut Entity<'a>) -> Option<()> {
        self.fill(e, |r, e, seen, key| match key {
            "id" => set(seen, 0, &mut e.id, r.lenient_string()?),
            "name" => set(seen, 1, &mut e.name, r.lenient_string()?),
            "trace_id" => set(seen, 2, &mut e.trace_id, r.lenient_string()?),
            "parent_id" => set(seen, 3, &mut e.parent_id, r.lenient_string()?),
            "type" => set(seen, 4, &mut e.kind, r.lenient_string()?),
            "start_time" => set(seen, 5, &mut e.start_time, r.optional_float()?),
            "end_time" => set(seen, 6, &mut e.end_time, r.optional_float()?),
            "in_progress" => set(seen, 7, &mut e.in_progress, r.lenient_bool()?),
            "origin" => set(seen, 8, &mut e.origin, r.lenient_string()?),
            "user" => set(seen, 9, &mut e.user, r.lenient_string()?),
            "resource_arn" => set(seen, 10, &mut e.resource_arn, r.lenient_string()?),
            "namespace" => set(seen, 11, &mut e.namespace, r.lenient_string()?),
            "fault" => set(seen, 12, &mut e.fault, r.lenient_bool()?),
            "error" => set(seen, 13, &mut e.error, r.lenient_bool()?),
            "throttle" => set(seen, 14, &mut e.throttle, r.lenient_bool()?),
            "traced" => set(seen, 15, &mut e.traced, r.lenient_bool()?),
            "cause" => set(seen, 16, &mut e.cause, r.nullable(Self::cause)?),
            "http" => set(seen, 17, &mut e.http, r.nullable(Self::http)?),
            "aws" => set(seen, 18, &mut e.aws, r.nullable(Self::aws)?),
            "annotations" => set(seen, 19, &mut e.annotations, r.nullable(Self::annotations)?),
            "subsegments" => {
                first(seen, 20)?;
                r.entities(&mut e.subsegments)
            }
            "links" => set(seen, 21, &mut e.links, r.nullable(|r| r.list(Self::link))?),
            _ => r.skip(),
        })
    }

    /// Subsegments, each read in place.
    fn entities(&mut self, list: &mut Option<Vec<Entity<'a>>>) -> Option<()> {
        if self.c.peek()? == b'n' {
            *list = None;
            return self.c.literal(b"null");
        }
        let list = list.insert(Vec::new());
        self.array(|r| {
            list.push(Entity::default());
            r.entity(list.last_mut()?)
        })
    }

    fn list<T>(&mut self, mut read: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut out = Vec::new();
        self.array(|r| {
            out.push(read(r)?);
            Some(())
        })?;
        Some(out)
    }

    fn link(&mut self) -> Option<Link<'a>> {
        self.record(|r, l: &mut Link<'a>, seen, key| match key {
            "trace_id" => set(seen, 0, &mut l.trace_id, r.lenient_string()?),
            "id" => set(seen, 1, &mut l.id, r.lenient_string()?),
            _ => r.skip(),
        })
    }

    fn http(&mut self) -> Option<Http<'a>> {
        self.record(|r, h: &mut Http<'a>, seen, key| match key {
            "request" => set(seen, 0, &mut h.request, r.nullable(Self::request)?),
            "response" => set(seen, 1, &mut h.response, r.nullable(Self::response)?),
            _ => r.skip(),
        })
    }

    fn request(&mut self) -> Option<HttpRequest<'a>> {
        self.record(|r, q: &mut HttpRequest<'a>, seen, key| match key {
            "method" => set(seen, 0, &mut q.method, r.lenient_string()?),
            "url" => set(seen, 1, &mut q.url, r.lenient_string()?),
            "user_agent" => set(seen, 2, &mut q.user_agent, r.lenient_string()?),
            "client_ip" => set(seen, 3, &mut q.client_ip, r.lenient_string()?),
            "traced" => set(seen, 4, &mut q.traced, r.lenient_bool()?),
            _ => r.skip(),
        })
    }

    fn response(&mut self) -> Option<HttpResponse> {
        self.record(|r, p: &mut HttpResponse, seen, key| match key {
            "status" => set(seen, 0, &mut p.status, r.lenient_integer()?),
            _ => r.skip(),
        })
    }

    fn aws(&mut self) -> Option<Aws<'a>> {
        self.record(|r, a: &mut Aws<'a>, seen, key| match key {
            "account_id" => set(seen, 0, &mut a.account_id, r.lenient_string()?),
            "operation" => set(seen, 1, &mut a.operation, r.lenient_string()?),
            "table_name" => set(seen, 2, &mut a.table_name, r.lenient_string()?),
            "ec2" => set(seen, 3, &mut a.ec2, r.nullable(Self::ec2)?),
            "ecs" => set(seen, 4, &mut a.ecs, r.nullable(Self::ecs)?),
            _ => r.skip(),
        })
    }

    fn ec2(&mut self) -> Option<AwsEc2<'a>> {
        self.record(|r, x: &mut AwsEc2<'a>, seen, key| match key {
            "instance_id" => set(seen, 0, &mut x.instance_id, r.lenient_string()?),
            "availability_zone" => set(seen, 1, &mut x.availability_zone, r.lenient_string()?),
            _ => r.skip(),
        })
    }

    fn ecs(&mut self) -> Option<AwsEcs<'a>> {
        self.record(|r, x: &mut AwsEcs<'a>, seen, key| match key {
            "availability_zone" => set(seen, 0, &mut x.availability_zone, r.lenient_string()?),
            "container_arn" => set(seen, 1, &mut x.container_arn, r.lenient_string()?),
            _ => r.skip(),
        })
    }

    fn cause(&mut self) -> Option<Cause<'a>> {
        if self.c.peek()? == b'"' {
            return self.string().map(Cause::ExceptionId);
        }
        self.record(|r, d: &mut CauseDetails<'a>, seen, key| match key {
            "exceptions" => set(
                seen,
                0,
                &mut d.exceptions,
                r.nullable(|r| r.list(Self::exception))?,
            ),
            _ => r.skip(),
        })
        .map(Cause::Details)
    }

    fn exception(&mut self) -> Option<Exception<'a>> {
        self.record(|r, x: &mut Exception<'a>, seen, key| match key {
            "id" => set(seen, 0, &mut x.id, r.lenient_string()?),
            "message" => set(seen, 1, &mut x.message, r.lenient_string()?),
            "type" => set(seen, 2, &mut x.kind, r.lenient_string()?),
            "remote" => set(seen, 3, &mut x.remote, r.lenient_bool()?),
            _ => r.skip(),
        })
    }

    /// Scalar values; `null` and containers are read past, as the serde reader does.
    fn annotations(&mut self) -> Option<Annotations<'a>> {
        let mut out = Vec::new();
        self.object(|r, key| {
            let value = match r.c.peek()? {
                b'"' => Some(AnnotationValue::String(r.string()?)),
                b't' => {
                    r.c.literal(b"true")
                        .map(|()| Some(AnnotationValue::Bool(true)))?
                }
                b'f' => {
                    r.c.literal(b"false")
                        .map(|()| Some(AnnotationValue::Bool(false)))?
                }
                b'n' | b'{' | b'[' => r.skip().map(|()| None)?,
                _ => Some(AnnotationValue::Number(r.float()?)),
            };
            if let Some(v) = value {
                out.push((Cow::Borrowed(key), v));
            }
            Some(())
        })?;
        Some(Annotations(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What each reader makes of `doc`: the entity (as its debug text) or a refusal.
    fn both(doc: &str) -> (Option<String>, Option<String>) {
        let fast = read(doc).map(|e| format!("{e:?}"));
        let full = serde_json::from_str::<Entity<'_>>(doc)
            .ok()
            .map(|e| format!("{e:?}"));
        (fast, full)
    }

    /// Whatever this reader reads, serde reads the same.
    fn agrees(doc: &str) -> Result<(), TestCaseError> {
        let (fast, full) = both(doc);
        if fast.is_some() {
            prop_assert_eq!(fast, full, "{}", doc);
        }
        Ok(())
    }

    fn corpus() -> Vec<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/xray-segments");
        let mut docs: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|f| {
                let p = f.unwrap().path();
                (p.extension()? == "txt").then(|| std::fs::read_to_string(p).unwrap())
            })
            .collect();
        docs.push(SDK_DOC.into());
        docs
    }

    const SDK_DOC: &str = r#"{"trace_id":"1-5f84c7a1-0b1c2d3e4f5a6b7c8d9e0f1a","id":"a1b2c3d4e5f60718",
        "name":"checkout \"frontend\" \u00e9\ud83d\ude00","start_time":1700000000.123456,
        "end_time":1.7000000001e9,"in_progress":false,"origin":"AWS::EC2::Instance",
        "user":"u-1","fault":"true","error":false,"throttle":null,"traced":1,
        "http":{"request":{"method":"POST","url":"https://x/y?a=1","user_agent":"UA",
        "client_ip":"10.0.0.1","traced":true,"x_forwarded_for":true},
        "response":{"status":503,"content_length":12}},
        "aws":{"account_id":"123456789012","operation":"GetItem","table_name":"t",
        "ec2":{"instance_id":"i-1","availability_zone":"us-east-1a"},
        "ecs":{"container_arn":"arn:c","availability_zone":null},"xray":{"sdk":"Go"}},
        "annotations":{"a":"s","n":-0,"f":2.5e-3,"b":true,"z":null,"o":{"x":[1]},"k\"":1},
        "metadata":{"default":{"deep":[[{"a":[]}],{}],"s":"\\\/\b\f\n\r\t"}},
        "cause":{"working_directory":"/","exceptions":[{"id":"e1","message":"boom",
        "type":"Err","remote":true,"stack":[{"path":"a.go","line":3}]}]},
        "links":[{"trace_id":"1-5f84c7a1-0b1c2d3e4f5a6b7c8d9e0f1b","id":"b1b2c3d4e5f60718",
        "attributes":{}}],
        "subsegments":[{"id":"c1b2c3d4e5f60718","name":"DynamoDB","namespace":"aws",
        "start_time":1700000000.2,"end_time":1700000000.3,"cause":"e1",
        "subsegments":[]}]}"#;

    #[test]
    fn documents_as_sdks_send_them_read_as_serde_reads_them() {
        for doc in corpus() {
            let (fast, full) = both(&doc);
            // Escaped annotation keys are serde's to read.
            if doc.contains(r#""k\"""#) {
                assert_eq!(fast, None);
            } else {
                assert_eq!(fast, full, "{doc}");
            }
        }
        let plain = SDK_DOC.replace(r#","k\"":1"#, "");
        let (fast, full) = both(&plain);
        assert!(fast.is_some());
        assert_eq!(fast, full);
    }

    #[test]
    fn what_serde_must_decide_is_left_to_it() {
        for doc in [
            r#"{"id":"a","id":"b"}"#,
            r#"{"id":null,"id":"b"}"#,
            r#"{"http":{"request":{},"request":{}}}"#,
            r#"{"id":1}"#,
            r#"{"start_time":"1"}"#,
            r#"{"start_time":1e999}"#,
            r#"{"http":{"response":{"status":200.0}}}"#,
            r#"{"http":{"response":{"status":"200"}}}"#,
            r#"{"\u0069d":"a"}"#,
            r#"{"id":"\ud800"}"#,
            r#"{"id":"a"} x"#,
            r#"{"id":"a",}"#,
            r#"{"metadata":[1,]}"#,
            r#"{"metadata":01}"#,
            r#"{"http":[]}"#,
            r#"{"cause":[]}"#,
            r#"{"annotations":{"a":[1]},"annotations":{}}"#,
            "{\"id\":\"a\u{1}\"}",
            r#"{"id":"a"#,
        ] {
            assert!(read(doc).is_none(), "{doc}");
        }
        let deep = format!(
            "{}{}",
            "{\"metadata\":".repeat(70),
            "1".to_owned() + &"}".repeat(70)
        );
        assert!(read(&format!("{deep}}}")).is_none());
    }

    fn key() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "id",
            "name",
            "trace_id",
            "parent_id",
            "type",
            "start_time",
            "end_time",
            "in_progress",
            "origin",
            "user",
            "resource_arn",
            "namespace",
            "fault",
            "error",
            "throttle",
            "traced",
            "cause",
            "http",
            "aws",
            "annotations",
            "subsegments",
            "links",
            "request",
            "response",
            "method",
            "url",
            "user_agent",
            "client_ip",
            "status",
            "account_id",
            "operation",
            "table_name",
            "ec2",
            "ecs",
            "instance_id",
            "availability_zone",
            "container_arn",
            "exceptions",
            "message",
            "remote",
            "metadata",
            "x",
            "i\\u0064",
        ])
        .prop_map(str::to_owned)
    }

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
            Just(r#""true""#.to_owned()),
            Just(r#""a\"b\\u00e9\ud83d\ude00""#.to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| serde_json::to_string(&f).unwrap()),
            prop::sample::select(vec!["true", "false", "null", "-0", "1e3", "2.5E-1", "200"])
                .prop_map(str::to_owned),
        ]
    }

    /// JSON text in the vocabulary of segment documents, well typed or not.
    fn value() -> impl Strategy<Value = String> {
        scalar().prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key(), inner), 0..6).prop_map(|m| {
                    let members: Vec<String> =
                        m.iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect();
                    format!("{{ {} }}", members.join(","))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_document_reads_as_serde_reads_it(members in prop::collection::vec((key(), value()), 0..10)) {
            let members: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            agrees(&format!("{{{}}}", members.join(",")))?;
        }

        #[test]
        fn a_damaged_document_reads_as_serde_reads_it(at in any::<prop::sample::Index>(), cut in any::<bool>(), b in prop::sample::select(b"x,:}]\"\\ 0-.e{[".to_vec())) {
            let mut doc = SDK_DOC.replace(r#","k\"":1"#, "").into_bytes();
            let i = at.index(doc.len());
            if cut { doc.truncate(i) } else { doc.insert(i, b) }
            if let Ok(doc) = String::from_utf8(doc) {
                agrees(&doc)?;
            }
        }
    }
}
