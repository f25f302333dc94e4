//! CPU halves of the dense tile kernels, on faer: `gemm` (faer's matmul), `syrk` (its
//! triangular matmul), `trsm` (its triangular solves) and `potrf` (its Cholesky). f32 and f64
//! run natively; f16 tiles are widened to f32, computed, and rounded back once.
//!
//! A tile kernel runs on the pool thread the scheduler gave it, sequentially (`Par::Seq`) unless
//! it was granted several threads.

use faer::linalg::matmul::triangular::BlockStructure;
use faer::linalg::{cholesky::llt, matmul, triangular_solve as tsolve};
use faer::{Accum, MatMut, MatRef, Par};
use half::f16;

use crate::dtype::DType;
use crate::error::KernelError;
use crate::kernels::CpuTask;
use crate::kernels::dense::{Diag, Op, Side, Trans, Uplo};

/// Runs `op` on the task's tiles.
pub(crate) fn run(op: Op, t: &mut CpuTask<'_>) -> Result<(), KernelError> {
    let par = if t.threads() > 1 {
        Par::rayon(t.threads())
    } else {
        Par::Seq
    };
    match t.shape(0).dtype {
        DType::F32 => run_typed::<f32>(op, t, par),
        DType::F64 => run_typed::<f64>(op, t, par),
        DType::F16 => run_f16(op, t, par),
        d => Err(KernelError::InvalidArgument(format!(
            "dense kernels take f32, f64 or f16, not {d}"
        ))),
    }
}

/// The real types faer computes in.
trait Real: faer::traits::RealField + crate::Element + Copy {
    fn from_f64(v: f64) -> Self;
    fn scalar(t: &CpuTask<'_>, i: usize) -> Self;
}

impl Real for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn scalar(t: &CpuTask<'_>, i: usize) -> Self {
        t.param::<f32>(i)
    }
}

impl Real for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn scalar(t: &CpuTask<'_>, i: usize) -> Self {
        t.param::<f64>(i)
    }
}

fn mat<T>(data: &[T], rows: usize, cols: usize) -> MatRef<'_, T> {
    MatRef::from_column_major_slice(data, rows, cols)
}

fn mat_mut<T>(data: &mut [T], rows: usize, cols: usize) -> MatMut<'_, T> {
    MatMut::from_column_major_slice_mut(data, rows, cols)
}

fn run_typed<T: Real>(op: Op, t: &mut CpuTask<'_>, par: Par) -> Result<(), KernelError> {
    match op {
        Op::Gemm(ta, tb) => {
            let (alpha, beta) = (T::scalar(t, 0), T::scalar(t, 1));
            let a = t.tile::<T>(0);
            let b = t.tile::<T>(1);
            let c = t.tile_mut::<T>(2);
            gemm(
                ta,
                tb,
                alpha,
                beta,
                mat(a.data, a.rows, a.cols),
                mat(b.data, b.rows, b.cols),
                c.data,
                c.rows,
                c.cols,
                par,
            );
            Ok(())
        }
        Op::Syrk(uplo, trans) => {
            let (alpha, beta) = (T::scalar(t, 0), T::scalar(t, 1));
            let a = t.tile::<T>(0);
            let c = t.tile_mut::<T>(1);
            syrk(
                uplo,
                trans,
                alpha,
                beta,
                mat(a.data, a.rows, a.cols),
                c.data,
                c.rows,
                par,
            );
            Ok(())
        }
        Op::Trsm(side, uplo, trans, diag) => {
            let alpha = T::scalar(t, 0);
            let a = t.tile::<T>(0);
            let b = t.tile_mut::<T>(1);
            trsm(
                side,
                uplo,
                trans,
                diag,
                alpha,
                mat(a.data, a.rows, a.cols),
                b.data,
                b.rows,
                b.cols,
                par,
            );
            Ok(())
        }
        Op::Potrf(uplo) => {
            let a = t.tile_mut::<T>(0);
            potrf(uplo, a.data, a.rows, par)
        }
    }
}

