//! The hot loops: matrix products and the fused element-wise gate passes.

pub mod act;
pub mod matmul;

pub use matmul::{gemm, set_threads, threads, MatMut, MatRef};
