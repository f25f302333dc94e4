//! Conversions between `DArray` and other matrix types: `ndarray::Array2` (feature `ndarray`)
//! and `faer::Mat` (feature `faer-mat`). Both copy through the host.

#[cfg(any(feature = "ndarray", feature = "faer-mat"))]
use crate::array::{Blocking, DArray};
#[cfg(any(feature = "ndarray", feature = "faer-mat"))]
use crate::dtype::Element;
#[cfg(any(feature = "ndarray", feature = "faer-mat"))]
use crate::error::Result;
#[cfg(any(feature = "ndarray", feature = "faer-mat"))]
use crate::runtime::Runtime;

#[cfg(feature = "ndarray")]
impl<T: Element> DArray<T> {
    /// A DArray holding a copy of `a`.
    pub fn from_ndarray(rt: &Runtime, a: &ndarray::Array2<T>, blocks: impl Blocking) -> DArray<T> {
        let (rows, cols) = a.dim();
        DArray::from_fn(rt, rows, cols, blocks, |r, c| a[[r, c]])
    }

    /// The matrix as an `ndarray::Array2` (waiting for pending writers).
    ///
    /// # Errors
    /// As [`DArray::to_vec`].
    pub fn to_ndarray(&self) -> Result<ndarray::Array2<T>> {
        let v = self.to_vec()?;
        let (rows, cols) = (self.rows(), self.cols());
        Ok(ndarray::Array2::from_shape_fn((rows, cols), |(r, c)| {
            v[r + c * rows]
        }))
    }
}

#[cfg(feature = "faer-mat")]
impl<T: Element> DArray<T> {
    /// A DArray holding a copy of `a`.
    pub fn from_faer(rt: &Runtime, a: faer::MatRef<'_, T>, blocks: impl Blocking) -> DArray<T> {
        DArray::from_fn(rt, a.nrows(), a.ncols(), blocks, |r, c| a[(r, c)])
    }

    /// The matrix as a `faer::Mat` (waiting for pending writers).
    ///
    /// # Errors
    /// As [`DArray::to_vec`].
    pub fn to_faer(&self) -> Result<faer::Mat<T>> {
        let v = self.to_vec()?;
        let rows = self.rows();
        Ok(faer::Mat::from_fn(rows, self.cols(), |r, c| {
            v[r + c * rows]
        }))
    }
}
