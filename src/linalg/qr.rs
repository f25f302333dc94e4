//! Tiled Householder QR (compact WY) and least squares: [`DArray::qr`] factors in place and
//! returns a [`QrFactor`], which applies `Q` and `Q^T`, forms `Q` and solves least-squares
//! problems.
//!
//! The algorithm is PLASMA's tile QR (Buttari, Langou, Kurzak, Dongarra, "A class of parallel
//! tiled linear algebra algorithms for multicore architectures", Parallel Computing 35, 2009;
//! "Parallel tiled QR factorization for multicore architectures", Concurrency Computat.: Pract.
//! Exper. 20, 2008). For each step `k`: `geqrt(A_kk)`; `A_kj = Q_kk^T A_kj` for `j > k`
//! (`unmqr`); for each `i > k`, `tsqrt(A_kk, A_ik)` zeroes the tile under the triangle and
//! `tsmqr` applies it to the pairs `(A_kj, A_ij)`. Each tile `(i, k)` with `i >= k` gets an
//! `ib x nb` tile of block factors `T` (see [`kernels::qr`](crate::kernels::qr)), which the
//! [`QrFactor`] owns next to the factored matrix.
//!
//! Math names: `m x n` the matrix (`m >= n`), `nb` the (square) tile order, `ib` the inner
//! block, `mt, nt` tile counts, `i, j, k` tile indices.

use crate::array::{Blocks, DArray};
use crate::data::chunk::Chunk;
use crate::error::{Error, Result};
use crate::kernels::builtin;
use crate::kernels::dense::{Diag, Side, Trans, Uplo};
use crate::kernels::qr::{self, QrFloat};
use crate::linalg::cholesky::{Stage, priority};
use crate::runtime::region::Region;
use crate::runtime::scope::Scope;
use crate::{Read, ReadWrite, Write};

/// The inner block size [`DArray::qr`] uses for `nb x nb` tiles: 32, or `nb` if smaller.
///
/// ```
/// assert_eq!(tessera::linalg::default_inner_block(256), 32);
/// assert_eq!(tessera::linalg::default_inner_block(8), 8);
/// ```
pub fn default_inner_block(nb: usize) -> usize {
    nb.clamp(1, 32)
}

/// A QR factorization `A = Q R` made by [`DArray::qr`]: the factored matrix (`R` in its upper
/// triangle, the Householder reflectors below it, as LAPACK's `geqrt` leaves them tile by tile)
/// and the block factors `T` of every tile on or below the diagonal.
///
/// ```
/// use tessera::{Blocks, DArray, Runtime, Scope};
/// use tessera::linalg::Trans;
///
/// let rt = Runtime::builder().cpu_only().build()?;
/// // A 6 x 3 matrix in 2 x 2 tiles.
/// let a = DArray::<f64>::from_fn(&rt, 6, 3, Blocks::square(2), |r, c| {
///     if r == c { 2.0 } else { 1.0 / (1 + r + c) as f64 }
/// });
/// let f = a.qr()?;
/// let q = f.form_q(&Scope::all())?; // 6 x 3, orthonormal columns
/// let qv = q.to_vec()?;
/// let dot: f64 = (0..6).map(|r| qv[r] * qv[r + 6]).sum();
/// assert!(dot.abs() < 1e-14);
/// // Q^T Q's first column is e_0.
/// f.apply_q(Trans::Yes, &q, &Scope::all())?;
/// let e = q.to_vec()?;
/// assert!((e[0].abs() - 1.0).abs() < 1e-14 && e[1].abs() < 1e-14);
/// # Ok::<(), tessera::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct QrFactor<T: QrFloat> {
    a: DArray<T>,
    /// `T` of tile `(i, k)` at `i + k * mt`, for `i >= k`.
    t: Vec<Option<Chunk<T>>>,
    ib: usize,
}

