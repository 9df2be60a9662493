#!/usr/bin/env bash
# Side-by-side speed of `recurrent bench` and PyTorch (../shared/bench/pytorch_rnn_bench.py)
# on the standard configurations of issue 15, float32, same threads on both sides.
#
#   scripts/bench-vs-pytorch.sh PATH_TO_PYTORCH_BENCH_DIR
#
# The two sides run interleaved (A B A B ...) for ROUNDS rounds and each side's median over
# the rounds is kept, so a slow minute on a shared machine hits both sides alike. Once per
# round the machine's ceilings run too: the FMA peak (`recurrent bench --mode peak`) and the
# memory bandwidth (`--mode bandwidth`), and PyTorch's matmul ceiling (matmul_ceiling.py,
# n = 2048). A run's efficiency is its analytic GFLOP/s over the median FMA peak; step mode,
# bound by moving the weights, is also given against the bandwidth bound (weight bytes per
# step / bandwidth). MKL's ceiling stays a column, not the denominator. LSTM in step mode is
# compared with the faster of PyTorch's --onednn on and off.
#
# Environment (defaults in brackets):
#   PYTHON     the Python with torch                          [~/torch/bin/python]
#   RECURRENT  the recurrent binary          [built here: cargo build --release]
#   ROUNDS     interleaved rounds per configuration            [5]
#   ITERS      timed iterations per run (bench --iters)        [20]
#   WARMUP     warm-up iterations per run                      [3]
#   THREADS    threads on both sides                           [2]
#   CELLS      cells                                           [rnn_tanh lstm gru]
#   CONFIGS    configurations: S-train S-infer M-train M-infer B-train step   [all six]
#   PRECISIONS reduced precisions run beside our f32 on infer and step  [bf16 int8]
#   RAW        file that receives every JSON line              [a temp file, path printed]
# A quick look: ROUNDS=1 ITERS=3 WARMUP=1 scripts/bench-vs-pytorch.sh ../shared/bench
# The whole matrix with the defaults takes about half an hour on 2 cores.
set -euo pipefail

if [[ $# -ne 1 || ! -f "$1/pytorch_rnn_bench.py" || ! -f "$1/matmul_ceiling.py" ]]; then
    echo "usage: $0 PATH_TO_PYTORCH_BENCH_DIR (holding pytorch_rnn_bench.py and matmul_ceiling.py)" >&2
    exit 2
fi
BENCH_DIR=$1
PYTHON=${PYTHON:-$HOME/torch/bin/python}
ROUNDS=${ROUNDS:-5}
ITERS=${ITERS:-20}
WARMUP=${WARMUP:-3}
THREADS=${THREADS:-2}
CELLS=${CELLS:-rnn_tanh lstm gru}
CONFIGS=${CONFIGS:-S-train S-infer M-train M-infer B-train step}
PRECISIONS=${PRECISIONS-bf16 int8}
RAW=${RAW:-$(mktemp -t bench-vs-pytorch.XXXXXX.jsonl)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [[ -z "${RECURRENT:-}" ]]; then
    (cd "$ROOT" && cargo build --release -q -p recurrent-cli)
    RECURRENT=${CARGO_TARGET_DIR:-$ROOT/target}/release/recurrent
    # Benchmark a copy: a shared target directory may be rebuilt while this runs.
    cp "$RECURRENT" "$RAW.bin"
    RECURRENT=$RAW.bin
fi
"$PYTHON" -c 'import torch' || { echo "PYTHON=$PYTHON cannot import torch" >&2; exit 2; }
: >"$RAW"
echo "raw results: $RAW" >&2

# The flags of each configuration (issue 15).
flags() {
    case $1 in
        S-train) echo "--input 64 --hidden 128 --layers 1 --batch 32 --seq 64 --mode train" ;;
        S-infer) echo "--input 64 --hidden 128 --layers 1 --batch 32 --seq 64 --mode infer" ;;
        M-train) echo "--input 256 --hidden 512 --layers 2 --batch 64 --seq 100 --mode train" ;;
        M-infer) echo "--input 256 --hidden 512 --layers 2 --batch 64 --seq 100 --mode infer" ;;
        B-train) echo "--input 256 --hidden 512 --layers 2 --batch 64 --seq 100 --bidirectional --mode train" ;;
        step) echo "--input 64 --hidden 512 --layers 2 --batch 1 --seq 200 --mode step" ;;
        *) echo "unknown configuration $1" >&2; exit 2 ;;
    esac
}

