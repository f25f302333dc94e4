//! Tile QR: the kernels `geqrt`, `tsqrt`, `unmqr`, `tsmqr` one by one (CPU and GPU), then
//! `DArray::qr` with `QrFactor::form_q`, `apply_q` and `solve_least_squares` on ragged, tall and
//! square matrices, f64 and f32, under the CPU, one GPU (lavapipe), CPU + GPU, three virtual
//! GPUs, and three virtual GPUs + CPU; factors made on one processor and applied on the other
//! (the block-factor format is shared); then bad input (wide matrices, rectangular tiles,
//! `ib = 0`, mismatched right-hand sides, rank deficiency, bad tile shapes, tiles past lavapipe's
//! loop budget in a GPU-only run), each a typed error.
//!
//! Inputs are seeded (ChaCha8, entries in [-1, 1] rounded to the element type). Everything is
//! checked in f64 on the host against the rounded inputs. Poison: the `T` tiles the kernels
//! write (`Write` access) start as NaN, and so does the part of `tsqrt`'s first tile below the
//! diagonal, which must come back bit-identical.
//!
//! Bounds (`u` the unit roundoff of the element type, `m x n` the factored matrix, Frobenius
//! norms): Householder QR is backward stable column by column, `A + dA = Q R^` with
//! `||da_j|| <= gamma~_(mn) ||a_j||`, and the explicitly formed `Q^` is within
//! `sqrt(n) gamma~_(mn)` of an orthogonal matrix (Higham, *Accuracy and Stability of Numerical
//! Algorithms*, 2nd ed., Thm 19.4 and 19.13); the tiled algorithm applies the same reflectors
//! (each column meets about `m n / nb` of them, of length at most `2 nb`: the same product
//! `m n`). With `gamma~_k = c k u` we check
//! - factor: `||A - Q^ R^|| / ||A|| <= C_QR m n u`;
//! - orthogonality of a formed `Q^` with `c` columns:
//!   `||Q^^T Q^ - I|| <= C_QR (2 sqrt(c) m n + c m) u`: twice `||Q^ - Q||`, plus the host's own
//!   rounding when it forms `Q^^T Q^` in f64 (`gamma_m` per entry, the columns having unit
//!   norm, `c^2` entries);
//! - applying `Q^T` (kernels, `Q^` formed `m x m`): `||C^ - Q^^T C|| / ||C||` within the same
//!   bound with `c = m` (both sides carry the error of one application of the reflectors);
//! - least squares, for the normal-equation residual `r = A x^ - b`:
//!   `||A^T r|| / (||A|| (||A|| ||x^|| + ||b|| + ||r||)) <= C_QR m n u`, which is what the
//!   backward error above gives (first order; `A^T r = 0` for the exact solution).
//!
//! **C_QR = 2**, for `gamma~`'s constant and the `sqrt(n)` of the norms; every suite prints its
//! worst error/bound ratio (a wrong reflector or block factor gives errors of order 1).
//!
//! Math names: `m, n` the matrix, `nb` tile, `ib` inner block, `m1, m2` the two tiles of tsqrt.

use std::fmt::Debug;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera::kernels::qr;
use tessera::linalg::{QrFloat, Trans};
use tessera::{Blocks, Chunk, DArray, Error, Read, ReadWrite, Runtime, Scope, Write};

use crate::common::{self, within};

/// The constant of every bound (module docs).
const C_QR: f64 = 2.0;

/// Seconds an operation of these sizes may take before it counts as a hang.
const WATCHDOG: u64 = 60;

trait Real: QrFloat + Debug {
    /// Unit roundoff.
    const U: f64;
    /// A signalling NaN with a payload.
    const POISON: Self;
    fn bits(self) -> u64;
}

impl Real for f32 {
    const U: f64 = 1.0 / (1u64 << 24) as f64;
    const POISON: f32 = f32::from_bits(0x7fa0_0042);
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Real for f64 {
    const U: f64 = 1.0 / (1u64 << 53) as f64;
    const POISON: f64 = f64::from_bits(0x7ff4_0000_0000_0042);
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

// ------------------------------------------------------------------------------- helpers

fn random(seed: u64, rows: usize, cols: usize) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..rows * cols)
        .map(|_| rng.random_range(-1.0..=1.0))
        .collect()
}

