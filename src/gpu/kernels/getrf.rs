//! Owner of `shaders/getrf.wgsl`: LU of one panel in one workgroup, with partial pivoting
//! (`getrf_pivot`) or without (`getrf_nopiv`).
//!
//! Bindings: panel = 0 (read_write), pivots = 1 (read_write `u32`, pivoted only), `Params { m,
//! w }` = 2, status word = 3 (0, or the zero pivot's column + 1).

use super::dim;
use crate::dtype::DType;
use crate::error::KernelError;
use crate::gpu::shaders;
use crate::kernels::params::encode_uniform;
use crate::kernels::{Dispatch, GpuKernel, GpuVariant};

/// Invocations of the one workgroup.
const WG: u64 = 256;

pub(crate) fn kernel(pivot: bool, dtype: DType) -> GpuKernel {
    let entry = if pivot { "getrf_pivot" } else { "getrf_nopiv" };
    let v = GpuVariant::wgsl(
        "right_looking",
        shaders::dense_with_dtype(shaders::GETRF, dtype),
        entry,
    )
    .dispatch(Dispatch::Workgroups([1, 1, 1]))
    // Per column j, an invocation runs: the pivot search over its rows (m / WG), the reduction
    // (8), the interchange (w / WG), and for each of its rows the trailing update, four columns
    // per trip plus up to three single ones. Summed over the w columns, with one more trip per
    // loop for the exit test.
    .loop_iterations(|l| {
        let (m, w) = (l.shapes[0].rows as u64, l.shapes[0].cols as u64);
        let rows = m.div_ceil(WG) + 1;
        let per_row = w / 4 + 5;
        rows + w * (2 * rows + 10 + w.div_ceil(WG) + rows * per_row)
    });
    let k = GpuKernel::from_variant(v);
    let k = if pivot { k } else { k.bindings([0], 2) };
    k.uniform(|l| encode_uniform(&[dim(l.shapes[0].rows), dim(l.shapes[0].cols)]))
        .status(1, |w| match w[0] {
            0 => Ok(()),
            v => Err(KernelError::Singular {
                index: (v - 1) as usize,
            }),
        })
}
