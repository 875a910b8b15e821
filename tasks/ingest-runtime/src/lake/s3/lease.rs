//! The date's lease: at most one run writes and commits a date of a table in an S3 lake at a time.
//!
//! The lease is one object, `<table partition>/_lease.json`, changed only by conditional writes:
//! taken with `If-None-Match: *` (put if absent) or `If-Match: <ETag>` (compare and swap), and
//! renewed by compare and swap every quarter of its time to live by a heartbeat task. Its body
//! names the holder and carries the holder's unfinished business, so whoever takes it next
//! finishes that first:
//! - `partitions`: the partitions the holder made objects visible in and has not tidied yet
//!   (the taker removes every object there that the partition's manifest does not name);
//! - `commit`: manifests the holder decided on (the warehouse had committed) and may not all
//!   have written (the taker writes them: roll forward).
//!
//! A run that ends with nothing left to finish deletes the lease (compare and swap on its ETag).
//! A lease is free when it is absent, released, or its ETag has not changed for the time to live
//! as measured by the waiter's own monotonic clock (so clock skew between pods does not matter):
//! its holder was killed or is cut off. A run that finds the lease held waits up to twice the
//! time to live, then fails as transient (exit 4). A holder whose renewal is refused (another run
//! took the lease over) has lost it and must not change the date any more: every later step
//! checks the lease by renewing it first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use super::S3Lake;
use crate::lake::LakeError;
use crate::source::s3::classify;

/// The lease object's name in the table's date partition (`_`: Hive, Spark and Athena skip it).
pub const LEASE: &str = "_lease.json";

/// What the lease object holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct LeaseBody {
    pub run_id: String,
    /// The holder's run-unique token (the suffix of its object names).
    pub token: String,
    /// Bumped at every write, so the ETag changes at every renewal.
    pub renewals: u64,
    pub released: bool,
    /// Unix seconds of the last write by the holder's clock (for people; never compared).
    pub written_at: u64,
    /// Partition prefixes (keys ending in `/`) with objects not yet reconciled with the manifest.
    #[serde(default)]
    pub partitions: Vec<String>,
    /// Manifests decided on but maybe not all written: `(key, body)`.
    #[serde(default)]
    pub commit: Vec<PendingManifest>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct PendingManifest {
    pub key: String,
    pub body: serde_json::Value,
}

/// A write's precondition.
enum Condition<'a> {
    Absent,
    Matches(&'a str),
}

/// Why a conditional write did not happen.
enum PutFailure {
    /// The precondition failed: someone else wrote (or removed) the object.
    Conflict,
    Other(LakeError),
}

/// How long `release` waits for a renewal in flight before giving up on it.
const RENEWAL_WAIT: Duration = Duration::from_secs(5);

/// A lease this run holds.
pub(super) struct Lease {
    lake: Arc<S3Lake>,
    pub key: String,
    ttl: Duration,
    /// The current ETag and body; the lock also serializes this run's own writes.
    held: tokio::sync::Mutex<(String, LeaseBody)>,
    lost: AtomicBool,
    heartbeat: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Ends the heartbeat between renewals. Aborting it instead could cut a renewal whose PUT
    /// S3 already applied before its new ETag was recorded, and the release's compare and swap
    /// would then fail, leaving the lease behind (seen under load).
    stop_heartbeat: Arc<tokio::sync::Notify>,
}

/// What `acquire` found and took over.
pub(super) struct Acquired {
    pub lease: Arc<Lease>,
    /// The previous holder's run id, when the lease was taken over from a run that did not
    /// release it (killed, or cut off for the time to live).
    pub taken_from: Option<String>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether an SDK error is a failed precondition: 412, 409 (a concurrent conditional write, which
/// S3 answers with `ConditionalRequestConflict`) or 404 (`If-Match` on an object that is gone).
pub(super) fn is_conflict<E>(
    err: &aws_sdk_s3::error::SdkError<E, crate::aws_error::HttpResponse>,
) -> bool {
    err.raw_response()
        .is_some_and(|r| matches!(r.status().as_u16(), 404 | 409 | 412))
}

impl S3Lake {
    async fn get_lease(&self, key: &str) -> Result<Option<(String, LeaseBody)>, LakeError> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(classify("GetObject", &self.bucket, key, e).into()),
        };
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let bytes = out.body.collect().await.map_err(|e| LakeError::Io {
            path: format!("s3://{}/{key}", self.bucket),
            source: std::io::Error::other(e),
        })?;
        // An unreadable lease (not ours, or cut) counts as held by an unknown run: it is taken
        // over like any other once it has not changed for the time to live.
        let body = serde_json::from_slice(&bytes.into_bytes()).unwrap_or_else(|_| LeaseBody {
            run_id: "(unreadable lease)".into(),
            ..LeaseBody::default()
        });
        Ok(Some((etag, body)))
    }

