//! Scheduling behaviour of the simulator. Simulations are deterministic: one run of each case
//! is the only run there is.

use crate::dtype::DType;
use crate::kernels::{Cost, Mode, Shape};
use crate::runtime::placement::EarliestFinish;
use crate::trace::Place;

use super::*;

/// A task on chunks of 1x1 f64 shapes (the simulator only looks at costs and chunk sizes).
fn task(accesses: Vec<(usize, Mode)>, flops: f64) -> SimTask {
    let shape = Shape {
        rows: 1,
        cols: 1,
        dtype: DType::F64,
    };
    SimTask {
        kernel: "k".into(),
        shapes: vec![shape; accesses.len()],
        cost: Cost { flops, bytes: 0.0 },
        accesses,
        priority: 0,
        has_gpu: true,
        has_cpu: true,
    }
}

fn traced() -> SimOptions {
    SimOptions {
        trace: true,
        ..SimOptions::default()
    }
}

/// Simulates and checks what must hold for every schedule.
#[track_caller]
fn run(g: &SimGraph, m: &Machine, policy: &dyn crate::Placement, o: &SimOptions) -> SimReport {
    let r = simulate(g, m, policy, o);
    assert_eq!(r.tasks_per_processor.iter().sum::<usize>(), g.tasks.len());
    assert!(
        r.makespan >= r.lower_bound * (1.0 - 1e-9),
        "makespan {} below the lower bound {}",
        r.makespan,
        r.lower_bound
    );
    assert!(r.efficiency > 0.0 && r.efficiency <= 1.0 + 1e-9);
    for (p, peak) in m.processors.iter().zip(&r.peak_memory) {
        assert!(p.memory.is_none_or(|cap| *peak <= cap), "{peak} > {p:?}");
    }
    r
}

#[test]
fn compute_heavy_tasks_go_to_the_fast_processor() {
    // 32 independent 1024 x 1024 f64 GEMMs: 21 ms each on a 100 GFLOP/s CPU, 0.2 ms on a
    // 10 TFLOP/s GPU behind a 0.34 ms tile transfer.
    let n = 32;
    let tile = 1024 * 1024 * 8;
    let g = SimGraph {
        tasks: (0..n)
            .map(|i| task(vec![(i, Mode::ReadWrite)], 2.0 * 1024f64.powi(3)))
            .collect(),
        chunks: vec![tile; n],
    };
    let m = Machine::parse("cpu:1@100G + gpu@10T, link 25G").unwrap();
    let r = run(&g, &m, &EarliestFinish, &SimOptions::default());
    assert!(r.tasks_per_processor[1] >= n * 9 / 10, "{r}");
    assert!(r.makespan < 0.021 * n as f64 / 4.0, "{r}");
}

#[test]
fn data_locality_keeps_chains_on_their_devices() {
    // Equal speeds everywhere. Tasks 0 and 1 create chunks 0 and 1 on the GPUs (they have no
    // CPU implementation); then two interleaved chains update them.
    let mut tasks = vec![
        task(vec![(0, Mode::Write)], 1e9),
        task(vec![(1, Mode::Write)], 1e9),
    ];
    for t in &mut tasks {
        t.has_cpu = false;
    }
    for _ in 0..10 {
        tasks.push(task(vec![(0, Mode::ReadWrite)], 1e9));
        tasks.push(task(vec![(1, Mode::ReadWrite)], 1e9));
    }
    let g = SimGraph {
        tasks,
        chunks: vec![8 << 20; 2],
    };
    let m = Machine::parse("cpu:1@1T + 2*gpu@1T, link 10G").unwrap();
    let r = run(&g, &m, &EarliestFinish, &traced());
    let trace = r.trace.as_ref().unwrap();
    assert_eq!(r.bytes_moved, 0, "{r}");
    for s in &trace.tasks {
        let chunk = s.tiles[0].0 as usize;
        assert_eq!(
            s.processor,
            chunk + 1,
            "task {} moved away from its data",
            s.task
        );
    }
}

