//! One row group's column chunk of a text (`BYTE_ARRAY`) or integer (`INT32`, `INT64`, which
//! timestamps are) column, encoded straight from a batch's buffers.
//!
//! The Parquet crate's column writer takes each text value as a `ByteArray` (a refcounted slice
//! per value), hashes every value with a seeded hasher into its dictionary, and copies it again
//! into its plain encoder; on text-heavy tables that was most of the write. This encoder reads
//! the values where the row buffer left them: a plain page is the values with their length
//! prefixes, a dictionary is an open-addressing table over the dictionary page's own bytes, and a
//! run of equal values (sorted and clustered columns: dates, hosts, edge locations) costs one
//! comparison each. Pages, the dictionary page and the chunk's metadata are the crate's public
//! types, so the file writer splices the chunk in as it does its own.
//!
//! Integers and timestamps came here later, for the readers: the crate writes dictionary indices
//! as the reference writer does, switching to an RLE run at every 8 equal values, and DuckDB
//! scanned our status, byte-count and timestamp columns 1.1 to 1.3 times as slowly as its own
//! file's. Here they share the text columns' pages and [`MIN_RLE_RUN`], and scan as fast; the
//! jobs run no more instructions, because an integer's dictionary key is the integer itself.
//! Floats and booleans stay with the crate's writer.

use std::hash::BuildHasher;

use bytes::Bytes;
use parquet::basic::{Compression, Encoding, EncodingMask, PageType, Type as PhysicalType};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::Result;
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use super::ColumnPlan;

/// Pages are Snappy-compressed, as DuckDB and Spark write by default: fast to read and write, and
/// what the bench compares with. (A chunk of this encoder may instead be stored uncompressed; see
/// [`MIN_SNAPPY_SAVING`].)
pub(super) const CODEC: Compression = Compression::SNAPPY;
/// A plain chunk (no dictionary) whose first data page Snappy shrinks by less than 1/`n` is
/// stored uncompressed: random ids and ports gain 0 to 7% from it, and Snappy was the largest
/// single cost of the write (12% of a telemetry run's instructions). The codec is a property of
/// the column chunk in Parquet's metadata, so readers take chunks of both kinds in one file.
const MIN_SNAPPY_SAVING: usize = 10;
/// A data page closes at this many encoded bytes. Every text column holds its open page
/// uncompressed until then, and Snappy compresses in 64 KiB blocks, so pages larger than this
/// (the Parquet crate's default is 1 MiB) cost memory and gain no ratio...
const PAGE_BYTES: usize = 256 << 10;
/// ...or at this many values: half a row group, in whole 2,048-row vectors. DuckDB pays per page
/// it reads; at the crate's 20,000 (seven pages a group), a group by user agent over our files
/// took 1.7 times as long as over DuckDB's. No reader skips pages of ours (they carry no page
/// statistics or index), and a larger page holds more dictionary indices in memory.
const PAGE_VALUES: usize = 30 * 2048;
/// Past this many dictionary bytes the rest of the chunk is written plain (the crate's default
/// dictionary page limit): a dictionary that large no longer pays, and it bounds memory.
const DICTIONARY_BYTES: usize = 1 << 20;
/// Min/max statistics longer than this are cut (the crate's default), so a long user agent does
/// not bloat the footer.
const STATISTICS_BYTES: usize = 64;

/// Buffers a page needs only while it is encoded and compressed, shared by every column of a
/// writer: held per column, they were 8 of the 41 MiB a telemetry run had allocated at its peak.
pub(super) struct PageScratch {
    snappy: snap::raw::Encoder,
    /// A page's definition levels (and the whole uncompressed page when it holds dictionary
    /// indices, or levels too long for the room kept in front of plain values).
    page: Vec<u8>,
    /// Snappy's output.
    compressed: Vec<u8>,
}

impl PageScratch {
    pub fn new() -> Self {
        PageScratch {
            snappy: snap::raw::Encoder::new(),
            page: Vec::new(),
            compressed: Vec::new(),
        }
    }
}

pub(super) struct ColumnChunk {
    /// The column; its physical type says what the values are (text, or little-endian integers
    /// of 4 or 8 bytes).
    descr: ColumnDescPtr,
    statistics: bool,
    /// `Some` while values are dictionary-encoded; kept (closed to new values) after a fallback.
    dictionary: Option<Dictionary>,
    plain_fallback: bool,
    page: OpenPage,
    /// Data pages written so far (headers and compressed bodies); the dictionary page goes in
    /// front of them at close.
    data_pages: TrackedWrite<Vec<u8>>,
    /// Min and max of the values written plain (those in a dictionary are bounded from it at
    /// close, once per distinct value).
    bounds: Bounds,
    totals: Totals,
    /// The chunk's codec, decided by its first data page.
    codec: Option<Compression>,
}

/// A chunk's min and max so far: text compares as bytes, integers as signed numbers.
enum Bounds {
    Text {
        min: Option<Vec<u8>>,
        max: Option<Vec<u8>>,
    },
    Int(Option<(i64, i64)>),
}

