//! `recurrent tag`: tag raw text (one sentence per line, tokens separated by spaces).

use anyhow::{bail, Context, Result};
use clap::Args;
use recurrent::train::run::resolve_checkpoint;
use recurrent_tasks::tag::conllu::write_conllu;
use recurrent_tasks::tag::train::{load_tagger, tag_sentences};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TagArgs {
    /// A checkpoint file, or a run directory (its best checkpoint)
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub input: crate::common::LineInput,
    /// Output: `tsv` (token<TAB>tag, a blank line between sentences) or `conllu`
    #[arg(long, default_value = "tsv")]
    pub format: String,
    /// One JSON object per sentence: {"tokens": [...], "tags": [...]}
    #[arg(long)]
    pub json: bool,
    /// Read sentences longer than this many tokens (1 to 1000000) in overlapping windows of
    /// this length, bounding memory [default: the model's training --max-tokens]
    #[arg(long, value_parser = crate::common::length_flag)]
    pub max_tokens: Option<usize>,
    #[command(flatten)]
    pub precision: crate::common::PrecisionArg,
}

pub fn run(a: &TagArgs) -> Result<()> {
    if !["tsv", "conllu"].contains(&a.format.as_str()) {
        bail!("--format must be tsv or conllu, got `{}`", a.format);
    }
    let path = resolve_checkpoint(&a.checkpoint)?;
    let (mut model, meta) = crate::common::load_for("tag", &["tag"], &path, load_tagger)?;
    a.precision.apply(&mut model, Some(&path))?;
    let sentences: Vec<Vec<String>> = a
        .input
        .lines()?
        .iter()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    let max = a.max_tokens.unwrap_or(meta.train.max_tokens);
    let tags = tag_sentences(&model, &meta, &sentences, max)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut buf = String::new();
    for (words, tags) in sentences.iter().zip(&tags) {
        buf.clear();
        if a.json {
            buf.push_str(&serde_json::json!({"tokens": words, "tags": tags}).to_string());
            buf.push('\n');
        } else if a.format == "conllu" {
            write_conllu(words, tags, meta.train.column, &mut buf);
        } else {
            for (w, t) in words.iter().zip(tags) {
                buf.push_str(w);
                buf.push('\t');
                buf.push_str(t);
                buf.push('\n');
            }
            buf.push('\n');
        }
        out.write_all(buf.as_bytes()).context("stdout")?;
    }
    out.flush().context("stdout")?;
    Ok(())
}
