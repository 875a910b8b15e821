//! `server_daily`: one row per server per day, its latest ping, with the exclusion flag.
//!
//! A ping is a row with uri `/security`, method GET, a `Go-http-client/...` user agent and a valid
//! server id. The latest ping is the one with the greatest `log_at` (ties broken by a hash of
//! `x_edge_request_id`, so the choice does not depend on which worker read which file). Its values
//! are the day's values. `is_excluded` is set when any ping of that server that day reported it ran
//! unit tests (`ut=1`) or more active users than users (`uc < auc`); `exclusion_reason` says which.
//!
//! Memory stays bounded whatever the number of servers: each worker buffers compact ping records
//! up to [`RUN_BYTES`], then sorts them by (day, server), folds each server's pings into one and
//! appends that sorted run to an anonymous temporary file (`$TMPDIR`, deleted when closed). At
//! the end the runs of all workers are merged, so rows come out sorted by (day, server id).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use ingest_format::format::{DerivedSink, ReadError};
use ingest_format::table::{Column, ColumnType, TableSchema};
use ingest_format::time::Date;

/// Ping records a worker buffers before it sorts them into a run (and, when that run is not the
/// last, spills it to disk).
pub const RUN_BYTES: usize = 1 << 20;

/// Read buffers of the final merge, shared by all runs.
const MERGE_READ_BYTES: usize = 4 << 20;

pub static SERVER_DAILY_TABLE: TableSchema = TableSchema {
    columns: &[
        Column::new("server_date", ColumnType::Text, "the day (UTC), YYYY-MM-DD"),
        Column::new(
            "server_id",
            ColumnType::Text,
            "the server's diagnostic id (query parameter id)",
        ),
        Column::new(
            "last_ping_at",
            ColumnType::TimestampMicros,
            "log_at of the day's latest ping",
        ),
        Column::new(
            "pings",
            ColumnType::Int64,
            "pings from this server that day",
        ),
        Column::new("server_ip", ColumnType::Text, "cip of the latest ping"),
        Column::new("version", ColumnType::Text, "b of the latest ping"),
        Column::new(
            "version_major",
            ColumnType::Int32,
            "major version of the latest ping",
        ),
        Column::new(
            "version_minor",
            ColumnType::Int32,
            "minor version of the latest ping",
        ),
        Column::new(
            "version_patch",
            ColumnType::Int32,
            "patch version of the latest ping",
        ),
        Column::new(
            "is_enterprise_ready",
            ColumnType::Bool,
            "be of the latest ping",
        ),
        Column::new("database_type", ColumnType::Text, "db of the latest ping"),
        Column::new(
            "operating_system",
            ColumnType::Text,
            "os of the latest ping",
        ),
        Column::new("count_users", ColumnType::Int64, "uc of the latest ping"),
        Column::new("count_teams", ColumnType::Int64, "tc of the latest ping"),
        Column::new(
            "count_active_users",
            ColumnType::Int64,
            "auc of the latest ping: users active in the last 24 hours",
        ),
        Column::new(
            "has_run_unit_tests",
            ColumnType::Bool,
            "ut of the latest ping",
        ),
        Column::new(
            "is_excluded",
            ColumnType::Bool,
            "leave out of user counts: a ping that day ran unit tests or reported uc < auc",
        ),
        Column::new(
            "exclusion_reason",
            ColumnType::Text,
            "why is_excluded: 'ran unit tests', 'active users > users', or both separated by '; '",
        ),
    ],
};

const FLAG_UNIT_TESTS: u8 = 1;
const FLAG_USERS_LT_ACTIVE: u8 = 2;

