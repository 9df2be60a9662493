//! Line charts as PNG (loss curves, gradient norms, forecasts), drawn by plotters with an
//! embedded DejaVu Sans font (assets/, Bitstream Vera licence), so no system font library
//! is needed.

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;
use recurrent::train::run::read_metrics;
use std::path::{Path, PathBuf};
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The embedded file is a valid TrueType font; a failure would only lose the labels.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// One named line of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A chart's labels and axis options.
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// Logarithmic y axis (values <= 0 are dropped).
    pub log_y: bool,
}

/// One curve of a run's `metrics.jsonl`: the `key` of its `event` lines, by step.
pub struct Curve<'a> {
    pub event: &'a str,
    pub key: &'a str,
    pub name: &'a str,
}

/// Draws DIR/`file` from DIR/metrics.jsonl: each curve against the step (a curve with no
/// points after the first is left out of the legend).
pub fn metrics_chart(
    dir: &Path,
    file: &str,
    chart: &Chart<'_>,
    curves: &[Curve<'_>],
) -> Result<PathBuf> {
    let m = read_metrics(dir);
    let series: Vec<Series> = curves
        .iter()
        .map(|c| Series {
            name: c.name.into(),
            points: m
                .iter()
                .filter(|r| r["event"] == c.event)
                .filter_map(|r| Some((r["step"].as_f64()?, r[c.key].as_f64()?)))
                .collect(),
        })
        .enumerate()
        .filter(|(i, s)| *i == 0 || !s.points.is_empty())
        .map(|(_, s)| s)
        .collect();
    let path = dir.join(file);
    line_chart(&path, chart, &series)?;
    Ok(path)
}

/// DIR/loss.png: training and validation loss by step.
pub fn draw_loss_plot(dir: &Path) -> Result<PathBuf> {
    loss_plot(dir, "Loss (nats per token)")
}

/// DIR/loss.png with `title`.
pub fn loss_plot(dir: &Path, title: &str) -> Result<PathBuf> {
    let chart = Chart {
        title,
        x_label: "step",
        y_label: "loss",
        log_y: false,
    };
    let curves = [
        Curve {
            event: "train",
            key: "loss",
            name: "train loss",
        },
        Curve {
            event: "eval",
            key: "val_loss",
            name: "validation loss",
        },
    ];
    metrics_chart(dir, "loss.png", &chart, &curves)
}

/// DIR/accuracy.png: training loss and validation accuracy by step.
pub fn accuracy_plot(dir: &Path) -> Result<PathBuf> {
    let chart = Chart {
        title: "Training loss and validation accuracy",
        x_label: "step",
        y_label: "loss (nats) / accuracy",
        log_y: false,
    };
    let curves = [
        Curve {
            event: "train",
            key: "loss",
            name: "train loss",
        },
        Curve {
            event: "eval",
            key: "val_accuracy",
            name: "validation accuracy",
        },
    ];
    metrics_chart(dir, "accuracy.png", &chart, &curves)
}

/// Draws `series` as lines into a 900x540 PNG at `path`.
pub fn line_chart(path: &Path, chart: &Chart<'_>, series: &[Series]) -> Result<()> {
    register_font();
    let finite =
        |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite() && (!chart.log_y || p.1 > 0.0);
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().filter(finite).copied())
        .collect();
    if all.is_empty() {
        return Err(anyhow!("nothing to plot for {}", path.display()));
    }
    let (mut x0, mut x1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (mut y0, mut y1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if x1 <= x0 {
        x1 = x0 + 1.0;
        x0 -= 1.0;
    }
    if y1 <= y0 {
        let pad = if chart.log_y { y0 * 0.5 } else { 1.0 };
        y0 -= pad;
        y1 += pad;
    } else if !chart.log_y {
        let pad = (y1 - y0) * 0.05;
        y0 -= pad;
        y1 += pad;
    }
    let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(chart.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    let draw = |ctx: &mut dyn FnMut(usize, &Series) -> Result<()>| -> Result<()> {
        for (i, s) in series.iter().enumerate() {
            ctx(i, s)?;
        }
        Ok(())
    };
    macro_rules! finish {
        ($c:expr) => {{
            let mut c = $c;
            c.configure_mesh()
                .x_desc(chart.x_label)
                .y_desc(chart.y_label)
                // Log axes span decades: 1e-5 reads better than 0.00001.
                .y_label_formatter(&|v: &f64| {
                    if chart.log_y && (v.abs() >= 1e4 || (v.abs() < 1e-2 && *v != 0.0)) {
                        format!("{v:.0e}")
                    } else {
                        format!("{v}")
                    }
                })
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            draw(&mut |i, s| {
                let color = Palette99::pick(i).to_rgba();
                let pts: Vec<(f64, f64)> = s.points.iter().filter(finite).copied().collect();
                c.draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    .map_err(|e| anyhow!("{e}"))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                Ok(())
            })?;
            if series.len() > 1 {
                c.configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 14))
                    .draw()
                    .map_err(|e| anyhow!("{e}"))?;
            }
        }};
    }
    if chart.log_y {
        finish!(builder
            .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
            .map_err(|e| anyhow!("{e}"))?);
    } else {
        finish!(builder
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| anyhow!("{e}"))?);
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A piano roll: one bar per note, time across (quarter notes), MIDI pitch up.
pub fn piano_roll(
    path: &Path,
    pb: &recurrent_tasks::music::midi::Playback,
    title: &str,
) -> Result<()> {
    register_font();
    let q = (recurrent_tasks::music::parse::TICKS_PER_WHOLE / 4) as f64;
    let (lo, hi) = pb
        .melody
        .iter()
        .chain(&pb.chords)
        .fold((127u8, 0u8), |(l, h), n| (l.min(n.pitch), h.max(n.pitch)));
    let (lo, hi) = if lo > hi { (60, 72) } else { (lo, hi) };
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{title}: piano roll"), ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(
            0f64..(pb.total as f64 / q).max(1.0),
            (lo as f64 - 1.0)..(hi as f64 + 2.0),
        )?;
    chart
        .configure_mesh()
        .x_desc("quarter notes")
        .y_desc("MIDI pitch")
        .draw()?;
    let rect = |n: &recurrent_tasks::music::midi::Sounding, c: RGBColor| {
        Rectangle::new(
            [
                (n.start as f64 / q, n.pitch as f64),
                ((n.start + n.len) as f64 / q, n.pitch as f64 + 0.8),
            ],
            c.filled(),
        )
    };
    chart
        .draw_series(pb.chords.iter().map(|n| rect(n, RGBColor(170, 190, 220))))?
        .label("chord symbols")
        .legend(|(x, y)| {
            Rectangle::new(
                [(x, y - 4), (x + 14, y + 4)],
                RGBColor(170, 190, 220).filled(),
            )
        });
    chart
        .draw_series(pb.melody.iter().map(|n| rect(n, RGBColor(200, 60, 40))))?
        .label("melody")
        .legend(|(x, y)| {
            Rectangle::new(
                [(x, y - 4), (x + 14, y + 4)],
                RGBColor(200, 60, 40).filled(),
            )
        });
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// A colour for v in [0, 1]: dark blue through green to yellow (viridis-like).
fn heat(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let stops = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = v * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f) as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A K x K confusion matrix (rows: true label, columns: predicted) as a PNG, counts written
/// in the cells, colour by the row's fraction.
pub fn confusion_matrix(path: &Path, title: &str, labels: &[String], c: &[Vec<u64>]) -> Result<()> {
    register_font();
    let k = labels.len();
    if k == 0 || c.len() != k {
        return Err(anyhow!("nothing to plot for {}", path.display()));
    }
    let root = BitMapBackend::new(path, (640, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..k as f64, k as f64..0.0)
        .map_err(|e| anyhow!("{e}"))?;
    let lab = |v: &f64| {
        let i = v.floor() as usize;
        if (*v - i as f64 - 0.5).abs() < 1e-6 && i < k {
            labels[i].clone()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("predicted")
        .y_desc("true")
        .x_labels(2 * k + 1)
        .y_labels(2 * k + 1)
        .x_label_formatter(&lab)
        .y_label_formatter(&lab)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (i, row) in c.iter().enumerate() {
        let total = row.iter().sum::<u64>().max(1) as f64;
        for (j, &n) in row.iter().enumerate() {
            let v = n as f64 / total;
            let (x0, y0) = (j as f64, i as f64);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, y0), (x0 + 1.0, y0 + 1.0)],
                    heat(v).filled(),
                )))
                .map_err(|e| anyhow!("{e}"))?;
            if n > 0 {
                let color = if v > 0.6 { BLACK } else { WHITE };
                chart
                    .draw_series(std::iter::once(Text::new(
                        n.to_string(),
                        (x0 + 0.35, y0 + 0.4),
                        ("sans-serif", 14).into_font().color(&color),
                    )))
                    .map_err(|e| anyhow!("{e}"))?;
            }
        }
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// An utterance's log-mel frames [T, n_mels] as a heat map, and beneath it, on the same
/// time axis, the model's per-frame probability of each label [T, K] as lines.
pub fn spectrogram_with_posteriors(
    path: &Path,
    title: &str,
    mel: &[f32],
    n_mels: usize,
    post: &[f64],
    labels: &[String],
    hop_s: f64,
) -> Result<()> {
    register_font();
    let t = mel.len() / n_mels.max(1);
    let k = labels.len();
    if t == 0 || k == 0 || post.len() != t * k {
        return Err(anyhow!("nothing to plot for {}", path.display()));
    }
    let root = BitMapBackend::new(path, (900, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (top, bottom) = root.split_vertically(380);
    let dur = t as f64 * hop_s;
    let (lo, hi) = mel
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    // 60 dB of range below the peak, so the floor of silent bands does not wash it out.
    let lo = lo.max(hi - 13.8);
    let mut c = ChartBuilder::on(&top)
        .caption(format!("{title}: log-mel spectrogram"), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..dur, 0.0..n_mels as f64)
        .map_err(|e| anyhow!("{e}"))?;
    c.configure_mesh()
        .disable_mesh()
        .y_desc("mel band")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    let span = (hi - lo).max(1e-6) as f64;
    c.draw_series((0..t).flat_map(|ti| {
        (0..n_mels).map(move |m| {
            let v = ((mel[ti * n_mels + m] - lo) as f64 / span).clamp(0.0, 1.0);
            let x0 = ti as f64 * hop_s;
            Rectangle::new(
                [(x0, m as f64), (x0 + hop_s, m as f64 + 1.0)],
                heat(v).filled(),
            )
        })
    }))
    .map_err(|e| anyhow!("{e}"))?;
    let mut c = ChartBuilder::on(&bottom)
        .caption("model output per frame", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..dur, 0.0..1.0)
        .map_err(|e| anyhow!("{e}"))?;
    c.configure_mesh()
        .x_desc("time (s)")
        .y_desc("probability")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (j, name) in labels.iter().enumerate() {
        let color = Palette99::pick(j).to_rgba();
        let pts: Vec<(f64, f64)> = (0..t)
            .map(|ti| ((ti as f64 + 0.5) * hop_s, post[ti * k + j]))
            .collect();
        c.draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| anyhow!("{e}"))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
