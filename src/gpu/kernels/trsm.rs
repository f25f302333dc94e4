//! Owner of `shaders/trsm.wgsl`: triangular solves with many right-hand sides.
//!
//! Bindings: A = 0, B = 1 (read_write), uniform `Params { m, n, alpha }` = 2. Side, triangle,
//! transpose and unit diagonal are the override constants `LEFT`, `LOWER`, `TRANS`, `UNIT`.

use std::sync::Arc;

use super::{dim, flag, groups};
use crate::dtype::DType;
use crate::gpu::shaders;
use crate::kernels::dense::{Diag, Side, Trans, Uplo};
use crate::kernels::params::encode_uniform;
use crate::kernels::{Dispatch, GpuKernel, GpuVariant};

pub(crate) fn kernel(side: Side, uplo: Uplo, trans: Trans, diag: Diag, dtype: DType) -> GpuKernel {
    let left = side == Side::Left;
    let substitute = GpuVariant::wgsl(
        "substitute",
        shaders::dense_with_dtype(shaders::TRSM, dtype),
        "trsm_substitute",
    )
    .constant("LEFT", flag(left))
    .constant("LOWER", flag(uplo == Uplo::Lower))
    .constant("TRANS", flag(trans.is()))
    .constant("UNIT", flag(diag == Diag::Unit))
    .dispatch(Dispatch::Custom(Arc::new(move |l| {
        let b = l.shapes[1];
        let systems = if left { b.cols } else { b.rows };
        [groups(systems, 64), 1, 1]
    })))
    // One system per invocation by substitution: about q^2 / 2 inner iterations plus q outer.
    .loop_iterations(move |l| {
        let q = l.shapes[0].rows as u64;
        q * (q + 1) / 2 + q
    });
    GpuKernel::from_variant(substitute).uniform(|l| {
        let b = l.shapes[1];
        encode_uniform(&[dim(b.rows), dim(b.cols), l.params[0]])
    })
}
