//! The built-in elementwise kernels `fill`, `copy`, `scale` and `axpy`, for every element type
//! (f16, f32, f64, Complex<f32>, Complex<f64>, u32, i32), on a CPU-only runtime and on a
//! GPU-only runtime (one device, no CPU processor), plus their failure modes.
//!
//! Each run spawns every kernel on every shape of [`SHAPES`] in one region (1, 7, 255, 256, 257
//! and 1000 elements around the GPU workgroup size of 256, a non-square 33x7 tile, and an empty
//! 0x0 tile), reads the results back with `Chunk::to_vec` (from the device, on a GPU) and checks
//! them against references computed in f64 from the same seeded inputs (entries in [-1, 1] for
//! floats, full-range integers so that integer arithmetic wraps):
//! - `fill` and `copy` are exact: bit-identical to the value and the source. Their `Write`
//!   destinations are poisoned first (NaN, or 0xDEADBEEF for integers) in host memory and by a
//!   `fill` on the processor that then runs the kernel, so an element left unwritten fails.
//! - Integer `scale` and `axpy` are exact, with wrapping arithmetic.
//! - Floating-point results satisfy, elementwise, with `u` the unit roundoff of `T` (f16 2^-11,
//!   f32 2^-24, f64 2^-53), `|.|` the modulus for complex types and `lambda` the smallest normal
//!   number of `T`:
//!   `|y^ - a*y| <= c*u*|a||y| + 8*lambda*u` (scale) and
//!   `|y^ - (a*x + y)| <= c*u*(|a||x| + |y|) + 8*lambda*u` (axpy).
//!
//!   The constant `c`: for real types c = 2, one rounding for the product and one for the sum
//!   (an FMA contraction only removes one). For complex types c = 4: each component of `a*x` is
//!   a two-term dot product, off by at most gamma_2 = 2u/(1-2u) times `|ar xr| + |ai xi|`
//!   however the driver contracts it into FMAs, which is at most 2*sqrt(2)*u*|a||x| in modulus,
//!   and the sum adds u*|a*x + y|. The `8*lambda*u` term covers subnormal results (reachable in
//!   f16), which err by up to lambda*u each, for the at most four operations per component.
//!
//!   The error is measured exactly enough that the f64 reference adds nothing, even for f64:
//!   products are split with TwoProduct (an FMA) and the terms summed with Sum2 (Ogita, Rump,
//!   Oishi, "Accurate sum and dot product", SIAM J. Sci. Comput. 26(6), 2005).
//!
//! A failure reports the worst element: its index, value, reference, error and bound.

use half::f16;
use num_complex::Complex;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera::{
    Access, Caps, Chunk, DType, Element, Error, KernelError, Processor, Read, ReadWrite, Runtime,
    Scope, TaskFailure, Write, kernels::builtin,
};

use crate::common;

/// Tile shapes `(rows, cols)`: 1, 7, 255, 256, 257 and 1000 elements (row and column vectors),
/// a non-square tile, and an empty one.
const SHAPES: [(usize, usize); 8] = [
    (1, 1),
    (1, 7),
    (255, 1),
    (256, 1),
    (1, 257),
    (1000, 1),
    (33, 7),
    (0, 0),
];

/// Poison for integer outputs.
const DEADBEEF: u32 = 0xDEAD_BEEF;

/// How `scale` and `axpy` results of an element type are checked.
enum Arith<T> {
    /// Exactly, against this wrapping `a*x + y`.
    Wrapping(fn(T, T, T) -> T),
    /// Within the rounding-error bound of the module docs.
    Rounded(Rounding),
}

/// The constants of the bound `c*u*(|a||x| + |y|) + 8*lambda*u`.
#[derive(Clone, Copy, Debug)]
struct Rounding {
    /// Unit roundoff.
    u: f64,
    /// Smallest positive normal number.
    lambda: f64,
    /// The documented constant: 2 for real types, 4 for complex types.
    c: f64,
}

/// What the checks need to know about an element type.
trait Sample: Element {
    /// Written into `Write` destinations before the kernel runs.
    const POISON: Self;
    /// How `scale` and `axpy` are checked.
    const ARITH: Arith<Self>;
    /// A random value: entries in [-1, 1] for floats, any value for integers.
    fn random(rng: &mut ChaCha8Rng) -> Self;
    /// `-0.0` for floating-point types (copied bit for bit too).
    fn negative_zero() -> Option<Self>;
    /// The value as `[re, im]` in f64, exactly (im = 0 for real types).
    fn parts(self) -> [f64; 2];
}

