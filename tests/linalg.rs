//! The tiled linear algebra of `tessera::linalg` on `DArray`s: Cholesky (lower and upper),
//! `cholesky_solve` and `factor_and_solve`, `gemm`/`matmul` with every transpose pair, `trsm` with
//! every side, triangle, transpose and diagonal, and `syrk`; on f64 and f32 (f16 for small
//! cases); under every processor configuration: `common`'s five runtimes (CPU only, one GPU,
//! CPU + GPU, three virtual GPUs, three virtual GPUs + CPU), two runtimes of our own that spread
//! the tasks over the CPU and the GPUs, and scopes narrower than the runtime. Then non-SPD input
//! (the global pivot column, from every configuration), shape and tiling mismatches, empty inner
//! dimensions, and the `DArray` basics (constructors, tiles, views, conversions).
//!
//! Sizes are ragged on purpose (1, 5, 37, 100 and non-square right-hand sides, in tiles of 1 x 1,
//! 3, 8, 16, 32 and tiles larger than the matrix, non-square tiles where the operation allows
//! them). CPU-only runs take the whole list and every flag combination; configurations with a GPU
//! take a few small cases, and those with several devices (each compiles every pipeline it is
//! given, at about 0.3 s each on lavapipe) a subset of the kernel variants in which each flag
//! still takes both values. Every call runs under a watchdog: a hang fails the test, naming the
//! case.
//!
//! Inputs are seeded (ChaCha8, entries in [-1, 1] rounded to the element type; SPD matrices are
//! `DArray::rand_spd`'s `(R + R^T)/2 + n I`, diagonally dominant). References are computed on the
//! host in f64 from the rounded inputs, with products split exactly and sums accumulated as in
//! twice the working precision (Sum2/Dot2 of Ogita, Rump, Oishi), so the host adds no error.
//!
//! Poison: what must be neither read nor written holds a NaN with a payload (signalling for f32
//! and f64): `C` with `beta = 0`, the other triangle of Cholesky's `A`, of `trsm`'s `A` and of
//! `syrk`'s `C` (element-wise, so the part of the diagonal tiles outside the triangle too), and
//! the diagonal of `trsm`'s `A` with `Diag::Unit`. Results must be finite and within bound, and
//! the poisoned parts and every read-only operand bit-identical afterwards.
//!
//! Bounds (`u` the unit roundoff of the accumulation type: f64 2^-53, f32 2^-24, and f32's for
//! f16 tiles, which accumulate in f32; `u_T` the element type's own unit roundoff; `s` the
//! rounding of storing a tile result in a narrower element type: f16's 2^-11, else 0; `lambda`
//! f16's smallest normal number; `k` the inner dimension, `kt` its number of tiles, `n` the order
//! of the triangular or SPD matrix; norms are infinity norms):
//! - gemm `C = alpha op(A) op(B) + beta C0`, element-wise:
//!   `|C^ - C| <= c u (k M + kt |beta C0|) + kt s (2 (M + |beta C0|) + lambda)` with
//!   `M = |alpha| (|op(A)| |op(B)|)`, **c = 3** (`C_GEMM`). Each tile of C is a chain of kt tile
//!   GEMMs (the first with beta, the rest accumulating), one summation tree over the k products
//!   and `beta C0`: a product term passes through its own rounding, at most k additions and the
//!   scaling by alpha, `k + 2 <= 3k`; `beta C0` through its scaling and one addition per inner
//!   tile, `kt + 1 <= 3 kt`. With one inner tile this is STYLE.md's `c k u |A||B| + c u |C0|`.
//!   For f16 each of the kt tile results is stored in f16 (`s` times a partial sum, which is at
//!   most twice the magnitudes above).
//! - syrk `C = alpha op(A) op(A)^T + beta C0` on the `uplo` triangle: the gemm bound with
//!   `op(B) = op(A)^T`, **c = 3** (`C_SYRK`), for the same reason.
//! - trsm, with `R = op(A) X^ - alpha B` (left) or `X^ op(A) - alpha B` (right):
//!   `||R|| / (||op(A)|| ||X^|| + |alpha| ||B||) <= c n u`, **c = 2** (`C_TRSM`): the tiled solve
//!   is substitution with the sums in tile order, and Higham's componentwise result (*Accuracy
//!   and Stability of Numerical Algorithms*, 2nd ed., Thm 8.5: `|dA| <= gamma_n |A|`) holds for
//!   any summation order; `alpha B` rounded once and the division add two roundings,
//!   `n + 1 <= 2n`. `A` is well conditioned (diagonal of magnitude in [1, 2], off-diagonal
//!   entries in [-1, 1] / n).
//! - Cholesky: `||A - L^ L^T|| / ||A|| <= c n u_T`, **c = 4** (`C_POTRF`), valid while
//!   `rho = || |L^| |L^|^T || / ||A|| <= 2` (checked on every factor): Higham Thm 10.3 gives
//!   `|A - L^ L^T| <= gamma_{n+1} |L^| |L^|^T` for any summation order, the tile kernels take two
//!   roundings more on the diagonal (tests/dense.rs), `n + 3 <= 2n` for `n >= 3`, and for `n <= 2`
//!   `rho = 1`. For f16 every tile result is stored in f16, so `u_T` (2^-11) replaces `u`.
//! - cholesky_solve / factor_and_solve, with `R = A X^ - B`:
//!   `||R|| / (||A|| ||X^|| + ||B||) <= c n u_T`, **c = 8** (`C_SOLVE`): Higham Thm 10.4 gives
//!   `(A + dA) x^ = b` with `|dA| <= gamma_{3n+1} |L^| |L^|^T`; two more roundings in the tile
//!   kernels, `3n + 3 <= 4n` for `n >= 3` (and `rho = 1` for `n <= 2`), times `rho <= 2`.
//!
//! The analysis assumes IEEE correctly rounded arithmetic, as the CPU and lavapipe provide (see
//! tests/dense.rs for devices with WGSL's looser division and square root). A failure reports the
//! configuration, the case, the worst element (or the residual), the error and the bound; each
//! suite prints its worst error/bound ratio.
//!
//! Math names: `n, m, k` orders, `nb, mb, kb` tile sizes, `kt` inner tiles, `r, c` elements.

use std::fmt::Debug;
use std::sync::OnceLock;

use half::f16;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera::kernels::builtin;
use tessera::kernels::dense::Float;
use tessera::linalg::{Diag, Side, Trans, Uplo};
use tessera::{
    AutoBlocks, Blocks, Caps, DArray, DType, Error, Placement, PlacementQuery, ReadWrite, Runtime,
    Scope,
};

use crate::common::{self, Exact, Worst, within};

/// The constant of the gemm bound (module docs).
const C_GEMM: f64 = 3.0;
/// The constant of the syrk bound.
const C_SYRK: f64 = 3.0;
/// The constant of the trsm bound.
const C_TRSM: f64 = 2.0;
/// The constant of the Cholesky bound, valid while `rho <= POTRF_RHO`.
const C_POTRF: f64 = 4.0;
/// The constant of the solve bound, valid while `rho <= POTRF_RHO`.
const C_SOLVE: f64 = 8.0;
/// The premise of [`C_POTRF`] and [`C_SOLVE`].
const POTRF_RHO: f64 = 2.0;

// --------------------------------------------------------------------------- element types

/// What the checks need to know about an element type.
trait Real: Float + Debug {
    /// Unit roundoff of the accumulation type.
    const U_ACC: f64;
    /// Unit roundoff of the element type.
    const U_T: f64;
    /// Smallest positive normal number of the element type.
    const LAMBDA_T: f64;
    /// The NaN written where nothing may be read or written.
    const POISON: Self;
    /// The exact value of `v` as a scalar (alpha, beta) of this type.
    fn scalar_exact(v: f64) -> f64;
    /// `s`: the rounding of storing an accumulated result in the element type.
    fn store_u() -> f64 {
        if Self::U_T > Self::U_ACC {
            Self::U_T
        } else {
            0.0
        }
    }
}

impl Real for f64 {
    const U_ACC: f64 = f64::EPSILON / 2.0;
    const U_T: f64 = f64::EPSILON / 2.0;
    const LAMBDA_T: f64 = f64::MIN_POSITIVE;
    const POISON: Self = f64::from_bits(0x7FF0_0000_0000_5A5A);
    fn scalar_exact(v: f64) -> f64 {
        v
    }
}

impl Real for f32 {
    const U_ACC: f64 = f32::EPSILON as f64 / 2.0;
    const U_T: f64 = f32::EPSILON as f64 / 2.0;
    const LAMBDA_T: f64 = f32::MIN_POSITIVE as f64;
    const POISON: Self = f32::from_bits(0x7F80_5A5A);
    fn scalar_exact(v: f64) -> f64 {
        f64::from(v as f32)
    }
}

impl Real for f16 {
    const U_ACC: f64 = f32::EPSILON as f64 / 2.0;
    const U_T: f64 = 1.0 / 2048.0;
    const LAMBDA_T: f64 = 1.0 / 16384.0;
    /// Quiet: the CPU half widens whole f16 tiles to f32, which quiets signalling NaNs.
    const POISON: Self = f16::from_bits(0x7E5A);
    fn scalar_exact(v: f64) -> f64 {
        f64::from(v as f32)
    }
}

fn same_bits<T: Real>(a: T, b: T) -> bool {
    bytemuck::bytes_of(&a) == bytemuck::bytes_of(&b)
}

// ------------------------------------------------------------------------ configurations

