//! CloudFront standard (legacy) access logs: server telemetry pings and release downloads.
//!
//! Key layout: `<prefix>/<distribution-id>.YYYY-MM-DD-HH.<unique-id>.gz`, one or more files per
//! UTC hour, every record in the file of the hour it happened in. W3C format: `#Version: 1.0`,
//! `#Fields: ...`, then tab-separated records in no particular time order, `-` for a missing
//! value, and values URL-encoded for ASCII 0-32, 127 and above and `<>"#%{}|\^~[]`'` (AWS docs,
//! "Standard log file format"). Today's files have 33 fields; older files have the first 26
//! and double-encode the user agent (`%2520` for a space).

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::alb::{ipv6, public_ipv4};
use crate::date::{Date, push_hms, push_padded};
use crate::output::{FileWritten, GzFile, Volume, Written, create_parent, for_each_file};
use crate::rng::{ALNUM_LOWER, BASE64URL, Rng, derive, hash_bytes, mattermost_id};

/// Today's 33 fields, in order.
pub const FIELDS: [&str; 33] = [
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
];

/// Fields in the old files (the reference tables' 26 columns).
pub const OLD_FIELD_COUNT: usize = 26;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloudFrontKind {
    /// `GET /security?id=...` pings from running servers.
    Telemetry,
    /// Release downloads (server tarballs, desktop installers).
    Pingbacks,
}

impl CloudFrontKind {
    pub fn name(self) -> &'static str {
        match self {
            CloudFrontKind::Telemetry => "telemetry",
            CloudFrontKind::Pingbacks => "pingbacks",
        }
    }
}

#[derive(Clone, Debug)]
pub struct CloudFrontOptions {
    pub date: Date,
    /// Key prefix inside the output directory (`telemetry`, `a/b`, or empty).
    pub prefix: String,
    pub distribution: String,
    pub kind: CloudFrontKind,
    pub files_per_hour: usize,
    pub volume: Volume,
    pub seed: u64,
    /// 33 (today) or 26 (old files: first 26 fields, double-encoded user agent).
    pub fields: usize,
    /// Every Nth record of each file is malformed (truncated, non-numeric status, bad time,
    /// non-numeric byte count, in turn).
    pub malformed_every: Option<u64>,
    /// Worker threads; 0 = one per core. The output does not depend on it.
    pub threads: usize,
}

impl CloudFrontOptions {
    pub fn new(date: Date, kind: CloudFrontKind) -> CloudFrontOptions {
        CloudFrontOptions {
            date,
            prefix: kind.name().into(),
            distribution: "E2EXAMPLE1".into(),
            kind,
            files_per_hour: 1,
            volume: Volume::LinesPerFile(200),
            seed: 1,
            fields: 33,
            malformed_every: None,
            threads: 0,
        }
    }

    fn prefix(&self) -> &str {
        self.prefix.trim_matches('/')
    }

    /// `<prefix>/<distribution-id>.YYYY-MM-DD-`: the start of every key of the date.
    pub fn key_prefix(&self) -> String {
        let p = self.prefix();
        if p.is_empty() {
            format!("{}.{}-", self.distribution, self.date)
        } else {
            format!("{p}/{}.{}-", self.distribution, self.date)
        }
    }

    fn base_seed(&self) -> u64 {
        let args = format!(
            "cloudfront|{}|{}|{}|{}",
            self.kind.name(),
            self.date,
            self.prefix(),
            self.distribution
        );
        hash_bytes(self.seed, args.as_bytes())
    }
}

/// URL-encodes a value the way CloudFront writes it into standard logs: bytes 0-32, 127-255 and
/// `< > " # % { } | \ ^ ~ [ ] ` '` become `%XX` (uppercase hex); everything else is kept.
pub fn encode(value: &str, out: &mut String) {
    for &b in value.as_bytes() {
        let special = matches!(
            b,
            0..=32
                | 127..=255
                | b'<'
                | b'>'
                | b'"'
                | b'#'
                | b'%'
                | b'{'
                | b'}'
                | b'|'
                | b'\\'
                | b'^'
                | b'~'
                | b'['
                | b']'
                | b'`'
                | b'\''
        );
        if special {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        } else {
            out.push(char::from(b));
        }
    }
}

