//! Mixed-precision solve: f64 answers from an f32 LU factorization (on a GPU when the model
//! prefers one, including GPUs without `SHADER_F64`, which cannot hold f64 tiles at all), refined
//! in f64 on the host.
//!
//! The iteration is LAPACK's `dsgesv` (Langou, Langou, Luszczek, Kurzak, Buttari, Dongarra,
//! "Exploiting the performance of 32 bit floating point arithmetic in obtaining 64 bit accuracy",
//! SC 2006): factor `A` in f32; solve `A x0 = b` with the f32 factors; then repeat
//! `r = b - A x` (f64), `A d = r` (the f32 factors), `x += d` until
//! `||r|| <= sqrt(n) u64 ||A|| ||x||` (infinity norms), at most [`ITERATIONS`] times. If that
//! does not happen (`A` too ill-conditioned for f32, a value outside f32's range, or an exact
//! zero pivot in f32) the solve falls back to an f64 LU with partial pivoting on the
//! processors of the scope that run f64.

use faer::{Accum, MatRef, Par};

use crate::array::{Blocks, DArray};
use crate::error::{Error, Result};
use crate::kernels::dense::Side;
use crate::runtime::scope::Scope;

/// Most refinement steps before falling back (LAPACK's `ITERMAX`).
pub const ITERATIONS: usize = 30;

/// How a mixed-precision solve ended: an outcome, not an error.
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use]
pub struct Refinement {
    /// Refinement steps after the first solve with the f32 factors (0 if the first answer was
    /// already accurate, or if the f32 path was abandoned before any).
    pub iterations: usize,
    /// `||B - A X|| / (||A|| ||X||)` of the answer, as computed in f64 (infinity norms).
    pub backward_error: f64,
    /// Whether the answer came from the f64 fallback.
    pub fell_back: bool,
}

/// Column-major host matrix of `rows x cols`.
struct Host {
    rows: usize,
    cols: usize,
    v: Vec<f64>,
}

impl Host {
    fn mat(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(&self.v, self.rows, self.cols)
    }

    fn norm_inf(&self) -> f64 {
        (0..self.rows)
            .map(|r| {
                (0..self.cols)
                    .map(|c| self.v[r + c * self.rows].abs())
                    .sum::<f64>()
            })
            .fold(0.0, f64::max)
    }
}

/// `b - a x`, in f64 on the host (faer, every core).
fn residual(a: &Host, b: &Host, x: &Host) -> Host {
    let mut r = b.v.clone();
    faer::linalg::matmul::matmul(
        faer::MatMut::from_column_major_slice_mut(&mut r, b.rows, b.cols),
        Accum::Add,
        a.mat(),
        x.mat(),
        -1.0,
        Par::rayon(0),
    );
    Host {
        rows: b.rows,
        cols: b.cols,
        v: r,
    }
}

/// Overwrites the tiles of `d` with the host matrix `h` (same shape).
fn store(d: &DArray<f64>, h: &Host) -> Result<()> {
    let (mb, nb) = d.tile_size();
    for j in 0..d.nt() {
        for i in 0..d.mt() {
            let t = d.tile(i, j);
            let mut data = Vec::with_capacity(t.len());
            for c in 0..t.cols() {
                let at = i * mb + (j * nb + c) * h.rows;
                data.extend_from_slice(&h.v[at..at + t.rows()]);
            }
            t.copy_from_slice(&data)?;
        }
    }
    Ok(())
}

/// `h` rounded to f32 in a new array tiled as `like`; `None` if a value is outside f32's range.
fn to_f32(like: &DArray<f64>, h: &Host) -> Option<DArray<f32>> {
    if h.v.iter().any(|v| v.abs() > f64::from(f32::MAX)) {
        return None;
    }
    let (mb, nb) = like.tile_size();
    Some(DArray::from_fn(
        like.runtime(),
        h.rows,
        h.cols,
        Blocks::new(mb, nb),
        |r, c| h.v[r + c * h.rows] as f32,
    ))
}

fn host_of(d: &DArray<f64>) -> Result<Host> {
    Ok(Host {
        rows: d.rows(),
        cols: d.cols(),
        v: d.to_vec()?,
    })
}

fn host_of_f32(d: &DArray<f32>) -> Result<Host> {
    Ok(Host {
        rows: d.rows(),
        cols: d.cols(),
        v: d.to_vec()?.into_iter().map(f64::from).collect(),
    })
}

