//! `tessera run cholesky`: the showcase. Factors a random SPD matrix with the tiled Cholesky on
//! every processor found (or the ones asked for) and reports time, GFLOP/s, the residual and
//! how many tasks each processor ran.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tessera::kernels::dense::Float;
use tessera::linalg::{Uplo, cholesky_residual};
use tessera::{AutoBlocks, Blocks, DArray, Runtime, Scope, spd_element};

use crate::Cli;

/// Options of `tessera run cholesky`.
pub(crate) struct Cholesky<'a> {
    pub(crate) n: usize,
    pub(crate) block: Option<usize>,
    pub(crate) dtype: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) seed: u64,
    pub(crate) upper: bool,
    pub(crate) check: bool,
    pub(crate) trace: Option<&'a std::path::Path>,
    pub(crate) warmup: bool,
}

/// Parses `all`, `cpu`, `gpu` (every GPU), `gpu:1`, `gpus:0,2`.
pub(crate) fn parse_scope(s: &str) -> tessera::Result<Scope> {
    let bad =
        || tessera::Error::Config(format!("--scope {s}: use all, cpu, gpu, gpu:N or gpus:N,M"));
    Ok(match s.trim() {
        "all" => Scope::all(),
        "cpu" => Scope::cpu(),
        "gpu" | "gpus" => Scope::any_gpu(),
        other => {
            let (kind, ids) = other.split_once(':').ok_or_else(bad)?;
            let ids: Vec<usize> = ids
                .split(',')
                .map(|x| x.trim().parse().map_err(|_| bad()))
                .collect::<Result<_, _>>()?;
            match kind {
                "gpu" | "gpus" => Scope::gpus(ids),
                _ => return Err(bad()),
            }
        }
    })
}

pub(crate) fn cholesky(cli: &Cli, o: &Cholesky<'_>) -> tessera::Result<()> {
    let rt = cli.builder().trace(o.trace.is_some()).build()?;
    match o.dtype {
        "f64" => run::<f64>(&rt, o),
        "f32" => run::<f32>(&rt, o),
        "f16" => run::<half::f16>(&rt, o),
        d => Err(tessera::Error::Config(format!(
            "--dtype {d}: use f64, f32 or f16"
        ))),
    }
}

fn run<T: Float>(rt: &Runtime, o: &Cholesky<'_>) -> tessera::Result<()> {
    let scope = parse_scope(o.scope)?;
    let n = o.n;
    let selected = rt.scope_processors(&scope);
    let in_scope: Vec<_> = rt
        .processors()
        .into_iter()
        .filter(|p| selected.contains(&p.processor))
        .collect();
    let nb = o
        .block
        .unwrap_or_else(|| AutoBlocks::for_scope(rt, &scope, n, T::DTYPE));
    if o.warmup {
        let w = DArray::<T>::rand_spd(rt, n, Blocks::square(nb), o.seed);
        let t = Instant::now();
        w.cholesky_with(uplo_of(o), &scope)?;
        println!(
            "warm-up factorization: {:.3} s (compiles GPU kernels, calibrates the model)",
            t.elapsed().as_secs_f64()
        );
    }
    let a = DArray::<T>::rand_spd(rt, n, Blocks::square(nb), o.seed);
    rt.wait_idle();
    rt.clear_trace();
    let nt = a.nt();
    let uplo = uplo_of(o);
    println!(
        "Cholesky of a {n} x {n} {} SPD matrix ({}), tiles {nb} x {nb} ({nt} x {nt}), scope {scope}",
        T::DTYPE,
        if o.upper { "A = U^T U" } else { "A = L L^T" },
    );
    for p in &in_scope {
        println!("  on {}", p.name);
    }
    let before: Vec<u64> = rt.stats().processors.iter().map(|p| p.tasks).collect();
    let total = (nt * (nt + 1) * (nt + 2) / 6) as u64;
    let start_count = rt.finished_tasks();
    let t0 = Instant::now();
    let result = std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let t = Instant::now();
            a.cholesky_with(uplo, &scope).map(|()| t.elapsed())
        });
        let mut bar: Option<ProgressBar> = None;
        while !worker.is_finished() {
            std::thread::sleep(Duration::from_millis(50));
            if bar.is_none() && t0.elapsed() > Duration::from_secs(1) {
                let b = ProgressBar::new(total);
                b.set_style(
                    ProgressStyle::with_template(
                        "  [{elapsed_precise}] {bar:40} {pos}/{len} tasks",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar = Some(b);
            }
            if let Some(b) = &bar {
                b.set_position((rt.finished_tasks() - start_count).min(total));
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        worker
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    });
    let secs = result?.as_secs_f64();
    let flops = (n as f64).powi(3) / 3.0;
    println!(
        "  time {:.3} s, {:.1} GFLOP/s (n^3/3 flops)",
        secs,
        flops / secs / 1e9
    );
    let gpu_ran = rt
        .stats()
        .processors
        .iter()
        .zip(&before)
        .any(|(p, b)| p.processor != tessera::Processor::Cpu && p.tasks > *b);
    if !o.warmup && gpu_ran {
        println!(
            "  (includes compiling the GPU kernels this run used, done once per process; \
             `tessera bench cholesky` times warm runs)"
        );
    }
    if o.check {
        let res = cholesky_residual(&a, uplo, |r, c| spd_element(o.seed, n, r, c))?;
        println!(
            "  residual ||A - {}||_F / ||A||_F = {res:.2e} (unit roundoff {:.1e})",
            if o.upper { "U^T U" } else { "L L^T" },
            T::EPSILON
        );
    }
    let after = rt.stats();
    println!("  tasks per processor:");
    for (p, b) in after.processors.iter().zip(before) {
        println!("    {:>6}  {}", p.tasks - b, p.name);
    }
    if let (Some(dir), Some(trace)) = (o.trace, rt.trace()) {
        let written = trace.write_all(dir).map_err(|e| {
            tessera::Error::Config(format!("cannot write the trace to {}: {e}", dir.display()))
        })?;
        println!("{}", trace.summary());
        println!("  trace written:");
        for f in written {
            println!("    {}", f.display());
        }
    }
    Ok(())
}

fn uplo_of(o: &Cholesky<'_>) -> Uplo {
    if o.upper { Uplo::Upper } else { Uplo::Lower }
}
