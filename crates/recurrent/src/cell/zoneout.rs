//! Zoneout (Krueger et al. 2016): in training each unit of a state keeps its previous value
//! with probability p instead of taking the new one, a fresh draw per unit, row and step.
//! Where dropout zeroes a unit, zoneout freezes it, so the gradient of a frozen unit flows
//! to the step before unchanged, as through an identity.
//!
//! With s~_t the state the cell computes (h~_t = o tanh(c~_t) for an LSTM, from the new
//! c~_t before it is zoned) and d_t the mask (1: keep the old value):
//!
//! ```text
//! training:    s_t = d_t s_{t-1} + (1 - d_t) s~_t,      d_t ~ Bernoulli(p)
//! evaluation:  s_t = p s_{t-1} + (1 - p) s~_t            (the expectation of the above)
//! backward:    ds_{t-1} += w ds_t,   ds~_t = (1 - w) ds_t,  w = d_t (training) or p
//! ```
//!
//! The hidden state and the LSTM's cell state have their own rates (the paper's best
//! character models zone the cell state far more than the hidden one).

use crate::error::{Error, Result};
use crate::float::Float;
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The zoneout rates of a layer: `h` of the hidden state, `c` of the cell state (cells that
/// have one). Written `P` (both) or `H,C` on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Zoneout {
    pub h: f64,
    pub c: f64,
}

// The rates are checked to lie in [0, 1) (never NaN), so equality is an equivalence.
impl Eq for Zoneout {}

impl Zoneout {
    /// The same rate for both states.
    pub fn both(p: f64) -> Self {
        Zoneout { h: p, c: p }
    }
    /// Whether any state is zoned.
    pub fn is_on(&self) -> bool {
        self.h > 0.0 || self.c > 0.0
    }
    /// Checks both rates lie in [0, 1); the error names `what` (the flag or field).
    pub fn validate(&self, what: &str) -> Result<()> {
        for p in [self.h, self.c] {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::Config(format!(
                    "{what} rates must be in [0, 1), got {self}"
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Zoneout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.h == self.c {
            write!(f, "{}", self.h)
        } else {
            write!(f, "{},{}", self.h, self.c)
        }
    }
}

impl FromStr for Zoneout {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let rate = |v: &str| {
            v.trim().parse::<f64>().map_err(|_| {
                Error::Config(format!(
                    "zoneout: '{s}' is not a rate P or a pair H,C (hidden, cell), e.g. 0.1 or 0.05,0.5"
                ))
            })
        };
        let z = match s.split_once(',') {
            Some((h, c)) => Zoneout {
                h: rate(h)?,
                c: rate(c)?,
            },
            None => Zoneout::both(rate(s)?),
        };
        z.validate("zoneout")?;
        Ok(z)
    }
}

/// The masks of one layer-direction over a sequence, drawn for training: `h` [T, B, H] and
/// (cells with a cell state) `c` [T, B, H], 1 where the unit keeps its previous value.
#[derive(Clone, Debug, Default)]
pub struct Masks {
    pub h: Vec<u8>,
    pub c: Vec<u8>,
}

impl Masks {
    /// `n` = T * B * H draws for the hidden state, then `n` for the cell state when
    /// `cell_state`, in order from `rng` (a rate of 0 draws nothing and keeps nothing).
    pub fn draw(z: Zoneout, n: usize, cell_state: bool, rng: &mut Rng) -> Self {
        let h = bernoulli(n, z.h, rng);
        let c = if cell_state {
            bernoulli(n, z.c, rng)
        } else {
            Vec::new()
        };
        Masks { h, c }
    }
}

/// `n` draws of Bernoulli(`p`) (1 with probability p), four from each 64-bit word of the
/// stream: a 16-bit slice below p * 2^16 is a 1. A layer of 2 x 512 units over 64 x 128
/// steps draws 8 M of these per batch, one after the other; one word per draw made them a
/// fifth of a training step, and a rate resolved to 2^-16 is finer than any rate tuned.
fn bernoulli(n: usize, p: f64, rng: &mut Rng) -> Vec<u8> {
    if p <= 0.0 {
        return Vec::new();
    }
    let cut = (p * 65536.0).round() as u64;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let w = rng.next_u64();
        let k = (n - v.len()).min(4);
        v.extend((0..k).map(|i| u8::from((w >> (16 * i)) & 0xffff < cut)));
    }
    v
}

/// How one row's units are zoned.
#[derive(Clone, Copy, Debug)]
pub enum Keep<'a> {
    /// Not zoned.
    No,
    /// Training: 1 keeps the previous value.
    Mask(&'a [u8]),
    /// Evaluation: the weight of the previous value.
    Weight(f64),
}

impl Keep<'_> {
    /// Evaluation at rate `p` (none at 0).
    pub fn expect(p: f64) -> Self {
        if p > 0.0 {
            Keep::Weight(p)
        } else {
            Keep::No
        }
    }
}

