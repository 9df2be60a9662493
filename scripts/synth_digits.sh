#!/usr/bin/env bash
# Synthetic spoken digits for `recurrent train speech --extra-train DIR`: the ten digit
# words in many espeak-ng voices (accents x voice variants), each said REPS times at a
# random pitch and speed, written as {digit}_{voice}_{rep}.wav (the FSDD layout; espeak-ng
# writes 22,050 Hz, which training resamples to the model's rate).
#
#   scripts/synth_digits.sh OUT_DIR [REPS] [SEED]
#
# Needs espeak-ng (Debian: apt-get install espeak-ng); nothing else in the project does.
# Why: four training speakers teach a model those four voices; formant-synthesised voices
# are crude, but they vary what the real ones hold still (vocal tract, pitch, rate, accent).
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [REPS] [SEED]}
reps=${2:-2}
seed=${3:-0}
command -v espeak-ng >/dev/null || { echo "espeak-ng not found (apt-get install espeak-ng)" >&2; exit 2; }
mkdir -p "$out"
words=(zero one two three four five six seven eight nine)
accents=(en-us en-gb en-gb-scotland en-gb-x-rp en-029 en-us-nyc en-gb-x-gbclan en-gb-x-gbcwmd)
variants=(m1 m2 m3 m4 m5 m6 m7 f1 f2 f3 f4 f5 klatt klatt2 klatt3)
RANDOM=$seed
n=0
for a in "${!accents[@]}"; do
  for v in "${!variants[@]}"; do
    voice="es${a}x${v}"
    for r in $(seq 0 $((reps - 1))); do
      for d in "${!words[@]}"; do
        pitch=$((20 + RANDOM % 61))   # espeak-ng's 0-99 scale, default 50
        speed=$((120 + RANDOM % 81))  # words per minute, default 175
        espeak-ng -v "${accents[$a]}+${variants[$v]}" -p "$pitch" -s "$speed" \
          -w "$out/${d}_${voice}_${r}.wav" "${words[$d]}"
        n=$((n + 1))
      done
    done
  done
done
echo "$n recordings in $out" >&2
