//! Deterministic sample data for the ingest jobs: the same options always produce
//! byte-identical files.
//!
//! - [`alb`]: Application Load Balancer access logs (push-notification proxy).
//! - [`cloudfront`]: CloudFront standard logs (server telemetry pings, release downloads).
//! - [`licenses`]: the license metadata CSV export.
//! - [`scan`]: the benchmark's floor: gunzip and count lines, nothing kept.
//!
//! Each module has an options struct with defaults (`AlbOptions::new(date)`, ...) and a
//! `write_day(&options, out_dir) -> io::Result<Written>` that tests in other crates can call.

pub mod alb;
pub mod cloudfront;
pub mod date;
pub mod licenses;
pub mod output;
pub mod rng;
pub mod scan;

pub use alb::AlbOptions;
pub use cloudfront::{CloudFrontKind, CloudFrontOptions};
pub use date::Date;
pub use licenses::LicenseOptions;
pub use output::{FileWritten, Volume, Written, parse_size};
