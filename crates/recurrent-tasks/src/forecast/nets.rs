//! The networks of a forecaster: K copies of one architecture, each initialised from its
//! own stretch of the seeded stream and trained on the same batches, whose forecasts are
//! combined by their median (a deep ensemble, Lakshminarayanan et al. 2017). The members
//! differ only by where training started, so the median removes the part of the error
//! that is an accident of one initialisation.
//!
//! Member 0 keeps the plain parameter names (`rnn.weight_ih_l0`, `head.weight`), so a
//! one-member forecaster is the checkpoint it always was; member k > 0 has the prefix
//! `member{k}.`.

use super::config::{Strategy, TargetKind};
use super::smoothing::{Smoothing, States};
use crate::forecast::combine::median;
use recurrent::checkpoint::shapes::{check_shapes, rnn_shapes};
use recurrent::checkpoint::Checkpoint;
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::{Classifier, ClassifierConfig, InputKind, SeqBatch, Steps};
use recurrent::param::{Module, Param};
use recurrent::rng::Rng;

/// The ensemble (see the module docs), and with `--target es` the smoothing its members
/// share (`forecast::smoothing`: the ES-RNN hybrid).
pub struct Nets {
    pub members: Vec<Classifier<f32>>,
    pub es: Option<Smoothing<f32>>,
}

/// The name prefix of member `k`'s parameters.
pub fn prefix(k: usize) -> String {
    if k == 0 {
        String::new()
    } else {
        format!("member{k}.")
    }
}

impl Nets {
    /// `k` members of shape `cfg`, initialised one after the other from `rng`.
    pub fn new(cfg: &ClassifierConfig, k: usize, init: &Init, rng: &mut Rng) -> Result<Nets> {
        let mut members = Vec::with_capacity(k);
        for i in 0..k.max(1) {
            let mut m = Classifier::new(cfg.clone(), init, rng)?;
            let p = prefix(i);
            m.visit_mut(&mut |q| q.name = format!("{p}{}", q.name));
            members.push(m);
        }
        Ok(Nets { members, es: None })
    }
}

impl Module<f32> for Nets {
    fn visit(&self, f: &mut dyn FnMut(&Param<f32>)) {
        self.members.iter().for_each(|m| m.visit(f));
        if let Some(es) = &self.es {
            es.visit(f);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<f32>)) {
        self.members.iter_mut().for_each(|m| m.visit_mut(f));
        if let Some(es) = &mut self.es {
            es.visit_mut(f);
        }
    }
}

impl recurrent::Quantize for Nets {
    fn set_precision(&mut self, p: recurrent::Precision) {
        self.members.iter_mut().for_each(|m| m.set_precision(p));
    }
}

/// The `members` networks of shape `m` (dense input, one direction) with the weights of
/// `ck`, and with `es = Some(period)` the smoothing of the hybrid (period 0: no season),
/// every shape checked against the file before anything of that size is allocated.
pub fn load_nets(
    ck: &Checkpoint,
    m: &ClassifierConfig,
    members: usize,
    es: Option<usize>,
) -> Result<Nets> {
    let InputKind::Dense { size } = m.input else {
        return Err(Error::format(
            ck.origin(),
            "a forecaster reads dense inputs",
        ));
    };
    let e = &m.encoder;
    let mut want = Vec::new();
    for k in 0..members {
        let p = prefix(k);
        let rnn = rnn_shapes(e.cell, size, e.hidden, e.layers, e.bidirectional);
        want.extend(rnn.into_iter().map(|(n, s)| (format!("{p}{n}"), s)));
        want.push((format!("{p}head.weight"), vec![m.outputs, e.hidden]));
        want.push((format!("{p}head.bias"), vec![m.outputs]));
    }
    if let Some(p) = es {
        want.push(("es.alpha".into(), vec![1]));
        if p > 0 {
            want.push(("es.gamma".into(), vec![1]));
            want.push(("es.season".into(), vec![p]));
        }
    }
    check_shapes(ck, &want)?;
    let mut nets = Nets::new(m, members, &Init::default(), &mut Rng::new(0))?;
    nets.es = es.map(|p| Smoothing::new(&[], p));
    recurrent::checkpoint::load_into(&mut nets, &ck.weights_only())?;
    Ok(nets)
}

