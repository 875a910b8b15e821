//! The lake in S3: `s3://bucket/prefix/<schema>/<table>/dt=YYYY-MM-DD/part-*.parquet`, the same
//! layout as the local lake.
//!
//! # Writing
//! Each part file is streamed into an S3 multipart upload: the Parquet writer's bytes are
//! buffered up to [`PART_SIZE`] and sent as one part, so memory per open file is bounded by one
//! part whatever the file's size. Uploads are **not completed** while the run writes: an
//! uncompleted multipart upload is invisible to every reader, so a failed or interrupted run
//! aborts its uploads and leaves nothing behind (uploads of a killed pod are aborted by the next
//! run after 24 hours; a bucket lifecycle rule `AbortIncompleteMultipartUpload` does the same).
//!
//! # Replacing a partition
//! S3 has no rename, so the partition is replaced object by object, in this order:
//! 1. [`S3Staging::publish`]: list the partition's current objects (the previous version, plus
//!    anything a killed run left), then complete this run's uploads. Their names carry a
//!    run-unique suffix (`part-00000-<run>-<nonce>.parquet`), so they never overwrite an object
//!    of the previous version.
//! 2. (The warehouse loads exactly these new files, by name: `COPY ... FILES = (...)`.)
//! 3. [`S3Staging::finalize`]: replace `_manifest.json` (one PUT, atomic) with the new file list,
//!    then delete every listed previous object.
//!
//! If the warehouse load fails, [`S3Staging::unpublish`] deletes the new objects instead, so the
//! previous version is again the whole partition: a failed run commits nothing.
//!
//! # What readers see
//! - `_manifest.json` always names a complete version: the previous one until step 3, the new
//!   one after. Readers that follow it (and the warehouse load, which lists files explicitly) never
//!   see half a date or a mix.
//! - A reader that globs `dt=D/*.parquet` sees the previous version, then, between steps 1 and 3
//!   (the warehouse load, seconds to minutes), **both** versions (duplicates), then the new one.
//!   It never sees half of one version. Spark, Hive and Athena ignore `_`-prefixed files.
//! - A pod killed between steps 1 and 3 leaves the new objects beside the old ones (and the
//!   manifest on the old version) until the date is re-run, which removes both.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};

use super::{LakeError, PartTarget, key_of};
use crate::source::S3Options;
use crate::source::s3::classify;

/// Bytes buffered per open part file before they are sent as one multipart part. S3 needs at
/// least 5 MiB per part (except the last) and allows 10,000 parts: 8 MiB parts cap a part file
/// at 78 GiB, far above one worker's day.
pub(super) const PART_SIZE: usize = 8 << 20;

/// The list of the partition's current files, for readers that want an exact version.
pub const MANIFEST: &str = "_manifest.json";

/// Uncompleted uploads under the lake older than this belong to killed runs and are aborted.
const STALE_UPLOAD_SECS: i64 = 24 * 3600;

/// `prefix/rest`, or `rest` when the lake is the bucket's root.
pub(super) fn join_key(prefix: &str, rest: &str) -> String {
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

    /// Starts a run: aborts stale uploads of killed runs (best effort) and returns its staging.
    pub(super) async fn begin(self: &Arc<Self>, run_id: &str) -> Arc<S3Staging> {
        self.abort_stale_uploads().await;
        Arc::new(S3Staging {
            lake: self.clone(),
            run_id: run_id.to_owned(),
            token: run_token(run_id),
            uploads: Mutex::new(Vec::new()),
            published: Mutex::new(Vec::new()),
        })
    }

    async fn abort_stale_uploads(&self) {
        let prefix = join_key(&self.prefix, "");
        let listed = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .send()
            .await;
        let Ok(listed) = listed else {
            tracing::debug!("could not list stale multipart uploads (ignored)");
            return;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        for upload in listed.uploads() {
            let old = upload
                .initiated()
                .is_some_and(|t| now - t.secs() > STALE_UPLOAD_SECS);
            if let (true, Some(key), Some(id)) = (old, upload.key(), upload.upload_id()) {
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
                    "aborted a stale multipart upload"
                );
            }
        }
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

/// A run's pending and published objects in an S3 lake.
pub struct S3Staging {
    lake: Arc<S3Lake>,
    run_id: String,
    /// Run-unique suffix of every object this run writes.
    token: String,
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

/// A partition whose new objects are visible and whose previous objects still exist.
struct Published {
    relative: PathBuf,
    prefix: String,
    new_keys: Vec<String>,
    old_keys: Vec<String>,
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

    /// Completes this run's uploads of the partition (after listing its previous objects) and
    /// returns the new file names.
    pub(super) fn publish(&self, relative: &Path) -> Result<Vec<String>, LakeError> {
        let lake = &self.lake;
        let prefix = lake.partition_prefix(relative);
        let manifest = format!("{prefix}{MANIFEST}");
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
            let old_keys: Vec<String> = lake
                .list(&prefix)
                .await?
                .into_iter()
                .filter(|k| *k != manifest)
                .collect();
            for upload in &ready {
                lake.client
                    .complete_multipart_upload()
                    .bucket(&lake.bucket)
                    .key(&upload.key)
                    .upload_id(&upload.upload_id)
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
            Ok::<_, LakeError>(old_keys)
        });
        let old_keys = match result {
            Ok(old) => old,
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
        tracing::debug!(partition = %prefix, new = new_keys.len(), previous = old_keys.len(), "published S3 partition");
        self.published
            .lock()
            .expect("published lock")
            .push(Published {
                relative: relative.to_owned(),
                prefix,
                new_keys,
                old_keys,
            });
        Ok(names)
    }

    /// Points each published partition's manifest at the new files, then deletes the previous
    /// version's objects.
    pub(super) fn finalize(&self) -> Result<(), LakeError> {
        let lake = &self.lake;
        let published = std::mem::take(&mut *self.published.lock().expect("published lock"));
        for p in published {
            let files: Vec<&str> = p.new_keys.iter().map(|k| &k[p.prefix.len()..]).collect();
            let manifest = serde_json::json!({
                "run_id": self.run_id,
                "partition": key_of(&p.relative),
                "files": files,
            });
            let key = format!("{}{MANIFEST}", p.prefix);
            lake.block_on(async {
                lake.client
                    .put_object()
                    .bucket(&lake.bucket)
                    .key(&key)
                    .content_type("application/json")
                    .body(ByteStream::from(
                        serde_json::to_vec_pretty(&manifest).expect("manifest serializes"),
                    ))
                    .send()
                    .await
                    .map_err(|e| classify("PutObject", &lake.bucket, &key, e))?;
                lake.delete(&p.old_keys).await
            })?;
            tracing::debug!(partition = %p.prefix, removed = p.old_keys.len(), "replaced S3 partition");
        }
        Ok(())
    }

    /// Deletes the new objects of partitions published but not finalized.
    pub(super) fn unpublish(&self) -> Result<(), LakeError> {
        let lake = &self.lake;
        let published = std::mem::take(&mut *self.published.lock().expect("published lock"));
        let keys: Vec<String> = published.into_iter().flat_map(|p| p.new_keys).collect();
        lake.block_on(lake.delete(&keys))
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
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.capacity() == 0 {
            self.buf
                .reserve_exact(PART_SIZE.min(data.len().max(256 * 1024)));
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PART_SIZE {
            self.send_part().map_err(io::Error::other)?;
        }
        Ok(data.len())
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