pub fn encoded(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 8);
    encode(value, &mut s);
    s
}

/// Writes the day's files (24 hours × `files_per_hour`).
pub fn write_day(opts: &CloudFrontOptions, out_dir: &Path) -> io::Result<Written> {
    if opts.files_per_hour == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--files-per-hour must be at least 1",
        ));
    }
    if opts.fields != FIELDS.len() && opts.fields != OLD_FIELD_COUNT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--fields must be 33 or 26",
        ));
    }
    let files = 24 * opts.files_per_hour;
    let expected_rows = match opts.volume {
        Volume::LinesPerFile(n) => n * files as u64,
        Volume::TotalBytes(b) => b / 330,
    };
    let ctx = Context {
        date_prefix: opts.date.to_string(),
        base_seed: opts.base_seed(),
        cloudfront_host: {
            let mut r = Rng::new(derive(opts.base_seed(), u64::MAX));
            format!("d{}.cloudfront.net", r.chars(ALNUM_LOWER, 13))
        },
        // About three pings per server per day.
        servers: (expected_rows / 3).clamp(1, 5_000_000),
    };
    let mut files = for_each_file(files, opts.threads, |i| write_file(opts, &ctx, i, out_dir))?;
    files.sort_by(|a, b| a.key.cmp(&b.key));
    let p = opts.prefix();
    Ok(Written {
        kind: "cloudfront",
        source_prefix: p.to_string(),
        files,
    })
}

struct Context {
    date_prefix: String,
    base_seed: u64,
    cloudfront_host: String,
    servers: u64,
}

/// The header lines for a field count.
pub fn header(fields: usize) -> String {
    format!("#Version: 1.0\n#Fields: {}\n", FIELDS[..fields].join(" "))
}

fn write_file(
    opts: &CloudFrontOptions,
    ctx: &Context,
    index: usize,
    out_dir: &Path,
) -> io::Result<FileWritten> {
    let mut rng = Rng::new(derive(ctx.base_seed, index as u64));
    let hour = (index / opts.files_per_hour) as u64;
    let key = format!(
        "{}{:02}.{}.gz",
        opts.key_prefix(),
        hour,
        rng.chars(ALNUM_LOWER, 8)
    );
    let path = create_parent(out_dir, &key)?;
    let mut gz = GzFile::create(&path)?;
    gz.push(&header(opts.fields))?;
    let budget = opts.volume.file_budget(index, 24 * opts.files_per_hour);
    let mut line = String::with_capacity(1024);
    let mut previous = String::new();
    let mut rows = 0u64;
    let mut malformed = 0u64;
    loop {
        match (opts.volume, budget) {
            (Volume::LinesPerFile(n), _) if rows >= n => break,
            (_, Some(b)) if gz.uncompressed() >= b => break,
            _ => {}
        }
        line.clear();
        let record = match opts.kind {
            CloudFrontKind::Telemetry => Some(telemetry_record(&mut rng, ctx, hour)),
            CloudFrontKind::Pingbacks => {
                // The reference table "might contain duplicate rows": repeat a record now and
                // then (same x-edge-request-id).
                if !previous.is_empty() && rng.chance(50) {
                    None
                } else {
                    Some(pingback_record(&mut rng, ctx, hour))
                }
            }
        };
        match record {
            Some(r) => r.write(&ctx.date_prefix, opts.fields, &mut line),
            None => line.push_str(&previous),
        }
        previous.clear();
        previous.push_str(&line);
        rows += 1;
        if let Some(n) = opts.malformed_every
            && n > 0
            && rows.is_multiple_of(n)
        {
            malform(&mut line, rows / n + index as u64);
            malformed += 1;
            previous.clear();
        }
        line.push('\n');
        gz.push(&line)?;
    }
    let (bytes_uncompressed, bytes_compressed) = gz.finish()?;
    Ok(FileWritten {
        key,
        rows,
        malformed_rows: malformed,
        bytes_uncompressed,
        bytes_compressed,
    })
}

