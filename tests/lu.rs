//! LU factorization (`DArray::lu`, `lu_nopiv`), the solves (`lu_solve`, `solve` with
//! `Structure::General` and `Structure::Spd`), `inverse`, and the mixed-precision f64 solve, on
//! f64 and f32, under the CPU, one GPU, CPU + GPU (placed by the model, and spread so that
//! tiles move between the CPU and the GPU in mid-factorization) and three virtual GPUs (f16 too
//! on the CPU), and in the CPU or the GPU scope of a runtime with both. A scope of the host's
//! cores (the CPU, with lavapipe or not) runs LU's CPU-only kernels (the panel and each
//! interchange on a whole tile column) beside GEMM and TRSM anywhere; a scope with a GPU of its
//! own (the GPU configurations, the GPU scope) the chunk-pair kernels every processor has. Then singular matrices (the typed error with its
//! column), shape errors, and mixed precision on a GPU without `SHADER_F64` (the runtime opened
//! with `RuntimeBuilder::mask_gpu_caps(Caps::F64)`), its f64 fallback, and on the CPU.
//!
//! Sizes are ragged on purpose: 1, a tile minus one, a tile, a tile plus one, several ragged
//! tiles, tiles larger than the matrix, and tall matrices (more rows than columns). Inputs are
//! seeded (ChaCha8, entries in [-1, 1] rounded to the element type); references are computed
//! on the host in f64 with products split exactly and sums in twice the working precision
//! (`common::Exact`), so the host adds no error.
//!
//! Bounds (`u` the unit roundoff of the element type, `n` the number of columns; Higham,
//! *Accuracy and Stability of Numerical Algorithms*, 2nd ed.):
//! - LU, element by element: `|P A - L^ U^| <= c n u |L^| |U^|`, **c = 2** (`C_LU`). Thm 9.3
//!   gives `gamma_k` (`k <= n` products) for any order of the inner products' sums (the tiled
//!   algorithm sums in tile order); scaling by the pivot costs one more rounding (a division)
//!   or two (faer multiplies by its reciprocal), `k + 1 <= 2n`. The tightest case is a single
//!   column, `l = fl(fl(1/p) a)`, where errors reach 0.8 of the bound. With partial
//!   pivoting every `|l_ij| <= 1` as well (checked: it shows the pivots were the column
//!   maxima). The relative residual `||P A - L^ U^|| / ||A||` is reported beside it.
//! - Solves, with `R = A X^ - B`: `||R|| <= c n u || |L^| |U^| || ||X^||` (infinity norms),
//!   **c = 6** (`C_SOLVE`): Thm 9.4 gives `gamma_{3n}` (`3n + 3 <= 6n` with the divisions of
//!   the three triangular and panel solves); for Cholesky `|L^| |L^T|` replaces `|L^| |U^|`
//!   (Thm 10.4, `gamma_{3n+1}`).
//! - Inverse, with `R = A X^ - I`: the solve bound with `B = I` and `|L^| |U^|` of a separate
//!   factorization of the same matrix on the same processors.
//! - Mixed precision (`u` of f64): `||B - A X^|| <= c n u (||A|| ||X^|| + ||B||)`, **c = 3**
//!   (`C_MIXED`): the solve stops when the residual computed in f64 is at most
//!   `sqrt(n) u ||A|| ||X^||` (LAPACK `dsgesv`'s test), and computing it in f64 errs by at most
//!   `gamma_{n+1} (|B| + |A| |X^|)`; `sqrt(n) + n + 1 <= 3n`.
//!
//! Math names: `m, n` rows and columns, `nb` tile size, `r` right-hand sides.

use std::fmt::Debug;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera::kernels::dense::Float;
use tessera::linalg::{Structure, Uplo};
use tessera::{
    Blocks, Caps, DArray, DType, Error, Placement, PlacementQuery, Processor, Runtime, Scope,
};

use crate::common::{self, Exact, Worst, within};

/// The constant of the LU bound (module docs).
const C_LU: f64 = 2.0;
/// The constant of the solve bound.
const C_SOLVE: f64 = 6.0;
/// The constant of the mixed-precision bound (module docs).
const C_MIXED: f64 = 3.0;
/// Seconds an operation of these sizes may take before it counts as a hang.
const WATCHDOG: u64 = 120;

