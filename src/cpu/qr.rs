//! CPU halves of the tile QR kernels (`geqrt`, `tsqrt`, `unmqr`, `tsmqr`; conventions in
//! `kernels/qr.rs`): LAPACK's blocked algorithms (`dgeqrt`, `dtpqrt`, `dgemqrt`, `dtpmqrt`),
//! with the reflectors of one inner block made and applied column by column (level 2) and
//! everything else done by faer's matrix products (level 3).
//!
//! faer's own QR is not used for the tiles: it skips columns it judges rank deficient (its `R`
//! is then a staircase, not the triangle `tsqrt` needs) and stores `T^-1` where LAPACK and our
//! GPU kernels store `T`.
//!
//! A tile kernel runs on the pool thread the scheduler gave it, sequentially (`Par::Seq`) unless
//! it was granted several threads. Math names: `m, n, k` dimensions, `ib` the inner block, `w`
//! its width at a given step, `b0` its first column.

use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

use faer::linalg::matmul;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, ColRef, MatMut, MatRef, Par};

use crate::dtype::DType;
use crate::error::KernelError;
use crate::kernels::CpuTask;
use crate::kernels::dense::Trans;
use crate::kernels::qr::QrOp;

/// The widest panel factored column by column (level 2); a factor block wider than this is
/// made of several panels and their factors joined.
const PANEL: usize = 32;

/// Runs `op` on the task's tiles.
pub(crate) fn run(op: QrOp, t: &mut CpuTask<'_>) -> Result<(), KernelError> {
    let par = if t.threads() > 1 {
        Par::rayon(t.threads())
    } else {
        Par::Seq
    };
    match t.shape(0).dtype {
        DType::F32 => run_typed::<f32>(op, t, par),
        DType::F64 => run_typed::<f64>(op, t, par),
        d => Err(KernelError::InvalidArgument(format!(
            "QR kernels take f32 or f64, not {d}"
        ))),
    }
}

/// The real types the kernels compute in.
pub(crate) trait Real:
    faer::traits::RealField
    + crate::Element
    + Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    const ZERO: Self;
    const ONE: Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
}

impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
    fn abs(self) -> f32 {
        f32::abs(self)
    }
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    fn sqrt(self) -> f64 {
        f64::sqrt(self)
    }
    fn abs(self) -> f64 {
        f64::abs(self)
    }
}

fn run_typed<T: Real>(op: QrOp, t: &mut CpuTask<'_>, par: Par) -> Result<(), KernelError> {
    match op {
        QrOp::Geqrt => {
            let a = t.tile_mut::<T>(0);
            let f = t.tile_mut::<T>(1);
            geqrt(a.data, a.rows, a.cols, f.data, f.rows, par);
        }
        QrOp::Tsqrt => {
            let a1 = t.tile_mut::<T>(0);
            let a2 = t.tile_mut::<T>(1);
            let f = t.tile_mut::<T>(2);
            tsqrt(
                a1.data, a1.rows, a2.data, a2.rows, a2.cols, f.data, f.rows, par,
            );
        }
        QrOp::Unmqr(trans) => {
            let v = t.tile::<T>(0);
            let f = t.tile::<T>(1);
            let c = t.tile_mut::<T>(2);
            unmqr(
                trans, v.data, v.rows, v.cols, f.data, f.rows, c.data, c.cols, par,
            );
        }
        QrOp::Tsmqr(trans) => {
            let v = t.tile::<T>(0);
            let f = t.tile::<T>(1);
            let c1 = t.tile_mut::<T>(2);
            let c2 = t.tile_mut::<T>(3);
            let (m2, k, n) = (v.rows, v.cols, c2.cols);
            let mut c1 = MatMut::from_column_major_slice_mut(c1.data, c1.rows, n);
            let mut c2 = MatMut::from_column_major_slice_mut(c2.data, m2, n);
            let v2 = MatRef::from_column_major_slice(v.data, m2, k);
            let tf = MatRef::from_column_major_slice(f.data, f.rows, k);
            for (b0, w) in blocks(k, f.rows, trans) {
                apply_ts(
                    trans,
                    v2.subcols(b0, w),
                    tf.submatrix(0, b0, w, w),
                    c1.rb_mut().subrows_mut(b0, w),
                    c2.rb_mut(),
                    par,
                );
            }
        }
    }
    Ok(())
}

