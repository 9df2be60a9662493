use super::train::quantile;
use super::*;
use crate::forecast::series::Freq;
use recurrent::train::observe::{Limits, Observer};
use recurrent::train::runner::TrainRequest;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-panel-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `n` monthly series in long format (`id,month,value`), each a level, a yearly season of
/// its own phase and a little deterministic noise; `rows(i)` rows for series i, ending in
/// December 2010. The rows of the series are interleaved, as some exports write them.
fn panel_csv(dir: &Path, n: usize, rows: impl Fn(usize) -> usize, test_shift: f64) -> PathBuf {
    let mut by_row: Vec<(usize, usize, String)> = Vec::new();
    for i in 0..n {
        let r = rows(i);
        for t in 0..r {
            let month = 2010 * 12 + 11 - (r - 1 - t);
            let (y, m) = (month / 12, month % 12 + 1);
            let phase = i as f64 * 0.7;
            let level = 50.0 + 10.0 * i as f64;
            let noise = ((t * 7 + i * 13) % 11) as f64 / 11.0 - 0.5;
            let mut v =
                level * (1.0 + 0.2 * (std::f64::consts::PI * t as f64 / 6.0 + phase).sin()) + noise;
            // The last 3 rows are each series' test rows under --horizon 3.
            if t + 3 >= r {
                v += test_shift;
            }
            by_row.push((t, i, format!("s{i},{y}-{m:02},{v:.4}\n")));
        }
    }
    by_row.sort_by_key(|(t, i, _)| (*t, *i));
    let mut s = String::from("id,month,value\n");
    s.extend(by_row.into_iter().map(|r| r.2));
    let p = dir.join("panel.csv");
    std::fs::write(&p, s).unwrap();
    p
}

fn spec(data: &Path) -> PanelSpec {
    PanelSpec {
        data: data.to_path_buf(),
        id_column: "id".into(),
        column: None,
        date_column: None,
        fill: Fill::Interpolate,
    }
}

struct Quiet;
impl Observer for Quiet {}

fn small() -> ForecastTrainConfig {
    ForecastTrainConfig {
        horizon: 3,
        hidden: 6,
        ensemble: 2,
        batch: 16,
        scale: Scale::Auto,
        ..Default::default()
    }
}

fn request(out: &Path, steps: u64) -> TrainRequest {
    let mut req = TrainRequest::new(out);
    req.limits = Limits {
        steps: Some(steps),
        time_budget: None,
        epochs: None,
    };
    req
}

#[test]
fn a_long_file_is_read_as_one_series_per_id_with_its_own_dates_and_repairs() {
    let dir = tmp("read");
    let data = panel_csv(&dir, 3, |i| 30 + 5 * i, 0.0);
    // An empty cell in series s1 is filled, and the notice names the id.
    let text = std::fs::read_to_string(&data).unwrap();
    let cell = text.find("s1,2009-01,").unwrap();
    let end = cell + text[cell..].find('\n').unwrap();
    std::fs::write(
        &data,
        format!("{}s1,2009-01,{}", &text[..cell], &text[end..]),
    )
    .unwrap();
    let mut notes = Vec::new();
    let p = read_panel(&spec(&data), &mut |m| notes.push(m.to_string())).unwrap();
    assert_eq!(p.ids, ["s0", "s1", "s2"]);
    assert_eq!(p.column, "value");
    assert_eq!(p.date_column.as_deref(), Some("month"));
    let lens: Vec<usize> = p.series.iter().map(|s| s.len()).collect();
    assert_eq!(lens, [30, 35, 40]);
    assert!(p.series.iter().all(|s| s.freq == Some(Freq::Months(1))));
    assert_eq!(p.series[2].date_after(1).unwrap().to_string(), "2011-01");
    assert!(p.series[1].values.iter().all(|v| v.is_finite()));
    assert!(notes.iter().any(|n| n.starts_with("id `s1`:")), "{notes:?}");

    // The errors name what to fix.
    let err = |s: &PanelSpec| read_panel(s, &mut |_| {}).unwrap_err().to_string();
    let e = err(&PanelSpec {
        id_column: "series".into(),
        ..spec(&data)
    });
    assert!(
        e.contains("no column `series` (given by --id-column)") && e.contains("id, month, value"),
        "{e}"
    );
    std::fs::write(&data, "id,month,value\ns0,2000-01,1\n,2000-02,2\n").unwrap();
    let e = err(&spec(&data));
    assert!(
        e.contains("line 3") && e.contains("id column `id` is empty"),
        "{e}"
    );
    std::fs::write(&data, "id,month,value\ns0,2000-02,1\ns0,2000-01,2\n").unwrap();
    assert!(
        err(&spec(&data)).contains("line 3"),
        "dates that go back name their line"
    );
    // An id and values that look like years: no date column, the values are the series.
    std::fs::write(&data, "id,value\na,2001\nb,1990\na,2003\n").unwrap();
    let p = read_panel(&spec(&data), &mut |_| {}).unwrap();
    assert_eq!(
        (p.column.as_str(), p.date_column.as_deref()),
        ("value", None)
    );
    assert_eq!(p.series[0].values, [2001.0, 2003.0]);
}

