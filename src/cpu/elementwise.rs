//! CPU halves of fill, copy, scale and axpy. Integer types wrap, matching WGSL.

use num_complex::Complex;

use crate::dtype::Element;
use crate::error::KernelError;
use crate::kernels::CpuTask;
use crate::kernels::builtin::Elementwise;

/// Multiplication and addition as WGSL defines them for each element type.
pub(crate) trait Arith: Element {
    fn mul(a: Self, b: Self) -> Self;
    fn add(a: Self, b: Self) -> Self;
}

macro_rules! float_arith {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            fn mul(a: Self, b: Self) -> Self { a * b }
            fn add(a: Self, b: Self) -> Self { a + b }
        }
    )*};
}
float_arith!(half::f16, f32, f64, Complex<f32>, Complex<f64>);

macro_rules! int_arith {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            fn mul(a: Self, b: Self) -> Self { a.wrapping_mul(b) }
            fn add(a: Self, b: Self) -> Self { a.wrapping_add(b) }
        }
    )*};
}
int_arith!(u32, i32);

/// `get_tile` (`big -> tile`) when `get`, else `set_tile`, on any element type (a byte copy).
pub(crate) fn submatrix(get: bool, t: &mut CpuTask<'_>) -> Result<(), KernelError> {
    let (big, tile) = if get { (0, 1) } else { (1, 0) };
    let (b, s) = (t.shape(big), t.shape(tile));
    let size = b.dtype.size();
    let r0 = t.param::<u32>(0) as usize;
    let c0 = t.param::<u32>(1) as usize;
    let col = s.rows * size;
    let (src, dst) = t.bytes_pair();
    for c in 0..s.cols {
        let at_big = ((r0) + (c0 + c) * b.rows) * size;
        let at_tile = c * col;
        if get {
            dst[at_tile..at_tile + col].copy_from_slice(&src[at_big..at_big + col]);
        } else {
            dst[at_big..at_big + col].copy_from_slice(&src[at_tile..at_tile + col]);
        }
    }
    Ok(())
}

/// Runs `op` on the task's tiles.
pub(crate) fn run<T: Arith>(op: Elementwise, t: &mut CpuTask<'_>) -> Result<(), KernelError> {
    match op {
        Elementwise::Fill => {
            let v: T = t.param(0);
            t.tile_mut::<T>(0).data.fill(v);
        }
        Elementwise::Copy => {
            let x = t.tile::<T>(0);
            t.tile_mut::<T>(1).data.copy_from_slice(x.data);
        }
        Elementwise::Scale => {
            let a: T = t.param(0);
            for y in t.tile_mut::<T>(0).data.iter_mut() {
                *y = T::mul(a, *y);
            }
        }
        Elementwise::Axpy => {
            let a: T = t.param(0);
            let x = t.tile::<T>(0);
            let y = t.tile_mut::<T>(1);
            for (yi, xi) in y.data.iter_mut().zip(x.data) {
                *yi = T::add(T::mul(a, *xi), *yi);
            }
        }
    }
    Ok(())
}
