//! Text generation from a language model (one-to-many at inference): feed the prime, then
//! repeatedly sample a token and feed it back, the state carried from step to step.

use crate::error::Result;
use crate::layer::RnnState;
use crate::model::lm::LanguageModel;
use crate::nn::Sampler;
use crate::rng::Rng;
use crate::text::Vocab;

/// Generates `length` tokens after `prime` (or after a random first token), calling `sink`
/// with each token's text as soon as it is drawn. Returns the generated ids.
pub fn generate(
    model: &LanguageModel<f32>,
    vocab: &Vocab,
    prime: Option<&str>,
    length: usize,
    mut sampler: Sampler,
    rng: &mut Rng,
    sink: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<Vec<u32>> {
    let mut state: Option<RnnState<f32>> = None;
    let primed = match prime {
        Some(p) if !p.is_empty() => vocab.encode(p)?,
        _ => Vec::new(),
    };
    let mut last_logits: Option<Vec<f32>> = None;
    if !primed.is_empty() {
        let (logits, s, _) = model.forward(&primed, primed.len(), 1, None, None)?;
        let v = model.config().vocab;
        last_logits = Some(logits[(primed.len() - 1) * v..].to_vec());
        state = Some(s);
    }
    let mut out = Vec::with_capacity(length);
    let mut next = match &last_logits {
        Some(l) => sampler.sample(l, rng),
        None => rng.below(vocab.len()) as u32,
    };
    let words = vocab.tokenizer == crate::text::Tokenizer::Word;
    // Words are joined by spaces, except around line breaks.
    let mut after_newline = primed.last().is_none_or(|&p| vocab.token(p) == "\n");
    for i in 0..length {
        out.push(next);
        let tok = vocab.token(next);
        if words && tok != "\n" && !after_newline {
            sink(" ")?;
        }
        after_newline = tok == "\n";
        sink(tok)?;
        if i + 1 == length {
            break;
        }
        let (logits, s, _) = model.forward(&[next], 1, 1, state.as_ref(), None)?;
        state = Some(s);
        next = sampler.sample(&logits, rng);
    }
    Ok(out)
}

/// What the model writes now, for a training log: 300 tokens at temperature 1 from a
/// stream of its own (seeded by `seed` alone), so that two evaluations' samples differ
/// only by the weights, and the training stream, which resume replays, is not touched.
pub fn sample_text(model: &LanguageModel<f32>, vocab: &Vocab, seed: u64) -> Result<String> {
    let mut rng = Rng::new(seed).fork("training-sample");
    let sampler = Sampler::new(crate::nn::SamplerConfig::default())?;
    let mut text = String::new();
    generate(model, vocab, None, 300, sampler, &mut rng, &mut |t| {
        text.push_str(t);
        Ok(())
    })?;
    Ok(text)
}
