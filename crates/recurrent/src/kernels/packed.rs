//! The recurrent product with the weights packed once per sequence.
//!
//! Inside the time loop the only product is C [m, n] (+)= A [m, k] B [k, n] with A the
//! previous hidden state (m = B rows, small) and B a weight matrix that is the same for all
//! T steps. General-purpose gemm crates repack B on every call (or read it strided);
//! here it is packed once into panels of `NR` columns (one 64-byte vector: 16 f32, 8 f64),
//! k rows each, zero-padded at the right edge:
//!
//!   panel p, row kk, column c  ->  data[(p * k + kk) * NR + c]  =  B[kk, p NR + c]
//!
//! and a register-tiled microkernel streams it: for a tile of MR rows of A and NP panels it
//! keeps MR x NP accumulator vectors, and for each kk loads NP vectors of B and broadcasts
//! MR scalars of A (the A rows are read in place, no packing: they change every step).
//!
//! Arithmetic (the same on every path, so results never depend on the instruction set, the
//! tile shapes or how threads split the panels): for each C element,
//!   acc = 0;  acc = fma(A[i, kk], B[kk, j], acc) for kk = 0, 1, ..., k-1;
//!   C = acc (overwrite) or C = C + acc (accumulate).
//! The AVX2 and AVX-512 kernels for f32 compute exactly that. f64 (the precision of the
//! checks, not of speed) and f32 without AVX2 multiply each panel with faer, the crate the
//! engine used for these products before, one panel at a time so that a split of the panels
//! between threads cannot change the result either.

use super::simd::{self, Level};
use crate::float::Float;
use std::any::TypeId;
use std::ops::Range;

/// Panel width in elements: one 64-byte vector.
pub fn nr<F: Float>() -> usize {
    64 / F::BYTES
}

/// A `[k, n]` matrix packed in panels for [`gemm_packed`]. Its buffer comes from and returns
/// to [`super::workspace`].
#[derive(Clone, Debug, Default)]
pub struct Packed<F: Float> {
    k: usize,
    n: usize,
    data: Vec<F>,
}

impl<F: Float> Drop for Packed<F> {
    fn drop(&mut self) {
        super::workspace::give(std::mem::take(&mut self.data));
    }
}

impl<F: Float> Packed<F> {
    /// An empty packing (pack into it with [`Packed::pack_t`] or [`Packed::pack`]).
    pub fn new() -> Self {
        Packed {
            k: 0,
            n: 0,
            data: Vec::new(),
        }
    }
    /// Rows (the inner dimension of the product).
    pub fn k(&self) -> usize {
        self.k
    }
    /// Columns.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Number of panels, n / NR rounded up.
    pub fn panels(&self) -> usize {
        self.n.div_ceil(nr::<F>())
    }
    fn resize(&mut self, k: usize, n: usize) {
        self.k = k;
        self.n = n;
        let len = n.div_ceil(nr::<F>()) * nr::<F>() * k;
        if self.data.len() != len {
            super::workspace::give(std::mem::take(&mut self.data));
            self.data = super::workspace::zeros(len);
        } else {
            // The padding columns must be zero; the rest is overwritten.
            self.data.iter_mut().for_each(|v| *v = F::zero());
        }
    }
    /// Packs B = W^T for a row-major `w` [n, k] (rows of `w` become columns of B): the
    /// layout of PyTorch's weights, used as `x W^T`.
    pub fn pack_t(&mut self, w: &[F], n: usize, k: usize) {
        assert!(
            w.len() >= n * k,
            "pack_t: {} elements for [{n}, {k}]",
            w.len()
        );
        self.resize(k, n);
        let r = nr::<F>();
        for (j, row) in w.chunks_exact(k).take(n).enumerate() {
            let (p, c) = (j / r, j % r);
            let panel = &mut self.data[p * k * r..(p + 1) * k * r];
            for (kk, &v) in row.iter().enumerate() {
                panel[kk * r + c] = v;
            }
        }
    }
    /// Packs B = W for a row-major `w` [k, n] whose rows start `ldw` elements apart (a
    /// column block of a wider matrix).
    pub fn pack(&mut self, w: &[F], k: usize, n: usize, ldw: usize) {
        assert!(
            n <= ldw && (k == 0 || w.len() >= (k - 1) * ldw + n),
            "pack: out of bounds"
        );
        self.resize(k, n);
        let r = nr::<F>();
        for kk in 0..k {
            let row = &w[kk * ldw..kk * ldw + n];
            for (p, chunk) in row.chunks(r).enumerate() {
                let dst = (p * k + kk) * r;
                self.data[dst..dst + chunk.len()].copy_from_slice(chunk);
            }
        }
    }
}