# run TAG CMD...: appends {"tag": TAG, ...the command's JSON line} to RAW.
run() {
    local tag=$1
    shift
    local line
    if ! line=$("$@" | tail -n 1); then
        echo "failed: $*" >&2
        exit 1
    fi
    printf '{"tag": "%s", "round": %d, "result": %s}\n' "$tag" "$round" "$line" >>"$RAW"
}

common="--threads $THREADS --iters $ITERS --warmup $WARMUP"
total=0
for config in $CONFIGS; do for cell in $CELLS; do total=$((total + 1)); done; done
for ((round = 1; round <= ROUNDS; round++)); do
    echo "round $round/$ROUNDS: the machine's ceilings" >&2
    run peak "$RECURRENT" bench --mode peak --threads "$THREADS"
    run bandwidth "$RECURRENT" bench --mode bandwidth --threads "$THREADS" --iters 5
    run ceiling "$PYTHON" "$BENCH_DIR/matmul_ceiling.py" --n 2048 --threads "$THREADS"
    run ours-ceiling "$RECURRENT" bench --mode matmul --n 2048 --threads "$THREADS" --iters 10
    i=0
    for config in $CONFIGS; do
        for cell in $CELLS; do
            i=$((i + 1))
            echo "round $round/$ROUNDS: [$i/$total] $config $cell" >&2
            f=$(flags "$config")
            # shellcheck disable=SC2086
            run "$config/$cell/recurrent" "$RECURRENT" bench --cell "$cell" $f $common
            # shellcheck disable=SC2086
            run "$config/$cell/pytorch" "$PYTHON" "$BENCH_DIR/pytorch_rnn_bench.py" --cell "$cell" $f $common
            if [[ $config == *infer || $config == step ]]; then
                for p in $PRECISIONS; do
                    # shellcheck disable=SC2086
                    run "$config/$cell/recurrent-$p" "$RECURRENT" bench --cell "$cell" $f $common --precision "$p"
                done
            fi
            if [[ $config == step && $cell == lstm ]]; then
                # shellcheck disable=SC2086
                run "$config/$cell/pytorch" "$PYTHON" "$BENCH_DIR/pytorch_rnn_bench.py" --cell "$cell" $f $common --onednn off
            fi
        done
    done
done

CONFIGS="$CONFIGS" CELLS="$CELLS" PRECISIONS="$PRECISIONS" "$PYTHON" - "$RAW" <<'PY'
import json, os, statistics, sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = defaultdict(list)
for r in rows:
    by[r["tag"]].append(r)

def med(tag, key):
    return statistics.median(r["result"][key] for r in by[tag])

ceiling = med("ceiling", "gflops")
ours_ceiling = med("ours-ceiling", "gflops")
peak = med("peak", "gflops")
bandwidth = med("bandwidth", "gb_per_s")
first = rows[0]["result"]
threads = first["threads"]
isa = by["peak"][0]["result"]["isa"]
print(f"float32, {threads} threads, {max(r['round'] for r in rows)} interleaved round(s), medians. "
      f"FMA peak ({isa}): {peak:.1f} GFLOP/s; read bandwidth: {bandwidth:.1f} GB/s; "
      f"matmul n=2048: PyTorch/MKL {ceiling:.1f}, recurrent {ours_ceiling:.1f} GFLOP/s "
      f"({100 * ours_ceiling / peak:.0f}% of the peak).")
print()
print("Efficiency: of the FMA peak (step mode: also of the bandwidth bound, weight bytes per "
      "step / bandwidth). vs MKL: the same GFLOP/s over PyTorch's n=2048 sgemm.")
