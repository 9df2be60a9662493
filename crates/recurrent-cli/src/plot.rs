//! Line charts as PNG (loss curves, gradient norms, forecasts), drawn by plotters with an
//! embedded DejaVu Sans font (assets/, Bitstream Vera licence), so no system font library
//! is needed.

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
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
pub fn piano_roll(path: &Path, pb: &recurrent::music::midi::Playback, title: &str) -> Result<()> {
    register_font();
    let q = (recurrent::music::parse::TICKS_PER_WHOLE / 4) as f64;
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
    let rect = |n: &recurrent::music::midi::Sounding, c: RGBColor| {
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
