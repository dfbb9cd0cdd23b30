//! Refused documents are logged as a summary, at most once a second per intake and cause, so
//! that a client sending bad data cannot flood the log.

use crate::metrics::Intake;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

struct Pending {
    count: u64,
    example: String,
    since: Instant,
}

static PENDING: LazyLock<Mutex<HashMap<(Intake, &'static str), Pending>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Notes one refusal; logs the cause's count and an example when a second has passed since
/// the cause was last logged.
pub fn note(intake: Intake, reason: &'static str, message: &str) {
    let mut pending = PENDING.lock();
    let p = pending.entry((intake, reason)).or_insert_with(|| Pending {
        count: 0,
        example: String::new(),
        // The first refusal of a cause is logged at once.
        since: Instant::now() - Duration::from_secs(1),
    });
    p.count += 1;
    if p.example.is_empty() {
        p.example = message.chars().take(300).collect();
    }
    if p.since.elapsed() >= Duration::from_secs(1) {
        tracing::warn!(
            intake = intake.label(),
            reason,
            refused = p.count,
            example = %p.example,
            "documents refused"
        );
        p.count = 0;
        p.example.clear();
        p.since = Instant::now();
    }
}