macro_rules! real_sample {
    ($t:ty, $from_f64:expr, $to_f64:expr, $u:expr, $lambda:expr) => {
        impl Sample for $t {
            const POISON: Self = <$t>::NAN;
            const ARITH: Arith<Self> = Arith::Rounded(Rounding {
                u: $u,
                lambda: $lambda,
                c: 2.0,
            });
            fn random(rng: &mut ChaCha8Rng) -> Self {
                $from_f64(rng.random_range(-1.0..=1.0))
            }
            fn negative_zero() -> Option<Self> {
                Some($from_f64(-0.0))
            }
            fn parts(self) -> [f64; 2] {
                [$to_f64(self), 0.0]
            }
        }
    };
}

real_sample!(f16, f16::from_f64, f16::to_f64, 1.0 / 2048.0, 1.0 / 16384.0);
real_sample!(
    f32,
    |v: f64| v as f32,
    f64::from,
    f32::EPSILON as f64 / 2.0,
    f32::MIN_POSITIVE as f64
);
real_sample!(
    f64,
    |v: f64| v,
    |v: f64| v,
    f64::EPSILON / 2.0,
    f64::MIN_POSITIVE
);

macro_rules! complex_sample {
    ($t:ty, $u:expr, $lambda:expr) => {
        impl Sample for Complex<$t> {
            const POISON: Self = Complex::new(<$t>::NAN, <$t>::NAN);
            const ARITH: Arith<Self> = Arith::Rounded(Rounding {
                u: $u,
                lambda: $lambda,
                c: 4.0,
            });
            fn random(rng: &mut ChaCha8Rng) -> Self {
                Complex::new(
                    rng.random_range(-1.0f64..=1.0) as $t,
                    rng.random_range(-1.0f64..=1.0) as $t,
                )
            }
            fn negative_zero() -> Option<Self> {
                Some(Complex::new(-0.0, -0.0))
            }
            fn parts(self) -> [f64; 2] {
                [f64::from(self.re), f64::from(self.im)]
            }
        }
    };
}

complex_sample!(f32, f32::EPSILON as f64 / 2.0, f32::MIN_POSITIVE as f64);
complex_sample!(f64, f64::EPSILON / 2.0, f64::MIN_POSITIVE);

impl Sample for u32 {
    const POISON: Self = DEADBEEF;
    const ARITH: Arith<Self> = Arith::Wrapping(|a, x, y| a.wrapping_mul(x).wrapping_add(y));
    fn random(rng: &mut ChaCha8Rng) -> Self {
        rng.random()
    }
    fn negative_zero() -> Option<Self> {
        None
    }
    fn parts(self) -> [f64; 2] {
        [f64::from(self), 0.0]
    }
}

impl Sample for i32 {
    const POISON: Self = DEADBEEF as i32;
    const ARITH: Arith<Self> = Arith::Wrapping(|a, x, y| a.wrapping_mul(x).wrapping_add(y));
    fn random(rng: &mut ChaCha8Rng) -> Self {
        rng.random()
    }
    fn negative_zero() -> Option<Self> {
        None
    }
    fn parts(self) -> [f64; 2] {
        [f64::from(self), 0.0]
    }
}

/// The GPU capabilities the docs say an element type needs (written out here rather than taken
/// from the library, so a wrong requirement there shows).
fn needed_caps(d: DType) -> Caps {
    match d {
        DType::F64 | DType::C64 => Caps::F64,
        DType::F16 => Caps::F16,
        _ => Caps::NONE,
    }
}

// ------------------------------------------------------------------------------- the runs

/// One shape's inputs and chunks.
struct Case<T> {
    rows: usize,
    cols: usize,
    alpha: T,
    value: T,
    x: Vec<T>,
    y: Vec<T>,
    fill_dst: Chunk<T>,
    copy_src: Chunk<T>,
    copy_dst: Chunk<T>,
    scale_y: Chunk<T>,
    axpy_x: Chunk<T>,
    axpy_y: Chunk<T>,
}

