//! The core promise: a datadeps region computes exactly what running its tasks one after another
//! would. Hundreds of seeded random regions over random chunks, with random Read/Write/ReadWrite
//! accesses, order-sensitive integer kernels (exact on every processor), random per-task scopes
//! that push data between memory spaces, host reads and writes in the middle of regions, and
//! chunks that live across regions, are compared bit for bit with a serial run on the host.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera::{
    Chunk, DType, Dispatch, GpuKernel, Kernel, Read, ReadWrite, Runtime, Scope, Write,
    kernels::builtin,
};

use crate::common;

const MIX_WGSL: &str = r#"
@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read> y: array<u32>;

@compute @workgroup_size(64)
fn mix(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = g.x + g.y * nw.x * 64u;
    if (i < arrayLength(&x)) {
        x[i] = x[i] * 31u + y[i];
    }
}
"#;

const MIX3_WGSL: &str = r#"
struct Params { n: u32, salt: u32 }
@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn mix3(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = g.x + g.y * nw.x * 64u;
    if (i < p.n) {
        x[i] = (x[i] ^ p.salt) * 2654435761u + a[i] * 7u + b[i];
    }
}
"#;

const SET_WGSL: &str = r#"
@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read> y: array<u32>;

@compute @workgroup_size(64)
fn set_from(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = g.x + g.y * nw.x * 64u;
    if (i < arrayLength(&x)) {
        x[i] = y[i] * 3u + 1u;
    }
}
"#;

fn elements(wg: u32) -> Dispatch {
    Dispatch::Elements {
        arg: 0,
        workgroup_size: wg,
    }
}

/// `x = 31 x + y` (ReadWrite x, Read y).
fn mix() -> Kernel {
    Kernel::builder("mix")
        .read_write(DType::U32)
        .read(DType::U32)
        .cpu(|t| {
            let y = t.tile::<u32>(1);
            let x = t.tile_mut::<u32>(0);
            for (a, b) in x.data.iter_mut().zip(y.data) {
                *a = a.wrapping_mul(31).wrapping_add(*b);
            }
            Ok(())
        })
        .gpu(GpuKernel::wgsl(MIX_WGSL, "mix").dispatch(elements(64)))
        .build()
        .unwrap()
}

/// `x = (x ^ salt) * 2654435761 + 7 a + b` (ReadWrite x, Read a, Read b; params n, salt).
fn mix3() -> Kernel {
    Kernel::builder("mix3")
        .read_write(DType::U32)
        .read(DType::U32)
        .read(DType::U32)
        .param(DType::U32)
        .param(DType::U32)
        .cpu(|t| {
            let salt: u32 = t.param(1);
            let a = t.tile::<u32>(1);
            let b = t.tile::<u32>(2);
            let x = t.tile_mut::<u32>(0);
            for i in 0..x.data.len() {
                x.data[i] = mix3_elem(x.data[i], a.data[i], b.data[i], salt);
            }
            Ok(())
        })
        .gpu(GpuKernel::wgsl(MIX3_WGSL, "mix3").dispatch(elements(64)))
        .build()
        .unwrap()
}

fn mix3_elem(x: u32, a: u32, b: u32, salt: u32) -> u32 {
    (x ^ salt)
        .wrapping_mul(2654435761)
        .wrapping_add(a.wrapping_mul(7))
        .wrapping_add(b)
}

/// `x = 3 y + 1` (Write x, Read y): x's old value must not matter.
fn set() -> Kernel {
    Kernel::builder("set")
        .write(DType::U32)
        .read(DType::U32)
        .cpu(|t| {
            let y = t.tile::<u32>(1);
            let x = t.tile_mut::<u32>(0);
            for (a, b) in x.data.iter_mut().zip(y.data) {
                *a = b.wrapping_mul(3).wrapping_add(1);
            }
            Ok(())
        })
        .gpu(GpuKernel::wgsl(SET_WGSL, "set_from").dispatch(elements(64)))
        .build()
        .unwrap()
}

struct Kernels {
    mix: Kernel,
    mix3: Kernel,
    set: Kernel,
}

/// Picks `k` distinct indices below `n`.
fn distinct(rng: &mut ChaCha8Rng, n: usize, k: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = rng.random_range(i..n);
        v.swap(i, j);
    }
    v.truncate(k);
    v
}

