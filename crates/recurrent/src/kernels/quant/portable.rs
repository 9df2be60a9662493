//! The portable tiles: plain loops over the panel layout, with the same integer sums as the
//! VNNI tiles (so the same bits) and f32 sums of exact bf16 products.
//!
//! The bf16 loop is written so that a compiler vectorises it (each half widened to f32 with
//! a shift, even and odd halves apart) and, on x86-64, is also compiled for AVX2 and
//! AVX-512 and chosen at run time: a CPU with wide vectors but no AVX512_BF16 (Zen 2 to 3,
//! Intel before Cooper Lake) ran bf16 4x slower than f32 through the baseline (SSE2) copy
//! of the loop as it was first written. int8 without VNNI has its own AVX2 tile
//! (`x86::i8_avx2`); this loop is the fallback for everything else.

use super::{finish_i8, Job, Tile, TileOut, PANEL};

/// Bytes of a panel's group: 16 lanes x 4 bytes (int8) or x 2 bf16 values.
const G: usize = 64;

/// int8 tile: per lane i, sum over groups of the 4 unsigned x signed byte products.
///
/// # Safety
/// The job's pointers cover its shape.
pub(super) unsafe fn i8_tile(job: &Job, out: &mut TileOut) {
    let mut s = Tile::<i32>::new();
    for (j, sj) in s.0.iter_mut().enumerate().take(job.nn) {
        for (p, sp) in sj.iter_mut().enumerate().take(job.np) {
            for g in 0..job.groups {
                let x = std::slice::from_raw_parts(job.x[j].add(4 * g), 4);
                let w = std::slice::from_raw_parts(job.w.add(p * job.pstride + G * g), G);
                for (i, a) in sp.iter_mut().enumerate() {
                    for e in 0..4 {
                        *a += x[e] as i32 * w[4 * i + e] as i8 as i32;
                    }
                }
            }
        }
    }
    finish_i8(job, &s, out)
}

/// bf16 tile: per lane, the pair products of each group added in order in f32.
///
/// # Safety
/// The job's pointers cover its shape (bf16 values 2-byte aligned).
pub(super) unsafe fn bf16_tile(job: &Job, out: &mut TileOut) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::kernels::simd::{level, Level};
        match level() {
            // SAFETY: level() only reports what the CPU was found to have.
            Level::Avx512 => return bf16_512(job, out),
            Level::Avx2 => return bf16_256(job, out),
            Level::Base => {}
        }
    }
    bf16_body(job, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
unsafe fn bf16_512(job: &Job, out: &mut TileOut) {
    bf16_body(job, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn bf16_256(job: &Job, out: &mut TileOut) {
    bf16_body(job, out)
}

#[inline(always)]
unsafe fn bf16_body(job: &Job, out: &mut TileOut) {
    let wide = |h: u16| f32::from_bits((h as u32) << 16);
    for (j, sj) in out.0.iter_mut().enumerate().take(job.nn) {
        for (p, sp) in sj.iter_mut().enumerate().take(job.np) {
            sp.fill(0.0);
            for g in 0..job.groups {
                let x = std::slice::from_raw_parts(job.x[j].add(4 * g) as *const u16, 2);
                let (x0, x1) = (wide(x[0]), wide(x[1]));
                let at = job.w.add(p * job.pstride + G * g) as *const u16;
                let w = std::slice::from_raw_parts(at, 2 * PANEL);
                // Even and odd halves apart, so that each is one contiguous vector.
                let even: [f32; PANEL] = std::array::from_fn(|i| wide(w[2 * i]));
                let odd: [f32; PANEL] = std::array::from_fn(|i| wide(w[2 * i + 1]));
                for i in 0..PANEL {
                    sp[i] += x0 * even[i] + x1 * odd[i];
                }
            }
        }
    }
}
