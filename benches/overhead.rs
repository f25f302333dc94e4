//! Runtime overhead: empty CPU tasks per second.
//!
//! `cargo bench --bench overhead` (add `-- --quick` for fewer repetitions). Cases:
//! - eager, independent: `rt.spawn` of a no-argument kernel, then wait for all;
//! - eager, independent chunks: each task `ReadWrite`s its own chunk;
//! - eager, chain: every task `ReadWrite`s the same chunk (each waits for the previous);
//! - region, independent / chain: the same through one `rt.datadeps` region;
//! - region, fan-in: many readers of one chunk, then one writer after them.
//!
//! - GPU, when an adapter is found: tiny dispatches (a 64-element `scale`) through a region on
//!   one device, as a chain (each queued behind the previous without waiting) and independent.
//!
//! Prints the median of the repetitions (and min/max) in tasks per second. The CPU pool has the
//! machine's cores unless `TESSERA_CPU_THREADS` says otherwise.

use std::time::Instant;

use tessera::{Chunk, DType, Kernel, Read, ReadWrite, Runtime, Scope, kernels::builtin};

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn report(name: &str, tasks: usize, secs: Vec<f64>) {
    let rates: Vec<f64> = secs.iter().map(|s| tasks as f64 / s).collect();
    let (med, lo, hi) = median(rates);
    println!(
        "{name:<40} {tasks:>8} tasks   median {:>10.0} tasks/s   ({:.0} .. {:.0})",
        med, lo, hi
    );
}

fn time(reps: usize, mut f: impl FnMut()) -> Vec<f64> {
    f(); // warm-up
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 7 };
    let n = if quick { 20_000 } else { 100_000 };
    let rt = Runtime::builder().cpu_only().build().expect("CPU runtime");
    println!(
        "runtime overhead, {} CPU threads, placement {}",
        rt.cpu_threads(),
        rt.placement()
    );
    let nop = Kernel::builder("nop").cpu(|_| Ok(())).build().unwrap();
    let touch = Kernel::builder("touch")
        .read_write(DType::F32)
        .cpu(|_| Ok(()))
        .build()
        .unwrap();
    let look = Kernel::builder("look")
        .read(DType::F32)
        .cpu(|_| Ok(()))
        .build()
        .unwrap();

    report(
        "eager, independent (no arguments)",
        n,
        time(reps, || {
            let hs: Vec<_> = (0..n).map(|_| rt.spawn(&nop, ())).collect();
            for h in &hs {
                h.wait().unwrap();
            }
        }),
    );

    let chunks: Vec<Chunk<f32>> = (0..n).map(|_| Chunk::zeros(&rt, 1, 1)).collect();
    report(
        "eager, independent chunks",
        n,
        time(reps, || {
            for c in &chunks {
                drop(rt.spawn(&touch, ReadWrite(c)));
            }
            rt.wait_idle();
        }),
    );

    let one = Chunk::<f32>::zeros(&rt, 1, 1);
    report(
        "eager, chain on one chunk",
        n,
        time(reps, || {
            for _ in 0..n {
                drop(rt.spawn(&touch, ReadWrite(&one)));
            }
            rt.wait_idle();
        }),
    );

    report(
        "region, independent chunks",
        n,
        time(reps, || {
            rt.datadeps(|r| {
                for c in &chunks {
                    r.spawn(&touch, ReadWrite(c));
                }
            })
            .unwrap();
        }),
    );

    report(
        "region, chain on one chunk",
        n,
        time(reps, || {
            rt.datadeps(|r| {
                for _ in 0..n {
                    r.spawn(&touch, ReadWrite(&one));
                }
            })
            .unwrap();
        }),
    );

    report(
        "region, fan-in (readers then a writer)",
        n,
        time(reps, || {
            rt.datadeps(|r| {
                for i in 0..n {
                    if i % 1000 == 999 {
                        r.spawn(&touch, ReadWrite(&one));
                    } else {
                        r.spawn(&look, Read(&one));
                    }
                }
            })
            .unwrap();
        }),
    );

    gpu(reps, quick);
}

fn gpu(reps: usize, quick: bool) {
    let Ok(rt) = Runtime::builder().cpu(false).build() else {
        println!("(no GPU adapter: GPU cases skipped)");
        return;
    };
    if rt.gpu_count() == 0 {
        println!("(no GPU adapter: GPU cases skipped)");
        return;
    }
    let n = if quick { 500 } else { 2000 };
    println!("{}", rt.processors()[0].name);
    let one = Chunk::<f32>::zeros(&rt, 64, 1);
    let many: Vec<Chunk<f32>> = (0..n).map(|_| Chunk::zeros(&rt, 64, 1)).collect();
    report(
        "gpu0, region, chain of tiny dispatches",
        n,
        time(reps, || {
            rt.datadeps_in(Scope::gpu(0), |r| {
                for _ in 0..n {
                    r.spawn(builtin::scale(1.0f32), ReadWrite(&one));
                }
            })
            .unwrap();
        }),
    );
    report(
        "gpu0, region, independent tiny dispatches",
        n,
        time(reps, || {
            rt.datadeps_in(Scope::gpu(0), |r| {
                for c in &many {
                    r.spawn(builtin::scale(1.0f32), ReadWrite(c));
                }
            })
            .unwrap();
        }),
    );
}
