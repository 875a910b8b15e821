//! Table schemas and the columnar row buffer a format writes into.
//!
//! A job describes its table once as a `&'static TableSchema`. Parsers write each row positionally
//! through a [`RowWriter`]: one call per column, in schema order. Values are appended straight into
//! per-column buffers (one contiguous byte buffer per text column), so the hot path allocates
//! nothing per field. The runtime appends the lineage columns itself.

use std::fmt;

/// The physical/logical type of one column, as written to Parquet (and later created in the
/// warehouse). Every column is nullable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text.
    Text,
    /// 32-bit signed integer (status codes, ports).
    Int32,
    /// 64-bit signed integer (byte counts, counters).
    Int64,
    /// 64-bit float (durations in seconds).
    Float64,
    /// Boolean flag.
    Bool,
    /// Instant in UTC, microseconds since the Unix epoch.
    TimestampMicros,
}

impl ColumnType {
    /// The Parquet message-type fragment for a nullable column of this type.
    pub fn parquet_decl(self) -> &'static str {
        match self {
            ColumnType::Text => "BYTE_ARRAY {} (STRING)",
            ColumnType::Int32 => "INT32 {}",
            ColumnType::Int64 => "INT64 {}",
            ColumnType::Float64 => "DOUBLE {}",
            ColumnType::Bool => "BOOLEAN {}",
            ColumnType::TimestampMicros => "INT64 {} (TIMESTAMP(MICROS,true))",
        }
    }

    /// The SQL type name used in docs and warehouse DDL.
    pub fn sql_name(self) -> &'static str {
        match self {
            ColumnType::Text => "VARCHAR",
            ColumnType::Int32 => "INTEGER",
            ColumnType::Int64 => "BIGINT",
            ColumnType::Float64 => "DOUBLE",
            ColumnType::Bool => "BOOLEAN",
            ColumnType::TimestampMicros => "TIMESTAMP_TZ",
        }
    }
}

/// One column of a table.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub doc: &'static str,
}

impl Column {
    pub const fn new(name: &'static str, ty: ColumnType, doc: &'static str) -> Self {
        Column { name, ty, doc }
    }
}

/// The data columns of a table, in order. Lineage columns are not listed here; see
/// [`LINEAGE_COLUMNS`].
#[derive(Debug)]
pub struct TableSchema {
    pub columns: &'static [Column],
}

/// Columns the runtime appends to every row, after the data columns.
pub const LINEAGE_COLUMNS: &[Column] = &[
    Column::new(
        "_source_key",
        ColumnType::Text,
        "object key (or file path) the row was read from",
    ),
    Column::new(
        "_source_line",
        ColumnType::Int64,
        "1-based line (record) number in the decompressed object",
    ),
    Column::new(
        "_run_id",
        ColumnType::Text,
        "id of the run that loaded the row",
    ),
    Column::new(
        "_loaded_at",
        ColumnType::TimestampMicros,
        "when the run that loaded the row started (UTC)",
    ),
];

/// Columns the runtime appends to every row of a derived table.
pub const DERIVED_LINEAGE_COLUMNS: &[Column] = &[
    Column::new(
        "_run_id",
        ColumnType::Text,
        "id of the run that computed the row",
    ),
    Column::new(
        "_loaded_at",
        ColumnType::TimestampMicros,
        "when the run that computed the row started (UTC)",
    ),
];

/// Columns of every `<table>_rejects` table.
pub const REJECT_COLUMNS: &[Column] = &[
    Column::new(
        "_source_key",
        ColumnType::Text,
        "object key the line came from",
    ),
    Column::new("_source_line", ColumnType::Int64, "1-based line number"),
    Column::new(
        "raw_line",
        ColumnType::Text,
        "the line as read; invalid UTF-8 escaped as \\xNN",
    ),
    Column::new("reason", ColumnType::Text, "why the line was rejected"),
    Column::new("_run_id", ColumnType::Text, "id of the run"),
    Column::new(
        "_loaded_at",
        ColumnType::TimestampMicros,
        "when the run started (UTC)",
    ),
];

