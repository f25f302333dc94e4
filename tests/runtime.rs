//! Runtime construction, scopes, eager tasks and futures, user kernels, priorities, embedding.

use std::sync::{Arc, Mutex};

use tessera::{
    Caps, Chunk, DType, DeviceId, Dispatch, Error, GpuKernel, Kernel, Processor, Read, ReadWrite,
    Runtime, Scope, Write, kernels::builtin,
};

use crate::common;

#[test]
fn builder_options_shape_the_processor_set() {
    let rt = Runtime::builder()
        .ignore_env()
        .cpu_only()
        .cpu_threads(3)
        .build()
        .unwrap();
    assert_eq!(rt.gpu_count(), 0);
    assert_eq!(rt.cpu_threads(), 3);
    assert!(rt.has_cpu());
    assert_eq!(rt.processors().len(), 1);

    let err = Runtime::builder()
        .ignore_env()
        .devices("no-such-adapter-anywhere")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::NoAdapter(_)), "{err}");
    let err = Runtime::builder()
        .ignore_env()
        .devices("lavapipe x lots")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let err = Runtime::builder()
        .ignore_env()
        .cpu_only()
        .cpu(false)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[test]
fn gpu_runtimes_request_the_adapters_useful_features() {
    let Some(rt) = common::three_gpu_mixed_runtime() else {
        return;
    };
    assert_eq!(rt.gpu_count(), 3);
    let ps = rt.processors();
    assert_eq!(ps[0].processor, Processor::Cpu);
    for (i, p) in ps[1..].iter().enumerate() {
        assert_eq!(p.processor, Processor::Gpu(DeviceId(i)));
        assert_eq!(p.virtual_index, i);
        let a = p.adapter.as_ref().unwrap();
        if a.name.contains("llvmpipe") {
            // lavapipe has all of these; the device must have been opened with them.
            assert!(
                p.caps()
                    .contains(Caps::F64 | Caps::F16 | Caps::SUBGROUPS | Caps::TIMESTAMPS)
            );
            assert_eq!(
                a.limits.max_storage_buffer_binding_size,
                128 << 20,
                "full limits"
            );
        }
    }
    let gpus_only = common::three_gpu_runtime().unwrap();
    assert!(!gpus_only.has_cpu());
}

#[test]
fn scopes_pin_tasks_to_processors() {
    let Some(rt) = common::own_gpu_runtime("ADAPTER x 3", true) else {
        return;
    };
    let x = Chunk::from_vec(&rt, 16, 1, vec![1u32; 16]);
    rt.datadeps_in(Scope::gpu(1), |r| {
        for _ in 0..5 {
            r.spawn(builtin::scale(2u32), ReadWrite(&x));
        }
        // A task scope intersects the region's: gpu2 is outside gpu1's region.
        r.task(builtin::scale(2u32))
            .scope(Scope::gpus([1, 2]))
            .spawn(ReadWrite(&x));
    })
    .unwrap();
    rt.datadeps(|r| {
        r.task(builtin::scale(3u32))
            .scope(Scope::cpu())
            .spawn(ReadWrite(&x));
        r.task(builtin::scale(5u32))
            .scope(Scope::any_gpu().except(Scope::gpus([0, 1])))
            .spawn(ReadWrite(&x));
    })
    .unwrap();
    assert_eq!(x.to_vec().unwrap(), vec![64 * 15; 16]);
    let s = rt.stats();
    let tasks = |p| s.get(p).unwrap().tasks;
    assert_eq!(tasks(Processor::Gpu(DeviceId(0))), 0);
    assert_eq!(tasks(Processor::Gpu(DeviceId(1))), 6);
    assert_eq!(tasks(Processor::Gpu(DeviceId(2))), 1);
    assert_eq!(tasks(Processor::Cpu), 1);
}

