//! Micro-benchmarks of the hot kernels, at the shapes of issue 15's configurations:
//! S (B 32, H 128), M (B 64, H 512) and step (B 1, H 512).
//!
//!     cargo bench -p recurrent --bench kernels [-- FILTER]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use recurrent::cell::{gru, lstm, rnn};
use recurrent::kernels::packed::{gemm_packed_all, Packed};
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
            let (cp, mut cn, mut m) = (data(b * h, 2), vec![0f32; b * h], vec![0f32; b * h]);
            let mut gates = pre.clone();
            g.bench_function(format!("lstm_forward/{name}"), |bn| {
                bn.iter(|| {
                    gates.copy_from_slice(&pre);
                    lstm::forward_step(&mut gates, &cp, &mut cn, &mut m, None, &valid, h);
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
            let hh = data(b * 3 * h, 5);
            let pre3 = data(b * 3 * h, 6);
            let mut g3 = pre3.clone();
            let mut hout = vec![0f32; b * h];
            g.bench_function(format!("gru_forward/{name}"), |bn| {
                bn.iter(|| {
                    g3.copy_from_slice(&pre3);
                    gru::forward_step(&mut g3, &hh, &cp, &mut hout, &valid, h);
                    black_box(&hout);
                })
            });
            let pre1 = data(b * h, 7);
            let mut a1 = pre1.clone();
            g.bench_function(format!("rnn_tanh_forward/{name}"), |bn| {
                bn.iter(|| {
                    a1.copy_from_slice(&pre1);
                    rnn::forward_step(rnn::Activation::Tanh, &mut a1, &cp, &mut hout, &valid, h);
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

criterion_group!(benches, gate_passes, products);
criterion_main!(benches);
