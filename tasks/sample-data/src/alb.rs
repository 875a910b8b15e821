//! Application Load Balancer access logs of the push-notification proxy.
//!
//! Key layout (AWS docs, "Access log files"):
//! `AWSLogs/<account>/elasticloadbalancing/<region>/YYYY/MM/DD/<account>_elasticloadbalancing_<region>_<load-balancer-id with / as .>_<end-time>_<ip>_<random>.log.gz`,
//! one file per load-balancer node and 5-minute interval, gzip, one request per line, fields
//! space-separated, some double-quoted (AWS docs, "Access log entries"). Lines carry all 33
//! fields documented today: up to `conn_trace_id`, then the three transform fields of 2025.

use std::io;
use std::path::Path;

use crate::date::{Date, push_iso_micros, push_padded};
use crate::output::{FileWritten, GzFile, Volume, Written, create_parent, for_each_file};
use crate::rng::{ALNUM_LOWER, HEX, Rng, derive, hash_bytes};

/// Fields in a line written today.
pub const FIELD_COUNT: usize = 33;

/// The field names in order (the reference table's column names where they exist).
pub const FIELD_NAMES: [&str; FIELD_COUNT] = [
    "type",
    "time",
    "elb",
    "client_and_port",
    "target_and_port",
    "request_processing_time",
    "target_processing_time",
    "response_processing_time",
    "elb_status_code",
    "target_status_code",
    "received_bytes",
    "sent_bytes",
    "request",
    "user_agent",
    "ssl_cipher",
    "ssl_protocol",
    "target_group_arn",
    "trace_id",
    "domain_name",
    "chosen_cert_arn",
    "matched_rule_priority",
    "request_creation_time",
    "actions_executed",
    "redirect_url",
    "error_reason",
    "target_port_list",
    "target_status_code_list",
    "classification",
    "classification_reason",
    "conn_trace_id",
    "transformed_host",
    "transformed_uri",
    "request_transform_status",
];

/// 5-minute intervals whose end time falls on the date: 00:00-00:05 ... 23:50-23:55. The
/// interval 23:55-24:00 ends on the next day, so ALB would folder its file under the next date;
/// it is left out to keep every generated file (and every timestamp) inside `--date`.
pub const INTERVALS_PER_DAY: usize = 287;
const INTERVAL_MICROS: u64 = 300_000_000;
/// Lines are spread evenly over the interval, each moved later by up to this much.
const JITTER_MICROS: u64 = 2_000_000;

/// What to generate.
#[derive(Clone, Debug)]
pub struct AlbOptions {
    pub date: Date,
    pub account: String,
    pub region: String,
    /// The load balancer's resource id, `app/<name>/<id>` (a bare `<name>/<id>` gets `app/`).
    pub lb_name: String,
    /// Number of files, spread over the day's 5-minute intervals (several per interval, from
    /// different nodes, when there are more files than intervals).
    pub files: usize,
    pub volume: Volume,
    pub seed: u64,
    /// Every Nth line of each file is malformed (truncated, non-numeric status, bad timestamp,
    /// non-numeric byte count, in turn).
    pub malformed_every: Option<u64>,
    /// Append fields a parser does not know to some lines (AWS may add fields at the end).
    pub extra_trailing_fields: bool,
    /// Worker threads; 0 = one per core. The output does not depend on it.
    pub threads: usize,
}

impl AlbOptions {
    pub fn new(date: Date) -> AlbOptions {
        AlbOptions {
            date,
            account: "123456789012".into(),
            region: "us-east-1".into(),
            lb_name: "app/push-proxy/50dc6c495c0c9188".into(),
            files: 12,
            volume: Volume::LinesPerFile(1000),
            seed: 1,
            malformed_every: None,
            extra_trailing_fields: false,
            threads: 0,
        }
    }