/// How windows are read and forecasts made: what both training and a stored forecaster
/// know about the windows.
#[derive(Clone, Copy, Debug)]
pub struct Windows {
    /// L.
    pub lookback: usize,
    /// F.
    pub width: usize,
    /// H.
    pub horizon: usize,
    pub strategy: Strategy,
    /// What the network predicts: the value, the change from the origin's value, or the
    /// value minus the hybrid's level and season.
    pub target: TargetKind,
}

impl Windows {
    /// Forecasts of the target column in scaled units, `steps` rows after each origin in
    /// `origins`, reading the scaled rows `z` ([rows, F] row-major): the median over the
    /// members of each member's forecast. Origins need o + 1 >= L; a direct model
    /// forecasts at most H steps. Returns [origins, steps].
    pub fn forecast(
        &self,
        nets: &Nets,
        z: &[f32],
        origins: &[usize],
        steps: usize,
    ) -> Result<Vec<f64>> {
        if self.strategy == Strategy::Direct && steps > self.horizon {
            return Err(Error::Config(format!(
                "this direct model forecasts at most {} steps (its --horizon): ask for --horizon {} or less, \
                 or train with --strategy recursive",
                self.horizon, self.horizon
            )));
        }
        let states = self.states(nets, z)?;
        let each: Vec<Vec<f64>> = nets
            .members
            .iter()
            .map(|m| self.forecast_one(m, states.as_ref(), z, origins, steps))
            .collect::<Result<_>>()?;
        if each.len() == 1 {
            return Ok(each.into_iter().next().unwrap_or_default());
        }
        let mut v = vec![0.0; each.len()];
        Ok((0..origins.len() * steps)
            .map(|i| {
                for (slot, f) in v.iter_mut().zip(&each) {
                    *slot = f[i];
                }
                median(&mut v)
            })
            .collect())
    }

    /// With `--target es`, the hybrid's level and season over the target column of `z`.
    pub(crate) fn states(&self, nets: &Nets, z: &[f32]) -> Result<Option<States>> {
        if self.target != TargetKind::Es {
            return Ok(None);
        }
        let es = nets.es.as_ref().ok_or_else(|| {
            Error::Config("a hybrid forecaster (--target es) without its smoothing".into())
        })?;
        Ok(Some(es.states(&target_column(z, self.width))))
    }

