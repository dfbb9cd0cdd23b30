//! Stack-trace parsing (§9.1): an exception event's `exception.stacktrace`, read by the
//! resource's `telemetry.sdk.language`, becomes the first exception's `stack`; chained causes
//! (Java `Caused by:`, Python `During handling of ...`) become further exceptions linked by
//! `cause`. Malformed text stops parsing quietly, keeping what was read.

use super::cause::random_hex_id;
use super::doc::{Exception, Frame};
use std::borrow::Cow;

/// Parses `trace` into `exceptions[first]` and any chained exceptions appended after it.
pub fn parse<'a>(
    language: &str,
    trace: &'a str,
    exceptions: &mut Vec<Exception<'a>>,
    first: usize,
) {
    match language {
        "java" | "php" => java(trace, exceptions, first),
        "python" => python(trace, exceptions, first),
        "javascript" | "nodejs" | "webjs" => javascript(trace, exceptions, first),
        "dotnet" => dotnet(trace, exceptions, first),
        "go" => go(trace, exceptions, first),
        _ => {}
    }
}

/// Appends an exception caused-by-linked from `exceptions[cur]`; returns its index.
fn chain<'a>(
    exceptions: &mut Vec<Exception<'a>>,
    cur: usize,
    kind: Cow<'a, str>,
    message: Cow<'a, str>,
) -> usize {
    let id = random_hex_id();
    exceptions[cur].cause = Some(id);
    let remote = exceptions[cur].remote;
    exceptions.push(Exception {
        id,
        message,
        kind,
        remote,
        cause: None,
        stack: Vec::new(),
    });
    exceptions.len() - 1
}

fn split_type_message(text: &str) -> (&str, &str) {
    match text.find(':') {
        Some(c) => (&text[..c], text.get(c + 2..).unwrap_or("")),
        None => (text, ""),
    }
}

fn java_frame(line: &str) -> Option<Frame<'_>> {
    let rest = line.strip_prefix("\tat ")?;
    let paren = rest.find('(')?;
    let inner = rest[paren + 1..].strip_suffix(')')?;
    let label = &rest[..paren];
    // A class-loader or module prefix (`app//`, `java.base/`) is not part of the method.
    let label = label.find('/').map_or(label, |s| &label[s + 1..]);
    let (path, line) = match inner.find(':') {
        Some(c) => (&inner[..c], inner[c + 1..].parse().unwrap_or(0)),
        None => (inner, 0),
    };
    Some(Frame { path, line, label })
}

fn java<'a>(trace: &'a str, exceptions: &mut Vec<Exception<'a>>, first: usize) {
    let mut lines = trace.lines().skip(1);
    let Some(mut line) = lines.next() else { return };
    let mut cur = first;
    loop {
        if let Some(frame) = java_frame(line) {
            exceptions[cur].stack.push(frame);
        } else if let Some(rest) = line.strip_prefix("Caused by: ") {
            let (kind, message) = split_type_message(rest);
            // The message may run over several lines, up to the next frame.
            let mut message = Cow::Borrowed(message);
            let mut next = None;
            for l in lines.by_ref() {
                if java_frame(l).is_some() {
                    next = Some(l);
                    break;
                }
                message.to_mut().push_str(l);
            }
            cur = chain(exceptions, cur, Cow::Borrowed(kind), message);
            match next {
                Some(l) => {
                    line = l;
                    continue;
                }
                None => break,
            }
        }
        match lines.next() {
            Some(l) => line = l,
            None => break,
        }
    }
}

fn python_frame(line: &str) -> Option<Frame<'_>> {
    if !line.starts_with("  File ") {
        return None;
    }
    let parts: Vec<&str> = line.split(',').collect();
    let [file, number, label] = parts[..] else {
        return None;
    };
    // `  File "path"`
    let path = file.get(8..file.len().saturating_sub(1)).unwrap_or("");
    let line = number
        .strip_prefix(" line ")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let label = label.strip_prefix(" in ").unwrap_or("");
    Some(Frame { path, line, label })
}

const PY_CHAINED: &str = "During handling of the above exception, another exception occurred:";

