//! Tiled LU factorization with partial pivoting (and without), the solve with its factors, the
//! general and SPD solves, and the inverse.
//!
//! For each step `k` of `nt` (tile column `k`, panel rows from `r0 = k nb` down):
//! 1. the panel: the tiles `(k.., k)` are gathered into one `m x w` chunk (`set_tile`; a single
//!    tile is factored where it is), factored by `getrf` (partial pivoting: the whole column
//!    takes part in each pivot search) into `L`, `U` and a pivot chunk, and scattered back
//!    (`get_tile`);
//! 2. the row interchanges on every other tile column, right and left (LAPACK's `L` has them
//!    too): `laswp_save` on its tile `(k, j)`, then `laswp_pair` with each tile `(i, j)`, `i > k`
//!    (see `kernels::lu`); the pivot chunk is data the tasks read, so they run wherever they
//!    are placed, after the panel;
//! 3. `U_kj = L_kk^-1 A_kj` (trsm, unit lower), then `A_ij -= L_ik U_kj` (gemm) for `i, j > k`.
//!
//! That is the form every processor can run (no task touches more than four chunks, as GPU
//! bindings require). When only the host's cores run the region (the CPU, perhaps with a
//! software adapter beside it), the panel is instead factored in its tiles by one task, and each
//! interchange is one task on the whole tile column: no copies, and a tenth of the tasks.
//!
//! Priorities favour the panel, then the next column's updates (lookahead), then the rest; the
//! interchanges of the left columns, needed only at the end, come last. This is PLASMA's
//! `dgetrf` with a whole-column panel (Dongarra, Faverge, Ltaief, Luszczek, "Achieving
//! numerical accuracy and high performance using recursive tile LU factorization with partial
//! pivoting", Concurrency and Computation 26, 2014), the panel factored by faer's recursive LU
//! on the CPU or a one-workgroup kernel on a GPU.
//!
//! Math names: `k` the step, `i, j` tile indices, `mt, nt` tile counts, `r0` a panel's first
//! row, `m, w` its rows and columns.

use crate::array::{Blocks, DArray};
use crate::data::chunk::Chunk;
use crate::error::{ChunkId, Error, KernelError, Result};
use crate::kernels::dense::{self, Diag, Float, Side, Trans, Uplo};
use crate::kernels::{builtin, lu};
use crate::linalg::cholesky::{Stage, priority};
use crate::runtime::processor::Processor;
use crate::runtime::region::Region;
use crate::runtime::scope::Scope;
use crate::runtime::task::Access;
use crate::{Read, ReadWrite, Write};

/// The row interchanges of an LU factorization with partial pivoting, `P A = L U`, kept where
/// the factorization left them (one small chunk per tile column) until read.
#[derive(Clone, Debug)]
pub struct Pivots {
    steps: Vec<Step>,
    rows: usize,
}

#[derive(Clone, Debug)]
struct Step {
    /// `perm` (m entries) then `ipiv` (w entries), counted from `r0`.
    chunk: Chunk<u32>,
    r0: usize,
    m: usize,
    w: usize,
}

impl Pivots {
    /// The number of interchanges (the matrix's columns).
    pub fn len(&self) -> usize {
        self.steps.iter().map(|s| s.w).sum()
    }

    /// Whether there are none (a matrix without columns).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// LAPACK's `ipiv`, zero-based: at step `r`, rows `r` and `ipiv[r] >= r` were interchanged
    /// (applied in order to `A`, they give `P A`).
    ///
    /// # Errors
    /// As [`Chunk::to_vec`] (the pivots are read on the host).
    pub fn to_vec(&self) -> Result<Vec<usize>> {
        let mut out = Vec::with_capacity(self.len());
        for s in &self.steps {
            let v = s.chunk.to_vec()?;
            out.extend(v[s.m..s.m + s.w].iter().map(|&p| s.r0 + p as usize));
        }
        Ok(out)
    }

    /// The permutation: row `i` of `P A` is row `perm[i]` of `A`.
    ///
    /// # Errors
    /// As [`Pivots::to_vec`].
    pub fn permutation(&self) -> Result<Vec<usize>> {
        let mut perm: Vec<usize> = (0..self.rows).collect();
        for (r, p) in self.to_vec()?.into_iter().enumerate() {
            perm.swap(r, p);
        }
        Ok(perm)
    }
}

/// What a solve may assume about `A` in `A X = B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Structure {
    /// Any nonsingular square matrix: LU with partial pivoting.
    General,
    /// Symmetric positive definite, given by the `Uplo` triangle: Cholesky.
    Spd(Uplo),
}

/// The chunks an LU factorization's tasks were spawned with: its pivots and, per step, the
/// chunk its panel task factored (to map a failure to a column).
pub(crate) struct Spawned {
    pub(crate) pivots: Option<Pivots>,
    panels: Vec<ChunkId>,
    nb: usize,
}