impl Bounds {
    /// `value` as the chunk stores it: text bytes, or a little-endian integer.
    fn widen(&mut self, value: &[u8]) {
        match self {
            Bounds::Text { min, max } => {
                // In place: values that come sorted (server_daily's ids) raise the max every row.
                let set = |bound: &mut Option<Vec<u8>>| {
                    let b = bound.get_or_insert_with(Vec::new);
                    b.clear();
                    b.extend_from_slice(value);
                };
                if min.as_deref().is_none_or(|m| value < m) {
                    set(min);
                }
                if max.as_deref().is_none_or(|m| value > m) {
                    set(max);
                }
            }
            Bounds::Int(bounds) => {
                let v = le_int(value);
                *bounds = Some(bounds.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
            }
        }
    }
}

/// A stored 4- or 8-byte little-endian integer.
fn le_int(value: &[u8]) -> i64 {
    match value.len() {
        4 => i64::from(i32::from_le_bytes(value.try_into().expect("4 bytes"))),
        _ => i64::from_le_bytes(value.try_into().expect("8 bytes")),
    }
}

/// Bytes kept free in front of a plain page's values for its definition levels (a page without
/// NULLs needs 8), so the page is compressed where it was built instead of copied first.
const LEVELS_ROOM: usize = 16;

struct OpenPage {
    rows: usize,
    nulls: usize,
    /// Definition levels (0 = NULL, 1 = a value) of the page's rows, kept only once the page
    /// has a NULL: most pages have none, and are then written as one run.
    defs: Vec<u8>,
    /// [`LEVELS_ROOM`] bytes, then the plain values: text as a little-endian u32 length and its
    /// bytes, integers as their little-endian bytes.
    plain: Vec<u8>,
    /// Dictionary indices of the page's values.
    indices: Vec<u32>,
}

#[derive(Default)]
struct Totals {
    rows: u64,
    nulls: u64,
    value_bytes: i64,
    uncompressed: i64,
    compressed: i64,
    /// Data pages of dictionary indices, and of plain values.
    indexed_pages: i32,
    plain_pages: i32,
}

impl OpenPage {
    fn new() -> Self {
        OpenPage {
            rows: 0,
            nulls: 0,
            defs: Vec::new(),
            plain: vec![0; LEVELS_ROOM],
            indices: Vec::new(),
        }
    }

    fn plain_bytes(&self) -> usize {
        self.plain.len() - LEVELS_ROOM
    }
}

impl ColumnChunk {
    /// `pages`: an empty buffer for the data pages, the one the same column used in the previous
    /// row group, so it is neither regrown by doubling nor returned to the allocator per group.
    pub fn new(descr: ColumnDescPtr, plan: ColumnPlan, pages: Vec<u8>) -> Self {
        let ty = descr.physical_type();
        assert!(
            Self::takes(ty),
            "{ty} columns are written by the crate's writer"
        );
        let text = ty == PhysicalType::BYTE_ARRAY;
        ColumnChunk {
            descr,
            statistics: plan.statistics,
            dictionary: plan.dictionary.then(|| Dictionary::new(text)),
            plain_fallback: false,
            page: OpenPage::new(),
            data_pages: TrackedWrite::new(pages),
            bounds: if text {
                Bounds::Text {
                    min: None,
                    max: None,
                }
            } else {
                Bounds::Int(None)
            },
            totals: Totals::default(),
            codec: None,
        }
    }

    /// Whether this chunk takes values of `ty`: the one list of the types this encoder writes.
    pub fn takes(ty: PhysicalType) -> bool {
        matches!(
            ty,
            PhysicalType::BYTE_ARRAY | PhysicalType::INT32 | PhysicalType::INT64
        )
    }

    /// Bytes held until the chunk closes: its encoded pages, dictionary and open page.
    pub fn memory_bytes(&self) -> usize {
        self.data_pages.bytes_written()
            + self.dictionary.as_ref().map_or(0, |d| d.plain.len())
            + self.page.plain_bytes()
            + self.page.indices.len() * 4
    }

    /// Appends one batch of a text column: `defs` per row, and the non-NULL values as `bytes`
    /// cut at `ends`.
    pub fn write_text(
        &mut self,
        defs: &[i16],
        bytes: &[u8],
        ends: &[u32],
        scratch: &mut PageScratch,
    ) -> Result<()> {
        let mut start = 0usize;
        let mut next = 0usize;
        for &def in defs {
            if !self.push_def(def, scratch)? {
                continue;
            }
            let end = ends[next] as usize;
            next += 1;
            let value = &bytes[start..end];
            start = end;
            self.totals.value_bytes += value.len() as i64;
            if self.push_dictionary(scratch, |dict| dict.index_of(value))? {
                continue;
            }
            let len = u32::try_from(value.len()).expect("text batches are cut below 4 GiB");
            self.page.plain.extend_from_slice(&len.to_le_bytes());
            self.page.plain.extend_from_slice(value);
            if self.statistics {
                self.bounds.widen(value);
            }
            if self.page.plain_bytes() >= PAGE_BYTES {
                self.flush_page(scratch)?;
            }
        }
        debug_assert_eq!(next, ends.len(), "one value per non-NULL row");
        Ok(())
    }

