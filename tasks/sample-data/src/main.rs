//! `sample-data`: writes realistic, deterministic raw files for one date, then prints a one-line
//! JSON summary (files, rows, bytes, and the `--source` to give the job).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sample_data::{
    AlbOptions, CloudFrontKind, CloudFrontOptions, Date, LicenseOptions, Volume, Written, alb,
    cloudfront, licenses, parse_size,
};

#[derive(Parser)]
#[command(
    name = "sample-data",
    version,
    about = "Write realistic, deterministic sample raw files for one date (same arguments, same bytes).",
    after_help = "\
Examples:
  sample-data alb --date 2026-11-20 --out ./sample --files 12 --lines 2000
  sample-data alb --date 2026-11-20 --out ./bench --files 96 --bytes 1GiB
  sample-data cloudfront --date 2026-11-20 --out ./sample --prefix telemetry --distribution E2EXAMPLE1 --kind telemetry
  sample-data cloudfront --date 2026-11-20 --out ./sample --prefix releases --distribution E3EXAMPLE2 --kind pingbacks --fields 26
  sample-data licenses --date 2026-11-20 --out ./sample --rows 1000 --shuffle-columns --bom

The last line on stdout is a JSON summary: files, rows, malformed_rows, bytes_uncompressed,
bytes_compressed, and source (the directory to pass to the job as --source)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Application Load Balancer access logs (push-notification proxy).
    Alb(AlbArgs),
    /// CloudFront standard logs (telemetry pings or release downloads).
    Cloudfront(CloudFrontArgs),
    /// The license metadata CSV export.
    Licenses(LicenseArgs),
    /// Gunzip every .gz file below a directory (or path prefix) and count lines and field
    /// separators, keeping nothing: the decode + line-split floor the bench sets the jobs beside.
    Scan(ScanArgs),
}

#[derive(Args)]
struct ScanArgs {
    /// Directory to scan (recursively), or a path prefix, as the jobs' `--source` takes.
    dir: PathBuf,
    /// The field separator to count: one byte, such as ' ' (ALB) or '\t' (CloudFront).
    #[arg(long, default_value = " ", value_parser = parse_separator)]
    separator: u8,
}

fn parse_separator(s: &str) -> Result<u8, String> {
    match s {
        "\\t" | "tab" => Ok(b'\t'),
        _ if s.len() == 1 => Ok(s.as_bytes()[0]),
        _ => Err(format!("expected one byte (or \\t), got {s:?}")),
    }
}

#[derive(Args)]
struct Common {
    /// The date (UTC), YYYY-MM-DD.
    #[arg(long)]
    date: Date,
    /// Output directory (the root of the key layout; created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Seed: a different seed gives different (equally deterministic) data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args)]
struct Sizing {
    /// Data lines per file.
    #[arg(long, conflicts_with = "bytes")]
    lines: Option<u64>,
    /// Total uncompressed size instead of a line count: 1GiB, 512MiB, 64KiB, 10MB, or bytes.
    #[arg(long, value_parser = parse_size)]
    bytes: Option<u64>,
}

impl Sizing {
    fn volume(&self, default_lines: u64) -> Volume {
        match (self.lines, self.bytes) {
            (_, Some(b)) => Volume::TotalBytes(b),
            (Some(n), None) => Volume::LinesPerFile(n),
            (None, None) => Volume::LinesPerFile(default_lines),
        }
    }
}

#[derive(Args)]
struct AlbArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value = "123456789012")]
    account: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Load balancer resource id, app/<name>/<id>.
    #[arg(long, default_value = "app/push-proxy/50dc6c495c0c9188")]
    lb_name: String,
    /// Number of files, spread over the day's 5-minute intervals.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    files: u32,
    #[command(flatten)]
    sizing: Sizing,
    /// Make every Nth line of each file malformed (truncated, bad status, bad timestamp, bad
    /// byte count, in turn).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    malformed_every: Option<u64>,
    /// Append unknown trailing fields to some lines.
    #[arg(long)]
    extra_trailing_fields: bool,
    /// Worker threads (0 = one per core); the output does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Telemetry,
    Pingbacks,
}

#[derive(Clone, Copy, ValueEnum)]
enum FieldSet {
    #[value(name = "33")]
    Today,
    #[value(name = "26")]
    Old,
}

