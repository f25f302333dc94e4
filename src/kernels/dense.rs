//! Dense tile kernels with BLAS/LAPACK semantics on column-major tiles: [`gemm`], [`syrk`],
//! [`trsm`] and [`potrf`] — what tiled Cholesky, matmul and triangular solves are made of.
//!
//! Each runs on the CPU (faer, f32 and f64; f16 through f32) and on GPUs (WGSL; f32 everywhere,
//! f64 with `SHADER_F64`, f16 storage with f32 accumulation with `SHADER_F16`). A task is only
//! placed on a device that supports its element type. Scalars (`alpha`, `beta`) have the
//! accumulation type: `f32` for `f16` tiles.
//!
//! ```
//! use tessera::{Chunk, Read, ReadWrite, Runtime};
//! use tessera::kernels::dense::{self, Trans, Uplo};
//!
//! let rt = Runtime::builder().cpu_only().build()?;
//! // A = [[4, 2], [2, 3]] (column-major), SPD.
//! let a = Chunk::from_vec(&rt, 2, 2, vec![4.0f64, 2.0, 2.0, 3.0]);
//! rt.datadeps(|r| {
//!     r.spawn(dense::potrf::<f64>(Uplo::Lower), ReadWrite(&a));
//! })?;
//! let l = a.to_vec()?;
//! assert_eq!((l[0], l[1]), (2.0, 1.0)); // L = [[2, 0], [1, sqrt(2)]]
//! assert!((l[3] - 2f64.sqrt()).abs() < 1e-15);
//! assert_eq!(l[2], 2.0, "the upper triangle is not touched");
//! # let _ = Trans::No;
//! # Ok::<(), tessera::Error>(())
//! ```
//!
//! Math names: `m, n, k` are dimensions, `a, b, c` tiles, `op(A)` is `A` or `A^T`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use half::f16;

use crate::cpu;
use crate::dtype::{DType, Element};
use crate::error::KernelError;
use crate::gpu::kernels as gpu;
use crate::kernels::{Cost, Kernel, KernelCall, Launch, Shape};

/// Whether an operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trans {
    /// `op(A) = A`.
    No,
    /// `op(A) = A^T`.
    Yes,
}

impl Trans {
    pub(crate) fn is(self) -> bool {
        self == Trans::Yes
    }

    fn letter(self) -> char {
        if self.is() { 't' } else { 'n' }
    }
}

/// Which triangle of a symmetric or triangular tile is referenced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Uplo {
    /// The lower triangle (with the diagonal).
    Lower,
    /// The upper triangle (with the diagonal).
    Upper,
}

/// On which side of the unknown a triangular matrix stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// `op(A) X = alpha B`.
    Left,
    /// `X op(A) = alpha B`.
    Right,
}

/// Whether a triangular matrix has an implicit unit diagonal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Diag {
    /// The diagonal is read.
    NonUnit,
    /// The diagonal is taken to be one and not read.
    Unit,
}

/// Element types of the dense kernels: `f32`, `f64`, and `half::f16` (stored in 16 bits,
/// accumulated in `f32`).
pub trait Float: Element + Copy + sealed::Sealed {
    /// The type of `alpha`/`beta` and of accumulation.
    type Scalar: Element + Copy;
    /// Unit roundoff of the storage type (2^-24, 2^-53, 2^-11).
    const EPSILON: f64;
    /// Converts from f64 (rounding to nearest).
    fn from_f64(v: f64) -> Self;
    /// Converts to f64 (exactly).
    fn to_f64(self) -> f64;
    /// A scalar (`alpha`, `beta`) from f64.
    fn scalar(v: f64) -> Self::Scalar;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for half::f16 {}
}

impl Float for f32 {
    type Scalar = f32;
    const EPSILON: f64 = 1.0 / (1u64 << 24) as f64;
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn scalar(v: f64) -> f32 {
        v as f32
    }
}
impl Float for f64 {
    type Scalar = f64;
    const EPSILON: f64 = 1.0 / (1u64 << 53) as f64;
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn scalar(v: f64) -> f64 {
        v
    }
}
impl Float for f16 {
    type Scalar = f32;
    const EPSILON: f64 = 1.0 / (1u64 << 11) as f64;
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
    fn to_f64(self) -> f64 {
        f16::to_f64(self)
    }
    fn scalar(v: f64) -> f32 {
        v as f32
    }
}

/// The accumulation (scalar) type of a dense element type.
pub(crate) fn scalar_dtype(d: DType) -> DType {
    match d {
        DType::F16 => DType::F32,
        d => d,
    }
}

/// Which dense operation, with its flags: the key of the kernel cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Gemm(Trans, Trans),
    Syrk(Uplo, Trans),
    Trsm(Side, Uplo, Trans, Diag),
    Potrf(Uplo),
}

/// `C = alpha op(A) op(B) + beta C` with accesses `(Read A, Read B, ReadWrite C)`; `op(A)` is
/// `m x k`, `op(B)` is `k x n`, `C` is `m x n`. With `beta = 0`, `C` is not read (it may hold
/// NaN).
pub fn gemm<T: Float>(ta: Trans, tb: Trans, alpha: T::Scalar, beta: T::Scalar) -> KernelCall {
    kernel(Op::Gemm(ta, tb), T::DTYPE).call([alpha.into(), beta.into()])
}