/// C (+)= A B over the columns of `panels` (panel p covers columns p NR .. (p+1) NR,
/// clipped to B's n), all `m` rows. A is row-major [m, k] with row stride `lda`; C is
/// row-major with row stride `ldc`, its column 0 being B's column 0.
/// `accumulate`: C = C + A B, else C = A B.
///
/// # Safety
/// `a` must be valid for reads of `[m, k]` at stride `lda`, `c` for reads and writes of the
/// columns of `panels` in `m` rows at stride `ldc`, and no other thread may access those C
/// elements meanwhile (threads may share C when their panel ranges are disjoint).
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_packed<F: Float>(
    m: usize,
    a: *const F,
    lda: usize,
    b: &Packed<F>,
    panels: Range<usize>,
    c: *mut F,
    ldc: usize,
    accumulate: bool,
) {
    gemm_packed_strided(m, a, lda, 1, b, panels, c, ldc, accumulate)
}

/// [`gemm_packed`] with A at any strides: `A[i, kk] = a[i * rsa + kk * csa]` (a transposed
/// A, `rsa = 1`, reads its broadcasts from consecutive addresses).
///
/// # Safety
/// As [`gemm_packed`], A's extent given by its strides.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_packed_strided<F: Float>(
    m: usize,
    a: *const F,
    rsa: usize,
    csa: usize,
    b: &Packed<F>,
    panels: Range<usize>,
    c: *mut F,
    ldc: usize,
    accumulate: bool,
) {
    let panels = panels.start..panels.end.min(b.panels());
    if m == 0 || panels.is_empty() {
        return;
    }
    if TypeId::of::<F>() == TypeId::of::<f32>() {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: F is f32 (checked above), so the casts are identities.
            let (a32, c32) = (a as *const f32, c as *mut f32);
            let b32 = &*(b as *const Packed<F> as *const Packed<f32>);
            match simd::level() {
                Level::Avx512 => {
                    return x86::gemm_avx512(m, a32, rsa, csa, b32, panels, c32, ldc, accumulate)
                }
                Level::Avx2 => {
                    return x86::gemm_avx2(m, a32, rsa, csa, b32, panels, c32, ldc, accumulate)
                }
                Level::Base => {}
            }
        }
    }
    portable_gemm(m, a, rsa, csa, b, panels, c, ldc, accumulate)
}

