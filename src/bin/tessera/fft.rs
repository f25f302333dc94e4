//! `tessera run fft --shape 4096x4096` and `tessera bench fft`: complex FFTs of DArrays, with
//! GFLOP/s counted as 5 N log2 N and rustfft called directly (one thread) in the same run.

use std::time::Instant;

use num_complex::Complex;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera::fft::{self, Direction, FftPlan, Norm};
use tessera::kernels::fft::{FftReal, flops};
use tessera::{Blocks, DArray, Element, Error, Runtime, Scope};

use crate::Cli;

/// Parses `N`, `AxB` or `AxBxC`.
pub(crate) fn parse_shape(s: &str) -> tessera::Result<Vec<usize>> {
    let dims: Option<Vec<usize>> = s.split('x').map(|d| d.trim().parse().ok()).collect();
    match dims {
        Some(d) if (1..=3).contains(&d.len()) && !d.contains(&0) => Ok(d),
        _ => Err(Error::Config(format!(
            "shape `{s}`: use N, AxB or AxBxC with positive lengths"
        ))),
    }
}

fn input<T: FftReal>(rt: &Runtime, dims: &[usize], seed: u64) -> DArray<Complex<T>>
where
    Complex<T>: Element,
{
    let total: usize = dims.iter().product();
    let (rows, cols) = (dims[0], total / dims[0]);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data: Vec<Complex<T>> = (0..total)
        .map(|_| {
            Complex::new(
                T::round_from(rng.random_range(-1.0..=1.0)),
                T::round_from(rng.random_range(-1.0..=1.0)),
            )
        })
        .collect();
    // Eight panels: a vector in runs, a matrix in column panels.
    let blocks = if dims.len() == 1 {
        Blocks::new(rows.div_ceil(8), 1)
    } else {
        Blocks::new(rows, cols.div_ceil(8))
    };
    DArray::from_vec(rt, rows, cols, data, blocks)
}

/// `||a - b|| / ||b||`.
fn rel_err<T: FftReal>(a: &[Complex<T>], b: &[Complex<T>]) -> f64 {
    let (mut e, mut n) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dr, di) = (x.re.widen() - y.re.widen(), x.im.widen() - y.im.widen());
        e += dr * dr + di * di;
        n += y.re.widen().powi(2) + y.im.widen().powi(2);
    }
    (e / n.max(f64::MIN_POSITIVE)).sqrt()
}

/// Options of `tessera run fft`.
pub(crate) struct RunFft<'a> {
    pub(crate) shape: &'a str,
    pub(crate) dtype: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) check: bool,
    pub(crate) summary: bool,
}

pub(crate) fn run(cli: &Cli, o: &RunFft<'_>) -> tessera::Result<()> {
    let dims = parse_shape(o.shape)?;
    let rt = cli.builder().trace(o.summary).build()?;
    let scope = crate::run::parse_scope(o.scope)?;
    match o.dtype {
        "c32" => run_typed::<f32>(&rt, &dims, &scope, o),
        "c64" => run_typed::<f64>(&rt, &dims, &scope, o),
        d => Err(Error::Config(format!("--dtype {d}: use c32 or c64"))),
    }
}

fn run_typed<T: FftReal>(
    rt: &Runtime,
    dims: &[usize],
    scope: &Scope,
    o: &RunFft<'_>,
) -> tessera::Result<()>
where
    Complex<T>: Element,
{
    let x = input::<T>(rt, dims, 7);
    let plan = fft::plan_for(
        rt,
        scope,
        dims,
        Direction::Forward,
        Norm::Backward,
        T::COMPLEX,
    )?;
    let plan: FftPlan = (*plan).clone();
    println!("{plan}");
    println!(
        "processors: {}",
        rt.processors()
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let t = Instant::now();
    let y = fft::execute(&plan, &x, scope)?;
    y.tiles().first().map(|c| c.to_vec()).transpose()?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "forward: {:.4} s, {:.2} GFLOP/s (5 N log2 N)",
        secs,
        plan.flops() / secs / 1e9
    );
    if o.summary
        && let Some(t) = rt.trace()
    {
        println!("{}", t.summary());
    }
    if o.check {
        let inv = FftPlan::new(
            dims,
            Direction::Inverse,
            Norm::Backward,
            T::COMPLEX,
            plan.target(),
        )?;
        let back = fft::execute(&inv, &y, scope)?.to_vec()?;
        let err = rel_err(&back, &x.to_vec()?);
        let n: usize = dims.iter().product();
        let bound = 2.0 * 5.0 * (n.max(2) as f64).log2() * T::EPSILON;
        println!(
            "check: inverse(forward(x)) vs x: relative error {err:.3e} (bound 2 x 5 log2(N) u = {bound:.3e}) {}",
            if err <= bound { "ok" } else { "FAILED" }
        );
        if err > bound {
            return Err(Error::Config("the FFT check failed".into()));
        }
    }
    Ok(())
}

/// Options of `tessera bench fft`.
pub(crate) struct BenchFft<'a> {
    pub(crate) shapes: &'a [String],
    pub(crate) dtype: &'a str,
    pub(crate) scopes: &'a [String],
    pub(crate) reps: usize,
}

