//! Time series from CSV files: named value columns, an optional date column, and the
//! policy for missing dates.
//!
//! The reader accepts comma-separated files with a header row, double-quoted or bare fields
//! (`""` inside quotes is a quote), CRLF or LF line ends and an optional UTF-8 BOM. Every
//! problem is an error naming the file, the line (1-based, the header is line 1), the
//! column and what to do:
//! - a `--column` or `--date-column` that is not in the header (the error lists the header);
//! - a row with more or fewer fields than the header (ragged);
//! - a cell that is empty or not a number;
//! - a NaN or infinite value: always an error, whatever `--fill` says (a NaN in the data is
//!   a fault of the data, not a missing date);
//! - a date that does not parse, or dates that do not increase at one frequency.
//!
//! Missing dates (a daily series without 1984-12-31) are the one thing [`Fill`] repairs:
//! `interpolate` (the default) inserts the missing rows by linear interpolation between the
//! neighbours, `forward` repeats the previous row, `none` makes a gap an error. Each gap
//! filled is reported through the `notice` callback (the CLI prints it on stderr).

use recurrent::calendar;
use recurrent::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A calendar date (proleptic Gregorian). `day` is None for monthly dates written `YYYY-MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Date {
    /// Year.
    pub year: i32,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of the month, or None for a `YYYY-MM` date.
    pub day: Option<u32>,
}

impl Date {
    /// Parses `YYYY-MM`, `YYYY-MM-DD` (or with `/` separators). None if it is not a date.
    pub fn parse(s: &str) -> Option<Date> {
        let s = s.trim();
        let parts: Vec<&str> = s.split(['-', '/']).collect();
        let num = |p: &str| -> Option<i64> {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        if parts.len() < 2 || parts.len() > 3 || parts[0].len() != 4 {
            return None;
        }
        let year = num(parts[0])? as i32;
        let month = num(parts[1])? as u32;
        if !(1..=12).contains(&month) {
            return None;
        }
        let day = match parts.get(2) {
            Some(d) => {
                let d = num(d)? as u32;
                if d == 0 || d > days_in_month(year, month) {
                    return None;
                }
                Some(d)
            }
            None => None,
        };
        Some(Date { year, month, day })
    }

    /// Days since 1970-01-01; a monthly date counts as its first day.
    pub fn days(&self) -> i64 {
        calendar::days_from_civil(self.year as i64, self.month, self.day.unwrap_or(1))
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        let (year, month, day) = calendar::civil_from_days(days);
        Date {
            year: year as i32,
            month,
            day: Some(day),
        }
    }

    /// Months since year 0 (for monthly arithmetic).
    fn month_index(&self) -> i64 {
        self.year as i64 * 12 + self.month as i64 - 1
    }

    /// The date `k` steps of `freq` later. Monthly steps keep the day of the month, clamped
    /// to the month's length.
    pub fn add(&self, freq: Freq, k: i64) -> Date {
        match freq {
            Freq::Days(n) => {
                let mut d = Date::from_days(self.days() + k * n as i64);
                if self.day.is_none() {
                    d.day = None;
                }
                d
            }
            Freq::Months(n) => {
                let mi = self.month_index() + k * n as i64;
                let (year, month) = (mi.div_euclid(12) as i32, (mi.rem_euclid(12) + 1) as u32);
                Date {
                    year,
                    month,
                    day: self.day.map(|d| d.min(days_in_month(year, month))),
                }
            }
        }
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.day {
            Some(d) => write!(f, "{:04}-{:02}-{:02}", self.year, self.month, d),
            None => write!(f, "{:04}-{:02}", self.year, self.month),
        }
    }
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// The spacing of a dated series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Freq {
    /// Every n days (1 daily, 7 weekly).
    Days(u32),
    /// Every n months (1 monthly, 3 quarterly, 12 yearly).
    Months(u32),
}

impl Freq {
    /// Steps of this frequency from `a` to `b`, if `b` lies a whole number of steps after
    /// (or before) `a`.
    pub fn steps_between(&self, a: &Date, b: &Date) -> Option<i64> {
        match *self {
            Freq::Days(n) => {
                let d = b.days() - a.days();
                (d % n as i64 == 0).then_some(d / n as i64)
            }
            Freq::Months(n) => {
                if a.day.is_some() && a.day != b.day {
                    return None;
                }
                let d = b.month_index() - a.month_index();
                (d % n as i64 == 0).then_some(d / n as i64)
            }
        }
    }
}

impl std::fmt::Display for Freq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Freq::Days(1) => write!(f, "daily"),
            Freq::Days(7) => write!(f, "weekly"),
            Freq::Days(n) => write!(f, "every {n} days"),
            Freq::Months(1) => write!(f, "monthly"),
            Freq::Months(3) => write!(f, "quarterly"),
            Freq::Months(12) => write!(f, "yearly"),
            Freq::Months(n) => write!(f, "every {n} months"),
        }
    }
}

/// What to do about missing dates (never about NaN cells, which are always errors).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill {
    /// Insert the missing rows, linearly interpolated between their neighbours.
    #[default]
    Interpolate,
    /// Insert the missing rows as copies of the row before the gap.
    Forward,
    /// A missing date is an error.
    None,
}

impl std::str::FromStr for Fill {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "interpolate" => Ok(Fill::Interpolate),
            "forward" => Ok(Fill::Forward),
            "none" => Ok(Fill::None),
            o => Err(Error::Config(format!(
                "--fill must be interpolate, forward or none, got `{o}`"
            ))),
        }
    }
}

/// Which columns to read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesSpec {
    /// Value columns, the forecast target first. Empty: the last column of the header.
    pub columns: Vec<String>,
    /// The date column. None: the first column, if it is not a value column and its first
    /// cell parses as a date; otherwise no dates.
    pub date_column: Option<String>,
    /// The missing-date policy.
    pub fill: Fill,
}

/// A (possibly multivariate) series read from a CSV file.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The value columns' names, the target first.
    pub columns: Vec<String>,
    /// Values, row-major [rows, columns].
    pub values: Vec<f64>,
    /// One date per row, when there is a date column.
    pub dates: Option<Vec<Date>>,
    /// The date column's name.
    pub date_column: Option<String>,
    /// The frequency of the dates.
    pub freq: Option<Freq>,
    /// Rows inserted for missing dates.
    pub filled: Vec<usize>,
}

impl Series {
    /// Rows.
    pub fn len(&self) -> usize {
        self.values.len() / self.columns.len().max(1)
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
    /// Number of value columns.
    pub fn width(&self) -> usize {
        self.columns.len()
    }
    /// Column `j` as a vector.
    pub fn column(&self, j: usize) -> Vec<f64> {
        let w = self.width();
        self.values.iter().skip(j).step_by(w).copied().collect()
    }
    /// The target (first) column.
    pub fn target(&self) -> Vec<f64> {
        self.column(0)
    }
    /// The date `k` steps after the last row (k >= 1), if the series is dated.
    pub fn date_after(&self, k: usize) -> Option<Date> {
        let (dates, freq) = (self.dates.as_ref()?, self.freq?);
        Some(dates.last()?.add(freq, k as i64))
    }
    /// A univariate series without dates (tests, library users).
    pub fn from_values(name: &str, values: Vec<f64>) -> Series {
        Series {
            columns: vec![name.to_string()],
            values,
            dates: None,
            date_column: None,
            freq: None,
            filled: Vec::new(),
        }
    }
}

/// Reads a series from a CSV file (see the module docs for the errors).
pub fn read_series(path: &Path, spec: &SeriesSpec, notice: &mut dyn FnMut(&str)) -> Result<Series> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        Error::format(
            path,
            format!(
                "not valid UTF-8 at byte {} (line {line}): save the file as UTF-8",
                e.valid_up_to()
            ),
        )
    })?;
    parse_series(text, path, spec, notice)
}

/// Splits one CSV line into fields. `line_no` is for messages.
fn split_fields(line: &str, path: &Path, line_no: usize) -> Result<Vec<String>> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && cur.trim().is_empty() && !was_quoted {
            cur.clear();
            quoted = true;
            was_quoted = true;
        } else if c == ',' {
            fields.push(std::mem::take(&mut cur));
            was_quoted = false;
        } else {
            cur.push(c);
        }
    }
    if quoted {
        return Err(Error::format(
            path,
            format!("line {line_no}: a quoted field is not closed (quotes inside a field are written \"\")"),
        ));
    }
    fields.push(cur);
    Ok(fields)
}

/// Parses CSV text (see [`read_series`]); `path` is only for messages.
pub fn parse_series(
    text: &str,
    path: &Path,
    spec: &SeriesSpec,
    notice: &mut dyn FnMut(&str),
) -> Result<Series> {
    let (header, rows) = read_table(text, path)?;
    let find = |name: &str, flag: &str| -> Result<usize> {
        header.iter().position(|h| h == name).ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "line 1: no column `{name}` (given by {flag}); the header has: {}",
                    header
                        .iter()
                        .map(|h| format!("`{h}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    };
    let value_idx: Vec<usize> = if spec.columns.is_empty() {
        vec![header.len() - 1]
    } else {
        spec.columns
            .iter()
            .map(|c| find(c, "--column"))
            .collect::<Result<_>>()?
    };
    let date_idx = match &spec.date_column {
        Some(d) => Some(find(d, "--date-column")?),
        None => {
            (header.len() > 1 && !value_idx.contains(&0) && Date::parse(&rows[0].1[0]).is_some())
                .then_some(0)
        }
    };
    if let Some(d) = date_idx {
        if value_idx.contains(&d) {
            return Err(Error::Config(format!(
                "column `{}` is both the date column and a value column",
                header[d]
            )));
        }
    }
    let values = read_values(&rows, &header, &value_idx, path)?;
    let columns: Vec<String> = value_idx.iter().map(|&j| header[j].clone()).collect();
    let mut series = Series {
        columns,
        values,
        dates: None,
        date_column: None,
        freq: None,
        filled: Vec::new(),
    };
    let Some(d) = date_idx else {
        return Ok(series);
    };
    let dates = read_dates(&rows, d, &header[d], path)?;
    series.date_column = Some(header[d].clone());
    match infer_freq(&dates) {
        None => series.dates = Some(dates),
        Some(freq) => {
            let lines: Vec<usize> = rows.iter().map(|(n, _)| *n).collect();
            fill_gaps(&mut series, dates, freq, &lines, spec.fill, path, notice)?;
        }
    }
    Ok(series)
}

