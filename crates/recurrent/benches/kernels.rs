//! Micro-benchmarks of the hot kernels, at the shapes of issue 15's configurations:
//! S (B 32, H 128), M (B 64, H 512) and step (B 1, H 512).
//!
//!     cargo bench -p recurrent --bench kernels [-- FILTER]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use recurrent::cell::{gru, lstm, rnn};
use recurrent::kernels::matvec::dot_rows;
use recurrent::kernels::packed::{gemm_packed_all, gemm_packed_par, Packed};
use recurrent::kernels::{gemm, simd, MatMut, MatRef};
use std::hint::black_box;

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / 16777216.0)
                * 4.0
                - 2.0
        })
        .collect()
}

fn levels() -> Vec<(String, simd::Level)> {
    simd::available()
        .into_iter()
        .map(|l| (format!("{l:?}"), l))
        .collect()
}

fn gate_passes(c: &mut Criterion) {
    for (b, h) in [(32usize, 128usize), (64, 512)] {
        let mut g = c.benchmark_group(format!("gates_b{b}_h{h}"));
        g.throughput(Throughput::Elements((b * h) as u64));
        let valid = vec![true; b];
        for (name, level) in levels() {
            simd::set_level(Some(level));
            let pre = data(b * 4 * h, 1);
            let bias = data(4 * h, 9);
            let (cp, mut cn, mut m) = (data(b * h, 2), vec![0f32; b * h], vec![0f32; b * h]);
            let mut gates = pre.clone();
            g.bench_function(format!("lstm_forward/{name}"), |bn| {
                bn.iter(|| {
                    gates.copy_from_slice(&pre);
                    lstm::forward_step(&mut gates, &bias, &cp, &mut cn, &mut m, None, &valid, h);
                    black_box(&m);
                })
            });
            let (dm, mut dc, mut da) = (data(b * h, 3), data(b * h, 4), vec![0f32; b * 4 * h]);
            g.bench_function(format!("lstm_backward/{name}"), |bn| {
                bn.iter(|| {
                    lstm::backward_step(&gates, &cp, &cn, &dm, &mut dc, &mut da, &valid, h);
                    black_box(&da);
                })
            });
            let hh0 = data(b * 3 * h, 5);
            let mut hh = hh0.clone();
            let pre3 = data(b * 3 * h, 6);
            let mut g3 = pre3.clone();
            let mut hout = vec![0f32; b * h];
            g.bench_function(format!("gru_forward/{name}"), |bn| {
                bn.iter(|| {
                    g3.copy_from_slice(&pre3);
                    hh.copy_from_slice(&hh0);
                    gru::forward_step(
                        &mut g3,
                        &mut hh,
                        &bias[..3 * h],
                        &bias[h..],
                        &cp,
                        &mut hout,
                        &valid,
                        h,
                    );
                    black_box(&hout);
                })
            });
            let pre1 = data(b * h, 7);
            let mut a1 = pre1.clone();
            g.bench_function(format!("rnn_tanh_forward/{name}"), |bn| {
                bn.iter(|| {
                    a1.copy_from_slice(&pre1);
                    rnn::forward_step(
                        rnn::Activation::Tanh,
                        &mut a1,
                        &bias[..h],
                        &cp,
                        &mut hout,
                        &valid,
                        h,
                    );
                    black_box(&hout);
                })
            });
        }
        simd::set_level(None);
        g.finish();
    }
}

fn products(c: &mut Criterion) {
    // The per-step recurrent product [B, H] x [H, G H] and the batch-1 product.
    for (m, k, n) in [
        (32usize, 128usize, 512usize),
        (64, 512, 2048),
        (1, 512, 2048),
    ] {
        let mut g = c.benchmark_group(format!("gemm_{m}x{k}x{n}"));
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let (a, w) = (data(m * k, 1), data(n * k, 2));
        let mut out = vec![0f32; m * n];
        g.bench_function("gemm_bt", |bn| {
            bn.iter(|| {
                gemm(
                    1.0,
                    MatRef::new(&a, m, k),
                    MatRef::new(&w, n, k).t(),
                    1.0,
                    MatMut::new(&mut out, m, n),
                );
                black_box(&out);
            })
        });
        let mut packed = Packed::new();
        packed.pack_t(&w, n, k);
        for (name, level) in levels() {
            simd::set_level(Some(level));
            g.bench_function(format!("packed/{name}"), |bn| {
                bn.iter(|| {
                    gemm_packed_all(&a, m, &packed, &mut out, true);
                    black_box(&out);
                })
            });
        }
        simd::set_level(None);
        g.finish();
    }
}

