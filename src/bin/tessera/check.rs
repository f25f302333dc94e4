//! `tessera check`: seeded random datadeps programs on every processor of the runtime, compared
//! bit for bit with the same tasks run one by one on the host.
//!
//! The tasks are the built-in kernels on `u32` tiles (integer arithmetic wraps identically on
//! every processor, so any difference is a scheduling or data-movement bug), each restricted at
//! random to one processor so that tiles keep moving between memory spaces.

use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera::{Chunk, Error, Read, ReadWrite, Scope, Write, kernels::builtin};

use crate::Cli;

/// One step of the serial reference.
fn apply(op: u8, alpha: u32, x: &[u32], y: &mut [u32]) {
    match op {
        0 => y.iter_mut().zip(x).for_each(|(y, x)| {
            *y = alpha.wrapping_mul(*x).wrapping_add(*y);
        }),
        1 => y.iter_mut().for_each(|y| *y = y.wrapping_mul(alpha)),
        2 => y.copy_from_slice(x),
        _ => y.fill(alpha),
    }
}

pub(crate) fn run(cli: &Cli, regions: usize, seed: u64) -> tessera::Result<()> {
    let rt = cli.runtime()?;
    let mut scopes: Vec<Scope> = Vec::new();
    if rt.has_cpu() {
        scopes.push(Scope::cpu());
    }
    scopes.extend((0..rt.gpu_count()).map(Scope::gpu));
    println!(
        "\nChecking serial equivalence: {regions} random regions over {} processor(s), seed {seed}",
        scopes.len()
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (rows, cols, n_chunks) = (64, 16, 8);
    let mut reference: Vec<Vec<u32>> = (0..n_chunks)
        .map(|_| (0..rows * cols).map(|_| rng.random()).collect())
        .collect();
    let chunks: Vec<Chunk<u32>> = reference
        .iter()
        .map(|v| Chunk::from_slice(&rt, rows, cols, v))
        .collect();
    let start = Instant::now();
    let mut tasks = 0usize;
    for _ in 0..regions {
        rt.datadeps(|r| {
            for _ in 0..rng.random_range(10..40) {
                let (i, j) = (rng.random_range(0..n_chunks), rng.random_range(0..n_chunks));
                if i == j {
                    continue;
                }
                let op = rng.random_range(0..4u8);
                let alpha = rng.random_range(1..1000u32);
                let scope = scopes[rng.random_range(0..scopes.len())].clone();
                let (x, y) = (&chunks[i], &chunks[j]);
                let t = match op {
                    0 => r
                        .task(builtin::axpy(alpha))
                        .scope(scope)
                        .spawn((Read(x), ReadWrite(y))),
                    1 => r
                        .task(builtin::scale(alpha))
                        .scope(scope)
                        .spawn(ReadWrite(y)),
                    2 => r
                        .task(builtin::copy::<u32>())
                        .scope(scope)
                        .spawn((Read(x), Write(y))),
                    _ => r.task(builtin::fill(alpha)).scope(scope).spawn(Write(y)),
                };
                let _ = t;
                let xv = reference[i].clone();
                apply(op, alpha, &xv, &mut reference[j]);
                tasks += 1;
            }
        })?;
    }
    for (i, c) in chunks.iter().enumerate() {
        if c.to_vec()? != reference[i] {
            return Err(Error::Config(format!(
                "tile {i} differs from the serial run: this is a tessera bug, please report it with the seed ({seed}) and `tessera info`"
            )));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "  ok: {tasks} tasks in {secs:.2} s ({:.0} tasks/s), results identical to the serial run",
        tasks as f64 / secs
    );
    for p in rt.stats().processors {
        println!("  {:>6} tasks on {}", p.tasks, p.name);
    }
    Ok(())
}
