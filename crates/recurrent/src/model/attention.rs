//! Luong's global attention (Luong, Pham and Manning 2015) over the encoder's outputs:
//! scores, the softmax over source steps, the context and the attentional vector, forward
//! and backward side by side.

use crate::float::Float;
use crate::nn::Linear;
use crate::rng::Rng;

/// What attention reads: the encoder's outputs h̄ [S, B, D*H], their keys W_a h̄ [S, B, H],
/// and each source's length (the steps it may attend to).
#[derive(Clone, Debug)]
pub struct Memory<F> {
    enc_out: Vec<F>,
    keys: Vec<F>,
    lengths: Vec<usize>,
    s: usize,
    b: usize,
}

/// What attention's backward needs, per row n (row = t * B + b): the weights a [N, S], the
/// combine layer's input [c; h] [N, D*H + H] and its output h~ [N, H].
#[derive(Clone, Debug, Default)]
pub(crate) struct AttnCache<F> {
    alpha: Vec<F>,
    cat: Vec<F>,
    pub(crate) h_tilde: Vec<F>,
}

impl<F: Clone> AttnCache<F> {
    pub(crate) fn extend(&mut self, o: AttnCache<F>) {
        self.alpha.extend(o.alpha);
        self.cat.extend(o.cat);
        self.h_tilde.extend(o.h_tilde);
    }
}

/// Luong attention's parameters: W_a (keys) and W_c (combine).
#[derive(Clone, Debug)]
pub struct LuongAttention<F> {
    pub key: Linear<F>,
    pub combine: Linear<F>,
}

fn dot<F: Float>(a: &[F], b: &[F]) -> F {
    a.iter().zip(b).fold(F::zero(), |acc, (x, y)| acc + *x * *y)
}

impl<F: Float> LuongAttention<F> {
    pub(crate) fn new(enc_width: usize, hidden: usize, rng: &mut Rng) -> Self {
        LuongAttention {
            key: Linear::new("decoder.attn.key", enc_width, hidden, false, rng),
            combine: Linear::new(
                "decoder.attn.combine",
                enc_width + hidden,
                hidden,
                false,
                rng,
            ),
        }
    }

    /// The memory of a batch: keys K_s = W_a h̄_s for every source step, computed once.
    pub(crate) fn memory(
        &self,
        enc_out: Vec<F>,
        s: usize,
        b: usize,
        lengths: Vec<usize>,
    ) -> Memory<F> {
        let keys = self.key.forward(&enc_out, s * b);
        Memory {
            enc_out,
            keys,
            lengths,
            s,
            b,
        }
    }

    /// Forward for `n` rows of decoder outputs y [N, H] (row r belongs to sequence
    /// `seq_of[r]`, else r % B): e_s = y . K_s, a = softmax over s < len (padding gets
    /// a = 0), c = sum_s a_s h̄_s, h~ = tanh(W_c [c; y]). Returns h~ [N, H] inside the cache.
    /// `seq_of` lets beam search decode many sentences' hypotheses as one batch.
    pub(crate) fn forward(
        &self,
        mem: &Memory<F>,
        y: &[F],
        n: usize,
        seq_of: Option<&[usize]>,
    ) -> AttnCache<F> {
        let (s, b) = (mem.s, mem.b);
        let h = self.key.out_features();
        let dh = self.key.in_features();
        let mut alpha = vec![F::zero(); n * s];
        let mut cat = vec![F::zero(); n * (dh + h)];
        for r in 0..n {
            let bi = seq_of.map_or(r % b, |m| m[r]);
            let len = mem.lengths[bi].clamp(1, s);
            let yr = &y[r * h..][..h];
            let a = &mut alpha[r * s..][..s];
            // Scores, then a max-shifted softmax over the real steps.
            let mut m = F::neg_infinity();
            for (si, av) in a.iter_mut().enumerate().take(len) {
                *av = dot(yr, &mem.keys[(si * b + bi) * h..][..h]);
                m = m.max(*av);
            }
            let mut sum = F::zero();
            for av in a.iter_mut().take(len) {
                *av = (*av - m).exp();
                sum += *av;
            }
            a.iter_mut().take(len).for_each(|v| *v /= sum);
            let row = &mut cat[r * (dh + h)..][..dh + h];
            // c = sum_s a_s h̄_s
            for (si, &av) in a.iter().enumerate().take(len) {
                let hs = &mem.enc_out[(si * b + bi) * dh..][..dh];
                row[..dh]
                    .iter_mut()
                    .zip(hs)
                    .for_each(|(c, x)| *c += av * *x);
            }
            row[dh..].copy_from_slice(yr);
        }
        let mut h_tilde = self.combine.forward(&cat, n);
        h_tilde.iter_mut().for_each(|v| *v = v.tanh());
        AttnCache {
            alpha,
            cat,
            h_tilde,
        }
    }

    /// Backward from dL/dh~ [N, H]: accumulates dW_c and dW_a, returns dL/dy [N, H] and
    /// adds dL/dh̄ into `d_enc` [S, B, D*H]:
    /// ```text
    /// dpre = dh~ (1 - h~^2);  [dc; dy] = W_c^T dpre;  dW_c += dpre [c; y]^T
    /// da_s = dc . h̄_s;  dh̄_s += a_s dc
    /// de_s = a_s (da_s - sum_s' a_s' da_s')          (softmax)
    /// dy += sum_s de_s K_s;  dK_s += de_s y;  dW_a += dK h̄^T;  dh̄ += W_a^T dK
    /// ```
    pub(crate) fn backward(
        &mut self,
        mem: &Memory<F>,
        cache: &AttnCache<F>,
        dht: &[F],
        n: usize,
        d_enc: &mut [F],
    ) -> Vec<F> {
        let (s, b) = (mem.s, mem.b);
        let h = self.key.out_features();
        let dh = self.key.in_features();
        let dpre: Vec<F> = dht
            .iter()
            .zip(&cache.h_tilde)
            .map(|(g, t)| *g * (F::one() - *t * *t))
            .collect();
        let dcat = self.combine.backward(&cache.cat, &dpre, n);
        let mut dy = vec![F::zero(); n * h];
        let mut dkeys = vec![F::zero(); s * b * h];
        let mut da = vec![F::zero(); s];
        for r in 0..n {
            let bi = r % b;
            let len = mem.lengths[bi].clamp(1, s);
            let drow = &dcat[r * (dh + h)..][..dh + h];
            let (dc, dy_direct) = drow.split_at(dh);
            let a = &cache.alpha[r * s..][..s];
            let yr = &cache.cat[r * (dh + h) + dh..][..h];
            let dyr = &mut dy[r * h..][..h];
            dyr.copy_from_slice(dy_direct);
            let mut weighted = F::zero();
            for si in 0..len {
                let at = (si * b + bi) * dh;
                da[si] = dot(dc, &mem.enc_out[at..][..dh]);
                weighted += a[si] * da[si];
                d_enc[at..at + dh]
                    .iter_mut()
                    .zip(dc)
                    .for_each(|(g, x)| *g += a[si] * *x);
            }
            for si in 0..len {
                let de = a[si] * (da[si] - weighted);
                let k = (si * b + bi) * h;
                dyr.iter_mut()
                    .zip(&mem.keys[k..k + h])
                    .for_each(|(g, x)| *g += de * *x);
                dkeys[k..k + h]
                    .iter_mut()
                    .zip(yr)
                    .for_each(|(g, x)| *g += de * *x);
            }
        }
        let dx = self.key.backward(&mem.enc_out, &dkeys, s * b);
        d_enc.iter_mut().zip(dx).for_each(|(g, x)| *g += x);
        dy
    }
}