/// One record, values unencoded.
struct Record {
    second_of_day: u64,
    edge: &'static str,
    sc_bytes: u64,
    c_ip: String,
    method: &'static str,
    host: String,
    uri: String,
    status: u16,
    referer: &'static str,
    user_agent: &'static str,
    query: String,
    result_type: &'static str,
    host_header: &'static str,
    https: bool,
    cs_bytes: u64,
    time_taken_ms: u64,
    protocol_version: &'static str,
    tls13: bool,
    c_port: u64,
    ttfb_ms: u64,
    detailed_result_type: &'static str,
    content_type: &'static str,
    content_len: Option<u64>,
    range: Option<(u64, u64)>,
    request_id: String,
}

fn push_seconds(out: &mut String, ms: u64) {
    push_padded(out, ms / 1000, 1);
    out.push('.');
    push_padded(out, ms % 1000, 3);
}

fn push_or_dash(out: &mut String, value: &str) {
    if value.is_empty() {
        out.push('-');
    } else {
        encode(value, out);
    }
}

impl Record {
    fn write(&self, date: &str, fields: usize, out: &mut String) {
        let start = out.len();
        out.push_str(date);
        out.push('\t');
        push_hms(out, self.second_of_day);
        let _ = write!(
            out,
            "\t{}\t{}\t{}\t{}\t{}\t",
            self.edge, self.sc_bytes, self.c_ip, self.method, self.host
        );
        encode(&self.uri, out);
        out.push('\t');
        if self.status == 0 {
            out.push_str("000");
        } else {
            let _ = write!(out, "{}", self.status);
        }
        out.push('\t');
        push_or_dash(out, self.referer);
        out.push('\t');
        if self.user_agent.is_empty() {
            out.push('-');
        } else if fields == OLD_FIELD_COUNT {
            // Old files encode the already encoded user agent again: %20 -> %2520.
            encode(&encoded(self.user_agent), out);
        } else {
            encode(self.user_agent, out);
        }
        out.push('\t');
        push_or_dash(out, &self.query);
        // cs(Cookie)
        out.push_str("\t-\t");
        out.push_str(self.result_type);
        out.push('\t');
        out.push_str(&self.request_id);
        out.push('\t');
        out.push_str(self.host_header);
        out.push('\t');
        out.push_str(if self.https { "https" } else { "http" });
        let _ = write!(out, "\t{}\t", self.cs_bytes);
        push_seconds(out, self.time_taken_ms);
        // x-forwarded-for
        out.push_str("\t-\t");
        match (self.https, self.tls13) {
            (false, _) => out.push_str("-\t-"),
            (true, true) => out.push_str("TLSv1.3\tTLS_AES_128_GCM_SHA256"),
            (true, false) => out.push_str("TLSv1.2\tECDHE-RSA-AES128-GCM-SHA256"),
        }
        out.push('\t');
        out.push_str(self.result_type);
        out.push('\t');
        out.push_str(self.protocol_version);
        // fle-status fle-encrypted-fields
        out.push_str("\t-\t-\t");
        let _ = write!(out, "{}\t", self.c_port);
        push_seconds(out, self.ttfb_ms);
        out.push('\t');
        out.push_str(self.detailed_result_type);
        out.push('\t');
        push_or_dash(out, self.content_type);
        out.push('\t');
        match self.content_len {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => out.push('-'),
        }
        match self.range {
            Some((a, b)) => {
                let _ = write!(out, "\t{a}\t{b}");
            }
            None => out.push_str("\t-\t-"),
        }
        if fields < FIELDS.len()
            && let Some((cut, _)) = out[start..].match_indices('\t').nth(fields - 1)
        {
            out.truncate(start + cut);
        }
    }
}