/// One ping, or several pings of one server and day folded together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ping<'a> {
    /// Days since 1970-01-01.
    pub day: i32,
    pub server_id: &'a str,
    pub log_at: i64,
    /// Tie-break between pings in the same second.
    pub tie: u64,
    pub pings: u64,
    pub flags: u8,
    pub server_ip: Option<&'a str>,
    pub version: Option<&'a str>,
    pub version_parts: Option<[i32; 3]>,
    pub is_enterprise_ready: Option<bool>,
    pub database_type: Option<&'a str>,
    pub operating_system: Option<&'a str>,
    pub count_users: Option<i64>,
    pub count_teams: Option<i64>,
    pub count_active_users: Option<i64>,
    pub has_run_unit_tests: Option<bool>,
}

impl<'a> Ping<'a> {
    /// Exclusion flags of this ping alone.
    pub fn own_flags(&self) -> u8 {
        let mut flags = 0;
        if self.has_run_unit_tests == Some(true) {
            flags |= FLAG_UNIT_TESTS;
        }
        if let (Some(u), Some(a)) = (self.count_users, self.count_active_users)
            && u < a
        {
            flags |= FLAG_USERS_LT_ACTIVE;
        }
        flags
    }

    /// Appends the record (length-prefixed) to `out`. Strings longer than 64 KiB are cut.
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.day.to_be_bytes());
        put_str(out, Some(self.server_id));
        out.extend_from_slice(&self.log_at.to_le_bytes());
        out.extend_from_slice(&self.tie.to_le_bytes());
        out.extend_from_slice(&self.pings.to_le_bytes());
        out.push(self.flags);
        put_str(out, self.server_ip);
        put_str(out, self.version);
        match self.version_parts {
            Some(p) => {
                out.push(1);
                for v in p {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            None => out.push(0),
        }
        put_bool(out, self.is_enterprise_ready);
        put_str(out, self.database_type);
        put_str(out, self.operating_system);
        for v in [self.count_users, self.count_teams, self.count_active_users] {
            match v {
                Some(v) => {
                    out.push(1);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                None => out.push(0),
            }
        }
        put_bool(out, self.has_run_unit_tests);
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    }

    /// Reads one record body (without its length prefix).
    fn decode(b: &'a [u8]) -> Ping<'a> {
        let mut r = Cursor { b, at: 0 };
        let day = i32::from_be_bytes(r.take::<4>());
        let server_id = r.str().unwrap_or_default();
        let log_at = i64::from_le_bytes(r.take::<8>());
        let tie = u64::from_le_bytes(r.take::<8>());
        let pings = u64::from_le_bytes(r.take::<8>());
        let flags = r.take::<1>()[0];
        let server_ip = r.str();
        let version = r.str();
        let version_parts = (r.take::<1>()[0] == 1).then(|| {
            [
                i32::from_le_bytes(r.take::<4>()),
                i32::from_le_bytes(r.take::<4>()),
                i32::from_le_bytes(r.take::<4>()),
            ]
        });
        let is_enterprise_ready = r.bool();
        let database_type = r.str();
        let operating_system = r.str();
        let mut int = || (r.take::<1>()[0] == 1).then(|| i64::from_le_bytes(r.take::<8>()));
        let count_users = int();
        let count_teams = int();
        let count_active_users = int();
        let has_run_unit_tests = r.bool();
        Ping {
            day,
            server_id,
            log_at,
            tie,
            pings,
            flags,
            server_ip,
            version,
            version_parts,
            is_enterprise_ready,
            database_type,
            operating_system,
            count_users,
            count_teams,
            count_active_users,
            has_run_unit_tests,
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            let mut cut = s.len().min(u16::MAX as usize - 1);
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            out.extend_from_slice(&(cut as u16).to_le_bytes());
            out.extend_from_slice(&s.as_bytes()[..cut]);
        }
        None => out.extend_from_slice(&u16::MAX.to_le_bytes()),
    }
}

fn put_bool(out: &mut Vec<u8>, b: Option<bool>) {
    out.push(match b {
        Some(false) => 0,
        Some(true) => 1,
        None => 2,
    });
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let v: [u8; N] = self.b[self.at..self.at + N]
            .try_into()
            .expect("record is complete");
        self.at += N;
        v
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = u16::from_le_bytes(self.take::<2>());
        if len == u16::MAX {
            return None;
        }
        let s = &self.b[self.at..self.at + len as usize];
        self.at += len as usize;
        // Written from a &str cut at a char boundary.
        Some(std::str::from_utf8(s).unwrap_or_default())
    }

    fn bool(&mut self) -> Option<bool> {
        match self.take::<1>()[0] {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

/// The sort key of a record body: day (big-endian, sign flipped) then the server id bytes, as one
/// byte string, so records compare with one slice comparison.
fn key(body: &[u8]) -> (&[u8], &[u8]) {
    let id_len = u16::from_le_bytes([body[4], body[5]]) as usize;
    (&body[..4], &body[6..6 + id_len])
}

fn cmp_key(a: &[u8], b: &[u8]) -> Ordering {
    let (ad, ai) = key(a);
    let (bd, bi) = key(b);
    // Days are never negative here (after 1970), so big-endian bytes order like numbers.
    ad.cmp(bd).then_with(|| ai.cmp(bi))
}

/// (log_at, tie) of a record body.
fn recency(body: &[u8]) -> (i64, u64) {
    let id_len = u16::from_le_bytes([body[4], body[5]]) as usize;
    let at = 6 + id_len;
    (
        i64::from_le_bytes(body[at..at + 8].try_into().expect("complete")),
        u64::from_le_bytes(body[at + 8..at + 16].try_into().expect("complete")),
    )
}

/// Folds `other` (same key) into `acc`: the later ping's values, summed pings, OR-ed flags.
fn fold(acc: &mut Vec<u8>, other: &[u8]) {
    let (pings_a, flags_a) = counts(acc);
    let (pings_b, flags_b) = counts(other);
    if recency(other) > recency(acc) {
        acc.clear();
        acc.extend_from_slice(other);
    }
    set_counts(acc, pings_a + pings_b, flags_a | flags_b);
}

fn counts_at(body: &[u8]) -> usize {
    let id_len = u16::from_le_bytes([body[4], body[5]]) as usize;
    6 + id_len + 16
}

fn counts(body: &[u8]) -> (u64, u8) {
    let at = counts_at(body);
    (
        u64::from_le_bytes(body[at..at + 8].try_into().expect("complete")),
        body[at + 8],
    )
}

fn set_counts(body: &mut [u8], pings: u64, flags: u8) {
    let at = counts_at(body);
    body[at..at + 8].copy_from_slice(&pings.to_le_bytes());
    body[at + 8] = flags;
}

/// A worker's pings: the current in-memory run and the runs it spilled.
pub struct DailyState {
    buf: Vec<u8>,
    /// Per buffered record: (day, first 8 id bytes, offset), so most comparisons of the sort are
    /// integer comparisons.
    index: Vec<(i32, u64, u32)>,
    /// Reused output of the sort when a run is spilled.
    out: Vec<u8>,
    spill: Option<Spill>,
    run_bytes: usize,
}

struct Spill {
    file: File,
    /// (offset, length) of each sorted run in `file`.
    runs: Vec<(u64, u64)>,
    len: u64,
}

impl Default for DailyState {
    fn default() -> Self {
        DailyState::with_run_bytes(RUN_BYTES)
    }
}

impl DailyState {
    pub fn with_run_bytes(run_bytes: usize) -> DailyState {
        let run_bytes = run_bytes.max(64);
        DailyState {
            // Room for the record that crosses the limit, so the buffer never doubles.
            buf: Vec::with_capacity(run_bytes + (16 << 10)),
            index: Vec::new(),
            out: Vec::new(),
            spill: None,
            run_bytes,
        }
    }

    /// Adds one ping.
    pub fn add(&mut self, ping: &Ping<'_>) -> io::Result<()> {
        self.index.push((
            ping.day,
            id_prefix(ping.server_id.as_bytes()),
            self.buf.len() as u32,
        ));
        ping.encode(&mut self.buf);
        if self.buf.len() >= self.run_bytes {
            let mut out = std::mem::take(&mut self.out);
            self.sorted_run(&mut out);
            let spill = match &mut self.spill {
                Some(s) => s,
                None => self.spill.insert(Spill {
                    file: tempfile::tempfile()?,
                    runs: Vec::new(),
                    len: 0,
                }),
            };
            spill.file.write_all_at(&out, spill.len)?;
            spill.runs.push((spill.len, out.len() as u64));
            spill.len += out.len() as u64;
            self.out = out;
        }
        Ok(())
    }

    /// Sorts the buffered records into `out`, folding each key into one; empties the buffer.
    fn sorted_run(&mut self, out: &mut Vec<u8>) {
        out.clear();
        let buf = &self.buf;
        let body = |s: u32| {
            let s = s as usize;
            let len = u32::from_le_bytes(buf[s..s + 4].try_into().expect("complete")) as usize;
            &buf[s + 4..s + 4 + len]
        };
        self.index.sort_unstable_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| cmp_key(body(a.2), body(b.2)))
        });
        let mut acc: Vec<u8> = Vec::new();
        for &(_, _, s) in &self.index {
            let rec = body(s);
            if !acc.is_empty() && cmp_key(&acc, rec) == Ordering::Equal {
                fold(&mut acc, rec);
            } else {
                if !acc.is_empty() {
                    push_record(out, &acc);
                }
                acc.clear();
                acc.extend_from_slice(rec);
            }
        }
        if !acc.is_empty() {
            push_record(out, &acc);
        }
        self.buf.clear();
        self.index.clear();
    }

    /// The runs to merge: the spilled ones and the last, in-memory one.
    fn into_runs(mut self) -> Vec<RunReader> {
        let mut last = Vec::new();
        self.sorted_run(&mut last);
        drop(std::mem::take(&mut self.buf));
        drop(std::mem::take(&mut self.out));
        let mut runs = Vec::new();
        if let Some(spill) = self.spill.take() {
            let file = Arc::new(spill.file);
            for (offset, len) in spill.runs {
                runs.push(RunReader::file(file.clone(), offset, len));
            }
        }
        if !last.is_empty() {
            runs.push(RunReader::memory(last));
        }
        runs
    }
}

fn push_record(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
}

/// Reads the records of one sorted run.
struct RunReader {
    source: RunSource,
    /// Read buffer: bytes `pos..filled` are read and not yet consumed.
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    /// Current record body.
    current: Vec<u8>,
}

enum RunSource {
    Memory,
    File {
        file: Arc<File>,
        next: u64,
        end: u64,
        chunk: usize,
    },
}

impl RunReader {
    fn memory(data: Vec<u8>) -> RunReader {
        RunReader {
            source: RunSource::Memory,
            filled: data.len(),
            buf: data,
            pos: 0,
            current: Vec::new(),
        }
    }

    fn file(file: Arc<File>, offset: u64, len: u64) -> RunReader {
        RunReader {
            source: RunSource::File {
                file,
                next: offset,
                end: offset + len,
                chunk: 64 << 10,
            },
            buf: Vec::new(),
            pos: 0,
            filled: 0,
            current: Vec::new(),
        }
    }

    fn set_chunk(&mut self, bytes: usize) {
        if let RunSource::File { chunk, .. } = &mut self.source {
            *chunk = bytes;
        }
    }

    /// Makes `n` bytes available at `pos`; false at the end of the run.
    fn fill(&mut self, n: usize) -> io::Result<bool> {
        if self.filled - self.pos >= n {
            return Ok(true);
        }
        let RunSource::File {
            file,
            next,
            end,
            chunk,
        } = &mut self.source
        else {
            return Ok(false);
        };
        // The unread tail moves to the front and the read goes after it. The buffer is zeroed
        // only when it grows: zeroing it before every read was 5% of this merge.
        self.buf.copy_within(self.pos..self.filled, 0);
        self.filled -= self.pos;
        self.pos = 0;
        while self.filled < n && *next < *end {
            let want = ((*end - *next) as usize).min((*chunk).max(n - self.filled));
            let to = self.filled + want;
            if self.buf.len() < to {
                self.buf.resize(to, 0);
            }
            file.read_exact_at(&mut self.buf[self.filled..to], *next)?;
            self.filled = to;
            *next += want as u64;
        }
        Ok(self.filled >= n)
    }

    /// Moves to the next record; false at the end.
    fn advance(&mut self) -> io::Result<bool> {
        if !self.fill(4)? {
            return Ok(false);
        }
        let len =
            u32::from_le_bytes(self.buf[self.pos..self.pos + 4].try_into().expect("4")) as usize;
        if !self.fill(4 + len)? {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server_daily spill run ends inside a record",
            ));
        }
        self.current.clear();
        self.current
            .extend_from_slice(&self.buf[self.pos + 4..self.pos + 4 + len]);
        self.pos += 4 + len;
        Ok(true)
    }
}

