//! Calendar dates and UTC timestamps without a date-time dependency: the formats only need
//! "civil date to days" and fixed-layout parsing, both cheap enough for the hot path.

use std::fmt;
use std::str::FromStr;

/// A calendar date (proleptic Gregorian), the logical date of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// A validated date, in years 1 to 9999 (what the warehouse stores, see
    /// [`MIN_TIMESTAMP_MICROS`]).
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=9999).contains(&year)
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
        {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// The date `n` days later (negative for earlier).
    pub fn add_days(self, n: i64) -> Date {
        civil_from_days(self.days_since_epoch() + n)
    }

    /// Microseconds since the epoch at 00:00:00 UTC of this date.
    pub fn midnight_micros(self) -> i64 {
        self.days_since_epoch() * 86_400_000_000
    }

    /// `YYYY/MM/DD`, the date folder of ALB logs.
    pub fn slash_path(self) -> String {
        format!("{:04}/{:02}/{:02}", self.year, self.month, self.day)
    }

    /// Today in UTC.
    pub fn today_utc() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        civil_from_days(secs.div_euclid(86_400))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The error for a `--date` that is not `YYYY-MM-DD`.
#[derive(Debug, thiserror::Error)]
#[error("expected a date as YYYY-MM-DD (e.g. 2026-11-20), got {0:?}")]
pub struct DateParseError(String);

impl FromStr for Date {
    type Err = DateParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_date(s.as_bytes()).ok_or_else(|| DateParseError(s.to_owned()))
    }
}

/// The earliest timestamp every column type of the lake's readers holds: 0001-01-01T00:00:00Z.
/// Snowflake documents years up to 9999 for DATE and TIMESTAMP_* (and recommends 1582 on);
/// a value outside would abort the whole COPY, so parsers reject it line by line instead.
pub const MIN_TIMESTAMP_MICROS: i64 = -62_135_596_800_000_000;
/// The latest: 9999-12-31T23:59:59.999999Z.
pub const MAX_TIMESTAMP_MICROS: i64 = 253_402_300_799_999_999;

/// True when `micros` since the epoch falls in years 1 to 9999 (UTC).
#[inline]
pub fn timestamp_in_range(micros: i64) -> bool {
    (MIN_TIMESTAMP_MICROS..=MAX_TIMESTAMP_MICROS).contains(&micros)
}

/// Parses `YYYY-MM-DD`.
#[inline]
pub fn parse_date(b: &[u8]) -> Option<Date> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])? as i32;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    Date::new(year, month, day)
}

/// Parses `HH:MM:SS` into seconds of the day.
#[inline]
pub fn parse_time_of_day(b: &[u8]) -> Option<i64> {
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let h = digits(&b[0..2])?;
    let m = digits(&b[3..5])?;
    let s = digits(&b[6..8])?;
    // 60 allows a leap second as written by some loggers.
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(i64::from(h * 3600 + m * 60 + s))
}

/// Parses an ISO-8601 UTC instant `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` into microseconds since the
/// epoch (fractions beyond microseconds are truncated).
#[inline]
pub fn parse_iso8601_utc_micros(b: &[u8]) -> Option<i64> {
    if b.len() < 20 || b[10] != b'T' || *b.last()? != b'Z' {
        return None;
    }
    let date = parse_date(&b[..10])?;
    let secs = parse_time_of_day(&b[11..19])?;
    let rest = &b[19..b.len() - 1];
    let micros = match rest {
        [] => 0,
        [b'.', frac @ ..] if !frac.is_empty() && frac.len() <= 9 => {
            let mut v: i64 = 0;
            for (i, &c) in frac.iter().enumerate() {
                if !c.is_ascii_digit() {
                    return None;
                }
                if i < 6 {
                    v = v * 10 + i64::from(c - b'0');
                }
            }
            for _ in frac.len()..6 {
                v *= 10;
            }
            v
        }
        _ => return None,
    };
    Some(date.midnight_micros() + secs * 1_000_000 + micros)
}

