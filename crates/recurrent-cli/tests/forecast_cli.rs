//! End-to-end: `recurrent train forecast` and `recurrent forecast` on small CSV files made
//! here: the metrics table, the run's files, the CSV forecast continuing the dates, JSON
//! output, and the error cases (one clear message, non-zero exit, no panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-fcli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> (String, String) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "recurrent {args:?} failed:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    (String::from_utf8(o.stdout).unwrap(), err)
}

fn fails(args: &[&str], needles: &[&str]) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "recurrent {args:?} should fail");
    assert!(!err.contains("panicked"), "panic: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr of {args:?} lacks `{n}`:\n{err}");
    }
}

/// A daily series, 2019-01-01 onwards, with 2019-01-10 missing.
fn daily_csv(dir: &Path) -> PathBuf {
    let mut s = String::from("\"Date\",\"Value\"\r\n");
    let start = 17897; // days from 1970-01-01 to 2019-01-01
    for i in 0..120 {
        if i == 9 {
            continue;
        }
        let d = civil(start + i);
        let v = 10.0 + 3.0 * (2.0 * std::f64::consts::PI * i as f64 / 7.0).sin();
        s.push_str(&format!("\"{d}\",{v:.3}\r\n"));
    }
    let p = dir.join("daily.csv");
    std::fs::write(&p, s).unwrap();
    p
}

