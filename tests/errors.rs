//! Failures: a failing task fails itself, cancels what depends on it, lets independent tasks
//! finish, never hangs, and leaves the runtime usable. Bad input gets typed errors.

use tessera::{
    Chunk, DType, Dispatch, Error, GpuKernel, Kernel, KernelError, Read, ReadWrite, Runtime, Scope,
    TaskFailure, Write, kernels::builtin,
};

use crate::common::{self, within};

/// `x = sqrt(x)` elementwise on an `n`-element tile, failing with the index of the first
/// negative entry (as `NotPositiveDefinite`, the way a factorization reports a bad pivot). The
/// GPU half reports through a status word: `n - index`, maximised over invocations.
fn checked_sqrt(n: u32) -> Kernel {
    const WGSL: &str = r#"
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> status: array<atomic<u32>>;

@compute @workgroup_size(64)
fn checked_sqrt(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = g.x + g.y * nw.x * 64u;
    if (i >= p.n) { return; }
    if (x[i] < 0.0) {
        atomicMax(&status[0], p.n - i);
    } else {
        x[i] = sqrt(x[i]);
    }
}
"#;
    Kernel::builder("checked_sqrt")
        .read_write(DType::F32)
        .param(DType::U32)
        .cpu(|t| {
            let x = t.tile_mut::<f32>(0);
            if let Some(i) = x.data.iter().position(|v| *v < 0.0) {
                return Err(KernelError::NotPositiveDefinite { index: i });
            }
            for v in x.data.iter_mut() {
                *v = v.sqrt();
            }
            Ok(())
        })
        .gpu(
            GpuKernel::wgsl(WGSL, "checked_sqrt")
                .dispatch(Dispatch::Elements {
                    arg: 0,
                    workgroup_size: 64,
                })
                .status(1, move |w| match w[0] {
                    0 => Ok(()),
                    v => Err(KernelError::NotPositiveDefinite {
                        index: (n - v) as usize,
                    }),
                }),
        )
        .build()
        .unwrap()
}

