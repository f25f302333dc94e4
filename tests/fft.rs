//! FFTs of `tessera::fft` and the tile kernels of `tessera::kernels::fft`: 1D (one pass and the
//! distributed four-step), 2D non-square, 3D, forward then inverse, real-to-complex and back;
//! on the CPU, on lavapipe (mixed radix 8/4/2/3/5 for lengths 2^a 3^b 5^c, Bluestein's algorithm
//! for lengths with another prime factor), and on CPU + lavapipe; then bad shapes and lengths no
//! processor in scope can run.
//!
//! Inputs are seeded (ChaCha8, real and imaginary parts in [-1, 1] rounded to the element
//! type). References are computed on the host in f64 from the rounded inputs: a naive DFT with
//! exactly reduced angles for small sizes, rustfft in f64 for large ones (its own error,
//! ~log2(n) 2^-53, is far below the f32 bounds and within a factor of the f64 ones; f64 tests
//! against rustfft use the naive DFT's bound with the reference's error added).
//!
//! Bound (STYLE.md): `||x^ - x|| / ||x|| <= c log2(n) u` over the whole array (2-norms),
//! `u` the element type's unit roundoff, `n` the total number of points (at least 2 in the log),
//! **c = 5** (`C_FFT`): a radix-r FFT's error is at most `(log2 n) (u + twiddle error) + O(u^2)`
//! times `||x||` (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §24.1,
//! Thm 24.2 with `mu = u`: `eta <= log2(n) eta_1 / (1 - log2(n) eta_1)` where `eta_1 = mu + gamma_4
//! (sqrt 2 + mu)`, i.e. about `(1 + 4 sqrt 2) u ~ 6.7 u` per radix-2 level in the worst case; the
//! observed constant is far smaller, and radix 4/8 levels count for 2/3 levels); the four-step
//! twiddles (a product of two rounded table entries) and the scale add a few u in all, within
//! `c = 5` with `log2(n) >= 2`. GPU Bluestein transforms (two FFTs of `m >= 2n - 1` points and
//! three products with rounded chirp tables) are held to the same bound in `n`; they pass it.
//!
//! Poison: outputs of the tile kernels that are `Write` accesses hold NaN before the run; the
//! transposed copy's destination is NaN outside the block and must stay NaN. Inputs must be
//! bit-identical after a transform (it is out of place).

use num_complex::Complex;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera::fft::{self, Direction, FftPlan, Norm, Target};
use tessera::kernels::fft as k;
use tessera::{Blocks, Chunk, DArray, Error, Read, ReadWrite, Runtime, Scope, Write};

use crate::common;

const C_FFT: f64 = 5.0;

trait Real: k::FftReal + Copy {
    const U: f64;
    fn of(v: f64) -> Self;
    fn f(self) -> f64;
}
impl Real for f32 {
    const U: f64 = 1.0 / (1u64 << 24) as f64;
    fn of(v: f64) -> f32 {
        v as f32
    }
    fn f(self) -> f64 {
        f64::from(self)
    }
}
impl Real for f64 {
    const U: f64 = 1.0 / (1u64 << 53) as f64;
    fn of(v: f64) -> f64 {
        v
    }
    fn f(self) -> f64 {
        self
    }
}

fn random<T: Real>(n: usize, seed: u64) -> Vec<Complex<T>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            Complex::new(
                T::of(rng.random_range(-1.0..=1.0)),
                T::of(rng.random_range(-1.0..=1.0)),
            )
        })
        .collect()
}

fn widen<T: Real>(x: &[Complex<T>]) -> Vec<Complex<f64>> {
    x.iter().map(|v| Complex::new(v.re.f(), v.im.f())).collect()
}

/// exp(-+2 pi i m / n) with the angle reduced exactly (m taken mod n in integers).
fn root(m: usize, n: usize, sign: f64) -> Complex<f64> {
    let a = sign * 2.0 * std::f64::consts::PI * ((m % n) as f64) / n as f64;
    Complex::new(a.cos(), a.sin())
}

/// The naive DFT of `x` along a dimension of length `n` with stride `s`, batched over the
/// other indices (`outer` blocks of `n s` elements).
fn dft_dim(x: &[Complex<f64>], n: usize, s: usize, direction: Direction) -> Vec<Complex<f64>> {
    let sign = if direction == Direction::Forward {
        -1.0
    } else {
        1.0
    };
    let mut y = vec![Complex::new(0.0, 0.0); x.len()];
    let outer = x.len() / (n * s);
    for o in 0..outer {
        for i in 0..s {
            let base = o * n * s + i;
            for kk in 0..n {
                let mut acc = Complex::new(0.0, 0.0);
                for j in 0..n {
                    acc += x[base + j * s] * root(j * kk, n, sign);
                }
                y[base + kk * s] = acc;
            }
        }
    }
    y
}

/// The naive multi-dimensional DFT (dimension 0 fastest), scaled.
fn dft(x: &[Complex<f64>], dims: &[usize], direction: Direction, scale: f64) -> Vec<Complex<f64>> {
    let mut y = x.to_vec();
    let mut s = 1;
    for &n in dims {
        y = dft_dim(&y, n, s, direction);
        s *= n;
    }
    y.iter().map(|v| v * scale).collect()
}

/// rustfft in f64 (1D).
fn reference_1d(x: &[Complex<f64>], direction: Direction, scale: f64) -> Vec<Complex<f64>> {
    let mut p = rustfft::FftPlanner::<f64>::new();
    let f = match direction {
        Direction::Forward => p.plan_fft_forward(x.len()),
        Direction::Inverse => p.plan_fft_inverse(x.len()),
    };
    let mut y = x.to_vec();
    f.process(&mut y);
    y.iter().map(|v| v * scale).collect()
}

/// Checks `got` against `want` with the FFT bound for `n` points of `T` (plus `extra` for a
/// reference's own error); returns the error / bound ratio.
fn check<T: Real>(
    what: &str,
    got: &[Complex<T>],
    want: &[Complex<f64>],
    n: usize,
    extra: f64,
) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let (mut err, mut norm) = (0.0f64, 0.0f64);
    let (mut worst, mut at) = (0.0f64, 0usize);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (Complex::new(g.re.f(), g.im.f()) - w).norm();
        assert!(
            d.is_finite(),
            "{what}: element {i} is {g:?} (reference {w})"
        );
        if d > worst {
            (worst, at) = (d, i);
        }
        err += d * d;
        norm += w.norm_sqr();
    }
    let rel = if norm == 0.0 {
        err.sqrt()
    } else {
        (err / norm).sqrt()
    };
    let bound = C_FFT * (n.max(2) as f64).log2() * T::U + extra;
    assert!(
        rel <= bound,
        "{what}: ||x^ - x|| / ||x|| = {rel:.3e} exceeds the bound {bound:.3e} = {C_FFT} log2({n}) u; worst element {at}: got {:?}, reference {}",
        got[at],
        want[at]
    );
    rel / bound
}

