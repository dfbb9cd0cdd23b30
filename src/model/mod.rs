//! Pure types of the X-Ray world: identifiers, time, segment documents, trace summaries and
//! the processed documents BatchGetTraces returns. No transport and no storage here.

pub mod ids;
mod lenient;
pub mod processed;
pub mod segment;
pub mod summary;
pub mod time;

pub use ids::{SegmentId, TraceId};
pub use time::Micros;