impl<T: Sample> Case<T> {
    fn new(rt: &Runtime, rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Case<T> {
        let n = rows * cols;
        let mut x: Vec<T> = (0..n).map(|_| T::random(rng)).collect();
        // A negative zero first: copy must keep the sign bit.
        if let (Some(first), Some(z)) = (x.first_mut(), T::negative_zero()) {
            *first = z;
        }
        let y: Vec<T> = (0..n).map(|_| T::random(rng)).collect();
        let poison = vec![T::POISON; n];
        Case {
            rows,
            cols,
            alpha: T::random(rng),
            value: T::random(rng),
            fill_dst: Chunk::from_slice(rt, rows, cols, &poison),
            copy_src: Chunk::from_slice(rt, rows, cols, &x),
            copy_dst: Chunk::from_slice(rt, rows, cols, &poison),
            scale_y: Chunk::from_slice(rt, rows, cols, &y),
            axpy_x: Chunk::from_slice(rt, rows, cols, &x),
            axpy_y: Chunk::from_slice(rt, rows, cols, &y),
            x,
            y,
        }
    }

    fn label(&self, op: &str, on: &str) -> String {
        format!("{} {op} on {}x{} ({on})", T::DTYPE, self.rows, self.cols)
    }

    fn read(&self, c: &Chunk<T>, what: &str, on: &str) -> Vec<T> {
        let v = c
            .to_vec()
            .unwrap_or_else(|e| panic!("reading back {}: {e}", self.label(what, on)));
        assert_eq!(v.len(), self.rows * self.cols, "{}", self.label(what, on));
        v
    }

    fn check(&self, on: &str) {
        let n = self.rows * self.cols;
        let (rows, cols) = (self.rows, self.cols);
        let read = |c: &Chunk<T>, what: &str| self.read(c, what, on);

        assert_bits_eq(
            &self.label("fill", on),
            rows,
            &read(&self.fill_dst, "fill"),
            &vec![self.value; n],
        );
        assert_bits_eq(
            &self.label("copy", on),
            rows,
            &read(&self.copy_dst, "copy"),
            &self.x,
        );
        assert_bits_eq(
            &self.label("copy (its Read source)", on),
            rows,
            &read(&self.copy_src, "copy source"),
            &self.x,
        );
        assert_bits_eq(
            &self.label("axpy (its Read x)", on),
            rows,
            &read(&self.axpy_x, "axpy x"),
            &self.x,
        );

        let scaled = read(&self.scale_y, "scale");
        let axpy = read(&self.axpy_y, "axpy");
        let zero = vec![T::zeroed(); n];
        match T::ARITH {
            Arith::Wrapping(f) => {
                let expect_scale: Vec<T> = self
                    .y
                    .iter()
                    .map(|&y| f(self.alpha, y, T::zeroed()))
                    .collect();
                let expect_axpy: Vec<T> = self
                    .x
                    .iter()
                    .zip(&self.y)
                    .map(|(&x, &y)| f(self.alpha, x, y))
                    .collect();
                assert_bits_eq(&self.label("scale", on), rows, &scaled, &expect_scale);
                assert_bits_eq(&self.label("axpy", on), rows, &axpy, &expect_axpy);
            }
            Arith::Rounded(r) => {
                // scale is axpy with x = y0 and y = 0, bound included.
                assert_axpy_within(
                    &self.label("scale", on),
                    (rows, cols),
                    r,
                    self.alpha,
                    &self.y,
                    &zero,
                    &scaled,
                );
                assert_axpy_within(
                    &self.label("axpy", on),
                    (rows, cols),
                    r,
                    self.alpha,
                    &self.x,
                    &self.y,
                    &axpy,
                );
            }
        }
    }
}

/// Runs fill, copy, scale and axpy on every shape in one region of `rt`, then checks them.
fn run<T: Sample>(rt: &Runtime, seed: u64, on: &str) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cases: Vec<Case<T>> = SHAPES
        .iter()
        .map(|&(rows, cols)| Case::new(rt, rows, cols, &mut rng))
        .collect();
    rt.datadeps_in(Scope::all(), |r| {
        for c in &cases {
            r.spawn(builtin::fill(T::POISON), Write(&c.fill_dst));
            r.spawn(builtin::fill(c.value), Write(&c.fill_dst));
            r.spawn(builtin::fill(T::POISON), Write(&c.copy_dst));
            r.spawn(
                builtin::copy::<T>(),
                (Read(&c.copy_src), Write(&c.copy_dst)),
            );
            r.spawn(builtin::scale(c.alpha), ReadWrite(&c.scale_y));
            r.spawn(
                builtin::axpy(c.alpha),
                (Read(&c.axpy_x), ReadWrite(&c.axpy_y)),
            );
        }
    })
    .unwrap_or_else(|e| panic!("{} elementwise region on {on} failed: {e}", T::DTYPE));
    for c in &cases {
        c.check(on);
    }
}

