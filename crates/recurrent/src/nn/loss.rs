//! Losses, each returning the loss (f64) and its gradient with respect to its input, with
//! PyTorch's definitions (`torch.nn.functional.*`) and a mask so padding changes neither.
//!
//! Shapes: `N` rows (e.g. `T * B` predictions), `C` classes.
//! - cross-entropy: logits [N, C], targets [N], mask [N];
//! - regression and binary cross-entropy: predictions, targets and mask all [N].
//!
//! A row (element) is *counted* when its mask entry is true (or there is no mask) and, for
//! cross-entropy, its target is not the ignore index. `Mean` divides by the number counted;
//! uncounted entries get a zero gradient. With nothing counted, `Mean` gives loss 0 and a zero
//! gradient (PyTorch gives NaN), so a batch of pure padding cannot poison training.

use crate::error::{Error, Result};
use crate::float::Float;
use serde::{Deserialize, Serialize};

/// How per-element losses are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduction {
    /// Sum over counted entries divided by their number (PyTorch's default).
    #[default]
    Mean,
    /// Sum over counted entries.
    Sum,
}

impl Reduction {
    /// The factor each counted entry's loss is multiplied by.
    fn scale(self, counted: usize) -> f64 {
        match self {
            Reduction::Mean if counted > 0 => 1.0 / counted as f64,
            Reduction::Mean => 0.0,
            Reduction::Sum => 1.0,
        }
    }
}

fn check_len(what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::tensor(
            what,
            format!("expected {want} elements, got {got}"),
        ));
    }
    Ok(())
}

fn check_mask(mask: Option<&[bool]>, n: usize) -> Result<()> {
    mask.map_or(Ok(()), |m| check_len("loss mask", m.len(), n))
}

/// Softmax cross-entropy over classes, PyTorch's `F.cross_entropy` on logits, with its
/// `label_smoothing` e: the target distribution is q_c = (1 - e) [c == t] + e / C.
///
/// Forward (per counted row n, target t, stable log-sum-exp with m = max_c x[n, c]):
///   l_n = lse_n - sum_c q_c x[n, c],   lse_n = m + ln sum_c exp(x[n, c] - m)
///       = lse_n - (1 - e) x[n, t] - (e / C) sum_c x[n, c]
/// Backward: dx[n, c] = s * (softmax(x[n])_c - q_c), s = 1/count (mean) or 1 (sum).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CrossEntropy {
    /// Rows whose target equals this id are not counted (PyTorch's `ignore_index`).
    #[serde(default)]
    pub ignore_index: Option<usize>,
    /// Mean (default) or sum over counted rows.
    #[serde(default)]
    pub reduction: Reduction,
    /// e in [0, 1): the share of the target's mass spread evenly over all classes.
    #[serde(default)]
    pub label_smoothing: f64,
}

impl CrossEntropy {
    /// Mean over counted rows, no ignore index.
    pub fn new() -> Self {
        CrossEntropy::default()
    }
    /// Sets the ignored target id.
    pub fn ignore_index(mut self, id: usize) -> Self {
        self.ignore_index = Some(id);
        self
    }
    /// Sets the reduction.
    pub fn reduction(mut self, r: Reduction) -> Self {
        self.reduction = r;
        self
    }
    /// Sets the label smoothing e (checked by the loss: 0 <= e < 1).
    pub fn label_smoothing(mut self, e: f64) -> Self {
        self.label_smoothing = e;
        self
    }

    /// Loss and dL/d(logits) [N, C] for logits [N, C] and targets [N] (N = targets.len()).
    /// A counted target >= C is an error naming its row.
    pub fn loss<F: Float>(
        &self,
        logits: &[F],
        classes: usize,
        targets: &[usize],
        mask: Option<&[bool]>,
    ) -> Result<(f64, Vec<F>)> {
        let mut grad = logits.to_vec();
        let l = self.loss_in_place(&mut grad, classes, targets, mask)?;
        Ok((l, grad))
    }

    /// [`CrossEntropy::loss`] writing the gradient into `grad` [N, C] (overwritten).
    pub fn loss_into<F: Float>(
        &self,
        logits: &[F],
        classes: usize,
        targets: &[usize],
        mask: Option<&[bool]>,
        grad: &mut [F],
    ) -> Result<f64> {
        check_len("logits", logits.len(), targets.len() * classes)?;
        check_len("logits gradient", grad.len(), targets.len() * classes)?;
        grad.copy_from_slice(logits);
        self.loss_in_place(grad, classes, targets, mask)
    }

