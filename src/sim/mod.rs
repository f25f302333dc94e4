//! A simulated machine: the scheduler's placement and priorities over modelled processors and
//! links, with a virtual clock and no kernels run.
//!
//! It predicts how a task graph scales on machines we cannot run here (several GPUs, fast
//! links, small memories) and measures scheduling quality against lower bounds.
//!
//! - [`SimGraph`]: the tasks, in spawn order, with their chunk accesses and costs.
//!   [`cholesky_graph`] builds the tiled Cholesky one.
//! - [`Machine`]: processors (CPU slots, GPUs with memory) and host links, built in code or
//!   parsed from a description such as `cpu:2@50G + 4*gpu@10T, link 25G` (grammar in
//!   [`machine`]).
//! - [`simulate`]: a discrete-event simulation. Dependencies follow the datadeps rule; ready
//!   tasks are placed most urgent first (bottom level, HEFT's upward rank) by a [`Placement`]
//!   policy such as [`EarliestFinish`] that sees, per candidate processor, the work queued
//!   ahead, the predicted transfer time of its inputs and its predicted run time, exactly the
//!   [`Candidate`] the runtime builds. Processors and links serve their queues by urgency;
//!   coherence is MSI per chunk with transfers through the host; device memory is bounded with
//!   LRU eviction.
//! - [`DataAware`]: earliest finish plus a charge per byte moved over the mean link bandwidth,
//!   and [`SimOptions::lookahead`], which places a task only when its processor is about to
//!   need it. An experiment that led to [`EarliestFinish`]'s own charge on link time, which
//!   now does better on the tiled Cholesky (see the `cholesky_65536` experiment in this
//!   module's tests and BENCHMARKS.md).
//! - [`SimReport`]: makespan, busy time and traffic per processor and link, evictions, lower
//!   bounds (critical path; fractional work) and the efficiency against them, a
//!   [`Trace`](crate::trace::Trace) on request.
//!
//! HEFT: Topcuoglu, Hariri and Wu, "Performance-effective and low-complexity task scheduling
//! for heterogeneous computing", IEEE TPDS 13(3), 2002. The queues follow StarPU's `dmdas`
//! (Augonnet, Thibault, Namyst and Wacrenier, "StarPU: a unified platform for task scheduling
//! on heterogeneous multicore architectures", CCPE 23(2), 2011).
//!
//! # Example
//! Two independent GEMM-sized tasks and one that needs both, on one CPU thread and one GPU:
//!
//! ```
//! use tessera::sim::{Machine, SimGraph, SimOptions, SimTask, simulate};
//! use tessera::{Cost, DType, EarliestFinish, Mode, Shape};
//!
//! let shape = Shape { rows: 512, cols: 512, dtype: DType::F32 };
//! let task = |accesses: Vec<(usize, Mode)>| SimTask {
//!     kernel: "gemm".into(),
//!     shapes: vec![shape; accesses.len()],
//!     cost: Cost { flops: 2.0 * 512f64.powi(3), bytes: 4.0 * shape.bytes() as f64 },
//!     accesses,
//!     priority: 0,
//!     has_gpu: true,
//!     has_cpu: true,
//! };
//! let graph = SimGraph {
//!     tasks: vec![
//!         task(vec![(0, Mode::ReadWrite)]),
//!         task(vec![(1, Mode::ReadWrite)]),
//!         task(vec![(0, Mode::Read), (1, Mode::Read), (2, Mode::ReadWrite)]),
//!     ],
//!     chunks: vec![shape.bytes() as u64; 3],
//! };
//! let machine = Machine::parse("cpu:1@50G + gpu@10T, link 25G")?;
//! let report = simulate(&graph, &machine, &EarliestFinish, &SimOptions::default());
//! // The GPU is 200 times faster: it runs everything, after the chunks cross its link.
//! assert_eq!(report.tasks_per_processor, vec![0, 3]);
//! assert!(report.makespan >= report.lower_bound);
//! assert_eq!(report.bytes_moved, 3 * shape.bytes() as u64);
//! println!("{report}");
//! # Ok::<(), tessera::Error>(())
//! ```
//!
//! [`Placement`]: crate::Placement
//! [`EarliestFinish`]: crate::EarliestFinish
//! [`Candidate`]: crate::Candidate

mod cholesky;
mod data;
mod engine;
mod fenwick;
pub mod graph;
pub mod machine;
mod policy;
mod record;
mod report;
#[cfg(test)]
mod tests;

pub use cholesky::cholesky_graph;
pub use engine::{SimOptions, simulate};
pub use graph::{SimGraph, SimTask};
pub use machine::{Machine, ProcessorKind, SimProcessor};
pub use policy::DataAware;
pub use record::record;
pub use report::{LinkStats, SimReport, work_bound};