#[test]
fn the_plan_takes_the_panels_season_and_leaves_out_series_too_short() {
    let dir = tmp("plan");
    let data = panel_csv(&dir, 6, |i| if i == 5 { 10 } else { 60 }, 0.0);
    let p = read_panel(&spec(&data), &mut |_| {}).unwrap();
    let cfg = panel_scale(&small(), &p);
    assert_eq!(cfg.scale, Scale::Log, "every value is positive");
    let plan = panel_plan(&cfg, &p).unwrap();
    assert_eq!(plan.season, Some(12));
    assert_eq!(plan.lookback, 24);
    assert_eq!((plan.val, plan.test), (3, 3));
    assert_eq!(plan.used, [0, 1, 2, 3, 4]);
    assert_eq!(plan.skipped, [5]);
    let bad = |c: ForecastTrainConfig| panel_plan(&c, &p).unwrap_err().to_string();
    assert!(bad(ForecastTrainConfig {
        backtest: Some(2),
        ..cfg.clone()
    })
    .contains("--backtest"));
    assert!(bad(ForecastTrainConfig {
        val: Some(5),
        ..cfg.clone()
    })
    .contains("--val 5"));
    assert!(bad(ForecastTrainConfig {
        lookback: Some(80),
        ..cfg.clone()
    })
    .contains("no series"));
    // Zero or negative values keep the values as they are.
    let mut q = p.clone();
    q.series[0].values[3] = 0.0;
    assert_eq!(panel_scale(&small(), &q).scale, Scale::Standard);
}

#[test]
fn the_pooled_quantile_interpolates_between_order_statistics() {
    let v: Vec<f64> = (0..11).map(|i| i as f64).collect();
    assert_eq!(quantile(&v, 0.0), 0.0);
    assert_eq!(quantile(&v, 0.1), 1.0);
    assert!((quantile(&v, 0.975) - 9.75).abs() < 1e-12);
    assert_eq!(quantile(&[2.0], 0.9), 2.0);
}

#[test]
fn a_global_model_trains_reports_every_series_and_forecasts_new_ones() {
    let dir = tmp("train");
    let data = panel_csv(&dir, 24, |i| 48 + i, 0.0);
    let p = read_panel(&spec(&data), &mut |_| {}).unwrap();
    let out = dir.join("run");
    let s = train_panel(&small(), &p, &spec(&data), &request(&out, 40), &mut Quiet).unwrap();
    assert_eq!((s.series, s.used, s.steps), (24, 24, 40));
    let t = s.test.as_ref().unwrap();
    assert_eq!(t.points.len(), 24 * 3);
    assert_eq!(t.compared, 24);
    let names: Vec<&str> = t.table.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.starts_with(&["model", "rnn", "naive", "seasonal_naive"]),
        "{names:?}"
    );
    let choice = s.choice.as_ref().unwrap();
    assert_eq!(
        choice.scores.len(),
        4,
        "the network alone and with each subset of partners"
    );
    // 24 series give pooled intervals; they hold the forecast's spread in order.
    let c80 = t.coverage_80.unwrap();
    assert!((0.0..=1.0).contains(&c80));
    for pt in t.points.iter().map(|p| &p.point) {
        let (l, u) = (pt.lower.unwrap(), pt.upper.unwrap());
        assert!(pt.lower_95.unwrap() <= l && l <= u && u <= pt.upper_95.unwrap());
    }
    // The refit is what `forecast` loads: it carries the choice and the intervals.
    let path = crate::forecast::forecast_checkpoint(&out).unwrap();
    assert!(path.starts_with(out.join("refit")) && is_panel_checkpoint(&path));
    let f = load_panel_forecaster(&path).unwrap();
    assert_eq!(f.meta.combination, choice.combination);
    assert_eq!(f.meta.quantiles.as_ref().map(|q| q.len()), Some(3));
    // A series the model never saw, and one shorter than the lookback, are forecast too.
    let mut q = p.clone();
    q.ids.push("new".into());
    q.series.push(q.series[3].clone());
    q.series[0].values.truncate(10);
    if let Some(d) = q.series[0].dates.as_mut() {
        d.truncate(10);
    }
    let fc = f.forecast_panel(&q, 3).unwrap();
    assert_eq!(fc.len(), 25);
    assert_eq!(
        fc[24].values, fc[3].values,
        "a forecast reads the window alone"
    );
    assert_eq!(fc[0].values.len(), 3);
    assert!(fc
        .iter()
        .flat_map(|f| &f.values)
        .all(|v| v.is_finite() && *v > 0.0));
    assert_eq!(fc[2].dates.as_ref().unwrap()[0].to_string(), "2011-01");
    // A forecaster of one series is not taken for a panel's.
    assert!(!is_panel_checkpoint(&dir.join("none.safetensors")));
}

#[test]
fn what_is_chosen_never_reads_the_test_rows() {
    let dir = tmp("blind");
    let run = |shift: f64, name: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let data = panel_csv(&d, 20, |i| 40 + i, shift);
        let p = read_panel(&spec(&data), &mut |_| {}).unwrap();
        let cfg = ForecastTrainConfig {
            test: Some(3),
            ..small()
        };
        train_panel(
            &cfg,
            &p,
            &spec(&data),
            &request(&d.join("run"), 30),
            &mut Quiet,
        )
        .unwrap()
    };
    let a = run(0.0, "a");
    let b = run(25.0, "b");
    assert_eq!((a.lookback, a.season), (b.lookback, b.season));
    assert_eq!(a.best_val_mse, b.best_val_mse);
    assert_eq!(a.choice, b.choice);
    let mase = |s: &PanelSummary| s.test.as_ref().unwrap().table[0].mase;
    assert_ne!(mase(&a), mase(&b), "the test rows did change");
}
