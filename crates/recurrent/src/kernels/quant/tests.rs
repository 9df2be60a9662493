//! Every path this CPU offers against a scalar reference written from the module doc's
//! equations.

use super::*;
use crate::rng::Rng;

fn random(n: usize, rng: &mut Rng, spread: f64) -> Vec<f32> {
    (0..n).map(|_| (rng.normal() * spread) as f32).collect()
}

/// (n, k, nb): edges of every tile shape and of the padding.
const SHAPES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (3, 63, 2),
    (4, 64, 4),
    (9, 65, 5),
    (17, 100, 3),
    (8, 300, 7),
    (33, 512, 1),
];

/// The int8 product from the definition: integer sums in i64, then the two scales.
fn int8_reference(w: &QMatrix, x: &[f32], nb: usize) -> Vec<f32> {
    let (n, k) = (w.rows(), w.cols());
    let mut out = vec![0.0; nb * n];
    for b in 0..nb {
        let row = &x[b * k..(b + 1) * k];
        let s = scale_of(row.iter().copied());
        for r in 0..n {
            let dot: i64 = (0..k)
                .map(|kk| q8(row[kk], 1.0 / s) as i64 * w.stored(r, kk) as i64)
                .sum();
            out[b * n + r] = dot as i32 as f32 * (s * w.row_scale(r));
        }
    }
    out
}

#[test]
fn int8_paths_equal_the_reference_bit_for_bit() {
    let mut rng = Rng::new(7);
    let ps = paths(Precision::Int8);
    eprintln!("int8 paths on this CPU: {ps:?}");
    for (n, k, nb) in SHAPES {
        let (wf, x) = (random(n * k, &mut rng, 0.3), random(nb * k, &mut rng, 2.0));
        let w = QMatrix::new(&wf, n, k, Precision::Int8);
        let want = int8_reference(&w, &x, nb);
        let mut a = Acts::default();
        a.quantize(&x, nb, k, Precision::Int8);
        for &p in &ps {
            let mut out = vec![0.0f32; nb * n];
            qdot_rows_on(p, &w, &a, 0..n, nb, &mut out, n, false);
            assert_eq!(out, want, "{p:?} n={n} k={k} nb={nb}");
            // A sub-range of rows, accumulated into a strided output.
            if n > 2 {
                let ld = n + 3;
                let mut acc = vec![1.0f32; nb * ld];
                qdot_rows_on(p, &w, &a, 1..n - 1, nb, &mut acc, ld, true);
                for b in 0..nb {
                    for i in 0..n - 2 {
                        assert_eq!(acc[b * ld + i], 1.0 + want[b * n + i + 1], "{p:?} acc");
                    }
                }
            }
        }
    }
}

#[test]
fn bf16_paths_agree_with_the_reference_to_f32_rounding() {
    let mut rng = Rng::new(8);
    let ps = paths(Precision::Bf16);
    eprintln!("bf16 paths on this CPU: {ps:?}");
    for (n, k, nb) in SHAPES {
        let (wf, x) = (random(n * k, &mut rng, 0.3), random(nb * k, &mut rng, 2.0));
        let w = QMatrix::new(&wf, n, k, Precision::Bf16);
        let wd = w.dequantize();
        let mut a = Acts::default();
        a.quantize(&x, nb, k, Precision::Bf16);
        for &p in &ps {
            let mut out = vec![0.0f32; nb * n];
            qdot_rows_on(p, &w, &a, 0..n, nb, &mut out, n, false);
            for b in 0..nb {
                for r in 0..n {
                    let (mut want, mut mag) = (0.0f64, 0.0f64);
                    for kk in 0..k {
                        let xv = from_bf16(to_bf16(x[b * k + kk])) as f64;
                        want += wd[r * k + kk] as f64 * xv;
                        mag += (wd[r * k + kk] as f64 * xv).abs();
                    }
                    let got = out[b * n + r] as f64;
                    assert!(
                        (got - want).abs() <= 4e-7 * (k as f64).sqrt() * mag + 1e-30,
                        "{p:?} n={n} k={k} b={b} r={r}: {got} vs {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn quantized_products_stay_close_to_the_f32_product() {
    // The error a user sees: bounded by the two roundings, relative to sum |w| |x|.
    let mut rng = Rng::new(9);
    let (n, k, nb) = (64, 256, 3);
    let (wf, x) = (random(n * k, &mut rng, 0.1), random(nb * k, &mut rng, 1.0));
    for (p, tol) in [
        (Precision::Int8, 2.0 / 127.0),
        (Precision::Bf16, 2.0 / 256.0),
    ] {
        let w = QMatrix::new(&wf, n, k, p);
        let mut a = Acts::default();
        a.quantize(&x, nb, k, p);
        let mut out = vec![0.0f32; nb * n];
        qdot_rows(&w, &a, 0..n, nb, &mut out, n, false);
        for b in 0..nb {
            for r in 0..n {
                let row = &wf[r * k..(r + 1) * k];
                let xb = &x[b * k..(b + 1) * k];
                let exact: f64 = row.iter().zip(xb).map(|(&u, &v)| u as f64 * v as f64).sum();
                let mag: f64 = row
                    .iter()
                    .zip(xb)
                    .map(|(&u, &v)| (u as f64 * v as f64).abs())
                    .sum();
                let err = (out[b * n + r] as f64 - exact).abs();
                assert!(err <= tol * mag, "{p}: error {err} > {tol} x {mag}");
            }
        }
    }
}

#[test]
fn weights_round_trip_and_shrink() {
    let mut rng = Rng::new(10);
    let (n, k) = (16, 128);
    let wf = random(n * k, &mut rng, 0.5);
    let i8m = QMatrix::new(&wf, n, k, Precision::Int8);
    let bfm = QMatrix::new(&wf, n, k, Precision::Bf16);
    assert!(i8m.bytes() * 3 < n * k * 4, "int8 is about 4x smaller");
    // bf16 is 2x smaller, but for the one vector per panel that staggers the panels.
    assert!(bfm.bytes() * 2 >= n * k * 4 && bfm.bytes() * 2 <= n * k * 4 * 103 / 100);
    for (e, (&v, &d)) in wf.iter().zip(&i8m.dequantize()).enumerate() {
        assert!((v - d).abs() <= i8m.row_scale(e / k) / 2.0 + 1e-7);
    }
    for (&v, &d) in wf.iter().zip(&bfm.dequantize()) {
        assert!((v - d).abs() <= v.abs() / 256.0);
    }
    // Ties go to even; NaN stays NaN.
    assert_eq!(to_bf16(f32::from_bits(0x3f80_8000)), 0x3f80);
    assert_eq!(to_bf16(f32::from_bits(0x3f81_8000)), 0x3f82);
    assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    // An all-zero row quantizes to zeros, with no division by zero.
    let z = QMatrix::new(&[0.0f32; 8], 2, 4, Precision::Int8);
    assert!(z.dequantize().iter().all(|&v| v == 0.0));
}

#[test]
fn precision_names_parse_back() {
    for p in [Precision::F32, Precision::Bf16, Precision::Int8] {
        assert_eq!(Precision::parse(p.name()), Ok(p));
    }
    assert!(Precision::parse("fp16")
        .unwrap_err()
        .contains("f32, bf16 or int8"));
}
