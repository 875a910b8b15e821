//! Shared by the CloudFront jobs' property tests (telemetry, server-pingbacks), included with
//! `#[path]` so each test crate reads its own `tests/data` fixtures: the proptest config, byte
//! mutations, a corpus of real and generated CloudFront files, and the one-outcome-per-record
//! check.

use std::path::Path;

use ingest_format::format::{ReadError, RecordFormat};
use ingest_format::testing::{CollectingSink, INTERESTING_BYTES, Mutation, mutate, record_lines};
use proptest::prelude::*;

/// A few cases by default so `cargo test` stays quick; `PROPTEST_CASES` (which proptest reads
/// into its default config) overrides it.
pub fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![
        3 => proptest::sample::select(INTERESTING_BYTES),
        1 => any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1..40usize, any::<usize>())
            .prop_map(|(a, n, b)| Mutation::Splice(a, n, b)),
    ]
}

/// The fixtures (whole, and the header with each record alone, so mutations hit densely) and a
/// small generated day of `kind` with malformed records, in today's and the old layout.
pub fn cloudfront_corpus(kind: sample_data::CloudFrontKind) -> Vec<Vec<u8>> {
    let mut corpus = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let file = std::fs::read(e.unwrap().path()).unwrap();
        let lines: Vec<&[u8]> = file.split(|&b| b == b'\n').collect();
        let header: Vec<u8> = lines
            .iter()
            .take_while(|l| l.first() == Some(&b'#'))
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect();
        for l in lines
            .iter()
            .filter(|l| l.first() != Some(&b'#') && !l.is_empty())
        {
            let mut one = header.clone();
            one.extend_from_slice(l);
            one.push(b'\n');
            corpus.push(one);
        }
        corpus.push(file);
    }
    let tmp = tempfile::tempdir().unwrap();
    for fields in [33, 26] {
        let date = sample_data::Date::new(2026, 11, 20).unwrap();
        let mut opts = sample_data::CloudFrontOptions::new(date, kind);
        opts.volume = sample_data::Volume::LinesPerFile(3);
        opts.fields = fields;
        opts.malformed_every = Some(2);
        opts.threads = 1;
        opts.prefix = format!("fields-{fields}");
        let written = sample_data::cloudfront::write_day(&opts, tmp.path()).unwrap();
        corpus.extend(written.read_files(tmp.path()).unwrap().into_iter().take(4));
    }
    corpus
}

/// One of `corpus`, with 1 to 4 mutations.
pub fn mutated(corpus: &'static [Vec<u8>]) -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::sample::select(corpus),
        proptest::collection::vec(mutation(), 1..5),
    )
        .prop_map(|(base, ms)| mutate(base, &ms))
}

/// Reads `input` through `format` (with its per-worker state) and checks one outcome per record:
/// a row or a reject with a reason; only a broken `#Fields` line may fail the whole object.
pub fn check_mutated<F: RecordFormat>(format: &F, input: &[u8]) -> Result<(), TestCaseError> {
    let mut sink = CollectingSink::new(format.schema());
    let mut state = F::State::default();
    match format.read_object("proptest", &mut &input[..], &mut sink, &mut state) {
        Ok(()) => prop_assert_eq!(
            sink.outcomes(),
            record_lines(input, true),
            "{:?}",
            String::from_utf8_lossy(input)
        ),
        Err(ReadError::Format(msg)) => prop_assert!(msg.contains("#Fields"), "{}", msg),
        Err(e) => prop_assert!(false, "{}", e),
    }
    sink.check_one_outcome_per_line()
        .map_err(TestCaseError::fail)
}
