//! The service graph, pure: what each trace contributes to its services (nodes) and the calls
//! between them (edges), sums of those contributions, and their rendering as X-Ray's `Service`
//! and `Edge` shapes. Contributions carry a sign, so a store can keep per-minute sums current at
//! ingest (subtracting a trace's old summary, adding its new one) and answer a window by adding
//! up minutes instead of walking traces.
//!
//! Readings where AWS documents little: a request counts as a fault (5xx), else a throttle
//! (429), else another error (4xx), else ok; requests still in progress are not counted.
//! Histograms group values in bins about 25 % wide, each reported as the mean of the values it
//! holds (so values seen once are reported exactly, as AWS lists them); the client node is one
//! node in front of all entry points.

mod render;

pub use render::{edge_stats, histogram, render_services, service_stats};

use crate::model::Micros;
use crate::model::intern::Sid;
use crate::model::summary::{Flags, TraceSummary};
use crate::model::time::micros_to_secs;
use rustc_hash::FxHashMap;

/// Histogram bins: 0 for under a millisecond, then bins 25 % wide up to about 1,000 s.
const BINS: u8 = 64;
const BIN_RATIO: f64 = 1.25;

fn bin_of(secs: f64) -> u8 {
    let ms = secs * 1000.0;
    // Also catches NaN.
    if ms.is_nan() || ms < 1.0 {
        return 0;
    }
    ((ms.ln() / BIN_RATIO.ln()) as u8)
        .saturating_add(1)
        .min(BINS - 1)
}

/// A sparse histogram: `(bin, count, sum of the values counted)` sorted by bin. Each entry is
/// reported as the mean of its values, so a value seen alone is reported as it was.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Hist(pub Vec<(u8, i64, f64)>);

impl Hist {
    /// Counts `n` values (negative to withdraw them) whose sum is `sum` in bin `bin`.
    fn add(&mut self, bin: u8, n: i64, sum: f64) {
        match self.0.binary_search_by_key(&bin, |e| e.0) {
            Ok(i) => {
                self.0[i].1 += n;
                self.0[i].2 += sum;
                if self.0[i].1 == 0 {
                    self.0.remove(i);
                }
            }
            Err(i) => self.0.insert(i, (bin, n, sum)),
        }
    }

    /// Counts one value (`sign` -1 withdraws it).
    fn record(&mut self, value: f64, sign: i64) {
        self.add(bin_of(value), sign, sign as f64 * value);
    }

    fn merge(&mut self, other: &Hist) {
        for &(b, n, sum) in &other.0 {
            self.add(b, n, sum);
        }
    }

    /// `(value, count)` of each entry: the mean of the values it holds, to the microsecond
    /// (sums that had values withdrawn carry float noise below that).
    pub fn entries(&self) -> impl Iterator<Item = (f64, i64)> + '_ {
        self.0
            .iter()
            .filter(|e| e.1 > 0)
            .map(|&(_, n, sum)| (((sum / n as f64) * 1e6).round() / 1e6, n))
    }
}

/// Counts and times of the requests a node served or an edge carried.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub ok: i64,
    pub throttle: i64,
    pub error_other: i64,
    pub fault: i64,
    pub total: i64,
    pub total_response_time: f64,
    pub response: Hist,
    /// Earliest start and latest end seen (not lowered when a contribution is withdrawn).
    pub start: Micros,
    pub end: Micros,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            ok: 0,
            throttle: 0,
            error_other: 0,
            fault: 0,
            total: 0,
            total_response_time: 0.0,
            response: Hist::default(),
            start: Micros::MAX,
            end: Micros::MIN,
        }
    }
}

impl Stats {
    pub fn add(&mut self, flags: Flags, duration: f64, start: Micros, sign: i64) {
        if duration.is_nan() {
            return;
        }
        let class = if flags.contains(Flags::FAULT) {
            &mut self.fault
        } else if flags.contains(Flags::THROTTLE) {
            &mut self.throttle
        } else if flags.contains(Flags::ERROR) {
            &mut self.error_other
        } else {
            &mut self.ok
        };
        *class += sign;
        self.total += sign;
        self.total_response_time += sign as f64 * duration;
        self.response.record(duration, sign);
        if sign > 0 {
            self.start = self.start.min(start);
            self.end = self.end.max(start + (duration * 1e6) as Micros);
        }
    }

    pub fn merge(&mut self, o: &Stats) {
        self.ok += o.ok;
        self.throttle += o.throttle;
        self.error_other += o.error_other;
        self.fault += o.fault;
        self.total += o.total;
        self.total_response_time += o.total_response_time;
        self.response.merge(&o.response);
        self.start = self.start.min(o.start);
        self.end = self.end.max(o.end);
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0 && self.response.0.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    pub stats: Stats,
    /// Traces this service was the entry point of.
    pub root: i64,
    /// Rows of inferred segments (a node is inferred when it has only those).
    pub inferred: i64,
    pub rows: i64,
}

/// Where an edge starts: a service, or the client in front of the entry points.
pub type From = Option<Sid>;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Graph {
    pub nodes: FxHashMap<Sid, Node>,
    pub edges: FxHashMap<(From, Sid), Stats>,
    /// Span-link edges, from the linked (earlier) span's service to the linking one's; each
    /// counts one received event and its age (the linking span's start minus the linked one's).
    pub links: FxHashMap<(Sid, Sid), Stats>,
}

impl Graph {
    /// Adds (`sign` 1) or withdraws (`sign` -1) what a trace contributes.
    pub fn contribute(&mut self, s: &TraceSummary, sign: i64) {
        for r in s.rows.iter() {
            let n = self.nodes.entry(r.sid).or_default();
            n.stats.add(r.flags, r.duration, r.start, sign);
            n.rows += sign;
            if r.flags.contains(Flags::INFERRED) {
                n.inferred += sign;
            }
        }
        for e in s.edges.iter() {
            self.edges
                .entry((Some(e.from), e.to))
                .or_default()
                .add(e.flags, e.duration, e.start, sign);
        }
        if let Some(ep) = s.entry_point {
            self.nodes.entry(ep).or_default().root += sign;
            // The client's call is the root segment itself.
            if let Some(r) = s
                .rows
                .iter()
                .filter(|r| r.sid == ep)
                .min_by_key(|r| r.start)
            {
                self.edges
                    .entry((None, ep))
                    .or_default()
                    .add(r.flags, r.duration, r.start, sign);
            }
        }
        if sign < 0 {
            self.nodes.retain(|_, n| n.rows != 0 || n.root != 0);
            self.edges.retain(|_, e| !e.is_empty());
        }
    }

    /// Records a resolved span link: `to`'s entity started `age` seconds after `from`'s.
    pub fn add_link(&mut self, from: Sid, to: Sid, age: f64, start: Micros) {
        self.links
            .entry((from, to))
            .or_default()
            .add(Flags::empty(), age.max(0.0), start, 1);
    }

    pub fn merge(&mut self, o: &Graph) {
        for (k, n) in &o.nodes {
            let m = self.nodes.entry(*k).or_default();
            m.stats.merge(&n.stats);
            m.root += n.root;
            m.inferred += n.inferred;
            m.rows += n.rows;
        }
        for (k, e) in &o.edges {
            self.edges.entry(*k).or_default().merge(e);
        }
        for (k, e) in &o.links {
            self.links.entry(*k).or_default().merge(e);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.edges.is_empty() && self.links.is_empty()
    }
}

/// Seconds of a time, for rendering.
pub fn secs(t: Micros) -> f64 {
    micros_to_secs(t)
}

#[cfg(test)]
mod tests;
