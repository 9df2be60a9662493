//! Luong's global attention (Luong, Pham and Manning 2015) over the encoder's outputs:
//! scores, the softmax over source steps, the context and the attentional vector, forward
//! and backward side by side. The score is Luong's `general` (bilinear) one or, with
//! [`Additive`], Bahdanau's additive one (Bahdanau, Cho and Bengio 2015; Luong's `concat`).

use crate::float::Float;
use crate::nn::Linear;
use crate::param::{Module, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;

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
/// combine layer's input [c; h] [N, D*H + H] and its output h~ [N, H]; with the additive
/// score also tanh(W_q y + K_s) [N, S, H].
#[derive(Clone, Debug, Default)]
pub(crate) struct AttnCache<F> {
    alpha: Vec<F>,
    cat: Vec<F>,
    pub(crate) h_tilde: Vec<F>,
    u: Vec<F>,
}

impl<F: Clone> AttnCache<F> {
    pub(crate) fn extend(&mut self, o: AttnCache<F>) {
        self.alpha.extend(o.alpha);
        self.cat.extend(o.cat);
        self.h_tilde.extend(o.h_tilde);
        self.u.extend(o.u);
    }
}

/// The additive score's parameters: e_s = v . tanh(W_q y + K_s), K_s = W_a h̄_s
/// (`decoder.attn.query.weight` [H, H], `decoder.attn.v` [H]).
#[derive(Clone, Debug)]
pub struct Additive<F> {
    pub query: Linear<F>,
    pub v: Param<F>,
}

/// Luong attention's parameters: W_a (keys) and W_c (combine), and the additive score's
/// when it replaces the `general` one.
#[derive(Clone, Debug)]
pub struct LuongAttention<F> {
    pub key: Linear<F>,
    pub combine: Linear<F>,
    pub additive: Option<Additive<F>>,
}

impl<F: Float> Module<F> for LuongAttention<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        self.key.visit(f);
        self.combine.visit(f);
        if let Some(a) = &self.additive {
            a.query.visit(f);
            f(&a.v);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        self.key.visit_mut(f);
        self.combine.visit_mut(f);
        if let Some(a) = &mut self.additive {
            a.query.visit_mut(f);
            f(&mut a.v);
        }
    }
}