#[test]
fn a_slow_link_keeps_work_on_the_cpu() {
    let n = 16;
    let g = SimGraph {
        tasks: (0..n)
            .map(|i| task(vec![(i, Mode::ReadWrite)], 1e9))
            .collect(),
        chunks: vec![1 << 20; n],
    };
    // Same speeds; 1 MiB takes a second over the GPU's 1 MB/s link.
    let slow = Machine::parse("cpu:1@1T + gpu@1T, link 1M").unwrap();
    let r = run(&g, &slow, &EarliestFinish, &SimOptions::default());
    assert_eq!(r.tasks_per_processor, vec![n, 0], "{r}");
    assert_eq!(r.bytes_moved, 0);
    // With a fast link the GPU shares the work.
    let fast = Machine::parse("cpu:1@1T + gpu@1T, link 25G").unwrap();
    let r = run(&g, &fast, &EarliestFinish, &SimOptions::default());
    assert!(r.tasks_per_processor[1] >= n / 4, "{r}");
}

#[test]
fn priorities_put_each_panel_ahead_of_the_previous_trailing_update() {
    // Four CPU threads, tiled Cholesky with nt = 8, without the program's own priorities so
    // only the bottom levels order the tasks.
    let nt = 8;
    let mut g = cholesky_graph(nt, 256, DType::F64);
    for t in &mut g.tasks {
        t.priority = 0;
    }
    let potrf: Vec<usize> = (0..g.tasks.len())
        .filter(|&t| g.tasks[t].kernel == "potrf")
        .collect();
    let m = Machine::parse("cpu:4@50G").unwrap();
    let sim = |priorities| {
        let o = SimOptions {
            priorities,
            ..traced()
        };
        let r = run(&g, &m, &EarliestFinish, &o);
        let mut start = vec![0.0; g.tasks.len()];
        for s in &r.trace.as_ref().unwrap().tasks {
            start[s.task as usize] = s.start;
        }
        // For each step k, whether potrf(k) started before the last gemm of step k - 1.
        let lookahead: Vec<bool> = (1..nt)
            .map(|k| {
                let last_gemm = (potrf[k - 1]..potrf[k])
                    .filter(|&t| g.tasks[t].kernel == "gemm")
                    .map(|t| start[t])
                    .fold(0.0, f64::max);
                start[potrf[k]] < last_gemm
            })
            .collect();
        (r.makespan, lookahead)
    };
    let (with, ahead) = sim(true);
    let (without, fifo) = sim(false);
    // Steps 5..7 have at most one gemm in the step before: nothing to overtake.
    assert_eq!(ahead, [true, true, true, true, false, false, false]);
    // Without priorities the queues are in spawn order, so every panel waits for the whole
    // previous update: this assertion is what fails with priorities off.
    assert_eq!(fifo, [false; 7]);
    assert!(with < without, "{with} vs {without}");
}

#[test]
fn evictions_let_a_matrix_larger_than_device_memory_through() {
    // 36 tiles of 512 KiB (18.9 MB) through a GPU of 4 MB, alone and beside a CPU.
    let g = cholesky_graph(8, 256, DType::F64);
    let matrix: u64 = g.chunks.iter().sum();
    for desc in ["gpu@1T, mem 4M", "cpu:2@10G + 2*gpu@1T, mem 4M"] {
        let m = Machine::parse(desc).unwrap();
        let r = run(&g, &m, &EarliestFinish, &traced());
        assert!(r.evictions > 0, "{desc}: {r}");
        assert!(r.peak_memory[1] <= 4_000_000 && 4_000_000 < matrix);
        let trace = r.trace.unwrap();
        assert_eq!(trace.evictions.len(), r.evictions);
        // Dirty replicas go home before they are dropped.
        let dirty = trace.evictions.iter().filter(|e| e.dirty).count();
        let home = trace
            .transfers
            .iter()
            .filter(|x| x.to == Place::Host)
            .count();
        assert!(
            dirty > 0 && home >= dirty,
            "{desc}: {dirty} dirty, {home} to host"
        );
    }
}

#[test]
#[should_panic(expected = "fit in no processor's memory")]
fn a_task_larger_than_every_memory_is_reported() {
    let g = SimGraph {
        tasks: vec![task(vec![(0, Mode::Read), (1, Mode::ReadWrite)], 1e9)],
        chunks: vec![3 << 20; 2],
    };
    simulate(
        &g,
        &Machine::parse("gpu@1T, mem 4M").unwrap(),
        &EarliestFinish,
        &SimOptions::default(),
    );
}

