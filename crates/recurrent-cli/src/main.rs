//! `recurrent`: train, sample, evaluate, inspect and benchmark recurrent networks. A thin
//! shell over the library: each subcommand is one file of flags and calls.

mod classify;
mod common;
mod corpus;
mod demo;
mod eval;
mod inspect;
mod plot;
mod sample;
mod tag;
mod train_classify;
mod train_lm;
mod train_tag;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "recurrent", version, about = "Recurrent neural networks (RNN, LSTM, GRU) trained by hand-written BPTT", long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a model (`recurrent train lm --data FILE`)
    #[command(subcommand)]
    Train(Box<TrainCmd>),
    /// Generate text from a language model
    Sample(sample::SampleArgs),
    /// Loss of a language model on a text, in nats and bits per token
    Eval(eval::EvalArgs),
    /// Label each line of text with a trained classifier (`label<TAB>probability`)
    Classify(classify::ClassifyArgs),
    /// Tag each word of raw text (one sentence per line): `token<TAB>tag`
    Tag(tag::TagArgs),
    /// Architecture, parameters, history and weights hash of a checkpoint or run
    Inspect(inspect::InspectArgs),
}

#[derive(Subcommand)]
enum TrainCmd {
    /// A character- or word-level language model (truncated BPTT over a text)
    Lm(train_lm::LmArgs),
    /// A sentence classifier (sentiment): labelled lines, CSV, or one file per class
    Classify(train_classify::ClassifyArgs),
    /// A part-of-speech (or any CoNLL-U column) tagger from CoNLL-U files
    Tag(train_tag::TagArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.cmd {
        None => demo::run(),
        Some(Cmd::Train(t)) => match t.as_ref() {
            TrainCmd::Lm(a) => train_lm::run(a),
            TrainCmd::Classify(a) => train_classify::run(a),
            TrainCmd::Tag(a) => train_tag::run(a),
        },
        Some(Cmd::Sample(a)) => sample::run(a),
        Some(Cmd::Eval(a)) => eval::run(a),
        Some(Cmd::Classify(a)) => classify::run(a),
        Some(Cmd::Tag(a)) => tag::run(a),
        Some(Cmd::Inspect(a)) => inspect::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
