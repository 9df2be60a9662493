//! `recurrent bench`: the engine's side of the speed comparison with PyTorch.
//!
//! Same flags, semantics and one-line JSON as the PyTorch benchmark `pytorch_rnn_bench.py` (plus
//! `peak_rss_mb`), so the two sides can be run interleaved and compared line by line:
//! - `train`: forward over [T, B, I] from a zero state, loss = sum(output * R), backward,
//!   SGD update w -= 1e-5 * g of every parameter, zero the gradients;
//! - `infer`: the forward only;
//! - `step`: streaming, T calls of one time step [B, I] each carrying the state; the
//!   statistics are per step.
//!
//! `--mode matmul --n N` times the engine's own f32 matrix product on n x n and prints
//! matmul_ceiling.py's keys. `--mode peak` and `--mode bandwidth` measure the machine's
//! ceilings (`recurrent::kernels::roofline`): `op`, `isa`, `threads`, `gflops`, and `op`,
//! `bytes`, `threads`, `gb_per_s`.

use clap::{Args, ValueEnum};
use recurrent::kernels::quant::{self, Precision};
use recurrent::kernels::{self, simd, MatMut, MatRef};
use recurrent::{CellKind, Module, Rng, Rnn, RnnConfig, StepScratch, Tensor};
use serde::Serialize;
use std::time::Instant;

/// What one timed iteration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Forward, loss, backward, SGD update.
    Train,
    /// Forward only.
    Infer,
    /// T single-step calls carrying the state (batch streaming); times per step.
    Step,
    /// The engine's f32 matrix product on n x n (matmul_ceiling.py's output).
    Matmul,
    /// The FMA peak of the widest vector unit (RECURRENT_ISA=avx512|avx2|portable forces
    /// one): the denominator of every efficiency.
    Peak,
    /// The read bandwidth over --bytes (default: 4x the last-level cache, at least 256 MiB):
    /// what a weight-bound step is bounded by.
    Bandwidth,
}

/// Flags of `recurrent bench` (pytorch_rnn_bench.py's, plus `--n` for `--mode matmul`).
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Cell: rnn_tanh, rnn_relu, lstm, gru, mingru, minlstm, lstm_ln or gru_ln (aliases: rnn, irnn; `-` for `_`).
    #[arg(long, value_parser = parse_cell)]
    cell: Option<CellKind>,
    /// Input features I.
    #[arg(long)]
    input: Option<usize>,
    /// Hidden size H.
    #[arg(long)]
    hidden: Option<usize>,
    /// Stacked layers L.
    #[arg(long)]
    layers: Option<usize>,
    /// Batch B.
    #[arg(long)]
    batch: Option<usize>,
    /// Sequence length T.
    #[arg(long)]
    seq: Option<usize>,
    /// Two directions (not with --mode step).
    #[arg(long)]
    bidirectional: bool,
    /// What one timed iteration is.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Threads for the matrix products and the parallel passes, 1 to 256.
    #[arg(long, default_value_t = 2, value_parser = crate::common::threads_flag)]
    threads: usize,
    /// Timed iterations.
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Untimed warm-up iterations.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Seed of the weights, the input and R.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Matrix size for --mode matmul (n x n by n x n).
    #[arg(long, default_value_t = 2048)]
    n: usize,
    /// --mode infer and step only.
    #[command(flatten)]
    precision: crate::common::PrecisionArg,
    /// Buffer size for --mode bandwidth [default: 4x the last-level cache, at least 256 MiB]
    #[arg(long)]
    bytes: Option<usize>,
}

/// The JSON line of `--mode peak`.
#[derive(Serialize)]
struct PeakRecord {
    #[serde(rename = "impl")]
    implementation: &'static str,
    version: &'static str,
    op: &'static str,
    isa: &'static str,
    threads: usize,
    gflops: f64,
}

/// The JSON line of `--mode bandwidth`.
#[derive(Serialize)]
struct BandwidthRecord {
    #[serde(rename = "impl")]
    implementation: &'static str,
    version: &'static str,
    op: &'static str,
    bytes: usize,
    threads: usize,
    gb_per_s: f64,
}

