//! xray-gateway: AWS X-Ray on your machine.
//!
//! Segment documents arrive through the X-Ray API's PutTraceSegments, the daemon's UDP port, and
//! OTLP (spans converted by `convert` into the documents the ADOT `awsxray` exporter writes);
//! every path ends in [`ingest`], which validates each document on its own and hands the valid
//! ones to a [`store::TraceStore`]. The store correlates
//! documents by trace ID and keeps each trace's summary current, so the read operations
//! (BatchGetTraces, GetTraceSummaries) never re-parse what they serve from.
//!
//! Modules: `model` (pure X-Ray types and rules), `convert` (OTel span → segment document,
//! pure), `query` (filter expressions), `graph` (service graph), `sampling`, `store` (the trait
//! and the in-memory store), `ingest` (the one ingest path), the adapters `xray_api`
//! (rest-json), `otlp` (gRPC and HTTP) and `daemon` (UDP), and `config` and `app` (flags and
//! composition).

pub mod app;
pub mod auth;
pub mod config;
pub mod control;
pub mod convert;
pub mod daemon;
pub mod error;
pub mod graph;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod otlp;
#[doc(hidden)]
pub mod otlp_fixture;
pub mod query;
pub mod quota;
pub mod refusals;
pub mod rules;
pub mod sampling;
pub mod store;
pub mod ui;
pub mod xray_api;