trait Real: Float + Debug {
    /// Unit roundoff.
    const U: f64;
}

impl Real for f64 {
    const U: f64 = f64::EPSILON / 2.0;
}

impl Real for f32 {
    const U: f64 = f32::EPSILON as f64 / 2.0;
}

/// f16 tiles accumulate in f32 but every tile result is stored in f16: its unit roundoff.
impl Real for half::f16 {
    const U: f64 = 1.0 / 2048.0;
}

// ------------------------------------------------------------------------ configurations

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    Cpu,
    Gpu,
    Mixed,
    ThreeGpus,
    MixedSpread,
}

struct On {
    label: String,
    rt: Runtime,
    scope: Scope,
    /// A GPU takes part: few, small cases.
    small: bool,
}

/// Places task `t` on candidate `t mod candidates`.
struct Spread;

impl Placement for Spread {
    fn place(&self, q: &PlacementQuery<'_>) -> usize {
        (q.task.get() % q.candidates.len() as u64) as usize
    }

    fn name(&self) -> &str {
        "spread (tests/lu.rs)"
    }
}

fn spread_runtime() -> Option<Runtime> {
    static RT: std::sync::OnceLock<Option<Runtime>> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        let built = Runtime::builder()
            .ignore_env()
            .devices(common::adapter())
            .cpu(true)
            .cpu_threads(2)
            .placement(Spread)
            .build();
        match built {
            Ok(rt) if rt.gpu_count() > 0 => Some(rt),
            other => {
                let why = match other {
                    Ok(_) => "no GPU adapter".to_string(),
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
            Config::MixedSpread => ("cpu + gpu, spread", spread_runtime()?, Scope::all()),
        };
        Some(On {
            label: label.into(),
            rt,
            scope,
            small: self != Config::Cpu,
        })
    }
}

impl On {
    /// Whether `T` can run here (a GPU-only runtime needs f64 on its GPUs for f64).
    fn runs<T: Real>(&self) -> bool {
        if self.rt.has_cpu() || T::DTYPE != DType::F64 {
            return true;
        }
        let ok = self
            .rt
            .processors()
            .iter()
            .filter(|p| p.adapter.is_some())
            .all(|p| p.caps().contains(Caps::F64));
        if !ok {
            eprintln!("lu: f64 not run on {}: the GPU lacks it", self.label);
        }
        ok
    }

    /// With spreading placement, every processor ran some of the tasks.
    fn assert_spread(&self) {
        if self.rt.placement() != Spread.name() {
            return;
        }
        for p in self.rt.stats().processors {
            assert!(p.tasks > 0, "{}: {} ran no task", self.label, p.name);
        }
    }
}

fn guarded<R: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> tessera::Result<R> + Send + 'static,
) -> R {
    within(WATCHDOG, what, f).unwrap_or_else(|e| panic!("{what}: {e}"))
}

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

fn norm_inf(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> f64 {
    (0..rows)
        .map(|r| (0..cols).map(|c| f(r, c).abs()).sum::<f64>())
        .fold(0.0, f64::max)
}

fn report(op: &str, dtype: DType, on: &On, worst: f64) {
    eprintln!(
        "lu: {op} {dtype} on {}: worst error/bound ratio {worst:.4}",
        on.label
    );
}

// ------------------------------------------------------------------------------ checks

/// The factors in `f` (`m x n`, LAPACK layout) as f64: `L` (`m x n`, unit diagonal) and `U`
/// (`n x n`) element accessors.
struct Factors {
    m: usize,
    n: usize,
    f: Vec<f64>,
}

impl Factors {
    fn new<T: Real>(m: usize, n: usize, f: &[T]) -> Factors {
        Factors {
            m,
            n,
            f: f.iter().map(|v| v.to_f64()).collect(),
        }
    }

    fn l(&self, i: usize, p: usize) -> f64 {
        match i.cmp(&p) {
            std::cmp::Ordering::Greater => self.f[i + p * self.m],
            std::cmp::Ordering::Equal => 1.0,
            std::cmp::Ordering::Less => 0.0,
        }
    }

    fn u(&self, p: usize, j: usize) -> f64 {
        if p <= j { self.f[p + j * self.m] } else { 0.0 }
    }

    /// `(|L| |U|)_ij`.
    fn lu_abs(&self, i: usize, j: usize) -> f64 {
        (0..=i.min(j).min(self.n - 1))
            .map(|p| (self.l(i, p) * self.u(p, j)).abs())
            .sum()
    }

    /// `|| |L| |U| ||` (infinity norm).
    fn norm_lu_abs(&self) -> f64 {
        norm_inf(self.m, self.n, |i, j| self.lu_abs(i, j))
    }
}

/// The permutation of LAPACK-style `ipiv`: row `i` of `P A` is row `perm[i]` of `A`.
fn permutation(ipiv: &[usize], m: usize) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..m).collect();
    for (r, &p) in ipiv.iter().enumerate() {
        perm.swap(r, p);
    }
    perm
}