fn rounded<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

fn wide<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// `op(A) B` for column-major `A` (`m x k` after `op`) and `B` (`k x n`), in f64.
fn mul(a: &[f64], ta: bool, m: usize, k: usize, b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for j in 0..n {
        for l in 0..k {
            let blj = b[l + j * k];
            for i in 0..m {
                let ail = if ta { a[l + i * k] } else { a[i + l * m] };
                c[i + j * m] += ail * blj;
            }
        }
    }
    c
}

fn frob(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn diff(a: &[f64], b: &[f64]) -> f64 {
    frob(&a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<_>>())
}

/// The upper triangle (trapezoid) of the `rows x n` column-major `a`, top `k` rows.
fn upper(a: &[f64], rows: usize, n: usize, k: usize) -> Vec<f64> {
    let mut r = vec![0.0; k * n];
    for c in 0..n {
        for i in 0..=c.min(k - 1) {
            r[i + c * k] = a[i + c * rows];
        }
    }
    r
}

fn identity(n: usize) -> Vec<f64> {
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i + i * n] = 1.0;
    }
    v
}

fn assert_finite(what: &str, v: &[f64]) {
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        panic!("{what}: element {i} is {} (unwritten or poisoned)", v[i]);
    }
}

/// Checks `err <= bound`, naming everything; returns the ratio.
fn within_bound(what: &str, quantity: &str, err: f64, bound: f64) -> f64 {
    assert!(
        err <= bound,
        "{what}: {quantity} = {err:.3e} exceeds the bound {bound:.3e} ({:.2} times)",
        err / bound
    );
    err / bound
}

fn bound<T: Real>(m: usize, n: usize) -> f64 {
    C_QR * (m.max(1) * n.max(1)) as f64 * T::U
}

/// The orthogonality bound for a formed `Q` with `c` columns (module docs).
fn orth_bound<T: Real>(m: usize, n: usize, c: usize) -> f64 {
    let (m, n, c) = (m.max(1) as f64, n.max(1) as f64, c.max(1) as f64);
    C_QR * (2.0 * c.sqrt() * m * n + c * m) * T::U
}

fn read<T: Real>(c: &Chunk<T>, what: &str) -> Vec<T> {
    c.to_vec()
        .unwrap_or_else(|e| panic!("{what}: reading back: {e}"))
}

