//! Averaged weights for evaluation (`--ema D`): an exponential moving average of the
//! parameters, updated after every optimizer step, which the run evaluates and keeps as its
//! best weights while training goes on with the raw ones.
//!
//! Why an average: SGD-family updates end near a minimum but keep bouncing around it at the
//! scale of the learning rate; the average of the last few thousand iterates sits closer to
//! its centre (Polyak and Juditsky 1992). AWD-LSTM gets the same effect from NT-ASGD; an EMA
//! keeps Adam and asks for no switch point. The average lives beside the model, so the
//! optimizer and the training stream are untouched: a run with `--ema` trains the very
//! weights a run without it does, and only what is evaluated and saved as best differs.

use crate::error::{Error, Result};
use crate::param::Module;
use crate::tensor::Tensor;

/// The running average: one shadow tensor per parameter, in visiting order.
pub struct Ema {
    decay: f64,
    shadow: Vec<Tensor<f32>>,
    /// Updates so far (the warm-up of the decay counts them).
    updates: u64,
}

impl Ema {
    /// An average that starts at the model's current weights.
    pub fn new<M: Module<f32>>(decay: f64, model: &M) -> Self {
        let mut shadow = Vec::new();
        model.visit(&mut |p| shadow.push(p.value.clone()));
        Ema {
            decay,
            shadow,
            updates: 0,
        }
    }

    /// The decay of update `t` (from 0): `min(d, (1 + t) / (10 + t))`. The warm-up (the
    /// rule of TensorFlow's `ExponentialMovingAverage` with `num_updates`) keeps the first
    /// evaluations from being an average dominated by the random initial weights.
    fn decay_at(&self, t: u64) -> f32 {
        let t = t as f64;
        self.decay.min((1.0 + t) / (10.0 + t)) as f32
    }

    /// `θ̄ ← d θ̄ + (1 − d) θ`, after an optimizer step.
    pub fn update<M: Module<f32>>(&mut self, model: &M) {
        let d = self.decay_at(self.updates);
        let mut i = 0;
        model.visit(&mut |p| {
            for (s, &v) in self.shadow[i].data_mut().iter_mut().zip(p.value.data()) {
                *s = d * *s + (1.0 - d) * v;
            }
            i += 1;
        });
        self.updates += 1;
    }

    /// Exchanges the model's weights with the average (twice restores them): evaluation
    /// and the best checkpoint run between two swaps.
    pub fn swap<M: Module<f32>>(&mut self, model: &mut M) {
        let mut i = 0;
        model.visit_mut(&mut |p| {
            std::mem::swap(&mut p.value, &mut self.shadow[i]);
            i += 1;
        });
    }

    /// Updates made so far (saved with the run, so a resume continues the warm-up).
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The average under the parameters' names, for a checkpoint.
    pub fn tensors<M: Module<f32>>(&self, model: &M) -> Vec<(String, Tensor<f32>)> {
        let mut out = Vec::with_capacity(self.shadow.len());
        let mut i = 0;
        model.visit(&mut |p| {
            out.push((p.name.clone(), self.shadow[i].clone()));
            i += 1;
        });
        out
    }

    /// Restores the average a checkpoint saved with [`Ema::tensors`]; every parameter must
    /// be there with its shape.
    pub fn load<M: Module<f32>>(
        &mut self,
        model: &M,
        mut saved: std::collections::BTreeMap<String, Tensor<f32>>,
        updates: u64,
    ) -> Result<()> {
        let mut missing = None;
        let mut i = 0;
        model.visit(&mut |p| {
            match saved.remove(&p.name) {
                Some(t) if t.shape() == p.shape() => self.shadow[i] = t,
                _ => {
                    missing.get_or_insert_with(|| p.name.clone());
                }
            }
            i += 1;
        });
        if let Some(name) = missing {
            return Err(Error::Config(format!(
                "the checkpoint has no averaged weights (--ema) for `{name}` of the right shape: \
                 resume with the --ema setting the run was started with"
            )));
        }
        self.updates = updates;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::param::Param;

    struct Two(Param<f32>, Param<f32>);
    impl Module<f32> for Two {
        fn visit(&self, f: &mut dyn FnMut(&Param<f32>)) {
            f(&self.0);
            f(&self.1);
        }
        fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<f32>)) {
            f(&mut self.0);
            f(&mut self.1);
        }
    }

    fn two(a: f32, b: f32) -> Two {
        Two(
            Param::new("a", Tensor::from_vec(&[3], vec![a; 3]).unwrap()),
            Param::new("b", Tensor::from_vec(&[1, 2], vec![b; 2]).unwrap()),
        )
    }

    #[test]
    fn the_average_follows_the_warmed_up_decay_and_swaps_back() {
        let mut m = two(0.0, 1.0);
        let mut ema = Ema::new(0.5, &m);
        // Update 0 decays by min(0.5, 1/10) = 0.1; update 1 by min(0.5, 2/11); then 0.5.
        let steps = [(2.0f32, 3.0f32), (4.0, 5.0), (6.0, 7.0)];
        let (mut ea, mut eb) = (0.0f64, 1.0f64);
        for (t, &(a, b)) in steps.iter().enumerate() {
            m = two(a, b);
            ema.update(&m);
            let d = 0.5f64.min((1.0 + t as f64) / (10.0 + t as f64));
            ea = d * ea + (1.0 - d) * a as f64;
            eb = d * eb + (1.0 - d) * b as f64;
        }
        assert_eq!(ema.updates(), 3);
        ema.swap(&mut m);
        assert!(m
            .0
            .value
            .data()
            .iter()
            .all(|&v| (v as f64 - ea).abs() < 1e-6));
        assert!(m
            .1
            .value
            .data()
            .iter()
            .all(|&v| (v as f64 - eb).abs() < 1e-6));
        ema.swap(&mut m);
        assert!(m.0.value.data().iter().all(|&v| v == 6.0));
        assert!(m.1.value.data().iter().all(|&v| v == 7.0));
    }

    #[test]
    fn a_saved_average_loads_back_and_a_missing_one_is_named() {
        let m = two(1.0, 2.0);
        let mut ema = Ema::new(0.9, &m);
        ema.update(&two(3.0, 4.0));
        let saved: std::collections::BTreeMap<_, _> = ema.tensors(&m).into_iter().collect();
        let mut back = Ema::new(0.9, &m);
        back.load(&m, saved.clone(), ema.updates()).unwrap();
        assert_eq!(back.updates(), 1);
        assert_eq!(back.shadow[0].data(), ema.shadow[0].data());
        let mut partial = saved;
        partial.remove("b");
        let err = Ema::new(0.9, &m).load(&m, partial, 1).unwrap_err();
        assert!(err.to_string().contains("`b`"), "{err}");
    }
}
