//! Line charts as PNG (loss curves, gradient norms, forecasts), drawn by plotters with an
//! embedded DejaVu Sans font (assets/, Bitstream Vera licence), so no system font library
//! is needed.

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;
use recurrent::train::run::read_metrics;
use std::path::{Path, PathBuf};
use std::sync::Once;

mod ticks;
use ticks::{decade_label, tick_label, x_tick};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
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
    /// Names of the integer x positions 0, 1, ... (a series' dates): a tick shows the name
    /// of the nearest position instead of its number.
    pub x_names: Option<&'a [String]>,
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
        x_names: None,
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
        x_names: None,
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

/// A shaded region between two curves (a forecast's interval), under the lines.
pub struct Band {
    pub name: String,
    /// (x, lower, upper) at each x.
    pub points: Vec<(f64, f64, f64)>,
}

/// Tableau's ten colours: distinct for most colour-blind readers, none too pale to see on
/// white (the 99-colour palette's third was yellow).
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Series with at most this many points get a marker at each (a lone validation point is
/// otherwise invisible).
const MARKERS_UP_TO: usize = 60;

/// Where the legend covers the least of the data: of eight places along the frame, the one
/// whose box holds the smallest share of each curve, summed over the curves. Each curve is
/// densified along its segments first, so that a curve of 20 evaluations counts as much as
/// one of 4,000 steps.
fn free_corner(curves: &[Vec<(f64, f64)>], x: (f64, f64), y: (f64, f64)) -> SeriesLabelPosition {
    use SeriesLabelPosition as P;
    let (w, h) = ((x.1 - x.0).max(1e-300), (y.1 - y.0).max(1e-300));
    let (left, centre, right) = ((0.0, 0.3), (0.35, 0.65), (0.7, 1.0));
    let (low, mid, high) = ((0.0, 0.22), (0.4, 0.6), (0.78, 1.0));
    let places = [
        (P::UpperRight, right, high),
        (P::UpperLeft, left, high),
        (P::LowerRight, right, low),
        (P::LowerLeft, left, low),
        (P::MiddleRight, right, mid),
        (P::MiddleLeft, left, mid),
        (P::UpperMiddle, centre, high),
        (P::LowerMiddle, centre, low),
    ];
    let dense: Vec<Vec<(f64, f64)>> = curves
        .iter()
        .map(|c| {
            let mut d: Vec<(f64, f64)> = c
                .windows(2)
                .flat_map(|s| {
                    (0..8).map(move |k| {
                        let f = k as f64 / 8.0;
                        (
                            (s[0].0 + f * (s[1].0 - s[0].0) - x.0) / w,
                            (s[0].1 + f * (s[1].1 - s[0].1) - y.0) / h,
                        )
                    })
                })
                .collect();
            if let Some(l) = c.last() {
                d.push(((l.0 - x.0) / w, (l.1 - y.0) / h));
            }
            d
        })
        .collect();
    let inside = |u: f64, lo_hi: (f64, f64)| u >= lo_hi.0 && u <= lo_hi.1;
    let score = |bx: (f64, f64), by: (f64, f64)| -> f64 {
        dense
            .iter()
            .filter(|d| !d.is_empty())
            .map(|d| {
                d.iter()
                    .filter(|p| inside(p.0, bx) && inside(p.1, by))
                    .count() as f64
                    / d.len() as f64
            })
            .sum()
    };
    let mut best = (P::UpperRight, f64::INFINITY);
    for (pos, bx, by) in places {
        let s = score(bx, by);
        // Strictly less: ties keep the earlier, more usual place.
        if s < best.1 - 1e-9 {
            best = (pos, s);
        }
    }
    best.0
}

/// The axes' extent over `all` (x, y) points: a little room around the data, whole decades
/// on a log axis (y already log10), so the frame begins and ends on a labelled power of ten.
fn axis_ranges(all: &[(f64, f64)], log: bool) -> (f64, f64, f64, f64) {
    let (mut x0, mut x1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (mut y0, mut y1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if x1 <= x0 {
        x1 = x0 + 1.0;
        x0 -= 1.0;
    } else {
        // A marker on the last step is drawn whole, not cut by the frame.
        let pad = (x1 - x0) * 0.015;
        x0 -= pad;
        x1 += pad;
    }
    if log {
        // Whole decades, so the axis begins and ends on a labelled power of ten.
        y0 = y0.floor();
        y1 = y1.ceil().max(y0 + 1.0);
    } else if y1 <= y0 {
        let pad = y0.abs().max(1.0) * 0.1;
        y0 -= pad;
        y1 += pad;
    } else {
        let pad = (y1 - y0) * 0.05;
        y0 -= pad;
        y1 += pad;
    }
    (x0, x1, y0, y1)
}

/// Draws `series` as lines into a 900x540 PNG at `path`.
pub fn line_chart(path: &Path, chart: &Chart<'_>, series: &[Series]) -> Result<()> {
    chart_with_bands(path, chart, series, &[])
}

/// [`line_chart`] with shaded `bands` under the lines. A log axis is drawn as log10 on a
/// linear one, labelled in powers of ten: plotters' own log axis stops labelling below
/// 2e-16, where gradient norms go on falling.
pub fn chart_with_bands(
    path: &Path,
    chart: &Chart<'_>,
    series: &[Series],
    bands: &[Band],
) -> Result<()> {
    register_font();
    let log = chart.log_y;
    let map = |y: f64| if log { y.log10() } else { y };
    let keep = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite() && (!log || p.1 > 0.0);
    let lines: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter(|p| keep(p))
                .map(|p| (p.0, map(p.1)))
                .collect()
        })
        .collect();
    let shades: Vec<Vec<(f64, f64, f64)>> = bands
        .iter()
        .map(|b| {
            b.points
                .iter()
                .filter(|p| keep(&(p.0, p.1)) && keep(&(p.0, p.2)))
                .map(|p| (p.0, map(p.1), map(p.2)))
                .collect()
        })
        .collect();
    let mut all: Vec<(f64, f64)> = lines.iter().flatten().copied().collect();
    for b in &shades {
        all.extend(b.iter().flat_map(|p| [(p.0, p.1), (p.0, p.2)]));
    }
    if all.is_empty() {
        return Err(anyhow!("nothing to plot for {}", path.display()));
    }
    let (x0, x1, y0, y1) = axis_ranges(&all, log);
    let (x_step, y_step) = ((x1 - x0) / 10.0, (y1 - y0) / 10.0);
    let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut c = ChartBuilder::on(&root)
        .caption(chart.title, ("sans-serif", 22))
        .margin(16)
        // Room for a date label centred on the last tick.
        .margin_right(40)
        .x_label_area_size(44)
        .y_label_area_size(84)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| anyhow!("{e}"))?;
    let decades = (y1 - y0).round() as usize;
    let y_labels = if log { (decades + 1).min(13) } else { 10 };
    c.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .y_labels(y_labels)
        .x_label_formatter(&|v: &f64| x_tick(*v, x_step, chart.x_names))
        .y_label_formatter(&|v: &f64| {
            if log {
                decade_label(*v)
            } else {
                tick_label(*v, y_step)
            }
        })
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    let mut legend = 0;
    for (i, (b, pts)) in bands.iter().zip(&shades).enumerate() {
        if pts.is_empty() {
            continue;
        }
        let color = COLORS[(series.len() + i) % COLORS.len()].mix(0.25);
        let outline: Vec<(f64, f64)> = pts
            .iter()
            .map(|p| (p.0, p.2))
            .chain(pts.iter().rev().map(|p| (p.0, p.1)))
            .collect();
        let e = c
            .draw_series(std::iter::once(Polygon::new(outline, color.filled())))
            .map_err(|e| anyhow!("{e}"))?;
        if !b.name.is_empty() {
            legend += 1;
            e.label(b.name.clone()).legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.filled())
            });
        }
    }
    for (i, (s, pts)) in series.iter().zip(&lines).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let marked = pts.len() <= MARKERS_UP_TO;
        let e = c
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| anyhow!("{e}"))?;
        if !s.name.is_empty() {
            legend += 1;
            e.label(s.name.clone()).legend(move |(x, y)| {
                let line = PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2));
                let dot = Circle::new((x + 9, y), if marked { 3 } else { 0 }, color.filled());
                EmptyElement::at((0, 0)) + line + dot
            });
        }
        if marked {
            c.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| anyhow!("{e}"))?;
        }
    }
    if legend > 1 {
        let mut curves = lines.clone();
        for b in &shades {
            curves.push(b.iter().map(|p| (p.0, p.1)).collect());
            curves.push(b.iter().map(|p| (p.0, (p.1 + p.2) / 2.0)).collect());
            curves.push(b.iter().map(|p| (p.0, p.2)).collect());
        }
        c.configure_series_labels()
            .position(free_corner(&curves, (x0, x1), (y0, y1)))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The RGB pixels of a PNG.
    fn pixels(path: &Path) -> Vec<[u8; 3]> {
        let dec = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).unwrap();
        let step = info.color_type.samples();
        buf[..info.buffer_size()]
            .chunks(step)
            .map(|p| [p[0], p[1], p[2]])
            .collect()
    }

    fn count(px: &[[u8; 3]], c: RGBColor) -> usize {
        px.iter().filter(|p| **p == [c.0, c.1, c.2]).count()
    }

    fn chart(log_y: bool) -> Chart<'static> {
        Chart {
            title: "t",
            x_label: "x",
            y_label: "y",
            log_y,
            x_names: None,
        }
    }

    #[test]
    fn the_legend_goes_where_the_data_is_not() {
        // A rising line fills the lower left and upper right.
        let rising: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, i as f64)).collect();
        let c = free_corner(&[rising], (0.0, 99.0), (0.0, 99.0));
        assert!(matches!(c, SeriesLabelPosition::UpperLeft));
        // A dense loss along the bottom and a sparse accuracy along the top (the accuracy
        // chart): the legend goes between them, not over the few evaluation points.
        let loss: Vec<(f64, f64)> = (0..4000)
            .map(|i| (i as f64, 0.7 * (-(i as f64) / 200.0).exp()))
            .collect();
        let acc: Vec<(f64, f64)> = (1..20).map(|i| (i as f64 * 200.0, 0.78)).collect();
        let c = free_corner(&[loss, acc], (0.0, 4000.0), (-0.04, 0.85));
        assert!(matches!(c, SeriesLabelPosition::MiddleRight), "{c:?}");
    }

    #[test]
    fn a_lone_point_is_drawn() {
        let dir = std::env::temp_dir().join(format!("recurrent-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("lone.png");
        let series = [
            Series {
                name: "train".into(),
                points: (0..50)
                    .map(|i| (i as f64, 1.0 / (1.0 + i as f64)))
                    .collect(),
            },
            Series {
                name: "validation".into(),
                points: vec![(49.0, 0.5)],
            },
        ];
        line_chart(&p, &chart(false), &series).unwrap();
        // The one validation point: a marker of the second colour (a line of one point
        // drew nothing), plus its legend entry.
        assert!(count(&pixels(&p), COLORS[1]) > 20);
    }

    #[test]
    fn an_interval_is_a_band_and_a_log_axis_reaches_the_data() {
        let dir = std::env::temp_dir().join(format!("recurrent-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("band.png");
        let series = [Series {
            name: "forecast".into(),
            points: (0..100)
                .map(|i| (i as f64, (i as f64 / 9.0).sin()))
                .collect(),
        }];
        let band = Band {
            name: "95% interval".into(),
            points: (0..100)
                .map(|i| {
                    let v = (i as f64 / 9.0).sin();
                    (i as f64, v - 0.5, v + 0.5)
                })
                .collect(),
        };
        chart_with_bands(&p, &chart(false), &series, &[band]).unwrap();
        // The band's fill (its colour at a quarter over white) covers a wide area.
        let shade = COLORS[1].mix(0.25);
        let over_white = |c: u8| (c as f64 * 0.25 + 255.0 * 0.75).round() as i32;
        let want = [
            over_white(shade.0),
            over_white(shade.1),
            over_white(shade.2),
        ];
        let filled = pixels(&p)
            .iter()
            .filter(|q| (0..3).all(|k| (q[k] as i32 - want[k]).abs() <= 2))
            .count();
        assert!(filled > 20_000, "{filled} shaded pixels");

        // Gradient norms falling to 1e-22: the axis is built on log10 of the data, whole
        // decades, so its floor is at or below the smallest value.
        let q = dir.join("log.png");
        let s = [Series {
            name: "dh".into(),
            points: (0..23).map(|i| (i as f64, 10f64.powi(-i))).collect(),
        }];
        line_chart(&q, &chart(true), &s).unwrap();
        assert!(count(&pixels(&q), COLORS[0]) > 100);
    }
}