    /// Appends one batch of an `INT32` column: `defs` per row, and the non-NULL values.
    pub fn write_i32(
        &mut self,
        defs: &[i16],
        values: &[i32],
        scratch: &mut PageScratch,
    ) -> Result<()> {
        debug_assert_eq!(self.descr.physical_type(), PhysicalType::INT32);
        let keyed = values
            .iter()
            .map(|&v| (u64::from(v as u32), v.to_le_bytes()));
        self.write_fixed(defs, keyed, scratch)
    }

    /// Appends one batch of an `INT64` (or timestamp) column.
    pub fn write_i64(
        &mut self,
        defs: &[i16],
        values: &[i64],
        scratch: &mut PageScratch,
    ) -> Result<()> {
        debug_assert_eq!(self.descr.physical_type(), PhysicalType::INT64);
        let keyed = values.iter().map(|&v| (v as u64, v.to_le_bytes()));
        self.write_fixed(defs, keyed, scratch)
    }

    /// Integers as their little-endian bytes: a plain page is those bytes back to back, a
    /// dictionary page too. Each value comes with its bits as a `u64`, the dictionary's key.
    fn write_fixed<const N: usize>(
        &mut self,
        defs: &[i16],
        mut values: impl Iterator<Item = (u64, [u8; N])>,
        scratch: &mut PageScratch,
    ) -> Result<()> {
        for &def in defs {
            if !self.push_def(def, scratch)? {
                continue;
            }
            let (key, value) = values.next().expect("one value per non-NULL row");
            if self.push_dictionary(scratch, |dict| dict.index_of_int(key, &value))? {
                continue;
            }
            self.page.plain.extend_from_slice(&value);
            if self.statistics {
                self.bounds.widen(&value);
            }
            if self.page.plain_bytes() >= PAGE_BYTES {
                self.flush_page(scratch)?;
            }
        }
        debug_assert!(values.next().is_none(), "one value per non-NULL row");
        Ok(())
    }

    /// Records a row's definition level (closing a full page first); whether it has a value.
    #[inline]
    fn push_def(&mut self, def: i16, scratch: &mut PageScratch) -> Result<bool> {
        if self.page.rows >= PAGE_VALUES {
            self.flush_page(scratch)?;
        }
        let page = &mut self.page;
        if def == 0 && page.nulls == 0 {
            // The page's first NULL: the rows before it all had values.
            page.defs.resize(page.rows, 1);
        }
        if def == 0 {
            page.nulls += 1;
        }
        if page.nulls > 0 {
            page.defs.push(u8::from(def != 0));
        }
        page.rows += 1;
        Ok(def != 0)
    }

    /// Adds `value` to the page as a dictionary index, if the chunk is dictionary-encoded.
    #[inline]
    fn push_dictionary(
        &mut self,
        scratch: &mut PageScratch,
        index_of: impl FnOnce(&mut Dictionary) -> u32,
    ) -> Result<bool> {
        if self.plain_fallback {
            return Ok(false);
        }
        let Some(dict) = self.dictionary.as_mut() else {
            return Ok(false);
        };
        self.page.indices.push(index_of(dict));
        if dict.plain.len() >= DICTIONARY_BYTES {
            // The pages so far refer to the dictionary; everything after is plain.
            self.flush_page(scratch)?;
            self.plain_fallback = true;
        }
        Ok(true)
    }

