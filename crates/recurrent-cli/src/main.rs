//! `recurrent`: train, sample, evaluate, inspect and benchmark recurrent networks. A thin
//! shell over the library: each subcommand is one file of flags and calls.

mod common;
mod corpus;
mod demo;
mod eval;
mod forecast;
mod inspect;
mod plot;
mod sample;
mod train_forecast;
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
    /// Forecast the rows after a CSV series with a trained forecaster (CSV out, PNG plot)
    Forecast(forecast::ForecastCmdArgs),
}

#[derive(Subcommand)]
enum TrainCmd {
    /// A character- or word-level language model (truncated BPTT over a text)
    Lm(train_lm::LmArgs),
    /// A time-series forecaster from a CSV file, tested against naive, seasonal naive and drift
    Forecast(train_forecast::ForecastArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.cmd {
        None => demo::run(),
        Some(Cmd::Train(t)) => match t.as_ref() {
            TrainCmd::Lm(a) => train_lm::run(a),
            TrainCmd::Forecast(a) => train_forecast::run(a),
        },
        Some(Cmd::Sample(a)) => sample::run(a),
        Some(Cmd::Eval(a)) => eval::run(a),
        Some(Cmd::Inspect(a)) => inspect::run(a),
        Some(Cmd::Forecast(a)) => forecast::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