/// `C = alpha op(A) op(A)^T + beta C` on one triangle of the `n x n` tile `C`, with accesses
/// `(Read A, ReadWrite C)`; `op(A)` is `n x k` (`A` itself for [`Trans::No`], `A^T` for
/// [`Trans::Yes`]). The other triangle is not touched; with `beta = 0`, `C` is not read.
pub fn syrk<T: Float>(uplo: Uplo, trans: Trans, alpha: T::Scalar, beta: T::Scalar) -> KernelCall {
    kernel(Op::Syrk(uplo, trans), T::DTYPE).call([alpha.into(), beta.into()])
}

/// Solves `op(A) X = alpha B` ([`Side::Left`], `A` is `m x m`) or `X op(A) = alpha B`
/// ([`Side::Right`], `A` is `n x n`) for the `m x n` tile `X`, overwriting `B`; accesses
/// `(Read A, ReadWrite B)`. Only the `uplo` triangle of `A` is read, and not its diagonal with
/// [`Diag::Unit`].
pub fn trsm<T: Float>(
    side: Side,
    uplo: Uplo,
    trans: Trans,
    diag: Diag,
    alpha: T::Scalar,
) -> KernelCall {
    kernel(Op::Trsm(side, uplo, trans, diag), T::DTYPE).call([alpha.into()])
}

/// Cholesky factorization of the symmetric positive definite `n x n` tile `A`, in place, with
/// access `(ReadWrite A)`: `A = L L^T` with `L` in the lower triangle ([`Uplo::Lower`]) or
/// `A = U^T U` with `U` in the upper triangle. Only that triangle is read and written. A
/// non-positive pivot fails the task with [`KernelError::NotPositiveDefinite`] and the pivot's
/// index; the tile is then partly factored.
pub fn potrf<T: Float>(uplo: Uplo) -> KernelCall {
    kernel(Op::Potrf(uplo), T::DTYPE).call([])
}

/// The kernel descriptor for `op` on `dtype` (f32, f64 or f16), built once and shared.
///
/// # Panics
/// If `dtype` is not a dense element type.
pub(crate) fn kernel(op: Op, dtype: DType) -> Kernel {
    assert!(
        matches!(dtype, DType::F32 | DType::F64 | DType::F16),
        "dense kernels take f32, f64 or f16 tiles, not {dtype}"
    );
    static CACHE: OnceLock<Mutex<HashMap<(Op, DType), Kernel>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    map.entry((op, dtype))
        .or_insert_with(|| build(op, dtype))
        .clone()
}

/// The descriptors of the dense kernels by name, for tools that pick one at run time:
/// `gemm_nn`, `gemm_nt`, `gemm_tn`, `gemm_tt`, `syrk_ln`, `syrk_lt`, `syrk_un`, `syrk_ut`,
/// `trsm_<side><uplo><trans><diag>` (e.g. `trsm_lltn`: left, lower, transposed, non-unit),
/// `potrf_l`, `potrf_u`.
pub fn kernel_by_name(name: &str, dtype: DType) -> Option<Kernel> {
    if !matches!(dtype, DType::F32 | DType::F64 | DType::F16) {
        return None;
    }
    all_ops()
        .into_iter()
        .find(|op| op_name(*op) == name)
        .map(|op| kernel(op, dtype))
}

pub(crate) fn all_ops() -> Vec<Op> {
    let mut ops = Vec::new();
    let tr = [Trans::No, Trans::Yes];
    let ul = [Uplo::Lower, Uplo::Upper];
    for a in tr {
        for b in tr {
            ops.push(Op::Gemm(a, b));
        }
    }
    for u in ul {
        for t in tr {
            ops.push(Op::Syrk(u, t));
        }
    }
    for s in [Side::Left, Side::Right] {
        for u in ul {
            for t in tr {
                for d in [Diag::NonUnit, Diag::Unit] {
                    ops.push(Op::Trsm(s, u, t, d));
                }
            }
        }
    }
    ops.push(Op::Potrf(Uplo::Lower));
    ops.push(Op::Potrf(Uplo::Upper));
    ops
}

pub(crate) fn op_name(op: Op) -> String {
    let u = |u: Uplo| if u == Uplo::Lower { 'l' } else { 'u' };
    match op {
        Op::Gemm(a, b) => format!("gemm_{}{}", a.letter(), b.letter()),
        Op::Syrk(up, t) => format!("syrk_{}{}", u(up), t.letter()),
        Op::Trsm(s, up, t, d) => format!(
            "trsm_{}{}{}{}",
            if s == Side::Left { 'l' } else { 'r' },
            u(up),
            t.letter(),
            if d == Diag::Unit { 'u' } else { 'n' }
        ),
        Op::Potrf(up) => format!("potrf_{}", u(up)),
    }
}

