//! Placement: which processor in scope a task runs on.
//!
//! Every placement goes through [`Placement::place`], which sees, for each candidate processor,
//! the bytes the task would have to move there, the work already queued on it, and a predicted
//! run time. The default policy ([`EarliestFinish`]) picks the earliest predicted finish;
//! predictions come from [`ProcessorModel`], a roofline guess per processor until the
//! cost-model scheduler replaces it with measured times.

use crate::dtype::DType;
use crate::error::TaskId;
use crate::kernels::Cost;
use crate::runtime::processor::Processor;

/// One processor a task could run on, as placement sees it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// The processor.
    pub processor: Processor,
    /// Bytes of the task's inputs not yet valid in the processor's memory space.
    pub bytes_in: u64,
    /// Predicted seconds until `bytes_in` are there (waiting for busy links included where
    /// the caller models them).
    pub transfer: f64,
    /// Seconds those copies occupy links (no waiting): what moving the data there costs
    /// every other task that needs the same links.
    pub link_time: f64,
    /// The part of `link_time` spent on inputs the task also writes (`ReadWrite`). After the
    /// task, the copy there is the only valid one: a tile updated in place by a chain of
    /// tasks that moves once tends to move again.
    pub link_time_written: f64,
    /// Predicted seconds of work already placed on the processor and not finished.
    pub backlog: f64,
    /// Tasks the processor runs at once.
    pub slots: usize,
    /// Predicted seconds this task runs there.
    pub run: f64,
    /// Measurements behind `run` for this kernel and these shapes on this processor, plus
    /// tasks already placed there to measure it. Below [`CALIBRATED`] `run` is a roofline
    /// estimate or rests on too few runs.
    pub samples: u64,
}

impl Candidate {
    /// Predicted finish time from now: the task starts when the processor has a free slot
    /// (its backlog shared over its slots) and its inputs have arrived (transfers overlap the
    /// work queued ahead of it), then runs.
    pub fn finish(&self) -> f64 {
        (self.backlog / self.slots.max(1) as f64).max(self.transfer) + self.run
    }

    /// What [`EarliestFinish`] minimises: the finish time plus
    /// [`EarliestFinish::MOVE_WEIGHT`] times the link time the task's copies take, the copies
    /// of inputs it also writes counted twice.
    pub fn score(&self) -> f64 {
        self.finish() + EarliestFinish::MOVE_WEIGHT * (self.link_time + self.link_time_written)
    }
}

/// What placement knows about one task.
#[derive(Clone, Copy, Debug)]
pub struct PlacementQuery<'a> {
    /// The task.
    pub task: TaskId,
    /// Its kernel's name.
    pub kernel: &'a str,
    /// Element type of its first argument.
    pub dtype: Option<DType>,
    /// Its estimated cost.
    pub cost: Cost,
    /// Its priority.
    pub priority: i64,
    /// Processors in scope that can run it (never empty; at least two when asked).
    pub candidates: &'a [Candidate],
}

/// A placement policy. Implementations must be fast: this runs once per task.
pub trait Placement: Send + Sync + 'static {
    /// Index into `q.candidates` of the chosen processor.
    fn place(&self, q: &PlacementQuery<'_>) -> usize;

    /// A short name, for traces and `tessera info`.
    fn name(&self) -> &str;
}

/// Measurements after which a model entry counts as calibrated.
pub const CALIBRATED: u64 = crate::runtime::perf::CALIBRATED;

/// Earliest predicted finish (HEFT / StarPU's dmda), with data movement charged: the score
/// of a candidate is its predicted finish plus [`MOVE_WEIGHT`](EarliestFinish::MOVE_WEIGHT)
/// times the link time its input copies take. Ties go to the candidate with fewer bytes to
/// move, then to the first in processor order.
///
/// The charge is there because a finish time only sees the task itself: a copy also holds a
/// link that the device's next tasks need, and a tile the task writes is afterwards valid only
/// where it ran, so moving it commits the chain of updates to that tile to follow it (or to
/// pay for moving it back); those copies count twice. Without the charge, on machines whose
/// links are slow next to their GPUs, placement spreads tiles over every device and the run
/// becomes link-bound: the simulated tiled Cholesky of order 65536 on 4 GPUs of 50 TFLOP/s
/// with 25 GB/s links moved 279 GB and ran 1.70x faster than on one GPU; with the charge it
/// moves 86 GB and runs 3.68x faster (BENCHMARKS.md).
///
/// While a candidate has fewer than [`CALIBRATED`] samples for the task's kernel and shapes,
/// and its predicted finish is within [`EarliestFinish::EXPLORE`] times the best one, the task
/// goes there instead so that the model learns that processor's real speed (StarPU calibrates
/// the same way). Each (kernel, shapes, processor) is explored at most [`CALIBRATED`] times,
/// and the model persists, so this costs a few tasks on a machine's first run only.
#[derive(Clone, Copy, Debug, Default)]
pub struct EarliestFinish;