    /// [`CrossEntropy::loss`] overwriting the logits with their gradient: a large
    /// vocabulary's logits ([N, C], tens of megabytes for a translation batch) are not
    /// needed once the loss is known, and a second buffer of their size costs a fresh
    /// allocation and its page faults on every step.
    ///
    /// Rows are split over the thread pool; each row's loss is kept and the rows are
    /// summed in order, so the result is the same bits for any thread count.
    pub fn loss_in_place<F: Float>(
        &self,
        logits: &mut [F],
        classes: usize,
        targets: &[usize],
        mask: Option<&[bool]>,
    ) -> Result<f64> {
        let (n, c) = (targets.len(), classes);
        check_len("logits", logits.len(), n * c)?;
        check_mask(mask, n)?;
        let e = self.label_smoothing;
        if !(0.0..1.0).contains(&e) {
            return Err(Error::Config(format!(
                "label smoothing must be in [0, 1), got {e}"
            )));
        }
        let counted = |i: usize| mask.is_none_or(|m| m[i]) && Some(targets[i]) != self.ignore_index;
        let mut count = 0;
        for (i, &t) in targets.iter().enumerate() {
            if counted(i) {
                if t >= c {
                    return Err(Error::Input(format!(
                        "target {t} at row {i} is not below the {c} classes"
                    )));
                }
                count += 1;
            }
        }
        if n == 0 || c == 0 {
            return Ok(0.0);
        }
        let s = self.reduction.scale(count);
        let mut row_loss = vec![0.0f64; n];
        let row = |i: usize, x: &mut [F]| -> f64 {
            if !counted(i) {
                x.fill(F::zero());
                return 0.0;
            }
            let t = targets[i];
            let xt = x[t].to64();
            // The uniform part of the target distribution, e/C on every class.
            let spread = F::of(s * e / c as f64);
            let [m, sum, sum_x] = softmax_grad_row(x, F::of(s), spread);
            x[t] -= F::of(s * (1.0 - e));
            let lse = m.to64() + sum.to64().ln();
            if e == 0.0 {
                lse - xt
            } else {
                lse - (1.0 - e) * xt - e * sum_x.to64() / c as f64
            }
        };
        let parts = if n * c >= PAR_MIN_ELEMENTS {
            crate::kernels::pool::width()
        } else {
            1
        };
        let (x_addr, l_addr) = (logits.as_mut_ptr() as usize, row_loss.as_mut_ptr() as usize);
        crate::kernels::pool::team(parts, &|tm| {
            for i in tm.share(n, 1) {
                // SAFETY: members take disjoint row ranges of `logits` [n, c] and
                // `row_loss` [n], both alive and unaliased for the team's lifetime.
                let (x, l) = unsafe {
                    (
                        std::slice::from_raw_parts_mut((x_addr as *mut F).add(i * c), c),
                        &mut *(l_addr as *mut f64).add(i),
                    )
                };
                *l = row(i, x);
            }
        });
        Ok(row_loss.iter().sum::<f64>() * s)
    }
}

/// Logit elements below which the softmax stays on one thread (waking the pool costs a
/// few microseconds; a row of a few thousand classes takes about as long).
const PAR_MIN_ELEMENTS: usize = 1 << 16;

/// Lanes of the row reductions: independent partial sums (and maxima) the vector unit
/// fills, in a fixed order so every width gives the same bits.
const LANES: usize = 16;

crate::multiversion! {
    /// One row of the softmax gradient, in place: x <- scale * softmax(x) - shift.
    /// `out` gets the input row's max m, sum_c exp(x_c - m) and sum_c x_c (the log-sum-exp
    /// is m + ln of the second; the third is label smoothing's mean logit).
    fn softmax_grad_kernel<F: Float>(x: &mut [F], scale: F, shift: F, out: &mut [F; 3]) {
        let split = x.len() / LANES * LANES;
        let (mut mx, mut sx) = ([F::neg_infinity(); LANES], [F::zero(); LANES]);
        for ch in x[..split].chunks_exact(LANES) {
            for l in 0..LANES {
                // A compare and select (not `max`), so the loop vectorises; a NaN logit
                // still reaches the sums below and makes the loss NaN.
                mx[l] = if ch[l] > mx[l] { ch[l] } else { mx[l] };
                sx[l] += ch[l];
            }
        }
        for (l, &v) in x[split..].iter().enumerate() {
            mx[l] = if v > mx[l] { v } else { mx[l] };
            sx[l] += v;
        }
        let m = mx.iter().fold(F::neg_infinity(), |a, &b| if b > a { b } else { a });
        let mut se = [F::zero(); LANES];
        for ch in x[..split].chunks_exact_mut(LANES) {
            for l in 0..LANES {
                ch[l] = F::act_exp(ch[l] - m);
                se[l] += ch[l];
            }
        }
        for (l, v) in x[split..].iter_mut().enumerate() {
            *v = F::act_exp(*v - m);
            se[l] += *v;
        }
        let sum = se.iter().fold(F::zero(), |a, &b| a + b);
        let k = scale / sum;
        x.iter_mut().for_each(|v| *v = *v * k - shift);
        *out = [m, sum, sx.iter().fold(F::zero(), |a, &b| a + b)];
    }
}

