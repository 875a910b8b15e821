//! Test support for formats: a [`RecordSink`] that keeps rows as values in memory.

use crate::format::{ReadError, RecordSink};
use crate::table::{ColumnValues, RowBatch, TableSchema};

/// One typed cell, for assertions.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// A parsed row: the schema's column names with their values.
#[derive(Clone, Debug)]
pub struct Row {
    pub line: u64,
    names: Vec<&'static str>,
    pub values: Vec<Value>,
}

impl Row {
    /// The value of the named column; panics on an unknown name.
    pub fn get(&self, name: &str) -> &Value {
        let i = self
            .names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        &self.values[i]
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Value::Text(s) => Some(s),
            Value::Null => None,
            other => panic!("{name} is not text: {other:?}"),
        }
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Value::Int(i) => Some(*i),
            Value::Null => None,
            other => panic!("{name} is not an integer: {other:?}"),
        }
    }

    pub fn float(&self, name: &str) -> Option<f64> {
        match self.get(name) {
            Value::Float(f) => Some(*f),
            Value::Null => None,
            other => panic!("{name} is not a float: {other:?}"),
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Value::Bool(b) => Some(*b),
            Value::Null => None,
            other => panic!("{name} is not a bool: {other:?}"),
        }
    }
}

/// A kept reject.
#[derive(Clone, Debug)]
pub struct Reject {
    pub line: u64,
    pub raw: Vec<u8>,
    pub reason: String,
}

/// Collects rows, rejects and counters in memory.
pub struct CollectingSink {
    schema: &'static TableSchema,
    batch: RowBatch,
    pub rows: Vec<Row>,
    pub rejects: Vec<Reject>,
    pub counters: Vec<(&'static str, u64)>,
}

impl CollectingSink {
    pub fn new(schema: &'static TableSchema) -> Self {
        CollectingSink {
            schema,
            batch: RowBatch::new(schema.columns, &[]),
            rows: Vec::new(),
            rejects: Vec::new(),
            counters: Vec::new(),
        }
    }

    /// The value of a named counter (0 if never counted).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| *v)
    }
}

impl RecordSink for CollectingSink {
    fn row(
        &mut self,
        line: u64,
        write: &mut dyn FnMut(&mut crate::table::RowWriter<'_>),
    ) -> Result<(), ReadError> {
        self.batch.clear();
        let mut row = self.batch.start_row();
        write(&mut row);
        row.finish_data();
        row.finish();
        let values = self
            .batch
            .columns
            .iter()
            .map(|col| {
                if col.defs[0] == 0 {
                    return Value::Null;
                }
                match &col.values {
                    ColumnValues::Text { bytes, .. } => {
                        Value::Text(String::from_utf8(bytes.clone()).expect("text is UTF-8"))
                    }
                    ColumnValues::Int32(v) => Value::Int(i64::from(v[0])),
                    ColumnValues::Int64(v) => Value::Int(v[0]),
                    ColumnValues::Float64(v) => Value::Float(v[0]),
                    ColumnValues::Bool(v) => Value::Bool(v[0]),
                }
            })
            .collect();
        self.rows.push(Row {
            line,
            names: self.schema.columns.iter().map(|c| c.name).collect(),
            values,
        });
        Ok(())
    }

    fn reject(&mut self, line: u64, raw: &[u8], reason: &str) -> Result<(), ReadError> {
        self.rejects.push(Reject {
            line,
            raw: raw.to_vec(),
            reason: reason.to_owned(),
        });
        Ok(())
    }

    fn count(&mut self, counter: &'static str, n: u64) {
        match self.counters.iter_mut().find(|(name, _)| *name == counter) {
            Some((_, v)) => *v += n,
            None => self.counters.push((counter, n)),
        }
    }

    fn is_cancelled(&self) -> bool {
        false
    }
}

/// Collects derived rows per table, for tests of [`crate::format::RecordFormat::write_derived`].
pub struct CollectingDerived {
    sinks: Vec<CollectingSink>,
}

impl CollectingDerived {
    pub fn new(tables: &'static [crate::format::DerivedTable]) -> Self {
        CollectingDerived {
            sinks: tables
                .iter()
                .map(|t| CollectingSink::new(t.schema))
                .collect(),
        }
    }