/// A processor configuration: the five runtimes of `common`, and two of our own that spread the
/// tasks over the CPU and the GPUs. (`common`'s mixed runtimes place by earliest predicted
/// finish, which sends every task of these small problems to the CPU: they check that choice,
/// the spreading ones check that an algorithm whose tiles move between the CPU and the GPUs in
/// mid-factorization gets the same answers.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    Cpu,
    Gpu,
    Mixed,
    ThreeGpus,
    ThreeGpusCpu,
    MixedSpread,
    ThreeGpusCpuSpread,
}

/// A runtime and the scope the operations run in.
struct On {
    label: String,
    rt: Runtime,
    scope: Scope,
    /// A GPU may take part: the cases are few and small (lavapipe is slow, and every kernel
    /// variant and element type is a pipeline that each device compiles).
    small: bool,
    /// Several devices (or spreading) may each compile every pipeline: the kernel variants are
    /// a subset in which each flag takes both values (trsm), or one element type (f16 skipped).
    few: bool,
}

/// Places task `t` on candidate `t mod candidates`: consecutive tasks go to different
/// processors, deterministically.
struct Spread;

impl Placement for Spread {
    fn place(&self, q: &PlacementQuery<'_>) -> usize {
        (q.task.get() % q.candidates.len() as u64) as usize
    }

    fn name(&self) -> &str {
        "spread (tests/linalg.rs)"
    }
}

/// The CPU and one GPU (or three virtual GPUs) with [`Spread`] placement, once per process.
fn spread_runtime(three_gpus: bool) -> Option<Runtime> {
    static ONE: OnceLock<Option<Runtime>> = OnceLock::new();
    static THREE: OnceLock<Option<Runtime>> = OnceLock::new();
    let cell = if three_gpus { &THREE } else { &ONE };
    cell.get_or_init(|| {
        let spec = if three_gpus {
            format!("{} x 3", common::adapter())
        } else {
            common::adapter().to_string()
        };
        let built = Runtime::builder()
            .ignore_env()
            .devices(&spec)
            .cpu(true)
            .cpu_threads(2)
            .placement(Spread)
            .build();
        match built {
            Ok(rt) if rt.gpu_count() > 0 => Some(rt),
            other => {
                let why = match other {
                    Ok(_) => format!("no GPU adapter matches `{spec}`"),
                    Err(e) => e.to_string(),
                };
                assert!(!common::gpu_required(), "TESSERA_REQUIRE_GPU=1 but: {why}");
                eprintln!("skipping GPU test: {why}");
                None
            }
        }
    })
    .clone()
}

impl Config {
    /// The runtime, or `None` (having said why) without a GPU.
    fn on(self) -> Option<On> {
        let (label, rt, scope) = match self {
            Config::Cpu => ("cpu", common::cpu_runtime(), Scope::all()),
            Config::Gpu => ("gpu", common::gpu_runtime()?, Scope::all()),
            Config::Mixed => ("cpu + gpu", common::mixed_runtime()?, Scope::all()),
            Config::ThreeGpus => (
                "3 gpus",
                common::three_gpu_runtime()?,
                Scope::gpus([0, 1, 2]),
            ),
            Config::ThreeGpusCpu => (
                "3 gpus + cpu",
                common::three_gpu_mixed_runtime()?,
                Scope::all(),
            ),
            Config::MixedSpread => ("cpu + gpu, spread", spread_runtime(false)?, Scope::all()),
            Config::ThreeGpusCpuSpread => {
                ("3 gpus + cpu, spread", spread_runtime(true)?, Scope::all())
            }
        };
        Some(On {
            label: label.into(),
            rt,
            scope,
            small: self != Config::Cpu,
            few: matches!(
                self,
                Config::ThreeGpus | Config::MixedSpread | Config::ThreeGpusCpuSpread
            ),
        })
    }
}

impl On {
    /// With spreading placement, checks that every processor ran some of the tasks (the counts
    /// only grow, so tests sharing the runtime cannot hide a processor that never runs).
    fn assert_spread(&self) {
        if self.rt.placement() != Spread.name() {
            return;
        }
        for p in self.rt.stats().processors {
            assert!(
                p.tasks > 0,
                "{}: {} ran no task although placement spreads them",
                self.label,
                p.name
            );
        }
    }

    /// Whether `T` can run here: a runtime without a CPU needs the type's capabilities on its
    /// GPUs (lavapipe has them all).
    fn runs<T: Real>(&self) -> bool {
        if self.rt.has_cpu() {
            return true;
        }
        let need = match T::DTYPE {
            DType::F64 => Caps::F64,
            DType::F16 => Caps::F16,
            _ => Caps::NONE,
        };
        let ok = self
            .rt
            .processors()
            .iter()
            .filter(|p| p.adapter.is_some())
            .all(|p| p.caps().contains(need));
        if !ok {
            assert_ne!(
                common::adapter(),
                "lavapipe",
                "lavapipe offers SHADER_F64 and SHADER_F16"
            );
            eprintln!(
                "linalg: {} not run on {}: the GPU lacks it",
                T::DTYPE,
                self.label
            );
        }
        ok
    }
}

/// Seconds an operation of these sizes may take before it counts as a hang.
const WATCHDOG: u64 = 60;

/// Runs an operation under the watchdog and fails the test on an error.
fn guarded(what: &str, f: impl FnOnce() -> tessera::Result<()> + Send + 'static) {
    within(WATCHDOG, what, f).unwrap_or_else(|e| panic!("{what}: {e}"));
}

// ------------------------------------------------------------------------------- helpers

/// `rows x cols` column-major entries uniform in [-1, 1] from `seed`.
fn random(seed: u64, rows: usize, cols: usize) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..rows * cols)
        .map(|_| rng.random_range(-1.0..=1.0))
        .collect()
}

fn rounded<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

fn read<T: Real>(a: &DArray<T>, what: &str) -> Vec<T> {
    a.to_vec()
        .unwrap_or_else(|e| panic!("{what}: reading back: {e}"))
}

fn in_triangle(uplo: Uplo, r: usize, c: usize) -> bool {
    match uplo {
        Uplo::Lower => r >= c,
        Uplo::Upper => r <= c,
    }
}

fn name_t(t: Trans) -> char {
    if t == Trans::Yes { 't' } else { 'n' }
}

fn name_uplo(u: Uplo) -> char {
    if u == Uplo::Lower { 'l' } else { 'u' }
}