/// f16 tiles: widen to f32, compute, round the written tile back.
fn run_f16(op: Op, t: &mut CpuTask<'_>, par: Par) -> Result<(), KernelError> {
    let widen = |x: &[f16]| x.iter().map(|v| v.to_f32()).collect::<Vec<f32>>();
    let narrow = |from: &[f32], to: &mut [f16]| {
        for (d, s) in to.iter_mut().zip(from) {
            *d = f16::from_f32(*s);
        }
    };
    match op {
        Op::Gemm(ta, tb) => {
            let (alpha, beta) = (t.param::<f32>(0), t.param::<f32>(1));
            let (a, b, c) = (t.tile::<f16>(0), t.tile::<f16>(1), t.tile_mut::<f16>(2));
            let (aw, bw) = (widen(a.data), widen(b.data));
            // With beta = 0, C is not read: it may hold NaN.
            let mut cw = if beta == 0.0 {
                vec![0.0; c.data.len()]
            } else {
                widen(c.data)
            };
            gemm(
                ta,
                tb,
                alpha,
                beta,
                mat(&aw, a.rows, a.cols),
                mat(&bw, b.rows, b.cols),
                &mut cw,
                c.rows,
                c.cols,
                par,
            );
            narrow(&cw, c.data);
        }
        Op::Syrk(uplo, trans) => {
            let (alpha, beta) = (t.param::<f32>(0), t.param::<f32>(1));
            let (a, c) = (t.tile::<f16>(0), t.tile_mut::<f16>(1));
            let aw = widen(a.data);
            let mut cw = widen(c.data);
            syrk(
                uplo,
                trans,
                alpha,
                beta,
                mat(&aw, a.rows, a.cols),
                &mut cw,
                c.rows,
                par,
            );
            narrow_triangle(uplo, &cw, c.data, c.rows);
        }
        Op::Trsm(side, uplo, trans, diag) => {
            let alpha = t.param::<f32>(0);
            let (a, b) = (t.tile::<f16>(0), t.tile_mut::<f16>(1));
            let aw = widen(a.data);
            let mut bw = widen(b.data);
            trsm(
                side,
                uplo,
                trans,
                diag,
                alpha,
                mat(&aw, a.rows, a.cols),
                &mut bw,
                b.rows,
                b.cols,
                par,
            );
            narrow(&bw, b.data);
        }
        Op::Potrf(uplo) => {
            let a = t.tile_mut::<f16>(0);
            let mut aw = widen(a.data);
            let r = potrf(uplo, &mut aw, a.rows, par);
            narrow_triangle(uplo, &aw, a.data, a.rows);
            r?;
        }
    }
    Ok(())
}

/// Rounds back only the `uplo` triangle (with the diagonal) of an order-`n` tile: the other one
/// must not be written at all (a round trip would quiet signalling NaNs).
fn narrow_triangle(uplo: Uplo, from: &[f32], to: &mut [f16], n: usize) {
    for j in 0..n {
        let rows = if uplo == Uplo::Lower { j..n } else { 0..j + 1 };
        for i in rows {
            to[i + j * n] = f16::from_f32(from[i + j * n]);
        }
    }
}

