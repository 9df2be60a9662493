//! `recurrent forecast`: the next H values after a CSV series, from a trained forecaster, as
//! CSV (`date` or `step`, `forecast`, the 80% interval `lower`, `upper` and the 95% one
//! `lower_95`, `upper_95`) and a PNG of history and forecast.

use crate::common::print_json;
use crate::plot;
use anyhow::{Context, Result};
use clap::Args;
use recurrent_tasks::forecast::columns::{read_index, ColumnRun};
use recurrent_tasks::forecast::panel::{
    is_panel_checkpoint, load_panel_forecaster, read_panel, PanelSpec,
};
use recurrent_tasks::forecast::series::{read_series, Fill, Series, SeriesSpec};
use recurrent_tasks::forecast::{forecast_checkpoint, load_forecaster, FutureForecast};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ForecastCmdArgs {
    /// A checkpoint file, or a run directory (its refit on every row, else its best checkpoint; a run of `--all-columns`: every column's; of `--id-column`: every series of --data)
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// CSV file with the columns the model was trained on; the forecast starts after its last row
    #[arg(long)]
    pub data: PathBuf,
    /// Steps to forecast [default: the model's horizon]
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Missing dates and cells [default: the policy the model was trained with]
    #[arg(long)]
    pub fill: Option<Fill>,
    /// Write the CSV here instead of stdout
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Also draw the history and the forecast into this PNG (its folder must exist)
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print one JSON object instead of CSV
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub precision: crate::common::PrecisionArg,
}

pub fn run(a: &ForecastCmdArgs) -> Result<()> {
    if let Some(runs) = read_index(&a.checkpoint)? {
        return run_columns(a, &runs);
    }
    let path = forecast_checkpoint(&a.checkpoint)?;
    if is_panel_checkpoint(&path) {
        return run_panel(a, &path);
    }
    let (series, fc) = forecast_one(a, &path)?;
    let csv = to_csv(&fc);
    // Drawn before anything is printed, so that a plot that cannot be written fails the
    // command (exit 1, as every other command) rather than a warning after the output.
    if let Some(png) = &a.plot {
        draw_series(png, &series, &fc)?;
    }
    if a.json {
        print_json(&forecast_json(&fc, a.plot.as_deref())?);
    } else {
        emit(a, &csv)?;
    }
    if let (Some(png), false) = (&a.plot, a.json) {
        say!("plot: {}", png.display());
    }
    Ok(())
}

/// A run over several columns (`train forecast --all-columns`): each column's forecast,
/// as one CSV with the column's name last, or one JSON object; `--plot P` draws each
/// column into P with the column's directory name added to its stem.
fn run_columns(a: &ForecastCmdArgs, runs: &[ColumnRun]) -> Result<()> {
    let mut csv = String::new();
    let mut json = Vec::with_capacity(runs.len());
    for run in runs {
        let path = forecast_checkpoint(&a.checkpoint.join(&run.dir))
            .with_context(|| format!("column `{}` of {}", run.column, a.checkpoint.display()))?;
        let (series, fc) = forecast_one(a, &path)?;
        let png = a.plot.as_ref().map(|p| {
            let stem = p
                .file_stem()
                .map_or("forecast".into(), |s| s.to_string_lossy());
            let ext = p.extension().map_or("png".into(), |e| e.to_string_lossy());
            p.with_file_name(format!("{stem}-{}.{ext}", run.dir))
        });
        if let Some(png) = &png {
            draw_series(png, &series, &fc)?;
        }
        if a.json {
            let mut v = forecast_json(&fc, png.as_deref())?;
            v["column"] = run.column.clone().into();
            json.push(v);
        } else {
            // `date` (or `step`) and `forecast` lead, as in every forecast CSV
            // (CONVENTIONS.md); the column's name follows the intervals.
            if csv.is_empty() {
                let when = if fc.dates.is_some() { "date" } else { "step" };
                csv.push_str(&format!(
                    "{when},forecast,lower,upper,lower_95,upper_95,column\n"
                ));
            }
            push_rows(&mut csv, &fc, fc.dates.is_some(), &run.column);
        }
    }
    if a.json {
        print_json(&serde_json::json!({ "columns": json }));
    } else {
        emit(a, &csv)?;
    }
    Ok(())
}

