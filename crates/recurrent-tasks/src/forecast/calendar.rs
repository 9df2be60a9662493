//! The calendar of a dated series: the forms a date cell may take, the spacing of the rows
//! ([`Freq`]), and how that spacing is found from the dates.
//!
//! A date is held as days since 1970-01-01 plus seconds into the day, and remembers how it
//! was written, so that the dates continued after a series are printed the same way:
//!
//! | written | example | stands for |
//! |---|---|---|
//! | year | `1821` | 1 January |
//! | quarter | `1959-Q1`, `1959Q1` | the quarter's first day |
//! | month | `1949-01`, `1949/01` | the month's first day |
//! | ISO week | `2020-W05` | the Monday of that week |
//! | day | `1981-01-01`, `1981/01/01` | that day |
//! | time | `2000-06-05 00:30`, `2000-06-05T00:30:00Z` | that minute or second |
//!
//! Trading-day series (no row on a Saturday or a Sunday) step in [`Freq::BusinessDays`]:
//! their gaps are the weekday holidays only, and their forecast dates skip weekends.

use recurrent::calendar;
use serde::{Deserialize, Serialize};

/// How a date cell was written (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Written {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    /// A date and a time of day; `seconds`: written with seconds, `t`: with `T` between.
    Time {
        seconds: bool,
        t: bool,
    },
}

/// A calendar date (proleptic Gregorian), possibly with a time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Date {
    /// Days since 1970-01-01.
    days: i64,
    /// Seconds after midnight.
    secs: u32,
    written: Written,
}

