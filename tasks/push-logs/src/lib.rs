//! The push-logs format: Application Load Balancer access logs of the push-notification proxy.
//!
//! Field facts: every documented ALB field in order through `conn_trace_id` and the 2025
//! `transformed_host`, `transformed_uri`, `request_transform_status`; fields AWS appends later are
//! ignored; lines from before the newest fields load with those columns NULL.

mod alb;
mod schema;

pub use alb::{AlbFormat, AlbParser, FIELDS, MIN_FIELDS, Record};
pub use schema::ALB_TABLE;
