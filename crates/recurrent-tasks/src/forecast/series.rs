//! Time series from CSV files: named value columns, an optional date column, and the
//! policy for missing dates.
//!
//! The reader accepts comma-separated files with a header row, double-quoted or bare fields
//! (`""` inside quotes is a quote), CRLF or LF line ends and an optional UTF-8 BOM. Every
//! problem is an error naming the file, the line (1-based, the header is line 1), the
//! column and what to do:
//! - a `--column` or `--date-column` that is not in the header (the error lists the header);
//! - a row with more or fewer fields than the header (ragged);
//! - a cell that is not a number, or an infinite one;
//! - a date that does not parse, dates written in two forms, or dates that do not increase.
//!
//! Missing values are what [`Fill`] repairs: a missing date (a daily series without
//! 1984-12-31; a trading-day series without a weekday holiday) and a cell that is empty,
//! `NA`, `N/A`, `null` or `NaN`. `interpolate` (the default) draws a straight line between
//! the neighbouring values of the column, `forward` repeats the previous one (a missing
//! first value takes the first one given, in both), `none` makes each an error naming its
//! line and column. Each repair is reported through the `notice` callback (the CLI prints it
//! on stderr): the first few by name, then one line with the count.
//!
//! Dates are read in every form of [`super::calendar`]. A series whose dates increase but
//! not by whole steps of one spacing (or whose gaps would add more rows than it has) is
//! irregular: it steps by row, without dates, and a notice says so.

use recurrent::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use super::calendar::{infer_freq, Date, Freq, Written};

/// What to do about missing values: missing dates and empty, `NA` or `NaN` cells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill {
    /// A straight line between the neighbouring values.
    #[default]
    Interpolate,
    /// The previous value repeated.
    Forward,
    /// A missing value is an error.
    None,
}

impl Fill {
    /// How a repair was made, for notices.
    fn how(&self) -> &'static str {
        match self {
            Fill::Forward => "repeating the previous value",
            _ => "linear interpolation",
        }
    }
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
    parse_series(&read_text(path)?, path, spec, notice)
}

/// The text of the file at `path`, which must be UTF-8 (the error names the line that is not).
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::format(
            path,
            format!("not valid UTF-8 at byte {at} (line {line}): save the file as UTF-8"),
        )
    })
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
    series_from_rows(&header, &rows, path, spec, notice)
}

/// Builds a series from the rows of a table read by [`read_table`] (all of the file's, or
/// one id's rows of a panel): `rows` keep their file lines, so errors and repairs name them.
pub(crate) fn series_from_rows(
    header: &[String],
    rows: &[(usize, Vec<String>)],
    path: &Path,
    spec: &SeriesSpec,
    notice: &mut dyn FnMut(&str),
) -> Result<Series> {
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
        None => first_is_date(header, rows).filter(|_| !value_idx.contains(&0)),
    };
    if let Some(d) = date_idx {
        if value_idx.contains(&d) {
            return Err(Error::Config(format!(
                "column `{}` is both the date column and a value column",
                header[d]
            )));
        }
    }
    let values = read_values(rows, header, &value_idx, path)?;
    let columns: Vec<String> = value_idx.iter().map(|&j| header[j].clone()).collect();
    let mut series = Series {
        columns,
        values,
        dates: None,
        date_column: None,
        freq: None,
        filled: Vec::new(),
    };
    let file_lines: Vec<usize> = rows.iter().map(|(n, _)| *n).collect();
    let mut lines: Vec<Option<usize>> = file_lines.iter().map(|&l| Some(l)).collect();
    if let Some(d) = date_idx {
        let dates = read_dates(rows, d, &header[d], path)?;
        series.date_column = Some(header[d].clone());
        match infer_freq(&dates) {
            None => series.dates = Some(dates),
            Some(freq) => {
                lines = fill_gaps(
                    &mut series,
                    dates,
                    freq,
                    &file_lines,
                    spec.fill,
                    path,
                    notice,
                )?;
            }
        }
    }
    let line = |i: usize| lines.get(i).copied().flatten();
    fill_missing(
        &mut series.values,
        &series.columns,
        spec.fill,
        &line,
        path,
        notice,
    )?;
    Ok(series)
}

/// Column 0, when it can be the date column without being asked for: the file has another
/// column, and its first cell is a date.
pub(crate) fn first_is_date(header: &[String], rows: &[(usize, Vec<String>)]) -> Option<usize> {
    (header.len() > 1 && rows.first().is_some_and(|r| Date::parse(&r.1[0]).is_some())).then_some(0)
}