impl<T: QrFloat> DArray<T> {
    /// Householder QR factorization `A = Q R` in place, on every processor of the runtime, with
    /// the default inner block ([`default_inner_block`]). `A` must be square or tall
    /// (`rows >= cols`) with square tiles. Afterwards `self` holds `R` in its upper triangle and
    /// the reflectors below it; the returned [`QrFactor`] shares its tiles.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a wide matrix or non-square tiles; task failures.
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Runtime};
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// let a = DArray::<f64>::rand(&rt, 100, 40, Blocks::square(16), 7);
    /// let f = a.qr()?;
    /// assert_eq!(f.factored().rows(), 100);
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn qr(&self) -> Result<QrFactor<T>> {
        self.qr_with(default_inner_block(self.tile_size().0), &Scope::all())
    }

    /// [`DArray::qr`] with inner block `ib` (the width of the compact WY blocks inside a tile;
    /// `ib <= 256` lets the GPU kernels take part) on the processors of `scope`.
    ///
    /// # Errors
    /// As [`DArray::qr`]; [`Error::Config`] if `ib` is 0.
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Runtime, Scope};
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// let a = DArray::<f32>::rand(&rt, 50, 50, Blocks::square(16), 3);
    /// let f = a.qr_with(8, &Scope::cpu())?;
    /// assert_eq!(f.inner_block(), 8);
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn qr_with(&self, ib: usize, scope: &Scope) -> Result<QrFactor<T>> {
        check_factorable(self)?;
        if ib == 0 {
            return Err(Error::Config(
                "qr: the inner block ib must be at least 1".into(),
            ));
        }
        let f = QrFactor::new(self, ib);
        self.runtime()
            .datadeps_in(scope.clone(), |r| f.spawn_factor(r))?;
        Ok(f)
    }

    /// The least-squares solution `X` (`cols x k`) of `min ||A X - B||_F` for the tall or
    /// square `A` (`self`, factored in place by [`DArray::qr`]) and `B` (`rows x k`, overwritten
    /// by `Q^T B`), on every processor. `B`'s row tiles must match `A`'s; `X` has `A`'s tile
    /// order for rows and `B`'s for columns.
    ///
    /// # Errors
    /// As [`DArray::qr`] and [`QrFactor::solve_least_squares`].
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Runtime};
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// // Fit y = 1 + 2 t through 5 exact points.
    /// let a = DArray::<f64>::from_fn(&rt, 5, 2, Blocks::square(2), |r, c| {
    ///     if c == 0 { 1.0 } else { r as f64 }
    /// });
    /// let b = DArray::<f64>::from_fn(&rt, 5, 1, Blocks::square(2), |r, _| 1.0 + 2.0 * r as f64);
    /// let x = a.least_squares(&b)?.to_vec()?;
    /// assert!((x[0] - 1.0).abs() < 1e-13 && (x[1] - 2.0).abs() < 1e-13);
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn least_squares(&self, b: &DArray<T>) -> Result<DArray<T>> {
        self.least_squares_with(b, &Scope::all())
    }

    /// [`least_squares`](DArray::least_squares) on the processors of `scope` (the
    /// factorization with the default inner block, then the solve).
    ///
    /// # Errors
    /// As [`DArray::least_squares`].
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Runtime, Scope};
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// let a = DArray::<f64>::from_fn(&rt, 4, 2, Blocks::square(2), |r, c| (r + c) as f64 + 1.0);
    /// let b = DArray::<f64>::from_fn(&rt, 4, 1, Blocks::square(2), |r, _| r as f64);
    /// // b = 2 a_0 - a_1 exactly.
    /// let x = a.least_squares_with(&b, &Scope::cpu())?.to_vec()?;
    /// assert!((x[0] - 2.0).abs() < 1e-12 && (x[1] + 1.0).abs() < 1e-12);
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn least_squares_with(&self, b: &DArray<T>, scope: &Scope) -> Result<DArray<T>> {
        let f = self.qr_with(default_inner_block(self.tile_size().0), scope)?;
        f.solve_least_squares(b, scope)
    }
}