/// Checks factors `got` of the `m x n` matrix `a0` with interchanges `ipiv` (`None`: no
/// pivoting) against the LU bound. Returns the worst error/bound ratio.
fn check_lu<T: Real>(
    what: &str,
    m: usize,
    n: usize,
    a0: &[T],
    got: &[T],
    ipiv: Option<&[usize]>,
) -> f64 {
    let bad = got.iter().position(|v| !v.to_f64().is_finite());
    assert!(
        bad.is_none(),
        "{what}: the factors are not finite at element {bad:?}"
    );
    let perm = match ipiv {
        Some(ipiv) => {
            assert_eq!(ipiv.len(), n, "{what}: one interchange per column");
            for (r, &p) in ipiv.iter().enumerate() {
                assert!(
                    r <= p && p < m,
                    "{what}: ipiv[{r}] = {p} must lie in {r}..{m}"
                );
            }
            permutation(ipiv, m)
        }
        None => (0..m).collect(),
    };
    let f = Factors::new(m, n, got);
    if ipiv.is_some() {
        for j in 0..n {
            for i in j + 1..m {
                assert!(
                    f.l(i, j).abs() <= 1.0,
                    "{what}: |L({i}, {j})| = {} > 1: the pivot of column {j} was not the largest",
                    f.l(i, j).abs()
                );
            }
        }
    }
    let a = |i: usize, j: usize| a0[perm[i] + j * m].to_f64();
    let mut worst = Worst::default();
    let mut residual = 0.0f64;
    for i in 0..m {
        let mut row = 0.0;
        for j in 0..n {
            let mut e = Exact::default();
            e.add(a(i, j));
            for p in 0..=i.min(j).min(n - 1) {
                e.add_prod(-f.l(i, p), f.u(p, j));
            }
            let err = e.value().abs();
            row += err;
            let bound = C_LU * n as f64 * T::U * f.lu_abs(i, j);
            worst.see((i, j), got[i + j * m].to_f64(), a(i, j), err, bound);
        }
        residual = residual.max(row);
    }
    let ratio = worst.verdict(what, "2 n u (|L^| |U^|)_ij");
    let norm_a = norm_inf(m, n, a);
    let relative = if norm_a > 0.0 {
        residual / norm_a
    } else {
        residual
    };
    RELATIVE.with(|r| r.set(r.get().max(relative / (n as f64 * T::U))));
    ratio
}

