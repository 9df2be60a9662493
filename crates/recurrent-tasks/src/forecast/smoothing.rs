//! The exponential-smoothing half of the ES-RNN hybrid (`--target es`; Smyl 2020, the
//! winner of the M4 competition): a level and a season per series, smoothed over the whole
//! history with coefficients that are learned with the network, by the same gradient.
//!
//! In the scaled units z of the target column, with α = σ(a), γ = σ(g) and the first
//! cycle's seasonal terms s_0..s_{m-1} learned:
//! ```text
//! S_t     = s_t                                   t < m
//! L_0     = z_0 - S_0
//! L_t     = α (z_t - S_t) + (1 - α) L_{t-1}       t >= 1
//! S_{t+m} = γ (z_t - L_t) + (1 - γ) S_t           t >= 0
//! ```
//! Without a season (m < 2) S is 0 and there is no γ. Under `--scale log` z is a logarithm,
//! and this is Holt-Winters' multiplicative form, as ES-RNN uses it.
//!
//! The network reads each window row minus its offset, the origin's level plus the row's
//! season, and forecasts the target rows minus theirs:
//! ```text
//! x_t = z_t - L_o - S_{j(o, t)}        the window's rows t <= o
//! y_s = z_{o+s} - L_o - S_{j(o, o+s)}  the targets;  forecast z_{o+s} = f_s + L_o + S_{j(o, o+s)}
//! ```
//! where j(o, t) is t, stepped back by whole cycles to at most o + m: S_{o+m} is the last
//! seasonal term the rows up to o determine, so nothing after the origin is read. With
//! α = 1 and no season this is the `delta` target; what the hybrid adds is a level that
//! averages out noise and a season the network need not learn from the window.

use recurrent::float::Float;
use recurrent::param::{Module, Param};
use recurrent::tensor::Tensor;

/// The starting α: mostly the newest value, as the `delta` target that the hybrid
/// generalises.
const ALPHA_LOGIT: f64 = 2.0;
/// The starting γ: a season that changes slowly.
const GAMMA_LOGIT: f64 = -2.0;
/// Cycles averaged for the starting season.
const INIT_CYCLES: usize = 4;

/// The learned smoothing parameters (see the module docs).
#[derive(Clone, Debug)]
pub struct Smoothing<F> {
    /// a, with α = σ(a): `es.alpha` [1].
    pub alpha: Param<F>,
    /// With a season of m >= 2: g (`es.gamma` [1]) and s_0..s_{m-1} (`es.season` [m]).
    pub season: Option<(Param<F>, Param<F>)>,
}

/// The level and season over a series, and the coefficients they were computed with.
#[derive(Clone, Debug)]
pub struct States {
    /// L_t for every row.
    pub level: Vec<f64>,
    /// S_t for t < rows + m (empty without a season).
    pub season: Vec<f64>,
    /// m (0 without a season).
    pub m: usize,
    alpha: f64,
    gamma: f64,
}

/// dLoss/dL_t and dLoss/dS_t, gathered from the windows before [`Smoothing::backward`].
#[derive(Clone, Debug)]
pub struct Grads {
    level: Vec<f64>,
    season: Vec<f64>,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn scalar<F: Float>(name: &str, v: f64) -> Param<F> {
    Param::new(
        name,
        Tensor::from_vec(&[1], vec![F::of(v)]).unwrap_or_else(|_| Tensor::zeros(&[1])),
    )
}

impl<F: Float> Smoothing<F> {
    /// The starting smoothing for a season of `m` rows (none when m < 2): α and γ at
    /// their constants, each seasonal term the mean of its row's deviation from its
    /// cycle's mean over the first (up to four) whole cycles of `fit`, the rows the model
    /// trains on. Zero where `fit` holds no whole cycle.
    pub fn new(fit: &[f64], m: usize) -> Smoothing<F> {
        let season = (m >= 2).then(|| {
            let cycles = (fit.len() / m).min(INIT_CYCLES);
            let mut s = vec![0.0; m];
            for c in 0..cycles {
                let cycle = &fit[c * m..(c + 1) * m];
                let mean = cycle.iter().sum::<f64>() / m as f64;
                for (sj, v) in s.iter_mut().zip(cycle) {
                    *sj += (v - mean) / cycles as f64;
                }
            }
            let init = s.into_iter().map(F::of).collect();
            (
                scalar("es.gamma", GAMMA_LOGIT),
                Param::new(
                    "es.season",
                    Tensor::from_vec(&[m], init).unwrap_or_else(|_| Tensor::zeros(&[m])),
                ),
            )
        });
        Smoothing {
            alpha: scalar("es.alpha", ALPHA_LOGIT),
            season,
        }
    }

    /// m (0 without a season).
    pub fn period(&self) -> usize {
        self.season.as_ref().map_or(0, |(_, s)| s.value.len())
    }

    /// (α, γ): the smoothing coefficients (γ is 0 without a season).
    pub fn coefficients(&self) -> (f64, f64) {
        let g = self
            .season
            .as_ref()
            .map_or(0.0, |(g, _)| sigmoid(g.value.data()[0].to64()));
        (sigmoid(self.alpha.value.data()[0].to64()), g)
    }

