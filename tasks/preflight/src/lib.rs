//! The preflight check of an ingest-tasks deployment (docs/preflight.md).
//!
//! Run before `helm upgrade` (the chart's pre-upgrade hook) and as a `helm test`, it checks what
//! the jobs need before anything runs, prints a table naming what is missing (never a value) and
//! exits non-zero when something is:
//!
//! - every key of the jobs' Kubernetes Secret ([`kube_secrets`]);
//! - the jobs' ServiceAccount and its IRSA annotation ([`kube_service_account`]);
//! - each job's S3 sources are listable and readable, and the lake writable, with the pod's
//!   credentials ([`s3check`]);
//! - optionally the warehouse credentials ([`warehouse`]) and the webhook ([`webhook`]).
//!
//! `--sync` copies chosen AWS Secrets Manager entries into the Secret first, idempotently.
//!
//! `--check-freshness` is another mode, the watchdog ([`freshness`]): run hourly by a CronJob,
//! it checks that every due date is in the lake, and alerts once per date that is not.

pub mod freshness;
pub mod kube_secrets;
pub mod kube_service_account;
pub mod plan;
pub mod report;
pub mod s3check;
pub mod warehouse;
pub mod webhook;
