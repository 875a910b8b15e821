//! The lake in S3: `s3://bucket/prefix/<schema>/<table>/dt=YYYY-MM-DD/part-*.parquet`, the same
//! layout as the local lake.
//!
//! # Writing
//! Each part file is streamed into an S3 multipart upload: the Parquet writer's bytes are
//! buffered up to [`PART_SIZE`] and sent as one part, so memory per open file is bounded by one
//! part whatever the file's size. Uploads are **not completed** while the run writes: an
//! uncompleted multipart upload is invisible to every reader, so a failed or interrupted run
//! aborts its uploads and leaves nothing behind (a killed pod's uploads are aborted by the next
//! run of the date when it commits, and by any run after 24 hours; a bucket lifecycle rule
//! `AbortIncompleteMultipartUpload` does the same).
//!
//! # Committing a date
//! S3 has no rename, so readers are pointed at a version by a manifest, and writers are
//! serialized by a lease; both are changed only by conditional writes (`If-None-Match: *`,
//! `If-Match: <ETag>`).
//! - **The lease** ([`lease`]): before it writes anything, a run takes the date's lease,
//!   `<table>/dt=D/_lease.json`, and a heartbeat renews it. A second run of the date (a zombie
//!   pod and its retry, a manual run over the scheduled one) waits for it, up to twice the lease's
//!   time to live (`--lake-lease-seconds`), then exits 4 having written nothing. A killed run's
//!   lease is taken over once it has not been renewed for the time to live; the taker first
//!   finishes what the lease says the killed run left (below).
//! - **The manifest**: `dt=D/_manifest.json` names the partition's files. It is the read path:
//!   it always names one complete version, and it changes in one PUT.
//!
//! The commit, in order (each step has a fault point of the same name, see [`crate::fault`]):
//! 1. `stall-before-publish`, [`S3Staging::publish`]: record the partition in the lease, then
//!    complete this run's uploads (`If-None-Match: *`). Their names carry a run-unique suffix
//!    (`part-00000-<run>-<nonce>.parquet`), so they never overwrite an object of another version.
//!    `stall-mid-publish` lies between two partitions.
//! 2. `stall-before-load`: the lease is renewed (a run that lost it stops here, see
//!    [`S3Staging::confirm_lease`]), then the warehouse loads exactly these new files, by name
//!    (`COPY ... FILES = (...)`), in one transaction.
//! 3. `stall-before-manifest`, [`S3Staging::finalize`]: write the new manifests into the lease
//!    (the decision), then each manifest with a compare and swap against the ETag seen at publish
//!    (`stall-mid-manifest` after the first).
//! 4. `stall-before-cleanup`: tidy each partition: delete every object its manifest does not name
//!    and abort every other upload under it (`stall-mid-cleanup` after the first), then clear it
//!    from the lease; finally release the lease.
//!
//! If the warehouse load fails, [`S3Staging::unpublish`] deletes the new objects instead: a
//! failed run commits nothing.
//!
//! # What readers see
//! - `_manifest.json` (the documented read path, README) names the previous version until step 3
//!   and the new one after, at every instant and whatever was killed: never half a date, never
//!   a mix, never duplicates. The warehouse loads files by name, so it is exact too.
//! - Snowflake holds the version of the last run that passed step 2. After a kill between its
//!   COMMIT and step 3 (one S3 request), the lake names the previous version until the next run of
//!   the date (which rewrites both) starts; a kill inside step 3 is rolled forward by the next
//!   run's take-over, since the decision is in the lease.
//! - A reader that globs `dt=D/*.parquet` sees both versions from step 1 to the end of step 4,
//!   and, after a kill in between, until the next run of the date starts and tidies. Across
//!   partitions (a table and its rejects) each manifest flips on its own, one request apart.
//! - `_`-prefixed objects (`_manifest.json`, `_lease.json`) are skipped by Hive, Spark and
//!   Athena, and never match `*.parquet`.

mod lease;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};

use self::lease::{LEASE, Lease, PendingManifest};
use super::{LakeError, PartTarget, key_of};
use crate::source::S3Options;
use crate::source::s3::classify;

/// Bytes buffered per open part file before they are sent as one multipart part: S3's minimum
/// (except for the last part), since the buffer is part of a job's peak memory. S3 allows 10,000
/// parts, so a part file can reach 48 GiB, far above the 2 GiB a part file is cut at.
pub(super) const PART_SIZE: usize = 5 << 20;
/// A part file's first buffer, enough for a rejects file.
const SMALL_PART: usize = 256 << 10;