const EDGES: &[&str] = &[
    "IAD89-C3", "IAD61-P2", "FRA56-P4", "FRA60-P1", "LHR61-P5", "CDG52-P2", "NRT57-P2", "SIN2-C1",
    "GRU3-C1", "DFW56-P1", "SFO53-C1", "BOM78-P3", "SYD1-C1", "AMS1-C1", "ICN57-C1",
];

fn request_id(rng: &mut Rng) -> String {
    let mut s = rng.chars(BASE64URL, 54);
    s.push_str("==");
    s
}

/// A server's fixed facts, derived from its number alone.
struct Server {
    id: String,
    ip: String,
    version: String,
    enterprise: bool,
    database: &'static str,
    os: &'static str,
    users: u64,
    teams: u64,
    active: u64,
    unit_tests: bool,
    go2: bool,
}

const SERVER_SALT: u64 = 1 << 48;

const OPERATING_SYSTEMS: &[(u32, &str)] = &[(98, "linux"), (1, "darwin"), (1, "windows")];

fn server(ctx: &Context, n: u64) -> Server {
    let mut r = Rng::new(derive(ctx.base_seed, SERVER_SALT + n));
    let id = mattermost_id(&mut r);
    let ip = if r.chance(300) {
        ipv6(&mut r)
    } else {
        public_ipv4(&mut r)
    };
    let (major, minor, patch) = r.weighted(&[
        (25, (10, 11, 2)),
        (15, (10, 11, 1)),
        (12, (10, 10, 3)),
        (10, (10, 9, 5)),
        (10, (10, 5, 11)),
        (10, (9, 11, 17)),
        (8, (9, 5, 13)),
        (6, (8, 1, 14)),
        (4, (7, 8, 15)),
    ]);
    let version = format!("{major}.{minor}.{patch}.{}", r.range(10_000, 99_999));
    let users = match r.below(100) {
        0..=39 => r.range(1, 10),
        40..=74 => r.range(10, 100),
        75..=92 => r.range(100, 1_000),
        _ => r.range(1_000, 25_000),
    };
    let teams = r.range(1, (users / 15).max(1));
    // 1% report more active users than users (excluded downstream).
    let active = if r.chance(100) {
        users + r.range(1, 20)
    } else {
        users * r.range(5, 90) / 100
    };
    Server {
        id,
        ip,
        version,
        enterprise: r.chance(7_000),
        database: if r.chance(9_000) { "postgres" } else { "mysql" },
        os: r.weighted(OPERATING_SYSTEMS),
        users,
        teams,
        active,
        unit_tests: r.chance(300),
        go2: r.chance(1_000),
    }
}

fn second_in_hour(rng: &mut Rng, hour: u64) -> u64 {
    hour * 3600 + rng.below(3600)
}