/// [`softmax_grad_kernel`] returning its three row statistics.
fn softmax_grad_row<F: Float>(x: &mut [F], scale: F, shift: F) -> [F; 3] {
    let mut out = [F::zero(); 3];
    softmax_grad_kernel(x, scale, shift, &mut out);
    out
}

/// An element-wise regression loss on predictions p and targets y, d = p - y.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Regression {
    /// `F.mse_loss`: l = d^2, dl/dp = 2d.
    Mse,
    /// `F.l1_loss`: l = |d|, dl/dp = sign(d) (0 at d = 0, as PyTorch).
    Mae,
    /// `F.huber_loss`: l = d^2/2 where |d| <= delta, else delta (|d| - delta/2);
    /// dl/dp = d where |d| <= delta, else delta sign(d).
    Huber {
        /// The switch point between quadratic and linear (> 0; PyTorch's default 1).
        delta: f64,
    },
}

impl Regression {
    /// Loss and dL/dp [N] for predictions and targets [N], over the counted elements.
    pub fn loss<F: Float>(
        &self,
        pred: &[F],
        target: &[F],
        mask: Option<&[bool]>,
        reduction: Reduction,
    ) -> Result<(f64, Vec<F>)> {
        check_len("regression target", target.len(), pred.len())?;
        check_mask(mask, pred.len())?;
        if let Regression::Huber { delta } = *self {
            if delta.is_nan() || delta <= 0.0 {
                return Err(Error::Config(format!(
                    "huber delta must be > 0, got {delta}"
                )));
            }
        }
        let count = mask.map_or(pred.len(), |m| m.iter().filter(|&&b| b).count());
        let s = reduction.scale(count);
        let sf = F::of(s);
        let mut total = 0.0f64;
        let mut grad = vec![F::zero(); pred.len()];
        for (i, ((&p, &y), g)) in pred.iter().zip(target).zip(&mut grad).enumerate() {
            if mask.is_some_and(|m| !m[i]) {
                continue;
            }
            let d = p - y;
            let (l, dl) = match *self {
                Regression::Mse => (d * d, d + d),
                Regression::Mae => (d.abs(), sign(d)),
                Regression::Huber { delta } => {
                    let dt = F::of(delta);
                    if d.abs() <= dt {
                        (F::of(0.5) * d * d, d)
                    } else {
                        (dt * (d.abs() - F::of(0.5) * dt), dt * sign(d))
                    }
                }
            };
            total += l.to64();
            *g = dl * sf;
        }
        Ok((total * s, grad))
    }
}

/// sign(x) with sign(0) = 0 (and NaN kept), as `torch.sign`.
fn sign<F: Float>(x: F) -> F {
    if x > F::zero() {
        F::one()
    } else if x < F::zero() {
        -F::one()
    } else {
        x
    }
}

/// The logistic function, without overflow for either sign.
fn sigmoid<F: Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::one() + e)
    }
}

/// Binary cross-entropy on logits x with targets y in [0, 1], `F.binary_cross_entropy_with_logits`.
///
/// Forward (stable for any |x|): l = max(x, 0) - x y + ln(1 + exp(-|x|))
/// Backward: dl/dx = sigmoid(x) - y
pub fn bce_with_logits<F: Float>(
    logits: &[F],
    target: &[F],
    mask: Option<&[bool]>,
    reduction: Reduction,
) -> Result<(f64, Vec<F>)> {
    check_len("bce target", target.len(), logits.len())?;
    check_mask(mask, logits.len())?;
    let count = mask.map_or(logits.len(), |m| m.iter().filter(|&&b| b).count());
    let s = reduction.scale(count);
    let sf = F::of(s);
    let mut total = 0.0f64;
    let mut grad = vec![F::zero(); logits.len()];
    for (i, ((&x, &y), g)) in logits.iter().zip(target).zip(&mut grad).enumerate() {
        if mask.is_some_and(|m| !m[i]) {
            continue;
        }
        let l = x.max(F::zero()) - x * y + (-x.abs()).exp().ln_1p();
        total += l.to64();
        *g = (sigmoid(x) - y) * sf;
    }
    Ok((total * s, grad))
}

