//! The server-pingbacks format: CloudFront standard logs of the release-download distribution.
//!
//! Every request becomes one row of `releases.log_entries`: the shared CloudFront columns (the
//! reference columns as AWS wrote them, `log_at`, the newer fields, the decoded `user_agent`), then
//! what analysts derive from the URI:
//!
//! - `version`: `/X.Y.Z/<file>` is a server build, `/desktop/X.Y.Z/<file>` a desktop app;
//! - `download_type`: `server-team` (`mattermost-team-*`), `server-enterprise`
//!   (`mattermost-enterprise-*` and the plain `mattermost-X.Y.Z-*`, which is the Enterprise
//!   Edition), `desktop`;
//! - `file_name` (decoded) and `target_os` (`linux`, `windows`, `macos`) from the file name;
//! - `is_download`: GET, 2xx, more than 1,000,000 bytes sent, and a version.
//!
//! Rows are kept as logged: the reference table "might contain duplicate rows" (the same
//! `x_edge_request_id` twice); downloads are counted once per `x_edge_request_id` downstream.
//!
//! Columns that repeat others: `uri`, which the derived columns parse; `logdate` and `logtime`,
//! which `log_at` combines; `useragent`, which `user_agent` decodes. They are reference columns of
//! the old warehouse's table, kept because its SQL reads them; drop them once Snowflake's
//! `ACCESS_HISTORY` shows no query does.

use std::io::BufRead;

use ingest_format::cloudfront::{self, CloudFrontReader, Field, LOG_COLUMNS};
use ingest_format::format::{ReadError, RecordFormat, RecordSink};
use ingest_format::table::{Column, ColumnType, TableSchema};
use ingest_format::url::Decoder;

/// Bytes sent above which a 2xx GET of a versioned file counts as a download.
pub const DOWNLOAD_MIN_BYTES: i64 = 1_000_000;

const DERIVED: [Column; 5] = [
    Column::new(
        "version",
        ColumnType::Text,
        "release version from the URI: /X.Y.Z/... (server) or /desktop/X.Y.Z/... (desktop)",
    ),
    Column::new(
        "download_type",
        ColumnType::Text,
        "server-team, server-enterprise or desktop",
    ),
    Column::new(
        "file_name",
        ColumnType::Text,
        "last segment of the URI, URL-decoded",
    ),
    Column::new(
        "target_os",
        ColumnType::Text,
        "linux, windows or macos, from the file name",
    ),
    Column::new(
        "is_download",
        ColumnType::Bool,
        "GET, status 2xx, more than 1,000,000 bytes sent, and a version",
    ),
];

static COLUMNS: [Column; LOG_COLUMNS.len() + DERIVED.len()] = cloudfront::log_columns_and(DERIVED);

/// `releases.log_entries`.
pub static PINGBACKS_TABLE: TableSchema = TableSchema { columns: &COLUMNS };

/// The server-pingbacks format.
#[derive(Debug, Default)]
pub struct PingbacksFormat;

impl RecordFormat for PingbacksFormat {
    type State = ();

    fn schema(&self) -> &'static TableSchema {
        &PINGBACKS_TABLE
    }

    fn read_object(
        &self,
        _key: &str,
        input: &mut dyn BufRead,
        out: &mut dyn RecordSink,
        _state: &mut (),
    ) -> Result<(), ReadError> {
        let mut reader = CloudFrontReader::new();
        let mut uri = Decoder::default();
        reader.read(input, out, |rec, line, sink| {
            let path = rec.text(Field::CsUriStem).map(|raw| uri.decode(raw));
            let release = path.map(Release::from_path).unwrap_or_default();
            let is_download = rec.text(Field::CsMethod) == Some("GET")
                && rec
                    .int(Field::ScStatus)
                    .is_some_and(|s| (200..300).contains(&s))
                && rec
                    .int(Field::ScBytes)
                    .is_some_and(|b| b > DOWNLOAD_MIN_BYTES)
                && release.version.is_some();
            sink.row(line, &mut |w| {
                rec.write_log_columns(w);
                w.text(release.version)
                    .text(release.download_type)
                    .text(release.file_name)
                    .text(release.target_os)
                    .bool(Some(is_download));
            })
        })
    }
}

/// What a release URI says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Release<'a> {
    pub version: Option<&'a str>,
    pub download_type: Option<&'static str>,
    pub file_name: Option<&'a str>,
    pub target_os: Option<&'static str>,
}

