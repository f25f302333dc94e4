//! Tiled algorithms against faer's parallel routines, in one run: GFLOP/s of Cholesky (n^3/3),
//! C = A B (2n^3), L X = B (n^3), LU (2n^3/3), A X = B by LU (2n^3/3 + 2n^3) and Householder
//! QR (4n^3/3) for each size, element type and scope, with the ratio.
//!
//! `cargo bench --bench linalg` (orders 1024, 2048, 4096; add `-- --full` for 8192, `--quick`
//! for 1024 only). The same measurements as `tessera bench
//! cholesky|matmul|trsm|lu|solve|qr`.

use tessera::bench::{self, ALGORITHMS};
use tessera::{AutoBlocks, DType, Runtime, Scope};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    let sizes: &[usize] = if has("--quick") {
        &[1024]
    } else if has("--full") {
        &[1024, 2048, 4096, 8192]
    } else {
        &[1024, 2048, 4096]
    };
    let reps = if has("--quick") { 2 } else { 3 };
    let rt = Runtime::new().expect("runtime");
    let scopes = [("cpu", Scope::cpu()), ("all", Scope::all())];
    println!(
        "processors: {}; faer on {} rayon threads",
        rt.processors()
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        rayon::current_num_threads()
    );
    println!(
        "{:>9} {:>5} {:>6} {:>5} {:>9} {:>9} {:>7}  scope",
        "algorithm", "dtype", "n", "tile", "faer", "tessera", "ratio"
    );
    for name in ALGORITHMS {
        for dtype in ["f64", "f32"] {
            for &n in sizes {
                let faer = match dtype {
                    "f64" => bench::algorithm_faer::<f64>(name, n, reps),
                    _ => bench::algorithm_faer::<f32>(name, n, reps),
                }
                .expect("faer");
                for (label, scope) in &scopes {
                    let dt = DType::parse(dtype).unwrap_or(DType::F32);
                    let nb = AutoBlocks::for_scope(&rt, scope, n, dt);
                    let ours = match dtype {
                        "f64" => bench::algorithm::<f64>(&rt, name, n, nb, scope, reps),
                        _ => bench::algorithm::<f32>(&rt, name, n, nb, scope, reps),
                    }
                    .expect("tessera");
                    println!(
                        "{name:>9} {dtype:>5} {n:>6} {nb:>5} {:>9.1} {:>9.1} {:>6.2}x  {label}",
                        faer.median,
                        ours.median,
                        ours.median / faer.median
                    );
                }
            }
        }
    }
}