/// A table as (trimmed header, rows of (line number, fields)), each row as wide as the
/// header; blank lines skipped (a final newline, or none, is fine).
#[allow(clippy::type_complexity)]
fn read_table(text: &str, path: &Path) -> Result<(Vec<String>, Vec<(usize, Vec<String>)>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header_line) = lines.next().ok_or_else(|| {
        Error::format(
            path,
            "the file is empty: a CSV file with a header row and one row per time step is needed",
        )
    })?;
    let header: Vec<String> = split_fields(header_line, path, 1)?
        .into_iter()
        .map(|h| h.trim().to_string())
        .collect();
    // A file without a header would lose its first row to it, silently, and name its
    // columns after numbers: a header of numbers and dates only is data.
    let is_data = |h: &String| h.parse::<f64>().is_ok() || Date::parse(h).is_some();
    if header.iter().all(is_data) {
        return Err(Error::format(
            path,
            format!(
                "line 1 ({}) is data, not a header: add a first row naming the columns \
                 (for example `date,value`)",
                recurrent::error::quote(header_line)
            ),
        ));
    }
    let rows: Vec<(usize, Vec<String>)> = lines
        .map(|(n, l)| split_fields(l, path, n).map(|f| (n, f)))
        .collect::<Result<_>>()?;
    if rows.is_empty() {
        return Err(Error::format(
            path,
            "the file has a header but no data rows",
        ));
    }
    for (n, f) in &rows {
        if f.len() != header.len() {
            return Err(Error::format(
                path,
                format!(
                    "line {n}: {} fields, but the header has {}: every row needs one value per column",
                    f.len(),
                    header.len()
                ),
            ));
        }
    }
    Ok((header, rows))
}

