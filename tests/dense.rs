//! The dense tile kernels `gemm`, `syrk`, `trsm` and `potrf` (`tessera::kernels::dense`) on f32,
//! f64 and f16 tiles, on a CPU-only runtime and on a GPU-only runtime (one device, no CPU
//! processor), where every configuration runs once per GPU variant of its kernel, forced with
//! `Kernel::with_gpu_variant` (variants added later are covered without touching this file; a
//! variant that applies to none of the shapes below fails the test). Then their failure modes:
//! non-positive-definite tiles, shape mismatches, and a device without the element type.
//!
//! Each configuration (kernel flags, element type, processor, variant) spawns all its sizes in
//! one datadeps region, reads the results back with `Chunk::to_vec` and checks them against
//! references computed on the host from the same seeded inputs (ChaCha8, entries in [-1, 1]
//! rounded to the element type; the references use the rounded values, so rounding the inputs
//! to f16 costs nothing). Sizes are 1, 7, 31, 32, 33, 64, 100 and 128 (around the GPU kernels'
//! 8-, 32- and 64-wide tiles) plus non-square shapes, all of them for f32 on both processors; f64
//! and f16 run a subset, and two of the four gemm transpose pairs each (together all four). That
//! keeps the GPU pipelines lavapipe compiles on a cold shader cache to about a hundred.
//!
//! Poison: outputs that must not be read (C with `beta = 0`) and triangles that must be neither
//! read nor written (the other triangle of syrk's C, of trsm's A and of potrf's A, and the
//! diagonal of trsm's A with `Diag::Unit`) hold NaN before the kernel. Results must be finite and
//! within the bounds below, and the untouched parts bit-identical afterwards (for potrf that is
//! checked by `potrf_leaves_the_other_triangle_untouched_*`, with finite values too, and on
//! failing tiles). The NaN carries a payload so a recomputed value is told apart; for f32 and f64
//! it is a signalling NaN, so that even arithmetic on it shows (it comes back quiet). For f16 it
//! is a quiet NaN, because the CPU half widens whole f16 tiles to f32 and back, which quiets
//! signalling NaNs; `syrk_f16_keeps_a_signalling_nan_in_the_other_triangle_*` checks that case.
//!
//! Bounds. `u` is the unit roundoff of the accumulation type (f32 2^-24, f64 2^-53, and f32's
//! 2^-24 for f16 tiles, whose kernels are documented to accumulate in f32); `s` is the rounding
//! of storing a result into the element type when that is narrower: 0 for f32 and f64, f16's
//! 2^-11 for f16 (with `lambda = 2^-14`, f16's smallest normal number, for results in its
//! subnormal range). Unit roundoffs of the element types are f32 2^-24, f64 2^-53, f16 2^-11.
//! - gemm, `C = alpha op(A) op(B) + beta C0`, elementwise:
//!   `|C^ - C| <= e (1 + s) + s |C| + lambda s` with
//!   `e = c k u |alpha| (|op(A)| |op(B)|)_ij + c u |beta C0_ij|` and **c = 3**: a k-term dot
//!   product is off by k roundings (gamma_k), scaling by alpha and adding beta C0 (itself
//!   rounded) by two more, and k + 2 <= 3k for k >= 1.
//! - syrk, `C = alpha op(A) op(A)^T + beta C0` on the referenced triangle: the gemm bound with
//!   `op(B) = op(A)^T`, **c = 3** for the same reason.
//! - trsm, normwise in the infinity norm, with `R = op(A) X^ - alpha B` (left) or
//!   `X^ op(A) - alpha B` (right) and `n` the order of `A`:
//!   `||R|| / (||op(A)|| ||X^|| + |alpha| ||B||) <= c (n u + s)`, **c = 2**: substitution
//!   solves a system perturbed by `|dA| <= gamma_n |A|` row by row (Higham, *Accuracy and
//!   Stability of Numerical Algorithms*, 2nd ed., Thm 8.5; faer's blocked solve stays within a
//!   small multiple), alpha B is rounded once, and rounding each unknown to f16 adds
//!   `s |op(A)| |X^|`. `A` is well conditioned (diagonal entries of magnitude in [1, 2],
//!   off-diagonal entries in [-1, 1] / n), so `X` stays of the size of `B`.
//! - potrf on `A = B B^T + n I`: `||A - L^ L^T|| / ||A|| <= c n u_T` in the infinity norm, with
//!   `u_T` the element type's own unit roundoff (2^-11 for f16: the GPU kernel stores each
//!   trailing update in f16), and **c = 4**: the computed factor satisfies
//!   `|A - L^ L^T| <= gamma_{n+3} |L^| |L^|^T` (Higham Thm 10.3 gives gamma_{n+1} for the
//!   textbook algorithm; faer forms each diagonal entry as `a_jj * (1 / sqrt(a_jj))`, two
//!   roundings more). With `rho = || |L^| |L^|^T || / ||A||`: for n <= 2, `|L^| |L^|^T = |A|`
//!   up to rounding, so rho = 1 and n + 3 <= 4n; for n >= 3, n + 3 <= 2n and rho <= 2 for these
//!   diagonally dominant tiles (a premise checked on every computed factor; measured <= 1.61).
//!
//! The analysis assumes correctly rounded `+ - * / sqrt` and round-to-nearest conversions, as
//! IEEE 754 gives on the CPU and lavapipe gives on the GPU. WGSL allows a device f32 division
//! and square roots within 2.5 ULP and narrowing conversions to either neighbour, so on such a
//! device the smallest trsm and potrf cases and f16 results could exceed these bounds by a small
//! factor without a bug; that would call for device-specific constants, not looser ones here.
//!
//! The errors themselves are measured exactly enough that the f64 host arithmetic adds nothing,
//! even for f64: products are split with TwoProduct (an FMA) and the terms summed with Sum2/Dot2
//! (Ogita, Rump, Oishi, "Accurate sum and dot product", SIAM J. Sci. Comput. 26(6), 2005).
//! A failure reports the configuration, the worst element (row, column), the computed value,
//! the reference, the error and the bound. Each suite prints its worst error/bound ratio.

use std::collections::BTreeMap;

use half::f16;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera::kernels::dense::{self, Diag, Float, Side, Trans, Uplo};
use tessera::{
    Access, Caps, Chunk, DType, Error, KernelCall, KernelError, Launch, Processor, Read, ReadWrite,
    Region, Runtime, Shape, TaskFailure,
};

use crate::common::{self, Exact, Worst};

/// The constant of the gemm bound (module docs).
const C_GEMM: f64 = 3.0;
/// The constant of the syrk bound.
const C_SYRK: f64 = 3.0;
/// The constant of the trsm bound.
const C_TRSM: f64 = 2.0;
/// The constant of the potrf bound, valid while `|| |L^| |L^|^T || <= POTRF_RHO * ||A||`
/// (module docs).
const C_POTRF: f64 = 4.0;
/// The premise of [`C_POTRF`].
const POTRF_RHO: f64 = 2.0;

/// Square sizes: 1, around the 8-wide GPU workgroups (7), around 32 (31, 32, 33), 64, a ragged
/// multi-tile size (100) and 128.
const SQUARE: [usize; 8] = [1, 7, 31, 32, 33, 64, 100, 128];

// --------------------------------------------------------------------------- element types

/// What the checks need to know about an element type.
trait Real: Float {
    /// Unit roundoff of the accumulation type.
    const U_ACC: f64;
    /// Unit roundoff of the element type itself.
    const U_T: f64;
    /// Smallest positive normal number of the element type.
    const LAMBDA_T: f64;
    /// The NaN written where nothing may be read or written (module docs).
    const POISON: Self;
    /// A signalling NaN with a payload (the same as `POISON` for f32 and f64).
    const SIGNALLING: Self;
    /// `v` rounded to the scalar (alpha, beta) type, and that scalar's exact value.
    fn scalar_exact(v: f64) -> (Self::Scalar, f64);
    /// `s` of the module docs: the rounding of storing an accumulated result.
    fn store_u() -> f64 {
        if Self::U_T > Self::U_ACC {
            Self::U_T
        } else {
            0.0
        }
    }
}

