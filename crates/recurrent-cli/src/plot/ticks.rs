//! Tick labels: numbers with the decimals their spacing needs, powers of ten on a log
//! axis, and a series' dates in place of row numbers.

/// An x tick: the name of the nearest integer position when the chart names them (a
/// series' dates), else the number.
pub fn x_tick(v: f64, step: f64, names: Option<&[String]>) -> String {
    let i = v.round();
    names
        .filter(|_| i >= 0.0)
        .and_then(|n| n.get(i as usize))
        .cloned()
        .unwrap_or_else(|| tick_label(v, step))
}

/// A tick label for `v` on an axis whose ticks are about `step` apart: as many decimals as
/// the step needs, trailing zeros dropped (0.30000000000000004 is "0.3", 20.0 is "20"),
/// and powers of ten past a million or below a ten-thousandth.
pub fn tick_label(v: f64, step: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { format!("{v}") };
    }
    let a = v.abs();
    if !(1e-4..1e6).contains(&a) {
        let s = format!("{v:.2e}");
        // 1.50e6 -> 1.5e6, 1.00e-5 -> 1e-5
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        return format!("{m}e{e}");
    }
    // The fewest decimals the step allows that still say the tick's value (2.5 at a step of
    // 2.5 is not "2"), never more than 8.
    let first = if step > 0.0 && step < 1.0 {
        ((-step.log10()).ceil() as usize).min(8)
    } else {
        0
    };
    let tolerance = step.abs().max(f64::MIN_POSITIVE) * 1e-3;
    let s = (first..=8)
        .map(|d| format!("{v:.d$}"))
        .find(|t| t.parse::<f64>().is_ok_and(|r| (r - v).abs() <= tolerance))
        .unwrap_or_else(|| format!("{v:.8}"));
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// A label for a tick of a log axis drawn as log10 on a linear one: a power of ten at
/// whole exponents (1, 10, 100, 1e-3 ... 1e-22), nothing between.
pub(super) fn decade_label(e: f64) -> String {
    if (e - e.round()).abs() > 1e-6 {
        return String::new();
    }
    match e.round() as i64 {
        k @ 0..=3 => format!("{}", 10i64.pow(k as u32)),
        k => format!("1e{k}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_ticks_name_the_nearest_row() {
        let d: Vec<String> = ["1949-01", "1949-02", "1949-03"].map(String::from).to_vec();
        assert_eq!(x_tick(1.0, 0.5, Some(&d)), "1949-02");
        assert_eq!(x_tick(1.6, 0.5, Some(&d)), "1949-03");
        // Past the names, and without them, the number.
        assert_eq!(x_tick(5.0, 1.0, Some(&d)), tick_label(5.0, 1.0));
        assert_eq!(x_tick(-1.0, 1.0, Some(&d)), tick_label(-1.0, 1.0));
        assert_eq!(x_tick(2.0, 1.0, None), "2");
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.30000000000000004, 0.05), "0.3");
        assert_eq!(tick_label(20.0, 5.0), "20");
        assert_eq!(tick_label(-0.0, 0.1), "0");
        assert_eq!(tick_label(3.25, 0.25), "3.25");
        assert_eq!(tick_label(2.5, 2.5), "2.5");
        assert_eq!(tick_label(1.5e7, 1e6), "1.5e7");
        assert_eq!(tick_label(2e-5, 1e-5), "2e-5");
        assert_eq!(decade_label(-22.0), "1e-22");
        assert_eq!(decade_label(2.0), "100");
        assert_eq!(decade_label(-21.5), "");
    }
}