/// The inner blocks `(first column, width)` of `k` reflectors in blocks of `ib`, in the order
/// that applies `Q^T` ([`Trans::Yes`]: first block first) or `Q` (last block first).
fn blocks(k: usize, ib: usize, trans: Trans) -> Vec<(usize, usize)> {
    let mut v: Vec<_> = (0..k)
        .step_by(ib.max(1))
        .map(|b0| (b0, ib.min(k - b0)))
        .collect();
    if !trans.is() {
        v.reverse();
    }
    v
}

/// LAPACK's `dlarfg`: makes `H = I - tau v v^T` with `v = [1; x / (alpha - beta)]` such that
/// `H [alpha; x] = [beta; 0]`, overwriting `alpha` with `beta` and `x` with `v`'s tail; returns
/// `tau` (0 when `x` is zero: `H = I`, nothing changes).
fn reflector<T: Real>(alpha: &mut T, x: &mut [T]) -> T {
    let xnorm = ColRef::from_slice(x).norm_l2();
    if xnorm == T::ZERO {
        return T::ZERO;
    }
    let a = *alpha;
    // hypot(a, xnorm) without overflow: both scaled by the larger.
    let big = if a.abs() > xnorm { a.abs() } else { xnorm };
    let (sa, sx) = (a / big, xnorm / big);
    let norm = big * (sa * sa + sx * sx).sqrt();
    let beta = if a >= T::ZERO { -norm } else { norm };
    let tau = (beta - a) / beta;
    let scale = T::ONE / (a - beta);
    for v in x.iter_mut() {
        *v *= scale;
    }
    *alpha = beta;
    tau
}

/// `dlarft` for one block: fills the `w x w` upper triangular `T` (column-major with leading
/// dimension `ldt`) from the taus and the Gram matrix `G = V^T V` of the block's reflectors
/// (only its strict upper triangle is read): `T(0..i, i) = -tau_i T(0..i, 0..i) G(0..i, i)`.
fn larft<T: Real>(taus: &[T], g: MatRef<'_, T>, t: &mut [T], ldt: usize) {
    let w = taus.len();
    let mut col = vec![T::ZERO; w];
    for i in 0..w {
        let tau = taus[i];
        for (r, out) in col.iter_mut().enumerate().take(i) {
            let mut s = T::ZERO;
            for q in r..i {
                s += t[r + q * ldt] * g[(q, i)];
            }
            *out = -tau * s;
        }
        t[i * ldt..i * ldt + i].copy_from_slice(&col[..i]);
        t[i + i * ldt] = tau;
    }
}

/// `op(T) W` for the `w x w` upper triangular `T` (stored with zeros below its diagonal, so a
/// plain product: faer's triangular one is slower at these sizes), where `op` is the
/// transpose for [`Trans::Yes`].
fn tri_times<T: Real>(trans: Trans, t: MatRef<'_, T>, w: MatRef<'_, T>, par: Par) -> faer::Mat<T> {
    let mut out = faer::Mat::<T>::zeros(w.nrows(), w.ncols());
    let lhs = if trans.is() { t.transpose() } else { t };
    matmul::matmul(out.as_mut(), Accum::Replace, lhs, w, T::ONE, par);
    out
}

/// `C = C - V (op(T) (V^T C))`, which is `Q_b^T C` ([`Trans::Yes`]) or `Q_b C` for the block `Q_b = I - V T V^T`. `V` is explicit
/// (`m x w`, unit lower trapezoidal with its zeros).
fn apply_block<T: Real>(
    trans: Trans,
    v: MatRef<'_, T>,
    t: MatRef<'_, T>,
    c: MatMut<'_, T>,
    par: Par,
) {
    if c.ncols() == 0 || v.ncols() == 0 {
        return;
    }
    let mut w = faer::Mat::<T>::zeros(v.ncols(), c.ncols());
    matmul::matmul(
        w.as_mut(),
        Accum::Replace,
        v.transpose(),
        c.rb(),
        T::ONE,
        par,
    );
    let w = tri_times(trans, t, w.as_ref(), par);
    matmul::matmul(c, Accum::Add, v, w.as_ref(), -T::ONE, par);
}