impl Real for f32 {
    const U_ACC: f64 = f32::EPSILON as f64 / 2.0;
    const U_T: f64 = f32::EPSILON as f64 / 2.0;
    const LAMBDA_T: f64 = f32::MIN_POSITIVE as f64;
    const POISON: Self = f32::from_bits(0x7F80_5A5A);
    const SIGNALLING: Self = Self::POISON;
    fn scalar_exact(v: f64) -> (f32, f64) {
        (v as f32, f64::from(v as f32))
    }
}

impl Real for f64 {
    const U_ACC: f64 = f64::EPSILON / 2.0;
    const U_T: f64 = f64::EPSILON / 2.0;
    const LAMBDA_T: f64 = f64::MIN_POSITIVE;
    const POISON: Self = f64::from_bits(0x7FF0_0000_0000_5A5A);
    const SIGNALLING: Self = Self::POISON;
    fn scalar_exact(v: f64) -> (f64, f64) {
        (v, v)
    }
}

impl Real for f16 {
    const U_ACC: f64 = f32::EPSILON as f64 / 2.0;
    const U_T: f64 = 1.0 / 2048.0;
    const LAMBDA_T: f64 = 1.0 / 16384.0;
    const POISON: Self = f16::from_bits(0x7E5A);
    const SIGNALLING: Self = f16::from_bits(0x7C5A);
    fn scalar_exact(v: f64) -> (f32, f64) {
        (v as f32, f64::from(v as f32))
    }
}

/// The GPU capabilities the docs say an element type needs (written out here rather than taken
/// from the library, so a wrong requirement there shows).
fn needed_caps(d: DType) -> Caps {
    match d {
        DType::F64 => Caps::F64,
        DType::F16 => Caps::F16,
        _ => Caps::NONE,
    }
}

fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    rng.random_range(-1.0..=1.0)
}

fn random<T: Real>(rng: &mut ChaCha8Rng, len: usize) -> Vec<T> {
    (0..len).map(|_| T::from_f64(uniform(rng))).collect()
}

fn shape<T: Real>(rows: usize, cols: usize) -> Shape {
    Shape {
        rows,
        cols,
        dtype: T::DTYPE,
    }
}

fn same_bits<T: Real>(a: T, b: T) -> bool {
    bytemuck::bytes_of(&a) == bytemuck::bytes_of(&b)
}

fn letter(t: Trans) -> char {
    if t == Trans::Yes { 't' } else { 'n' }
}

/// `A = B B^T + n I` for a random `n x n` `B` with entries in [-1, 1], in f64.
fn spd(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    let b: Vec<f64> = (0..n * n).map(|_| uniform(rng)).collect();
    let mut a = vec![0.0; n * n];
    for j in 0..n {
        for i in 0..n {
            let dot: f64 = (0..n).map(|l| b[i + l * n] * b[j + l * n]).sum();
            a[i + j * n] = dot + if i == j { n as f64 } else { 0.0 };
        }
    }
    a
}

// ------------------------------------------------------------------------- exact residuals

fn read<T: Real>(c: &Chunk<T>, what: &str) -> Vec<T> {
    c.to_vec()
        .unwrap_or_else(|e| panic!("reading back {what}: {e}"))
}

/// Checks that the elements where `keep(i, j)` holds are bit-identical to `expected`.
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
            "{what}: {} elements that must be neither read nor written changed; first at (row {}, \
             col {}): {:?} (bits {:02x?}) instead of {:?} (bits {:02x?})",
            bad.len(),
            x % rows,
            x / rows,
            got[x],
            bytemuck::bytes_of(&got[x]),
            expected[x],
            bytemuck::bytes_of(&expected[x]),
        );
    }
}

/// The bound of an element computed as `alpha * dot + beta * c0` in the accumulation type and
/// stored in `T` (module docs): `c` the documented constant, `k` the dot product's length, `mag`
/// `|alpha| sum |a_l b_l|`, `c0` `|beta c0|`, `reference` the exact result.
fn gemm_bound<T: Real>(c: f64, k: usize, mag: f64, c0: f64, reference: f64) -> f64 {
    let (u, s) = (T::U_ACC, T::store_u());
    let e = c * k as f64 * u * mag + c * u * c0;
    e * (1.0 + s) + s * reference.abs() + T::LAMBDA_T * s
}

// ------------------------------------------------------------------------------ the driver

/// Where cases run: a runtime and, on a GPU, the one variant every call is forced to use.
struct Target {
    rt: Runtime,
    label: String,
    variant: Option<String>,
}

impl Target {
    /// `call` as this target runs it: forced to the variant, or `None` if the variant does not
    /// apply to these shapes.
    fn prepare(&self, call: KernelCall, shapes: &[Shape]) -> Option<KernelCall> {
        let Some(v) = &self.variant else {
            return Some(call);
        };
        let kernel = call.kernel().with_gpu_variant(v).unwrap_or_else(|| {
            panic!("kernel `{}` has no GPU variant `{v}`", call.kernel().name())
        });
        let forced = kernel.call(call.params().iter().copied());
        let launch = Launch {
            shapes,
            params: forced.params(),
        };
        let gpu = kernel.gpu().expect("a forced kernel has its GPU half");
        assert_eq!(
            gpu.variants().len(),
            1,
            "with_gpu_variant keeps one variant"
        );
        gpu.variants()[0].applies_to(&launch).then_some(forced)
    }
}

