//! Input feeding (Luong, Pham and Manning 2015, section 3.3): the decoder's input at step t
//! is the previous token's embedding beside the previous attentional vector, so that each
//! step knows what the one before it attended to (h~_{-1} = 0). Step t's input now depends
//! on step t-1's attention, so in training too the decoder runs one step at a time with
//! attention inside the loop; the output layer still reads every step's h~ in one product
//! afterwards, and backward walks the steps in reverse:
//!
//! ```text
//! x_t   = [e(y_{t-1}) * m_t ; h~_{t-1}]        forward (m_t: the embedding's dropout mask)
//! h_t   = RNN(x_t, h_{t-1});   h~_t = attend(h_t)
//! dh~_t = dL/dh~_t from the head + dx_{t+1}[E..]          backward, t = T-1 .. 0
//! dh_t  = attend^T(dh~_t);     dx_t, dh_{t-1} = RNN^T(dh_t, dh_t from step t+1)
//! de(y_{t-1}) = dx_t[..E] * m_t
//! ```
//!
//! Decoding carries h~ with the recurrent state ([`super::decode`]).

use super::{AttnCache, Memory, Seq2Seq, Seq2SeqCache};
use crate::error::{Error, Result};
use crate::float::Float;
use crate::layer::{RnnCache, RnnState};
use crate::nn::dropout;
use crate::nn::sample::argmax;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// What the fed decoder's forward keeps: per step its recurrent cache and attention's cache;
/// for all steps the tokens read, the top layer's outputs h [T*B, H], the attentional
/// vectors h~ [T*B, H] (the head's input) and the embeddings' dropout masks.
pub(super) struct Fed<F: Float> {
    pub(super) dec: Vec<RnnCache<F>>,
    pub(super) steps: Vec<AttnCache<F>>,
    pub(super) ids: Vec<usize>,
    pub(super) ys: Vec<F>,
    pub(super) h_tilde: Vec<F>,
    pub(super) tgt_mask: Vec<F>,
}

/// Rows [a_r; b_r] of two row-major blocks of `n` rows, `a` of width `wa`, `b` of `wb`.
pub(super) fn concat_rows<F: Float>(a: &[F], wa: usize, b: &[F], wb: usize, n: usize) -> Vec<F> {
    let mut out = Vec::with_capacity(n * (wa + wb));
    for r in 0..n {
        out.extend_from_slice(&a[r * wa..][..wa]);
        out.extend_from_slice(&b[r * wb..][..wb]);
    }
    out
}

fn no_attention() -> Error {
    Error::Config("input feeding needs attention".into())
}