thread_local! {
    /// The largest `||P A - L^ U^|| / (||A|| n u)` the checks of this thread saw (reported).
    static RELATIVE: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Checks `X^` (`got`, `n x r`) against `A X = B` with the solve bound, `norm_lu` being
/// `|| |L^| |U^| ||` of the factors used.
fn check_solve<T: Real>(
    what: &str,
    n: usize,
    a0: &[T],
    b0: &[f64],
    got: &[T],
    norm_lu: f64,
) -> f64 {
    let r = b0.len() / n;
    let bad = got.iter().position(|v| !v.to_f64().is_finite());
    assert!(bad.is_none(), "{what}: X is not finite at element {bad:?}");
    let x: Vec<f64> = got.iter().map(|v| v.to_f64()).collect();
    let mut res = vec![0.0; n * r];
    for j in 0..r {
        for i in 0..n {
            let mut e = Exact::default();
            for l in 0..n {
                e.add_prod(a0[i + l * n].to_f64(), x[l + j * n]);
            }
            e.add(-b0[i + j * n]);
            res[i + j * n] = e.value();
        }
    }
    let norm_r = norm_inf(n, r, |i, j| res[i + j * n]);
    let norm_x = norm_inf(n, r, |i, j| x[i + j * n]);
    let bound = C_SOLVE * n as f64 * T::U * norm_lu * norm_x;
    let ratio = if norm_r == 0.0 { 0.0 } else { norm_r / bound };
    let worst = (0..n * r)
        .max_by(|&p, &q| res[p].abs().total_cmp(&res[q].abs()))
        .expect("B is not empty");
    assert!(
        ratio <= 1.0,
        "{what}: ||A X^ - B|| = {norm_r:.3e} exceeds the bound {bound:.3e} = 6 n u || |L^||U^| || \
         ||X^|| with n = {n} ({ratio:.2} times the bound); the worst residual element is (row \
         {}, col {}): {:.3e}",
        worst % n,
        worst / n,
        res[worst]
    );
    ratio
}

// -------------------------------------------------------------------------------- cases

/// `(m, n, nb)` of the factorization cases.
fn lu_sizes(on: &On) -> Vec<(usize, usize, usize)> {
    if on.small {
        vec![
            (5, 5, 3),
            (33, 33, 16),
            (37, 37, 64),
            (40, 40, 8),
            (100, 37, 16),
        ]
    } else {
        vec![
            (1, 1, 1),
            (1, 1, 8),
            (5, 5, 3),
            (7, 7, 8),
            (8, 8, 8),
            (9, 9, 8),
            (37, 37, 1),
            (37, 37, 8),
            (37, 37, 16),
            (37, 37, 64),
            (64, 64, 16),
            (100, 100, 16),
            (100, 100, 32),
            (9, 1, 4),
            (37, 5, 8),
            (50, 16, 16),
            (100, 37, 16),
            (130, 70, 32),
        ]
    }
}

/// A matrix for LU without pivoting: random, plus `n` on the diagonal (diagonally dominant).
fn dominant(seed: u64, m: usize, n: usize) -> Vec<f64> {
    let mut v = random(seed, m, n);
    for d in 0..n.min(m) {
        v[d + d * m] += n as f64;
    }
    v
}

fn lu_case<T: Real>(on: &On, (m, n, nb): (usize, usize, usize), pivot: bool, seed: u64) -> f64 {
    let what = format!(
        "{} {} {m}x{n} nb={nb} on {}",
        if pivot { "lu" } else { "lu_nopiv" },
        T::DTYPE,
        on.label
    );
    let a0: Vec<T> = rounded(&if pivot {
        random(seed, m, n)
    } else {
        dominant(seed, m, n)
    });
    let a = DArray::from_slice(&on.rt, m, n, &a0, Blocks::square(nb));
    let (a2, scope) = (a.clone(), on.scope.clone());
    let ipiv = guarded(&what, move || {
        if pivot {
            a2.lu_with(&scope).and_then(|p| p.to_vec()).map(Some)
        } else {
            a2.lu_nopiv(&scope).map(|()| None)
        }
    });
    check_lu(&what, m, n, &a0, &read(&a, &what), ipiv.as_deref())
}

fn lu_dtype<T: Real>(on: &On) {
    if !on.runs::<T>() {
        return;
    }
    let mut worst = 0.0f64;
    for (x, &size) in lu_sizes(on).iter().enumerate() {
        worst = worst.max(lu_case::<T>(on, size, true, 10 + x as u64));
        worst = worst.max(lu_case::<T>(on, size, false, 40 + x as u64));
    }
    report("lu/lu_nopiv", T::DTYPE, on, worst);
    eprintln!(
        "lu: lu/lu_nopiv {} on {}: largest ||P A - L^ U^|| / ||A|| = {:.3} n u",
        T::DTYPE,
        on.label,
        RELATIVE.with(|r| r.replace(0.0))
    );
}

fn lu_suite(config: Config) {
    let Some(on) = config.on() else { return };
    lu_dtype::<f64>(&on);
    lu_dtype::<f32>(&on);
    if !on.small {
        let mut worst = 0.0f64;
        for (x, &size) in [(20, 20, 8), (37, 16, 16)].iter().enumerate() {
            worst = worst.max(lu_case::<half::f16>(&on, size, true, 60 + x as u64));
            worst = worst.max(lu_case::<half::f16>(&on, size, false, 65 + x as u64));
        }
        report("lu/lu_nopiv", DType::F16, &on, worst);
    }
    on.assert_spread();
}

/// `(n, nb, r, rb)` of the solve cases.
fn solve_sizes(on: &On) -> Vec<(usize, usize, usize, usize)> {
    if on.small {
        vec![(37, 16, 13, 5)]
    } else {
        vec![
            (1, 1, 2, 1),
            (5, 3, 2, 1),
            (37, 8, 13, 5),
            (100, 16, 7, 7),
            (100, 128, 3, 2),
        ]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// `lu_with` then `lu_solve`.
    Separate,
    /// `solve(Structure::General, ..)`.
    General,
    /// `solve(Structure::Spd(uplo), ..)`.
    Spd(Uplo),
}

fn solve_case<T: Real>(
    on: &On,
    (n, nb, r, rb): (usize, usize, usize, usize),
    how: How,
    seed: u64,
) -> f64 {
    let what = format!(
        "solve ({how:?}) {} n={n} nb={nb}, B {n}x{r} in {nb}x{rb} tiles, on {}",
        T::DTYPE,
        on.label
    );
    let a0: Vec<T> = match how {
        How::Spd(_) => (0..n * n)
            .map(|x| T::from_f64(tessera::spd_element(seed, n, x % n, x / n)))
            .collect(),
        _ => rounded(&random(seed, n, n)),
    };
    let b0: Vec<T> = rounded(&random(seed + 1000, n, r));
    let a = DArray::from_slice(&on.rt, n, n, &a0, Blocks::square(nb));
    let b = DArray::from_slice(&on.rt, n, r, &b0, Blocks::new(nb, rb));
    let (a2, b2, scope) = (a.clone(), b.clone(), on.scope.clone());
    let ipiv = guarded(&what, move || match how {
        How::Separate => {
            let p = a2.lu_with(&scope)?;
            a2.lu_solve(&p, &b2, &scope)?;
            p.to_vec().map(Some)
        }
        How::General => a2.solve(Structure::General, &b2, &scope).map(|()| None),
        How::Spd(uplo) => a2.solve(Structure::Spd(uplo), &b2, &scope).map(|()| None),
    });
    let factors = read(&a, &what);
    let norm_lu = match how {
        How::Spd(uplo) => {
            // |L| |L^T| from the Cholesky factor in the uplo triangle.
            let f: Vec<f64> = factors.iter().map(|v| v.to_f64()).collect();
            let l = |i: usize, p: usize| match uplo {
                Uplo::Lower if i >= p => f[i + p * n],
                Uplo::Upper if i >= p => f[p + i * n],
                _ => 0.0,
            };
            norm_inf(n, n, |i, j| {
                (0..=i.min(j)).map(|p| (l(i, p) * l(j, p)).abs()).sum()
            })
        }
        How::Separate => {
            check_lu(
                &format!("{what}: the factors"),
                n,
                n,
                &a0,
                &factors,
                ipiv.as_deref(),
            );
            Factors::new(n, n, &factors).norm_lu_abs()
        }
        How::General => Factors::new(n, n, &factors).norm_lu_abs(),
    };
    let b64: Vec<f64> = b0.iter().map(|v| v.to_f64()).collect();
    check_solve(&what, n, &a0, &b64, &read(&b, &what), norm_lu)
}

fn inverse_case<T: Real>(on: &On, n: usize, nb: usize, seed: u64) -> f64 {
    let what = format!("inverse {} n={n} nb={nb} on {}", T::DTYPE, on.label);
    let a0: Vec<T> = rounded(&random(seed, n, n));
    let a = DArray::from_slice(&on.rt, n, n, &a0, Blocks::square(nb));
    let (a2, scope) = (a.clone(), on.scope.clone());
    let x = guarded(&what, move || a2.inverse(&scope));
    assert_eq!(read(&a, &what), a0, "{what}: A must be left as it was");
    // |L| |U| of the same matrix factored on the same processors.
    let f = DArray::from_slice(&on.rt, n, n, &a0, Blocks::square(nb));
    let (f2, scope) = (f.clone(), on.scope.clone());
    guarded(&what, move || f2.lu_with(&scope));
    let norm_lu = Factors::new(n, n, &read(&f, &what)).norm_lu_abs();
    let identity: Vec<f64> = (0..n * n)
        .map(|x| if x % n == x / n { 1.0 } else { 0.0 })
        .collect();
    check_solve(&what, n, &a0, &identity, &read(&x, &what), norm_lu)
}

fn solve_dtype<T: Real>(on: &On) {
    if !on.runs::<T>() {
        return;
    }
    let mut worst = 0.0f64;
    for (x, &size) in solve_sizes(on).iter().enumerate() {
        for how in [
            How::Separate,
            How::General,
            How::Spd(Uplo::Lower),
            How::Spd(Uplo::Upper),
        ] {
            worst = worst.max(solve_case::<T>(on, size, how, 70 + x as u64));
        }
    }
    let inverses: &[(usize, usize)] = if on.small {
        &[(37, 16)]
    } else {
        &[(1, 1), (9, 8), (37, 8), (100, 32)]
    };
    for (x, &(n, nb)) in inverses.iter().enumerate() {
        worst = worst.max(inverse_case::<T>(on, n, nb, 90 + x as u64));
    }
    report("solve/inverse", T::DTYPE, on, worst);
}

fn solve_suite(config: Config) {
    let Some(on) = config.on() else { return };
    solve_dtype::<f64>(&on);
    solve_dtype::<f32>(&on);
    on.assert_spread();
}

// ----------------------------------------------------------------------------- singular

/// `(n, nb, column)`: a zero column inside a later tile, in the ragged last tile, first in a
/// tile, the first column, with 1 x 1 tiles and with a tile larger than the matrix.
fn singular_cases(on: &On) -> Vec<(usize, usize, usize)> {
    let mut v = vec![(50, 16, 45), (50, 16, 48), (50, 16, 49)];
    if !on.small {
        v.extend([(50, 16, 0), (50, 16, 17), (7, 1, 4), (50, 64, 45)]);
    }
    v
}

fn singular_case<T: Real>(on: &On, (n, nb, col): (usize, usize, usize)) {
    for op in ["lu", "lu_nopiv", "solve", "inverse"] {
        let what = format!(
            "{op} {} n={n} nb={nb} with column {col} zero, on {}",
            T::DTYPE,
            on.label
        );
        let mut v = if op == "lu_nopiv" {
            dominant(5, n, n)
        } else {
            random(5, n, n)
        };
        v[col * n..(col + 1) * n].fill(0.0);
        let a = DArray::from_slice(&on.rt, n, n, &rounded::<T>(&v), Blocks::square(nb));
        let b = DArray::<T>::rand(&on.rt, n, 2, Blocks::new(nb, 2), 6);
        let scope = on.scope.clone();
        let got = within(WATCHDOG, &what, move || match op {
            "lu" => a.lu_with(&scope).map(|_| ()),
            "lu_nopiv" => a.lu_nopiv(&scope),
            "solve" => a.solve(Structure::General, &b, &scope),
            _ => a.inverse(&scope).map(|_| ()),
        });
        match got {
            Err(Error::Singular { column }) if column == col => {}
            other => panic!("{what}: expected Err(Singular {{ column: {col} }}), got {other:?}"),
        }
    }
}

fn singular_suite(config: Config) {
    let Some(on) = config.on() else { return };
    for case in singular_cases(&on) {
        if on.runs::<f64>() {
            singular_case::<f64>(&on, case);
        }
        singular_case::<f32>(&on, case);
    }
    // The runtime is still usable.
    let ratio = lu_case::<f32>(&on, (37, 37, 16), true, 3);
    report("lu after failures", DType::F32, &on, ratio);
}

// ------------------------------------------------------------------- the configuration matrix

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
            fn mixed_spread() {
                super::$suite(Config::MixedSpread);
            }
        }
    )*};
}

