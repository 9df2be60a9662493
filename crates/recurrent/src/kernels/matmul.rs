//! Matrix products on strided row-major views: the one place the engine multiplies matrices.
//!
//! Two crates, chosen by measurement on this project's shapes (AMD EPYC Zen 4, f32, see the
//! commit that introduced this file and docs/performance.md):
//! - `matrixmultiply` for products with many rows (the input projection of all time steps,
//!   the weight gradients): 170-186 GFLOP/s on one core, against 100-108 for faer and gemm;
//! - `faer` for few rows (the per-step recurrent product [B, H] x [H, G*H] with B <= 48, and
//!   the batch-1 matrix-vector product): 108 GFLOP/s at [32,128]x[128,512] where
//!   matrixmultiply reaches 61, and 38-53 GFLOP/s for matrix-vector where it reaches 2-3.
//!
//! Large products are split over threads (a [`super::pool`] team) by rows (or columns) of C
//! only, never over the inner dimension, so every element is summed in the same order
//! whatever the thread count: results are bit-identical for any `--threads`.

use crate::float::Float;

/// Rows at or below which faer's small-matrix kernels beat matrixmultiply's packing.
const SMALL_M: usize = 48;
/// Products below this many multiply-adds (about 10 us of one core) stay on one thread:
/// waking the pool's workers and meeting costs a few microseconds.
const PAR_MIN_MACS: usize = 1 << 19;

/// A read-only strided matrix view. `at(i, j) = data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, F> {
    data: &'a [F],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, F: Float> MatRef<'a, F> {
    /// A row-major `[rows, cols]` view of the first `rows * cols` elements of `data`.
    pub fn new(data: &'a [F], rows: usize, cols: usize) -> Self {
        assert!(
            data.len() >= rows * cols,
            "MatRef: {} elements for [{rows}, {cols}]",
            data.len()
        );
        MatRef {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
    /// A `[rows, cols]` view whose rows start `rs` elements apart (a column block of a
    /// wider row-major matrix).
    pub fn strided(data: &'a [F], rows: usize, cols: usize, rs: usize) -> Self {
        assert!(
            cols <= rs || rows <= 1,
            "MatRef::strided: cols {cols} > row stride {rs}"
        );
        assert!(
            rows == 0 || data.len() >= (rows - 1) * rs + cols,
            "MatRef::strided: out of bounds"
        );
        MatRef {
            data,
            rows,
            cols,
            rs,
            cs: 1,
        }
    }
    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    fn ptr_at(&self, i: usize, j: usize) -> *const F {
        // Callers index within [rows, cols]; `new` checked the extent.
        self.data[i * self.rs + j * self.cs..].as_ptr()
    }
}

/// A mutable strided matrix view (row-major when made by [`MatMut::new`]).
#[derive(Debug)]
pub struct MatMut<'a, F> {
    data: &'a mut [F],
    rows: usize,
    cols: usize,
    rs: usize,
}

impl<'a, F: Float> MatMut<'a, F> {
    /// A row-major `[rows, cols]` view of the first `rows * cols` elements of `data`.
    pub fn new(data: &'a mut [F], rows: usize, cols: usize) -> Self {
        assert!(
            data.len() >= rows * cols,
            "MatMut: {} elements for [{rows}, {cols}]",
            data.len()
        );
        MatMut {
            data,
            rows,
            cols,
            rs: cols,
        }
    }
    /// A `[rows, cols]` view whose rows start `rs` elements apart.
    pub fn strided(data: &'a mut [F], rows: usize, cols: usize, rs: usize) -> Self {
        assert!(
            cols <= rs || rows <= 1,
            "MatMut::strided: cols {cols} > row stride {rs}"
        );
        assert!(
            rows == 0 || data.len() >= (rows - 1) * rs + cols,
            "MatMut::strided: out of bounds"
        );
        MatMut {
            data,
            rows,
            cols,
            rs,
        }
    }
}

/// `C = alpha * A B + beta * C`, with A [m, k], B [k, n], C [m, n]. `beta = 0` overwrites C
/// (whatever it held, NaN included).
pub fn gemm<F: Float>(alpha: F, a: MatRef<'_, F>, b: MatRef<'_, F>, beta: F, c: MatMut<'_, F>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(
        b.rows, k,
        "gemm: A is [{m}, {k}] but B is [{}, {n}]",
        b.rows
    );
    assert_eq!(
        (c.rows, c.cols),
        (m, n),
        "gemm: C is [{}, {}], expected [{m}, {n}]",
        c.rows,
        c.cols
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            for v in &mut c.data[i * c.rs..i * c.rs + n] {
                *v = if beta == F::zero() {
                    F::zero()
                } else {
                    *v * beta
                };
            }
        }
        return;
    }
    let small = m <= SMALL_M;
    let width = super::pool::width();
    let parts = if width > 1 && m * k * n >= PAR_MIN_MACS {
        width
    } else {
        1
    };
    // Addresses as integers so the closure can cross threads.
    let a_addr = a.ptr_at(0, 0) as usize;
    let b_addr = b.ptr_at(0, 0) as usize;
    let c_addr = c.data.as_mut_ptr() as usize;
    // SAFETY (all calls below): A and B were bounds-checked at construction and every index
    // (i, j) below stays inside [m, k] / [k, n]; C's extent was checked likewise, and the
    // parallel parts write disjoint row (or column) ranges of C.
    let run = |r0: usize, r1: usize, c0: usize, c1: usize| unsafe {
        kernel(
            small,
            r1 - r0,
            k,
            c1 - c0,
            alpha,
            (a_addr as *const F).offset(r0 as isize * a.rs as isize),
            a.rs as isize,
            a.cs as isize,
            (b_addr as *const F).offset(c0 as isize * b.cs as isize),
            b.rs as isize,
            b.cs as isize,
            beta,
            (c_addr as *mut F).add(r0 * c.rs + c0),
            c.rs as isize,
            1,
        )
    };
    if parts == 1 {
        run(0, m, 0, n);
        return;
    }
    // Split the larger of m and n into one range per member, aligned to 16 so that the
    // kernels' edge handling does not depend on the thread count.
    let split_rows = m >= n || small;
    let len = if split_rows { m } else { n };
    super::pool::team(parts, &|tm: &super::pool::Team| {
        let r = super::pool::split(len, 16, tm.size, tm.index);
        if r.is_empty() {
            return;
        }
        if split_rows {
            run(r.start, r.end, 0, n)
        } else {
            run(0, m, r.start, r.end)
        }
    });
}