    /// Encodes and compresses the open page (Parquet data page v1: definition levels, then
    /// values) and appends it to the chunk's pages.
    fn flush_page(&mut self, scratch: &mut PageScratch) -> Result<()> {
        let rows = self.page.rows;
        if rows == 0 {
            return Ok(());
        }
        let buf = &mut scratch.page;
        buf.clear();
        // Definition levels: a 4-byte length, then the RLE/bit-packed hybrid at bit width 1. A
        // page without NULLs (most are) is one run.
        buf.extend_from_slice(&[0; 4]);
        if self.page.nulls == 0 {
            put_uleb128(buf, (rows as u64) << 1);
            buf.push(1);
        } else {
            encode_hybrid(&self.page.defs, 1, buf);
        }
        let levels_len = (buf.len() - 4) as u32;
        buf[..4].copy_from_slice(&levels_len.to_le_bytes());
        // A page of dictionary indices, or of plain values (also a page of NULLs only).
        let indexed = self.page.plain_bytes() == 0 && !self.page.indices.is_empty();
        let (encoding, page_bytes): (Encoding, &[u8]) = if indexed {
            let dict = self
                .dictionary
                .as_ref()
                .expect("indices come from a dictionary");
            let bit_width = dict.bit_width();
            buf.push(bit_width);
            encode_hybrid(&self.page.indices, bit_width, buf);
            self.totals.indexed_pages += 1;
            (Encoding::RLE_DICTIONARY, buf)
        } else if buf.len() <= LEVELS_ROOM {
            // The levels go into the room left in front of the values.
            self.totals.plain_pages += 1;
            let start = LEVELS_ROOM - buf.len();
            self.page.plain[start..LEVELS_ROOM].copy_from_slice(buf);
            (Encoding::PLAIN, &self.page.plain[start..])
        } else {
            self.totals.plain_pages += 1;
            buf.extend_from_slice(&self.page.plain[LEVELS_ROOM..]);
            (Encoding::PLAIN, buf)
        };
        let uncompressed = page_bytes.len();
        let body = match self.codec {
            Some(codec) => page_body(
                codec,
                page_bytes,
                &mut scratch.snappy,
                &mut scratch.compressed,
            )?,
            None => {
                let compressed = snappy(&mut scratch.snappy, page_bytes, &mut scratch.compressed)?;
                // A dictionary chunk keeps Snappy: its dictionary page shares the codec, and
                // text dictionaries compress well where their indices do not.
                if self.dictionary.is_none()
                    && compressed.len() + uncompressed / MIN_SNAPPY_SAVING > uncompressed
                {
                    self.codec = Some(Compression::UNCOMPRESSED);
                    Bytes::copy_from_slice(page_bytes)
                } else {
                    self.codec = Some(CODEC);
                    compressed
                }
            }
        };
        let page = Page::DataPage {
            buf: body,
            num_values: rows as u32,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let spec = SerializedPageWriter::new(&mut self.data_pages)
            .write_page(CompressedPage::new(page, uncompressed))?;
        self.totals.uncompressed += spec.uncompressed_size as i64;
        self.totals.compressed += spec.compressed_size as i64;
        self.totals.rows += rows as u64;
        self.totals.nulls += self.page.nulls as u64;
        self.page.rows = 0;
        self.page.nulls = 0;
        self.page.defs.clear();
        self.page.plain.truncate(LEVELS_ROOM);
        self.page.indices.clear();
        Ok(())
    }

    /// Closes the chunk: its bytes (the dictionary page, then the data pages) and the metadata
    /// the file writer splices them in with.
    pub fn close(mut self, scratch: &mut PageScratch) -> Result<ClosedChunk> {
        self.flush_page(scratch)?;
        let mut chunk = TrackedWrite::new(Vec::new());
        let mut encodings = vec![Encoding::RLE];
        let mut encoding_stats = Vec::new();
        let mut dictionary_offset = None;
        // The distinct count, exact when every value went through the dictionary (DuckDB's files
        // carry it too; the bench's group by ran no faster with it, so it is metadata only).
        let mut distinct = None;
        if let Some(dict) = self.dictionary.take().filter(|d| !d.entries.is_empty()) {
            if !self.plain_fallback {
                distinct = Some(dict.entries.len() as u64);
            }
            if self.statistics {
                for value in dict.values() {
                    self.bounds.widen(value);
                }
            }
            let uncompressed = dict.plain.len();
            let body = page_body(
                self.codec.unwrap_or(CODEC),
                &dict.plain,
                &mut scratch.snappy,
                &mut scratch.compressed,
            )?;
            let page = Page::DictionaryPage {
                buf: body,
                num_values: dict.entries.len() as u32,
                encoding: Encoding::PLAIN,
                is_sorted: false,
            };
            let spec = SerializedPageWriter::new(&mut chunk)
                .write_page(CompressedPage::new(page, uncompressed))?;
            self.totals.uncompressed += spec.uncompressed_size as i64;
            self.totals.compressed += spec.compressed_size as i64;
            dictionary_offset = Some(spec.offset as i64);
            encodings.push(Encoding::PLAIN);
            encodings.push(Encoding::RLE_DICTIONARY);
            encoding_stats.push(PageEncodingStats {
                page_type: PageType::DICTIONARY_PAGE,
                encoding: Encoding::PLAIN,
                count: 1,
            });
        }
        if self.totals.indexed_pages > 0 {
            encoding_stats.push(PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding: Encoding::RLE_DICTIONARY,
                count: self.totals.indexed_pages,
            });
        }
        if self.totals.plain_pages > 0 {
            if !encodings.contains(&Encoding::PLAIN) {
                encodings.push(Encoding::PLAIN);
            }
            encoding_stats.push(PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding: Encoding::PLAIN,
                count: self.totals.plain_pages,
            });
        }
        let data_page_offset = chunk.bytes_written() as i64;
        let dictionary_page = chunk.into_inner()?;
        let data_pages = self.data_pages.into_inner()?;