impl EarliestFinish {
    /// How much later than the best a candidate may be predicted to finish and still be
    /// explored. Roofline guesses are rarely off by more.
    pub const EXPLORE: f64 = 10.0;

    /// Seconds of score per second of link time a placement's copies take (StarPU's `dmda`
    /// weighs transfers in the same spirit). Chosen on the simulated Cholesky above: 4 to 16
    /// all meet its targets, 8 is best on both the 10 and the 50 TFLOP/s machine.
    pub const MOVE_WEIGHT: f64 = 8.0;

    /// The candidate with the best [`score`](Candidate::score), ignoring calibration.
    pub fn earliest(candidates: &[Candidate]) -> usize {
        let mut best = 0;
        for (i, c) in candidates.iter().enumerate().skip(1) {
            let b = &candidates[best];
            let (fc, fb) = (c.score(), b.score());
            if fc < fb * (1.0 - 1e-9) || (fc <= fb * (1.0 + 1e-9) && c.bytes_in < b.bytes_in) {
                best = i;
            }
        }
        best
    }
}

impl Placement for EarliestFinish {
    fn place(&self, q: &PlacementQuery<'_>) -> usize {
        let best = Self::earliest(q.candidates);
        let limit = q.candidates[best].finish() * Self::EXPLORE;
        q.candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.samples < CALIBRATED && c.finish() <= limit)
            .min_by_key(|(_, c)| c.samples)
            .map_or(best, |(i, _)| i)
    }

    fn name(&self) -> &str {
        "earliest-finish"
    }
}

/// A processor's predicted speed: a roofline with a fixed per-task latency, and the link that
/// feeds it from the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessorModel {
    /// Floating-point operations per second (per slot).
    pub flops: f64,
    /// Memory bandwidth in bytes per second (per slot).
    pub bandwidth: f64,
    /// Fixed cost of one task in seconds (launch, scheduling).
    pub latency: f64,
    /// Host link bandwidth in bytes per second (infinite for the CPU).
    pub link_bandwidth: f64,
    /// Host link latency in seconds per transfer.
    pub link_latency: f64,
}

impl ProcessorModel {
    /// One CPU thread of a current desktop or server core running a tuned tile kernel (faer
    /// reaches 50-150 GFLOP/s per AVX2/AVX-512 core on 256-512 tiles).
    pub const CPU_THREAD: ProcessorModel = ProcessorModel {
        flops: 50e9,
        bandwidth: 10e9,
        latency: 1e-6,
        link_bandwidth: f64::INFINITY,
        link_latency: 0.0,
    };

    /// A guess from the adapter's device type (`DiscreteGpu`, `IntegratedGpu`, `Cpu`, ...).
    pub fn for_device_type(device_type: &str) -> ProcessorModel {
        match device_type {
            "DiscreteGpu" => ProcessorModel {
                flops: 10e12,
                bandwidth: 300e9,
                latency: 20e-6,
                link_bandwidth: 12e9,
                link_latency: 10e-6,
            },
            "IntegratedGpu" => ProcessorModel {
                flops: 1e12,
                bandwidth: 50e9,
                latency: 20e-6,
                link_bandwidth: 10e9,
                link_latency: 10e-6,
            },
            // A software rasterizer: shaders run on the host's cores, slowly, and take those
            // cores from the CPU processor while they do (lavapipe: 1-30 GFLOP/s on GEMM).
            "Cpu" => ProcessorModel {
                flops: 1e9,
                bandwidth: 2e9,
                latency: 100e-6,
                link_bandwidth: 8e9,
                link_latency: 5e-6,
            },
            _ => ProcessorModel {
                flops: 1e12,
                bandwidth: 100e9,
                latency: 20e-6,
                link_bandwidth: 10e9,
                link_latency: 10e-6,
            },
        }
    }