fn vector<T: Real>(rt: &Runtime, x: &[Complex<T>], mb: usize) -> DArray<Complex<T>>
where
    Complex<T>: tessera::Element,
{
    DArray::from_slice(rt, x.len(), 1, x, Blocks::new(mb.max(1), 1))
}

/// A 1D forward transform (and its inverse, which must return the input) on `scope`.
fn one_d<T: Real>(
    rt: &Runtime,
    scope: &Scope,
    n: usize,
    mb: usize,
    panels: Option<usize>,
    naive: bool,
) where
    Complex<T>: tessera::Element,
{
    let x = random::<T>(n, n as u64);
    let xa = vector(rt, &x, mb);
    let target = fft::target_for(rt, scope);
    let mut plan =
        FftPlan::new(&[n], Direction::Forward, Norm::Backward, T::COMPLEX, target).unwrap();
    if let Some(p) = panels {
        plan = plan.with_panels(p);
    }
    let what = format!("{} n={n} mb={mb} on {scope} ({plan})", T::COMPLEX);
    let y = common::within(120, &what, {
        let (plan, xa, scope) = (plan.clone(), xa.clone(), scope.clone());
        move || fft::execute(&plan, &xa, &scope)
    })
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!((y.rows(), y.cols()), (n, 1));
    let got = y.to_vec().unwrap();
    let x64 = widen(&x);
    let (want, extra) = if naive {
        (dft(&x64, &[n], Direction::Forward, 1.0), 0.0)
    } else {
        (
            reference_1d(&x64, Direction::Forward, 1.0),
            2.0 * (n as f64).log2() * f64::EPSILON,
        )
    };
    check(&what, &got, &want, n, extra);
    assert_eq!(xa.to_vec().unwrap(), x, "{what}: the input changed");
    // Inverse: back to x (the error of two transforms).
    let inv = FftPlan::new(&[n], Direction::Inverse, Norm::Backward, T::COMPLEX, target).unwrap();
    let inv = match panels {
        Some(p) => inv.with_panels(p),
        None => inv,
    };
    let back = fft::execute(&inv, &y, scope).unwrap().to_vec().unwrap();
    check(
        &format!("{what}, inverse of forward"),
        &back,
        &x64,
        n,
        C_FFT * (n.max(2) as f64).log2() * T::U,
    );
}

#[test]
fn fft_1d_matches_the_naive_dft_on_the_cpu() {
    let rt = common::cpu_runtime();
    for n in [1, 2, 3, 5, 7, 8, 12, 17, 64, 97, 1000, 1024] {
        for mb in [1, 5, n] {
            one_d::<f64>(&rt, &Scope::all(), n, mb, None, true);
        }
        one_d::<f32>(&rt, &Scope::all(), n, 7, None, true);
    }
}

#[test]
fn fft_1d_four_step_on_the_cpu_matches_rustfft() {
    let rt = common::cpu_runtime();
    // 4096 is one pass (below CPU_FOUR_STEP_MIN), checked against the naive DFT; 65536 (in 7
    // panels), 3 * 65536 (a non-power-of-two split) and 2^20 by the four-step method.
    one_d::<f64>(&rt, &Scope::all(), 4096, 1000, None, true);
    one_d::<f64>(&rt, &Scope::all(), 65536, 10_000, Some(7), false);
    one_d::<f32>(&rt, &Scope::all(), 3 * 65536, 65536, None, false);
    one_d::<f32>(&rt, &Scope::all(), 1 << 20, 1 << 18, None, false);
}

#[test]
fn fft_1d_on_lavapipe() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    for n in [1, 2, 8, 64, 1024] {
        one_d::<f32>(&rt, &Scope::all(), n, 100, None, true);
    }
    one_d::<f64>(&rt, &Scope::all(), 512, 100, None, true);
    // Four-step: 64 x 128 and 256 x 256 c32, 32 x 64 c64.
    one_d::<f32>(&rt, &Scope::all(), 8192, 3000, Some(3), false);
    one_d::<f32>(&rt, &Scope::all(), 65536, 65536, None, false);
    one_d::<f64>(&rt, &Scope::all(), 2048, 2048, Some(5), true);
}

#[test]
fn fft_1d_on_cpu_and_lavapipe() {
    let Some(rt) = common::mixed_runtime() else {
        return;
    };
    one_d::<f32>(&rt, &Scope::all(), 65536, 5000, Some(6), false);
    one_d::<f64>(&rt, &Scope::all(), 97, 10, None, true);
}

/// Lengths that are not powers of two on lavapipe alone (no CPU processor, so every column pass
/// runs on the GPU: Bluestein's kernel for 7, 17, 97, 257, the mixed-radix one for the others): 1D forward and inverse (`Norm::Backward`) through the
/// planner in ragged tiles, 2D/3D forward and inverse (`Norm::Ortho`), and the tile kernel on a
/// batch of columns, all against the naive DFT.
#[test]
fn bluestein_on_lavapipe_alone() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    for n in [3, 5, 7, 12, 17, 97, 100, 257, 500] {
        one_d::<f32>(&rt, &Scope::all(), n, 40, None, true);
    }
    for n in [3, 12, 97, 255] {
        one_d::<f64>(&rt, &Scope::all(), n, 40, None, true);
    }
    n_d::<f32>(&rt, &Scope::all(), &[12, 20], (5, 7), 3);
    n_d::<f64>(&rt, &Scope::all(), &[6, 10, 3], (6, 10), 2);
    bluestein_batch::<f32>(&rt, 17, 5);
    bluestein_batch::<f64>(&rt, 98, 3);
}

/// `fft_bluestein` on one `n x cols` tile, inverse with scale `1/n`, against the naive DFT of
/// each column.
fn bluestein_batch<T: Real>(rt: &Runtime, n: usize, cols: usize)
where
    Complex<T>: tessera::Element,
{
    let x = random::<T>(n * cols, 11);
    let c = Chunk::from_vec(rt, n, cols, x.clone());
    let m = k::bluestein_len(n, T::COMPLEX).expect("a length the GPU runs");
    let (tw, chirp) = (k::twiddles::<T>(rt, m), k::bluestein_chirp::<T>(rt, n));
    let scale = 1.0 / n as f64;
    rt.datadeps(|r| {
        r.spawn(
            k::fft_bluestein::<T>(n, Direction::Inverse, scale, None),
            (ReadWrite(&c), Read(&tw), Read(&chirp)),
        );
    })
    .unwrap();
    let got = c.to_vec().unwrap();
    let x64 = widen(&x);
    for j in 0..cols {
        let col = &x64[j * n..(j + 1) * n];
        let want = dft(col, &[n], Direction::Inverse, scale);
        check(
            &format!("fft_bluestein {} n={n} column {j} of {cols}", T::COMPLEX),
            &got[j * n..(j + 1) * n],
            &want,
            n,
            0.0,
        );
    }
}