        let mut builder = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(self.codec.unwrap_or(CODEC))
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_page_encoding_stats(encoding_stats)
            .set_total_compressed_size(self.totals.compressed)
            .set_total_uncompressed_size(self.totals.uncompressed)
            .set_num_values(self.totals.rows as i64)
            .set_data_page_offset(data_page_offset)
            .set_dictionary_page_offset(dictionary_offset);
        if self.statistics {
            let nulls = Some(self.totals.nulls);
            builder = match (self.bounds, self.descr.physical_type()) {
                (Bounds::Text { min, max }, _) => builder
                    .set_statistics(text_statistics(min, max, distinct, self.totals.nulls))
                    .set_unencoded_byte_array_data_bytes(Some(self.totals.value_bytes)),
                (Bounds::Int(bounds), PhysicalType::INT32) => {
                    // Stored from i32 values, so the bounds fit.
                    let (min, max) = bounds.map(|(lo, hi)| (lo as i32, hi as i32)).unzip();
                    builder.set_statistics(Statistics::int32(min, max, distinct, nulls, false))
                }
                (Bounds::Int(bounds), _) => {
                    let (min, max) = bounds.unzip();
                    builder.set_statistics(Statistics::int64(min, max, distinct, nulls, false))
                }
            };
        }
        let metadata = builder.build()?;
        let close = ColumnCloseResult {
            bytes_written: (dictionary_page.len() + data_pages.len()) as u64,
            rows_written: self.totals.rows,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: None,
        };
        Ok(ClosedChunk {
            dictionary_page,
            data_pages,
            close,
        })
    }
}

/// A closed chunk's bytes, in two parts so the data pages need not be copied behind the
/// dictionary page: the file writer reads them as one ([`super::SplicedChunk`]).
pub(super) struct ClosedChunk {
    /// Empty without a dictionary.
    pub dictionary_page: Vec<u8>,
    pub data_pages: Vec<u8>,
    pub close: ColumnCloseResult,
}

/// Statistics of a text chunk: min and max (cut to [`STATISTICS_BYTES`] and marked inexact when
/// cut, the max rounded up so it still bounds every value) and the NULL count.
fn text_statistics(
    min: Option<Vec<u8>>,
    max: Option<Vec<u8>>,
    distinct: Option<u64>,
    nulls: u64,
) -> Statistics {
    let (min, min_exact) = match min {
        Some(v) if v.len() > STATISTICS_BYTES => (Some(truncate_min(&v)), false),
        v => (v, true),
    };
    let (max, max_exact) = match max {
        Some(v) if v.len() > STATISTICS_BYTES => match truncate_max(&v) {
            Some(cut) => (Some(cut), false),
            None => (Some(v), true),
        },
        v => (v, true),
    };
    // Both or neither: a reader takes a lone bound as no statistics anyway.
    let (min, max) = match (min, max) {
        (Some(a), Some(b)) => (Some(ByteArray::from(a)), Some(ByteArray::from(b))),
        _ => (None, None),
    };
    Statistics::ByteArray(
        ValueStatistics::new(min, max, distinct, Some(nulls), false)
            .with_min_is_exact(min_exact)
            .with_max_is_exact(max_exact),
    )
}

/// The longest prefix of `v` of at most [`STATISTICS_BYTES`] that ends on a character boundary
/// (text columns hold UTF-8): a lower bound of `v`.
fn truncate_min(v: &[u8]) -> Vec<u8> {
    v[..utf8_floor(v, STATISTICS_BYTES)].to_vec()
}

/// A value of at most [`STATISTICS_BYTES`] greater than `v`: a prefix whose last character is
/// raised by one code point. `None` when no such prefix exists (every character is the last
/// code point), and the exact value is kept.
fn truncate_max(v: &[u8]) -> Option<Vec<u8>> {
    let prefix = std::str::from_utf8(&v[..utf8_floor(v, STATISTICS_BYTES)]).ok()?;
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let raised = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(c) = raised {
            let mut out: String = chars.iter().collect();
            out.push(c);
            if out.len() <= STATISTICS_BYTES {
                return Some(out.into_bytes());
            }
        }
    }
    None
}

