//! Tile QR kernels with LAPACK/PLASMA semantics on column-major tiles: [`geqrt`], [`tsqrt`],
//! [`unmqr`] and [`tsmqr`] — what the tiled Householder QR of
//! [`DArray::qr`](crate::DArray::qr) is made of (Buttari, Langou, Kurzak, Dongarra, "A class of
//! parallel tiled linear algebra algorithms for multicore architectures", Parallel Computing
//! 35, 2009; the compact WY form of Schreiber and Van Loan, SIAM J. Sci. Stat. Comput. 10, 1989).
//!
//! Conventions, shared by the CPU and GPU halves (so a tile factored on one processor can be
//! applied on another):
//! - A reflector is `H = I - tau v v^T` with `v(0) = 1` (LAPACK's `dlarfg`: `beta = -sign(alpha)
//!   ||x||`, `tau = 0` and `H = I` when the part below the head is zero).
//! - The `k` reflectors of a tile are grouped in blocks of `ib` (the last one narrower):
//!   `H_b0 ... H_(b0+w-1) = I - V T V^T` with `T` upper triangular `w x w` (LAPACK's `dlarft`,
//!   forward, columnwise). The `T` argument is an `ib x k` tile holding these blocks side by side:
//!   block `b` in columns `b*ib .. b*ib + w`, rows `0 .. w`; everything else in it is zero. `ib`
//!   is the `T` tile's row count.
//! - `geqrt` leaves `R` in the upper triangle of its tile and the reflectors `v` (without their
//!   unit head) below the diagonal. `tsqrt` couples the upper triangle `R` (the top `k x k` of
//!   its first tile, whose lower part is not touched) with a full tile `A2` below it: the
//!   reflectors are `[e_l; v_l]` and `A2` is overwritten by the `v_l`.
//!
//! Both halves exist for `f32` and `f64` (the GPU's `f64` needs `SHADER_F64`).
//!
//! ```
//! use tessera::{Chunk, Read, ReadWrite, Runtime, Write};
//! use tessera::kernels::qr;
//! use tessera::linalg::Trans;
//!
//! let rt = Runtime::builder().cpu_only().build()?;
//! // A = [[3, 1], [4, 2]] (column-major); one block of 2 reflectors.
//! let a = Chunk::from_vec(&rt, 2, 2, vec![3.0f64, 4.0, 1.0, 2.0]);
//! let t = Chunk::<f64>::zeros(&rt, 2, 2);
//! // Q^T applied to a copy of A gives R.
//! let c = Chunk::from_vec(&rt, 2, 2, vec![3.0f64, 4.0, 1.0, 2.0]);
//! rt.datadeps(|r| {
//!     r.spawn(qr::geqrt::<f64>(), (ReadWrite(&a), Write(&t)));
//!     r.spawn(qr::unmqr::<f64>(Trans::Yes), (Read(&a), Read(&t), ReadWrite(&c)));
//! })?;
//! let (f, qtc) = (a.to_vec()?, c.to_vec()?);
//! assert!((f[0] + 5.0).abs() < 1e-14, "R(0, 0) = -||A(:, 0)|| = -5");
//! assert!(qtc[1].abs() < 1e-14, "Q^T A is upper triangular");
//! assert!((qtc[3] - f[3]).abs() < 1e-14, "and equals R");
//! # Ok::<(), tessera::Error>(())
//! ```
//!
//! Math names: `m, n, k` dimensions, `ib` the inner block size, `a, v, t, c` tiles.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::cpu;
use crate::dtype::DType;
use crate::error::KernelError;
use crate::gpu::kernels as gpu;
use crate::kernels::dense::{Float, Trans};
use crate::kernels::{Cost, Kernel, KernelCall, Launch, Shape};

