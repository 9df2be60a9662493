#!/usr/bin/env bash
# Leave-one-speaker-out accuracy of an ensemble: for each speaker S, `recurrent transcribe`
# with the checkpoints RUN/S of every RUN given (outputs of scripts/speech_loso.sh, each
# holding one model per held-out speaker), their digit probabilities averaged, over all of
# S's recordings; prints a table of per-speaker accuracy and the mean.
# Usage: scripts/speech_loso_ensemble.sh RECURRENT_BIN DATA_DIR LOSO_OUT_DIR...
set -euo pipefail
bin=$1 data=$2
shift 2
speakers=$(ls "$data" | sed -n 's/^[0-9]_\([^_]*\)_[0-9]*\.wav$/\1/p' | sort -u)
echo "| held-out speaker | ensemble of $# | "
echo "|---|---|"
total=0 n=0
for s in $speakers; do
  cks=()
  for run in "$@"; do cks+=(--checkpoint "$run/$s"); done
  acc=$("$bin" transcribe "${cks[@]}" "$data"/*_"$s"_*.wav | awk -F'\t' '
    { n++; f=$1; sub(/.*\//, "", f); split(f, p, "_"); if (p[1] == $2) ok++ }
    END { printf "%.4f", ok / n }')
  echo "| $s | $acc |"
  total=$(awk -v t="$total" -v a="$acc" 'BEGIN { print t + a }'); n=$((n + 1))
done
awk -v t="$total" -v n="$n" 'BEGIN { printf "| mean | %.4f |\n", t / n }'
