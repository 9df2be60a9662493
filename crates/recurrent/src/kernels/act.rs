//! Scalar activations and their derivatives, written once for every cell.
//!
//! The derivatives are expressed through the activation's output (`y`), which is what the
//! forward pass keeps: sigmoid' = y (1 - y), tanh' = 1 - y^2, relu' = [y > 0].
//!
//! `sigmoid` and `tanh` go through [`Float::act_sigmoid`] / [`Float::act_tanh`]: in f64 the
//! correctly rounded library functions (the PyTorch fixtures hold to 1e-9), in f32 the
//! branch-free approximations below, accurate to a few ulp, which the compiler vectorises
//! inside the fused gate passes (libm's `tanhf`/`expf` are calls the loop cannot vectorise;
//! they took over half of an LSTM's training time).

use crate::float::Float;

/// sigmoid(x) = 1 / (1 + e^-x).
#[inline(always)]
pub fn sigmoid<F: Float>(x: F) -> F {
    F::act_sigmoid(x)
}

/// tanh(x).
#[inline(always)]
pub fn tanh<F: Float>(x: F) -> F {
    F::act_tanh(x)
}

/// relu(x) = max(x, 0).
#[inline(always)]
pub fn relu<F: Float>(x: F) -> F {
    if x > F::zero() {
        x
    } else {
        F::zero()
    }
}

/// d sigmoid / dx from y = sigmoid(x).
#[inline(always)]
pub fn dsigmoid<F: Float>(y: F) -> F {
    y * (F::one() - y)
}

/// d tanh / dx from y = tanh(x).
#[inline(always)]
pub fn dtanh<F: Float>(y: F) -> F {
    F::one() - y * y
}

/// d relu / dx from y = relu(x) (0 at x = 0, as PyTorch).
#[inline(always)]
pub fn drelu<F: Float>(y: F) -> F {
    if y > F::zero() {
        F::one()
    } else {
        F::zero()
    }
}

/// sigmoid in f64: 1 / (1 + e^-x), written so that e^(-x) never overflows.
#[inline(always)]
pub fn sigmoid_f64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// e^x in f32 for x in [-87, 87] (clamped there: the gates saturate long before), branch
/// free (Cody-Waite reduction and the Cephes `expf` polynomial, about 1 ulp).
///
///   n = round(x / ln 2),  r = x - n ln 2 (in two parts, exact),  e^x = 2^n e^r,
///   e^r = 1 + r + r^2 (1/2 + r/6 + r^2/24 + ...)  for |r| <= ln(2)/2.
#[inline(always)]
#[allow(clippy::excessive_precision)] // the Cephes constants as published
pub fn exp_f32(x: f32) -> f32 {
    // Adding 1.5 * 2^23 rounds to the nearest integer and leaves it in the low mantissa
    // bits, without a float-to-int conversion (which SSE2 cannot vectorise with rounding).
    const MAGIC: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_375;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 87.0);
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let z = r * r;
    let p = (((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1)
        * z
        + r
        + 1.0;
    // 2^n from its exponent bits; n lies in [-126, 126] after the clamp.
    let ni = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    p * f32::from_bits(((ni + 127) << 23) as u32)
}

/// sigmoid in f32: 1 / (1 + e^-x), a few ulp (e^-x saturates at e^87, so the result
/// bottoms out at 1.6e-38 instead of going subnormal).
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// tanh in f32, branch free, a few ulp: the Cephes `tanhf` split,
///   |x| < 0.625:  tanh x = x + x^3 q(x^2)  (odd minimax polynomial),
///   otherwise:    tanh |x| = 1 - 2 / (e^{2|x|} + 1), with the sign of x,
/// both computed and one selected, so the loop around it vectorises.
#[inline(always)]
#[allow(clippy::excessive_precision)] // the Cephes constants as published
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z
            - 3.333_328_2e-1)
            * z
            * x
            + x;
    let large = 1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0);
    let large = f32::from_bits(large.to_bits() | (x.to_bits() & 0x8000_0000));
    if a < 0.625 {
        small
    } else {
        large
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place of the f32 nearest to the exact value.
    fn ulps(got: f32, exact: f64) -> f64 {
        let e = exact as f32;
        let ulp = (f32::from_bits(e.abs().to_bits() + 1) - e.abs()) as f64;
        (got as f64 - exact).abs() / ulp
    }

    fn grid() -> impl Iterator<Item = f32> {
        // Dense near 0 (where relative accuracy is hardest), then out to saturation.
        (-200_000..=200_000)
            .map(|i| i as f32 * 1e-4)
            .chain((-4000..=4000).map(|i| i as f32 * 0.025))
            .chain([1e-30, -1e-30, 1e-8, -3e-6, 0.0, -0.0])
    }

    #[test]
    fn f32_activations_are_within_a_few_ulp() {
        let (mut we, mut ws, mut wt) = (0f64, 0f64, 0f64);
        for x in grid() {
            let xd = x as f64;
            if xd.abs() <= 87.0 {
                we = we.max(ulps(exp_f32(x), xd.exp()));
            }
            if xd >= -86.0 {
                // Below, the exact value goes subnormal and ours stops at 1.6e-38.
                ws = ws.max(ulps(sigmoid_f32(x), sigmoid_f64(xd)));
            }
            wt = wt.max(ulps(tanh_f32(x), xd.tanh()));
        }
        println!("max error: exp {we} ulp, sigmoid {ws} ulp, tanh {wt} ulp");
        assert!(we <= 2.0, "exp: {we} ulp");
        assert!(ws <= 4.0, "sigmoid: {ws} ulp");
        assert!(wt <= 4.0, "tanh: {wt} ulp");
    }

    #[test]
    fn f32_activations_saturate_cleanly() {
        for x in [87.0f32, 100.0, 1e10, f32::MAX, f32::INFINITY] {
            assert_eq!(sigmoid_f32(x), 1.0);
            assert!(sigmoid_f32(-x) > 0.0 && sigmoid_f32(-x) < 2e-38);
            assert_eq!(tanh_f32(x), 1.0);
            assert_eq!(tanh_f32(-x), -1.0);
        }
        assert_eq!(tanh_f32(0.0), 0.0);
        assert_eq!(sigmoid_f32(0.0), 0.5);
        assert!(tanh_f32(f32::NAN).is_nan() && sigmoid_f32(f32::NAN).is_nan());
    }
}