/// Runs `episodes` episodes of `regions_per_episode` random regions on `rt` (restricted to
/// `scope`), checking every chunk against the serial reference after each region and at random
/// host reads inside regions.
fn run(rt: &Runtime, scope: Scope, seed: u64, episodes: usize, regions_per_episode: usize) {
    let k = Kernels {
        mix: mix(),
        mix3: mix3(),
        set: set(),
    };
    let procs: Vec<Scope> = {
        let ps = rt.processors();
        let mut v = Vec::new();
        if rt.has_cpu() && ps.iter().any(|p| p.processor == tessera::Processor::Cpu) {
            v.push(Scope::cpu());
        }
        for d in 0..rt.gpu_count() {
            v.push(Scope::gpu(d));
        }
        v
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut regions = 0;
    let mut tasks = 0;
    for episode in 0..episodes {
        let n_chunks = rng.random_range(3..=8);
        let (rows, cols) = *[(1, 1), (7, 1), (8, 8), (33, 3), (100, 10), (1, 513)]
            .get(rng.random_range(0..6))
            .unwrap();
        let n = rows * cols;
        let mut reference: Vec<Vec<u32>> = (0..n_chunks)
            .map(|_| (0..n).map(|_| rng.random_range(0..1000)).collect())
            .collect();
        // Sometimes the first chunk starts as a lazily materialised zero chunk.
        let zero_first = rng.random_bool(0.3);
        if zero_first {
            reference[0] = vec![0; n];
        }
        let chunks: Vec<Chunk<u32>> = reference
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if i == 0 && zero_first {
                    Chunk::zeros(rt, rows, cols)
                } else {
                    Chunk::from_slice(rt, rows, cols, v)
                }
            })
            .collect();
        for r in 0..regions_per_episode {
            let n_tasks = rng.random_range(5..=30);
            let result = rt.datadeps_in(scope.clone(), |region| {
                for _ in 0..n_tasks {
                    let op = rng.random_range(0..9);
                    let task_scope = (!procs.is_empty() && rng.random_bool(0.5))
                        .then(|| procs[rng.random_range(0..procs.len())].clone());
                    let spawn = |call: tessera::KernelCall, acc: Vec<tessera::Access>| {
                        let t = region.task(call);
                        let t = match &task_scope {
                            Some(s) => t.scope(s.clone()),
                            None => t,
                        };
                        t.spawn(acc);
                    };
                    match op {
                        0 | 1 => {
                            let c = distinct(&mut rng, n_chunks, 2);
                            spawn(
                                k.mix.call([]),
                                vec![ReadWrite(&chunks[c[0]]).into(), Read(&chunks[c[1]]).into()],
                            );
                            let y = reference[c[1]].clone();
                            for (a, b) in reference[c[0]].iter_mut().zip(&y) {
                                *a = a.wrapping_mul(31).wrapping_add(*b);
                            }
                        }
                        2 => {
                            let c = distinct(&mut rng, n_chunks, 3);
                            let salt: u32 = rng.random();
                            spawn(
                                k.mix3.call([(n as u32).into(), salt.into()]),
                                vec![
                                    ReadWrite(&chunks[c[0]]).into(),
                                    Read(&chunks[c[1]]).into(),
                                    Read(&chunks[c[2]]).into(),
                                ],
                            );
                            let (a, b) = (reference[c[1]].clone(), reference[c[2]].clone());
                            for i in 0..n {
                                reference[c[0]][i] =
                                    mix3_elem(reference[c[0]][i], a[i], b[i], salt);
                            }
                        }
                        3 => {
                            let c = distinct(&mut rng, n_chunks, 2);
                            spawn(
                                k.set.call([]),
                                vec![Write(&chunks[c[0]]).into(), Read(&chunks[c[1]]).into()],
                            );
                            reference[c[0]] = reference[c[1]]
                                .iter()
                                .map(|b| b.wrapping_mul(3).wrapping_add(1))
                                .collect();
                        }
                        4 => {
                            let c = distinct(&mut rng, n_chunks, 2);
                            let alpha: u32 = rng.random_range(1..100);
                            spawn(
                                builtin::axpy(alpha),
                                vec![Read(&chunks[c[0]]).into(), ReadWrite(&chunks[c[1]]).into()],
                            );
                            let x = reference[c[0]].clone();
                            for (y, x) in reference[c[1]].iter_mut().zip(&x) {
                                *y = alpha.wrapping_mul(*x).wrapping_add(*y);
                            }
                        }
                        5 => {
                            let c = rng.random_range(0..n_chunks);
                            let alpha: u32 = rng.random_range(2..9);
                            spawn(builtin::scale(alpha), vec![ReadWrite(&chunks[c]).into()]);
                            for y in &mut reference[c] {
                                *y = y.wrapping_mul(alpha);
                            }
                        }
                        6 => {
                            let c = distinct(&mut rng, n_chunks, 2);
                            spawn(
                                builtin::copy::<u32>(),
                                vec![Read(&chunks[c[0]]).into(), Write(&chunks[c[1]]).into()],
                            );
                            reference[c[1]] = reference[c[0]].clone();
                        }
                        7 => {
                            let c = rng.random_range(0..n_chunks);
                            let v: u32 = rng.random();
                            spawn(builtin::fill(v), vec![Write(&chunks[c]).into()]);
                            reference[c] = vec![v; n];
                        }
                        _ => {
                            // A host access in the middle of the region: it must see exactly
                            // the tasks spawned before it.
                            let c = rng.random_range(0..n_chunks);
                            if rng.random_bool(0.5) {
                                let got = chunks[c].to_vec().expect("host read");
                                assert_eq!(
                                    got, reference[c],
                                    "host read of chunk {c} mid-region (episode {episode}, region {r})"
                                );
                            } else {
                                let v: Vec<u32> = (0..n).map(|_| rng.random()).collect();
                                chunks[c].copy_from_slice(&v).expect("host write");
                                reference[c] = v;
                            }
                        }
                    }
                }
            });
            result.unwrap_or_else(|e| panic!("episode {episode} region {r} failed: {e}"));
            regions += 1;
            tasks += n_tasks;
            for (i, c) in chunks.iter().enumerate() {
                let got = c.to_vec().expect("read back");
                if got != reference[i] {
                    let first = got
                        .iter()
                        .zip(&reference[i])
                        .position(|(a, b)| a != b)
                        .unwrap();
                    panic!(
                        "seed {seed}, episode {episode}, region {r}: chunk {i} ({rows}x{cols}) differs from the serial run at element {first}: got {}, expected {} (residency {:?})",
                        got[first],
                        reference[i][first],
                        c.residency()
                    );
                }
            }
        }
    }
    let per_proc: Vec<String> = rt
        .stats()
        .processors
        .iter()
        .map(|p| format!("{}: {}", p.processor, p.tasks))
        .collect();
    eprintln!(
        "serial equivalence: {regions} regions, {tasks} tasks, scope {scope}; tasks run so far per processor: {}",
        per_proc.join(", ")
    );
}