/// A multi-dimensional transform of an `dims[0] x rest` array in `mb x nb` tiles on `scope`.
fn n_d<T: Real>(rt: &Runtime, scope: &Scope, dims: &[usize], tiles: (usize, usize), panels: usize)
where
    Complex<T>: tessera::Element,
{
    n_d_for::<T>(rt, scope, dims, tiles, panels, fft::target_for(rt, scope));
}

/// [`n_d`] with a plan made for `target`, whatever processors `scope` has.
fn n_d_for<T: Real>(
    rt: &Runtime,
    scope: &Scope,
    dims: &[usize],
    (mb, nb): (usize, usize),
    panels: usize,
    target: Target,
) where
    Complex<T>: tessera::Element,
{
    let total: usize = dims.iter().product();
    let (rows, cols) = (dims[0], total / dims[0]);
    let x = random::<T>(total, total as u64 + 7);
    let xa = DArray::from_slice(rt, rows, cols, &x, Blocks::new(mb, nb));
    let x64 = widen(&x);
    for (direction, norm) in [
        (Direction::Forward, Norm::Backward),
        (Direction::Inverse, Norm::Ortho),
    ] {
        let plan = FftPlan::new(dims, direction, norm, T::COMPLEX, target)
            .unwrap()
            .with_panels(panels);
        let what = format!(
            "{} {dims:?} in {mb}x{nb} tiles on {scope} ({plan})",
            T::COMPLEX
        );
        let y = common::within(120, &what, {
            let (plan, xa, scope) = (plan.clone(), xa.clone(), scope.clone());
            move || fft::execute(&plan, &xa, &scope)
        })
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!((y.rows(), y.cols()), (rows, cols));
        let want = dft(&x64, dims, direction, plan.scale());
        check(&what, &y.to_vec().unwrap(), &want, total, 0.0);
    }
    assert_eq!(xa.to_vec().unwrap(), x, "the input changed");
}

#[test]
fn fft_2d_and_3d_on_the_cpu() {
    let rt = common::cpu_runtime();
    n_d::<f64>(&rt, &Scope::all(), &[12, 20], (5, 7), 3);
    n_d::<f64>(&rt, &Scope::all(), &[20, 12], (20, 12), 1);
    n_d::<f32>(&rt, &Scope::all(), &[64, 17], (64, 4), 4);
    n_d::<f64>(&rt, &Scope::all(), &[4, 6, 10], (3, 11), 5);
    n_d::<f32>(&rt, &Scope::all(), &[8, 1, 3], (8, 3), 2);
}

/// Dimensions longer than a GPU takes in one pass (1024 c32, 512 c64, Bluestein up to half
/// that) run as two passes over strided columns (`SplitRows`, `SplitCols`). Here the GPU plans
/// run on the CPU (the split kernels' CPU halves, which a GPU plan uses when a CPU is in
/// scope), in ragged tiles and panels; `split_dimensions_on_lavapipe_alone` runs them on the
/// GPU.
#[test]
fn split_dimensions_of_gpu_plans_on_the_cpu() {
    let rt = common::cpu_runtime();
    let gpu = Target::Gpu;
    // 2048 = 32 x 64 (c64), a split Bluestein length (1000 = 8 x 125), three dimensions.
    n_d_for::<f64>(&rt, &Scope::all(), &[2048, 6], (300, 4), 3, gpu);
    n_d_for::<f64>(&rt, &Scope::all(), &[6, 1000], (6, 77), 4, gpu);
    n_d_for::<f32>(&rt, &Scope::all(), &[4, 600, 3], (4, 100), 5, gpu);
}

#[test]
fn split_dimensions_on_lavapipe_alone() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    let gpu = Target::Gpu;
    // 2048 c32 = 32 x 64 by Stockham; 1536 = 3 x 512 or 24 x 64 (Bluestein for the odd
    // factor); 600 c64 (Bluestein factors); both dimensions split; three dimensions.
    n_d_for::<f32>(&rt, &Scope::all(), &[2048, 5], (2048, 2), 3, gpu);
    n_d_for::<f32>(&rt, &Scope::all(), &[3, 1536], (3, 500), 2, gpu);
    n_d_for::<f64>(&rt, &Scope::all(), &[600, 4], (128, 3), 2, gpu);
    n_d_for::<f64>(&rt, &Scope::all(), &[1024, 520], (1024, 64), 4, gpu);
    n_d_for::<f32>(&rt, &Scope::all(), &[2, 2048, 3], (2, 700), 3, gpu);
}

/// 1D four-step transforms whose factors are themselves split on a GPU: 2^21 c32 (1024 x
/// 2048, the 2048 split) and 2^19 c64, and a non-power of two, 10^6 = 1000 x 1000 c32 (each
/// factor split), against rustfft in f64.
#[test]
fn long_1d_four_step_with_split_factors_on_lavapipe_alone() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    one_d::<f32>(&rt, &Scope::all(), 1 << 21, 1 << 19, None, false);
    one_d::<f64>(&rt, &Scope::all(), 1 << 19, 100_000, Some(3), false);
    // Four-step of one-pass Bluestein factors (the first with its four-step twiddle).
    one_d::<f32>(&rt, &Scope::all(), 600, 250, Some(3), true);
    one_d::<f64>(&rt, &Scope::all(), 300, 300, None, true);
    one_d::<f32>(&rt, &Scope::all(), 1_000_000, 300_000, None, false);
}

/// Lengths with a prime factor above one Bluestein pass (1031 c32, 263 and 2 x 263 c64):
/// Bluestein's algorithm over passes (pad, split FFT times the filter, split inverse FFT,
/// trim), on lavapipe alone and, in GPU plans, on the CPU.
#[test]
fn long_bluestein_passes_on_lavapipe_alone_and_the_cpu() {
    let cpu = common::cpu_runtime();
    n_d_for::<f32>(&cpu, &Scope::all(), &[1031, 3], (400, 2), 2, Target::Gpu);
    n_d_for::<f64>(&cpu, &Scope::all(), &[4, 263], (4, 100), 3, Target::Gpu);
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    one_d::<f32>(&rt, &Scope::all(), 1031, 300, None, true);
    one_d::<f64>(&rt, &Scope::all(), 263, 263, None, true);
    n_d_for::<f64>(&rt, &Scope::all(), &[526, 3], (526, 2), 2, Target::Gpu);
    n_d_for::<f32>(&rt, &Scope::all(), &[3, 1031, 2], (3, 600), 3, Target::Gpu);
}

