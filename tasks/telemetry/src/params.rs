//! The security-update-check query string: `id=...&b=...&be=...&db=...&os=...&uc=...&tc=...&auc=...&ut=...`.
//!
//! The first value of each key counts. A value that is present but malformed is NULL and counted
//! (one counter per key, in the run summary); the line itself still loads.

use std::borrow::Cow;

use ingest_format::format::RecordSink;
use ingest_format::url::{is_form_encoded, percent_decode, query_pairs};

/// One counter per key (`id`, `b`, `be`, `db`, `os`, `uc`, `tc`, `auc`, `ut`, the order of
/// [`Params`]' fields): `malformed_param_<key>`.
const COUNTERS: [&str; 9] = [
    "malformed_param_id",
    "malformed_param_b",
    "malformed_param_be",
    "malformed_param_db",
    "malformed_param_os",
    "malformed_param_uc",
    "malformed_param_tc",
    "malformed_param_auc",
    "malformed_param_ut",
];

/// Longest accepted text value (ids are 26 characters; anything far longer is not a value).
const MAX_TEXT: usize = 256;

/// The parsed parameters of one ping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params<'q> {
    pub server_id: Option<Cow<'q, str>>,
    pub version: Option<Cow<'q, str>>,
    /// Major, minor, patch from `X.Y.Z[.build...]`.
    pub version_parts: Option<[i32; 3]>,
    pub is_enterprise_ready: Option<bool>,
    pub database_type: Option<Cow<'q, str>>,
    pub operating_system: Option<Cow<'q, str>>,
    pub count_users: Option<i64>,
    pub count_teams: Option<i64>,
    pub count_active_users: Option<i64>,
    pub has_run_unit_tests: Option<bool>,
}

/// Parses the query string as logged (`None` for `-`). Malformed values are counted on `sink`.
pub fn parse<'q>(query: Option<&'q str>, sink: &mut dyn RecordSink) -> Params<'q> {
    let Some(query) = query else {
        return Params::default();
    };
    let [id, b, be, db, os, uc, tc, auc, ut] = first_values(query);
    let mut malformed = [false; 9];
    let mut check = |i: usize, ok: bool| {
        malformed[i] = !ok;
        ok
    };

    let server_id = id.map(decode).filter(|v| check(0, is_server_id(v)));
    let version = b.map(decode).filter(|v| check(1, is_text(v)));
    let version_parts = match &version {
        Some(v) => {
            let parts = version_parts(v);
            check(1, parts.is_some());
            parts
        }
        None => None,
    };
    let is_enterprise_ready = be.and_then(|v| {
        let parsed = parse_bool(&decode(v));
        check(2, parsed.is_some());
        parsed
    });
    let database_type = db.map(decode).filter(|v| check(3, is_text(v)));
    let operating_system = os.map(decode).filter(|v| check(4, is_text(v)));
    let mut count = |i: usize, raw: Option<&str>| {
        raw.and_then(|v| {
            let n = parse_count(v);
            check(i, n.is_some());
            n
        })
    };
    let count_users = count(5, uc);
    let count_teams = count(6, tc);
    let count_active_users = count(7, auc);
    let has_run_unit_tests = ut.and_then(|v| {
        let parsed = parse_bool(&decode(v));
        check(8, parsed.is_some());
        parsed
    });
    for (i, bad) in malformed.iter().enumerate() {
        if *bad {
            sink.count(COUNTERS[i], 1);
        }
    }
    Params {
        server_id,
        version,
        version_parts,
        is_enterprise_ready,
        database_type,
        operating_system,
        count_users,
        count_teams,
        count_active_users,
        has_run_unit_tests,
    }
}

/// The first value of each of [`KEYS`] (raw, still encoded).
fn first_values(query: &str) -> [Option<&str>; 9] {
    let mut out = [None; 9];
    let mut missing = out.len();
    for (k, v) in query_pairs(query) {
        // Byte patterns compile to a length switch and integer compares (string patterns to
        // `memcmp` calls).
        let i = match k.as_bytes() {
            b"id" => 0,
            b"b" => 1,
            b"be" => 2,
            b"db" => 3,
            b"os" => 4,
            b"uc" => 5,
            b"tc" => 6,
            b"auc" => 7,
            b"ut" => 8,
            _ => continue,
        };
        if out[i].is_none() {
            out[i] = Some(v);
            missing -= 1;
            if missing == 0 {
                break;
            }
        }
    }
    out
}

/// A value as logged: AWS's URL encoding undone, then the client's form encoding.
fn decode(raw: &str) -> Cow<'_, str> {
    if !is_form_encoded(raw) {
        return Cow::Borrowed(raw);
    }
    let mut aws = Vec::with_capacity(raw.len());
    percent_decode(raw.as_bytes(), false, &mut aws);
    let mut client = Vec::with_capacity(aws.len());
    percent_decode(&aws, true, &mut client);
    match String::from_utf8(client) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn is_text(v: &str) -> bool {
    // Not all whitespace (what `trim().is_empty()` says, but stopping at the first letter).
    v.len() <= MAX_TEXT && !v.chars().all(char::is_whitespace)
}

/// Server ids are 26 lowercase letters and digits; accept any id-like token.
fn is_server_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| ID_BYTES[usize::from(b)])
}

