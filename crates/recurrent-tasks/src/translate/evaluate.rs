//! Scoring a translator on the test split: greedy and beam translations of every source
//! sentence, corpus BLEU against all its references, exact matches.

use super::config::*;
use super::translator::*;
use crate::translate::bleu::{corpus_bleu, Bleu};
use crate::translate::parallel::{group_by_source, Pair};
use recurrent::checkpoint;
use recurrent::error::Result;
use recurrent::model::Seq2Seq;
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

/// Translates every distinct test source greedily (and with beam search when `beam` > 1),
/// scores both by BLEU against all its targets, writes the hypotheses into `out`, and
/// returns the scores and the first examples.
pub fn score_test(
    model: &Seq2Seq<f32>,
    meta: &TranslateMeta,
    test: &[Pair],
    beam: usize,
    out: &Path,
) -> Result<(TestScores, Vec<Example>)> {
    let groups = group_by_source(test);
    let sources: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
    let refs: Vec<Vec<String>> = groups.iter().map(|g| g.1.clone()).collect();
    let t0 = std::time::Instant::now();
    let greedy = translate_greedy(model, meta, &sources)?;
    let greedy_s = t0.elapsed().as_secs_f64();
    let t0 = std::time::Instant::now();
    let beam_out = if beam > 1 {
        Some(
            translate_beam(model, meta, &sources, beam, 1)?
                .into_iter()
                .map(|h| h.into_iter().next().map(|x| x.1).unwrap_or_default())
                .collect::<Vec<String>>(),
        )
    } else {
        None
    };
    let beam_s = beam_out.as_ref().map(|_| t0.elapsed().as_secs_f64());
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
    Ok((scores, examples))
}

/// One example translation.
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    pub source: String,
    pub references: Vec<String>,
    pub greedy: String,
    pub beam: Option<String>,
}
