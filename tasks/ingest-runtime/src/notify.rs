//! Telling people: the failure alert a run posts to Mattermost.
//!
//! - [`alert`]: what a failed run says (error chain, sample rejects, the re-run command) and
//!   when it says it.

pub mod alert;
