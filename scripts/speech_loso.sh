#!/usr/bin/env bash
# Leave-one-speaker-out over the speakers of a FSDD-style folder: one `train speech
# --holdout-speaker S` per speaker, then a table of per-speaker test accuracy and the mean.
# Usage: scripts/speech_loso.sh RECURRENT_BIN DATA_DIR OUT_DIR [extra train flags...]
set -euo pipefail
bin=$1 data=$2 out=$3
shift 3
mkdir -p "$out"
speakers=$(ls "$data" | sed -n 's/^[0-9]_\([^_]*\)_[0-9]*\.wav$/\1/p' | sort -u)
for s in $speakers; do
  if [ ! -f "$out/$s/results.json" ]; then
    "$bin" train speech --data "$data" --holdout-speaker "$s" --out "$out/$s" "$@" --json \
      > "$out/$s.json" 2> "$out/$s.log"
  fi
done
python3 - "$out" $speakers <<'PY'
import json, sys
out, speakers = sys.argv[1], sys.argv[2:]
accs = []
print("| held-out speaker | test accuracy | train_s |")
print("|---|---|---|")
for s in speakers:
    r = json.load(open(f"{out}/{s}/results.json"))
    a = r["test"]["accuracy"]
    accs.append(a)
    print(f"| {s} | {a:.4f} | {r['train_s']:.0f} |")
print(f"| mean | {sum(accs)/len(accs):.4f} | |")
PY
