//! Building blocks around the recurrent layer: token embeddings in, a linear head out, dropout
//! between them, and the losses that start the backward pass. Each block is generic over
//! [`crate::Float`], works on flat row-major slices (shapes in each file's header), writes its
//! backward beside its forward, and exposes its parameters through [`crate::Module`].

pub mod ctc;
pub mod dropout;
pub mod embedding;
pub mod linear;
pub mod loss;
pub mod sample;

pub use ctc::{CtcLoss, CtcOutput, CtcReduction};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use linear::Linear;
pub use loss::{bce_with_logits, CrossEntropy, Reduction, Regression};
pub use sample::{Sampler, SamplerConfig};

#[cfg(test)]
mod tests {
    //! The blocks composed with [`crate::Rnn`] into a small language model, checked end to end.
    use super::*;
    use crate::init::Init;
    use crate::param::{Module, Param};
    use crate::{gradcheck, CellKind, Rng, Rnn, RnnConfig};

    /// embed -> LSTM -> dropout -> head -> cross-entropy, time-first [T, B].
    struct TinyLm {
        embed: Embedding<f64>,
        rnn: Rnn<f64>,
        head: Linear<f64>,
    }

    impl Module<f64> for TinyLm {
        fn visit(&self, f: &mut dyn FnMut(&Param<f64>)) {
            self.embed.visit(f);
            self.rnn.visit(f);
            self.head.visit(f);
        }
        fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<f64>)) {
            self.embed.visit_mut(f);
            self.rnn.visit_mut(f);
            self.head.visit_mut(f);
        }
    }

    const V: usize = 6;
    const E: usize = 3;
    const H: usize = 4;
    const T: usize = 5;
    const B: usize = 2;

    impl TinyLm {
        fn new(seed: u64) -> Self {
            let mut rng = Rng::new(seed);
            TinyLm {
                embed: Embedding::new("embed", V, E, Some(0), &mut rng).unwrap(),
                rnn: Rnn::new(
                    RnnConfig::new(CellKind::Lstm, E, H),
                    &Init::default(),
                    &mut rng,
                )
                .unwrap(),
                head: Linear::new("head", H, V, true, &mut rng),
            }
        }

        /// Loss of predicting `targets` from `ids` (both [T, B]); backward if asked. Dropout
        /// with a fixed seed, so the loss is a deterministic function of the parameters.
        fn loss(&mut self, ids: &[usize], targets: &[usize], backward: bool) -> f64 {
            let drop = Dropout::new(0.25).unwrap();
            let x = self.embed.forward(ids).unwrap();
            let (out, cache) = self.rnn.forward_tm(x, T, B, None, None, None).unwrap();
            let mut h = out.output.into_vec();
            let mut mask = Vec::new();
            drop.forward_train(&mut h, &mut Rng::new(99), &mut mask);
            let logits = self.head.forward(&h, T * B);
            let ce = CrossEntropy::new().ignore_index(0);
            let (loss, dlogits) = ce.loss(&logits, V, targets, None).unwrap();
            if backward {
                let mut dh = self.head.backward(&h, &dlogits, T * B);
                drop.backward(&mut dh, &mask);
                let (dx, _, _) = self.rnn.backward_tm(&cache, &mut dh, None, None).unwrap();
                self.embed.backward(ids, &dx).unwrap();
            }
            loss
        }
    }

    #[test]
    fn composed_model_gradcheck() {
        let mut m = TinyLm::new(11);
        // No input is the padding id 0: its row is used but gets no gradient by design, which
        // finite differences would flag. Targets 0 are ignored by the loss.
        let ids = [1, 2, 3, 4, 5, 3, 2, 2, 1, 4];
        let targets = [2, 3, 4, 5, 1, 0, 2, 1, 3, 0];
        let r = gradcheck::check(&mut m, |m, back| m.loss(&ids, &targets, back), 1e-5, 20);
        assert!(r.max_rel_err < 1e-6, "{r:?}");
        assert!(r.checked > 100);
        let names: Vec<String> = m.param_shapes().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.first().map(String::as_str), Some("embed.weight"));
        assert_eq!(names.last().map(String::as_str), Some("head.bias"));
    }
}