impl Spawned {
    /// Maps a zero pivot in a panel to the matrix-level [`Error::Singular`] with its global
    /// column; other errors pass through.
    pub(crate) fn error(&self, e: Error) -> Error {
        let index = match e.kernel_error() {
            Some(KernelError::Singular { index }) => *index,
            _ => return e,
        };
        let chunk = e.task().and_then(|t| t.chunks.first().copied());
        match self.panels.iter().position(|&p| Some(p) == chunk) {
            Some(k) => Error::Singular {
                column: k * self.nb + index,
            },
            None => e,
        }
    }
}

/// Checks that `a` has at least as many rows as columns and square tiles.
pub(crate) fn require_tall<T: Float>(a: &DArray<T>, op: &str) -> Result<()> {
    let (mb, nb) = a.tile_size();
    if a.rows() < a.cols() || mb != nb {
        return Err(Error::ShapeMismatch {
            op: op.to_string(),
            detail: format!("needs at least as many rows as columns and square tiles, got {a:?}"),
        });
    }
    Ok(())
}

/// Spawns the tasks of a tiled LU factorization of `a` (shape checked) into `r`, with partial
/// pivoting when `pivot`.
pub(crate) fn spawn_lu<T: Float>(r: &Region<'_>, a: &DArray<T>, pivot: bool) -> Spawned {
    let (mt, nt, nb) = (a.mt(), a.nt(), a.tile_size().0);
    let rt = a.runtime();
    let one = T::scalar(1.0);
    let minus = T::scalar(-1.0);
    let mut steps = Vec::with_capacity(nt);
    let mut panels = Vec::with_capacity(nt);
    let cpu_only = cpu_only(r);
    for k in 0..nt {
        let prio = |stage| priority(nt, k, stage);
        let r0 = k * nb;
        let (m, w) = (a.rows() - r0, a.tile(k, k).cols());
        // The panel: the column's tiles in one chunk (unless there is only one, or the host's
        // cores run everything: then it is factored in its tiles, with no copies in between).
        let single = k + 1 == mt;
        let in_tiles = cpu_only && pivot && !single;
        let gathered = !single && !in_tiles;
        let panel = if gathered {
            let panel = Chunk::<T>::zeros(rt, m, w);
            for i in k..mt {
                r.task(builtin::set_tile::<T>((i - k) * nb, 0))
                    .priority(prio(Stage::Factor))
                    .spawn((Read(a.tile(i, k)), ReadWrite(&panel)));
            }
            panel
        } else {
            a.tile(k, k).clone()
        };
        panels.push(panel.id());
        let piv = pivot.then(|| Chunk::<u32>::zeros(rt, m + w, 1));
        match &piv {
            Some(piv) if in_tiles => {
                let mut args: Vec<Access> =
                    (k..mt).map(|i| ReadWrite(a.tile(i, k)).into()).collect();
                args.push(Write(piv).into());
                r.task(lu::getrf_tiles::<T>(mt - k))
                    .priority(prio(Stage::Factor))
                    .spawn(args);
            }
            Some(piv) => {
                r.task(lu::getrf::<T>())
                    .priority(prio(Stage::Factor))
                    .spawn((ReadWrite(&panel), Write(piv)));
            }
            None => {
                r.task(lu::getrf_nopiv::<T>())
                    .priority(prio(Stage::Factor))
                    .spawn(ReadWrite(&panel));
            }
        }
        if gathered {
            for i in k..mt {
                r.task(builtin::get_tile::<T>((i - k) * nb, 0))
                    .priority(prio(Stage::Panel))
                    .spawn((Read(&panel), Write(a.tile(i, k))));
            }
        }
        if let Some(piv) = &piv {
            for j in (0..nt).filter(|&j| j != k) {
                // Left columns only matter at the end.
                let p = match j {
                    j if j < k => 0,
                    j if j == k + 1 => prio(Stage::NextPanel),
                    _ => prio(Stage::Update),
                };
                let tiles: Vec<&Chunk<T>> = (k..mt).map(|i| a.tile(i, j)).collect();
                spawn_laswp(r, piv, &tiles, nb, p, cpu_only);
            }
            steps.push(Step {
                chunk: piv.clone(),
                r0,
                m,
                w,
            });
        }
        for j in k + 1..nt {
            let stage = if j == k + 1 {
                Stage::NextPanel
            } else {
                Stage::Update
            };
            r.task(dense::trsm::<T>(
                Side::Left,
                Uplo::Lower,
                Trans::No,
                Diag::Unit,
                one,
            ))
            .priority(prio(stage))
            .spawn((Read(a.tile(k, k)), ReadWrite(a.tile(k, j))));
            for i in k + 1..mt {
                r.task(dense::gemm::<T>(Trans::No, Trans::No, minus, one))
                    .priority(prio(stage))
                    .spawn((
                        Read(a.tile(i, k)),
                        Read(a.tile(k, j)),
                        ReadWrite(a.tile(i, j)),
                    ));
            }
        }
    }
    Spawned {
        pivots: pivot.then(|| Pivots {
            steps,
            rows: a.rows(),
        }),
        panels,
        nb,
    }
}