impl<F: Float> Seq2Seq<F> {
    /// The fed decoder over `t_tgt` steps of `b` rows from `state`. Step t reads the true
    /// previous token of `tgt` ([T, B]) with probability `ratio`, otherwise the argmax of
    /// the previous step's output layer (computed for that, without dropout).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn decode_fed(
        &self,
        mut state: RnnState<F>,
        mem: &Memory<F>,
        tgt: &[u32],
        t_tgt: usize,
        b: usize,
        ratio: f64,
        mut rng: Option<&mut Rng>,
    ) -> Result<Fed<F>> {
        let attn = self.attention.as_ref().ok_or_else(no_attention)?;
        let (e, h, v) = (self.config.embed, self.config.hidden, self.config.tgt_vocab);
        let mut fed = Fed {
            dec: Vec::with_capacity(t_tgt),
            steps: Vec::with_capacity(t_tgt),
            ids: Vec::with_capacity(t_tgt * b),
            ys: Vec::with_capacity(t_tgt * b * h),
            h_tilde: Vec::with_capacity(t_tgt * b * h),
            tgt_mask: Vec::new(),
        };
        let zeros = vec![F::zero(); b * h];
        for t in 0..t_tgt {
            let prev_ht = if t == 0 {
                &zeros[..]
            } else {
                &fed.h_tilde[(t - 1) * b * h..t * b * h]
            };
            let own = (t > 0 && ratio < 1.0).then(|| self.head.forward(prev_ht, b));
            for bi in 0..b {
                let forced = ratio >= 1.0
                    || t == 0
                    || rng.as_deref_mut().is_none_or(|r| r.uniform() < ratio);
                let id = match (&own, forced) {
                    (Some(lg), false) => argmax(&lg[bi * v..][..v]) as usize,
                    _ if t == 0 => self.config.bos as usize,
                    _ => tgt[(t - 1) * b + bi] as usize,
                };
                fed.ids.push(id);
            }
            let mut emb = self.tgt_embed.forward(&fed.ids[t * b..])?;
            fed.tgt_mask.extend(self.drop(&mut emb, rng.as_deref_mut()));
            // x_t = [e(y_{t-1}) * m_t ; h~_{t-1}]
            let x = concat_rows(&emb, e, prev_ht, h, b);
            let (out, cache) =
                self.decoder
                    .forward_tm(x, 1, b, Some(&state), None, rng.as_deref_mut())?;
            let y = out.output.into_vec();
            let a = attn.forward(mem, &y, b, None);
            fed.h_tilde.extend_from_slice(&a.h_tilde);
            fed.steps.push(a);
            fed.ys.extend(y);
            fed.dec.push(cache);
            state = out.state;
        }
        Ok(fed)
    }

    /// Backward through the fed decoder from dL/dh~ of every step from the head, `dht`
    /// [T*B, H]: accumulates the decoder's, attention's and the target embeddings'
    /// gradients, adds dL/dh̄ into `d_enc`, and returns dL/d(initial state), h and (LSTM) c.
    pub(super) fn backward_fed(
        &mut self,
        cache: &Seq2SeqCache<F>,
        dht: &[F],
        b: usize,
        d_enc: &mut [F],
    ) -> Result<(Vec<F>, Option<Vec<F>>)> {
        let (t, e, h, l) = (
            cache.t_tgt,
            self.config.embed,
            self.config.hidden,
            self.config.layers,
        );
        let mem = cache.mem.as_ref().ok_or_else(no_attention)?;
        let attn = self.attention.as_mut().ok_or_else(no_attention)?;
        // dL/dh~_{t-1} through step t's input; nothing reaches past step 0 (h~_{-1} = 0).
        let mut dfeed = vec![F::zero(); b * h];
        let mut demb = vec![F::zero(); b * e];
        let mut dkeys = attn.dkeys_buffer(mem);
        let (mut dh, mut dc): (Option<Tensor<F>>, Option<Tensor<F>>) = (None, None);
        for step in (0..t).rev() {
            // dh~_t = dL/dh~_t from the head + dx_{t+1}[E..]
            dfeed
                .iter_mut()
                .zip(&dht[step * b * h..(step + 1) * b * h])
                .for_each(|(f, g)| *f += *g);
            let mut dy =
                attn.backward_rows(mem, &cache.attn_steps[step], &dfeed, b, d_enc, &mut dkeys);
            let (dx, g_h, g_c) =
                self.decoder
                    .backward_tm(&cache.dec[step], &mut dy, dh.as_ref(), dc.as_ref())?;
            for r in 0..b {
                let row = &dx[r * (e + h)..][..e + h];
                demb[r * e..][..e].copy_from_slice(&row[..e]);
                dfeed[r * h..][..h].copy_from_slice(&row[e..]);
            }
            if !cache.tgt_mask.is_empty() {
                dropout::apply(&mut demb, &cache.tgt_mask[step * b * e..(step + 1) * b * e]);
            }
            self.tgt_embed
                .backward(&cache.dec_ids[step * b..(step + 1) * b], &demb)?;
            dh = Some(Tensor::from_vec(&[l, b, h], g_h)?);
            dc = g_c.map(|c| Tensor::from_vec(&[l, b, h], c)).transpose()?;
        }
        attn.backward_keys(mem, &dkeys, d_enc);
        Ok((
            dh.map(|t| t.into_vec()).unwrap_or_default(),
            dc.map(|t| t.into_vec()),
        ))
    }
}