/// `max_r sum_c |f(r, c)|` over a `rows x cols` matrix.
fn norm_inf(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> f64 {
    (0..rows)
        .map(|r| (0..cols).map(|c| f(r, c).abs()).sum::<f64>())
        .fold(0.0, f64::max)
}

/// Checks that the elements where `keep(r, c)` holds are bit-identical to `expected`.
fn assert_untouched<T: Real>(
    what: &str,
    rows: usize,
    got: &[T],
    expected: &[T],
    keep: impl Fn(usize, usize) -> bool,
) {
    let bad: Vec<usize> = (0..got.len())
        .filter(|&x| keep(x % rows, x / rows) && !same_bits(got[x], expected[x]))
        .collect();
    if let Some(&x) = bad.first() {
        panic!(
            "{what}: {} elements that must not change did; the first at (row {}, col {}) is \
             {:?} instead of {:?}",
            bad.len(),
            x % rows,
            x / rows,
            got[x],
            expected[x],
        );
    }
}

/// Panics if any element where `check(r, c)` holds is not finite.
fn assert_finite<T: Real>(
    what: &str,
    rows: usize,
    got: &[T],
    check: impl Fn(usize, usize) -> bool,
) {
    let bad: Vec<usize> = (0..got.len())
        .filter(|&x| check(x % rows, x / rows) && !got[x].to_f64().is_finite())
        .collect();
    if let Some(&x) = bad.first() {
        panic!(
            "{what}: {} results are not finite; the first at (row {}, col {}) is {:?}",
            bad.len(),
            x % rows,
            x / rows,
            got[x]
        );
    }
}

/// The gemm/syrk bound of one element (module docs): `mag` = `|alpha| sum |a_l b_l|`, `c0` =
/// `|beta c0|`.
fn product_bound<T: Real>(c: f64, k: usize, kt: usize, mag: f64, c0: f64) -> f64 {
    let (u, s, kt) = (T::U_ACC, T::store_u(), kt.max(1) as f64);
    c * u * (k as f64 * mag + kt * c0) + kt * s * (2.0 * (mag + c0) + T::LAMBDA_T)
}

fn report(op: &str, dtype: DType, on: &On, worst: f64) {
    eprintln!(
        "linalg: {op} {dtype} on {}: worst error/bound ratio {worst:.4}",
        on.label
    );
}

// -------------------------------------------------------------------------------- cholesky

/// An SPD matrix from [`tessera::spd_element`] in the `uplo` triangle, poison in the other;
/// `edit` may change the lower view's entry `(r, c)`, `r >= c`, before rounding.
fn spd_input<T: Real>(
    n: usize,
    uplo: Uplo,
    seed: u64,
    edit: impl Fn(usize, usize, f64) -> f64,
) -> Vec<T> {
    (0..n * n)
        .map(|x| {
            let (r, c) = (x % n, x / n);
            if in_triangle(uplo, r, c) {
                let (lr, lc) = (r.max(c), r.min(c));
                T::from_f64(edit(lr, lc, tessera::spd_element(seed, n, r, c)))
            } else {
                T::POISON
            }
        })
        .collect()
}

/// Element `(r, c)` of the lower view of `v`: `v` itself for `Lower`, its transpose for `Upper`.
fn lower_view<T: Real>(uplo: Uplo, v: &[T], n: usize, r: usize, c: usize) -> f64 {
    if uplo == Uplo::Lower {
        v[r + c * n].to_f64()
    } else {
        v[c + r * n].to_f64()
    }
}

/// `||A|| ` and `rho` of a factor: the premise of the Cholesky and solve bounds.
fn factor_rho<T: Real>(what: &str, uplo: Uplo, n: usize, a0: &[T], got: &[T]) -> f64 {
    let l = |r: usize, c: usize| {
        if r >= c {
            lower_view(uplo, got, n, r, c)
        } else {
            0.0
        }
    };
    let norm_a = norm_inf(n, n, |r, c| lower_view(uplo, a0, n, r.max(c), r.min(c)));
    let rho = norm_inf(n, n, |r, c| {
        (0..=r.min(c)).map(|p| (l(r, p) * l(c, p)).abs()).sum()
    }) / norm_a;
    assert!(
        rho <= POTRF_RHO,
        "{what}: the premise of the bound fails: || |L^||L^T| || / ||A|| = {rho:.3} > {POTRF_RHO}"
    );
    rho
}

/// Checks a computed factor `got` of `a0` (both with the other triangle poisoned): the other
/// triangle untouched, the diagonal positive, the residual within bound. Returns the ratio.
fn check_factor<T: Real>(what: &str, uplo: Uplo, n: usize, a0: &[T], got: &[T]) -> f64 {
    assert_untouched(
        &format!("{what}: the other triangle"),
        n,
        got,
        a0,
        |r, c| !in_triangle(uplo, r, c),
    );
    assert_finite(what, n, got, |r, c| in_triangle(uplo, r, c));
    let l = |r: usize, c: usize| {
        if r >= c {
            lower_view(uplo, got, n, r, c)
        } else {
            0.0
        }
    };
    for d in 0..n {
        assert!(
            l(d, d) > 0.0,
            "{what}: the factor's diagonal must be positive; element ({d}, {d}) is {}",
            l(d, d)
        );
    }
    factor_rho(what, uplo, n, a0, got);
    let a = |r: usize, c: usize| lower_view(uplo, a0, n, r.max(c), r.min(c));
    // E = A - L L^T on the lower triangle, mirrored.
    let mut e = vec![0.0; n * n];
    for c in 0..n {
        for r in c..n {
            let mut s = Exact::default();
            s.add(a(r, c));
            for p in 0..=c {
                s.add_prod(-l(r, p), l(c, p));
            }
            e[r + c * n] = s.value();
        }
    }
    let sym = |r: usize, c: usize| e[r.max(c) + r.min(c) * n];
    let residual = norm_inf(n, n, sym) / norm_inf(n, n, a);
    let bound = C_POTRF * n as f64 * T::U_T;
    let ratio = residual / bound;
    if ratio > 1.0 {
        let worst = (0..n * n)
            .max_by(|&p, &q| e[p].abs().total_cmp(&e[q].abs()))
            .expect("A is not empty");
        panic!(
            "{what}: ||A - L^L^T|| / ||A|| = {residual:.3e} exceeds the bound {bound:.3e} = \
             4 n u_T ({ratio:.2} times the bound); the worst element of A - L^L^T is (row {}, \
             col {}) of the lower view: {:.3e}",
            worst % n,
            worst / n,
            e[worst]
        );
    }
    ratio
}

/// `(n, nb)` of the Cholesky and solve cases.
fn cholesky_sizes(on: &On) -> Vec<(usize, usize)> {
    if on.small {
        vec![(1, 1), (5, 3), (37, 8), (37, 64), (100, 32)]
    } else {
        vec![
            (1, 1),
            (1, 8),
            (5, 1),
            (5, 3),
            (5, 8),
            (37, 1),
            (37, 3),
            (37, 8),
            (37, 16),
            (37, 32),
            (37, 64),
            (100, 3),
            (100, 16),
            (100, 32),
            (100, 128),
        ]
    }
}

fn cholesky_case<T: Real>(on: &On, uplo: Uplo, n: usize, nb: usize, seed: u64) -> f64 {
    let what = format!(
        "cholesky_{} {} n={n} nb={nb} on {}",
        name_uplo(uplo),
        T::DTYPE,
        on.label
    );
    let a0 = spd_input::<T>(n, uplo, seed, |_, _, v| v);
    let a = DArray::from_slice(&on.rt, n, n, &a0, Blocks::square(nb));
    let (a2, scope) = (a.clone(), on.scope.clone());
    guarded(&what, move || a2.cholesky_with(uplo, &scope));
    check_factor(&what, uplo, n, &a0, &read(&a, &what))
}

fn cholesky_dtype<T: Real>(on: &On, sizes: &[(usize, usize)]) {
    if !on.runs::<T>() {
        return;
    }
    let mut worst = 0.0f64;
    for uplo in [Uplo::Lower, Uplo::Upper] {
        for (x, &(n, nb)) in sizes.iter().enumerate() {
            worst = worst.max(cholesky_case::<T>(on, uplo, n, nb, 10 + x as u64));
        }
    }
    report("cholesky", T::DTYPE, on, worst);
}

fn cholesky_suite(config: Config) {
    let Some(on) = config.on() else { return };
    let sizes = cholesky_sizes(&on);
    cholesky_dtype::<f64>(&on, &sizes);
    cholesky_dtype::<f32>(&on, &sizes);
    if !on.few {
        cholesky_dtype::<f16>(&on, &[(20, 8)]);
    }
    on.assert_spread();
}

// ----------------------------------------------------------------------------------- solve

/// Checks `X^` (`got`, `n x r`) against `A X = B` with `A` from `a0`'s `uplo` triangle.
fn check_solve<T: Real>(what: &str, uplo: Uplo, n: usize, a0: &[T], b0: &[T], got: &[T]) -> f64 {
    let r = b0.len() / n;
    assert_finite(what, n, got, |_, _| true);
    let a = |i: usize, j: usize| lower_view(uplo, a0, n, i.max(j), i.min(j));
    let x: Vec<f64> = got.iter().map(|v| v.to_f64()).collect();
    let mut res = vec![0.0; n * r];
    for j in 0..r {
        for i in 0..n {
            let mut e = Exact::default();
            for l in 0..n {
                e.add_prod(a(i, l), x[l + j * n]);
            }
            e.add(-b0[i + j * n].to_f64());
            res[i + j * n] = e.value();
        }
    }
    let scale = norm_inf(n, n, a) * norm_inf(n, r, |i, j| x[i + j * n])
        + norm_inf(n, r, |i, j| b0[i + j * n].to_f64());
    let residual = norm_inf(n, r, |i, j| res[i + j * n]) / scale;
    let bound = C_SOLVE * n as f64 * T::U_T;
    let worst = (0..n * r)
        .max_by(|&p, &q| res[p].abs().total_cmp(&res[q].abs()))
        .expect("B is not empty");
    let ratio = residual / bound;
    assert!(
        ratio <= 1.0,
        "{what}: ||A X^ - B|| / (||A|| ||X^|| + ||B||) = {residual:.3e} exceeds the bound \
         {bound:.3e} = 8 n u_T with n = {n} ({ratio:.2} times the bound); the worst residual \
         element is (row {}, col {}): {:.3e}",
        worst % n,
        worst / n,
        res[worst]
    );
    ratio
}

/// `A X = B` by `cholesky_with` + `cholesky_solve` (`fused` false) or `factor_and_solve`.
#[derive(Clone, Copy)]
struct SolveCase {
    uplo: Uplo,
    n: usize,
    nb: usize,
    r: usize,
    rb: usize,
    fused: bool,
}

fn solve_case<T: Real>(on: &On, s: SolveCase, seed: u64) -> f64 {
    let SolveCase {
        uplo,
        n,
        nb,
        r,
        rb,
        fused,
    } = s;
    let what = format!(
        "{}_{} {} n={n} nb={nb}, B {n}x{r} in {nb}x{rb} tiles, on {}",
        if fused {
            "factor_and_solve"
        } else {
            "cholesky_solve"
        },
        name_uplo(uplo),
        T::DTYPE,
        on.label
    );
    let a0 = spd_input::<T>(n, uplo, seed, |_, _, v| v);
    let b0: Vec<T> = rounded(&random(seed + 1000, n, r));
    let a = DArray::from_slice(&on.rt, n, n, &a0, Blocks::square(nb));
    let b = DArray::from_slice(&on.rt, n, r, &b0, Blocks::new(nb, rb));
    let (a2, b2, scope) = (a.clone(), b.clone(), on.scope.clone());
    guarded(&what, move || {
        if fused {
            a2.factor_and_solve(uplo, &b2, &scope)
        } else {
            a2.cholesky_with(uplo, &scope)?;
            a2.cholesky_solve(uplo, &b2, &scope)
        }
    });
    let factor = read(&a, &what);
    let ratio = check_factor(&format!("{what}: the factor"), uplo, n, &a0, &factor);
    ratio.max(check_solve(&what, uplo, n, &a0, &b0, &read(&b, &what)))
}

fn solve_dtype<T: Real>(on: &On) {
    if !on.runs::<T>() {
        return;
    }
    // (n, nb, r, rb): B non-square, its column tiles unrelated to A's.
    let sizes: &[(usize, usize, usize, usize)] = if on.small {
        &[(37, 16, 13, 5)]
    } else {
        &[
            (1, 1, 2, 1),
            (5, 3, 2, 1),
            (37, 8, 13, 5),
            (100, 16, 7, 7),
            (100, 128, 3, 2),
        ]
    };
    let mut worst = 0.0f64;
    for fused in [false, true] {
        for uplo in [Uplo::Lower, Uplo::Upper] {
            for (x, &(n, nb, r, rb)) in sizes.iter().enumerate() {
                let case = SolveCase {
                    uplo,
                    n,
                    nb,
                    r,
                    rb,
                    fused,
                };
                worst = worst.max(solve_case::<T>(on, case, 50 + x as u64));
            }
        }
    }
    report("cholesky_solve/factor_and_solve", T::DTYPE, on, worst);
}

fn solve_suite(config: Config) {
    let Some(on) = config.on() else { return };
    solve_dtype::<f64>(&on);
    solve_dtype::<f32>(&on);
    on.assert_spread();
}

// ------------------------------------------------------------------------------------ gemm

/// `op(A)` is `m x k` in `mb x kb` tiles, `op(B)` `k x n` in `kb x nb` tiles.
#[derive(Clone, Copy, Debug)]
struct GemmShape {
    m: usize,
    n: usize,
    k: usize,
    mb: usize,
    nb: usize,
    kb: usize,
}

const GEMM_OPS: [(Trans, Trans); 4] = [
    (Trans::No, Trans::No),
    (Trans::No, Trans::Yes),
    (Trans::Yes, Trans::No),
    (Trans::Yes, Trans::Yes),
];

fn gemm_shapes(on: &On) -> Vec<GemmShape> {
    let s = |m, n, k, mb, nb, kb| GemmShape {
        m,
        n,
        k,
        mb,
        nb,
        kb,
    };
    if on.small {
        vec![
            s(3, 2, 3, 1, 1, 1),
            s(37, 21, 29, 8, 16, 16),
            s(37, 21, 29, 64, 64, 64),
        ]
    } else {
        vec![
            s(1, 1, 1, 1, 1, 1),
            s(5, 3, 4, 1, 1, 1),
            s(100, 37, 5, 32, 8, 16),
            s(37, 21, 29, 8, 16, 3),
            s(37, 21, 29, 64, 64, 64),
            s(5, 100, 37, 3, 32, 8),
            s(100, 100, 100, 32, 16, 37),
        ]
    }
}

/// Stored dimensions and tiling of an operand whose `op` is `rows x cols` in `rb x cb` tiles.
fn stored(t: Trans, rows: usize, cols: usize, rb: usize, cb: usize) -> (usize, usize, Blocks) {
    if t == Trans::Yes {
        (cols, rows, Blocks::new(cb, rb))
    } else {
        (rows, cols, Blocks::new(rb, cb))
    }
}

/// Element `(r, c)` of `op(X)` for `X` stored column-major with `rows` rows.
fn op_at<T: Real>(x: &[T], rows: usize, t: Trans, r: usize, c: usize) -> f64 {
    if t == Trans::Yes {
        x[c + r * rows].to_f64()
    } else {
        x[r + c * rows].to_f64()
    }
}

fn gemm_case<T: Real>(
    on: &On,
    (ta, tb): (Trans, Trans),
    s: GemmShape,
    (alpha, beta): (f64, f64),
    seed: u64,
) -> f64 {
    let GemmShape {
        m,
        n,
        k,
        mb,
        nb,
        kb,
    } = s;
    let what = format!(
        "gemm_{}{} {} m={m} n={n} k={k} tiles {mb}x{kb} * {kb}x{nb}, alpha={alpha} beta={beta} \
         on {}",
        name_t(ta),
        name_t(tb),
        T::DTYPE,
        on.label
    );
    let (ar, ac, ablk) = stored(ta, m, k, mb, kb);
    let (br, bc, bblk) = stored(tb, k, n, kb, nb);
    let a0: Vec<T> = rounded(&random(seed, ar, ac));
    let b0: Vec<T> = rounded(&random(seed + 1, br, bc));
    let c0: Vec<T> = if beta == 0.0 {
        vec![T::POISON; m * n]
    } else {
        rounded(&random(seed + 2, m, n))
    };
    let a = DArray::from_slice(&on.rt, ar, ac, &a0, ablk);
    let b = DArray::from_slice(&on.rt, br, bc, &b0, bblk);
    let c = DArray::from_slice(&on.rt, m, n, &c0, Blocks::new(mb, nb));
    let (a2, b2, c2, scope) = (a.clone(), b.clone(), c.clone(), on.scope.clone());
    guarded(&what, move || {
        c2.gemm(alpha, &a2, ta, &b2, tb, beta, &scope)
    });
    let got = read(&c, &what);
    assert_untouched(&format!("{what}: A"), ar, &read(&a, &what), &a0, |_, _| {
        true
    });
    assert_untouched(&format!("{what}: B"), br, &read(&b, &what), &b0, |_, _| {
        true
    });
    let (al, be) = (T::scalar_exact(alpha), T::scalar_exact(beta));
    let kt = k.div_ceil(kb);
    let mut worst = Worst::default();
    for j in 0..n {
        for i in 0..m {
            let mut e = Exact::default();
            let mut mag = 0.0;
            for l in 0..k {
                let (x, y) = (op_at(&a0, ar, ta, i, l), op_at(&b0, br, tb, l, j));
                e.add_prod3(al, x, y);
                mag += (al * x * y).abs();
            }
            let c0v = if beta == 0.0 {
                0.0
            } else {
                c0[i + j * m].to_f64()
            };
            e.add_prod(be, c0v);
            let bound = product_bound::<T>(C_GEMM, k, kt, mag, (be * c0v).abs());
            let (g, r) = (got[i + j * m].to_f64(), e.value());
            worst.see((i, j), g, r, (g - r).abs(), bound);
        }
    }
    worst.verdict(
        &what,
        "3 u (k |alpha||A||B| + kt |beta C0|) (+ f16 storage)",
    )
}

/// `matmul` of shape `s`, and `matmul(I, B) == B` bit for bit.
fn matmul_case<T: Real>(on: &On, s: GemmShape) -> f64 {
    let what = format!("matmul {} {s:?} on {}", T::DTYPE, on.label);
    let a0: Vec<T> = rounded(&random(90, s.m, s.k));
    let b0: Vec<T> = rounded(&random(91, s.k, s.n));
    let a = DArray::from_slice(&on.rt, s.m, s.k, &a0, Blocks::new(s.mb, s.kb));
    let b = DArray::from_slice(&on.rt, s.k, s.n, &b0, Blocks::new(s.kb, s.nb));
    let (a2, b2) = (a.clone(), b.clone());
    let c =
        within(WATCHDOG, &what, move || a2.matmul(&b2)).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!((c.rows(), c.cols()), (s.m, s.n), "{what}: shape");
    assert_eq!(c.tile_size(), (s.mb, s.nb), "{what}: C's tiles");
    let got = read(&c, &what);
    let mut worst = Worst::default();
    for j in 0..s.n {
        for i in 0..s.m {
            let mut e = Exact::default();
            let mut mag = 0.0;
            for l in 0..s.k {
                let (x, y) = (a0[i + l * s.m].to_f64(), b0[l + j * s.k].to_f64());
                e.add_prod(x, y);
                mag += (x * y).abs();
            }
            let bound = product_bound::<T>(C_GEMM, s.k, s.k.div_ceil(s.kb), mag, 0.0);
            let (g, r) = (got[i + j * s.m].to_f64(), e.value());
            worst.see((i, j), g, r, (g - r).abs(), bound);
        }
    }
    let ratio = worst.verdict(&what, "3 k u |A||B|");
    let eye = DArray::<T>::identity(&on.rt, s.k, Blocks::new(s.kb, s.kb));
    let ib = within(WATCHDOG, &what, move || eye.matmul(&b))
        .unwrap_or_else(|e| panic!("{what}: I B: {e}"));
    assert_untouched(
        &format!("{what}: I B"),
        s.k,
        &read(&ib, &what),
        &b0,
        |_, _| true,
    );
    ratio
}

fn gemm_dtype<T: Real>(on: &On, shapes: &[GemmShape], ops: &[(Trans, Trans)]) {
    if !on.runs::<T>() {
        return;
    }
    let mut worst = 0.0f64;
    let mut seed = 100;
    for &op in ops {
        for &s in shapes {
            for scalars in [(-1.3, 0.0), (0.7, -0.6)] {
                seed += 3;
                worst = worst.max(gemm_case::<T>(on, op, s, scalars, seed));
            }
        }
    }
    worst = worst.max(matmul_case::<T>(on, shapes[shapes.len() / 2]));
    report("gemm", T::DTYPE, on, worst);
}

fn gemm_suite(config: Config) {
    let Some(on) = config.on() else { return };
    let shapes = gemm_shapes(&on);
    gemm_dtype::<f64>(&on, &shapes, &GEMM_OPS);
    gemm_dtype::<f32>(&on, &shapes, &GEMM_OPS);
    let small = GemmShape {
        m: 13,
        n: 7,
        k: 20,
        mb: 8,
        nb: 4,
        kb: 8,
    };
    if !on.few {
        gemm_dtype::<f16>(&on, &[small], &[GEMM_OPS[0], GEMM_OPS[3]]);
    }
    on.assert_spread();
}

// ------------------------------------------------------------------------------------ trsm

/// `op(A) X = alpha B` (left, `B` `q x r`) or `X op(A) = alpha B` (right, `B` `r x q`); `A` is
/// `q x q` in `nb x nb` tiles and `B`'s other dimension is tiled by `rb`.
#[derive(Clone, Copy, Debug)]
struct TrsmCase {
    side: Side,
    uplo: Uplo,
    trans: Trans,
    diag: Diag,
    q: usize,
    nb: usize,
    r: usize,
    rb: usize,
}

fn trsm_case<T: Real>(on: &On, t: TrsmCase, alpha: f64, seed: u64) -> f64 {
    let TrsmCase {
        side,
        uplo,
        trans,
        diag,
        q,
        nb,
        r,
        rb,
    } = t;
    let what = format!(
        "trsm_{}{}{}{} {} A {q}x{q} in {nb}x{nb} tiles, {r} right-hand sides in tiles of {rb}, \
         alpha={alpha} on {}",
        if side == Side::Left { 'l' } else { 'r' },
        name_uplo(uplo),
        name_t(trans),
        if diag == Diag::Unit { 'u' } else { 'n' },
        T::DTYPE,
        on.label
    );
    // Well conditioned: |a_ii| in [1, 2], off-diagonal entries in [-1, 1] / q; the other
    // triangle, and with a unit diagonal the diagonal, are poison.
    let raw = random(seed, q, q);
    let a0: Vec<T> = (0..q * q)
        .map(|x| {
            let (i, j, v) = (x % q, x / q, raw[x]);
            if i == j && diag == Diag::NonUnit {
                T::from_f64(v.signum() * (1.0 + v.abs()))
            } else if i != j && in_triangle(uplo, i, j) {
                T::from_f64(v / q as f64)
            } else {
                T::POISON
            }
        })
        .collect();
    let (m, n, bblk) = match side {
        Side::Left => (q, r, Blocks::new(nb, rb)),
        Side::Right => (r, q, Blocks::new(rb, nb)),
    };
    let b0: Vec<T> = rounded(&random(seed + 1, m, n));
    let a = DArray::from_slice(&on.rt, q, q, &a0, Blocks::square(nb));
    let b = DArray::from_slice(&on.rt, m, n, &b0, bblk);
    let (a2, b2, scope) = (a.clone(), b.clone(), on.scope.clone());
    guarded(&what, move || {
        a2.trsm(side, uplo, trans, diag, alpha, &b2, &scope)
    });
    assert_untouched(&format!("{what}: A"), q, &read(&a, &what), &a0, |_, _| true);
    let got = read(&b, &what);
    assert_finite(&what, m, &got, |_, _| true);
    let x: Vec<f64> = got.iter().map(|v| v.to_f64()).collect();
    let tri = |i: usize, j: usize| {
        if i == j && diag == Diag::Unit {
            1.0
        } else if in_triangle(uplo, i, j) {
            a0[i + j * q].to_f64()
        } else {
            0.0
        }
    };
    let op_a = |i: usize, j: usize| {
        if trans == Trans::Yes {
            tri(j, i)
        } else {
            tri(i, j)
        }
    };
    let al = T::scalar_exact(alpha);
    let mut res = vec![0.0; m * n];
    for j in 0..n {
        for i in 0..m {
            let mut e = Exact::default();
            for l in 0..q {
                match side {
                    Side::Left => e.add_prod(op_a(i, l), x[l + j * m]),
                    Side::Right => e.add_prod(x[i + l * m], op_a(l, j)),
                }
            }
            e.add_prod(-al, b0[i + j * m].to_f64());
            res[i + j * m] = e.value();
        }
    }
    let scale = norm_inf(q, q, op_a) * norm_inf(m, n, |i, j| x[i + j * m])
        + al.abs() * norm_inf(m, n, |i, j| b0[i + j * m].to_f64());
    let residual = norm_inf(m, n, |i, j| res[i + j * m]) / scale;
    let bound = C_TRSM * q as f64 * T::U_ACC;
    let ratio = residual / bound;
    let worst = (0..m * n)
        .max_by(|&p, &s| res[p].abs().total_cmp(&res[s].abs()))
        .expect("B is not empty");
    assert!(
        ratio <= 1.0,
        "{what}: ||R|| / (||op(A)|| ||X^|| + |alpha| ||B||) = {residual:.3e} exceeds the bound \
         {bound:.3e} = 2 n u with n = {q} ({ratio:.2} times the bound); the worst residual \
         element is (row {}, col {}): {:.3e}, with X^ there {:e}",
        worst % m,
        worst / m,
        res[worst],
        x[worst]
    );
    ratio
}

/// `(side, uplo, trans, diag)`.
type TrsmOp = (Side, Uplo, Trans, Diag);

/// All 16 flag combinations, or four in which each flag takes both values.
fn trsm_ops(all: bool) -> Vec<TrsmOp> {
    use Diag::{NonUnit, Unit};
    use Side::{Left, Right};
    use Trans::{No, Yes};
    use Uplo::{Lower, Upper};
    if !all {
        return vec![
            (Left, Lower, No, NonUnit),
            (Left, Upper, Yes, Unit),
            (Right, Lower, Yes, Unit),
            (Right, Upper, No, NonUnit),
        ];
    }
    let mut ops = Vec::new();
    for side in [Left, Right] {
        for uplo in [Lower, Upper] {
            for trans in [No, Yes] {
                for diag in [NonUnit, Unit] {
                    ops.push((side, uplo, trans, diag));
                }
            }
        }
    }
    ops
}

fn trsm_dtype<T: Real>(on: &On, ops: &[TrsmOp], sizes: &[(usize, usize, usize, usize)]) {
    if !on.runs::<T>() {
        return;
    }
    let mut worst = 0.0f64;
    let mut seed = 700;
    for &(side, uplo, trans, diag) in ops {
        for (x, &(q, nb, r, rb)) in sizes.iter().enumerate() {
            seed += 2;
            let case = TrsmCase {
                side,
                uplo,
                trans,
                diag,
                q,
                nb,
                r,
                rb,
            };
            let alpha = if x % 2 == 0 { -1.3 } else { 0.7 };
            worst = worst.max(trsm_case::<T>(on, case, alpha, seed));
        }
    }
    report("trsm", T::DTYPE, on, worst);
}

fn trsm_suite(config: Config) {
    let Some(on) = config.on() else { return };
    // (q, nb, r, rb): the order of A and its tiles, B's other dimension and its tiles.
    if on.small {
        let ops = trsm_ops(!on.few);
        trsm_dtype::<f64>(&on, &ops, &[(5, 3, 2, 2), (37, 16, 13, 13), (3, 1, 2, 1)]);
        trsm_dtype::<f32>(&on, &ops, &[(5, 3, 2, 2), (37, 16, 13, 13)]);
    } else {
        let sizes = [
            (1, 1, 3, 2),
            (5, 1, 3, 1),
            (5, 3, 7, 4),
            (37, 8, 13, 5),
            (37, 64, 5, 64),
            (100, 16, 6, 3),
        ];
        trsm_dtype::<f64>(&on, &trsm_ops(true), &sizes);
        trsm_dtype::<f32>(&on, &trsm_ops(true), &sizes);
    }
    on.assert_spread();
}

// ------------------------------------------------------------------------------------ syrk

/// `C` (`n x n`, `nb x nb` tiles) `= alpha op(A) op(A)^T + beta C0`, `op(A)` `n x k` in
/// `nb x kb` tiles.
#[derive(Clone, Copy, Debug)]
struct SyrkCase {
    uplo: Uplo,
    trans: Trans,
    n: usize,
    nb: usize,
    k: usize,
    kb: usize,
}

fn syrk_case<T: Real>(on: &On, s: SyrkCase, (alpha, beta): (f64, f64), seed: u64) -> f64 {
    let SyrkCase {
        uplo,
        trans,
        n,
        nb,
        k,
        kb,
    } = s;
    let what = format!(
        "syrk_{}{} {} n={n} k={k} in {nb}x{kb} tiles, alpha={alpha} beta={beta} on {}",
        name_uplo(uplo),
        name_t(trans),
        T::DTYPE,
        on.label
    );
    let (ar, ac, ablk) = stored(trans, n, k, nb, kb);
    let a0: Vec<T> = rounded(&random(seed, ar, ac));
    let raw = random(seed + 1, n, n);
    // The other triangle is always poison, the referenced one when beta = 0.
    let c0: Vec<T> = (0..n * n)
        .map(|x| {
            if beta != 0.0 && in_triangle(uplo, x % n, x / n) {
                T::from_f64(raw[x])
            } else {
                T::POISON
            }
        })
        .collect();
    let a = DArray::from_slice(&on.rt, ar, ac, &a0, ablk);
    let c = DArray::from_slice(&on.rt, n, n, &c0, Blocks::square(nb));
    let (a2, c2, scope) = (a.clone(), c.clone(), on.scope.clone());
    guarded(&what, move || {
        c2.syrk(uplo, trans, alpha, &a2, beta, &scope)
    });
    assert_untouched(&format!("{what}: A"), ar, &read(&a, &what), &a0, |_, _| {
        true
    });
    let got = read(&c, &what);
    assert_untouched(
        &format!("{what}: the other triangle"),
        n,
        &got,
        &c0,
        |r, c| !in_triangle(uplo, r, c),
    );
    let (al, be) = (T::scalar_exact(alpha), T::scalar_exact(beta));
    let kt = k.div_ceil(kb);
    let mut worst = Worst::default();
    for j in 0..n {
        for i in (0..n).filter(|&i| in_triangle(uplo, i, j)) {
            let mut e = Exact::default();
            let mut mag = 0.0;
            for l in 0..k {
                let (x, y) = (op_at(&a0, ar, trans, i, l), op_at(&a0, ar, trans, j, l));
                e.add_prod3(al, x, y);
                mag += (al * x * y).abs();
            }
            let c0v = if beta == 0.0 {
                0.0
            } else {
                c0[i + j * n].to_f64()
            };
            e.add_prod(be, c0v);
            let bound = product_bound::<T>(C_SYRK, k, kt, mag, (be * c0v).abs());
            let (g, r) = (got[i + j * n].to_f64(), e.value());
            worst.see((i, j), g, r, (g - r).abs(), bound);
        }
    }
    worst.verdict(&what, "3 u (k |alpha||A||A^T| + kt |beta C0|)")
}

fn syrk_dtype<T: Real>(on: &On, sizes: &[(usize, usize, usize, usize)]) {
    if !on.runs::<T>() {
        return;
    }
    let mut worst = 0.0f64;
    let mut seed = 500;
    for uplo in [Uplo::Lower, Uplo::Upper] {
        for trans in [Trans::No, Trans::Yes] {
            for &(n, nb, k, kb) in sizes {
                for scalars in [(-1.3, 0.0), (0.7, -0.6)] {
                    seed += 2;
                    let case = SyrkCase {
                        uplo,
                        trans,
                        n,
                        nb,
                        k,
                        kb,
                    };
                    worst = worst.max(syrk_case::<T>(on, case, scalars, seed));
                }
            }
        }
    }
    report("syrk", T::DTYPE, on, worst);
}

fn syrk_suite(config: Config) {
    let Some(on) = config.on() else { return };
    // (n, nb, k, kb)
    let sizes: &[(usize, usize, usize, usize)] = if on.small {
        &[(5, 3, 4, 2), (37, 16, 20, 16)]
    } else {
        &[
            (1, 1, 1, 1),
            (5, 3, 4, 1),
            (37, 8, 20, 3),
            (37, 64, 20, 64),
            (100, 32, 7, 16),
        ]
    };
    syrk_dtype::<f64>(&on, sizes);
    syrk_dtype::<f32>(&on, sizes);
    on.assert_spread();
}

// ----------------------------------------------------------------------- not positive definite

/// How an SPD matrix is broken at a column.
#[derive(Clone, Copy, Debug)]
enum Break {
    /// The diagonal element made negative.
    NegativeDiagonal,
    /// The entry left of the diagonal made large, so that the leading minor of order
    /// `column + 1` is indefinite while the one of order `column` stays positive definite.
    IndefiniteMinor,
}

/// `(n, nb, column, how)` of the non-SPD cases: inside a later tile, in the ragged last tile,
/// across a tile boundary (48 is the first column of tile 3, its partner 47 in tile 2), in the
/// first column, with 1 x 1 tiles and with one tile larger than the matrix.
fn not_spd_cases(on: &On) -> Vec<(usize, usize, usize, Break)> {
    let mut v = vec![
        (50, 16, 45, Break::NegativeDiagonal),
        (50, 16, 49, Break::NegativeDiagonal),
        (50, 16, 48, Break::IndefiniteMinor),
        (50, 16, 45, Break::IndefiniteMinor),
    ];
    if !on.small {
        v.extend([
            (50, 16, 0, Break::NegativeDiagonal),
            (7, 1, 4, Break::IndefiniteMinor),
            (50, 64, 45, Break::NegativeDiagonal),
            (100, 3, 91, Break::NegativeDiagonal),
        ]);
    }
    v
}

fn not_spd_case<T: Real>(on: &On, uplo: Uplo, (n, nb, col, how): (usize, usize, usize, Break)) {
    let edit = move |r: usize, c: usize, v: f64| match how {
        Break::NegativeDiagonal if r == col && c == col => -1.0,
        Break::IndefiniteMinor if r == col && c + 1 == col => 3.0 * n as f64,
        _ => v,
    };
    for fused in [false, true] {
        let what = format!(
            "{}_{} {} n={n} nb={nb} broken at column {col} ({how:?}) on {}",
            if fused {
                "factor_and_solve"
            } else {
                "cholesky"
            },
            name_uplo(uplo),
            T::DTYPE,
            on.label
        );
        let a0 = spd_input::<T>(n, uplo, 77, edit);
        let a = DArray::from_slice(&on.rt, n, n, &a0, Blocks::square(nb));
        let b = DArray::<T>::rand(&on.rt, n, 3, Blocks::new(nb, 2), 78);
        let scope = on.scope.clone();
        let got = within(WATCHDOG, &what, move || {
            if fused {
                a.factor_and_solve(uplo, &b, &scope)
            } else {
                a.cholesky_with(uplo, &scope)
            }
        });
        match got {
            Err(Error::NotPositiveDefinite { column }) if column == col => {}
            other => panic!(
                "{what}: expected Err(NotPositiveDefinite {{ column: {col} }}), got {other:?}"
            ),
        }
    }
}

fn not_spd_suite(config: Config) {
    let Some(on) = config.on() else { return };
    for uplo in [Uplo::Lower, Uplo::Upper] {
        if on.runs::<f64>() {
            for case in not_spd_cases(&on) {
                not_spd_case::<f64>(&on, uplo, case);
            }
        }
        if on.runs::<f32>() {
            not_spd_case::<f32>(&on, uplo, (50, 16, 45, Break::NegativeDiagonal));
        }
    }
    // The runtime is still usable.
    let ratio = cholesky_case::<f32>(&on, Uplo::Lower, 37, 16, 5);
    report("cholesky after failures", DType::F32, &on, ratio);
    on.assert_spread();
}

// ------------------------------------------------------------------- the configuration matrix

/// One test per configuration for each suite: `linalg::<suite>::{cpu, gpu, mixed, three_gpus,
/// three_gpus_cpu, mixed_spread, three_gpus_cpu_spread}`.
macro_rules! on_every_config {
    ($($name:ident => $suite:ident;)*) => {$(
        mod $name {
            use super::Config;

            #[test]
            fn cpu() {
                super::$suite(Config::Cpu);
            }

            #[test]
            fn gpu() {
                super::$suite(Config::Gpu);
            }

            #[test]
            fn mixed() {
                super::$suite(Config::Mixed);
            }

            #[test]
            fn three_gpus() {
                super::$suite(Config::ThreeGpus);
            }

            #[test]
            fn three_gpus_cpu() {
                super::$suite(Config::ThreeGpusCpu);
            }

            #[test]
            fn mixed_spread() {
                super::$suite(Config::MixedSpread);
            }

            #[test]
            fn three_gpus_cpu_spread() {
                super::$suite(Config::ThreeGpusCpuSpread);
            }
        }
    )*};
}

on_every_config! {
    cholesky => cholesky_suite;
    solve => solve_suite;
    gemm => gemm_suite;
    trsm => trsm_suite;
    syrk => syrk_suite;
    not_positive_definite => not_spd_suite;
}

/// Scopes narrower than the runtime: the CPU or the GPU of a mixed runtime, one of three
/// virtual GPUs, and two of them with the CPU (tasks spread over those three).
#[test]
fn operations_in_narrower_scopes() {
    let mut runs: Vec<(String, Runtime, Scope)> = Vec::new();
    if let Some(rt) = common::mixed_runtime() {
        runs.push(("cpu + gpu, scope cpu".into(), rt.clone(), Scope::cpu()));
        runs.push(("cpu + gpu, scope gpu 0".into(), rt, Scope::gpu(0)));
    }
    if let Some(rt) = common::three_gpu_mixed_runtime() {
        runs.push(("3 gpus + cpu, scope gpu 1".into(), rt, Scope::gpu(1)));
    }
    if let Some(rt) = spread_runtime(true) {
        let scope = Scope::gpus([0, 2]).or(Scope::cpu());
        runs.push((
            "3 gpus + cpu, spread, scope gpus 0, 2 and cpu".into(),
            rt,
            scope,
        ));
    }
    for (label, rt, scope) in runs {
        let on = On {
            label,
            rt,
            scope,
            small: true,
            few: true,
        };
        let mut worst = cholesky_case::<f64>(&on, Uplo::Lower, 37, 8, 3);
        worst = worst.max(cholesky_case::<f64>(&on, Uplo::Upper, 37, 16, 4));
        let s = GemmShape {
            m: 37,
            n: 21,
            k: 29,
            mb: 8,
            nb: 16,
            kb: 16,
        };
        worst = worst.max(gemm_case::<f64>(&on, GEMM_OPS[2], s, (0.7, -0.6), 5));
        let t = TrsmCase {
            side: Side::Right,
            uplo: Uplo::Upper,
            trans: Trans::Yes,
            diag: Diag::NonUnit,
            q: 37,
            nb: 16,
            r: 5,
            rb: 5,
        };
        worst = worst.max(trsm_case::<f64>(&on, t, -1.3, 6));
        report("cholesky/gemm/trsm", DType::F64, &on, worst);
    }
}

/// `DArray::cholesky` (lower, every processor) on an unpoisoned `rand_spd` matrix: the strictly
/// upper tiles keep their values.
#[test]
fn cholesky_default_leaves_the_upper_tiles() {
    let rt = common::cpu_runtime();
    let (n, nb) = (37, 8);
    let a = DArray::<f64>::rand_spd(&rt, n, Blocks::square(nb), 4);
    let a0 = read(&a, "rand_spd");
    a.cholesky().expect("cholesky of an SPD matrix");
    let got = read(&a, "cholesky");
    // Elements of tiles strictly above the diagonal.
    assert_untouched("cholesky: upper tiles", n, &got, &a0, |r, c| {
        r / nb < c / nb
    });
    let mut lower = a0.clone();
    for c in 0..n {
        for r in 0..c {
            lower[r + c * n] = f64::POISON;
        }
    }
    let mut factor = got;
    for c in 0..n {
        for r in 0..c {
            factor[r + c * n] = f64::POISON;
        }
    }
    check_factor("cholesky()", Uplo::Lower, n, &lower, &factor);
}

// ------------------------------------------------------------------------------ edge cases

/// `gemm` with an empty inner dimension (k = 0) is `C = beta C`; with `beta = 0` C is not read
/// (documented on `DArray::gemm`), so a NaN there must become 0.
#[test]
fn gemm_with_empty_inner_dimension_and_beta_zero_does_not_read_c() {
    // On the CPU and on a GPU (the kernels see empty operands).
    for rt in std::iter::once(common::cpu_runtime()).chain(common::gpu_runtime()) {
        let a = DArray::<f64>::zeros(&rt, 5, 0, Blocks::new(2, 3));
        let b = DArray::<f64>::zeros(&rt, 0, 4, Blocks::new(3, 2));
        let c = DArray::from_vec(&rt, 5, 4, vec![f64::POISON; 20], Blocks::new(2, 2));
        c.gemm(1.5, &a, Trans::No, &b, Trans::No, 0.0, &Scope::all())
            .expect("gemm with k = 0");
        let got = read(&c, "gemm k=0 beta=0");
        assert!(
            got.iter().all(|&v| v == 0.0),
            "gemm with k = 0 and beta = 0 must give C = 0, got {got:?}"
        );
    }
}

#[test]
fn gemm_with_empty_inner_dimension_scales_c() {
    // On the CPU and on a GPU (the kernels see empty operands).
    for rt in std::iter::once(common::cpu_runtime()).chain(common::gpu_runtime()) {
        let a = DArray::<f64>::zeros(&rt, 0, 5, Blocks::new(3, 2));
        let b = DArray::<f64>::zeros(&rt, 0, 4, Blocks::new(3, 2));
        let c0 = random(3, 5, 4);
        let c = DArray::from_slice(&rt, 5, 4, &c0, Blocks::new(2, 2));
        c.gemm(1.5, &a, Trans::Yes, &b, Trans::No, -0.5, &Scope::all())
            .expect("gemm with k = 0");
        let want: Vec<f64> = c0.iter().map(|v| -0.5 * v).collect();
        assert_eq!(read(&c, "gemm k=0"), want, "C = beta C");
    }
}

/// `syrk` with k = 0 is `C = beta C` on the triangle, as `gemm` with k = 0 is.
#[test]
fn syrk_with_empty_inner_dimension_scales_c() {
    // On the CPU and on a GPU (the kernels see empty operands).
    for rt in std::iter::once(common::cpu_runtime()).chain(common::gpu_runtime()) {
        let n = 5;
        let a = DArray::<f64>::zeros(&rt, n, 0, Blocks::new(2, 2));
        let c0 = random(4, n, n);
        let c = DArray::from_slice(&rt, n, n, &c0, Blocks::square(2));
        c.syrk(Uplo::Lower, Trans::No, 1.0, &a, 0.5, &Scope::all())
            .expect("syrk with k = 0");
        let got = read(&c, "syrk k=0");
        for j in 0..n {
            for i in 0..n {
                let want = if i >= j {
                    0.5 * c0[i + j * n]
                } else {
                    c0[i + j * n]
                };
                assert_eq!(
                    got[i + j * n],
                    want,
                    "syrk with k = 0, beta = 0.5: element ({i}, {j})"
                );
            }
        }
    }
}

// --------------------------------------------------------------------------- shape errors

fn assert_shape_mismatch(what: &str, op: &str, got: tessera::Result<()>) {
    match got {
        Err(Error::ShapeMismatch { op: o, .. }) if o == op => {}
        other => panic!("{what}: expected Err(ShapeMismatch {{ op: {op:?}, .. }}), got {other:?}"),
    }
}

#[test]
fn gemm_shape_and_tiling_mismatches() {
    let rt = common::cpu_runtime();
    let s = Scope::all();
    let m = |r, c, mb, nb| DArray::<f64>::rand(&rt, r, c, Blocks::new(mb, nb), 1);
    let c = m(6, 5, 2, 2);
    let c0 = read(&c, "C");
    // (what, A, op on A, B, op on B)
    type Case<'a> = (&'a str, DArray<f64>, Trans, DArray<f64>, Trans);
    let cases: Vec<Case> = vec![
        (
            "inner dimension 4 vs 3",
            m(6, 4, 2, 2),
            Trans::No,
            m(3, 5, 2, 2),
            Trans::No,
        ),
        (
            "A^T's inner dimension",
            m(6, 4, 2, 2),
            Trans::Yes,
            m(4, 5, 2, 2),
            Trans::No,
        ),
        (
            "B^T's inner dimension",
            m(6, 4, 2, 2),
            Trans::No,
            m(4, 5, 2, 2),
            Trans::Yes,
        ),
        (
            "C has too few rows",
            m(7, 4, 2, 2),
            Trans::No,
            m(4, 5, 2, 2),
            Trans::No,
        ),
        (
            "C has too many columns",
            m(6, 4, 2, 2),
            Trans::No,
            m(4, 4, 2, 2),
            Trans::No,
        ),
        (
            "inner tiles 2 vs 3",
            m(6, 4, 2, 2),
            Trans::No,
            m(4, 5, 3, 2),
            Trans::No,
        ),
        (
            "A's row tiles 3, C's 2",
            m(6, 4, 3, 2),
            Trans::No,
            m(4, 5, 2, 2),
            Trans::No,
        ),
        (
            "B's column tiles 3, C's 2",
            m(6, 4, 2, 2),
            Trans::No,
            m(4, 5, 2, 3),
            Trans::No,
        ),
        (
            "A^T's tiles do not line up",
            m(4, 6, 3, 2),
            Trans::Yes,
            m(4, 5, 2, 2),
            Trans::No,
        ),
    ];
    for (what, a, ta, b, tb) in cases {
        assert_shape_mismatch(what, "gemm", c.gemm(1.0, &a, ta, &b, tb, 1.0, &s));
    }
    assert_untouched("gemm mismatches: C", 6, &read(&c, "C"), &c0, |_, _| true);
    let got = m(6, 4, 2, 2).matmul(&m(5, 5, 2, 2)).map(|_| ());
    assert_shape_mismatch("matmul 6x4 * 5x5", "gemm", got);
    let got = m(6, 4, 2, 2).matmul(&m(4, 5, 3, 2)).map(|_| ());
    assert_shape_mismatch("matmul, inner tiles 2 vs 3", "gemm", got);
}

