//! A trained translator: loading it from a checkpoint (every shape checked first) and
//! translating one sentence greedily or by beam search.

use super::config::*;
use crate::translate::parallel::tokenize;
use recurrent::checkpoint;
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::Seq2Seq;
use recurrent::rng::Rng;
use recurrent::text::bucket::{eval_batches, EVAL_TOKENS};
use std::path::Path;

/// Greedy translations of `sources` (batched by length). A source longer than
/// `max_source` tokens is translated in pieces ([`TranslateMeta::source_pieces`]) whose
/// translations are joined.
pub fn translate_greedy(
    model: &Seq2Seq<f32>,
    meta: &TranslateMeta,
    sources: &[String],
    max_source: usize,
) -> Result<Vec<String>> {
    let mut units: Vec<(usize, Vec<u32>)> = Vec::with_capacity(sources.len());
    for (i, s) in sources.iter().enumerate() {
        units.extend(
            meta.source_pieces(s, max_source)
                .into_iter()
                .map(|p| (i, p)),
        );
    }
    let lengths: Vec<usize> = units.iter().map(|u| meta.max_output(u.1.len())).collect();
    let mut hyps: Vec<Vec<u32>> = vec![Vec::new(); units.len()];
    for idx in eval_batches(&lengths, 128, EVAL_TOKENS) {
        let srcs: Vec<&[u32]> = idx.iter().map(|&u| units[u].1.as_slice()).collect();
        let max = meta.max_output(srcs.iter().map(|s| s.len()).max().unwrap_or(1));
        for (&u, h) in idx.iter().zip(model.greedy_batch(&srcs, max)?) {
            hyps[u] = h;
        }
    }
    // Units are in source order, so each source's pieces are consecutive.
    let mut ids: Vec<Vec<u32>> = vec![Vec::new(); sources.len()];
    for ((i, _), h) in units.iter().zip(hyps) {
        ids[*i].extend(h);
    }
    Ok(ids.iter().map(|h| meta.decode_target(h)).collect())
}

/// Sources decoded together by beam search: with beam 5, 320 hypothesis rows a step, so
/// each step's products are matrix products rather than a few vectors.
pub const BEAM_BATCH: usize = 64;

/// Beam-search translations: per source, up to `nbest` `(score, text)`, best first (score:
/// log p / len^alpha). A source longer than `max_source` tokens is translated in pieces
/// and gets one hypothesis: the pieces' best joined, scored by their mean score. The
/// sources (pieces) are decoded [`BEAM_BATCH`] at a time, in order of length so that a
/// batch pads little; each one's hypotheses are those of a search of its own.
pub fn translate_beam(
    model: &Seq2Seq<f32>,
    meta: &TranslateMeta,
    sources: &[String],
    beam: usize,
    nbest: usize,
    max_source: usize,
) -> Result<Vec<Vec<(f64, String)>>> {
    let pieces: Vec<Vec<Vec<u32>>> = sources
        .iter()
        .map(|s| meta.source_pieces(s, max_source))
        .collect();
    // (source, piece) in order of length; whole sources keep `nbest`, pieces their best.
    let mut units: Vec<(usize, usize)> = pieces
        .iter()
        .enumerate()
        .flat_map(|(i, p)| (0..p.len()).map(move |j| (i, j)))
        .collect();
    units.sort_by_key(|&(i, j)| (pieces[i].len() > 1, pieces[i][j].len()));
    let mut found: Vec<Vec<Vec<recurrent::model::Hypothesis>>> =
        pieces.iter().map(|p| vec![Vec::new(); p.len()]).collect();
    let whole = units.partition_point(|&(i, _)| pieces[i].len() == 1);
    for (group, n) in [(&units[..whole], nbest), (&units[whole..], 1)] {
        for chunk in group.chunks(BEAM_BATCH) {
            let srcs: Vec<&[u32]> = chunk
                .iter()
                .map(|&(i, j)| pieces[i][j].as_slice())
                .collect();
            let max_lens: Vec<usize> = srcs.iter().map(|s| meta.max_output(s.len())).collect();
            let hyps = model.beam_search_batch(&srcs, beam, &max_lens, meta.beam_score(), n)?;
            for (&(i, j), h) in chunk.iter().zip(hyps) {
                found[i][j] = h;
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|mut per_piece| {
            if per_piece.len() == 1 {
                return per_piece
                    .pop()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(sc, t)| (sc, meta.decode_target(&t)))
                    .collect();
            }
            let k = per_piece.len() as f64;
            let (mut score, mut out) = (0.0, Vec::new());
            for h in per_piece {
                if let Some((sc, t)) = h.into_iter().next() {
                    score += sc / k;
                    out.extend(t);
                }
            }
            vec![(score, meta.decode_target(&out))]
        })
        .collect())
}

