//! `recurrent train forecast`: a recurrent forecaster for a CSV time series, evaluated on
//! the held-out end of the series beside the naive, seasonal naive and drift baselines.

use crate::common::{
    install_interrupt, print_json, show_defaults, OptimArgs, Progress, TrainCommon,
};
use crate::forecast::predict::csv_field;
use crate::plot;
use anyhow::{Context, Result};
use clap::Args;
use recurrent::train::{EvalInfo, Observer, StepInfo};
use recurrent_tasks::forecast::classical::Method;
use recurrent_tasks::forecast::columns::{train_columns, ColumnsSpec};
use recurrent_tasks::forecast::panel::{
    read_panel, train_panel, PanelSpec, PanelSummary, PANEL_LIMITS,
};
use recurrent_tasks::forecast::report::TestPoint;
use recurrent_tasks::forecast::series::{read_series, Fill, Series, SeriesSpec};
use recurrent_tasks::forecast::{
    train_forecast, ForecastSummary, ForecastTrainConfig, TestReport, DEFAULT_LIMITS,
};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(mut_args(|a| crate::common::show_limits(show_defaults(a, &ForecastTrainConfig::default().optim), &DEFAULT_LIMITS)))]
pub struct ForecastArgs {
    /// CSV file with a header row
    #[arg(long)]
    pub data: PathBuf,
    /// Value column (repeat for a multivariate series; the first is forecast) [default: the last column]
    #[arg(long = "column")]
    pub columns: Vec<String>,
    /// Forecast every value column of the file as its own series, each into DIR/<column>; `forecast --checkpoint DIR` then forecasts them all
    #[arg(long, conflicts_with = "columns")]
    pub all_columns: bool,
    /// Long format: the column naming each row's series. One global model learns from every series' windows and forecasts each (default time budget 100 s for each of the held-out run and the refit)
    #[arg(long, conflicts_with = "all_columns")]
    pub id_column: Option<String>,
    /// Date column [default: the first column, if its first cell is a date]
    #[arg(long)]
    pub date_column: Option<String>,
    /// Missing dates and empty, NA or NaN cells: interpolate (linear, each named on stderr), forward, or none (an error)
    #[arg(long, default_value = "interpolate")]
    pub fill: Fill,
    /// Steps forecast from each origin
    #[arg(long, default_value_t = ForecastTrainConfig::default().horizon)]
    pub horizon: usize,
    /// Rows each forecast reads [default: clamp(2 x season, 12, 48); 24 without a season]
    #[arg(long)]
    pub lookback: Option<usize>,
    /// Rows held out at the end to score the recipe, which is then refit on every row for `forecast` (0: no score, no refit, the network alone) [default: the horizon]
    #[arg(long)]
    pub test: Option<usize>,
    /// Validation rows before the test rows (early stopping) [default: 10% of the rows before the test; with --id-column, the horizon]
    #[arg(long)]
    pub val: Option<usize>,
    /// Test forecasts from an origin every this many rows [default: the horizon]
    #[arg(long)]
    pub stride: Option<usize>,
    /// K rolling test origins, every --stride rows: holds out K x stride rows (unless --test is given) and reports each metric's mean and spread
    #[arg(long)]
    pub backtest: Option<usize>,
    /// Season length for seasonal naive and MASE [default: detected from the training rows]
    #[arg(long)]
    pub season: Option<usize>,
    /// direct (H outputs at once) or recursive (one step, rolled forward H times)
    #[arg(long, default_value = "direct")]
    pub strategy: String,
    /// standard ((y - mean) / std), log, or auto (log when every value is positive and MSTL validates better on logs; with --id-column, when every value is positive) [default: standard; auto with --id-column]
    #[arg(long)]
    pub scale: Option<String>,
    /// delta (predict the change from the last value), level, or es (the ES-RNN hybrid: the value minus a level and season smoothed over the history, their coefficients learned with the network; direct strategy, one series)
    #[arg(long, default_value = "delta")]
    pub target: String,
    /// Cell: rnn_tanh (rnn), rnn_relu, irnn, lstm, gru, mingru, minlstm, lstm_ln, gru_ln
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    /// Hidden units per layer (per direction when bidirectional)
    #[arg(long, default_value_t = ForecastTrainConfig::default().hidden)]
    pub hidden: usize,
    /// Stacked recurrent layers
    #[arg(long, default_value_t = ForecastTrainConfig::default().layers)]
    pub layers: usize,
    /// Dropout between layers and before the output layer
    #[arg(long, default_value_t = ForecastTrainConfig::default().dropout)]
    pub dropout: f64,
    #[command(flatten)]
    pub reg: crate::common::RegArgs,
    /// Windows per batch
    #[arg(long, default_value_t = ForecastTrainConfig::default().batch)]
    pub batch: usize,
    /// Networks in the ensemble: each initialised apart, trained on the same batches, combined by the median
    #[arg(long, default_value_t = ForecastTrainConfig::default().ensemble)]
    pub ensemble: usize,
    /// Evaluations without a better validation error before stopping (0: never)
    #[arg(long, default_value_t = ForecastTrainConfig::default().patience)]
    pub patience: u64,
    /// Evaluate every N steps, or every S seconds of training with `Ns` (`120s`) [default: once per epoch, at most every 10 steps]
    #[arg(long)]
    pub eval_every: Option<recurrent::train::EvalEvery>,
    /// Initialisation: pytorch, orthogonal, recommended, identity
    #[arg(long, default_value = "pytorch")]
    pub init: String,
    #[command(flatten)]
    pub optim: OptimArgs,
    #[command(flatten)]
    pub common: TrainCommon,
}

