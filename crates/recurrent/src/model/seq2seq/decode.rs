//! Decoding a trained encoder-decoder: greedy (batched) and beam search, one source or many
//! sources batched together, with length normalisation (score = log p / len^alpha).

use super::feed::concat_rows;
use super::{Memory, Seq2Seq, SeqBatch, Steps};
use crate::error::{Error, Result};
use crate::float::Float;
use crate::layer::RnnState;
use crate::nn::sample::{argmax, log_softmax};
use crate::tensor::Tensor;

/// A hypothesis: its score and its tokens (EOS not included).
pub type Hypothesis = (f64, Vec<u32>);

/// How beam search scores a hypothesis: its log probability, with `eos_penalty` nats taken
/// off the end-of-sentence token's log probability at every step (so candidates that end
/// are ranked lower, and the outputs grow longer, for a positive penalty; shorter for a
/// negative one), divided by len^alpha (len counting EOS). A plain `f64` is `alpha` alone.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BeamScore {
    pub alpha: f64,
    pub eos_penalty: f64,
}

impl From<f64> for BeamScore {
    fn from(alpha: f64) -> Self {
        BeamScore {
            alpha,
            eos_penalty: 0.0,
        }
    }
}

/// What a decoder step carries to the next, per row: the recurrent state and, with input
/// feeding, the attentional vector h~ [B, H] the next step reads.
struct DecState<F> {
    rnn: RnnState<F>,
    feed: Option<Vec<F>>,
}

impl<F: Float> Seq2Seq<F> {
    /// One decoder step for `b` rows reading tokens `prev`: the new state and the logits
    /// of the next token [B, V] (through attention when it is on; row r attends to source
    /// `seq_of[r]`, else to source r).
    fn step(
        &self,
        prev: &[usize],
        state: &DecState<F>,
        mem: Option<&Memory<F>>,
        seq_of: Option<&[usize]>,
    ) -> Result<(DecState<F>, Vec<F>)> {
        let b = prev.len();
        let mut x = self.tgt_embed.forward(prev)?;
        if let Some(feed) = &state.feed {
            x = concat_rows(&x, self.config.embed, feed, self.config.hidden, b);
        }
        let (out, _) = self
            .decoder
            .forward_tm(x, 1, b, Some(&state.rnn), None, None)?;
        let (logits, feed) = match self.head_input(mem, out.output.data(), b, seq_of) {
            Some(a) => (
                self.head.forward(&a.h_tilde, b),
                self.config.input_feed.then_some(a.h_tilde),
            ),
            None => (self.head.forward(out.output.data(), b), None),
        };
        let rnn = out.state;
        Ok((DecState { rnn, feed }, logits))
    }

    /// Decodes one source sequence (ids, no padding) with beam search of width `beam`
    /// (1 = greedy) and length normalisation `alpha`; returns up to `nbest` hypotheses
    /// `(score, tokens without EOS)`, best first. A hypothesis's score is its summed log
    /// probability (EOS included) divided by len^alpha, len counting EOS.
    pub fn beam_search(
        &self,
        src: &[u32],
        beam: usize,
        max_len: usize,
        score: impl Into<BeamScore>,
        nbest: usize,
    ) -> Result<Vec<Hypothesis>> {
        Ok(self
            .beam_search_batch(&[src], beam, &[max_len], score, nbest)?
            .pop()
            .unwrap_or_default())
    }