/// The triangle-on-top version: `[C1; C2] -= [I; V2] (op(T) (C1 + V2^T C2))`, `C1` the `w`
/// rows the block's unit heads hit.
fn apply_ts<T: Real>(
    trans: Trans,
    v2: MatRef<'_, T>,
    t: MatRef<'_, T>,
    mut c1: MatMut<'_, T>,
    c2: MatMut<'_, T>,
    par: Par,
) {
    if c1.ncols() == 0 || v2.ncols() == 0 {
        return;
    }
    let mut w = c1.rb().to_owned();
    matmul::matmul(w.as_mut(), Accum::Add, v2.transpose(), c2.rb(), T::ONE, par);
    let w = tri_times(trans, t, w.as_ref(), par);
    for j in 0..w.ncols() {
        let (mut dst, src) = (c1.rb_mut().col_mut(j), w.col(j));
        for (i, x) in src.iter().enumerate() {
            dst[i] -= *x;
        }
    }
    matmul::matmul(c2, Accum::Add, v2, w.as_ref(), -T::ONE, par);
}

/// `[head; body] -= tau [1; v] ([1; v]^T [head; body])`: one reflector on the panel's later
/// columns (`body` column-major and contiguous per column, as the panels are).
fn apply_reflector<T: Real>(
    tau: T,
    v: &[T],
    mut head: MatMut<'_, T>,
    mut body: MatMut<'_, T>,
    _par: Par,
) {
    for c in 0..head.ncols() {
        let mut col = body.rb_mut().col_mut(c);
        let col = col
            .rb_mut()
            .try_as_col_major_mut()
            .unwrap_or_else(|| unreachable!("panel columns are contiguous"))
            .as_slice_mut();
        let w = tau * (head[(0, c)] + dot(v, col));
        head[(0, c)] -= w;
        for (y, x) in col.iter_mut().zip(v) {
            *y -= w * *x;
        }
    }
}

/// `x . y` with eight running sums (so the compiler can vectorize it).
fn dot<T: Real>(x: &[T], y: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for l in 0..8 {
            acc[l] += a[l] * b[l];
        }
    }
    let mut s = T::ZERO;
    for (a, b) in xr.iter().zip(yr) {
        s += *a * *b;
    }
    let pairs = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    s + (pairs[0] + pairs[2]) + (pairs[1] + pairs[3])
}

/// The explicit `V` of `geqrt`'s block at column `b0` of width `w` in the `m`-row tile `a`:
/// rows `b0..m`, unit diagonal, zeros above it.
fn explicit_v<T: Real>(a: &[T], m: usize, b0: usize, w: usize) -> faer::Mat<T> {
    faer::Mat::from_fn(m - b0, w, |r, s| match r.cmp(&s) {
        std::cmp::Ordering::Less => T::ZERO,
        std::cmp::Ordering::Equal => T::ONE,
        std::cmp::Ordering::Greater => a[(b0 + r) + (b0 + s) * m],
    })
}

/// QR of the `m x n` tile `a` (`m >= n`) in place, block factors into `t` (`ib x n`).
pub(crate) fn geqrt<T: Real>(a: &mut [T], m: usize, n: usize, t: &mut [T], ib: usize, par: Par) {
    t.fill(T::ZERO);
    let mut taus = Vec::with_capacity(PANEL);
    for (s0, ws, b0, w) in panels(n, ib) {
        taus.clear();
        // The panel, column by column.
        for j in b0..b0 + w {
            let (left, right) = a.split_at_mut((j + 1) * m);
            let col = &mut left[j * m..];
            let (head, tail) = col.split_at_mut(j + 1);
            let tau = reflector(&mut head[j], tail);
            taus.push(tau);
            if tau == T::ZERO {
                continue;
            }
            let nc = b0 + w - j - 1;
            let v = &col[j + 1..];
            let (head, body) = MatMut::from_column_major_slice_mut(&mut right[..nc * m], m, nc)
                .subrows_mut(j, m - j)
                .split_at_row_mut(1);
            apply_reflector(tau, v, head, body, par);
        }
        let v = explicit_v(a, m, b0, w);
        let g = gram(v.as_ref(), par);
        larft(&taus, g.as_ref(), &mut t[(b0 - s0) + b0 * ib..], ib);
        if b0 + w < n {
            let tf = MatRef::from_column_major_slice(t, ib, n).submatrix(b0 - s0, b0, w, w);
            let c = MatMut::from_column_major_slice_mut(a, m, n).submatrix_mut(
                b0,
                b0 + w,
                m - b0,
                n - b0 - w,
            );
            apply_block(Trans::Yes, v.as_ref(), tf, c, par);
        }
        if b0 + w == s0 + ws && ws > w {
            let vs = explicit_v(a, m, s0, ws);
            merge_blocks(t, ib, n, s0, ws, gram(vs.as_ref(), par).as_ref(), par);
        }
    }
}

