//! Property tests of the server-pingbacks format: mutated real CloudFront files (the fixtures and
//! the sample-data generator's) give exactly one row or one reject with a reason per record,
//! without a panic. The shared CloudFront reader's own properties are in ingest-runtime's tests.
//!
//! `cargo test` runs a few cases per property; `PROPTEST_CASES=n` sets the count
//! (`scripts/fuzz-parsers.sh` runs millions in release).

#[path = "../../ingest-format/tests/support/cloudfront_mutated.rs"]
mod cloudfront_mutated;

use std::sync::LazyLock;

use cloudfront_mutated::{check_mutated, cloudfront_corpus, config, mutated};
use proptest::prelude::*;
use server_pingbacks::PingbacksFormat;

static CORPUS: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| cloudfront_corpus(sample_data::CloudFrontKind::Pingbacks));

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pingbacks_mutated_files_give_one_outcome_per_record(input in mutated(&CORPUS)) {
        check_mutated(&PingbacksFormat, &input)?;
    }
}