/// Element types of the QR kernels: `f32` and `f64`.
///
/// ```
/// fn unit_roundoff<T: tessera::linalg::QrFloat>() -> f64 {
///     T::EPSILON
/// }
/// assert_eq!(unit_roundoff::<f32>(), 2f64.powi(-24));
/// ```
pub trait QrFloat: Float + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl QrFloat for f32 {}
impl QrFloat for f64 {}

/// Which QR operation, with its flags: the key of the kernel cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum QrOp {
    Geqrt,
    Tsqrt,
    Unmqr(Trans),
    Tsmqr(Trans),
}

/// QR factorization of the `m x n` tile `A` (`m >= n`) in place, with accesses
/// `(ReadWrite A, Write T)`: `A = Q R`, `R` in the upper triangle, the reflectors below it, and
/// their block factors in the `ib x n` tile `T` (module docs).
///
/// ```
/// use tessera::{Chunk, ReadWrite, Runtime, Write};
/// let rt = Runtime::builder().cpu_only().build()?;
/// let a = Chunk::from_vec(&rt, 2, 1, vec![3.0f64, 4.0]);
/// let t = Chunk::<f64>::zeros(&rt, 1, 1);
/// rt.datadeps(|r| {
///     r.spawn(tessera::kernels::qr::geqrt::<f64>(), (ReadWrite(&a), Write(&t)));
/// })?;
/// let (f, tau) = (a.to_vec()?, t.to_vec()?);
/// assert!((f[0] + 5.0).abs() < 1e-15); // R = -||a||
/// assert!((f[1] - 0.5).abs() < 1e-15); // v = [1; 4 / (3 + 5)]
/// assert!((tau[0] - 1.6).abs() < 1e-15); // tau = (beta - alpha) / beta
/// # Ok::<(), tessera::Error>(())
/// ```
pub fn geqrt<T: QrFloat>() -> KernelCall {
    kernel(QrOp::Geqrt, T::DTYPE).call([])
}

/// QR factorization of `[R; A2]`, `R` the upper triangle of the top `n x n` of the first tile
/// (`m1 x n`, `m1 >= n`) and `A2` a full `m2 x n` tile, with accesses
/// `(ReadWrite A1, ReadWrite A2, Write T)`: `R` is overwritten by the new triangle, `A2` by
/// the reflectors, `T` (`ib x n`) by their block factors. Below the diagonal of `A1` nothing is
/// read or written.
///
/// ```
/// use tessera::{Chunk, ReadWrite, Runtime, Write};
/// let rt = Runtime::builder().cpu_only().build()?;
/// // R = [3] on top of A2 = [4]: the stacked column [3; 4] has norm 5.
/// let a1 = Chunk::from_vec(&rt, 1, 1, vec![3.0f64]);
/// let a2 = Chunk::from_vec(&rt, 1, 1, vec![4.0f64]);
/// let t = Chunk::<f64>::zeros(&rt, 1, 1);
/// rt.datadeps(|r| {
///     r.spawn(tessera::kernels::qr::tsqrt::<f64>(), (ReadWrite(&a1), ReadWrite(&a2), Write(&t)));
/// })?;
/// assert!((a1.to_vec()?[0] + 5.0).abs() < 1e-15);
/// # Ok::<(), tessera::Error>(())
/// ```
pub fn tsqrt<T: QrFloat>() -> KernelCall {
    kernel(QrOp::Tsqrt, T::DTYPE).call([])
}