fn on_cpu<T: Sample>(seed: u64) {
    run::<T>(&common::cpu_runtime(), seed, "cpu");
}

/// Runs the checks on the GPU-only runtime. A device without the type's capabilities must
/// refuse the tasks with `NoProcessor`; lavapipe has them all, so there the kernels must run.
fn on_gpu<T: Sample>(seed: u64) {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    assert!(!rt.has_cpu(), "the GPU runtime must have no CPU processor");
    let gpus: Vec<_> = rt
        .processors()
        .into_iter()
        .filter(|p| p.processor != Processor::Cpu)
        .collect();
    assert_eq!(gpus.len(), 1, "the GPU runtime has one device");
    let (name, has) = (gpus[0].name.clone(), gpus[0].caps());
    let needs = needed_caps(T::DTYPE);
    if !has.contains(needs) {
        assert_ne!(
            common::adapter(),
            "lavapipe",
            "lavapipe offers SHADER_F64 and SHADER_F16, but {name} reports only {has}"
        );
        let y = Chunk::from_vec(
            &rt,
            2,
            1,
            vec![T::random(&mut ChaCha8Rng::seed_from_u64(0)); 2],
        );
        let err = rt
            .datadeps(|r| {
                r.spawn(builtin::scale(T::zeroed()), ReadWrite(&y));
            })
            .expect_err("a task needing a missing capability must fail");
        assert_no_processor(&err, "scale", T::DTYPE);
        eprintln!(
            "{} kernels not run on {name}: it lacks {} (checked that they fail with NoProcessor)",
            T::DTYPE,
            needs.missing_from(has)
        );
        return;
    }
    run::<T>(&rt, seed, &format!("gpu {name}"));
}

#[test]
fn f16_on_cpu() {
    on_cpu::<f16>(16);
}

#[test]
fn f16_on_gpu() {
    on_gpu::<f16>(16);
}

#[test]
fn f32_on_cpu() {
    on_cpu::<f32>(32);
}

#[test]
fn f32_on_gpu() {
    on_gpu::<f32>(32);
}

#[test]
fn f64_on_cpu() {
    on_cpu::<f64>(64);
}

#[test]
fn f64_on_gpu() {
    on_gpu::<f64>(64);
}

#[test]
fn complex_f32_on_cpu() {
    on_cpu::<Complex<f32>>(132);
}

#[test]
fn complex_f32_on_gpu() {
    on_gpu::<Complex<f32>>(132);
}

#[test]
fn complex_f64_on_cpu() {
    on_cpu::<Complex<f64>>(164);
}

#[test]
fn complex_f64_on_gpu() {
    on_gpu::<Complex<f64>>(164);
}

#[test]
fn u32_on_cpu() {
    on_cpu::<u32>(232);
}

#[test]
fn u32_on_gpu() {
    on_gpu::<u32>(232);
}

#[test]
fn i32_on_cpu() {
    on_cpu::<i32>(332);
}

#[test]
fn i32_on_gpu() {
    on_gpu::<i32>(332);
}