/// The portable path (f64, and f32 without AVX2): each panel is itself a row-major
/// [k, NR] matrix, multiplied by the small-matrix kernel of [`super::matmul`] (faer).
/// Per panel, so results do not depend on how the panels are split either.
#[allow(clippy::too_many_arguments)]
unsafe fn portable_gemm<F: Float>(
    m: usize,
    a: *const F,
    rsa: usize,
    csa: usize,
    b: &Packed<F>,
    panels: Range<usize>,
    c: *mut F,
    ldc: usize,
    accumulate: bool,
) {
    let (k, r) = (b.k, nr::<F>());
    let beta = if accumulate { F::one() } else { F::zero() };
    for p in panels {
        let cols = r.min(b.n - p * r);
        F::gemm_raw(
            true,
            m,
            k,
            cols,
            F::one(),
            a,
            rsa as isize,
            csa as isize,
            b.data.as_ptr().add(p * k * r),
            r as isize,
            1,
            beta,
            c.add(p * r),
            ldc as isize,
            1,
        );
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Packed;
    use std::arch::x86_64::*;
    use std::ops::Range;

    /// Stores one row of a tile: the `cols` (<= 16) valid columns of `acc` at `c`, added to
    /// what is there when accumulating (C + acc, as the portable kernel).
    #[inline(always)]
    unsafe fn finish_row(c: *mut f32, acc: &[f32; 16], cols: usize, accumulate: bool) {
        for (j, &v) in acc.iter().enumerate().take(cols) {
            let cp = c.add(j);
            *cp = if accumulate { *cp + v } else { v };
        }
    }

    /// AVX-512 tile: MR rows (<= 8) by NP panels (NP * MR <= 16 accumulators).
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile512<const MR: usize, const NP: usize>(
        k: usize,
        a: *const f32,
        rsa: usize,
        csa: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        cols: [usize; NP],
        accumulate: bool,
    ) {
        let mut acc = [[_mm512_setzero_ps(); NP]; MR];
        let pstride = k * 16;
        for kk in 0..k {
            let mut bv = [_mm512_setzero_ps(); NP];
            for (p, v) in bv.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(b.add(p * pstride + kk * 16));
            }
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a.add(i * rsa + kk * csa));
                for p in 0..NP {
                    acc_i[p] = _mm512_fmadd_ps(av, bv[p], acc_i[p]);
                }
            }
        }
        for (i, acc_i) in acc.iter().enumerate() {
            for p in 0..NP {
                let cp = c.add(i * ldc + p * 16);
                if cols[p] == 16 {
                    let v = if accumulate {
                        _mm512_add_ps(_mm512_loadu_ps(cp), acc_i[p])
                    } else {
                        acc_i[p]
                    };
                    _mm512_storeu_ps(cp, v);
                } else {
                    let mut tmp = [0f32; 16];
                    _mm512_storeu_ps(tmp.as_mut_ptr(), acc_i[p]);
                    finish_row(cp, &tmp, cols[p], accumulate);
                }
            }
        }
    }

    /// AVX2 tile: MR rows (<= 6) by one panel held as two 8-lane halves.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile256<const MR: usize>(
        k: usize,
        a: *const f32,
        rsa: usize,
        csa: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for kk in 0..k {
            let b0 = _mm256_loadu_ps(b.add(kk * 16));
            let b1 = _mm256_loadu_ps(b.add(kk * 16 + 8));
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_ps(*a.add(i * rsa + kk * csa));
                acc_i[0] = _mm256_fmadd_ps(av, b0, acc_i[0]);
                acc_i[1] = _mm256_fmadd_ps(av, b1, acc_i[1]);
            }
        }
        for (i, acc_i) in acc.iter().enumerate() {
            let cp = c.add(i * ldc);
            if cols == 16 {
                let (v0, v1) = if accumulate {
                    (
                        _mm256_add_ps(_mm256_loadu_ps(cp), acc_i[0]),
                        _mm256_add_ps(_mm256_loadu_ps(cp.add(8)), acc_i[1]),
                    )
                } else {
                    (acc_i[0], acc_i[1])
                };
                _mm256_storeu_ps(cp, v0);
                _mm256_storeu_ps(cp.add(8), v1);
            } else {
                let mut tmp = [0f32; 16];
                _mm256_storeu_ps(tmp.as_mut_ptr(), acc_i[0]);
                _mm256_storeu_ps(tmp.as_mut_ptr().add(8), acc_i[1]);
                finish_row(cp, &tmp, cols, accumulate);
            }
        }
    }

    /// Columns of panel p that exist in B.
    fn cols(b: &Packed<f32>, p: usize) -> usize {
        16.min(b.n - p * 16)
    }

    /// Runs the MR-row tile over all panels in groups of NP, the last group narrower.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn rows512<const MR: usize>(
        a: *const f32,
        rsa: usize,
        csa: usize,
        b: &Packed<f32>,
        panels: Range<usize>,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        let k = b.k;
        let base = b.data.as_ptr();
        let mut p = panels.start;
        // Few rows: more panels at once keep enough independent accumulators.
        if MR <= 2 {
            while p + 4 <= panels.end {
                let cs = [cols(b, p), cols(b, p + 1), cols(b, p + 2), cols(b, p + 3)];
                tile512::<MR, 4>(
                    k,
                    a,
                    rsa,
                    csa,
                    base.add(p * k * 16),
                    c.add(p * 16),
                    ldc,
                    cs,
                    accumulate,
                );
                p += 4;
            }
        }
        while p + 2 <= panels.end {
            let cs = [cols(b, p), cols(b, p + 1)];
            tile512::<MR, 2>(
                k,
                a,
                rsa,
                csa,
                base.add(p * k * 16),
                c.add(p * 16),
                ldc,
                cs,
                accumulate,
            );
            p += 2;
        }
        if p < panels.end {
            tile512::<MR, 1>(
                k,
                a,
                rsa,
                csa,
                base.add(p * k * 16),
                c.add(p * 16),
                ldc,
                [cols(b, p)],
                accumulate,
            );
        }
    }

    /// f32 with AVX-512: row tiles of 8 (the remainder 1-7), two panels per tile.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn gemm_avx512(
        m: usize,
        a: *const f32,
        rsa: usize,
        csa: usize,
        b: &Packed<f32>,
        panels: Range<usize>,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        let mut i = 0;
        while i < m {
            let (ai, ci) = (a.add(i * rsa), c.add(i * ldc));
            let r = (m - i).min(8);
            let pr = panels.clone();
            match r {
                8 => rows512::<8>(ai, rsa, csa, b, pr, ci, ldc, accumulate),
                7 => rows512::<7>(ai, rsa, csa, b, pr, ci, ldc, accumulate),
                6 => rows512::<6>(ai, rsa, csa, b, pr, ci, ldc, accumulate),
                5 => rows512::<5>(ai, rsa, csa, b, pr, ci, ldc, accumulate),
                4 => rows512::<4>(ai, rsa, csa, b, pr, ci, ldc, accumulate),
                3 => rows512::<3>(ai, rsa, csa, b, pr, ci, ldc, accumulate),
                2 => rows512::<2>(ai, rsa, csa, b, pr, ci, ldc, accumulate),
                _ => rows512::<1>(ai, rsa, csa, b, pr, ci, ldc, accumulate),
            }
            i += r;
        }
    }

    /// f32 with AVX2+FMA: row tiles of 6 (the remainder 1-5), one panel per tile.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn gemm_avx2(
        m: usize,
        a: *const f32,
        rsa: usize,
        csa: usize,
        b: &Packed<f32>,
        panels: Range<usize>,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        let k = b.k;
        let base = b.data.as_ptr();
        for p in panels {
            let (bp, cs) = (base.add(p * k * 16), cols(b, p));
            let mut i = 0;
            while i < m {
                let (ai, ci) = (a.add(i * rsa), c.add(i * ldc + p * 16));
                let r = (m - i).min(6);
                match r {
                    6 => tile256::<6>(k, ai, rsa, csa, bp, ci, ldc, cs, accumulate),
                    5 => tile256::<5>(k, ai, rsa, csa, bp, ci, ldc, cs, accumulate),
                    4 => tile256::<4>(k, ai, rsa, csa, bp, ci, ldc, cs, accumulate),
                    3 => tile256::<3>(k, ai, rsa, csa, bp, ci, ldc, cs, accumulate),
                    2 => tile256::<2>(k, ai, rsa, csa, bp, ci, ldc, cs, accumulate),
                    _ => tile256::<1>(k, ai, rsa, csa, bp, ci, ldc, cs, accumulate),
                }
                i += r;
            }
        }
    }
}