on_every_config! {
    factor => lu_suite;
    solve => solve_suite;
    singular => singular_suite;
}

// ------------------------------------------------------------------------- other checks

#[test]
fn shape_errors() {
    let rt = common::cpu_runtime();
    let wide = DArray::<f64>::rand(&rt, 5, 8, Blocks::square(4), 1);
    assert!(matches!(wide.lu(), Err(Error::ShapeMismatch { .. })));
    let odd_tiles = DArray::<f64>::rand(&rt, 8, 8, Blocks::new(4, 2), 1);
    assert!(matches!(odd_tiles.lu(), Err(Error::ShapeMismatch { .. })));
    let tall = DArray::<f64>::rand(&rt, 8, 4, Blocks::square(4), 1);
    let b = DArray::<f64>::rand(&rt, 8, 1, Blocks::square(4), 2);
    assert!(matches!(
        tall.solve(Structure::General, &b, &Scope::all()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        tall.inverse(&Scope::all()),
        Err(Error::ShapeMismatch { .. })
    ));
    let a = DArray::<f64>::rand(&rt, 8, 8, Blocks::square(4), 3);
    let b = DArray::<f64>::rand(&rt, 8, 1, Blocks::square(2), 2);
    assert!(matches!(
        a.solve(Structure::General, &b, &Scope::all()),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn pivots_are_lapack_style() {
    // A = [[1, 2], [3, 4]]: the pivot of column 0 is row 1.
    let rt = common::cpu_runtime();
    let a = DArray::from_vec(&rt, 2, 2, vec![1.0f64, 3.0, 2.0, 4.0], Blocks::square(1));
    let p = a.lu().unwrap();
    assert_eq!(p.to_vec().unwrap(), vec![1, 1]);
    assert_eq!(p.permutation().unwrap(), vec![1, 0]);
    assert_eq!(p.len(), 2);
    // L = [[1, 0], [1/3, 1]], U = [[3, 4], [0, 2/3]].
    let f = a.to_vec().unwrap();
    assert_eq!((f[0], f[2]), (3.0, 4.0));
    assert!((f[1] - 1.0 / 3.0).abs() < 1e-16 && (f[3] - 2.0 / 3.0).abs() < 1e-15);
}

// ---------------------------------------------------------------------- mixed precision

/// A runtime whose GPU has no `SHADER_F64` (masked), with or without the CPU.
fn f32_gpu_runtime(cpu: bool) -> Option<Runtime> {
    let built = Runtime::builder()
        .ignore_env()
        .devices(common::adapter())
        .cpu(cpu)
        .cpu_threads(2)
        .mask_gpu_caps(Caps::F64)
        .build();
    match built {
        Ok(rt) if rt.gpu_count() > 0 => Some(rt),
        other => {
            let why = match other {
                Ok(_) => "no GPU adapter".to_string(),
                Err(e) => e.to_string(),
            };
            assert!(!common::gpu_required(), "TESSERA_REQUIRE_GPU=1 but: {why}");
            eprintln!("skipping GPU test: {why}");
            None
        }
    }
}

/// Checks the mixed-precision solve's answer: its backward error in exact arithmetic.
fn check_backward(what: &str, n: usize, a0: &[f64], b0: &[f64], x: &[f64]) -> f64 {
    let r = b0.len() / n;
    let mut norm_r = 0.0f64;
    for i in 0..n {
        let mut row = 0.0;
        for j in 0..r {
            let mut e = Exact::default();
            for l in 0..n {
                e.add_prod(a0[i + l * n], x[l + j * n]);
            }
            e.add(-b0[i + j * n]);
            row += e.value().abs();
        }
        norm_r = norm_r.max(row);
    }
    let norm_a = norm_inf(n, n, |i, j| a0[i + j * n]);
    let norm_x = norm_inf(n, r, |i, j| x[i + j * n]);
    let norm_b = norm_inf(n, r, |i, j| b0[i + j * n]);
    let bound = C_MIXED * n as f64 * f64::EPSILON / 2.0 * (norm_a * norm_x + norm_b);
    let ratio = norm_r / bound;
    assert!(
        ratio <= 1.0,
        "{what}: ||B - A X^|| = {norm_r:.3e} exceeds 3 n u (||A|| ||X^|| + ||B||) = {bound:.3e} \
         ({ratio:.2} times)"
    );
    ratio
}

#[test]
fn mixed_precision_reaches_f64_accuracy_on_an_f32_only_gpu() {
    let Some(rt) = f32_gpu_runtime(false) else {
        return;
    };
    assert!(
        rt.processors()
            .iter()
            .filter(|p| p.adapter.is_some())
            .all(|p| !p.caps().contains(Caps::F64)),
        "the mask must hide SHADER_F64"
    );
    for (x, &(n, nb, r)) in [(37usize, 16usize, 3usize), (100, 32, 5)]
        .iter()
        .enumerate()
    {
        let what = format!("solve_mixed n={n} nb={nb} r={r} on a GPU without f64");
        let a0 = random(200 + x as u64, n, n);
        let b0 = random(300 + x as u64, n, r);
        let a = DArray::from_slice(&rt, n, n, &a0, Blocks::square(nb));
        let b = DArray::from_slice(&rt, n, r, &b0, Blocks::new(nb, r));
        let before = rt
            .stats()
            .get(Processor::Gpu(tessera::DeviceId(0)))
            .map(|s| s.tasks);
        let (a2, b2) = (a.clone(), b.clone());
        let outcome = guarded(&what, move || a2.solve_mixed(&b2, &Scope::all()));
        assert!(
            !outcome.fell_back,
            "{what}: refinement must converge for a random matrix: {outcome:?}"
        );
        assert!(outcome.iterations >= 1, "{what}: {outcome:?}");
        let after = rt
            .stats()
            .get(Processor::Gpu(tessera::DeviceId(0)))
            .map(|s| s.tasks);
        assert!(
            after > before,
            "{what}: the GPU ran no task ({before:?} -> {after:?})"
        );
        assert_eq!(read(&a, &what), a0, "{what}: A must be left as it was");
        let ratio = check_backward(&what, n, &a0, &b0, &read(&b, &what));
        eprintln!(
            "lu: {what}: {} refinement steps, backward error / bound {ratio:.3}",
            outcome.iterations
        );
    }
}

#[test]
fn mixed_precision_falls_back_to_f64_when_refinement_stalls() {
    let Some(rt) = f32_gpu_runtime(true) else {
        return;
    };
    // The Hilbert matrix of order 12: condition number about 1.7e16, far beyond f32's 1/u, so
    // refinement with f32 factors cannot converge; f64 LU is still backward stable.
    let n = 12;
    let a0: Vec<f64> = (0..n * n)
        .map(|x| 1.0 / ((x % n + x / n) as f64 + 1.0))
        .collect();
    let b0 = random(401, n, 2);
    let a = DArray::from_slice(&rt, n, n, &a0, Blocks::square(5));
    let b = DArray::from_slice(&rt, n, 2, &b0, Blocks::new(5, 2));
    let (a2, b2) = (a.clone(), b.clone());
    let outcome = guarded("solve_mixed, ill-conditioned", move || {
        a2.solve_mixed(&b2, &Scope::all())
    });
    assert!(outcome.fell_back, "expected the f64 fallback: {outcome:?}");
    check_backward(
        "solve_mixed fallback",
        n,
        &a0,
        &b0,
        &read(&b, "solve_mixed fallback"),
    );
}

#[test]
fn mixed_precision_on_the_cpu_and_singular_input() {
    let rt = common::cpu_runtime();
    let n = 37;
    let a0 = random(500, n, n);
    let b0 = random(501, n, 4);
    let a = DArray::from_slice(&rt, n, n, &a0, Blocks::square(8));
    let b = DArray::from_slice(&rt, n, 4, &b0, Blocks::new(8, 3));
    let outcome = a.solve_mixed(&b, &Scope::all()).unwrap();
    assert!(!outcome.fell_back, "{outcome:?}");
    check_backward("solve_mixed on the cpu", n, &a0, &b0, &b.to_vec().unwrap());
    let mut s = random(502, n, n);
    s[9 * n..10 * n].fill(0.0);
    let a = DArray::from_slice(&rt, n, n, &s, Blocks::square(8));
    match a.solve_mixed(&b, &Scope::all()) {
        Err(Error::Singular { column: 9 }) => {}
        other => panic!("expected Err(Singular {{ column: 9 }}), got {other:?}"),
    }
}

/// Narrower scopes of a runtime with a GPU: the CPU alone (the CPU-only panel and interchange
/// kernels, while the runtime has a GPU) and the GPU alone (the chunk-pair kernels).
#[test]
fn lu_and_solve_in_narrower_scopes() {
    let Some(rt) = common::mixed_runtime() else {
        return;
    };
    for (label, scope) in [("cpu", Scope::cpu()), ("gpu 0", Scope::gpu(0))] {
        let on = On {
            label: format!("cpu + gpu, scope {label}"),
            rt: rt.clone(),
            scope,
            small: true,
        };
        let mut worst = lu_case::<f64>(&on, (40, 40, 8), true, 7);
        worst = worst.max(lu_case::<f32>(&on, (100, 37, 16), true, 8));
        worst = worst.max(solve_case::<f64>(&on, (37, 16, 13, 5), How::General, 9));
        report("lu/solve", DType::F64, &on, worst);
    }
}
