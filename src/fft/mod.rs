//! Fast Fourier transforms of `DArray`s: 1D (the distributed four-step method for long
//! vectors), 2D and 3D (a batched pass per dimension with transposes between them; on the CPU,
//! 2D as two passes of whole lines gathered from every panel, which moves the data half as
//! often), complex to complex in `c32` or `c64`, batched 1D transforms of every column
//! ([`fft_cols`], [`FftPlan::batched`]), and real-to-complex / complex-to-real transforms of
//! columns.
//!
//! Every transform is a plan ([`FftPlan`], plain data) run as tasks over contiguous panels of
//! the data in one datadeps region, so it runs on any mix of processors: the CPU pool (rustfft,
//! realfft) and GPUs (a Stockham FFT in workgroup memory, radix 8/4/2/3/5, for lengths
//! `2^a 3^b 5^c` up to [`gpu_max_len`](crate::kernels::fft::gpu_max_len), see
//! [`gpu_supports`](crate::kernels::fft::gpu_supports), and Bluestein's algorithm for lengths
//! with another prime factor up to about half that, see
//! [`bluestein_len`](crate::kernels::fft::bluestein_len)).
//! On GPUs, longer columns take two passes over strided columns ([`Pass::SplitRows`],
//! [`Pass::SplitCols`]: the four-step method inside each column, without transposes), and
//! lengths with a prime factor too large for that take Bluestein's algorithm over passes
//! ([`Pass::Bluestein`]), so a GPU transforms any length up to
//! `gpu_max_len^2 / 2` points per dimension (2^19 for `c32`), and 1D vectors far beyond by the
//! four-step method. [`target_for`] picks the plan for a scope. Tile kernels are in
//! [`crate::kernels::fft`].
//!
//! Algorithms: Stockham autosort FFT (Van Loan, *Computational Frameworks for the Fast Fourier
//! Transform*, SIAM 1992, §1.7); four-step FFT (D. H. Bailey, "FFTs in external or hierarchical
//! memory", J. Supercomputing 4, 1990): a transform of `n1 n2` points as `n1` transforms of
//! `n2`, a twiddle multiplication and `n2` transforms of `n1`, with transposes; a
//! multi-dimensional transform as one batched pass per dimension, each preceded by a transpose
//! that brings that dimension first; Bluestein's chirp-z algorithm (L. Bluestein, "A linear
//! filtering approach to the computation of the discrete Fourier transform", IEEE Trans. Audio
//! Electroacoustics 18, 1970) on GPUs for lengths with a prime factor other than 2, 3 and 5: a
//! convolution with a chirp, as two power-of-two FFTs of at least `2n - 1` points.
//!
//! Accuracy: the relative error `||x^ - x|| / ||x||` stays below `c log2(n) u` (`u` the unit
//! roundoff of the element type; twiddles are computed in f64).
//!
//! ```
//! use num_complex::Complex;
//! use tessera::{Blocks, DArray, Runtime, Scope};
//! use tessera::fft::{self, Direction, Norm};
//!
//! let rt = Runtime::builder().cpu_only().build()?;
//! let n = 8;
//! // x[j] = exp(2 pi i 3 j / n): all of its energy is at k = 3.
//! let x = DArray::from_fn(&rt, n, 1, Blocks::new(4, 1), |j, _| {
//!     Complex::from_polar(1.0f64, 2.0 * std::f64::consts::PI * 3.0 * j as f64 / n as f64)
//! });
//! let y = fft::fft(&x, Direction::Forward, Norm::Backward, &Scope::all())?.to_vec()?;
//! for (k, v) in y.iter().enumerate() {
//!     let want = if k == 3 { n as f64 } else { 0.0 };
//!     assert!((v - Complex::new(want, 0.0)).norm() < 1e-13, "k = {k}: {v}");
//! }
//! let back = fft::fft(&DArray::from_vec(&rt, n, 1, y, Blocks::new(8, 1)), Direction::Inverse, Norm::Backward, &Scope::all())?;
//! let x0 = x.to_vec()?;
//! assert!(back.to_vec()?.iter().zip(&x0).all(|(a, b)| (a - b).norm() < 1e-14));
//! # Ok::<(), tessera::Error>(())
//! ```

mod exec;
mod plan;
mod real;
#[cfg(test)]
mod tests;

use num_complex::Complex;

use crate::dtype::Element;

pub use exec::Fft;
pub use plan::{Algorithm, CPU_FOUR_STEP_MIN, Direction, FftPlan, Norm, Pass, Target};
pub use real::{irfft_cols, rfft_cols};

use crate::array::DArray;
use crate::error::Result;
use crate::kernels::Cost;
use crate::kernels::fft::FftReal;
use crate::runtime::Runtime;
use crate::runtime::processor::Processor;
use crate::runtime::scope::Scope;

