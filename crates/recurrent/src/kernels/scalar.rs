//! How `f32` and `f64` implement [`Float`]: the matrix-product and activation kernels each
//! routes to. Here rather than in `float.rs`, so that the trait imports no kernel and the
//! kernels can import the trait.

use crate::float::Float;

macro_rules! impl_float {
    ($t:ty, $name:literal, $mm:path, $sig:path, $tanh:expr, $exp:expr) => {
        impl Float for $t {
            const DTYPE: &'static str = $name;
            const BYTES: usize = std::mem::size_of::<$t>();
            #[inline(always)]
            fn of(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to64(self) -> f64 {
                self as f64
            }
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn from_le(bytes: &[u8]) -> Self {
                let mut b = [0u8; std::mem::size_of::<$t>()];
                b.copy_from_slice(bytes);
                <$t>::from_le_bytes(b)
            }
            #[inline(always)]
            fn act_sigmoid(x: Self) -> Self {
                $sig(x)
            }
            #[inline(always)]
            fn act_tanh(x: Self) -> Self {
                $tanh(x)
            }
            #[inline(always)]
            fn act_exp(x: Self) -> Self {
                $exp(x)
            }
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
            ) {
                if small {
                    super::matmul::faer_gemm(
                        m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc,
                    )
                } else {
                    $mm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
                }
            }
        }
    };
}

impl_float!(
    f32,
    "F32",
    matrixmultiply::sgemm,
    super::act::sigmoid_f32,
    super::act::tanh_f32,
    super::act::exp_f32
);
impl_float!(
    f64,
    "F64",
    matrixmultiply::dgemm,
    super::act::sigmoid_f64,
    f64::tanh,
    f64::exp
);
