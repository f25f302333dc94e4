//! Measuring kernels: the harness behind `tessera bench kernel` and `cargo bench --bench
//! kernels`.
//!
//! A measurement runs a batch of independent tasks of one dense kernel on square tiles on one
//! processor, after a warm-up that moves the inputs there, compiles the pipeline and settles
//! autotuning; inputs a kernel overwrites are restored before each timed batch, outside the
//! timing. The faer baseline calls the same CPU kernel directly on the calling thread, with no
//! runtime in between. FLOP counts: GEMM 2n^3, SYRK n^2 (n + 1), TRSM n^3, POTRF n^3/3.

mod qr;

use std::time::Instant;

use half::f16;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::chunk::{AnyChunk, Chunk};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::builtin;
use crate::kernels::dense::{self, Op};
use crate::kernels::{CpuTask, KernelCall, Mode, Scalar, Shape, Slot};
use crate::runtime::Runtime;
use crate::runtime::processor::Processor;
use crate::runtime::scope::Scope;
use crate::runtime::task::Access;

/// Median, minimum and maximum of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Stats {
    /// The median.
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
}

impl Stats {
    /// Statistics of `samples` (which must not be empty).
    ///
    /// # Panics
    /// If `samples` is empty.
    pub fn of(mut samples: Vec<f64>) -> Stats {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_by(f64::total_cmp);
        Stats {
            median: samples[samples.len() / 2],
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }
}

/// One measurement of a kernel on a processor.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KernelMeasurement {
    /// GFLOP/s over the repetitions (median, min, max).
    pub gflops: Stats,
    /// Tasks per timed batch.
    pub batch: usize,
    /// The GPU variant that ran, if on a GPU.
    pub variant: Option<String>,
}

/// The dense kernel a bench name stands for: `gemm` (= `gemm_nn`), `syrk` (`syrk_ln`), `trsm`
/// (`trsm_llnn`), `potrf` (`potrf_l`), or any full name of
/// [`kernel_by_name`](crate::kernels::dense::kernel_by_name).
pub fn dense_op(name: &str) -> Option<String> {
    let full = match name {
        "gemm" => "gemm_nn",
        "syrk" => "syrk_ln",
        "trsm" => "trsm_llnn",
        "potrf" => "potrf_l",
        other => other,
    };
    dense::all_ops()
        .into_iter()
        .map(dense::op_name)
        .find(|n| n == full)
}

fn find_op(name: &str) -> Result<Op> {
    let full = dense_op(name).ok_or_else(|| {
        Error::Config(format!(
            "unknown dense kernel `{name}`: use gemm, syrk, trsm, potrf or a full name such as gemm_nt, trsm_lltn"
        ))
    })?;
    dense::all_ops()
        .into_iter()
        .find(|o| dense::op_name(*o) == full)
        .ok_or_else(|| unreachable!("names come from all_ops"))
}

/// Floating-point operations of one call of `op` on order-`n` tiles.
pub fn dense_flops(name: &str, n: usize) -> Result<f64> {
    let n = n as f64;
    Ok(match find_op(name)? {
        Op::Gemm(..) => 2.0 * n * n * n,
        Op::Syrk(..) => n * n * (n + 1.0),
        Op::Trsm(..) => n * n * n,
        Op::Potrf(_) => n * n * n / 3.0,
    })
}

/// Inputs of one benchmark call, as f64 column-major tiles (converted to the element type when
/// chunks are made): the kernel's arguments in order.
fn inputs(op: Op, n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut random = || {
        (0..n * n)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect::<Vec<f64>>()
    };
    match op {
        Op::Gemm(..) => vec![random(), random(), vec![0.0; n * n]],
        Op::Syrk(..) => vec![random(), vec![0.0; n * n]],
        Op::Trsm(..) => {
            // Well conditioned: off-diagonal entries small against a diagonal near 2.
            let mut a = random();
            for j in 0..n {
                for i in 0..n {
                    a[i + j * n] = if i == j {
                        2.0 + a[i + j * n].abs()
                    } else {
                        a[i + j * n] / n as f64
                    };
                }
            }
            vec![a, random()]
        }
        Op::Potrf(_) => {
            // Diagonally dominant symmetric: SPD.
            let r = random();
            let mut a = vec![0.0; n * n];
            for j in 0..n {
                for i in 0..n {
                    a[i + j * n] = (r[i + j * n] + r[j + i * n]) / 2.0;
                }
                a[j + j * n] += n as f64;
            }
            vec![a]
        }
    }
}