fn civil(days: i64) -> String {
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[test]
fn train_then_forecast_continues_the_dates() {
    let dir = tmp("dates");
    let data = daily_csv(&dir);
    let out = dir.join("run");
    let (stdout, stderr) = ok(&[
        "train",
        "forecast",
        "--data",
        data.to_str().unwrap(),
        "--horizon",
        "3",
        "--lookback",
        "14",
        "--hidden",
        "8",
        "--steps",
        "30",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(stderr.contains("missing date 2019-01-10"), "{stderr}");
    for name in ["model", "naive", "seasonal_naive", "drift"] {
        assert!(stdout.lines().any(|l| l.starts_with(name)), "{stdout}");
    }
    assert!(
        stdout.contains("RMSE") && stdout.contains("MASE"),
        "{stdout}"
    );
    for f in [
        "best.safetensors",
        "test_forecasts.csv",
        "test_metrics.json",
        "forecast.png",
        "config.json",
        "metrics.jsonl",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // A language-model command on a forecaster names both tasks (issue 28, item 8).
    let o = run(&["sample", "--checkpoint", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("is a `forecast` model") && err.contains("`sample` needs an `lm` model"),
        "{err}"
    );
    let csv = std::fs::read_to_string(out.join("test_forecasts.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "row,date,step,actual,model,lower,upper,lower_95,upper_95,rnn,naive,seasonal_naive,drift,ets,mstl,theta"
    );
    assert_eq!(csv.lines().count(), 4, "{csv}");
    // The series ends on 2019-04-30: the forecast starts on 2019-05-01.
    let png = dir.join("f.png");
    let (fc, _) = ok(&[
        "forecast",
        "--checkpoint",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]);
    let lines: Vec<&str> = fc.lines().collect();
    assert_eq!(lines[0], "date,forecast,lower,upper,lower_95,upper_95");
    assert_eq!(lines.len(), 4, "{fc}");
    assert!(lines[1].starts_with("2019-05-01,"), "{fc}");
    assert!(lines[3].starts_with("2019-05-03,"), "{fc}");
    assert!(png.is_file());
    let (js, _) = ok(&[
        "forecast",
        "--checkpoint",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
        "--horizon",
        "2",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(js.trim()).unwrap();
    assert_eq!(v["values"].as_array().unwrap().len(), 2);
    // No --plot, no PNG (it overwrote ./forecast.png); a --plot that cannot be written
    // fails the command (it warned and exited 0) (issue 28, item 14).
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args([
            "forecast",
            "--checkpoint",
            out.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success() && !dir.join("forecast.png").exists());
    let nowhere = dir.join("no-such-folder").join("f.png");
    fails(
        &[
            "forecast",
            "--checkpoint",
            out.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--plot",
            nowhere.to_str().unwrap(),
        ],
        &["--plot", "no-such-folder"],
    );
    assert_eq!(v["dates"][0], "2019-05-01");
    // A direct model trained for 3 steps cannot forecast 4.
    fails(
        &[
            "forecast",
            "--checkpoint",
            out.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--horizon",
            "4",
            "--plot",
            png.to_str().unwrap(),
        ],
        &["at most 3 steps"],
    );
    // The run exists: a second train into it needs --resume.
    fails(
        &[
            "train",
            "forecast",
            "--data",
            data.to_str().unwrap(),
            "--horizon",
            "3",
            "--steps",
            "5",
            "--out",
            out.to_str().unwrap(),
        ],
        &["--resume"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn all_columns_trains_each_column_and_forecasts_them_together() {
    let dir = tmp("allcols");
    // Two value columns (one with a comma in its name) after the date column, and a text
    // column that is left out.
    let mut s = String::from("month,sales,store,\"cost, total\"\n");
    for i in 0..60 {
        let (y, m) = (2000 + i / 12, i % 12 + 1);
        let season = (std::f64::consts::PI * i as f64 / 6.0).sin();
        s.push_str(&format!(
            "{y}-{m:02},{:.3},north,{:.3}\n",
            50.0 + 5.0 * season,
            20.0 + 0.5 * i as f64
        ));
    }
    let data = dir.join("two.csv");
    std::fs::write(&data, s).unwrap();
    let out = dir.join("run");
    let (stdout, stderr) = ok(&[
        "train",
        "forecast",
        "--data",
        data.to_str().unwrap(),
        "--all-columns",
        "--horizon",
        "3",
        "--hidden",
        "4",
        "--ensemble",
        "1",
        "--steps",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains("left out `store` (not numbers)"),
        "{stderr}"
    );
    assert!(!out.join("store").exists());
    assert!(stdout.contains("sales: test MASE"), "{stdout}");
    assert!(stdout.contains("cost, total: test MASE"), "{stdout}");
    assert!(out.join("sales").join("test_metrics.json").is_file());
    assert!(out.join("cost__total").join("refit").is_dir());
    let (fc, _) = ok(&[
        "forecast",
        "--checkpoint",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    let lines: Vec<&str> = fc.lines().collect();
    assert_eq!(
        lines[0],
        "date,forecast,lower,upper,lower_95,upper_95,column"
    );
    assert_eq!(lines.len(), 1 + 2 * 3, "{fc}");
    assert!(
        lines[1].starts_with("2005-01,") && lines[1].ends_with(",sales"),
        "{fc}"
    );
    assert!(
        lines[6].starts_with("2005-03,") && lines[6].ends_with(",\"cost, total\""),
        "{fc}"
    );
    // The same --out again without --resume is refused, naming it, and changes nothing.
    let index = std::fs::read(out.join("columns.json")).unwrap();
    fails(
        &[
            "train",
            "forecast",
            "--data",
            data.to_str().unwrap(),
            "--all-columns",
            "--out",
            out.to_str().unwrap(),
        ],
        &["--resume"],
    );
    assert_eq!(std::fs::read(out.join("columns.json")).unwrap(), index);
    // A run of one series is not taken over by --all-columns either.
    let single = out.join("sales");
    fails(
        &[
            "train",
            "forecast",
            "--data",
            data.to_str().unwrap(),
            "--all-columns",
            "--out",
            single.to_str().unwrap(),
        ],
        &["holds a run of one series"],
    );
    assert!(!single.join("columns.json").exists());
    // `--resume DIR` alone continues the whole run from the parent's stored command: both
    // columns are complete already, and their directories hold no command of their own.
    let (again, _) = ok(&["train", "forecast", "--resume", out.to_str().unwrap()]);
    assert!(
        again.contains("sales: test MASE") && again.contains("cost, total: test MASE"),
        "{again}"
    );
    assert!(!out.join("sales").join("command.json").exists());
    // Each column's forecast is that column's own run's.
    let (one, _) = ok(&[
        "forecast",
        "--checkpoint",
        out.join("sales").to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(
        one.lines().nth(1).map(|l| format!("{l},sales")).as_deref(),
        Some(lines[1])
    );
    fails(
        &[
            "train",
            "forecast",
            "--data",
            data.to_str().unwrap(),
            "--all-columns",
            "--column",
            "sales",
        ],
        &["--all-columns", "--column"],
    );
    // An index that points outside its run is refused, naming the file.
    std::fs::write(
        out.join("columns.json"),
        r#"{"columns":[{"column":"x","dir":"../../etc"}]}"#,
    )
    .unwrap();
    fails(
        &[
            "forecast",
            "--checkpoint",
            out.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        &["columns.json", "not a plain name"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_summary_and_step_column_without_dates() {
    let dir = tmp("json");
    let mut s = String::from("x,y\n");
    for i in 0..80 {
        s.push_str(&format!("{i},{}\n", 5.0 + (i as f64 / 3.0).sin()));
    }
    let data = dir.join("nodates.csv");
    std::fs::write(&data, s).unwrap();
    let out = dir.join("run");
    let (stdout, _) = ok(&[
        "train",
        "forecast",
        "--data",
        data.to_str().unwrap(),
        "--column",
        "y",
        "--horizon",
        "2",
        "--strategy",
        "recursive",
        "--lookback",
        "8",
        "--hidden",
        "4",
        "--steps",
        "10",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1);
    assert_eq!(v["steps"], 10);
    assert_eq!(v["test_rows"], 2);
    let names: Vec<&str> = v["test"]["table"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "model");
    assert!(names.contains(&"naive") && names.contains(&"drift"));
    let png = dir.join("p.png");
    let (fc, _) = ok(&[
        "forecast",
        "--checkpoint",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--horizon",
        "5",
        "--plot",
        png.to_str().unwrap(),
    ]);
    let lines: Vec<&str> = fc.lines().collect();
    assert_eq!(lines[0], "step,forecast,lower,upper,lower_95,upper_95");
    assert_eq!(lines.len(), 6);
    assert!(lines[5].starts_with("5,"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_csv_input_is_one_clear_error() {
    let dir = tmp("bad");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    // A NaN is a missing value: with --fill none, an error naming its line and column.
    let nan = write("nan.csv", "d,v\n2020-01,1\n2020-02,NaN\n2020-03,3\n");
    fails(
        &[
            "train",
            "forecast",
            "--data",
            &nan,
            "--fill",
            "none",
            "--out",
            dir.join("r1").to_str().unwrap(),
        ],
        &[
            "nan.csv",
            "line 3",
            "column `v`",
            "missing value",
            "--fill none",
        ],
    );
    let txt = write("txt.csv", "d,v\n2020-01,1\n2020-02,ten\n");
    fails(
        &[
            "train",
            "forecast",
            "--data",
            &txt,
            "--out",
            dir.join("r2").to_str().unwrap(),
        ],
        &["line 3", "`ten` is not a number"],
    );
    let rag = write("rag.csv", "d,v\n2020-01,1\n2020-02\n");
    fails(
        &[
            "train",
            "forecast",
            "--data",
            &rag,
            "--out",
            dir.join("r3").to_str().unwrap(),
        ],
        &["line 3", "1 fields"],
    );
    let gap = write(
        "gap.csv",
        "d,v\n2020-01,1\n2020-02,2\n2020-03,3\n2020-05,5\n",
    );
    fails(
        &[
            "train",
            "forecast",
            "--data",
            &gap,
            "--fill",
            "none",
            "--out",
            dir.join("r4").to_str().unwrap(),
        ],
        &["line 5", "missing date 2020-04"],
    );
    fails(
        &[
            "train",
            "forecast",
            "--data",
            &gap,
            "--column",
            "w",
            "--out",
            dir.join("r5").to_str().unwrap(),
        ],
        &["no column `w`", "`d`, `v`"],
    );
    let short: String = std::iter::once("d,v\n".to_string())
        .chain((1..=12).map(|m| format!("2020-{m:02},{m}\n")))
        .collect();
    let short = write("short.csv", &short);
    fails(
        &[
            "train",
            "forecast",
            "--data",
            &short,
            "--horizon",
            "3",
            "--lookback",
            "8",
            "--out",
            dir.join("r6").to_str().unwrap(),
        ],
        &["12 rows are too few", "--lookback"],
    );
    fails(
        &["train", "forecast", "--data", &short, "--fill", "sometimes"],
        &["--fill"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn id_column_trains_one_model_for_a_panel_and_forecasts_every_series() {
    let dir = tmp("panel");
    // 25 monthly series in long format, the id first and the date second, one series with
    // an empty cell.
    let mut s = String::from("store,month,sales\n");
    for i in 0..25 {
        for t in 0..40 {
            let (y, m) = (2000 + t / 12, t % 12 + 1);
            let season = (std::f64::consts::PI * t as f64 / 6.0 + i as f64).sin();
            let noise = ((t * 7 + i * 13) % 11) as f64 / 5.0 - 1.0;
            let v = 100.0 + 10.0 * i as f64 + 8.0 * season + noise;
            if i == 3 && t == 20 {
                s.push_str(&format!("shop {i},{y}-{m:02},\n"));
            } else {
                s.push_str(&format!("shop {i},{y}-{m:02},{v:.3}\n"));
            }
        }
    }
    let data = dir.join("panel.csv");
    std::fs::write(&data, s).unwrap();
    let out = dir.join("run");
    let args = [
        "train",
        "forecast",
        "--data",
        data.to_str().unwrap(),
        "--id-column",
        "store",
        "--horizon",
        "3",
        "--hidden",
        "4",
        "--ensemble",
        "1",
        "--steps",
        "20",
        "--out",
        out.to_str().unwrap(),
    ];
    let (stdout, stderr) = ok(&args);
    assert!(stderr.contains("id `shop 3`:"), "{stderr}");
    assert!(stderr.contains("forecaster: rnn"), "{stderr}");
    assert!(
        stdout.contains("test: the last 3 rows of 25 series"),
        "{stdout}"
    );
    assert!(stdout.contains("seasonal_naive"), "{stdout}");
    let test = std::fs::read_to_string(out.join("test_forecasts.csv")).unwrap();
    assert!(test.starts_with("store,date,step,actual,model,"), "{test}");
    assert_eq!(test.lines().count(), 1 + 25 * 3);
    let (fc, _) = ok(&[
        "forecast",
        "--checkpoint",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    let lines: Vec<&str> = fc.lines().collect();
    assert_eq!(
        lines[0],
        "date,forecast,lower,upper,lower_95,upper_95,store"
    );
    assert_eq!(lines.len(), 1 + 25 * 3, "{fc}");
    assert!(
        lines[1].starts_with("2003-05,") && lines[1].ends_with(",shop 0"),
        "{fc}"
    );
    assert!(lines[75].starts_with("2003-07,") && lines[75].ends_with(",shop 24"));
    // JSON: one forecast per id.
    let (js, _) = ok(&[
        "forecast",
        "--checkpoint",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["series"].as_array().unwrap().len(), 25);
    assert_eq!(v["series"][1]["id"], "shop 1");
    // --plot draws one series: refused for a panel, before anything is printed.
    fails(
        &[
            "forecast",
            "--checkpoint",
            out.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--plot",
            dir.join("p.png").to_str().unwrap(),
        ],
        &["--plot"],
    );
    assert!(!dir.join("p.png").exists());
    // The finished run resumes as complete; a bad id column is one clear error.
    let (_, again) = ok(&["train", "forecast", "--resume", out.to_str().unwrap()]);
    assert!(again.contains("complete"), "{again}");
    fails(
        &[
            "train",
            "forecast",
            "--data",
            data.to_str().unwrap(),
            "--id-column",
            "shop",
            "--horizon",
            "3",
        ],
        &["no column `shop`", "--id-column"],
    );
}

#[test]
fn a_forecaster_of_every_newer_cell_loads() {
    // minGRU has no weight_hh and the normalised cells carry gains: the loader checks the
    // shapes each cell implies.
    let dir = tmp("mingru");
    let data = daily_csv(&dir);
    let out = dir.join("run");
    for cell in ["mingru", "minlstm", "lstm_ln", "gru_ln"] {
        let out = out.join(cell);
        ok(&[
            "train",
            "forecast",
            "--data",
            data.to_str().unwrap(),
            "--cell",
            cell,
            "--horizon",
            "2",
            "--hidden",
            "4",
            "--ensemble",
            "2",
            "--steps",
            "3",
            "--out",
            out.to_str().unwrap(),
        ]);
        let (fc, _) = ok(&[
            "forecast",
            "--checkpoint",
            out.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ]);
        assert_eq!(fc.lines().count(), 3, "{fc}");
    }
}