/// The raw kernel on one part. `small` picks faer, else matrixmultiply.
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<F: Float>(
    small: bool,
    m: usize,
    k: usize,
    n: usize,
    alpha: F,
    a: *const F,
    rsa: isize,
    csa: isize,
    b: *const F,
    rsb: isize,
    csb: isize,
    beta: F,
    c: *mut F,
    rsc: isize,
    csc: isize,
) {
    F::gemm_raw(
        small, m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc,
    )
}

/// faer on raw strided pointers. `beta` must be 0 or 1 (all the engine uses); other values
/// scale C first.
///
/// # Safety
/// As [`Float::gemm_raw`].
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn faer_gemm<T>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
) where
    T: faer::traits::ComplexField + Float,
{
    let accum = if beta == T::zero() {
        faer::Accum::Replace
    } else {
        if beta != T::one() {
            for i in 0..m as isize {
                for j in 0..n as isize {
                    *c.offset(i * rsc + j * csc) *= beta;
                }
            }
        }
        faer::Accum::Add
    };
    let a = faer::MatRef::from_raw_parts(a, m, k, rsa, csa);
    let b = faer::MatRef::from_raw_parts(b, k, n, rsb, csb);
    let c = faer::MatMut::from_raw_parts_mut(c, m, n, rsc, csc);
    faer::linalg::matmul::matmul(c, accum, a, b, alpha, faer::Par::Seq);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::pool::set_threads;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn gemm_matches_naive_on_every_path() {
        for &(m, k, n) in &[
            (1, 7, 5),
            (3, 4, 9),
            (40, 33, 70),
            (130, 65, 257),
            (600, 64, 600),
        ] {
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 7 % 13) as f64) - 6.0).collect();
            let b: Vec<f64> = (0..k * n).map(|i| ((i * 5 % 11) as f64) - 5.0).collect();
            let want = naive(&a, &b, m, k, n);
            for threads in [1, 2, 3] {
                set_threads(threads);
                let mut c = vec![f64::NAN; m * n];
                gemm(
                    1.0,
                    MatRef::new(&a, m, k),
                    MatRef::new(&b, k, n),
                    0.0,
                    MatMut::new(&mut c, m, n),
                );
                assert_eq!(c, want, "m={m} k={k} n={n} threads={threads}");
                // Transposed operands and beta = 1.
                let at: Vec<f64> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
                gemm(
                    1.0,
                    MatRef::new(&at, k, m).t(),
                    MatRef::new(&b, k, n),
                    1.0,
                    MatMut::new(&mut c, m, n),
                );
                let twice: Vec<f64> = want.iter().map(|v| 2.0 * v).collect();
                assert_eq!(c, twice);
            }
            set_threads(1);
        }
    }

    #[test]
    fn f32_threads_give_identical_bits() {
        let (m, k, n) = (700, 96, 300);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 31 % 97) as f32).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 17 % 89) as f32).cos()).collect();
        let mut c1 = vec![0.0f32; m * n];
        let mut c2 = vec![0.0f32; m * n];
        set_threads(1);
        gemm(
            1.0,
            MatRef::new(&a, m, k),
            MatRef::new(&b, k, n),
            0.0,
            MatMut::new(&mut c1, m, n),
        );
        set_threads(2);
        gemm(
            1.0,
            MatRef::new(&a, m, k),
            MatRef::new(&b, k, n),
            0.0,
            MatMut::new(&mut c2, m, n),
        );
        set_threads(1);
        assert_eq!(c1, c2);
    }
}