    /// [`Seq2Seq::beam_search`] of many sources at once, source k decoding at most
    /// `max_lens[k]` tokens: the sources are encoded as one padded batch, and at every
    /// step the live hypotheses of all of them go through the decoder, attention and the
    /// output layer as one batch of rows. Each source's search is the one-source search
    /// (the same candidates, ranking, stopping rule), so the hypotheses do not depend on
    /// which sources share a batch.
    pub fn beam_search_batch(
        &self,
        srcs: &[&[u32]],
        beam: usize,
        max_lens: &[usize],
        score: impl Into<BeamScore>,
        nbest: usize,
    ) -> Result<Vec<Vec<Hypothesis>>> {
        let score = score.into();
        if srcs.is_empty() {
            return Ok(Vec::new());
        }
        if srcs.iter().any(|s| s.is_empty()) {
            return Err(Error::Input("empty source sequence".into()));
        }
        if max_lens.len() != srcs.len() {
            return Err(Error::Input(format!(
                "{} maximum lengths for {} sources",
                max_lens.len(),
                srcs.len()
            )));
        }
        let (state, mem) = self.encode_sources(srcs)?;
        let mut beams: Vec<Beam> = (0..srcs.len())
            .map(|k| Beam::new(k, beam, nbest, score, max_lens[k]))
            .collect();
        let v = self.config.tgt_vocab;
        // The state's rows are the searching sources' live hypotheses, in source order; a
        // source allowed no token never searches.
        let start: Vec<usize> = beams
            .iter_mut()
            .filter_map(|bm| {
                bm.searching = bm.max_len > 0;
                bm.searching.then_some(bm.src)
            })
            .collect();
        let mut state = gather_rows(&state, &start)?;
        let mut scratch = Scratch {
            logp: vec![0.0f64; v],
            ..Scratch::default()
        };
        // The rows of a step (every live hypothesis of every searching source): their
        // previous tokens, sources, and the first row of each source; the rows that go on.
        let (mut prev, mut seq_of) = (Vec::new(), Vec::new());
        let (mut first_row, mut parents) = (vec![0; beams.len()], Vec::new());
        for step in 0.. {
            prev.clear();
            seq_of.clear();
            for bm in beams.iter().filter(|b| b.searching) {
                first_row[bm.src] = prev.len();
                for (_, t) in &bm.live {
                    prev.push(t.last().copied().unwrap_or(self.config.bos) as usize);
                    seq_of.push(bm.src);
                }
            }
            if prev.is_empty() {
                break;
            }
            let (stepped, logits) = self.step(&prev, &state, mem.as_ref(), Some(&seq_of))?;
            parents.clear();
            for bm in beams.iter_mut().filter(|b| b.searching) {
                let row0 = first_row[bm.src];
                let rows = &logits[row0 * v..(row0 + bm.live.len()) * v];
                let before = parents.len();
                bm.advance(rows, v, self.config.eos, row0, &mut parents, &mut scratch);
                // Out of steps: what is live now is final.
                if step + 1 >= bm.max_len {
                    bm.searching = false;
                    parents.truncate(before);
                }
            }
            if parents.is_empty() {
                break;
            }
            state = gather_rows(&stepped, &parents)?;
        }
        Ok(beams.into_iter().map(Beam::finish).collect())
    }

    /// Encodes `srcs` as one padded batch: the decoder's initial state (row k: source k)
    /// and attention's memory.
    fn encode_sources(&self, srcs: &[&[u32]]) -> Result<(DecState<F>, Option<Memory<F>>)> {
        let b = srcs.len();
        let t = srcs.iter().map(|s| s.len()).max().unwrap_or(1);
        let mut ids = vec![0u32; t * b];
        for (bi, s) in srcs.iter().enumerate() {
            for (ti, &id) in s.iter().enumerate() {
                ids[ti * b + bi] = id;
            }
        }
        let batch = SeqBatch {
            steps: Steps::Ids(ids),
            t,
            b,
            lengths: Some(srcs.iter().map(|s| s.len()).collect()),
        };
        let ((rnn, _, _, mem), _) = self.encode(&batch, None)?;
        // h~_{-1} = 0
        let feed = self
            .config
            .input_feed
            .then(|| vec![F::zero(); b * self.config.hidden]);
        Ok((DecState { rnn, feed }, mem))
    }