fn telemetry_record(rng: &mut Rng, ctx: &Context, hour: u64) -> Record {
    let second_of_day = second_in_hour(rng, hour);
    let edge = *rng.pick(EDGES);
    let request_id = request_id(rng);
    let time_taken_ms = rng.range(8, 400);
    let ttfb_ms = rng.range(1, time_taken_ms);
    let c_port = rng.range(1_024, 65_535);
    let tls13 = rng.chance(6_000);
    if rng.chance(9_400) {
        let s = server(ctx, rng.below(ctx.servers));
        // Counts move a little between the pings of a day.
        let users = s.users + rng.below(3);
        let active = s.active.saturating_sub(rng.below(3));
        let mut q = String::with_capacity(160);
        let _ = write!(
            q,
            "id={}&b={}&be={}&db={}&os={}&uc={}&tc={}&auc={}&ut={}",
            s.id,
            s.version,
            s.enterprise,
            s.database,
            s.os,
            users,
            s.teams,
            active,
            u8::from(s.unit_tests)
        );
        if rng.chance(200) {
            // Values analysts must survive.
            q = match rng.below(7) {
                0 => q.replace(&format!("uc={users}"), "uc=abc"),
                1 => q.replace(&format!("auc={active}"), "auc="),
                2 => q.replace(&format!("b={}", s.version), "b=dev-build"),
                3 => q.replace(&format!("tc={}", s.teams), "tc=-1"),
                4 => q.replace(&format!("id={}", s.id), "id="),
                5 => format!("{q}&uc=999999"),
                _ => q.replace(&format!("be={}", s.enterprise), "be=maybe"),
            };
        }
        let content_len = rng.range(2, 320);
        Record {
            second_of_day,
            edge,
            sc_bytes: content_len + rng.range(330, 420),
            c_ip: s.ip,
            method: "GET",
            host: ctx.cloudfront_host.clone(),
            uri: "/security".into(),
            status: 200,
            referer: "",
            user_agent: if s.go2 {
                "Go-http-client/2.0"
            } else {
                "Go-http-client/1.1"
            },
            query: q,
            result_type: "Miss",
            host_header: "securityupdatecheck.mattermost.com",
            https: true,
            cs_bytes: rng.range(260, 420),
            time_taken_ms,
            protocol_version: if s.go2 { "HTTP/2.0" } else { "HTTP/1.1" },
            tls13,
            c_port,
            ttfb_ms,
            detailed_result_type: "Miss",
            content_type: "application/json",
            content_len: Some(content_len),
            range: None,
            request_id,
        }
    } else {
        // Everything else that reaches the distribution.
        let (method, uri, status, ua, https): (&str, &str, u16, &str, bool) = rng.weighted(&[
            (30, ("GET", "/", 403, BROWSERS[0], true)),
            (15, ("GET", "/favicon.ico", 403, BROWSERS[1], true)),
            (
                15,
                (
                    "GET",
                    "/robots.txt",
                    404,
                    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                    true,
                ),
            ),
            (15, ("HEAD", "/security", 200, "curl/8.5.0", true)),
            (
                10,
                ("POST", "/security", 403, "python-requests/2.31.0", true),
            ),
            (10, ("GET", "/security", 301, "Go-http-client/1.1", false)),
            (5, ("GET", "/security", 0, "Go-http-client/1.1", true)),
        ]);
        let (result, detailed, content_type) = match status {
            200 => ("Miss", "Miss", "application/json"),
            301 => ("Redirect", "Redirect", "text/html"),
            0 => ("Error", "ClientHungUpRequest", ""),
            _ => ("Error", "Error", "application/xml"),
        };
        let content_len = match status {
            0 => None,
            200 if method == "HEAD" => None,
            _ => Some(rng.range(160, 240)),
        };
        Record {
            second_of_day,
            edge,
            sc_bytes: content_len.unwrap_or(0) + rng.range(250, 420),
            c_ip: if rng.chance(500) {
                ipv6(rng)
            } else {
                public_ipv4(rng)
            },
            method,
            host: ctx.cloudfront_host.clone(),
            uri: uri.into(),
            status,
            referer: "",
            user_agent: ua,
            query: String::new(),
            result_type: result,
            host_header: "securityupdatecheck.mattermost.com",
            https,
            cs_bytes: rng.range(120, 700),
            time_taken_ms,
            protocol_version: "HTTP/1.1",
            tls13,
            c_port,
            ttfb_ms,
            detailed_result_type: detailed,
            content_type,
            content_len,
            range: None,
            request_id,
        }
    }
}

const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
];

const DOWNLOADERS: &[(u32, &str)] = &[
    (22, "curl/8.5.0"),
    (10, "curl/7.81.0"),
    (14, "Wget/1.21.4"),
    (6, "Wget/1.20.3 (linux-gnu)"),
    (8, "Go-http-client/1.1"),
    (5, "ansible-httpget"),
    (4, "python-urllib3/2.2.3"),
    (2, ""),
    (1, "Téléchargeur/1.0 (\"quoted\" {build} [x])"),
];