/// A user WGSL kernel and a user CPU kernel in one region, on different processors, feeding
/// each other.
#[test]
fn user_wgsl_and_cpu_kernels_in_one_region() {
    let Some(rt) = common::mixed_runtime() else {
        return;
    };
    let wgsl = r#"
struct P { n: u32, shift: f32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(32)
fn square_plus(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = g.x + g.y * nw.x * 32u;
    if (i < p.n) { b[i] = a[i] * a[i] + p.shift; }
}"#;
    let square_plus = Kernel::builder("square_plus")
        .read(DType::F32)
        .write(DType::F32)
        .param(DType::U32)
        .param(DType::F32)
        .gpu(
            GpuKernel::wgsl(wgsl, "square_plus").dispatch(Dispatch::Elements {
                arg: 1,
                workgroup_size: 32,
            }),
        )
        .build()
        .unwrap();
    let negate_cpu = Kernel::builder("negate")
        .read_write(DType::F32)
        .cpu(|t| {
            for v in t.tile_mut::<f32>(0).data.iter_mut() {
                *v = -*v;
            }
            Ok(())
        })
        .build()
        .unwrap();
    let n = 100usize;
    let a = Chunk::from_vec(&rt, n, 1, (0..n).map(|i| i as f32).collect());
    let b = Chunk::<f32>::from_vec(&rt, n, 1, vec![f32::NAN; n]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    rt.datadeps(|r| {
        r.spawn(negate_cpu.call([]), ReadWrite(&a)); // CPU only
        r.spawn(
            square_plus.call([(n as u32).into(), 0.5f32.into()]),
            (Read(&a), Write(&b)),
        ); // GPU only
        r.spawn(negate_cpu.call([]), ReadWrite(&b)); // back on the CPU
        r.spawn_cpu("peek", Read(&b), move |t| {
            seen2
                .lock()
                .unwrap()
                .extend_from_slice(t.tile::<f32>(0).data);
            Ok(())
        });
    })
    .unwrap();
    let want: Vec<f32> = (0..n).map(|i| -((i * i) as f32 + 0.5)).collect();
    assert_eq!(b.to_vec().unwrap(), want);
    assert_eq!(*seen.lock().unwrap(), want);
}

#[test]
fn eager_tasks_are_futures_and_can_be_waited_on() {
    let rt = common::cpu_runtime();
    let x = Chunk::from_vec(&rt, 4, 1, vec![1.0f32, 2.0, 3.0, 4.0]);
    let h1 = rt.spawn(builtin::scale(2.0f32), ReadWrite(&x));
    let sum = rt.spawn_cpu("sum", Read(&x), |t| {
        Ok(t.tile::<f32>(0).data.iter().sum::<f32>())
    });
    // Awaited as a future...
    assert_eq!(futures::executor::block_on(sum).unwrap(), 20.0);
    // ...or waited on by blocking.
    h1.wait().unwrap();
    assert!(h1.is_finished());
    let product = rt.spawn_cpu("product", Read(&x), |t| {
        Ok(t.tile::<f32>(0).data.iter().product::<f32>())
    });
    assert_eq!(product.fetch().unwrap(), 384.0);
    // Eager tasks and regions order against each other on shared chunks.
    let h = rt.spawn(builtin::fill(1.0f32), Write(&x));
    rt.datadeps(|r| {
        r.spawn(builtin::scale(7.0f32), ReadWrite(&x));
    })
    .unwrap();
    h.wait().unwrap();
    assert_eq!(x.to_vec().unwrap(), vec![7.0; 4]);
}

#[test]
fn priorities_order_ready_cpu_tasks() {
    let rt = Runtime::builder()
        .ignore_env()
        .cpu_only()
        .cpu_threads(1)
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let gate = Chunk::from_vec(&rt, 1, 1, vec![0u32]);
    let log = |name: i64, order: Arc<Mutex<Vec<i64>>>| {
        Kernel::builder(format!("log{name}"))
            .read(DType::U32)
            .cpu(move |_| {
                order.lock().unwrap().push(name);
                Ok(())
            })
            .build()
            .unwrap()
    };
    rt.datadeps(|r| {
        // Everything waits for the slow writer, then becomes ready at once.
        r.spawn_cpu("slow", ReadWrite(&gate), |t| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            t.tile_mut::<u32>(0).data[0] = 1;
            Ok(())
        });
        for p in [1i64, 5, -3, 9, 0] {
            r.task(log(p, order.clone()).call([]))
                .priority(p)
                .spawn(Read(&gate));
        }
    })
    .unwrap();
    assert_eq!(*order.lock().unwrap(), vec![9, 5, 1, 0, -3]);
}

#[test]
fn an_application_device_can_be_handed_to_tessera() {
    if common::gpu_runtime().is_none() {
        return;
    }
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .max_by_key(|a| a.get_info().backend == wgpu::Backend::Vulkan)
        .unwrap();
    let (device, queue) =
        pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).unwrap();
    let rt = Runtime::from_wgpu(device.clone(), queue.clone()).unwrap();
    assert_eq!(rt.gpu_count(), 1);
    assert!(rt.processors()[1].embedded);
    // Default features: no f64 on this device, so f64 tasks go to the CPU and f32 ones may use it.
    assert!(!rt.processors()[1].caps().contains(Caps::F64));
    let x = Chunk::from_vec(&rt, 8, 1, vec![1.0f64; 8]);
    let y = Chunk::from_vec(&rt, 8, 1, vec![1.0f32; 8]);
    rt.datadeps_in(Scope::gpu(0).or(Scope::cpu()), |r| {
        r.spawn(builtin::scale(3.0f64), ReadWrite(&x));
        r.task(builtin::scale(3.0f32))
            .scope(Scope::gpu(0))
            .spawn(ReadWrite(&y));
    })
    .unwrap();
    assert_eq!(x.to_vec().unwrap(), vec![3.0; 8]);
    assert_eq!(y.to_vec().unwrap(), vec![3.0; 8]);
    assert_eq!(
        rt.stats().get(Processor::Gpu(DeviceId(0))).unwrap().tasks,
        1
    );
    // A dense kernel on a device without subgroups (default features) runs a variant that does
    // not need them. Regression: the subgroup variants used to share a shader module with it,
    // and such a module cannot be created without SUBGROUP.
    let a = Chunk::from_vec(&rt, 64, 64, vec![1.0f32; 64 * 64]);
    let c = Chunk::from_vec(&rt, 64, 64, vec![f32::NAN; 64 * 64]);
    use tessera::kernels::dense::{self, Trans};
    rt.datadeps_in(Scope::gpu(0), |r| {
        r.spawn(
            dense::gemm::<f32>(Trans::No, Trans::Yes, 2.0, 0.0),
            (Read(&a), Read(&a), ReadWrite(&c)),
        );
    })
    .unwrap();
    assert_eq!(c.to_vec().unwrap(), vec![128.0; 64 * 64]);
    assert_eq!(
        rt.stats().get(Processor::Gpu(DeviceId(0))).unwrap().tasks,
        2
    );
    // An f64 task restricted to that device has nowhere to run: a typed error.
    let err = rt
        .datadeps_in(Scope::gpu(0), |r| {
            r.spawn(builtin::scale(3.0f64), ReadWrite(&x));
        })
        .unwrap_err();
    assert!(err.to_string().contains("SHADER_F64"), "{err}");
    // The application keeps using its device.
    let buf = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("app"),
        size: 16,
        usage: wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    queue.write_buffer(&buf, 0, &[0u8; 16]);
    queue.submit([]);
}