/// The reject table's schema.
pub static REJECTS_SCHEMA: TableSchema = TableSchema {
    columns: REJECT_COLUMNS,
};

/// Buffered values of one column: values plus Parquet definition levels (1 = present, 0 = NULL).
#[derive(Debug)]
pub enum ColumnValues {
    Text { bytes: Vec<u8>, ends: Vec<u32> },
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float64(Vec<f64>),
    Bool(Vec<bool>),
}

#[derive(Debug)]
pub struct ColumnBuffer {
    pub ty: ColumnType,
    pub values: ColumnValues,
    pub defs: Vec<i16>,
}

impl ColumnBuffer {
    fn new(ty: ColumnType) -> Self {
        let values = match ty {
            ColumnType::Text => ColumnValues::Text {
                bytes: Vec::new(),
                ends: Vec::new(),
            },
            ColumnType::Int32 => ColumnValues::Int32(Vec::new()),
            ColumnType::Int64 | ColumnType::TimestampMicros => ColumnValues::Int64(Vec::new()),
            ColumnType::Float64 => ColumnValues::Float64(Vec::new()),
            ColumnType::Bool => ColumnValues::Bool(Vec::new()),
        };
        ColumnBuffer {
            ty,
            values,
            defs: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.defs.clear();
        match &mut self.values {
            ColumnValues::Text { bytes, ends } => {
                bytes.clear();
                ends.clear();
            }
            ColumnValues::Int32(v) => v.clear(),
            ColumnValues::Int64(v) => v.clear(),
            ColumnValues::Float64(v) => v.clear(),
            ColumnValues::Bool(v) => v.clear(),
        }
    }

    fn approx_bytes(&self) -> usize {
        let values = match &self.values {
            ColumnValues::Text { bytes, ends } => bytes.len() + ends.len() * 4,
            ColumnValues::Int32(v) => v.len() * 4,
            ColumnValues::Int64(v) => v.len() * 8,
            ColumnValues::Float64(v) => v.len() * 8,
            ColumnValues::Bool(v) => v.len(),
        };
        values + self.defs.len() * 2
    }
}

/// A batch of rows in columnar form: the data columns of one schema followed by extra columns.
#[derive(Debug)]
pub struct RowBatch {
    pub columns: Vec<ColumnBuffer>,
    pub rows: usize,
    /// What [`RowBatch::approx_bytes`] reports, kept up to date by [`RowWriter`]: the sink asks
    /// after every row, and summing 50 columns each time cost as much as parsing a field.
    bytes: usize,
    /// Number of leading columns written by the format (the rest are filled by the runtime).
    data_columns: usize,
}

impl RowBatch {
    /// A batch for `data` columns followed by `extra` columns.
    pub fn new(data: &[Column], extra: &[Column]) -> Self {
        RowBatch {
            columns: data
                .iter()
                .chain(extra)
                .map(|c| ColumnBuffer::new(c.ty))
                .collect(),
            rows: 0,
            bytes: 0,
            data_columns: data.len(),
        }
    }

    /// Rows buffered so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Approximate heap bytes held by the buffered values (drives row-group flushing): every
    /// value's bytes (text: its bytes and a 4-byte end offset) plus 2 per definition level.
    #[inline]
    pub fn approx_bytes(&self) -> usize {
        self.bytes
    }

    /// [`RowBatch::approx_bytes`] counted from the buffers themselves.
    pub fn counted_bytes(&self) -> usize {
        self.columns.iter().map(ColumnBuffer::approx_bytes).sum()
    }

    pub fn clear(&mut self) {
        self.columns.iter_mut().for_each(ColumnBuffer::clear);
        self.rows = 0;
        self.bytes = 0;
    }

    /// Empties the batch and returns its buffers to the allocator (after a batch larger than the
    /// ones that follow).
    pub fn clear_and_release(&mut self) {
        for column in &mut self.columns {
            *column = ColumnBuffer::new(column.ty);
        }
        self.rows = 0;
        self.bytes = 0;
    }

    /// Start a row. Write every column in schema order, then call [`RowWriter::finish`].
    pub fn start_row(&mut self) -> RowWriter<'_> {
        RowWriter {
            batch: self,
            next: 0,
        }
    }
}