fn run(what: &str, rt: &Runtime, f: impl FnOnce(&tessera::Region<'_>) + Send + 'static) {
    let rt = rt.clone();
    within(WATCHDOG, what, move || rt.datadeps(f)).unwrap_or_else(|e| panic!("{what}: {e}"));
}

// ------------------------------------------------------------------------------- kernels

/// geqrt on an `m x n` tile with inner block `ib`, then unmqr forming `Q` and applying `Q^T`.
fn geqrt_case<T: Real>(
    rt: &Runtime,
    label: &str,
    (factor_on, apply_on): (Scope, Scope),
    (m, n, ib): (usize, usize, usize),
) -> f64 {
    let what = format!("geqrt/unmqr {} m={m} n={n} ib={ib} on {label}", T::DTYPE);
    let a0: Vec<T> = rounded(&random(100 + m as u64, m, n));
    let c0: Vec<T> = rounded(&random(200 + n as u64, m, 3));
    let a = Chunk::from_slice(rt, m, n, &a0);
    let t = Chunk::from_vec(rt, ib, n, vec![T::POISON; ib * n]);
    let q = Chunk::from_vec(rt, m, m, rounded::<T>(&identity(m)));
    let c = Chunk::from_slice(rt, m, 3, &c0);
    let (a2, t2, q2, cc) = (a.clone(), t.clone(), q.clone(), c.clone());
    run(&what, rt, move |r| {
        r.task(qr::geqrt::<T>())
            .scope(factor_on)
            .spawn((ReadWrite(&a2), Write(&t2)));
        r.task(qr::unmqr::<T>(Trans::No))
            .scope(apply_on.clone())
            .spawn((Read(&a2), Read(&t2), ReadWrite(&q2)));
        r.task(qr::unmqr::<T>(Trans::Yes)).scope(apply_on).spawn((
            Read(&a2),
            Read(&t2),
            ReadWrite(&cc),
        ));
    });
    let (f, tv, qv, cv) = (
        wide(&read(&a, &what)),
        wide(&read(&t, &what)),
        wide(&read(&q, &what)),
        wide(&read(&c, &what)),
    );
    for (name, v) in [("A", &f), ("T", &tv), ("Q", &qv), ("C", &cv)] {
        assert_finite(&format!("{what}: {name}"), v);
    }
    let (a0, c0) = (wide(&a0), wide(&c0));
    let r = upper(&f, m, n, m);
    let (b, ob) = (bound::<T>(m, n), orth_bound::<T>(m, n, m));
    let e1 = diff(&mul(&qv, false, m, m, &r, n), &a0) / frob(&a0);
    let e2 = diff(&mul(&qv, true, m, m, &qv, m), &identity(m));
    let e3 = diff(&mul(&qv, true, m, m, &c0, 3), &cv) / frob(&c0);
    within_bound(&what, "||A - QR|| / ||A||", e1, b)
        .max(within_bound(&what, "||Q^T Q - I||", e2, ob))
        .max(within_bound(&what, "||C^ - Q^T C|| / ||C||", e3, ob))
}

/// tsqrt of the triangle of an `m1 x n` tile over an `m2 x n` tile, then tsmqr forming `Q` and
/// applying `Q^T`.
fn tsqrt_case<T: Real>(
    rt: &Runtime,
    label: &str,
    (factor_on, apply_on): (Scope, Scope),
    (m1, n, m2, ib): (usize, usize, usize, usize),
) -> f64 {
    let what = format!(
        "tsqrt/tsmqr {} m1={m1} n={n} m2={m2} ib={ib} on {label}",
        T::DTYPE
    );
    let s = n + m2;
    // The triangle, poison below it (neither read nor written).
    let r0 = random(300 + n as u64, m1, n);
    let a1_0: Vec<T> = (0..m1 * n)
        .map(|x| {
            let (i, c) = (x % m1, x / m1);
            if i <= c {
                T::from_f64(r0[x])
            } else {
                T::POISON
            }
        })
        .collect();
    let a2_0: Vec<T> = rounded(&random(400 + m2 as u64, m2, n));
    let a1 = Chunk::from_slice(rt, m1, n, &a1_0);
    let a2 = Chunk::from_slice(rt, m2, n, &a2_0);
    let t = Chunk::from_vec(rt, ib, n, vec![T::POISON; ib * n]);
    // Q = Q [I_n 0; 0 I_m2], split as [C1; C2].
    let id = identity(s);
    let top = |rows: usize, v: &[f64]| -> Vec<T> {
        (0..rows * s)
            .map(|x| T::from_f64(v[x % rows + (x / rows) * s]))
            .collect()
    };
    let q1 = Chunk::from_vec(rt, n, s, top(n, &id));
    let q2 = Chunk::from_vec(
        rt,
        m2,
        s,
        (0..m2 * s)
            .map(|x| T::from_f64(id[n + x % m2 + (x / m2) * s]))
            .collect(),
    );
    // A right-hand side whose C1 has two rows more than the reflectors reach.
    let d1_0: Vec<T> = rounded(&random(500, n + 2, 3));
    let d2_0: Vec<T> = rounded(&random(600, m2, 3));
    let d1 = Chunk::from_slice(rt, n + 2, 3, &d1_0);
    let d2 = Chunk::from_slice(rt, m2, 3, &d2_0);
    let (x1, x2, xt, y1, y2, z1, z2) = (
        a1.clone(),
        a2.clone(),
        t.clone(),
        q1.clone(),
        q2.clone(),
        d1.clone(),
        d2.clone(),
    );
    run(&what, rt, move |r| {
        r.task(qr::tsqrt::<T>()).scope(factor_on).spawn((
            ReadWrite(&x1),
            ReadWrite(&x2),
            Write(&xt),
        ));
        r.task(qr::tsmqr::<T>(Trans::No))
            .scope(apply_on.clone())
            .spawn((Read(&x2), Read(&xt), ReadWrite(&y1), ReadWrite(&y2)));
        r.task(qr::tsmqr::<T>(Trans::Yes)).scope(apply_on).spawn((
            Read(&x2),
            Read(&xt),
            ReadWrite(&z1),
            ReadWrite(&z2),
        ));
    });
    let a1v = read(&a1, &what);
    for (x, (got, was)) in a1v.iter().zip(&a1_0).enumerate() {
        if x % m1 > x / m1 {
            assert_eq!(
                got.bits(),
                was.bits(),
                "{what}: A1 below the diagonal at {x} was touched"
            );
        }
    }
    let (r1, v2, tv) = (
        upper(
            &wide(
                &a1v.iter()
                    .enumerate()
                    .map(|(x, v)| {
                        if x % m1 > x / m1 {
                            T::from_f64(0.0)
                        } else {
                            *v
                        }
                    })
                    .collect::<Vec<_>>(),
            ),
            m1,
            n,
            n,
        ),
        wide(&read(&a2, &what)),
        wide(&read(&t, &what)),
    );
    let (q1v, q2v) = (wide(&read(&q1, &what)), wide(&read(&q2, &what)));
    let (d1v, d2v) = (wide(&read(&d1, &what)), wide(&read(&d2, &what)));
    for (name, v) in [
        ("R", &r1),
        ("V2", &v2),
        ("T", &tv),
        ("Q1", &q1v),
        ("Q2", &q2v),
        ("D1", &d1v),
        ("D2", &d2v),
    ] {
        assert_finite(&format!("{what}: {name}"), v);
    }
    // Stack: S0 = [R0; A2_0] (s x n), Q (s x s) from [Q1; Q2].
    let stack = |top: &[f64], tr: usize, bot: &[f64], br: usize, cols: usize| -> Vec<f64> {
        let mut v = vec![0.0; (tr + br) * cols];
        for c in 0..cols {
            for i in 0..tr {
                v[i + c * (tr + br)] = top[i + c * tr];
            }
            for i in 0..br {
                v[tr + i + c * (tr + br)] = bot[i + c * br];
            }
        }
        v
    };
    let r0w = upper(
        &wide(
            &a1_0
                .iter()
                .enumerate()
                .map(|(x, v)| {
                    if x % m1 > x / m1 {
                        T::from_f64(0.0)
                    } else {
                        *v
                    }
                })
                .collect::<Vec<_>>(),
        ),
        m1,
        n,
        n,
    );
    let s0 = stack(&r0w, n, &wide(&a2_0), m2, n);
    let qv = stack(&q1v, n, &q2v, m2, s);
    let rr = stack(&r1, n, &vec![0.0; m2 * n], m2, n);
    let (b, ob) = (bound::<T>(s, n), orth_bound::<T>(s, n, s));
    let e1 = diff(&mul(&qv, false, s, s, &rr, n), &s0) / frob(&s0).max(f64::MIN_POSITIVE);
    let e2 = diff(&mul(&qv, true, s, s, &qv, s), &identity(s));
    // D: rows 0..n of D1 and D2 get Q^T; the two extra rows of D1 stay.
    let (d1w, d2w) = (wide(&d1_0), wide(&d2_0));
    let top_rows = |v: &[f64], rows: usize, take: usize| -> Vec<f64> {
        (0..take * 3)
            .map(|x| v[x % take + (x / take) * rows])
            .collect()
    };
    let dd0 = stack(&top_rows(&d1w, n + 2, n), n, &d2w, m2, 3);
    let dd = stack(&top_rows(&d1v, n + 2, n), n, &d2v, m2, 3);
    let e3 = diff(&mul(&qv, true, s, s, &dd0, 3), &dd) / frob(&dd0);
    for c in 0..3 {
        for i in n..n + 2 {
            assert_eq!(
                d1v[i + c * (n + 2)],
                d1w[i + c * (n + 2)],
                "{what}: D1 row {i} changed"
            );
        }
    }
    within_bound(&what, "||[R0; A2] - Q [R; 0]|| / ||[R0; A2]||", e1, b)
        .max(within_bound(&what, "||Q^T Q - I||", e2, ob))
        .max(within_bound(&what, "||D^ - Q^T D|| / ||D||", e3, ob))
}

const GEQRT_CASES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (5, 5, 2),
    (8, 5, 3),
    (16, 16, 4),
    (20, 13, 16),
    (33, 17, 5),
    (40, 40, 40),
];