    /// The rows written to derived table `i`.
    pub fn rows(&self, i: usize) -> &[Row] {
        &self.sinks[i].rows
    }
}

impl crate::format::DerivedSink for CollectingDerived {
    fn row(
        &mut self,
        table: usize,
        write: &mut dyn FnMut(&mut crate::table::RowWriter<'_>),
    ) -> Result<(), ReadError> {
        self.sinks[table].row(0, write)
    }
}

/// Reads a fixture file through `format` into a [`CollectingSink`], the way the runtime would
/// read one decompressed object: the sink and how the read ended.
pub fn read_fixture<F: crate::format::RecordFormat>(
    format: &F,
    path: &std::path::Path,
) -> (CollectingSink, Result<(), ReadError>) {
    let (sink, _state, result) = read_fixture_with_state(format, path);
    (sink, result)
}

/// [`read_fixture`], also returning the format's per-worker state (for the derived tables).
pub fn read_fixture_with_state<F: crate::format::RecordFormat>(
    format: &F,
    path: &std::path::Path,
) -> (CollectingSink, F::State, Result<(), ReadError>) {
    let file =
        std::fs::File::open(path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    let key = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut sink = CollectingSink::new(format.schema());
    let mut state = F::State::default();
    let result = format.read_object(
        &key,
        &mut std::io::BufReader::new(file),
        &mut sink,
        &mut state,
    );
    (sink, state, result)
}

/// Bytes that matter to one of the formats (separators, quotes, escapes, line ends, directive and
/// percent signs, invalid UTF-8): property tests insert them more often than random bytes.
pub const INTERESTING_BYTES: &[u8] = b" \t\"\\-%#,.:[]+=&\r\n09Z\xff\xc3";

/// One edit of a real input, for property tests that mutate fixture lines. Positions wrap
/// around the input's length, so any `usize` is valid.
#[derive(Clone, Debug)]
pub enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    /// Copies up to `.1` bytes from `.0` to `.2` (repeats a field or a separator).
    Splice(usize, usize, usize),
}

/// Applies `mutations` in order.
pub fn mutate(mut input: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = input.len();
        match *m {
            Mutation::Replace(i, b) if len > 0 => input[i % len] = b,
            Mutation::Insert(i, b) => input.insert(i % (len + 1), b),
            Mutation::Delete(i) if len > 0 => {
                input.remove(i % len);
            }
            Mutation::Truncate(i) => input.truncate(i % (len + 1)),
            Mutation::Splice(from, n, to) if len > 0 => {
                let start = from % len;
                let piece = input[start..(start + n).min(len)].to_vec();
                let at = to % (len + 1);
                input.splice(at..at, piece);
            }
            _ => {}
        }
    }
    input
}

/// The lines of `input` a line-oriented format must turn into a row or a reject: not blank and,
/// with `directives` (CloudFront), not a `#` line.
pub fn record_lines(input: &[u8], directives: bool) -> usize {
    input
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .filter(|l| !(directives && l.first() == Some(&b'#')))
        .count()
}

impl CollectingSink {
    /// Checks that no line gave two outcomes (a row and a reject, or two of either) and that
    /// every reject has a reason; `Err` says what broke.
    pub fn check_one_outcome_per_line(&self) -> Result<(), String> {
        let mut lines: Vec<u64> = self
            .rows
            .iter()
            .map(|r| r.line)
            .chain(self.rejects.iter().map(|r| r.line))
            .collect();
        lines.sort_unstable();
        if let Some(w) = lines.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("line {} gave two outcomes", w[0]));
        }
        if let Some(r) = self.rejects.iter().find(|r| r.reason.trim().is_empty()) {
            return Err(format!("line {} was rejected without a reason", r.line));
        }
        Ok(())
    }

    /// Rows plus rejects.
    pub fn outcomes(&self) -> usize {
        self.rows.len() + self.rejects.len()
    }
}

/// How many records a CSV reader must report for `input` (header included), computed
/// independently of [`crate::csv::CsvReader`] for property tests: records end at line breaks
/// outside quotes, a quote opens a quoted field only at the start of a field, a leading BOM is
/// skipped, and records with nothing but line-break bytes are blank (skipped). `None` when the
/// input ends inside a quoted field (the reader fails the object).
pub fn csv_record_count(mut input: &[u8]) -> Option<usize> {
    if let Some(rest) = input.strip_prefix(b"\xEF\xBB\xBF") {
        input = rest;
    }
    #[derive(PartialEq)]
    enum S {
        Start,
        Unquoted,
        Quoted,
        QuoteSeen,
    }
    let (mut state, mut records, mut content) = (S::Start, 0, false);
    for &b in input {
        content |= b != b'\r' && b != b'\n';
        state = match (state, b) {
            (S::Quoted, b'"') => S::QuoteSeen,
            (S::Quoted, _) => S::Quoted,
            (S::Start, b'"') => S::Quoted,
            (S::QuoteSeen, b'"') => S::Quoted,
            (_, b'\n') => {
                records += usize::from(content);
                content = false;
                S::Start
            }
            (_, b',') => S::Start,
            _ => S::Unquoted,
        };
    }
    if state == S::Quoted {
        return None;
    }
    Some(records + usize::from(content))
}
