//! Owner of `shaders/geqrt.wgsl`, `shaders/tsqrt.wgsl`, `shaders/unmqr.wgsl` and
//! `shaders/tsmqr.wgsl`: the tile QR kernels (conventions in `kernels/qr.rs`).
//!
//! Bindings: the arguments in order, then `Params` (the tile sizes and `ib`, the T tile's row
//! count). `unmqr` and `tsmqr` take the transpose as the override constant `TRANS`. The
//! factorizations run in one workgroup and keep `ib <= 256` (their workgroup arrays); the
//! applications dispatch one workgroup per 8 columns.

use std::sync::Arc;

use super::{dim, flag, groups};
use crate::dtype::DType;
use crate::gpu::shaders;
use crate::kernels::params::encode_uniform;
use crate::kernels::qr::QrOp;
use crate::kernels::{Dispatch, GpuKernel, GpuVariant, Launch};

/// Invocations of the factorization kernels, and their column and row lanes.
const WG: u64 = 256;
const CL: u64 = 32;
const RL: u64 = 8;
/// The largest `ib` the factorization kernels hold in workgroup memory.
const MAX_IB: usize = 256;

pub(crate) fn kernel(op: QrOp, dtype: DType) -> GpuKernel {
    let src = |body: &str| shaders::dense_with_dtype(body, dtype);
    match op {
        QrOp::Geqrt => {
            let v = GpuVariant::wgsl("workgroup", src(shaders::GEQRT), "geqrt_workgroup")
                .dispatch(Dispatch::Workgroups([1, 1, 1]))
                .applies(|l| l.shapes[1].rows <= MAX_IB)
                .loop_iterations(|l| {
                    let s = l.shapes;
                    factor_iterations(s[0].rows as u64, s[0].cols as u64, s[1].rows as u64, 1)
                });
            GpuKernel::from_variant(v).uniform(|l| {
                let s = l.shapes;
                encode_uniform(&[dim(s[0].rows), dim(s[0].cols), dim(s[1].rows)])
            })
        }
        QrOp::Tsqrt => {
            let v = GpuVariant::wgsl("workgroup", src(shaders::TSQRT), "tsqrt_workgroup")
                .dispatch(Dispatch::Workgroups([1, 1, 1]))
                .applies(|l| l.shapes[2].rows <= MAX_IB)
                .loop_iterations(|l| {
                    let s = l.shapes;
                    factor_iterations(s[1].rows as u64, s[1].cols as u64, s[2].rows as u64, 0)
                });
            GpuKernel::from_variant(v).uniform(|l| {
                let s = l.shapes;
                encode_uniform(&[
                    dim(s[0].rows),
                    dim(s[1].rows),
                    dim(s[1].cols),
                    dim(s[2].rows),
                ])
            })
        }
        QrOp::Unmqr(trans) => {
            let v = GpuVariant::wgsl("columns", src(shaders::UNMQR), "unmqr_columns")
                .constant("TRANS", flag(trans.is()))
                .dispatch(columns(2))
                .loop_iterations(|l| apply_iterations(l.shapes[0].rows, l.shapes[0].cols));
            GpuKernel::from_variant(v).uniform(|l| {
                let s = l.shapes;
                encode_uniform(&[
                    dim(s[0].rows),
                    dim(s[0].cols),
                    dim(s[2].cols),
                    dim(s[1].rows),
                ])
            })
        }
        QrOp::Tsmqr(trans) => {
            let v = GpuVariant::wgsl("columns", src(shaders::TSMQR), "tsmqr_columns")
                .constant("TRANS", flag(trans.is()))
                .dispatch(columns(3))
                .loop_iterations(|l| apply_iterations(l.shapes[0].rows, l.shapes[0].cols));
            GpuKernel::from_variant(v).uniform(|l| {
                let s = l.shapes;
                encode_uniform(&[
                    dim(s[2].rows),
                    dim(s[0].rows),
                    dim(s[0].cols),
                    dim(s[3].cols),
                    dim(s[1].rows),
                ])
            })
        }
    }
}

/// One workgroup per 8 columns of argument `arg`.
fn columns(arg: usize) -> Dispatch {
    Dispatch::Custom(Arc::new(move |l: &Launch<'_>| {
        [groups(l.shapes[arg].cols, 8), 1, 1]
    }))
}

/// Loop iterations of one invocation of `unmqr`/`tsmqr` with `k` reflectors of at most `m`
/// rows: per reflector, the dot product and update loops (`m / 8` each) and the 8-term sum.
fn apply_iterations(m: usize, k: usize) -> u64 {
    let (m, k) = (m as u64, k as u64);
    k * (2 * (m.div_ceil(RL) + 1) + RL + 1) + 1
}

/// Loop iterations of one invocation of `geqrt` (`head = 1`: the reflectors' tails start
/// below the diagonal) or `tsqrt` (`head = 0`: they are all of `A2`), `m` tail rows at most,
/// `n` columns, inner block `ib`: T's zero fill; per column the three strided passes, the two
/// reductions and the trailing columns `CL` at a time; per block column the Gram column and the
/// triangular product.
fn factor_iterations(m: u64, n: u64, ib: u64, head: u64) -> u64 {
    let red = 2 * 8 + 2;
    let pass = m.div_ceil(WG) + 1;
    let dot = m.div_ceil(RL) + 1;
    let mut total = (ib * n).div_ceil(WG) + 1;
    for j in 0..n {
        let chunks = (n - j - head.min(n - j)).div_ceil(CL) + 1;
        total += 3 * pass + red + chunks * (2 * dot + RL + 1);
    }
    let ib = ib.max(1);
    for b0 in (0..n).step_by(ib as usize) {
        let w = ib.min(n - b0);
        for i in 1..w {
            total += i.div_ceil(CL) * (dot + RL + 1) + i + 1;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_budgets_grow_with_the_tile() {
        assert!(factor_iterations(32, 32, 8, 1) < factor_iterations(64, 64, 8, 1));
        // A 128-tile fits lavapipe's 65535 iterations per invocation, everywhere.
        assert!(factor_iterations(128, 128, 32, 1) < 65_535);
        assert!(apply_iterations(128, 128) < 65_535);
    }
}