fn params(op: Op, dtype: DType) -> Vec<Scalar> {
    let s = |v: f64| match dense::scalar_dtype(dtype) {
        DType::F64 => Scalar::F64(v),
        _ => Scalar::F32(v as f32),
    };
    match op {
        Op::Gemm(..) | Op::Syrk(..) => vec![s(1.0), s(0.0)],
        Op::Trsm(..) => vec![s(1.0)],
        Op::Potrf(_) => vec![],
    }
}

fn chunk_of(rt: &Runtime, n: usize, v: &[f64], dtype: DType) -> AnyChunk {
    match dtype {
        DType::F64 => Chunk::from_slice(rt, n, n, v).raw,
        DType::F32 => Chunk::<f32>::from_vec(rt, n, n, v.iter().map(|x| *x as f32).collect()).raw,
        DType::F16 => {
            Chunk::<f16>::from_vec(rt, n, n, v.iter().map(|x| f16::from_f64(*x)).collect()).raw
        }
        d => unreachable!("no dense kernels for {d}"),
    }
}

fn copy_call(dtype: DType) -> KernelCall {
    builtin::kernel("copy", dtype)
        .unwrap_or_else(|| unreachable!("copy exists for every type"))
        .call([])
}

/// Measures the dense kernel `name` (see [`dense_op`]) on `dtype` tiles of order `n` on
/// `processor` of `rt`, restricted to GPU variant `variant` when given. `reps` timed batches.
///
/// # Errors
/// [`Error::Config`] for an unknown kernel or variant, and any task failure.
pub fn dense_kernel(
    rt: &Runtime,
    name: &str,
    dtype: DType,
    n: usize,
    processor: Processor,
    variant: Option<&str>,
    reps: usize,
) -> Result<KernelMeasurement> {
    let op = find_op(name)?;
    let mut kernel = dense::kernel(op, dtype);
    if let Some(v) = variant {
        kernel = kernel
            .with_gpu_variant(v)
            .ok_or_else(|| Error::Config(format!("kernel `{name}` has no GPU variant `{v}`")))?;
    }
    let call = kernel.call(params(op, dtype));
    let scope = match processor {
        Processor::Cpu => Scope::cpu(),
        Processor::Gpu(d) => Scope::gpu(d.0),
    };
    let data = inputs(op, n, 7);
    let modes: Vec<Mode> = kernel.args().iter().map(|a| a.mode).collect();
    // Overwritten inputs (trsm's B, potrf's A) are restored from pristine copies; gemm and
    // syrk use beta = 0, so their outputs need no restoring.
    let restores = !matches!(op, Op::Gemm(..) | Op::Syrk(..));
    let shared: Vec<Option<AnyChunk>> = data
        .iter()
        .zip(&modes)
        .map(|(v, m)| (*m == Mode::Read).then(|| chunk_of(rt, n, v, dtype)))
        .collect();
    let pristine: Vec<Option<AnyChunk>> = data
        .iter()
        .zip(&modes)
        .map(|(v, m)| (*m != Mode::Read && restores).then(|| chunk_of(rt, n, v, dtype)))
        .collect();
    let mut outputs: Vec<Vec<AnyChunk>> = Vec::new();
    let grow = |batch: usize, outputs: &mut Vec<Vec<AnyChunk>>| {
        while outputs.len() < batch {
            outputs.push(
                data.iter()
                    .zip(&modes)
                    .filter(|(_, m)| **m != Mode::Read)
                    .map(|(v, _)| chunk_of(rt, n, v, dtype))
                    .collect(),
            );
        }
    };
    let run_batch = |batch: usize, outputs: &[Vec<AnyChunk>]| -> Result<f64> {
        if restores {
            rt.datadeps_in(scope.clone(), |r| {
                for outs in &outputs[..batch] {
                    let mut o = outs.iter();
                    for p in pristine.iter().flatten() {
                        let dst = o.next().unwrap_or_else(|| unreachable!());
                        r.spawn(
                            copy_call(dtype),
                            (Access::new(p, Mode::Read), Access::new(dst, Mode::Write)),
                        );
                    }
                }
            })?;
        }
        let t = Instant::now();
        rt.datadeps_in(scope.clone(), |r| {
            for outs in &outputs[..batch] {
                let mut o = outs.iter();
                let acc: Vec<Access> = shared
                    .iter()
                    .zip(&modes)
                    .map(|(s, m)| match s {
                        Some(c) => Access::new(c, *m),
                        None => Access::new(o.next().unwrap_or_else(|| unreachable!()), *m),
                    })
                    .collect();
                r.spawn(&call, acc);
            }
        })?;
        Ok(t.elapsed().as_secs_f64())
    };
    // Warm-up: moves data, compiles, autotunes; then size the batch to about 0.2 s.
    grow(1, &mut outputs);
    run_batch(1, &outputs)?;
    let once = run_batch(1, &outputs)?;
    let batch = ((0.2 / once.max(1e-6)) as usize).clamp(1, 16);
    grow(batch, &mut outputs);
    run_batch(batch, &outputs)?;
    let flops = dense_flops(name, n)? * batch as f64;
    let samples: Result<Vec<f64>> = (0..reps.max(1))
        .map(|_| run_batch(batch, &outputs).map(|s| flops / s / 1e9))
        .collect();
    let variant = match processor {
        Processor::Gpu(d) => {
            let shapes = vec![
                Shape {
                    rows: n,
                    cols: n,
                    dtype
                };
                modes.len()
            ];
            Some(rt.gpu_variant(d, &call, &shapes)?)
        }
        Processor::Cpu => None,
    };
    Ok(KernelMeasurement {
        gflops: Stats::of(samples?),
        batch,
        variant,
    })
}

