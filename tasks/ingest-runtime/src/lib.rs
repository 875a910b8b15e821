//! The runtime every ingest job shares.
//!
//! A job crate provides a [`format::RecordFormat`] (its parser and table) and a job description;
//! the runtime does the rest: configuration, logging, listing and streaming the source, parallel
//! parsing, the lake partition swap, rejects, the run summary, exit codes and the failure alert.

pub mod alert;
pub mod cloudfront;
pub mod config;
pub mod csv;
pub mod error;
pub mod fault;
pub mod format;
pub mod job;
pub mod lake;
pub mod lines;
pub mod logging;
pub mod panics;
pub mod run;
pub mod secret;
pub mod secrets_manager;
pub mod source;
pub mod summary;
pub mod table;
pub mod testing;
pub mod time;
pub mod warehouse;