/// `C = Q^T C` ([`Trans::Yes`]) or `C = Q C` ([`Trans::No`]) with `Q` the product of
/// [`geqrt`]'s reflectors, with accesses `(Read V, Read T, ReadWrite C)`: `V` is the factored
/// `m x k` tile (only below its diagonal is read), `T` its `ib x k` factors, `C` is `m x n`.
///
/// ```
/// use tessera::{Chunk, Read, ReadWrite, Runtime, Write};
/// use tessera::kernels::qr;
/// use tessera::linalg::Trans;
/// let rt = Runtime::builder().cpu_only().build()?;
/// let a = Chunk::from_vec(&rt, 2, 1, vec![3.0f64, 4.0]);
/// let t = Chunk::<f64>::zeros(&rt, 1, 1);
/// let c = Chunk::from_vec(&rt, 2, 1, vec![1.0f64, 2.0]);
/// rt.datadeps(|r| {
///     r.spawn(qr::geqrt::<f64>(), (ReadWrite(&a), Write(&t)));
///     r.spawn(qr::unmqr::<f64>(Trans::Yes), (Read(&a), Read(&t), ReadWrite(&c)));
///     r.spawn(qr::unmqr::<f64>(Trans::No), (Read(&a), Read(&t), ReadWrite(&c)));
/// })?;
/// let back = c.to_vec()?; // Q Q^T c = c
/// assert!((back[0] - 1.0).abs() < 1e-15 && (back[1] - 2.0).abs() < 1e-15);
/// # Ok::<(), tessera::Error>(())
/// ```
pub fn unmqr<T: QrFloat>(trans: Trans) -> KernelCall {
    kernel(QrOp::Unmqr(trans), T::DTYPE).call([])
}

/// `[C1; C2] = Q^T [C1; C2]` ([`Trans::Yes`]) or `Q [C1; C2]` ([`Trans::No`]) with `Q` the
/// product of [`tsqrt`]'s reflectors, with accesses
/// `(Read V2, Read T, ReadWrite C1, ReadWrite C2)`: `V2` is the `m2 x k` reflector tile, `T` its
/// `ib x k` factors, `C1` is `m1 x n` (`m1 >= k`; only its top `k` rows change) and `C2` is
/// `m2 x n`.
///
/// ```
/// use tessera::{Chunk, Read, ReadWrite, Runtime, Write};
/// use tessera::kernels::qr;
/// use tessera::linalg::Trans;
/// let rt = Runtime::builder().cpu_only().build()?;
/// let (a1, a2) = (Chunk::from_vec(&rt, 1, 1, vec![3.0f64]), Chunk::from_vec(&rt, 1, 1, vec![4.0f64]));
/// let t = Chunk::<f64>::zeros(&rt, 1, 1);
/// // Apply Q^T to the same column: it becomes [-5; 0].
/// let (c1, c2) = (Chunk::from_vec(&rt, 1, 1, vec![3.0f64]), Chunk::from_vec(&rt, 1, 1, vec![4.0f64]));
/// rt.datadeps(|r| {
///     r.spawn(qr::tsqrt::<f64>(), (ReadWrite(&a1), ReadWrite(&a2), Write(&t)));
///     r.spawn(qr::tsmqr::<f64>(Trans::Yes), (Read(&a2), Read(&t), ReadWrite(&c1), ReadWrite(&c2)));
/// })?;
/// assert!((c1.to_vec()?[0] + 5.0).abs() < 1e-15 && c2.to_vec()?[0].abs() < 1e-15);
/// # Ok::<(), tessera::Error>(())
/// ```
pub fn tsmqr<T: QrFloat>(trans: Trans) -> KernelCall {
    kernel(QrOp::Tsmqr(trans), T::DTYPE).call([])
}

/// The descriptors of the QR kernels by name, for tools that pick one at run time: `geqrt`,
/// `tsqrt`, `unmqr_n`, `unmqr_t`, `tsmqr_n`, `tsmqr_t`.
///
/// ```
/// use tessera::DType;
/// use tessera::kernels::qr::kernel_by_name;
/// assert_eq!(kernel_by_name("tsmqr_t", DType::F64).unwrap().name(), "tsmqr");
/// assert!(kernel_by_name("geqrt", DType::F16).is_none());
/// ```
pub fn kernel_by_name(name: &str, dtype: DType) -> Option<Kernel> {
    if !matches!(dtype, DType::F32 | DType::F64) {
        return None;
    }
    all_ops()
        .into_iter()
        .find(|op| op_name(*op) == name)
        .map(|op| kernel(op, dtype))
}

