//! The nightly license metadata export: one CSV file per date, `<prefix>/licenses-<date>.csv`.
//!
//! Columns customerid, company, email, stripeid, licenseid, issuedat, expiresat, number, with
//! issuedat and expiresat in epoch milliseconds. RFC 4180: a field is quoted when it contains a
//! comma, a double quote, CR or LF (or starts or ends with a space), and quotes inside are
//! doubled. The header order can differ between exports (`shuffle_columns`), and some exports
//! start with a UTF-8 byte order mark (`bom`). About 2% of rows repeat an earlier row exactly
//! (downstream de-duplicates on licenseid, issuedat, expiresat).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::date::Date;
use crate::output::{FileWritten, Written, create_parent};
use crate::rng::{ALNUM, Rng, derive, hash_bytes, mattermost_id};

pub const COLUMNS: [&str; 8] = [
    "customerid",
    "company",
    "email",
    "stripeid",
    "licenseid",
    "issuedat",
    "expiresat",
    "number",
];

#[derive(Clone, Debug)]
pub struct LicenseOptions {
    pub date: Date,
    /// Key prefix inside the output directory.
    pub prefix: String,
    pub rows: u64,
    pub seed: u64,
    /// Write the header in a different (deterministic) column order.
    pub shuffle_columns: bool,
    /// Start the file with a UTF-8 byte order mark.
    pub bom: bool,
    /// End lines with CRLF (RFC 4180) instead of LF.
    pub crlf: bool,
    /// Put a line break inside some quoted company names (legal in RFC 4180).
    pub embedded_newlines: bool,
}

impl LicenseOptions {
    pub fn new(date: Date) -> LicenseOptions {
        LicenseOptions {
            date,
            prefix: "licenses".into(),
            rows: 500,
            seed: 1,
            shuffle_columns: false,
            bom: false,
            crlf: false,
            embedded_newlines: false,
        }
    }

    fn prefix(&self) -> &str {
        self.prefix.trim_matches('/')
    }

    /// `<prefix>/licenses-<date>.csv`.
    pub fn key(&self) -> String {
        let p = self.prefix();
        if p.is_empty() {
            format!("licenses-{}.csv", self.date)
        } else {
            format!("{p}/licenses-{}.csv", self.date)
        }
    }

    fn base_seed(&self) -> u64 {
        let args = format!("licenses|{}|{}", self.date, self.prefix());
        hash_bytes(self.seed, args.as_bytes())
    }

    /// The header order of the file: [`COLUMNS`] or a fixed shuffle of it.
    pub fn column_order(&self) -> Vec<&'static str> {
        let mut cols = COLUMNS.to_vec();
        if self.shuffle_columns {
            let mut rng = Rng::new(derive(self.base_seed(), u64::MAX));
            rng.shuffle(&mut cols);
            if cols == COLUMNS {
                cols.rotate_left(3);
            }
        }
        cols
    }
}

/// One row, as the export holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct License {
    pub customerid: String,
    pub company: String,
    /// Empty when unknown.
    pub email: String,
    /// Empty for customers who never paid by card.
    pub stripeid: String,
    pub licenseid: String,
    pub issuedat: i64,
    pub expiresat: i64,
    /// Licensed seats.
    pub number: u64,
}

impl License {
    /// The value of a column by name.
    pub fn get(&self, column: &str) -> String {
        match column {
            "customerid" => self.customerid.clone(),
            "company" => self.company.clone(),
            "email" => self.email.clone(),
            "stripeid" => self.stripeid.clone(),
            "licenseid" => self.licenseid.clone(),
            "issuedat" => self.issuedat.to_string(),
            "expiresat" => self.expiresat.to_string(),
            "number" => self.number.to_string(),
            _ => String::new(),
        }
    }
}

const COMPANIES: &[&str] = &[
    "Acme, Inc.",
    "\"Quoted\" Systems LLC",
    "Smith & Wesson Consulting, Ltd.",
    "O'Reilly Data",
    "Big \"Data\", Corp",
    "Müller Logistik GmbH",
    "株式会社サンプル",
    "Globex",
    "Initech",
    "Umbrella Corporation",
    "Stark Industries",
    "Wayne Enterprises",
    "Hooli",
    "Vandelay Industries, \"Import/Export\"",
    "Cyberdyne Systems",
    "Tyrell Corporation",
    "Soylent Corp.",
    "Aperture Science; Labs",
    "Blue Sun, S.A. de C.V.",
    "Oceanic Airlines",
];

const SUFFIXES: &[&str] = &[
    "",
    "",
    "",
    " Holdings",
    ", Inc.",
    " (EMEA)",
    " - Federal",
    " Labs",
];

const DAY_MS: i64 = 86_400_000;

struct Customer {
    id: String,
    company: String,
    email: String,
    stripe: String,
}

fn customer(base: u64, n: u64, embedded_newlines: bool) -> Customer {
    let mut r = Rng::new(derive(base, (1 << 40) + n));
    let mut company = format!("{}{}", r.pick(COMPANIES), r.pick(SUFFIXES));
    if r.chance(1_500) {
        company.push_str(&format!(" #{}", r.range(2, 99)));
    }
    if embedded_newlines && r.chance(1_000) {
        company = company.replacen(' ', "\n", 1);
    }
    let slug: String = company
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(14)
        .collect::<String>()
        .to_ascii_lowercase();
    let slug = if slug.is_empty() {
        format!("customer{n}")
    } else {
        slug
    };
    let email = match r.below(100) {
        0..=7 => String::new(),
        8..=14 => format!("IT-Admin+mattermost@{slug}.example.com"),
        _ => format!(
            "{}@{slug}.example.com",
            r.pick(&["admin", "billing", "it", "ops"])
        ),
    };
    let stripe = if r.chance(1_000) {
        String::new()
    } else {
        format!("cus_{}", r.chars(ALNUM, 14))
    };
    Customer {
        id: mattermost_id(&mut r),
        company,
        email,
        stripe,
    }
}

