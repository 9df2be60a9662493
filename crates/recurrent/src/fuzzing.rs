//! Entry points shared by the fuzz targets (fuzz/) and by the regression test that replays
//! their corpus under `cargo test` (tests/fuzz_corpus.rs), so CI keeps the promise without
//! running the fuzzer: every reader of a user's file returns an error or a value, and never
//! panics, on any input.

use crate::checkpoint;
use crate::data::text::{decode_text, StreamBatcher};
use crate::data::{Tokenizer, Vocab};
use std::path::Path;

/// The safetensors reader on arbitrary bytes.
pub fn safetensors_read(data: &[u8]) {
    if let Ok(ck) = checkpoint::read_bytes(data, "fuzz.safetensors") {
        for t in ck.tensors.values() {
            let _ = t.to_tensor::<f32>();
            let _ = t.to_tensor::<f64>();
        }
        let _ = checkpoint::weights_sha256(&ck);
    }
}

/// A text corpus on arbitrary bytes: decode, both vocabularies, encode, batch.
pub fn text_corpus(data: &[u8]) {
    let Ok(text) = decode_text(data, Path::new("fuzz.txt")) else {
        return;
    };
    for vocab in [Vocab::chars(&text), Vocab::words(&text, 1 + data.len() % 3)] {
        if let Ok(ids) = vocab.encode(&text) {
            let _ = vocab.decode(&ids);
            let b = 1 + data.first().map_or(0, |&v| v as usize % 4);
            if let Ok(sb) = StreamBatcher::new(&ids, b, 1 + data.len() % 7) {
                let _ = sb.chunk_at(0);
            }
        }
    }
    let _ = Tokenizer::Char;
}

/// A language-model checkpoint on arbitrary bytes: read, parse its metadata, build and load
/// the model it describes (sizes are bounded by the file's own tensors before anything is
/// allocated).
pub fn checkpoint_meta(data: &[u8]) {
    let Ok(ck) = checkpoint::read_bytes(data, "fuzz.safetensors") else {
        return;
    };
    let path = Path::new("fuzz.safetensors");
    if let Ok(meta) = crate::train::lm::parse_meta(&ck, path) {
        let _ = crate::train::lm::model_from_meta(&meta, &ck);
    }
}

/// A parallel corpus on arbitrary bytes: parse, tokenise and detokenise both sides, split,
/// group by source, and BLEU of the targets against the sources.
pub fn parallel_corpus(data: &[u8]) {
    use crate::data::parallel::{
        detokenize, group_by_source, parse_parallel, split_pairs, tokenize,
    };
    let Ok(pairs) = parse_parallel(data, Path::new("fuzz.tsv")) else {
        return;
    };
    for p in &pairs {
        let _ = detokenize(&tokenize(&p.src, true));
        let _ = detokenize(&tokenize(&p.tgt, false));
    }
    let s = split_pairs(pairs.clone(), data.len() as u64, 0.2, 0.3);
    let groups = group_by_source(&s.test);
    let hyps: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
    let refs: Vec<Vec<String>> = groups.into_iter().map(|g| g.1).collect();
    let _ = crate::train::bleu::corpus_bleu(&hyps, &refs, data.len().is_multiple_of(2));
}

/// A translation checkpoint on arbitrary bytes: read, check and build the model its
/// metadata describes, and translate a sentence greedily.
pub fn translate_checkpoint(data: &[u8]) {
    let Ok(ck) = checkpoint::read_bytes(data, "fuzz.safetensors") else {
        return;
    };
    if let Ok((model, meta)) =
        crate::train::translate::load_translator_from(&ck, Path::new("fuzz.safetensors"))
    {
        let _ = crate::train::translate::translate_greedy(&model, &meta, &["a b".to_string()]);
    }
}