/// Heap entry: the run's current key; smallest first. `day` and `prefix` (the first 8 id bytes)
/// settle almost every comparison without touching `key`.
struct Head {
    day: i32,
    prefix: u64,
    key: Vec<u8>,
    run: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.day, self.prefix)
            .cmp(&(other.day, other.prefix))
            .then_with(|| self.key.cmp(&other.key))
            .then(self.run.cmp(&other.run))
    }
}

/// Points `head` at a record: its day, id prefix and full key (day bytes then id bytes).
fn set_head(head: &mut Head, body: &[u8]) {
    let (day, id) = key(body);
    head.day = i32::from_be_bytes(day.try_into().expect("4 bytes"));
    head.prefix = id_prefix(id);
    head.key.clear();
    head.key.extend_from_slice(day);
    head.key.extend_from_slice(id);
}

/// The first 8 bytes of an id, zero-padded, as a big-endian number (orders like the bytes).
fn id_prefix(id: &[u8]) -> u64 {
    let mut prefix = [0u8; 8];
    let n = id.len().min(8);
    prefix[..n].copy_from_slice(&id[..n]);
    u64::from_be_bytes(prefix)
}

fn spill_error(e: io::Error) -> ReadError {
    ReadError::from(ingest_format::format::TempSpaceError::new(
        "server_daily: reading the spilled pings back",
        e,
    ))
}

