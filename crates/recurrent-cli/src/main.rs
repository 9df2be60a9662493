//! `recurrent`: train, sample, evaluate, inspect and benchmark recurrent networks. A thin
//! shell over the library: each subcommand is one file of flags and calls.

mod bench;
mod classify;
mod common;
mod compose;
mod corpus;
mod demo;
mod diagnose;
mod eval;
mod forecast;
mod inspect;
mod lab;
mod music_stats;
mod plot;
mod sample;
mod tag;
mod train_classify;
mod train_forecast;
mod train_lm;
mod train_music;
mod train_speech;
mod train_tag;
mod train_translate;
mod transcribe;
mod translate;

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
    /// Time a recurrent layer (train, infer, step) or the matrix product, printing the
    /// one-line JSON of ../shared/bench/pytorch_rnn_bench.py (or matmul_ceiling.py)
    Bench(bench::BenchArgs),
    /// Gradient flow: |dL/dh_t| per step and layer, singular values, verdict and a PNG
    Diagnose(diagnose::DiagnoseArgs),
    /// Experiments on vanishing and exploding gradients (`lab long-range`, `lab clipping`)
    #[command(subcommand)]
    Lab(lab::LabCmd),
    /// Forecast the rows after a CSV series with a trained forecaster (CSV out, PNG plot)
    Forecast(forecast::ForecastCmdArgs),
    /// Translate each line of stdin with a trained encoder-decoder (one line out per line
    /// in; `--nbest K`: K lines `score<TAB>text`)
    Translate(translate::TranslateArgs),
    /// Compose folk tunes in ABC with a trained music model (`--midi DIR` renders them)
    Compose(compose::ComposeArgs),
    /// Validity of composed tunes next to the corpus's test tunes (parse, bars, repeats, tonic)
    MusicStats(music_stats::MusicStatsArgs),
    /// The digits spoken in WAV files: `path<TAB>digits<TAB>confidence` per file
    Transcribe(transcribe::TranscribeArgs),
}

#[derive(Subcommand)]
enum TrainCmd {
    /// A character- or word-level language model (truncated BPTT over a text)
    Lm(train_lm::LmArgs),
    /// A sentence classifier (sentiment): labelled lines, CSV, or one file per class
    Classify(train_classify::ClassifyArgs),
    /// A part-of-speech (or any CoNLL-U column) tagger from CoNLL-U files
    Tag(train_tag::TagArgs),
    /// A time-series forecaster from a CSV file, tested against naive, seasonal naive and drift
    Forecast(train_forecast::ForecastArgs),
    /// An encoder-decoder (translation) from `source<TAB>target` pairs, with optional
    /// attention, scored by BLEU; or a synthetic string task (`--synthetic reverse`)
    Translate(train_translate::TranslateArgs),
    /// A language model over ABC tunes (musical tokens, one sequence per tune)
    Music(train_music::MusicArgs),
    /// A spoken-digit recogniser from a folder of WAVs ({digit}_{speaker}_{index}.wav)
    Speech(Box<train_speech::SpeechArgs>),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.cmd {
        None => demo::run(),
        Some(Cmd::Train(t)) => match t.as_ref() {
            TrainCmd::Lm(a) => train_lm::run(a),
            TrainCmd::Classify(a) => train_classify::run(a),
            TrainCmd::Tag(a) => train_tag::run(a),
            TrainCmd::Forecast(a) => train_forecast::run(a),
            TrainCmd::Translate(a) => train_translate::run(a),
            TrainCmd::Music(a) => train_music::run(a),
            TrainCmd::Speech(a) => train_speech::run(a),
        },
        Some(Cmd::Sample(a)) => sample::run(a),
        Some(Cmd::Eval(a)) => eval::run(a),
        Some(Cmd::Classify(a)) => classify::run(a),
        Some(Cmd::Tag(a)) => tag::run(a),
        Some(Cmd::Inspect(a)) => inspect::run(a),
        Some(Cmd::Bench(a)) => bench::run(a).map_err(anyhow::Error::msg),
        Some(Cmd::Diagnose(a)) => diagnose::run(a),
        Some(Cmd::Lab(c)) => lab::run(c),
        Some(Cmd::Forecast(a)) => forecast::run(a),
        Some(Cmd::Translate(a)) => translate::run(a),
        Some(Cmd::Compose(a)) => compose::run(a),
        Some(Cmd::MusicStats(a)) => music_stats::run(a),
        Some(Cmd::Transcribe(a)) => transcribe::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