const SERVER_VERSIONS: &[&str] = &[
    "10.11.2", "10.11.1", "10.10.3", "10.9.5", "10.5.11", "9.11.17",
];
const DESKTOP_VERSIONS: &[&str] = &["5.12.0", "5.11.2", "5.10.2"];

enum Artifact {
    Server {
        name: String,
        size: u64,
    },
    Desktop {
        name: String,
        size: u64,
        content_type: &'static str,
    },
    Small {
        name: String,
        size: u64,
    },
    Missing {
        name: String,
    },
}

fn artifact(rng: &mut Rng, ctx: &Context) -> Artifact {
    let v = *rng.pick(SERVER_VERSIONS);
    let d = *rng.pick(DESKTOP_VERSIONS);
    // Sizes depend on the file name only, like real files.
    let size_of =
        |name: &str, lo: u64, hi: u64| lo + hash_bytes(ctx.base_seed, name.as_bytes()) % (hi - lo);
    match rng.below(100) {
        0..=29 => {
            let name = format!("/{v}/mattermost-team-{v}-linux-amd64.tar.gz");
            let size = size_of(&name, 340_000_000, 420_000_000);
            Artifact::Server { name, size }
        }
        30..=44 => {
            let name = format!("/{v}/mattermost-enterprise-{v}-linux-amd64.tar.gz");
            let size = size_of(&name, 360_000_000, 460_000_000);
            Artifact::Server { name, size }
        }
        45..=54 => {
            let name = format!("/{v}/mattermost-{v}-linux-amd64.tar.gz");
            let size = size_of(&name, 360_000_000, 460_000_000);
            Artifact::Server { name, size }
        }
        55..=58 => {
            let name = format!("/{v}/mattermost-{v}-linux-arm64.tar.gz");
            let size = size_of(&name, 330_000_000, 430_000_000);
            Artifact::Server { name, size }
        }
        59..=70 => {
            let name = format!("/desktop/{d}/mattermost-desktop-{d}-win-x64.msi");
            let size = size_of(&name, 95_000_000, 115_000_000);
            Artifact::Desktop {
                name,
                size,
                content_type: "application/x-msi",
            }
        }
        71..=79 => {
            let name = format!("/desktop/{d}/mattermost-desktop-{d}-mac-universal.dmg");
            let size = size_of(&name, 220_000_000, 260_000_000);
            Artifact::Desktop {
                name,
                size,
                content_type: "application/x-apple-diskimage",
            }
        }
        80..=83 => {
            let name = format!("/desktop/{d}/mattermost-desktop-{d}-linux-x64.tar.gz");
            let size = size_of(&name, 100_000_000, 120_000_000);
            Artifact::Desktop {
                name,
                size,
                content_type: "application/x-gzip",
            }
        }
        84..=86 => {
            let name = format!("/desktop/{d}/mattermost-desktop_{d}-1_amd64.deb");
            let size = size_of(&name, 80_000_000, 95_000_000);
            Artifact::Desktop {
                name,
                size,
                content_type: "application/vnd.debian.binary-package",
            }
        }
        87..=93 => {
            let ext = if rng.chance(5_000) { "sig" } else { "sha256" };
            let name = format!("/{v}/mattermost-team-{v}-linux-amd64.tar.gz.{ext}");
            Artifact::Small {
                name,
                size: if ext == "sig" { 566 } else { 97 },
            }
        }
        _ => Artifact::Missing {
            name: (*rng.pick(&[
                "/10.99.0/mattermost-team-10.99.0-linux-amd64.tar.gz",
                "/latest",
                "/wp-login.php",
                "/favicon.ico",
                "/desktop/5.12.0/mattermost-desktop-5.12.0-win-x64 (1).msi",
            ]))
            .to_string(),
        },
    }
}

