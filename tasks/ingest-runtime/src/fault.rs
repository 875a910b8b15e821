//! Fault points for tests: crashes and hangs at chosen places of a run, compiled in only with the
//! cargo feature `fault-injection` (each job crate forwards it:
//! `cargo build -p push-logs --features fault-injection`).
//!
//! The code calls [`hit`] with a point's name at the place it stands for. With the feature, the
//! environment variable `INGEST_FAULT=<point>[,<point>...]` arms points, and hitting it acts according to
//! the name's prefix:
//!
//! | prefix | action |
//! |---|---|
//! | `panic-` | `panic!` (the run must end as exit 1 with a summary and one alert) |
//! | `abort-` | `std::process::abort()` (SIGABRT: a crash with no clean-up, like `kill -9`) |
//! | `stall-` | sleep forever, ignoring every stop flag (a call that never returns); with `INGEST_FAULT_RELEASE=<file>`, only until that file exists (a test holds a run at a step, then lets it go on) |
//!
//! Points so far: `panic-in-parse` and `stall-in-parse` (a parse worker, at each object),
//! `panic-in-main` (the main thread, just before the run starts), and the steps of the S3 lake's
//! commit (see `lake/s3.rs`), in order: `stall-before-publish` (parts uploaded, the date's lease
//! held, nothing visible), `stall-mid-publish` (the first partition's objects completed, not the
//! others), `stall-before-load` (every partition's new objects visible, the warehouse not loaded),
//! `stall-before-manifest` (the warehouse committed, no manifest written), `stall-mid-manifest`
//! (the first manifest written), `stall-before-cleanup` (every manifest written, the previous
//! objects still there), `stall-mid-cleanup` (the first partition tidied) and
//! `stall-lease-renewal` (the lease's heartbeat stops renewing: a paused or partitioned pod).
//! Each logs "fault injected" with the point's name when reached, so a test can `kill -9` the
//! process exactly there. A new point is one call, `crate::fault::hit("abort-after-publish")`,
//! and a line in the list above.
//!
//! Without the feature [`hit`] is an empty inline function and `INGEST_FAULT` is never read: the
//! shipped images cannot be made to crash by an environment variable.

/// A fault point. No-op unless built with `fault-injection` and armed by `INGEST_FAULT`.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn hit(_point: &str) {}

/// A fault point: acts when `INGEST_FAULT` names `point` (see the module documentation).
#[cfg(feature = "fault-injection")]
pub fn hit(point: &str) {
    if !armed().iter().any(|p| p == point) {
        return;
    }
    tracing::warn!(point, "fault injected (INGEST_FAULT)");
    if point.starts_with("panic-") {
        panic!("fault injected at {point} (INGEST_FAULT)");
    } else if point.starts_with("abort-") {
        std::process::abort();
    } else if point.starts_with("stall-") {
        let release = std::env::var_os("INGEST_FAULT_RELEASE").map(std::path::PathBuf::from);
        loop {
            match &release {
                Some(file) if file.exists() => {
                    tracing::warn!(point, "fault released (INGEST_FAULT_RELEASE exists)");
                    return;
                }
                Some(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                None => std::thread::sleep(std::time::Duration::from_secs(3600)),
            }
        }
    }
}

/// The armed points (`INGEST_FAULT`, comma-separated), read once.
#[cfg(feature = "fault-injection")]
fn armed() -> &'static [String] {
    static ARMED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var("INGEST_FAULT")
            .unwrap_or_default()
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    })
}

/// Whether this build has fault points at all (printed in the start-up log line).
pub const ENABLED: bool = cfg!(feature = "fault-injection");
