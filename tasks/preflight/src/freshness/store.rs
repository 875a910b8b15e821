//! What the watchdog reads and writes in the lake: whether a table's partition of a date is
//! committed, and the date's "alerted" marker.
//!
//! - **Committed**, S3 lake: `<lake>/<schema>/<table>/dt=<date>/_manifest.json` exists. The
//!   manifest is the lake's commit point and read path (README, "The lake in S3"; written last,
//!   by compare and swap, in `ingest_runtime::lake`): part files without it are a run that never
//!   committed, so they count as missing. A local lake swaps whole partition directories in, so
//!   there the directory `<lake>/<schema>/<table>/dt=<date>` is the commit.
//! - **The marker** `<lake>/_watchdog/dt=<date>.json` says the date's alert was posted. It is
//!   created only if absent (S3 `If-None-Match: *`; locally `O_EXCL`), so it is never
//!   overwritten and keeps the first alert's time. `_`-prefixed: readers and jobs skip it.

use std::path::PathBuf;

use aws_sdk_s3::primitives::ByteStream;
use ingest_runtime::lake::{LakeLocation, MANIFEST, TableName, join_key as join, key_of};
use ingest_runtime::time::Date;

use crate::report::Status;

/// The folder of the watchdog's markers, under the lake root.
pub const MARKER_DIR: &str = "_watchdog";

/// A lake request that failed: `status` is `Fail` (denied, missing bucket: configuration) or
/// `Unavailable` (retry later); `detail` names the object, the cause and the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct StoreError {
    pub status: Status,
    pub detail: String,
}

/// Creating the marker found one already there (another watchdog run wrote it first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerPut {
    Created,
    AlreadyThere,
}

pub enum Store {
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
        prefix: String,
    },
    Local(PathBuf),
}

impl Store {
    /// The store of `lake`; `client` is needed (and only built by the caller) for an S3 lake.
    pub fn new(lake: &LakeLocation, client: Option<aws_sdk_s3::Client>) -> Result<Store, String> {
        match lake {
            LakeLocation::Local(root) => Ok(Store::Local(root.clone())),
            LakeLocation::S3 { bucket, prefix } => Ok(Store::S3 {
                client: client.ok_or("internal: an S3 lake needs an S3 client")?,
                bucket: bucket.clone(),
                prefix: prefix.clone(),
            }),
        }
    }

    /// `<schema>/<table>/dt=<date>/_manifest.json` (S3) or `<schema>/<table>/dt=<date>` (local),
    /// under the lake root: what [`Store::committed`] looks for.
    pub fn commit_marker(&self, table: &TableName, date: Date) -> String {
        let partition = key_of(&table.partition_path(date));
        match self {
            Store::S3 { bucket, prefix, .. } => {
                format!(
                    "s3://{bucket}/{}",
                    join(prefix, &format!("{partition}/{MANIFEST}"))
                )
            }
            Store::Local(root) => root.join(partition).display().to_string(),
        }
    }

    /// `<lake>/_watchdog/dt=<date>.json`.
    pub fn marker(&self, date: Date) -> String {
        let name = marker_name(date);
        match self {
            Store::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{}", join(prefix, &name)),
            Store::Local(root) => root.join(name).display().to_string(),
        }
    }

    /// Lists one key under the lake root. A HEAD answer has no body, so a missing bucket and a
    /// missing manifest are the same 404 there: this tells them apart (and a denied listing,
    /// without which S3 answers 403 for a missing object) before any partition is judged.
    pub async fn check_access(&self) -> Result<(), StoreError> {
        match self {
            Store::Local(root) if !root.is_dir() => Err(StoreError {
                status: Status::Fail,
                detail: format!("the local lake {} is not a directory", root.display()),
            }),
            Store::Local(_) => Ok(()),
            Store::S3 {
                client,
                bucket,
                prefix,
            } => crate::s3check::list_lake_root(
                client,
                bucket,
                prefix,
                "s3:ListBucket on the lake prefix",
            )
            .await
            .map(|_| ())
            .map_err(|(root, outcome)| failed(&format!("s3://{bucket}/{root}"), outcome)),
        }
    }