/// The columns `--all-columns` forecasts, in file order: every column of the CSV `text`
/// (of the file `path`, which errors name) but the date column (`date_column`, or the first column when its first cell is a
/// date) whose cells are all numbers or missing; and, apart, the columns left out for
/// holding text (a ticker, a name).
pub fn value_columns(
    text: &str,
    path: &Path,
    date_column: Option<&str>,
) -> Result<(Vec<String>, Vec<String>)> {
    let (header, rows) = read_table(text, path)?;
    let date = match date_column {
        Some(d) => Some(header.iter().position(|h| h == d).ok_or_else(|| {
            Error::format(
                path,
                format!("line 1: no column `{d}` (given by --date-column)"),
            )
        })?),
        None => first_is_date(&header, &rows),
    };
    let numeric = |j: usize| {
        rows.iter().all(|(_, f)| {
            let c = f[j].trim();
            is_missing(c) || c.parse::<f64>().is_ok()
        })
    };
    let (mut values, mut text) = (Vec::new(), Vec::new());
    for (j, h) in header.iter().enumerate().filter(|(j, _)| Some(*j) != date) {
        if numeric(j) {
            values.push(h.clone());
        } else {
            text.push(h.clone());
        }
    }
    Ok((values, text))
}

/// A table as (trimmed header, rows of (line number, fields)), each row as wide as the
/// header; blank lines skipped (a final newline, or none, is fine).
#[allow(clippy::type_complexity)]
pub(crate) fn read_table(
    text: &str,
    path: &Path,
) -> Result<(Vec<String>, Vec<(usize, Vec<String>)>)> {
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

/// The value columns `value_idx` of every row, row-major; a missing cell is NaN (filled
/// later by [`fill_missing`]), every other cell a finite number.
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
            if is_missing(cell) {
                values.push(f64::NAN);
                continue;
            }
            let v: f64 = cell
                .parse()
                .map_err(|_| Error::format(path, format!("{}: `{cell}` is not a number", at())))?;
            if v.is_infinite() {
                return Err(Error::format(
                    path,
                    format!(
                        "{}: {cell} is not a finite number: remove or repair the row",
                        at()
                    ),
                ));
            }
            if v.abs() > MAX_VALUE {
                return Err(Error::format(
                    path,
                    format!(
                        "{}: {cell} is too large: values up to {MAX_VALUE:e} in magnitude are read \
                         (the scaler squares them); rescale the column (e.g. divide by a power of ten)",
                        at()
                    ),
                ));
            }
            values.push(v);
        }
    }
    Ok(values)
}

/// Whether a cell stands for a missing value.
fn is_missing(cell: &str) -> bool {
    cell.is_empty()
        || ["na", "n/a", "nan", "null", "none", "?"]
            .iter()
            .any(|m| cell.eq_ignore_ascii_case(m))
}

/// How many repairs are named one by one before a summary line.
const NAMED_REPAIRS: usize = 5;

/// Fills the NaN cells of `values` ([rows, width]) by `fill`. `line(i)` is the file line of
/// row i (None for a row inserted for a missing date, whose repair was already reported).
fn fill_missing(
    values: &mut [f64],
    columns: &[String],
    fill: Fill,
    line: &dyn Fn(usize) -> Option<usize>,
    path: &Path,
    notice: &mut dyn FnMut(&str),
) -> Result<()> {
    let width = columns.len();
    let rows = values.len() / width.max(1);
    let mut named = 0usize;
    let mut cells = 0usize;
    for j in 0..width {
        let at = |i: usize| values[i * width + j];
        let known: Vec<usize> = (0..rows).filter(|&i| !at(i).is_nan()).collect();
        let Some(&first) = known.first() else {
            return Err(Error::format(
                path,
                format!(
                    "column `{}` has no value: every cell is empty or missing",
                    columns[j]
                ),
            ));
        };
        let missing: Vec<usize> = (0..rows).filter(|&i| at(i).is_nan()).collect();
        for &i in &missing {
            let Some(l) = line(i) else { continue };
            if fill == Fill::None {
                return Err(Error::format(
                    path,
                    format!(
                        "line {l}, column `{}`: missing value (--fill none); use --fill interpolate \
                         or --fill forward to fill it, or repair the cell",
                        columns[j]
                    ),
                ));
            }
            cells += 1;
            if named < NAMED_REPAIRS {
                named += 1;
                notice(&format!(
                    "{}: line {l}, column `{}`: missing value filled by {}",
                    path.display(),
                    columns[j],
                    fill.how()
                ));
            }
        }
        // Between known rows a and b: a straight line, or a's value; before the first known
        // row, its value.
        let mut prev: Option<usize> = None;
        for &k in &known {
            let from = prev.map_or(0, |p| p + 1);
            for i in from..k {
                values[i * width + j] = match (prev, fill) {
                    (None, _) => values[first * width + j],
                    (Some(p), Fill::Forward) => values[p * width + j],
                    (Some(p), _) => {
                        let (a, b) = (values[p * width + j], values[k * width + j]);
                        a + (b - a) * (i - p) as f64 / (k - p) as f64
                    }
                };
            }
            prev = Some(k);
        }
        if let Some(p) = prev {
            for i in p + 1..rows {
                values[i * width + j] = values[p * width + j];
            }
        }
    }
    if cells > named {
        notice(&format!(
            "{}: {cells} missing values in all filled by {}",
            path.display(),
            fill.how()
        ));
    }
    Ok(())
}