/// `--mode peak`: the best of --iters runs of about 0.2 s each, on the level the kernels
/// use (the widest the CPU has, or RECURRENT_ISA's).
fn peak(a: &BenchArgs) -> Result<(), String> {
    let level = simd::level();
    print_json(&PeakRecord {
        implementation: "recurrent",
        version: env!("CARGO_PKG_VERSION"),
        op: "fma_peak",
        isa: level.name(),
        threads: a.threads,
        gflops: recurrent::kernels::roofline::fma_peak(level, a.threads, 0.2, a.iters.min(20)),
    })
}

/// `--mode bandwidth`: the best of --iters runs, each reading the buffer about 1 GB worth.
fn bandwidth(a: &BenchArgs) -> Result<(), String> {
    use recurrent::kernels::roofline::{last_level_cache_bytes, read_bandwidth};
    let bytes = match a.bytes {
        Some(0) => return Err("--bytes must be >= 1".into()),
        Some(b) if b > 1 << 36 => return Err("--bytes must be at most 64 GiB".into()),
        Some(b) => b,
        None => last_level_cache_bytes().map_or(256 << 20, |l| (4 * l).max(256 << 20)),
    };
    let passes = ((1usize << 30) / bytes).max(1);
    print_json(&BandwidthRecord {
        implementation: "recurrent",
        version: env!("CARGO_PKG_VERSION"),
        op: "read_bandwidth",
        bytes,
        threads: a.threads,
        gb_per_s: read_bandwidth(bytes, a.threads, passes, a.iters.min(20)),
    })
}

/// The one JSON line of a layer run, keys in pytorch_rnn_bench.py's order.
#[derive(Serialize)]
struct RnnRecord {
    #[serde(rename = "impl")]
    implementation: &'static str,
    version: &'static str,
    cell: &'static str,
    mode: &'static str,
    input: usize,
    hidden: usize,
    layers: usize,
    batch: usize,
    seq: usize,
    bidirectional: bool,
    threads: usize,
    median_s: f64,
    p10_s: f64,
    p90_s: f64,
    tokens_per_s: f64,
    gflops: f64,
    peak_rss_mb: Option<f64>,
    /// The kernels' dispatch path (RECURRENT_ISA forces one).
    isa: &'static str,
    /// f32, bf16 or int8.
    precision: &'static str,
    /// The quantized products' path (avx512-vnni, avx-vnni, avx512-bf16, portable); None
    /// in f32.
    quant_path: Option<&'static str>,
    /// Bytes of weight matrices one time step reads.
    weight_bytes: usize,
}

/// The one JSON line of `--mode matmul`, keys in matmul_ceiling.py's order.
#[derive(Serialize)]
struct MatmulRecord {
    #[serde(rename = "impl")]
    implementation: &'static str,
    version: &'static str,
    op: &'static str,
    n: usize,
    threads: usize,
    median_s: f64,
    p10_s: f64,
    p90_s: f64,
    gflops: f64,
    peak_rss_mb: Option<f64>,
    isa: &'static str,
}

fn print_json(rec: &impl Serialize) -> Result<(), String> {
    let line = serde_json::to_string(rec).map_err(|e| e.to_string())?;
    out!("{line}");
    Ok(())
}

fn parse_cell(s: &str) -> Result<CellKind, String> {
    s.parse().map_err(|e: recurrent::Error| e.to_string())
}

/// Linear interpolation between closest ranks (numpy's default), as the Python side.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.len() == 1 {
        return sorted[0];
    }
    let pos = (sorted.len() - 1) as f64 * q;
    let lo = pos as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Peak resident memory in MiB (VmHWM of /proc/self/status), `None` where unavailable.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs `one_iter` `warmup` times untimed, then `iters` times timed; returns the sorted
