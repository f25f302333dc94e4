//! Owner of `shaders/elementwise.wgsl`: fill, copy, scale, axpy.
//!
//! Bindings: x = 0 (read), y = 1 (read_write), uniform `Params { n: u32, alpha: T }` = 2.

use crate::dtype::Element;
use crate::gpu::shaders;
use crate::kernels::builtin::Elementwise;
use crate::kernels::params::encode_uniform;
use crate::kernels::{Dispatch, GpuKernel, Scalar};

/// Invocations per workgroup; must match `WG` in the shader.
const WORKGROUP_SIZE: u32 = 256;

/// `[x, y, 1]` workgroups for a 1D count, folded into y past 65535 (see the shader).
pub(crate) fn fold(groups: u64) -> [u32; 3] {
    crate::kernels::fold_groups(groups)
}

/// The GPU implementation of `op` on `T`.
pub(crate) fn gpu_kernel<T: Element>(op: Elementwise) -> GpuKernel {
    let args: &[u32] = match op {
        Elementwise::Fill | Elementwise::Scale => &[1],
        Elementwise::Copy | Elementwise::Axpy => &[0, 1],
    };
    let y = args.len() - 1;
    GpuKernel::wgsl(
        shaders::with_dtype(shaders::ELEMENTWISE, T::DTYPE),
        op.name(),
    )
    .bindings(args.iter().copied(), 2)
    .dispatch(Dispatch::Elements {
        arg: y,
        workgroup_size: WORKGROUP_SIZE,
    })
    .uniform(move |l| {
        let n = u32::try_from(l.shapes[y].len()).expect("tile larger than 2^32 elements");
        let alpha = l
            .params
            .first()
            .copied()
            .unwrap_or_else(|| <T as bytemuck::Zeroable>::zeroed().into_scalar());
        encode_uniform(&[Scalar::U32(n), alpha])
    })
}