fn pingback_record(rng: &mut Rng, ctx: &Context, hour: u64) -> Record {
    let second_of_day = second_in_hour(rng, hour);
    let edge = *rng.pick(EDGES);
    let request_id = request_id(rng);
    let c_port = rng.range(1_024, 65_535);
    let tls13 = rng.chance(6_500);
    let artifact = artifact(rng, ctx);
    let browser = matches!(artifact, Artifact::Desktop { .. }) && rng.chance(7_000);
    let user_agent = if browser {
        *rng.pick(BROWSERS)
    } else {
        rng.weighted(DOWNLOADERS)
    };
    let referer = if browser && rng.chance(6_000) {
        "https://mattermost.com/download/"
    } else {
        ""
    };
    let method = if rng.chance(300) { "HEAD" } else { "GET" };
    let header_bytes = rng.range(320, 520);
    let cache = rng.weighted(&[(75, "Hit"), (5, "RefreshHit"), (20, "Miss")]);
    let speed_bytes_per_ms = rng.range(2_000, 80_000);
    let ttfb_ms = rng.range(1, 180);

    let (uri, status, sc_bytes, content_type, content_len, range, result, detailed, time_ms) =
        match artifact {
            Artifact::Missing { name } => (
                name,
                404,
                header_bytes + 240,
                "application/xml",
                Some(240),
                None,
                "Error",
                "Error",
                ttfb_ms + rng.range(1, 20),
            ),
            Artifact::Small { name, size } => (
                name,
                200,
                header_bytes + size,
                "application/octet-stream",
                Some(size),
                None,
                cache,
                cache,
                ttfb_ms + rng.range(0, 5),
            ),
            Artifact::Server { name, size } | Artifact::Desktop { name, size, .. }
                if method == "HEAD" =>
            {
                (
                    name,
                    200,
                    header_bytes,
                    "application/x-gzip",
                    Some(size),
                    None,
                    cache,
                    cache,
                    ttfb_ms,
                )
            }
            Artifact::Server { ref name, size } | Artifact::Desktop { ref name, size, .. } => {
                let content_type = match &artifact {
                    Artifact::Desktop { content_type, .. } => *content_type,
                    _ => "application/x-gzip",
                };
                match rng.below(100) {
                    // Full download.
                    0..=81 => (
                        name.clone(),
                        200,
                        header_bytes + size,
                        content_type,
                        Some(size),
                        None,
                        cache,
                        cache,
                        ttfb_ms + size / speed_bytes_per_ms,
                    ),
                    // Resumed or chunked download.
                    82..=89 => {
                        let start = rng.below(size / 2);
                        let len = rng.range(1_000_000, size - start);
                        (
                            name.clone(),
                            206,
                            header_bytes + len,
                            content_type,
                            Some(len),
                            Some((start, start + len - 1)),
                            cache,
                            cache,
                            ttfb_ms + len / speed_bytes_per_ms,
                        )
                    }
                    // Client already has it.
                    90..=95 => (
                        name.clone(),
                        304,
                        header_bytes,
                        "",
                        None,
                        None,
                        "Hit",
                        "Hit",
                        ttfb_ms,
                    ),
                    // Client gave up half-way.
                    _ => {
                        let got = rng.range(10_000, size / 2);
                        (
                            name.clone(),
                            200,
                            header_bytes + got,
                            content_type,
                            Some(size),
                            None,
                            "Error",
                            "ClientCommError",
                            ttfb_ms + got / speed_bytes_per_ms,
                        )
                    }
                }
            }
        };
    Record {
        second_of_day,
        edge,
        sc_bytes,
        c_ip: if rng.chance(600) {
            ipv6(rng)
        } else {
            public_ipv4(rng)
        },
        method,
        host: ctx.cloudfront_host.clone(),
        uri,
        status,
        referer,
        user_agent,
        query: String::new(),
        result_type: result,
        host_header: "releases.mattermost.com",
        https: true,
        cs_bytes: rng.range(150, 520),
        time_taken_ms: time_ms.max(ttfb_ms),
        protocol_version: if browser { "HTTP/2.0" } else { "HTTP/1.1" },
        tls13,
        c_port,
        ttfb_ms,
        detailed_result_type: detailed,
        content_type,
        content_len,
        range,
        request_id,
    }
}