/// Merges every worker's runs and writes `server_daily` (derived table `table`) in (day, server)
/// order.
pub fn write(
    states: Vec<DailyState>,
    table: usize,
    out: &mut dyn DerivedSink,
) -> Result<(), ReadError> {
    let mut runs: Vec<RunReader> = Vec::new();
    for state in states {
        runs.extend(state.into_runs());
    }
    // Keep the merge's read buffers to about MERGE_READ_BYTES whatever the number of runs.
    let chunk = (MERGE_READ_BYTES / runs.len().max(1)).clamp(4 << 10, 64 << 10);
    let mut heap = BinaryHeap::new();
    for (i, run) in runs.iter_mut().enumerate() {
        run.set_chunk(chunk);
        if run.advance().map_err(spill_error)? {
            let mut head = Head {
                day: 0,
                prefix: 0,
                key: Vec::new(),
                run: i,
            };
            set_head(&mut head, &run.current);
            heap.push(Reverse(head));
        }
    }
    let mut acc: Vec<u8> = Vec::new();
    let mut acc_key: Vec<u8> = Vec::new();
    let mut dates = DayNames::default();
    while let Some(Reverse(mut head)) = heap.pop() {
        let run = &mut runs[head.run];
        if !acc.is_empty() && head.key == acc_key {
            fold(&mut acc, &run.current);
        } else {
            if !acc.is_empty() {
                write_row(&acc, table, out, &mut dates)?;
            }
            acc.clear();
            acc.extend_from_slice(&run.current);
            std::mem::swap(&mut acc_key, &mut head.key);
        }
        if run.advance().map_err(spill_error)? {
            set_head(&mut head, &run.current);
            heap.push(Reverse(head));
        }
    }
    if !acc.is_empty() {
        write_row(&acc, table, out, &mut dates)?;
    }
    Ok(())
}