#[test]
fn work_bound_is_the_fractional_optimum() {
    // Three tasks taking 2 s on the CPU and 1 s on the GPU: the best split puts one on the
    // CPU and two on the GPU, 2 s each.
    let mut g = SimGraph {
        tasks: (0..3)
            .map(|i| task(vec![(i, Mode::ReadWrite)], 1e9))
            .collect(),
        chunks: vec![0; 3],
    };
    let mut m = Machine::new().cpu(1, 0.5e9).gpus(1, 1e9, 1e9);
    m.processors[0].model.latency = 0.0;
    m.processors[1].model.latency = 0.0;
    assert!(
        (work_bound(&g, &m) - 2.0).abs() < 1e-6,
        "{}",
        work_bound(&g, &m)
    );
    // Tasks only the CPU runs count on the CPU alone.
    for t in &mut g.tasks {
        t.has_gpu = false;
    }
    assert!((work_bound(&g, &m) - 6.0).abs() < 1e-6);
    // One kind of processor: total work over total slots.
    let m = Machine::new().cpu(4, 1e9);
    let w = 3.0 * m.processors[0].model.run(g.tasks[0].cost) / 4.0;
    assert!((work_bound(&g, &m) - w).abs() < 1e-12);
}

#[test]
fn trace_records_every_task_transfer_and_decision() {
    let g = cholesky_graph(6, 128, DType::F32);
    let m = Machine::parse("cpu:2@20G + 2*gpu@1T, link 10G").unwrap();
    for lookahead in [None, Some(1.0)] {
        let o = SimOptions {
            lookahead,
            ..traced()
        };
        let r = run(&g, &m, &EarliestFinish, &o);
        let t = r.trace.as_ref().unwrap();
        assert!(t.simulated);
        assert_eq!(t.lanes.len(), 3);
        assert_eq!(t.tasks.len(), g.tasks.len());
        assert_eq!(t.decisions.len(), g.tasks.len());
        let bytes: u64 = t.transfers.iter().map(|x| x.bytes).sum();
        assert_eq!(bytes, r.bytes_moved);
        for s in &t.tasks {
            assert!((s.end - s.start - s.predicted).abs() < 1e-12 && s.calibrated);
            let d = t.decisions.iter().find(|d| d.task == s.task).unwrap();
            assert_eq!(d.chosen, s.processor);
        }
        // Every edge is respected.
        let mut span = vec![(0.0, 0.0); g.tasks.len()];
        for s in &t.tasks {
            span[s.task as usize] = (s.start, s.end);
        }
        assert!(!t.edges.is_empty());
        for &(a, b) in &t.edges {
            assert!(span[a as usize].1 <= span[b as usize].0 + 1e-12);
        }
        assert!(r.to_string().contains("gpu1"));
    }
}

/// Reference only (not an allowed policy): owner computes, the owner of tile (i, j) being GPU
/// `(i mod p) q + (j mod q)` of a p x q grid, the 2D block-cyclic distribution of ScaLAPACK.
struct BlockCyclic(Vec<usize>);

impl BlockCyclic {
    fn new(g: &SimGraph, nt: usize, gpus: usize) -> BlockCyclic {
        let q = if gpus >= 4 { 2 } else { 1 };
        let p = gpus / q;
        let ij: Vec<(usize, usize)> = (0..nt).flat_map(|i| (0..=i).map(move |j| (i, j))).collect();
        let owner = |t: &SimTask| {
            let (i, j) = ij[t.accesses.last().expect("a tile").0];
            1 + (i % p) * q + j % q
        };
        BlockCyclic(g.tasks.iter().map(owner).collect())
    }
}

impl crate::Placement for BlockCyclic {
    fn place(&self, q: &crate::PlacementQuery<'_>) -> usize {
        let want = crate::Processor::from_index(self.0[q.task.get() as usize]);
        q.candidates
            .iter()
            .position(|c| c.processor == want)
            .expect("the owner")
    }

