//! Built-in elementwise kernels: `fill`, `copy`, `scale`, `axpy`, for every element type, on the
//! CPU and (where the device has the type's capabilities) on every GPU.
//!
//! Each function returns a [`KernelCall`] ready to spawn; the underlying [`Kernel`] is built
//! once per element type and shared.
//!
//! ```
//! use tessera::{Chunk, Read, ReadWrite, Runtime, kernels::builtin};
//!
//! let rt = Runtime::builder().cpu_only().build()?;
//! let x = Chunk::from_vec(&rt, 4, 1, vec![1.0f32, 2.0, 3.0, 4.0]);
//! let y = Chunk::from_vec(&rt, 4, 1, vec![10.0f32; 4]);
//! rt.datadeps(|r| {
//!     r.spawn(builtin::axpy(2.0f32), (Read(&x), ReadWrite(&y)));
//!     r.spawn(builtin::scale(0.5f32), ReadWrite(&y));
//! })?;
//! assert_eq!(y.to_vec()?, vec![6.0, 7.0, 8.0, 9.0]);
//! # Ok::<(), tessera::Error>(())
//! ```

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::cpu::elementwise::{self as cpu_ew, Arith};
use crate::dtype::{DType, Element};
use crate::error::KernelError;
use crate::gpu::kernels::elementwise as gpu_ew;
use crate::kernels::{Cost, Kernel, KernelCall, Launch, Mode};

/// The elementwise operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Elementwise {
    Fill,
    Copy,
    Scale,
    Axpy,
}

impl Elementwise {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Elementwise::Fill => "fill",
            Elementwise::Copy => "copy",
            Elementwise::Scale => "scale",
            Elementwise::Axpy => "axpy",
        }
    }
}

/// `y[i] = value` for every element: `(Write y)`.
pub fn fill<T: Element>(value: T) -> KernelCall {
    by_dtype(Elementwise::Fill, T::DTYPE).call([value.into_scalar()])
}

/// `y = x`: `(Read x, Write y)`, same number of elements.
pub fn copy<T: Element>() -> KernelCall {
    by_dtype(Elementwise::Copy, T::DTYPE).call([])
}

/// `y = alpha * y`: `(ReadWrite y)`.
pub fn scale<T: Element>(alpha: T) -> KernelCall {
    by_dtype(Elementwise::Scale, T::DTYPE).call([alpha.into_scalar()])
}

/// `y = alpha * x + y`: `(Read x, ReadWrite y)`, same number of elements.
pub fn axpy<T: Element>(alpha: T) -> KernelCall {
    by_dtype(Elementwise::Axpy, T::DTYPE).call([alpha.into_scalar()])
}

/// `tile = big[row0 .., col0 ..]` (the tile's shape decides the block): `(Read big, Write tile)`.
pub fn get_tile<T: Element>(row0: usize, col0: usize) -> KernelCall {
    submatrix(true, T::DTYPE).call([offset(row0), offset(col0)])
}

/// `big[row0 .., col0 ..] = tile`: `(Read tile, ReadWrite big)`; the rest of `big` is kept.
pub fn set_tile<T: Element>(row0: usize, col0: usize) -> KernelCall {
    submatrix(false, T::DTYPE).call([offset(row0), offset(col0)])
}

fn offset(x: usize) -> crate::kernels::Scalar {
    crate::kernels::Scalar::U32(u32::try_from(x).expect("matrix offsets above 2^32"))
}

