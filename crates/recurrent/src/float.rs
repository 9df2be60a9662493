//! The scalar types the engine computes in: `f32` for speed, `f64` for gradient checks and
//! the PyTorch fixtures. Everything numeric in the crate is generic over [`Float`].

use std::fmt::{Debug, Display};

/// A floating-point scalar the engine can compute in (`f32` or `f64`).
///
/// Beyond ordinary arithmetic it names its safetensors dtype and routes matrix products to
/// the kernel that suits its width; the two impls are in `kernels/scalar.rs`, beside the
/// kernels they route to, so that this trait imports nothing.
pub trait Float:
    num_traits::Float
    + num_traits::FromPrimitive
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + std::ops::DivAssign
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
{
    /// The safetensors dtype name (`"F32"`, `"F64"`).
    const DTYPE: &'static str;
    /// Size in bytes.
    const BYTES: usize;

    /// Converts from `f64` (rounding for `f32`).
    fn of(x: f64) -> Self;
    /// Widens to `f64`.
    fn to64(self) -> f64;
    /// Little-endian bytes appended to `out`.
    fn put_le(self, out: &mut Vec<u8>);
    /// Reads from exactly `Self::BYTES` little-endian bytes.
    fn from_le(bytes: &[u8]) -> Self;

    /// sigmoid(x) as the gate passes compute it: the exact formula in f64, a vectorisable
    /// approximation accurate to a few ulp in f32 (see [`crate::kernels::act`]).
    fn act_sigmoid(x: Self) -> Self;
    /// tanh(x) as the gate passes compute it (exact in f64, a few ulp in f32).
    fn act_tanh(x: Self) -> Self;
    /// e^x as the softmax computes it (exact in f64; in f32 about 1 ulp, vectorisable,
    /// clamped to [-87, 87]: a class 87 nats below the best gets e^-87, not 0).
    fn act_exp(x: Self) -> Self;

    /// `C = alpha * A B + beta * C` on strided views, the raw kernel behind
    /// [`crate::kernels::matmul::gemm`]. Shapes: A [m, k], B [k, n], C [m, n].
    ///
    /// # Safety
    /// Every index reached through the strides must lie inside the allocations.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        small: bool,
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}