impl DArray<f64> {
    /// Solves `A X = B` in f64 with an f32 LU factorization refined in f64 (module docs):
    /// `self` is `A` (left as it is), `b` becomes `X`. The factorization and the solves with
    /// it run on the processors of `scope` (a GPU without `SHADER_F64` included); residuals
    /// and corrections on the host. Falls back to an f64 LU when refinement does not reach
    /// f64 accuracy.
    ///
    /// # Errors
    /// [`Error::Singular`] when `A` is singular in f64 too; [`Error::ShapeMismatch`] unless
    /// `A` is square with square tiles matching `B`'s row tiling; task failures (among them
    /// [`Error::NoProcessor`] if the fallback is needed and nothing in scope runs f64).
    ///
    /// ```
    /// use tessera::{Blocks, DArray, Runtime, Scope};
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// let a = DArray::<f64>::rand(&rt, 60, 60, Blocks::square(16), 1);
    /// let b = DArray::<f64>::rand(&rt, 60, 2, Blocks::square(16), 2);
    /// let how = a.solve_mixed(&b, &Scope::all())?;
    /// assert!(how.backward_error < 1e-15 && !how.fell_back);
    /// # Ok::<(), tessera::Error>(())
    /// ```
    pub fn solve_mixed(&self, b: &DArray<f64>, scope: &Scope) -> Result<Refinement> {
        super::trsm::check(self, Side::Left, b)?;
        let n = self.rows();
        let a = host_of(self)?;
        let bh = host_of(b)?;
        let norm_a = a.norm_inf();
        let threshold = (n as f64).sqrt() * f64::EPSILON / 2.0 * norm_a;
        let backward = |r: &Host, x: &Host| {
            let nx = x.norm_inf();
            if nx == 0.0 || norm_a == 0.0 {
                r.norm_inf()
            } else {
                r.norm_inf() / (norm_a * nx)
            }
        };
        if let Some(outcome) = self.refine(&a, &bh, threshold, &backward, scope, b)? {
            return Ok(outcome);
        }
        // The f64 fallback, on a copy of A.
        let f = DArray::from_slice(
            self.runtime(),
            n,
            n,
            &a.v,
            Blocks::square(self.tile_size().0),
        );
        let x = DArray::from_slice(
            self.runtime(),
            n,
            bh.cols,
            &bh.v,
            Blocks::new(b.tile_size().0, b.tile_size().1),
        );
        f.solve(super::Structure::General, &x, scope)?;
        let xh = host_of(&x)?;
        store(b, &xh)?;
        let r = residual(&a, &bh, &xh);
        Ok(Refinement {
            iterations: 0,
            backward_error: backward(&r, &xh),
            fell_back: true,
        })
    }

    /// The f32 path: `Some` with the outcome when it converged (the answer stored in `b`),
    /// `None` when the fallback must run.
    fn refine(
        &self,
        a: &Host,
        bh: &Host,
        threshold: f64,
        backward: &dyn Fn(&Host, &Host) -> f64,
        scope: &Scope,
        b: &DArray<f64>,
    ) -> Result<Option<Refinement>> {
        let Some(a32) = to_f32(self, a) else {
            return Ok(None);
        };
        let pivots = match a32.lu_with(scope) {
            Ok(p) => p,
            // A zero pivot in f32 need not be one in f64.
            Err(Error::Singular { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut x = Host {
            rows: bh.rows,
            cols: bh.cols,
            v: vec![0.0; bh.v.len()],
        };
        let mut r = Host {
            rows: bh.rows,
            cols: bh.cols,
            v: bh.v.clone(),
        };
        for step in 0..=ITERATIONS {
            // d = A^-1 r with the f32 factors; x += d.
            let Some(d) = to_f32(b, &r) else {
                return Ok(None);
            };
            a32.lu_solve(&pivots, &d, scope)?;
            let d = host_of_f32(&d)?;
            if d.v.iter().any(|v| !v.is_finite()) {
                return Ok(None);
            }
            for (xi, di) in x.v.iter_mut().zip(&d.v) {
                *xi += di;
            }
            r = residual(a, bh, &x);
            if r.norm_inf() <= threshold * x.norm_inf() {
                store(b, &x)?;
                return Ok(Some(Refinement {
                    iterations: step,
                    backward_error: backward(&r, &x),
                    fell_back: false,
                }));
            }
        }
        Ok(None)
    }
}