impl<'a> Release<'a> {
    /// Reads a decoded URI path such as `/10.11.2/mattermost-team-10.11.2-linux-amd64.tar.gz`.
    pub fn from_path(path: &'a str) -> Release<'a> {
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let first = segments.next();
        let file_name = path.rsplit('/').next().filter(|f| !f.is_empty());
        let (version, desktop) = match first {
            Some("desktop") => (segments.next().filter(|v| is_version(v)), true),
            Some(v) if is_version(v) => (Some(v), false),
            _ => (None, false),
        };
        let file_name = file_name.filter(|f| Some(*f) != version);
        let download_type = match (version, desktop, file_name) {
            (None, _, _) | (_, _, None) => None,
            (Some(_), true, Some(_)) => Some("desktop"),
            (Some(_), false, Some(f)) => server_edition(f),
        };
        Release {
            version,
            download_type,
            file_name,
            target_os: file_name.and_then(target_os),
        }
    }
}

/// `X.Y.Z`, optionally with a pre-release suffix (`5.12.0-rc1`).
pub fn is_version(s: &str) -> bool {
    let (core, suffix) = match s.split_once('-') {
        Some((c, rest)) => (c, Some(rest)),
        None => (s, None),
    };
    let mut parts = 0;
    for part in core.split('.') {
        if part.is_empty() || part.len() > 6 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        parts += 1;
    }
    parts == 3
        && suffix.is_none_or(|x| {
            !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        })
}

fn server_edition(file: &str) -> Option<&'static str> {
    let rest = file.strip_prefix("mattermost-")?;
    if rest.starts_with("team-") {
        Some("server-team")
    } else if rest.starts_with("enterprise-") || rest.starts_with(|c: char| c.is_ascii_digit()) {
        Some("server-enterprise")
    } else {
        None
    }
}

/// The OS a release file is built for.
pub fn target_os(file: &str) -> Option<&'static str> {
    let f = file.to_ascii_lowercase();
    let has = |needle: &str| f.contains(needle);
    // Before "win": "darwin" contains it.
    if has("darwin") || has("mac") || has("osx") || f.ends_with(".dmg") || f.ends_with(".pkg") {
        Some("macos")
    } else if has("linux")
        || f.ends_with(".deb")
        || f.ends_with(".rpm")
        || f.ends_with(".appimage")
        || f.ends_with(".snap")
    {
        Some("linux")
    } else if has("win") || f.ends_with(".msi") || f.ends_with(".exe") || f.ends_with(".msix") {
        Some("windows")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_and_desktop_paths() {
        let r = Release::from_path("/10.11.2/mattermost-team-10.11.2-linux-amd64.tar.gz");
        assert_eq!(r.version, Some("10.11.2"));
        assert_eq!(r.download_type, Some("server-team"));
        assert_eq!(
            r.file_name,
            Some("mattermost-team-10.11.2-linux-amd64.tar.gz")
        );
        assert_eq!(r.target_os, Some("linux"));

        let r = Release::from_path("/9.11.17/mattermost-9.11.17-linux-arm64.tar.gz");
        assert_eq!(r.download_type, Some("server-enterprise"));
        let r = Release::from_path("/10.5.11/mattermost-enterprise-10.5.11-linux-amd64.tar.gz");
        assert_eq!(r.download_type, Some("server-enterprise"));

        let r = Release::from_path("/desktop/5.12.0/mattermost-desktop-5.12.0-mac-universal.dmg");
        assert_eq!(r.version, Some("5.12.0"));
        assert_eq!(r.download_type, Some("desktop"));
        assert_eq!(r.target_os, Some("macos"));
        let r = Release::from_path("/desktop/5.12.0/mattermost-desktop-5.12.0-win-x64 (1).msi");
        assert_eq!(r.target_os, Some("windows"));
        assert_eq!(
            r.file_name,
            Some("mattermost-desktop-5.12.0-win-x64 (1).msi")
        );
        let r = Release::from_path("/desktop/5.11.2/mattermost-desktop_5.11.2-1_amd64.deb");
        assert_eq!(r.target_os, Some("linux"));
        let r = Release::from_path("/desktop/5.13.0-rc1/mattermost-desktop-5.13.0-rc1-darwin.zip");
        assert_eq!(r.version, Some("5.13.0-rc1"));
        assert_eq!(r.target_os, Some("macos"));
    }

    #[test]
    fn other_paths_have_no_version() {
        for path in [
            "/",
            "/latest",
            "/wp-login.php",
            "/favicon.ico",
            "/10.11/x.tar.gz",
            "/10.11.2/",
        ] {
            let r = Release::from_path(path);
            assert!(r.version.is_none() || r.file_name.is_none(), "{path}");
            assert_eq!(r.download_type, None, "{path}");
        }
        assert_eq!(Release::from_path("/latest").file_name, Some("latest"));
        assert!(!is_version("10.11.2-"));
        assert!(!is_version("1.2.3.4"));
        assert!(is_version("10.11.2"));
    }
}