/// The list of the partition's current files: the read path (see "What readers see").
pub const MANIFEST: &str = "_manifest.json";

/// Uncompleted uploads under the lake older than this belong to killed runs and are aborted.
const STALE_UPLOAD_SECS: i64 = 24 * 3600;

/// `prefix/rest`, or `rest` when the lake is the bucket's root.
pub fn join_key(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_owned()
    } else {
        format!("{prefix}/{rest}")
    }
}

/// An S3 lake: a bucket and a prefix, and a client.
pub struct S3Lake {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    handle: tokio::runtime::Handle,
}

impl S3Lake {
    pub async fn connect(bucket: &str, prefix: &str, options: &S3Options) -> S3Lake {
        S3Lake {
            client: crate::source::s3::client(options).await,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            handle: tokio::runtime::Handle::current(),
        }
    }

    /// Starts a run of the date whose table partition is `lease_partition`: aborts stale uploads
    /// of killed runs (best effort), takes the date's lease (waiting for another run up to twice
    /// `lease_ttl`), finishes what a killed holder left, and returns the run's staging.
    pub(super) async fn begin(
        self: &Arc<Self>,
        run_id: &str,
        lease_partition: &Path,
        lease_ttl: Duration,
        cancel: tokio::sync::watch::Receiver<bool>,
    ) -> Result<Arc<S3Staging>, LakeError> {
        self.abort_stale_uploads().await;
        let token = run_token(run_id);
        let key = format!("{}{LEASE}", self.partition_prefix(lease_partition));
        let acquired = self
            .acquire(&key, run_id, &token, lease_ttl, cancel)
            .await?;
        let staging = Arc::new(S3Staging {
            lake: self.clone(),
            run_id: run_id.to_owned(),
            token,
            lease: acquired.lease,
            uploads: Mutex::new(Vec::new()),
            published: Mutex::new(Vec::new()),
        });
        if let Err(err) = staging.recover(acquired.taken_from.as_deref()).await {
            staging.lease.release().await;
            return Err(err);
        }
        Ok(staging)
    }

    /// The files `_manifest.json` of the partition `prefix` names, and its ETag; `None` when the
    /// partition has no manifest (no run committed it).
    async fn read_manifest(
        &self,
        prefix: &str,
    ) -> Result<Option<(String, Vec<String>)>, LakeError> {
        let key = format!("{prefix}{MANIFEST}");
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(classify("GetObject", &self.bucket, &key, e).into()),
        };
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let path = format!("s3://{}/{key}", self.bucket);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| LakeError::Io {
                path: path.clone(),
                source: io::Error::other(e),
            })?
            .into_bytes();
        let files = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("files")?
                    .as_array()?
                    .iter()
                    .map(|f| f.as_str().map(str::to_owned))
                    .collect::<Option<Vec<String>>>()
            })
            .ok_or_else(|| LakeError::BadManifest {
                key: path,
                reason: "expected a JSON object with \"files\": [names]".into(),
            })?;
        Ok(Some((etag, files)))
    }

    /// Makes the partition `prefix` exactly what its manifest names: deletes every other object
    /// directly in it (`_`-prefixed ones excepted) and aborts every upload under it. Called only
    /// by the lease holder, so these belong to killed runs or to the previous version.
    async fn tidy(&self, prefix: &str) -> Result<usize, LakeError> {
        let keep: std::collections::HashSet<String> = self
            .read_manifest(prefix)
            .await?
            .map(|(_, files)| files.into_iter().collect())
            .unwrap_or_default();
        let doomed: Vec<String> = self
            .list(prefix)
            .await?
            .into_iter()
            .filter(|k| {
                let name = &k[prefix.len()..];
                !name.starts_with('_') && !name.contains('/') && !keep.contains(name)
            })
            .collect();
        self.delete(&doomed).await?;
        // Best effort: an upload left open costs storage until the bucket's lifecycle rule.
        let _ = self.abort_uploads(prefix, |_| true).await;
        Ok(doomed.len())
    }

    async fn abort_stale_uploads(&self) {
        let prefix = join_key(&self.prefix, "");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let stale = |upload: &aws_sdk_s3::types::MultipartUpload| {
            upload
                .initiated()
                .is_some_and(|t| now - t.secs() > STALE_UPLOAD_SECS)
        };
        if self.abort_uploads(&prefix, stale).await.is_none() {
            tracing::debug!("could not list stale multipart uploads (ignored)");
        }
    }

    /// Aborts the open multipart uploads under `prefix` that `which` selects; `None` when they
    /// could not be listed. Each abort is best effort (logged).
    async fn abort_uploads(
        &self,
        prefix: &str,
        which: impl Fn(&aws_sdk_s3::types::MultipartUpload) -> bool,
    ) -> Option<()> {
        let listed = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .ok()?;
        for upload in listed.uploads().iter().filter(|u| which(u)) {
            if let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) {
                let aborted = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await;
                tracing::info!(
                    key,
                    ok = aborted.is_ok(),
                    "aborted an open multipart upload"
                );
            }
        }
        Some(())
    }

    /// The partition's key prefix, with the trailing `/`.
    fn partition_prefix(&self, relative: &Path) -> String {
        format!("{}/", join_key(&self.prefix, &key_of(relative)))
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.handle.block_on(f)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ListObjectsV2", &self.bucket, prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }

    async fn delete(&self, keys: &[String]) -> Result<(), LakeError> {
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .expect("key is set");
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .expect("objects are set");
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| classify("DeleteObjects", &self.bucket, &chunk[0], e))?;
            if let Some(err) = out.errors().first() {
                // A per-key error inside a 200 answer: the same classifier, by its code.
                let failure = crate::aws_error::AwsFailure {
                    problem: crate::aws_error::problem_for_code(err.code(), None),
                    cause: crate::aws_error::CauseChain::line(crate::aws_error::service_line(
                        err.code(),
                        err.message(),
                        None,
                    )),
                };
                return Err(LakeError::S3(crate::source::SourceError::s3(
                    "DeleteObjects",
                    &self.bucket,
                    err.key().unwrap_or_default(),
                    failure,
                )));
            }
        }
        Ok(())
    }
}