    /// `AWSLogs/<account>/elasticloadbalancing/<region>`: the `--source` of the job.
    pub fn source_prefix(&self) -> String {
        format!(
            "AWSLogs/{}/elasticloadbalancing/{}",
            self.account, self.region
        )
    }

    /// The load balancer's resource id as it appears in the `elb` field.
    pub fn elb_id(&self) -> String {
        if self.lb_name.starts_with("app/") {
            self.lb_name.clone()
        } else {
            format!("app/{}", self.lb_name)
        }
    }

    fn base_seed(&self) -> u64 {
        let args = format!(
            "alb|{}|{}|{}|{}",
            self.date,
            self.account,
            self.region,
            self.elb_id()
        );
        hash_bytes(self.seed, args.as_bytes())
    }
}

/// Splits an ALB line into fields: space-separated, `"..."` quoted with `\"` and `\\` escapes
/// inside quotes (the quotes are removed, escapes kept as written). `None` when a quote is not
/// closed. Used by the tests here and usable by other crates' tests.
pub fn split_fields(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Some(fields);
        };
        let mut field = String::new();
        if first == '"' {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        field.push(c);
                        if let Some(n) = chars.next() {
                            field.push(n);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    _ => field.push(c),
                }
            }
            if !closed {
                return None;
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
    }
}

/// Writes the day's files under `out_dir` (which is created if needed).
pub fn write_day(opts: &AlbOptions, out_dir: &Path) -> io::Result<Written> {
    if opts.files == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--files must be at least 1",
        ));
    }
    let ctx = Context::new(opts);
    let files = for_each_file(opts.files, opts.threads, |i| {
        write_file(opts, &ctx, i, out_dir)
    })?;
    let mut files = files;
    files.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Written {
        kind: "alb",
        source_prefix: opts.source_prefix(),
        files,
    })
}

/// Everything shared by all lines of a day.
struct Context {
    date_prefix: String,
    day_epoch: i64,
    elb: String,
    elb_dots: String,
    target_group_arn: String,
    cert_arn: String,
    targets: Vec<String>,
    node_ips: Vec<String>,
    /// Mattermost servers sending pushes: the same clients all day.
    servers: Vec<String>,
    extra_trailing_fields: bool,
    base_seed: u64,
}

const DOMAIN: &str = "push.example.com";

impl Context {
    fn new(opts: &AlbOptions) -> Context {
        let base_seed = opts.base_seed();
        let mut rng = Rng::new(derive(base_seed, u64::MAX));
        let elb = opts.elb_id();
        let target_group_arn = format!(
            "arn:aws:elasticloadbalancing:{}:{}:targetgroup/push-proxy-tg/{}",
            opts.region,
            opts.account,
            rng.chars(HEX, 16)
        );
        let cert_arn = format!(
            "arn:aws:acm:{}:{}:certificate/{}-{}-{}-{}-{}",
            opts.region,
            opts.account,
            rng.chars(HEX, 8),
            rng.chars(HEX, 4),
            rng.chars(HEX, 4),
            rng.chars(HEX, 4),
            rng.chars(HEX, 12)
        );
        let targets = (0..6)
            .map(|_| format!("10.0.{}.{}:8066", rng.range(1, 3) * 16, rng.range(4, 250)))
            .collect();
        let node_ips = (0..3)
            .map(|az| format!("10.0.{}.{}", az * 16 + 1, rng.range(4, 250)))
            .collect();
        let servers = (0..400)
            .map(|_| {
                if rng.chance(400) {
                    ipv6(&mut rng)
                } else {
                    public_ipv4(&mut rng)
                }
            })
            .collect();
        Context {
            date_prefix: opts.date.to_string(),
            day_epoch: opts.date.epoch_seconds(),
            elb_dots: elb.replace('/', "."),
            elb,
            target_group_arn,
            cert_arn,
            targets,
            node_ips,
            servers,
            extra_trailing_fields: opts.extra_trailing_fields,
            base_seed,
        }
    }
}

