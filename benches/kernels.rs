//! Dense tile kernels: GFLOP/s per kernel, element type and tile order on each processor, with
//! faer called directly on the same tiles in the same run.
//!
//! `cargo bench --bench kernels` (add `-- --quick` for orders 64 and 256 only, f32). The CPU
//! pool has one thread: tile kernels run one per thread, so this is the per-tile speed. GPU
//! columns name the variant that ran (autotuned on first use, then persisted).

use tessera::bench::{self, dense_kernel, dense_kernel_faer};
use tessera::{DType, Processor, Runtime};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[usize] = if quick {
        &[64, 256]
    } else {
        &[64, 128, 256, 512]
    };
    let dtypes: &[DType] = if quick {
        &[DType::F32]
    } else {
        &[DType::F32, DType::F64]
    };
    let reps = if quick { 3 } else { 5 };
    let rt = Runtime::builder().cpu_threads(1).build().expect("runtime");
    let procs: Vec<_> = rt.processors();
    println!(
        "dense tile kernels, GFLOP/s (median of {reps}); processors: {}",
        procs
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for name in ["gemm", "syrk", "trsm", "potrf"] {
        for &dtype in dtypes {
            println!("\n{} {dtype}", bench::dense_op(name).unwrap());
            print!("{:>6} {:>10}", "tile", "faer");
            for p in &procs {
                print!(" {:>24}", p.processor.to_string());
            }
            println!();
            for &n in sizes {
                let faer = dense_kernel_faer(name, dtype, n, reps).expect("faer");
                print!("{n:>6} {:>10.2}", faer.median);
                for p in &procs {
                    match dense_kernel(&rt, name, dtype, n, p.processor, None, reps) {
                        Ok(m) => {
                            let v = m.variant.map(|v| format!(" [{v}]")).unwrap_or_default();
                            print!(" {:>24}", format!("{:.2}{v}", m.gflops.median));
                        }
                        Err(e) if p.processor != Processor::Cpu => {
                            print!(" {:>24}", "n/a");
                            eprintln!("{}: {e}", p.name);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                println!();
            }
        }
    }
}