/// A run's pending and published objects in an S3 lake, and the date's lease it holds.
pub struct S3Staging {
    lake: Arc<S3Lake>,
    run_id: String,
    /// Run-unique suffix of every object this run writes.
    token: String,
    lease: Arc<Lease>,
    uploads: Mutex<Vec<Upload>>,
    published: Mutex<Vec<Published>>,
}

/// A multipart upload of this run, not yet completed.
struct Upload {
    relative: PathBuf,
    key: String,
    upload_id: String,
    /// `None` while the writer is still writing.
    parts: Option<Vec<CompletedPart>>,
}

/// A partition whose new objects are visible and whose manifest still names the previous ones.
struct Published {
    relative: PathBuf,
    prefix: String,
    new_keys: Vec<String>,
    /// The manifest's ETag when this run published (`None`: there was none), for the compare
    /// and swap that replaces it.
    manifest_etag: Option<String>,
}

impl S3Staging {
    pub fn bucket(&self) -> &str {
        &self.lake.bucket
    }

    pub(super) fn part(self: &Arc<Self>, relative: &Path, stem: &str) -> PartTarget {
        let name = format!("{stem}-{}.parquet", self.token);
        PartTarget::S3 {
            staging: self.clone(),
            relative: relative.to_owned(),
            key: format!("{}{name}", self.lake.partition_prefix(relative)),
        }
    }

    pub(super) fn has_parts(&self, relative: &Path) -> bool {
        self.uploads
            .lock()
            .expect("uploads lock")
            .iter()
            .any(|u| u.relative == relative && u.parts.is_some())
    }

    /// Finishes what the lease's previous holder left: writes the manifests it had decided on
    /// (its warehouse load had committed), then tidies every partition it had made objects
    /// visible in. Each finished item is cleared from the lease, so a run killed here leaves
    /// the rest to the next.
    async fn recover(&self, taken_from: Option<&str>) -> Result<(), LakeError> {
        let lake = &self.lake;
        let body = self.lease.body().await;
        for m in &body.commit {
            lake.client
                .put_object()
                .bucket(&lake.bucket)
                .key(&m.key)
                .content_type("application/json")
                .body(ByteStream::from(
                    serde_json::to_vec_pretty(&m.body).expect("manifest serializes"),
                ))
                .send()
                .await
                .map_err(|e| classify("PutObject", &lake.bucket, &m.key, e))?;
        }
        if !body.commit.is_empty() {
            tracing::warn!(
                manifests = body.commit.len(),
                previous_run = taken_from.unwrap_or("(released)"),
                "wrote the manifests a killed run had decided on (its warehouse load had committed)"
            );
            self.lease.update(|b| b.commit.clear()).await?;
        }
        for prefix in &body.partitions {
            let removed = lake.tidy(prefix).await?;
            self.lease
                .update(|b| b.partitions.retain(|p| p != prefix))
                .await?;
            tracing::warn!(partition = %prefix, removed, previous_run = taken_from.unwrap_or("(released)"), "removed the objects a previous run of this date left beside its manifest");
        }
        Ok(())
    }