/// a . b over eight interleaved partial sums: a single running sum is a chain of dependent
/// additions (one per element, 4 cycles each) that the vector unit cannot shorten. The
/// order is fixed, so every run and every vector width gives the same bits.
fn dot<F: Float>(a: &[F], b: &[F]) -> F {
    const L: usize = 8;
    let n = a.len().min(b.len());
    let split = n / L * L;
    let mut acc = [F::zero(); L];
    for (x, y) in a[..split].chunks_exact(L).zip(b[..split].chunks_exact(L)) {
        for l in 0..L {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in a[split..n].iter().zip(&b[split..n]).enumerate() {
        acc[l] += *x * *y;
    }
    acc.iter().fold(F::zero(), |s, &v| s + v)
}

impl<F: Float> LuongAttention<F> {
    /// With `additive`, W_q and v are drawn after W_a and W_c (a `general` model's draws
    /// are unchanged), v as PyTorch draws a Linear's weight of H inputs.
    pub(crate) fn new(enc_width: usize, hidden: usize, additive: bool, rng: &mut Rng) -> Self {
        let key = Linear::new("decoder.attn.key", enc_width, hidden, false, rng);
        let combine = Linear::new(
            "decoder.attn.combine",
            enc_width + hidden,
            hidden,
            false,
            rng,
        );
        let additive = additive.then(|| {
            let query = Linear::new("decoder.attn.query", hidden, hidden, false, rng);
            let mut v = Tensor::zeros(&[hidden]);
            crate::init::uniform(v.data_mut(), 1.0 / (hidden as f64).sqrt(), rng);
            Additive {
                query,
                v: Param::new("decoder.attn.v", v),
            }
        });
        LuongAttention {
            key,
            combine,
            additive,
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
    /// `seq_of[r]`, else r % B): e_s = y . K_s (`general`) or e_s = v . u_s with
    /// u_s = tanh(W_q y + K_s) (additive), a = softmax over s < len (padding gets a = 0),
    /// c = sum_s a_s h̄_s, h~ = tanh(W_c [c; y]). Returns h~ [N, H] inside the cache.
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
        let q = self.additive.as_ref().map(|ad| ad.query.forward(y, n));
        let mut u = vec![F::zero(); if q.is_some() { n * s * h } else { 0 }];
        for r in 0..n {
            let bi = seq_of.map_or(r % b, |m| m[r]);
            let len = mem.lengths[bi].clamp(1, s);
            let yr = &y[r * h..][..h];
            let a = &mut alpha[r * s..][..s];
            // Scores, then a max-shifted softmax over the real steps.
            let mut m = F::neg_infinity();
            for (si, av) in a.iter_mut().enumerate().take(len) {
                let k = &mem.keys[(si * b + bi) * h..][..h];
                *av = match (&q, &self.additive) {
                    (Some(q), Some(ad)) => {
                        let us = &mut u[(r * s + si) * h..][..h];
                        for ((uv, &qv), &kv) in us.iter_mut().zip(&q[r * h..][..h]).zip(k) {
                            *uv = F::act_tanh(qv + kv);
                        }
                        dot(ad.v.value.data(), us)
                    }
                    _ => dot(yr, k),
                };
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
            u,
        }
    }

    /// Backward from dL/dh~ [N, H]: accumulates dW_c and dW_a, returns dL/dy [N, H] and
    /// adds dL/dh̄ into `d_enc` [S, B, D*H]:
    /// ```text
    /// dpre = dh~ (1 - h~^2);  [dc; dy] = W_c^T dpre;  dW_c += dpre [c; y]^T
    /// da_s = dc . h̄_s;  dh̄_s += a_s dc
    /// de_s = a_s (da_s - sum_s' a_s' da_s')          (softmax)
    /// dy += sum_s de_s K_s;  dK_s += de_s y;  dW_a += dK h̄^T;  dh̄ += W_a^T dK
    /// additive instead:  dv += de_s u_s;  g_s = de_s v (1 - u_s^2);  dK_s += g_s;
    ///                    dq = sum_s g_s;  dW_q += dq y^T;  dy += W_q^T dq
    /// ```
    pub(crate) fn backward(
        &mut self,
        mem: &Memory<F>,
        cache: &AttnCache<F>,
        dht: &[F],
        n: usize,
        d_enc: &mut [F],
    ) -> Vec<F> {
        let mut dkeys = self.dkeys_buffer(mem);
        let dy = self.backward_rows(mem, cache, dht, n, d_enc, &mut dkeys);
        self.backward_keys(mem, &dkeys, d_enc);
        dy
    }

    /// dL/dK for every key of `mem`, zero: what [`LuongAttention::backward_rows`] adds into.
    pub(crate) fn dkeys_buffer(&self, mem: &Memory<F>) -> Vec<F> {
        vec![F::zero(); mem.s * mem.b * self.key.out_features()]
    }

    /// [`LuongAttention::backward`] up to the keys: adds dL/dK into `dkeys` instead of
    /// going through W_a, so that a decoder run step by step (input feeding) goes through
    /// W_a once, after its last step ([`LuongAttention::backward_keys`]), not once a step.
    pub(crate) fn backward_rows(
        &mut self,
        mem: &Memory<F>,
        cache: &AttnCache<F>,
        dht: &[F],
        n: usize,
        d_enc: &mut [F],
        dkeys: &mut [F],
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
        let mut da = vec![F::zero(); s];
        let additive = self.additive.is_some();
        let mut dq = vec![F::zero(); if additive { n * h } else { 0 }];
        let mut dv = vec![F::zero(); if additive { h } else { 0 }];
        let mut g = vec![F::zero(); if additive { h } else { 0 }];
        let v = self.additive.as_ref().map(|ad| ad.v.value.data());
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
                if let Some(v) = v {
                    let us = &cache.u[(r * s + si) * h..][..h];
                    for (((gv, dvv), &vv), &uv) in g.iter_mut().zip(&mut dv).zip(v).zip(us) {
                        *dvv += de * uv;
                        *gv = de * vv * (F::one() - uv * uv);
                    }
                    dq[r * h..][..h]
                        .iter_mut()
                        .zip(&g)
                        .for_each(|(d, x)| *d += *x);
                    dkeys[k..k + h]
                        .iter_mut()
                        .zip(&g)
                        .for_each(|(d, x)| *d += *x);
                    continue;
                }
                dyr.iter_mut()
                    .zip(&mem.keys[k..k + h])
                    .for_each(|(g, x)| *g += de * *x);
                dkeys[k..k + h]
                    .iter_mut()
                    .zip(yr)
                    .for_each(|(g, x)| *g += de * *x);
            }
        }
        if let Some(ad) = &mut self.additive {
            let ys: Vec<F> = (0..n)
                .flat_map(|r| cache.cat[r * (dh + h) + dh..][..h].iter().copied())
                .collect();
            let dyq = ad.query.backward(&ys, &dq, n);
            dy.iter_mut().zip(dyq).for_each(|(d, x)| *d += x);
            ad.v.grad
                .data_mut()
                .iter_mut()
                .zip(&dv)
                .for_each(|(d, x)| *d += *x);
        }
        dy
    }

    /// The keys' share of backward: dW_a += dK^T h̄, dh̄ += dK W_a, added into `d_enc`.
    pub(crate) fn backward_keys(&mut self, mem: &Memory<F>, dkeys: &[F], d_enc: &mut [F]) {
        let dx = self.key.backward(&mem.enc_out, dkeys, mem.s * mem.b);
        d_enc.iter_mut().zip(dx).for_each(|(g, x)| *g += x);
    }
}