/// The zoning of a layer-direction over one sequence: the training masks when it has them,
/// else the evaluation's expectation at the layer's rates.
#[derive(Clone, Debug, Default)]
pub struct Zoning {
    pub rates: Zoneout,
    pub masks: Option<Masks>,
}

impl Zoning {
    /// Units `u` of row `bi` of step t (B rows of H units): the hidden state's, or with
    /// `cell` the cell state's.
    pub fn row(
        &self,
        cell: bool,
        t: usize,
        b: usize,
        h: usize,
        bi: usize,
        u: &std::ops::Range<usize>,
    ) -> Keep<'_> {
        let p = if cell { self.rates.c } else { self.rates.h };
        if p <= 0.0 {
            return Keep::No;
        }
        match &self.masks {
            None => Keep::Weight(p),
            Some(m) => {
                let v = if cell { &m.c } else { &m.h };
                if v.is_empty() {
                    // A cell without a cell state draws no mask for it.
                    return Keep::No;
                }
                let o = (t * b + bi) * h;
                Keep::Mask(&v[o + u.start..o + u.end])
            }
        }
    }
}

/// Forward on one row: s = w s_prev + (1 - w) s~, in place on `s` (which holds s~).
pub fn mix<F: Float>(keep: Keep, prev: &[F], s: &mut [F]) {
    match keep {
        Keep::No => {}
        Keep::Mask(m) => {
            for ((s, p), &m) in s.iter_mut().zip(prev).zip(m) {
                if m != 0 {
                    *s = *p;
                }
            }
        }
        Keep::Weight(w) => {
            let (w, v) = (F::of(w), F::of(1.0 - w));
            for (s, p) in s.iter_mut().zip(prev) {
                *s = w * *p + v * *s;
            }
        }
    }
}

/// Backward on one row: `kept` = w ds (what reaches s_{t-1} directly) and ds becomes
/// (1 - w) ds (what reaches s~_t).
pub fn split<F: Float>(keep: Keep, ds: &mut [F], kept: &mut [F]) {
    match keep {
        Keep::No => kept.fill(F::zero()),
        Keep::Mask(m) => {
            for ((d, k), &m) in ds.iter_mut().zip(kept.iter_mut()).zip(m) {
                if m != 0 {
                    *k = *d;
                    *d = F::zero();
                } else {
                    *k = F::zero();
                }
            }
        }
        Keep::Weight(w) => {
            let (w, v) = (F::of(w), F::of(1.0 - w));
            for (d, k) in ds.iter_mut().zip(kept.iter_mut()) {
                *k = w * *d;
                *d = v * *d;
            }
        }
    }
}

/// acc += kept, element by element (the direct path s_{t-1} -> s_t, after the cell's).
pub fn add<F: Float>(acc: &mut [F], kept: &[F]) {
    acc.iter_mut().zip(kept).for_each(|(a, k)| *a += *k);
}