#[test]
fn fft_2d_and_3d_on_lavapipe() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    n_d::<f32>(&rt, &Scope::all(), &[64, 32], (16, 16), 3);
    n_d::<f64>(&rt, &Scope::all(), &[8, 4, 16], (8, 16), 4);
}

#[test]
fn fft_2d_on_cpu_and_lavapipe() {
    let Some(rt) = common::mixed_runtime() else {
        return;
    };
    // Non-powers of two: transposes and transforms (Bluestein on the GPU, rustfft on the CPU)
    // wherever the scheduler places them.
    n_d::<f32>(&rt, &Scope::all(), &[24, 40], (7, 9), 4);
    n_d::<f32>(&rt, &Scope::all(), &[32, 16, 8], (32, 16), 4);
}

/// Real columns of length `n` in tiles of `nb` columns: rfft_cols against the DFT, and
/// irfft_cols back.
fn real<T: Real>(rt: &Runtime, scope: &Scope, n: usize, m: usize, nb: usize)
where
    Complex<T>: tessera::Element,
{
    let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
    let x: Vec<T> = (0..n * m)
        .map(|_| T::of(rng.random_range(-1.0..=1.0)))
        .collect();
    let xa = DArray::from_slice(rt, n, m, &x, Blocks::new(n, nb));
    let what = format!("rfft_cols n={n} m={m} of {} on {scope}", T::DTYPE);
    let y = fft::rfft_cols(&xa, Norm::Backward, scope).unwrap_or_else(|e| panic!("{what}: {e}"));
    let h = n / 2 + 1;
    assert_eq!((y.rows(), y.cols()), (h, m));
    let x64: Vec<Complex<f64>> = x.iter().map(|v| Complex::new(v.f(), 0.0)).collect();
    let full = dft(&x64, &[n, m], Direction::Forward, 1.0);
    // Only dimension 0: undo nothing, compute per column instead.
    let _ = full;
    let per_col = dft_dim(&x64, n, 1, Direction::Forward);
    let want: Vec<Complex<f64>> = (0..m)
        .flat_map(|c| per_col[c * n..c * n + h].to_vec())
        .collect();
    check(&what, &y.to_vec().unwrap(), &want, n, 0.0);
    let back = fft::irfft_cols(&y, n, Norm::Backward, scope)
        .unwrap()
        .to_vec()
        .unwrap();
    let got: Vec<Complex<T>> = back.iter().map(|v| Complex::new(*v, T::of(0.0))).collect();
    check(
        &format!("{what}, irfft_cols back"),
        &got,
        &x64,
        n,
        C_FFT * (n.max(2) as f64).log2() * T::U,
    );
}

#[test]
fn real_transforms_on_cpu_lavapipe_and_both() {
    let rt = common::cpu_runtime();
    for n in [1, 2, 15, 64, 100] {
        real::<f64>(&rt, &Scope::all(), n, 5, 2);
    }
    real::<f32>(&rt, &Scope::all(), 1000, 3, 3);
    if let Some(rt) = common::gpu_runtime() {
        real::<f32>(&rt, &Scope::all(), 64, 7, 3);
        real::<f64>(&rt, &Scope::all(), 256, 2, 2);
        real::<f32>(&rt, &Scope::all(), 2, 3, 1);
    }
    if let Some(rt) = common::mixed_runtime() {
        real::<f32>(&rt, &Scope::all(), 128, 9, 2);
    }
}

/// The tile kernels directly, with their `Write` outputs poisoned.
#[test]
fn tile_kernels_leave_no_poison_and_keep_what_they_must() {
    let mut rts = vec![common::cpu_runtime()];
    rts.extend(common::gpu_runtime());
    for rt in rts {
        // R2C into a NaN tile.
        let n = 16;
        let x = Chunk::from_vec(&rt, n, 2, (0..2 * n).map(|i| (i as f32).sin()).collect());
        let y = Chunk::from_vec(
            &rt,
            n / 2 + 1,
            2,
            vec![Complex::new(f32::NAN, f32::NAN); n + 2],
        );
        let tw = k::twiddles::<f32>(&rt, n);
        rt.datadeps(|r| {
            r.spawn(
                k::rfft_cols::<f32>(n, 1.0),
                (Read(&x), Write(&y), Read(&tw)),
            );
        })
        .unwrap();
        assert!(
            y.to_vec()
                .unwrap()
                .iter()
                .all(|v| v.re.is_finite() && v.im.is_finite())
        );
        // Transposed block: 2x3 block of a 4x3 source at (1, 0) into a NaN 5x4 destination at (2, 1).
        let src = Chunk::from_vec(&rt, 4, 3, (0..12).map(|i| i as f64).collect());
        let dst = Chunk::from_vec(&rt, 5, 4, vec![f64::NAN; 20]);
        let b = k::TransposeBlock {
            src_off: 1,
            src_ld: 4,
            h: 2,
            w: 3,
            dst_off: 2 + 5,
            dst_ld: 5,
        };
        rt.datadeps(|r| {
            r.spawn(k::transpose::<f64>(b), (Read(&src), ReadWrite(&dst)));
        })
        .unwrap();
        let d = dst.to_vec().unwrap();
        for (i, v) in d.iter().enumerate() {
            let (row, col) = (i % 5, i / 5);
            if (2..5).contains(&row) && (1..3).contains(&col) {
                // dst(2 + c, 1 + r) = src(1 + r, c)
                let (c, r) = (row - 2, col - 1);
                assert_eq!(*v, ((1 + r) + 4 * c) as f64, "({row}, {col})");
            } else {
                assert!(v.is_nan(), "({row}, {col}) was overwritten: {v}");
            }
        }
    }
}

