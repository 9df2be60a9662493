//! A finite-difference gradient checker in f64 for any [`Module`]: central differences of
//! the loss against the gradients the hand-written backward passes accumulate.

use crate::param::Module;

/// The result of a check: the worst relative error and where it was.
#[derive(Clone, Debug)]
pub struct GradCheck {
    /// max over checked entries of |analytic - numeric| / max(|analytic| + |numeric|, floor).
    pub max_rel_err: f64,
    /// `name[index]` of the worst entry.
    pub worst: String,
    /// How many entries were checked.
    pub checked: usize,
}

/// Checks every parameter of `model` (up to `per_param` entries each, spread evenly).
///
/// `loss(model, backward)` computes the loss; when `backward` is true it must also run the
/// backward pass, accumulating into the (zeroed) gradients. Central differences with step
/// `eps`. The relative error's denominator is floored at 1e-3 times the largest analytic
/// gradient of the same parameter, 1e-5 times the largest of the whole model, and 1e-7:
/// entries many orders of magnitude below those scales are judged on absolute error, since
/// central differences (rounding noise ~1e-16 |L| / eps) cannot resolve them, while a wrong
/// backward shows on the large entries.
pub fn check<M: Module<f64>>(
    model: &mut M,
    mut loss: impl FnMut(&mut M, bool) -> f64,
    eps: f64,
    per_param: usize,
) -> GradCheck {
    model.zero_grad();
    loss(model, true);
    let mut analytic: Vec<(String, Vec<f64>)> = Vec::new();
    model.visit(&mut |p| analytic.push((p.name.clone(), p.grad.data().to_vec())));
    let global = analytic
        .iter()
        .flat_map(|(_, g)| g.iter())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let mut report = GradCheck {
        max_rel_err: 0.0,
        worst: String::new(),
        checked: 0,
    };
    for (pi, (name, grad)) in analytic.iter().enumerate() {
        let n = grad.len();
        let step = (n / per_param.max(1)).max(1);
        let floor = (1e-3 * grad.iter().fold(0.0f64, |m, v| m.max(v.abs())))
            .max(1e-5 * global)
            .max(1e-7);
        for idx in (0..n).step_by(step) {
            let nudge = |model: &mut M, delta: f64| {
                let mut k = 0;
                model.visit_mut(&mut |p| {
                    if k == pi {
                        p.value.data_mut()[idx] += delta;
                    }
                    k += 1;
                });
            };
            nudge(model, eps);
            let up = loss(model, false);
            nudge(model, -2.0 * eps);
            let down = loss(model, false);
            nudge(model, eps);
            let numeric = (up - down) / (2.0 * eps);
            let a = grad[idx];
            let err = (a - numeric).abs() / (a.abs() + numeric.abs()).max(floor);
            report.checked += 1;
            if err > report.max_rel_err || !err.is_finite() {
                report.max_rel_err = if err.is_finite() { err } else { f64::INFINITY };
                report.worst = format!("{name}[{idx}] analytic {a:e} numeric {numeric:e}");
            }
        }
    }
    report
}
