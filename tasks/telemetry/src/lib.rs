//! The telemetry format: CloudFront standard logs of the security-update-check distribution.
//!
//! Every request becomes one row of `diagnostics.log_entries`: the shared CloudFront columns (the
//! 26 reference columns as AWS wrote them, `log_at`, the newer fields, the decoded `user_agent`)
//! followed by the query string parsed, first value per key: `id` server_id, `b` version (and its
//! major, minor, patch), `be` is_enterprise_ready, `db` database_type, `os` operating_system, `uc`
//! count_users, `tc` count_teams, `auc` count_active_users, `ut` has_run_unit_tests. A malformed
//! value is NULL and counted (`malformed_param_<key>` in the run summary); the line still loads.
//!
//! The derived table `server_daily` (see [`daily`]) keeps one row per server per day: its latest
//! ping, with a flag for the servers analysts exclude from user counts.
//!
//! Columns that repeat others: `cs_uri_query`, the query string as logged, which the twelve
//! parameter columns parse; `logdate` and `logtime`, which `log_at` combines; `useragent`, which
//! `user_agent` decodes. They are reference columns of the old warehouse's table, kept because its
//! SQL reads them (its models parsed the query string themselves), and because a parameter that
//! was malformed (NULL and counted) can still be read from the raw string. `cs_uri_query` is the
//! table's largest column: 29.9 of 115.0 MB of `log_entries` on 256 MiB of logs; the others are
//! 1.8 MB together. Drop them once no query reads them: Snowflake's `ACCESS_HISTORY` lists the
//! columns each query read.

pub mod daily;
pub mod params;

use std::io::BufRead;

use ingest_format::cloudfront::{self, CloudFrontReader, Field, LOG_COLUMNS};
use ingest_format::format::{
    DerivedSink, DerivedTable, ReadError, RecordFormat, RecordSink, TempSpaceError,
};
use ingest_format::table::{Column, ColumnType, TableSchema};

pub use daily::{DailyState, SERVER_DAILY_TABLE};

const PARAM_COLUMNS: [Column; 12] = [
    Column::new(
        "server_id",
        ColumnType::Text,
        "query parameter id: the server's diagnostic id",
    ),
    Column::new(
        "version",
        ColumnType::Text,
        "query parameter b: the build, X.Y.Z.<build>",
    ),
    Column::new("version_major", ColumnType::Int32, "X of b"),
    Column::new("version_minor", ColumnType::Int32, "Y of b"),
    Column::new("version_patch", ColumnType::Int32, "Z of b"),
    Column::new(
        "is_enterprise_ready",
        ColumnType::Bool,
        "query parameter be (true/false)",
    ),
    Column::new("database_type", ColumnType::Text, "query parameter db"),
    Column::new("operating_system", ColumnType::Text, "query parameter os"),
    Column::new(
        "count_users",
        ColumnType::Int64,
        "query parameter uc: registered users",
    ),
    Column::new(
        "count_teams",
        ColumnType::Int64,
        "query parameter tc: teams",
    ),
    Column::new(
        "count_active_users",
        ColumnType::Int64,
        "query parameter auc: users active in the last 24 hours",
    ),
    Column::new(
        "has_run_unit_tests",
        ColumnType::Bool,
        "query parameter ut (1/0)",
    ),
];

static COLUMNS: [Column; LOG_COLUMNS.len() + PARAM_COLUMNS.len()] =
    cloudfront::log_columns_and(PARAM_COLUMNS);

/// `diagnostics.log_entries`.
pub static TELEMETRY_TABLE: TableSchema = TableSchema { columns: &COLUMNS };

static DERIVED: [DerivedTable; 1] = [DerivedTable {
    name: "server_daily",
    schema: &SERVER_DAILY_TABLE,
    doc: "one row per server per day: the latest /security ping, its counts and an exclusion flag",
}];

/// The telemetry format.
#[derive(Debug, Default)]
pub struct TelemetryFormat;

/// Whether a request is a server's security-update-check ping.
pub fn is_ping(rec: &cloudfront::Record<'_>) -> bool {
    rec.text(Field::CsUriStem) == Some("/security")
        && rec.text(Field::CsMethod) == Some("GET")
        && rec
            .user_agent()
            .is_some_and(|ua| ua.starts_with("Go-http-client/"))
}

impl RecordFormat for TelemetryFormat {
    type State = DailyState;

    fn schema(&self) -> &'static TableSchema {
        &TELEMETRY_TABLE
    }

    fn read_object(
        &self,
        _key: &str,
        input: &mut dyn BufRead,
        out: &mut dyn RecordSink,
        state: &mut DailyState,
    ) -> Result<(), ReadError> {
        let mut reader = CloudFrontReader::new();
        reader.read(input, out, |rec, line, sink| {
            let p = params::parse(rec.text(Field::CsUriQuery), sink);
            if let Some(server_id) = p.server_id.as_deref()
                && is_ping(rec)
            {
                let mut ping = daily::Ping {
                    day: rec.log_at().div_euclid(86_400_000_000) as i32,
                    server_id,
                    log_at: rec.log_at(),
                    tie: fnv1a(rec.text(Field::EdgeRequestId).unwrap_or_default()),
                    pings: 1,
                    flags: 0,
                    server_ip: rec.text(Field::CIp),
                    version: p.version.as_deref(),
                    version_parts: p.version_parts,
                    is_enterprise_ready: p.is_enterprise_ready,
                    database_type: p.database_type.as_deref(),
                    operating_system: p.operating_system.as_deref(),
                    count_users: p.count_users,
                    count_teams: p.count_teams,
                    count_active_users: p.count_active_users,
                    has_run_unit_tests: p.has_run_unit_tests,
                };
                ping.flags = ping.own_flags();
                state.add(&ping).map_err(|e| {
                    ReadError::from(TempSpaceError::new("server_daily: spilling pings", e))
                })?;
            }
            let parts = p.version_parts;
            sink.row(line, &mut |w| {
                rec.write_log_columns(w);
                w.text(p.server_id.as_deref())
                    .text(p.version.as_deref())
                    .i32(parts.map(|v| v[0]))
                    .i32(parts.map(|v| v[1]))
                    .i32(parts.map(|v| v[2]))
                    .bool(p.is_enterprise_ready)
                    .text(p.database_type.as_deref())
                    .text(p.operating_system.as_deref())
                    .i64(p.count_users)
                    .i64(p.count_teams)
                    .i64(p.count_active_users)
                    .bool(p.has_run_unit_tests);
            })
        })
    }

    fn derived_tables(&self) -> &'static [DerivedTable] {
        &DERIVED
    }

    fn write_derived(
        &self,
        states: Vec<DailyState>,
        out: &mut dyn DerivedSink,
    ) -> Result<(), ReadError> {
        daily::write(states, 0, out)
    }
}

/// FNV-1a: a stable hash (the same in every process), for tie-breaks.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