/// More than 65535 workgroups of 256: the dispatch grid folds into a second dimension, and every
/// element, including those past 65535 * 256 = 16_776_960, must be written exactly once.
#[test]
fn gpu_fill_and_axpy_past_65535_workgroups() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    const N: usize = 17_000_000;
    let x = Chunk::from_vec(&rt, N, 1, (0..N as u32).collect());
    let y = Chunk::from_vec(&rt, N, 1, vec![DEADBEEF; N]);
    let check = |what: &str, expected: &dyn Fn(u32) -> u32| {
        let got = y
            .to_vec()
            .unwrap_or_else(|e| panic!("reading back {what}: {e}"));
        assert_eq!(got.len(), N);
        let bad: Vec<usize> = (0..N).filter(|&i| got[i] != expected(i as u32)).collect();
        if let Some(&i) = bad.first() {
            panic!(
                "{what} on {N} u32: {} elements wrong, first at {i}: got {:#x}, expected {:#x} \
                 (last wrong at {})",
                bad.len(),
                got[i],
                expected(i as u32),
                bad[bad.len() - 1]
            );
        }
    };
    rt.datadeps(|r| {
        r.spawn(builtin::fill(DEADBEEF), Write(&y));
        r.spawn(builtin::fill(7u32), Write(&y));
    })
    .expect("fill region");
    check("fill", &|_| 7);
    // x[i] = i: an element computed from the wrong index, or twice, shows.
    rt.datadeps(|r| {
        r.spawn(builtin::axpy(3u32), (Read(&x), ReadWrite(&y)));
    })
    .expect("axpy region");
    check("axpy", &|i| 3 * i + 7);
}

// --------------------------------------------------------------------------- failure modes

/// axpy and copy check that x and y have the same number of elements (shapes may differ): a
/// mismatch fails the task with `KernelError::InvalidArgument`, touches nothing, and leaves the
/// runtime usable.
fn mismatched_lengths_fail(rt: &Runtime) {
    let x = Chunk::from_vec(rt, 3, 1, vec![1.0f32; 3]);
    let y = Chunk::from_vec(rt, 2, 2, vec![2.0f32; 4]);
    for (op, call, accesses) in [
        (
            "axpy",
            builtin::axpy(1.0f32),
            vec![Access::from(Read(&x)), ReadWrite(&y).into()],
        ),
        (
            "copy",
            builtin::copy::<f32>(),
            vec![Access::from(Read(&x)), Write(&y).into()],
        ),
    ] {
        let err = rt
            .datadeps(|r| {
                r.spawn(call, accesses);
            })
            .expect_err("x and y of different lengths must fail");
        let task = err
            .task()
            .unwrap_or_else(|| panic!("{op}: expected a task error, got {err:?}"));
        assert_eq!(task.kernel, op);
        assert_eq!(
            task.chunks,
            vec![x.id(), y.id()],
            "{op}: the chunks it touched"
        );
        match err.kernel_error() {
            Some(KernelError::InvalidArgument(msg)) => {
                assert!(
                    msg.contains(op),
                    "{op}: the message names the kernel: {msg}"
                );
            }
            other => panic!("{op}: expected InvalidArgument, got {other:?} in {err}"),
        }
        assert_eq!(y.to_vec().expect("read y"), vec![2.0; 4], "{op} changed y");
    }
    // Same number of elements in another shape is allowed.
    let x4 = Chunk::from_vec(rt, 4, 1, vec![1.0f32, 2.0, 3.0, 4.0]);
    rt.datadeps(|r| {
        r.spawn(builtin::axpy(2.0f32), (Read(&x4), ReadWrite(&y)));
    })
    .expect("4x1 into 2x2");
    assert_eq!(y.to_vec().expect("read y"), vec![4.0, 6.0, 8.0, 10.0]);
}

#[test]
fn mismatched_lengths_fail_with_invalid_argument_on_cpu() {
    mismatched_lengths_fail(&common::cpu_runtime());
}

#[test]
fn mismatched_lengths_fail_with_invalid_argument_on_gpu() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    mismatched_lengths_fail(&rt);
}

/// A region (or a task) scoped to the CPU on a runtime without a CPU processor selects no
/// processor: its tasks fail with `NoProcessor` (the same error a device lacking SHADER_F64 or SHADER_F16
/// gives, which cannot be produced on this machine), and the chunk keeps its value.
#[test]
fn cpu_scope_on_gpu_only_runtime_fails_with_no_processor() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    assert!(!rt.has_cpu());
    let y = Chunk::from_vec(&rt, 3, 1, vec![1.0f32, 2.0, 3.0]);
    let err = rt
        .datadeps_in(Scope::cpu(), |r| {
            r.spawn(builtin::scale(2.0f32), ReadWrite(&y));
        })
        .expect_err("no processor in scope");
    assert_no_processor(&err, "scale", DType::F32);
    // The same through a task's own scope inside an unrestricted region.
    let err = rt
        .datadeps(|r| {
            r.task(builtin::scale(2.0f32))
                .scope(Scope::cpu())
                .spawn(ReadWrite(&y));
        })
        .expect_err("no processor in the task's scope");
    assert_no_processor(&err, "scale", DType::F32);
    assert_eq!(y.to_vec().expect("read y"), vec![1.0, 2.0, 3.0]);
}

