use super::*;
use recurrent::cell::CellKind;
use recurrent::init::Init;
use recurrent::model::{Classifier, ClassifierConfig, EncoderConfig, InputKind, Pooling};
use recurrent::model::{SeqBatch, Steps};
use recurrent::nn::{Reduction, Regression};
use recurrent::rng::Rng;

/// A seasonal series with a trend and some noise.
fn series(n: usize, m: usize) -> Vec<f64> {
    let mut rng = Rng::new(3);
    (0..n)
        .map(|t| {
            0.05 * t as f64
                + (2.0 * std::f64::consts::PI * t as f64 / m as f64).sin()
                + 0.2 * (rng.uniform() - 0.5)
        })
        .collect()
}

/// The hybrid's loss on the windows ending at `origins` (L rows in, H targets out), as
/// the forecaster's training step computes it, and with `grad` its analytic gradient
/// with respect to the smoothing's parameters (added to their `grad`).
fn hybrid_loss(
    net: &mut Classifier<f64>,
    es: &mut Smoothing<f64>,
    z: &[f64],
    origins: &[usize],
    (l, h): (usize, usize),
    grad: bool,
) -> f64 {
    let st = es.states(z);
    let b = origins.len();
    let mut x = vec![0.0; l * b];
    let mut y = Vec::new();
    for (bi, &o) in origins.iter().enumerate() {
        for ti in 0..l {
            x[ti * b + bi] = z[o + 1 + ti - l];
        }
        for s in 1..=h {
            y.push(z[o + s] - st.offset(o, o + s));
        }
    }
    st.normalise(&mut x, origins, l, 1);
    let batch = SeqBatch {
        steps: Steps::Dense(x),
        t: l,
        b,
        lengths: None,
    };
    let (pred, cache) = net.forward(&batch, None).unwrap();
    let (loss, dpred) = Regression::Mse
        .loss(&pred, &y, None, Reduction::Mean)
        .unwrap();
    if grad {
        let dx = net.backward_input(&batch, &cache, &dpred).unwrap();
        let mut g = st.zero_grads();
        st.gather(&mut g, origins, (l, 1), &dx, &dpred);
        es.backward(z, &st, g);
    }
    loss
}

#[test]
fn the_smoothing_gradient_matches_finite_differences_through_the_network() {
    let (m, l, h) = (4, 6, 6);
    let z = series(40, m);
    let cfg = ClassifierConfig {
        input: InputKind::Dense { size: 1 },
        encoder: EncoderConfig {
            cell: CellKind::Lstm,
            hidden: 5,
            layers: 1,
            bidirectional: false,
            dropout: 0.0,
            reg: Default::default(),
        },
        pooling: Pooling::Last,
        outputs: h,
    };
    let mut net = Classifier::<f64>::new(cfg, &Init::default(), &mut Rng::new(1)).unwrap();
    let mut es = Smoothing::<f64>::new(&z[..20], m);
    // Away from the starting constants, so that no term of the gradient vanishes.
    es.alpha.value.data_mut()[0] = 0.4;
    if let Some((g, _)) = &mut es.season {
        g.value.data_mut()[0] = -0.7;
    }
    // Origins whose horizons reach past o + m, so that stepped-back season terms count.
    let origins = [9, 17, 25, 33];
    es.zero_grad();
    hybrid_loss(&mut net, &mut es, &z, &origins, (l, h), true);
    let mut analytic = Vec::new();
    es.visit(&mut |p| analytic.extend(p.grad.data().to_vec()));
    assert_eq!(analytic.len(), 2 + m);
    let eps = 1e-6;
    let mut k = 0;
    let mut worst: f64 = 0.0;
    for pi in 0..3 {
        let len = [1, 1, m][pi];
        for i in 0..len {
            let at = |d: f64| {
                let mut e = es.clone();
                let mut j = 0;
                e.visit_mut(&mut |p| {
                    if j == pi {
                        p.value.data_mut()[i] += d;
                    }
                    j += 1;
                });
                hybrid_loss(&mut net.clone(), &mut e, &z, &origins, (l, h), false)
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
            let err = (numeric - analytic[k]).abs() / numeric.abs().max(1e-3);
            worst = worst.max(err);
            assert!(
                err < 1e-5,
                "parameter {pi}[{i}]: analytic {} numeric {numeric}",
                analytic[k]
            );
            k += 1;
        }
    }
    // Every parameter is reached: a gradient that is 0 everywhere would pass the check.
    assert!(analytic.iter().all(|g| g.abs() > 1e-8), "{analytic:?}");
}

#[test]
fn what_an_origin_is_measured_from_never_reads_a_row_after_it() {
    let (m, o, h) = (4, 20, 11);
    let z = series(40, m);
    let es = Smoothing::<f64>::new(&z[..16], m);
    let st = es.states(&z);
    let mut later = z.clone();
    for v in &mut later[o + 1..] {
        *v += 100.0;
    }
    let moved = es.states(&later);
    for t in o + 1 - 8..=o + h {
        assert_eq!(st.offset(o, t), moved.offset(o, t), "row {t}");
    }
    // The check would see a leak: the offsets of a later origin do move.
    assert_ne!(st.offset(o + 1, o + 2), moved.offset(o + 1, o + 2));
}

#[test]
fn with_alpha_one_and_no_season_the_hybrid_is_the_delta_target() {
    let z = series(30, 5);
    let mut es = Smoothing::<f64>::new(&z, 1);
    assert!(es.season.is_none());
    es.alpha.value.data_mut()[0] = 60.0;
    let st = es.states(&z);
    for o in [3, 10, 29] {
        assert!((st.offset(o, o + 3) - z[o]).abs() < 1e-12);
    }
}

#[test]
fn the_starting_season_is_each_rows_mean_deviation_over_the_first_cycles() {
    // Two cycles of m = 3: deviations (-1, 0, 1) and (-2, 0, 2) average to (-1.5, 0, 1.5).
    let fit = [1.0, 2.0, 3.0, 0.0, 2.0, 4.0, 9.0];
    let es = Smoothing::<f64>::new(&fit, 3);
    let (_, s) = es.season.as_ref().unwrap();
    assert_eq!(s.value.data(), &[-1.5, 0.0, 1.5]);
    // Fewer rows than a cycle: no starting season to read, zeros.
    let es = Smoothing::<f64>::new(&fit[..2], 3);
    assert_eq!(es.season.as_ref().unwrap().1.value.data(), &[0.0; 3]);
}