#[cfg(test)]
mod tests {
    /// PyTorch's `F.cross_entropy(x, t, label_smoothing=0.1)` in float64 (torch 2.15,
    /// `torch.manual_seed(0); x = torch.randn(3, 5)`), loss and gradient.
    #[test]
    fn label_smoothing_matches_pytorch_and_finite_differences() {
        let x: [f64; 15] = [
            1.5409961082440433,
            -0.2934289057609464,
            -2.1787893820745574,
            0.5684312772806678,
            -1.084522342424021,
            -1.3985953953708767,
            0.4033468476292993,
            0.8380263329976598,
            -0.7192575784693592,
            -0.40334352493217457,
            -0.5966353626151273,
            0.18203648506130554,
            -0.8566745932963743,
            1.100604170903427,
            -1.0711873631091473,
        ];
        let want_grad: [f64; 15] = [
            0.19727445294807575,
            -0.2740961882245051,
            -0.0017233038460498762,
            0.07044591795232831,
            0.00809912117015086,
            0.0091303451669337,
            0.0890854793667416,
            0.14121945450765547,
            0.02449406228612202,
            -0.26392934132745277,
            -0.27343508677703504,
            0.06573088434315232,
            0.018955590507670483,
            0.17473979512492568,
            0.01400881680128652,
        ];
        let ce = CrossEntropy::new().label_smoothing(0.1);
        let t = [1, 4, 0];
        let (l, g) = ce.loss(&x, 5, &t, None).unwrap();
        assert!((l - 2.211829484616717).abs() < 1e-14, "{l}");
        for (a, b) in g.iter().zip(want_grad) {
            assert!((a - b).abs() < 1e-14, "{a} {b}");
        }
        // Finite differences, with a masked row and the sum reduction.
        let ce = ce.reduction(Reduction::Sum);
        let mask = [true, false, true];
        let (_, g) = ce.loss(&x, 5, &t, Some(&mask)).unwrap();
        for i in 0..x.len() {
            let mut xp = x;
            let mut xm = x;
            xp[i] += 1e-6;
            xm[i] -= 1e-6;
            let fd = (ce.loss(&xp, 5, &t, Some(&mask)).unwrap().0
                - ce.loss(&xm, 5, &t, Some(&mask)).unwrap().0)
                / 2e-6;
            assert!((fd - g[i]).abs() < 1e-8, "{i}: {fd} {}", g[i]);
        }
        assert!(CrossEntropy::new()
            .label_smoothing(1.0)
            .loss(&x, 5, &t, None)
            .is_err());
    }

    use super::*;

    /// The PyTorch reference values (f64), written by `scripts/gen_loss_fixtures.py`.
    const FIXTURE: &str = include_str!("../../tests/fixtures/losses/losses.json");

