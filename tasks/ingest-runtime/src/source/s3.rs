//! The S3 source: paginated listing and streamed, resumable reads through aws-sdk-s3.
//!
//! Region and credentials come from the standard AWS chain (env, profile, IRSA web identity, IMDS).
//! The SDK retries each request with bounded exponential backoff; a body that breaks mid-stream is
//! resumed with a `Range` request pinned to the first response's ETag, so a long file survives a
//! dropped connection without restarting and without mixing two versions of the object.

use std::io::{self, Read};
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::{KeySelection, SourceError, SourceFailure};
// The S3 lake reaches the shared client through the source's path.
pub use crate::aws_client::{S3Options, s3_client as client};
use crate::aws_error::{AwsFailure, AwsProblem, HttpResponse};

/// Chunks buffered between the download task and the parsing thread, per open object.
const CHANNEL_CHUNKS: usize = 8;

pub struct S3Source {
    client: aws_sdk_s3::Client,
    handle: tokio::runtime::Handle,
    cancel: watch::Receiver<bool>,
    max_attempts: u32,
}

impl S3Source {
    pub async fn connect(options: &S3Options, cancel: watch::Receiver<bool>) -> S3Source {
        S3Source {
            client: client(options).await,
            handle: tokio::runtime::Handle::current(),
            cancel,
            max_attempts: options.max_attempts.max(1),
        }
    }

    /// Lists every key under `<prefix><selection.list_prefix>` (all pages) that matches.
    pub(super) async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        selection: &KeySelection,
    ) -> Result<Vec<(String, u64)>, SourceError> {
        let full = if prefix.is_empty() {
            selection.list_prefix.trim_start_matches('/').to_owned()
        } else {
            format!("{prefix}{}", selection.list_prefix)
        };
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&full)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ListObjectsV2", bucket, &full, e))?;
            for object in page.contents() {
                if let Some(key) = object.key()
                    && selection.matches(key)
                {
                    out.push((key.to_owned(), object.size().unwrap_or(0).max(0) as u64));
                }
            }
        }
        Ok(out)
    }

    /// Starts streaming an object; the returned reader blocks on the next chunk.
    pub(super) fn open(
        &self,
        bucket: &str,
        key: &str,
        _size: u64,
        failure: SourceFailure,
    ) -> ChannelReader {
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let download = Download {
            client: self.client.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            max_attempts: self.max_attempts,
            cancel: self.cancel.clone(),
        };
        self.handle.spawn(download.run(tx));
        ChannelReader {
            rx,
            chunk: Bytes::new(),
            failure,
        }
    }
}

struct Download {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    max_attempts: u32,
    cancel: watch::Receiver<bool>,
}

impl Download {
    async fn run(mut self, tx: mpsc::Sender<Result<Bytes, SourceError>>) {
        let mut offset: u64 = 0;
        let mut etag: Option<String> = None;
        let mut broken_streams: u32 = 0;
        loop {
            let mut request = self.client.get_object().bucket(&self.bucket).key(&self.key);
            if offset > 0 {
                request = request.range(format!("bytes={offset}-"));
                if let Some(etag) = &etag {
                    request = request.if_match(etag);
                }
            }
            let response = tokio::select! {
                r = request.send() => r,
                _ = self.cancel.wait_for(|c| *c) => return,
            };
            let response = match response {
                Ok(r) => r,
                Err(err) => {
                    let err = if err.raw_response().map(|r| r.status().as_u16()) == Some(412) {
                        SourceError::ObjectChanged {
                            bucket: self.bucket.clone(),
                            key: self.key.clone(),
                        }
                    } else {
                        classify("GetObject", &self.bucket, &self.key, err)
                    };
                    let _ = tx.send(Err(err)).await;
                    return;
                }
            };
            if etag.is_none() {
                etag = response.e_tag().map(str::to_owned);
            }
            let mut body = response.body;
            loop {
                let next = tokio::select! {
                    n = body.next() => n,
                    _ = self.cancel.wait_for(|c| *c) => return,
                };
                match next {
                    None => return, // dropping `tx` is the reader's EOF
                    Some(Ok(bytes)) => {
                        offset += bytes.len() as u64;
                        broken_streams = 0;
                        if tx.send(Ok(bytes)).await.is_err() {
                            return; // the reader is gone (run aborted)
                        }
                    }
                    Some(Err(err)) => {
                        broken_streams += 1;
                        tracing::warn!(
                            bucket = %self.bucket, key = %self.key, offset,
                            attempt = broken_streams,
                            error = %crate::error::error_chain(&err).join(": "),
                            "S3 body stream broke; resuming with a range request"
                        );
                        if broken_streams >= self.max_attempts {
                            let err = SourceError::s3(
                                "GetObject",
                                &self.bucket,
                                &self.key,
                                AwsFailure {
                                    problem: AwsProblem::Unavailable,
                                    cause: crate::aws_error::chain_of(&err),
                                },
                            );
                            let _ = tx.send(Err(err)).await;
                            return;
                        }
                        let backoff = Duration::from_millis(200 << broken_streams.min(6));
                        tokio::time::sleep(backoff).await;
                        break;
                    }
                }
            }
        }
    }
}

/// An S3 request's error as a [`SourceError`]: the one classifier of [`crate::aws_error`] (the
/// source and the S3 lake both call this).
pub(crate) fn classify<E>(
    operation: &'static str,
    bucket: &str,
    key: &str,
    err: SdkError<E, HttpResponse>,
) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    SourceError::s3(operation, bucket, key, crate::aws_error::classify(&err))
}

/// A blocking `Read` over the chunks a download task sends. A failed download ends the stream
/// with an `io::Error` and leaves its typed [`SourceError`] in the [`SourceFailure`].
pub struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, SourceError>>,
    chunk: Bytes,
    failure: SourceFailure,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => {
                    let err = io::Error::other(format!("the source failed: {e}"));
                    self.failure.set(e);
                    return Err(err);
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}