/// Python prints the innermost frame last, so the trace is read bottom-up.
fn python<'a>(trace: &'a str, exceptions: &mut Vec<Exception<'a>>, first: usize) {
    let lines: Vec<&str> = trace.split('\n').collect();
    if lines.len() < 2 {
        return;
    }
    let mut idx = lines.len() - 2;
    let mut cur = first;
    loop {
        let line = lines[idx];
        if let Some(frame) = python_frame(line) {
            exceptions[cur].stack.push(frame);
        } else if line.starts_with(PY_CHAINED) {
            let Some(file_idx) = (0..idx).rev().find(|&i| lines[i].starts_with("  File ")) else {
                return;
            };
            // The earlier exception's text: from two lines below its last frame up to two
            // lines above the "During handling" line.
            let (from, to) = (file_idx + 2, idx.saturating_sub(1));
            let text = if from < to {
                lines[from..to].join("\n")
            } else {
                String::new()
            };
            let Some(colon) = text.find(':') else { return };
            let kind = text[..colon].to_owned();
            let message = text.get(colon + 2..).unwrap_or("").to_owned();
            cur = chain(exceptions, cur, Cow::Owned(kind), Cow::Owned(message));
            idx = file_idx;
            continue;
        }
        if idx == 0 {
            break;
        }
        idx -= 1;
    }
}

fn javascript<'a>(trace: &'a str, exceptions: &mut [Exception<'a>], first: usize) {
    for line in trace.lines().skip(1) {
        let Some(rest) = line.strip_prefix("    at ") else {
            continue;
        };
        let (label, mut path) = match rest.find('(') {
            Some(p) => match rest[p + 1..].strip_suffix(')') {
                Some(inner) => (&rest[..p], inner),
                None => ("", ""),
            },
            None => ("", rest),
        };
        let mut number = 0;
        let first_colon = path.find(':');
        let second_colon = first_colon.and_then(|c| path[c + 1..].find(':').map(|d| c + 1 + d));
        match (first_colon, second_colon) {
            (Some(c), Some(d)) => {
                number = path[c + 1..d].parse().unwrap_or(0);
                path = &path[..c];
            }
            (None, _) if path.contains("native") => path = "native",
            _ => {}
        }
        if !path.is_empty() || !label.is_empty() || number != 0 {
            exceptions[first].stack.push(Frame {
                path,
                line: number,
                label,
            });
        }
    }
}

fn dotnet<'a>(trace: &'a str, exceptions: &mut [Exception<'a>], first: usize) {
    for line in trace.lines().skip(1) {
        let Some(rest) = line.trim().strip_prefix("at ") else {
            continue;
        };
        if let Some((label, location)) = rest.split_once(" in ") {
            let location = location.split(" in ").next().unwrap_or(location);
            let (path, number) = match location.rfind(':') {
                Some(c) => {
                    let n = &location[c + 1..];
                    let n = if n.starts_with("line") {
                        n.get(5..).unwrap_or("")
                    } else {
                        n
                    };
                    (&location[..c], n.parse().unwrap_or(0))
                }
                None => (location, 0),
            };
            exceptions[first].stack.push(Frame {
                path,
                line: number,
                label,
            });
        } else if let Some(close) = rest.rfind(')') {
            exceptions[first].stack.push(Frame {
                path: "",
                line: 0,
                label: &rest[..=close],
            });
        }
    }
}

/// The first `path:line` in a line of a Go trace (`\t/src/app/main.go:42 +0x1d`).
fn go_location(line: &str) -> Option<(&str, i64)> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b':' || bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b':' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b':' {
            let digits = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits > 0 {
                let n = line[i + 1..i + 1 + digits].parse().unwrap_or(i64::MAX);
                return Some((&line[start..i], n));
            }
        }
    }
    None
}

fn is_goroutine_header(line: &str) -> bool {
    line.starts_with("goroutine")
        && line.ends_with(':')
        && line.match_indices("running").any(|(i, w)| {
            let before = line[..i].chars().next_back();
            let after = line[i + w.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            !word(before) && !word(after)
        })
}

/// A Go trace alternates a function line and a `file:line` line.
fn go<'a>(trace: &'a str, exceptions: &mut [Exception<'a>], first: usize) {
    let mut lines = trace.lines().skip(1);
    let Some(mut line) = lines.next() else { return };
    let (mut path, mut number) = ("", 0);
    loop {
        if is_goroutine_header(line) {
            line = lines.next().unwrap_or("");
        }
        let label = line;
        let location = lines.next().unwrap_or("");
        // A line without a location keeps the previous frame's.
        if let Some((p, n)) = go_location(location) {
            (path, number) = (p, n);
        }
        exceptions[first].stack.push(Frame {
            path,
            line: number,
            label,
        });
        match lines.next() {
            Some(l) => line = l,
            None => break,
        }
    }
}

#[cfg(test)]
mod tests;