#[test]
fn trsm_cholesky_and_syrk_shape_mismatches() {
    let rt = common::cpu_runtime();
    let s = Scope::all();
    let m = |r, c, mb, nb| DArray::<f64>::rand(&rt, r, c, Blocks::new(mb, nb), 2);
    let spd = |n, nb| DArray::<f64>::rand_spd(&rt, n, Blocks::square(nb), 3);
    let (l, u, n, nu) = (Uplo::Lower, Uplo::Upper, Trans::No, Diag::NonUnit);

    let b = m(6, 4, 2, 2);
    let b0 = read(&b, "B");
    let trsm = |a: &DArray<f64>, side| a.trsm(side, l, n, nu, 1.0, &b, &s);
    assert_shape_mismatch("trsm, A 6x5", "trsm", trsm(&m(6, 5, 2, 2), Side::Left));
    assert_shape_mismatch(
        "trsm, A's tiles 2x3",
        "trsm",
        trsm(&m(6, 6, 2, 3), Side::Left),
    );
    assert_shape_mismatch("trsm left, A 4x4", "trsm", trsm(&m(4, 4, 2, 2), Side::Left));
    assert_shape_mismatch(
        "trsm right, A 6x6",
        "trsm",
        trsm(&m(6, 6, 2, 2), Side::Right),
    );
    assert_shape_mismatch(
        "trsm left, A's tiles 3",
        "trsm",
        trsm(&m(6, 6, 3, 3), Side::Left),
    );
    assert_untouched("trsm mismatches: B", 6, &read(&b, "B"), &b0, |_, _| true);
    trsm(&spd(4, 2), Side::Right).expect("the right side fits");

    let a = m(6, 5, 2, 2);
    assert_shape_mismatch("cholesky 6x5", "cholesky", a.cholesky());
    assert_shape_mismatch("cholesky_with 6x5", "cholesky", a.cholesky_with(u, &s));
    let a = DArray::<f64>::rand_spd(&rt, 6, Blocks::new(2, 3), 3);
    assert_shape_mismatch("cholesky, tiles 2x3", "cholesky", a.cholesky());

    let a = spd(6, 2);
    let a0 = read(&a, "A");
    let b = m(5, 3, 2, 2);
    assert_shape_mismatch(
        "factor_and_solve, B 5x3",
        "trsm",
        a.factor_and_solve(l, &b, &s),
    );
    assert_shape_mismatch("cholesky_solve, B 5x3", "trsm", a.cholesky_solve(l, &b, &s));
    let b = m(6, 3, 3, 2);
    assert_shape_mismatch(
        "factor_and_solve, B's tiles 3",
        "trsm",
        a.factor_and_solve(u, &b, &s),
    );
    assert_untouched("mismatches: A", 6, &read(&a, "A"), &a0, |_, _| true);
    assert_shape_mismatch(
        "factor_and_solve, A 6x5",
        "cholesky",
        m(6, 5, 2, 2).factor_and_solve(l, &m(6, 2, 2, 2), &s),
    );

    let syrk = |c: &DArray<f64>, t, a: &DArray<f64>| c.syrk(l, t, 1.0, a, 1.0, &s);
    assert_shape_mismatch(
        "syrk, C 6x5",
        "syrk",
        syrk(&m(6, 5, 2, 2), n, &m(6, 3, 2, 2)),
    );
    assert_shape_mismatch(
        "syrk, A 5x3",
        "syrk",
        syrk(&m(6, 6, 2, 2), n, &m(5, 3, 2, 2)),
    );
    assert_shape_mismatch(
        "syrk, A^T 3x6",
        "syrk",
        syrk(&m(6, 6, 2, 2), Trans::Yes, &m(6, 3, 2, 2)),
    );
    assert_shape_mismatch(
        "syrk, A's tiles 3",
        "syrk",
        syrk(&m(6, 6, 2, 2), n, &m(6, 3, 3, 2)),
    );
}

