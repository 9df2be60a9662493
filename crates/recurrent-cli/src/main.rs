//! `recurrent`: train, sample, evaluate, inspect and benchmark recurrent networks. A thin
//! shell over the library: one module per application (its training and inference commands
//! together), each command flags -> config -> one library call -> report.

/// `eprintln!` that never panics: with stderr closed (`2>&1 | head -3`) a run goes on to
/// save its work instead of dying on "failed printing to stderr".
/// Only rank 0 of a data-parallel job speaks: the others would repeat it.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if crate::ranks::is_primary() {
            let _ = writeln!(std::io::stderr(), $($arg)*);
        }
    }};
}

/// `println!` that never panics: a closed stdout (`| head`) ends the process quietly with
/// 141, as SIGPIPE would; any other write error is reported.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if crate::ranks::is_primary() {
            if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
                crate::common::stdout_failed(e)
            }
        }
    }};
}

mod bench;
mod classify;
mod common;
mod export;
mod forecast;
mod import;
mod inspect;
mod lab;
mod lm;
mod music;
mod plot;
mod quantize;
mod ranks;
mod resume;
mod speech;
mod tag;
mod translate;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "recurrent", version, about = "Recurrent neural networks (RNN, LSTM, GRU) trained by hand-written BPTT", long_about = None)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Continue the main job's run in DIR (what its Ctrl-C hint prints)
    #[arg(long, value_name = "DIR")]
    resume: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a model (`recurrent train lm --data FILE`)
    #[command(subcommand)]
    Train(Box<TrainCmd>),
    /// Generate text from a language model
    Sample(lm::sample::SampleArgs),
    /// Loss of a language model on a text, in nats and bits per token
    Eval(lm::eval::EvalArgs),
    /// Label each line of text with a trained classifier (`label<TAB>probability`)
    Classify(classify::predict::ClassifyArgs),
    /// Tag each word of raw text (one sentence per line): `token<TAB>tag`
    Tag(tag::predict::TagArgs),
    /// Architecture, parameters, history and weights hash of a checkpoint or run
    Inspect(inspect::InspectArgs),
    /// Write a trained model as an ONNX file (every application's model; see the README)
    Export(export::ExportArgs),
    /// Write a checkpoint with its weight matrices in int8 or bf16 (smaller; loads as it is)
    Quantize(quantize::QuantizeArgs),
    /// Read a language model from an ONNX file (torch.onnx.export, tf2onnx, ours) into a checkpoint
    Import(import::ImportArgs),
    /// Time a recurrent layer (train, infer, step) or the matrix product, printing the
    /// one-line JSON of the PyTorch benchmark pytorch_rnn_bench.py (or matmul_ceiling.py)
    Bench(bench::BenchArgs),
    /// Gradient flow: |dL/dh_t| per step and layer, singular values, verdict and a PNG
    Diagnose(lab::diagnose::DiagnoseArgs),
    /// Experiments on vanishing and exploding gradients (`lab long-range`, `lab clipping`)
    #[command(subcommand)]
    Lab(lab::LabCmd),
    /// Forecast the rows after a CSV series with a trained forecaster (CSV out, PNG plot)
    Forecast(forecast::predict::ForecastCmdArgs),
    /// Translate each line of stdin with a trained encoder-decoder (one line out per line
    /// in; `--nbest K`: K lines `score<TAB>text`)
    Translate(translate::predict::TranslateArgs),
    /// Compose folk tunes in ABC with a trained music model (`--midi DIR` renders them)
    Compose(music::compose::ComposeArgs),
    /// Validity of composed tunes next to the corpus's test tunes (parse, bars, repeats, tonic)
    MusicStats(music::stats::MusicStatsArgs),
    /// The digits spoken in WAV files: `path<TAB>digits<TAB>confidence` per file
    Transcribe(speech::transcribe::TranscribeArgs),
}

#[derive(Subcommand)]
enum TrainCmd {
    /// A character- or word-level language model (truncated BPTT over a text)
    Lm(lm::train::LmArgs),
    /// A sentence classifier (sentiment): labelled lines, CSV, or one file per class
    Classify(classify::train::ClassifyArgs),
    /// A part-of-speech (or any CoNLL-U column) tagger from CoNLL-U files
    Tag(tag::train::TagArgs),
    /// A time-series forecaster from a CSV file, tested against naive, seasonal naive and drift
    Forecast(forecast::train::ForecastArgs),
    /// An encoder-decoder (translation) from `source<TAB>target` pairs, with optional
    /// attention, scored by BLEU; or a synthetic string task (`--synthetic reverse`)
    Translate(translate::train::TranslateArgs),
    /// A language model over ABC tunes (musical tokens, one sequence per tune)
    Music(music::train::MusicArgs),
    /// A spoken-digit recogniser from a folder of WAVs ({digit}_{speaker}_{index}.wav)
    Speech(Box<speech::train::SpeechArgs>),
}

