//! Accuracy checks that need no second copy of the matrix: the Cholesky residual
//! `||A - L L^T||_F / ||A||_F` computed tile pair by tile pair, with `A` given elementwise.

use rayon::prelude::*;

use crate::array::DArray;
use crate::error::Result;
use crate::kernels::dense::{Float, Uplo};

/// `||A - L L^T||_F / ||A||_F` (or `||A - U^T U||_F / ||A||_F`) for the factor held in the `uplo`
/// triangle of `l`, with `A`'s element `(r, c)` given by `a(r, c)`. Computed in f64, one tile of
/// `L L^T` at a time (a few tiles of scratch memory per thread), in parallel.
///
/// # Errors
/// As [`DArray::to_vec`] (the factor is read on the host).
pub fn cholesky_residual<T: Float>(
    l: &DArray<T>,
    uplo: Uplo,
    a: impl Fn(usize, usize) -> f64 + Sync,
) -> Result<f64> {
    let guards = l.host_tiles()?;
    let (nt, nb, n) = (l.nt(), l.tile_size().0, l.rows());
    let dim = |i: usize| nb.min(n - i * nb);
    // Tile (i, k) of L as f64, column-major dim(i) x dim(k).
    let tile_f64 = |i: usize, k: usize| -> Vec<f64> {
        let (ti, tk) = (dim(i), dim(k));
        let (si, sk) = if uplo == Uplo::Lower { (i, k) } else { (k, i) };
        let data: &[T] = guards[si + sk * nt].as_slice();
        let mut out = vec![0.0; ti * tk];
        for c in 0..tk {
            for r in 0..ti {
                // Stored tile (si, sk) is L_ik for Lower, U_ki = L_ik^T for Upper; only the
                // factor's triangle counts on the diagonal tile.
                let (sr, sc, rows) = if uplo == Uplo::Lower {
                    (r, c, ti)
                } else {
                    (c, r, tk)
                };
                // In the lower view, the diagonal tile's factor is its lower triangle.
                let inside = i != k || r >= c;
                if inside {
                    out[r + c * ti] = data[sr + sc * rows].to_f64();
                }
            }
        }
        out
    };
    let pairs: Vec<(usize, usize)> = (0..nt).flat_map(|j| (j..nt).map(move |i| (i, j))).collect();
    let (num, den) = pairs
        .par_iter()
        .map(|&(i, j)| {
            let (ti, tj) = (dim(i), dim(j));
            let mut s = faer::Mat::<f64>::zeros(ti, tj);
            for k in 0..=j {
                let (li, lj) = (tile_f64(i, k), tile_f64(j, k));
                let tk = dim(k);
                faer::linalg::matmul::matmul(
                    s.as_mut(),
                    faer::Accum::Add,
                    faer::MatRef::from_column_major_slice(&li, ti, tk),
                    faer::MatRef::from_column_major_slice(&lj, tj, tk).transpose(),
                    1.0,
                    faer::Par::Seq,
                );
            }
            // Off-diagonal tiles stand for themselves and their transposes.
            let weight = if i == j { 1.0 } else { 2.0 };
            let (mut num, mut den) = (0.0, 0.0);
            for c in 0..tj {
                for r in 0..ti {
                    if i == j && r < c {
                        continue; // the diagonal tile's upper half mirrors its lower half
                    }
                    let w = if i == j && r > c { 2.0 } else { weight };
                    let x = a(i * nb + r, j * nb + c);
                    num += w * (x - s[(r, c)]).powi(2);
                    den += w * x * x;
                }
            }
            (num, den)
        })
        .reduce(|| (0.0, 0.0), |x, y| (x.0 + y.0, x.1 + y.1));
    Ok(if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    })
}