    async fn put_lease(
        &self,
        key: &str,
        body: &LeaseBody,
        condition: Condition<'_>,
    ) -> Result<String, PutFailure> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(
                serde_json::to_vec_pretty(body).expect("lease serializes"),
            ));
        let request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Matches(etag) => request.if_match(etag),
        };
        match request.send().await {
            Ok(out) => Ok(out.e_tag().unwrap_or_default().to_owned()),
            Err(e) if is_conflict(&e) => Err(PutFailure::Conflict),
            Err(e) => Err(PutFailure::Other(
                classify("PutObject", &self.bucket, key, e).into(),
            )),
        }
    }

    /// Takes the lease `key` for this run, waiting up to `2 × ttl` for a live holder to end.
    /// A signal (`cancel`) ends the wait with [`LakeError::Cancelled`].
    pub(super) async fn acquire(
        self: &Arc<Self>,
        key: &str,
        run_id: &str,
        token: &str,
        ttl: Duration,
        mut cancel: tokio::sync::watch::Receiver<bool>,
    ) -> Result<Acquired, LakeError> {
        let started = Instant::now();
        let wait = ttl * 2;
        let poll = (ttl / 8).clamp(Duration::from_millis(100), Duration::from_secs(5));
        // The ETag last seen and when this run first saw it.
        let mut watched: Option<(String, Instant)> = None;
        let mut told = false;
        loop {
            let mine = |previous: Option<&LeaseBody>| LeaseBody {
                run_id: run_id.to_owned(),
                token: token.to_owned(),
                renewals: previous.map_or(0, |p| p.renewals + 1),
                released: false,
                written_at: now_secs(),
                // The previous holder's unfinished business becomes this run's.
                partitions: previous.map(|p| p.partitions.clone()).unwrap_or_default(),
                commit: previous.map(|p| p.commit.clone()).unwrap_or_default(),
            };
            let (attempt, condition_etag, previous) = match self.get_lease(key).await? {
                None => (mine(None), None, None),
                Some((etag, previous)) => {
                    let stale = match &watched {
                        Some((seen, since)) if *seen == etag => since.elapsed() >= ttl,
                        _ => {
                            watched = Some((etag.clone(), Instant::now()));
                            false
                        }
                    };
                    if !(previous.released || stale) {
                        if started.elapsed() >= wait {
                            return Err(LakeError::Busy {
                                lease: format!("s3://{}/{key}", self.bucket),
                                holder: previous.run_id,
                                ttl: ttl.as_secs(),
                                waited: started.elapsed().as_secs(),
                            });
                        }
                        if !told {
                            told = true;
                            tracing::info!(holder = %previous.run_id, lease = key, wait_secs = wait.as_secs(), "another run of this date holds the lease; waiting for it");
                        }
                        tokio::select! {
                            () = tokio::time::sleep(poll) => {}
                            _ = cancel.changed() => return Err(LakeError::Cancelled),
                        }
                        continue;
                    }
                    (mine(Some(&previous)), Some(etag), Some(previous))
                }
            };
            let condition = match &condition_etag {
                None => Condition::Absent,
                Some(etag) => Condition::Matches(etag),
            };
            match self.put_lease(key, &attempt, condition).await {
                Ok(etag) => {
                    let taken_from = previous.filter(|p| !p.released).map(|p| p.run_id);
                    if let Some(holder) = &taken_from {
                        tracing::warn!(holder = %holder, lease = key, ttl_secs = ttl.as_secs(), "took over the lease of a run that stopped renewing it (killed or cut off); finishing its commit and removing its leftovers");
                    }
                    let lease = Arc::new(Lease {
                        lake: self.clone(),
                        key: key.to_owned(),
                        ttl,
                        held: tokio::sync::Mutex::new((etag, attempt)),
                        lost: AtomicBool::new(false),
                        heartbeat: std::sync::Mutex::new(None),
                        stop_heartbeat: Arc::new(tokio::sync::Notify::new()),
                    });
                    lease.start_heartbeat();
                    return Ok(Acquired { lease, taken_from });
                }
                // Another run wrote first: look again.
                Err(PutFailure::Conflict) => continue,
                Err(PutFailure::Other(e)) => return Err(e),
            }
        }
    }
}