/// The command line, with the stored command of a run laid under `train TASK --resume DIR`
/// (see [`resume`]); then a repeated flag means "the last one wins".
fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let (args, merged) = match resume::expand(std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => {
            say!("error: {}", report(&e));
            std::process::exit(1);
        }
    };
    let matches = Cli::command()
        .args_override_self(merged)
        .get_matches_from(args);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() {
    let cli = parse();
    // Under mpirun, the job's ranks (one process otherwise); kept until the process ends.
    let session = match ranks::start() {
        Ok(s) => s,
        Err(e) => {
            say!("error: {e}");
            std::process::exit(1);
        }
    };
    if ranks::group().is_parallel() && !matches!(cli.cmd, Some(Cmd::Train(_))) {
        say!(
            "error: under mpirun only `recurrent train ...` runs, data-parallel over the ranks; \
             run this command as one process, without mpirun"
        );
        // Every rank decides the same; MPI ends cleanly before the exit.
        session.end();
        std::process::exit(2);
    }
    // RECURRENT_ISA=avx512|avx2|portable caps every kernel, so one machine measures each path.
    if let Err(e) = recurrent::kernels::simd::apply_env() {
        say!("error: {e}");
        std::process::exit(1);
    }
    let result = match &cli.cmd {
        None => lm::demo::run(cli.resume.as_deref()),
        Some(Cmd::Train(t)) => match t.as_ref() {
            TrainCmd::Lm(a) => lm::train::run(a),
            TrainCmd::Classify(a) => classify::train::run(a),
            TrainCmd::Tag(a) => tag::train::run(a),
            TrainCmd::Forecast(a) => forecast::train::run(a),
            TrainCmd::Translate(a) => translate::train::run(a),
            TrainCmd::Music(a) => music::train::run(a),
            TrainCmd::Speech(a) => speech::train::run(a),
        },
        Some(Cmd::Sample(a)) => lm::sample::run(a),
        Some(Cmd::Eval(a)) => lm::eval::run(a),
        Some(Cmd::Classify(a)) => classify::predict::run(a),
        Some(Cmd::Tag(a)) => tag::predict::run(a),
        Some(Cmd::Inspect(a)) => inspect::run(a),
        Some(Cmd::Export(a)) => export::run(a),
        Some(Cmd::Import(a)) => import::run(a),
        Some(Cmd::Quantize(a)) => quantize::run(a),
        Some(Cmd::Bench(a)) => bench::run(a).map_err(anyhow::Error::msg),
        Some(Cmd::Diagnose(a)) => lab::diagnose::run(a),
        Some(Cmd::Lab(c)) => lab::run(c),
        Some(Cmd::Forecast(a)) => forecast::predict::run(a),
        Some(Cmd::Translate(a)) => translate::predict::run(a),
        Some(Cmd::Compose(a)) => music::compose::run(a),
        Some(Cmd::MusicStats(a)) => music::stats::run(a),
        Some(Cmd::Transcribe(a)) => speech::transcribe::run(a),
    };
    if let Err(e) = result {
        // The reader of stdout went away (`| head`): stop quietly, as a process killed by
        // SIGPIPE does (exit 141), rather than report an error nobody asked about.
        let broken_pipe = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if broken_pipe {
            std::process::exit(141);
        }
        let group = ranks::group();
        if group.is_parallel() {
            // Every rank reports its own failure, named; then the job ends as a whole.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "error (rank {} of {}): {}",
                group.rank(),
                group.ranks(),
                report(&e)
            );
            ranks::abort(1);
        }
        say!("error: {}", report(&e));
        std::process::exit(1);
    }
    if common::interrupted() {
        std::process::exit(130);
    }
}

/// The error and its causes on one line. A cause whose text the line already holds is left
/// out: the library's I/O errors quote the OS error they wrap, which anyhow's chain would
/// print a second time. What remains is capped, so that no input, however it reaches a
/// message, makes the error longer than a screen.
fn report(e: &anyhow::Error) -> String {
    const MAX_CHARS: usize = 1500;
    let mut line = String::new();
    for cause in e.chain() {
        let m = cause.to_string();
        if line.contains(&m) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&m);
    }
    let n = line.chars().count();
    if n <= MAX_CHARS {
        return line;
    }
    let head: String = line.chars().take(MAX_CHARS - 300).collect();
    let tail: String = line.chars().skip(n - 300).collect();
    format!("{head} ... ({} characters cut) ... {tail}", n - MAX_CHARS)
}