/// The failure scenario, on whatever processors `scope` selects:
/// - `a` holds a negative entry, so `checked_sqrt(a)` fails;
/// - `copy(a -> d)` depends on it and must be cancelled (d keeps its value);
/// - `scale(b)` is independent and must run;
/// - the region reports the failing task with its kernel, chunk and index.
fn failure_scenario(rt: &Runtime, scope: Scope) {
    let n = 100u32;
    let mut av = vec![4.0f32; n as usize];
    av[37] = -1.0;
    let a = Chunk::from_vec(rt, n as usize, 1, av);
    let b = Chunk::from_vec(rt, n as usize, 1, vec![2.0f32; n as usize]);
    let d = Chunk::from_vec(rt, n as usize, 1, vec![7.0f32; n as usize]);
    let k = checked_sqrt(n);
    let (rt2, a2, b2, d2, k2, s2) = (rt.clone(), a.clone(), b.clone(), d.clone(), k, scope);
    let result = within(60, "the failure scenario", move || {
        rt2.datadeps_in(s2, |r| {
            let failing = r.spawn(k2.call([n.into()]), ReadWrite(&a2));
            r.spawn(builtin::copy::<f32>(), (Read(&a2), Write(&d2)));
            r.spawn(builtin::scale(3.0f32), ReadWrite(&b2));
            failing
        })
    });
    let err = result.expect_err("the region must report the failure");
    let t = err
        .task()
        .unwrap_or_else(|| panic!("expected a task error, got {err}"));
    assert_eq!(t.kernel, "checked_sqrt", "{err}");
    assert_eq!(t.chunks, vec![a.id()], "{err}");
    assert!(t.processor.is_some(), "the processor is named: {err}");
    assert_eq!(
        err.kernel_error(),
        Some(&KernelError::NotPositiveDefinite { index: 37 }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("checked_sqrt") && msg.contains("index 37"),
        "{msg}"
    );

    // Independent work finished; the cancelled copy did not touch d.
    assert_eq!(b.to_vec().unwrap(), vec![6.0; n as usize]);
    assert_eq!(d.to_vec().unwrap(), vec![7.0; n as usize]);

    // The runtime is usable, and so are the chunks. (The failed task's own output is
    // unspecified, as LAPACK leaves a partly factored matrix: give `a` a new value.)
    let mut fixed = vec![4.0f32; n as usize];
    fixed[37] = 9.0;
    a.copy_from_slice(&fixed).unwrap();
    rt.datadeps(|r| {
        r.spawn(checked_sqrt(n).call([n.into()]), ReadWrite(&a));
        r.spawn(builtin::copy::<f32>(), (Read(&a), Write(&d)));
    })
    .unwrap();
    let got = d.to_vec().unwrap();
    assert_eq!(got[37], 3.0);
    assert_eq!(got[0], 2.0);
}

#[test]
fn failing_cpu_task_cancels_dependents_only() {
    failure_scenario(&common::cpu_runtime(), Scope::all());
}

#[test]
fn failing_gpu_task_reports_its_status_and_cancels_dependents_only() {
    let Some(rt) = common::gpu_runtime() else {
        return;
    };
    failure_scenario(&rt, Scope::all());
}

#[test]
fn failing_gpu_task_on_a_mixed_runtime() {
    let Some(rt) = common::mixed_runtime() else {
        return;
    };
    failure_scenario(&rt, Scope::any_gpu());
    failure_scenario(&rt, Scope::cpu());
}

#[test]
fn a_long_chain_behind_a_failure_is_cancelled_without_hanging() {
    let rt = common::cpu_runtime();
    let x = Chunk::from_vec(&rt, 4, 1, vec![-1.0f32; 4]);
    let (rt2, x2) = (rt.clone(), x.clone());
    let err = within(60, "a long chain behind a failure", move || {
        rt2.datadeps(|r| {
            r.spawn(checked_sqrt(4).call([4u32.into()]), ReadWrite(&x2));
            for _ in 0..20_000 {
                r.spawn(builtin::scale(2.0f32), ReadWrite(&x2));
            }
        })
    })
    .unwrap_err();
    assert_eq!(err.task().map(|t| t.kernel.as_str()), Some("checked_sqrt"));
    assert_eq!(
        x.to_vec().unwrap(),
        vec![-1.0; 4],
        "nothing ran after the failure"
    );
}

#[test]
fn a_panicking_cpu_kernel_is_a_task_error() {
    let rt = common::cpu_runtime();
    let x = Chunk::from_vec(&rt, 2, 1, vec![1.0f32, 2.0]);
    let boom = Kernel::builder("boom")
        .read_write(DType::F32)
        .cpu(|_| panic!("kaboom"))
        .build()
        .unwrap();
    let err = rt
        .datadeps(|r| {
            r.spawn(&boom, ReadWrite(&x));
        })
        .unwrap_err();
    assert_eq!(
        err.kernel_error(),
        Some(&KernelError::Panicked("kaboom".into())),
        "{err}"
    );
    // The pool thread survived.
    rt.datadeps(|r| {
        r.spawn(builtin::scale(2.0f32), ReadWrite(&x));
    })
    .unwrap();
    assert_eq!(x.to_vec().unwrap(), vec![2.0, 4.0]);
}

#[test]
fn eager_failure_cancels_eager_dependents_until_observed() {
    let rt = common::cpu_runtime();
    let x = Chunk::from_vec(&rt, 3, 1, vec![-1.0f32, 4.0, 9.0]);
    let y = Chunk::from_vec(&rt, 3, 1, vec![0.0f32; 3]);
    let failing = rt.spawn(checked_sqrt(3).call([3u32.into()]), ReadWrite(&x));
    let dependent = rt.spawn(builtin::copy::<f32>(), (Read(&x), Write(&y)));
    let independent = rt.spawn(
        builtin::fill(5.0f32),
        Write(&Chunk::<f32>::zeros(&rt, 2, 2)),
    );
    let e = dependent.wait().unwrap_err();
    assert!(
        matches!(e, Error::Cancelled { cause, .. } if cause == failing.id()),
        "{e}"
    );
    assert!(futures::executor::block_on(independent).is_ok());
    // Until the failure is observed, reading x reports it; afterwards x is readable again.
    assert!(matches!(x.to_vec(), Err(Error::Cancelled { .. })));
    let e = failing.wait().unwrap_err();
    assert_eq!(
        e.kernel_error(),
        Some(&KernelError::NotPositiveDefinite { index: 0 })
    );
    assert_eq!(x.to_vec().unwrap(), vec![-1.0, 4.0, 9.0]);
    assert_eq!(y.to_vec().unwrap(), vec![0.0; 3]);
}

#[test]
fn wrong_element_type_is_a_typed_error() {
    let rt = common::cpu_runtime();
    let x = Chunk::from_vec(&rt, 2, 1, vec![1.0f64, 2.0]);
    let y = Chunk::from_vec(&rt, 2, 1, vec![1.0f32, 2.0]);
    let err = rt
        .datadeps(|r| {
            // An f32 kernel given an f64 chunk.
            r.spawn(
                builtin::kernel("axpy", DType::F32)
                    .unwrap()
                    .call([1.0f32.into()]),
                (
                    tessera::Access::new(x.as_any(), tessera::Mode::Read),
                    ReadWrite(&y),
                ),
            );
        })
        .unwrap_err();
    match err.task().map(|t| &t.source) {
        Some(TaskFailure::Runtime(e)) => {
            assert!(matches!(**e, Error::ShapeMismatch { .. }), "{e}")
        }
        other => panic!("expected a shape mismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("must hold f32"), "{err}");
}

#[test]
#[should_panic(expected = "takes 2 arguments, got 1")]
fn wrong_argument_count_panics_at_the_call_site() {
    let rt = common::cpu_runtime();
    let x = Chunk::from_vec(&rt, 1, 1, vec![1.0f32]);
    let _ = rt.datadeps(|r| {
        r.spawn(builtin::axpy(1.0f32), ReadWrite(&x));
    });
}

#[test]
#[should_panic(expected = "a written chunk may appear only once")]
fn aliasing_a_written_chunk_panics_at_the_call_site() {
    let rt = common::cpu_runtime();
    let x = Chunk::from_vec(&rt, 1, 1, vec![1.0f32]);
    let _ = rt.datadeps(|r| {
        r.spawn(builtin::axpy(1.0f32), (Read(&x), ReadWrite(&x)));
    });
}

#[test]
fn invalid_wgsl_is_rejected_when_the_kernel_is_built() {
    let err = Kernel::builder("broken")
        .read_write(DType::F32)
        .gpu(GpuKernel::wgsl(
            "@compute @workgroup_size(1) fn main() { let x = ; }",
            "main",
        ))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Shader { .. }), "{err}");
    assert!(err.to_string().contains("broken"), "{err}");
    let err = Kernel::builder("nothing")
        .read(DType::F32)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[test]
fn a_lost_device_fails_its_tasks_and_nothing_hangs() {
    if common::gpu_runtime().is_none() {
        return;
    }
    // The application's own device, which it then destroys.
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .find(|a| a.get_info().backend == wgpu::Backend::Vulkan)
        .or_else(|| {
            pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
                .into_iter()
                .next()
        })
        .expect("an adapter (a GPU runtime exists)");
    let (device, queue) =
        pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).unwrap();
    let rt = Runtime::builder()
        .ignore_env()
        .wgpu_device(device.clone(), queue)
        .cpu(false)
        .build()
        .unwrap();
    let x = Chunk::from_vec(&rt, 64, 1, vec![1.0f32; 64]);
    rt.datadeps(|r| {
        r.spawn(builtin::scale(2.0f32), ReadWrite(&x));
    })
    .unwrap();
    assert_eq!(x.to_vec().unwrap(), vec![2.0; 64]);

    device.destroy();
    let (rt2, x2) = (rt.clone(), x.clone());
    let err = within(60, "a lost device", move || {
        rt2.datadeps(|r| {
            r.spawn(builtin::scale(2.0f32), ReadWrite(&x2));
        })
    });
    let err = err.expect_err("a task on a destroyed device must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("lost") || msg.contains("no processor"),
        "expected a device-lost error: {msg}"
    );
}

/// A user kernel whose shader needs more bytes at a binding than the tile has fails alone,
/// with a validation error naming the binding; the device is not lost and later work runs.
#[test]
fn a_binding_smaller_than_the_shader_needs_fails_only_its_task() {
    let Some(rt) = common::own_gpu_runtime("ADAPTER", false) else {
        return;
    };
    const WGSL: &str = r#"
struct Big { v: array<vec4<f32>, 8> }
@group(0) @binding(0) var<storage, read_write> x: array<Big>;
@compute @workgroup_size(1) fn main() { x[0].v[0].x = 1.0; }
"#;
    let big = Kernel::builder("needs_128_bytes")
        .read_write(DType::F32)
        .gpu(GpuKernel::wgsl(WGSL, "main").dispatch(Dispatch::Workgroups([1, 1, 1])))
        .build()
        .unwrap();
    within(60, "a too-small binding", move || {
        let small = Chunk::from_vec(&rt, 4, 1, vec![2.0f32; 4]);
        let other = Chunk::from_vec(&rt, 4, 1, vec![3.0f32; 4]);
        let err = rt
            .datadeps(|r| {
                r.spawn(big.call([]), ReadWrite(&small));
                r.spawn(builtin::scale(2.0f32), ReadWrite(&other));
            })
            .unwrap_err();
        let Error::Task(t) = &err else {
            panic!("expected a task error, got {err}")
        };
        assert_eq!(t.kernel, "needs_128_bytes", "{err}");
        assert!(
            matches!(&t.source, TaskFailure::Runtime(e) if matches!(**e, Error::Gpu(_))),
            "{err}"
        );
        assert_eq!(
            other.to_vec().unwrap(),
            vec![6.0f32; 4],
            "the independent task ran"
        );
        rt.datadeps(|r| {
            r.spawn(builtin::scale(0.5f32), ReadWrite(&small));
        })
        .expect("the device is still usable");
        assert_eq!(small.to_vec().unwrap(), vec![1.0f32; 4]);
    });
}