impl Lease {
    /// Changes the lease body with a compare and swap; renews the lease too. Fails with
    /// [`LakeError::LeaseLost`] when another run has taken it over.
    pub async fn update(&self, change: impl FnOnce(&mut LeaseBody)) -> Result<(), LakeError> {
        let mut held = self.held.lock().await;
        if self.lost.load(Ordering::SeqCst) {
            return Err(self.lost_error().await);
        }
        let mut body = held.1.clone();
        change(&mut body);
        body.renewals += 1;
        body.written_at = now_secs();
        match self
            .lake
            .put_lease(&self.key, &body, Condition::Matches(&held.0))
            .await
        {
            Ok(etag) => {
                *held = (etag, body);
                Ok(())
            }
            Err(PutFailure::Conflict) => {
                // The SDK may have retried a write whose first reply was lost: then the object
                // holds exactly what this run wrote, and nothing was lost.
                if let Ok(Some((etag, now))) = self.lake.get_lease(&self.key).await
                    && now.token == body.token
                    && now.renewals == body.renewals
                {
                    *held = (etag, now);
                    return Ok(());
                }
                self.lost.store(true, Ordering::SeqCst);
                Err(self.lost_error().await)
            }
            Err(PutFailure::Other(e)) => Err(e),
        }
    }

    async fn lost_error(&self) -> LakeError {
        let holder = match self.lake.get_lease(&self.key).await {
            Ok(Some((_, body))) => body.run_id,
            Ok(None) => "(another run, which has since finished and released it)".into(),
            Err(_) => "(unknown: the lease could not be read)".into(),
        };
        LakeError::LeaseLost {
            lease: format!("s3://{}/{}", self.lake.bucket, self.key),
            holder,
            ttl: self.ttl.as_secs(),
        }
    }

    /// The body as last written by this run.
    pub async fn body(&self) -> LeaseBody {
        self.held.lock().await.1.clone()
    }

    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Renews the lease every quarter of its time to live until released or lost. A failed
    /// renewal (S3 unreachable) is retried at the next tick; if none succeeds within the time to
    /// live, another run may take the lease over, and this run's next step finds it lost.
    fn start_heartbeat(self: &Arc<Self>) {
        let lease = Arc::downgrade(self);
        let every = self.ttl / 4;
        let stop = self.stop_heartbeat.clone();
        let task = self.lake.handle.spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = stop.notified() => return,
                }
                // A stall here blocks its thread: moved off the runtime's workers first.
                #[cfg(feature = "fault-injection")]
                tokio::task::block_in_place(|| crate::fault::hit("stall-lease-renewal"));
                let Some(lease) = lease.upgrade() else { return };
                match lease.update(|_| {}).await {
                    Ok(()) => {}
                    Err(LakeError::LeaseLost { holder, .. }) => {
                        tracing::error!(holder = %holder, lease = %lease.key, "lost the date's lease to another run; this run will commit nothing more");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %crate::error::error_chain(&e).join(": "), "could not renew the date's lease; retrying");
                    }
                }
            }
        });
        *self.heartbeat.lock().expect("heartbeat lock") = Some(task);
    }

    /// Stops the heartbeat and releases the lease (best effort: if this fails, the next run takes
    /// the lease over after the time to live): deletes it when nothing is left to finish, else
    /// marks it released with the unfinished business in its body, for the next run.
    pub async fn release(&self) {
        // Stop the heartbeat between renewals and wait for a renewal in flight to finish, so
        // the ETag below is the one S3 holds.
        self.stop_heartbeat.notify_one();
        let task = self.heartbeat.lock().expect("heartbeat lock").take();
        if let Some(mut task) = task {
            // Bounded: a renewal hung on S3 must not hold up the run's exit (the stop budget).
            if tokio::time::timeout(RENEWAL_WAIT, &mut task).await.is_err() {
                task.abort();
            }
        }
        if self.is_lost() {
            return;
        }
        let held = self.held.lock().await;
        if held.1.partitions.is_empty() && held.1.commit.is_empty() {
            // Nothing left to finish: remove the lease, so a date at rest holds only its files
            // and manifest (compare and swap, so a lease another run took over stays).
            let deleted = self
                .lake
                .client
                .delete_object()
                .bucket(&self.lake.bucket)
                .key(&self.key)
                .if_match(&held.0)
                .send()
                .await;
            if deleted.is_ok() {
                tracing::debug!(lease = %self.key, "released the date's lease");
                return;
            }
        }
        drop(held);
        match self.update(|b| b.released = true).await {
            Ok(()) => tracing::debug!(lease = %self.key, "released the date's lease"),
            Err(e) => {
                tracing::warn!(error = %crate::error::error_chain(&e).join(": "), lease = %self.key, "could not release the date's lease; the next run of this date takes it over after its time to live")
            }
        }
    }
}