// ------------------------------------------------------------------------------ DArray basics

const TILINGS: [(usize, usize); 6] = [(1, 1), (3, 8), (8, 3), (16, 16), (32, 5), (64, 64)];

#[test]
fn from_fn_from_vec_and_to_vec_round_trip_on_ragged_tilings() {
    let rt = common::cpu_runtime();
    for (rows, cols) in [(1, 1), (5, 3), (37, 21), (3, 100)] {
        let v: Vec<f64> = (0..rows * cols).map(|x| x as f64 + 0.5).collect();
        for (mb, nb) in TILINGS {
            let what = format!("{rows}x{cols} in {mb}x{nb} tiles");
            let made = [
                DArray::from_fn(&rt, rows, cols, Blocks::new(mb, nb), |r, c| {
                    (r + c * rows) as f64 + 0.5
                }),
                DArray::from_vec(&rt, rows, cols, v.clone(), Blocks::new(mb, nb)),
                DArray::from_slice(&rt, rows, cols, &v, Blocks::new(mb, nb)),
            ];
            for a in made {
                assert_eq!((a.rows(), a.cols()), (rows, cols), "{what}");
                assert_eq!(a.tile_size(), (mb, nb), "{what}");
                assert_eq!(
                    (a.mt(), a.nt()),
                    (rows.div_ceil(mb), cols.div_ceil(nb)),
                    "{what}"
                );
                assert_eq!(a.tiles().len(), a.mt() * a.nt(), "{what}");
                assert_eq!(read(&a, &what), v, "{what}: to_vec");
                // Each tile holds its block, column-major, the last ones ragged.
                for j in 0..a.nt() {
                    for i in 0..a.mt() {
                        let t = a.tile(i, j);
                        let (tr, tc) = (mb.min(rows - i * mb), nb.min(cols - j * nb));
                        assert_eq!((t.rows(), t.cols()), (tr, tc), "{what}: tile ({i}, {j})");
                        let want: Vec<f64> = (0..tr * tc)
                            .map(|x| v[i * mb + x % tr + (j * nb + x / tr) * rows])
                            .collect();
                        assert_eq!(t.to_vec().unwrap(), want, "{what}: tile ({i}, {j})");
                    }
                }
            }
        }
    }
    let z = DArray::<f32>::zeros(&rt, 37, 21, Blocks::new(8, 16));
    assert_eq!(read(&z, "zeros"), vec![0.0; 37 * 21]);
}