pub(crate) fn all_ops() -> Vec<QrOp> {
    vec![
        QrOp::Geqrt,
        QrOp::Tsqrt,
        QrOp::Unmqr(Trans::No),
        QrOp::Unmqr(Trans::Yes),
        QrOp::Tsmqr(Trans::No),
        QrOp::Tsmqr(Trans::Yes),
    ]
}

pub(crate) fn op_name(op: QrOp) -> String {
    let t = |t: Trans| if t.is() { 't' } else { 'n' };
    match op {
        QrOp::Geqrt => "geqrt".into(),
        QrOp::Tsqrt => "tsqrt".into(),
        QrOp::Unmqr(tr) => format!("unmqr_{}", t(tr)),
        QrOp::Tsmqr(tr) => format!("tsmqr_{}", t(tr)),
    }
}

/// The kernel descriptor for `op` on `dtype` (f32 or f64), built once and shared.
///
/// # Panics
/// If `dtype` is not f32 or f64.
pub(crate) fn kernel(op: QrOp, dtype: DType) -> Kernel {
    assert!(
        matches!(dtype, DType::F32 | DType::F64),
        "QR kernels take f32 or f64 tiles, not {dtype}"
    );
    static CACHE: OnceLock<Mutex<HashMap<(QrOp, DType), Kernel>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    map.entry((op, dtype))
        .or_insert_with(|| build(op, dtype))
        .clone()
}

