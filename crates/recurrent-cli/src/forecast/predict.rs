//! `recurrent forecast`: the next H values after a CSV series, from a trained forecaster, as
//! CSV (`date` or `step`, `forecast`, the 80% interval `lower`, `upper` and the 95% one
//! `lower_95`, `upper_95`) and a PNG of history and forecast.

use crate::common::print_json;
use crate::plot;
use anyhow::{Context, Result};
use clap::Args;
use recurrent_tasks::forecast::series::{read_series, Fill, SeriesSpec};
use recurrent_tasks::forecast::{forecast_checkpoint, load_forecaster, FutureForecast};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ForecastCmdArgs {
    /// A checkpoint file, or a run directory (its refit on every row, else its best checkpoint)
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
    let path = forecast_checkpoint(&a.checkpoint)?;
    let mut f = crate::common::load_for("forecast", &["forecast"], &path, load_forecaster)?;
    a.precision.apply(&mut f, Some(&path))?;
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
    let csv = to_csv(&fc);
    let y = series.target();
    // Drawn before anything is printed, so that a plot that cannot be written fails the
    // command (exit 1, as every other command) rather than a warning after the output.
    if let Some(png) = &a.plot {
        let dates: Option<Vec<String>> = match (&series.dates, &fc.dates) {
            (Some(past), Some(future)) => {
                Some(past.iter().chain(future).map(|d| d.to_string()).collect())
            }
            _ => None,
        };
        draw(png, &y, &fc, &series.columns[0], dates.as_deref())
            .with_context(|| format!("--plot {}", png.display()))?;
    }
    if a.json {
        let mut v = serde_json::to_value(&fc).context("forecast")?;
        v["dates"] = fc
            .dates
            .as_ref()
            .map(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>())
            .into();
        v["plot"] = a.plot.as_ref().map(|p| p.display().to_string()).into();
        print_json(&v);
    } else if let Some(o) = &a.output {
        std::fs::write(o, csv).with_context(|| format!("writing {}", o.display()))?;
        say!("forecast: {}", o.display());
    } else {
        crate::common::write_stdout(&csv);
    }
    if let (Some(png), false) = (&a.plot, a.json) {
        say!("plot: {}", png.display());
    }
    Ok(())
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