/// per-iteration times divided by `per`.
fn time_it(warmup: usize, iters: usize, per: f64, mut one_iter: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        one_iter();
    }
    let mut times: Vec<f64> = (0..iters)
        .map(|_| {
            let t0 = Instant::now();
            one_iter();
            t0.elapsed().as_secs_f64() / per
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

/// Forward flops per token, per the Python side: per layer and direction 2 G H (I_l + H).
fn forward_flops_per_token(cell: CellKind, i: usize, h: usize, l: usize, bidi: bool) -> f64 {
    let (g, d) = (cell.gates(), if bidi { 2 } else { 1 });
    (0..l)
        .map(|k| {
            let il = if k == 0 { i } else { h * d };
            // The minimal cells have no recurrent product: their flops are W_ih's only.
            let recurrent = if cell.is_minimal() { 0 } else { h };
            (d * 2 * g * h * (il + recurrent)) as f64
        })
        .sum()
}

/// A standard normal tensor; refuses shapes beyond 2^31 elements (the flags' product).
fn random(shape: &[usize], rng: &mut Rng) -> Result<Tensor<f32>, String> {
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= 1 << 31)
        .ok_or_else(|| format!("a tensor of shape {shape:?} is too large to benchmark"))?;
    let v = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_vec(shape, v).map_err(|e| e.to_string())
}

/// `recurrent bench`: prints one JSON line on stdout.
pub fn run(a: &BenchArgs) -> Result<(), String> {
    // --threads is kept in range by its parser.
    if a.iters < 1 {
        return Err("--iters must be >= 1".into());
    }
    kernels::set_threads(a.threads);
    match a.mode {
        Mode::Matmul => return matmul(a),
        Mode::Peak => return peak(a),
        Mode::Bandwidth => return bandwidth(a),
        _ => {}
    }
    let need = |v: Option<usize>, flag: &str| -> Result<usize, String> {
        match v {
            Some(0) => Err(format!("--{flag} must be >= 1")),
            Some(v) => Ok(v),
            None => Err(format!("--{flag} is required for this --mode")),
        }
    };
    let cell = a
        .cell
        .ok_or_else(|| "--cell is required (rnn_tanh, rnn_relu, lstm or gru)".to_string())?;
    let (i, h, l) = (
        need(a.input, "input")?,
        need(a.hidden, "hidden")?,
        need(a.layers, "layers")?,
    );
    let (b, t) = (need(a.batch, "batch")?, need(a.seq, "seq")?);
    if a.mode == Mode::Step && a.bidirectional {
        return Err(
            "--mode step streams one time step at a time; it cannot be --bidirectional".into(),
        );
    }
    let d = if a.bidirectional { 2 } else { 1 };
    let cfg = RnnConfig::new(cell, i, h)
        .layers(l)
        .bidirectional(a.bidirectional);
    let mut rng = Rng::new(a.seed);
    let mut model: Rnn<f32> =
        Rnn::new(cfg, &Default::default(), &mut rng).map_err(|e| e.to_string())?;
    let x = random(&[t, b, i], &mut rng)?;
    if a.precision.get() != Precision::F32 {
        if a.mode == Mode::Train {
            return Err(format!(
                "--precision {} is for inference: use --mode infer or step (training runs in f32)",
                a.precision.get()
            ));
        }
        a.precision
            .apply(&mut model, None)
            .map_err(|e| e.to_string())?;
    }

    let times = match a.mode {
        Mode::Train => {
            let r = random(&[t, b, d * h], &mut rng)?;
            let lr = 1e-5f32;
            let mut failed = None;
            let times = time_it(a.warmup, a.iters, 1.0, || {
                let res = model.forward(&x, None, None, None).and_then(|(_, cache)| {
                    // d(sum(output * R)) / d(output) = R.
                    model.backward(&cache, &r, None, None)
                });
                if let Err(e) = res {
                    failed = Some(e.to_string());
                }
                model.visit_mut(&mut |p| {
                    p.value
                        .data_mut()
                        .iter_mut()
                        .zip(p.grad.data())
                        .for_each(|(w, g)| *w -= lr * *g);
                });
                model.zero_grad();
            });
            if let Some(e) = failed {
                return Err(e);
            }
            let mut finite = true;
            model.visit(&mut |p| finite &= p.value.data().iter().all(|v| v.is_finite()));
            if !finite {
                say!("warning: parameters became non-finite during training");
            }
            times
        }
        Mode::Infer => {
            let mut failed = None;
            let times = time_it(a.warmup, a.iters, 1.0, || {
                if let Err(e) = model.forward(&x, None, None, None) {
                    failed = Some(e.to_string());
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            times
        }
        Mode::Step => {
            let state0 = model.zero_state(b);
            let mut state = state0.clone();
            let mut scratch = StepScratch::default();
            let mut failed = None;
            let xs = x.data();
            let n = b * i;
            let times = time_it(a.warmup, a.iters, t as f64, || {
                state.h.data_mut().copy_from_slice(state0.h.data());
                if let (Some(c), Some(c0)) = (&mut state.c, &state0.c) {
                    c.data_mut().copy_from_slice(c0.data());
                }
                for xt in xs.chunks_exact(n) {
                    if let Err(e) = model.step(xt, &mut state, &mut scratch) {
                        failed = Some(e.to_string());
                        return;
                    }
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            times
        }
        Mode::Matmul | Mode::Peak | Mode::Bandwidth => unreachable!("handled above"),
    };

    print_json(&record(a, &model, &times))
}

/// The JSON line of a layer run from its sorted times.
fn record(a: &BenchArgs, model: &Rnn<f32>, times: &[f64]) -> RnnRecord {
    let c = model.config();
    let (cell, i, h, l) = (c.cell, c.input_size, c.hidden_size, c.num_layers);
    let (b, t) = (a.batch.unwrap_or(1), a.seq.unwrap_or(1));
    let median = percentile(times, 0.5);
    let fpt = forward_flops_per_token(cell, i, h, l, a.bidirectional);
    let (tokens, flops) = match a.mode {
        Mode::Step => (b as f64, b as f64 * fpt),
        Mode::Train => ((b * t) as f64, (b * t) as f64 * fpt * 3.0),
        _ => ((b * t) as f64, (b * t) as f64 * fpt),
    };
    RnnRecord {
        implementation: "recurrent",
        version: env!("CARGO_PKG_VERSION"),
        cell: cell.name(),
        mode: match a.mode {
            Mode::Train => "train",
            Mode::Infer => "infer",
            _ => "step",
        },
        input: i,
        hidden: h,
        layers: l,
        batch: b,
        seq: t,
        bidirectional: a.bidirectional,
        threads: a.threads,
        median_s: median,
        p10_s: percentile(times, 0.1),
        p90_s: percentile(times, 0.9),
        tokens_per_s: tokens / median,
        gflops: flops / median / 1e9,
        peak_rss_mb: peak_rss_mb(),
        isa: simd::level().name(),
        precision: a.precision.get().name(),
        quant_path: (a.precision.get() != Precision::F32)
            .then(|| quant::path(a.precision.get()).name()),
        weight_bytes: model.weight_bytes(),
    }
}

/// `--mode matmul`: the engine's f32 gemm on n x n, as matmul_ceiling.py times torch.mm.
fn matmul(a: &BenchArgs) -> Result<(), String> {
    let n = a.n;
    if n == 0 {
        return Err("--n must be >= 1".into());
    }
    let mut rng = Rng::new(a.seed);
    let x = random(&[n, n], &mut rng)?;
    let y = random(&[n, n], &mut rng)?;
    let mut c = vec![0f32; n * n];
    let times = time_it(a.warmup, a.iters, 1.0, || {
        kernels::gemm(
            1.0,
            MatRef::new(x.data(), n, n),
            MatRef::new(y.data(), n, n),
            0.0,
            MatMut::new(&mut c, n, n),
        )
    });
    let median = percentile(&times, 0.5);
    let rec = MatmulRecord {
        implementation: "recurrent",
        version: env!("CARGO_PKG_VERSION"),
        op: "mm_f32",
        n,
        threads: a.threads,
        median_s: median,
        p10_s: percentile(&times, 0.1),
        p90_s: percentile(&times, 0.9),
        gflops: 2.0 * (n as f64).powi(3) / median / 1e9,
        peak_rss_mb: peak_rss_mb(),
        isa: simd::level().name(),
    };
    print_json(&rec)
}