#[test]
fn bad_shapes_and_unsupported_lengths_are_errors() {
    let rt = common::cpu_runtime();
    let x = DArray::from_vec(&rt, 6, 2, random::<f32>(12, 1), Blocks::new(3, 2));
    // A 1D plan of 12 on a 6 x 2 matrix.
    let plan = FftPlan::new(
        &[12],
        Direction::Forward,
        Norm::Backward,
        tessera::DType::C32,
        Target::Cpu,
    )
    .unwrap();
    assert!(matches!(
        fft::execute(&plan, &x, &Scope::all()),
        Err(Error::ShapeMismatch { .. })
    ));
    // The wrong element type for the plan.
    let plan = FftPlan::new(
        &[6, 2],
        Direction::Forward,
        Norm::Backward,
        tessera::DType::C64,
        Target::Cpu,
    )
    .unwrap();
    assert!(matches!(
        fft::execute(&plan, &x, &Scope::all()),
        Err(Error::ShapeMismatch { .. })
    ));
    // 3D dims that do not multiply to the columns.
    assert!(matches!(
        fft::fft3(
            &x,
            [6, 3, 1],
            Direction::Forward,
            Norm::Backward,
            &Scope::all()
        ),
        Err(Error::ShapeMismatch { .. })
    ));
    // execute_into an array not tiled as the plan's results; then into one that is.
    let plan = FftPlan::new(
        &[6, 2],
        Direction::Forward,
        Norm::Backward,
        tessera::DType::C32,
        Target::Cpu,
    )
    .unwrap();
    let f = fft::Fft::<f32>::new(&rt, plan).unwrap();
    let wrong = DArray::from_vec(&rt, 6, 2, random::<f32>(12, 5), Blocks::new(2, 2));
    assert!(matches!(
        f.execute_into(&x, &wrong, &Scope::all()),
        Err(Error::ShapeMismatch { .. })
    ));
    let y = f.execute(&x, &Scope::all()).unwrap();
    let first = y.to_vec().unwrap();
    f.execute_into(&x, &y, &Scope::all()).unwrap();
    assert_eq!(
        y.to_vec().unwrap(),
        first,
        "a repeated transform into the same tiles"
    );
    // Real columns cut across tiles.
    let r = DArray::from_vec(&rt, 6, 2, vec![1.0f32; 12], Blocks::new(3, 2));
    assert!(matches!(
        fft::rfft_cols(&r, Norm::Backward, &Scope::all()),
        Err(Error::ShapeMismatch { .. })
    ));
    let y = DArray::from_vec(&rt, 4, 1, random::<f32>(4, 2), Blocks::new(4, 1));
    assert!(matches!(
        fft::irfft_cols(&y, 4, Norm::Backward, &Scope::all()),
        Err(Error::ShapeMismatch { .. })
    ));
    // A tile kernel called with a length that does not divide the tile fails its task.
    let c = Chunk::from_vec(&rt, 6, 1, random::<f32>(6, 3));
    let tw = k::twiddles::<f32>(&rt, 4);
    let e = rt
        .datadeps(|r| {
            r.spawn(
                k::fft_cols::<f32>(4, Direction::Forward, 1.0, None),
                (ReadWrite(&c), Read(&tw), Read(&tw)),
            );
        })
        .unwrap_err();
    assert!(
        e.to_string().contains("not a multiple of the length 4"),
        "{e}"
    );
    // Lengths no GPU runs: primes whose Bluestein convolution is longer than two passes
    // (above 2^19 points for c32, 2^17 for c64), with only a GPU in scope.
    if let Some(g) = common::gpu_runtime() {
        let is_prime = |n: usize| {
            n > 1
                && (2..)
                    .take_while(|d| d * d <= n)
                    .all(|d| !n.is_multiple_of(d))
        };
        let p = ((1 << 19)..).find(|&n| is_prime(n)).unwrap();
        let x = DArray::from_vec(&g, p, 1, random::<f32>(p, 4), Blocks::new(p, 1));
        let e = fft::fft(&x, Direction::Forward, Norm::Backward, &Scope::all()).unwrap_err();
        assert!(matches!(e, Error::NoProcessor { .. }), "{e}");
        let p = ((1 << 17)..).find(|&n| is_prime(n)).unwrap();
        let x = DArray::from_vec(&g, p, 1, random::<f64>(p, 4), Blocks::new(p, 1));
        let e = fft::fft(&x, Direction::Forward, Norm::Backward, &Scope::all()).unwrap_err();
        assert!(matches!(e, Error::NoProcessor { .. }), "{e}");
    }
}

/// [`fft::target_for`]: a GPU-only scope gets a GPU plan; beside the CPU, a software adapter
/// (lavapipe, whose work runs on the host's cores) does not count, so the CPU plan (two passes
/// of whole lines for 2D) is chosen; `plan_for` then plans every length.
#[test]
fn plan_targets_follow_the_scope_and_the_model() {
    let Some(rt) = common::mixed_runtime() else {
        return;
    };
    assert_eq!(fft::target_for(&rt, &Scope::any_gpu()), Target::Gpu);
    assert_eq!(fft::target_for(&rt, &Scope::cpu()), Target::Cpu);
    assert_eq!(fft::target_for(&rt, &Scope::all()), Target::Cpu);
    let p = fft::plan_for(
        &rt,
        &Scope::all(),
        &[4096, 4096],
        Direction::Forward,
        Norm::Backward,
        tessera::DType::C32,
    )
    .unwrap();
    assert_eq!(p.algorithm(), fft::Algorithm::Lines, "{p}");
    let p = fft::plan_for(
        &rt,
        &Scope::any_gpu(),
        &[4096, 4096],
        Direction::Forward,
        Norm::Backward,
        tessera::DType::C32,
    )
    .unwrap();
    assert_eq!(p.target(), Target::Gpu, "{p}");
}

/// Split and long-Bluestein passes spread over three virtual GPUs (each panel's tasks go
/// wherever the scheduler puts them, its data moving between devices).
#[test]
fn split_and_long_bluestein_passes_on_three_gpus() {
    let Some(rt) = common::three_gpu_runtime() else {
        return;
    };
    n_d_for::<f32>(&rt, &Scope::all(), &[2048, 6], (700, 3), 6, Target::Gpu);
    n_d_for::<f64>(&rt, &Scope::all(), &[4, 263], (4, 50), 4, Target::Gpu);
}

// ------------------------------------------------- mixed radix (8/4/2 then 3, 5) on lavapipe

/// Lengths `2^a 3^b 5^c` the GPU's Stockham kernel runs in one pass (radix 8/4/2 stages, then 3
/// and 5): pure powers of 3 and 5, every pairing, and the largest ones that fit (`C64` takes
/// those up to 512, `C32` all of them).
const SMOOTH: [usize; 28] = [
    3, 5, 6, 9, 10, 12, 15, 25, 27, 30, 45, 60, 81, 96, 100, 125, 243, 375, 384, 480, 500, 625,
    640, 729, 750, 960, 1000, 1024,
];

const T32: tessera::DType = tessera::DType::C32;
const T64: tessera::DType = tessera::DType::C64;

/// The naive DFT of every column of length `n` of `x` in f64, times `scale`; the roots come
/// from one table with exactly reduced indices `j k mod n`.
fn dft_cols(x: &[Complex<f64>], n: usize, direction: Direction, scale: f64) -> Vec<Complex<f64>> {
    let sign = if direction == Direction::Forward {
        -1.0
    } else {
        1.0
    };
    let w: Vec<Complex<f64>> = (0..n).map(|m| root(m, n, sign)).collect();
    let mut y = vec![Complex::new(0.0, 0.0); x.len()];
    for (col, out) in x.chunks(n).zip(y.chunks_mut(n)) {
        for (kk, o) in out.iter_mut().enumerate() {
            let (mut acc, mut jk) = (Complex::new(0.0, 0.0), 0usize);
            for v in col {
                acc += v * w[jk];
                // jk = j kk mod n, kept reduced: kk < n, so one subtraction does.
                jk += kk;
                if jk >= n {
                    jk -= n;
                }
            }
            *o = acc * scale;
        }
    }
    y
}