/// The first call of a class on a device times the competing GPU variants and records the
/// winner; a later runtime on the same adapter reads the decision back instead of retuning.
#[test]
fn autotuning_decisions_persist_per_adapter() {
    use tessera::kernels::dense::{self, Trans};
    if common::gpu_runtime().is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "tessera-tuning-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let build = |tune: bool| {
        Runtime::builder()
            .ignore_env()
            .devices(common::adapter())
            .cpu(false)
            .autotune(tune)
            .tuning_cache(Some(dir.clone()))
            .build()
            .unwrap()
    };
    let n = 96; // 96^3 multiply-adds: above the size worth tuning
    let call = dense::gemm::<f32>(Trans::No, Trans::No, 1.0, 0.0);
    let shapes = [tessera::Shape {
        rows: n,
        cols: n,
        dtype: DType::F32,
    }; 3];
    let rt = build(true);
    assert!(rt.tuning(DeviceId(0)).is_empty(), "a fresh cache");
    let a = Chunk::from_vec(&rt, n, n, vec![1.0f32; n * n]);
    let b = Chunk::from_vec(&rt, n, n, vec![0.5f32; n * n]);
    let c = Chunk::from_vec(&rt, n, n, vec![f32::NAN; n * n]);
    rt.datadeps(|r| {
        r.spawn(call.clone(), (Read(&a), Read(&b), ReadWrite(&c)));
    })
    .unwrap();
    assert_eq!(c.to_vec().unwrap(), vec![48.0; n * n]);
    let decisions = rt.tuning(DeviceId(0));
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    let (key, entry) = decisions.iter().next().unwrap();
    assert!(key.starts_with("gemm/f32/nn/"), "{key}");
    assert!(
        entry.seconds.len() >= 2,
        "several variants were timed: {entry:?}"
    );
    let fastest = entry
        .seconds
        .iter()
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .unwrap();
    assert_eq!(entry.winner, fastest.0);
    assert!(
        entry.seconds.iter().all(|(v, _)| v != "plain"),
        "the reference variant is not a candidate"
    );
    assert_eq!(
        rt.gpu_variant(DeviceId(0), &call, &shapes).unwrap(),
        entry.winner
    );
    let winner = entry.winner.clone();
    drop((a, b, c, rt));

    // A new runtime, with timing disabled, still applies the recorded decision.
    let rt = build(false);
    assert_eq!(rt.tuning(DeviceId(0)).len(), 1);
    assert_eq!(rt.gpu_variant(DeviceId(0), &call, &shapes).unwrap(), winner);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Mesa's llvmpipe (under lavapipe) stops every loop of a shader invocation after 65535
