//! The floor under any parser of these logs: gunzip every `.gz` file below a directory (the same
//! zlib-rs decoder the jobs use) and count its lines and field separators, byte by byte, without
//! keeping anything. The benchmark sets the jobs beside it ("decode + line split" limit).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

/// What a scan read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    pub files: u64,
    pub bytes_uncompressed: u64,
    pub lines: u64,
    pub separators: u64,
}

/// Scans every file ending in `.gz` below `source` (a directory), or, as the jobs read a
/// `--source` key prefix, every such file whose path starts with `source`; in name order,
/// counting `\n` and `separator`.
pub fn scan(source: &Path, separator: u8) -> io::Result<Scanned> {
    let mut files = Vec::new();
    if source.is_dir() {
        collect_gz(source, &mut files)?;
    } else {
        let (dir, prefix) = match (source.parent(), source.file_name()) {
            (Some(dir), Some(name)) => (dir, name.to_string_lossy()),
            _ => {
                return Err(io::Error::other(format!(
                    "{}: no such prefix",
                    source.display()
                )));
            }
        };
        collect_gz(
            if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            },
            &mut files,
        )?;
        files.retain(|p| {
            p.strip_prefix(dir)
                .is_ok_and(|rest| rest.to_string_lossy().starts_with(prefix.as_ref()))
        });
        if files.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no .gz file starts with this prefix", source.display()),
            ));
        }
    }
    files.sort();
    let mut out = Scanned::default();
    let mut buf = vec![0u8; 256 * 1024];
    for path in files {
        let file = File::open(&path).map_err(at(&path))?;
        let mut gz = MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, file));
        out.files += 1;
        loop {
            let n = gz.read(&mut buf).map_err(at(&path))?;
            if n == 0 {
                break;
            }
            out.bytes_uncompressed += n as u64;
            // Two comparisons per byte, summed without branches: the compiler vectorizes it.
            let (mut lines, mut seps) = (0u64, 0u64);
            for &b in &buf[..n] {
                lines += u64::from(b == b'\n');
                seps += u64::from(b == separator);
            }
            out.lines += lines;
            out.separators += seps;
        }
    }
    Ok(out)
}

/// Names the file in an I/O error, which otherwise does not say which one.
fn at(path: &Path) -> impl Fn(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn collect_gz(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir).map_err(at(dir))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_gz(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "gz") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    #[test]
    fn counts_lines_and_separators_of_every_gz_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for (name, text) in [("a.log.gz", "x y z\n1 2\n"), ("sub/b.gz", "p q\n")] {
            let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
            gz.write_all(text.as_bytes()).unwrap();
            std::fs::write(dir.path().join(name), gz.finish().unwrap()).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "not scanned\n").unwrap();
        let got = scan(dir.path(), b' ').unwrap();
        let by_prefix = scan(&dir.path().join("a.lo"), b' ').unwrap();
        assert_eq!((by_prefix.files, by_prefix.lines), (1, 2));
        assert!(scan(&dir.path().join("zz"), b' ').is_err());
        assert_eq!(
            got,
            Scanned {
                files: 2,
                bytes_uncompressed: 14,
                lines: 3,
                separators: 4
            }
        );
    }
}
