//! `tessera bench kernel NAME`: GFLOP/s of a dense tile kernel per processor and tile size,
//! with faer called directly on the same tiles as the CPU baseline and the GPU variant that ran
//! (autotuned) named; `--variants` adds a column per GPU variant, forced.

use tessera::bench::{self, KernelMeasurement};
use tessera::{DType, DeviceId, Processor, Runtime};

use crate::Cli;

/// Options of `tessera bench kernel`.
pub(crate) struct KernelBench<'a> {
    pub(crate) kernel: &'a str,
    pub(crate) dtype: &'a str,
    pub(crate) sizes: &'a [usize],
    pub(crate) reps: usize,
    pub(crate) variants: bool,
    pub(crate) json: bool,
}

#[derive(serde::Serialize)]
struct Row {
    size: usize,
    processor: String,
    variant: Option<String>,
    forced: bool,
    gflops: bench::Stats,
    batch: usize,
}

pub(crate) fn kernel(cli: &Cli, o: &KernelBench<'_>) -> tessera::Result<()> {
    let dtype = DType::parse(o.dtype)
        .filter(|d| matches!(d, DType::F32 | DType::F64 | DType::F16))
        .ok_or_else(|| {
            tessera::Error::Config(format!("--dtype {}: use f32, f64 or f16", o.dtype))
        })?;
    let name = bench::dense_op(o.kernel).ok_or_else(|| {
        tessera::Error::Config(format!(
            "unknown kernel `{}`: use gemm, syrk, trsm, potrf or a full name such as gemm_nt",
            o.kernel
        ))
    })?;
    // One CPU thread unless asked otherwise: tile kernels run one per pool thread, so this is
    // the per-tile speed the scheduler works with.
    let rt = {
        let mut b = Runtime::builder().cpu_threads(cli.cpu_threads.unwrap_or(1));
        if let Some(d) = &cli.devices {
            b = b.devices(d);
        }
        b.build()?
    };
    let gpus: Vec<(DeviceId, String, Vec<String>)> = rt
        .processors()
        .into_iter()
        .filter_map(|p| match p.processor {
            Processor::Gpu(d) => {
                let k = tessera::kernels::dense::kernel_by_name(&name, dtype)?;
                let variants = k
                    .gpu()
                    .map(|g| g.variants().iter().map(|v| v.name().to_string()).collect())
                    .unwrap_or_default();
                let short = p.adapter.as_ref().map_or(p.name.clone(), |a| {
                    a.name.split(" (").next().unwrap_or(&a.name).to_string()
                });
                Some((d, format!("{d} {short}"), variants))
            }
            Processor::Cpu => None,
        })
        .collect();
    let mut rows = Vec::new();
    let mut push = |size, processor: String, m: KernelMeasurement, forced| {
        rows.push(Row {
            size,
            processor,
            variant: m.variant,
            forced,
            gflops: m.gflops,
            batch: m.batch,
        })
    };
    for &n in o.sizes {
        if rt.has_cpu() {
            push(
                n,
                "cpu".into(),
                bench::dense_kernel(&rt, &name, dtype, n, Processor::Cpu, None, o.reps)?,
                false,
            );
        }
        let faer = bench::dense_kernel_faer(&name, dtype, n, o.reps)?;
        push(
            n,
            "faer".into(),
            KernelMeasurement {
                gflops: faer,
                batch: 1,
                variant: None,
            },
            false,
        );
        for (d, label, variants) in &gpus {
            match bench::dense_kernel(&rt, &name, dtype, n, Processor::Gpu(*d), None, o.reps) {
                Ok(m) => push(n, label.clone(), m, false),
                Err(e) => eprintln!("{label}, n = {n}: {e}"),
            }
            if o.variants {
                for v in variants {
                    match bench::dense_kernel(
                        &rt,
                        &name,
                        dtype,
                        n,
                        Processor::Gpu(*d),
                        Some(v),
                        o.reps,
                    ) {
                        Ok(m) => push(n, label.clone(), m, true),
                        Err(e) => eprintln!("{label}, variant {v}, n = {n}: {e}"),
                    }
                }
            }
        }
    }
    if o.json {
        let s = serde_json::to_string_pretty(&rows)
            .map_err(|e| tessera::Error::Config(format!("cannot serialise: {e}")))?;
        println!("{s}");
        return Ok(());
    }
    println!(
        "{name} {dtype}, GFLOP/s: median (min..max) of {} batches; CPU pool of {} thread(s); faer = the CPU kernel called directly",
        o.reps,
        rt.cpu_threads()
    );
    println!(
        "{:>6}  {:<28} {:<16} {:>9}  {:>19}",
        "tile", "processor", "variant", "GFLOP/s", "range"
    );
    for r in &rows {
        let variant = match (&r.variant, r.forced) {
            (Some(v), true) => format!("{v} (forced)"),
            (Some(v), false) => format!("{v} (tuned)"),
            (None, _) => "-".into(),
        };
        println!(
            "{:>6}  {:<28} {:<16} {:>9.2}  {:>8.2} .. {:<8.2}",
            r.size, r.processor, variant, r.gflops.median, r.gflops.min, r.gflops.max
        );
    }
    Ok(())
}

/// Options of `tessera bench cholesky|matmul|trsm|lu|solve`.
pub(crate) struct AlgorithmBench<'a> {
    pub(crate) name: &'a str,
    pub(crate) dtypes: &'a [String],
    pub(crate) sizes: &'a [usize],
    pub(crate) scopes: &'a [String],
    pub(crate) block: Option<usize>,
    pub(crate) reps: usize,
}

/// GFLOP/s of a tiled algorithm per scope and size, with faer's parallel routine for the same
/// problem in the same run and the ratio.
pub(crate) fn algorithm(cli: &Cli, o: &AlgorithmBench<'_>) -> tessera::Result<()> {
    let rt = cli.runtime()?;
    println!(
        "{} GFLOP/s, median of {} runs; faer = faer's parallel routine ({} rayon threads); processors: {}",
        o.name,
        o.reps,
        rayon::current_num_threads(),
        rt.processors()
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "{:>5} {:>6} {:>5} {:>9} {:>9} {:>7}  scope",
        "dtype", "n", "tile", "faer", "tessera", "ratio"
    );
    for dtype in o.dtypes {
        for &n in o.sizes {
            let faer = match dtype.as_str() {
                "f64" => bench::algorithm_faer::<f64>(o.name, n, o.reps)?,
                "f32" => bench::algorithm_faer::<f32>(o.name, n, o.reps)?,
                d => {
                    return Err(tessera::Error::Config(format!(
                        "--dtype {d}: use f64 or f32"
                    )));
                }
            };
            for s in o.scopes {
                let scope = crate::run::parse_scope(s)?;
                let nb = o.block.unwrap_or_else(|| {
                    let dt = DType::parse(dtype).unwrap_or(DType::F32);
                    tessera::AutoBlocks::for_scope(&rt, &scope, n, dt)
                });
                let ours = match dtype.as_str() {
                    "f64" => bench::algorithm::<f64>(&rt, o.name, n, nb, &scope, o.reps)?,
                    _ => bench::algorithm::<f32>(&rt, o.name, n, nb, &scope, o.reps)?,
                };
                println!(
                    "{:>5} {:>6} {:>5} {:>9.1} {:>9.1} {:>6.2}x  {s}",
                    dtype,
                    n,
                    nb,
                    faer.median,
                    ours.median,
                    ours.median / faer.median
                );
            }
        }
    }
    Ok(())
}