    /// Completes this run's uploads of the partition and returns the new file names. The
    /// partition is recorded in the lease first, so a kill from here on is tidied by the next run.
    pub(super) fn publish(&self, relative: &Path) -> Result<Vec<String>, LakeError> {
        let lake = &self.lake;
        let prefix = lake.partition_prefix(relative);
        match self.published.lock().expect("published lock").len() {
            0 => crate::fault::hit("stall-before-publish"),
            1 => crate::fault::hit("stall-mid-publish"),
            _ => {}
        }
        let ready: Vec<Upload> = {
            let mut uploads = self.uploads.lock().expect("uploads lock");
            let (mine, rest): (Vec<Upload>, Vec<Upload>) = std::mem::take(&mut *uploads)
                .into_iter()
                .partition(|u| u.relative == relative && u.parts.is_some());
            *uploads = rest;
            mine
        };
        let mut new_keys = Vec::new();
        let result = lake.block_on(async {
            self.lease
                .update(|b| {
                    if !b.partitions.contains(&prefix) {
                        b.partitions.push(prefix.clone());
                    }
                })
                .await?;
            let manifest_etag = lake.read_manifest(&prefix).await?.map(|(etag, _)| etag);
            for upload in &ready {
                lake.client
                    .complete_multipart_upload()
                    .bucket(&lake.bucket)
                    .key(&upload.key)
                    .upload_id(&upload.upload_id)
                    .if_none_match("*")
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(upload.parts.clone())
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| {
                        classify("CompleteMultipartUpload", &lake.bucket, &upload.key, e)
                    })?;
                new_keys.push(upload.key.clone());
            }
            Ok::<_, LakeError>(manifest_etag)
        });
        let manifest_etag = match result {
            Ok(etag) => etag,
            Err(err) => {
                // Take back what became visible, and drop the rest.
                let done = new_keys.clone();
                let _ = lake.block_on(lake.delete(&done));
                let left: Vec<Upload> = ready
                    .into_iter()
                    .filter(|u| !done.contains(&u.key))
                    .collect();
                self.uploads.lock().expect("uploads lock").extend(left);
                return Err(err);
            }
        };
        let mut names: Vec<String> = new_keys
            .iter()
            .map(|k| k[prefix.len()..].to_owned())
            .collect();
        names.sort();
        tracing::debug!(partition = %prefix, new = new_keys.len(), "published S3 partition");
        self.published
            .lock()
            .expect("published lock")
            .push(Published {
                relative: relative.to_owned(),
                prefix,
                new_keys,
                manifest_etag,
            });
        Ok(names)
    }

    /// Points each published partition's manifest at the new files (the decision goes into the
    /// lease first), then tidies the partitions. Fails only while no manifest has changed or when
    /// the lease was lost; a failed tidy is left to the next run of the date (a warning).
    pub(super) fn finalize(&self) -> Result<(), LakeError> {
        let lake = &self.lake;
        let published = std::mem::take(&mut *self.published.lock().expect("published lock"));
        if published.is_empty() {
            return Ok(());
        }
        crate::fault::hit("stall-before-manifest");
        let manifests: Vec<PendingManifest> = published
            .iter()
            .map(|p| {
                let mut files: Vec<&str> =
                    p.new_keys.iter().map(|k| &k[p.prefix.len()..]).collect();
                files.sort_unstable();
                PendingManifest {
                    key: format!("{}{MANIFEST}", p.prefix),
                    body: serde_json::json!({
                        "run_id": self.run_id,
                        "partition": key_of(&p.relative),
                        "files": files,
                    }),
                }
            })
            .collect();
        lake.block_on(self.lease.update(|b| b.commit = manifests.clone()))?;
        for (i, (p, m)) in published.iter().zip(&manifests).enumerate() {
            lake.block_on(self.put_manifest(m, p.manifest_etag.as_deref()))?;
            if i == 0 {
                crate::fault::hit("stall-mid-manifest");
            }
        }
        crate::fault::hit("stall-before-cleanup");
        if let Err(err) = lake.block_on(self.lease.update(|b| b.commit.clear())) {
            tracing::warn!(error = %crate::error::error_chain(&err).join(": "), "could not clear the decided manifests from the lease (they are written; the next run rewrites them)");
        }
        for (i, p) in published.iter().enumerate() {
            let tidied = lake.block_on(async {
                let removed = lake.tidy(&p.prefix).await?;
                self.lease
                    .update(|b| b.partitions.retain(|x| *x != p.prefix))
                    .await?;
                Ok::<_, LakeError>(removed)
            });
            match tidied {
                Ok(removed) => {
                    tracing::debug!(partition = %p.prefix, removed, "replaced S3 partition");
                }
                Err(err) => tracing::warn!(
                    partition = %p.prefix,
                    error = %crate::error::error_chain(&err).join(": "),
                    "committed, but could not remove the previous objects; the manifest names the new version, and the next run of this date removes them"
                ),
            }
            if i == 0 {
                crate::fault::hit("stall-mid-cleanup");
            }
        }
        Ok(())
    }

    /// Replaces a manifest by compare and swap against the ETag this run saw at publish. A
    /// mismatch means another run changed it: this run has lost the date.
    async fn put_manifest(&self, m: &PendingManifest, etag: Option<&str>) -> Result<(), LakeError> {
        let lake = &self.lake;
        let bytes = serde_json::to_vec_pretty(&m.body).expect("manifest serializes");
        let request = lake
            .client
            .put_object()
            .bucket(&lake.bucket)
            .key(&m.key)
            .content_type("application/json")
            .body(ByteStream::from(bytes));
        let request = match etag {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if lease::is_conflict(&e) => {
                // A retried PUT whose first reply was lost finds its own manifest: fine.
                let now = lake
                    .read_manifest(&m.key[..m.key.len() - MANIFEST.len()])
                    .await?;
                let ours: Vec<String> =
                    serde_json::from_value(m.body["files"].clone()).expect("files are strings");
                if now.is_some_and(|(_, files)| files == ours) {
                    return Ok(());
                }
                Err(LakeError::ManifestChanged {
                    key: format!("s3://{}/{}", lake.bucket, m.key),
                })
            }
            Err(e) => Err(classify("PutObject", &lake.bucket, &m.key, e).into()),
        }
    }

    /// Deletes the new objects of partitions published but not finalized, and clears them from
    /// the lease (on failure they stay there, for the next run to tidy).
    pub(super) fn unpublish(&self) -> Result<(), LakeError> {
        let lake = &self.lake;
        let published = std::mem::take(&mut *self.published.lock().expect("published lock"));
        let prefixes: Vec<String> = published.iter().map(|p| p.prefix.clone()).collect();
        let keys: Vec<String> = published.into_iter().flat_map(|p| p.new_keys).collect();
        lake.block_on(async {
            lake.delete(&keys).await?;
            self.lease
                .update(|b| b.partitions.retain(|p| !prefixes.contains(p)))
                .await
        })
    }

    /// Renews the date's lease now; fails if another run has taken it over.
    pub(super) fn confirm_lease(&self) -> Result<(), LakeError> {
        self.lake.block_on(self.lease.update(|_| {}))
    }

    /// Releases the date's lease (best effort; the next run takes it over after its time to
    /// live otherwise).
    pub(super) fn release(&self) {
        self.lake.block_on(self.lease.release());
    }

    /// Aborts the uploads that were never completed (best effort).
    pub(super) fn abort_pending(&self) {
        let lake = &self.lake;
        let uploads = std::mem::take(&mut *self.uploads.lock().expect("uploads lock"));
        if uploads.is_empty() {
            return;
        }
        lake.block_on(async {
            for u in &uploads {
                let aborted = lake
                    .client
                    .abort_multipart_upload()
                    .bucket(&lake.bucket)
                    .key(&u.key)
                    .upload_id(&u.upload_id)
                    .send()
                    .await;
                if aborted.is_err() {
                    tracing::warn!(key = %u.key, "could not abort a multipart upload; it stays invisible and is aborted after 24 hours");
                }
            }
        });
    }

    fn register(&self, relative: &Path, key: &str, upload_id: &str) {
        self.uploads.lock().expect("uploads lock").push(Upload {
            relative: relative.to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            parts: None,
        });
    }

    fn close_upload(&self, upload_id: &str, parts: Vec<CompletedPart>) {
        if let Some(u) = self
            .uploads
            .lock()
            .expect("uploads lock")
            .iter_mut()
            .find(|u| u.upload_id == upload_id)
        {
            u.parts = Some(parts);
        }
    }
}