// ---------------------------------------------------------------------------------- checks

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

/// Element `i` of a column-major tile with `rows` rows, for messages.
fn at(i: usize, rows: usize) -> String {
    format!("{i} (row {}, col {})", i % rows.max(1), i / rows.max(1))
}

/// Bit-identical comparison; reports the first differing element.
fn assert_bits_eq<T: Sample>(what: &str, rows: usize, got: &[T], expected: &[T]) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    let differ = |(g, e): (&T, &T)| bytemuck::bytes_of(g) != bytemuck::bytes_of(e);
    let bad = got.iter().zip(expected).filter(|&p| differ(p)).count();
    if let Some(i) = got.iter().zip(expected).position(differ) {
        panic!(
            "{what}: {bad} of {} elements differ; first at element {}: got {:?}, expected {:?}",
            got.len(),
            at(i, rows),
            got[i],
            expected[i]
        );
    }
}

/// Checks `got[i]` against `a*x[i] + y[i]` within `c*u*(|a||x| + |y|) + 8*lambda*u`; reports the
/// worst element relative to its bound.
fn assert_axpy_within<T: Sample>(
    what: &str,
    (rows, cols): (usize, usize),
    r: Rounding,
    a: T,
    x: &[T],
    y: &[T],
    got: &[T],
) {
    assert_eq!(got.len(), rows * cols, "{what}: length");
    let ap = a.parts();
    let abs = |p: [f64; 2]| p[0].hypot(p[1]);
    let mut worst: Option<(usize, f64, f64, f64)> = None; // (index, error, bound, ratio)
    for i in 0..got.len() {
        let (xp, yp) = (x[i].parts(), y[i].parts());
        let err = residual(got[i].parts(), ap, xp, yp);
        let bound = r.c * r.u * (abs(ap) * abs(xp) + abs(yp)) + 8.0 * r.lambda * r.u;
        let ratio = if err.is_nan() {
            f64::INFINITY
        } else {
            err / bound
        };
        if worst.is_none_or(|w| ratio > w.3) {
            worst = Some((i, err, bound, ratio));
        }
    }
    if let Some((i, err, bound, ratio)) = worst
        && ratio > 1.0
    {
        let (xp, yp) = (x[i].parts(), y[i].parts());
        let reference = [
            ap[0] * xp[0] - ap[1] * xp[1] + yp[0],
            ap[0] * xp[1] + ap[1] * xp[0] + yp[1],
        ];
        panic!(
            "{what}: worst element {}: got {:?}, reference {reference:?} (a = {a:?}, x = {:?}, \
             y = {:?}); error {err:.3e} exceeds the bound {bound:.3e} = {}*u*(|a||x| + |y|) + \
             8*lambda*u with u = {:e} ({ratio:.2} times the bound)",
            at(i, rows),
            got[i],
            x[i],
            y[i],
            r.c,
            r.u
        );
    }
}

/// `|got - (a*x + y)|` for complex values given as `[re, im]`, accurate to a few ulps of f64
/// whatever the cancellation: products are split exactly and the terms summed with Sum2.
fn residual(got: [f64; 2], a: [f64; 2], x: [f64; 2], y: [f64; 2]) -> f64 {
    let (p1, e1) = two_prod(a[0], x[0]);
    let (p2, e2) = two_prod(a[1], x[1]);
    let (p3, e3) = two_prod(a[0], x[1]);
    let (p4, e4) = two_prod(a[1], x[0]);
    let re = sum2(&[got[0], -p1, -e1, p2, e2, -y[0]]);
    let im = sum2(&[got[1], -p3, -e3, -p4, -e4, -y[1]]);
    re.hypot(im)
}

/// `a*b = p + e` exactly (no underflow for our inputs).
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// `a + b = s + e` exactly (Knuth's TwoSum).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// The sum as if computed in twice the working precision, then rounded (Sum2).
fn sum2(terms: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for &t in terms {
        let (s2, e) = two_sum(s, t);
        s = s2;
        c += e;
    }
    s + c
}
