#!/bin/bash
# Usage (from the repository root): build with `cargo +nightly fuzz build`, strip the binaries
# of fuzz/target/x86_64-unknown-linux-gnu/release/ and pack them as .fuzzbin/fuzzbin.tar.xz
# (so they travel to a bigger machine), then `OUT=dir bash scripts/fuzz-all.sh`.
# Runs every fuzz target for 550 s in parallel, two workers each (libFuzzer -fork=2), then packs logs + artifacts.
set -u
mkdir -p /tmp/fb /tmp/log /tmp/art && tar -C /tmp/fb -xJf .fuzzbin/fuzzbin.tar.xz
echo "cpus: $(nproc)"; grep -m1 "model name" /proc/cpuinfo
for t in $(ls /tmp/fb); do
  mkdir -p /tmp/w/$t
  /tmp/fb/$t /tmp/w/$t fuzz/corpus/$t -fork=2 -max_total_time=550 -max_len=65536 -malloc_limit_mb=512 -rss_limit_mb=2048 \
     -artifact_prefix=/tmp/art/$t- -print_final_stats=1 > /tmp/log/$t.log 2>&1 &
done
wait
for t in $(ls /tmp/fb); do echo "== $t"; grep -E "^#[0-9]+|ERROR|SUMMARY|crash|Done" /tmp/log/$t.log | tail -n 4; ls /tmp/w/$t | wc -l; done
ls -la /tmp/art
tar -C /tmp -czf $OUT/fuzz-results.tar.gz log art