fn op_ref<T>(x: MatRef<'_, T>, t: Trans) -> MatRef<'_, T> {
    if t.is() { x.transpose() } else { x }
}

#[allow(clippy::too_many_arguments)]
fn gemm<T: Real>(
    ta: Trans,
    tb: Trans,
    alpha: T,
    beta: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
    m: usize,
    n: usize,
    par: Par,
) {
    let accum = scale_for_beta(c, beta);
    matmul::matmul(
        mat_mut(c, m, n),
        accum,
        op_ref(a, ta),
        op_ref(b, tb),
        alpha,
        par,
    );
}

/// Prepares `C` for `C = alpha X + beta C`: with `beta = 0` it is replaced (never read, so NaN in
/// it does not matter), otherwise scaled by `beta` and added to.
fn scale_for_beta<T: Real>(c: &mut [T], beta: T) -> Accum {
    if beta == T::from_f64(0.0) {
        Accum::Replace
    } else {
        if beta != T::from_f64(1.0) {
            for v in c.iter_mut() {
                *v *= beta;
            }
        }
        Accum::Add
    }
}

#[allow(clippy::too_many_arguments)]
fn syrk<T: Real>(
    uplo: Uplo,
    trans: Trans,
    alpha: T,
    beta: T,
    a: MatRef<'_, T>,
    c: &mut [T],
    n: usize,
    par: Par,
) {
    let zero = T::from_f64(0.0);
    let accum = if beta == zero {
        Accum::Replace
    } else {
        if beta != T::from_f64(1.0) {
            // Only the referenced triangle is scaled (and read).
            for j in 0..n {
                let rows = if uplo == Uplo::Lower { j..n } else { 0..j + 1 };
                for i in rows {
                    c[i + j * n] *= beta;
                }
            }
        }
        Accum::Add
    };
    let opa = op_ref(a, trans);
    let structure = if uplo == Uplo::Lower {
        BlockStructure::TriangularLower
    } else {
        BlockStructure::TriangularUpper
    };
    matmul::triangular::matmul(
        mat_mut(c, n, n),
        structure,
        accum,
        opa,
        BlockStructure::Rectangular,
        opa.transpose(),
        BlockStructure::Rectangular,
        alpha,
        par,
    );
}

#[allow(clippy::too_many_arguments)]
fn trsm<T: Real>(
    side: Side,
    uplo: Uplo,
    trans: Trans,
    diag: Diag,
    alpha: T,
    a: MatRef<'_, T>,
    b: &mut [T],
    m: usize,
    n: usize,
    par: Par,
) {
    if alpha != T::from_f64(1.0) {
        for v in b.iter_mut() {
            *v *= alpha;
        }
    }
    let b = mat_mut(b, m, n);
    // Left: op(A) X = B. Right: X op(A) = B, i.e. op(A)^T X^T = B^T.
    let (tri, rhs) = match side {
        Side::Left => (op_ref(a, trans), b),
        Side::Right => (op_ref(a, trans).transpose(), b.transpose_mut()),
    };
    // Transposing swaps which triangle holds the matrix.
    let flips = trans.is() != (side == Side::Right);
    let lower = (uplo == Uplo::Lower) != flips;
    match (lower, diag) {
        (true, Diag::NonUnit) => tsolve::solve_lower_triangular_in_place(tri, rhs, par),
        (true, Diag::Unit) => tsolve::solve_unit_lower_triangular_in_place(tri, rhs, par),
        (false, Diag::NonUnit) => tsolve::solve_upper_triangular_in_place(tri, rhs, par),
        (false, Diag::Unit) => tsolve::solve_unit_upper_triangular_in_place(tri, rhs, par),
    }
}

/// Indices of the strict triangle opposite to `uplo` in an order-`n` tile.
fn other_triangle(uplo: Uplo, n: usize) -> impl Iterator<Item = usize> {
    (0..n).flat_map(move |j| {
        let rows = if uplo == Uplo::Lower { 0..j } else { j + 1..n };
        rows.map(move |i| i + j * n)
    })
}

fn potrf<T: Real>(uplo: Uplo, a: &mut [T], n: usize, par: Par) -> Result<(), KernelError> {
    // faer's blocked kernel may write scratch values into the other triangle; LAPACK semantics
    // (and ours) leave it untouched, so it is saved and put back.
    let saved: Vec<T> = other_triangle(uplo, n).map(|i| a[i]).collect();
    let result = potrf_faer(uplo, a, n, par);
    for (i, v) in other_triangle(uplo, n).zip(saved) {
        a[i] = v;
    }
    result
}

fn potrf_faer<T: Real>(uplo: Uplo, a: &mut [T], n: usize, par: Par) -> Result<(), KernelError> {
    let full = mat_mut(a, n, n);
    // Upper: factor the transposed view, whose lower triangle is A's upper one.
    let view = if uplo == Uplo::Lower {
        full
    } else {
        full.transpose_mut()
    };
    let params = Default::default();
    let mut mem = faer::dyn_stack::MemBuffer::new(llt::factor::cholesky_in_place_scratch::<T>(
        n, par, params,
    ));
    let stack = faer::dyn_stack::MemStack::new(&mut mem);
    llt::factor::cholesky_in_place(view, Default::default(), par, stack, params)
        .map(|_| ())
        .map_err(|e| match e {
            llt::factor::LltError::NonPositivePivot { index } => {
                KernelError::NotPositiveDefinite { index }
            }
        })
}