fn build(op: Op, d: DType) -> Kernel {
    let s = scalar_dtype(d);
    let b = match op {
        Op::Gemm(..) => Kernel::builder("gemm")
            .read(d)
            .read(d)
            .read_write(d)
            .param(s)
            .param(s),
        Op::Syrk(..) => Kernel::builder("syrk")
            .read(d)
            .read_write(d)
            .param(s)
            .param(s),
        Op::Trsm(..) => Kernel::builder("trsm").read(d).read_write(d).param(s),
        Op::Potrf(..) => Kernel::builder("potrf").read_write(d),
    };
    b.cost(move |l: &Launch<'_>| cost(op, l.shapes))
        .check(move |l: &Launch<'_>| check(op, l.shapes))
        .cpu(move |t| cpu::dense::run(op, t))
        .gpu(gpu::dense_kernel(op, d))
        .build()
        .unwrap_or_else(|e| unreachable!("dense kernel {} for {d} must build: {e}", op_name(op)))
}

/// `(rows, cols)` of `op(X)` for a stored tile `X`.
fn op_dims(s: &Shape, t: Trans) -> (usize, usize) {
    if t.is() {
        (s.cols, s.rows)
    } else {
        (s.rows, s.cols)
    }
}

/// The problem dimensions `(m, n, k)` of a dense call, as its GPU half and cost see them.
pub(crate) fn dims(op: Op, shapes: &[Shape]) -> (usize, usize, usize) {
    match op {
        Op::Gemm(ta, _) => {
            let (m, k) = op_dims(&shapes[0], ta);
            (m, shapes[2].cols, k)
        }
        Op::Syrk(_, t) => {
            let (n, k) = op_dims(&shapes[0], t);
            (n, n, k)
        }
        Op::Trsm(..) => (shapes[1].rows, shapes[1].cols, shapes[0].rows),
        Op::Potrf(_) => (shapes[0].rows, shapes[0].rows, shapes[0].rows),
    }
}

fn cost(op: Op, shapes: &[Shape]) -> Cost {
    let (m, n, k) = dims(op, shapes);
    let (m, n, k) = (m as f64, n as f64, k as f64);
    let flops = match op {
        Op::Gemm(..) => 2.0 * m * n * k,
        Op::Syrk(..) => n * (n + 1.0) * k,
        Op::Trsm(Side::Left, ..) => m * m * n,
        Op::Trsm(Side::Right, ..) => m * n * n,
        Op::Potrf(_) => n * n * n / 3.0,
    };
    let bytes = shapes.iter().map(|s| s.bytes() as f64).sum::<f64>()
        + shapes.last().map_or(0.0, |s| s.bytes() as f64);
    Cost { flops, bytes }
}

fn check(op: Op, s: &[Shape]) -> Result<(), KernelError> {
    let bad = |what: String| {
        Err(KernelError::InvalidArgument(format!(
            "{}: {what}",
            op_name(op)
        )))
    };
    let dim = |x: &Shape| format!("{}x{}", x.rows, x.cols);
    match op {
        Op::Gemm(ta, tb) => {
            let (m, k) = op_dims(&s[0], ta);
            let (k2, n) = op_dims(&s[1], tb);
            if k != k2 || s[2].rows != m || s[2].cols != n {
                return bad(format!(
                    "op(A) is {m}x{k}, op(B) is {k2}x{n}, C is {}; need op(A) m x k, op(B) k x n, C m x n",
                    dim(&s[2])
                ));
            }
        }
        Op::Syrk(_, t) => {
            let (n, _) = op_dims(&s[0], t);
            if s[1].rows != n || s[1].cols != n {
                return bad(format!(
                    "op(A) has {n} rows, so C must be {n}x{n}, not {}",
                    dim(&s[1])
                ));
            }
        }
        Op::Trsm(side, ..) => {
            let need = if side == Side::Left {
                s[1].rows
            } else {
                s[1].cols
            };
            if s[0].rows != s[0].cols || s[0].rows != need {
                return bad(format!(
                    "A is {}, B is {}: A must be square with {need} rows ({} side)",
                    dim(&s[0]),
                    dim(&s[1]),
                    if side == Side::Left { "left" } else { "right" }
                ));
            }
        }
        Op::Potrf(_) => {
            if s[0].rows != s[0].cols {
                return bad(format!("A is {}, not square", dim(&s[0])));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_has_a_unique_name_and_builds() {
        let ops = all_ops();
        assert_eq!(ops.len(), 4 + 4 + 16 + 2);
        let names: std::collections::HashSet<_> = ops.iter().map(|o| op_name(*o)).collect();
        assert_eq!(names.len(), ops.len());
        for op in ops {
            for d in [DType::F32, DType::F64, DType::F16] {
                let k = kernel(op, d);
                let expected = match op {
                    Op::Gemm(..) => 3,
                    Op::Syrk(..) | Op::Trsm(..) => 2,
                    Op::Potrf(_) => 1,
                };
                assert_eq!(k.args().len(), expected);
                assert!(k.has_cpu() && k.gpu().is_some());
            }
        }
        assert!(kernel_by_name("trsm_lltn", DType::F32).is_some());
        assert!(kernel_by_name("gemm_nn", DType::U32).is_none());
    }
}