const TSQRT_CASES: [(usize, usize, usize, usize); 6] = [
    (1, 1, 1, 1),
    (5, 5, 5, 2),
    (7, 5, 3, 3),
    (8, 8, 1, 8),
    (16, 16, 16, 4),
    (13, 13, 20, 5),
];

fn kernel_suite<T: Real>(rt: &Runtime, label: &str) {
    let mut worst = 0.0f64;
    let all = || (Scope::all(), Scope::all());
    for case in GEQRT_CASES {
        worst = worst.max(geqrt_case::<T>(rt, label, all(), case));
    }
    for case in TSQRT_CASES {
        worst = worst.max(tsqrt_case::<T>(rt, label, all(), case));
    }
    eprintln!(
        "qr kernels {} on {label}: worst error/bound ratio {worst:.4}",
        T::DTYPE
    );
}

#[test]
fn kernels_factor_on_one_processor_apply_on_the_other() {
    // The block factors are one format on every processor: T made by the GPU is applied by the
    // CPU (which uses all of it) and the other way round, with blocks narrower than, equal to
    // and wider than the CPU's 32-column panels.
    let Some(rt) = common::mixed_runtime() else {
        return;
    };
    let (cpu, gpu) = (Scope::cpu(), Scope::gpu(0));
    let mut worst = 0.0f64;
    for (f, a, label) in [
        (
            gpu.clone(),
            cpu.clone(),
            "geqrt/tsqrt on the gpu, applied on the cpu",
        ),
        (cpu, gpu, "geqrt/tsqrt on the cpu, applied on the gpu"),
    ] {
        for case in [(40, 40, 5), (70, 70, 40), (75, 66, 66)] {
            worst = worst.max(geqrt_case::<f64>(&rt, label, (f.clone(), a.clone()), case));
        }
        for case in [(40, 40, 40, 5), (66, 66, 70, 40), (70, 66, 30, 66)] {
            worst = worst.max(tsqrt_case::<f64>(&rt, label, (f.clone(), a.clone()), case));
        }
    }
    eprintln!("qr kernels across processors: worst error/bound ratio {worst:.4}");
}