/// `YYYY-MM-DD` of the last day seen (rows come sorted by day, so this is nearly always a hit).
#[derive(Default)]
struct DayNames {
    day: Option<i32>,
    name: String,
}

impl DayNames {
    fn get(&mut self, day: i32) -> &str {
        if self.day != Some(day) {
            self.day = Some(day);
            self.name = Date::new(1970, 1, 1)
                .expect("epoch")
                .add_days(i64::from(day))
                .to_string();
        }
        &self.name
    }
}

fn write_row(
    body: &[u8],
    table: usize,
    out: &mut dyn DerivedSink,
    dates: &mut DayNames,
) -> Result<(), ReadError> {
    let p = Ping::decode(body);
    let date = dates.get(p.day);
    let reason = match (
        p.flags & FLAG_UNIT_TESTS != 0,
        p.flags & FLAG_USERS_LT_ACTIVE != 0,
    ) {
        (false, false) => None,
        (true, false) => Some("ran unit tests"),
        (false, true) => Some("active users > users"),
        (true, true) => Some("ran unit tests; active users > users"),
    };
    let parts = p.version_parts;
    out.row(table, &mut |w| {
        w.text(Some(date))
            .text(Some(p.server_id))
            .timestamp_micros(Some(p.log_at))
            .i64(Some(p.pings as i64))
            .text(p.server_ip)
            .text(p.version)
            .i32(parts.map(|v| v[0]))
            .i32(parts.map(|v| v[1]))
            .i32(parts.map(|v| v[2]))
            .bool(p.is_enterprise_ready)
            .text(p.database_type)
            .text(p.operating_system)
            .i64(p.count_users)
            .i64(p.count_teams)
            .i64(p.count_active_users)
            .bool(p.has_run_unit_tests)
            .bool(Some(reason.is_some()))
            .text(reason);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_format::format::DerivedTable;
    use ingest_format::testing::CollectingDerived;

    static TABLES: [DerivedTable; 1] = [DerivedTable {
        name: "server_daily",
        schema: &SERVER_DAILY_TABLE,
        doc: "",
    }];

    fn ping(id: &str, at: i64, uc: i64, auc: i64, ut: bool) -> Ping<'_> {
        let mut p = Ping {
            day: 20_777,
            server_id: id,
            log_at: at,
            tie: at as u64 * 7,
            pings: 1,
            flags: 0,
            server_ip: Some("192.0.2.1"),
            version: Some("10.11.2.1"),
            version_parts: Some([10, 11, 2]),
            is_enterprise_ready: Some(false),
            database_type: Some("postgres"),
            operating_system: None,
            count_users: Some(uc),
            count_teams: Some(1),
            count_active_users: Some(auc),
            has_run_unit_tests: Some(ut),
        };
        p.flags = p.own_flags();
        p
    }

    #[test]
    fn records_round_trip() {
        let p = ping("abc", 5, 10, 3, false);
        let mut buf = Vec::new();
        p.encode(&mut buf);
        assert_eq!(Ping::decode(&buf[4..]), p);
    }

    fn run(states: Vec<DailyState>) -> Vec<(String, i64, i64, i64, bool, Option<String>)> {
        let mut out = CollectingDerived::new(&TABLES);
        write(states, 0, &mut out).unwrap();
        out.rows(0)
            .iter()
            .map(|r| {
                (
                    r.text("server_id").unwrap().to_owned(),
                    r.int("last_ping_at").unwrap(),
                    r.int("pings").unwrap(),
                    r.int("count_users").unwrap(),
                    r.bool("is_excluded").unwrap(),
                    r.text("exclusion_reason").map(str::to_owned),
                )
            })
            .collect()
    }

    #[test]
    fn latest_ping_wins_across_workers_and_spilled_runs() {
        // Tiny runs force spilling; two workers see pings of the same servers.
        let mut a = DailyState::with_run_bytes(200);
        let mut b = DailyState::with_run_bytes(200);
        for i in 0..50i64 {
            let id = format!("server{:02}", i % 7);
            let target = if i % 2 == 0 { &mut a } else { &mut b };
            // users 100 + i: the latest ping carries the largest count.
            target
                .add(&ping(
                    &id,
                    1_000 + i,
                    100 + i,
                    if i == 3 { 500 } else { 1 },
                    i == 12,
                ))
                .unwrap();
        }
        assert!(a.spill.is_some() && b.spill.is_some());
        let rows = run(vec![a, b]);
        assert_eq!(rows.len(), 7);
        let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "rows come out in server order");
        for (id, at, pings, uc, excluded, reason) in &rows {
            let n: i64 = id[6..].parse().unwrap();
            let last = (0..50).filter(|i| i % 7 == n).max().unwrap();
            assert_eq!(*at, 1_000 + last);
            assert_eq!(*uc, 100 + last);
            assert_eq!(*pings, (0..50).filter(|i| i % 7 == n).count() as i64);
            match n {
                3 => assert_eq!(reason.as_deref(), Some("active users > users"), "{id}"),
                _ if 12 % 7 == n => assert_eq!(reason.as_deref(), Some("ran unit tests")),
                _ => assert!(!excluded, "{id}"),
            }
        }
    }

    /// A full disk under the spill (the kernel's /dev/full answers every write with ENOSPC):
    /// the error is the runtime's `$TMPDIR` error, transient (exit 4), not an internal one.
    #[test]
    fn a_full_spill_disk_is_a_transient_tmpdir_error() {
        let mut state = DailyState::with_run_bytes(200);
        state.spill = Some(Spill {
            file: File::options().write(true).open("/dev/full").unwrap(),
            runs: Vec::new(),
            len: 0,
        });
        let err = (0..50)
            .find_map(|i| state.add(&ping("server", 1_000 + i, 1, 1, false)).err())
            .expect("a write to /dev/full fails");
        assert_eq!(err.raw_os_error(), Some(28), "{err}");
        let err = ingest_runtime::error::RunError::from(
            ingest_format::format::TempSpaceError::new("server_daily: spilling pings", err),
        );
        assert_eq!(err.kind().exit_code(), 4);
        let text = ingest_runtime::error::error_chain(&err).join(": ");
        assert!(
            text.contains("server_daily: spilling pings in $TMPDIR ("),
            "{text}"
        );
        assert!(
            text.contains(" free of ") && text.contains("sizeLimit"),
            "{text}"
        );
        assert!(text.contains("No space left on device"), "{text}");
    }

    /// Reads smaller than a record: every record crosses reads, and the unread tail of each read
    /// moves to the front of the buffer.
    #[test]
    fn spilled_runs_read_back_whole_through_any_read_size() {
        let bodies: Vec<Vec<u8>> = (0..40u8)
            .map(|i| {
                (0..(i as usize * 3) % 23 + 1)
                    .map(|k| i ^ k as u8)
                    .collect()
            })
            .collect();
        let mut run = Vec::new();
        for body in &bodies {
            push_record(&mut run, body);
        }
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, b"other run").unwrap();
        std::io::Write::write_all(&mut file, &run).unwrap();
        let file = Arc::new(file);
        for chunk in [1, 3, 7, 64, 4096] {
            let mut reader = RunReader::file(file.clone(), 9, run.len() as u64);
            reader.set_chunk(chunk);
            let mut got = Vec::new();
            while reader.advance().unwrap() {
                got.push(reader.current.clone());
            }
            assert_eq!(got, bodies, "reads of {chunk} bytes");
        }
        let mut cut = RunReader::file(file, 9, run.len() as u64 - 1);
        cut.set_chunk(5);
        let err = loop {
            match cut.advance() {
                Ok(true) => {}
                Ok(false) => panic!("the last record is cut"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn no_pings_no_rows() {
        assert!(run(vec![DailyState::default()]).is_empty());
    }
}