/// Appends `fc`'s rows to a CSV of several series: `date` (`step` unless `dated`),
/// `forecast`, every interval field (empty where there is none, so that series with and
/// without intervals share one header), then the series' `name`.
fn push_rows(csv: &mut String, fc: &FutureForecast, dated: bool, name: &str) {
    let at =
        |b: &Option<Vec<f64>>, i: usize| b.as_ref().map_or(String::new(), |b| b[i].to_string());
    let name = csv_field(name);
    for (i, v) in fc.values.iter().enumerate() {
        let when = match (&fc.dates, dated) {
            (Some(d), true) => d[i].to_string(),
            _ => (i + 1).to_string(),
        };
        csv.push_str(&format!(
            "{when},{v},{},{},{},{},{name}\n",
            at(&fc.lower, i),
            at(&fc.upper, i),
            at(&fc.lower_95, i),
            at(&fc.upper_95, i)
        ));
    }
}

/// The CSV into `--output`, else to stdout.
fn emit(a: &ForecastCmdArgs, csv: &str) -> Result<()> {
    match &a.output {
        Some(o) => {
            std::fs::write(o, csv).with_context(|| format!("writing {}", o.display()))?;
            say!("forecast: {}", o.display());
        }
        None => crate::common::write_stdout(csv),
    }
    Ok(())
}

/// A CSV field: quoted (with quotes doubled) when it holds a comma, a quote or a newline.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The forecast as JSON, with its dates as text and the plot's path.
fn forecast_json(fc: &FutureForecast, plot: Option<&Path>) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(fc).context("forecast")?;
    v["dates"] = fc
        .dates
        .as_ref()
        .map(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>())
        .into();
    v["plot"] = plot.map(|p| p.display().to_string()).into();
    Ok(v)
}

/// History and forecast of `series` into the PNG `png`.
fn draw_series(png: &Path, series: &Series, fc: &FutureForecast) -> Result<()> {
    let dates: Option<Vec<String>> = match (&series.dates, &fc.dates) {
        (Some(past), Some(future)) => {
            Some(past.iter().chain(future).map(|d| d.to_string()).collect())
        }
        _ => None,
    };
    draw(
        png,
        &series.target(),
        fc,
        &series.columns[0],
        dates.as_deref(),
    )
    .with_context(|| format!("--plot {}", png.display()))
}

/// The checkpoint at `path` forecasting the rows after `--data`.
fn forecast_one(a: &ForecastCmdArgs, path: &Path) -> Result<(Series, FutureForecast)> {
    let mut f = crate::common::load_for("forecast", &["forecast"], path, load_forecaster)?;
    a.precision.apply(&mut f, Some(path))?;
    let spec = SeriesSpec {
        columns: f.meta.columns.clone(),
        date_column: f.meta.date_column.clone(),
        fill: a.fill.unwrap_or(f.meta.fill),
    };
    let series = read_series(&a.data, &spec, &mut |m| say!("{m}")).with_context(|| {
        format!(
            "the model in {} reads column(s) {:?}",
            path.display(),
            f.meta.columns
        )
    })?;
    let h = a.horizon.unwrap_or(f.meta.train.horizon);
    if h == 0 {
        anyhow::bail!("--horizon must be at least 1");
    }
    let fc = f.forecast_future(&series, h)?;
    Ok((series, fc))
}

/// `date` (or `step`), `forecast`, then `lower`, `upper` when there are intervals.
pub fn to_csv(fc: &FutureForecast) -> String {
    let mut s = String::from(if fc.dates.is_some() {
        "date,forecast"
    } else {
        "step,forecast"
    });
    if fc.lower.is_some() {
        s.push_str(",lower,upper");
    }
    if fc.lower_95.is_some() {
        s.push_str(",lower_95,upper_95");
    }
    s.push('\n');
    for (i, v) in fc.values.iter().enumerate() {
        match &fc.dates {
            Some(d) => s.push_str(&d[i].to_string()),
            None => s.push_str(&(i + 1).to_string()),
        }
        s.push_str(&format!(",{v}"));
        if let (Some(lo), Some(hi)) = (&fc.lower, &fc.upper) {
            s.push_str(&format!(",{},{}", lo[i], hi[i]));
        }
        if let (Some(lo), Some(hi)) = (&fc.lower_95, &fc.upper_95) {
            s.push_str(&format!(",{},{}", lo[i], hi[i]));
        }
        s.push('\n');
    }
    s
}