    /// The same for one network (`states`: the hybrid's, for `--target es`).
    fn forecast_one(
        &self,
        model: &Classifier<f32>,
        states: Option<&States>,
        z: &[f32],
        origins: &[usize],
        steps: usize,
    ) -> Result<Vec<f64>> {
        let (l, w) = (self.lookback, self.width);
        let mut out = vec![0.0; origins.len() * steps];
        for (ci, chunk) in origins.chunks(256).enumerate() {
            let b = chunk.len();
            // Time-major window [L, B, F].
            let mut x = vec![0.0f32; l * b * w];
            for (bi, &o) in chunk.iter().enumerate() {
                if o + 1 < l || (o + 1) * w > z.len() {
                    return Err(Error::Input(format!(
                        "a forecast from row {} needs {l} rows of history (the model's lookback)",
                        o + 1
                    )));
                }
                fill_window(x.as_mut_slice(), z, l, w, o, bi, b);
            }
            if let Some(st) = states {
                st.normalise(&mut x, chunk, l, w);
            }
            let base = ci * 256;
            match self.strategy {
                Strategy::Direct => {
                    let batch = SeqBatch {
                        steps: Steps::Dense(x),
                        t: l,
                        b,
                        lengths: None,
                    };
                    let (y, _) = model.forward(&batch, None)?;
                    let hh = self.horizon;
                    for (bi, &o) in chunk.iter().enumerate() {
                        for s in 0..steps {
                            let from = match (self.target, states) {
                                (TargetKind::Delta, _) => z[o * w] as f64,
                                (TargetKind::Es, Some(st)) => st.offset(o, o + 1 + s),
                                _ => 0.0,
                            };
                            out[(base + bi) * steps + s] = y[bi * hh + s] as f64 + from;
                        }
                    }
                }
                Strategy::Recursive => {
                    let mut x = x;
                    let mut next = vec![0.0f32; b * w];
                    for s in 0..steps {
                        let batch = SeqBatch {
                            steps: Steps::Dense(x),
                            t: l,
                            b,
                            lengths: None,
                        };
                        let (y, _) = model.forward(&batch, None)?;
                        x = take_dense(batch);
                        let delta = self.target == TargetKind::Delta;
                        roll(&mut x, &y, &mut next, b, w, delta);
                        for bi in 0..b {
                            out[(base + bi) * steps + s] = next[bi * w] as f64;
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Column 0 of the rows `z` [rows, F], in f64: what the hybrid smooths.
pub(crate) fn target_column(z: &[f32], w: usize) -> Vec<f64> {
    z.chunks_exact(w.max(1)).map(|r| r[0] as f64).collect()
}

/// Copies the window of origin `o` (rows o - L + 1 ..= o of the scaled rows `z`, F wide)
/// into time-major slot `bi` of `x` [L, B, F].
pub(crate) fn fill_window(
    x: &mut [f32],
    z: &[f32],
    l: usize,
    w: usize,
    o: usize,
    bi: usize,
    b: usize,
) {
    for ti in 0..l {
        x[(ti * b + bi) * w..][..w].copy_from_slice(&z[(o + 1 + ti - l) * w..][..w]);
    }
}

/// The feature buffer of a dense batch (given back after a forward pass, to be reused).
pub(crate) fn take_dense(batch: SeqBatch<f32>) -> Vec<f32> {
    match batch.steps {
        Steps::Dense(x) => x,
        Steps::Ids(_) => Vec::new(),
    }
}

/// One step of a recursive forecast: `next` = the prediction `y` [B, F] (plus the newest
/// row for deltas), then the window `x` [L, B, F] drops its oldest row and appends `next`.
pub(crate) fn roll(x: &mut [f32], y: &[f32], next: &mut [f32], b: usize, w: usize, delta: bool) {
    let newest = x.len() - b * w;
    for ((n, &p), &last) in next.iter_mut().zip(y).zip(&x[newest..]) {
        *n = p + if delta { last } else { 0.0 };
    }
    x.copy_within(b * w.., 0);
    x[newest..].copy_from_slice(next);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::config::ForecastTrainConfig;
    use crate::forecast::model::model_config;

    #[test]
    fn the_ensemble_forecast_is_the_median_of_its_members_and_member_zero_keeps_its_names() {
        let cfg = ForecastTrainConfig {
            horizon: 3,
            hidden: 4,
            ..Default::default()
        };
        let nets = Nets::new(
            &model_config(&cfg, 1),
            3,
            &Init::default(),
            &mut Rng::new(5),
        )
        .unwrap();
        let names: Vec<String> = nets.param_shapes().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"rnn.weight_ih_l0".to_string()), "{names:?}");
        assert!(
            names.contains(&"member2.head.bias".to_string()),
            "{names:?}"
        );
        let w = Windows {
            lookback: 4,
            width: 1,
            horizon: 3,
            strategy: Strategy::Direct,
            target: TargetKind::Delta,
        };
        let z: Vec<f32> = (0..10).map(|t| (t as f32 * 0.7).sin()).collect();
        let origins = [3, 6, 9];
        let all = w.forecast(&nets, &z, &origins, 3).unwrap();
        let each: Vec<Vec<f64>> = nets
            .members
            .iter()
            .map(|m| w.forecast_one(m, None, &z, &origins, 3).unwrap())
            .collect();
        assert!(each[0] != each[1], "members start apart");
        for i in 0..all.len() {
            let mut v = vec![each[0][i], each[1][i], each[2][i]];
            assert_eq!(all[i], median(&mut v));
        }
        // A direct model refuses steps past its horizon.
        assert!(w.forecast(&nets, &z, &origins, 4).is_err());
    }
}
