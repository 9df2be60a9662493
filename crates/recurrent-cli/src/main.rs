//! `recurrent`: train, sample, evaluate, inspect and benchmark recurrent networks. A thin
//! shell over the library: each subcommand is one file of flags and calls.

mod bench;
mod common;
mod corpus;
mod demo;
mod eval;
mod inspect;
mod plot;
mod sample;
mod train_lm;

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
    /// Architecture, parameters, history and weights hash of a checkpoint or run
    Inspect(inspect::InspectArgs),
    /// Time a recurrent layer (train, infer, step) or the matrix product, printing the
    /// one-line JSON of ../shared/bench/pytorch_rnn_bench.py (or matmul_ceiling.py)
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum TrainCmd {
    /// A character- or word-level language model (truncated BPTT over a text)
    Lm(train_lm::LmArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.cmd {
        None => demo::run(),
        Some(Cmd::Train(t)) => match t.as_ref() {
            TrainCmd::Lm(a) => train_lm::run(a),
        },
        Some(Cmd::Sample(a)) => sample::run(a),
        Some(Cmd::Eval(a)) => eval::run(a),
        Some(Cmd::Inspect(a)) => inspect::run(a),
        Some(Cmd::Bench(a)) => bench::run(a).map_err(anyhow::Error::msg),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
