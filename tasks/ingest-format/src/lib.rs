//! The parse layer of the ingest jobs: bytes in, typed rows and rejects out.
//!
//! Pure functions and in-memory state only: no I/O (the runtime hands a format a `BufRead` of one
//! decompressed object), no AWS, no async. The runtime (`ingest-runtime`) drives it; a job crate
//! implements [`format::RecordFormat`] with these pieces.
//!
//! - [`format`]: the interface between a format and the runtime (rows, rejects, derived tables).
//! - [`table`]: table schemas and the column batches rows are written into.
//! - [`lines`]: line framing with a bounded line length.
//! - [`csv`]: RFC 4180 records with quoted line breaks.
//! - [`cloudfront`]: the CloudFront W3C access-log reader.
//! - [`url`]: percent-decoding and query strings.
//! - [`swar`]: byte searches eight bytes at a time, for short fields.
//! - [`time`]: dates and timestamps, parsed and formatted without a calendar library.
//! - `testing` (feature `testing`, tests only): an in-memory sink, fixture reader and mutators.

pub mod cloudfront;
pub mod csv;
pub mod format;
pub mod lines;
pub mod swar;
pub mod table;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod url;