/// Makes a record malformed, in one of four ways chosen by `nth`.
fn malform(line: &mut String, nth: u64) {
    let replace = |line: &mut String, index: usize, value: &str| {
        let mut fields: Vec<&str> = line.split('\t').collect();
        if index < fields.len() {
            fields[index] = value;
        }
        let joined = fields.join("\t");
        *line = joined;
    };
    match nth % 4 {
        // Truncated: only the first 9 fields.
        1 => {
            if let Some((cut, _)) = line.match_indices('\t').nth(8) {
                line.truncate(cut);
            }
        }
        // Non-numeric sc-status (field 9).
        2 => replace(line, 8, "abc"),
        // A time that is not one (field 2).
        3 => replace(line, 1, "25:61:07"),
        // Non-numeric sc-bytes (field 4).
        _ => replace(line, 3, "12kB"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            date_prefix: "2026-11-20".into(),
            base_seed: 42,
            cloudfront_host: "d111111abcdef8.cloudfront.net".into(),
            servers: 100,
        }
    }

    #[test]
    fn encodes_exactly_the_documented_characters() {
        assert_eq!(encoded("Go-http-client/1.1"), "Go-http-client/1.1");
        assert_eq!(
            encoded("a b\"c#d%e<f>g{h}i|j\\k^l~m[n]o`p'q"),
            "a%20b%22c%23d%25e%3Cf%3Eg%7Bh%7Di%7Cj%5Ck%5El%7Em%5Bn%5Do%60p%27q"
        );
        assert_eq!(encoded("é\t\u{7f}"), "%C3%A9%09%7F");
        // Kept as they are.
        assert_eq!(encoded("(;,/:?=&+@!$*)"), "(;,/:?=&+@!$*)");
        assert_eq!(encoded(&encoded("a b")), "a%2520b");
    }

    #[test]
    fn records_have_33_or_26_fields_and_no_raw_spaces() {
        let ctx = ctx();
        for fields in [33, 26] {
            let mut rng = Rng::new(1);
            let mut line = String::new();
            for i in 0..3_000 {
                line.clear();
                let r = if i % 2 == 0 {
                    telemetry_record(&mut rng, &ctx, 13)
                } else {
                    pingback_record(&mut rng, &ctx, 13)
                };
                r.write("2026-11-20", fields, &mut line);
                let f: Vec<&str> = line.split('\t').collect();
                assert_eq!(f.len(), fields, "{line}");
                assert!(!line.contains(' '), "{line}");
                assert_eq!(f[0], "2026-11-20");
                assert!(f[1].starts_with("13:"), "{line}");
                assert!(f[3].parse::<u64>().is_ok());
                assert!(f[8].len() == 3 && f[8].parse::<u16>().is_ok(), "{line}");
                assert!(f.iter().all(|v| !v.is_empty()), "{line}");
                if fields == 26 {
                    assert!(!f[10].contains("%20"), "{line}");
                }
            }
        }
    }

    #[test]
    fn telemetry_pings_carry_the_parameters() {
        let ctx = ctx();
        let mut rng = Rng::new(2);
        let (mut pings, mut odd) = (0, 0);
        for _ in 0..5_000 {
            let r = telemetry_record(&mut rng, &ctx, 0);
            if r.uri == "/security" && r.method == "GET" && r.status == 200 {
                pings += 1;
                assert!(r.user_agent.starts_with("Go-http-client/"));
                let keys: Vec<&str> = r
                    .query
                    .split('&')
                    .map(|kv| kv.split('=').next().unwrap())
                    .collect();
                assert_eq!(
                    &keys[..9],
                    ["id", "b", "be", "db", "os", "uc", "tc", "auc", "ut"]
                );
                odd += usize::from(r.query.contains("uc=abc") || r.query.contains("be=maybe"));
            }
        }
        assert!(pings > 4_500, "{pings}");
        assert!(odd > 0);
    }
}