fn num(p: &str) -> Option<i64> {
    (!p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
        .then(|| p.parse().ok())
        .flatten()
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Day of the week, 0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday).
fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

/// The Monday of ISO week 1 of `year`: the week that holds 4 January.
fn iso_week_one(year: i64) -> i64 {
    let jan4 = calendar::days_from_civil(year, 1, 4);
    jan4 - weekday(jan4)
}

impl Date {
    /// Parses any form of the module docs' table. None if `s` is not a date.
    pub fn parse(s: &str) -> Option<Date> {
        let s = s.trim();
        // Only a cell with a colon has a time of day (`1959 Q1` has a space but no time).
        let (date, time) = match s.find([' ', 'T']).filter(|_| s.contains(':')) {
            Some(i) => (&s[..i], Some((&s[i + 1..], s.as_bytes()[i] == b'T'))),
            None => (s, None),
        };
        let mut d = Self::parse_date(date)?;
        if let Some((t, sep_t)) = time {
            if d.written != Written::Day {
                return None;
            }
            let t = t.trim().strip_suffix('Z').unwrap_or(t.trim());
            let parts: Vec<&str> = t.split(':').collect();
            if !(2..=3).contains(&parts.len()) || parts[0].len() > 2 || parts[1].len() != 2 {
                return None;
            }
            let (h, m) = (num(parts[0])?, num(parts[1])?);
            // Fractions of a second are read and dropped: rows a second apart are the finest.
            let sec = match parts.get(2) {
                Some(p) => num(p.split('.').next()?).filter(|_| p.len() >= 2)?,
                None => 0,
            };
            if h > 23 || m > 59 || sec > 59 {
                return None;
            }
            d.secs = (h * 3600 + m * 60 + sec) as u32;
            d.written = Written::Time {
                seconds: parts.len() == 3,
                t: sep_t,
            };
        }
        Some(d)
    }

    fn parse_date(s: &str) -> Option<Date> {
        let at = |days, written| {
            Some(Date {
                days,
                secs: 0,
                written,
            })
        };
        if s.len() == 4 {
            let y = num(s)?;
            return at(calendar::days_from_civil(y, 1, 1), Written::Year);
        }
        let upper = s.to_ascii_uppercase();
        if let Some((y, q)) = upper.split_once('Q') {
            let y = y.strip_suffix(['-', ' ', '/']).unwrap_or(y);
            let (y, q) = (num(y).filter(|_| y.len() == 4)?, num(q)?);
            if !(1..=4).contains(&q) {
                return None;
            }
            let month = (3 * (q - 1) + 1) as u32;
            return at(calendar::days_from_civil(y, month, 1), Written::Quarter);
        }
        if let Some((y, w)) = upper.split_once("-W") {
            let (y, w) = (
                num(y).filter(|_| y.len() == 4)?,
                num(w).filter(|_| w.len() == 2)?,
            );
            let monday = iso_week_one(y) + 7 * (w - 1);
            // Week 53 exists only in years whose 53rd Monday still falls before week one of the next.
            if w == 0 || monday >= iso_week_one(y + 1) {
                return None;
            }
            return at(monday, Written::Week);
        }
        let parts: Vec<&str> = s.split(['-', '/']).collect();
        if parts.len() < 2 || parts.len() > 3 || parts[0].len() != 4 || parts[1].len() > 2 {
            return None;
        }
        let year = num(parts[0])?;
        let month = num(parts[1])? as u32;
        if !(1..=12).contains(&month) {
            return None;
        }
        match parts.get(2) {
            Some(d) => {
                let d = num(d).filter(|_| d.len() <= 2)? as u32;
                if d == 0 || d > days_in_month(year, month) {
                    return None;
                }
                at(calendar::days_from_civil(year, month, d), Written::Day)
            }
            None => at(calendar::days_from_civil(year, month, 1), Written::Month),
        }
    }

    /// Days since 1970-01-01 (a month, quarter or year counts as its first day).
    pub fn days(&self) -> i64 {
        self.days
    }

    /// The day `days` after 1970-01-01, written as a day.
    pub fn from_days(days: i64) -> Date {
        Date {
            days,
            secs: 0,
            written: Written::Day,
        }
    }

    /// How the date was written.
    pub fn written(&self) -> Written {
        self.written
    }

    /// Seconds since 1970-01-01T00:00.
    pub fn seconds(&self) -> i64 {
        self.days * 86_400 + self.secs as i64
    }

    /// Whether the day is a Saturday or a Sunday.
    pub fn is_weekend(&self) -> bool {
        weekday(self.days) >= 5
    }

    /// Months since year 0, and the day of the month.
    fn month_index(&self) -> (i64, u32) {
        let (y, m, d) = calendar::civil_from_days(self.days);
        (y * 12 + m as i64 - 1, d)
    }

    /// The date `k` steps of `freq` later, written the same way. Monthly steps keep the day
    /// of the month, clamped to the month's length.
    pub fn add(&self, freq: Freq, k: i64) -> Date {
        let mut out = *self;
        match freq {
            Freq::Days(n) => out.days += k * n as i64,
            Freq::Seconds(n) => {
                let s = self.seconds() + k * n as i64;
                out.days = s.div_euclid(86_400);
                out.secs = s.rem_euclid(86_400) as u32;
            }
            Freq::Months(n) => {
                let (mi, d) = self.month_index();
                let mi = mi + k * n as i64;
                let (y, m) = (mi.div_euclid(12), (mi.rem_euclid(12) + 1) as u32);
                out.days = calendar::days_from_civil(y, m, d.min(days_in_month(y, m)));
            }
            Freq::BusinessDays => {
                let step = k.signum();
                for _ in 0..k.unsigned_abs() {
                    out.days += step;
                    while weekday(out.days) >= 5 {
                        out.days += step;
                    }
                }
            }
        }
        out
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = calendar::civil_from_days(self.days);
        match self.written {
            Written::Year => write!(f, "{y:04}"),
            Written::Quarter => write!(f, "{y:04}-Q{}", (m - 1) / 3 + 1),
            Written::Month => write!(f, "{y:04}-{m:02}"),
            Written::Week => {
                // The ISO year is the one whose week one starts at or before this Monday.
                let iy = if self.days >= iso_week_one(y + 1) {
                    y + 1
                } else if self.days < iso_week_one(y) {
                    y - 1
                } else {
                    y
                };
                write!(f, "{iy:04}-W{:02}", (self.days - iso_week_one(iy)) / 7 + 1)
            }
            Written::Day => write!(f, "{y:04}-{m:02}-{d:02}"),
            Written::Time { seconds, t } => {
                let (hh, mm, ss) = (self.secs / 3600, self.secs / 60 % 60, self.secs % 60);
                write!(
                    f,
                    "{y:04}-{m:02}-{d:02}{}{hh:02}:{mm:02}",
                    if t { 'T' } else { ' ' }
                )?;
                if seconds {
                    write!(f, ":{ss:02}")?;
                }
                Ok(())
            }
        }
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
    /// Monday to Friday (trading days).
    BusinessDays,
    /// Every n seconds, under a day (1800: half-hourly).
    Seconds(u32),
}

impl Freq {
    /// Steps of this frequency from `a` to `b`, if `b` lies a whole number of steps after
    /// (or before) `a`.
    pub fn steps_between(&self, a: &Date, b: &Date) -> Option<i64> {
        let whole = |d: i64, n: u32| (d % n as i64 == 0).then_some(d / n as i64);
        match *self {
            Freq::Days(n) => (a.secs == b.secs).then(|| whole(b.days - a.days, n))?,
            Freq::Seconds(n) => whole(b.seconds() - a.seconds(), n),
            Freq::Months(n) => {
                let ((ma, da), (mb, db)) = (a.month_index(), b.month_index());
                (da == db && a.secs == b.secs).then(|| whole(mb - ma, n))?
            }
            Freq::BusinessDays => {
                if a.is_weekend() || b.is_weekend() || a.secs != b.secs {
                    return None;
                }
                // Weekdays in [a, b): whole weeks give 5 each, then the remainder day by day.
                let (lo, hi, sign) = if a.days <= b.days {
                    (a.days, b.days, 1)
                } else {
                    (b.days, a.days, -1)
                };
                let span = hi - lo;
                let mut count = span / 7 * 5;
                for d in lo + span / 7 * 7..hi {
                    count += i64::from(weekday(d) < 5);
                }
                Some(sign * count)
            }
        }
    }

    /// Rows in one day and in one week, for sub-daily spacings that divide them.
    pub fn per_day(&self) -> Option<u32> {
        match *self {
            Freq::Seconds(n) if n > 0 && 86_400 % n == 0 => Some(86_400 / n),
            _ => None,
        }
    }

    /// The seasonal periods the calendar implies, shortest first.
    pub fn periods(&self) -> Vec<usize> {
        match *self {
            Freq::Days(1) => vec![7, 365],
            Freq::Days(7) => vec![52],
            Freq::Months(1) => vec![12],
            Freq::Months(3) => vec![4],
            Freq::BusinessDays => vec![5],
            Freq::Seconds(_) => match self.per_day() {
                Some(d) if d > 1 => vec![d as usize, 7 * d as usize],
                _ => vec![],
            },
            _ => vec![],
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
            Freq::BusinessDays => write!(f, "business-day"),
            Freq::Seconds(1800) => write!(f, "half-hourly"),
            Freq::Seconds(3600) => write!(f, "hourly"),
            Freq::Seconds(n) if n % 60 == 0 => write!(f, "every {} minutes", n / 60),
            Freq::Seconds(n) => write!(f, "every {n} seconds"),
        }
    }
}

/// The spacing of `dates` (increasing, all written one way), or None for fewer than two.
///
/// - Years, quarters and months, or days that all fall on one day of the month: the most
///   common step in months.
/// - Times of day: the most common step in seconds (a whole number of days: in days).
/// - Otherwise the most common step in days; a daily series with no Saturday or Sunday
///   among at least ten rows that span two weeks steps in business days.
pub fn infer_freq(dates: &[Date]) -> Option<Freq> {
    if dates.len() < 2 {
        return None;
    }
    let first = dates[0];
    let monthly = matches!(
        first.written,
        Written::Year | Written::Quarter | Written::Month
    ) || (first.written == Written::Day
        && dates
            .iter()
            .all(|d| d.month_index().1 == first.month_index().1));
    let timed = matches!(first.written, Written::Time { .. });
    let mut counts: std::collections::BTreeMap<i64, usize> = Default::default();
    for w in dates.windows(2) {
        let d = if monthly {
            w[1].month_index().0 - w[0].month_index().0
        } else if timed {
            w[1].seconds() - w[0].seconds()
        } else {
            w[1].days - w[0].days
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
    if monthly {
        return Some(Freq::Months(step));
    }
    if timed && step % 86_400 != 0 {
        return Some(Freq::Seconds(step));
    }
    let step = if timed { step / 86_400 } else { step };
    let span = dates[dates.len() - 1].days - first.days;
    if step == 1 && dates.len() >= 10 && span >= 14 && !dates.iter().any(Date::is_weekend) {
        return Some(Freq::BusinessDays);
    }
    Some(Freq::Days(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn every_written_form_round_trips() {
        for s in [
            "1821",
            "1959-Q1",
            "2009-Q3",
            "1949-01",
            "2020-W05",
            "2020-W53",
            "1981-01-01",
            "2000-06-05 00:30",
            "2000-06-05T23:59:59",
        ] {
            assert_eq!(d(s).to_string(), s);
        }
        assert_eq!(d("1959Q2").to_string(), "1959-Q2");
        assert_eq!(d("2000-06-05T00:30:00Z").to_string(), "2000-06-05T00:30:00");
        assert_eq!(d("1949/01/31").to_string(), "1949-01-31");
        for bad in [
            "1-01",
            "2019-02-29",
            "1959-Q5",
            "2021-W53",
            "2000-06-05 24:00",
            "12",
            "abc",
        ] {
            assert!(Date::parse(bad).is_none(), "{bad} should not parse");
        }
        // ISO week 1 of 2020 starts on Monday 30 December 2019.
        assert_eq!(d("2020-W01").days(), d("2019-12-30").days());
    }

    #[test]
    fn steps_follow_each_calendar() {
        assert_eq!(d("1959-Q4").add(Freq::Months(3), 1).to_string(), "1960-Q1");
        assert_eq!(d("1934").add(Freq::Months(12), 2).to_string(), "1936");
        assert_eq!(d("2020-W52").add(Freq::Days(7), 2).to_string(), "2021-W01");
        assert_eq!(
            d("2000-06-05 23:30")
                .add(Freq::Seconds(1800), 1)
                .to_string(),
            "2000-06-06 00:00"
        );
        // Friday 2020-01-03 -> Monday 2020-01-06, then Friday the 10th.
        let fri = d("2020-01-03");
        assert_eq!(fri.add(Freq::BusinessDays, 1).to_string(), "2020-01-06");
        assert_eq!(fri.add(Freq::BusinessDays, 5).to_string(), "2020-01-10");
        assert_eq!(
            Freq::BusinessDays.steps_between(&fri, &d("2020-01-10")),
            Some(5)
        );
        assert_eq!(
            Freq::BusinessDays.steps_between(&fri, &d("2020-01-04")),
            None
        );
    }

    #[test]
    fn the_spacing_is_found_from_the_dates() {
        let days = |from: &str, n: i64, f: Freq| -> Vec<Date> {
            (0..n).map(|k| d(from).add(f, k)).collect()
        };
        assert_eq!(
            infer_freq(&days("2020-01-06", 30, Freq::BusinessDays)),
            Some(Freq::BusinessDays)
        );
        assert_eq!(
            infer_freq(&days("2020-01-06", 30, Freq::Days(1))),
            Some(Freq::Days(1))
        );
        assert_eq!(
            infer_freq(&days("2000-06-05 00:00", 100, Freq::Seconds(1800))),
            Some(Freq::Seconds(1800))
        );
        assert_eq!(Freq::Seconds(1800).periods(), vec![48, 336]);
        assert_eq!(
            infer_freq(&days("1959-Q1", 8, Freq::Months(3))),
            Some(Freq::Months(3))
        );
        assert_eq!(
            infer_freq(&days("1821", 8, Freq::Months(12))),
            Some(Freq::Months(12))
        );
        assert_eq!(
            infer_freq(&days("2020-W01", 8, Freq::Days(7))),
            Some(Freq::Days(7))
        );
    }
}
