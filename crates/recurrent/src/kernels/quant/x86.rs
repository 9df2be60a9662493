//! The x86 tiles: AVX512-VNNI and AVX-VNNI (`vpdpbusd`: 4 unsigned x signed byte products
//! summed into each i32 lane) and AVX512_BF16 (`vdpbf16ps`: 2 bf16 products into each f32
//! lane).
//!
//! Per group of columns a tile loads one 64-byte vector of each of its NP panels and
//! broadcasts 4 bytes of each of its NB batch rows: NP + NB loads feed NP x NB
//! instructions, and the NP x NB accumulators (at most 16 of the 32 registers) hold 16 rows'
//! sums each, so nothing is summed across lanes at the end.

use super::{finish_i8, Job, Tile, TileOut, PANEL, TB, TP};
use std::arch::x86_64::*;

/// Calls `$inner::<NB, NP>` for the job's shape.
macro_rules! shapes {
    ($inner:ident, $job:expr, $s:expr) => {
        match ($job.nn, $job.np) {
            (1, 1) => $inner::<1, 1>($job, $s),
            (1, 2) => $inner::<1, 2>($job, $s),
            (1, 3) => $inner::<1, 3>($job, $s),
            (1, 4) => $inner::<1, 4>($job, $s),
            (2, 1) => $inner::<2, 1>($job, $s),
            (2, 2) => $inner::<2, 2>($job, $s),
            (2, 3) => $inner::<2, 3>($job, $s),
            (2, 4) => $inner::<2, 4>($job, $s),
            (3, 1) => $inner::<3, 1>($job, $s),
            (3, 2) => $inner::<3, 2>($job, $s),
            (3, 3) => $inner::<3, 3>($job, $s),
            (3, 4) => $inner::<3, 4>($job, $s),
            (4, 1) => $inner::<4, 1>($job, $s),
            (4, 2) => $inner::<4, 2>($job, $s),
            (4, 3) => $inner::<4, 3>($job, $s),
            (4, 4) => $inner::<4, 4>($job, $s),
            _ => unreachable!("tiles are at most {TB} rows x {TP} panels"),
        }
    };
}

/// The 4 bytes of group `g` of batch row `j`, in every lane.
#[inline(always)]
unsafe fn group(job: &Job, j: usize, g: usize) -> i32 {
    (job.x[j].add(4 * g) as *const i32).read_unaligned()
}

/// int8 tile, 512-bit.
///
/// # Safety
/// AVX512F, AVX512BW, AVX512-VNNI; the job's pointers cover its shape.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn i8_512(job: &Job, out: &mut TileOut) {
    shapes!(i8_512_t, job, out);
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn i8_512_t<const NB: usize, const NP: usize>(job: &Job, out: &mut TileOut) {
    let mut acc = [[_mm512_setzero_si512(); NP]; NB];
    for g in 0..job.groups {
        let mut wv = [_mm512_setzero_si512(); NP];
        for (p, v) in wv.iter_mut().enumerate() {
            *v = _mm512_loadu_si512(job.w.add(p * job.pstride + 64 * g) as *const _);
        }
        for (j, aj) in acc.iter_mut().enumerate() {
            let xb = _mm512_set1_epi32(group(job, j, g));
            for (a, &v) in aj.iter_mut().zip(&wv) {
                *a = _mm512_dpbusd_epi32(*a, xb, v);
            }
        }
    }
    // finish_i8 in vectors: s_b s_r (sum - 128 sum_r), the same operations in the same order.
    for (j, (oj, aj)) in out.0.iter_mut().zip(&acc).enumerate() {
        let xs = _mm512_set1_ps(job.xscale[j]);
        for (p, (op, &a)) in oj.iter_mut().zip(aj).enumerate() {
            let sums = _mm512_loadu_si512(job.sums.add(PANEL * p) as *const _);
            let ws = _mm512_loadu_ps(job.wscale.add(PANEL * p));
            let corr = _mm512_sub_epi32(a, _mm512_slli_epi32::<7>(sums));
            let v = _mm512_mul_ps(_mm512_cvtepi32_ps(corr), _mm512_mul_ps(xs, ws));
            _mm512_store_ps(op.as_mut_ptr(), v);
        }
    }
}

/// int8 tile, 256-bit (AVX-VNNI, VEX-encoded): each panel's 64 bytes as two vectors of 8
/// rows, at most two panels at a time (16 accumulators).
///
/// # Safety
/// AVX2 and AVX-VNNI; the job's pointers cover its shape.
#[target_feature(enable = "avx2,avxvnni")]
pub(super) unsafe fn i8_256(job: &Job, out: &mut TileOut) {
    let mut s = Tile::<i32>::new();
    let mut p0 = 0;
    while p0 < job.np {
        let half = Job {
            w: job.w.add(p0 * job.pstride),
            np: (job.np - p0).min(2),
            ..*job
        };
        let mut t = Tile::<i32>::new();
        shapes!(i8_256_t, &half, &mut t);
        for (sj, tj) in s.0.iter_mut().zip(&t.0) {
            sj[p0..p0 + half.np].copy_from_slice(&tj[..half.np]);
        }
        p0 += half.np;
    }
    finish_i8(job, &s, out)
}

