//! Tiled Cholesky factorization, in place, and the solve with its factor.
//!
//! Lower (`A = L L^T`), for each step `k` of `nt`:
//! `potrf(A_kk)`; `A_ik = A_ik L_kk^-T` for `i > k` (trsm); then the trailing update
//! `A_jj -= A_jk A_jk^T` (syrk) and `A_ij -= A_ik A_jk^T` for `i > j > k` (gemm).
//! Upper (`A = U^T U`) is the transpose of that. Only the chosen triangle's tiles are touched.

use crate::array::DArray;
use crate::error::Result;
use crate::kernels::dense::{self, Diag, Float, Side, Trans, Uplo};
use crate::linalg::{factorization_error, require_square};
use crate::runtime::region::Region;
use crate::runtime::scope::Scope;
use crate::{Read, ReadWrite};

/// Task priorities of step `k` of `nt`: the panel first, then the next panel's updates
/// (lookahead), then the rest; earlier steps before later ones.
pub(crate) fn priority(nt: usize, k: usize, what: Stage) -> i64 {
    4 * (nt - k) as i64
        + match what {
            Stage::Factor => 3,
            Stage::Panel => 2,
            Stage::NextPanel => 1,
            Stage::Update => 0,
        }
}

/// What a task does within a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Factor,
    Panel,
    NextPanel,
    Update,
}

/// Spawns the tasks of a tiled Cholesky factorization of `a` into `r`.
pub(crate) fn spawn_cholesky<T: Float>(r: &Region<'_>, a: &DArray<T>, uplo: Uplo) {
    let nt = a.nt();
    let one = T::scalar(1.0);
    let minus = T::scalar(-1.0);
    // Tile (i, j) of the lower view: A itself for Lower, A^T (tile (j, i)) for Upper.
    let t = |i: usize, j: usize| {
        if uplo == Uplo::Lower {
            a.tile(i, j)
        } else {
            a.tile(j, i)
        }
    };
    // Lower: A_ik L^-T on the right; upper: U^-T A_ki on the left.
    let (side, trsm_trans) = match uplo {
        Uplo::Lower => (Side::Right, Trans::Yes),
        Uplo::Upper => (Side::Left, Trans::Yes),
    };
    // gemm on the lower view: C_ij -= X_ik X_jk^T; on A itself for Upper this is
    // C_ji -= A_ki^T A_kj.
    let (ga, gb) = match uplo {
        Uplo::Lower => (Trans::No, Trans::Yes),
        Uplo::Upper => (Trans::Yes, Trans::No),
    };
    let syrk_trans = if uplo == Uplo::Lower {
        Trans::No
    } else {
        Trans::Yes
    };
    for k in 0..nt {
        r.task(dense::potrf::<T>(uplo))
            .priority(priority(nt, k, Stage::Factor))
            .spawn(ReadWrite(t(k, k)));
        for i in k + 1..nt {
            r.task(dense::trsm::<T>(side, uplo, trsm_trans, Diag::NonUnit, one))
                .priority(priority(nt, k, Stage::Panel))
                .spawn((Read(t(k, k)), ReadWrite(t(i, k))));
        }
        for j in k + 1..nt {
            let stage = if j == k + 1 {
                Stage::NextPanel
            } else {
                Stage::Update
            };
            r.task(dense::syrk::<T>(uplo, syrk_trans, minus, one))
                .priority(priority(nt, k, stage))
                .spawn((Read(t(j, k)), ReadWrite(t(j, j))));
            for i in j + 1..nt {
                // Lower: A_ij -= A_ik A_jk^T. Upper: A_ji -= A_ki^T A_kj.
                let (x, y) = if uplo == Uplo::Lower {
                    (t(i, k), t(j, k))
                } else {
                    (t(j, k), t(i, k))
                };
                r.task(dense::gemm::<T>(ga, gb, minus, one))
                    .priority(priority(nt, k, stage))
                    .spawn((Read(x), Read(y), ReadWrite(t(i, j))));
            }
        }
    }
}

impl<T: Float> DArray<T> {
    /// Cholesky factorization `A = L L^T` in place (L in the lower triangle's tiles; the upper
    /// ones are not touched), on every processor of the runtime.
    ///
    /// # Errors
    /// [`Error::NotPositiveDefinite`](crate::Error::NotPositiveDefinite) with the global column
    /// of the first non-positive pivot; [`Error::ShapeMismatch`](crate::Error::ShapeMismatch)
    /// if the matrix or its tiles are not square; task failures.
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Runtime};
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// let a = DArray::<f64>::rand_spd(&rt, 100, Blocks::square(32), 7);
    /// a.cholesky()?;
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn cholesky(&self) -> Result<()> {
        self.cholesky_with(Uplo::Lower, &Scope::all())
    }

    /// Cholesky factorization of the `uplo` triangle (`A = L L^T` or `A = U^T U`) on the
    /// processors of `scope`.
    ///
    /// # Errors
    /// As [`DArray::cholesky`].
    pub fn cholesky_with(&self, uplo: Uplo, scope: &Scope) -> Result<()> {
        require_square(self, "cholesky")?;
        self.runtime()
            .datadeps_in(scope.clone(), |r| spawn_cholesky(r, self, uplo))
            .map_err(|e| factorization_error(self, e))
    }

    /// Solves `A X = B` for `X`, overwriting `b`, where `self` holds the Cholesky factor of `A`
    /// (made by [`cholesky_with`](DArray::cholesky_with) with the same `uplo`).
    ///
    /// # Errors
    /// As [`DArray::trsm`].
    pub fn cholesky_solve(&self, uplo: Uplo, b: &DArray<T>, scope: &Scope) -> Result<()> {
        // Lower: L (L^T X) = B. Upper: U^T (U X) = B.
        let (first, second) = match uplo {
            Uplo::Lower => (Trans::No, Trans::Yes),
            Uplo::Upper => (Trans::Yes, Trans::No),
        };
        super::trsm::check(self, Side::Left, b)?;
        self.runtime().datadeps_in(scope.clone(), |r| {
            super::trsm::spawn_trsm(r, self, Side::Left, uplo, first, Diag::NonUnit, 1.0, b);
            super::trsm::spawn_trsm(r, self, Side::Left, uplo, second, Diag::NonUnit, 1.0, b);
        })
    }

    /// Factors `self` (as [`cholesky_with`](DArray::cholesky_with)) and solves `A X = B`,
    /// overwriting `b`, in one region: the solve of each block starts as soon as the factor
    /// tiles it needs are ready.
    ///
    /// # Errors
    /// As [`DArray::cholesky`] and [`DArray::trsm`].
    pub fn factor_and_solve(&self, uplo: Uplo, b: &DArray<T>, scope: &Scope) -> Result<()> {
        require_square(self, "cholesky")?;
        super::trsm::check(self, Side::Left, b)?;
        let (first, second) = match uplo {
            Uplo::Lower => (Trans::No, Trans::Yes),
            Uplo::Upper => (Trans::Yes, Trans::No),
        };
        self.runtime()
            .datadeps_in(scope.clone(), |r| {
                spawn_cholesky(r, self, uplo);
                super::trsm::spawn_trsm(r, self, Side::Left, uplo, first, Diag::NonUnit, 1.0, b);
                super::trsm::spawn_trsm(r, self, Side::Left, uplo, second, Diag::NonUnit, 1.0, b);
            })
            .map_err(|e| factorization_error(self, e))
    }
}