    fn name(&self) -> &str {
        "block-cyclic"
    }
}

/// The tiled Cholesky of n = 65536 in tiles of 1024 (f64, nt = 64, 45 760 tasks) on one CPU
/// of two 50 GFLOP/s threads and k GPUs. Run with
/// `cargo test --release --lib sim::tests::cholesky_65536 -- --ignored --nocapture`.
///
/// Asserts the acceptance target for `EarliestFinish` on both GPUs (10 and 50 TFLOP/s, 25 GB/s
/// links): on 4 GPUs within 1.25x of the lower bound and at least 3.3x faster than on one.
#[test]
#[ignore = "prints a table; about 5 s in release"]
fn cholesky_65536() {
    let g = cholesky_graph(64, 1024, DType::F64);
    println!(
        "{:<22} {:<26} {:>2} {:>9} {:>9} {:>6} {:>7} {:>8} {:>9}",
        "gpu", "scheduler", "k", "makespan", "bound", "eff", "speedup", "moved GB", "link s/gpu"
    );
    for gpu in ["gpu@50T, link 25G", "gpu@10T, link 25G"] {
        let policies: [(&str, Option<f64>, f64); 3] = [
            ("earliest finish", None, 0.0),
            ("data-aware 8, deferred 2", Some(2.0), 8.0),
            ("(block-cyclic owner)", None, -1.0),
        ];
        for (name, lookahead, beta) in policies {
            let mut one = 0.0;
            for k in [1, 2, 4, 8] {
                let desc = format!("cpu:2@50G + {k}*{gpu}");
                let m = Machine::parse(&desc).unwrap();
                let o = SimOptions {
                    lookahead,
                    ..SimOptions::default()
                };
                let r = if beta > 0.0 {
                    run(&g, &m, &DataAware::new(&m, beta), &o)
                } else if beta < 0.0 {
                    run(&g, &m, &BlockCyclic::new(&g, 64, k), &o)
                } else {
                    run(&g, &m, &EarliestFinish, &o)
                };
                if k == 1 {
                    one = r.makespan;
                }
                let down = r.links.iter().map(|l| l.busy_to_device).sum::<f64>() / k as f64;
                println!(
                    "{gpu:<22} {name:<26} {k:>2} {:>9.3} {:>9.3} {:>6.3} {:>7.2} {:>8.0} {:>9.3}",
                    r.makespan,
                    r.lower_bound,
                    r.efficiency,
                    one / r.makespan,
                    r.bytes_moved as f64 / 1e9,
                    down
                );
                if name == "earliest finish" && k == 4 {
                    println!("{r}");
                    assert!(r.makespan <= 1.25 * r.lower_bound, "{r}");
                    assert!(one / r.makespan >= 3.3, "{r}");
                }
            }
        }
    }
}

/// The acceptance targets of the tiled Cholesky of order 65536 (f64, tiles of 1024), for
/// `EarliestFinish` as the real scheduler uses it: on 4 GPUs within 1.25x of the lower bound and
/// at least 3.3x faster than on one, both on 10 TFLOP/s GPUs and on link-bound 50 TFLOP/s ones
/// (there it needs the charge on moving data: plain EFT gave 1.70x).
#[test]
fn cholesky_65536_meets_its_targets_on_4_gpus() {
    let g = cholesky_graph(64, 1024, DType::F64);
    for gpu in ["gpu@10T, link 25G", "gpu@50T, link 25G"] {
        let at = |k: usize| {
            let m = Machine::parse(&format!("cpu:2@50G + {k}*{gpu}")).unwrap();
            run(&g, &m, &EarliestFinish, &SimOptions::default())
        };
        let (one, four) = (at(1), at(4));
        assert!(four.makespan <= 1.25 * four.lower_bound, "{gpu}: {four}");
        let speedup = one.makespan / four.makespan;
        assert!(
            speedup >= 3.3,
            "{gpu}: speed-up {speedup:.2}: {one} vs {four}"
        );
        // The matrix is 17.2 GB; every byte moved more than about 5 times over means tiles
        // wander between devices.
        assert!(four.bytes_moved < 100_000_000_000, "{gpu}: {four}");
    }
}
