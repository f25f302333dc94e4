//! The `qr` algorithm benchmark: tiled Householder QR ([`DArray::qr_with`]) of a random
//! `n x n` matrix against faer's parallel Householder QR (`qr_in_place` with its recommended
//! block size) on the same matrix, both counted as GEQRF's `4 n^3 / 3` flops.

use std::time::Instant;

use crate::array::{Blocks, DArray};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::linalg::{QrFloat, default_inner_block};
use crate::runtime::Runtime;
use crate::runtime::scope::Scope;

/// Seconds of one tiled QR of the order-`n` random matrix in `nb x nb` tiles on `scope`
/// (the matrix is made and settled outside the timing).
///
/// # Errors
/// [`Error::Config`] for an element type other than f32 and f64; failures of the factorization.
pub(crate) fn tessera_seconds(
    rt: &Runtime,
    dtype: DType,
    n: usize,
    nb: usize,
    scope: &Scope,
) -> Result<f64> {
    fn go<T: QrFloat>(rt: &Runtime, n: usize, nb: usize, scope: &Scope) -> Result<f64> {
        let a = DArray::<T>::rand(rt, n, n, Blocks::square(nb), 16);
        rt.wait_idle();
        let t = Instant::now();
        a.qr_with(default_inner_block(nb), scope)?;
        Ok(t.elapsed().as_secs_f64())
    }
    match dtype {
        DType::F64 => go::<f64>(rt, n, nb, scope),
        DType::F32 => go::<f32>(rt, n, nb, scope),
        d => Err(Error::Config(format!("qr takes f64 or f32, not {d}"))),
    }
}

/// Seconds of faer's parallel QR (all rayon threads) of the same matrix.
///
/// # Errors
/// [`Error::Config`] for an element type other than f32 and f64.
pub(crate) fn faer_seconds(dtype: DType, n: usize) -> Result<f64> {
    fn go<T: faer::traits::RealField + crate::kernels::dense::Float>(n: usize) -> f64 {
        use faer::linalg::qr::no_pivoting::factor;
        let mut a = faer::Mat::<T>::from_fn(n, n, |r, c| {
            T::from_f64(crate::array::element_random(16, r, c))
        });
        let bs = factor::recommended_block_size::<T>(n, n);
        let mut h = faer::Mat::<T>::zeros(bs, n);
        let par = faer::Par::rayon(0);
        let params = Default::default();
        let mut mem = faer::dyn_stack::MemBuffer::new(factor::qr_in_place_scratch::<T>(
            n, n, bs, par, params,
        ));
        let stack = faer::dyn_stack::MemStack::new(&mut mem);
        let t = Instant::now();
        factor::qr_in_place(a.as_mut(), h.as_mut(), par, stack, params);
        t.elapsed().as_secs_f64()
    }
    match dtype {
        DType::F64 => Ok(go::<f64>(n)),
        DType::F32 => Ok(go::<f32>(n)),
        d => Err(Error::Config(format!("qr takes f64 or f32, not {d}"))),
    }
}