#[test]
fn a_view_of_whole_tiles_shares_them() {
    let rt = common::cpu_runtime();
    let (rows, cols) = (37, 21);
    let v: Vec<f64> = (0..rows * cols).map(|x| x as f64).collect();
    let a = DArray::from_slice(&rt, rows, cols, &v, Blocks::new(8, 8));
    // Tile rows 1..5 (the last one ragged, 5 rows) and tile columns 1..3 (the last 5 columns).
    let view = a.view(1..5, 1..3);
    assert_eq!((view.rows(), view.cols()), (29, 13));
    assert_eq!((view.mt(), view.nt()), (4, 2));
    assert_eq!(view.tile_size(), (8, 8));
    for j in 0..2 {
        for i in 0..4 {
            assert_eq!(view.tile(i, j).id(), a.tile(i + 1, j + 1).id());
        }
    }
    let inside = |r: usize, c: usize| r >= 8 && c >= 8;
    let want: Vec<f64> = (0..29 * 13)
        .map(|x| v[8 + x % 29 + (8 + x / 29) * rows])
        .collect();
    assert_eq!(read(&view, "view"), want);
    // A write through the view is a write to the parent.
    rt.datadeps(|r| {
        for t in view.tiles() {
            r.spawn(builtin::scale(-2.0f64), ReadWrite(t));
        }
    })
    .unwrap();
    let got = read(&a, "parent");
    for x in 0..rows * cols {
        let (r, c) = (x % rows, x / rows);
        let want = if inside(r, c) { -2.0 * v[x] } else { v[x] };
        assert_eq!(
            got[x], want,
            "parent element ({r}, {c}) after scaling the view"
        );
    }
    // An algorithm on a view: factor the leading 16 x 16 block of an SPD matrix in place.
    let n = 37;
    let s = DArray::<f64>::rand_spd(&rt, n, Blocks::square(8), 9);
    let s0 = read(&s, "spd");
    let lead = s.view(0..2, 0..2);
    lead.cholesky().expect("the leading block is SPD");
    let got = read(&s, "spd after");
    assert_untouched("outside the view", n, &got, &s0, |r, c| r >= 16 || c >= 16);
    let lead0: Vec<f64> = (0..256)
        .map(|x| {
            if x % 16 >= x / 16 {
                s0[x % 16 + (x / 16) * n]
            } else {
                f64::POISON
            }
        })
        .collect();
    let lead_got: Vec<f64> = (0..256)
        .map(|x| {
            if x % 16 >= x / 16 {
                got[x % 16 + (x / 16) * n]
            } else {
                f64::POISON
            }
        })
        .collect();
    check_factor("cholesky of a view", Uplo::Lower, 16, &lead0, &lead_got);
}

