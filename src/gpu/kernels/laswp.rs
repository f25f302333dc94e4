//! Owner of `shaders/laswp.wgsl`: the two halves of a row interchange across tiles,
//! `laswp_save` and `laswp_pair` (see `kernels::lu`).
//!
//! Bindings: save: perm = 0, top = 1, save = 2, `SaveParams { mb, cols }` = 3; pair: perm = 0,
//! saved = 4, top = 1, tile = 5, `PairParams { mb, rows, cols, lo }` = 6. One invocation per
//! column.

use std::sync::Arc;

use super::{dim, groups};
use crate::dtype::DType;
use crate::gpu::shaders;
use crate::kernels::params::encode_uniform;
use crate::kernels::{Dispatch, GpuKernel, GpuVariant};

/// Invocations per workgroup (`WG` in the shader).
const WG: u32 = 64;

pub(crate) fn kernel(save: bool, dtype: DType) -> GpuKernel {
    let entry = if save { "laswp_save" } else { "laswp_pair" };
    // The top tile is argument 1 of both.
    let v = GpuVariant::wgsl(
        "per_column",
        shaders::dense_with_dtype(shaders::LASWP, dtype),
        entry,
    )
    .dispatch(Dispatch::Custom(Arc::new(move |l| {
        [groups(l.shapes[if save { 1 } else { 2 }].cols, WG), 1, 1]
    })))
    // Two passes (save) or one (pair) over the top's rows.
    .loop_iterations(move |l| {
        let mb = l.shapes[if save { 1 } else { 2 }].rows as u64;
        2 * mb + 2
    });
    let k = GpuKernel::from_variant(v);
    if save {
        k.bindings([0, 1, 2], 3)
            .uniform(|l| encode_uniform(&[dim(l.shapes[1].rows), dim(l.shapes[1].cols)]))
    } else {
        k.bindings([0, 4, 1, 5], 6).uniform(|l| {
            encode_uniform(&[
                dim(l.shapes[2].rows),
                dim(l.shapes[3].rows),
                dim(l.shapes[2].cols),
                l.params[0],
            ])
        })
    }
}