impl ForecastArgs {
    pub fn config(&self) -> Result<ForecastTrainConfig> {
        let (cell, init) = crate::common::parse_cell(&self.cell, &self.init)?;
        Ok(ForecastTrainConfig {
            horizon: self.horizon,
            lookback: self.lookback,
            test: self.test,
            val: self.val,
            stride: self.stride,
            backtest: self.backtest,
            season: self.season,
            strategy: self.strategy.parse()?,
            scale: match (&self.scale, &self.id_column) {
                (Some(s), _) => s.parse()?,
                (None, Some(_)) => recurrent_tasks::forecast::Scale::Auto,
                (None, None) => ForecastTrainConfig::default().scale,
            },
            target: self.target.parse()?,
            cell,
            hidden: self.hidden,
            layers: self.layers,
            dropout: self.dropout,
            reg: self.reg.over(ForecastTrainConfig::default().reg),
            batch: self.batch,
            ensemble: self.ensemble,
            optim: self.optim.over(&ForecastTrainConfig::default().optim),
            patience: self.patience,
            eval_every: self.eval_every,
            init,
            seed: self.common.seed,
        })
    }
}

/// The progress bar without the language model's per-evaluation lines (bits per token mean
/// nothing here).
struct Quieter(Progress);
impl Observer for Quieter {
    fn on_step(&mut self, s: &StepInfo) {
        self.0.on_step(s)
    }
    fn on_eval(&mut self, _e: &EvalInfo) {}
    fn message(&mut self, msg: &str) {
        self.0.message(msg)
    }
    fn should_stop(&self) -> bool {
        self.0.should_stop()
    }
}

pub fn run(a: &ForecastArgs) -> Result<()> {
    a.common.apply_threads()?;
    let cfg = a.config()?;
    if a.all_columns {
        return run_columns(a, &cfg);
    }
    if let Some(id) = &a.id_column {
        return run_panel(a, &cfg, id);
    }
    let spec = SeriesSpec {
        columns: a.columns.clone(),
        date_column: a.date_column.clone(),
        fill: a.fill,
    };
    let series = read_series(&a.data, &spec, &mut |m| say!("{m}"))?;
    let out = a.common.out_dir("forecast");
    let req = a.common.request(&out, DEFAULT_LIMITS)?;
    say!(
        "forecasting `{}` of {} ({} rows{}), {}, horizon {}, into {}",
        series.columns[0],
        a.data.display(),
        series.len(),
        series.freq.map_or(String::new(), |f| format!(
            ", {f} from {}",
            series.date_column.as_deref().unwrap_or("?")
        )),
        a.strategy,
        a.horizon,
        out.display()
    );
    let mut progress = Quieter(Progress::new(install_interrupt()));
    let s = train_forecast(&cfg, &series, a.fill, &req, &mut progress)?;
    // The other ranks of a data-parallel job leave the report and the plots to rank 0.
    if !crate::ranks::is_primary() {
        return Ok(());
    }
    progress.0.finish();
    let plot_path = write_outputs(&out, &series, &s)?;
    report(&s, plot_path.as_deref(), a.common.json)
}

/// The test forecasts, metrics and plot of a finished run in `out`; the plot's path when
/// it was drawn.
fn write_outputs(out: &Path, series: &Series, s: &ForecastSummary) -> Result<Option<PathBuf>> {
    let Some(t) = &s.test else {
        return Ok(None);
    };
    let rows = t.points.iter().map(|p| (p.row.to_string(), p));
    write_test_files(out, &test_csv("row", rows), &t.table)?;
    let y = series.target();
    let p = out.join("forecast.png");
    let dates: Option<Vec<String>> = series
        .dates
        .as_ref()
        .map(|d| d.iter().map(|d| d.to_string()).collect());
    crate::common::finish_tensorboard(out);
    Ok(
        draw_test_plot(&p, &y, t, &series.columns[0], dates.as_deref())
            .is_ok()
            .then_some(p),
    )
}