#[test]
fn identity_rand_and_rand_spd() {
    let rt = common::cpu_runtime();
    for n in [1, 5, 37] {
        let eye = DArray::<f32>::identity(&rt, n, Blocks::new(3, 8));
        let got = read(&eye, "identity");
        for (x, &g) in got.iter().enumerate() {
            let want = if x % n == x / n { 1.0 } else { 0.0 };
            assert_eq!(g, want, "identity({n}) element ({}, {})", x % n, x / n);
        }
    }
    // rand: the same values for any tiling, different for another seed, in [-1, 1).
    let (rows, cols) = (37, 21);
    let first = read(
        &DArray::<f64>::rand(&rt, rows, cols, Blocks::new(1, 1), 42),
        "rand",
    );
    for (mb, nb) in TILINGS {
        let a = DArray::<f64>::rand(&rt, rows, cols, Blocks::new(mb, nb), 42);
        assert_eq!(read(&a, "rand"), first, "rand in {mb}x{nb} tiles");
    }
    let auto = DArray::<f64>::rand(&rt, rows, cols, AutoBlocks, 42);
    assert_eq!(read(&auto, "rand"), first, "rand with AutoBlocks");
    assert!(
        first.iter().all(|v| (-1.0..1.0).contains(v)),
        "entries in [-1, 1)"
    );
    let other = read(
        &DArray::<f64>::rand(&rt, rows, cols, Blocks::new(8, 8), 43),
        "rand",
    );
    let same = first.iter().zip(&other).filter(|(a, b)| a == b).count();
    assert!(
        same < 5,
        "seeds 42 and 43 agree in {same} of {} elements",
        first.len()
    );
    let single = read(
        &DArray::<f32>::rand(&rt, rows, cols, Blocks::new(16, 5), 42),
        "rand",
    );
    let want: Vec<f32> = first.iter().map(|&v| v as f32).collect();
    assert_eq!(single, want, "f32 rand is f64 rand rounded");
    // rand_spd is spd_element, symmetric, for any tiling.
    for n in [1, 5, 37] {
        for (mb, _) in TILINGS {
            let a = read(
                &DArray::<f64>::rand_spd(&rt, n, Blocks::square(mb), 7),
                "rand_spd",
            );
            for x in 0..n * n {
                let (r, c) = (x % n, x / n);
                assert_eq!(
                    a[x],
                    tessera::spd_element(7, n, r, c),
                    "rand_spd({n}) ({r}, {c})"
                );
                assert_eq!(
                    a[x],
                    a[c + r * n],
                    "rand_spd({n}) is symmetric at ({r}, {c})"
                );
            }
        }
        let a = read(
            &DArray::<f32>::rand_spd(&rt, n, Blocks::square(3), 7),
            "rand_spd",
        );
        for (x, &g) in a.iter().enumerate() {
            assert_eq!(g, tessera::spd_element(7, n, x % n, x / n) as f32);
        }
    }
}

