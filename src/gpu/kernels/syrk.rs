//! Owner of `shaders/syrk.wgsl`: `C = alpha op(A) op(A)^T + beta C` on one triangle.
//!
//! Bindings: A = 0, C = 1 (read_write), uniform `Params { n, k, alpha, beta }` = 2.

use std::sync::Arc;

use super::{dim, flag, groups};
use crate::dtype::DType;
use crate::gpu::shaders;
use crate::kernels::dense::{Op, Trans, Uplo, dims};
use crate::kernels::params::encode_uniform;
use crate::kernels::{Dispatch, GpuKernel, GpuVariant};

/// Elements of C per workgroup side (8 invocations of 4).
const TILE: u32 = 32;

pub(crate) fn kernel(uplo: Uplo, trans: Trans, dtype: DType) -> GpuKernel {
    let op = Op::Syrk(uplo, trans);
    let blocked = GpuVariant::wgsl(
        "blocked",
        shaders::dense_with_dtype(shaders::SYRK, dtype),
        "syrk_blocked",
    )
    .constant("LOWER", flag(uplo == Uplo::Lower))
    .constant("TRANS", flag(trans.is()))
    .dispatch(Dispatch::Custom(Arc::new(move |l| {
        let (n, _, _) = dims(op, l.shapes);
        [groups(n, TILE), groups(n, TILE), 1]
    })))
    // Per k: the loads loop (4), the 4 x 4 update loops (20), the k loop itself; then the store.
    .loop_iterations(move |l| {
        let (_, _, k) = dims(op, l.shapes);
        25 * k as u64 + 40
    });
    GpuKernel::from_variant(blocked).uniform(move |l| {
        let (n, _, k) = dims(op, l.shapes);
        encode_uniform(&[dim(n), dim(k), l.params[0], l.params[1]])
    })
}
