//! A hand-written recursive-descent parser. Precedence: `!` binds tightest, then AND (written
//! or implied by juxtaposition), then OR. Errors name the byte position and what was expected:
//! `expected a value after '>' at 14`.

use super::Error;
use super::ast::{BoolKw, Expr, GroupBy, Literal, NodeSel, NumKw, Op, RcKind, RcLevel, StrKw};
use super::check::{self, Scope};
use super::lex::{Tok, Token, lex};

/// How deeply parentheses and blocks may nest.
const MAX_DEPTH: usize = 64;

pub fn parse(src: &str) -> Result<Expr, Error> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        end: src.len(),
        depth: 0,
        scope: Scope::Trace,
    };
    if p.toks.is_empty() {
        return Err(Error::new(0, "expected a condition"));
    }
    let e = p.or()?;
    if let Some(t) = p.peek() {
        return Err(Error::new(
            t.pos,
            format!(
                "expected AND, OR or the end of the expression, found {}",
                t.tok.describe()
            ),
        ));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    end: usize,
    depth: usize,
    scope: Scope,
}

fn is_word(t: Option<&Token>, w: &str) -> bool {
    matches!(t, Some(Token { tok: Tok::Word(x), .. }) if x.eq_ignore_ascii_case(w))
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    /// Where the next token starts (or the end of the input).
    fn here(&self) -> usize {
        self.peek().map_or(self.end, |t| t.pos)
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(t) => format!(", found {}", t.tok.describe()),
            None => String::new(),
        }
    }

    fn expect(&mut self, tok: Tok, context: &str) -> Result<Token, Error> {
        match self.peek() {
            Some(t) if t.tok == tok => Ok(self.next().expect("peeked")),
            _ => Err(Error::new(
                self.here(),
                format!("expected '{}' {context}{}", tok.symbol(), self.found()),
            )),
        }
    }

    fn enter(&mut self, at: usize) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::new(
                at,
                format!("the expression nests more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, Error> {
        let mut left = self.and()?;
        while is_word(self.peek(), "or") {
            let t = self.next().expect("peeked");
            let right = self.operand_after(&t)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, Error> {
        let mut left = self.unary()?;
        loop {
            let right = if is_word(self.peek(), "and") {
                let t = self.next().expect("peeked");
                self.operand_after(&t)?
            } else if self.starts_condition() {
                self.unary()?
            } else {
                break;
            };
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// After AND, OR, `!` or NOT a condition must follow.
    fn operand_after(&mut self, t: &Token) -> Result<Expr, Error> {
        if !self.starts_condition() {
            let what = match &t.tok {
                Tok::Word(w) => w.to_ascii_uppercase(),
                other => other.symbol().to_owned(),
            };
            return Err(Error::new(
                self.here(),
                format!("expected a condition after '{what}'{}", self.found()),
            ));
        }
        // OR takes an AND-chain; AND, `!` and NOT take one operand, so chains loop, not recurse.
        if is_word(Some(t), "or") {
            self.and()
        } else {
            self.unary()
        }
    }

    fn starts_condition(&self) -> bool {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Word(w)) => !w.eq_ignore_ascii_case("and") && !w.eq_ignore_ascii_case("or"),
            Some(Tok::Bang | Tok::LParen) => true,
            _ => false,
        }
    }

    fn unary(&mut self) -> Result<Expr, Error> {
        if matches!(self.peek().map(|t| &t.tok), Some(Tok::Bang)) || is_word(self.peek(), "not") {
            let t = self.next().expect("peeked");
            self.enter(t.pos)?;
            let e = self.operand_after(&t)?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, Error> {
        let Some(t) = self.next() else {
            return Err(Error::new(self.end, "expected a condition"));
        };
        match t.tok {
            Tok::LParen => {
                self.enter(t.pos)?;
                let e = self.or()?;
                self.expect(Tok::RParen, &format!("to close '(' (opened at {})", t.pos))?;
                self.depth -= 1;
                Ok(e)
            }
            Tok::Word(ref w) => self.keyword(w, &t),
            other => Err(Error::new(
                t.pos,
                format!("expected a condition, found {}", other.describe()),
            )),
        }
    }

    fn check(&self, r: Result<(), String>, at: usize) -> Result<(), Error> {
        r.map_err(|m| Error::new(at, m))
    }

    /// A condition that starts with the keyword `word` (token `t`): each kind in its step.
    fn keyword(&mut self, word: &str, t: &Token) -> Result<Expr, Error> {
        let lower = word.to_ascii_lowercase();
        if let Some(kw) = BoolKw::from_word(&lower) {
            return self.bool_condition(kw, t);
        }
        if let Some(kw) = NumKw::from_word(&lower) {
            return self.num_condition(kw, word, t);
        }
        if let Some(kw) = StrKw::from_word(&lower) {
            return self.str_condition(kw, word, t);
        }
        if lower.starts_with("annotation.") {
            self.check(check::trace_only("annotation", self.scope), t.pos)?;
            return self.annotation(word["annotation.".len()..].to_owned());
        }
        match lower.as_str() {
            "annotation" if matches!(self.peek().map(|x| &x.tok), Some(Tok::LBracket)) => {
                self.bracketed_annotation(t)
            }
            "service" => self.service_condition(t),
            "edge" => self.edge_condition(t),
            "group.name" | "group.arn" => self.group_reference(&lower, word, t),
            "rootcause.json" => self.rootcause_json(&lower, t),
            _ if lower.starts_with("rootcause.") => self.rootcause(&lower, word, t),
            "id" => Err(Error::new(
                t.pos,
                "id(...) names a node inside service() or edge()",
            )),
            "true" | "false" => Err(Error::new(
                t.pos,
                format!("expected a condition, found '{word}'"),
            )),
            _ => Err(Error::new(t.pos, format!("unknown keyword '{word}'"))),
        }
    }

    /// `ok`, `fault`, … alone (true), or compared with `true` / `false`.
    fn bool_condition(&mut self, kw: BoolKw, t: &Token) -> Result<Expr, Error> {
        self.check(check::bool_kw(kw, self.scope), t.pos)?;
        let value = match self.peek().map(|x| &x.tok) {
            Some(Tok::Eq | Tok::Ne) => {
                let op = self.next().expect("peeked");
                let v = self.boolean(&op)?;
                if op.tok == Tok::Eq { v } else { !v }
            }
            _ => true,
        };
        Ok(Expr::Bool { kw, value })
    }

    /// `duration > 1`, `http.status = 500`, ….
    fn num_condition(&mut self, kw: NumKw, word: &str, t: &Token) -> Result<Expr, Error> {
        self.check(check::num_kw(kw, self.scope), t.pos)?;
        let op = self.operator(word, false)?;
        let value = self.number(&op)?;
        Ok(Expr::Num {
            kw,
            op: op.0,
            value,
        })
    }

    /// `http.url CONTAINS "x"`, `user = "ann"`, …, or the keyword alone (the field is set).
    fn str_condition(&mut self, kw: StrKw, word: &str, t: &Token) -> Result<Expr, Error> {
        self.check(check::str_kw(kw, self.scope), t.pos)?;
        if !self.at_operator() {
            return Ok(Expr::Str { kw, test: None });
        }
        let op = self.operator(word, true)?;
        if op.0.is_ordering() {
            return Err(Error::new(
                op.1,
                format!(
                    "'{}' does not apply to '{}'; use =, !=, CONTAINS, BEGINSWITH or ENDSWITH",
                    op.0.text(),
                    kw.text()
                ),
            ));
        }
        let value = self.string_value(&op)?;
        Ok(Expr::Str {
            kw,
            test: Some((op.0, value)),
        })
    }

    /// `annotation[key]` (for keys a dotted name cannot carry).
    fn bracketed_annotation(&mut self, t: &Token) -> Result<Expr, Error> {
        self.check(check::trace_only("annotation", self.scope), t.pos)?;
        self.next();
        let key = match self.next() {
            Some(Token {
                tok: Tok::Str(s) | Tok::Word(s),
                ..
            }) => s,
            _ => {
                return Err(Error::new(
                    self.here(),
                    "expected an annotation key after '['",
                ));
            }
        };
        self.expect(Tok::RBracket, "after the annotation key")?;
        self.annotation(key)
    }

    /// `service()`, `service("name")`, `service(id(...))`, each with an optional block.
    fn service_condition(&mut self, t: &Token) -> Result<Expr, Error> {
        self.check(check::trace_only("service", self.scope), t.pos)?;
        self.expect(Tok::LParen, "after 'service'")?;
        let node = if matches!(self.peek().map(|x| &x.tok), Some(Tok::RParen)) {
            None
        } else {
            Some(self.node()?)
        };
        self.expect(Tok::RParen, "to close service(")?;
        let block = self.block(Scope::Service)?;
        Ok(Expr::Service { node, block })
    }

    /// `edge(from, to)` with an optional block.
    fn edge_condition(&mut self, t: &Token) -> Result<Expr, Error> {
        self.check(check::trace_only("edge", self.scope), t.pos)?;
        self.expect(Tok::LParen, "after 'edge'")?;
        let from = self.node()?;
        self.expect(Tok::Comma, "between the two nodes of edge()")?;
        let to = self.node()?;
        self.expect(Tok::RParen, "to close edge(")?;
        let block = self.block(Scope::Edge)?;
        Ok(Expr::Edge { from, to, block })
    }

    /// `group.name = "x"` / `group.arn != "arn:…"`, resolved to the group's filter later.
    fn group_reference(&mut self, lower: &str, word: &str, t: &Token) -> Result<Expr, Error> {
        self.check(check::trace_only(lower, self.scope), t.pos)?;
        let negated = match self.next() {
            Some(Token { tok: Tok::Eq, .. }) => false,
            Some(Token { tok: Tok::Ne, .. }) => true,
            _ => {
                return Err(Error::new(
                    t.end,
                    format!("expected '=' or '!=' after '{word}'"),
                ));
            }
        };
        let value = match self.next() {
            Some(Token {
                tok: Tok::Str(s), ..
            }) => s,
            _ => {
                return Err(Error::new(
                    self.toks.get(self.i - 1).map_or(self.end, |x| x.pos),
                    "expected a quoted group name or ARN",
                ));
            }
        };
        let by = if lower == "group.name" {
            GroupBy::Name
        } else {
            GroupBy::Arn
        };
        Ok(Expr::Group { by, negated, value })
    }

    /// `rootcause.json = #[...]`: a partial-match pattern over the root causes.
    fn rootcause_json(&mut self, lower: &str, t: &Token) -> Result<Expr, Error> {
        self.check(check::trace_only(lower, self.scope), t.pos)?;
        self.expect(Tok::Eq, "after 'rootcause.json'")?;
        match self.next() {
            Some(Token {
                tok: Tok::Json(text),
                pos,
                ..
            }) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v @ serde_json::Value::Array(_)) => Ok(Expr::RootCauseJson(v)),
                Ok(_) => Err(Error::new(pos, "the #[...] pattern must be a JSON array")),
                Err(e) => Err(Error::new(
                    pos,
                    format!("the #[...] pattern is not valid JSON: {e}"),
                )),
            },
            _ => Err(Error::new(
                t.end,
                "expected a #[...] pattern after 'rootcause.json ='",
            )),
        }
    }

    /// `rootcause.<kind>.<level> { ... }`.
    fn rootcause(&mut self, lower: &str, word: &str, t: &Token) -> Result<Expr, Error> {
        self.check(check::trace_only("rootcause", self.scope), t.pos)?;
        let mut parts = lower.split('.').skip(1);
        let kind = match parts.next() {
            Some("fault") => RcKind::Fault,
            Some("error") => RcKind::Error,
            Some("responsetime") => RcKind::ResponseTime,
            _ => {
                return Err(Error::new(
                    t.pos,
                    format!(
                        "unknown keyword '{word}'; root causes are rootcause.fault, rootcause.error and rootcause.responsetime"
                    ),
                ));
            }
        };
        let level = match (parts.next(), parts.next()) {
            (Some("service"), None) => RcLevel::Service,
            (Some("entity"), None) => RcLevel::Entity,
            (Some("exception"), None) => RcLevel::Exception,
            _ => {
                return Err(Error::new(
                    t.pos,
                    format!(
                        "unknown keyword '{word}'; use rootcause.{}.service, .entity or .exception",
                        kind.text()
                    ),
                ));
            }
        };
        match self.block(Scope::RootCause(kind, level))? {
            Some(block) => Ok(Expr::RootCause { kind, level, block }),
            None => Err(Error::new(t.end, format!("expected '{{' after '{word}'"))),
        }
    }

    fn block(&mut self, scope: Scope) -> Result<Option<Box<Expr>>, Error> {
        let Some(open) = self.peek().filter(|x| x.tok == Tok::LBrace).map(|x| x.pos) else {
            return Ok(None);
        };
        self.next();
        self.enter(open)?;
        let outer = std::mem::replace(&mut self.scope, scope);
        let e = self.or();
        self.scope = outer;
        let e = e?;
        self.expect(Tok::RBrace, &format!("to close '{{' (opened at {open})"))?;
        self.depth -= 1;
        Ok(Some(Box::new(e)))
    }

    fn node(&mut self) -> Result<NodeSel, Error> {
        match self.next() {
            Some(Token {
                tok: Tok::Str(s), ..
            }) => Ok(NodeSel::Name(s)),
            Some(Token {
                tok: Tok::Word(w), ..
            }) if w.eq_ignore_ascii_case("id") => {
                self.expect(Tok::LParen, "after 'id'")?;
                let (mut name, mut kind, mut account) = (None, None, None);
                while !matches!(self.peek().map(|x| &x.tok), Some(Tok::RParen)) {
                    let at = self.here();
                    let key = match self.next() {
                        Some(Token {
                            tok: Tok::Word(k), ..
                        }) => k.to_ascii_lowercase(),
                        _ => {
                            return Err(Error::new(
                                at,
                                "expected name:, type: or account.id: inside id(...)",
                            ));
                        }
                    };
                    self.expect(Tok::Colon, &format!("after '{key}'"))?;
                    let vat = self.here();
                    let value = match self.next() {
                        Some(Token {
                            tok: Tok::Str(s), ..
                        }) => s,
                        _ => {
                            return Err(Error::new(
                                vat,
                                format!("expected a quoted value after '{key}:'"),
                            ));
                        }
                    };
                    let slot = match key.as_str() {
                        "name" => &mut name,
                        "type" => &mut kind,
                        "account.id" => &mut account,
                        _ => {
                            return Err(Error::new(
                                at,
                                format!(
                                    "unknown id() argument '{key}'; use name, type or account.id"
                                ),
                            ));
                        }
                    };
                    *slot = Some(value);
                    if matches!(self.peek().map(|x| &x.tok), Some(Tok::Comma)) {
                        self.next();
                    } else if !matches!(self.peek().map(|x| &x.tok), Some(Tok::RParen)) {
                        return Err(Error::new(
                            self.here(),
                            format!("expected ',' or ')' in id(...){}", self.found()),
                        ));
                    }
                }
                self.next();
                Ok(NodeSel::Id {
                    name,
                    kind,
                    account,
                })
            }
            Some(t) => Err(Error::new(
                t.pos,
                format!(
                    "expected a quoted service name or id(...), found {}",
                    t.tok.describe()
                ),
            )),
            None => Err(Error::new(
                self.end,
                "expected a quoted service name or id(...)",
            )),
        }
    }

    fn at_operator(&self) -> bool {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Eq | Tok::Ne | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge) => true,
            Some(Tok::Word(w)) => ["contains", "beginswith", "endswith"]
                .iter()
                .any(|x| w.eq_ignore_ascii_case(x)),
            _ => false,
        }
    }

    /// A comparison operator after `word`; returns it with its position.
    fn operator(&mut self, word: &str, strings: bool) -> Result<(Op, usize), Error> {
        let at = self.here();
        let op = match self.peek().map(|t| &t.tok) {
            Some(Tok::Eq) => Op::Eq,
            Some(Tok::Ne) => Op::Ne,
            Some(Tok::Lt) => Op::Lt,
            Some(Tok::Le) => Op::Le,
            Some(Tok::Gt) => Op::Gt,
            Some(Tok::Ge) => Op::Ge,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("contains") => Op::Contains,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("beginswith") => Op::BeginsWith,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("endswith") => Op::EndsWith,
            _ => {
                let ops = if strings {
                    "=, !=, CONTAINS, BEGINSWITH or ENDSWITH"
                } else {
                    "=, !=, <, <=, > or >="
                };
                return Err(Error::new(
                    at,
                    format!(
                        "expected a comparison ({ops}) after '{word}'{}",
                        self.found()
                    ),
                ));
            }
        };
        if op.is_string_only() && !strings {
            return Err(Error::new(
                at,
                format!(
                    "'{}' does not apply to '{word}', which is a number",
                    op.text()
                ),
            ));
        }
        self.next();
        Ok((op, at))
    }

    fn missing_value(&self, op: &str) -> Error {
        Error::new(
            self.here(),
            format!("expected a value after '{op}'{}", self.found()),
        )
    }

    fn number(&mut self, op: &(Op, usize)) -> Result<f64, Error> {
        match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Num(n)) => {
                self.next();
                Ok(n)
            }
            Some(Tok::Str(_) | Tok::Word(_)) if !self.at_logical() => Err(Error::new(
                self.here(),
                format!("expected a number after '{}'{}", op.0.text(), self.found()),
            )),
            _ => Err(self.missing_value(op.0.text())),
        }
    }

    fn at_logical(&self) -> bool {
        is_word(self.peek(), "and") || is_word(self.peek(), "or")
    }

    fn string_value(&mut self, op: &(Op, usize)) -> Result<String, Error> {
        match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Str(s)) => {
                self.next();
                Ok(s)
            }
            // A bare word reads as a string (the guide writes `name = traces` in root causes).
            Some(Tok::Word(w)) if !self.at_logical() => {
                self.next();
                Ok(w)
            }
            _ => Err(self.missing_value(op.0.text())),
        }
    }

    fn boolean(&mut self, op: &Token) -> Result<bool, Error> {
        match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => {
                self.next();
                Ok(true)
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => {
                self.next();
                Ok(false)
            }
            _ => Err(Error::new(
                self.here(),
                format!(
                    "expected true or false after '{}'{}",
                    op.tok.symbol(),
                    self.found()
                ),
            )),
        }
    }

    fn annotation(&mut self, key: String) -> Result<Expr, Error> {
        if key.is_empty() {
            return Err(Error::new(self.here(), "expected an annotation key"));
        }
        if !self.at_operator() {
            return Ok(Expr::Annotation { key, test: None });
        }
        let op = self.operator(&format!("annotation.{key}"), true)?;
        let value = match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Num(n)) => Literal::Num(n),
            Some(Tok::Str(s)) => Literal::Str(s),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Tok::Word(w)) if !self.at_logical() => Literal::Str(w),
            _ => return Err(self.missing_value(op.0.text())),
        };
        let at = self.here();
        let fits = match &value {
            Literal::Num(_) => !op.0.is_string_only(),
            Literal::Str(_) => !op.0.is_ordering(),
            Literal::Bool(_) => matches!(op.0, Op::Eq | Op::Ne),
        };
        if !fits {
            return Err(Error::new(
                at,
                format!("'{}' does not apply to {}", op.0.text(), value),
            ));
        }
        self.next();
        Ok(Expr::Annotation {
            key,
            test: Some((op.0, value)),
        })
    }
}
