//! Filter expressions, pure: a lexer with byte positions, a hand-written parser with a check
//! of where each keyword may appear, canonical printing, group inlining, evaluation against
//! compact trace summaries, and the index plan a store uses to narrow candidates.
//!
//! Used by GetTraceSummaries now; groups and the graph operations reuse [`parse`],
//! [`resolve_groups`] and [`compile`].

pub mod ast;
mod check;
mod eval;
mod lex;
mod parse;

pub use ast::Expr;
pub use eval::{Filter, compile, node_matcher};
pub use parse::parse;

use ast::GroupBy;

/// An invalid expression: what was expected, and the byte offset where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at {pos}")]
pub struct Error {
    pub pos: usize,
    pub message: String,
}

impl Error {
    pub fn new(pos: usize, message: impl Into<String>) -> Error {
        Error {
            pos,
            message: message.into(),
        }
    }
}

/// Why a filter expression cannot be used; every case is the caller's request to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error(transparent)]
    Syntax(#[from] Error),
    /// A `group.name` / `group.arn` that names no group, or groups that nest too deep.
    #[error("{0}")]
    Group(String),
    /// A group reference left in an expression that was compiled without resolving it.
    #[error("{0}")]
    Unresolved(String),
}

impl From<FilterError> for crate::error::ErrorKind {
    fn from(_: FilterError) -> Self {
        crate::error::ErrorKind::InvalidRequest
    }
}

/// How deeply groups may refer to groups.
const MAX_GROUP_DEPTH: usize = 8;

/// Replaces `group.name = "g"` / `group.arn = "..."` with the group's own filter (negated for
/// `!=`). `lookup` answers a group's filter expression (`Some("")` for a group without one).
pub fn resolve_groups(
    e: Expr,
    lookup: &dyn Fn(GroupBy, &str) -> Option<String>,
) -> Result<Expr, FilterError> {
    resolve(e, lookup, 0).map_err(FilterError::Group)
}

fn resolve(
    e: Expr,
    lookup: &dyn Fn(GroupBy, &str) -> Option<String>,
    depth: usize,
) -> Result<Expr, String> {
    let r = |x: Box<Expr>| resolve(*x, lookup, depth).map(Box::new);
    Ok(match e {
        Expr::And(a, b) => Expr::And(r(a)?, r(b)?),
        Expr::Or(a, b) => Expr::Or(r(a)?, r(b)?),
        Expr::Not(a) => Expr::Not(r(a)?),
        Expr::Group { by, negated, value } => {
            if depth >= MAX_GROUP_DEPTH {
                return Err(format!(
                    "groups refer to each other more than {MAX_GROUP_DEPTH} levels deep"
                ));
            }
            let what = if by == GroupBy::Name {
                "group"
            } else {
                "group ARN"
            };
            let text =
                lookup(by, &value).ok_or_else(|| format!("{what} {value:?} does not exist"))?;
            // A group without a filter holds every trace.
            let inner = if text.trim().is_empty() {
                Expr::Bool {
                    kw: ast::BoolKw::Partial,
                    value: true,
                }
                .or_not()
            } else {
                let parsed = parse(&text)
                    .map_err(|e| format!("the filter of {what} {value:?} is invalid: {e}"))?;
                resolve(parsed, lookup, depth + 1)?
            };
            if negated {
                Expr::Not(Box::new(inner))
            } else {
                inner
            }
        }
        other => other,
    })
}

impl Expr {
    /// `self OR !self`: true for every trace.
    fn or_not(self) -> Expr {
        Expr::Or(Box::new(self.clone()), Box::new(Expr::Not(Box::new(self))))
    }
}

#[cfg(test)]
mod tests;
