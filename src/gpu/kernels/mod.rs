//! GPU halves of the built-in kernels: one file per shader family in `shaders/`, holding its
//! bindings, uniform layout, variants and dispatch geometry.

pub(crate) mod elementwise;
pub(crate) mod fft;
mod gemm;
pub(crate) mod getrf;
pub(crate) mod laswp;
mod potrf;
pub(crate) mod qr;
pub(crate) mod submatrix;
mod syrk;
mod trsm;

use crate::dtype::DType;
use crate::kernels::GpuKernel;
use crate::kernels::dense::Op;

/// The GPU implementation of a dense operation on `dtype` tiles.
pub(crate) fn dense_kernel(op: Op, dtype: DType) -> GpuKernel {
    match op {
        Op::Gemm(ta, tb) => gemm::kernel(ta, tb, dtype),
        Op::Syrk(uplo, trans) => syrk::kernel(uplo, trans, dtype),
        Op::Trsm(side, uplo, trans, diag) => trsm::kernel(side, uplo, trans, diag, dtype),
        Op::Potrf(uplo) => potrf::kernel(uplo, dtype),
    }
}

/// The size class of a tile dimension for autotuning: variants are timed once per class.
pub(crate) fn size_bucket(x: usize) -> usize {
    match x {
        0..=64 => 64,
        65..=256 => 256,
        257..=1024 => 1024,
        _ => 4096,
    }
}

/// `ceil(x / d)` as a workgroup count.
pub(crate) fn groups(x: usize, d: u32) -> u32 {
    u32::try_from(x.div_ceil(d as usize)).unwrap_or(u32::MAX)
}

/// A `u32` size for a uniform.
pub(crate) fn dim(x: usize) -> crate::kernels::Scalar {
    crate::kernels::Scalar::U32(u32::try_from(x).expect("tile dimension above 2^32"))
}

/// Bool override constant value.
pub(crate) fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}