fn streaming(c: &mut Criterion) {
    // The batch-1 step of layer 1 of the step configuration: an LSTM's
    // [4H, H] x [H] + [4H, H] x [H] with H = 512, as dot products on the weights as they are.
    let (h, g) = (512usize, 4usize);
    let (w1, w2) = (data(g * h * h, 1), data(g * h * h, 2));
    let (x1, x2) = (data(h, 3), data(h, 4));
    let mut out = vec![0f32; g * h];
    let mut grp = c.benchmark_group(format!("matvec_{}x{}", g * h, 2 * h));
    grp.throughput(Throughput::Bytes((2 * g * h * h * 4) as u64));
    for (name, level) in levels() {
        simd::set_level(Some(level));
        grp.bench_function(format!("dot_rows/{name}"), |bn| {
            bn.iter(|| {
                dot_rows(
                    &w1,
                    h,
                    &x1,
                    &w2,
                    h,
                    &x2,
                    0..g * h,
                    1,
                    &mut out,
                    g * h,
                    false,
                );
                black_box(&out);
            })
        });
    }
    simd::set_level(None);
    grp.finish();
}

fn layer_products(c: &mut Criterion) {
    for threads in [1, 2] {
        recurrent::kernels::set_threads(threads);
        layer_products_with(c, threads);
    }
    recurrent::kernels::set_threads(1);
}

fn layer_products_with(c: &mut Criterion, threads: usize) {
    // The products over all steps of layer S (T*B = 2048, I = 64, G*H = 512): the input
    // projection X W_ih^T, dW_ih = da^T X and dX = da W_ih, matrixmultiply against the
    // packed kernel (packing included: it happens once per call).
    let (tb, i, gh) = (2048usize, 64usize, 512usize);
    let (x, w, da) = (data(tb * i, 1), data(gh * i, 2), data(tb * gh, 3));
    let mut g = c.benchmark_group(format!("layer_products_S_{threads}t"));
    g.throughput(Throughput::Elements((2 * tb * i * gh) as u64));
    let mut out = vec![0f32; tb * gh];
    g.bench_function("proj/gemm", |bn| {
        bn.iter(|| {
            gemm(
                1.0,
                MatRef::new(&x, tb, i),
                MatRef::new(&w, gh, i).t(),
                0.0,
                MatMut::new(&mut out, tb, gh),
            );
            black_box(&out);
        })
    });
    g.bench_function("proj/packed", |bn| {
        let mut p = Packed::new();
        bn.iter(|| {
            p.pack_t(&w, gh, i);
            gemm_packed_par(tb, &x, i, 1, &p, &mut out, gh, false);
            black_box(&out);
        })
    });
    let mut dw = vec![0f32; gh * i];
    g.bench_function("dW/gemm", |bn| {
        bn.iter(|| {
            gemm(
                1.0,
                MatRef::new(&da, tb, gh).t(),
                MatRef::new(&x, tb, i),
                1.0,
                MatMut::new(&mut dw, gh, i),
            );
            black_box(&dw);
        })
    });
    g.bench_function("dW/packed", |bn| {
        let mut p = Packed::new();
        bn.iter(|| {
            p.pack(&x, tb, i, i);
            gemm_packed_par(gh, &da, 1, gh, &p, &mut dw, i, true);
            black_box(&dw);
        })
    });
    let mut dx = vec![0f32; tb * i];
    g.bench_function("dX/gemm", |bn| {
        bn.iter(|| {
            gemm(
                1.0,
                MatRef::new(&da, tb, gh),
                MatRef::new(&w, gh, i),
                1.0,
                MatMut::new(&mut dx, tb, i),
            );
            black_box(&dx);
        })
    });
    g.bench_function("dX/packed", |bn| {
        let mut p = Packed::new();
        bn.iter(|| {
            p.pack(&w, gh, i, i);
            gemm_packed_par(tb, &da, gh, 1, &p, &mut dx, i, true);
            black_box(&dx);
        })
    });
    g.finish();
}

criterion_group!(benches, gate_passes, products, streaming, layer_products);
criterion_main!(benches);