#[test]
fn ndarray_and_faer_round_trips() {
    let rt = common::cpu_runtime();
    let (rows, cols) = (37, 21);
    let a = DArray::<f64>::rand(&rt, rows, cols, Blocks::new(8, 3), 5);
    let v = read(&a, "a");

    let nd = a.to_ndarray().expect("to_ndarray");
    assert_eq!(nd.dim(), (rows, cols));
    for c in 0..cols {
        for r in 0..rows {
            assert_eq!(nd[[r, c]], v[r + c * rows], "to_ndarray ({r}, {c})");
        }
    }
    for (mb, nb) in TILINGS {
        let back = DArray::from_ndarray(&rt, &nd, Blocks::new(mb, nb));
        assert_eq!(back.tile_size(), (mb, nb));
        assert_eq!(
            read(&back, "from_ndarray"),
            v,
            "from_ndarray in {mb}x{nb} tiles"
        );
    }

    let fm = a.to_faer().expect("to_faer");
    assert_eq!((fm.nrows(), fm.ncols()), (rows, cols));
    for c in 0..cols {
        for r in 0..rows {
            assert_eq!(fm[(r, c)], v[r + c * rows], "to_faer ({r}, {c})");
        }
    }
    for (mb, nb) in TILINGS {
        let back = DArray::from_faer(&rt, fm.as_ref(), Blocks::new(mb, nb));
        assert_eq!(read(&back, "from_faer"), v, "from_faer in {mb}x{nb} tiles");
    }
    // Through a factorization: ndarray in, faer out, residual checked.
    let n = 21;
    let spd = ndarray::Array2::from_shape_fn((n, n), |(r, c)| tessera::spd_element(8, n, r, c));
    let d = DArray::from_ndarray(&rt, &spd, Blocks::square(8));
    d.cholesky().expect("cholesky");
    let l = d.to_faer().expect("to_faer");
    let a0: Vec<f64> = (0..n * n)
        .map(|x| {
            if x % n >= x / n {
                spd[[x % n, x / n]]
            } else {
                f64::POISON
            }
        })
        .collect();
    let got: Vec<f64> = (0..n * n)
        .map(|x| {
            if x % n >= x / n {
                l[(x % n, x / n)]
            } else {
                f64::POISON
            }
        })
        .collect();
    check_factor("cholesky via ndarray and faer", Uplo::Lower, n, &a0, &got);
}