/// C [m, B.n] (+)= A B for a large product (a layer's input projection or gradients), with
/// `A[i, kk] = a[i * rsa + kk * csa]`, C row-major (stride `ldc`), split over a
/// [`super::pool`] team by rows of C (whole row tiles) or, for few rows, by panels: each
/// element is computed the same way whatever the split.
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed_par<F: Float>(
    m: usize,
    a: &[F],
    rsa: usize,
    csa: usize,
    b: &Packed<F>,
    c: &mut [F],
    ldc: usize,
    accumulate: bool,
) {
    let (k, n) = (b.k, b.n);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        k == 0 || a.len() > (m - 1) * rsa + (k - 1) * csa,
        "gemm_packed_par: A too small"
    );
    assert!(c.len() >= (m - 1) * ldc + n, "gemm_packed_par: C too small");
    let width = super::pool::width();
    let members = if width > 1 && m * n * k >= 1 << 19 {
        width
    } else {
        1
    };
    let (a_addr, c_addr) = (a.as_ptr() as usize, c.as_mut_ptr() as usize);
    let by_rows = m >= 16 * members;
    super::pool::team(members, &|tm: &super::pool::Team| {
        let (rows, panels) = if by_rows {
            (tm.share(m, 8), 0..b.panels())
        } else {
            (0..m, super::pool::split(b.panels(), 1, tm.size, tm.index))
        };
        if rows.is_empty() || panels.is_empty() {
            return;
        }
        // SAFETY: the extents were checked above; members write disjoint rows or panels.
        unsafe {
            gemm_packed_strided(
                rows.len(),
                (a_addr as *const F).add(rows.start * rsa),
                rsa,
                csa,
                b,
                panels,
                (c_addr as *mut F).add(rows.start * ldc),
                ldc,
                accumulate,
            )
        }
    });
}

