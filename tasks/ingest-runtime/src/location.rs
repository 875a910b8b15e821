//! Where a job reads (`--source`) or writes (`--lake`): an S3 bucket and key prefix, or a local
//! directory. One type and one parser for both; the lake is stricter about its prefix, since
//! the run writes and deletes keys below it.

use std::fmt;
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// `s3://bucket/prefix`; the prefix has no leading or trailing `/`.
    S3 {
        bucket: String,
        prefix: String,
    },
    Local(PathBuf),
}

impl Location {
    /// Parses a `--source` value. A trailing `/` is ignored.
    pub fn parse_source(value: &str) -> Result<Location, String> {
        Location::parse("--source", value, false)
    }

    /// Parses a `--lake` value. A trailing `/` is ignored; an S3 prefix must be plain path
    /// segments (no `.`, `..`, empty segments, control characters or quotes): the run writes
    /// and deletes keys below it.
    pub fn parse_lake(value: &str) -> Result<Location, String> {
        Location::parse("--lake", value, true)
    }

    fn parse(flag: &str, value: &str, plain_prefix: bool) -> Result<Location, String> {
        let value = value.trim();
        if value.is_empty() {
            return Err(format!(
                "{flag} is empty; expected s3://bucket/prefix or a directory"
            ));
        }
        if let Some(rest) = value.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!(
                    "{flag} {value:?} has no bucket; expected s3://bucket/prefix"
                ));
            }
            let prefix = prefix.trim_matches('/');
            if plain_prefix
                && (prefix.split('/').any(|p| p == "." || p == "..")
                    || prefix.contains("//")
                    || prefix.chars().any(|c| c.is_control() || c == '\''))
            {
                return Err(format!(
                    "{flag} {value:?}: the prefix must be plain path segments"
                ));
            }
            return Ok(Location::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            });
        }
        if value.contains("://") {
            return Err(format!(
                "{flag} {value:?}: only s3:// URLs and local directories are supported"
            ));
        }
        let trimmed = value.trim_end_matches('/');
        Ok(Location::Local(PathBuf::from(if trimmed.is_empty() {
            "/"
        } else {
            trimmed
        })))
    }

    pub fn is_s3(&self) -> bool {
        matches!(self, Location::S3 { .. })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_lakes_parse_alike_and_the_lake_prefix_is_stricter() {
        let s3 = |b: &str, p: &str| Location::S3 {
            bucket: b.into(),
            prefix: p.into(),
        };
        assert_eq!(
            Location::parse_source("s3://b/a/b/").unwrap(),
            s3("b", "a/b")
        );
        assert_eq!(Location::parse_lake("s3://b/a/b/").unwrap(), s3("b", "a/b"));
        assert_eq!(Location::parse_source("s3://b").unwrap(), s3("b", ""));
        assert_eq!(
            Location::parse_source("s3://b").unwrap().to_string(),
            "s3://b"
        );
        assert_eq!(
            Location::parse_lake("./lake/").unwrap(),
            Location::Local(PathBuf::from("./lake"))
        );
        assert_eq!(
            Location::parse_source("/").unwrap(),
            Location::Local(PathBuf::from("/"))
        );
        assert!(Location::parse_source("s3://b/a/../x").is_ok());
        let err = Location::parse_lake("s3://b/a/../x").unwrap_err();
        assert!(
            err.contains("--lake") && err.contains("plain path segments"),
            "{err}"
        );
        let err = Location::parse_source("gs://b/x").unwrap_err();
        assert!(err.starts_with("--source \"gs://b/x\""), "{err}");
        assert!(
            Location::parse_lake("  ")
                .unwrap_err()
                .starts_with("--lake is empty")
        );
        assert!(
            Location::parse_source("s3:///x")
                .unwrap_err()
                .contains("has no bucket")
        );
    }
}