/// One call of a kernel with its inputs, chunks and check.
trait Case {
    /// The call, with every GPU variant.
    fn call(&self) -> KernelCall;
    /// The shapes of the call's arguments.
    fn shapes(&self) -> Vec<Shape>;
    fn spawn(&self, r: &Region<'_>, call: KernelCall);
    /// Checks the results (panicking with the worst element) and returns the worst
    /// error/bound ratio.
    fn check(&self, on: &str) -> f64;
}

/// Spawns every case that the target can run in one region, then checks them.
fn run_cases<C: Case>(t: &Target, cases: &[C]) -> f64 {
    let calls: Vec<Option<KernelCall>> = cases
        .iter()
        .map(|c| t.prepare(c.call(), &c.shapes()))
        .collect();
    if let Some(c) = cases.first() {
        assert!(
            calls.iter().any(Option::is_some),
            "`{}` on {} applies to none of the {} test cases: add a shape it handles",
            c.call().kernel().name(),
            t.label,
            cases.len()
        );
    }
    let outcome = t.rt.datadeps(|r| {
        for (c, call) in cases.iter().zip(&calls) {
            if let Some(call) = call {
                c.spawn(r, call.clone());
            }
        }
    });
    if let Err(e) = &outcome
        && t.variant.is_some()
        && common::adapter() != "lavapipe"
        && is_no_processor(e)
    {
        // A variant may need more than the kernel (subgroups of some size), which the public
        // API does not expose; lavapipe has everything, so there every variant must run.
        eprintln!(
            "{}: not run, the device cannot run this variant: {e}",
            t.label
        );
        return 0.0;
    }
    outcome.unwrap_or_else(|e| panic!("dense region on {} failed: {e}", t.label));
    cases
        .iter()
        .zip(&calls)
        .filter(|(_, call)| call.is_some())
        .map(|(c, _)| c.check(&t.label))
        .fold(0.0, f64::max)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum On {
    Cpu,
    Gpu,
}

/// The GPU-only runtime and its device's name, if there is a GPU that can run `T` tiles. A device
/// lacking the capability must refuse the first of `probe`'s cases with `NoProcessor`; lavapipe
/// has them all.
fn gpu_for<T: Real, C: Case>(probe: impl FnOnce(&Runtime) -> Vec<C>) -> Option<(Runtime, String)> {
    let rt = common::gpu_runtime()?;
    assert!(!rt.has_cpu(), "the GPU runtime must have no CPU processor");
    let gpus: Vec<_> = rt
        .processors()
        .into_iter()
        .filter(|p| p.processor != Processor::Cpu)
        .collect();
    assert_eq!(gpus.len(), 1, "the GPU runtime has one device");
    let (name, has) = (gpus[0].name.clone(), gpus[0].caps());
    let needs = needed_caps(T::DTYPE);
    if has.contains(needs) {
        return Some((rt, name));
    }
    assert_ne!(
        common::adapter(),
        "lavapipe",
        "lavapipe offers SHADER_F64 and SHADER_F16, but {name} reports only {has}"
    );
    let cases = probe(&rt);
    let c = &cases[0];
    let err = rt
        .datadeps(|r| c.spawn(r, c.call()))
        .expect_err("a task needing a missing capability must fail");
    assert_no_processor(&err, c.call().kernel().name(), T::DTYPE);
    eprintln!(
        "dense {} kernels not run on {name}: it lacks {} (checked that they fail with \
         NoProcessor)",
        T::DTYPE,
        needs.missing_from(has)
    );
    None
}

/// Runs `make(rt, op)`'s cases for every op: on the CPU in one region; on the GPU in one region
/// per op and GPU variant of the op's kernel. Prints the worst error/bound ratio per processor
/// and variant.
fn suite<T: Real, O: Copy, C: Case>(
    on: On,
    kernel: &str,
    ops: &[O],
    make: impl Fn(&Runtime, O) -> Vec<C>,
) {
    let report = |label: &str, worst: f64| {
        eprintln!(
            "dense: {kernel} {} on {label}: worst error/bound ratio {worst:.4}",
            T::DTYPE
        );
    };
    match on {
        On::Cpu => {
            let t = Target {
                rt: common::cpu_runtime(),
                label: "cpu".into(),
                variant: None,
            };
            let cases: Vec<C> = ops.iter().flat_map(|&op| make(&t.rt, op)).collect();
            report(&t.label, run_cases(&t, &cases));
        }
        On::Gpu => {
            let Some((rt, name)) = gpu_for::<T, C>(|rt| make(rt, ops[0])) else {
                return;
            };
            let mut worst: BTreeMap<String, f64> = BTreeMap::new();
            for &op in ops {
                let mut fresh = Some(make(&rt, op));
                let gpu = fresh.as_ref().expect("just made")[0]
                    .call()
                    .kernel()
                    .gpu()
                    .expect("dense kernels have a GPU half")
                    .clone();
                for v in gpu.variants() {
                    let t = Target {
                        rt: rt.clone(),
                        label: format!("gpu {name}, variant {}", v.name()),
                        variant: Some(v.name().to_string()),
                    };
                    let cases = fresh.take().unwrap_or_else(|| make(&rt, op));
                    let w = run_cases(&t, &cases);
                    let e = worst.entry(v.name().to_string()).or_insert(0.0);
                    *e = e.max(w);
                }
            }
            for (v, w) in worst {
                report(&format!("gpu {name}, variant {v}"), w);
            }
        }
    }
}

// ------------------------------------------------------------------------------------ gemm

/// `C = alpha op(A) op(B) + beta C0` with `op(A)` m x k and `op(B)` k x n.
struct Gemm<T: Real> {
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: (T::Scalar, f64),
    beta: (T::Scalar, f64),
    a: Vec<T>,
    b: Vec<T>,
    c0: Vec<T>,
    ca: Chunk<T>,
    cb: Chunk<T>,
    cc: Chunk<T>,
}

const GEMM_OPS: [(Trans, Trans); 4] = [
    (Trans::No, Trans::No),
    (Trans::No, Trans::Yes),
    (Trans::Yes, Trans::No),
    (Trans::Yes, Trans::Yes),
];
/// The transpose pairs f64 runs.
const GEMM_OPS_F64: [(Trans, Trans); 2] = [GEMM_OPS[0], GEMM_OPS[3]];
/// The transpose pairs f16 runs.
const GEMM_OPS_F16: [(Trans, Trans); 2] = [GEMM_OPS[1], GEMM_OPS[2]];

/// `(m, n, k)`: every square size and non-square shapes (for f32), or a subset.
fn gemm_dims(all: bool) -> Vec<(usize, usize, usize)> {
    let squares: Vec<usize> = if all {
        SQUARE.to_vec()
    } else {
        vec![1, 33, 64]
    };
    let mut d: Vec<_> = squares.into_iter().map(|n| (n, n, n)).collect();
    d.extend([(33, 7, 100), (1, 128, 5)]);
    if all {
        d.extend([(128, 1, 33), (7, 33, 1)]);
    }
    d
}

impl<T: Real> Gemm<T> {
    fn a_dims(&self) -> (usize, usize) {
        if self.ta == Trans::Yes {
            (self.k, self.m)
        } else {
            (self.m, self.k)
        }
    }

    fn b_dims(&self) -> (usize, usize) {
        if self.tb == Trans::Yes {
            (self.n, self.k)
        } else {
            (self.k, self.n)
        }
    }

    fn label(&self) -> String {
        format!(
            "gemm_{}{} {} m={} n={} k={} alpha={} beta={}",
            letter(self.ta),
            letter(self.tb),
            T::DTYPE,
            self.m,
            self.n,
            self.k,
            self.alpha.1,
            self.beta.1
        )
    }
}

fn gemm_cases<T: Real>(
    rt: &Runtime,
    (ta, tb): (Trans, Trans),
    dims: &[(usize, usize, usize)],
) -> Vec<Gemm<T>> {
    let mut rng = ChaCha8Rng::seed_from_u64(100 + 2 * ta as u64 + tb as u64);
    let mut out = Vec::new();
    for &(m, n, k) in dims {
        // beta = 0 (C poisoned, must not be read), a general beta, and beta = 1.
        for (alpha, beta) in [(-1.3, 0.0), (0.7, -0.6), (1.7, 1.0)] {
            let a: Vec<T> = random(&mut rng, m * k);
            let b: Vec<T> = random(&mut rng, k * n);
            let c0: Vec<T> = if beta == 0.0 {
                vec![T::POISON; m * n]
            } else {
                random(&mut rng, m * n)
            };
            let (ar, ac) = if ta == Trans::Yes { (k, m) } else { (m, k) };
            let (br, bc) = if tb == Trans::Yes { (n, k) } else { (k, n) };
            out.push(Gemm {
                ta,
                tb,
                m,
                n,
                k,
                alpha: T::scalar_exact(alpha),
                beta: T::scalar_exact(beta),
                ca: Chunk::from_slice(rt, ar, ac, &a),
                cb: Chunk::from_slice(rt, br, bc, &b),
                cc: Chunk::from_slice(rt, m, n, &c0),
                a,
                b,
                c0,
            });
        }
    }
    out
}

impl<T: Real> Case for Gemm<T> {
    fn call(&self) -> KernelCall {
        dense::gemm::<T>(self.ta, self.tb, self.alpha.0, self.beta.0)
    }

    fn shapes(&self) -> Vec<Shape> {
        let (ar, ac) = self.a_dims();
        let (br, bc) = self.b_dims();
        vec![
            shape::<T>(ar, ac),
            shape::<T>(br, bc),
            shape::<T>(self.m, self.n),
        ]
    }

    fn spawn(&self, r: &Region<'_>, call: KernelCall) {
        r.spawn(call, (Read(&self.ca), Read(&self.cb), ReadWrite(&self.cc)));
    }

    fn check(&self, on: &str) -> f64 {
        let what = format!("{} on {on}", self.label());
        let got = read(&self.cc, &what);
        let (m, n, k) = (self.m, self.n, self.k);
        let opa = |i: usize, l: usize| {
            if self.ta == Trans::Yes {
                self.a[l + i * k]
            } else {
                self.a[i + l * m]
            }
            .to_f64()
        };
        let opb = |l: usize, j: usize| {
            if self.tb == Trans::Yes {
                self.b[j + l * n]
            } else {
                self.b[l + j * k]
            }
            .to_f64()
        };
        let (alpha, beta) = (self.alpha.1, self.beta.1);
        let mut worst = Worst::default();
        for j in 0..n {
            for i in 0..m {
                let g = got[i + j * m].to_f64();
                let mut err = Exact::default();
                err.add(g);
                let (mut dot, mut mag) = (0.0, 0.0);
                for l in 0..k {
                    let (x, y) = (opa(i, l), opb(l, j));
                    err.add_prod3(-alpha, x, y);
                    dot += x * y;
                    mag += (x * y).abs();
                }
                let mut reference = alpha * dot;
                let mut c0 = 0.0;
                if beta != 0.0 {
                    let c = self.c0[i + j * m].to_f64();
                    err.add_prod(-beta, c);
                    reference += beta * c;
                    c0 = (beta * c).abs();
                }
                let bound = gemm_bound::<T>(C_GEMM, k, alpha.abs() * mag, c0, reference);
                worst.see((i, j), g, reference, err.value().abs(), bound);
            }
        }
        let (ar, br) = (self.a_dims().0, self.b_dims().0);
        assert_untouched(
            &format!("{what}: A"),
            ar,
            &read(&self.ca, &what),
            &self.a,
            |_, _| true,
        );
        assert_untouched(
            &format!("{what}: B"),
            br,
            &read(&self.cb, &what),
            &self.b,
            |_, _| true,
        );
        worst.verdict(
            &what,
            "3*k*u*|alpha|(|op(A)||op(B)|) + 3*u*|beta*C0| (+ the rounding of C to T)",
        )
    }
}

/// gemm on `ops` (every transpose pair for f32; for f64 and f16 two pairs each, which between
/// them cover every pair and give each variant both values of each flag: the GEMM variants are
/// the slowest pipelines for lavapipe to compile, up to a second each).
fn gemm_suite<T: Real>(on: On, all_sizes: bool, ops: &[(Trans, Trans)]) {
    let dims = gemm_dims(all_sizes);
    suite::<T, _, _>(on, "gemm", ops, |rt, op| gemm_cases::<T>(rt, op, &dims));
}

// ------------------------------------------------------------------------------------ syrk

/// `C = alpha op(A) op(A)^T + beta C0` on one triangle of the n x n `C`, `op(A)` n x k.
struct Syrk<T: Real> {
    uplo: Uplo,
    trans: Trans,
    n: usize,
    k: usize,
    alpha: (T::Scalar, f64),
    beta: (T::Scalar, f64),
    a: Vec<T>,
    c0: Vec<T>,
    ca: Chunk<T>,
    cc: Chunk<T>,
}

const SYRK_OPS: [(Uplo, Trans); 4] = [
    (Uplo::Lower, Trans::No),
    (Uplo::Lower, Trans::Yes),
    (Uplo::Upper, Trans::No),
    (Uplo::Upper, Trans::Yes),
];

/// `(n, k)`: every square size and non-square shapes (for f32), or a subset.
fn syrk_dims(all: bool) -> Vec<(usize, usize)> {
    let squares: Vec<usize> = if all {
        SQUARE.to_vec()
    } else {
        vec![1, 33, 64]
    };
    let mut d: Vec<_> = squares.into_iter().map(|n| (n, n)).collect();
    d.extend([(33, 100), (100, 7)]);
    if all {
        d.extend([(1, 128), (128, 1)]);
    }
    d
}

/// Whether `(i, j)` is in the `uplo` triangle (with the diagonal).
fn in_triangle(uplo: Uplo, i: usize, j: usize) -> bool {
    if uplo == Uplo::Lower { i >= j } else { i <= j }
}

fn uplo_letter(u: Uplo) -> char {
    if u == Uplo::Lower { 'l' } else { 'u' }
}

impl<T: Real> Syrk<T> {
    fn a_dims(&self) -> (usize, usize) {
        if self.trans == Trans::Yes {
            (self.k, self.n)
        } else {
            (self.n, self.k)
        }
    }

    fn label(&self) -> String {
        format!(
            "syrk_{}{} {} n={} k={} alpha={} beta={}",
            uplo_letter(self.uplo),
            letter(self.trans),
            T::DTYPE,
            self.n,
            self.k,
            self.alpha.1,
            self.beta.1
        )
    }
}

fn syrk_cases<T: Real>(
    rt: &Runtime,
    (uplo, trans): (Uplo, Trans),
    dims: &[(usize, usize)],
    poison: T,
) -> Vec<Syrk<T>> {
    let mut rng = ChaCha8Rng::seed_from_u64(200 + 2 * uplo as u64 + trans as u64);
    let mut out = Vec::new();
    for &(n, k) in dims {
        for (alpha, beta) in [(-1.3, 0.0), (0.7, -0.6)] {
            let a: Vec<T> = random(&mut rng, n * k);
            // The other triangle is poisoned always, the referenced one when beta = 0.
            let c0: Vec<T> = (0..n * n)
                .map(|x| {
                    let v = T::from_f64(uniform(&mut rng));
                    if beta != 0.0 && in_triangle(uplo, x % n, x / n) {
                        v
                    } else {
                        poison
                    }
                })
                .collect();
            let (ar, ac) = if trans == Trans::Yes { (k, n) } else { (n, k) };
            out.push(Syrk {
                uplo,
                trans,
                n,
                k,
                alpha: T::scalar_exact(alpha),
                beta: T::scalar_exact(beta),
                ca: Chunk::from_slice(rt, ar, ac, &a),
                cc: Chunk::from_slice(rt, n, n, &c0),
                a,
                c0,
            });
        }
    }
    out
}

impl<T: Real> Case for Syrk<T> {
    fn call(&self) -> KernelCall {
        dense::syrk::<T>(self.uplo, self.trans, self.alpha.0, self.beta.0)
    }

    fn shapes(&self) -> Vec<Shape> {
        let (ar, ac) = self.a_dims();
        vec![shape::<T>(ar, ac), shape::<T>(self.n, self.n)]
    }

    fn spawn(&self, r: &Region<'_>, call: KernelCall) {
        r.spawn(call, (Read(&self.ca), ReadWrite(&self.cc)));
    }

    fn check(&self, on: &str) -> f64 {
        let what = format!("{} on {on}", self.label());
        let got = read(&self.cc, &what);
        let (n, k) = (self.n, self.k);
        let opa = |i: usize, l: usize| {
            if self.trans == Trans::Yes {
                self.a[l + i * k]
            } else {
                self.a[i + l * n]
            }
            .to_f64()
        };
        let (alpha, beta) = (self.alpha.1, self.beta.1);
        let mut worst = Worst::default();
        for j in 0..n {
            for i in (0..n).filter(|&i| in_triangle(self.uplo, i, j)) {
                let g = got[i + j * n].to_f64();
                let mut err = Exact::default();
                err.add(g);
                let (mut dot, mut mag) = (0.0, 0.0);
                for l in 0..k {
                    let (x, y) = (opa(i, l), opa(j, l));
                    err.add_prod3(-alpha, x, y);
                    dot += x * y;
                    mag += (x * y).abs();
                }
                let mut reference = alpha * dot;
                let mut c0 = 0.0;
                if beta != 0.0 {
                    let c = self.c0[i + j * n].to_f64();
                    err.add_prod(-beta, c);
                    reference += beta * c;
                    c0 = (beta * c).abs();
                }
                let bound = gemm_bound::<T>(C_SYRK, k, alpha.abs() * mag, c0, reference);
                worst.see((i, j), g, reference, err.value().abs(), bound);
            }
        }
        assert_untouched(
            &format!("{what}: the other triangle of C"),
            n,
            &got,
            &self.c0,
            |i, j| !in_triangle(self.uplo, i, j),
        );
        worst.verdict(
            &what,
            "3*k*u*|alpha|(|op(A)||op(A)^T|) + 3*u*|beta*C0| (+ the rounding of C to T)",
        )
    }
}

fn syrk_suite<T: Real>(on: On, all_sizes: bool) {
    let dims = syrk_dims(all_sizes);
    suite::<T, _, _>(on, "syrk", &SYRK_OPS, |rt, op| {
        syrk_cases::<T>(rt, op, &dims, T::POISON)
    });
}

// ------------------------------------------------------------------------------------ trsm

/// Solves `op(A) X = alpha B` (left) or `X op(A) = alpha B` (right) for the m x n `X`.
struct Trsm<T: Real> {
    side: Side,
    uplo: Uplo,
    trans: Trans,
    diag: Diag,
    m: usize,
    n: usize,
    alpha: (T::Scalar, f64),
    a: Vec<T>,
    b: Vec<T>,
    ca: Chunk<T>,
    cb: Chunk<T>,
}

type TrsmOp = (Side, Uplo, Trans, Diag);

fn trsm_ops() -> Vec<TrsmOp> {
    let mut ops = Vec::new();
    for side in [Side::Left, Side::Right] {
        for uplo in [Uplo::Lower, Uplo::Upper] {
            for trans in [Trans::No, Trans::Yes] {
                for diag in [Diag::NonUnit, Diag::Unit] {
                    ops.push((side, uplo, trans, diag));
                }
            }
        }
    }
    ops
}

/// `(m, n)` of B: every square size and both tall and wide B (for f32), or a subset.
fn trsm_dims(all: bool) -> Vec<(usize, usize)> {
    let squares: Vec<usize> = if all { SQUARE.to_vec() } else { vec![1, 33] };
    let mut d: Vec<_> = squares.into_iter().map(|n| (n, n)).collect();
    d.extend([(100, 7), (7, 100)]);
    d
}

impl<T: Real> Trsm<T> {
    /// The order of A.
    fn q(&self) -> usize {
        if self.side == Side::Left {
            self.m
        } else {
            self.n
        }
    }

    /// Element (i, j) of the triangular matrix the kernel must see in A.
    fn tri(&self, i: usize, j: usize) -> f64 {
        if i == j && self.diag == Diag::Unit {
            1.0
        } else if in_triangle(self.uplo, i, j) {
            self.a[i + j * self.q()].to_f64()
        } else {
            0.0
        }
    }

    fn op_a(&self, i: usize, j: usize) -> f64 {
        if self.trans == Trans::Yes {
            self.tri(j, i)
        } else {
            self.tri(i, j)
        }
    }

    fn label(&self) -> String {
        format!(
            "trsm_{}{}{}{} {} m={} n={} alpha={}",
            if self.side == Side::Left { 'l' } else { 'r' },
            uplo_letter(self.uplo),
            letter(self.trans),
            if self.diag == Diag::Unit { 'u' } else { 'n' },
            T::DTYPE,
            self.m,
            self.n,
            self.alpha.1
        )
    }
}

fn trsm_cases<T: Real>(rt: &Runtime, op: TrsmOp, dims: &[(usize, usize)]) -> Vec<Trsm<T>> {
    let (side, uplo, trans, diag) = op;
    let seed = 300 + 8 * side as u64 + 4 * uplo as u64 + 2 * trans as u64 + diag as u64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for (x, &(m, n)) in dims.iter().enumerate() {
        let q = if side == Side::Left { m } else { n };
        // Well conditioned: |a_ii| in [1, 2], off-diagonal entries in [-1, 1] / q. The other
        // triangle, and with a unit diagonal the diagonal, are poison.
        let a: Vec<T> = (0..q * q)
            .map(|e| {
                let (i, j) = (e % q, e / q);
                let v = uniform(&mut rng);
                if i == j && diag == Diag::NonUnit {
                    T::from_f64(v.signum() * (1.0 + v.abs()))
                } else if i != j && in_triangle(uplo, i, j) {
                    T::from_f64(v / q as f64)
                } else {
                    T::POISON
                }
            })
            .collect();
        let b: Vec<T> = random(&mut rng, m * n);
        let alpha = if x % 2 == 0 { -1.3 } else { 0.7 };
        out.push(Trsm {
            side,
            uplo,
            trans,
            diag,
            m,
            n,
            alpha: T::scalar_exact(alpha),
            ca: Chunk::from_slice(rt, q, q, &a),
            cb: Chunk::from_slice(rt, m, n, &b),
            a,
            b,
        });
    }
    out
}

/// `max_i sum_j |f(i, j)|` over an `rows x cols` matrix.
fn norm_inf(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> f64 {
    (0..rows)
        .map(|i| (0..cols).map(|j| f(i, j).abs()).sum::<f64>())
        .fold(0.0, f64::max)
}

impl<T: Real> Case for Trsm<T> {
    fn call(&self) -> KernelCall {
        dense::trsm::<T>(self.side, self.uplo, self.trans, self.diag, self.alpha.0)
    }

    fn shapes(&self) -> Vec<Shape> {
        let q = self.q();
        vec![shape::<T>(q, q), shape::<T>(self.m, self.n)]
    }

    fn spawn(&self, r: &Region<'_>, call: KernelCall) {
        r.spawn(call, (Read(&self.ca), ReadWrite(&self.cb)));
    }

    fn check(&self, on: &str) -> f64 {
        let what = format!("{} on {on}", self.label());
        let got = read(&self.cb, &what);
        let (m, n, q, alpha) = (self.m, self.n, self.q(), self.alpha.1);
        let x: Vec<f64> = got.iter().map(|v| v.to_f64()).collect();
        if let Some(e) = x.iter().position(|v| !v.is_finite()) {
            panic!(
                "{what}: X has {} non-finite elements, the first at (row {}, col {}): {}",
                x.iter().filter(|v| !v.is_finite()).count(),
                e % m,
                e / m,
                x[e]
            );
        }
        // R = op(A) X - alpha B (left) or X op(A) - alpha B (right), exactly enough.
        let mut r = vec![0.0; m * n];
        for j in 0..n {
            for i in 0..m {
                let mut e = Exact::default();
                for l in 0..q {
                    if self.side == Side::Left {
                        e.add_prod(self.op_a(i, l), x[l + j * m]);
                    } else {
                        e.add_prod(x[i + l * m], self.op_a(l, j));
                    }
                }
                e.add_prod(-alpha, self.b[i + j * m].to_f64());
                r[i + j * m] = e.value();
            }
        }
        let scale = norm_inf(q, q, |i, j| self.op_a(i, j)) * norm_inf(m, n, |i, j| x[i + j * m])
            + alpha.abs() * norm_inf(m, n, |i, j| self.b[i + j * m].to_f64());
        let residual = norm_inf(m, n, |i, j| r[i + j * m]) / scale;
        let bound = C_TRSM * (q as f64 * T::U_ACC + T::store_u());
        let worst = (0..m * n)
            .max_by(|&p, &s| r[p].abs().total_cmp(&r[s].abs()))
            .expect("B is not empty");
        assert_untouched(
            &format!("{what}: A"),
            q,
            &read(&self.ca, &what),
            &self.a,
            |_, _| true,
        );
        let ratio = residual / bound;
        assert!(
            ratio <= 1.0,
            "{what}: ||R|| / (||op(A)|| ||X^|| + |alpha| ||B||) = {residual:.3e} exceeds the bound \
             {bound:.3e} = 2*(n*u + s) with n = {q} ({ratio:.2} times the bound); the worst \
             residual element is (row {}, col {}): {:.3e}, with X^ there {:e}",
            worst % m,
            worst / m,
            r[worst],
            x[worst]
        );
        ratio
    }
}

fn trsm_suite<T: Real>(on: On, all_sizes: bool) {
    let dims = trsm_dims(all_sizes);
    suite::<T, _, _>(on, "trsm", &trsm_ops(), |rt, op| {
        trsm_cases::<T>(rt, op, &dims)
    });
}

// ----------------------------------------------------------------------------------- potrf

/// Cholesky factorization of `A = B B^T + n I`, one triangle given, the other poisoned.
struct Potrf<T: Real> {
    uplo: Uplo,
    n: usize,
    a: Vec<T>,
    ca: Chunk<T>,
}

/// Element (i, j) of the lower view of a tile factored with `uplo`: the tile itself for
/// `Lower`, its transpose for `Upper`.
fn lower_view<T: Real>(uplo: Uplo, a: &[T], n: usize, i: usize, j: usize) -> f64 {
    if uplo == Uplo::Lower {
        a[i + j * n].to_f64()
    } else {
        a[j + i * n].to_f64()
    }
}

/// `spd(n)` rounded to `T`, with the triangle other than `uplo` poisoned.
fn spd_tile<T: Real>(rng: &mut ChaCha8Rng, n: usize, uplo: Uplo) -> Vec<T> {
    spd(rng, n)
        .into_iter()
        .enumerate()
        .map(|(e, v)| {
            if in_triangle(uplo, e % n, e / n) {
                T::from_f64(v)
            } else {
                T::POISON
            }
        })
        .collect()
}

fn potrf_cases<T: Real>(rt: &Runtime, uplo: Uplo, sizes: &[usize]) -> Vec<Potrf<T>> {
    let mut rng = ChaCha8Rng::seed_from_u64(400 + uplo as u64);
    sizes
        .iter()
        .map(|&n| {
            let a = spd_tile::<T>(&mut rng, n, uplo);
            Potrf {
                uplo,
                n,
                ca: Chunk::from_slice(rt, n, n, &a),
                a,
            }
        })
        .collect()
}

impl<T: Real> Case for Potrf<T> {
    fn call(&self) -> KernelCall {
        dense::potrf::<T>(self.uplo)
    }

    fn shapes(&self) -> Vec<Shape> {
        vec![shape::<T>(self.n, self.n)]
    }

    fn spawn(&self, r: &Region<'_>, call: KernelCall) {
        r.spawn(call, ReadWrite(&self.ca));
    }

    fn check(&self, on: &str) -> f64 {
        let what = format!(
            "potrf_{} {} n={} on {on}",
            uplo_letter(self.uplo),
            T::DTYPE,
            self.n
        );
        let got = read(&self.ca, &what);
        let n = self.n;
        let l = |i: usize, j: usize| {
            if i >= j {
                lower_view(self.uplo, &got, n, i, j)
            } else {
                0.0
            }
        };
        let a = |i: usize, j: usize| lower_view(self.uplo, &self.a, n, i.max(j), i.min(j));
        for i in 0..n {
            assert!(
                l(i, i) > 0.0,
                "{what}: the factor's diagonal must be positive, element ({i}, {i}) is {}",
                l(i, i)
            );
        }
        // E = A - L L^T (symmetric) and |L||L^T|, on the lower triangle.
        let mut e = vec![0.0; n * n];
        let mut ll = vec![0.0; n * n];
        for j in 0..n {
            for i in j..n {
                let mut s = Exact::default();
                s.add(a(i, j));
                let mut mag = 0.0;
                for p in 0..=j {
                    s.add_prod(-l(i, p), l(j, p));
                    mag += (l(i, p) * l(j, p)).abs();
                }
                e[i + j * n] = s.value();
                ll[i + j * n] = mag;
            }
        }
        let sym = |v: &[f64], i: usize, j: usize| v[i.max(j) + i.min(j) * n];
        let norm_a = norm_inf(n, n, a);
        let residual = norm_inf(n, n, |i, j| sym(&e, i, j)) / norm_a;
        let rho = norm_inf(n, n, |i, j| sym(&ll, i, j)) / norm_a;
        assert!(
            rho <= POTRF_RHO,
            "{what}: the premise of the bound fails: || |L^||L^T| || / ||A|| = {rho:.3} > \
             {POTRF_RHO}"
        );
        let bound = C_POTRF * n as f64 * T::U_T;
        let ratio = residual / bound;
        if ratio > 1.0 {
            let worst = (0..n * n)
                .max_by(|&p, &s| e[p].abs().total_cmp(&e[s].abs()))
                .expect("A is not empty");
            panic!(
                "{what}: ||A - L^L^T|| / ||A|| = {residual:.3e} exceeds the bound {bound:.3e} = \
                 4*n*u_T ({ratio:.2} times the bound); the worst element of A - L^L^T is (row \
                 {}, col {}) of the lower view: {:.3e}",
                worst % n,
                worst / n,
                e[worst]
            );
        }
        ratio
    }
}

fn potrf_suite<T: Real>(on: On, all_sizes: bool) {
    let sizes: Vec<usize> = if all_sizes {
        SQUARE.to_vec()
    } else {
        vec![1, 32, 33, 100]
    };
    suite::<T, _, _>(on, "potrf", &[Uplo::Lower, Uplo::Upper], |rt, uplo| {
        potrf_cases::<T>(rt, uplo, &sizes)
    });
}

// -------------------------------------------------------------------------- the test matrix

#[test]
fn gemm_f32_cpu() {
    gemm_suite::<f32>(On::Cpu, true, &GEMM_OPS);
}

#[test]
fn gemm_f32_gpu() {
    gemm_suite::<f32>(On::Gpu, true, &GEMM_OPS);
}

#[test]
fn gemm_f64_cpu() {
    gemm_suite::<f64>(On::Cpu, false, &GEMM_OPS_F64);
}

#[test]
fn gemm_f64_gpu() {
    gemm_suite::<f64>(On::Gpu, false, &GEMM_OPS_F64);
}

#[test]
fn gemm_f16_cpu() {
    gemm_suite::<f16>(On::Cpu, false, &GEMM_OPS_F16);
}

#[test]
fn gemm_f16_gpu() {
    gemm_suite::<f16>(On::Gpu, false, &GEMM_OPS_F16);
}

#[test]
fn syrk_f32_cpu() {
    syrk_suite::<f32>(On::Cpu, true);
}

#[test]
fn syrk_f32_gpu() {
    syrk_suite::<f32>(On::Gpu, true);
}

#[test]
fn syrk_f64_cpu() {
    syrk_suite::<f64>(On::Cpu, false);
}

#[test]
fn syrk_f64_gpu() {
    syrk_suite::<f64>(On::Gpu, false);
}

#[test]
fn syrk_f16_cpu() {
    syrk_suite::<f16>(On::Cpu, false);
}

#[test]
fn syrk_f16_gpu() {
    syrk_suite::<f16>(On::Gpu, false);
}

#[test]
fn trsm_f32_cpu() {
    trsm_suite::<f32>(On::Cpu, true);
}

#[test]
fn trsm_f32_gpu() {
    trsm_suite::<f32>(On::Gpu, true);
}

#[test]
fn trsm_f64_cpu() {
    trsm_suite::<f64>(On::Cpu, false);
}

#[test]
fn trsm_f64_gpu() {
    trsm_suite::<f64>(On::Gpu, false);
}

#[test]
fn trsm_f16_cpu() {
    trsm_suite::<f16>(On::Cpu, false);
}

#[test]
fn trsm_f16_gpu() {
    trsm_suite::<f16>(On::Gpu, false);
}

#[test]
fn potrf_f32_cpu() {
    potrf_suite::<f32>(On::Cpu, true);
}

#[test]
fn potrf_f32_gpu() {
    potrf_suite::<f32>(On::Gpu, true);
}

#[test]
fn potrf_f64_cpu() {
    potrf_suite::<f64>(On::Cpu, false);
}

#[test]
fn potrf_f64_gpu() {
    potrf_suite::<f64>(On::Gpu, false);
}

#[test]
fn potrf_f16_cpu() {
    potrf_suite::<f16>(On::Cpu, false);
}

#[test]
fn potrf_f16_gpu() {
    potrf_suite::<f16>(On::Gpu, false);
}

// ---------------------------------------------------------------- potrf: not positive definite

/// A symmetric tile whose first non-positive pivot is at `index`, one triangle given.
struct NotSpd<T: Real> {
    uplo: Uplo,
    n: usize,
    index: usize,
    how: &'static str,
    ca: Chunk<T>,
}

/// `(n, index, indefinite)`: with `indefinite`, the diagonal entry at `index` stays positive but
/// is half the sum of squares the elimination subtracts from it, so the leading minor of order
/// `index + 1` is negative; otherwise the entry is -1.
const NOT_SPD: [(usize, usize, bool); 6] = [
    (1, 0, false),
    (7, 3, true),
    (33, 32, true),
    (64, 0, false),
    (100, 70, true),
    (128, 127, false),
];

fn not_spd_cases<T: Real>(rt: &Runtime, uplo: Uplo) -> Vec<NotSpd<T>> {
    let mut rng = ChaCha8Rng::seed_from_u64(500 + uplo as u64);
    NOT_SPD
        .iter()
        .map(|&(n, index, indefinite)| {
            let mut a = spd_tile::<T>(&mut rng, n, uplo);
            let at = |i: usize, j: usize| {
                if uplo == Uplo::Lower {
                    i + j * n
                } else {
                    j + i * n
                }
            };
            let value = if indefinite {
                // The row `index` of L, from the (exactly SPD) leading block, in f64.
                let k = index + 1;
                let mut l = vec![0.0f64; k * k];
                for j in 0..k {
                    for i in j..k {
                        let dot: f64 = (0..j).map(|p| l[i + p * k] * l[j + p * k]).sum();
                        let v = a[at(i, j)].to_f64() - dot;
                        l[i + j * k] = if i == j { v.sqrt() } else { v / l[j + j * k] };
                    }
                }
                let squares: f64 = (0..index).map(|p| l[index + p * k].powi(2)).sum();
                assert!(
                    squares > 0.05,
                    "n={n}: the pivot margin {squares} is too small to survive rounding"
                );
                0.5 * squares
            } else {
                -1.0
            };
            a[at(index, index)] = T::from_f64(value);
            NotSpd {
                uplo,
                n,
                index,
                how: if indefinite {
                    "indefinite leading minor"
                } else {
                    "negative diagonal entry"
                },
                ca: Chunk::from_slice(rt, n, n, &a),
            }
        })
        .collect()
}

/// Spawns every case eagerly (so each reports its own failure) and checks the error: a task
/// failure of `potrf` with `NotPositiveDefinite { index }`. (That the other triangle stays
/// untouched on failure too is checked by `potrf_leaves_the_other_triangle_untouched_*`.)
fn check_not_spd<T: Real>(t: &Target, cases: &[NotSpd<T>]) {
    let handles: Vec<_> = cases
        .iter()
        .map(|c| {
            let shapes = [shape::<T>(c.n, c.n)];
            let call = t
                .prepare(dense::potrf::<T>(c.uplo), &shapes)
                .expect("potrf variants apply to every square tile");
            t.rt.spawn(call, ReadWrite(&c.ca))
        })
        .collect();
    for (c, h) in cases.iter().zip(handles) {
        let what = format!(
            "potrf_{} {} n={} with a {} at {} on {}",
            uplo_letter(c.uplo),
            T::DTYPE,
            c.n,
            c.how,
            c.index,
            t.label
        );
        let err = h
            .wait()
            .expect_err(&format!("{what}: must fail as not positive definite"));
        let task = err
            .task()
            .unwrap_or_else(|| panic!("{what}: expected a task error, got {err:?}"));
        assert_eq!(task.kernel, "potrf", "{what}: {err}");
        assert_eq!(
            err.kernel_error(),
            Some(&KernelError::NotPositiveDefinite { index: c.index }),
            "{what}: {err}"
        );
    }
}

/// Where potrf runs: the CPU runtime, or the GPU runtime once per GPU variant of the `uplo`
/// kernel (none without a GPU, or on a device lacking `T`).
fn potrf_targets<T: Real>(on: On, uplo: Uplo) -> Vec<Target> {
    match on {
        On::Cpu => vec![Target {
            rt: common::cpu_runtime(),
            label: "cpu".into(),
            variant: None,
        }],
        On::Gpu => {
            let probe = |rt: &Runtime| potrf_cases::<T>(rt, uplo, &[2]);
            let Some((rt, name)) = gpu_for::<T, _>(probe) else {
                return Vec::new();
            };
            let kernel = dense::potrf::<T>(uplo).kernel().clone();
            let gpu = kernel.gpu().expect("potrf has a GPU half");
            gpu.variants()
                .iter()
                .map(|v| Target {
                    rt: rt.clone(),
                    label: format!("gpu {name}, variant {}", v.name()),
                    variant: Some(v.name().to_string()),
                })
                .collect()
        }
    }
}

fn not_spd_suite<T: Real>(on: On) {
    for uplo in [Uplo::Lower, Uplo::Upper] {
        for t in potrf_targets::<T>(on, uplo) {
            check_not_spd(&t, &not_spd_cases::<T>(&t.rt, uplo));
        }
    }
}

#[test]
fn potrf_not_positive_definite_f32_cpu() {
    not_spd_suite::<f32>(On::Cpu);
}

#[test]
fn potrf_not_positive_definite_f32_gpu() {
    not_spd_suite::<f32>(On::Gpu);
}

#[test]
fn potrf_not_positive_definite_f64_cpu() {
    not_spd_suite::<f64>(On::Cpu);
}

#[test]
fn potrf_not_positive_definite_f64_gpu() {
    not_spd_suite::<f64>(On::Gpu);
}

#[test]
fn potrf_not_positive_definite_f16_cpu() {
    not_spd_suite::<f16>(On::Cpu);
}

#[test]
fn potrf_not_positive_definite_f16_gpu() {
    not_spd_suite::<f16>(On::Gpu);
}

// --------------------------------------------------------- what must be neither read nor written

/// An SPD (or, at index 20, not positive definite) tile whose other triangle holds a signalling
/// NaN or finite values, to check that potrf writes nothing there, even when it fails.
struct OtherTriangle<T: Real> {
    uplo: Uplo,
    n: usize,
    spd: bool,
    fill: &'static str,
    a: Vec<T>,
    ca: Chunk<T>,
}

fn other_triangle_cases<T: Real>(rt: &Runtime, uplo: Uplo) -> Vec<OtherTriangle<T>> {
    let mut rng = ChaCha8Rng::seed_from_u64(600 + uplo as u64);
    let mut out = Vec::new();
    for (n, spd) in [
        (1, true),
        (2, true),
        (7, true),
        (33, true),
        (100, true),
        (33, false),
    ] {
        for finite in [true, false] {
            let mut a = spd_tile::<T>(&mut rng, n, uplo);
            if !spd {
                a[20 + 20 * n] = T::from_f64(-1.0);
            }
            for (e, v) in a.iter_mut().enumerate() {
                if !in_triangle(uplo, e % n, e / n) {
                    // Integers up to 2048 are exact in f16.
                    *v = if finite {
                        T::from_f64(1000.0 + (e % 1000) as f64)
                    } else {
                        T::SIGNALLING
                    };
                }
            }
            out.push(OtherTriangle {
                uplo,
                n,
                spd,
                fill: if finite {
                    "finite values"
                } else {
                    "a signalling NaN"
                },
                ca: Chunk::from_slice(rt, n, n, &a),
                a,
            });
        }
    }
    out
}

fn potrf_other_triangle<T: Real>(on: On) {
    for uplo in [Uplo::Lower, Uplo::Upper] {
        for t in potrf_targets::<T>(on, uplo) {
            let cases = other_triangle_cases::<T>(&t.rt, uplo);
            let handles: Vec<_> = cases
                .iter()
                .map(|c| {
                    let call = t
                        .prepare(dense::potrf::<T>(c.uplo), &[shape::<T>(c.n, c.n)])
                        .expect("potrf variants apply to every square tile");
                    t.rt.spawn(call, ReadWrite(&c.ca))
                })
                .collect();
            for (c, h) in cases.iter().zip(handles) {
                let what = format!(
                    "potrf_{} {} n={} ({}) with {} in the other triangle on {}",
                    uplo_letter(c.uplo),
                    T::DTYPE,
                    c.n,
                    if c.spd { "SPD" } else { "not SPD" },
                    c.fill,
                    t.label
                );
                match (h.wait(), c.spd) {
                    (Ok(()), true) => {}
                    (Err(e), false) if e.kernel_error().is_some() => {}
                    (outcome, _) => panic!("{what}: unexpected outcome {outcome:?}"),
                }
                let got = read(&c.ca, &what);
                assert_untouched(&what, c.n, &got, &c.a, |i, j| !in_triangle(c.uplo, i, j));
            }
        }
    }
}

/// Regression: the CPU potrf used to overwrite the other triangle of the tile (it handed the whole
/// tile to faer's in-place Cholesky, whose SIMD kernel updates whole column blocks, the entries
/// above the diagonal included), although `dense::potrf` promises that only `uplo`'s triangle is
/// read and written.
#[test]
fn potrf_leaves_the_other_triangle_untouched_cpu() {
    potrf_other_triangle::<f32>(On::Cpu);
    potrf_other_triangle::<f64>(On::Cpu);
    potrf_other_triangle::<f16>(On::Cpu);
}

#[test]
fn potrf_leaves_the_other_triangle_untouched_gpu() {
    potrf_other_triangle::<f32>(On::Gpu);
    potrf_other_triangle::<f64>(On::Gpu);
    potrf_other_triangle::<f16>(On::Gpu);
}

/// syrk on f16 tiles with a signalling NaN (rather than the usual quiet one) in the other
/// triangle: it must come back bit for bit.
fn syrk_f16_signalling(on: On) {
    suite::<f16, _, _>(on, "syrk (signalling NaN)", &SYRK_OPS, |rt, op| {
        syrk_cases::<f16>(rt, op, &[(1, 1), (7, 7), (33, 5), (8, 8)], f16::SIGNALLING)
    });
}

/// Regression: the CPU half of syrk on f16 used to widen the whole of C to f32 and narrow all of
/// it back, which quieted a signalling NaN in the triangle it must not touch (0x7C5A came back as
/// 0x7E5A).
#[test]
fn syrk_f16_keeps_a_signalling_nan_in_the_other_triangle_cpu() {
    syrk_f16_signalling(On::Cpu);
}

#[test]
fn syrk_f16_keeps_a_signalling_nan_in_the_other_triangle_gpu() {
    syrk_f16_signalling(On::Gpu);
}

// ---------------------------------------------------------------------------- shape mismatches

/// A call whose shapes do not fit: what is wrong, the kernel name the error must give, the
/// call, its accesses, and the chunk it would write.
struct Mismatch {
    what: &'static str,
    op: &'static str,
    call: KernelCall,
    accesses: Vec<Access>,
    out: Chunk<f32>,
}

/// Calls whose shapes do not fit fail their task with `KernelError::InvalidArgument` naming the
/// kernel (`gemm_nn`, ...), instead of panicking, and leave the written chunk as it was.
fn shape_mismatches(rt: &Runtime, on: &str) {
    let m = |r: usize, c: usize| {
        Chunk::from_vec(rt, r, c, (0..r * c).map(|v| v as f32).collect::<Vec<f32>>())
    };
    let (no, yes) = (Trans::No, Trans::Yes);
    let (a34, b52, b42, a43) = (m(3, 4), m(5, 2), m(4, 2), m(4, 3));
    // Each case writes its own chunk, so no case depends on another's failure.
    let cases: Vec<Mismatch> = {
        let mut v = Vec::new();
        let mut case = |what, op, call, read: Vec<Access>, out: Chunk<f32>| {
            let mut accesses = read;
            accesses.push(ReadWrite(&out).into());
            v.push(Mismatch {
                what,
                op,
                call,
                accesses,
                out,
            });
        };
        case(
            "gemm: op(A) 3x4 times op(B) 5x2",
            "gemm_nn",
            dense::gemm::<f32>(no, no, 1.0, 0.0),
            vec![Read(&a34).into(), Read(&b52).into()],
            m(3, 2),
        );
        case(
            "gemm: op(A) 4x3 (A^T) times op(B) 4x2",
            "gemm_tn",
            dense::gemm::<f32>(yes, no, 1.0, 0.0),
            vec![Read(&a34).into(), Read(&b42).into()],
            m(4, 2),
        );
        case(
            "gemm: C 2x3 for a 3x2 product",
            "gemm_nn",
            dense::gemm::<f32>(no, no, 1.0, 0.0),
            vec![Read(&a34).into(), Read(&b42).into()],
            m(2, 3),
        );
        case(
            "gemm: op(B) 2x5 (B^T) after op(A) 3x4",
            "gemm_nt",
            dense::gemm::<f32>(no, yes, 1.0, 0.0),
            vec![Read(&a34).into(), Read(&b52).into()],
            m(3, 5),
        );
        case(
            "syrk: op(A) 3x4 with C 4x4",
            "syrk_ln",
            dense::syrk::<f32>(Uplo::Lower, no, 1.0, 0.0),
            vec![Read(&a34).into()],
            m(4, 4),
        );
        case(
            "syrk: op(A) 4x3 (A^T) with C 3x3",
            "syrk_ut",
            dense::syrk::<f32>(Uplo::Upper, yes, 1.0, 0.0),
            vec![Read(&a34).into()],
            m(3, 3),
        );
        case(
            "trsm: non-square A 3x4 on the left of B 3x2",
            "trsm_llnn",
            dense::trsm::<f32>(Side::Left, Uplo::Lower, no, Diag::NonUnit, 1.0),
            vec![Read(&a34).into()],
            m(3, 2),
        );
        case(
            "trsm: non-square A 4x3 on the right of B 2x3",
            "trsm_rutu",
            dense::trsm::<f32>(Side::Right, Uplo::Upper, yes, Diag::Unit, 1.0),
            vec![Read(&a43).into()],
            m(2, 3),
        );
        case(
            "trsm: A 3x3 on the left of B 4x2",
            "trsm_lltn",
            dense::trsm::<f32>(Side::Left, Uplo::Lower, yes, Diag::NonUnit, 1.0),
            vec![Read(&m(3, 3)).into()],
            m(4, 2),
        );
        case(
            "trsm: A 3x3 on the right of B 3x2",
            "trsm_runn",
            dense::trsm::<f32>(Side::Right, Uplo::Upper, no, Diag::NonUnit, 1.0),
            vec![Read(&m(3, 3)).into()],
            m(3, 2),
        );
        case(
            "potrf: non-square A 3x4",
            "potrf_l",
            dense::potrf::<f32>(Uplo::Lower),
            vec![],
            m(3, 4),
        );
        case(
            "potrf: non-square A 4x3",
            "potrf_u",
            dense::potrf::<f32>(Uplo::Upper),
            vec![],
            m(4, 3),
        );
        v
    };
    let handles: Vec<_> = cases
        .iter()
        .map(|c| rt.spawn(c.call.clone(), c.accesses.clone()))
        .collect();
    for (c, h) in cases.iter().zip(handles) {
        let (what, op, out) = (c.what, c.op, &c.out);
        let err = h.wait().expect_err(&format!("{what} on {on}: must fail"));
        assert!(
            err.task().is_some(),
            "{what} on {on}: expected a task error, got {err:?}"
        );
        match err.kernel_error() {
            Some(KernelError::InvalidArgument(msg)) => assert!(
                msg.contains(op),
                "{what} on {on}: the message names the kernel `{op}`: {msg}"
            ),
            other => panic!("{what} on {on}: expected InvalidArgument, got {other:?} in {err}"),
        }
        let expected: Vec<f32> = (0..out.len()).map(|v| v as f32).collect();
        assert_eq!(
            read(out, what),
            expected,
            "{what} on {on}: the output changed"
        );
    }
}

#[test]
fn shape_mismatches_fail_with_invalid_argument_on_cpu() {
    shape_mismatches(&common::cpu_runtime(), "cpu");
}

#[test]
fn shape_mismatches_fail_with_invalid_argument_on_gpu() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    shape_mismatches(&rt, "gpu");
}

// -------------------------------------------------------------------- the NoProcessor helper

fn is_no_processor(err: &Error) -> bool {
    matches!(
        err.task().map(|t| &t.source),
        Some(TaskFailure::Runtime(e)) if matches!(**e, Error::NoProcessor { .. })
    )
}

fn assert_no_processor(err: &Error, kernel: &str, dtype: DType) {
    let task = err
        .task()
        .unwrap_or_else(|| panic!("expected a task error, got {err:?}"));
    assert_eq!(task.kernel, kernel, "{err}");
    assert!(err.kernel_error().is_none(), "{err}");
    match &task.source {
        TaskFailure::Runtime(e) => match &**e {
            Error::NoProcessor {
                kernel: k,
                dtype: d,
                ..
            } => {
                assert_eq!(k, kernel, "{err}");
                assert_eq!(*d, dtype, "{err}");
            }
            other => panic!("expected NoProcessor, got {other:?}"),
        },
        other => panic!("expected a runtime failure (NoProcessor), got {other:?}"),
    }
}
