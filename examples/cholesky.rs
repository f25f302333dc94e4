//! `DArray::cholesky` under different scopes: the same call on the CPU, on one GPU, on every
//! GPU, and on everything, each checked by its residual.
//!
//! `cargo run --release --example cholesky [n]` (default 768). GPU scopes are skipped when the
//! runtime has no GPU.

use tessera::linalg::{Uplo, cholesky_residual};
use tessera::{AutoBlocks, Blocks, DArray, DType, Runtime, Scope, spd_element};

fn main() -> tessera::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(768);
    let rt = Runtime::new()?;
    let mut scopes = vec![("cpu", Scope::cpu()), ("all", Scope::all())];
    if rt.gpu_count() > 0 {
        scopes.push(("gpu 0", Scope::gpu(0)));
        scopes.push(("every gpu", Scope::any_gpu()));
    }
    for (name, scope) in scopes {
        // GPU-only scopes on software adapters want small tiles (see `tessera info`).
        let nb = if name.contains("gpu") {
            128
        } else {
            AutoBlocks::for_scope(&rt, &Scope::all(), n, DType::F32)
        };
        let a = DArray::<f32>::rand_spd(&rt, n, Blocks::square(nb), 1);
        let t = std::time::Instant::now();
        a.cholesky_with(Uplo::Lower, &scope)?;
        let secs = t.elapsed().as_secs_f64();
        let res = cholesky_residual(&a, Uplo::Lower, |r, c| spd_element(1, n, r, c))?;
        println!("{name:>10}: n = {n}, tiles {nb}: {secs:.3} s, residual {res:.1e}");
        assert!(res < 1e-5, "scope {name}: the factorization is wrong");
    }
    Ok(())
}