fn submatrix(get: bool, d: DType) -> Kernel {
    static CACHE: OnceLock<Mutex<HashMap<(bool, DType), Kernel>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    map.entry((get, d))
        .or_insert_with(|| {
            let (name, big, tile) = if get {
                ("get_tile", 0, 1)
            } else {
                ("set_tile", 1, 0)
            };
            let b = if get {
                Kernel::builder(name).arg(Mode::Read, d).arg(Mode::Write, d)
            } else {
                Kernel::builder(name)
                    .arg(Mode::Read, d)
                    .arg(Mode::ReadWrite, d)
            };
            b.param(DType::U32)
                .param(DType::U32)
                .check(move |l: &Launch<'_>| {
                    let (b, t) = (l.shapes[big], l.shapes[tile]);
                    let r0 = l.params[0].get::<u32>().unwrap_or(0) as usize;
                    let c0 = l.params[1].get::<u32>().unwrap_or(0) as usize;
                    if r0 + t.rows > b.rows || c0 + t.cols > b.cols {
                        return Err(KernelError::InvalidArgument(format!(
                            "{name}: a {}x{} tile at ({r0}, {c0}) does not fit a {}x{} matrix",
                            t.rows, t.cols, b.rows, b.cols
                        )));
                    }
                    Ok(())
                })
                .cost(move |l: &Launch<'_>| Cost {
                    flops: 0.0,
                    bytes: 2.0 * l.shapes[tile].bytes() as f64,
                })
                .cpu(move |t| crate::cpu::elementwise::submatrix(get, t))
                .gpu(crate::gpu::kernels::submatrix::kernel(get, d))
                .build()
                .unwrap_or_else(|e| unreachable!("built-in {name} for {d} must build: {e}"))
        })
        .clone()
}

/// The kernel descriptor of a built-in by name (`"fill"`, `"copy"`, `"scale"`, `"axpy"`) and
/// element type.
pub fn kernel(name: &str, dtype: DType) -> Option<Kernel> {
    let op = [
        Elementwise::Fill,
        Elementwise::Copy,
        Elementwise::Scale,
        Elementwise::Axpy,
    ]
    .into_iter()
    .find(|o| o.name() == name)?;
    Some(by_dtype(op, dtype))
}

fn by_dtype(op: Elementwise, dtype: DType) -> Kernel {
    match dtype {
        DType::F16 => elementwise::<half::f16>(op),
        DType::F32 => elementwise::<f32>(op),
        DType::F64 => elementwise::<f64>(op),
        DType::C32 => elementwise::<num_complex::Complex<f32>>(op),
        DType::C64 => elementwise::<num_complex::Complex<f64>>(op),
        DType::U32 => elementwise::<u32>(op),
        DType::I32 => elementwise::<i32>(op),
    }
}

fn elementwise<T: Element + Arith>(op: Elementwise) -> Kernel {
    static CACHE: OnceLock<Mutex<HashMap<(Elementwise, DType), Kernel>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    map.entry((op, T::DTYPE))
        .or_insert_with(|| build::<T>(op))
        .clone()
}

fn build<T: Element + Arith>(op: Elementwise) -> Kernel {
    let d = T::DTYPE;
    let mut b = Kernel::builder(op.name());
    b = match op {
        Elementwise::Fill => b.arg(Mode::Write, d).param(d),
        Elementwise::Copy => b.arg(Mode::Read, d).arg(Mode::Write, d),
        Elementwise::Scale => b.arg(Mode::ReadWrite, d).param(d),
        Elementwise::Axpy => b.arg(Mode::Read, d).arg(Mode::ReadWrite, d).param(d),
    };
    let flops_per_element = match op {
        Elementwise::Fill | Elementwise::Copy => 0.0,
        Elementwise::Scale => 1.0,
        Elementwise::Axpy => 2.0,
    };
    b.cost(move |l: &Launch<'_>| {
        let n = l.shapes.last().map_or(0, |s| s.len()) as f64;
        Cost {
            flops: flops_per_element * n,
            bytes: l.shapes.iter().map(|s| s.bytes() as f64).sum::<f64>()
                + if op == Elementwise::Fill {
                    0.0
                } else {
                    n * d.size() as f64
                },
        }
    })
    .check(move |l: &Launch<'_>| {
        if l.shapes.len() == 2 && l.shapes[0].len() != l.shapes[1].len() {
            return Err(KernelError::InvalidArgument(format!(
                "{}: x has {} elements ({}x{}), y has {} ({}x{})",
                op.name(),
                l.shapes[0].len(),
                l.shapes[0].rows,
                l.shapes[0].cols,
                l.shapes[1].len(),
                l.shapes[1].rows,
                l.shapes[1].cols
            )));
        }
        Ok(())
    })
    .cpu(move |t| cpu_ew::run::<T>(op, t))
    .gpu(gpu_ew::gpu_kernel::<T>(op))
    .build()
    .unwrap_or_else(|e| unreachable!("built-in kernel {} for {d} must build: {e}", op.name()))
}
