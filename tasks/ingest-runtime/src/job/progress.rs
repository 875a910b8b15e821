//! A one-line progress display on a terminal (files, rows, rejects, throughput).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::run::Counters;

/// A one-line progress display on a terminal.
pub(super) struct Progress {
    done: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<()>,
}

impl Progress {
    pub(super) fn start(counters: Arc<Counters>) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                let bytes = counters.bytes_uncompressed.load(Ordering::Relaxed);
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2K  files {}/{}  rows {}  rejects {}  {:.1} MB/s",
                    counters.files_done.load(Ordering::Relaxed),
                    counters.files_total.load(Ordering::Relaxed),
                    counters.rows_loaded.load(Ordering::Relaxed),
                    counters.rows_rejected.load(Ordering::Relaxed),
                    bytes as f64 / 1e6 / secs
                );
                let _ = err.flush();
            }
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        });
        Progress { done, handle }
    }

    pub(super) fn stop(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
    }
}