/// `fft_cols` on one `n x cols` tile on `scope`, forward (unscaled) and inverse (scale `1/n`),
/// each against the naive DFT of every column.
/// Returns the worst error / bound ratio.
fn smooth_cols<T: Real>(rt: &Runtime, scope: &Scope, n: usize, cols: usize) -> f64
where
    Complex<T>: tessera::Element,
{
    let mut worst = 0.0f64;
    let x = random::<T>(n * cols, 31 + n as u64);
    let x64 = widen(&x);
    let tw = k::twiddles::<T>(rt, n);
    for (direction, scale) in [
        (Direction::Forward, 1.0),
        (Direction::Inverse, 1.0 / n as f64),
    ] {
        let what = format!(
            "fft_cols {} n={n} x {cols} {direction:?} on {scope}",
            T::COMPLEX
        );
        let c = Chunk::from_vec(rt, n, cols, x.clone());
        common::within(120, &what, {
            let (rt, scope, c, tw) = (rt.clone(), scope.clone(), c.clone(), tw.clone());
            move || {
                rt.datadeps_in(scope, |r| {
                    r.spawn(
                        k::fft_cols::<T>(n, direction, scale, None),
                        (ReadWrite(&c), Read(&tw), Read(&tw)),
                    );
                })
            }
        })
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        let want = dft_cols(&x64, n, direction, scale);
        worst = worst.max(check(&what, &c.to_vec().unwrap(), &want, n, 0.0));
    }
    worst
}

/// The tile kernel on every smooth length, on lavapipe alone (no CPU processor to fall back
/// to): 3 columns of `C32` (and of `C64` up to 512 points), forward and inverse, against the
/// naive DFT. Every element of the tile is rewritten by the transform (it is in place, so it
/// cannot be poisoned; `check` fails on a non-finite element).
#[test]
fn mixed_radix_tile_kernel_on_lavapipe_alone() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    let (mut w32, mut w64) = ((0.0f64, 0), (0.0f64, 0));
    for n in SMOOTH {
        assert!(k::gpu_supports(n, T32) && k::bluestein_len(n, T32).is_none());
        let r = smooth_cols::<f32>(&rt, &Scope::all(), n, 3);
        if r > w32.0 {
            w32 = (r, n);
        }
        if n <= k::gpu_max_len(T64) {
            assert!(k::gpu_supports(n, T64) && k::bluestein_len(n, T64).is_none());
            let r = smooth_cols::<f64>(&rt, &Scope::all(), n, 3);
            if r > w64.0 {
                w64 = (r, n);
            }
        }
    }
    eprintln!(
        "mixed radix fft_cols: worst error / bound {:.3} (c32, n = {}), {:.3} (c64, n = {})",
        w32.0, w32.1, w64.0, w64.1
    );
}

/// `fft::fft` of an `n`-vector in ragged tiles of `mb` rows on `scope`: forward
/// (`Norm::Backward`, unscaled) and inverse (`1/n`), each against the naive DFT; the GPU plan
/// is one pass.
fn smooth_1d<T: Real>(rt: &Runtime, scope: &Scope, n: usize, mb: usize)
where
    Complex<T>: tessera::Element,
{
    let plan = FftPlan::new(
        &[n],
        Direction::Forward,
        Norm::Backward,
        T::COMPLEX,
        Target::Gpu,
    )
    .unwrap_or_else(|e| panic!("{} n={n}: a GPU plans it: {e}", T::COMPLEX));
    assert_eq!(plan.algorithm(), fft::Algorithm::Direct, "{plan}");
    let x = random::<T>(n, 7 * n as u64);
    let xa = vector(rt, &x, mb);
    let x64 = widen(&x);
    for direction in [Direction::Forward, Direction::Inverse] {
        let what = format!("fft {} n={n} mb={mb} {direction:?} on {scope}", T::COMPLEX);
        let y = common::within(120, &what, {
            let (xa, scope) = (xa.clone(), scope.clone());
            move || fft::fft(&xa, direction, Norm::Backward, &scope)
        })
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        let want = dft_cols(&x64, n, direction, Norm::Backward.scale(n, direction));
        check(&what, &y.to_vec().unwrap(), &want, n, 0.0);
    }
    assert_eq!(xa.to_vec().unwrap(), x, "n={n}: the input changed");
}

/// `fft::fft` (1D) on every smooth length and `fft::fft2` on smooth shapes, on lavapipe alone,
/// forward and inverse against the naive DFT.
#[test]
fn mixed_radix_fft_and_fft2_on_lavapipe_alone() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    for n in SMOOTH {
        smooth_1d::<f32>(&rt, &Scope::all(), n, 100);
        if n <= k::gpu_max_len(T64) {
            smooth_1d::<f64>(&rt, &Scope::all(), n, 64);
        }
    }
    n_d::<f32>(&rt, &Scope::all(), &[3, 5], (2, 3), 2);
    n_d::<f32>(&rt, &Scope::all(), &[60, 45], (60, 7), 3);
    n_d::<f32>(&rt, &Scope::all(), &[96, 125], (96, 40), 4);
    n_d::<f32>(&rt, &Scope::all(), &[1000, 3], (1000, 2), 2);
    n_d::<f64>(&rt, &Scope::all(), &[27, 25], (9, 10), 3);
    n_d::<f64>(&rt, &Scope::all(), &[480, 6], (480, 4), 2);
    n_d::<f64>(&rt, &Scope::all(), &[10, 9, 15], (10, 27), 3);
}