/// `<run id, sanitized and cut>-<8 random hex digits>`: the same `--run-id` twice (an Airflow
/// retry) still writes new names.
fn run_token(run_id: &str) -> String {
    let clean: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let mut nonce = [0u8; 4];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
        .expect("the OS random source works");
    let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    format!("{clean}-{hex}")
}

/// Streams one part file into a multipart upload; completing it is the staging's job.
pub(super) struct MultipartWriter {
    staging: Arc<S3Staging>,
    relative: PathBuf,
    key: String,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    buf: Vec<u8>,
}

impl MultipartWriter {
    pub(super) fn new(staging: Arc<S3Staging>, relative: PathBuf, key: String) -> MultipartWriter {
        MultipartWriter {
            staging,
            relative,
            key,
            upload_id: None,
            parts: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// Sends the buffer as the next part (starting the upload first if needed).
    fn send_part(&mut self) -> Result<(), LakeError> {
        let lake = self.staging.lake.clone();
        let bucket = &lake.bucket;
        if self.upload_id.is_none() {
            let created = lake
                .block_on(
                    lake.client
                        .create_multipart_upload()
                        .bucket(bucket)
                        .key(&self.key)
                        .content_type("application/vnd.apache.parquet")
                        .send(),
                )
                .map_err(|e| classify("CreateMultipartUpload", bucket, &self.key, e))?;
            let id = created.upload_id().unwrap_or_default().to_owned();
            self.staging.register(&self.relative, &self.key, &id);
            self.upload_id = Some(id);
        }
        let number = self.parts.len() as i32 + 1;
        let body = bytes::Bytes::from(std::mem::take(&mut self.buf));
        let sent = lake
            .block_on(
                lake.client
                    .upload_part()
                    .bucket(bucket)
                    .key(&self.key)
                    .upload_id(self.upload_id.as_deref().expect("created above"))
                    .part_number(number)
                    .body(ByteStream::from(body))
                    .send(),
            )
            .map_err(|e| classify("UploadPart", bucket, &self.key, e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(sent.e_tag().map(str::to_owned))
                .set_checksum_crc32(sent.checksum_crc32().map(str::to_owned))
                .build(),
        );
        Ok(())
    }

    /// Sends the last part; the upload waits (invisible) for the staging to complete it.
    pub(super) fn close(mut self) -> Result<(), LakeError> {
        if !self.buf.is_empty() || self.parts.is_empty() {
            self.send_part()?;
        }
        let parts = std::mem::take(&mut self.parts);
        self.staging
            .close_upload(self.upload_id.as_deref().expect("a part was sent"), parts);
        Ok(())
    }
}

impl Write for MultipartWriter {
    /// Takes at most what fills the part, so the buffer never passes [`PART_SIZE`] (a row group's
    /// column chunk arrives in one write, and may be larger than a part).
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let taken = data.len().min(PART_SIZE - self.buf.len());
        let needed = self.buf.len() + taken;
        if self.buf.capacity() < needed {
            // A small file (rejects) keeps a small buffer; a larger one gets a whole part's at
            // once rather than growing by doubling.
            let capacity = if needed <= SMALL_PART {
                SMALL_PART
            } else {
                PART_SIZE
            };
            self.buf.reserve_exact(capacity - self.buf.len());
        }
        self.buf.extend_from_slice(&data[..taken]);
        if self.buf.len() >= PART_SIZE {
            self.send_part().map_err(io::Error::other)?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens() {
        assert_eq!(join_key("", "s/t/dt=2026-11-20"), "s/t/dt=2026-11-20");
        assert_eq!(join_key("lake/v1", "s/t"), "lake/v1/s/t");
        let a = run_token("manual run/1");
        let b = run_token("manual run/1");
        assert!(a.starts_with("manual_run_1-"), "{a}");
        assert_ne!(a, b, "the nonce makes every run's names new");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
