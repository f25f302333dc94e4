//! The cost-model scheduler on real processors: the performance model learns and persists,
//! calibrated placement on CPU + lavapipe, device memory budgets with eviction, and traces.

use tessera::linalg::{Uplo, cholesky_residual};
use tessera::{Blocks, DArray, DeviceId, Processor, Runtime, Scope, spd_element};

use crate::common::{adapter, gpu_required, within};

/// A runtime of its own, with its model in `dir` (fresh per test) and tracing on.
fn runtime(
    devices: &str,
    cpu: bool,
    dir: &std::path::Path,
    memory: Option<u64>,
) -> Option<Runtime> {
    let b = Runtime::builder()
        .ignore_env()
        .devices(&devices.replace("ADAPTER", adapter()))
        .cpu(cpu)
        .cpu_threads(2)
        .perf_cache(Some(dir.to_path_buf()))
        .device_memory(memory)
        .trace(true);
    match b.build() {
        Ok(rt) if rt.gpu_count() > 0 || devices == "none" => Some(rt),
        Ok(_) | Err(_) if !gpu_required() => {
            eprintln!("skipping GPU test: no adapter matches `{devices}`");
            None
        }
        other => panic!("TESSERA_REQUIRE_GPU=1 but no GPU runtime: {other:?}"),
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tessera-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn factor_and_check(rt: &Runtime, n: usize, nb: usize, scope: &Scope, seed: u64) -> f64 {
    let a = DArray::<f32>::rand_spd(rt, n, Blocks::square(nb), seed);
    a.cholesky_with(Uplo::Lower, scope)
        .expect("Cholesky succeeds");
    let res =
        cholesky_residual(&a, Uplo::Lower, |r, c| spd_element(seed, n, r, c)).expect("residual");
    // STYLE.md-style bound for Cholesky: a small multiple of n * unit roundoff.
    let bound = 8.0 * n as f64 * f32::EPSILON as f64;
    assert!(res <= bound, "residual {res:.3e} > {bound:.3e}");
    res
}

#[test]
fn the_cpu_model_calibrates_and_persists_across_runtimes() {
    let dir = temp_dir("perf-persist");
    {
        let rt = runtime("none", true, &dir, None).expect("a CPU runtime builds");
        assert!(rt.perf_model(Processor::Cpu).entries.is_empty());
        factor_and_check(&rt, 96, 32, &Scope::cpu(), 1);
        let m = rt.perf_model(Processor::Cpu);
        let gemm = m
            .entries
            .iter()
            .find(|e| e.name.starts_with("gemm/f32/32x32"))
            .unwrap_or_else(|| panic!("no gemm entry in {:?}", m.entries));
        // 3x3 tiles: 1 gemm at k = 0 ... (nt-1)(nt-2)/2 * ... at least one per step.
        assert!(gemm.samples >= 1, "{gemm:?}");
        assert!(gemm.seconds > 0.0 && gemm.seconds < 1.0, "{gemm:?}");
        let potrf = m
            .entries
            .iter()
            .find(|e| e.name.starts_with("potrf"))
            .expect("potrf");
        assert_eq!(potrf.samples, 3, "one potrf per diagonal tile");
        assert!(potrf.calibrated);
        rt.save_perf_model();
        assert!(m.file.as_ref().is_some_and(|f| f.exists()), "{:?}", m.file);
    }
    // A second runtime starts from the file.
    let rt = runtime("none", true, &dir, None).expect("a CPU runtime builds");
    let m = rt.perf_model(Processor::Cpu);
    let potrf = m
        .entries
        .iter()
        .find(|e| e.name.starts_with("potrf"))
        .expect("loaded");
    assert!(potrf.calibrated && potrf.samples == 3, "{potrf:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gpu_jobs_are_timed_and_links_measured() {
    let dir = temp_dir("perf-gpu");
    let Some(rt) = runtime("ADAPTER", false, &dir, None) else {
        return;
    };
    factor_and_check(&rt, 96, 32, &Scope::all(), 2);
    let m = rt.perf_model(Processor::Gpu(DeviceId(0)));
    assert!(
        m.entries
            .iter()
            .any(|e| e.name.starts_with("gemm/f32/32x32") && e.seconds > 0.0),
        "{:?}",
        m.entries
    );
    let up = m.upload.expect("a GPU has an upload link");
    let down = m.download.expect("and a download link");
    for l in [up, down] {
        assert!(l.samples >= 1, "measured at start: {l:?}");
        assert!(l.bandwidth > 1e6 && l.bandwidth.is_finite(), "{l:?}");
        assert!(l.latency >= 0.0 && l.latency < 0.1, "{l:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn after_calibration_cholesky_work_goes_to_the_cpu_not_lavapipe() {
    // lavapipe runs shaders on the same two cores, several times slower than the CPU
    // kernels: once the model has measured both, placement should leave it (almost) idle.
    if adapter() != "lavapipe" {
        eprintln!("skipping: the claim is about lavapipe");
        return;
    }
    let dir = temp_dir("perf-lavapipe");
    let Some(rt) = runtime("ADAPTER", true, &dir, None) else {
        return;
    };
    within(
        600,
        "two Cholesky factorizations on CPU + lavapipe",
        move || {
            // The first run calibrates (each kernel and shape is tried on lavapipe at most
            // three times); the second is placed by measured times.
            factor_and_check(&rt, 512, 64, &Scope::all(), 3);
            rt.wait_idle();
            rt.clear_trace();
            factor_and_check(&rt, 512, 64, &Scope::all(), 4);
            rt.wait_idle();
            let trace = rt.trace().expect("tracing is on");
            let summary = trace.summary();
            let on_gpu = trace.tasks.iter().filter(|t| t.processor == 1).count();
            let total = trace.tasks.len();
            assert_eq!(
                total,
                8 * 9 * 10 / 6,
                "every task of the second run is traced"
            );
            assert!(
                on_gpu * 20 <= total,
                "{on_gpu} of {total} tasks went to lavapipe after calibration\n{summary}"
            );
            assert!(summary.calibrated_fraction > 0.9, "{summary}");
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cholesky_larger_than_the_device_budget_factors_correctly_with_evictions() {
    let dir = temp_dir("perf-evict");
    // 256 x 256 f32 in 32 x 32 tiles: 64 tiles of 4 KiB (256 KiB); the device may hold 64 KiB.
    let budget = 64 << 10;
    let Some(rt) = runtime("ADAPTER", false, &dir, Some(budget)) else {
        return;
    };
    let r2 = rt.clone();
    within(600, "Cholesky under a 64 KiB device budget", move || {
        factor_and_check(&r2, 256, 32, &Scope::all(), 5)
    });
    rt.wait_idle();
    let trace = rt.trace().expect("tracing is on");
    let evictions = trace.evictions.len();
    let dirty = trace.evictions.iter().filter(|e| e.dirty).count();
    assert!(evictions > 0, "no eviction recorded");
    assert!(
        dirty > 0,
        "no dirty replica was written back: {evictions} evictions"
    );
    let mem = rt.memory(DeviceId(0));
    // Launches wait for room while work is in flight; only a task that finds the device idle
    // may go over, by at most its own three tiles.
    assert!(
        mem.peak_resident_bytes <= budget + 3 * 4096,
        "peak {} bytes against a budget of {budget}",
        mem.peak_resident_bytes
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_trace_records_every_task_edge_and_decision_and_exports() {
    let dir = temp_dir("perf-trace");
    let Some(rt) = runtime("ADAPTER x 2", true, &dir, None) else {
        return;
    };
    factor_and_check(&rt, 128, 32, &Scope::all(), 6);
    rt.wait_idle();
    let t = rt.trace().expect("tracing is on");
    let nt = 4;
    let tasks = nt * (nt + 1) * (nt + 2) / 6;
    assert_eq!(t.tasks.len(), tasks, "one span per task");
    assert!(
        t.tasks
            .iter()
            .all(|s| s.ok && s.end >= s.start && s.predicted > 0.0)
    );
    assert_eq!(t.decisions.len(), tasks, "one placement decision per task");
    assert!(t.decisions.iter().all(|d| d.candidates.len() == 3));
    assert!(!t.edges.is_empty());
    assert_eq!(t.lanes.len(), 3);
    let out = dir.join("out");
    let files = t.write_all(&out).expect("exports");
    assert_eq!(files.len(), 4);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("trace.json")).expect("json"))
            .expect("valid JSON");
    assert!(
        json["traceEvents"]
            .as_array()
            .is_some_and(|e| e.len() > tasks)
    );
    let svg = std::fs::read_to_string(out.join("gantt.svg")).expect("svg");
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A task placed on one device that waits for a predecessor running on another moves its
/// inputs while that predecessor runs: the input the host holds is uploaded at once, and the
/// other device's output is read back right behind the job that writes it. With prefetch off,
/// both transfers start only after the predecessor has finished. The result is the same.
#[test]
fn a_waiting_task_prefetches_its_inputs_while_its_predecessor_runs_elsewhere() {
    use rand::{RngExt, SeedableRng};
    use tessera::kernels::dense::{self, Trans};
    use tessera::{Chunk, Read, ReadWrite};

    // Large enough that the first gemm takes lavapipe tens of milliseconds.
    let n = 512;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut random = || -> Vec<f32> { (0..n * n).map(|_| rng.random_range(-1.0..=1.0)).collect() };
    let (va, vb, vx) = (random(), random(), random());
    for prefetch in [true, false] {
        let dir = temp_dir(&format!("prefetch-{prefetch}"));
        let b = Runtime::builder()
            .ignore_env()
            .devices(&format!("{} x 2", adapter()))
            .cpu(false)
            .perf_cache(Some(dir.clone()))
            .trace(true)
            .prefetch(prefetch);
        let rt = match b.build() {
            Ok(rt) if rt.gpu_count() == 2 => rt,
            _ if !gpu_required() => {
                eprintln!("skipping GPU test: two lavapipe devices needed");
                return;
            }
            other => panic!("TESSERA_REQUIRE_GPU=1 but no two-device runtime: {other:?}"),
        };
        let a = Chunk::from_vec(&rt, n, n, va.clone());
        let b = Chunk::from_vec(&rt, n, n, vb.clone());
        let x = Chunk::from_vec(&rt, n, n, vx.clone());
        let z = Chunk::<f32>::from_vec(&rt, n, n, vec![f32::NAN; n * n]);
        let w = Chunk::<f32>::from_vec(&rt, n, n, vec![f32::NAN; n * n]);
        let gemm = || dense::gemm::<f32>(Trans::No, Trans::No, 1.0, 0.0);
        rt.datadeps(|r| {
            r.task(gemm())
                .scope(Scope::gpu(0))
                .spawn((Read(&a), Read(&b), ReadWrite(&z)));
            r.task(gemm())
                .scope(Scope::gpu(1))
                .spawn((Read(&x), Read(&z), ReadWrite(&w)));
        })
        .expect("both gemms run");

        // w = x z, with z as computed: a stale or missing prefetch would not match.
        let (zv, wv) = (z.to_vec().expect("z"), w.to_vec().expect("w"));
        let mut worst = 0.0f64;
        for j in 0..n {
            for i in 0..n {
                let (mut s, mut abs) = (0.0f64, 0.0f64);
                for l in 0..n {
                    let p = f64::from(vx[i + l * n]) * f64::from(zv[l + j * n]);
                    s += p;
                    abs += p.abs();
                }
                let bound = 2.0 * n as f64 * f64::from(f32::EPSILON) / 2.0 * abs;
                let err = (f64::from(wv[i + j * n]) - s).abs();
                assert!(
                    err <= bound,
                    "prefetch={prefetch}: w[{i},{j}] = {} vs {s}: error {err:.3e} > {bound:.3e}",
                    wv[i + j * n]
                );
                worst = worst.max(err / bound.max(f64::MIN_POSITIVE));
            }
        }

        let t = rt.trace().expect("tracing is on");
        let first = t
            .tasks
            .iter()
            .find(|s| s.processor == 1)
            .expect("the first gemm ran on device 0");
        let (x_id, z_id) = (x.id().get(), z.id().get());
        let x_up = t
            .transfers
            .iter()
            .find(|s| s.chunk == x_id && s.to == tessera::trace::Place::Device(1))
            .expect("x was uploaded to device 1");
        let z_back = t
            .transfers
            .iter()
            .find(|s| s.chunk == z_id && s.from == tessera::trace::Place::Device(0))
            .expect("z was read back from device 0");
        if prefetch {
            assert!(
                x_up.start < first.end && z_back.start < first.end,
                "with prefetch, both copies are asked for while the first gemm runs \
                 (it ends at {:.4} s; x's upload starts at {:.4} s, z's readback at {:.4} s)",
                first.end,
                x_up.start,
                z_back.start
            );
        } else {
            assert!(
                z_back.start >= first.end,
                "without prefetch, z is read back only after its writer ended ({:.4} < {:.4})",
                z_back.start,
                first.end
            );
        }
        eprintln!(
            "prefetch={prefetch}: first gemm {:.1}-{:.1} ms, x up {:.1}-{:.1} ms, z back {:.1}-{:.1} ms, \
             worst error/bound {worst:.2}",
            first.start * 1e3,
            first.end * 1e3,
            x_up.start * 1e3,
            x_up.end * 1e3,
            z_back.start * 1e3,
            z_back.end * 1e3
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