/// `rfft_cols` / `irfft_cols` tile kernels on `cols` real columns of length `n` on `scope`, with
/// their `Write` outputs poisoned: the half spectrum against the naive DFT, the inverse of an
/// independent random half spectrum (with imaginary parts at 0 and, for even `n`, `n/2` that
/// must be ignored) against the naive inverse DFT of its Hermitian extension, and the inverse
/// of the forward result back to the input.
fn smooth_real<T: Real>(rt: &Runtime, scope: &Scope, n: usize, cols: usize)
where
    Complex<T>: tessera::Element,
{
    let h = n / 2 + 1;
    let mut rng = ChaCha8Rng::seed_from_u64(3 * n as u64);
    let x: Vec<T> = (0..n * cols)
        .map(|_| T::of(rng.random_range(-1.0..=1.0)))
        .collect();
    let spectrum = random::<T>(h * cols, 5 * n as u64);
    let tw = k::twiddles::<T>(rt, n);
    let xc = Chunk::from_vec(rt, n, cols, x.clone());
    let yc = Chunk::from_vec(rt, h, cols, spectrum.clone());
    let nan = T::of(f64::NAN);
    let y = Chunk::from_vec(rt, h, cols, vec![Complex::new(nan, nan); h * cols]);
    let back = Chunk::from_vec(rt, n, cols, vec![nan; n * cols]);
    let inv = Chunk::from_vec(rt, n, cols, vec![nan; n * cols]);
    let what = format!(
        "rfft_cols/irfft_cols {} n={n} x {cols} on {scope}",
        T::DTYPE
    );
    let scale = 1.0 / n as f64;
    common::within(120, &what, {
        let (rt, scope) = (rt.clone(), scope.clone());
        let (xc, yc, y, back, inv, tw) = (
            xc.clone(),
            yc.clone(),
            y.clone(),
            back.clone(),
            inv.clone(),
            tw.clone(),
        );
        move || {
            rt.datadeps_in(scope, |r| {
                r.spawn(k::rfft_cols::<T>(n, 1.0), (Read(&xc), Write(&y), Read(&tw)));
                r.spawn(
                    k::irfft_cols::<T>(n, scale),
                    (Read(&y), Write(&back), Read(&tw)),
                );
                r.spawn(
                    k::irfft_cols::<T>(n, scale),
                    (Read(&yc), Write(&inv), Read(&tw)),
                );
            })
        }
    })
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    let as_complex = |v: Vec<T>| -> Vec<Complex<T>> {
        v.into_iter().map(|r| Complex::new(r, T::of(0.0))).collect()
    };
    // Forward: the first h coefficients of each column's DFT.
    let x64: Vec<Complex<f64>> = x.iter().map(|v| Complex::new(v.f(), 0.0)).collect();
    let full = dft_cols(&x64, n, Direction::Forward, 1.0);
    let want: Vec<Complex<f64>> = full.chunks(n).flat_map(|c| c[..h].to_vec()).collect();
    check(
        &format!("{what}: forward"),
        &y.to_vec().unwrap(),
        &want,
        n,
        0.0,
    );
    // Back to x: the error of two transforms.
    check(
        &format!("{what}: inverse of forward"),
        &as_complex(back.to_vec().unwrap()),
        &x64,
        n,
        C_FFT * (n.max(2) as f64).log2() * T::U,
    );
    // The inverse of an arbitrary half spectrum: X[n - k] = conj(X[k]), with X[0] (and X[n/2]
    // for even n) taken real.
    let s64 = widen(&spectrum);
    let mut ext = Vec::with_capacity(n * cols);
    for c in s64.chunks(h) {
        for i in 0..n {
            ext.push(if i == 0 || 2 * i == n {
                Complex::new(c[i].re, 0.0)
            } else if i < h {
                c[i]
            } else {
                c[n - i].conj()
            });
        }
    }
    let want: Vec<Complex<f64>> = dft_cols(&ext, n, Direction::Inverse, scale)
        .iter()
        .map(|v| Complex::new(v.re, 0.0))
        .collect();
    check(
        &format!("{what}: inverse of a Hermitian spectrum"),
        &as_complex(inv.to_vec().unwrap()),
        &want,
        n,
        0.0,
    );
}

/// Real transforms of odd and even smooth lengths on lavapipe alone, through the tile kernels
/// (poisoned outputs) and through `fft::rfft_cols` / `fft::irfft_cols`.
#[test]
fn mixed_radix_real_transforms_on_lavapipe_alone() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    for n in [1, 3, 5, 6, 9, 10, 15, 25, 45, 100, 243, 375, 500, 729, 1000] {
        smooth_real::<f32>(&rt, &Scope::all(), n, 3);
        if n <= k::gpu_max_len(T64) {
            smooth_real::<f64>(&rt, &Scope::all(), n, 2);
        }
    }
    for (n, m, nb) in [(6, 5, 2), (9, 4, 3), (15, 3, 1), (243, 3, 2), (1000, 2, 1)] {
        real::<f32>(&rt, &Scope::all(), n, m, nb);
    }
    real::<f64>(&rt, &Scope::all(), 100, 3, 2);
    real::<f64>(&rt, &Scope::all(), 375, 2, 2);
}

/// Whether `e` is a task that failed because no processor in its scope could run it.
fn no_processor(e: &Error) -> bool {
    match e {
        Error::Task(t) => match &t.source {
            tessera::TaskFailure::Runtime(b) => matches!(**b, Error::NoProcessor { .. }),
            _ => false,
        },
        _ => false,
    }
}

/// Smooth lengths run on the GPU, not by a silent fallback to the CPU: on a runtime of its own
/// with the CPU and lavapipe, tasks limited to the GPU succeed and are counted there (and
/// nothing on the CPU), while a length the GPU kernels do not take (1001 = 7 11 13; Bluestein
/// for 12, which the mixed-radix kernel takes) fails on the same scope.
#[test]
fn mixed_radix_lengths_run_on_the_gpu() {
    let Some(rt) = common::own_gpu_runtime("ADAPTER", true) else {
        return;
    };
    let gpu = Scope::gpu(0);
    let tasks = |p: tessera::Processor| rt.stats().get(p).map_or(0, |s| s.tasks);
    let (cpu0, gpu0) = (
        tasks(tessera::Processor::Cpu),
        tasks(tessera::Processor::Gpu(tessera::DeviceId(0))),
    );
    let c32 = Chunk::from_vec(&rt, 1000, 2, random::<f32>(2000, 1));
    let tw32 = k::twiddles::<f32>(&rt, 1000);
    let c64 = Chunk::from_vec(&rt, 480, 2, random::<f64>(960, 2));
    let tw64 = k::twiddles::<f64>(&rt, 480);
    let xr = Chunk::from_vec(&rt, 243, 2, vec![0.5f32; 486]);
    let yr = Chunk::from_vec(&rt, 122, 2, vec![Complex::new(f32::NAN, 0.0); 244]);
    let tw243 = k::twiddles::<f32>(&rt, 243);
    rt.datadeps_in(gpu.clone(), |r| {
        r.spawn(
            k::fft_cols::<f32>(1000, Direction::Forward, 1.0, None),
            (ReadWrite(&c32), Read(&tw32), Read(&tw32)),
        );
        r.spawn(
            k::fft_cols::<f64>(480, Direction::Inverse, 1.0, None),
            (ReadWrite(&c64), Read(&tw64), Read(&tw64)),
        );
        r.spawn(
            k::rfft_cols::<f32>(243, 1.0),
            (Read(&xr), Write(&yr), Read(&tw243)),
        );
    })
    .unwrap_or_else(|e| panic!("smooth lengths on the GPU alone: {e}"));
    assert_eq!(
        tasks(tessera::Processor::Gpu(tessera::DeviceId(0))) - gpu0,
        3,
        "three tasks on the GPU"
    );
    assert_eq!(tasks(tessera::Processor::Cpu), cpu0, "no task on the CPU");
    assert!(yr.to_vec().unwrap()[..122].iter().all(|v| v.re.is_finite()));
    // The control: lengths no GPU variant applies to fail on the same scope.
    let c = Chunk::from_vec(&rt, 1001, 1, random::<f32>(1001, 3));
    let tw = k::twiddles::<f32>(&rt, 1001);
    let e = rt
        .datadeps_in(gpu.clone(), |r| {
            r.spawn(
                k::fft_cols::<f32>(1001, Direction::Forward, 1.0, None),
                (ReadWrite(&c), Read(&tw), Read(&tw)),
            );
        })
        .unwrap_err();
    assert!(no_processor(&e), "1001: {e}");
    let c = Chunk::from_vec(&rt, 12, 1, random::<f32>(12, 4));
    let (tw, chirp) = (
        k::twiddles::<f32>(&rt, 32),
        k::bluestein_chirp::<f32>(&rt, 12),
    );
    let e = rt
        .datadeps_in(gpu, |r| {
            r.spawn(
                k::fft_bluestein::<f32>(12, Direction::Forward, 1.0, None),
                (ReadWrite(&c), Read(&tw), Read(&chirp)),
            );
        })
        .unwrap_err();
    assert!(no_processor(&e), "Bluestein of 12: {e}");
}