#[test]
fn serial_equivalence_cpu() {
    run(&common::cpu_runtime(), Scope::all(), 1, 60, 5);
}

#[test]
fn serial_equivalence_gpu_only() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    run(&rt, Scope::all(), 2, 60, 5);
}

#[test]
fn serial_equivalence_mixed_cpu_and_gpu() {
    let Some(rt) = common::mixed_runtime() else {
        return;
    };
    run(&rt, Scope::all(), 3, 60, 5);
}

#[test]
fn serial_equivalence_three_virtual_gpus() {
    let Some(rt) = common::three_gpu_runtime() else {
        return;
    };
    run(&rt, Scope::all(), 4, 60, 5);
}

#[test]
fn serial_equivalence_three_virtual_gpus_and_cpu() {
    let Some(rt) = common::three_gpu_mixed_runtime() else {
        return;
    };
    run(&rt, Scope::all(), 5, 60, 5);
}

#[test]
fn serial_equivalence_with_two_gpus_and_cpu_under_a_tiny_device_budget() {
    // Each device may hold 16 KiB of replicas (four of the largest chunks here), so launches
    // evict least-recently-used replicas all the time, writing dirty ones back to the host
    // while other processors read and write the same chunks.
    let built = tessera::Runtime::builder()
        .ignore_env()
        .devices(&format!("{} x 2", common::adapter()))
        .cpu_threads(2)
        .device_memory(Some(16 << 10))
        .trace(true)
        .build();
    let rt = match built {
        Ok(rt) if rt.gpu_count() == 2 => rt,
        other if common::gpu_required() => panic!("no GPU runtime: {other:?}"),
        _ => return,
    };
    run(&rt, Scope::all(), 6, 60, 5);
    rt.wait_idle();
    let evictions = rt.trace().map_or(0, |t| t.evictions.len());
    assert!(evictions > 0, "the budget never forced an eviction");
}