/// The date column `d` (named `dname`) of every row, all written one way.
fn read_dates(
    rows: &[(usize, Vec<String>)],
    d: usize,
    dname: &str,
    path: &Path,
) -> Result<Vec<Date>> {
    let kind = |w: Written| std::mem::discriminant(&w);
    let mut dates = Vec::with_capacity(rows.len());
    for (n, f) in rows {
        let date = Date::parse(&f[d]).ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "line {n}, column `{dname}`: `{}` is not a date (YYYY, YYYY-Qn, YYYY-MM, YYYY-Www, \
                     YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS]); repair the cell, or name another --date-column",
                    f[d].trim()
                ),
            )
        })?;
        if let Some(d0) = dates.first() {
            let d0: &Date = d0;
            if kind(d0.written()) != kind(date.written()) {
                return Err(Error::format(
                    path,
                    format!(
                        "line {n}, column `{dname}`: `{}` is written differently from the first date ({d0}): \
                         write every date one way",
                        f[d].trim()
                    ),
                ));
            }
        }
        // Checked here, not where the gaps are filled, so that a series whose spacing gives
        // no frequency (two rows, irregular dates) is held to it too.
        if let Some(prev) = dates.last() {
            if date <= *prev {
                return Err(Error::format(
                    path,
                    format!(
                        "line {n}, column `{dname}`: {date} does not come after {prev}: \
                         sort the file by date, or remove the repeated row"
                    ),
                ));
            }
        }
        dates.push(date);
    }
    Ok(dates)
}

/// Sets the series' dates at frequency `freq`, inserting a row of missing values for each
/// missing date (filled afterwards with the cells, by `fill`). `lines[i]` is row i's line in
/// the file. A series that is irregular at `freq` keeps no dates and steps by row.
#[allow(clippy::too_many_arguments)]
fn fill_gaps(
    series: &mut Series,
    dates: Vec<Date>,
    freq: Freq,
    lines: &[usize],
    fill: Fill,
    path: &Path,
    notice: &mut dyn FnMut(&str),
) -> Result<Vec<Option<usize>>> {
    let dname = series.date_column.clone().unwrap_or_default();
    let width = series.columns.len();
    let mut steps = Vec::with_capacity(dates.len());
    let mut irregular = false;
    for i in 1..dates.len() {
        let (prev, cur) = (&dates[i - 1], &dates[i]);
        match freq.steps_between(prev, cur).filter(|&k| k >= 1) {
            Some(k) => steps.push(k),
            None => irregular = true,
        }
    }
    let inserted: i64 = steps.iter().map(|k| k - 1).sum();
    if irregular || inserted > dates.len() as i64 {
        notice(&format!(
            "{}: the dates in `{dname}` are irregular (not whole {freq} steps, or more gaps than rows): \
             the series steps by row, and forecasts are numbered by step",
            path.display()
        ));
        return Ok(lines.iter().map(|&l| Some(l)).collect());
    }
    let values = std::mem::take(&mut series.values);
    let mut out_vals = Vec::with_capacity(values.len());
    let mut out_dates = Vec::with_capacity(dates.len());
    let mut out_lines = Vec::with_capacity(dates.len());
    let mut filled = Vec::new();
    let mut gaps = 0usize;
    for i in 0..dates.len() {
        if i > 0 && steps[i - 1] > 1 {
            let (prev, cur, k) = (&dates[i - 1], &dates[i], steps[i - 1]);
            let (first, last) = (prev.add(freq, 1), prev.add(freq, k - 1));
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
            gaps += 1;
            if gaps <= NAMED_REPAIRS {
                notice(&format!(
                    "{}: missing date {what} before line {}: filled by {}",
                    path.display(),
                    lines[i],
                    fill.how()
                ));
            }
            for s in 1..k {
                filled.push(out_dates.len());
                out_dates.push(prev.add(freq, s));
                out_lines.push(None);
                out_vals.extend(std::iter::repeat_n(f64::NAN, width));
            }
        }
        out_dates.push(dates[i]);
        out_lines.push(Some(lines[i]));
        out_vals.extend_from_slice(&values[i * width..(i + 1) * width]);
    }
    if gaps > NAMED_REPAIRS {
        notice(&format!(
            "{}: {gaps} gaps in the dates in all ({} rows), filled by {}",
            path.display(),
            filled.len(),
            fill.how()
        ));
    }
    series.values = out_vals;
    series.dates = Some(out_dates);
    series.freq = Some(freq);
    series.filled = filled;
    Ok(out_lines)
}
