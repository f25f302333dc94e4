//! Tiled linear algebra on [`DArray`]s, each algorithm a datadeps region of tile kernels written
//! once for every processor mix: [`cholesky`](DArray::cholesky), [`gemm`](DArray::gemm),
//! triangular solves ([`trsm`](DArray::trsm)), [`cholesky_solve`](DArray::cholesky_solve),
//! [`syrk`](DArray::syrk), LU with partial pivoting ([`lu`](DArray::lu), with its
//! [`Pivots`]) and without ([`lu_nopiv`](DArray::lu_nopiv)), [`lu_solve`](DArray::lu_solve),
//! [`solve`](DArray::solve) for general and SPD matrices ([`Structure`]),
//! [`inverse`](DArray::inverse), the mixed-precision f64 solve
//! [`solve_mixed`](DArray::solve_mixed) (f32 factors, f64 refinement: f64 answers from GPUs
//! without `SHADER_F64`), and Householder QR ([`qr`](DArray::qr), giving a [`QrFactor`] that
//! applies `Q`, forms it, and solves least-squares problems). A [`Scope`](crate::Scope)
//! chooses the processors.
//!
//! The tiled algorithms are the classical right-looking ones of PLASMA and Dagger.jl (Buttari,
//! Langou, Kurzak, Dongarra, "A class of parallel tiled linear algebra algorithms for multicore
//! architectures", Parallel Computing 35, 2009). Tasks carry priorities that favour each step's
//! panel and the next panel's updates, so a factorization looks ahead instead of finishing every
//! trailing update of one step before starting the next.
//!
//! Math names: `i, j, k, l` tile indices, `mt, nt, kt` tile counts.

mod cholesky;
mod lu;
mod matmul;
mod mixed;
mod qr;
mod residual;
mod trsm;

use crate::array::DArray;
use crate::error::{ChunkId, Error, KernelError};
use crate::kernels::dense::Float;

pub use crate::kernels::dense::{Diag, Side, Trans, Uplo};
pub use crate::kernels::qr::QrFloat;
pub use lu::{Pivots, Structure};
pub use mixed::{ITERATIONS, Refinement};
pub use qr::{QrFactor, default_inner_block};
pub use residual::cholesky_residual;

/// Maps a failed `potrf` on a diagonal tile to the matrix-level error: the global column of the
/// non-positive pivot.
pub(crate) fn factorization_error<T: Float>(a: &DArray<T>, e: Error) -> Error {
    let pivot = match e.kernel_error() {
        Some(KernelError::NotPositiveDefinite { index }) => *index,
        _ => return e,
    };
    let chunk: Option<ChunkId> = e.task().and_then(|t| t.chunks.first().copied());
    let nb = a.tile_size().0;
    match (0..a.mt().min(a.nt())).find(|&k| Some(a.tile(k, k).id()) == chunk) {
        Some(k) => Error::NotPositiveDefinite {
            column: k * nb + pivot,
        },
        None => e,
    }
}

/// Checks that `a` is square with square tiles, for factorizations and triangular solves.
pub(crate) fn require_square<T: Float>(a: &DArray<T>, op: &str) -> Result<(), Error> {
    let (mb, nb) = a.tile_size();
    if a.rows() != a.cols() || mb != nb {
        return Err(Error::ShapeMismatch {
            op: op.to_string(),
            detail: format!("needs a square matrix with square tiles, got {a:?}"),
        });
    }
    Ok(())
}
