//! The result of each check, the table on stdout and the JSON line for machines.

use serde::Serialize;

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Present and working.
    Ok,
    /// Works, but looks wrong (e.g. an S3 prefix with no objects); does not fail the check.
    Warn,
    /// Missing, denied or invalid: fix the deployment (exit 2).
    Fail,
    /// Could not be checked because a service did not answer (exit 4 unless something failed).
    Unavailable,
    /// Not checked (turned off by a flag).
    Skipped,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Unavailable => "UNAVAILABLE",
            Status::Skipped => "skipped",
        }
    }
}

/// One line of the report. No field ever holds a secret value: targets are Secret and key names,
/// secret ids, S3 URLs; details are key names, error codes and messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    /// What kind of check: `secret-key`, `sync`, `aws-secret`, `s3-list`, `warehouse`, `webhook`.
    pub check: &'static str,
    pub target: String,
    /// The jobs that need it.
    pub jobs: String,
    pub status: Status,
    pub detail: String,
}

impl Row {
    pub fn new(
        check: &'static str,
        target: impl Into<String>,
        jobs: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
    ) -> Row {
        Row {
            check,
            target: target.into(),
            jobs: jobs.into(),
            status,
            detail: detail.into(),
        }
    }
}

/// Exit codes (the jobs' contract): 0 all present; 2 something missing, denied or invalid;
/// 4 nothing missing but a service was unavailable.
pub fn exit_code(rows: &[Row]) -> u8 {
    if rows.iter().any(|r| r.status == Status::Fail) {
        2
    } else if rows.iter().any(|r| r.status == Status::Unavailable) {
        4
    } else {
        0
    }
}

/// One-line verdict under the table.
pub fn verdict(rows: &[Row]) -> String {
    let count = |s| rows.iter().filter(|r| r.status == s).count();
    let (failed, unavailable) = (count(Status::Fail), count(Status::Unavailable));
    let checked = rows.iter().filter(|r| r.status != Status::Skipped).count();
    match exit_code(rows) {
        0 => format!(
            "preflight passed: {checked} checks ok{}",
            match count(Status::Warn) {
                0 => String::new(),
                n => format!(", {n} with warnings"),
            }
        ),
        code => format!(
            "preflight FAILED (exit {code}): {failed} missing or denied, {unavailable} unavailable, of {checked} checks"
        ),
    }
}

/// The table: one row per check, columns aligned, long details wrapped under their column.
pub fn table(rows: &[Row]) -> String {
    let headers = ["CHECK", "TARGET", "JOBS", "RESULT", "DETAIL"];
    let cells: Vec<[&str; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.check,
                r.target.as_str(),
                r.jobs.as_str(),
                r.status.label(),
                r.detail.as_str(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: [&str; 5]| {
        let mut out = String::new();
        for (i, cell) in row.iter().enumerate().take(4) {
            out.push_str(cell);
            out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
        }
        out.push_str(row[4]);
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers);
    for row in cells {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_table() {
        let mut rows = vec![
            Row::new("secret-key", "s/a", "all", Status::Ok, "A"),
            Row::new("s3-list", "s3://b/p", "push-logs", Status::Warn, "empty"),
        ];
        assert_eq!(exit_code(&rows), 0);
        assert_eq!(
            verdict(&rows),
            "preflight passed: 2 checks ok, 1 with warnings"
        );
        rows.push(Row::new(
            "webhook",
            "w",
            "-",
            Status::Unavailable,
            "timeout",
        ));
        assert_eq!(exit_code(&rows), 4);
        rows.push(Row::new(
            "secret-key",
            "s/b",
            "all",
            Status::Fail,
            "missing",
        ));
        assert_eq!(exit_code(&rows), 2);
        let table = table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("CHECK       TARGET    JOBS       RESULT"));
        assert!(lines[4].starts_with("secret-key  s/b       all        FAIL         missing"));
    }
}