fn utf8_floor(v: &[u8], limit: usize) -> usize {
    let mut end = limit.min(v.len());
    // Continuation bytes are 0b10xx_xxxx.
    while end > 0 && end < v.len() && (v[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    end
}

/// A page's body in the chunk's codec: every page of a chunk, its dictionary page too, is stored
/// the way the chunk's metadata says.
fn page_body(
    codec: Compression,
    page: &[u8],
    encoder: &mut snap::raw::Encoder,
    out: &mut Vec<u8>,
) -> Result<Bytes> {
    if codec == Compression::UNCOMPRESSED {
        Ok(Bytes::copy_from_slice(page))
    } else {
        snappy(encoder, page, out)
    }
}

/// Compresses `input` (the whole page body) as one Snappy block.
fn snappy(encoder: &mut snap::raw::Encoder, input: &[u8], out: &mut Vec<u8>) -> Result<Bytes> {
    let need = snap::raw::max_compress_len(input.len());
    if out.len() < need {
        out.resize(need, 0);
    }
    let len = encoder
        .compress(input, out)
        .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
    Ok(Bytes::copy_from_slice(&out[..len]))
}

/// Longest bit-packed run, in groups of 8 values: its header then fits one byte, as readers
/// written against the reference implementation expect.
const MAX_PACKED_GROUPS: usize = 63;

/// Shortest repeat written as an RLE run. Shorter repeats are bit-packed with their neighbours:
/// a page that switches between short RLE runs and short packed runs is slower to read than one
/// long packed run, and no smaller once compressed. At 8 (the reference writer's threshold) a
/// DuckDB group by over a 7-value dictionary column took 1.15x as long as over DuckDB's own
/// file; at 64, 1.04x, and the file was 0.1% smaller.
const MIN_RLE_RUN: usize = 64;

/// Appends `values`, `bit_width` bits each, in Parquet's RLE/bit-packing hybrid: a run of
/// [`MIN_RLE_RUN`] or more equal values becomes one RLE run (a count and the value), everything
/// between is bit-packed 8 values at a time. Values a run needs to fill its last group of 8 are
/// taken from the next repeat, so only the very end is padded (readers stop at the page's value
/// count).
fn encode_hybrid<T: Copy + PartialEq + Into<u64>>(values: &[T], bit_width: u8, out: &mut Vec<u8>) {
    // Values from `packed_from` on are not written yet, and will be bit-packed.
    let mut packed_from = 0;
    let mut i = 0;
    while i < values.len() {
        let value = values[i];
        let mut end = i + 1;
        while end < values.len() && values[end] == value {
            end += 1;
        }
        let fill = (8 - (i - packed_from) % 8) % 8;
        if end - i >= MIN_RLE_RUN + fill {
            bit_pack(&values[packed_from..i + fill], bit_width, out);
            put_uleb128(out, ((end - i - fill) as u64) << 1);
            let bytes = value.into().to_le_bytes();
            out.extend_from_slice(&bytes[..usize::from(bit_width).div_ceil(8)]);
            packed_from = end;
        }
        i = end;
    }
    bit_pack(&values[packed_from..], bit_width, out);
}

/// Writes `values` as bit-packed runs of at most [`MAX_PACKED_GROUPS`] groups of 8, least
/// significant bit first; a last group short of 8 is padded with zeros.
fn bit_pack<T: Copy + Into<u64>>(values: &[T], bit_width: u8, out: &mut Vec<u8>) {
    let width = usize::from(bit_width);
    for run in values.chunks(8 * MAX_PACKED_GROUPS) {
        let groups = run.len().div_ceil(8);
        put_uleb128(out, (groups as u64) << 1 | 1);
        out.reserve(groups * width);
        for group in run.chunks(8) {
            // 8 values of `width` bits are `width` whole bytes.
            if width <= 16 {
                let mut acc = 0u128;
                for (k, &v) in group.iter().enumerate() {
                    acc |= u128::from(v.into()) << (k * width);
                }
                out.extend_from_slice(&acc.to_le_bytes()[..width]);
            } else {
                let (mut acc, mut bits) = (0u128, 0usize);
                for k in 0..8 {
                    acc |= u128::from(group.get(k).map_or(0, |&v| v.into())) << bits;
                    bits += width;
                    while bits >= 8 {
                        out.push(acc as u8);
                        acc >>= 8;
                        bits -= 8;
                    }
                }
            }
        }
    }
}

fn put_uleb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A chunk's dictionary: the dictionary page's body (text entries as a u32 length and their
/// bytes, integers as their bytes) and an open-addressing index over it.
struct Dictionary {
    plain: Vec<u8>,
    /// Whether entries carry a length prefix in `plain` (text does, integers do not).
    prefixed: bool,
    /// Where each entry's bytes start in `plain`, and their length.
    entries: Vec<(u32, u32)>,
    /// Per entry: the hash of its bytes, or for integers the integer's bits (the key itself, so
    /// a lookup compares numbers rather than byte slices).
    hashes: Vec<u64>,
    /// Entry index + 1 per slot (0 = empty); the length is a power of two, at most half full.
    slots: Vec<u32>,
    /// The entry of the previous value: runs of one value skip the hash.
    last: Option<u32>,
    hasher: foldhash::fast::FixedState,
}

impl Dictionary {
    fn new(prefixed: bool) -> Self {
        Dictionary {
            plain: Vec::new(),
            prefixed,
            entries: Vec::new(),
            hashes: Vec::new(),
            slots: vec![0; 1024],
            last: None,
            // A fixed seed: the hash need not resist crafted input (a flood of colliding values
            // would only slow this chunk down), and the same input always encodes the same.
            hasher: foldhash::fast::FixedState::with_seed(0x1e55),
        }
    }

    fn entry(&self, index: u32) -> &[u8] {
        let (start, len) = self.entries[index as usize];
        &self.plain[start as usize..(start + len) as usize]
    }

    fn values(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.entries.len() as u32).map(|i| self.entry(i))
    }

    /// Bits per index in a data page, as of now (pages written earlier used fewer, which their
    /// own first byte records).
    fn bit_width(&self) -> u8 {
        let max_index = self.entries.len().saturating_sub(1) as u64;
        (u64::BITS - max_index.leading_zeros()) as u8
    }

    /// The index of `value`, added if new.
    #[inline]
    fn index_of(&mut self, value: &[u8]) -> u32 {
        if let Some(last) = self.last
            && bytes_eq(self.entry(last), value)
        {
            return last;
        }
        let hash = self.hasher.hash_one(value);
        match self.probe(hash, |dict, index| {
            dict.hashes[index as usize] == hash && bytes_eq(dict.entry(index), value)
        }) {
            Ok(index) => index,
            Err(slot) => self.insert(slot, hash, value),
        }
    }

    /// The index of an integer: `key` its bits, `value` its little-endian bytes.
    #[inline]
    fn index_of_int(&mut self, key: u64, value: &[u8]) -> u32 {
        debug_assert!(!self.prefixed, "integers go into an unprefixed dictionary");
        if let Some(last) = self.last
            && self.hashes[last as usize] == key
        {
            return last;
        }
        match self.probe(key, |dict, index| dict.hashes[index as usize] == key) {
            Ok(index) => index,
            Err(slot) => self.insert(slot, key, value),
        }
    }

    /// Looks `hash` up: `Ok` with the index of the entry `is_it` accepts, or `Err` with the
    /// empty slot where the value goes.
    #[inline(always)]
    fn probe(&mut self, hash: u64, is_it: impl Fn(&Self, u32) -> bool) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let mut slot = self.home(hash) & mask;
        loop {
            match self.slots[slot] {
                0 => return Err(slot),
                occupied => {
                    let index = occupied - 1;
                    if is_it(self, index) {
                        self.last = Some(index);
                        return Ok(index);
                    }
                    slot = (slot + 1) & mask;
                }
            }
        }
    }

    /// A key's first slot (before masking). Text keys are already hashes; integer keys are
    /// spread by a multiplication, as nearby numbers would otherwise crowd neighbouring slots.
    #[inline]
    fn home(&self, key: u64) -> usize {
        if self.prefixed {
            key as usize
        } else {
            (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize
        }
    }

    /// Adds `value` (with its hash or key) at the empty `slot`.
    fn insert(&mut self, slot: usize, hash: u64, value: &[u8]) -> u32 {
        let index = self.entries.len() as u32;
        if self.prefixed {
            self.plain
                .extend_from_slice(&(value.len() as u32).to_le_bytes());
        }
        let start = self.plain.len() as u32;
        self.plain.extend_from_slice(value);
        self.entries.push((start, value.len() as u32));
        self.hashes.push(hash);
        self.slots[slot] = index + 1;
        if self.entries.len() * 2 > self.slots.len() {
            self.grow();
        }
        self.last = Some(index);
        index
    }

    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        let mask = size - 1;
        let mut slots = vec![0u32; size];
        for (index, &hash) in self.hashes.iter().enumerate() {
            let mut slot = self.home(hash) & mask;
            while slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = index as u32 + 1;
        }
        self.slots = slots;
    }
}

/// `a == b` without a call to `memcmp` for values of up to 16 bytes (most dictionary values:
/// methods, edge locations, dates, result types): two overlapping loads per side. Every text
/// value of a dictionary column is compared once or twice, and the `memcmp` calls alone were
/// 1.7% of a telemetry run's instructions.
#[inline(always)]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |v: &[u8], at: usize| u64::from_ne_bytes(v[at..at + 8].try_into().expect("8"));
    let half = |v: &[u8], at: usize| u32::from_ne_bytes(v[at..at + 4].try_into().expect("4"));
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_eq_agrees_with_slice_equality_at_every_short_length() {
        for n in 0..=24usize {
            let a: Vec<u8> = (0..n as u8).map(|i| b'a' + i).collect();
            assert!(bytes_eq(&a, &a.clone()), "length {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!bytes_eq(&a, &b), "length {n}, byte {at} differs");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!bytes_eq(&a, &longer), "lengths {n} and {}", n + 1);
        }
    }

    #[test]
    fn dictionary_finds_each_value_once() {
        let mut dict = Dictionary::new(true);
        let values: Vec<String> = (0..5000).map(|i| format!("v{}", i % 1500)).collect();
        let indices: Vec<u32> = values.iter().map(|v| dict.index_of(v.as_bytes())).collect();
        assert_eq!(dict.entries.len(), 1500);
        for (v, &i) in values.iter().zip(&indices) {
            assert_eq!(dict.entry(i), v.as_bytes());
        }
        assert_eq!(dict.bit_width(), 11);
    }

    #[test]
    fn integer_dictionary_finds_each_value_once_and_stores_bare_bytes() {
        let mut dict = Dictionary::new(false);
        // Negative and positive, nearby and far apart, past several table growths.
        let values: Vec<i64> = (0..20_000i64)
            .map(|i| (i % 3000 - 1500) * if i % 2 == 0 { 1 } else { 1 << 40 })
            .collect();
        let indices: Vec<u32> = values
            .iter()
            .map(|&v| dict.index_of_int(v as u64, &v.to_le_bytes()))
            .collect();
        let distinct: std::collections::HashSet<i64> = values.iter().copied().collect();
        assert_eq!(dict.entries.len(), distinct.len());
        // The dictionary page is the values' bytes back to back, no length prefixes.
        assert_eq!(dict.plain.len(), distinct.len() * 8);
        for (&v, &i) in values.iter().zip(&indices) {
            assert_eq!(dict.entry(i), v.to_le_bytes());
            assert_eq!(dict.plain[i as usize * 8..][..8], v.to_le_bytes());
        }
    }

    /// Decodes the hybrid encoding (a reader's view, written from the format's description).
    fn decode_hybrid(mut data: &[u8], bit_width: u8, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        let uleb = |data: &mut &[u8]| {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let b = data[0];
                *data = &data[1..];
                v |= u64::from(b & 0x7F) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    return v;
                }
            }
        };
        while out.len() < n {
            let header = uleb(&mut data);
            if header & 1 == 0 {
                let width = usize::from(bit_width).div_ceil(8);
                let mut bytes = [0u8; 8];
                bytes[..width].copy_from_slice(&data[..width]);
                data = &data[width..];
                out.extend(std::iter::repeat_n(
                    u64::from_le_bytes(bytes),
                    (header >> 1) as usize,
                ));
            } else {
                let values = (header >> 1) as usize * 8;
                let bits = values * usize::from(bit_width);
                for i in 0..values {
                    let mut v = 0u64;
                    for b in 0..usize::from(bit_width) {
                        let at = i * usize::from(bit_width) + b;
                        v |= u64::from(data[at / 8] >> (at % 8) & 1) << b;
                    }
                    out.push(v);
                }
                data = &data[bits.div_ceil(8)..];
            }
        }
        assert!(data.is_empty(), "no bytes after the last run");
        out.truncate(n);
        out
    }

    #[test]
    fn hybrid_encoding_round_trips_runs_and_literals() {
        let patterns: Vec<(u8, Vec<u64>)> = vec![
            (0, vec![0; 13]),
            (1, vec![1; 20_000]),
            (1, (0..1000).map(|i| u64::from(i % 7 != 0)).collect()),
            (3, (0..37).map(|i| i % 8).collect()),
            // Literals, then a run that must lend values to fill the literals' last group.
            (
                11,
                (0..5)
                    .chain(std::iter::repeat_n(1500, MIN_RLE_RUN + 30))
                    .chain(0..3)
                    .collect(),
            ),
            (20, (0..5000).map(|i| (i * 7919) % (1 << 20)).collect()),
            (
                4,
                std::iter::repeat_n(9, MIN_RLE_RUN + 1)
                    .chain(std::iter::repeat_n(2, 7))
                    .collect(),
            ),
        ];
        for (bit_width, values) in patterns {
            let mut out = Vec::new();
            encode_hybrid(&values, bit_width, &mut out);
            assert_eq!(
                decode_hybrid(&out, bit_width, values.len()),
                values,
                "bit width {bit_width}"
            );
        }
        // A long run costs a few bytes, not a bit per value.
        let mut out = Vec::new();
        encode_hybrid(&[1u8; 20_000], 1, &mut out);
        assert!(out.len() <= 4, "{} bytes", out.len());
        // Repeats shorter than MIN_RLE_RUN stay in one bit-packed run: a one-byte header
        // (groups << 1 | 1), then 3 bits per value.
        let short: Vec<u64> = (0..400)
            .map(|i| (i / (MIN_RLE_RUN as u64 - 1)) % 8)
            .collect();
        let mut out = Vec::new();
        encode_hybrid(&short, 3, &mut out);
        assert_eq!(usize::from(out[0]), (400 / 8) << 1 | 1);
        assert_eq!(out.len(), 1 + 400 * 3 / 8);
        assert_eq!(decode_hybrid(&out, 3, short.len()), short);
    }

    #[test]
    fn long_statistics_are_cut_to_bounds() {
        let long = "é".repeat(40); // 80 bytes
        let min = truncate_min(long.as_bytes());
        assert!(min.len() <= STATISTICS_BYTES && long.as_bytes().starts_with(&min));
        assert!(std::str::from_utf8(&min).is_ok());
        let max = truncate_max(long.as_bytes()).expect("é can be raised");
        assert!(max.len() <= STATISTICS_BYTES && max.as_slice() > long.as_bytes());
        assert!(std::str::from_utf8(&max).is_ok());
    }
}