/// Writes one row, column by column, in schema order.
///
/// Build it only once the whole line has parsed: a row cannot be abandoned half-way. Each method
/// checks that the next column has the matching type, so a schema/format mismatch fails loudly in
/// the first test rather than corrupting a file.
pub struct RowWriter<'a> {
    batch: &'a mut RowBatch,
    next: usize,
}

// The value methods are `inline(always)`: they run once per value, and out of line (LLVM's
// choice at `#[inline]`) each call saved and restored registers around a few stores, 5% of
// telemetry's `--dry-run` instructions.
impl RowWriter<'_> {
    #[inline(always)]
    fn column(&mut self, ty: ColumnType) -> &mut ColumnBuffer {
        let idx = self.next;
        self.next += 1;
        let col =
            self.batch.columns.get_mut(idx).unwrap_or_else(|| {
                panic!("row has more values than the schema has columns ({idx})")
            });
        assert!(
            col.ty == ty,
            "column {idx} is {:?} in the schema but was written as {ty:?}",
            col.ty
        );
        col
    }

    /// A text value (`None` = NULL).
    #[inline(always)]
    pub fn text(&mut self, value: Option<&str>) -> &mut Self {
        let col = self.column(ColumnType::Text);
        push_text(col, value.map(str::as_bytes));
        self.batch.bytes += 2 + value.map_or(0, |v| v.len() + 4);
        self
    }

    /// A text value from bytes that may not be valid UTF-8: invalid sequences become U+FFFD.
    #[inline]
    pub fn text_lossy(&mut self, value: Option<&[u8]>) -> &mut Self {
        match value {
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(s) => self.text(Some(s)),
                Err(_) => {
                    let owned = String::from_utf8_lossy(bytes);
                    self.text(Some(&owned))
                }
            },
            None => self.text(None),
        }
    }

    #[inline(always)]
    pub fn i32(&mut self, value: Option<i32>) -> &mut Self {
        let col = self.column(ColumnType::Int32);
        if let ColumnValues::Int32(v) = &mut col.values {
            push_opt(v, &mut col.defs, value);
        }
        self.batch.bytes += if value.is_some() { 2 + 4 } else { 2 };
        self
    }

    #[inline(always)]
    pub fn i64(&mut self, value: Option<i64>) -> &mut Self {
        let col = self.column(ColumnType::Int64);
        if let ColumnValues::Int64(v) = &mut col.values {
            push_opt(v, &mut col.defs, value);
        }
        self.batch.bytes += if value.is_some() { 2 + 8 } else { 2 };
        self
    }

    #[inline]
    pub fn f64(&mut self, value: Option<f64>) -> &mut Self {
        let col = self.column(ColumnType::Float64);
        if let ColumnValues::Float64(v) = &mut col.values {
            push_opt(v, &mut col.defs, value);
        }
        self.batch.bytes += if value.is_some() { 2 + 8 } else { 2 };
        self
    }

    #[inline(always)]
    pub fn bool(&mut self, value: Option<bool>) -> &mut Self {
        let col = self.column(ColumnType::Bool);
        if let ColumnValues::Bool(v) = &mut col.values {
            push_opt(v, &mut col.defs, value);
        }
        self.batch.bytes += if value.is_some() { 2 + 1 } else { 2 };
        self
    }

    /// A UTC instant as microseconds since the Unix epoch.
    #[inline(always)]
    pub fn timestamp_micros(&mut self, value: Option<i64>) -> &mut Self {
        let col = self.column(ColumnType::TimestampMicros);
        if let ColumnValues::Int64(v) = &mut col.values {
            push_opt(v, &mut col.defs, value);
        }
        self.batch.bytes += if value.is_some() { 2 + 8 } else { 2 };
        self
    }

    /// Number of columns written so far.
    pub fn written(&self) -> usize {
        self.next
    }

    /// Ends the data part of the row. Panics if a data column was left unwritten.
    pub fn finish_data(&mut self) {
        assert!(
            self.next == self.batch.data_columns,
            "row wrote {} values but the schema has {} columns",
            self.next,
            self.batch.data_columns
        );
    }

    /// Ends the row (data and extra columns).
    pub fn finish(self) {
        assert!(
            self.next == self.batch.columns.len(),
            "row wrote {} values but the batch has {} columns",
            self.next,
            self.batch.columns.len()
        );
        self.batch.rows += 1;
    }
}