/// Safe wrapper: C [m, B.n] (+)= A [m, k] B over all panels, contiguous row-major buffers.
pub fn gemm_packed_all<F: Float>(a: &[F], m: usize, b: &Packed<F>, c: &mut [F], accumulate: bool) {
    assert!(
        a.len() >= m * b.k && c.len() >= m * b.n,
        "gemm_packed_all: buffers too small"
    );
    // SAFETY: the extents were checked; `c` is borrowed mutably, so nothing else touches it.
    unsafe {
        gemm_packed(
            m,
            a.as_ptr(),
            b.k,
            b,
            0..b.panels(),
            c.as_mut_ptr(),
            b.n,
            accumulate,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn vals(n: usize, s: u64) -> Vec<f64> {
        (0..n as u64)
            .map(|i| (((i * 2654435761 + s * 97) % 1000) as f64 / 500.0) - 1.0)
            .collect()
    }

    /// Every shape class (row remainders, panel remainders, narrow edges) on every dispatch
    /// path, f32 and f64, against a naive product; and the paths agree bit for bit in f32
    /// wherever FMA is used (AVX2 vs AVX-512).
    #[test]
    fn packed_products_match_naive_on_every_path() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (1, 64, 2048),
            (3, 7, 5),
            (8, 33, 32),
            (13, 20, 80),
            (32, 128, 512),
            (9, 17, 70),
            (64, 40, 100),
        ] {
            let a = vals(m * k, 1);
            let bt = vals(n * k, 2); // W [n, k]; B = W^T
            let b: Vec<f64> = (0..k * n).map(|i| bt[(i % n) * k + i / n]).collect();
            let want = naive(&a, &b, m, k, n);
            let mut per_level: Vec<Vec<f32>> = Vec::new();
            for level in simd::available() {
                simd::set_level(Some(level));
                // f64, via pack_t, overwrite then accumulate.
                let mut p64 = Packed::new();
                p64.pack_t(&bt, n, k);
                let mut c = vec![f64::NAN; m * n];
                gemm_packed_all(&a, m, &p64, &mut c, false);
                for (x, y) in c.iter().zip(&want) {
                    assert!(
                        (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                        "{level:?} {m}x{k}x{n}"
                    );
                }
                gemm_packed_all(&a, m, &p64, &mut c, true);
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - 2.0 * y).abs() <= 1e-12 * (1.0 + y.abs()));
                }
                // f32, via pack (B given as [k, n]).
                let (a32, b32): (Vec<f32>, Vec<f32>) = (
                    a.iter().map(|&v| v as f32).collect(),
                    b.iter().map(|&v| v as f32).collect(),
                );
                let mut p32 = Packed::new();
                p32.pack(&b32, k, n, n);
                let mut c32 = vec![f32::NAN; m * n];
                gemm_packed_all(&a32, m, &p32, &mut c32, false);
                for (x, y) in c32.iter().zip(&want) {
                    assert!(
                        (*x as f64 - y).abs() <= 1e-5 * (k as f64).sqrt() * (1.0 + y.abs()),
                        "{level:?} f32 {m}x{k}x{n}: {x} vs {y}"
                    );
                }
                per_level.push(c32);
            }
            simd::set_level(None);
            if per_level.len() == 3 {
                assert_eq!(per_level[1], per_level[2], "AVX2 and AVX-512 differ");
            }
        }
    }

    /// Splitting the panels (as threads do) gives the same bits as one call.
    #[test]
    fn panel_ranges_compose_exactly() {
        let (m, k, n) = (11, 50, 100);
        let a: Vec<f32> = vals(m * k, 3).iter().map(|&v| v as f32).collect();
        let w: Vec<f32> = vals(n * k, 4).iter().map(|&v| v as f32).collect();
        let mut p = Packed::new();
        p.pack_t(&w, n, k);
        let mut whole = vec![0f32; m * n];
        gemm_packed_all(&a, m, &p, &mut whole, false);
        let mut parts = vec![0f32; m * n];
        for r in [0..1, 1..4, 4..p.panels()] {
            // SAFETY: in bounds; the ranges are disjoint and run one after another.
            unsafe { gemm_packed(m, a.as_ptr(), k, &p, r, parts.as_mut_ptr(), n, false) };
        }
        assert_eq!(whole, parts);
    }
}