const FIRST_OCTETS: &[u64] = &[
    3, 13, 18, 34, 35, 44, 52, 54, 63, 64, 78, 88, 91, 104, 138, 142, 159, 167, 178, 185, 193, 195,
    203, 212,
];

pub(crate) fn public_ipv4(rng: &mut Rng) -> String {
    format!(
        "{}.{}.{}.{}",
        rng.pick(FIRST_OCTETS),
        rng.below(256),
        rng.below(256),
        rng.range(1, 254)
    )
}

pub(crate) fn ipv6(rng: &mut Rng) -> String {
    let prefix = *rng.pick(&["2600:1f18", "2a05:d014", "2001:db8", "2604:a880"]);
    format!(
        "{prefix}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
        rng.below(0x10000),
        rng.below(0x10000),
        rng.below(0x10000),
        rng.below(0x10000),
        rng.below(0x10000),
        rng.range(1, 0xffff)
    )
}

/// Average uncompressed line length, used to spread times when only a byte budget is known.
const AVG_LINE: u64 = 630;

fn write_file(
    opts: &AlbOptions,
    ctx: &Context,
    index: usize,
    out_dir: &Path,
) -> io::Result<FileWritten> {
    let mut rng = Rng::new(derive(ctx.base_seed, index as u64));
    let interval = index * INTERVALS_PER_DAY / opts.files;
    let start_us = interval as u64 * INTERVAL_MICROS;
    let end_minute = (interval as u64 + 1) * 5;
    let key = format!(
        "{prefix}/{date_path}/{account}_elasticloadbalancing_{region}_{elb}_{ymd}T{hh:02}{mm:02}Z_{ip}_{random}.log.gz",
        prefix = opts.source_prefix(),
        date_path = opts.date.slash_path(),
        account = opts.account,
        region = opts.region,
        elb = ctx.elb_dots,
        ymd = opts.date.compact(),
        hh = end_minute / 60,
        mm = end_minute % 60,
        ip = ctx.node_ips[index % ctx.node_ips.len()],
        random = rng.chars(ALNUM_LOWER, 8),
    );
    let path = create_parent(out_dir, &key)?;
    let mut gz = GzFile::create(&path)?;
    let budget = opts.volume.file_budget(index, opts.files);
    let expected = match (opts.volume, budget) {
        (Volume::LinesPerFile(n), _) => n,
        (_, Some(b)) => (b / AVG_LINE).max(1),
        (_, None) => 1,
    };
    let mut line = String::with_capacity(1024);
    let mut rows = 0u64;
    let mut malformed = 0u64;
    loop {
        match (opts.volume, budget) {
            (Volume::LinesPerFile(n), _) if rows >= n => break,
            (_, Some(b)) if gz.uncompressed() >= b => break,
            _ => {}
        }
        line.clear();
        // Times advance through the interval (ALB files are roughly in time order).
        let slot = (rows.min(expected) * (INTERVAL_MICROS - JITTER_MICROS)) / (expected + 1);
        write_line(&mut rng, ctx, start_us, slot, &mut line);
        rows += 1;
        if let Some(n) = opts.malformed_every
            && n > 0
            && rows.is_multiple_of(n)
        {
            malform(&mut line, rows / n + index as u64, &ctx.date_prefix);
            malformed += 1;
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Request {
    SendPush,
    Ack,
    Health,
    Scanner,
    HttpRedirect,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Status(u16),
    /// The load balancer answered itself, the request never reached a target (times are -1).
    Elb(u16),
}

const GO_CLIENTS: &[(u32, &str)] = &[
    (70, "Go-http-client/1.1"),
    (28, "Go-http-client/2.0"),
    (2, "-"),
];

const MOBILE_CLIENTS: &[(u32, &str)] = &[
    (30, "Mattermost/2.22.0 CFNetwork/1568.200.51 Darwin/24.1.0"),
    (12, "Mattermost/2.21.1 CFNetwork/1496.0.7 Darwin/23.5.0"),
    (30, "okhttp/4.12.0"),
    (8, "okhttp/4.9.2"),
    (
        12,
        "Mattermost Mobile/2.22.0+598 (Android; 14; Pixel 8 Pro)",
    ),
    (
        6,
        "Dalvik/2.1.0 (Linux; U; Android 13; SM-G991B Build/TP1A.220624.014)",
    ),
    (
        2,
        "Mattermost/2.20.0 (iPhone; iOS 17.2; Scale/3.00) \\\"beta\\\"",
    ),
];

const MONITORS: &[(u32, &str)] = &[
    (
        40,
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    ),
    (
        25,
        "Mozilla/5.0 (compatible; \\\"StatusCake\\\" monitor; +https://www.statuscake.com)",
    ),
    (20, "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)"),
    (15, "curl/8.5.0"),
];

const SCANNER_AGENTS: &[(u32, &str)] = &[
    (
        30,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    ),
    (20, "Mozilla/5.0 zgrab/0.x"),
    (15, "python-requests/2.31.0"),
    (10, "-"),
    (
        10,
        "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0 \\\"x-probe\\\"",
    ),
    (15, "Go-http-client/1.1"),
];

const SCANNER_PATHS: &[&str] = &[
    "/.env",
    "/wp-login.php",
    "/.git/config",
    "/api/v4/system/ping",
    "/actuator/health",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/favicon.ico",
    "/api/v1/send_push?debug=1&x=%22quoted%22",
];

fn push_millis(out: &mut String, micros: Option<u64>) {
    match micros {
        None => out.push_str("-1"),
        Some(us) => {
            // Three decimals, as ALB writes them.
            let ms = us / 1000;
            push_padded(out, ms / 1000, 1);
            out.push('.');
            push_padded(out, ms % 1000, 3);
        }
    }
}

fn push_u64(out: &mut String, n: u64) {
    push_padded(out, n, 1);
}

fn push_client(out: &mut String, ip: &str, port: u64) {
    out.push_str(ip);
    out.push(':');
    push_u64(out, port);
}

/// Appends one well-formed line (no newline). The request is created at
/// `start_us + slot_us` (+ jitter), and both timestamps stay inside the 5-minute interval.
fn write_line(rng: &mut Rng, ctx: &Context, start_us: u64, slot_us: u64, out: &mut String) {
    let request = rng.weighted(&[
        (6_700, Request::SendPush),
        (2_900, Request::Ack),
        (230, Request::Health),
        (120, Request::Scanner),
        (50, Request::HttpRedirect),
    ]);
    let outcome = match request {
        Request::SendPush | Request::Ack => rng.weighted(&[
            (9_450, Outcome::Ok),
            (180, Outcome::Status(400)),
            (
                50,
                Outcome::Status(if request == Request::Ack { 404 } else { 413 }),
            ),
            (80, Outcome::Status(500)),
            (90, Outcome::Elb(502)),
            (60, Outcome::Elb(503)),
            (90, Outcome::Elb(504)),
        ]),
        Request::Health => Outcome::Ok,
        Request::Scanner => Outcome::Status(404),
        Request::HttpRedirect => Outcome::Elb(301),
    };

    // Timings (microseconds).
    let (req_us, target_us, resp_us) = match outcome {
        Outcome::Elb(_) => (None, None, None),
        _ => {
            let target = match request {
                Request::SendPush => {
                    if rng.chance(500) {
                        rng.range(400_000, 3_000_000)
                    } else {
                        rng.range(15_000, 320_000)
                    }
                }
                Request::Ack => rng.range(2_000, 40_000),
                _ => rng.range(500, 5_000),
            };
            (
                Some(rng.range(0, 2_000)),
                Some(target),
                Some(rng.range(0, 900)),
            )
        }
    };
    let duration = match outcome {
        Outcome::Elb(504) => rng.range(60_000_000, 60_050_000),
        Outcome::Elb(502) => rng.range(1_000, 12_000),
        Outcome::Elb(_) => rng.range(100, 1_500),
        _ => {
            req_us.unwrap_or(0) + target_us.unwrap_or(0) + resp_us.unwrap_or(0) + rng.range(50, 400)
        }
    };
    let latest_start = INTERVAL_MICROS - duration - 1;
    let offset = slot_us + rng.below(JITTER_MICROS);
    let offset = if offset > latest_start {
        // Long requests near the end of the interval start earlier.
        latest_start - rng.below(latest_start.min(5_000_000) + 1)
    } else {
        offset
    };
    let created = start_us + offset;
    let responded = created + duration;

    // Client.
    let (client_ip, is_server) = match request {
        Request::SendPush => (rng.pick(&ctx.servers).clone(), true),
        _ => {
            if rng.chance(300) {
                (ipv6(rng), false)
            } else {
                (public_ipv4(rng), false)
            }
        }
    };
    let client_port = if is_server {
        rng.range(32_768, 60_999)
    } else {
        rng.range(1_024, 65_535)
    };

    let https = request != Request::HttpRedirect;
    let h2 = https && rng.chance(4_000);
    let typ = if !https {
        "http"
    } else if h2 {
        "h2"
    } else {
        "https"
    };
    let version = if h2 { "HTTP/2.0" } else { "HTTP/1.1" };
    let (method, path) = match request {
        Request::SendPush => ("POST", "/api/v1/send_push"),
        Request::Ack => ("POST", "/api/v1/ack"),
        Request::Health => ("GET", "/"),
        Request::Scanner => {
            let p = *rng.pick(SCANNER_PATHS);
            (if rng.chance(8_000) { "GET" } else { "POST" }, p)
        }
        Request::HttpRedirect => ("GET", "/"),
    };
    let user_agent = match request {
        Request::SendPush => rng.weighted(GO_CLIENTS),
        Request::Ack => rng.weighted(MOBILE_CLIENTS),
        Request::Health | Request::HttpRedirect => rng.weighted(MONITORS),
        Request::Scanner => rng.weighted(SCANNER_AGENTS),
    };
    let target = match outcome {
        Outcome::Elb(_) => None,
        _ => Some(rng.pick(&ctx.targets).as_str()),
    };
    let (elb_status, target_status): (u16, Option<u16>) = match outcome {
        Outcome::Ok => (200, Some(200)),
        Outcome::Status(s) => (s, Some(s)),
        Outcome::Elb(s) => (s, None),
    };
    let received = match request {
        Request::SendPush => rng.range(620, 2_300),
        Request::Ack => rng.range(260, 480),
        _ => rng.range(90, 420),
    };
    let sent = match outcome {
        Outcome::Ok if request == Request::Health => rng.range(180, 260),
        Outcome::Ok => rng.range(148, 230),
        Outcome::Status(_) => rng.range(160, 380),
        Outcome::Elb(301) => rng.range(190, 240),
        Outcome::Elb(_) => rng.range(160, 290),
    };

    // type time elb client:port target:port
    out.push_str(typ);
    out.push(' ');
    push_iso_micros(out, &ctx.date_prefix, responded);
    out.push(' ');
    out.push_str(&ctx.elb);
    out.push(' ');
    push_client(out, &client_ip, client_port);
    out.push(' ');
    out.push_str(target.unwrap_or("-"));
    // three processing times
    for t in [req_us, target_us, resp_us] {
        out.push(' ');
        push_millis(out, t);
    }
    // elb_status_code target_status_code received_bytes sent_bytes
    out.push(' ');
    push_u64(out, u64::from(elb_status));
    out.push(' ');
    match target_status {
        Some(s) => push_u64(out, u64::from(s)),
        None => out.push('-'),
    }
    out.push(' ');
    push_u64(out, received);
    out.push(' ');
    push_u64(out, sent);
    // "request" "user_agent"
    out.push_str(" \"");
    out.push_str(method);
    out.push(' ');
    out.push_str(if https { "https://" } else { "http://" });
    out.push_str(DOMAIN);
    out.push_str(if https { ":443" } else { ":80" });
    out.push_str(path);
    out.push(' ');
    out.push_str(version);
    out.push_str("\" \"");
    out.push_str(user_agent);
    out.push('"');
    // ssl_cipher ssl_protocol target_group_arn
    if https {
        if rng.chance(3_000) {
            out.push_str(" TLS_AES_128_GCM_SHA256 TLSv1.3 ");
        } else {
            out.push_str(" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 ");
        }
    } else {
        out.push_str(" - - ");
    }
    if request == Request::HttpRedirect {
        out.push('-');
    } else {
        out.push_str(&ctx.target_group_arn);
    }
    // "trace_id"
    let created_epoch = ctx.day_epoch as u64 + created / 1_000_000;
    out.push_str(" \"Root=1-");
    let _ = std::fmt::Write::write_fmt(out, format_args!("{created_epoch:08x}"));
    out.push('-');
    rng.push_chars(out, HEX, 24);
    // "domain_name" "chosen_cert_arn"
    if https {
        out.push_str("\" \"");
        out.push_str(DOMAIN);
        out.push_str("\" \"");
        out.push_str(&ctx.cert_arn);
        out.push_str("\" ");
    } else {
        out.push_str("\" \"-\" \"-\" ");
    }
    // matched_rule_priority request_creation_time
    out.push_str(match request {
        Request::SendPush | Request::Ack => "10",
        Request::HttpRedirect => "1",
        _ => "0",
    });
    out.push(' ');
    push_iso_micros(out, &ctx.date_prefix, created);
    // "actions_executed" "redirect_url" "error_reason"
    match outcome {
        Outcome::Elb(301) => {
            out.push_str(" \"redirect\" \"https://");
            out.push_str(DOMAIN);
            out.push_str(":443/\" \"-\"");
        }
        _ => out.push_str(" \"forward\" \"-\" \"-\""),
    }
    // "target:port_list" "target_status_code_list"
    out.push_str(" \"");
    out.push_str(target.unwrap_or("-"));
    out.push_str("\" \"");
    match target_status {
        Some(s) => push_u64(out, u64::from(s)),
        None => out.push('-'),
    }
    // "classification" "classification_reason"
    if rng.chance(15) {
        out.push_str("\" \"Acceptable\" \"EmptyHeader\" ");
    } else {
        out.push_str("\" \"-\" \"-\" ");
    }
    // conn_trace_id
    out.push_str("TID_");
    rng.push_chars(out, HEX, 32);
    // "transformed_host" "transformed_uri" "request_transform_status"
    out.push_str(" \"-\" \"-\" \"-\"");
    if ctx.extra_trailing_fields {
        match rng.below(40) {
            0..=3 => out.push_str(" \"future-field-1\""),
            4 => out.push_str(" \"future-field-1\" 42"),
            _ => {}
        }
    }
}

/// Makes a well-formed line malformed, in one of four ways chosen by `nth`.
fn malform(line: &mut String, nth: u64, date_prefix: &str) {
    match nth % 4 {
        // Truncated inside the quoted request: an unclosed quote and only 13 fields.
        1 => {
            let cut = line.find(" \"").map_or(line.len() / 3, |q| q + 12);
            line.truncate(cut.min(line.len()));
        }
        // Non-numeric elb_status_code (field 9).
        2 => replace_field(line, 8, "abc"),
        // Timestamp that is not one (field 2).
        3 => replace_field(line, 1, &format!("{date_prefix}T25:61:07.000000Z")),
        // Non-numeric received_bytes (field 11).
        _ => replace_field(line, 10, "12kB"),
    }
}

/// Replaces unquoted field `index` (0-based, one of the first 12, which never contain spaces).
fn replace_field(line: &mut String, index: usize, value: &str) {
    let mut start = 0;
    for _ in 0..index {
        match line[start..].find(' ') {
            Some(p) => start += p + 1,
            None => return,
        }
    }
    let end = line[start..].find(' ').map_or(line.len(), |p| start + p);
    line.replace_range(start..end, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context::new(&AlbOptions::new("2026-11-20".parse().unwrap()))
    }

    #[test]
    fn every_line_has_33_fields_in_order_with_plausible_values() {
        let ctx = ctx();
        let mut rng = Rng::new(5);
        let mut line = String::new();
        let (mut minus_one, mut ipv6, mut escaped, mut h2) = (0, 0, 0, 0);
        for i in 0..20_000u64 {
            line.clear();
            write_line(
                &mut rng,
                &ctx,
                3_600_000_000,
                (i % 280) * 1_000_000,
                &mut line,
            );
            let f = split_fields(&line).unwrap_or_else(|| panic!("unclosed quote: {line}"));
            assert_eq!(f.len(), FIELD_COUNT, "{line}");
            assert!(["http", "https", "h2"].contains(&f[0].as_str()), "{line}");
            assert!(
                f[1].starts_with("2026-11-20T01:0") && f[1].ends_with('Z'),
                "{line}"
            );
            assert!(
                f[21].starts_with("2026-11-20T01:0") && f[21] <= f[1],
                "{line}"
            );
            assert_eq!(f[2], "app/push-proxy/50dc6c495c0c9188");
            assert!(f[8].parse::<u16>().is_ok(), "{line}");
            assert!(f[10].parse::<u64>().is_ok() && f[11].parse::<u64>().is_ok());
            let request: Vec<&str> = f[12].split(' ').collect();
            assert_eq!(request.len(), 3, "{line}");
            assert!(f[17].starts_with("Root=1-"), "{line}");
            assert!(f[29].starts_with("TID_"), "{line}");
            assert_eq!(&f[30..33], ["-", "-", "-"]);
            if f[5] == "-1" {
                minus_one += 1;
                assert_eq!((f[6].as_str(), f[7].as_str()), ("-1", "-1"));
                assert_eq!(f[9], "-");
            } else {
                assert!(f[5].parse::<f64>().is_ok(), "{line}");
            }
            ipv6 += usize::from(f[3].matches(':').count() > 1);
            escaped += usize::from(f[13].contains("\\\""));
            h2 += usize::from(f[0] == "h2");
        }
        assert!(minus_one > 100, "{minus_one}");
        assert!(ipv6 > 100, "{ipv6}");
        assert!(escaped > 10, "{escaped}");
        assert!(h2 > 5_000, "{h2}");
    }

    #[test]
    fn malformed_variants_break_the_line() {
        let ctx = ctx();
        let mut rng = Rng::new(9);
        for nth in 0..4 {
            let mut line = String::new();
            write_line(&mut rng, &ctx, 0, 0, &mut line);
            let good = line.clone();
            malform(&mut line, nth, "2026-11-20");
            assert_ne!(line, good);
            match split_fields(&line) {
                None => assert_eq!(nth % 4, 1),
                Some(f) => {
                    assert_eq!(f.len(), FIELD_COUNT);
                    let broken = f[1].contains("T25:61")
                        || f[8].parse::<u16>().is_err()
                        || f[10].parse::<u64>().is_err();
                    assert!(broken, "{line}");
                }
            }
        }
    }

    #[test]
    fn split_fields_handles_quotes_and_escapes() {
        let f = split_fields(r#"a "b c" "d \"e\" f" -"#).unwrap();
        assert_eq!(f, ["a", "b c", r#"d \"e\" f"#, "-"]);
        assert!(split_fields(r#"a "b c"#).is_none());
    }
}
