//! Resident memory against `--max-memory-mb`. The store accounts what it holds, but the process
//! holds more: allocator slack left behind by evicted blocks, buffers of requests in flight, the
//! rest of the gateway. On realistic data that put the process 20 % over its bound. So the store
//! reads the process's resident size now and then, and takes what lies beyond its own
//! accounting off the budget its accounting must stay under.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

pub type ReadResident = Box<dyn Fn() -> Option<u64> + Send + Sync>;

pub struct Resident {
    read: ReadResident,
    every: Duration,
    epoch: Instant,
    /// When the last reading was taken, in microseconds since `epoch` (0: never).
    read_at: AtomicU64,
    /// Resident bytes beyond the accounted ones, as of the last reading.
    beyond: AtomicU64,
}

impl Resident {
    /// Reads this process's resident size at most every 50 ms (a read costs microseconds).
    pub fn of_process() -> Resident {
        Resident::new(Box::new(process_resident_bytes), Duration::from_millis(50))
    }

    pub fn new(read: ReadResident, every: Duration) -> Resident {
        Resident {
            read,
            every,
            epoch: Instant::now(),
            read_at: AtomicU64::new(0),
            beyond: AtomicU64::new(0),
        }
    }

    /// What the accounted bytes may reach under `bound`: the bound less what lies beyond the
    /// accounting, never less than half of it (past that, the bound cannot be held by
    /// evicting traces).
    pub fn budget(&self, bound: u64) -> u64 {
        bound
            .saturating_sub(self.beyond.load(Relaxed))
            .max(bound / 2)
    }

    /// Takes a reading when the last one is old enough; `accounted` is what the store
    /// accounts now.
    pub fn refresh(&self, accounted: u64) {
        let now = (self.epoch.elapsed().as_micros() as u64).max(1);
        let last = self.read_at.load(Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.every.as_micros() as u64;
        // One caller takes each reading.
        if !due
            || self
                .read_at
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_err()
        {
            return;
        }
        let Some(resident) = (self.read)() else {
            return;
        };
        let seen = resident.saturating_sub(accounted);
        let held = self.beyond.load(Relaxed);
        // Up at once, down slowly: freed memory goes back to the system over time, and one low
        // reading must not let the store overshoot again.
        let next = if seen >= held {
            seen
        } else {
            held - (held - seen) / 8
        };
        self.beyond.store(next, Relaxed);
    }
}

/// This process's resident size, from /proc (None where there is no /proc).
pub fn process_resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
