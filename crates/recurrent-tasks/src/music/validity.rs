//! Musical validity of a set of tunes, measured the same way on generated and real ones:
//! the share that parse, the share of bars whose length matches the meter (pickups and
//! section ends allowed), the share with balanced repeats, the share ending on the key's
//! tonic, the pitch range, and the share whose music copies a corpus tune.

use crate::music::corpus::tunes_of;
use crate::music::midi::playback;
use crate::music::parse::{parse_tune, Item};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

/// The measures (shares in [0, 1]).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Validity {
    pub tunes: usize,
    pub parse: f64,
    pub bars: usize,
    pub bars_fit: f64,
    pub balanced_repeats: f64,
    pub ends_on_tonic: f64,
    /// Mean over tunes of (highest - lowest) melody pitch, semitones.
    pub mean_range: f64,
    pub lowest: u8,
    pub highest: u8,
    /// Share whose music (whitespace aside) equals a reference tune's.
    pub copies: Option<f64>,
}

/// The music of a tune (after its `K:` line), whitespace removed.
pub fn body_key(text: &str) -> Option<String> {
    let p = parse_tune(text, Path::new("tune"), 1).ok()?;
    Some(
        text.get(p.body_start..)?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect(),
    )
}

/// No repeat opened while one is open, none left open at the end, and no `:|` that has
/// nothing to go back to (a `:|` may go back to the start, a double bar or the last `:|`,
/// as ABC players read it).
fn balanced(items: &[Item]) -> bool {
    let mut open = false;
    let mut boundary = true;
    for it in items {
        if let Item::Bar { kind, .. } = it {
            if kind.end_repeat {
                if !open && !boundary {
                    return false;
                }
                open = false;
                boundary = true;
            }
            if kind.start_repeat {
                if open {
                    return false;
                }
                open = true;
            }
            if kind.double && !kind.start_repeat {
                boundary = true;
            }
        }
    }
    !open
}

/// Measures `tunes` (texts of whole tunes); `reference` bodies give the copy share.
pub fn measure(tunes: &[String], reference: Option<&HashSet<String>>) -> Validity {
    let n = tunes.len().max(1) as f64;
    let (mut parsed, mut bars, mut fit, mut bal, mut tonic, mut range_sum, mut ranged) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0.0, 0usize);
    let (mut lowest, mut highest) = (127u8, 0u8);
    let mut copies = 0usize;
    for t in tunes {
        if let (Some(r), Some(k)) = (reference, body_key(t)) {
            copies += r.contains(&k) as usize;
        }
        let Ok(p) = parse_tune(t, Path::new("tune"), 1) else {
            continue;
        };
        parsed += 1;
        bars += p.bars.len();
        fit += p.bars.iter().filter(|b| b.fits()).count();
        bal += balanced(&p.items) as usize;
        let pb = playback(&p);
        if let Some(last) = pb.melody.iter().max_by_key(|s| s.start) {
            tonic += (last.pitch % 12 == p.tonic) as usize;
        }
        if let (Some(lo), Some(hi)) = (
            pb.melody.iter().map(|s| s.pitch).min(),
            pb.melody.iter().map(|s| s.pitch).max(),
        ) {
            lowest = lowest.min(lo);
            highest = highest.max(hi);
            range_sum += (hi - lo) as f64;
            ranged += 1;
        }
    }
    Validity {
        tunes: tunes.len(),
        parse: parsed as f64 / n,
        bars,
        bars_fit: fit as f64 / bars.max(1) as f64,
        balanced_repeats: bal as f64 / parsed.max(1) as f64,
        ends_on_tonic: tonic as f64 / parsed.max(1) as f64,
        mean_range: range_sum / ranged.max(1) as f64,
        lowest,
        highest,
        copies: reference.map(|_| copies as f64 / n),
    }
}

/// The tunes of an ABC text (records from `X:`).
pub fn tunes_in(text: &str) -> Vec<String> {
    tunes_of(text, "tunes")
        .into_iter()
        .map(|r| r.text)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_simple_tunes() {
        let good = "X: 1\nM:2/4\nL:1/8\nK:G\n|:GABc|d2G2:|\n".to_string();
        let open = "X: 2\nM:2/4\nL:1/8\nK:G\n|:GABc|d2B2|:\n".to_string();
        let bad = "X: 3\nM:2/4\nK:G\nab \"C\n".to_string();
        let refs: HashSet<String> = [body_key(&good).unwrap()].into();
        let v = measure(&[good, open, bad], Some(&refs));
        assert!((v.parse - 2.0 / 3.0).abs() < 1e-9);
        assert!((v.balanced_repeats - 0.5).abs() < 1e-9);
        assert!((v.ends_on_tonic - 0.5).abs() < 1e-9);
        assert!((v.copies.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(v.bars_fit, 1.0);
    }
}
