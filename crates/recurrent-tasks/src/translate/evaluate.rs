//! Scoring a translator on the test split: greedy and beam translations of every source
//! sentence, corpus BLEU against all its references, exact matches.

use super::config::*;
use super::translator::*;
use crate::translate::bleu::{corpus_bleu, Bleu};
use crate::translate::parallel::{group_by_source, Pair};
use recurrent::checkpoint;
use recurrent::error::Result;
use recurrent::model::Seq2Seq;
use recurrent::train::Observer;
use serde::Serialize;
use std::path::Path;

/// Scores on the test split.
#[derive(Clone, Debug, Serialize)]
pub struct TestScores {
    /// Distinct test source sentences translated.
    pub sentences: usize,
    /// Test pairs (references).
    pub pairs: usize,
    /// Corpus BLEU (sacreBLEU's default: 13a, case-sensitive) of greedy decoding.
    pub bleu_greedy: f64,
    /// ... of beam search (None with beam 1).
    pub bleu_beam: Option<f64>,
    /// Case-insensitive BLEU (sacreBLEU `-lc`).
    pub bleu_greedy_lc: f64,
    pub bleu_beam_lc: Option<f64>,
    /// The details of the greedy and beam scores.
    pub greedy: Bleu,
    pub beam: Option<Bleu>,
    /// Fraction of sentences whose greedy translation equals one of the references,
    /// token for token (after tokenisation).
    pub exact_match_greedy: f64,
    pub exact_match_beam: Option<f64>,
    /// Seconds to translate the test split greedily (batched) and with beam search.
    pub greedy_s: f64,
    pub beam_s: Option<f64>,
}

/// Sentences translated between two looks at the stop request and two progress lines:
/// a few seconds of beam search on two cores.
const CHUNK: usize = 256;

/// Translates `sources` in chunks with `one`, saying how far it got and stopping between
/// chunks when `obs` asks (None then): a Ctrl-C in the test phase stops it at once rather
/// than after minutes of decoding.
fn in_chunks(
    sources: &[String],
    what: &str,
    obs: &mut dyn Observer,
    mut one: impl FnMut(&[String]) -> Result<Vec<String>>,
) -> Result<Option<(Vec<String>, f64)>> {
    let t0 = std::time::Instant::now();
    let mut out = Vec::with_capacity(sources.len());
    for chunk in sources.chunks(CHUNK) {
        if obs.should_stop() {
            return Ok(None);
        }
        out.extend(one(chunk)?);
        if sources.len() > CHUNK {
            obs.message(&format!(
                "test, {what}: {} of {} sentences ({:.0} s)",
                out.len(),
                sources.len(),
                t0.elapsed().as_secs_f64()
            ));
        }
    }
    Ok(Some((out, t0.elapsed().as_secs_f64())))
}

/// Translates every distinct test source greedily (and with beam search when `beam` > 1),
/// scores both by BLEU against all its targets, writes the hypotheses into `out`, and
/// returns the scores and the first examples; None when `obs` asked to stop on the way.
pub fn score_test(
    model: &Seq2Seq<f32>,
    meta: &TranslateMeta,
    test: &[Pair],
    beam: usize,
    out: &Path,
    obs: &mut dyn Observer,
) -> Result<Option<(TestScores, Vec<Example>)>> {
    let groups = group_by_source(test);
    let sources: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
    let refs: Vec<Vec<String>> = groups.iter().map(|g| g.1.clone()).collect();
    let Some((greedy, greedy_s)) = in_chunks(&sources, "greedy", obs, |c| {
        translate_greedy(model, meta, c, MAX_SOURCE)
    })?
    else {
        return Ok(None);
    };
    let (beam_out, beam_s) = if beam > 1 {
        let best = |c: &[String]| {
            Ok(translate_beam(model, meta, c, beam, 1, MAX_SOURCE)?
                .into_iter()
                .map(|h| h.into_iter().next().map(|x| x.1).unwrap_or_default())
                .collect())
        };
        let Some((h, secs)) = in_chunks(&sources, &format!("beam {beam}"), obs, best)? else {
            return Ok(None);
        };
        (Some(h), Some(secs))
    } else {
        (None, None)
    };
    let exact = |hyps: &[String]| {
        let n = hyps
            .iter()
            .zip(&refs)
            .filter(|(h, rs)| {
                let ht = target_tokens(h, meta.keep_target_case);
                rs.iter()
                    .any(|r| target_tokens(r, meta.keep_target_case) == ht)
            })
            .count();
        n as f64 / hyps.len().max(1) as f64
    };
    let g = corpus_bleu(&greedy, &refs, false)?;
    let g_lc = corpus_bleu(&greedy, &refs, true)?;
    let (b, b_lc) = match &beam_out {
        Some(h) => (
            Some(corpus_bleu(h, &refs, false)?),
            Some(corpus_bleu(h, &refs, true)?),
        ),
        None => (None, None),
    };
    let lines = |v: &[String]| {
        let mut s = v.join("\n");
        s.push('\n');
        s
    };
    checkpoint::write_file_atomic(out.join("test.sources.txt"), lines(&sources).as_bytes())?;
    checkpoint::write_file_atomic(out.join("test.greedy.txt"), lines(&greedy).as_bytes())?;
    if let Some(h) = &beam_out {
        checkpoint::write_file_atomic(out.join("test.beam.txt"), lines(h).as_bytes())?;
    }
    let examples = (0..sources.len().min(12))
        .map(|i| Example {
            source: sources[i].clone(),
            references: refs[i].clone(),
            greedy: greedy[i].clone(),
            beam: beam_out.as_ref().map(|h| h[i].clone()),
        })
        .collect();
    let scores = TestScores {
        sentences: sources.len(),
        pairs: test.len(),
        bleu_greedy: g.score,
        bleu_beam: b.as_ref().map(|x| x.score),
        bleu_greedy_lc: g_lc.score,
        bleu_beam_lc: b_lc.map(|x| x.score),
        exact_match_greedy: exact(&greedy),
        exact_match_beam: beam_out.as_deref().map(exact),
        greedy: g,
        beam: b,
        greedy_s,
        beam_s,
    };
    Ok(Some((scores, examples)))
}

/// One example translation.
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    pub source: String,
    pub references: Vec<String>,
    pub greedy: String,
    pub beam: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Asks to stop once it has seen `after` progress lines.
    struct StopAfter {
        after: usize,
        seen: Cell<usize>,
    }
    impl Observer for StopAfter {
        fn message(&mut self, _msg: &str) {
            self.seen.set(self.seen.get() + 1);
        }
        fn should_stop(&self) -> bool {
            self.seen.get() >= self.after
        }
    }

    #[test]
    fn the_test_phase_reports_progress_and_stops_between_chunks() {
        let sources: Vec<String> = (0..3 * CHUNK + 1).map(|i| i.to_string()).collect();
        let mut calls = 0;
        let mut obs = StopAfter {
            after: 2,
            seen: Cell::new(0),
        };
        let got = in_chunks(&sources, "greedy", &mut obs, |c| {
            calls += 1;
            Ok(c.to_vec())
        })
        .unwrap();
        assert!(got.is_none());
        assert_eq!((calls, obs.seen.get()), (2, 2), "two chunks, then the stop");
        let mut never = StopAfter {
            after: usize::MAX,
            seen: Cell::new(0),
        };
        let (all, _) = in_chunks(&sources, "beam 5", &mut never, |c| Ok(c.to_vec()))
            .unwrap()
            .unwrap();
        assert_eq!(all, sources);
        assert_eq!(never.seen.get(), 4);
    }
}
