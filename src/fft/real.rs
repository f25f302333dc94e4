//! Real-to-complex and complex-to-real transforms of the columns of a `DArray`: one task per
//! tile column (realfft on the CPU, the Stockham shader on GPUs).

use num_complex::Complex;

use crate::dtype::Element;

use super::plan::{Direction, Norm};
use crate::array::DArray;
use crate::data::chunk::Chunk;
use crate::error::{Error, Result};
use crate::kernels::fft::{self as k, FftReal};
use crate::runtime::scope::Scope;
use crate::{Read, Write};

fn whole_columns<E: Element>(x: &DArray<E>, op: &str) -> Result<()> {
    if x.mt() > 1 || x.rows() == 0 {
        return Err(Error::ShapeMismatch {
            op: op.into(),
            detail: format!(
                "each tile must hold whole columns: {} rows in tiles of {}",
                x.rows(),
                x.tile_size().0
            ),
        });
    }
    Ok(())
}

/// The real-to-complex transform of every column of the `n x m` real array `x`: the
/// `(n/2 + 1) x m` array of the non-redundant halves of the spectra (the rest are their
/// conjugates), scaled as `norm` says for a forward transform. Tiled like `x`'s columns.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless every tile of `x` holds whole columns (one tile row); task
/// failures.
///
/// # Examples
/// ```
/// use tessera::{Blocks, DArray, Runtime, Scope};
/// use tessera::fft::{self, Norm};
///
/// let rt = Runtime::builder().cpu_only().build()?;
/// let x = DArray::from_vec(&rt, 4, 1, vec![1.0f64, 2.0, 3.0, 4.0], Blocks::new(4, 1));
/// let y = fft::rfft_cols(&x, Norm::Backward, &Scope::all())?.to_vec()?;
/// assert_eq!(y.len(), 3);
/// assert_eq!((y[0].re, y[1].re, y[1].im, y[2].re), (10.0, -2.0, 2.0, -2.0));
/// let back = fft::irfft_cols(&DArray::from_vec(&rt, 3, 1, y, Blocks::new(3, 1)), 4, Norm::Backward, &Scope::all())?;
/// assert_eq!(back.to_vec()?, vec![1.0, 2.0, 3.0, 4.0]);
/// # Ok::<(), tessera::Error>(())
/// ```
pub fn rfft_cols<T: FftReal>(x: &DArray<T>, norm: Norm, scope: &Scope) -> Result<DArray<Complex<T>>>
where
    Complex<T>: Element,
{
    whole_columns(x, "rfft_cols")?;
    let rt = x.runtime();
    let n = x.rows();
    let h = n / 2 + 1;
    let tw = k::twiddles::<T>(rt, n);
    let out: Vec<Chunk<Complex<T>>> = x
        .tiles()
        .iter()
        .map(|t| Chunk::zeros(rt, h, t.cols()))
        .collect();
    let call = k::rfft_cols::<T>(n, norm.scale(n, Direction::Forward));
    rt.datadeps_in(scope.clone(), |r| {
        for (t, y) in x.tiles().iter().zip(&out) {
            r.spawn(&call, (Read(t), Write(y), Read(&tw)));
        }
    })?;
    Ok(DArray::from_tiles(
        rt,
        (h, x.cols()),
        (h, x.tile_size().1),
        out,
    ))
}

/// The complex-to-real transform of every column of `y`, the first `n/2 + 1` coefficients of
/// Hermitian spectra of length `n`: the `n x m` real array, scaled as `norm` says for an
/// inverse transform (so [`Norm::Backward`] inverts [`rfft_cols`]). The imaginary parts of the
/// first and (for even `n`) last coefficients are ignored.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless `y` has `n/2 + 1` rows in one tile row; task failures.
pub fn irfft_cols<T: FftReal>(
    y: &DArray<Complex<T>>,
    n: usize,
    norm: Norm,
    scope: &Scope,
) -> Result<DArray<T>>
where
    Complex<T>: Element,
{
    whole_columns(y, "irfft_cols")?;
    if n == 0 || y.rows() != n / 2 + 1 {
        return Err(Error::ShapeMismatch {
            op: "irfft_cols".into(),
            detail: format!("a length of {n} needs {} rows, got {}", n / 2 + 1, y.rows()),
        });
    }
    let rt = y.runtime();
    let tw = k::twiddles::<T>(rt, n);
    let out: Vec<Chunk<T>> = y
        .tiles()
        .iter()
        .map(|t| Chunk::zeros(rt, n, t.cols()))
        .collect();
    let call = k::irfft_cols::<T>(n, norm.scale(n, Direction::Inverse));
    rt.datadeps_in(scope.clone(), |r| {
        for (t, x) in y.tiles().iter().zip(&out) {
            r.spawn(&call, (Read(t), Write(x), Read(&tw)));
        }
    })?;
    Ok(DArray::from_tiles(
        rt,
        (n, y.cols()),
        (n, y.tile_size().1),
        out,
    ))
}