/// Whether the region's tasks run on the host's cores only: the CPU, with at most software
/// adapters (lavapipe) beside it, which share its cores and add no parallelism (as
/// `AutoBlocks::for_scope` counts them; the model sends them nothing once calibrated). Then
/// panels and interchanges take whole tile columns as one task each (CPU-only kernels), not
/// chunk pairs that any processor can run.
fn cpu_only(r: &Region<'_>) -> bool {
    let procs = r.rt.scope_processors(r.scope());
    procs.contains(&Processor::Cpu)
        && procs
            .iter()
            .all(|&p| p == Processor::Cpu || r.rt.shares_host_cores(p))
}

/// Spawns one step's row interchanges on a tile column: `tiles[0]` its top tile (the panel's
/// first rows), the others below it, `nb` rows apart; one CPU task when `cpu_only`.
fn spawn_laswp<T: Float>(
    r: &Region<'_>,
    piv: &Chunk<u32>,
    tiles: &[&Chunk<T>],
    nb: usize,
    priority: i64,
    cpu_only: bool,
) {
    if cpu_only {
        let mut args: Vec<Access> = vec![Read(piv).into()];
        args.extend(tiles.iter().map(|t| Access::from(ReadWrite(*t))));
        r.task(lu::laswp_tiles::<T>(tiles.len()))
            .priority(priority)
            .spawn(args);
        return;
    }
    let top = tiles[0];
    let save = Chunk::<T>::zeros(top.runtime(), top.rows(), top.cols());
    r.task(lu::laswp_save::<T>()).priority(priority).spawn((
        Read(piv),
        ReadWrite(top),
        Write(&save),
    ));
    for (x, tile) in tiles.iter().enumerate().skip(1) {
        r.task(lu::laswp_pair::<T>(x * nb))
            .priority(priority)
            .spawn((Read(piv), Read(&save), ReadWrite(top), ReadWrite(*tile)));
    }
}

/// Spawns `X = A^-1 B` into `r` for the LU factors in `a` with `pivots`, overwriting `b`: the
/// interchanges on `B`, then `L Y = P B` and `U X = Y`.
pub(crate) fn spawn_lu_solve<T: Float>(
    r: &Region<'_>,
    a: &DArray<T>,
    pivots: &Pivots,
    b: &DArray<T>,
) {
    let (nt, nb) = (a.nt(), a.tile_size().0);
    let cpu_only = cpu_only(r);
    for (k, step) in pivots.steps.iter().enumerate() {
        for o in 0..b.nt() {
            let tiles: Vec<&Chunk<T>> = (k..b.mt()).map(|i| b.tile(i, o)).collect();
            spawn_laswp(
                r,
                &step.chunk,
                &tiles,
                nb,
                2 * (nt - k) as i64 + 1,
                cpu_only,
            );
        }
    }
    super::trsm::spawn_trsm(r, a, Side::Left, Uplo::Lower, Trans::No, Diag::Unit, 1.0, b);
    super::trsm::spawn_trsm(
        r,
        a,
        Side::Left,
        Uplo::Upper,
        Trans::No,
        Diag::NonUnit,
        1.0,
        b,
    );
}