/// The last stretch of history, the forecast and its 95% interval as a shaded band.
/// `dates` names the rows of history and forecast on the x axis when the series is dated.
fn draw(
    path: &Path,
    y: &[f64],
    fc: &FutureForecast,
    name: &str,
    dates: Option<&[String]>,
) -> Result<()> {
    let n = y.len();
    let from = n.saturating_sub((4 * fc.values.len()).max(120));
    let at = |i: usize| (n + i) as f64;
    let series = vec![
        plot::Series {
            name: "history".into(),
            points: (from..n).map(|i| (i as f64, y[i])).collect(),
        },
        plot::Series {
            name: "forecast".into(),
            points: std::iter::once(((n - 1) as f64, y[n - 1]))
                .chain(fc.values.iter().enumerate().map(|(i, v)| (at(i), *v)))
                .collect(),
        },
    ];
    let band = |name: &str, lo: &Option<Vec<f64>>, hi: &Option<Vec<f64>>| {
        let (lo, hi) = (lo.as_ref()?, hi.as_ref()?);
        Some(plot::Band {
            name: name.into(),
            points: lo
                .iter()
                .zip(hi)
                .enumerate()
                .map(|(i, (l, h))| (at(i), *l, *h))
                .collect(),
        })
    };
    let bands: Vec<plot::Band> = [
        band("95% interval", &fc.lower_95, &fc.upper_95),
        band("80% interval", &fc.lower, &fc.upper),
    ]
    .into_iter()
    .flatten()
    .collect();
    plot::chart_with_bands(
        path,
        &plot::Chart {
            title: &format!("{name}: forecast"),
            x_label: if dates.is_some() { "date" } else { "row" },
            y_label: name,
            log_y: false,
            x_names: dates,
        },
        &series,
        &bands,
    )
}

/// `forecast --checkpoint` of a global forecaster: every series of `--data`, one CSV with
/// the id column last (or one JSON object with a forecast per id).
fn run_panel(a: &ForecastCmdArgs, path: &Path) -> Result<()> {
    if a.plot.is_some() {
        anyhow::bail!(
            "--plot draws one series, and {} forecasts every series of a panel: leave out --plot \
             (the run's test_forecasts.csv has each series' test forecasts)",
            path.display()
        );
    }
    let mut f = load_panel_forecaster(path)?;
    a.precision.apply(&mut f, Some(path))?;
    let spec = PanelSpec {
        data: a.data.clone(),
        id_column: f.meta.id_column.clone(),
        column: Some(f.meta.column.clone()),
        date_column: f.meta.date_column.clone(),
        fill: a.fill.unwrap_or(f.meta.fill),
    };
    let panel = read_panel(&spec, &mut |m| say!("{m}")).with_context(|| {
        format!(
            "the model in {} reads `{}` by `{}`",
            path.display(),
            f.meta.column,
            f.meta.id_column
        )
    })?;
    let h = a.horizon.unwrap_or(f.meta.train.horizon);
    let all = f.forecast_panel(&panel, h)?;
    if a.json {
        let items: Vec<serde_json::Value> = panel
            .ids
            .iter()
            .zip(&all)
            .map(|(id, fc)| {
                let mut v = forecast_json(fc, None)?;
                v["id"] = id.clone().into();
                Ok(v)
            })
            .collect::<Result<_>>()?;
        print_json(&serde_json::json!({ "id_column": f.meta.id_column, "series": items }));
        return Ok(());
    }
    let dated = all.iter().all(|fc| fc.dates.is_some());
    let mut csv = format!(
        "{},forecast,lower,upper,lower_95,upper_95,{}\n",
        if dated { "date" } else { "step" },
        csv_field(&f.meta.id_column)
    );
    for (id, fc) in panel.ids.iter().zip(&all) {
        push_rows(&mut csv, fc, dated, id);
    }
    emit(a, &csv)
}