    /// Is the table's partition of `date` committed? ([`Store::check_access`] first.)
    pub async fn committed(&self, table: &TableName, date: Date) -> Result<bool, StoreError> {
        let partition = key_of(&table.partition_path(date));
        match self {
            Store::Local(root) => Ok(root.join(partition).is_dir()),
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                let key = join(prefix, &format!("{partition}/{MANIFEST}"));
                match client.head_object().bucket(bucket).key(&key).send().await {
                    Ok(_) => Ok(true),
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
                    Err(e) => Err(failed(
                        &format!("s3://{bucket}/{key}"),
                        crate::s3check::classify(
                            e,
                            "s3:GetObject on the lake's objects and s3:ListBucket on the lake prefix (without ListBucket, S3 answers 403 for a missing manifest)",
                        ),
                    )),
                }
            }
        }
    }

    /// The date's marker, if any: its text (the first alert's record).
    pub async fn read_marker(&self, date: Date) -> Result<Option<String>, StoreError> {
        let name = marker_name(date);
        match self {
            Store::Local(root) => {
                let path = root.join(&name);
                match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(StoreError {
                        status: Status::Fail,
                        detail: format!("{}: {e}", path.display()),
                    }),
                }
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                let key = join(prefix, &name);
                let got = client.get_object().bucket(bucket).key(&key).send().await;
                match got {
                    Ok(out) => {
                        // The marker exists; its text is only quoted in the log.
                        let text = match out.body.collect().await {
                            Ok(body) => String::from_utf8_lossy(&body.into_bytes()).into_owned(),
                            Err(_) => String::new(),
                        };
                        Ok(Some(text))
                    }
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                    Err(e) => Err(failed(
                        &format!("s3://{bucket}/{key}"),
                        crate::s3check::classify(
                            e,
                            "s3:GetObject on <lake>/_watchdog/* and s3:ListBucket on the lake prefix",
                        ),
                    )),
                }
            }
        }
    }

    /// Creates the date's marker with `body`, only if it does not exist.
    pub async fn put_marker(&self, date: Date, body: &str) -> Result<MarkerPut, StoreError> {
        let name = marker_name(date);
        match self {
            Store::Local(root) => {
                let path = root.join(&name);
                let local_err = |e: std::io::Error| StoreError {
                    status: Status::Fail,
                    detail: format!("{}: {e}", path.display()),
                };
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(local_err)?;
                }
                let created = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path);
                match created {
                    Ok(mut f) => {
                        use std::io::Write;
                        f.write_all(body.as_bytes()).map_err(local_err)?;
                        Ok(MarkerPut::Created)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Ok(MarkerPut::AlreadyThere)
                    }
                    Err(e) => Err(local_err(e)),
                }
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                let key = join(prefix, &name);
                let put = client
                    .put_object()
                    .bucket(bucket)
                    .key(&key)
                    .if_none_match("*")
                    .content_type("application/json")
                    .body(ByteStream::from(body.as_bytes().to_vec()))
                    .send()
                    .await;
                match put {
                    Ok(_) => Ok(MarkerPut::Created),
                    Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                        Ok(MarkerPut::AlreadyThere)
                    }
                    Err(e) => Err(failed(
                        &format!("s3://{bucket}/{key}"),
                        crate::s3check::classify(e, "s3:PutObject on <lake>/_watchdog/*"),
                    )),
                }
            }
        }
    }
}

fn marker_name(date: Date) -> String {
    format!("{MARKER_DIR}/dt={date}.json")
}

fn failed(target: &str, (status, detail): (Status, String)) -> StoreError {
    StoreError {
        status,
        detail: format!("{target}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_partition_directory_is_the_commit_and_the_marker_is_created_once() {
        let root = std::env::temp_dir().join(format!("watchdog-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let store = Store::Local(root.clone());
        let table = TableName::parse("push_proxy.logs_us_new").unwrap();
        let date: Date = "2026-11-20".parse().unwrap();
        let err = store.check_access().await.unwrap_err();
        assert_eq!(err.status, Status::Fail, "{err}");
        std::fs::create_dir_all(&root).unwrap();
        store.check_access().await.unwrap();
        assert!(!store.committed(&table, date).await.unwrap());
        std::fs::create_dir_all(root.join("push_proxy/logs_us_new/dt=2026-11-20")).unwrap();
        assert!(store.committed(&table, date).await.unwrap());
        assert!(!store.committed(&table, date.add_days(1)).await.unwrap());

        assert_eq!(store.read_marker(date).await.unwrap(), None);
        assert_eq!(
            store.put_marker(date, "first").await.unwrap(),
            MarkerPut::Created
        );
        assert_eq!(
            store.put_marker(date, "second").await.unwrap(),
            MarkerPut::AlreadyThere
        );
        assert_eq!(
            store.read_marker(date).await.unwrap().as_deref(),
            Some("first")
        );
        assert!(
            store
                .marker(date)
                .ends_with("/_watchdog/dt=2026-11-20.json")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn s3_keys_follow_the_lake_layout() {
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .build(),
        );
        let store = Store::new(
            &LakeLocation::parse_lake("s3://lake/ingest/").unwrap(),
            Some(client),
        )
        .unwrap();
        let table = TableName::parse("push_proxy.logs_us_new").unwrap();
        let date: Date = "2026-11-20".parse().unwrap();
        assert_eq!(
            store.commit_marker(&table, date),
            "s3://lake/ingest/push_proxy/logs_us_new/dt=2026-11-20/_manifest.json"
        );
        assert_eq!(
            store.marker(date),
            "s3://lake/ingest/_watchdog/dt=2026-11-20.json"
        );
    }
}
