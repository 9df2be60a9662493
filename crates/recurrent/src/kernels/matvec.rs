//! Row-by-row dot products for streaming (batch-1) steps.
//!
//! A streamed step multiplies each weight row by one input vector: a matrix-vector product,
//! bound by how fast the weights stream from memory (or L2), not by arithmetic. PyTorch's
//! weights are row-major [G*H, K], so each row is read once, contiguously, with no packing
//! (nothing to redo when the weights change between calls). Four rows go at a time so the
//! input vector is read once per four rows and the accumulators are independent.
//!
//! Arithmetic, identical on every instruction-set level: lane l of a row's accumulator
//! (L = 16 lanes in f32, 8 in f64) sums the products at positions k = l (mod L) in order
//! (multiply, then add: no FMA, so the baseline computes the same); a tail shorter than L
//! adds into lanes 0..; the lanes are then summed pairwise (l + L/2, then l + L/4, ...).

use super::packed::nr;
use crate::float::Float;
use std::ops::Range;

crate::multiversion! {
    /// `out[b * ldo + i] (+)= W1[r] . x1[b] + W2[r] . x2[b]` for the rows
    /// `r = rows.start + i` in `rows`, batch rows `b < nb`: W1 [*, k1] and W2 [*, k2] row-major (k2 may be 0), x1 [nb, k1],
    /// x2 [nb, k2]. `accumulate` adds to `out`, else overwrites.
    #[allow(clippy::too_many_arguments)]
    pub fn dot_rows<F: Float>(
        w1: &[F],
        k1: usize,
        x1: &[F],
        w2: &[F],
        k2: usize,
        x2: &[F],
        rows: Range<usize>,
        nb: usize,
        out: &mut [F],
        ldo: usize,
        accumulate: bool,
    ) {
        if nr::<F>() == 16 {
            dot_rows_l::<F, 16>(w1, k1, x1, w2, k2, x2, rows, nb, out, ldo, accumulate)
        } else {
            dot_rows_l::<F, 8>(w1, k1, x1, w2, k2, x2, rows, nb, out, ldo, accumulate)
        }
    }
}

/// Adds the products `w[r] . x` of four rows into their lane accumulators, reading each
/// chunk of `x` once for the four rows.
///
/// The accumulators are a local array indexed only by constants once the loops unroll, so
/// they live in registers: indexing them by a loop variable (as an earlier version did)
/// kept them on the stack, and every add waited on the store before it (GRU steps ran at a
/// fifth of the memory bandwidth).
#[inline(always)]
fn lanes4<F: Float, const L: usize>(acc: &mut [[F; L]; 4], w: [&[F]; 4], x: &[F]) {
    let n = x.len();
    let [w0, w1, w2, w3] = w.map(|r| &r[..n]);
    let mut a = *acc;
    let full = n / L * L;
    for ((((xv, v0), v1), v2), v3) in x[..full]
        .chunks_exact(L)
        .zip(w0[..full].chunks_exact(L))
        .zip(w1[..full].chunks_exact(L))
        .zip(w2[..full].chunks_exact(L))
        .zip(w3[..full].chunks_exact(L))
    {
        for l in 0..L {
            a[0][l] += v0[l] * xv[l];
            a[1][l] += v1[l] * xv[l];
            a[2][l] += v2[l] * xv[l];
            a[3][l] += v3[l] * xv[l];
        }
    }
    for (l, k) in (full..n).enumerate() {
        a[0][l] += w0[k] * x[k];
        a[1][l] += w1[k] * x[k];
        a[2][l] += w2[k] * x[k];
        a[3][l] += w3[k] * x[k];
    }
    *acc = a;
}

/// [`lanes4`] for one row (the last rows of a range not a multiple of four).
#[inline(always)]
fn lanes1<F: Float, const L: usize>(acc: &mut [F; L], w: &[F], x: &[F]) {
    let n = x.len();
    let w = &w[..n];
    let mut a = *acc;
    let full = n / L * L;
    for (xv, wv) in x[..full].chunks_exact(L).zip(w[..full].chunks_exact(L)) {
        for l in 0..L {
            a[l] += wv[l] * xv[l];
        }
    }
    for (l, k) in (full..n).enumerate() {
        a[l] += w[k] * x[k];
    }
    *acc = a;
}

