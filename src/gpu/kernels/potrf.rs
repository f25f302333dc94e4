//! Owner of `shaders/potrf.wgsl`: Cholesky factorization of one tile.
//!
//! Bindings: A = 0 (read_write), uniform `Params { n }` = 1, status word = 2 (0, or the failing
//! pivot's index + 1). The triangle is the override constant `LOWER`.

use super::{dim, flag};
use crate::dtype::DType;
use crate::error::KernelError;
use crate::gpu::shaders;
use crate::kernels::dense::Uplo;
use crate::kernels::params::encode_uniform;
use crate::kernels::{Dispatch, GpuKernel, GpuVariant};

pub(crate) fn kernel(uplo: Uplo, dtype: DType) -> GpuKernel {
    let right_looking = GpuVariant::wgsl(
        "right_looking",
        shaders::dense_with_dtype(shaders::POTRF, dtype),
        "potrf_right_looking",
    )
    .constant("LOWER", flag(uplo == Uplo::Lower))
    .dispatch(Dispatch::Workgroups([1, 1, 1]))
    // Invocation 0, the busiest: per column j, the scaling loop and its trailing columns
    // j+1, j+1+256, ..., each (n - k) long: about n^2 / 2 + n^2 / 512 + 2 n in all.
    .loop_iterations(|l| {
        let n = l.shapes[0].rows as u64;
        n * n / 2 + n * n / 512 + 2 * n + n * n.div_ceil(256)
    });
    GpuKernel::from_variant(right_looking)
        .uniform(|l| encode_uniform(&[dim(l.shapes[0].rows)]))
        .status(1, |w| match w[0] {
            0 => Ok(()),
            v => Err(KernelError::NotPositiveDefinite {
                index: (v - 1) as usize,
            }),
        })
}