pub(crate) fn bench(cli: &Cli, o: &BenchFft<'_>) -> tessera::Result<()> {
    let rt = cli.runtime()?;
    println!(
        "FFT {} GFLOP/s (5 N log2 N per transform), median of {} runs after a warm-up; rustfft = rustfft called directly, one thread, in place; tessera = Fft::execute_into (result reused), (fresh) = Fft::execute (new result each run); ms and ratio for execute_into; processors: {}",
        o.dtype,
        o.reps,
        rt.processors()
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "{:>14} {:>9} {:>9} {:>9} {:>9} {:>7} {:>10}  scope (plan)",
        "shape", "rustfft", "tessera", "(fresh)", "ms", "ratio", "rel.err"
    );
    for s in o.shapes {
        let dims = parse_shape(s)?;
        match o.dtype {
            "c32" => bench_typed::<f32>(&rt, s, &dims, o)?,
            "c64" => bench_typed::<f64>(&rt, s, &dims, o)?,
            d => return Err(Error::Config(format!("--dtype {d}: use c32 or c64"))),
        }
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench_typed<T: FftReal>(
    rt: &Runtime,
    label: &str,
    dims: &[usize],
    o: &BenchFft<'_>,
) -> tessera::Result<()>
where
    Complex<T>: Element,
{
    let x = input::<T>(rt, dims, 11);
    let host = x.to_vec()?;
    let total = host.len();
    let fl = flops(total, 1);
    let (reference, rustfft_secs) = rustfft_nd(&host, dims, o.reps.max(1));
    for s in o.scopes {
        let scope = crate::run::parse_scope(s)?;
        let plan = match fft::plan_for(
            rt,
            &scope,
            dims,
            Direction::Forward,
            Norm::Backward,
            T::COMPLEX,
        ) {
            Ok(p) => (*p).clone(),
            Err(e) => {
                println!("{label:>14}  {s}: {e}");
                continue;
            }
        };
        let f = fft::Fft::<T>::new(rt, plan)?;
        // Warm-up (pipelines, tables, scratch, pool) and the correctness check.
        let y = f.execute(&x, &scope)?;
        let err = rel_err(&y.to_vec()?, &reference);
        let reps = o.reps.max(1);
        // Into the same result (no allocation), then into fresh results.
        let mut into = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            f.execute_into(&x, &y, &scope)?;
            into.push(t.elapsed().as_secs_f64());
        }
        let mut fresh = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            let z = f.execute(&x, &scope)?;
            fresh.push(t.elapsed().as_secs_f64());
            drop(z);
        }
        let (secs, fresh) = (median(into), median(fresh));
        println!(
            "{label:>14} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>6.2}x {:>10.2e}  {s} ({:?}, {} panels)",
            fl / rustfft_secs / 1e9,
            fl / secs / 1e9,
            fl / fresh / 1e9,
            secs * 1e3,
            rustfft_secs / secs,
            err,
            f.plan().algorithm(),
            f.plan().panels()
        );
    }
    Ok(())
}

/// rustfft on one thread: each dimension's transforms on contiguous data, with blocked
/// transposes between dimensions (the same work as tessera's plan). Returns the result and
/// the median time.
fn rustfft_nd<T: FftReal>(x: &[Complex<T>], dims: &[usize], reps: usize) -> (Vec<Complex<T>>, f64) {
    let mut planner = rustfft::FftPlanner::<T>::new();
    let total = x.len();
    let mut a = x.to_vec();
    let mut b = vec![Complex::new(T::zero(), T::zero()); total];
    // Plans made before timing, as rustfft's users do.
    let plans: Vec<_> = if dims.len() == 1 {
        vec![planner.plan_fft_forward(total)]
    } else {
        (0..dims.len())
            .map(|i| planner.plan_fft_forward(dims[(i + 1) % dims.len()]))
            .collect()
    };
    let run = |a: &mut Vec<Complex<T>>, b: &mut Vec<Complex<T>>| {
        if dims.len() == 1 {
            plans[0].process(a);
            return;
        }
        // Rotate: transpose (lead x rest) -> (rest x lead), transform the new leading dim.
        for (i, plan) in plans.iter().enumerate() {
            let lead = dims[i];
            transpose(a, b, lead, total / lead);
            std::mem::swap(a, b);
            plan.process(a);
        }
    };
    run(&mut a, &mut b);
    let out = a.clone();
    let mut times = Vec::new();
    for _ in 0..reps {
        a.copy_from_slice(x);
        let t = Instant::now();
        run(&mut a, &mut b);
        times.push(t.elapsed().as_secs_f64());
    }
    (out, median(times))
}

/// `b (cols x rows) = a (rows x cols)^T`, column-major, in 32 x 32 blocks.
fn transpose<E: Copy>(a: &[E], b: &mut [E], rows: usize, cols: usize) {
    const B: usize = 32;
    for cb in (0..cols).step_by(B) {
        for rb in (0..rows).step_by(B) {
            for c in cb..(cb + B).min(cols) {
                for r in rb..(rb + B).min(rows) {
                    b[c + r * cols] = a[r + c * rows];
                }
            }
        }
    }
}
