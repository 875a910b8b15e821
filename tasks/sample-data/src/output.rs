//! What every generator shares: how much to write, gzip files that count their bytes, the
//! summary of what was written, and a deterministic parallel loop over files.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::Compression;
use flate2::write::GzEncoder;

/// How much data to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Volume {
    /// This many data lines in every file.
    LinesPerFile(u64),
    /// About this many uncompressed bytes in total, split evenly over the files (each file stops
    /// at the first line that reaches its share, so the total overshoots by less than one line
    /// per file).
    TotalBytes(u64),
}

impl Volume {
    /// The uncompressed byte budget of file `index` of `files`, or `None` for a line count.
    pub(crate) fn file_budget(self, index: usize, files: usize) -> Option<u64> {
        match self {
            Volume::LinesPerFile(_) => None,
            Volume::TotalBytes(total) => {
                let files = files.max(1) as u64;
                let base = total / files;
                let extra = u64::from((index as u64) < total % files);
                Some(base + extra)
            }
        }
    }
}

/// Parses a size such as `1GiB`, `500MiB`, `64KiB`, `10MB`, `123` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "expected a size like 1GiB, 512MiB, 64KiB or a number of bytes, got {s:?}"
            ));
        }
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("expected a size like 1GiB, 512MiB, 64KiB, got {s:?}"))?;
    let bytes = value * mult as f64;
    if !(1.0..1e15).contains(&bytes) {
        return Err(format!("size {s:?} is out of range (1 byte to 1 PB)"));
    }
    Ok(bytes.round() as u64)
}

/// One file written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileWritten {
    /// Path relative to the output directory, with `/` separators (the object key).
    pub key: String,
    /// Data lines (header lines not counted).
    pub rows: u64,
    /// Of those, lines made malformed on purpose.
    pub malformed_rows: u64,
    pub bytes_uncompressed: u64,
    /// Size on disk (equal to `bytes_uncompressed` for uncompressed files).
    pub bytes_compressed: u64,
}

/// What a generator wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// `alb`, `cloudfront` or `licenses`.
    pub kind: &'static str,
    /// The prefix to pass as a job's `--source`, relative to the output directory.
    pub source_prefix: String,
    /// Every file, in key order.
    pub files: Vec<FileWritten>,
}

impl Written {
    pub fn file_count(&self) -> u64 {
        self.files.len() as u64
    }
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
    pub fn malformed_rows(&self) -> u64 {
        self.files.iter().map(|f| f.malformed_rows).sum()
    }
    pub fn bytes_uncompressed(&self) -> u64 {
        self.files.iter().map(|f| f.bytes_uncompressed).sum()
    }
    pub fn bytes_compressed(&self) -> u64 {
        self.files.iter().map(|f| f.bytes_compressed).sum()
    }
    /// The `--source` for a job: the output directory joined with the source prefix.
    pub fn source_path(&self, out_dir: &Path) -> PathBuf {
        out_dir.join(&self.source_prefix)
    }
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|f| f.key.as_str())
    }
    /// Every file's contents, decompressed (gzip files by their `.gz` key), in key order: the
    /// lines other crates' tests feed their parsers.
    pub fn read_files(&self, out_dir: &Path) -> io::Result<Vec<Vec<u8>>> {
        self.files
            .iter()
            .map(|f| {
                let path = f
                    .key
                    .split('/')
                    .fold(out_dir.to_path_buf(), |p, part| p.join(part));
                let raw = fs::read(&path)?;
                if !f.key.ends_with(".gz") {
                    return Ok(raw);
                }
                let mut out = Vec::new();
                io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&raw[..]), &mut out)?;
                Ok(out)
            })
            .collect()
    }
}

/// Joins a `/`-separated key onto the output directory, creating the parent directories.
pub(crate) fn create_parent(out_dir: &Path, key: &str) -> io::Result<PathBuf> {
    let path = key
        .split('/')
        .fold(out_dir.to_path_buf(), |p, part| p.join(part));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    Ok(path)
}

/// Buffer lines up to this size before handing them to the compressor: deflate is much faster
/// on large writes than on one call per line.
const CHUNK: usize = 256 * 1024;

/// A gzip file being written: text goes in through [`GzFile::push`], which counts the
/// uncompressed bytes. The gzip header carries no name and mtime 0, so output is reproducible.
pub(crate) struct GzFile {
    encoder: BufWriter<GzEncoder<File>>,
    uncompressed: u64,
}

impl GzFile {
    pub(crate) fn create(path: &Path) -> io::Result<GzFile> {
        let file = File::create(path)?;
        let encoder = GzEncoder::new(file, Compression::fast());
        Ok(GzFile {
            encoder: BufWriter::with_capacity(CHUNK, encoder),
            uncompressed: 0,
        })
    }

    pub(crate) fn push(&mut self, text: &str) -> io::Result<()> {
        self.uncompressed += text.len() as u64;
        self.encoder.write_all(text.as_bytes())
    }

    pub(crate) fn uncompressed(&self) -> u64 {
        self.uncompressed
    }

    /// Finishes the gzip stream; returns (uncompressed, compressed) bytes.
    pub(crate) fn finish(self) -> io::Result<(u64, u64)> {
        let encoder = self.encoder.into_inner().map_err(|e| e.into_error())?;
        let file = encoder.finish()?;
        let compressed = file.metadata()?.len();
        Ok((self.uncompressed, compressed))
    }
}

/// Runs `job(i)` for `i` in `0..n` on up to `threads` threads (0 = one per core) and returns
/// the results in index order. Each job must derive everything it writes from `i` alone, so the
/// output does not depend on scheduling.
pub(crate) fn for_each_file<T, F>(n: usize, threads: usize, job: F) -> io::Result<Vec<T>>
where
    T: Send,
    F: Fn(usize) -> io::Result<T> + Sync,
{
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |p| p.get())
    } else {
        threads
    }
    .clamp(1, n.max(1));
    if threads == 1 {
        return (0..n).map(&job).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    let first_error: Mutex<Option<io::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    match job(i) {
                        Ok(v) => {
                            if let Ok(mut r) = results.lock() {
                                r[i] = Some(v);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e);
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let results = results
        .into_inner()
        .map_err(|_| io::Error::other("a generator thread panicked"))?;
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| io::Error::other("a generator thread did not finish")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("64 KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1.5MiB"), Ok(3 << 19));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("1TiB").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn byte_budgets_add_up() {
        let v = Volume::TotalBytes(1003);
        let total: u64 = (0..10).map(|i| v.file_budget(i, 10).unwrap()).sum();
        assert_eq!(total, 1003);
        assert_eq!(Volume::LinesPerFile(5).file_budget(0, 1), None);
    }

    #[test]
    fn parallel_loop_keeps_index_order_and_reports_errors() {
        let out = for_each_file(50, 4, |i| Ok(i * 2)).unwrap();
        assert_eq!(out, (0..50).map(|i| i * 2).collect::<Vec<_>>());
        let err = for_each_file(50, 3, |i| {
            if i == 17 {
                Err(io::Error::other("boom"))
            } else {
                Ok(i)
            }
        });
        assert_eq!(err.unwrap_err().to_string(), "boom");
    }
}
