//! Pure types of the X-Ray world: identifiers, time, segment documents, trace summaries and
//! the processed documents BatchGetTraces returns. No transport and no storage here.

pub mod api;
pub mod ids;
pub mod intern;
pub mod json_text;
mod lenient;
pub mod processed;
pub mod render;
pub mod segment;
pub mod selection;
pub mod spans;
pub mod summary;
pub mod time;
pub mod tree;

pub use ids::{SegmentId, TraceId};
pub use time::Micros;
