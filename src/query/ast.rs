//! The syntax tree of a filter expression, and its canonical printing (which parses back to
//! the same tree: binary operators are printed in parentheses).

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `fault`, `fault = false`, `root != true` (stored as the value that makes it true).
    Bool {
        kw: BoolKw,
        value: bool,
    },
    Num {
        kw: NumKw,
        op: Op,
        value: f64,
    },
    /// A string keyword; without a test it means "is set".
    Str {
        kw: StrKw,
        test: Option<(Op, String)>,
    },
    /// `annotation.KEY`; without a test it means "is present".
    Annotation {
        key: String,
        test: Option<(Op, Literal)>,
    },
    /// `service()`, `service("name")`, `service(id(...))`, with an optional `{ block }`.
    Service {
        node: Option<NodeSel>,
        block: Option<Box<Expr>>,
    },
    Edge {
        from: NodeSel,
        to: NodeSel,
        block: Option<Box<Expr>>,
    },
    /// `group.name = "g"` / `group.arn != "arn"`: the group's own filter, inlined.
    Group {
        by: GroupBy,
        negated: bool,
        value: String,
    },
    RootCause {
        kind: RcKind,
        level: RcLevel,
        block: Box<Expr>,
    },
    /// `rootcause.json = #[...]`: a partial-match pattern over the root causes.
    RootCauseJson(serde_json::Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    BeginsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeSel {
    /// `"name"`
    Name(String),
    /// `id(name: ..., type: ..., account.id: ...)`, every argument optional.
    Id {
        name: Option<String>,
        kind: Option<String>,
        account: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Name,
    Arn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcKind {
    Fault,
    Error,
    ResponseTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcLevel {
    Service,
    Entity,
    Exception,
}

macro_rules! keywords {
    ($name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn text(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// The keyword spelled `word`, case-insensitively.
            pub fn from_word(word: &str) -> Option<$name> {
                $(if word.eq_ignore_ascii_case($text) { return Some($name::$variant); })*
                None
            }
        }
    };
}

keywords!(BoolKw {
    Ok => "ok", Error => "error", Fault => "fault", Throttle => "throttle", Partial => "partial",
    Inferred => "inferred", First => "first", Last => "last", Remote => "remote", Root => "root",
});

keywords!(NumKw {
    ResponseTime => "responsetime", Duration => "duration", HttpStatus => "http.status",
    Index => "index", Coverage => "coverage",
});

keywords!(StrKw {
    HttpUrl => "http.url", HttpMethod => "http.method", HttpUserAgent => "http.useragent",
    HttpClientIp => "http.clientip", User => "user", Name => "name", Type => "type",
    Message => "message", AvailabilityZone => "availabilityzone", InstanceId => "instance.id",
    ResourceArn => "resource.arn",
});

impl Op {
    pub fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "CONTAINS",
            Op::BeginsWith => "BEGINSWITH",
            Op::EndsWith => "ENDSWITH",
        }
    }

    pub fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }

    pub fn is_string_only(self) -> bool {
        matches!(self, Op::Contains | Op::BeginsWith | Op::EndsWith)
    }
}

impl RcKind {
    pub fn text(self) -> &'static str {
        match self {
            RcKind::Fault => "fault",
            RcKind::Error => "error",
            RcKind::ResponseTime => "responsetime",
        }
    }
}

impl RcLevel {
    pub fn text(self) -> &'static str {
        match self {
            RcLevel::Service => "service",
            RcLevel::Entity => "entity",
            RcLevel::Exception => "exception",
        }
    }
}

pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\t' => f.write_str("\\t")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write!(f, "{}", Quoted(s)),
            Literal::Num(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl fmt::Display for NodeSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeSel::Name(n) => write!(f, "{}", Quoted(n)),
            NodeSel::Id {
                name,
                kind,
                account,
            } => {
                let mut args = Vec::new();
                if let Some(n) = name {
                    args.push(format!("name: {}", Quoted(n)));
                }
                if let Some(t) = kind {
                    args.push(format!("type: {}", Quoted(t)));
                }
                if let Some(a) = account {
                    args.push(format!("account.id: {}", Quoted(a)));
                }
                write!(f, "id({})", args.join(", "))
            }
        }
    }
}

/// Annotation keys print as `annotation.KEY` when they read as one word, else bracketed.
pub fn simple_key(key: &str) -> bool {
    let mut parts = key.split('.');
    parts.all(|p| {
        p.bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
    })
}

fn block(f: &mut fmt::Formatter<'_>, b: &Option<Box<Expr>>) -> fmt::Result {
    match b {
        Some(e) => write!(f, " {{ {e} }}"),
        None => Ok(()),
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(a, b) => write!(f, "({a} AND {b})"),
            Expr::Or(a, b) => write!(f, "({a} OR {b})"),
            Expr::Not(e) => write!(f, "!{e}"),
            Expr::Bool { kw, value: true } => f.write_str(kw.text()),
            Expr::Bool { kw, value: false } => write!(f, "{} = false", kw.text()),
            Expr::Num { kw, op, value } => write!(f, "{} {} {value}", kw.text(), op.text()),
            Expr::Str { kw, test: None } => f.write_str(kw.text()),
            Expr::Str {
                kw,
                test: Some((op, v)),
            } => write!(f, "{} {} {}", kw.text(), op.text(), Quoted(v)),
            Expr::Annotation { key, test } => {
                if simple_key(key) {
                    write!(f, "annotation.{key}")?;
                } else {
                    write!(f, "annotation[{}]", Quoted(key))?;
                }
                match test {
                    Some((op, v)) => write!(f, " {} {v}", op.text()),
                    None => Ok(()),
                }
            }
            Expr::Service { node, block: b } => {
                match node {
                    Some(n) => write!(f, "service({n})")?,
                    None => f.write_str("service()")?,
                }
                block(f, b)
            }
            Expr::Edge { from, to, block: b } => {
                write!(f, "edge({from}, {to})")?;
                block(f, b)
            }
            Expr::Group { by, negated, value } => {
                let by = if *by == GroupBy::Name { "name" } else { "arn" };
                write!(
                    f,
                    "group.{by} {} {}",
                    if *negated { "!=" } else { "=" },
                    Quoted(value)
                )
            }
            Expr::RootCause {
                kind,
                level,
                block: b,
            } => write!(f, "rootcause.{}.{} {{ {b} }}", kind.text(), level.text()),
            Expr::RootCauseJson(v) => write!(f, "rootcause.json = #{v}"),
        }
    }
}