/// `--all-columns`: every value column as its own series (`forecast::columns`), one line
/// of test metrics per column, or one JSON object with each column's summary.
fn run_columns(a: &ForecastArgs, cfg: &ForecastTrainConfig) -> Result<()> {
    let out = a.common.out_dir("forecast");
    let req = a.common.request(&out, DEFAULT_LIMITS)?;
    let spec = ColumnsSpec {
        data: a.data.clone(),
        date_column: a.date_column.clone(),
        fill: a.fill,
    };
    say!(
        "forecasting every value column of {} ({}, horizon {}), into {}",
        a.data.display(),
        a.strategy,
        a.horizon,
        out.display()
    );
    let mut progress = Quieter(Progress::new(install_interrupt()));
    let primary = crate::ranks::is_primary();
    let (runs, total) = train_columns(cfg, &spec, &req, &mut progress, &mut |run, series, s| {
        if primary {
            write_outputs(&out.join(&run.dir), series, s)
                .map_err(|e| recurrent::error::Error::Config(format!("{e:#}")))?;
        }
        Ok(())
    })?;
    if !primary {
        return Ok(());
    }
    progress.0.finish();
    if a.common.json {
        let columns: Vec<serde_json::Value> = runs
            .iter()
            .map(|(run, s)| {
                let v = summary_json(s)?;
                Ok(serde_json::json!({"column": run.column, "dir": run.dir, "summary": v}))
            })
            .collect::<Result<_>>()?;
        print_json(&serde_json::json!({"out": out, "columns": columns}));
        return Ok(());
    }
    for (run, s) in &runs {
        let mase = |name: &str| {
            s.test
                .as_ref()
                .and_then(|t| t.table.iter().find(|r| r.name == name))
                .and_then(|r| r.metrics.mase)
                .map_or("-".to_string(), |v| format!("{v:.3}"))
        };
        out!(
            "{}: test MASE {} (seasonal naive {}, ets {}, mstl {}){}",
            run.column,
            mase("model"),
            mase("seasonal_naive"),
            mase("ets"),
            mase("mstl"),
            s.selection.as_ref().map_or(String::new(), |sel| format!(
                "; the median of {}",
                sel.chosen
                    .members
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(" + ")
            ))
        );
    }
    say!(
        "{} of {} columns trained; `forecast --checkpoint {} --data FILE` forecasts them all",
        runs.len(),
        total,
        out.display()
    );
    Ok(())
}

/// The test points as CSV, one per line: the `lead` column (`row` for one series, the id
/// column for a panel) with each point's cell, then date, step, actual, the model and its
/// intervals, the network alone and every classical method.
fn test_csv<'a>(lead: &str, points: impl Iterator<Item = (String, &'a TestPoint)>) -> String {
    let mut s = format!("{lead},date,step,actual,model,lower,upper,lower_95,upper_95,rnn");
    for m in Method::ALL {
        s.push(',');
        s.push_str(m.name());
    }
    s.push('\n');
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    for (cell, p) in points {
        s.push_str(&format!(
            "{cell},{},{},{},{},{},{},{},{},{}",
            p.date.as_deref().unwrap_or(""),
            p.step,
            p.actual,
            p.model,
            opt(p.lower),
            opt(p.upper),
            opt(p.lower_95),
            opt(p.upper_95),
            p.rnn
        ));
        for b in &p.baselines {
            s.push(',');
            s.push_str(&opt(*b));
        }
        s.push('\n');
    }
    s
}

/// `DIR/test_forecasts.csv` and `DIR/test_metrics.json` (the metrics table).
fn write_test_files(out: &Path, csv: &str, table: &impl serde::Serialize) -> Result<()> {
    let path = out.join("test_forecasts.csv");
    std::fs::write(&path, csv).with_context(|| format!("writing {}", path.display()))?;
    let path = out.join("test_metrics.json");
    let json = serde_json::to_string_pretty(table).context("metrics")?;
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))
}

