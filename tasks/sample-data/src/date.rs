//! Calendar dates (proleptic Gregorian, UTC) without a date crate.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

pub const SECONDS_PER_DAY: i64 = 86_400;
pub const MICROS_PER_DAY: u64 = 86_400_000_000;

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

impl Date {
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=9999).contains(&year) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub fn days_since_epoch(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The inverse of [`Date::days_since_epoch`] (`civil_from_days`).
    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// Seconds since the Unix epoch at 00:00:00 UTC of this date.
    pub fn epoch_seconds(self) -> i64 {
        self.days_since_epoch() * SECONDS_PER_DAY
    }

    pub fn add_days(self, days: i64) -> Date {
        Date::from_days_since_epoch(self.days_since_epoch() + days)
    }

    /// `YYYYMMDD`.
    pub fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// `YYYY/MM/DD`.
    pub fn slash_path(self) -> String {
        format!("{:04}/{:02}/{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = String;

    /// Strict `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Date, String> {
        let bad = || format!("expected a date as YYYY-MM-DD, got {s:?}");
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let digits = |r: std::ops::Range<usize>| -> Result<u32, String> {
            let part = &s[r];
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        Date::new(y as i32, m, d).ok_or_else(|| format!("{s:?} is not a calendar date"))
    }
}

/// Appends `n` as exactly two digits (n < 100).
pub fn push_2(out: &mut String, n: u64) {
    out.push(char::from(b'0' + (n / 10 % 10) as u8));
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// Appends `n` zero-padded to `width` digits.
pub fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    let mut v = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let digits = buf.len() - i;
    for _ in digits..width {
        out.push('0');
    }
    for &c in &buf[i..] {
        out.push(char::from(c));
    }
}

/// Appends `HH:MM:SS` for a second of the day.
pub fn push_hms(out: &mut String, second_of_day: u64) {
    push_2(out, second_of_day / 3600);
    out.push(':');
    push_2(out, second_of_day / 60 % 60);
    out.push(':');
    push_2(out, second_of_day % 60);
}

/// Appends `<date>THH:MM:SS.ffffffZ` (ISO 8601 with microseconds, as ALB writes it).
pub fn push_iso_micros(out: &mut String, date_prefix: &str, micros_of_day: u64) {
    out.push_str(date_prefix);
    out.push('T');
    push_hms(out, micros_of_day / 1_000_000);
    out.push('.');
    push_padded(out, micros_of_day % 1_000_000, 6);
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strictly() {
        assert_eq!(
            "2026-11-20".parse(),
            Ok(Date {
                year: 2026,
                month: 11,
                day: 20
            })
        );
        for bad in [
            "2026-13-01",
            "2026-02-29",
            "2026-1-01",
            "20261120",
            "2026-11-2x",
            "",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
        assert!("2024-02-29".parse::<Date>().is_ok());
    }

    #[test]
    fn epoch_round_trips() {
        let d: Date = "2026-11-20".parse().unwrap();
        // date -u -d 2026-11-20 +%s
        assert_eq!(d.epoch_seconds(), 1_795_132_800);
        assert_eq!(Date::from_days_since_epoch(0).to_string(), "1970-01-01");
        for days in [-1000, 0, 59, 365, 10_957, 20_000, 20_777] {
            assert_eq!(Date::from_days_since_epoch(days).days_since_epoch(), days);
        }
        assert_eq!(d.add_days(11).to_string(), "2026-12-01");
        assert_eq!(d.add_days(-20).to_string(), "2026-10-31");
    }

    #[test]
    fn formats_timestamps() {
        let mut s = String::new();
        push_iso_micros(&mut s, "2026-11-20", 3_723_000_042);
        assert_eq!(s, "2026-11-20T01:02:03.000042Z");
        s.clear();
        push_padded(&mut s, 123, 2);
        assert_eq!(s, "123");
    }
}