#[test]
fn kernels_cpu() {
    let rt = common::cpu_runtime();
    kernel_suite::<f64>(&rt, "cpu");
    kernel_suite::<f32>(&rt, "cpu");
}

#[test]
fn kernels_gpu() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    kernel_suite::<f64>(&rt, "gpu");
    kernel_suite::<f32>(&rt, "gpu");
}

// ----------------------------------------------------------------------------- algorithm

/// `qr_with`, `form_q` and `solve_least_squares` on an `m x n` matrix in `nb` tiles.
fn qr_case<T: Real>(
    rt: &Runtime,
    scope: &Scope,
    label: &str,
    (m, n, nb, ib): (usize, usize, usize, usize),
) -> f64 {
    let what = format!("qr {} m={m} n={n} nb={nb} ib={ib} on {label}", T::DTYPE);
    let k = 3;
    let a0: Vec<T> = rounded(&random(700 + (m * n) as u64, m, n));
    let b0: Vec<T> = rounded(&random(800 + m as u64, m, k));
    let a = DArray::from_slice(rt, m, n, &a0, Blocks::square(nb));
    let b = DArray::from_slice(rt, m, k, &b0, Blocks::new(nb, 2));
    let (a2, b2, sc) = (a.clone(), b.clone(), scope.clone());
    let (q, x) = within(WATCHDOG, &what, move || {
        let f = a2.qr_with(ib, &sc)?;
        assert_eq!(f.inner_block(), ib);
        let q = f.form_q(&sc)?;
        let x = f.solve_least_squares(&b2, &sc)?;
        Ok::<_, Error>((q, x))
    })
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    let get = |d: &DArray<T>| wide(&d.to_vec().unwrap_or_else(|e| panic!("{what}: {e}")));
    let (f, qv, xv) = (get(&a), get(&q), get(&x));
    assert_eq!((x.rows(), x.cols()), (n, k), "{what}: X's shape");
    for (name, v) in [("factor", &f), ("Q", &qv), ("X", &xv)] {
        assert_finite(&format!("{what}: {name}"), v);
    }
    let (a0, b0) = (wide(&a0), wide(&b0));
    let r = upper(&f, m, n, n);
    let bd = bound::<T>(m, n);
    let e1 = diff(&mul(&qv, false, m, n, &r, n), &a0) / frob(&a0);
    let e2 = diff(&mul(&qv, true, n, m, &qv, n), &identity(n));
    // Normal equations: A^T (A x - b).
    let res: Vec<f64> = mul(&a0, false, m, n, &xv, k)
        .iter()
        .zip(&b0)
        .map(|(p, q)| p - q)
        .collect();
    let ne = frob(&mul(&a0, true, n, m, &res, k));
    let an = frob(&a0);
    let e3 = ne / (an * (an * frob(&xv) + frob(&b0) + frob(&res)));
    within_bound(&what, "||A - QR|| / ||A||", e1, bd)
        .max(within_bound(
            &what,
            "||Q^T Q - I||",
            e2,
            orth_bound::<T>(m, n, n),
        ))
        .max(within_bound(
            &what,
            "||A^T (A x - b)|| / (||A|| (||A|| ||x|| + ||b|| + ||r||))",
            e3,
            bd,
        ))
}