    /// The level and season over the scaled target `z` (the recursion of the module docs).
    pub fn states(&self, z: &[f64]) -> States {
        let (alpha, gamma) = self.coefficients();
        let m = self.period();
        let mut season: Vec<f64> = Vec::with_capacity(if m > 0 { z.len() + m } else { 0 });
        if let Some((_, s)) = &self.season {
            season.extend(s.value.data().iter().map(|v| v.to64()));
        }
        let mut level: Vec<f64> = Vec::with_capacity(z.len());
        for (t, &zt) in z.iter().enumerate() {
            let st = if m > 0 { season[t] } else { 0.0 };
            let l = match t {
                0 => zt - st,
                _ => alpha * (zt - st) + (1.0 - alpha) * level[t - 1],
            };
            level.push(l);
            if m > 0 {
                season.push(gamma * (zt - l) + (1.0 - gamma) * st);
            }
        }
        States {
            level,
            season,
            m,
            alpha,
            gamma,
        }
    }

    /// Adds dLoss/d(parameters) to the gradients from `grads` (dLoss/dL_t, dLoss/dS_t),
    /// running the recursion backwards over `z`, the series `states` was computed on:
    /// ```text
    /// S_{t+m}: dL_t -= γ dS_{t+m};  dS_t += (1 - γ) dS_{t+m};  dγ += dS_{t+m} (z_t - L_t - S_t)
    /// L_t:     dS_t -= α dL_t;      dL_{t-1} += (1 - α) dL_t;  dα += dL_t (z_t - S_t - L_{t-1})
    /// L_0:     dS_0 -= dL_0
    /// da = dα α (1 - α);  dg = dγ γ (1 - γ);  ds_j = dS_j for j < m
    /// ```
    /// Each S_{t+m} and L_t is read only at later steps, so by the time t is reached
    /// going down, their gradients are whole.
    pub fn backward(&mut self, z: &[f64], st: &States, grads: Grads) {
        let (a, g, m) = (st.alpha, st.gamma, st.m);
        let Grads {
            level: mut gl,
            season: mut gs,
        } = grads;
        let (mut ga, mut gg) = (0.0, 0.0);
        for t in (0..z.len()).rev() {
            let s_t = if m > 0 { st.season[t] } else { 0.0 };
            if m > 0 {
                let d = gs[t + m];
                gl[t] -= g * d;
                gs[t] += (1.0 - g) * d;
                gg += d * (z[t] - st.level[t] - s_t);
            }
            let d = gl[t];
            if t == 0 {
                if m > 0 {
                    gs[0] -= d;
                }
            } else {
                if m > 0 {
                    gs[t] -= a * d;
                }
                gl[t - 1] += (1.0 - a) * d;
                ga += d * (z[t] - s_t - st.level[t - 1]);
            }
        }
        let da = &mut self.alpha.grad.data_mut()[0];
        *da += F::of(ga * a * (1.0 - a));
        if let Some((gamma, season)) = &mut self.season {
            let dg = &mut gamma.grad.data_mut()[0];
            *dg += F::of(gg * g * (1.0 - g));
            for (d, v) in season.grad.data_mut().iter_mut().zip(&gs) {
                *d += F::of(*v);
            }
        }
    }
}

impl States {
    /// j(o, t): the seasonal term row t has, as the rows up to origin o know it (None
    /// without a season).
    fn season_index(&self, o: usize, t: usize) -> Option<usize> {
        let m = self.m;
        (m > 0).then(|| {
            let limit = o + m;
            if t <= limit {
                t
            } else {
                t - m * (t - limit).div_ceil(m)
            }
        })
    }

    /// L_o + S_{j(o, t)}: what row t is measured from, seen from origin o.
    pub fn offset(&self, o: usize, t: usize) -> f64 {
        self.level[o] + self.season_index(o, t).map_or(0.0, |j| self.season[j])
    }

    /// Zero gradients for these states.
    pub fn zero_grads(&self) -> Grads {
        Grads {
            level: vec![0.0; self.level.len()],
            season: vec![0.0; self.season.len()],
        }
    }

    /// Subtracts each window's offsets from the target column (0) of the time-major
    /// batch `x` [L, B, F] whose window `bi` ends at `origins[bi]`.
    pub fn normalise<F: Float>(&self, x: &mut [F], origins: &[usize], l: usize, w: usize) {
        let b = origins.len();
        for (bi, &o) in origins.iter().enumerate() {
            for ti in 0..l {
                let v = &mut x[(ti * b + bi) * w];
                *v -= F::of(self.offset(o, o + 1 + ti - l));
            }
        }
    }

    /// Adds to `grads` what one batch passes back to the level and season: each window
    /// row's input gradient `dx` [L, B, F] with a minus sign (x = z - offset), and each
    /// target's prediction gradient `dpred` [B, H] with a plus sign (the loss depends on
    /// f - y, and y = z - offset). The window is L rows of F columns.
    pub fn gather<F: Float>(
        &self,
        grads: &mut Grads,
        origins: &[usize],
        (l, w): (usize, usize),
        dx: &[F],
        dpred: &[F],
    ) {
        let h = dpred.len() / origins.len().max(1);
        let b = origins.len();
        let mut add = |o: usize, t: usize, d: f64| {
            grads.level[o] += d;
            if let Some(j) = self.season_index(o, t) {
                grads.season[j] += d;
            }
        };
        for (bi, &o) in origins.iter().enumerate() {
            for ti in 0..l {
                add(o, o + 1 + ti - l, -dx[(ti * b + bi) * w].to64());
            }
            for s in 0..h {
                add(o, o + 1 + s, dpred[bi * h + s].to64());
            }
        }
    }
}

impl<F: Float> Module<F> for Smoothing<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        f(&self.alpha);
        if let Some((g, s)) = &self.season {
            f(g);
            f(s);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        f(&mut self.alpha);
        if let Some((g, s)) = &mut self.season {
            f(g);
            f(s);
        }
    }
}

#[cfg(test)]
mod tests;