/// The largest magnitude a value may have: the scaler sums squares, and 1e150 squared
/// times any row count a file can hold stays finite (1e308 once trained on NaN).
pub const MAX_VALUE: f64 = 1e150;

/// The value columns `value_idx` of every row, row-major; each cell a finite number.
fn read_values(
    rows: &[(usize, Vec<String>)],
    header: &[String],
    value_idx: &[usize],
    path: &Path,
) -> Result<Vec<f64>> {
    let mut values = Vec::with_capacity(rows.len() * value_idx.len());
    for (n, f) in rows {
        for &j in value_idx {
            let cell = f[j].trim();
            let at = || format!("line {n}, column `{}`", header[j]);
            if cell.is_empty() {
                return Err(Error::format(
                    path,
                    format!("{}: empty cell: every row needs a number here (remove the row, or fill it in)", at()),
                ));
            }
            let v: f64 = cell
                .parse()
                .map_err(|_| Error::format(path, format!("{}: `{cell}` is not a number", at())))?;
            if v.is_finite() && v.abs() > MAX_VALUE {
                return Err(Error::format(
                    path,
                    format!(
                        "{}: {cell} is too large: values up to {MAX_VALUE:e} in magnitude are read \
                         (the scaler squares them); rescale the column (e.g. divide by a power of ten)",
                        at()
                    ),
                ));
            }
            if !v.is_finite() {
                return Err(Error::format(
                    path,
                    format!(
                        "{}: {cell} is not a finite number; NaN and infinite values are always errors \
                         (--fill only covers missing dates): remove or repair the row",
                        at()
                    ),
                ));
            }
            values.push(v);
        }
    }
    Ok(values)
}