/// Measures faer itself, called directly on this thread (no runtime, one thread), on the same
/// tiles as [`dense_kernel`]: the baseline for the CPU column.
///
/// # Errors
/// [`Error::Config`] for an unknown kernel or element type.
pub fn dense_kernel_faer(name: &str, dtype: DType, n: usize, reps: usize) -> Result<Stats> {
    let op = find_op(name)?;
    let data = inputs(op, n, 7);
    let modes: Vec<Mode> = dense::kernel(op, dtype)
        .args()
        .iter()
        .map(|a| a.mode)
        .collect();
    let to_bytes = |v: &[f64]| -> Vec<u8> {
        match dtype {
            DType::F64 => bytemuck::cast_slice(v).to_vec(),
            DType::F32 => {
                bytemuck::cast_slice(&v.iter().map(|x| *x as f32).collect::<Vec<_>>()).to_vec()
            }
            DType::F16 => {
                bytemuck::cast_slice(&v.iter().map(|x| f16::from_f64(*x)).collect::<Vec<_>>())
                    .to_vec()
            }
            _ => Vec::new(),
        }
    };
    let pristine: Vec<Vec<u8>> = data.iter().map(|v| to_bytes(v)).collect();
    let shapes: Vec<Shape> = vec![
        Shape {
            rows: n,
            cols: n,
            dtype
        };
        modes.len()
    ];
    let ps = params(op, dtype);
    let run = || -> Result<f64> {
        // u64 storage keeps every element type aligned.
        let mut bufs: Vec<Vec<u64>> = pristine
            .iter()
            .map(|b| {
                let mut w = vec![0u64; b.len().div_ceil(8)];
                bytemuck::cast_slice_mut::<u64, u8>(&mut w)[..b.len()].copy_from_slice(b);
                w
            })
            .collect();
        let len = pristine[0].len();
        let t = Instant::now();
        let slots = bufs
            .iter_mut()
            .zip(&modes)
            .map(|(b, m)| {
                let bytes = &mut bytemuck::cast_slice_mut::<u64, u8>(b)[..len];
                if *m == Mode::Read {
                    Slot::Shared(bytes)
                } else {
                    Slot::Exclusive(Some(bytes))
                }
            })
            .collect();
        let mut task = CpuTask {
            kernel: "faer",
            shapes: &shapes,
            params: &ps,
            slots,
            threads: 1,
        };
        crate::cpu::dense::run(op, &mut task)
            .map_err(|e| Error::Config(format!("faer baseline failed: {e}")))?;
        Ok(t.elapsed().as_secs_f64())
    };
    run()?;
    let flops = dense_flops(name, n)?;
    let samples: Result<Vec<f64>> = (0..reps.max(1))
        .map(|_| run().map(|s| flops / s / 1e9))
        .collect();
    Ok(Stats::of(samples?))
}