/// History (the last stretch before the test), test actuals and the model's test forecasts.
/// `dates` names each row on the x axis when the series is dated.
fn draw_test_plot(
    path: &Path,
    y: &[f64],
    t: &TestReport,
    name: &str,
    dates: Option<&[String]>,
) -> Result<()> {
    let first = t.points.iter().map(|p| p.row).min().unwrap_or(0);
    let last = t.points.iter().map(|p| p.row).max().unwrap_or(0);
    let span = (last + 1 - first).max(1);
    let from = first.saturating_sub((3 * span).max(48));
    let series = vec![
        plot::Series {
            name: "history".into(),
            points: (from..first).map(|i| (i as f64, y[i])).collect(),
        },
        plot::Series {
            name: "test actuals".into(),
            points: (first.saturating_sub(1)..=last)
                .map(|i| (i as f64, y[i]))
                .collect(),
        },
        plot::Series {
            name: "model forecast".into(),
            points: t.points.iter().map(|p| (p.row as f64, p.model)).collect(),
        },
    ];
    let series: Vec<plot::Series> = series
        .into_iter()
        .chain(baseline_series(t, Method::SeasonalNaive))
        .chain(baseline_series(t, Method::Ets))
        .collect();
    plot::line_chart(
        path,
        &plot::Chart {
            title: &format!("{name}: test forecasts"),
            x_label: if dates.is_some() { "date" } else { "row" },
            y_label: name,
            log_y: false,
            x_names: dates,
        },
        &series,
    )
}

/// A classical method's test forecasts as a plot series (None where it has none).
fn baseline_series(t: &TestReport, m: Method) -> Option<plot::Series> {
    let k = Method::ALL.iter().position(|x| *x == m)?;
    let points: Option<Vec<(f64, f64)>> = t
        .points
        .iter()
        .map(|p| p.baselines[k].map(|v| (p.row as f64, v)))
        .collect();
    Some(plot::Series {
        name: m.name().into(),
        points: points?,
    })
}

/// Mean +- standard deviation of each metric over the test origins.
fn spread_table(t: &TestReport) -> String {
    let n = t.spread.first().map_or(0, |s| s.origins);
    let mut s = format!(
        "over {n} origins (mean +- sd)\n{:<16} {:>18} {:>18} {:>16}\n",
        "forecaster", "RMSE", "sMAPE%", "MASE"
    );
    let pm = |v: (f64, f64)| format!("{:.3} +- {:.3}", v.0, v.1);
    for r in &t.spread {
        s.push_str(&format!(
            "{:<16} {:>18} {:>18} {:>16}\n",
            r.name,
            pm(r.rmse),
            pm(r.smape),
            r.mase.map_or("-".into(), pm)
        ));
    }
    s
}

/// The metrics table, one row per forecaster.
pub fn table(t: &TestReport) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    let mut s = format!(
        "{:<16} {:>10} {:>10} {:>10} {:>10} {:>8}\n",
        "forecaster", "RMSE", "MAE", "MAPE%", "sMAPE%", "MASE"
    );
    for r in &t.table {
        let m = &r.metrics;
        s.push_str(&format!(
            "{:<16} {:>10.3} {:>10.3} {:>10} {:>10.3} {:>8}\n",
            r.name,
            m.rmse,
            m.mae,
            f(m.mape),
            m.smape,
            f(m.mase)
        ));
    }
    s
}

/// A run's summary as JSON without its per-point test forecasts (they are in
/// DIR/test_forecasts.csv), to keep the object small.
fn summary_json(s: &impl serde::Serialize) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(s).context("summary")?;
    if let Some(t) = v.get_mut("test").and_then(|t| t.as_object_mut()) {
        t.remove("points");
    }
    Ok(v)
}

/// The share of test points inside the intervals, when there are intervals.
fn say_coverage(c80: Option<f64>, c95: Option<f64>) {
    if let (Some(c), Some(c95)) = (c80, c95) {
        say!(
            "80% and 95% intervals: cover {:.0}% and {:.0}% of the test points",
            100.0 * c,
            100.0 * c95
        );
    }
}