/// `fft_cols` with a four-step twiddle on smooth lengths on lavapipe alone: column `c` of a
/// tile starting at global column `col0` of a transform of `big_n = n n1` points gets
/// `X[k] w_big_n^((col0 + c) k)` after its transform, against the naive DFT times that factor.
#[test]
fn mixed_radix_tile_kernel_with_four_step_twiddles_on_lavapipe_alone() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    four_step_cols::<f32>(&rt, 15, 8, 3);
    four_step_cols::<f32>(&rt, 1000, 6, 2);
    four_step_cols::<f64>(&rt, 45, 9, 4);
    four_step_cols::<f64>(&rt, 480, 3, 1);
}

/// Columns `col0 .. n1` (`n1 - col0` of them) of length `n` of a four-step pass of `n n1` points.
fn four_step_cols<T: Real>(rt: &Runtime, n: usize, n1: usize, col0: usize)
where
    Complex<T>: tessera::Element,
{
    let (big_n, cols) = (n * n1, n1 - col0);
    let x = random::<T>(n * cols, 41 + n as u64);
    let c = Chunk::from_vec(rt, n, cols, x.clone());
    let (tw, big) = (
        k::twiddles::<T>(rt, n),
        k::four_step_twiddles::<T>(rt, big_n),
    );
    let what = format!(
        "fft_cols {} n={n} four-step {big_n} columns {col0}..{n1}",
        T::COMPLEX
    );
    let four_step = k::FourStep { big_n, col0 };
    rt.datadeps(|r| {
        r.spawn(
            k::fft_cols::<T>(n, Direction::Inverse, 1.0, Some(four_step)),
            (ReadWrite(&c), Read(&tw), Read(&big)),
        );
    })
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut want = dft_cols(&widen(&x), n, Direction::Inverse, 1.0);
    for (j, col) in want.chunks_mut(n).enumerate() {
        for (kk, v) in col.iter_mut().enumerate() {
            *v *= root((col0 + j) * kk, big_n, 1.0);
        }
    }
    check(&what, &c.to_vec().unwrap(), &want, n, 0.0);
}

/// `fft::fft_cols` (batched 1D transforms of every column, `FftPlan::batched`) against the
/// naive DFT of each column, forward and inverse, in tiles of whole columns: on the CPU, GPU
/// plans on the CPU (split columns), lavapipe alone (short columns many per workgroup, ragged
/// last workgroup; split; Bluestein over passes), and CPU + lavapipe.
fn batched<T: Real>(rt: &Runtime, scope: &Scope, n: usize, m: usize, nb: usize, target: Target)
where
    Complex<T>: tessera::Element,
{
    let x = random::<T>(n * m, (n * m) as u64 + 3);
    let xa = DArray::from_slice(rt, n, m, &x, Blocks::new(n, nb));
    let x64 = widen(&x);
    for (direction, norm) in [
        (Direction::Forward, Norm::Backward),
        (Direction::Inverse, Norm::Ortho),
    ] {
        let plan = FftPlan::batched(n, m, direction, norm, T::COMPLEX, target).unwrap();
        let what = format!(
            "{} {m} columns of {n} in tiles of {nb} on {scope} ({plan})",
            T::COMPLEX
        );
        let y = common::within(120, &what, {
            let (plan, xa, scope) = (plan.clone(), xa.clone(), scope.clone());
            move || fft::execute(&plan, &xa, &scope)
        })
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            (y.rows(), y.cols(), y.tile_size()),
            (n, m, (n, nb)),
            "{what}"
        );
        let got = y.to_vec().unwrap();
        for j in 0..m {
            let want = dft(&x64[j * n..(j + 1) * n], &[n], direction, plan.scale());
            check(
                &format!("{what}, column {j}"),
                &got[j * n..(j + 1) * n],
                &want,
                n,
                0.0,
            );
        }
    }
    assert_eq!(xa.to_vec().unwrap(), x, "the input changed");
}

#[test]
fn batched_columns_on_every_scope() {
    let cpu = common::cpu_runtime();
    batched::<f64>(&cpu, &Scope::all(), 12, 7, 3, Target::Cpu);
    batched::<f32>(&cpu, &Scope::all(), 2048, 3, 2, Target::Gpu);
    let y = fft::fft_cols(
        &DArray::from_slice(&cpu, 5, 4, &random::<f64>(20, 1), Blocks::new(5, 3)),
        Direction::Forward,
        Norm::Backward,
        &Scope::all(),
    )
    .unwrap();
    assert_eq!((y.rows(), y.cols()), (5, 4));
    let cut = DArray::from_slice(&cpu, 6, 2, &random::<f64>(12, 1), Blocks::new(3, 2));
    assert!(matches!(
        fft::fft_cols(&cut, Direction::Forward, Norm::Backward, &Scope::all()),
        Err(Error::ShapeMismatch { .. })
    ));
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    batched::<f32>(&rt, &Scope::all(), 100, 73, 20, Target::Gpu);
    batched::<f64>(&rt, &Scope::all(), 1024, 5, 2, Target::Gpu);
    batched::<f32>(&rt, &Scope::all(), 1031, 3, 3, Target::Gpu);
    batched::<f32>(&rt, &Scope::all(), 12, 1, 1, Target::Gpu);
    if let Some(mixed) = common::mixed_runtime() {
        let target = fft::target_for(&mixed, &Scope::all());
        batched::<f32>(&mixed, &Scope::all(), 64, 40, 7, target);
    }
}