    /// Greedy decoding of one source: the most probable token at each step, until EOS or
    /// `max_len`.
    pub fn greedy(&self, src: &[u32], max_len: usize) -> Result<Vec<u32>> {
        Ok(self
            .greedy_batch(&[src], max_len)?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// Greedy decoding of many sources at once (padded into one batch; each stops at its
    /// own EOS). A path of its own, not beam search with width 1, so the two check each
    /// other.
    pub fn greedy_batch(&self, srcs: &[&[u32]], max_len: usize) -> Result<Vec<Vec<u32>>> {
        if srcs.is_empty() {
            return Ok(Vec::new());
        }
        if srcs.iter().any(|s| s.is_empty()) {
            return Err(Error::Input("empty source sequence".into()));
        }
        let b = srcs.len();
        let (mut state, mem) = self.encode_sources(srcs)?;
        let v = self.config.tgt_vocab;
        let mut prev = vec![self.config.bos as usize; b];
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); b];
        let mut live = vec![true; b];
        for _ in 0..max_len {
            let (st, logits) = self.step(&prev, &state, mem.as_ref(), None)?;
            state = st;
            for bi in 0..b {
                let tok = argmax(&logits[bi * v..(bi + 1) * v]);
                if live[bi] {
                    if tok == self.config.eos {
                        live[bi] = false;
                    } else {
                        out[bi].push(tok);
                    }
                }
                prev[bi] = tok as usize;
            }
            if !live.iter().any(|&l| l) {
                break;
            }
        }
        Ok(out)
    }
}

/// Buffers every source's step reuses: log-probabilities of one row [V], its best tokens,
/// the candidates (log p, parent, token), and the finished hypotheses' scores.
#[derive(Default)]
struct Scratch {
    logp: Vec<f64>,
    top: Vec<usize>,
    cand: Vec<(f64, usize, u32)>,
    scores: Vec<f64>,
}

/// One source's beam search: its live hypotheses (log p, tokens), its finished ones
/// (score, tokens), and whether it is still searching.
struct Beam {
    src: usize,
    width: usize,
    want: usize,
    nbest: usize,
    score: BeamScore,
    max_len: usize,
    live: Vec<(f64, Vec<u32>)>,
    done: Vec<(f64, Vec<u32>)>,
    searching: bool,
}

impl Beam {
    fn new(src: usize, width: usize, nbest: usize, score: BeamScore, max_len: usize) -> Self {
        let width = width.max(1);
        Beam {
            src,
            width,
            want: width.max(nbest),
            nbest: nbest.max(1),
            score,
            max_len,
            live: vec![(0.0, Vec::new())],
            done: Vec::new(),
            searching: true,
        }
    }

    /// score = log p / len^alpha.
    fn norm(&self, lp: f64, len: usize) -> f64 {
        let alpha = self.score.alpha;
        if alpha > 0.0 {
            lp / (len.max(1) as f64).powf(alpha)
        } else {
            lp
        }
    }