/// Loads a translation model and its description from a checkpoint file (see
/// [`recurrent::train::run::resolve_checkpoint`] for run directories).
pub fn load_translator(path: &Path) -> Result<(Seq2Seq<f32>, TranslateMeta)> {
    let ck = checkpoint::read(path)?;
    load_translator_from(&ck, path)
}

/// [`load_translator`] on a checkpoint already read (`path` names it in errors). The sizes
/// in the metadata are checked against the file's own tensors before the model is
/// allocated, so a hostile file cannot ask for more memory than it holds.
pub fn load_translator_from(
    ck: &checkpoint::Checkpoint,
    path: &Path,
) -> Result<(Seq2Seq<f32>, TranslateMeta)> {
    let mut meta: TranslateMeta = recurrent::checkpoint::shapes::read_meta(ck, path, "translate")?;
    meta.src_vocab = meta.src_vocab.clone().reindex()?;
    meta.tgt_vocab = meta.tgt_vocab.clone().reindex()?;
    let m = &meta.model;
    if m.src_vocab != meta.src_vocab.len()
        || m.tgt_vocab != meta.tgt_vocab.len()
        || m.bos as usize >= m.tgt_vocab
        || m.eos as usize >= m.tgt_vocab
    {
        return Err(Error::format(
            path,
            "the model's vocabulary sizes disagree with the stored vocabularies",
        ));
    }
    // Embeddings, head and every layer's recurrent weights, by shape: each bounds a size
    // by the file's own bytes.
    let g = m.cell.gates();
    let mut want = vec![
        (
            "encoder.embed.weight".to_string(),
            vec![m.src_vocab, m.embed],
        ),
        (
            "decoder.embed.weight".to_string(),
            vec![m.tgt_vocab, m.embed],
        ),
        (
            "decoder.head.weight".to_string(),
            vec![m.tgt_vocab, m.hidden],
        ),
    ];
    if m.layers > ck.tensors.len() {
        return Err(Error::format(
            path,
            format!("{} layers in the metadata, not in the file", m.layers),
        ));
    }
    for k in 0..m.layers {
        for side in ["encoder", "decoder"] {
            want.push((
                format!("{side}.rnn.weight_hh_l{k}"),
                vec![g * m.hidden, m.hidden],
            ));
        }
    }
    recurrent::checkpoint::shapes::check_shapes(ck, &want)?;
    let mut model = Seq2Seq::<f32>::new(m.clone(), &Init::default(), &mut Rng::new(0))?;
    // Then every tensor the model has, with its shape.
    let mut all = Vec::new();
    recurrent::param::Module::visit(&model, &mut |p| {
        all.push((p.name.clone(), p.value.shape().to_vec()))
    });
    recurrent::checkpoint::shapes::check_shapes(ck, &all)?;
    checkpoint::load_into(&mut model, &ck.weights_only())?;
    Ok((model, meta))
}

/// Tokens of a target sentence.
pub(crate) fn target_tokens(text: &str, keep_case: bool) -> Vec<String> {
    tokenize(text, !keep_case)
}
