//! xray-gateway: AWS X-Ray on your machine.
//!
//! Segment documents arrive through the X-Ray API's PutTraceSegments (and, later, OTLP and
//! the daemon's UDP port); every path ends in [`ingest::ingest`], which validates each document
//! on its own and hands the valid ones to a [`store::TraceStore`]. The store correlates
//! documents by trace ID and keeps each trace's summary current, so the read operations
//! (BatchGetTraces, GetTraceSummaries) never re-parse what they serve from.
//!
//! Modules: `model` (pure X-Ray types and rules), `store` (the trait and the in-memory store),
//! `ingest` (the one ingest path), `xray_api` (the rest-json adapter), `config` and `app`
//! (flags and composition).

pub mod app;
pub mod config;
pub mod convert;
pub mod daemon;
pub mod error;
pub mod graph;
pub mod ingest;
pub mod model;
pub mod otlp;
pub mod query;
pub mod sampling;
pub mod store;
pub mod xray_api;
