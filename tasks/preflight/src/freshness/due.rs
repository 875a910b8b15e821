//! Which dates the watchdog checks, and when each date is due.
//!
//! The DAGs load date D in the run whose logical date is D, scheduled at the cron time on D+1
//! (01:30 UTC for push-logs and license-exports, 06:00 for telemetry and server-pingbacks), and
//! their deadline alert fires `due_after` (4 h) after that start (dags/ingest/deadline.py). The
//! watchdog must not speak before that alert could, so a date is due `due_after_hours` after the
//! end of its day, D+1 00:00 UTC: the default 10 h is the latest scheduled start (06:00) plus the
//! deadline (4 h). `dags/tests/test_dag_watchdog.py` checks that against every DAG's timetable.

use ingest_runtime::time::Date;

pub const DAY_SECS: i64 = 86_400;

/// The default of `--due-after-hours`: 06:00 (the latest DAG schedule) + 4 h (the deadline).
pub const DEFAULT_DUE_AFTER_HOURS: u32 = 10;

/// The dates to check and when they became due.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Now, in seconds since the epoch.
    pub now_secs: i64,
    /// How many due dates to check, newest first (at least 1).
    pub lookback_days: u32,
    /// A date is due this long after its day ends (D+1 00:00 UTC).
    pub due_after_secs: i64,
    /// No date before this one is checked (the first date the DAGs load).
    pub start: Option<Date>,
}

/// The date of an instant (seconds since the epoch), in UTC.
pub fn date_of(secs: i64) -> Date {
    epoch().add_days(secs.div_euclid(DAY_SECS))
}

fn epoch() -> Date {
    Date::new(1970, 1, 1).expect("1970-01-01 is a date")
}

/// When `date` is due: D+1 00:00 UTC + `due_after_secs`, in seconds since the epoch.
pub fn due_at(date: Date, due_after_secs: i64) -> i64 {
    date.add_days(1).days_since_epoch() * DAY_SECS + due_after_secs
}

/// The `lookback_days` newest dates whose due time has passed (due at or before now), oldest
/// first, none before `start`. A date not yet due is never checked: its run may still be going.
pub fn due_dates(window: &Window) -> Vec<Date> {
    let mut newest = date_of(window.now_secs);
    while due_at(newest, window.due_after_secs) > window.now_secs {
        newest = newest.add_days(-1);
    }
    (0..i64::from(window.lookback_days.max(1)))
        .rev()
        .map(|back| newest.add_days(-back))
        .filter(|d| window.start.is_none_or(|s| *d >= s))
        .collect()
}

/// `2026-11-21 10:00 UTC`.
pub fn format_utc(secs: i64) -> String {
    let rem = secs.rem_euclid(DAY_SECS);
    format!(
        "{} {:02}:{:02} UTC",
        date_of(secs),
        rem / 3600,
        rem / 60 % 60
    )
}

/// `2026-11-21T10:00:00Z`, for JSON.
pub fn format_rfc3339(secs: i64) -> String {
    let rem = secs.rem_euclid(DAY_SECS);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date_of(secs),
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Parses `--now`: `YYYY-MM-DDTHH:MM:SSZ` (fractions allowed), in UTC.
pub fn parse_now(value: &str) -> Result<i64, String> {
    ingest_runtime::time::parse_iso8601_utc_micros(value.trim().as_bytes())
        .map(|micros| micros.div_euclid(1_000_000))
        .ok_or_else(|| format!("--now {value:?}: expected a UTC time YYYY-MM-DDTHH:MM:SSZ"))
}

/// "3 h 20 min", for "late since".
pub fn format_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (days, hours, minutes) = (secs / DAY_SECS, secs % DAY_SECS / 3600, secs % 3600 / 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn at(s: &str) -> i64 {
        parse_now(s).unwrap()
    }

    fn window(now: &str, lookback_days: u32, start: Option<&str>) -> Window {
        Window {
            now_secs: at(now),
            lookback_days,
            due_after_secs: i64::from(DEFAULT_DUE_AFTER_HOURS) * 3600,
            start: start.map(date),
        }
    }

    #[test]
    fn a_date_is_due_ten_hours_after_its_day_ends() {
        assert_eq!(
            due_at(date("2026-11-20"), 10 * 3600),
            at("2026-11-21T10:00:00Z")
        );
        // Across a month and a year.
        assert_eq!(due_at(date("2026-12-31"), 0), at("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn the_window_holds_the_newest_due_dates_only() {
        // One second before 2026-11-29 is due: the newest due date is the 28th.
        let w = window("2026-11-30T09:59:59Z", 3, None);
        assert_eq!(
            due_dates(&w),
            [date("2026-11-26"), date("2026-11-27"), date("2026-11-28")]
        );
        // At its due time it is in.
        let w = window("2026-11-30T10:00:00Z", 3, None);
        assert_eq!(
            due_dates(&w),
            [date("2026-11-27"), date("2026-11-28"), date("2026-11-29")]
        );
        // Just after midnight, the day that just ended is far from due.
        let w = window("2026-11-30T00:05:00Z", 1, None);
        assert_eq!(due_dates(&w), [date("2026-11-28")]);
    }

    #[test]
    fn a_due_time_over_a_day_reaches_further_back() {
        let w = Window {
            due_after_secs: 30 * 3600,
            ..window("2026-11-30T05:00:00Z", 2, None)
        };
        // 2026-11-28 is due 2026-11-30 06:00: not yet; 2026-11-27 is.
        assert_eq!(due_dates(&w), [date("2026-11-26"), date("2026-11-27")]);
    }

    #[test]
    fn nothing_before_the_start_date() {
        let w = window("2026-11-03T12:00:00Z", 5, Some("2026-11-01"));
        assert_eq!(due_dates(&w), [date("2026-11-01"), date("2026-11-02")]);
        let w = window("2026-11-03T12:00:00Z", 5, Some("2026-11-03"));
        assert!(due_dates(&w).is_empty());
    }

    #[test]
    fn times_format_and_parse() {
        let t = at("2026-11-21T10:05:09.123Z");
        assert_eq!(format_utc(t), "2026-11-21 10:05 UTC");
        assert_eq!(format_rfc3339(t), "2026-11-21T10:05:09Z");
        assert!(parse_now("2026-11-21 10:00").unwrap_err().contains("--now"));
        assert_eq!(format_duration(3 * 3600 + 20 * 60), "3 h 20 min");
        assert_eq!(format_duration(59), "0 min");
        assert_eq!(format_duration(2 * DAY_SECS + 3600), "2 d 1 h");
    }
}