#[inline]
fn push_opt<T: Default>(values: &mut Vec<T>, defs: &mut Vec<i16>, value: Option<T>) {
    // Parquet stores only present values; definition levels mark the NULLs.
    match value {
        Some(v) => {
            values.push(v);
            defs.push(1);
        }
        None => defs.push(0),
    }
}

#[inline(always)]
fn push_text(col: &mut ColumnBuffer, value: Option<&[u8]>) {
    if let ColumnValues::Text { bytes, ends } = &mut col.values {
        match value {
            Some(v) => {
                bytes.extend_from_slice(v);
                ends.push(u32::try_from(bytes.len()).expect("text column over 4 GiB in one batch"));
                col.defs.push(1);
            }
            None => col.defs.push(0),
        }
    }
}

/// Writes `raw` as text, escaping invalid UTF-8 as `\xNN` so a rejected line is kept exactly.
pub fn escape_invalid_utf8(raw: &[u8], out: &mut String) {
    for chunk in raw.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            use fmt::Write;
            let _ = write!(out, "\\x{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SCHEMA: TableSchema = TableSchema {
        columns: &[
            Column::new("a", ColumnType::Text, ""),
            Column::new("b", ColumnType::Int64, ""),
        ],
    };

    #[test]
    fn rows_land_in_columns_with_nulls_as_definition_levels() {
        let mut batch = RowBatch::new(SCHEMA.columns, &[]);
        let mut row = batch.start_row();
        row.text(Some("x")).i64(None);
        row.finish();
        let mut row = batch.start_row();
        row.text(None).i64(Some(7));
        row.finish();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.columns[0].defs, vec![1, 0]);
        assert_eq!(batch.columns[1].defs, vec![0, 1]);
        match &batch.columns[1].values {
            ColumnValues::Int64(v) => assert_eq!(v, &vec![7]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn approx_bytes_follows_the_buffers() {
        static ALL: TableSchema = TableSchema {
            columns: &[
                Column::new("t", ColumnType::Text, ""),
                Column::new("i", ColumnType::Int32, ""),
                Column::new("l", ColumnType::Int64, ""),
                Column::new("f", ColumnType::Float64, ""),
                Column::new("b", ColumnType::Bool, ""),
                Column::new("ts", ColumnType::TimestampMicros, ""),
            ],
        };
        let mut batch = RowBatch::new(ALL.columns, &[]);
        for n in 0..5 {
            let mut row = batch.start_row();
            let some = n % 2 == 0;
            row.text(some.then_some("abc"))
                .i32(some.then_some(1))
                .i64(some.then_some(2))
                .f64(some.then_some(3.0))
                .bool(some.then_some(true))
                .timestamp_micros(some.then_some(4));
            row.finish();
            assert_eq!(batch.approx_bytes(), batch.counted_bytes());
        }
        assert_eq!(
            batch.approx_bytes(),
            3 * (9 + 6 + 10 + 10 + 3 + 10) + 2 * 6 * 2
        );
        batch.clear();
        assert_eq!(batch.approx_bytes(), 0);
    }

    #[test]
    #[should_panic(expected = "written as Int64")]
    fn writing_the_wrong_type_panics() {
        let mut batch = RowBatch::new(SCHEMA.columns, &[]);
        batch.start_row().i64(Some(1));
    }

    #[test]
    #[should_panic(expected = "row wrote 1 values")]
    fn a_short_row_panics() {
        let mut batch = RowBatch::new(SCHEMA.columns, &[]);
        let mut row = batch.start_row();
        row.text(Some("only one"));
        row.finish();
    }

    #[test]
    fn invalid_utf8_is_escaped() {
        let mut s = String::new();
        escape_invalid_utf8(b"ok \xff\xfe end", &mut s);
        assert_eq!(s, "ok \\xFF\\xFE end");
    }
}