#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days algorithms.
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    Date {
        year: (y + i64::from(m <= 2)) as i32,
        month: m,
        day: d,
    }
}

/// Formats microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_micros_utc(micros: i64) -> String {
    let days = micros.div_euclid(86_400_000_000);
    let rem = micros.rem_euclid(86_400_000_000);
    let date = civil_from_days(days);
    let secs = rem / 1_000_000;
    format!(
        "{date}T{:02}:{:02}:{:02}.{:06}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        rem % 1_000_000
    )
}

/// Now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_days() {
        for days in [-1000, 0, 59, 365, 11_016, 20_777, 100_000] {
            let d = civil_from_days(days);
            assert_eq!(d.days_since_epoch(), days, "{d}");
        }
        assert_eq!(
            "2026-11-20".parse::<Date>().unwrap().days_since_epoch(),
            20_777
        );
        assert_eq!(
            "2024-02-28"
                .parse::<Date>()
                .unwrap()
                .add_days(1)
                .to_string(),
            "2024-02-29"
        );
        assert_eq!(
            "2026-12-31"
                .parse::<Date>()
                .unwrap()
                .add_days(1)
                .to_string(),
            "2027-01-01"
        );
    }

    #[test]
    fn bad_dates_are_refused_with_the_expected_shape() {
        for bad in ["2026-13-01", "2026-02-29", "20261120", "2026-1-20", ""] {
            let err = bad.parse::<Date>().unwrap_err().to_string();
            assert!(err.contains("YYYY-MM-DD"), "{err}");
        }
    }

    #[test]
    fn the_warehouse_range_is_years_1_to_9999() {
        let first = parse_iso8601_utc_micros(b"0001-01-01T00:00:00Z").unwrap();
        assert_eq!(first, MIN_TIMESTAMP_MICROS);
        let last = parse_iso8601_utc_micros(b"9999-12-31T23:59:59.999999Z").unwrap();
        assert_eq!(last, MAX_TIMESTAMP_MICROS);
        assert!(timestamp_in_range(first) && timestamp_in_range(last));
        assert!(!timestamp_in_range(first - 1) && !timestamp_in_range(last + 1));
        assert!(!timestamp_in_range(i64::MIN) && !timestamp_in_range(i64::MAX));
        // Year 0 (1 BC) is a valid proleptic date but outside the range: refused like a typo.
        assert_eq!(parse_iso8601_utc_micros(b"0000-12-31T23:59:59Z"), None);
        assert_eq!(parse_date(b"0000-01-01"), None);
        assert!("0000-01-01".parse::<Date>().is_err());
        assert_eq!(Date::new(10_000, 1, 1), None);
        assert_eq!(
            format_micros_utc(MAX_TIMESTAMP_MICROS),
            "9999-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn iso8601_instants_parse_to_micros() {
        let t = parse_iso8601_utc_micros(b"2018-07-02T22:23:00.186641Z").unwrap();
        assert_eq!(format_micros_utc(t), "2018-07-02T22:23:00.186641Z");
        let t = parse_iso8601_utc_micros(b"2018-07-02T22:22:48.364000Z").unwrap();
        assert_eq!(t % 1_000_000, 364_000);
        assert_eq!(
            parse_iso8601_utc_micros(b"1970-01-01T00:00:01Z"),
            Some(1_000_000)
        );
        assert_eq!(
            parse_iso8601_utc_micros(b"1970-01-01T00:00:00.5Z"),
            Some(500_000)
        );
        for bad in [
            &b"2018-07-02 22:23:00Z"[..],
            b"2018-07-02T22:23:00",
            b"2018-07-02T25:23:00Z",
            b"2018-07-02T22:23:00.Z",
            b"-",
        ] {
            assert_eq!(parse_iso8601_utc_micros(bad), None);
        }
    }
}