/// The panels `(s0, ws, b0, w)` of `n` columns: stored blocks of `ib` columns (first column
/// `s0`, width `ws`), each factored in panels of up to [`PANEL`] columns (`b0`, `w`), in order.
fn panels(n: usize, ib: usize) -> Vec<(usize, usize, usize, usize)> {
    let ib = ib.max(1);
    let mut v = Vec::new();
    for s0 in (0..n).step_by(ib) {
        let ws = ib.min(n - s0);
        for b0 in (s0..s0 + ws).step_by(PANEL) {
            v.push((s0, ws, b0, PANEL.min(s0 + ws - b0)));
        }
    }
    v
}

/// Joins the panels' factors on the diagonal of the stored block at `s0` (width `ws`) of the
/// `ib x n` factor tile `t` into the block's factor: for `V = [V1 V2]`,
/// `T = [T1, -T1 (V1^T V2) T2; 0, T2]` (Schreiber, Van Loan), `g` the block's Gram matrix.
fn merge_blocks<T: Real>(
    t: &mut [T],
    ib: usize,
    n: usize,
    s0: usize,
    ws: usize,
    g: MatRef<'_, T>,
    par: Par,
) {
    let mut ts = MatMut::from_column_major_slice_mut(t, ib, n).submatrix_mut(0, s0, ws, ws);
    for o in (PANEL..ws).step_by(PANEL) {
        let wb = PANEL.min(ws - o);
        let (left, right) = ts.rb_mut().split_at_col_mut(o);
        let (top, bottom) = right.split_at_row_mut(o);
        let mut x = faer::Mat::<T>::zeros(o, wb);
        matmul::matmul(
            x.as_mut(),
            Accum::Replace,
            g.submatrix(0, o, o, wb),
            bottom.rb().submatrix(0, 0, wb, wb),
            T::ONE,
            par,
        );
        matmul::matmul(
            top.submatrix_mut(0, 0, o, wb),
            Accum::Replace,
            left.rb().submatrix(0, 0, o, o),
            x.as_ref(),
            -T::ONE,
            par,
        );
    }
}

/// `V^T V` (only the strict upper triangle is used).
fn gram<T: Real>(v: MatRef<'_, T>, par: Par) -> faer::Mat<T> {
    let mut g = faer::Mat::<T>::zeros(v.ncols(), v.ncols());
    matmul::matmul(g.as_mut(), Accum::Replace, v.transpose(), v, T::ONE, par);
    g
}

/// QR of `[R; A2]`: `R` the upper triangle of the top `n x n` of `a1` (`m1` rows), `a2` full
/// `m2 x n`; block factors into `t` (`ib x n`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn tsqrt<T: Real>(
    a1: &mut [T],
    m1: usize,
    a2: &mut [T],
    m2: usize,
    n: usize,
    t: &mut [T],
    ib: usize,
    par: Par,
) {
    t.fill(T::ZERO);
    let mut taus = Vec::with_capacity(PANEL);
    for (s0, ws, b0, w) in panels(n, ib) {
        taus.clear();
        for j in b0..b0 + w {
            let (left, right) = a2.split_at_mut((j + 1) * m2);
            let v = &mut left[j * m2..];
            let tau = reflector(&mut a1[j + j * m1], v);
            taus.push(tau);
            if tau == T::ZERO {
                continue;
            }
            let nc = b0 + w - j - 1;
            let head =
                MatMut::from_column_major_slice_mut(a1, m1, n).submatrix_mut(j, j + 1, 1, nc);
            let body = MatMut::from_column_major_slice_mut(&mut right[..nc * m2], m2, nc);
            apply_reflector(tau, v, head, body, par);
        }
        let v2 = MatRef::from_column_major_slice(a2, m2, n)
            .subcols(b0, w)
            .to_owned();
        let g = gram(v2.as_ref(), par);
        larft(&taus, g.as_ref(), &mut t[(b0 - s0) + b0 * ib..], ib);
        if b0 + w < n {
            let tf = MatRef::from_column_major_slice(t, ib, n).submatrix(b0 - s0, b0, w, w);
            let c1 = MatMut::from_column_major_slice_mut(a1, m1, n).submatrix_mut(
                b0,
                b0 + w,
                w,
                n - b0 - w,
            );
            let c2 = MatMut::from_column_major_slice_mut(a2, m2, n).subcols_mut(b0 + w, n - b0 - w);
            apply_ts(Trans::Yes, v2.as_ref(), tf, c1, c2, par);
        }
        if b0 + w == s0 + ws && ws > w {
            // The unit heads e_l are orthogonal: the Gram matrix is V2's.
            let vs = MatRef::from_column_major_slice(a2, m2, n).subcols(s0, ws);
            merge_blocks(t, ib, n, s0, ws, gram(vs, par).as_ref(), par);
        }
    }
}

