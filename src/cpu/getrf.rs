//! CPU half of `getrf` and `getrf_nopiv`: LU of an `m x w` panel (`m >= w`), in place.
//!
//! With pivoting it is faer's recursive LU with partial pivoting (`lu_in_place`), its
//! permutation written out as `perm` and the LAPACK-style interchanges `ipiv` recovered from it
//! (see `kernels::lu`). Without pivoting it is the same recursion written here: factor the left
//! half, solve for the top right block, update the bottom right, factor it (faer's triangular
//! solve and matmul do the work). f16 panels are widened to f32 and rounded back once.
//!
//! A zero pivot: LAPACK's getrf finishes and reports the first; so do we, as
//! [`KernelError::Singular`] (faer divides by it, so later columns may hold infinities).

use faer::linalg::lu::partial_pivoting::factor as plu;
use faer::linalg::{matmul, triangular_solve as tsolve};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, MatMut, Par};
use half::f16;

use crate::dtype::DType;
use crate::error::KernelError;
use crate::kernels::CpuTask;
use crate::kernels::lu::interchanges;

/// The real types the panel is factored in.
trait Real: faer::traits::RealField + crate::Element + Copy {
    const ZERO: Self;
    const MINUS_ONE: Self;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const MINUS_ONE: Self = -1.0;
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const MINUS_ONE: Self = -1.0;
}

/// Runs `getrf` (`pivot`) or `getrf_nopiv` on the task's panel.
pub(crate) fn run(t: &mut CpuTask<'_>, pivot: bool) -> Result<(), KernelError> {
    let par = if t.threads() > 1 {
        Par::rayon(t.threads())
    } else {
        Par::Seq
    };
    let s = t.shape(0);
    let (m, w) = (s.rows, s.cols);
    let mut perm = vec![0u32; m];
    let result = match s.dtype {
        DType::F32 => {
            let a = t.tile_mut::<f32>(0);
            factor(a.data, m, w, pivot.then_some(&mut perm[..]), par)
        }
        DType::F64 => {
            let a = t.tile_mut::<f64>(0);
            factor(a.data, m, w, pivot.then_some(&mut perm[..]), par)
        }
        DType::F16 => {
            let a = t.tile_mut::<f16>(0);
            let mut wide: Vec<f32> = a.data.iter().map(|v| v.to_f32()).collect();
            let r = factor(&mut wide, m, w, pivot.then_some(&mut perm[..]), par);
            for (d, s) in a.data.iter_mut().zip(&wide) {
                *d = f16::from_f32(*s);
            }
            r
        }
        d => {
            return Err(KernelError::InvalidArgument(format!(
                "getrf takes f32, f64 or f16, not {d}"
            )));
        }
    };
    if pivot {
        let piv = t.tile_mut::<u32>(1);
        piv.data[..m].copy_from_slice(&perm);
        piv.data[m..].copy_from_slice(&interchanges(&perm, w));
    }
    result
}

/// `getrf` on a panel left in its tiles (arguments `0..n`, pivots last): gathered into one
/// column-major buffer, factored, scattered back.
pub(crate) fn run_tiles(t: &mut CpuTask<'_>) -> Result<(), KernelError> {
    match t.shape(0).dtype {
        DType::F32 => tiles_typed::<f32, f32>(t, |v| v, |v| v),
        DType::F64 => tiles_typed::<f64, f64>(t, |v| v, |v| v),
        DType::F16 => tiles_typed::<f16, f32>(t, f16::to_f32, f16::from_f32),
        d => Err(KernelError::InvalidArgument(format!(
            "getrf takes f32, f64 or f16, not {d}"
        ))),
    }
}

