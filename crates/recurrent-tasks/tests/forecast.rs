//! Forecasting: the CSV reader's error cases and gap policy, the exact split and windows (no
//! test or validation value reaches training or the scaler), training that learns, resume
//! bit for bit, and the real series of ../shared/data/timeseries when present.

#[path = "../../recurrent/tests/common/mod.rs"]
mod common;

use recurrent::train::{Quiet, TrainRequest};
use recurrent_tasks::forecast::series::{
    parse_series, read_series, Date, Fill, Freq, Series, SeriesSpec,
};
use recurrent_tasks::forecast::smoothing::Smoothing;
use recurrent_tasks::forecast::{
    load_forecaster, plan, train_forecast, ForecastTrainConfig, Scale, Scaler, Strategy, TargetKind,
};
use std::path::{Path, PathBuf};

fn parse(text: &str, spec: &SeriesSpec) -> Result<Series, String> {
    parse_series(text, Path::new("s.csv"), spec, &mut |_| {}).map_err(|e| e.to_string())
}

fn spec(cols: &[&str]) -> SeriesSpec {
    SeriesSpec {
        columns: cols.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn err(text: &str, spec: &SeriesSpec) -> String {
    match parse(text, spec) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

fn has(e: &str, parts: &[&str]) {
    for p in parts {
        assert!(e.contains(p), "`{e}` lacks `{p}`");
    }
}

#[test]
fn reads_quoted_crlf_csv_with_monthly_dates() {
    let s = parse(
        "\u{feff}\"Month\",\"Passengers\"\r\n\"1949-01\",112\r\n\"1949-02\",118\r\n\"1949-03\",132",
        &SeriesSpec::default(),
    )
    .unwrap();
    assert_eq!(s.columns, vec!["Passengers"]);
    assert_eq!(s.values, vec![112.0, 118.0, 132.0]);
    assert_eq!(s.freq, Some(Freq::Months(1)));
    assert_eq!(s.date_column.as_deref(), Some("Month"));
    assert_eq!(s.date_after(1).unwrap().to_string(), "1949-04");
    assert_eq!(s.date_after(10).unwrap().to_string(), "1950-01");
}

#[test]
fn multivariate_columns_keep_the_order_given() {
    let s = parse(
        "d,a,b\n2020-01-01,1,10\n2020-01-02,2,20\n",
        &spec(&["b", "a"]),
    )
    .unwrap();
    assert_eq!(s.columns, vec!["b", "a"]);
    assert_eq!(s.values, vec![10.0, 1.0, 20.0, 2.0]);
    assert_eq!(s.target(), vec![10.0, 20.0]);
    assert_eq!(s.date_after(1).unwrap().to_string(), "2020-01-03");
}

#[test]
fn csv_errors_name_line_and_column() {
    let e = err("d,v\n2020-01,1\n", &spec(&["x"]));
    has(
        &e,
        &["s.csv", "line 1", "no column `x`", "--column", "`d`, `v`"],
    );
    let e = err(
        "d,v\n2020-01,1\n",
        &SeriesSpec {
            date_column: Some("when".into()),
            ..spec(&["v"])
        },
    );
    has(&e, &["no column `when`", "--date-column"]);
    // A file without a header is not read with its first row as one (issue 28, item 13).
    for headerless in ["2020-01,112\n2020-02,118\n", "112\n118\n"] {
        let e = err(headerless, &spec(&[]));
        has(&e, &["line 1", "is data, not a header", "date,value"]);
    }
    let e = err("d,v\n2020-01,1\n2020-02,1,3\n", &spec(&["v"]));
    has(&e, &["line 3", "3 fields", "header has 2"]);
    let e = err("d,v\n2020-01,1\n2020-02,abc\n", &spec(&["v"]));
    has(&e, &["line 3", "column `v`", "`abc` is not a number"]);
    for bad in ["inf", "-inf", "Infinity"] {
        let e = err(
            &format!("d,v\n2020-01,1\n2020-02,{bad}\n2020-03,2\n"),
            &SeriesSpec {
                fill: Fill::Forward,
                ..spec(&["v"])
            },
        );
        has(&e, &["line 3", "column `v`", "not a finite number"]);
    }
    // A value whose square overflows once trained on NaN and wrote `"std":[null]`.
    for big in ["1e308", "-1e200"] {
        let e = err(
            &format!("d,v\n2020-01,1\n2020-02,{big}\n2020-03,2\n"),
            &spec(&["v"]),
        );
        has(&e, &["line 3", "column `v`", "too large", "rescale"]);
    }
    let e = err(
        "d,v\n2020-01,1\n2020-13,2\n",
        &SeriesSpec {
            date_column: Some("d".into()),
            ..spec(&["v"])
        },
    );
    has(&e, &["line 3", "column `d`", "`2020-13` is not a date"]);
    let e = err("d,v\n2020-03,1\n2020-02,2\n2020-04,2\n", &spec(&["v"]));
    has(
        &e,
        &[
            "line 3",
            "column `d`",
            "does not come after 2020-03",
            "sort",
        ],
    );
    let e = err("d,v\n2020-01-01,1\n2020-01,2\n", &spec(&["v"]));
    has(&e, &["line 3", "written differently"]);
    let e = err("d,v\n\"2020-01,1\n", &spec(&["v"]));
    has(&e, &["line 2", "not closed"]);
    has(&err("", &spec(&[])), &["empty"]);
    has(&err("d,v\r\n", &spec(&[])), &["no data rows"]);
    let e = err(
        "d,v\n2020-01,1\n",
        &SeriesSpec {
            date_column: Some("v".into()),
            ..spec(&["v"])
        },
    );
    has(&e, &["both the date column and a value column"]);
}

#[test]
fn missing_dates_are_interpolated_named_or_refused() {
    let text = "Date,Temp\n1984-12-29,1\n1984-12-30,2\n1985-01-02,8\n1985-01-03,9\n";
    let mut notes = Vec::new();
    let s = parse_series(text, Path::new("t.csv"), &spec(&["Temp"]), &mut |m| {
        notes.push(m.to_string())
    })
    .unwrap();
    assert_eq!(s.values, vec![1.0, 2.0, 4.0, 6.0, 8.0, 9.0]);
    assert_eq!(s.filled, vec![2, 3]);
    let dates: Vec<String> = s.dates.unwrap().iter().map(|d| d.to_string()).collect();
    assert_eq!(dates[2..4], ["1984-12-31", "1985-01-01"]);
    assert_eq!(notes.len(), 1);
    has(
        &notes[0],
        &[
            "t.csv",
            "1984-12-31 .. 1985-01-01 (2 dates)",
            "line 4",
            "interpolation",
        ],
    );
    let s = parse(
        text,
        &SeriesSpec {
            fill: Fill::Forward,
            ..spec(&["Temp"])
        },
    )
    .unwrap();
    assert_eq!(s.values, vec![1.0, 2.0, 2.0, 2.0, 8.0, 9.0]);
    let e = err(
        text,
        &SeriesSpec {
            fill: Fill::None,
            ..spec(&["Temp"])
        },
    );
    has(
        &e,
        &[
            "line 4",
            "missing date 1984-12-31",
            "--fill none",
            "--fill interpolate",
        ],
    );
}

fn read_with(text: &str, fill: Fill) -> (Series, Vec<String>) {
    let mut notes = Vec::new();
    let s = parse_series(
        text,
        Path::new("g.csv"),
        &SeriesSpec {
            fill,
            ..spec(&["v"])
        },
        &mut |m| notes.push(m.to_string()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (s, notes)
}

fn csv_of(dates: &[String], values: &[String]) -> String {
    let mut t = String::from("d,v\n");
    for (d, v) in dates.iter().zip(values) {
        t.push_str(&format!("{d},{v}\n"));
    }
    t
}

#[test]
fn empty_na_and_nan_cells_follow_fill() {
    let text = "d,v\n2020-01,1\n2020-02,\n2020-03,NA\n2020-04,4\n2020-05,NaN\n";
    let (s, notes) = read_with(text, Fill::Interpolate);
    assert_eq!(s.values, vec![1.0, 2.0, 3.0, 4.0, 4.0]);
    assert_eq!(notes.len(), 3, "{notes:?}");
    has(
        &notes[0],
        &["g.csv", "line 3", "column `v`", "interpolation"],
    );
    let (s, _) = read_with(text, Fill::Forward);
    assert_eq!(s.values, vec![1.0, 1.0, 1.0, 4.0, 4.0]);
    let e = err(
        text,
        &SeriesSpec {
            fill: Fill::None,
            ..spec(&["v"])
        },
    );
    has(
        &e,
        &["line 3", "column `v`", "missing value", "--fill none"],
    );
    // A missing first value takes the first one given.
    let (s, _) = read_with("d,v\n2020-01,\n2020-02,5\n2020-03,6\n", Fill::Interpolate);
    assert_eq!(s.values, vec![5.0, 5.0, 6.0]);
    has(
        &err("d,v\n2020-01,\n2020-02,NA\n", &spec(&["v"])),
        &["no value"],
    );
    // Past the first few, one summary line with the count.
    let dates: Vec<String> = (0..40)
        .map(|k| format!("{}-{:02}", 2000 + k / 12, k % 12 + 1))
        .collect();
    let values: Vec<String> = (0..40)
        .map(|k| {
            if k % 3 == 1 {
                String::new()
            } else {
                k.to_string()
            }
        })
        .collect();
    let (s, notes) = read_with(&csv_of(&dates, &values), Fill::Interpolate);
    assert_eq!(s.values[1], 1.0);
    assert_eq!(notes.len(), 6, "{notes:?}");
    has(&notes[5], &["13 missing values in all"]);
}

#[test]
fn trading_days_step_over_weekends() {
    // Four weeks of weekdays from Monday 2024-01-01, without Wednesday the 17th.
    let mut dates = Vec::new();
    let mut day = Date::parse("2024-01-01").unwrap();
    for _ in 0..20 {
        if day.to_string() != "2024-01-17" {
            dates.push(day.to_string());
        }
        day = day.add(Freq::BusinessDays, 1);
    }
    let values: Vec<String> = (0..dates.len()).map(|k| (10 * k).to_string()).collect();
    let (s, notes) = read_with(&csv_of(&dates, &values), Fill::Interpolate);
    assert_eq!(s.freq, Some(Freq::BusinessDays));
    assert_eq!(s.len(), 20, "only the weekday holiday is filled");
    assert_eq!(notes.len(), 1);
    has(&notes[0], &["2024-01-17"]);
    // The last row is Friday 2024-01-26: the forecast's dates are trading days.
    let next: Vec<String> = (1..=3)
        .map(|k| s.date_after(k).unwrap().to_string())
        .collect();
    assert_eq!(next, ["2024-01-29", "2024-01-30", "2024-01-31"]);
}

#[test]
fn times_quarters_years_and_weeks_are_dates() {
    let half_hours: Vec<String> = (0..100)
        .map(|k| {
            format!(
                "2000-06-{:02} {:02}:{:02}",
                5 + k / 48,
                k % 48 / 2,
                30 * (k % 2)
            )
        })
        .collect();
    let values: Vec<String> = (0..100).map(|k| k.to_string()).collect();
    let (s, _) = read_with(&csv_of(&half_hours, &values), Fill::Interpolate);
    assert_eq!(s.freq, Some(Freq::Seconds(1800)));
    assert_eq!(s.date_after(1).unwrap().to_string(), "2000-06-07 02:00");
    let quarters: Vec<String> = (0..8)
        .map(|k| format!("{}-Q{}", 1959 + k / 4, k % 4 + 1))
        .collect();
    let (s, _) = read_with(&csv_of(&quarters, &values), Fill::Interpolate);
    assert_eq!(s.freq, Some(Freq::Months(3)));
    assert_eq!(s.date_after(1).unwrap().to_string(), "1961-Q1");
    let years: Vec<String> = (1821..1830).map(|y| y.to_string()).collect();
    let (s, _) = read_with(&csv_of(&years, &values), Fill::Interpolate);
    assert_eq!(s.freq, Some(Freq::Months(12)));
    assert_eq!(s.date_after(1).unwrap().to_string(), "1830");
    // A missing ISO week is filled; the weeks run across the year's end.
    let weeks = ["2020-W51", "2020-W52", "2020-W53", "2021-W02", "2021-W03"].map(String::from);
    let (s, notes) = read_with(&csv_of(&weeks, &values), Fill::Interpolate);
    assert_eq!(s.freq, Some(Freq::Days(7)));
    assert_eq!(s.len(), 6);
    has(&notes[0], &["2021-W01"]);
    // Irregular dates step by row, with one line that says so.
    let odd = [
        "2020-01-01",
        "2020-01-02",
        "2020-01-04",
        "2020-01-05",
        "2020-01-09",
    ]
    .map(String::from);
    let odd_weeks = ["2020-01-01", "2020-01-08", "2020-01-16", "2020-01-22"].map(String::from);
    let (s, notes) = read_with(&csv_of(&odd_weeks, &values), Fill::Interpolate);
    assert_eq!((s.dates.clone(), s.freq, s.len()), (None, None, 4));
    has(&notes[0], &["irregular", "steps by row"]);
    let (s, _) = read_with(&csv_of(&odd, &values), Fill::Interpolate);
    assert_eq!((s.freq, s.len()), (Some(Freq::Days(1)), 9));
}

#[test]
fn dates_do_calendar_arithmetic() {
    let d = Date::parse("1988-12-31").unwrap();
    assert_eq!(d.add(Freq::Days(1), 1).to_string(), "1989-01-01");
    assert_eq!(
        Date::parse("1988-02-28")
            .unwrap()
            .add(Freq::Days(1), 1)
            .to_string(),
        "1988-02-29"
    );
    assert_eq!(
        Date::parse("2019-01-31")
            .unwrap()
            .add(Freq::Months(1), 1)
            .to_string(),
        "2019-02-28"
    );
    assert_eq!(
        Date::from_days(Date::parse("1970-01-01").unwrap().days()).to_string(),
        "1970-01-01"
    );
    assert!(
        Date::parse("1-01").is_none(),
        "shampoo's `1-01` is not a calendar date"
    );
    assert!(Date::parse("2019-02-29").is_none());
    // Without a parseable first cell there are no dates, and forecasts count steps.
    let s = parse(
        "Month,Sales\n1-01,266.0\n1-02,145.9\n",
        &SeriesSpec::default(),
    )
    .unwrap();
    assert!(s.dates.is_none());
}

/// 20 rows; test rows (16..20) and validation rows (13..16) hold values far from the rest.
fn tiny() -> Series {
    let mut v: Vec<f64> = (0..13).map(|i| 1.0 + i as f64).collect();
    v.extend([500.0, 600.0, 700.0]);
    v.extend([1e6, 2e6, 3e6, 4e6]);
    Series::from_values("y", v)
}

fn tiny_cfg() -> ForecastTrainConfig {
    ForecastTrainConfig {
        horizon: 2,
        lookback: Some(3),
        test: Some(4),
        val: Some(3),
        season: Some(4),
        hidden: 4,
        batch: 4,
        patience: 0,
        ..Default::default()
    }
}

#[test]
fn split_and_windows_are_exact() {
    let s = tiny();
    let p = plan(&tiny_cfg(), &s).unwrap();
    assert_eq!((p.split.fit_end, p.split.val_end, p.split.n), (13, 16, 20));
    // Direct, H = 2: origin o reads rows o-2..=o and predicts o+1, o+2 <= 12.
    assert_eq!(p.train_origins, (2..=10).collect::<Vec<_>>());
    assert_eq!(p.val_origins, vec![(12, 2), (13, 2), (14, 1)]);
    // Test origins every H rows from the last validation row; the last is cut short.
    assert_eq!(p.test_origins, vec![(15, 2), (17, 2)]);
    let rec = plan(
        &ForecastTrainConfig {
            strategy: Strategy::Recursive,
            ..tiny_cfg()
        },
        &s,
    )
    .unwrap();
    assert_eq!(rec.train_origins, (2..=11).collect::<Vec<_>>());
    // One step ahead from the true history: an origin for every test row.
    let one = plan(
        &ForecastTrainConfig {
            horizon: 1,
            stride: None,
            ..tiny_cfg()
        },
        &s,
    )
    .unwrap();
    assert_eq!(one.test_origins, vec![(15, 1), (16, 1), (17, 1), (18, 1)]);
    let all = plan(
        &ForecastTrainConfig {
            test: Some(0),
            ..tiny_cfg()
        },
        &s,
    )
    .unwrap();
    assert_eq!((all.split.fit_end, all.split.val_end), (17, 20));
    assert!(all.test_origins.is_empty());
}

#[test]
fn too_few_rows_is_a_clear_error() {
    let s = Series::from_values("y", (0..10).map(f64::from).collect());
    let e = plan(
        &ForecastTrainConfig {
            lookback: Some(6),
            ..tiny_cfg()
        },
        &s,
    )
    .unwrap_err()
    .to_string();
    has(
        &e,
        &[
            "10 rows are too few",
            "--lookback 6",
            "--val 3",
            "--test 4",
            "at least 15",
        ],
    );
    let e = plan(
        &ForecastTrainConfig {
            test: Some(10),
            ..tiny_cfg()
        },
        &s,
    )
    .unwrap_err()
    .to_string();
    has(&e, &["--test 10", "nothing is left"]);
}

#[test]
fn scaler_sees_only_the_training_rows() {
    let s = tiny();
    let p = plan(&tiny_cfg(), &s).unwrap();
    let sc = Scaler::fit(Scale::Standard, &s.values, 1, p.split.fit_end, &s.columns).unwrap();
    // Rows 0..13 are 1..=13: mean 7, population variance (13^2 - 1) / 12 = 14.
    assert!((sc.mean[0] - 7.0).abs() < 1e-12);
    assert!((sc.std[0] - 14f64.sqrt()).abs() < 1e-12);
    assert!((sc.unscale(sc.scale(123.0, 0), 0) - 123.0).abs() < 1e-9);
    let lg = Scaler::fit(Scale::Log, &s.values, 1, 2, &s.columns).unwrap();
    assert!((lg.mean[0] - 2f64.ln() / 2.0).abs() < 1e-12);
    let mut bad = s.values.clone();
    bad[17] = 0.0;
    let e = Scaler::fit(Scale::Log, &bad, 1, 13, &s.columns)
        .unwrap_err()
        .to_string();
    has(
        &e,
        &["data row 18", "line 19", "column `y`", "--scale standard"],
    );
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-forecast-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn weights(dir: &Path, file: &str) -> String {
    let ck = recurrent::checkpoint::read(dir.join(file)).unwrap();
    recurrent::checkpoint::weights_sha256(&ck.weights_only())
}

fn latest(dir: &Path) -> String {
    let p = recurrent::train::run::list_checkpoints(dir)
        .unwrap()
        .pop()
        .unwrap();
    let ck = recurrent::checkpoint::read(&p).unwrap();
    recurrent::checkpoint::weights_sha256(&ck.weights_only())
}

#[test]
fn no_test_value_reaches_training() {
    // Two series that differ only in their test rows train to the same weights, bit for bit.
    let a = tiny();
    let mut b = tiny();
    for v in &mut b.values[16..] {
        *v = -*v;
    }
    let cfg = tiny_cfg();
    let (da, db) = (tmp("leak-a"), tmp("leak-b"));
    let sa = train_forecast(
        &cfg,
        &a,
        Fill::Interpolate,
        &TrainRequest::new(&da).steps(15),
        &mut Quiet,
    )
    .unwrap();
    let sb = train_forecast(
        &cfg,
        &b,
        Fill::Interpolate,
        &TrainRequest::new(&db).steps(15),
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(latest(&da), latest(&db));
    assert_eq!(
        weights(&da, "best.safetensors"),
        weights(&db, "best.safetensors")
    );
    assert_eq!(sa.best_val_mse, sb.best_val_mse);
    // ... and the scalers in the checkpoints agree.
    let (fa, fb) = (
        load_forecaster(&da.join("best.safetensors")).unwrap(),
        load_forecaster(&db.join("best.safetensors")).unwrap(),
    );
    assert_eq!(fa.meta.scaler, fb.meta.scaler);
    // The test metrics do see them.
    assert_ne!(
        sa.test.unwrap().table[0].metrics.rmse,
        sb.test.unwrap().table[0].metrics.rmse
    );
    let _ = std::fs::remove_dir_all(&da);
    let _ = std::fs::remove_dir_all(&db);
}

fn sine(n: usize) -> Series {
    let v = (0..n)
        .map(|t| {
            10.0 + 3.0 * (2.0 * std::f64::consts::PI * t as f64 / 12.0).sin() + 0.02 * t as f64
        })
        .collect();
    Series::from_values("y", v)
}

#[test]
fn both_strategies_learn_a_seasonal_series_and_beat_naive() {
    for strategy in [Strategy::Direct, Strategy::Recursive] {
        let mut cfg = ForecastTrainConfig {
            horizon: 6,
            lookback: Some(12),
            test: Some(24),
            val: Some(12),
            stride: Some(6),
            strategy,
            hidden: 16,
            patience: 0,
            ..Default::default()
        };
        cfg.optim.lr = 1e-2;
        let d = tmp(&format!("learn-{strategy:?}"));
        let s = train_forecast(
            &cfg,
            &sine(160),
            Fill::Interpolate,
            &TrainRequest::new(&d).steps(300),
            &mut Quiet,
        )
        .unwrap();
        let t = s.test.unwrap();
        assert_eq!(t.points.len(), 24);
        let rmse = |name: &str| {
            t.table
                .iter()
                .find(|r| r.name == name)
                .unwrap()
                .metrics
                .rmse
        };
        assert!(
            rmse("model") < 0.5 * rmse("naive"),
            "{strategy:?}: model {} naive {}",
            rmse("model"),
            rmse("naive")
        );
        // Forecast the future from the checkpoint: H values, intervals around them.
        let f = load_forecaster(&d.join("best.safetensors")).unwrap();
        let fut = f.forecast_future(&sine(160), 6).unwrap();
        assert_eq!(fut.values.len(), 6);
        let (lo, hi) = (fut.lower.unwrap(), fut.upper.unwrap());
        for i in 0..6 {
            assert!(lo[i] <= fut.values[i] && fut.values[i] <= hi[i]);
        }
        if strategy == Strategy::Direct {
            let e = f.forecast_future(&sine(160), 7).unwrap_err().to_string();
            has(&e, &["at most 6 steps"]);
        } else {
            assert_eq!(f.forecast_future(&sine(160), 9).unwrap().values.len(), 9);
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}

#[test]
fn the_hybrid_learns_its_smoothing_with_the_network_and_reads_no_test_row() {
    let mut cfg = ForecastTrainConfig {
        horizon: 6,
        lookback: Some(12),
        test: Some(24),
        val: Some(12),
        stride: Some(6),
        season: Some(12),
        target: TargetKind::Es,
        hidden: 16,
        patience: 0,
        ensemble: 2,
        ..Default::default()
    };
    cfg.optim.lr = 1e-2;
    let d = tmp("hybrid");
    let s = train_forecast(
        &cfg,
        &sine(160),
        Fill::Interpolate,
        &TrainRequest::new(&d).steps(300),
        &mut Quiet,
    )
    .unwrap();
    let t = s.test.unwrap();
    let rmse = |name: &str| {
        t.table
            .iter()
            .find(|r| r.name == name)
            .unwrap()
            .metrics
            .rmse
    };
    assert!(
        rmse("rnn") < 0.5 * rmse("naive"),
        "rnn {} naive {}",
        rmse("rnn"),
        rmse("naive")
    );
    // The smoothing is in the checkpoint, and training moved it from where it started.
    let f = load_forecaster(&d.join("best.safetensors")).unwrap();
    let es = f.nets.es.as_ref().unwrap();
    assert_eq!(es.period(), 12);
    let start = Smoothing::<f32>::new(&[], 12).coefficients();
    let (alpha, gamma) = es.coefficients();
    assert!((alpha - start.0).abs() > 1e-3 && (gamma - start.1).abs() > 1e-3);
    assert_eq!(f.forecast_future(&sine(160), 6).unwrap().values.len(), 6);
    // Two series that differ only in their test rows train to the same weights.
    let mut b = sine(160);
    for v in &mut b.values[136..] {
        *v = -*v;
    }
    let db = tmp("hybrid-b");
    train_forecast(
        &cfg,
        &b,
        Fill::Interpolate,
        &TrainRequest::new(&db).steps(300),
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(
        weights(&d, "best.safetensors"),
        weights(&db, "best.safetensors")
    );
    // It forecasts from one origin's level and season: never recursively.
    let bad = ForecastTrainConfig {
        strategy: Strategy::Recursive,
        ..cfg
    };
    has(
        &plan(&bad, &sine(160)).unwrap_err().to_string(),
        &["--target es", "--strategy direct"],
    );
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_dir_all(&db);
}

#[test]
fn resume_continues_bit_for_bit_and_early_stop_is_complete() {
    let cfg = ForecastTrainConfig {
        horizon: 3,
        lookback: Some(12),
        test: Some(12),
        val: Some(12),
        hidden: 8,
        ..Default::default()
    };
    let s = sine(100);
    let (full, part) = (tmp("full"), tmp("part"));
    train_forecast(
        &cfg,
        &s,
        Fill::Interpolate,
        &TrainRequest::new(&full).steps(40),
        &mut Quiet,
    )
    .unwrap();
    train_forecast(
        &cfg,
        &s,
        Fill::Interpolate,
        &TrainRequest::new(&part).steps(17),
        &mut Quiet,
    )
    .unwrap();
    let mut req = TrainRequest::new(&part).steps(40);
    req.resume = true;
    train_forecast(&cfg, &s, Fill::Interpolate, &req, &mut Quiet).unwrap();
    assert_eq!(latest(&full), latest(&part));
    assert_eq!(
        weights(&full, "best.safetensors"),
        weights(&part, "best.safetensors")
    );
    // Patience 1 with a tiny learning rate: stops early, and a resume has nothing to do.
    let mut es = ForecastTrainConfig {
        patience: 1,
        ..cfg.clone()
    };
    es.optim.lr = 1e-1;
    let d = tmp("early");
    let r = train_forecast(
        &es,
        &s,
        Fill::Interpolate,
        &TrainRequest::new(&d).steps(5000),
        &mut Quiet,
    )
    .unwrap();
    assert!(r.early_stopped && r.finished && r.steps < 5000, "{r:?}");
    let mut req = TrainRequest::new(&d).steps(5000);
    req.resume = true;
    let again = train_forecast(&es, &s, Fill::Interpolate, &req, &mut Quiet).unwrap();
    assert!(again.already_complete);
    assert_eq!(again.steps, r.steps);
    for d in [full, part, d] {
        let _ = std::fs::remove_dir_all(&d);
    }
}

#[test]
fn real_series_read_as_documented() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let dir = shared.join("data/timeseries");
    let mut notes = Vec::new();
    let t = read_series(
        &dir.join("daily-min-temperatures.csv"),
        &SeriesSpec::default(),
        &mut |m| notes.push(m.to_string()),
    )
    .unwrap();
    assert_eq!(t.len(), 3652);
    assert_eq!(t.freq, Some(Freq::Days(1)));
    assert_eq!(notes.len(), 2, "{notes:?}");
    has(&notes[0], &["1984-12-31"]);
    has(&notes[1], &["1988-12-31"]);
    let e = read_series(
        &dir.join("daily-min-temperatures.csv"),
        &SeriesSpec {
            fill: Fill::None,
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    has(&e, &["line 1462", "1984-12-31"]);
    let a = read_series(
        &dir.join("airline-passengers.csv"),
        &spec(&["Passengers"]),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((a.len(), a.freq), (144, Some(Freq::Months(1))));
    let p = plan(
        &ForecastTrainConfig {
            horizon: 24,
            ..Default::default()
        },
        &a,
    )
    .unwrap();
    assert_eq!(p.season, Some(12));
    assert_eq!(p.test_origins, vec![(119, 24)]);
    let s = read_series(
        &dir.join("monthly-sunspots.csv"),
        &SeriesSpec::default(),
        &mut |_| {},
    )
    .unwrap();
    let p = plan(
        &ForecastTrainConfig {
            horizon: 12,
            test: Some(120),
            ..Default::default()
        },
        &s,
    )
    .unwrap();
    assert_eq!(p.test_origins.len(), 10);
    assert_eq!(p.test_origins[0], (2699, 12));
}

/// The scaler refuses columns whose mean or spread overflows (past the reader's bound, as
/// a library caller could pass), instead of fitting NaN.
#[test]
fn scaler_refuses_values_it_cannot_square() {
    let cols = vec!["v".to_string()];
    let e = Scaler::fit(Scale::Standard, &[1e308, -1e308, 1e308], 1, 3, &cols).unwrap_err();
    assert!(e.to_string().contains("column `v`"), "{e}");
    // At the reader's bound the fit is finite.
    let s = Scaler::fit(Scale::Standard, &[1e150, -1e150, 1e150], 1, 3, &cols).unwrap();
    assert!(s.std[0].is_finite() && s.mean[0].is_finite());
}

/// The checkpoint `forecast` uses is refit on every row (CONVENTIONS.md, Data): the held-out
/// rows that scored the recipe also train it, for the same number of epochs as the
/// held-out run's best checkpoint.
#[test]
fn the_forecasting_checkpoint_is_refit_on_every_row() {
    let cfg = ForecastTrainConfig {
        horizon: 6,
        lookback: Some(12),
        test: Some(12),
        val: Some(12),
        hidden: 8,
        patience: 0,
        ..Default::default()
    };
    let d = tmp("refit");
    let series = sine(120);
    let s = train_forecast(
        &cfg,
        &series,
        Fill::Interpolate,
        &TrainRequest::new(&d).steps(30),
        &mut Quiet,
    )
    .unwrap();
    assert!(s.test.is_some());
    let r = s.refit.expect("a refit with test rows");
    let best = recurrent::checkpoint::read(d.join("best.safetensors")).unwrap();
    let best_step: f64 = best.metadata["step"].parse().unwrap();
    // Windows: 120 - 12 - 6 + 1 on every row, against 96 - 12 - 6 + 1 held out.
    assert_eq!(r.train_windows, 103);
    assert_eq!(r.steps, (best_step * 103.0 / 79.0).ceil() as u64);
    let path = recurrent_tasks::forecast::forecast_checkpoint(&d).unwrap();
    assert_eq!(path, d.join("refit").join("best.safetensors"));
    let f = load_forecaster(&path).unwrap();
    let y = series.target();
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    assert!(
        (f.meta.scaler.mean[0] - mean).abs() < 1e-9,
        "the refit's scaler saw every row: {} vs {mean}",
        f.meta.scaler.mean[0]
    );
    let held = load_forecaster(&d.join("best.safetensors")).unwrap();
    let fit_mean = y[..96].iter().sum::<f64>() / 96.0;
    assert!((held.meta.scaler.mean[0] - fit_mean).abs() < 1e-9);
    // Resuming the finished run changes nothing, refit included.
    let before = weights(&d.join("refit"), "best.safetensors");
    let again = train_forecast(
        &cfg,
        &series,
        Fill::Interpolate,
        &TrainRequest {
            resume: true,
            ..TrainRequest::new(&d).steps(30)
        },
        &mut Quiet,
    )
    .unwrap();
    assert!(again.already_complete);
    assert_eq!(weights(&d.join("refit"), "best.safetensors"), before);
    // --test 0: no held-out report and no refit; the run itself is the forecaster.
    let d0 = tmp("refit-none");
    let s0 = train_forecast(
        &ForecastTrainConfig {
            test: Some(0),
            ..cfg.clone()
        },
        &series,
        Fill::Interpolate,
        &TrainRequest::new(&d0).steps(5),
        &mut Quiet,
    )
    .unwrap();
    assert!(s0.refit.is_none() && s0.test.is_none());
    assert_eq!(
        recurrent_tasks::forecast::forecast_checkpoint(&d0).unwrap(),
        d0.join("best.safetensors")
    );
}

/// augurs' ETS against statsmodels' ETSModel on generated series
/// (scripts/ets_reference.py wrote the fixture): the same model form, fit by maximum
/// likelihood on both sides, forecasts within 0.5% of the series' spread.
#[test]
fn ets_matches_statsmodels() {
    let text = include_str!("fixtures/ets_reference.json");
    let cases: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
    assert_eq!(cases.len(), 3);
    for c in cases {
        let y: Vec<f64> = serde_json::from_value(c["y"].clone()).unwrap();
        let want: Vec<f64> = serde_json::from_value(c["forecast"].clone()).unwrap();
        // The automatic search (`ZZN`, what the `ets` method runs) must land on the form
        // statsmodels was given: ANN, AAN, or AAN with a damped trend.
        let got = recurrent_tasks::forecast::classical::ets_with(&y, want.len(), "ZZN").unwrap();
        let lo = y.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        for (s, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 0.005 * (hi - lo),
                "{} step {}: augurs {g}, statsmodels {w}",
                c["name"],
                s + 1
            );
        }
    }
}

/// The default forecaster's choices (transform, members, lookback, season) come from the
/// rows before the test rows alone: rewriting the test rows moves none of them.
#[test]
fn choices_never_read_the_test_rows() {
    let cfg = ForecastTrainConfig {
        horizon: 6,
        hidden: 8,
        patience: 0,
        ..Default::default()
    };
    let a = sine(120);
    let mut v = a.values.clone();
    for x in &mut v[114..] {
        *x *= -1000.0;
    }
    let b = Series::from_values("y", v);
    let run = |s: &Series, name: &str| {
        train_forecast(
            &cfg,
            s,
            Fill::Interpolate,
            &TrainRequest::new(tmp(name)).steps(20),
            &mut Quiet,
        )
        .unwrap()
    };
    let (ra, rb) = (run(&a, "blind-a"), run(&b, "blind-b"));
    let (sa, sb) = (ra.selection.unwrap(), rb.selection.unwrap());
    assert_eq!(sa.chosen, sb.chosen);
    assert_eq!(sa.candidates, sb.candidates);
    assert_eq!((ra.lookback, ra.season), (rb.lookback, rb.season));
    // The test metrics did see the change.
    assert_ne!(ra.test.unwrap().table, rb.test.unwrap().table);
}

/// `--backtest K` holds out K strides and reports each metric's mean and spread over the K
/// origins, each origin scored on its own steps.
#[test]
fn backtest_reports_the_mean_and_spread_over_its_origins() {
    let cfg = ForecastTrainConfig {
        horizon: 6,
        backtest: Some(3),
        hidden: 8,
        ensemble: 2,
        patience: 0,
        ..Default::default()
    };
    let s = train_forecast(
        &cfg,
        &sine(150),
        Fill::Interpolate,
        &TrainRequest::new(tmp("backtest")).steps(10),
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(s.test_rows, 18);
    let t = s.test.unwrap();
    assert_eq!(t.points.len(), 18);
    let model = t.spread.iter().find(|r| r.name == "model").unwrap();
    assert_eq!(model.origins, 3);
    let scale = t.mase_scale.unwrap();
    let per: Vec<f64> = t
        .points
        .chunks(6)
        .map(|c| c.iter().map(|p| (p.actual - p.model).abs()).sum::<f64>() / 6.0 / scale)
        .collect();
    let mean = per.iter().sum::<f64>() / 3.0;
    let sd = (per.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    let (m, d) = model.mase.unwrap();
    assert!(
        (m - mean).abs() < 1e-12 && (d - sd).abs() < 1e-12,
        "{m} {d} vs {mean} {sd}"
    );
    assert!(t.spread.iter().any(|r| r.name == "seasonal_naive"));
}