print()
print("| config | cell | recurrent tok/s | PyTorch tok/s | ratio | recurrent eff. | PyTorch eff. "
      "| recurrent vs MKL | PyTorch vs MKL | recurrent peak MB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}

def weight_bytes(r):
    """f32 bytes of the layer's weights and biases: what one step reads."""
    g, h, d = GATES[r["cell"]], r["hidden"], 2 if r["bidirectional"] else 1
    total = 0
    for k in range(r["layers"]):
        i = r["input"] if k == 0 else d * h
        total += d * (g * h * (i + h) + 2 * g * h)
    return 4 * total

def eff(config, r_tps, r_gf, r):
    e = f"{100 * r_gf / peak:.0f}%"
    if config == "step":
        step_s = r["batch"] / r_tps
        bound_s = weight_bytes(r) / (bandwidth * 1e9)
        e += f" ({100 * bound_s / step_s:.0f}% of bw)"
    return e

for config in os.environ["CONFIGS"].split():
    for cell in os.environ["CELLS"].split():
        ours = f"{config}/{cell}/recurrent"
        theirs = f"{config}/{cell}/pytorch"
        if not by[ours] or not by[theirs]:
            continue
        o_tps, o_gf = med(ours, "tokens_per_s"), med(ours, "gflops")
        # LSTM step runs PyTorch twice per round (oneDNN on, off): keep the faster setting.
        if config == "step" and cell == "lstm":
            on = [r for i, r in enumerate(by[theirs]) if i % 2 == 0]
            off = [r for i, r in enumerate(by[theirs]) if i % 2 == 1]
            cands = [statistics.median(x["result"]["tokens_per_s"] for x in s) for s in (on, off) if s]
            gfs = [statistics.median(x["result"]["gflops"] for x in s) for s in (on, off) if s]
            k = max(range(len(cands)), key=lambda j: cands[j])
            t_tps, t_gf = cands[k], gfs[k]
            note = " (oneDNN " + ("on" if k == 0 else "off") + ")"
        else:
            t_tps, t_gf = med(theirs, "tokens_per_s"), med(theirs, "gflops")
            note = ""
        rss = med(ours, "peak_rss_mb")
        r = by[ours][0]["result"]
        print(f"| {config} | {cell}{note} | {o_tps:,.0f} | {t_tps:,.0f} | {o_tps / t_tps:.2f}x "
              f"| {eff(config, o_tps, o_gf, r)} | {eff(config, t_tps, t_gf, r)} "
              f"| {100 * o_gf / ceiling:.0f}% | {100 * t_gf / ceiling:.0f}% | {rss:.0f} |")

precisions = os.environ["PRECISIONS"].split()
if precisions:
    print()
    print("Reduced precision against our f32, same rounds. Weights: the bytes of weight matrices "
          "one step reads; bw: the step's time against that over the read bandwidth. Peak MB: "
          "the process's resident peak.")
    print()
    head = "| config | cell | f32 tok/s |"
    for p in precisions:
        head += f" {p} tok/s | {p}/f32 | {p} weights MB | {p} peak MB |"
    print(head)
    print("|---|---|---:|" + "---:|---:|---:|---:|" * len(precisions))
    for config in os.environ["CONFIGS"].split():
        if not (config.endswith("infer") or config == "step"):
            continue
        for cell in os.environ["CELLS"].split():
            ours = f"{config}/{cell}/recurrent"
            if not by[ours]:
                continue
            f_tps = med(ours, "tokens_per_s")
            row = f"| {config} | {cell} | {f_tps:,.0f} |"
            for p in precisions:
                tag = f"{ours}-{p}"
                if not by[tag]:
                    row += " | | | |"
                    continue
                q = by[tag][0]["result"]
                q_tps = med(tag, "tokens_per_s")
                wb = q["weight_bytes"]
                ratio = f"{q_tps / f_tps:.2f}x"
                if config == "step":
                    bound_s = wb / (bandwidth * 1e9)
                    ratio += f" ({100 * bound_s / (q['batch'] / q_tps):.0f}% of bw)"
                row += f" {q_tps:,.0f} | {ratio} | {wb / 1e6:.1f} | {med(tag, 'peak_rss_mb'):.0f} |"
            print(row)
PY