    /// One step from the logits of the live hypotheses [live, V]: keeps the `width` best
    /// continuations and pushes their parents onto `parents` (as `row0` + the index into
    /// the old live list); stops searching when nothing continues or nothing can beat what
    /// has ended.
    fn advance<F: Float>(
        &mut self,
        logits: &[F],
        v: usize,
        eos: u32,
        row0: usize,
        parents: &mut Vec<usize>,
        scratch: &mut Scratch,
    ) {
        let beam = self.width;
        let Scratch {
            logp,
            top,
            cand,
            scores,
        } = scratch;
        cand.clear();
        for (i, (lp, _)) in self.live.iter().enumerate() {
            log_softmax(&logits[i * v..(i + 1) * v], logp);
            if let Some(e) = logp.get_mut(eos as usize) {
                *e -= self.score.eos_penalty;
            }
            // The `beam` best tokens (ties: the lower id), without sorting all V.
            top.clear();
            for tok in 0..v {
                let better = |o: &usize| logp[tok] > logp[*o];
                if top.len() < beam || better(&top[top.len() - 1]) {
                    let at = top.iter().position(better).unwrap_or(top.len());
                    top.insert(at, tok);
                    top.truncate(beam);
                }
            }
            for &tok in top.iter() {
                cand.push((lp + logp[tok], i, tok as u32));
            }
        }
        cand.sort_by(|a, c| c.0.total_cmp(&a.0).then(a.1.cmp(&c.1)).then(a.2.cmp(&c.2)));
        // The `beam` best continuations go on; an ending (EOS) among the `beam` best
        // candidates is finished. An ending ranked lower is dropped: it would fill the
        // finished list with improbable short hypotheses and stop the search early.
        let mut next: Vec<(f64, Vec<u32>)> = Vec::with_capacity(beam);
        let before = parents.len();
        for (rank, &(lp, i, tok)) in cand.iter().enumerate() {
            if next.len() >= beam {
                break;
            }
            if tok == eos {
                if rank < beam {
                    let toks = self.live[i].1.clone();
                    self.done.push((self.norm(lp, toks.len() + 1), toks));
                }
            } else {
                let mut toks = self.live[i].1.clone();
                toks.push(tok);
                next.push((lp, toks));
                parents.push(row0 + i);
            }
        }
        if next.is_empty() {
            self.live.clear();
            self.searching = false;
            return;
        }
        // Stop once `want` hypotheses ended and no live one, scored at its next length,
        // beats the worst of them (Hugging Face's heuristic): a live hypothesis's log p
        // only falls as it grows.
        if self.done.len() >= self.want {
            scores.clear();
            scores.extend(self.done.iter().map(|d| d.0));
            scores.sort_by(|a, c| c.total_cmp(a));
            let worst = scores[self.want - 1];
            if next
                .iter()
                .all(|(lp, t)| self.norm(*lp, t.len() + 1) <= worst)
            {
                self.searching = false;
                parents.truncate(before);
                return;
            }
        }
        self.live = next;
    }

    /// The `nbest` best, best first; out of steps, the live hypotheses count too, as they
    /// are.
    fn finish(mut self) -> Vec<(f64, Vec<u32>)> {
        if self.done.len() < self.want {
            let live = std::mem::take(&mut self.live);
            let scored: Vec<(f64, Vec<u32>)> = live
                .into_iter()
                .map(|(lp, t)| (self.norm(lp, t.len()), t))
                .collect();
            self.done.extend(scored);
        }
        self.done.sort_by(|a, c| c.0.total_cmp(&a.0));
        self.done.truncate(self.nbest);
        self.done
    }
}

/// The state rows `rows` of a batched state ([L, B, H], and h~ [B, H]): beam search's new
/// hypotheses each continue their parent's state.
fn gather_rows<F: Float>(st: &DecState<F>, rows: &[usize]) -> Result<DecState<F>> {
    let g = |t: &Tensor<F>| -> Result<Tensor<F>> {
        let sh = t.shape();
        let (l, b, h) = (sh[0], sh[1], sh[2]);
        let mut out = Vec::with_capacity(l * rows.len() * h);
        for k in 0..l {
            for &r in rows {
                let r = r.min(b - 1);
                out.extend_from_slice(&t.data()[(k * b + r) * h..][..h]);
            }
        }
        Tensor::from_vec(&[l, rows.len(), h], out)
    };
    let feed = st.feed.as_ref().map(|f| {
        let b = st.rnn.h.shape()[1].max(1);
        let h = f.len() / b;
        let mut out = Vec::with_capacity(rows.len() * h);
        for &r in rows {
            out.extend_from_slice(&f[r.min(b - 1) * h..][..h]);
        }
        out
    });
    Ok(DecState {
        rnn: RnnState {
            h: g(&st.rnn.h)?,
            c: st.rnn.c.as_ref().map(g).transpose()?,
        },
        feed,
    })
}