/// `C = Q^T C` or `Q C` with `geqrt`'s reflectors in `v` (`m x k`) and factors `t` (`ib x k`);
/// `c` is `m x n`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn unmqr<T: Real>(
    trans: Trans,
    v: &[T],
    m: usize,
    k: usize,
    t: &[T],
    ib: usize,
    c: &mut [T],
    n: usize,
    par: Par,
) {
    let mut c = MatMut::from_column_major_slice_mut(c, m, n);
    let tf = MatRef::from_column_major_slice(t, ib, k);
    for (b0, w) in blocks(k, ib, trans) {
        let vb = explicit_v(v, m, b0, w);
        apply_block(
            trans,
            vb.as_ref(),
            tf.submatrix(0, b0, w, w),
            c.rb_mut().subrows_mut(b0, m - b0),
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Q` of a factored tile, formed by applying it to the identity.
    fn q_of(v: &[f64], m: usize, k: usize, t: &[f64], ib: usize) -> Vec<f64> {
        let mut q = vec![0.0; m * m];
        for i in 0..m {
            q[i + i * m] = 1.0;
        }
        unmqr(Trans::No, v, m, k, t, ib, &mut q, m, Par::Seq);
        q
    }

    #[test]
    fn geqrt_reconstructs_and_is_orthogonal_for_every_inner_block() {
        // Blocks narrower than a panel, and blocks joined from several panels.
        for (m, n, ib) in [
            (7, 5, 1),
            (7, 5, 2),
            (7, 5, 3),
            (7, 5, 5),
            (7, 5, 8),
            (75, 70, 40),
            (75, 70, 64),
            (70, 70, 70),
        ] {
            let a0: Vec<f64> = (0..m * n).map(|x| ((x * 37 % 11) as f64) - 5.0).collect();
            let (mut a, mut t) = (a0.clone(), vec![f64::NAN; ib * n]);
            geqrt(&mut a, m, n, &mut t, ib, Par::Seq);
            let q = q_of(&a, m, n, &t, ib);
            for c in 0..n {
                for r in 0..m {
                    let qr: f64 = (0..=c.min(m - 1))
                        .map(|l| q[r + l * m] * a[l + c * m])
                        .sum();
                    assert!((qr - a0[r + c * m]).abs() < 1e-12, "ib {ib} ({r}, {c})");
                }
            }
            for i in 0..m {
                for j in 0..m {
                    let d: f64 = (0..m).map(|l| q[l + i * m] * q[l + j * m]).sum();
                    let e = if i == j { 1.0 } else { 0.0 };
                    assert!((d - e).abs() < 1e-13, "ib {ib}: Q^T Q ({i}, {j})");
                }
            }
        }
    }

    #[test]
    fn zero_columns_give_identity_reflectors() {
        // The identity and a zero column: tau = 0, no NaN anywhere.
        let (m, n, ib) = (4, 3, 2);
        let mut a = vec![0.0f64; m * n];
        a[0] = 1.0;
        a[2 + 2 * m] = 3.0;
        let mut t = vec![f64::NAN; ib * n];
        geqrt(&mut a, m, n, &mut t, ib, Par::Seq);
        assert!(a.iter().chain(&t).all(|x| x.is_finite()));
        assert_eq!(t[0], 0.0, "first column already reduced");
    }
}