/// [`run_tiles`] for tiles of `S` factored in `T`.
fn tiles_typed<S: crate::Element + Copy, T: Real>(
    t: &mut CpuTask<'_>,
    widen: impl Fn(S) -> T,
    narrow: impl Fn(T) -> S,
) -> Result<(), KernelError> {
    let n = t.len() - 1;
    let par = if t.threads() > 1 {
        Par::rayon(t.threads())
    } else {
        Par::Seq
    };
    let tiles: Vec<_> = (0..n).map(|i| t.tile_mut::<S>(i)).collect();
    let w = tiles[0].cols;
    let m: usize = tiles.iter().map(|x| x.rows).sum();
    let mut panel = Vec::with_capacity(m * w);
    for c in 0..w {
        for x in &tiles {
            panel.extend(
                x.data[c * x.rows..(c + 1) * x.rows]
                    .iter()
                    .map(|&v| widen(v)),
            );
        }
    }
    let mut perm = vec![0u32; m];
    let result = factor(&mut panel, m, w, Some(&mut perm), par);
    let mut at = 0;
    let mut tiles = tiles;
    for c in 0..w {
        for x in tiles.iter_mut() {
            for (d, &v) in x.data[c * x.rows..(c + 1) * x.rows]
                .iter_mut()
                .zip(&panel[at..at + x.rows])
            {
                *d = narrow(v);
            }
            at += x.rows;
        }
    }
    let piv = t.tile_mut::<u32>(n);
    piv.data[..m].copy_from_slice(&perm);
    piv.data[m..].copy_from_slice(&interchanges(&perm, w));
    result
}

/// Factors the column-major `m x w` panel `a`; with `perm`, with partial pivoting, writing the
/// permutation there.
fn factor<T: Real>(
    a: &mut [T],
    m: usize,
    w: usize,
    perm: Option<&mut [u32]>,
    par: Par,
) -> Result<(), KernelError> {
    let mut mat = MatMut::from_column_major_slice_mut(a, m, w);
    match perm {
        Some(perm) => {
            let mut fwd = vec![0usize; m];
            let mut inv = vec![0usize; m];
            let params = Default::default();
            let mut mem = faer::dyn_stack::MemBuffer::new(plu::lu_in_place_scratch::<usize, T>(
                m, w, par, params,
            ));
            let stack = faer::dyn_stack::MemStack::new(&mut mem);
            plu::lu_in_place(mat.rb_mut(), &mut fwd, &mut inv, par, stack, params);
            for (p, f) in perm.iter_mut().zip(&fwd) {
                *p = *f as u32;
            }
            // The first zero on U's diagonal: columns before it were factored exactly as
            // LAPACK would; after it faer has divided by zero.
            match (0..w).find(|&j| mat[(j, j)] == T::ZERO) {
                Some(index) => Err(KernelError::Singular { index }),
                None => Ok(()),
            }
        }
        None => nopiv(mat, par).map_err(|index| KernelError::Singular { index }),
    }
}

/// Columns at most this wide are factored column by column.
const LEAF: usize = 16;

/// LU without pivoting of the `m x w` matrix `a` (`m >= w`), recursively; `Err(j)` at the first
/// zero pivot `j` (the columns before it are factored).
fn nopiv<T: Real>(a: MatMut<'_, T>, par: Par) -> Result<(), usize> {
    let mut a = a;
    let (m, w) = (a.nrows(), a.ncols());
    if w <= LEAF {
        for j in 0..w {
            let pivot = a[(j, j)];
            if pivot == T::ZERO {
                return Err(j);
            }
            for i in j + 1..m {
                let v = a[(i, j)] / pivot;
                a[(i, j)] = v;
            }
            for c in j + 1..w {
                let u = a[(j, c)];
                if u == T::ZERO {
                    continue;
                }
                for i in j + 1..m {
                    let v = a[(i, c)] - a[(i, j)] * u;
                    a[(i, c)] = v;
                }
            }
        }
        return Ok(());
    }
    // Left block of h columns (a multiple of the leaf width), then the rest.
    let h = (w / 2).next_multiple_of(LEAF).min(w - 1);
    let (mut left, right) = a.rb_mut().split_at_col_mut(h);
    nopiv(left.rb_mut(), par)?;
    let (l00, l10) = left.rb().split_at_row(h);
    let (mut a01, mut a11) = right.split_at_row_mut(h);
    tsolve::solve_unit_lower_triangular_in_place(l00, a01.rb_mut(), par);
    matmul::matmul(a11.rb_mut(), Accum::Add, l10, a01.rb(), T::MINUS_ONE, par);
    nopiv(a11, par).map_err(|j| j + h)
}