impl<T: Float> DArray<T> {
    /// LU factorization with partial pivoting, in place: `P A = L U`, `L` unit lower
    /// triangular (trapezoidal for a tall `A`) below the diagonal and `U` on and above it, on
    /// every processor of the runtime. Returns the interchanges (LAPACK-style, see
    /// [`Pivots::to_vec`]); they also apply to `L`'s columns, as LAPACK's `getrf` leaves them.
    ///
    /// # Errors
    /// [`Error::Singular`] with the global column of the first exactly zero pivot (the matrix
    /// is then partly factored); [`Error::ShapeMismatch`] unless `A` has at least as many rows
    /// as columns and square tiles; task failures.
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Runtime};
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// let a = DArray::<f64>::rand(&rt, 100, 100, Blocks::square(32), 7);
    /// let pivots = a.lu()?;
    /// assert_eq!(pivots.to_vec()?.len(), 100);
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn lu(&self) -> Result<Pivots> {
        self.lu_with(&Scope::all())
    }

    /// [`lu`](DArray::lu) on the processors of `scope`.
    ///
    /// # Errors
    /// As [`DArray::lu`].
    pub fn lu_with(&self, scope: &Scope) -> Result<Pivots> {
        require_tall(self, "lu")?;
        let spawned = self.factor(scope, true)?;
        Ok(spawned
            .pivots
            .unwrap_or_else(|| unreachable!("a pivoted LU has pivots")))
    }

    /// Runs [`spawn_lu`] in a region of its own, with its errors mapped.
    fn factor(&self, scope: &Scope, pivot: bool) -> Result<Spawned> {
        let mut spawned = None;
        let run = self.runtime().datadeps_in(scope.clone(), |r| {
            spawned = Some(spawn_lu(r, self, pivot));
        });
        let spawned = spawned.unwrap_or_else(|| unreachable!("the region ran its closure"));
        run.map_err(|e| spawned.error(e))?;
        Ok(spawned)
    }

    /// LU factorization without pivoting, in place: `A = L U` (for matrices where that is
    /// stable, e.g. diagonally dominant ones), on the processors of `scope`.
    ///
    /// # Errors
    /// As [`DArray::lu`]: [`Error::Singular`] at the first exactly zero pivot.
    pub fn lu_nopiv(&self, scope: &Scope) -> Result<()> {
        require_tall(self, "lu_nopiv")?;
        self.factor(scope, false).map(|_| ())
    }

    /// Solves `A X = B` for `X`, overwriting `b`, where `self` holds the LU factors of the square
    /// `A` and `pivots` its interchanges (from [`lu`](DArray::lu)).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless `A` is square with square tiles matching `B`'s row
    /// tiling; task failures.
    pub fn lu_solve(&self, pivots: &Pivots, b: &DArray<T>, scope: &Scope) -> Result<()> {
        super::trsm::check(self, Side::Left, b)?;
        self.runtime()
            .datadeps_in(scope.clone(), |r| spawn_lu_solve(r, self, pivots, b))
    }

    /// Solves `A X = B` for `X`, overwriting `b` with `X` and `self` with `A`'s factors (LU
    /// with partial pivoting for [`Structure::General`], Cholesky for [`Structure::Spd`]), in
    /// one region: each block of the solve starts as soon as the factors it needs are ready.
    ///
    /// # Errors
    /// [`Error::Singular`] (general) or [`Error::NotPositiveDefinite`] (SPD) with the global
    /// column; [`Error::ShapeMismatch`] unless `A` is square with square tiles matching `B`'s
    /// row tiling; task failures.
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Runtime, Scope};
    /// use tessera::linalg::Structure;
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// let a = DArray::<f64>::rand(&rt, 50, 50, Blocks::square(16), 1);
    /// let b = DArray::<f64>::rand(&rt, 50, 3, Blocks::square(16), 2);
    /// a.solve(Structure::General, &b, &Scope::all())?; // b is now A^-1 B
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn solve(&self, structure: Structure, b: &DArray<T>, scope: &Scope) -> Result<()> {
        match structure {
            Structure::Spd(uplo) => self.factor_and_solve(uplo, b, scope),
            Structure::General => {
                super::trsm::check(self, Side::Left, b)?;
                let mut spawned = None;
                self.runtime()
                    .datadeps_in(scope.clone(), |r| {
                        let s = spawn_lu(r, self, true);
                        if let Some(p) = &s.pivots {
                            spawn_lu_solve(r, self, p, b);
                        }
                        spawned = Some(s);
                    })
                    .map_err(|e| match &spawned {
                        Some(s) => s.error(e),
                        None => e,
                    })
            }
        }
    }

    /// The inverse of the square matrix `A` (`self`, left as it is), tiled as `A`, by LU with
    /// partial pivoting of a copy and a solve with the identity, in one region.
    ///
    /// # Errors
    /// As [`DArray::solve`] with [`Structure::General`].
    pub fn inverse(&self, scope: &Scope) -> Result<DArray<T>> {
        super::require_square(self, "inverse")?;
        let rt = self.runtime();
        let blocks = Blocks::square(self.tile_size().0);
        let f = DArray::<T>::zeros(rt, self.rows(), self.cols(), blocks);
        let x = DArray::<T>::identity(rt, self.rows(), blocks);
        let mut spawned = None;
        rt.datadeps_in(scope.clone(), |r| {
            for (src, dst) in self.tiles().iter().zip(f.tiles()) {
                r.spawn(builtin::copy::<T>(), (Read(src), Write(dst)));
            }
            let s = spawn_lu(r, &f, true);
            if let Some(p) = &s.pivots {
                spawn_lu_solve(r, &f, p, &x);
            }
            spawned = Some(s);
        })
        .map_err(|e| match &spawned {
            Some(s) => s.error(e),
            None => e,
        })?;
        Ok(x)
    }
}
