//! Tiled triangular solves with a matrix right-hand side: `op(A) X = alpha B` (left) or
//! `X op(A) = alpha B` (right), `X` overwriting `B`.
//!
//! With `M = op(A)`, the left solve runs over block rows of `B` in the order that makes `M`'s
//! dependencies resolved (forward when `M` is lower triangular, backward otherwise): the
//! diagonal block solves `X_k = M_kk^-1 B_k`, then `B_i -= M_ik X_k` (gemm) for the blocks after
//! `k`. The right solve does the same over block columns. `alpha` is applied once per block, at
//! its first touch (the first update's `beta`, or the diagonal solve if there was none).

use crate::array::DArray;
use crate::error::{Error, Result};
use crate::kernels::dense::{self, Diag, Float, Side, Trans, Uplo};
use crate::linalg::require_square;
use crate::runtime::region::Region;
use crate::runtime::scope::Scope;
use crate::{Read, ReadWrite};

/// Checks that `a` is square with square tiles matching `b`'s tiling on `side`.
pub(crate) fn check<T: Float>(a: &DArray<T>, side: Side, b: &DArray<T>) -> Result<()> {
    require_square(a, "trsm")?;
    let (mb, nb) = b.tile_size();
    let (order, tile) = match side {
        Side::Left => (b.rows(), mb),
        Side::Right => (b.cols(), nb),
    };
    if a.rows() != order || a.tile_size().0 != tile {
        return Err(Error::ShapeMismatch {
            op: "trsm".into(),
            detail: format!(
                "A is {a:?}, B is {b:?}: A must be {order}x{order} with {tile}x{tile} tiles ({} side)",
                if side == Side::Left { "left" } else { "right" }
            ),
        });
    }
    Ok(())
}

/// Spawns the tasks of a tiled triangular solve into `r` (shapes already checked).
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_trsm<T: Float>(
    r: &Region<'_>,
    a: &DArray<T>,
    side: Side,
    uplo: Uplo,
    trans: Trans,
    diag: Diag,
    alpha: f64,
    b: &DArray<T>,
) {
    let kt = a.nt();
    let minus = T::scalar(-1.0);
    // Tile (i, k) of M = op(A), as stored: transposed tiles are read with the kernel's flag.
    let m_tile = |i: usize, k: usize| {
        if trans.is() {
            a.tile(k, i)
        } else {
            a.tile(i, k)
        }
    };
    // M lower triangular (for the left side) / upper (for the right) decides the order.
    let m_lower = (uplo == Uplo::Lower) != trans.is();
    let forward = match side {
        Side::Left => m_lower,
        Side::Right => !m_lower,
    };
    let order: Vec<usize> = if forward {
        (0..kt).collect()
    } else {
        (0..kt).rev().collect()
    };
    let others = match side {
        Side::Left => b.nt(),
        Side::Right => b.mt(),
    };
    // Whether block k (row on the left, column on the right) of B has been scaled by alpha.
    let mut scaled = vec![false; kt];
    for (pos, &k) in order.iter().enumerate() {
        let first = if scaled[k] { 1.0 } else { alpha };
        scaled[k] = true;
        for o in 0..others {
            let bt = match side {
                Side::Left => b.tile(k, o),
                Side::Right => b.tile(o, k),
            };
            r.task(dense::trsm::<T>(side, uplo, trans, diag, T::scalar(first)))
                .priority(2 * (kt - pos) as i64 + 1)
                .spawn((Read(a.tile(k, k)), ReadWrite(bt)));
        }
        for &i in &order[pos + 1..] {
            let beta = if scaled[i] { 1.0 } else { alpha };
            scaled[i] = true;
            for o in 0..others {
                match side {
                    // B_io -= M_ik X_ko
                    Side::Left => r
                        .task(dense::gemm::<T>(trans, Trans::No, minus, T::scalar(beta)))
                        .priority(2 * (kt - pos) as i64)
                        .spawn((
                            Read(m_tile(i, k)),
                            Read(b.tile(k, o)),
                            ReadWrite(b.tile(i, o)),
                        )),
                    // B_oi -= X_ok M_ki
                    Side::Right => r
                        .task(dense::gemm::<T>(Trans::No, trans, minus, T::scalar(beta)))
                        .priority(2 * (kt - pos) as i64)
                        .spawn((
                            Read(b.tile(o, k)),
                            Read(m_tile(k, i)),
                            ReadWrite(b.tile(o, i)),
                        )),
                };
            }
        }
    }
}

impl<T: Float> DArray<T> {
    /// Triangular solve with many right-hand sides, in place: `op(A) X = alpha B`
    /// ([`Side::Left`]) or `X op(A) = alpha B` ([`Side::Right`]), `self` being `A` (only its
    /// `uplo` triangle is read; not its diagonal with [`Diag::Unit`]) and `b` becoming `X`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless `A` is square with square tiles matching `B`'s tiling on
    /// that side; task failures.
    #[allow(clippy::too_many_arguments)]
    pub fn trsm(
        &self,
        side: Side,
        uplo: Uplo,
        trans: Trans,
        diag: Diag,
        alpha: f64,
        b: &DArray<T>,
        scope: &Scope,
    ) -> Result<()> {
        check(self, side, b)?;
        self.runtime().datadeps_in(scope.clone(), |r| {
            spawn_trsm(r, self, side, uplo, trans, diag, alpha, b)
        })
    }
}
