//! The hot loops: matrix products and the fused element-wise gate passes.

pub mod act;
pub mod matmul;
pub mod matvec;
pub mod packed;
pub mod pool;
pub mod quant;
pub mod roofline;
mod scalar;
pub mod simd;
pub mod workspace;

pub use matmul::{gemm, MatMut, MatRef};
pub use pool::{set_threads, threads};
