//! Where each keyword may appear. The parser asks at every keyword, so a misplaced one is
//! reported at its own position.
//!
//! - At trace level: the trace's flags and root response (`ok`, `error`, `fault`, `throttle`,
//!   `partial`, `inferred`, `responsetime`, `duration`, `http.*`), values found on any segment
//!   (`user`, `availabilityzone`, `instance.id`, `resource.arn`), annotations, `service()`,
//!   `edge()`, groups and root causes.
//! - Inside `service() {}`: the node's segments (`ok`, `error`, `fault`, `throttle`,
//!   `partial`, `inferred`, `root`, `responsetime`, `duration`, `http.status`, `name`, `type`).
//! - Inside `edge() {}`: the calls on the edge (the same, less `root`, `name` and `type`).
//! - Inside `rootcause.K.service {}`: `name`, `type`, `inferred`, `first`, `last`, `index`;
//!   `.entity {}`: `name`, `remote`, `first`, `last`, `index`, and `coverage` for response time;
//!   `.exception {}`: `name`, `message`, `first`, `last`, `index`.

use super::ast::{BoolKw, NumKw, RcKind, RcLevel, StrKw};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Trace,
    Service,
    Edge,
    RootCause(RcKind, RcLevel),
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Trace => "at the top level",
            Scope::Service => "inside a service() block",
            Scope::Edge => "inside an edge() block",
            Scope::RootCause(_, RcLevel::Service) => "inside a rootcause service block",
            Scope::RootCause(_, RcLevel::Entity) => "inside a rootcause entity block",
            Scope::RootCause(_, RcLevel::Exception) => "inside a rootcause exception block",
        }
    }
}

fn refuse(word: &str, scope: Scope) -> Result<(), String> {
    Err(format!("'{word}' cannot be used {}", scope.name()))
}

pub fn bool_kw(kw: BoolKw, scope: Scope) -> Result<(), String> {
    use BoolKw::*;
    let ok = match scope {
        Scope::Trace => matches!(kw, Ok | Error | Fault | Throttle | Partial | Inferred),
        Scope::Service => matches!(
            kw,
            Ok | Error | Fault | Throttle | Partial | Inferred | Root
        ),
        Scope::Edge => matches!(kw, Ok | Error | Fault | Throttle | Partial | Inferred),
        Scope::RootCause(_, RcLevel::Service) => matches!(kw, Inferred | First | Last),
        Scope::RootCause(_, RcLevel::Entity) => matches!(kw, Remote | First | Last),
        Scope::RootCause(_, RcLevel::Exception) => matches!(kw, First | Last),
    };
    if ok {
        Result::Ok(())
    } else {
        refuse(kw.text(), scope)
    }
}

pub fn num_kw(kw: NumKw, scope: Scope) -> Result<(), String> {
    use NumKw::*;
    let ok = match scope {
        Scope::Trace | Scope::Service | Scope::Edge => {
            matches!(kw, ResponseTime | Duration | HttpStatus)
        }
        Scope::RootCause(RcKind::ResponseTime, RcLevel::Entity) => matches!(kw, Index | Coverage),
        Scope::RootCause(..) => kw == Index,
    };
    if ok {
        Result::Ok(())
    } else {
        refuse(kw.text(), scope)
    }
}

pub fn str_kw(kw: StrKw, scope: Scope) -> Result<(), String> {
    use StrKw::*;
    let ok = match scope {
        Scope::Trace => matches!(
            kw,
            HttpUrl
                | HttpMethod
                | HttpUserAgent
                | HttpClientIp
                | User
                | AvailabilityZone
                | InstanceId
                | ResourceArn
        ),
        Scope::Service => matches!(kw, Name | Type),
        Scope::Edge => false,
        Scope::RootCause(_, RcLevel::Service) => matches!(kw, Name | Type),
        Scope::RootCause(_, RcLevel::Entity) => kw == Name,
        Scope::RootCause(_, RcLevel::Exception) => matches!(kw, Name | Message),
    };
    if ok {
        Result::Ok(())
    } else {
        refuse(kw.text(), scope)
    }
}

/// Annotations, `service()`, `edge()`, groups and root causes: top level only.
pub fn trace_only(word: &str, scope: Scope) -> Result<(), String> {
    if scope == Scope::Trace {
        Ok(())
    } else {
        refuse(word, scope)
    }
}