/// A tall or square matrix with square tiles.
fn check_factorable<T: QrFloat>(a: &DArray<T>) -> Result<()> {
    let (mb, nb) = a.tile_size();
    if a.rows() < a.cols() || mb != nb {
        return Err(Error::ShapeMismatch {
            op: "qr".into(),
            detail: format!("needs rows >= cols and square tiles, got {a:?}"),
        });
    }
    Ok(())
}

impl<T: QrFloat> QrFactor<T> {
    fn new(a: &DArray<T>, ib: usize) -> QrFactor<T> {
        let (mt, nt, nb) = (a.mt(), a.nt(), a.tile_size().1);
        let rt = a.runtime();
        let t = (0..mt * nt)
            .map(|x| {
                let (i, k) = (x % mt, x / mt);
                (i >= k).then(|| {
                    let cols = a.tile(i, k).cols();
                    Chunk::zeros(rt, ib.min(nb).min(cols.max(1)), cols)
                })
            })
            .collect();
        QrFactor {
            a: a.clone(),
            t,
            ib,
        }
    }

    /// The factored matrix: `R` in the upper triangle, the reflectors below it.
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Runtime};
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// let a = DArray::<f64>::from_fn(&rt, 2, 1, Blocks::square(2), |r, _| [3.0, 4.0][r]);
    /// let r = a.qr()?.factored().to_vec()?;
    /// assert!((r[0] + 5.0).abs() < 1e-15); // R(0, 0) = -5
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn factored(&self) -> &DArray<T> {
        &self.a
    }

    /// The inner block size the factorization used.
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Runtime};
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// let a = DArray::<f64>::rand(&rt, 64, 64, Blocks::square(64), 1);
    /// assert_eq!(a.qr()?.inner_block(), 32);
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn inner_block(&self) -> usize {
        self.ib
    }

    /// The block-factor tile of tile `(i, k)`, `i >= k`.
    fn t(&self, i: usize, k: usize) -> &Chunk<T> {
        self.t[i + k * self.a.mt()]
            .as_ref()
            .unwrap_or_else(|| unreachable!("T factors exist on and below the diagonal only"))
    }

    fn spawn_factor(&self, r: &Region<'_>) {
        let a = &self.a;
        let (mt, nt) = (a.mt(), a.nt());
        let stage = |j: usize, k: usize| {
            if j == k + 1 {
                Stage::NextPanel
            } else {
                Stage::Update
            }
        };
        for k in 0..nt {
            r.task(qr::geqrt::<T>())
                .priority(priority(nt, k, Stage::Factor))
                .spawn((ReadWrite(a.tile(k, k)), Write(self.t(k, k))));
            for j in k + 1..nt {
                r.task(qr::unmqr::<T>(Trans::Yes))
                    .priority(priority(nt, k, stage(j, k)))
                    .spawn((
                        Read(a.tile(k, k)),
                        Read(self.t(k, k)),
                        ReadWrite(a.tile(k, j)),
                    ));
            }
            for i in k + 1..mt {
                r.task(qr::tsqrt::<T>())
                    .priority(priority(nt, k, Stage::Panel))
                    .spawn((
                        ReadWrite(a.tile(k, k)),
                        ReadWrite(a.tile(i, k)),
                        Write(self.t(i, k)),
                    ));
                for j in k + 1..nt {
                    r.task(qr::tsmqr::<T>(Trans::Yes))
                        .priority(priority(nt, k, stage(j, k)))
                        .spawn((
                            Read(a.tile(i, k)),
                            Read(self.t(i, k)),
                            ReadWrite(a.tile(k, j)),
                            ReadWrite(a.tile(i, j)),
                        ));
                }
            }
        }
    }

    /// Checks that `b` has `A`'s rows and row tiles.
    fn check_rhs(&self, b: &DArray<T>, op: &str) -> Result<()> {
        if b.rows() != self.a.rows() || b.tile_size().0 != self.a.tile_size().0 {
            return Err(Error::ShapeMismatch {
                op: op.into(),
                detail: format!(
                    "B is {b:?}; it needs A's {} rows in tiles of {}",
                    self.a.rows(),
                    self.a.tile_size().0
                ),
            });
        }
        Ok(())
    }

    fn spawn_apply(&self, r: &Region<'_>, trans: Trans, b: &DArray<T>) {
        let a = &self.a;
        let (mt, nt, bt) = (a.mt(), a.nt(), b.nt());
        let unmqr = |k: usize| {
            for j in 0..bt {
                r.task(qr::unmqr::<T>(trans))
                    .priority(priority(nt, k, Stage::Panel))
                    .spawn((
                        Read(a.tile(k, k)),
                        Read(self.t(k, k)),
                        ReadWrite(b.tile(k, j)),
                    ));
            }
        };
        let tsmqr = |i: usize, k: usize| {
            for j in 0..bt {
                r.task(qr::tsmqr::<T>(trans))
                    .priority(priority(nt, k, Stage::Update))
                    .spawn((
                        Read(a.tile(i, k)),
                        Read(self.t(i, k)),
                        ReadWrite(b.tile(k, j)),
                        ReadWrite(b.tile(i, j)),
                    ));
            }
        };
        if trans.is() {
            // Q^T: the factorization's order.
            for k in 0..nt {
                unmqr(k);
                for i in k + 1..mt {
                    tsmqr(i, k);
                }
            }
        } else {
            // Q: every transformation in reverse.
            for k in (0..nt).rev() {
                for i in (k + 1..mt).rev() {
                    tsmqr(i, k);
                }
                unmqr(k);
            }
        }
    }

    /// `B = Q^T B` ([`Trans::Yes`]) or `B = Q B` ([`Trans::No`]) in place, `Q` the full
    /// `rows x rows` orthogonal factor, on the processors of `scope`. `B` must have `A`'s rows
    /// in `A`'s row tiles (any number of columns and column tiles).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `B`'s rows or row tiles differ from `A`'s; task failures.
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Runtime, Scope};
    /// use tessera::linalg::Trans;
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// let a = DArray::<f64>::rand(&rt, 9, 4, Blocks::square(4), 1);
    /// let b = DArray::<f64>::rand(&rt, 9, 2, Blocks::square(4), 2);
    /// let b0 = b.to_vec()?;
    /// let f = a.qr()?;
    /// f.apply_q(Trans::Yes, &b, &Scope::all())?; // Q^T B
    /// f.apply_q(Trans::No, &b, &Scope::all())?; // Q Q^T B = B
    /// assert!(b.to_vec()?.iter().zip(&b0).all(|(x, y)| (x - y).abs() < 1e-14));
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn apply_q(&self, trans: Trans, b: &DArray<T>, scope: &Scope) -> Result<()> {
        self.check_rhs(b, "apply_q")?;
        self.a
            .runtime()
            .datadeps_in(scope.clone(), |r| self.spawn_apply(r, trans, b))
    }

    /// The thin `Q` (`rows x cols`, orthonormal columns, `A = Q R`) as a new matrix with `A`'s
    /// tiles, made by applying `Q` to the first columns of the identity on the processors of
    /// `scope`. (The full square `Q` is [`apply_q`](QrFactor::apply_q) on a whole identity.)
    ///
    /// # Errors
    /// Task failures.
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Runtime, Scope};
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// let a = DArray::<f64>::rand(&rt, 7, 3, Blocks::square(2), 5);
    /// let q = a.qr()?.form_q(&Scope::all())?.to_vec()?;
    /// let norm: f64 = q[..7].iter().map(|x| x * x).sum();
    /// assert!((norm - 1.0).abs() < 1e-14);
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn form_q(&self, scope: &Scope) -> Result<DArray<T>> {
        let a = &self.a;
        let nb = a.tile_size().0;
        let q = DArray::from_fn(
            a.runtime(),
            a.rows(),
            a.cols(),
            Blocks::square(nb),
            |r, c| T::from_f64(if r == c { 1.0 } else { 0.0 }),
        );
        self.apply_q(Trans::No, &q, scope)?;
        Ok(q)
    }

    /// The least-squares solution `X` (`cols x k`) of `min ||A X - B||_F`: `B` (`rows x k`, in
    /// `A`'s row tiles) is overwritten by `Q^T B`, then `R X = (Q^T B)(0..cols, :)` is solved
    /// (tiled `trsm` on a copy of `R`), on the processors of `scope`. `X` has `A`'s tile order
    /// for rows and `B`'s for columns. For a square `A` this solves `A X = B`.
    ///
    /// # Errors
    /// [`Error::Singular`] with the column of the first zero on `R`'s diagonal (`A` is rank
    /// deficient; nothing is solved, `B` is left as it was); [`Error::ShapeMismatch`] if `B`'s
    /// rows or row tiles differ from `A`'s; task failures.
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Error, Runtime, Scope};
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// // A square system A x = b with A = [[2, 0], [0, 4]].
    /// let a = DArray::<f64>::from_fn(&rt, 2, 2, Blocks::square(1), |r, c| {
    ///     if r == c { 2.0 * (r + 1) as f64 } else { 0.0 }
    /// });
    /// let b = DArray::<f64>::from_fn(&rt, 2, 1, Blocks::square(1), |r, _| 4.0);
    /// let x = a.qr()?.solve_least_squares(&b, &Scope::all())?.to_vec()?;
    /// assert!((x[0] - 2.0).abs() < 1e-15 && (x[1] - 1.0).abs() < 1e-15);
    /// // A zero column: rank deficient.
    /// let z = DArray::<f64>::from_fn(&rt, 2, 2, Blocks::square(1), |r, c| (c * (r + 1)) as f64);
    /// let b = DArray::<f64>::from_fn(&rt, 2, 1, Blocks::square(1), |_, _| 1.0);
    /// let e = z.qr()?.solve_least_squares(&b, &Scope::all());
    /// assert!(matches!(e, Err(Error::Singular { column: 0 })));
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn solve_least_squares(&self, b: &DArray<T>, scope: &Scope) -> Result<DArray<T>> {
        self.check_rhs(b, "solve_least_squares")?;
        let a = &self.a;
        let (n, nb, nt) = (a.cols(), a.tile_size().0, a.nt());
        // LAPACK's xTRTRS check: an exact zero on the diagonal of R.
        for k in 0..nt {
            let tile = a.tile(k, k);
            let v = tile.to_vec()?;
            if let Some(d) = (0..tile.cols()).find(|&d| v[d + d * tile.rows()] == T::from_f64(0.0))
            {
                return Err(Error::Singular { column: k * nb + d });
            }
        }
        let rt = a.runtime();
        let x = DArray::<T>::zeros(rt, n, b.cols(), Blocks::new(nb, b.tile_size().1));
        let rmat = DArray::<T>::zeros(rt, n, n, Blocks::square(nb));
        rt.datadeps_in(scope.clone(), |r| {
            self.spawn_apply(r, Trans::Yes, b);
            for j in 0..nt {
                for i in 0..=j {
                    r.spawn(
                        builtin::get_tile::<T>(0, 0),
                        (Read(a.tile(i, j)), Write(rmat.tile(i, j))),
                    );
                }
            }
            for j in 0..x.nt() {
                for i in 0..nt {
                    r.spawn(
                        builtin::get_tile::<T>(0, 0),
                        (Read(b.tile(i, j)), Write(x.tile(i, j))),
                    );
                }
            }
            super::trsm::spawn_trsm(
                r,
                &rmat,
                Side::Left,
                Uplo::Upper,
                Trans::No,
                Diag::NonUnit,
                1.0,
                &x,
            );
        })?;
        Ok(x)
    }
}
