//! Regression tests for ordering bugs found in review: each failed before its fix.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use tessera::{
    Access, Chunk, DType, Dispatch, GpuKernel, Kernel, Mode, Read, ReadWrite, Runtime, Scope,
    Write, kernels::builtin,
};

use crate::common;

/// A task rejected at spawn (wrong element type) used to finish at once, although an earlier
/// writer of its chunk was still queued. Once its failure was acknowledged, a later reader had
/// no path to that writer and read the old value.
#[test]
fn an_acknowledged_early_failure_still_orders_later_tasks() {
    let rt = Runtime::builder()
        .ignore_env()
        .cpu_only()
        .cpu_threads(1)
        .build()
        .unwrap();
    let x = Chunk::from_vec(&rt, 1, 1, vec![1.0f32]);
    let gate = Chunk::from_vec(&rt, 1, 1, vec![0u32]);
    // Occupy the only thread so that the writer below stays queued.
    let blocker = rt.spawn_cpu("blocker", ReadWrite(&gate), |_| {
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    });
    let writer = rt.spawn(builtin::scale(2.0f32), ReadWrite(&x));
    let rejected = rt.spawn(
        builtin::scale(2.0f64),
        Access::new(x.as_any(), Mode::ReadWrite),
    );
    assert!(rejected.wait().is_err(), "an f64 kernel on f32 data fails");
    assert_eq!(
        x.to_vec().unwrap(),
        vec![2.0],
        "the read waits for the writer"
    );
    writer.wait().unwrap();
    blocker.wait().unwrap();
}

/// Two threads spawning tasks over the same two chunks in opposite orders used to register
/// their dependencies in different orders per chunk: a dependency cycle (a hang) or an AB/BA
/// lock deadlock.
#[test]
fn concurrent_spawns_over_shared_chunks_agree_on_one_order() {
    let rt = common::cpu_runtime();
    let x = Chunk::from_vec(&rt, 1, 1, vec![1u32]);
    let y = Chunk::from_vec(&rt, 1, 1, vec![2u32]);
    let rounds = 1000;
    let barrier = Arc::new(Barrier::new(2));
    let spawner = move |read: Chunk<u32>, write: Chunk<u32>| {
        let (rt, barrier) = (rt.clone(), barrier.clone());
        std::thread::spawn(move || {
            for _ in 0..rounds {
                barrier.wait();
                rt.spawn(builtin::axpy(1u32), (Read(&read), ReadWrite(&write)))
                    .wait()
                    .unwrap();
                barrier.wait();
            }
        })
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let (x2, y2) = (x.clone(), y.clone());
    std::thread::spawn(move || {
        let a = spawner(x2.clone(), y2.clone()); // y += x
        let b = spawner(y2, x2); // x += y
        a.join().unwrap();
        b.join().unwrap();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("concurrent spawns deadlocked or formed a dependency cycle");
    // Every round ran both updates in one order or the other: both values grew.
    let (xv, yv) = (x.to_vec().unwrap()[0], y.to_vec().unwrap()[0]);
    assert!(xv > 1 && yv > 2);
}

/// A GPU reader used to mark an input valid on the device before its upload was queued; a
/// second reader on another thread could slip into the queue in between and read a buffer that
/// was never written. The slow dispatch function here stands for the first reader's thread
/// being preempted at the worst moment.
#[test]
fn a_reader_never_reads_a_device_replica_before_its_upload() {
    let Some(rt) = common::own_gpu_runtime("ADAPTER", false) else {
        return;
    };
    let n = 1024usize;
    let wgsl = r#"
@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read_write> b: array<u32>;
@compute @workgroup_size(64)
fn slow_copy(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x < arrayLength(&b)) { b[g.x] = a[g.x]; }
}"#;
    let slow_copy = Kernel::builder("slow_copy")
        .read(DType::U32)
        .write(DType::U32)
        .gpu(
            GpuKernel::wgsl(wgsl, "slow_copy").dispatch(Dispatch::Custom(Arc::new(|l| {
                std::thread::sleep(Duration::from_millis(300));
                [(l.shapes[1].len() as u32).div_ceil(64), 1, 1]
            }))),
        )
        .build()
        .unwrap();
    for round in 0..3u32 {
        let x = Chunk::from_vec(&rt, n, 1, vec![round + 7; n]);
        let (y1, y2) = (
            Chunk::<u32>::zeros(&rt, n, 1),
            Chunk::<u32>::zeros(&rt, n, 1),
        );
        let first = {
            let (rt, x, y1, k) = (rt.clone(), x.clone(), y1.clone(), slow_copy.clone());
            std::thread::spawn(move || {
                rt.datadeps(|r| {
                    r.spawn(&k, (Read(&x), Write(&y1)));
                })
                .unwrap()
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        rt.datadeps_in(Scope::gpu(0), |r| {
            r.spawn(builtin::copy::<u32>(), (Read(&x), Write(&y2)));
        })
        .unwrap();
        first.join().unwrap();
        assert_eq!(y2.to_vec().unwrap(), vec![round + 7; n], "round {round}");
        assert_eq!(y1.to_vec().unwrap(), vec![round + 7; n], "round {round}");
    }
}

/// A panic in a GPU kernel's dispatch function used to escape from the scheduler, leaving the
/// task staged forever and its region waiting.
#[test]
fn a_panicking_dispatch_function_fails_only_its_task() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    let wgsl = r#"
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(1)
fn noop() { x[0] = x[0]; }"#;
    let bad = Kernel::builder("bad_dispatch")
        .read_write(DType::F32)
        .gpu(
            GpuKernel::wgsl(wgsl, "noop")
                .dispatch(Dispatch::Custom(Arc::new(|_| panic!("no grid for you")))),
        )
        .build()
        .unwrap();
    let x = Chunk::from_vec(&rt, 4, 1, vec![1.0f32; 4]);
    let y = Chunk::from_vec(&rt, 4, 1, vec![1.0f32; 4]);
    let err = rt
        .datadeps(|r| {
            r.spawn(&bad, ReadWrite(&x));
            r.spawn(builtin::scale(2.0f32), ReadWrite(&x)); // cancelled
            r.spawn(builtin::scale(3.0f32), ReadWrite(&y)); // independent
        })
        .unwrap_err();
    assert!(err.to_string().contains("no grid for you"), "{err}");
    assert_eq!(y.to_vec().unwrap(), vec![3.0; 4]);
    assert_eq!(x.to_vec().unwrap(), vec![1.0; 4]);
    rt.datadeps(|r| {
        r.spawn(builtin::fill(5.0f32), Write(&x));
    })
    .unwrap();
    assert_eq!(x.to_vec().unwrap(), vec![5.0; 4]);
}