#[derive(Args)]
struct CloudFrontArgs {
    #[command(flatten)]
    common: Common,
    /// What the distribution serves.
    #[arg(long, value_enum)]
    kind: Kind,
    /// Key prefix inside --out (default: the kind's name).
    #[arg(long)]
    prefix: Option<String>,
    /// Distribution id, the first part of every file name.
    #[arg(long, default_value = "E2EXAMPLE1")]
    distribution: String,
    /// Files per UTC hour (24 hours are always written).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    files_per_hour: u32,
    #[command(flatten)]
    sizing: Sizing,
    /// 33 fields (today) or the first 26 (old files, user agent double-encoded).
    #[arg(long, value_enum, default_value = "33")]
    fields: FieldSet,
    /// Make every Nth record of each file malformed.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    malformed_every: Option<u64>,
    /// Worker threads (0 = one per core); the output does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Args)]
struct LicenseArgs {
    #[command(flatten)]
    common: Common,
    /// Key prefix inside --out.
    #[arg(long, default_value = "licenses")]
    prefix: String,
    #[arg(long, default_value_t = 500)]
    rows: u64,
    /// Write the header in a different column order.
    #[arg(long)]
    shuffle_columns: bool,
    /// Start the file with a UTF-8 byte order mark.
    #[arg(long)]
    bom: bool,
    /// End lines with CRLF instead of LF.
    #[arg(long)]
    crlf: bool,
    /// Put line breaks inside some quoted company names.
    #[arg(long)]
    embedded_newlines: bool,
}

fn summary(written: &Written, out: &Path, extra: serde_json::Value) -> String {
    let mut v = serde_json::json!({
        "kind": written.kind,
        "files": written.file_count(),
        "rows": written.rows(),
        "malformed_rows": written.malformed_rows(),
        "bytes_uncompressed": written.bytes_uncompressed(),
        "bytes_compressed": written.bytes_compressed(),
        "source_prefix": written.source_prefix,
        "source": written.source_path(out).display().to_string(),
    });
    if let (Some(map), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        map.extend(more);
    }
    v.to_string()
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let line = match cli.command {
        Command::Alb(a) => {
            let opts = AlbOptions {
                date: a.common.date,
                account: a.account,
                region: a.region,
                lb_name: a.lb_name,
                files: a.files as usize,
                volume: a.sizing.volume(1000),
                seed: a.common.seed,
                malformed_every: a.malformed_every,
                extra_trailing_fields: a.extra_trailing_fields,
                threads: a.threads,
            };
            let w = alb::write_day(&opts, &a.common.out)
                .with_context(|| format!("writing ALB logs under {}", a.common.out.display()))?;
            summary(
                &w,
                &a.common.out,
                serde_json::json!({ "date": opts.date.to_string() }),
            )
        }
        Command::Cloudfront(c) => {
            let kind = match c.kind {
                Kind::Telemetry => CloudFrontKind::Telemetry,
                Kind::Pingbacks => CloudFrontKind::Pingbacks,
            };
            let mut opts = CloudFrontOptions::new(c.common.date, kind);
            if let Some(p) = c.prefix {
                opts.prefix = p;
            }
            opts.distribution = c.distribution;
            opts.files_per_hour = c.files_per_hour as usize;
            opts.volume = c.sizing.volume(200);
            opts.seed = c.common.seed;
            opts.fields = match c.fields {
                FieldSet::Today => 33,
                FieldSet::Old => 26,
            };
            opts.malformed_every = c.malformed_every;
            opts.threads = c.threads;
            let w = cloudfront::write_day(&opts, &c.common.out).with_context(|| {
                format!("writing CloudFront logs under {}", c.common.out.display())
            })?;
            summary(
                &w,
                &c.common.out,
                serde_json::json!({
                    "date": opts.date.to_string(),
                    "key_prefix": opts.key_prefix(),
                    "fields": opts.fields,
                }),
            )
        }
        Command::Scan(s) => {
            let got = sample_data::scan::scan(&s.dir, s.separator)
                .with_context(|| format!("scanning {}", s.dir.display()))?;
            serde_json::json!({
                "files": got.files,
                "bytes_uncompressed": got.bytes_uncompressed,
                "lines": got.lines,
                "separators": got.separators,
            })
            .to_string()
        }
        Command::Licenses(l) => {
            let opts = LicenseOptions {
                date: l.common.date,
                prefix: l.prefix,
                rows: l.rows,
                seed: l.common.seed,
                shuffle_columns: l.shuffle_columns,
                bom: l.bom,
                crlf: l.crlf,
                embedded_newlines: l.embedded_newlines,
            };
            let w = licenses::write_day(&opts, &l.common.out).with_context(|| {
                format!(
                    "writing the license export under {}",
                    l.common.out.display()
                )
            })?;
            summary(
                &w,
                &l.common.out,
                serde_json::json!({
                    "date": opts.date.to_string(),
                    "key": opts.key(),
                    "columns": opts.column_order(),
                }),
            )
        }
    };
    println!("{line}");
    Ok(())
}