/// The rows of the export, in file order.
pub fn generate_rows(opts: &LicenseOptions) -> Vec<License> {
    let base = opts.base_seed();
    let mut rng = Rng::new(base);
    let customers = (opts.rows / 3).max(1);
    // The export for a date is written at the end of the previous day.
    let export_ms = (opts.date.epoch_seconds() - 3_600) * 1000;
    let mut rows: Vec<License> = Vec::with_capacity(opts.rows as usize);
    while (rows.len() as u64) < opts.rows {
        if !rows.is_empty() && rng.chance(200) {
            // An exact repeat of an earlier row.
            let i = rng.below(rows.len() as u64) as usize;
            rows.push(rows[i].clone());
            continue;
        }
        if rng.chance(500)
            && let Some(prev) = rows.last()
        {
            // A renewal: same customer and license id, a new term starting near the old end.
            let issuedat = prev.expiresat - rng.range(0, 30 * DAY_MS as u64) as i64;
            if issuedat < export_ms {
                let renewed = License {
                    issuedat,
                    expiresat: issuedat + 365 * DAY_MS,
                    ..prev.clone()
                };
                rows.push(renewed);
                continue;
            }
        }
        let c = customer(base, rng.below(customers), opts.embedded_newlines);
        let issuedat = export_ms - rng.range(DAY_MS as u64, 3 * 365 * DAY_MS as u64) as i64;
        let term_days: i64 = rng.weighted(&[(70, 365), (18, 30), (8, 730), (4, 1_095)]);
        let number = rng.weighted(&[
            (10, 10),
            (20, 25),
            (20, 50),
            (20, 100),
            (12, 250),
            (8, 500),
            (6, 1_000),
            (3, 5_000),
            (1, 20_000),
        ]);
        let licenseid = mattermost_id(&mut rng);
        rows.push(License {
            customerid: c.id,
            company: c.company,
            email: c.email,
            stripeid: c.stripe,
            licenseid,
            issuedat,
            expiresat: issuedat + term_days * DAY_MS,
            number,
        });
    }
    rows
}

/// Appends one CSV field, quoted when RFC 4180 requires it.
pub fn push_field(out: &mut String, value: &str) {
    let needs_quotes =
        value.contains([',', '"', '\r', '\n']) || value.starts_with(' ') || value.ends_with(' ');
    if needs_quotes {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// Renders the whole file.
pub fn render(opts: &LicenseOptions, rows: &[License]) -> String {
    let cols = opts.column_order();
    let eol = if opts.crlf { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(rows.len() * 160 + 100);
    if opts.bom {
        out.push('\u{feff}');
    }
    out.push_str(&cols.join(","));
    out.push_str(eol);
    for row in rows {
        for (i, col) in cols.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_field(&mut out, &row.get(col));
        }
        out.push_str(eol);
    }
    out
}

/// Writes `<out_dir>/<prefix>/licenses-<date>.csv`.
pub fn write_day(opts: &LicenseOptions, out_dir: &Path) -> io::Result<Written> {
    let rows = generate_rows(opts);
    let text = render(opts, &rows);
    let key = opts.key();
    let path = create_parent(out_dir, &key)?;
    let mut w = BufWriter::new(File::create(&path)?);
    w.write_all(text.as_bytes())?;
    w.flush()?;
    let bytes = text.len() as u64;
    Ok(Written {
        kind: "licenses",
        source_prefix: opts.prefix().to_string(),
        files: vec![FileWritten {
            key,
            rows: rows.len() as u64,
            malformed_rows: 0,
            bytes_uncompressed: bytes,
            bytes_compressed: bytes,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        let mut s = String::new();
        for v in ["plain", "a,b", "say \"hi\"", "line\nbreak", " pad", ""] {
            push_field(&mut s, v);
            s.push('|');
        }
        assert_eq!(
            s,
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"line\nbreak\"|\" pad\"||"
        );
    }

    #[test]
    fn shuffled_order_is_a_permutation_and_differs() {
        let mut o = LicenseOptions::new("2026-11-20".parse().unwrap());
        assert_eq!(o.column_order(), COLUMNS);
        o.shuffle_columns = true;
        let mut cols = o.column_order();
        assert_ne!(cols, COLUMNS);
        cols.sort_unstable();
        let mut want = COLUMNS.to_vec();
        want.sort_unstable();
        assert_eq!(cols, want);
    }

    #[test]
    fn rows_are_plausible() {
        let mut o = LicenseOptions::new("2026-11-20".parse().unwrap());
        o.rows = 2_000;
        let rows = generate_rows(&o);
        assert_eq!(rows.len(), 2_000);
        let export = o.date.epoch_seconds() * 1000;
        for r in &rows {
            assert!(r.issuedat < export && r.expiresat > r.issuedat, "{r:?}");
            assert_eq!(r.licenseid.len(), 26);
            assert!(r.stripeid.is_empty() || r.stripeid.starts_with("cus_"));
        }
        assert!(rows.iter().any(|r| r.company.contains(',')));
        assert!(rows.iter().any(|r| r.company.contains('"')));
        let mut keys: Vec<_> = rows
            .iter()
            .map(|r| (&r.licenseid, r.issuedat, r.expiresat))
            .collect();
        keys.sort();
        keys.dedup();
        assert!(keys.len() < rows.len(), "some rows repeat");
        assert!(keys.len() > rows.len() * 95 / 100);
    }
}