fn build(op: QrOp, d: DType) -> Kernel {
    let b = match op {
        QrOp::Geqrt => Kernel::builder("geqrt").read_write(d).write(d),
        QrOp::Tsqrt => Kernel::builder("tsqrt")
            .read_write(d)
            .read_write(d)
            .write(d),
        QrOp::Unmqr(_) => Kernel::builder("unmqr").read(d).read(d).read_write(d),
        QrOp::Tsmqr(_) => Kernel::builder("tsmqr")
            .read(d)
            .read(d)
            .read_write(d)
            .read_write(d),
    };
    b.cost(move |l: &Launch<'_>| cost(op, l.shapes))
        .check(move |l: &Launch<'_>| check(op, l.shapes))
        .cpu(move |t| cpu::qr::run(op, t))
        .gpu(gpu::qr::kernel(op, d))
        .build()
        .unwrap_or_else(|e| unreachable!("QR kernel {} for {d} must build: {e}", op_name(op)))
}

fn cost(op: QrOp, s: &[Shape]) -> Cost {
    let f = |x: usize| x as f64;
    let flops = match op {
        // Householder QR of an m x n tile: 2 m n^2 - 2 n^3 / 3.
        QrOp::Geqrt => {
            let (m, n) = (f(s[0].rows), f(s[0].cols));
            2.0 * m * n * n - 2.0 * n * n * n / 3.0
        }
        // [R; A2]: 2 m2 n^2.
        QrOp::Tsqrt => 2.0 * f(s[1].rows) * f(s[1].cols) * f(s[1].cols),
        // Applying k reflectors of length about m to n columns: 4 m n k - 2 n k^2.
        QrOp::Unmqr(_) => {
            let (m, k, n) = (f(s[0].rows), f(s[0].cols), f(s[2].cols));
            (4.0 * m * n * k - 2.0 * n * k * k).max(0.0)
        }
        QrOp::Tsmqr(_) => 4.0 * f(s[0].rows) * f(s[0].cols) * f(s[3].cols),
    };
    let bytes = s.iter().map(|x| x.bytes() as f64).sum::<f64>()
        + s.iter()
            .zip(writes(op))
            .filter(|(_, w)| **w)
            .map(|(x, _)| x.bytes() as f64)
            .sum::<f64>();
    Cost { flops, bytes }
}

fn writes(op: QrOp) -> &'static [bool] {
    match op {
        QrOp::Geqrt => &[true, true],
        QrOp::Tsqrt => &[true, true, true],
        QrOp::Unmqr(_) => &[false, false, true],
        QrOp::Tsmqr(_) => &[false, false, true, true],
    }
}

fn check(op: QrOp, s: &[Shape]) -> Result<(), KernelError> {
    let dim = |x: &Shape| format!("{}x{}", x.rows, x.cols);
    let bad = |what: String| {
        Err(KernelError::InvalidArgument(format!(
            "{}: {what}",
            op_name(op)
        )))
    };
    // (the reflector tile, the T tile)
    let (v, t) = match op {
        QrOp::Geqrt | QrOp::Unmqr(_) => (&s[0], &s[1]),
        QrOp::Tsqrt => (&s[1], &s[2]),
        QrOp::Tsmqr(_) => (&s[0], &s[1]),
    };
    if t.cols != v.cols || (t.rows == 0 && v.cols > 0) {
        return bad(format!(
            "T is {}, need ib x {} with ib >= 1 (one column per reflector)",
            dim(t),
            v.cols
        ));
    }
    match op {
        QrOp::Geqrt | QrOp::Unmqr(_) => {
            if v.rows < v.cols {
                return bad(format!("the tile is {}, need rows >= cols", dim(v)));
            }
            if let QrOp::Unmqr(_) = op
                && s[2].rows != v.rows
            {
                return bad(format!(
                    "V is {}, C is {}: C needs {} rows",
                    dim(v),
                    dim(&s[2]),
                    v.rows
                ));
            }
        }
        QrOp::Tsqrt => {
            if s[0].cols != v.cols || s[0].rows < s[0].cols {
                return bad(format!(
                    "A1 is {}, A2 is {}: A1 needs {} columns and at least as many rows",
                    dim(&s[0]),
                    dim(v),
                    v.cols
                ));
            }
        }
        QrOp::Tsmqr(_) => {
            let (c1, c2) = (&s[2], &s[3]);
            if c2.rows != v.rows || c1.cols != c2.cols || c1.rows < v.cols {
                return bad(format!(
                    "V2 is {}, C1 is {}, C2 is {}: need C2 with V2's rows, C1 with C2's \
                     columns and at least {} rows",
                    dim(v),
                    dim(c1),
                    dim(c2),
                    v.cols
                ));
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
        let names: std::collections::HashSet<_> = ops.iter().map(|o| op_name(*o)).collect();
        assert_eq!(names.len(), ops.len());
        for op in ops {
            for d in [DType::F32, DType::F64] {
                let k = kernel(op, d);
                assert!(k.has_cpu() && k.gpu().is_some());
            }
        }
        assert!(kernel_by_name("tsmqr_t", DType::F64).is_some());
        assert!(kernel_by_name("geqrt", DType::F16).is_none());
    }

    #[test]
    fn shape_checks_name_the_problem() {
        let sh = |rows, cols| Shape {
            rows,
            cols,
            dtype: DType::F64,
        };
        assert!(check(QrOp::Geqrt, &[sh(8, 8), sh(4, 8)]).is_ok());
        assert!(check(QrOp::Geqrt, &[sh(4, 8), sh(4, 8)]).is_err(), "wide");
        assert!(check(QrOp::Geqrt, &[sh(8, 8), sh(4, 7)]).is_err(), "T cols");
        assert!(check(QrOp::Tsqrt, &[sh(8, 5), sh(3, 5), sh(2, 5)]).is_ok());
        assert!(check(QrOp::Tsqrt, &[sh(4, 5), sh(3, 5), sh(2, 5)]).is_err());
        let t = QrOp::Tsmqr(Trans::Yes);
        assert!(check(t, &[sh(6, 4), sh(4, 4), sh(5, 3), sh(6, 3)]).is_ok());
        assert!(check(t, &[sh(6, 4), sh(4, 4), sh(3, 3), sh(6, 3)]).is_err());
        let u = QrOp::Unmqr(Trans::No);
        assert!(check(u, &[sh(6, 4), sh(4, 4), sh(5, 3)]).is_err());
    }
}