/// The lanes summed pairwise: (l + L/2), then (l + L/4), ...
#[inline(always)]
fn reduce_lanes<F: Float, const L: usize>(mut acc: [F; L]) -> F {
    let mut w = L / 2;
    while w > 0 {
        for l in 0..w {
            let v = acc[l + w];
            acc[l] += v;
        }
        w /= 2;
    }
    acc[0]
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dot_rows_l<F: Float, const L: usize>(
    w1: &[F],
    k1: usize,
    x1: &[F],
    w2: &[F],
    k2: usize,
    x2: &[F],
    rows: Range<usize>,
    nb: usize,
    out: &mut [F],
    ldo: usize,
    accumulate: bool,
) {
    let row1 = |r: usize| &w1[r * k1..(r + 1) * k1];
    let row2 = |r: usize| &w2[r * k2..(r + 1) * k2];
    let store = |o: &mut F, s: F| *o = if accumulate { *o + s } else { s };
    let mut i = 0;
    while i + 4 <= rows.len() {
        let r = rows.start + i;
        for b in 0..nb {
            let (xb1, xb2) = (&x1[b * k1..(b + 1) * k1], &x2[b * k2..(b + 1) * k2]);
            let mut acc = [[F::zero(); L]; 4];
            lanes4(
                &mut acc,
                [row1(r), row1(r + 1), row1(r + 2), row1(r + 3)],
                xb1,
            );
            if k2 > 0 {
                lanes4(
                    &mut acc,
                    [row2(r), row2(r + 1), row2(r + 2), row2(r + 3)],
                    xb2,
                );
            }
            for (j, a) in acc.into_iter().enumerate() {
                store(&mut out[b * ldo + i + j], reduce_lanes(a));
            }
        }
        i += 4;
    }
    for i in i..rows.len() {
        let r = rows.start + i;
        for b in 0..nb {
            let (xb1, xb2) = (&x1[b * k1..(b + 1) * k1], &x2[b * k2..(b + 1) * k2]);
            let mut acc = [F::zero(); L];
            lanes1(&mut acc, row1(r), xb1);
            if k2 > 0 {
                lanes1(&mut acc, row2(r), xb2);
            }
            store(&mut out[b * ldo + i], reduce_lanes(acc));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::simd;

    #[test]
    fn dot_rows_matches_plain_sums_on_every_level() {
        let (k1, k2, nrow, nb) = (37, 70, 11, 3);
        let w1: Vec<f64> = (0..nrow * k1)
            .map(|i| ((i * 7 % 19) as f64) / 9.0 - 1.0)
            .collect();
        let w2: Vec<f64> = (0..nrow * k2)
            .map(|i| ((i * 5 % 23) as f64) / 11.0 - 1.0)
            .collect();
        let x1: Vec<f64> = (0..nb * k1)
            .map(|i| ((i * 3 % 13) as f64) / 6.0 - 1.0)
            .collect();
        let x2: Vec<f64> = (0..nb * k2)
            .map(|i| ((i * 11 % 17) as f64) / 8.0 - 1.0)
            .collect();
        let rows = 2..9usize;
        let want: Vec<f64> = (0..nb)
            .flat_map(|b| {
                let (w1, w2, x1, x2) = (&w1, &w2, &x1, &x2);
                rows.clone().map(move |r| {
                    (0..k1)
                        .map(|k| w1[r * k1 + k] * x1[b * k1 + k])
                        .sum::<f64>()
                        + (0..k2)
                            .map(|k| w2[r * k2 + k] * x2[b * k2 + k])
                            .sum::<f64>()
                })
            })
            .collect();
        let mut per_level = Vec::new();
        for level in simd::available() {
            simd::set_level(Some(level));
            let mut out = vec![f64::NAN; nb * rows.len()];
            dot_rows(
                &w1,
                k1,
                &x1,
                &w2,
                k2,
                &x2,
                rows.clone(),
                nb,
                &mut out,
                rows.len(),
                false,
            );
            for (a, b) in out.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{level:?}: {a} vs {b}");
            }
            dot_rows(
                &w1,
                k1,
                &x1,
                &w2,
                k2,
                &x2,
                rows.clone(),
                nb,
                &mut out,
                rows.len(),
                true,
            );
            for (a, b) in out.iter().zip(&want) {
                assert!((a - 2.0 * b).abs() < 1e-12);
            }
            // f32 too; every level must give the same bits.
            let c = |v: &Vec<f64>| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
            let mut o32 = vec![0f32; nb * rows.len()];
            dot_rows(
                &c(&w1),
                k1,
                &c(&x1),
                &c(&w2),
                k2,
                &c(&x2),
                rows.clone(),
                nb,
                &mut o32,
                rows.len(),
                false,
            );
            for (a, b) in o32.iter().zip(&want) {
                assert!((*a as f64 - b).abs() < 1e-4, "{level:?} f32: {a} vs {b}");
            }
            per_level.push(o32);
        }
        simd::set_level(None);
        assert!(per_level.windows(2).all(|w| w[0] == w[1]), "levels differ");
    }
}