    fn floats(v: &serde_json::Value) -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }
    fn bools(v: &serde_json::Value) -> Option<Vec<bool>> {
        v.as_array()
            .map(|a| a.iter().map(|x| x.as_bool().unwrap()).collect())
    }
    fn reduction(v: &serde_json::Value) -> Reduction {
        match v.as_str().unwrap() {
            "mean" => Reduction::Mean,
            "sum" => Reduction::Sum,
            r => panic!("unknown reduction {r}"),
        }
    }
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    /// Runs one fixture case through our loss.
    fn run_case(case: &serde_json::Value) -> (f64, Vec<f64>) {
        let red = reduction(&case["reduction"]);
        let mask = bools(&case["mask"]);
        let x = floats(&case["input"]);
        match case["kind"].as_str().unwrap() {
            "cross_entropy" => {
                let targets: Vec<usize> = case["target"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect();
                let mut ce = CrossEntropy::new().reduction(red);
                ce.ignore_index = case["ignore_index"].as_u64().map(|v| v as usize);
                let c = case["classes"].as_u64().unwrap() as usize;
                ce.loss(&x, c, &targets, mask.as_deref()).unwrap()
            }
            "bce_with_logits" => {
                bce_with_logits(&x, &floats(&case["target"]), mask.as_deref(), red).unwrap()
            }
            kind => {
                let r = match kind {
                    "mse" => Regression::Mse,
                    "mae" => Regression::Mae,
                    "huber" => Regression::Huber {
                        delta: case["delta"].as_f64().unwrap(),
                    },
                    k => panic!("unknown kind {k}"),
                };
                r.loss(&x, &floats(&case["target"]), mask.as_deref(), red)
                    .unwrap()
            }
        }
    }

    #[test]
    fn matches_pytorch_values_and_gradients() {
        let cases: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        let cases = cases.as_array().unwrap();
        assert!(cases.len() >= 15);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let (loss, grad) = run_case(case);
            let want = case["loss"].as_f64().unwrap();
            assert!(close(loss, want), "{name}: loss {loss} vs torch {want}");
            let want_g = floats(&case["grad"]);
            assert_eq!(grad.len(), want_g.len(), "{name}");
            for (k, (a, b)) in grad.iter().zip(&want_g).enumerate() {
                assert!(close(*a, *b), "{name}: grad[{k}] {a} vs torch {b}");
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let cases: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        for case in cases.as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let (_, grad) = run_case(case);
            let x = floats(&case["input"]);
            for k in 0..x.len() {
                let at = |delta: f64| {
                    let mut c = case.clone();
                    let mut xs = x.clone();
                    xs[k] += delta;
                    c["input"] = serde_json::json!(xs);
                    run_case(&c).0
                };
                let eps = 1e-6;
                let num = (at(eps) - at(-eps)) / (2.0 * eps);
                // Kinks (|d| = 0 for MAE, |d| = delta for Huber) have no derivative; the
                // fixtures keep every point at least 1e-3 away from one except exact zeros,
                // which MAE cases place on purpose and are skipped here.
                let kink = case["kind"] == "mae" && x[k] == floats(&case["target"])[k];
                if !kink {
                    assert!(
                        (num - grad[k]).abs() <= 1e-7 * num.abs().max(1.0),
                        "{name}: grad[{k}] {} vs numeric {num}",
                        grad[k]
                    );
                }
            }
        }
    }

    #[test]
    fn padding_changes_neither_loss_nor_gradient() {
        let logits = [0.5f64, -1.0, 2.0, 0.1, 0.2, 0.3, 9.0, -9.0, 4.0];
        let ce = CrossEntropy::new().ignore_index(0);
        let (base, g0) = ce.loss(&logits[..6], 3, &[2, 1], None).unwrap();
        // A third row that is padding: by ignore index, and by mask with any target.
        let (l1, g1) = ce.loss(&logits, 3, &[2, 1, 0], None).unwrap();
        let (l2, g2) = ce
            .loss(&logits, 3, &[2, 1, 2], Some(&[true, true, false]))
            .unwrap();
        assert_eq!((base, &g0[..]), (l1, &g1[..6]));
        assert_eq!((base, &g0[..]), (l2, &g2[..6]));
        assert!(g1[6..].iter().chain(&g2[6..]).all(|&g| g == 0.0));
        // Nothing counted: zero, not NaN.
        let (l, g) = ce.loss(&logits[..3], 3, &[0], None).unwrap();
        assert_eq!(l, 0.0);
        assert!(g.iter().all(|&v| v == 0.0));
        let p = [1.0f64, 2.0, 3.0];
        let y = [0.0f64, 0.0, 100.0];
        let (a, ga) = Regression::Mse
            .loss(&p, &y, Some(&[true, true, false]), Reduction::Mean)
            .unwrap();
        let (b, _) = Regression::Mse
            .loss(&p[..2], &y[..2], None, Reduction::Mean)
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(ga[2], 0.0);
    }

    #[test]
    fn stable_for_huge_logits_and_errors_on_bad_input() {
        let (l, g) = CrossEntropy::new()
            .loss(&[1e4f32, -1e4, 0.0], 3, &[1], None)
            .unwrap();
        assert!((l - 2e4).abs() < 1.0, "{l}");
        assert!(g.iter().all(|v| v.is_finite()));
        let (l, g) =
            bce_with_logits(&[800.0f64, -800.0], &[0.0, 0.0], None, Reduction::Sum).unwrap();
        assert_eq!(l, 800.0);
        assert_eq!(g, vec![1.0, 0.0]);
        let err = CrossEntropy::new()
            .loss(&[0.0f64; 6], 3, &[1, 3], None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("target 3 at row 1"), "{err}");
        assert!(CrossEntropy::new()
            .loss(&[0.0f64; 5], 3, &[1, 2], None)
            .is_err());
        assert!(Regression::Mse
            .loss(&[0.0f64; 2], &[0.0; 3], None, Reduction::Mean)
            .is_err());
        assert!(Regression::Huber { delta: 0.0 }
            .loss(&[0.0f64], &[0.0], None, Reduction::Mean)
            .is_err());
        assert!(bce_with_logits(&[0.0f64; 2], &[0.0; 2], Some(&[true]), Reduction::Mean).is_err());
    }
}