/// iterations in all, silently. Big tiles used to come back partly computed (a 384 x 384
/// potrf stopped a third of the way, with no error). Kernels now declare their loop counts:
/// on such a device a call that would exceed the budget is never placed there.
#[test]
fn driver_loop_budgets_keep_big_tiles_off_a_device_instead_of_truncating() {
    use tessera::kernels::dense::{self, Uplo};
    let Some(gpu) = common::gpu_runtime() else {
        return;
    };
    let Some(limit) = gpu.processors()[0]
        .adapter
        .as_ref()
        .and_then(|a| a.loop_iteration_limit)
    else {
        return; // not a driver with a loop budget
    };
    assert_eq!(limit, 65535);
    let n = 384;
    let spd: Vec<f32> = (0..n * n)
        .map(|i| tessera::spd_element(3, n, i % n, i / n) as f32)
        .collect();
    // GPU only: a typed error naming the budget, not a silently truncated factor.
    let a = Chunk::from_vec(&gpu, n, n, spd.clone());
    let err = gpu
        .datadeps(|r| {
            r.spawn(dense::potrf::<f32>(Uplo::Lower), ReadWrite(&a));
        })
        .unwrap_err();
    assert!(err.to_string().contains("65535 iterations"), "{err}");
    // With the CPU in scope the tile goes there and the factor is right.
    let Some(mixed) = common::mixed_runtime() else {
        return;
    };
    let a = Chunk::from_vec(&mixed, n, n, spd.clone());
    mixed
        .datadeps(|r| {
            r.spawn(dense::potrf::<f32>(Uplo::Lower), ReadWrite(&a));
        })
        .unwrap();
    let l = a.to_vec().unwrap();
    let last = l[(n - 1) + (n - 1) * n];
    assert!(
        (last - spd[(n - 1) + (n - 1) * n]).abs() > 1.0,
        "the last pivot was factored: {last}"
    );
    // Small tiles still run on the GPU.
    let m = 64;
    let small: Vec<f32> = (0..m * m)
        .map(|i| tessera::spd_element(3, m, i % m, i / m) as f32)
        .collect();
    let a = Chunk::from_vec(&gpu, m, m, small);
    gpu.datadeps(|r| {
        r.spawn(dense::potrf::<f32>(Uplo::Lower), ReadWrite(&a));
    })
    .unwrap();
}

#[test]
fn without_explicit_priorities_the_critical_path_runs_first() {
    // One CPU thread. After a gate, two kinds of ready tasks: eight short independent ones,
    // and the head of a chain of eight. The chain's head has the highest bottom level (the
    // whole chain hangs off it), so it runs before the independent tasks spawned earlier.
    let rt = Runtime::builder()
        .ignore_env()
        .cpu_only()
        .cpu_threads(1)
        .perf_cache(None)
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let gate = Chunk::from_vec(&rt, 1, 1, vec![0u32]);
    let chain = Chunk::from_vec(&rt, 1, 1, vec![0u32]);
    let step = |name: &str, order: Arc<Mutex<Vec<String>>>, writes: bool| {
        let n = name.to_string();
        let b = Kernel::builder(name).read(DType::U32);
        let b = if writes { b.read_write(DType::U32) } else { b };
        b.cpu(move |_| {
            order.lock().unwrap().push(n.clone());
            Ok(())
        })
        .build()
        .unwrap()
    };
    let lone = step("lone", order.clone(), false);
    let link = step("link", order.clone(), true);
    rt.datadeps(|r| {
        r.spawn_cpu("gate", ReadWrite(&gate), |_| {
            std::thread::sleep(std::time::Duration::from_millis(30));
            Ok(())
        });
        for _ in 0..8 {
            r.spawn(lone.call([]), Read(&gate));
        }
        for _ in 0..8 {
            r.spawn(link.call([]), (Read(&gate), ReadWrite(&chain)));
        }
    })
    .unwrap();
    let order = order.lock().unwrap().clone();
    assert_eq!(order.len(), 16);
    assert_eq!(
        order[0], "link",
        "the chain's head should run first: {order:?}"
    );
}