fn report(s: &ForecastSummary, plot: Option<&Path>, json: bool) -> Result<()> {
    if json {
        let mut v = summary_json(s)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("plot".into(), plot.map(|p| p.display().to_string()).into());
        }
        print_json(&v);
        return Ok(());
    }
    if s.already_complete {
        say!("nothing to do: the run is complete");
    }
    say!(
        "{} after {} steps ({:.1} epochs, {:.1} s{}); {} train / {} val / {} test rows, lookback {}, season {}; best val MSE {}",
        if s.finished { "done" } else { "stopped" },
        s.steps,
        s.epochs,
        s.train_s,
        if s.early_stopped { ", early stop" } else { "" },
        s.train_rows,
        s.val_rows,
        s.test_rows,
        s.lookback,
        s.season.map_or("none".into(), |m| m.to_string()),
        s.best_val_mse.map_or("-".into(), |v| format!("{v:.4}")),
    );
    match &s.test {
        Some(t) => {
            out!(
                "test: {} forecasts of the last {} rows",
                t.points.len(),
                s.test_rows
            );
            crate::common::write_stdout(&table(t));
            if !t.spread.is_empty() {
                crate::common::write_stdout(&spread_table(t));
            }
            say_coverage(t.coverage_80, t.coverage_95);
        }
        None => say!("--test 0: no test metrics"),
    }
    match &s.refit {
        Some(r) => say!(
            "refit on every row: {} steps ({:.1} s); `forecast --checkpoint {}` uses {}/best.safetensors",
            r.steps,
            r.train_s,
            s.out.display(),
            r.out.display()
        ),
        None => say!("best checkpoint: {}/best.safetensors", s.out.display()),
    }
    if let Some(p) = plot {
        say!("plot: {}", p.display());
    }
    Ok(())
}

/// `train forecast --id-column C`.
fn run_panel(a: &ForecastArgs, cfg: &ForecastTrainConfig, id_column: &str) -> Result<()> {
    if a.columns.len() > 1 {
        anyhow::bail!("--id-column forecasts one value column: give --column once");
    }
    let spec = PanelSpec {
        data: a.data.clone(),
        id_column: id_column.to_string(),
        column: a.columns.first().cloned(),
        date_column: a.date_column.clone(),
        fill: a.fill,
    };
    let panel = read_panel(&spec, &mut |m| say!("{m}"))?;
    let out = a.common.out_dir("forecast");
    let req = a.common.request(&out, PANEL_LIMITS)?;
    say!(
        "forecasting `{}` of {} series in {} ({} rows) with one global model, horizon {}, into {}",
        panel.column,
        panel.ids.len(),
        a.data.display(),
        panel.series.iter().map(|s| s.len()).sum::<usize>(),
        a.horizon,
        out.display()
    );
    let mut progress = Quieter(Progress::new(install_interrupt()));
    let s = train_panel(cfg, &panel, &spec, &req, &mut progress)?;
    if !crate::ranks::is_primary() {
        return Ok(());
    }
    progress.0.finish();
    if let Some(t) = &s.test {
        let rows = t.points.iter().map(|p| (csv_field(&p.id), &p.point));
        write_test_files(&out, &test_csv(&csv_field(&spec.id_column), rows), &t.table)?;
    }
    crate::common::finish_tensorboard(&out);
    report_panel(&s, a.common.json)
}

fn report_panel(s: &PanelSummary, json: bool) -> Result<()> {
    if json {
        print_json(&summary_json(s)?);
        return Ok(());
    }
    if s.already_complete {
        say!("nothing to do: the run is complete");
    }
    say!(
        "{} after {} steps ({:.2} epochs, {:.1} s{}); {} of {} series, {} windows, lookback {}, season {}; best val MSE {}",
        if s.finished { "done" } else { "stopped" },
        s.steps,
        s.epochs,
        s.train_s,
        if s.early_stopped { ", early stop" } else { "" },
        s.used,
        s.series,
        s.train_windows,
        s.lookback,
        s.season.map_or("none".into(), |m| m.to_string()),
        s.best_val_mse.map_or("-".into(), |v| format!("{v:.4}")),
    );
    match &s.test {
        Some(t) => {
            out!(
                "test: the last {} rows of {} series",
                t.points.iter().map(|p| p.point.step).max().unwrap_or(0),
                s.used
            );
            let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
            let mut table = format!(
                "{:<16} {:>8} {:>10} {:>10} {:>10}\n",
                "forecaster", "series", "MASE", "geo MASE", "sMAPE%"
            );
            for r in &t.table {
                table.push_str(&format!(
                    "{:<16} {:>8} {:>10} {:>10} {:>10.3}\n",
                    r.name,
                    r.series,
                    f(r.mase),
                    f(r.geo_mase),
                    r.smape
                ));
            }
            crate::common::write_stdout(&table);
            say!(
                "the model's MASE is below seasonal naive's on {} of {} series",
                t.beats_seasonal_naive,
                t.compared
            );
            say_coverage(t.coverage_80, t.coverage_95);
        }
        None => say!("--test 0: no test metrics"),
    }
    match &s.refit {
        Some(r) => say!(
            "refit on every row: {} steps ({:.1} s); `forecast --checkpoint {} --data FILE` forecasts every series of FILE",
            r.steps,
            r.train_s,
            s.out.display()
        ),
        None => say!("best checkpoint: {}/best.safetensors", s.out.display()),
    }
    Ok(())
}
