//! The `recurrent` command line: a thin dispatcher, one file per subcommand.

mod bench;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Recurrent neural networks (RNN, LSTM, GRU) with hand-written BPTT: train, sample,
/// evaluate and benchmark.
#[derive(Parser, Debug)]
#[command(name = "recurrent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Time a recurrent layer (train, infer, step) or the matrix product, printing the
    /// one-line JSON of ../shared/bench/pytorch_rnn_bench.py (or matmul_ceiling.py).
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