#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn i8_256_t<const NB: usize, const NP: usize>(job: &Job, s: &mut Tile<i32>) {
    let mut acc = [[[_mm256_setzero_si256(); 2]; NP]; NB];
    for g in 0..job.groups {
        let mut wv = [[_mm256_setzero_si256(); 2]; NP];
        for (p, v) in wv.iter_mut().enumerate() {
            let at = job.w.add(p * job.pstride + 64 * g);
            v[0] = _mm256_loadu_si256(at as *const _);
            v[1] = _mm256_loadu_si256(at.add(32) as *const _);
        }
        for (j, aj) in acc.iter_mut().enumerate() {
            let xb = _mm256_set1_epi32(group(job, j, g));
            for (a, v) in aj.iter_mut().zip(&wv) {
                a[0] = _mm256_dpbusd_avx_epi32(a[0], xb, v[0]);
                a[1] = _mm256_dpbusd_avx_epi32(a[1], xb, v[1]);
            }
        }
    }
    for (sj, aj) in s.0.iter_mut().zip(&acc) {
        for (sp, a) in sj.iter_mut().zip(aj) {
            _mm256_store_si256(sp.as_mut_ptr() as *mut _, a[0]);
            _mm256_store_si256(sp.as_mut_ptr().add(8) as *mut _, a[1]);
        }
    }
}

/// bf16 tile, 512-bit.
///
/// # Safety
/// AVX512F, AVX512BW, AVX512_BF16; the job's pointers cover its shape.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) unsafe fn bf16_512(job: &Job, out: &mut TileOut) {
    shapes!(bf16_512_t, job, out);
}

#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn bf16_512_t<const NB: usize, const NP: usize>(job: &Job, s: &mut TileOut) {
    let mut acc = [[_mm512_setzero_ps(); NP]; NB];
    for g in 0..job.groups {
        let mut wv: [__m512bh; NP] = std::mem::zeroed();
        for (p, v) in wv.iter_mut().enumerate() {
            let at = job.w.add(p * job.pstride + 64 * g);
            *v = std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(at as *const _));
        }
        for (j, aj) in acc.iter_mut().enumerate() {
            let xb = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(group(job, j, g)));
            for (a, &v) in aj.iter_mut().zip(&wv) {
                *a = _mm512_dpbf16_ps(*a, xb, v);
            }
        }
    }
    for (sj, aj) in s.0.iter_mut().zip(&acc) {
        for (sp, &a) in sj.iter_mut().zip(aj) {
            _mm512_store_ps(sp.as_mut_ptr(), a);
        }
    }
}

/// int8 tile for AVX2 without VNNI (`vpmaddwd`): each 16-byte quarter of a panel's group
/// sign-extended to 16 i16, the group's 4 activations zero-extended and repeated, and the
/// products summed in adjacent pairs into i32 (exact: |255 x -128| x 2 < 2^31). Each lane's
/// two pair sums are added at the end, so the integer sums, and the bits, are the VNNI
/// tiles'.
///
/// # Safety
/// AVX2; the job's pointers cover its shape.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn i8_avx2(job: &Job, out: &mut TileOut) {
    let mut s = Tile::<i32>::new();
    for (j, sj) in s.0.iter_mut().enumerate().take(job.nn) {
        for (p, sp) in sj.iter_mut().enumerate().take(job.np) {
            let mut acc = [_mm256_setzero_si256(); 4];
            for g in 0..job.groups {
                let x = job.x[j].add(4 * g);
                let xr = _mm256_set1_epi64x(
                    (*x as i64)
                        | (*x.add(1) as i64) << 16
                        | (*x.add(2) as i64) << 32
                        | (*x.add(3) as i64) << 48,
                );
                let w = job.w.add(p * job.pstride + 64 * g);
                for (c, a) in acc.iter_mut().enumerate() {
                    let wq = _mm_loadu_si128(w.add(16 * c) as *const __m128i);
                    let prod = _mm256_madd_epi16(_mm256_cvtepi8_epi16(wq), xr);
                    *a = _mm256_add_epi32(*a, prod);
                }
            }
            // Quarter c holds lanes 4c..4c+4, each as two adjacent pair sums.
            for (c, a) in acc.iter().enumerate() {
                let mut v = [0i32; 8];
                _mm256_storeu_si256(v.as_mut_ptr() as *mut __m256i, *a);
                for i in 0..4 {
                    sp[4 * c + i] = v[2 * i] + v[2 * i + 1];
                }
            }
        }
    }
    finish_i8(job, &s, out)
}
