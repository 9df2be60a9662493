//! Composing tunes: the model is primed with the headers (`M:`, `L:`, `K:`), then each next
//! token is sampled (temperature, top-k, top-p) among those the [`Grammar`] allows, so the
//! music fills its bars exactly, closes its repeats and endings, and ends on a bar line.

use crate::music::grammar::Grammar;
use crate::music::parse::{default_unit, parse_meter, Frac};
use crate::music::train::{MusicMeta, BOS, EOS};
use recurrent::error::{Error, Result};
use recurrent::model::lm::LanguageModel;
use recurrent::nn::{Sampler, SamplerConfig};
use recurrent::rng::Rng;
use recurrent::text::Vocab;

/// Attempts per tune unless told (see [`ComposeOptions::attempts`]).
pub const ATTEMPTS: usize = 20;

/// What to compose.
#[derive(Clone, Debug, Default)]
pub struct ComposeOptions {
    /// `6/8`; None: drawn from the training tunes.
    pub meter: Option<String>,
    /// `D`, `Am`; None: drawn from the training tunes (with the meter, if given).
    pub key: Option<String>,
    /// The `T:` line (default `Tune n`).
    pub title: Option<String>,
    pub sampler: SamplerConfig,
    /// Attempts per tune before giving up (an attempt fails when the grammar leaves nothing
    /// to sample, or the tune grows past its token limit).
    pub attempts: usize,
}

/// Draws `(meter, unit, key)`: from the training headers that match what is given, weighted
/// by their counts; a meter or key the training tunes never combined is still allowed when
/// the model knows its header token.
fn choose_header(
    meta: &MusicMeta,
    opts: &ComposeOptions,
    rng: &mut Rng,
) -> Result<(String, String, String)> {
    // Only meters with a bar length can be constrained (`M:none` is left out).
    let metered = |h: &&(String, String, String, usize)| matches!(parse_meter(&h.0), Ok(Some(_)));
    let matching: Vec<&(String, String, String, usize)> = meta
        .headers
        .iter()
        .filter(metered)
        .filter(|h| opts.meter.as_ref().is_none_or(|m| *m == h.0))
        .filter(|h| opts.key.as_ref().is_none_or(|k| *k == h.2))
        .collect();
    let draw = |hs: &[&(String, String, String, usize)], rng: &mut Rng| {
        let total: usize = hs.iter().map(|h| h.3).sum();
        let mut u = rng.below(total.max(1));
        for h in hs {
            if u < h.3 {
                return Some((h.0.clone(), h.1.clone(), h.2.clone()));
            }
            u -= h.3;
        }
        None
    };
    if let Some(h) = draw(&matching, rng) {
        return Ok(h);
    }
    // An unseen combination: the meter's usual unit, each part checked against the vocabulary.
    let all: Vec<&(String, String, String, usize)> = meta.headers.iter().filter(metered).collect();
    let (m0, _, k0) =
        draw(&all, rng).ok_or_else(|| Error::Input("the model has no headers".into()))?;
    let m = opts.meter.clone().unwrap_or(m0);
    let k = opts.key.clone().unwrap_or(k0);
    let meter = parse_meter(&m).map_err(Error::Config)?;
    let unit = default_unit(meter);
    let l = format!("{}/{}", unit.num, unit.den);
    Ok((m, l, k))
}

fn header_id(vocab: &Vocab, field: &str, what: &str, known: Vec<String>) -> Result<u32> {
    vocab.id(field).ok_or_else(|| {
        let mut k = known;
        k.sort();
        k.dedup();
        Error::Config(format!(
            "the model never saw `{field}`: {what} it knows: {}",
            k.join(", ")
        ))
    })
}

/// Composes one tune: the complete ABC text from `X:` to its last line.
pub fn compose_one(
    model: &LanguageModel<f32>,
    meta: &MusicMeta,
    opts: &ComposeOptions,
    number: usize,
    rng: &mut Rng,
) -> Result<String> {
    let vocab = &meta.vocab;
    let (m, l, k) = choose_header(meta, opts, rng)?;
    let known = |i: usize| -> Vec<String> {
        meta.headers
            .iter()
            .map(|h| [&h.0, &h.1, &h.2][i].clone())
            .collect()
    };
    let ids = [
        vocab
            .id(BOS)
            .ok_or_else(|| Error::Input("no <bos> token".into()))?,
        header_id(vocab, &format!("M:{m}"), "meters", known(0))?,
        header_id(vocab, "\n", "tokens", vec![])?,
        header_id(vocab, &format!("L:{l}"), "units", known(1))?,
        header_id(vocab, "\n", "tokens", vec![])?,
        header_id(vocab, &format!("K:{k}"), "keys", known(2))?,
    ];
    let eos = vocab
        .id(EOS)
        .ok_or_else(|| Error::Input("no <eos> token".into()))?;
    let meter = parse_meter(&m)
        .map_err(Error::Config)?
        .ok_or_else(|| Error::Config(format!("meter `{m}` has no bar length")))?;
    let unit = l
        .split_once('/')
        .and_then(|(a, b)| {
            Some(Frac {
                num: a.parse().ok()?,
                den: b.parse().ok()?,
            })
        })
        .ok_or_else(|| Error::Config(format!("bad unit `{l}`")))?;
    let grammar = Grammar::new(vocab, eos, meter, unit).ok_or_else(|| {
        Error::Config(format!("meter `{m}` with unit `{l}` is not representable"))
    })?;
    let mut sampler = Sampler::new(opts.sampler)?;
    let v = model.config().vocab;
    let (logits0, state0, _) = model.forward(&ids, ids.len(), 1, None, None)?;
    let first = logits0[(ids.len() - 1) * v..].to_vec();
    for _attempt in 0..opts.attempts.max(1) {
        let mut st = grammar.start();
        let mut state = state0.clone();
        let mut logits = first.clone();
        let mut body = String::new();
        let ok = loop {
            if grammar.tokens(&st) >= grammar.max_tokens {
                break false;
            }
            let next = if grammar.must_end(&st, eos) {
                eos
            } else {
                let mut any = false;
                for (i, z) in logits.iter_mut().enumerate() {
                    if grammar.allowed(&st, i as u32) {
                        any = true;
                    } else {
                        *z = f32::NEG_INFINITY;
                    }
                }
                if !any {
                    break false;
                }
                sampler.sample(&logits, rng)
            };
            if !grammar.allowed(&st, next) {
                break false;
            }
            grammar.advance(&mut st, next);
            if next == eos {
                break true;
            }
            body.push_str(vocab.token(next));
            let (l, s, _) = model.forward(&[next], 1, 1, Some(&state), None)?;
            state = s;
            logits = l;
        };
        if ok {
            let title = opts
                .title
                .clone()
                .unwrap_or_else(|| format!("Tune {number}"));
            let body = body.trim_end();
            return Ok(format!(
                "X: {number}\nT:{title}\nM:{m}\nL:{l}\nK:{k}{body}\n"
            ));
        }
    }
    Err(Error::Input(format!(
        "no valid tune in {} attempts (meter {m}, key {k}): the model may be untrained",
        opts.attempts.max(1)
    )))
}

/// Composes `count` tunes numbered from 1.
pub fn compose(
    model: &LanguageModel<f32>,
    meta: &MusicMeta,
    opts: &ComposeOptions,
    count: usize,
    seed: u64,
) -> Result<Vec<String>> {
    let mut rng = Rng::new(seed).fork("compose");
    (1..=count)
        .map(|i| compose_one(model, meta, opts, i, &mut rng))
        .collect()
}