/// The tiled algorithms `tessera bench` measures: `cholesky` (n^3/3 flops), `matmul`
/// (`C = A B`, 2n^3), `trsm` (`L X = B`, n^3), `lu` (with partial pivoting, 2n^3/3), `solve`
/// (`A X = B` by LU, B with n columns: 2n^3/3 + 2n^3) and `qr` (Householder `A = Q R`,
/// 4n^3/3), on order-`n` matrices.
pub const ALGORITHMS: [&str; 6] = ["cholesky", "matmul", "trsm", "lu", "solve", "qr"];

/// Floating-point operations of algorithm `name` at order `n`.
///
/// # Errors
/// [`Error::Config`] for an unknown algorithm.
pub fn algorithm_flops(name: &str, n: usize) -> Result<f64> {
    let n = n as f64;
    match name {
        "cholesky" => Ok(n * n * n / 3.0),
        "matmul" => Ok(2.0 * n * n * n),
        "trsm" => Ok(n * n * n),
        "qr" => Ok(4.0 * n * n * n / 3.0),
        "lu" => Ok(2.0 * n * n * n / 3.0),
        "solve" => Ok(2.0 * n * n * n / 3.0 + 2.0 * n * n * n),
        other => Err(Error::Config(format!(
            "unknown algorithm `{other}`: use cholesky, matmul, trsm, lu, solve or qr"
        ))),
    }
}

/// Element `(r, c)` of the lower triangular, well-conditioned matrix the `trsm` benchmarks
/// solve with.
fn lower_element(seed: u64, n: usize, r: usize, c: usize) -> f64 {
    match r.cmp(&c) {
        std::cmp::Ordering::Less => 0.0,
        std::cmp::Ordering::Equal => 2.0 + crate::array::element_random(seed, r, c).abs(),
        std::cmp::Ordering::Greater => crate::array::element_random(seed, r, c) / n as f64,
    }
}

/// Measures the tiled algorithm `name` at order `n` with `nb x nb` tiles on the processors of
/// `scope`: GFLOP/s over `reps` runs (inputs made before each, outside the timing).
///
/// # Errors
/// [`Error::Config`] for an unknown algorithm; failures of the algorithm.
pub fn algorithm<T: dense::Float>(
    rt: &Runtime,
    name: &str,
    n: usize,
    nb: usize,
    scope: &Scope,
    reps: usize,
) -> Result<Stats> {
    use crate::array::{Blocks, DArray};
    use crate::linalg::{Diag, Side, Structure, Trans, Uplo};
    let flops = algorithm_flops(name, n)?;
    let blocks = Blocks::square(nb);
    let mut samples = Vec::new();
    for rep in 0..reps.max(1) + 1 {
        let secs = match name {
            "cholesky" => {
                let a = DArray::<T>::rand_spd(rt, n, blocks, 11);
                rt.wait_idle();
                let t = Instant::now();
                a.cholesky_with(Uplo::Lower, scope)?;
                t.elapsed().as_secs_f64()
            }
            "matmul" => {
                let a = DArray::<T>::rand(rt, n, n, blocks, 12);
                let b = DArray::<T>::rand(rt, n, n, blocks, 13);
                let c = DArray::<T>::zeros(rt, n, n, blocks);
                rt.wait_idle();
                let t = Instant::now();
                c.gemm(1.0, &a, Trans::No, &b, Trans::No, 0.0, scope)?;
                t.elapsed().as_secs_f64()
            }
            "qr" => qr::tessera_seconds(rt, T::DTYPE, n, nb, scope)?,
            "lu" => {
                let a = DArray::<T>::rand(rt, n, n, blocks, 16);
                rt.wait_idle();
                let t = Instant::now();
                a.lu_with(scope)?;
                t.elapsed().as_secs_f64()
            }
            "solve" => {
                let a = DArray::<T>::rand(rt, n, n, blocks, 16);
                let b = DArray::<T>::rand(rt, n, n, blocks, 17);
                rt.wait_idle();
                let t = Instant::now();
                a.solve(Structure::General, &b, scope)?;
                t.elapsed().as_secs_f64()
            }
            _ => {
                let a = DArray::<T>::from_fn(rt, n, n, blocks, |r, c| {
                    T::from_f64(lower_element(14, n, r, c))
                });
                let b = DArray::<T>::rand(rt, n, n, blocks, 15);
                rt.wait_idle();
                let t = Instant::now();
                a.trsm(
                    Side::Left,
                    Uplo::Lower,
                    Trans::No,
                    Diag::NonUnit,
                    1.0,
                    &b,
                    scope,
                )?;
                t.elapsed().as_secs_f64()
            }
        };
        // The first run warms up (pipelines, autotuning, first-touch of memory).
        if rep > 0 {
            samples.push(flops / secs / 1e9);
        }
    }
    Ok(Stats::of(samples))
}