/// The bytes of an id-like token (letters, digits, `-`, `_`), as a table: one load a byte
/// instead of four range compares.
static ID_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

/// `X.Y.Z` or `X.Y.Z.<anything>` → [X, Y, Z]: each part 1 to 6 digits.
pub fn version_parts(v: &str) -> Option<[i32; 3]> {
    let mut out = [0i32; 3];
    let mut bytes = v.as_bytes().iter();
    for (i, slot) in out.iter_mut().enumerate() {
        let (mut n, mut digits) = (0i32, 0);
        loop {
            match bytes.next() {
                Some(&d @ b'0'..=b'9') if digits < 6 => {
                    n = n * 10 + i32::from(d - b'0');
                    digits += 1;
                }
                // A part ends at a dot; the third may also end the string. What follows the
                // third part's dot is ignored (`X.Y.Z.build`).
                Some(b'.') if digits > 0 => break,
                None if i == 2 && digits > 0 => break,
                _ => return None,
            }
        }
        *slot = n;
    }
    Some(out)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" => Some(true),
        "0" => Some(false),
        _ if v.eq_ignore_ascii_case("true") => Some(true),
        _ if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A non-negative integer count: 1 to 15 digits (so it cannot overflow).
fn parse_count(v: &str) -> Option<i64> {
    if v.is_empty() || v.len() > 15 {
        return None;
    }
    v.bytes().try_fold(0i64, |n, d| {
        d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_format::table::{Column, ColumnType, TableSchema};
    use ingest_format::testing::CollectingSink;

    static NONE: TableSchema = TableSchema {
        columns: &[Column::new("x", ColumnType::Text, "")],
    };

    #[test]
    fn a_typical_ping() {
        let mut sink = CollectingSink::new(&NONE);
        let q = "id=ktr3d8zjdpf5uy7wmhb3afj5mh&b=10.11.2.51234&be=true&db=postgres&os=linux&uc=42&tc=3&auc=17&ut=0";
        let p = parse(Some(q), &mut sink);
        assert_eq!(p.server_id.as_deref(), Some("ktr3d8zjdpf5uy7wmhb3afj5mh"));
        assert_eq!(p.version.as_deref(), Some("10.11.2.51234"));
        assert_eq!(p.version_parts, Some([10, 11, 2]));
        assert_eq!(p.is_enterprise_ready, Some(true));
        assert_eq!(p.database_type.as_deref(), Some("postgres"));
        assert_eq!(p.operating_system.as_deref(), Some("linux"));
        assert_eq!(
            (p.count_users, p.count_teams, p.count_active_users),
            (Some(42), Some(3), Some(17))
        );
        assert_eq!(p.has_run_unit_tests, Some(false));
        assert!(sink.counters.is_empty());
    }

    #[test]
    fn malformed_values_are_null_and_counted_first_value_wins() {
        let mut sink = CollectingSink::new(&NONE);
        let q = "id=&b=dev-build&be=maybe&uc=abc&tc=-1&auc=&ut=yes&uc=5&db=my%2520sql";
        let p = parse(Some(q), &mut sink);
        assert_eq!(p.server_id, None);
        assert_eq!(p.version.as_deref(), Some("dev-build"));
        assert_eq!(p.version_parts, None);
        assert_eq!(p.is_enterprise_ready, None);
        assert_eq!(p.count_users, None, "the first uc counts");
        assert_eq!(p.count_teams, None);
        assert_eq!(p.count_active_users, None);
        assert_eq!(p.has_run_unit_tests, None);
        assert_eq!(p.database_type.as_deref(), Some("my sql"));
        assert_eq!(p.operating_system, None, "absent is not malformed");
        for key in ["id", "b", "be", "uc", "tc", "auc", "ut"] {
            assert_eq!(sink.counter(&format!("malformed_param_{key}")), 1, "{key}");
        }
        assert_eq!(sink.counter("malformed_param_os"), 0);
        assert_eq!(sink.counter("malformed_param_db"), 0);
    }

    #[test]
    fn no_query_no_params() {
        let mut sink = CollectingSink::new(&NONE);
        assert_eq!(parse(None, &mut sink), Params::default());
        assert_eq!(version_parts("10.11"), None);
        assert_eq!(version_parts("7.8.15"), Some([7, 8, 15]));
        assert_eq!(version_parts("9.5.13.cloud-2024"), Some([9, 5, 13]));
    }

    #[test]
    fn versions_and_counts_at_their_edges() {
        for (v, want) in [
            ("10.11.2.", Some([10, 11, 2])),
            ("999999.0.123456", Some([999_999, 0, 123_456])),
            ("1234567.1.1", None),
            ("1.1.1234567", None),
            ("7..8", None),
            (".1.2", None),
            ("1.2.3a", None),
            ("1.2.", None),
            ("1.2", None),
            ("", None),
            ("v1.2.3", None),
        ] {
            assert_eq!(version_parts(v), want, "{v:?}");
        }
        for (v, want) in [
            ("0", Some(0)),
            ("007", Some(7)),
            ("999999999999999", Some(999_999_999_999_999)),
            ("1000000000000000", None),
            ("-1", None),
            ("1a", None),
            ("", None),
            ("+1", None),
        ] {
            assert_eq!(parse_count(v), want, "{v:?}");
        }
    }
}
