//! Tiled matrix multiply `C = alpha op(A) op(B) + beta C` and symmetric rank-k update
//! `C = alpha op(A) op(A)^T + beta C` on one triangle.
//!
//! Each tile of `C` is a chain of GEMMs over the inner tiles (the first with `beta`, the rest
//! accumulating); different tiles of `C` run in parallel.

use crate::Chunk;
use crate::array::DArray;
use crate::error::{Error, Result};
use crate::kernels::dense::{self, Float, Trans, Uplo};
use crate::runtime::region::Region;
use crate::runtime::scope::Scope;
use crate::{Read, ReadWrite};

/// Rows-tiling, cols-tiling and grid of `op(X)`: `(rows, cols, mb, nb, mt, nt)`.
fn op_grid<T: Float>(x: &DArray<T>, t: Trans) -> (usize, usize, usize, usize, usize, usize) {
    let (mb, nb) = x.tile_size();
    if t.is() {
        (x.cols(), x.rows(), nb, mb, x.nt(), x.mt())
    } else {
        (x.rows(), x.cols(), mb, nb, x.mt(), x.nt())
    }
}

/// Tile `(i, l)` of `op(X)`, as stored (the kernel transposes it).
fn op_tile<T: Float>(x: &DArray<T>, t: Trans, i: usize, l: usize) -> &crate::Chunk<T> {
    if t.is() { x.tile(l, i) } else { x.tile(i, l) }
}

