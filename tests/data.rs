//! Chunks and their replicas: host reads after GPU writes, zero chunks, device-to-device moves
//! through the host, residency states, buffer reuse and resident-bytes accounting.

use tessera::{
    Chunk, DeviceId, Read, ReadWrite, ReplicaState, Residency, Runtime, Scope, Write,
    kernels::builtin,
};

use crate::common;

fn residency(host: ReplicaState, devices: &[ReplicaState]) -> Residency {
    Residency {
        host,
        devices: devices.to_vec(),
        zero: false,
    }
}

use ReplicaState::{Invalid as I, Modified as M, Shared as S};

#[test]
fn host_reads_see_gpu_writes_and_replica_states_follow_msi() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    let x = Chunk::from_vec(&rt, 3, 2, vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(x.residency(), residency(M, &[]));

    // A GPU read uploads: both valid.
    let y = Chunk::<f64>::zeros(&rt, 3, 2);
    rt.datadeps(|r| {
        r.spawn(builtin::copy::<f64>(), (Read(&x), Write(&y)));
    })
    .unwrap();
    assert_eq!(x.residency(), residency(S, &[S]));
    // The GPU write leaves the only valid copy on the device.
    assert_eq!(y.residency(), residency(I, &[M]));

    // Reading on the host copies it back and shares it.
    assert_eq!(y.to_vec().unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(y.residency(), residency(S, &[S]));

    // A host write invalidates the device replica; the next GPU read uploads the new value.
    y.copy_from_slice(&[9.0; 6]).unwrap();
    assert_eq!(y.residency().host, M);
    assert_eq!(y.residency().devices[0], I);
    rt.datadeps(|r| {
        r.spawn(builtin::scale(0.5f64), ReadWrite(&y));
    })
    .unwrap();
    assert_eq!(y.to_vec().unwrap(), vec![4.5; 6]);
}

#[test]
fn zero_chunks_are_cleared_where_first_read() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    let z = Chunk::<u32>::zeros(&rt, 100, 3);
    assert!(z.residency().zero);
    let before = rt.memory(DeviceId(0));
    rt.datadeps(|r| {
        r.spawn(
            builtin::axpy(5u32),
            (
                Read(&Chunk::from_vec(&rt, 100, 3, vec![1u32; 300])),
                ReadWrite(&z),
            ),
        );
    })
    .unwrap();
    let r = z.residency();
    assert!(!r.zero);
    assert_eq!((r.host, r.devices[0]), (I, M));
    assert_eq!(z.to_vec().unwrap(), vec![5; 300]);
    assert!(rt.memory(DeviceId(0)).allocations >= before.allocations);

    // On the CPU a zero chunk materialises as host zeros.
    let cpu = common::cpu_runtime();
    let z = Chunk::<f32>::zeros(&cpu, 4, 4);
    assert_eq!(z.to_vec().unwrap(), vec![0.0; 16]);
}

#[test]
fn data_moves_between_devices_through_the_host() {
    let Some(rt) = common::three_gpu_runtime() else {
        return;
    };
    let x = Chunk::from_vec(&rt, 8, 8, (0..64u32).collect::<Vec<_>>());
    // gpu0 writes, gpu1 reads and writes, gpu2 reads: every hop goes through host memory.
    rt.datadeps(|r| {
        r.task(builtin::scale(2u32))
            .scope(Scope::gpu(0))
            .spawn(ReadWrite(&x));
    })
    .unwrap();
    assert_eq!(x.residency(), residency(I, &[M]));
    rt.datadeps(|r| {
        r.task(builtin::scale(3u32))
            .scope(Scope::gpu(1))
            .spawn(ReadWrite(&x));
    })
    .unwrap();
    assert_eq!(x.residency(), residency(I, &[I, M]));
    let y = Chunk::<u32>::zeros(&rt, 8, 8);
    rt.datadeps(|r| {
        r.task(builtin::copy::<u32>())
            .scope(Scope::gpu(2))
            .spawn((Read(&x), Write(&y)));
    })
    .unwrap();
    assert_eq!(x.residency(), residency(S, &[I, S, S]));
    assert_eq!(
        y.to_vec().unwrap(),
        (0..64u32).map(|v| 6 * v).collect::<Vec<_>>()
    );
}

#[test]
fn buffers_are_reused_and_resident_bytes_are_accounted() {
    let Some(rt) = common::own_gpu_runtime("ADAPTER", false) else {
        return;
    };
    let d = DeviceId(0);
    let n = 1000; // 4000 bytes per chunk, a 4 KiB size class
    let start = rt.memory(d);
    assert_eq!(start.resident_bytes, 0);
    for round in 0..20 {
        let a = Chunk::from_vec(&rt, n, 1, vec![round as f32; n]);
        let b = Chunk::<f32>::zeros(&rt, n, 1);
        rt.datadeps(|r| {
            r.spawn(builtin::copy::<f32>(), (Read(&a), Write(&b)));
            r.spawn(builtin::scale(2.0f32), ReadWrite(&b));
        })
        .unwrap();
        assert_eq!(rt.memory(d).resident_bytes, 2 * 4096, "two replicas live");
        assert_eq!(b.to_vec().unwrap()[n - 1], 2.0 * round as f32);
        // Dropping the chunks returns their buffers to the pool.
    }
    let end = rt.memory(d);
    assert_eq!(end.resident_bytes, 0, "{end:?}");
    assert_eq!(end.peak_resident_bytes, 2 * 4096, "{end:?}");
    assert!(
        end.reuses >= 2 * 19,
        "buffers are reused across rounds: {end:?}"
    );
    assert!(
        end.allocations <= 12,
        "a few replica, uniform and readback buffers, not one per round: {end:?}"
    );
    assert!(end.pooled_bytes > 0);
}

#[test]
fn a_chunk_can_outlive_its_runtime_handle() {
    let x = {
        let rt = Runtime::builder().cpu_only().build().unwrap();
        let x = Chunk::from_vec(&rt, 2, 1, vec![1i32, -2]);
        rt.datadeps(|r| {
            r.spawn(builtin::scale(-3i32), ReadWrite(&x));
        })
        .unwrap();
        x
    };
    // The chunk keeps the runtime alive.
    x.runtime()
        .datadeps(|r| {
            r.spawn(builtin::scale(2i32), ReadWrite(&x));
        })
        .unwrap();
    assert_eq!(x.to_vec().unwrap(), vec![-6, 12]);
}

#[test]
fn empty_chunks_work_everywhere() {
    let mut rts = vec![common::cpu_runtime()];
    rts.extend(common::gpu_runtime());
    for rt in rts {
        let a = Chunk::<f32>::from_vec(&rt, 0, 5, vec![]);
        let b = Chunk::<f32>::zeros(&rt, 5, 0);
        rt.datadeps(|r| {
            r.spawn(builtin::copy::<f32>(), (Read(&a), Write(&b)));
            r.spawn(builtin::axpy(1.0f32), (Read(&a), ReadWrite(&b)));
        })
        .unwrap();
        assert!(b.to_vec().unwrap().is_empty());
    }
}