/// `(m, n, nb, ib)`: ragged, tall and square; tiles smaller than, equal to and larger than the
/// matrix.
const CPU_CASES: [(usize, usize, usize, usize); 8] = [
    (1, 1, 4, 2),
    (7, 7, 8, 4),
    (8, 8, 8, 8),
    (9, 9, 8, 3),
    (37, 37, 8, 3),
    (50, 13, 8, 4),
    (100, 37, 16, 5),
    (64, 64, 16, 16),
];

const GPU_CASES: [(usize, usize, usize, usize); 3] =
    [(9, 9, 8, 3), (37, 13, 8, 4), (30, 30, 16, 5)];

fn qr_suite(
    rt: &Runtime,
    scope: &Scope,
    label: &str,
    cases: &[(usize, usize, usize, usize)],
    f32_too: bool,
) {
    let mut worst = 0.0f64;
    for &case in cases {
        worst = worst.max(qr_case::<f64>(rt, scope, label, case));
    }
    eprintln!("qr f64 on {label}: worst error/bound ratio {worst:.4}");
    if f32_too {
        let mut worst = 0.0f64;
        for &case in cases {
            worst = worst.max(qr_case::<f32>(rt, scope, label, case));
        }
        eprintln!("qr f32 on {label}: worst error/bound ratio {worst:.4}");
    }
}

#[test]
fn qr_cpu() {
    qr_suite(
        &common::cpu_runtime(),
        &Scope::all(),
        "cpu",
        &CPU_CASES,
        true,
    );
}

#[test]
fn qr_gpu() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    qr_suite(&rt, &Scope::all(), "gpu", &GPU_CASES, true);
}

#[test]
fn qr_mixed() {
    let Some(rt) = common::mixed_runtime() else {
        return;
    };
    qr_suite(&rt, &Scope::all(), "cpu + gpu", &GPU_CASES, true);
}

#[test]
fn qr_three_gpus() {
    let Some(rt) = common::three_gpu_runtime() else {
        return;
    };
    qr_suite(&rt, &Scope::gpus([0, 1, 2]), "3 gpus", &GPU_CASES, false);
}

