//! The tiled Cholesky written out as a plain loop of tasks, the way Dagger.jl's datadeps example
//! reads: each task says which tiles it reads and which it updates, and tessera derives the
//! dependencies, places every task on a processor and moves tiles between memory spaces.
//!
//! `cargo run --release --example cholesky_datadeps [n] [tile]` (defaults 1024 and 128).

use tessera::kernels::dense::{Diag, Side, Trans, Uplo, gemm, potrf, syrk, trsm};
use tessera::linalg::cholesky_residual;
use tessera::{Blocks, DArray, Read, ReadWrite, Runtime, spd_element};

fn main() -> tessera::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let n = args.next().and_then(Result::ok).unwrap_or(1024);
    let nb = args.next().and_then(Result::ok).unwrap_or(128);
    let rt = Runtime::new()?;
    let a = DArray::<f64>::rand_spd(&rt, n, Blocks::square(nb), 42);
    let nt = a.nt();
    let t = std::time::Instant::now();
    rt.datadeps(|r| {
        for k in 0..nt {
            // A[k,k] = chol(A[k,k])
            r.spawn(potrf::<f64>(Uplo::Lower), ReadWrite(a.tile(k, k)));
            // A[i,k] = A[i,k] L[k,k]^-T
            for i in k + 1..nt {
                r.spawn(
                    trsm::<f64>(Side::Right, Uplo::Lower, Trans::Yes, Diag::NonUnit, 1.0),
                    (Read(a.tile(k, k)), ReadWrite(a.tile(i, k))),
                );
            }
            // The trailing matrix: A[j,j] -= A[j,k] A[j,k]^T, A[i,j] -= A[i,k] A[j,k]^T.
            for j in k + 1..nt {
                r.spawn(
                    syrk::<f64>(Uplo::Lower, Trans::No, -1.0, 1.0),
                    (Read(a.tile(j, k)), ReadWrite(a.tile(j, j))),
                );
                for i in j + 1..nt {
                    r.spawn(
                        gemm::<f64>(Trans::No, Trans::Yes, -1.0, 1.0),
                        (
                            Read(a.tile(i, k)),
                            Read(a.tile(j, k)),
                            ReadWrite(a.tile(i, j)),
                        ),
                    );
                }
            }
        }
    })?;
    let secs = t.elapsed().as_secs_f64();
    let residual = cholesky_residual(&a, Uplo::Lower, |r, c| spd_element(42, n, r, c))?;
    println!(
        "n = {n}, {nt} x {nt} tiles of {nb}: {:.3} s, {:.1} GFLOP/s, ||A - L L^T|| / ||A|| = {residual:.1e}",
        secs,
        (n as f64).powi(3) / 3.0 / secs / 1e9
    );
    for p in rt.stats().processors {
        println!("  {:>5} tasks on {}", p.tasks, p.name);
    }
    assert!(residual < 1e-13, "the factorization is wrong");
    Ok(())
}
