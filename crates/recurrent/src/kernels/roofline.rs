//! What the machine can do at most, measured the way a roofline tool does: the FMA peak of
//! the widest vector unit the CPU offers, and the bandwidth of a streaming read. These are
//! the denominators of every efficiency the benchmarks report (MKL's sgemm is not the
//! machine's ceiling on AMD; a weight-bound step is bounded by bandwidth, not flops).
//!
//! - Peak: each thread runs a loop of independent fused multiply-adds on 12 vector
//!   accumulators (enough to cover the FMA latency on every current core), so nothing but
//!   the FMA units limits it: flops = threads * iterations * 12 * lanes * 2.
//! - Bandwidth: each thread sums its share of a buffer with 16 independent accumulators;
//!   bytes read / wall time. Larger than the last-level cache, it is the memory's; inside L2,
//!   the cache's.
//!
//! Each figure is the best of several repetitions: a peak is what the machine can reach,
//! and a slower repetition only measures interference.

use super::simd::Level;
use std::time::Instant;

/// f32 lanes of one vector register at `level` (the portable loop keeps 8 scalar
/// accumulators per slot, see `fma_loop_portable`).
fn lanes(level: Level) -> usize {
    match level {
        Level::Avx512 => 16,
        Level::Avx2 => 8,
        Level::Base => 8,
    }
}

const ACC: usize = 12;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_loop_avx512(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_ps(0.999_999);
    let b = _mm512_set1_ps(1e-6);
    let mut acc = [_mm512_set1_ps(0.5); ACC];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    let mut s = _mm512_setzero_ps();
    for v in acc {
        s = _mm512_add_ps(s, v);
    }
    _mm512_reduce_add_ps(s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop_avx2(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm256_set1_ps(0.999_999);
    let b = _mm256_set1_ps(1e-6);
    let mut acc = [_mm256_set1_ps(0.5); ACC];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let mut out = [0f32; 8];
    let mut s = _mm256_setzero_ps();
    for v in acc {
        s = _mm256_add_ps(s, v);
    }
    _mm256_storeu_ps(out.as_mut_ptr(), s);
    out.iter().sum()
}

/// A multiply and an add, not `mul_add`: without the FMA instruction that is a library call,
/// and the portable path measures what portable code gets (the compiler's own vectors).
fn fma_loop_portable(iters: u64) -> f32 {
    let (a, b) = (0.999_999f32, 1e-6f32);
    let mut acc = [0.5f32; ACC * 8];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = *v * a + b;
        }
    }
    acc.iter().sum::<f32>() / 8.0
}

/// The loop at `level`, or the best level this CPU has below it.
fn fma_loop(level: Level, iters: u64) -> f32 {
    match level.min(super::simd::detected()) {
        // SAFETY: capped at what the CPU reports (`simd::detected`).
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { fma_loop_avx512(iters) },
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { fma_loop_avx2(iters) },
        _ => fma_loop_portable(iters),
    }
}

/// Runs `work` on `threads` threads at once; returns the wall time of the slowest.
fn on_threads(threads: usize, work: &(dyn Fn(usize) + Sync)) -> f64 {
    let barrier = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                work(t);
            });
        }
        barrier.wait();
        let t0 = Instant::now();
        // The scope joins every thread before returning.
        t0
    })
    .elapsed()
    .as_secs_f64()
}

/// The FMA peak in GFLOP/s (f32) at `level` on `threads` threads: the best of `reps` runs
/// of about `seconds` each.
pub fn fma_peak(level: Level, threads: usize, seconds: f64, reps: usize) -> f64 {
    let isa = level.min(super::simd::detected());
    let flops_per_iter = (ACC * lanes(isa) * 2) as f64;
    // Calibrate on one thread: iterations for about `seconds`.
    let probe = 1_000_000u64;
    let t0 = Instant::now();
    std::hint::black_box(fma_loop(isa, probe));
    let per_iter = t0.elapsed().as_secs_f64() / probe as f64;
    let iters = ((seconds / per_iter.max(1e-12)) as u64).max(probe);
    (0..reps.max(1))
        .map(|_| {
            let t = on_threads(threads, &|_| {
                std::hint::black_box(fma_loop(isa, iters));
            });
            threads as f64 * iters as f64 * flops_per_iter / t / 1e9
        })
        .fold(0.0, f64::max)
}

fn sum_slice(v: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = v.chunks_exact(16);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += *x;
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// The read bandwidth in GB/s over a buffer of `bytes` on `threads` threads, each summing
/// its share `passes` times: the best of `reps` runs.
pub fn read_bandwidth(bytes: usize, threads: usize, passes: usize, reps: usize) -> f64 {
    let n = (bytes / 4).max(16 * threads);
    // Written once so every page is really mapped before anything is timed.
    let buf: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
    let share = n.div_ceil(threads);
    let read = |t: usize| {
        let lo = (t * share).min(n);
        let hi = ((t + 1) * share).min(n);
        for _ in 0..passes {
            std::hint::black_box(sum_slice(std::hint::black_box(&buf[lo..hi])));
        }
    };
    read(0);
    (0..reps.max(1))
        .map(|_| {
            let t = on_threads(threads, &read);
            (n * 4 * passes) as f64 / t / 1e9
        })
        .fold(0.0, f64::max)
}

/// The last-level cache's size in bytes, from Linux's sysfs (None elsewhere).
pub fn last_level_cache_bytes() -> Option<usize> {
    let mut best = None;
    for i in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let Ok(size) = std::fs::read_to_string(format!("{dir}/size")) else {
            break;
        };
        let s = size.trim();
        let bytes = if let Some(k) = s.strip_suffix('K') {
            k.parse::<usize>().ok().map(|v| v << 10)
        } else if let Some(m) = s.strip_suffix('M') {
            m.parse::<usize>().ok().map(|v| v << 20)
        } else {
            s.parse().ok()
        };
        if bytes.is_some() {
            best = bytes.max(best);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_available_unit_computes_the_same_bounded_recurrence() {
        // acc <- acc * a + b converges to b / (1 - a) = 1 from 0.5: all paths agree, and
        // the value stays finite however long the loop runs.
        let want = fma_loop_portable(10_000);
        for level in super::super::simd::available() {
            // The vector loops sum every lane; the portable one already sums to 12 slots.
            let per_slot = if level == Level::Base {
                1.0
            } else {
                lanes(level) as f32
            };
            let got = fma_loop(level, 10_000) / per_slot;
            assert!(
                (got - want).abs() < 1e-3 * want,
                "{level:?}: {got} vs {want}"
            );
        }
        assert!(want.is_finite() && want > 6.0 && want < 12.0);
    }

    #[test]
    fn a_sum_is_a_sum() {
        let v: Vec<f32> = (0..1000).map(|i| (i % 7) as f32).collect();
        assert_eq!(sum_slice(&v), v.iter().sum::<f32>());
    }
}