#[test]
fn qr_three_gpus_cpu() {
    let Some(rt) = common::three_gpu_mixed_runtime() else {
        return;
    };
    qr_suite(&rt, &Scope::all(), "3 gpus + cpu", &GPU_CASES, false);
}

// ------------------------------------------------------------------------------ bad input

#[test]
fn qr_rejects_wide_matrices_and_rectangular_tiles() {
    let rt = common::cpu_runtime();
    let wide = DArray::<f64>::rand(&rt, 4, 6, Blocks::square(2), 1);
    assert!(matches!(wide.qr(), Err(Error::ShapeMismatch { .. })));
    let rect = DArray::<f64>::rand(&rt, 6, 4, Blocks::new(3, 2), 1);
    assert!(matches!(rect.qr(), Err(Error::ShapeMismatch { .. })));
    let ok = DArray::<f64>::rand(&rt, 6, 4, Blocks::square(2), 1);
    assert!(matches!(
        ok.qr_with(0, &Scope::all()),
        Err(Error::Config(_))
    ));
}

#[test]
fn least_squares_rejects_mismatched_right_hand_sides() {
    let rt = common::cpu_runtime();
    let a = DArray::<f64>::rand(&rt, 6, 4, Blocks::square(2), 1);
    let f = a.qr().expect("factor");
    for b in [
        DArray::<f64>::rand(&rt, 5, 2, Blocks::square(2), 2),
        DArray::<f64>::rand(&rt, 6, 2, Blocks::new(3, 2), 2),
    ] {
        assert!(matches!(
            f.solve_least_squares(&b, &Scope::all()),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            f.apply_q(Trans::Yes, &b, &Scope::all()),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}

#[test]
fn least_squares_on_a_rank_deficient_matrix_is_singular() {
    // Column 5 (in the second tile column) is zero: R(5, 5) = 0.
    for rt in [Some(common::cpu_runtime()), common::gpu_runtime()]
        .into_iter()
        .flatten()
    {
        let a = DArray::<f64>::from_fn(&rt, 10, 7, Blocks::square(4), |r, c| {
            if c == 5 {
                0.0
            } else {
                tessera::spd_element(3, 10, r, c)
            }
        });
        let b = DArray::<f64>::rand(&rt, 10, 1, Blocks::square(4), 4);
        let before = b.to_vec().expect("b");
        match a.least_squares(&b) {
            Err(Error::Singular { column }) => assert_eq!(column, 5),
            other => panic!("expected Singular at column 5, got {other:?}"),
        }
        assert_eq!(b.to_vec().expect("b"), before, "B is untouched on failure");
    }
}

#[test]
fn qr_kernels_reject_bad_shapes_with_a_typed_error() {
    let rt = common::cpu_runtime();
    let a = Chunk::<f64>::zeros(&rt, 2, 3);
    let t = Chunk::<f64>::zeros(&rt, 2, 3);
    let e = rt
        .datadeps(|r| {
            r.spawn(qr::geqrt::<f64>(), (ReadWrite(&a), Write(&t)));
        })
        .expect_err("a wide tile");
    assert!(
        matches!(
            e.kernel_error(),
            Some(tessera::KernelError::InvalidArgument(_))
        ),
        "{e}"
    );
}

#[test]
fn qr_with_tiles_past_the_gpu_loop_budget_fails_cleanly_without_a_cpu() {
    // lavapipe stops loops after 65535 iterations per invocation; the factorization kernels
    // of 200-tiles need more, so a GPU-only run must fail with a typed error, not hang or
    // return garbage.
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    let a = DArray::<f32>::rand(&rt, 200, 200, Blocks::square(200), 9);
    let result = within(WATCHDOG, "qr of 200-tiles on the gpu", move || {
        a.qr().map(|_| ())
    });
    if common::adapter() == "lavapipe" {
        let e = result.expect_err("geqrt of a 200-tile exceeds lavapipe's loop budget");
        assert!(e.to_string().contains("loop-budget"), "{e}");
    }
}
