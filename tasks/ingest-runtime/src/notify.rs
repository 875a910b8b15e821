//! Telling people: Mattermost posts.
//!
//! - [`mattermost`]: the one webhook client (sanitizer, URL redaction, sending with retries),
//!   used by the jobs and by preflight.
//! - [`alert`]: what a failed run says (error chain, sample rejects, the re-run command) and
//!   when it says it.

pub mod alert;
pub mod mattermost;