/// Measures faer's own parallel routine for the same problem as [`algorithm`] (faer's
/// `llt`, `matmul`, `solve_lower_triangular_in_place`, `qr_in_place`, and
/// `lu::partial_pivoting`'s `lu_in_place` (then `solve_in_place` for `solve`) on rayon's global
/// pool, which has one thread per core unless `RAYON_NUM_THREADS` says otherwise).
///
/// # Errors
/// [`Error::Config`] for an unknown algorithm, or a failed factorization.
pub fn algorithm_faer<T>(name: &str, n: usize, reps: usize) -> Result<Stats>
where
    T: dense::Float + faer::traits::RealField,
{
    use faer::{Accum, Mat, Par};
    let flops = algorithm_flops(name, n)?;
    let par = Par::rayon(0);
    let mut samples = Vec::new();
    for rep in 0..reps.max(1) + 1 {
        let secs = match name {
            "cholesky" => {
                let a = Mat::<T>::from_fn(n, n, |r, c| {
                    T::from_f64(crate::array::spd_element(11, n, r, c))
                });
                let t = Instant::now();
                a.llt(faer::Side::Lower)
                    .map_err(|e| Error::Config(format!("faer's Cholesky failed: {e:?}")))?;
                t.elapsed().as_secs_f64()
            }
            "matmul" => {
                let a = Mat::<T>::from_fn(n, n, |r, c| {
                    T::from_f64(crate::array::element_random(12, r, c))
                });
                let b = Mat::<T>::from_fn(n, n, |r, c| {
                    T::from_f64(crate::array::element_random(13, r, c))
                });
                let mut c = Mat::<T>::zeros(n, n);
                let t = Instant::now();
                faer::linalg::matmul::matmul(
                    c.as_mut(),
                    Accum::Replace,
                    a.as_ref(),
                    b.as_ref(),
                    T::from_f64(1.0),
                    par,
                );
                t.elapsed().as_secs_f64()
            }
            "qr" => qr::faer_seconds(T::DTYPE, n)?,
            "lu" | "solve" => {
                use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
                use faer::linalg::lu::partial_pivoting::{factor, solve};
                let mut a = Mat::<T>::from_fn(n, n, |r, c| {
                    T::from_f64(crate::array::element_random(16, r, c))
                });
                let mut b = Mat::<T>::from_fn(n, n, |r, c| {
                    T::from_f64(crate::array::element_random(17, r, c))
                });
                let (mut fwd, mut inv) = (vec![0usize; n], vec![0usize; n]);
                let params = Default::default();
                let mut mem = MemBuffer::new(StackReq::any_of(&[
                    factor::lu_in_place_scratch::<usize, T>(n, n, par, params),
                    solve::solve_in_place_scratch::<usize, T>(n, n, par),
                ]));
                let stack = MemStack::new(&mut mem);
                let t = Instant::now();
                let (_, perm) =
                    factor::lu_in_place(a.as_mut(), &mut fwd, &mut inv, par, stack, params);
                if name == "solve" {
                    solve::solve_in_place_with_conj(
                        a.as_ref(),
                        a.as_ref(),
                        perm,
                        faer::Conj::No,
                        b.as_mut(),
                        par,
                        stack,
                    );
                }
                t.elapsed().as_secs_f64()
            }
            _ => {
                let a = Mat::<T>::from_fn(n, n, |r, c| T::from_f64(lower_element(14, n, r, c)));
                let mut b = Mat::<T>::from_fn(n, n, |r, c| {
                    T::from_f64(crate::array::element_random(15, r, c))
                });
                let t = Instant::now();
                faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                    a.as_ref(),
                    b.as_mut(),
                    par,
                );
                t.elapsed().as_secs_f64()
            }
        };
        if rep > 0 {
            samples.push(flops / secs / 1e9);
        }
    }
    Ok(Stats::of(samples))
}