/// The plan target for `scope` on `rt`: [`Target::Gpu`] when the scope has GPUs and, with
/// the CPU in scope too, when the GPUs (not counting software adapters, whose work runs on the
/// host's cores) would transform faster than the CPU by the performance model's rooflines
/// ([`Runtime::roofline_seconds`] on a batch of 1024-point columns); [`Target::Cpu`]
/// otherwise. A GPU plan's tasks still run on any processor in scope, the CPU included; a CPU
/// plan's 2D passes run on the CPU only (two passes over memory instead of four).
pub fn target_for(rt: &Runtime, scope: &Scope) -> Target {
    let procs = rt.scope_processors(scope);
    if !procs.contains(&Processor::Cpu) {
        return Target::Gpu;
    }
    let (n, cols) = (1024, 1024);
    let cost = Cost {
        flops: crate::kernels::fft::flops(n, cols),
        bytes: 4.0 * (n * cols * 8) as f64,
    };
    let rate = |p: Processor| 1.0 / rt.roofline_seconds(p, cost);
    let gpus: f64 = procs
        .iter()
        .filter(|&&p| p != Processor::Cpu && !rt.shares_host_cores(p))
        .map(|&p| rate(p))
        .sum();
    if gpus > rate(Processor::Cpu) {
        Target::Gpu
    } else {
        Target::Cpu
    }
}

/// The plan [`fft`], [`fft2`] and [`fft3`] use for `dims` on `scope` ([`FftPlan::cached`]):
/// for [`target_for`]'s target, or the CPU's when that is a GPU plan for lengths no GPU
/// takes and the CPU is in scope.
///
/// # Errors
/// As [`FftPlan::new`].
pub fn plan_for(
    rt: &Runtime,
    scope: &Scope,
    dims: &[usize],
    direction: Direction,
    norm: Norm,
    dtype: crate::DType,
) -> Result<std::sync::Arc<FftPlan>> {
    with_cpu_fallback(rt, scope, |target| {
        FftPlan::cached(dims, direction, norm, dtype, target)
    })
}

/// `make(target_for(rt, scope))`, or `make(Target::Cpu)` when that is a GPU plan for a length no
/// GPU takes and the CPU is in scope.
fn with_cpu_fallback<P>(
    rt: &Runtime,
    scope: &Scope,
    make: impl Fn(Target) -> Result<P>,
) -> Result<P> {
    let target = target_for(rt, scope);
    match make(target) {
        Err(crate::Error::NoProcessor { .. })
            if target == Target::Gpu && rt.scope_processors(scope).contains(&Processor::Cpu) =>
        {
            make(Target::Cpu)
        }
        p => p,
    }
}

/// Runs `plan` on `x` with the processors of `scope`; the result is a new array shaped like
/// `x` (tiled in the plan's panels). `x` is not modified.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when `x` is not shaped as the plan
/// says (see [`FftPlan`]) or the plan is for another element type; task failures, and
/// [`Error::NoProcessor`](crate::Error::NoProcessor) when no processor in scope can run a pass.
pub fn execute<T: FftReal>(
    plan: &FftPlan,
    x: &DArray<Complex<T>>,
    scope: &Scope,
) -> Result<DArray<Complex<T>>>
where
    Complex<T>: Element,
{
    Fft::new(x.runtime(), plan.clone())?.execute(x, scope)
}

/// The 1D transform of the `n x 1` vector `x`, planned for `scope` ([`FftPlan::cached`]).
///
/// # Errors
/// As [`FftPlan::new`] and [`execute`].
pub fn fft<T: FftReal>(
    x: &DArray<Complex<T>>,
    direction: Direction,
    norm: Norm,
    scope: &Scope,
) -> Result<DArray<Complex<T>>>
where
    Complex<T>: Element,
{
    let plan = plan_for(x.runtime(), scope, &[x.rows()], direction, norm, T::COMPLEX)?;
    execute(&plan, x, scope)
}

