//! A buffered reader whose first fill holds at least a few bytes.
//!
//! Formats are recognized by their first bytes: the gzip magic (2 bytes) and a CSV byte-order
//! mark (3 bytes). A reader may return fewer on its first read (an HTTP body arriving in small
//! chunks, a decoder's first output), and `BufReader::fill_buf` then shows only those, so the
//! check would see `EF` and miss the mark, or `1F` and read gzip as text. This reader keeps
//! reading on its first fill until it holds `min_first` bytes or the input ends; after that it
//! behaves like a `BufReader`.

use std::io::{self, BufRead, Read};

pub struct SniffReader<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    /// Bytes the first fill must hold (unless the input is shorter); 0 once it happened.
    min_first: usize,
}

impl<R: Read> SniffReader<R> {
    pub fn with_capacity(capacity: usize, min_first: usize, inner: R) -> SniffReader<R> {
        assert!(min_first <= capacity, "the first fill must fit the buffer");
        SniffReader {
            inner,
            buf: vec![0; capacity].into_boxed_slice(),
            pos: 0,
            filled: 0,
            min_first,
        }
    }
}

impl<R: Read> Read for SniffReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for SniffReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.filled {
            self.pos = 0;
            self.filled = 0;
            let want = self.min_first.max(1);
            while self.filled < want {
                match self.inner.read(&mut self.buf[self.filled..]) {
                    Ok(0) => break,
                    Ok(n) => self.filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // Keep what was read: the error surfaces now, the bytes stay readable.
                        if self.filled == 0 {
                            return Err(e);
                        }
                        break;
                    }
                }
            }
            self.min_first = 0;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns at most one byte per read, like a slow HTTP body.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || out.is_empty() {
                return Ok(0);
            }
            out[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn the_first_fill_holds_min_first_bytes_even_from_one_byte_reads() {
        let mut r = SniffReader::with_capacity(16, 3, Trickle(b"\xEF\xBB\xBFa,b\n"));
        assert_eq!(r.fill_buf().unwrap(), b"\xEF\xBB\xBF");
        // BufReader, for contrast, shows only what the first read returned.
        let mut plain = io::BufReader::new(Trickle(b"\xEF\xBB\xBFa,b\n"));
        assert_eq!(plain.fill_buf().unwrap(), b"\xEF");
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"\xEF\xBB\xBFa,b\n");
    }

    #[test]
    fn shorter_and_empty_inputs_end_normally() {
        let mut r = SniffReader::with_capacity(16, 4, Trickle(b"\x1f"));
        assert_eq!(r.fill_buf().unwrap(), b"\x1f");
        r.consume(1);
        assert_eq!(r.fill_buf().unwrap(), b"");
        let mut empty = SniffReader::with_capacity(16, 4, Trickle(b""));
        assert_eq!(empty.fill_buf().unwrap(), b"");
    }
}