/// The date column `d` (named `dname`) of every row, all of one form.
fn read_dates(
    rows: &[(usize, Vec<String>)],
    d: usize,
    dname: &str,
    path: &Path,
) -> Result<Vec<Date>> {
    let mut dates = Vec::with_capacity(rows.len());
    for (n, f) in rows {
        let date = Date::parse(&f[d]).ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "line {n}, column `{dname}`: `{}` is not a date (YYYY-MM or YYYY-MM-DD); \
                     repair the cell, or name another --date-column",
                    f[d].trim()
                ),
            )
        })?;
        if dates
            .first()
            .is_some_and(|d0: &Date| d0.day.is_some() != date.day.is_some())
        {
            return Err(Error::format(
                path,
                format!(
                    "line {n}, column `{dname}`: `{}` mixes YYYY-MM and YYYY-MM-DD dates",
                    f[d].trim()
                ),
            ));
        }
        dates.push(date);
    }
    Ok(dates)
}

/// Sets the series' dates at frequency `freq`, inserting the missing ones (and their
/// values) by the policy `fill`. `lines[i]` is row i's line in the file.
#[allow(clippy::too_many_arguments)]
fn fill_gaps(
    series: &mut Series,
    dates: Vec<Date>,
    freq: Freq,
    lines: &[usize],
    fill: Fill,
    path: &Path,
    notice: &mut dyn FnMut(&str),
) -> Result<()> {
    let dname = series.date_column.clone().unwrap_or_default();
    let width = series.columns.len();
    let values = std::mem::take(&mut series.values);
    let mut out_vals = Vec::with_capacity(values.len());
    let mut out_dates = Vec::with_capacity(dates.len());
    let mut filled = Vec::new();
    for i in 0..dates.len() {
        if i > 0 {
            let (prev, cur) = (&dates[i - 1], &dates[i]);
            let k = freq.steps_between(prev, cur).filter(|&k| k >= 1).ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "line {}, column `{dname}`: {cur} does not follow {prev} at the series' {freq} frequency \
                         (dates must increase by whole steps): sort the file or remove the row",
                        lines[i]
                    ),
                )
            })?;
            if k > 1 {
                let first = prev.add(freq, 1);
                let last = prev.add(freq, k - 1);
                let what = if k == 2 {
                    format!("{first}")
                } else {
                    format!("{first} .. {last} ({} dates)", k - 1)
                };
                if fill == Fill::None {
                    return Err(Error::format(
                        path,
                        format!(
                            "line {}: missing date {what} before {cur} (--fill none); \
                             use --fill interpolate or --fill forward to fill gaps",
                            lines[i]
                        ),
                    ));
                }
                notice(&format!(
                    "{}: missing date {what} before line {}: filled by {}",
                    path.display(),
                    lines[i],
                    if fill == Fill::Forward {
                        "repeating the previous row"
                    } else {
                        "linear interpolation"
                    }
                ));
                for s in 1..k {
                    filled.push(out_dates.len());
                    out_dates.push(prev.add(freq, s));
                    let a = &values[(i - 1) * width..i * width];
                    let b = &values[i * width..(i + 1) * width];
                    let frac = s as f64 / k as f64;
                    for j in 0..width {
                        out_vals.push(if fill == Fill::Forward {
                            a[j]
                        } else {
                            a[j] + (b[j] - a[j]) * frac
                        });
                    }
                }
            }
        }
        out_dates.push(dates[i]);
        out_vals.extend_from_slice(&values[i * width..(i + 1) * width]);
    }
    series.values = out_vals;
    series.dates = Some(out_dates);
    series.freq = Some(freq);
    series.filled = filled;
    Ok(())
}

/// The most common spacing between consecutive dates: months when every date falls on the
/// same day of the month (or has no day), days otherwise. None for fewer than two dates.
fn infer_freq(dates: &[Date]) -> Option<Freq> {
    if dates.len() < 2 {
        return None;
    }
    let monthly = dates.iter().all(|d| d.day == dates[0].day);
    let mut counts: std::collections::BTreeMap<i64, usize> = Default::default();
    for w in dates.windows(2) {
        let d = if monthly {
            w[1].month_index() - w[0].month_index()
        } else {
            w[1].days() - w[0].days()
        };
        if d > 0 {
            *counts.entry(d).or_default() += 1;
        }
    }
    // The most common positive step; ties go to the smaller one.
    let (&step, _) = counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))?;
    let step = u32::try_from(step).ok()?;
    Some(if monthly {
        Freq::Months(step)
    } else {
        Freq::Days(step)
    })
}