impl<T: Float> DArray<T> {
    /// `self = alpha op(A) op(B) + beta self` (`self` is `C`). With `beta = 0`, `C` is not read.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the shapes do not fit or the tilings do not line up
    /// (`op(A)`'s column tiles must be `op(B)`'s row tiles, and `C`'s tiles those of `op(A)`'s
    /// rows and `op(B)`'s columns); task failures.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(
        &self,
        alpha: f64,
        a: &DArray<T>,
        ta: Trans,
        b: &DArray<T>,
        tb: Trans,
        beta: f64,
        scope: &Scope,
    ) -> Result<()> {
        let (am, ak, amb, akb, amt, akt) = op_grid(a, ta);
        let (bk, bn, bkb, bnb, _, bnt) = op_grid(b, tb);
        let (cmb, cnb) = self.tile_size();
        if ak != bk || self.rows() != am || self.cols() != bn {
            return Err(Error::ShapeMismatch {
                op: "gemm".into(),
                detail: format!(
                    "op(A) is {am}x{ak}, op(B) is {bk}x{bn}, C is {}x{}",
                    self.rows(),
                    self.cols()
                ),
            });
        }
        if akb != bkb || cmb != amb || cnb != bnb {
            return Err(Error::ShapeMismatch {
                op: "gemm".into(),
                detail: format!(
                    "tilings do not line up: op(A) tiles {amb}x{akb}, op(B) tiles {bkb}x{bnb}, C tiles {cmb}x{cnb}"
                ),
            });
        }
        let (one, alpha_s) = (T::scalar(1.0), T::scalar(alpha));
        self.runtime().datadeps_in(scope.clone(), |r| {
            for j in 0..bnt {
                for i in 0..amt {
                    if akt == 0 {
                        scale_by_beta(r, self.tile(i, j), beta);
                    }
                    for l in 0..akt {
                        let b_l = if l == 0 { T::scalar(beta) } else { one };
                        r.task(dense::gemm::<T>(ta, tb, alpha_s, b_l))
                            .priority(-(l as i64))
                            .spawn((
                                Read(op_tile(a, ta, i, l)),
                                Read(op_tile(b, tb, l, j)),
                                ReadWrite(self.tile(i, j)),
                            ));
                    }
                }
            }
        })
    }

    /// `op(self) op(b)` as a new matrix, tiled like `op(self)`'s rows and `op(b)`'s columns,
    /// on every processor.
    ///
    /// # Errors
    /// As [`DArray::gemm`].
    pub fn matmul(&self, b: &DArray<T>) -> Result<DArray<T>> {
        let (m, _, mb, _, _, _) = op_grid(self, Trans::No);
        let (_, n, _, nb, _, _) = op_grid(b, Trans::No);
        let c = DArray::zeros(self.runtime(), m, n, crate::Blocks::new(mb, nb));
        c.gemm(1.0, self, Trans::No, b, Trans::No, 0.0, &Scope::all())?;
        Ok(c)
    }

    /// `self = alpha op(A) op(A)^T + beta self` on the `uplo` triangle of `self` (`C`, square
    /// with square tiles); `op(A)` is `A` ([`Trans::No`]) or `A^T`. Tiles wholly in the other
    /// triangle are not touched.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when shapes or tilings do not fit; task failures.
    pub fn syrk(
        &self,
        uplo: Uplo,
        trans: Trans,
        alpha: f64,
        a: &DArray<T>,
        beta: f64,
        scope: &Scope,
    ) -> Result<()> {
        super::require_square(self, "syrk")?;
        let (an, _, anb, _, _, akt) = op_grid(a, trans);
        if an != self.rows() || anb != self.tile_size().0 {
            return Err(Error::ShapeMismatch {
                op: "syrk".into(),
                detail: format!("op(A) has {an} rows in tiles of {anb}; C is {self:?}"),
            });
        }
        let nt = self.nt();
        let (one, alpha_s) = (T::scalar(1.0), T::scalar(alpha));
        let (ga, gb) = if trans.is() {
            (Trans::Yes, Trans::No)
        } else {
            (Trans::No, Trans::Yes)
        };
        self.runtime().datadeps_in(scope.clone(), |r| {
            for j in 0..nt {
                for i in j..nt {
                    // Lower: C_ij (i >= j); upper: C_ji.
                    let (ci, cj) = if uplo == Uplo::Lower { (i, j) } else { (j, i) };
                    if akt == 0 && i == j {
                        // On the diagonal only the triangle: the SYRK kernel with an empty A.
                        let c = self.tile(ci, ci);
                        r.spawn(
                            dense::syrk::<T>(uplo, Trans::No, one, T::scalar(beta)),
                            (
                                Read(&Chunk::<T>::zeros(c.runtime(), c.rows(), 0)),
                                ReadWrite(c),
                            ),
                        );
                    } else if akt == 0 {
                        scale_by_beta(r, self.tile(ci, cj), beta);
                    }
                    for l in 0..akt {
                        let b_l = if l == 0 { T::scalar(beta) } else { one };
                        if i == j {
                            r.spawn(
                                dense::syrk::<T>(uplo, trans, alpha_s, b_l),
                                (Read(op_tile(a, trans, i, l)), ReadWrite(self.tile(i, i))),
                            );
                        } else {
                            r.spawn(
                                dense::gemm::<T>(ga, gb, alpha_s, b_l),
                                (
                                    Read(op_tile(a, trans, ci, l)),
                                    Read(op_tile(a, trans, cj, l)),
                                    ReadWrite(self.tile(ci, cj)),
                                ),
                            );
                        }
                    }
                }
            }
        })
    }
}

/// `C = beta C` on one tile, for an empty inner dimension: the GEMM kernel with empty operands,
/// so that `beta = 0` writes zeros without reading `C` (which may hold NaN), as BLAS does.
fn scale_by_beta<T: Float>(r: &Region<'_>, c: &Chunk<T>, beta: f64) {
    let rt = c.runtime();
    r.spawn(
        dense::gemm::<T>(Trans::No, Trans::No, T::scalar(1.0), T::scalar(beta)),
        (
            Read(&Chunk::<T>::zeros(rt, c.rows(), 0)),
            Read(&Chunk::<T>::zeros(rt, 0, c.cols())),
            ReadWrite(c),
        ),
    );
}