/// The 1D transforms of every column of `x` (its tiles must hold whole columns, as
/// [`rfft_cols`]'s), side by side: a [`FftPlan::batched`] plan for [`target_for`]'s target (the
/// CPU's when that is a GPU plan for a length no GPU takes and the CPU is in scope). The result
/// is tiled like `x`.
///
/// # Errors
/// As [`FftPlan::batched`] and [`execute`]; [`Error::ShapeMismatch`](crate::Error::ShapeMismatch)
/// when a tile of `x` does not hold whole columns.
///
/// # Examples
/// ```
/// use num_complex::Complex;
/// use tessera::{Blocks, DArray, Runtime, Scope};
/// use tessera::fft::{self, Direction, Norm};
///
/// let rt = Runtime::builder().cpu_only().build()?;
/// // Column j is the constant j: its spectrum is n j at 0, nothing elsewhere.
/// let x = DArray::from_fn(&rt, 6, 3, Blocks::new(6, 2), |_, j| Complex::new(j as f64, 0.0));
/// let y = fft::fft_cols(&x, Direction::Forward, Norm::Backward, &Scope::all())?.to_vec()?;
/// for j in 0..3 {
///     assert!((y[6 * j] - Complex::new(6.0 * j as f64, 0.0)).norm() < 1e-12);
///     assert!(y[6 * j + 1..6 * j + 6].iter().all(|v| v.norm() < 1e-12));
/// }
/// # Ok::<(), tessera::Error>(())
/// ```
pub fn fft_cols<T: FftReal>(
    x: &DArray<Complex<T>>,
    direction: Direction,
    norm: Norm,
    scope: &Scope,
) -> Result<DArray<Complex<T>>>
where
    Complex<T>: Element,
{
    let (n, m) = (x.rows(), x.cols());
    let plan = with_cpu_fallback(x.runtime(), scope, |target| {
        FftPlan::batched(n, m, direction, norm, T::COMPLEX, target)
    })?;
    execute(&plan, x, scope)
}

/// The 2D transform of the matrix `x` (rows are dimension 0).
///
/// # Errors
/// As [`FftPlan::new`] and [`execute`].
///
/// # Examples
/// ```
/// use num_complex::Complex;
/// use tessera::{Blocks, DArray, Runtime, Scope};
/// use tessera::fft::{self, Direction, Norm};
///
/// let rt = Runtime::builder().cpu_only().build()?;
/// // A single 1 at (1, 2) of a 4 x 6 matrix: its spectrum is exp(-2 pi i (k0/4 + 2 k1/6)).
/// let x = DArray::from_fn(&rt, 4, 6, Blocks::new(3, 4), |r, c| {
///     Complex::new(if (r, c) == (1, 2) { 1.0f64 } else { 0.0 }, 0.0)
/// });
/// let y = fft::fft2(&x, Direction::Forward, Norm::Backward, &Scope::all())?.to_vec()?;
/// let (k0, k1) = (3, 5);
/// let angle = -2.0 * std::f64::consts::PI * (k0 as f64 / 4.0 + 2.0 * k1 as f64 / 6.0);
/// assert!((y[k0 + 4 * k1] - Complex::from_polar(1.0, angle)).norm() < 1e-14);
/// # Ok::<(), tessera::Error>(())
/// ```
pub fn fft2<T: FftReal>(
    x: &DArray<Complex<T>>,
    direction: Direction,
    norm: Norm,
    scope: &Scope,
) -> Result<DArray<Complex<T>>>
where
    Complex<T>: Element,
{
    let plan = plan_for(
        x.runtime(),
        scope,
        &[x.rows(), x.cols()],
        direction,
        norm,
        T::COMPLEX,
    )?;
    execute(&plan, x, scope)
}

/// The 3D transform of the `n0 x n1 x n2` array stored as the `n0 x (n1 n2)` matrix `x`
/// (element `(i0, i1, i2)` at row `i0`, column `i1 + n1 i2`).
///
/// # Errors
/// As [`FftPlan::new`] and [`execute`]; [`Error::ShapeMismatch`](crate::Error::ShapeMismatch)
/// when `x` is not `n0 x (n1 n2)`.
///
/// # Examples
/// ```
/// use num_complex::Complex;
/// use tessera::{Blocks, DArray, Runtime, Scope};
/// use tessera::fft::{self, Direction, Norm};
///
/// let rt = Runtime::builder().cpu_only().build()?;
/// // A constant 2 x 3 x 4 array: all of it lands at (0, 0, 0), times 24.
/// let x = DArray::from_fn(&rt, 2, 12, Blocks::new(2, 5), |_, _| Complex::new(1.0f32, 0.0));
/// let y = fft::fft3(&x, [2, 3, 4], Direction::Forward, Norm::Backward, &Scope::all())?.to_vec()?;
/// assert_eq!(y[0], Complex::new(24.0, 0.0));
/// assert!(y[1..].iter().all(|v| v.norm() < 1e-5));
/// # Ok::<(), tessera::Error>(())
/// ```
pub fn fft3<T: FftReal>(
    x: &DArray<Complex<T>>,
    dims: [usize; 3],
    direction: Direction,
    norm: Norm,
    scope: &Scope,
) -> Result<DArray<Complex<T>>>
where
    Complex<T>: Element,
{
    let plan = plan_for(x.runtime(), scope, &dims, direction, norm, T::COMPLEX)?;
    execute(&plan, x, scope)
}
