//! The runtime every ingest job shares: source → parse → sink, and everything around a run.
//!
//! A job crate provides an [`ingest_format::format::RecordFormat`] (its parser and table, from the
//! pure `ingest-format` crate) and a [`job::JobSpec`]; the runtime does the rest. Read in pipeline
//! order:
//!
//! - [`job`]: the entry point: command line, contract, exit codes, the summary and the alert.
//! - [`run`]: one run: list, parse on parallel workers, check the reject ratio, commit or not.
//! - [`source`]: where raw objects come from (S3 or a local directory), streamed.
//! - sinks: [`lake`] (the Parquet partitions and their swap) and [`warehouse`] (the Snowflake
//!   load of exactly the committed files).
//! - [`notify`]: the Mattermost failure alert.
//! - [`secrets`]: the redacting secret type and AWS Secrets Manager.
//! - around a run: [`config`] (shared options), [`error`] (failure kinds, exit codes),
//!   [`aws_client`] (the shared HTTPS and S3 clients), [`aws_error`] (the one AWS error
//!   classifier), [`retry`] (the one retry policy of the HTTP
//!   calls outside the AWS SDK), [`summary`], [`logging`], [`panics`],
//!   [`fault`] (crash points, test builds only).

pub mod aws_client;
pub mod aws_error;
pub mod config;
pub mod error;
pub mod fault;
pub mod job;
pub mod lake;
pub mod location;
pub mod logging;
pub mod notify;
pub mod panics;
pub mod retry;
pub mod run;
pub mod secrets;
pub mod sniff;
pub mod source;
pub mod summary;
pub mod warehouse;

// The lake modules name the format layer's tables and dates through these paths.
pub use ingest_format::{table, time};
