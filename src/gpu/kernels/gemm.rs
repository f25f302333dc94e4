//! Owner of `shaders/gemm.wgsl`: `C = alpha op(A) op(B) + beta C`.
//!
//! Bindings: A = 0, B = 1, C = 2 (read_write), uniform `Params { m, n, k, alpha, beta }` = 3.
//! Transposes are the override constants `TRANS_A`, `TRANS_B`.

use std::sync::Arc;

use super::{dim, flag, groups};
use crate::dtype::DType;
use crate::gpu::shaders;
use crate::kernels::dense::{Op, Trans, dims};
use crate::kernels::params::encode_uniform;
use crate::kernels::{Dispatch, GpuKernel, GpuVariant};

pub(crate) fn kernel(ta: Trans, tb: Trans, dtype: DType) -> GpuKernel {
    let op = Op::Gemm(ta, tb);
    let src = shaders::dense_with_dtype(shaders::GEMM, dtype);
    let naive = GpuVariant::wgsl("naive", src, "gemm_naive")
        .constant("TRANS_A", flag(ta.is()))
        .constant("TRANS_B", flag(tb.is()))
        .dispatch(Dispatch::Custom(Arc::new(move |l| {
            let (m, n, _) = dims(op, l.shapes);
            [groups(m, 8), groups(n, 8), 1]
        })));
    GpuKernel::from_variant(naive).uniform(move |l| {
        let (m, n, k) = dims(op, l.shapes);
        encode_uniform(&[dim(m), dim(n), dim(k), l.params[0], l.params[1]])
    })
}
