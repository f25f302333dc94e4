//! Owner of `shaders/submatrix.wgsl`: `get_tile` and `set_tile` between a tile and a block of a
//! larger matrix.
//!
//! Bindings: source = 0, destination = 1, uniform `Params { big_rows, t_rows, t_cols, row0,
//! col0 }` = 2 (the scalar parameters `row0, col0` plus sizes taken from the shapes).

use std::sync::Arc;

use super::{dim, groups};
use crate::dtype::DType;
use crate::gpu::kernels::elementwise;
use crate::gpu::shaders;
use crate::kernels::params::encode_uniform;
use crate::kernels::{Dispatch, GpuKernel};

const WORKGROUP_SIZE: u32 = 256;

/// `get_tile` (`big -> tile`) when `get`, else `set_tile` (`tile -> big`).
pub(crate) fn kernel(get: bool, dtype: DType) -> GpuKernel {
    let (big, tile) = if get { (0, 1) } else { (1, 0) };
    GpuKernel::wgsl(
        shaders::with_dtype(shaders::SUBMATRIX, dtype),
        if get { "get_tile" } else { "set_tile" },
    )
    .dispatch(Dispatch::Custom(Arc::new(move |l| {
        elementwise::fold(u64::from(groups(l.shapes[tile].len(), WORKGROUP_SIZE)))
    })))
    .uniform(move |l| {
        let (b, t) = (l.shapes[big], l.shapes[tile]);
        encode_uniform(&[
            dim(b.rows),
            dim(t.rows),
            dim(t.cols),
            l.params[0],
            l.params[1],
        ])
    })
}