    /// Predicted seconds for a task of `cost`.
    pub fn run(&self, cost: Cost) -> f64 {
        self.latency + (cost.flops / self.flops).max(cost.bytes / self.bandwidth)
    }

    /// Predicted seconds to move `bytes` from the host.
    pub fn transfer(&self, bytes: u64) -> f64 {
        if bytes == 0 {
            0.0
        } else {
            self.link_latency + bytes as f64 / self.link_bandwidth
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::processor::DeviceId;

    fn cand(p: Processor, bytes_in: u64, backlog: f64, run: f64) -> Candidate {
        Candidate {
            processor: p,
            bytes_in,
            transfer: bytes_in as f64 / 1e9,
            link_time: bytes_in as f64 / 1e9,
            link_time_written: 0.0,
            backlog,
            slots: 1,
            run,
            samples: CALIBRATED,
        }
    }

    fn query(c: &[Candidate]) -> PlacementQuery<'_> {
        PlacementQuery {
            task: TaskId(1),
            kernel: "k",
            dtype: Some(DType::F32),
            cost: Cost::default(),
            priority: 0,
            candidates: c,
        }
    }

    #[test]
    fn earliest_finish_prefers_fast_then_local_then_idle() {
        let gpu = Processor::Gpu(DeviceId(0));
        // A much faster processor wins despite a transfer.
        let c = [
            cand(Processor::Cpu, 0, 0.0, 1.0),
            cand(gpu, 1_000_000, 0.0, 0.01),
        ];
        assert_eq!(EarliestFinish.place(&query(&c)), 1);
        // Equal speed: the one holding the data wins.
        let c = [
            cand(Processor::Cpu, 1_000_000, 0.0, 0.01),
            cand(gpu, 0, 0.0, 0.01),
        ];
        assert_eq!(EarliestFinish.place(&query(&c)), 1);
        // Equal speed and data: the idle one wins.
        let c = [cand(Processor::Cpu, 0, 5.0, 0.01), cand(gpu, 0, 0.0, 0.01)];
        assert_eq!(EarliestFinish.place(&query(&c)), 1);
        // Exact tie: the first.
        let c = [cand(Processor::Cpu, 0, 0.0, 0.01), cand(gpu, 0, 0.0, 0.01)];
        assert_eq!(EarliestFinish.place(&query(&c)), 0);
    }

    #[test]
    fn moving_data_is_charged_and_moving_a_written_tile_twice() {
        let gpu = |d| Processor::Gpu(DeviceId(d));
        // Device 0 holds everything but has 1 ms of work queued; device 1 is idle and would
        // need 0.2 ms of copies. Plain earliest finish moves the task (0.3 ms against 1.1 ms);
        // with the charge (8 x 0.2 ms) it stays.
        let mut far = cand(gpu(1), 200_000, 0.0, 0.1e-3);
        let near = cand(gpu(0), 0, 1e-3, 0.1e-3);
        assert!(far.finish() < near.finish());
        assert_eq!(EarliestFinish.place(&query(&[near, far])), 0);
        // With 3 ms queued, it is worth moving a tile it only reads (0.3 + 1.6 < 3.1 ms)...
        let busy = cand(gpu(0), 0, 3e-3, 0.1e-3);
        assert_eq!(EarliestFinish.place(&query(&[busy, far])), 1);
        // ... but not one it writes (0.3 + 3.2 > 3.1 ms).
        far.link_time_written = far.link_time;
        assert_eq!(EarliestFinish.place(&query(&[busy, far])), 0);
        assert!((far.score() - (far.finish() + 16.0 * far.link_time)).abs() < 1e-15);
    }

    #[test]
    fn roofline_model_is_bounded_by_the_slower_resource() {
        let m = ProcessorModel::CPU_THREAD;
        let compute = m.run(Cost {
            flops: 50e9,
            bytes: 0.0,
        });
        assert!((compute - 1.0 - m.latency).abs() < 1e-12);
        let memory = m.run(Cost {
            flops: 0.0,
            bytes: 20e9,
        });
        assert!((memory - 2.0 - m.latency).abs() < 1e-12);
        assert_eq!(
            m.transfer(1 << 30),
            0.0 + (1u64 << 30) as f64 / f64::INFINITY
        );
    }
}
