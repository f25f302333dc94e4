//! Traces of a run (real or simulated): task spans, transfers, evictions and placement
//! decisions, and their exports (Chrome/Perfetto JSON, an SVG Gantt chart, the task graph as
//! DOT, a summary table).
//!
//! Times are seconds since the trace started. Processor indices follow the runtime's table:
//! `0` is the CPU pool, `d + 1` is GPU `d`.

use crate::dtype::DType;

/// Where a replica lives: the host or a device's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Place {
    /// Host memory.
    Host,
    /// Device `d`'s memory (processor `d + 1`).
    Device(usize),
}

/// One processor lane of a trace.
#[derive(Clone, Debug)]
pub struct Lane {
    /// Processor index (0 = CPU, d + 1 = GPU d).
    pub processor: usize,
    /// Display name, e.g. `cpu (2 threads)` or `gpu0: llvmpipe (LLVM 19.1.7, 256 bits)`.
    pub name: String,
    /// Tasks it runs at once.
    pub slots: usize,
}

/// One task's execution.
#[derive(Clone, Debug)]
pub struct TaskSpan {
    /// Task id (unique within the trace).
    pub task: u64,
    /// Kernel name.
    pub kernel: String,
    /// Element type of its first argument.
    pub dtype: Option<DType>,
    /// Chunk ids it accessed, in argument order, with `true` where it writes.
    pub tiles: Vec<(u64, bool)>,
    /// Processor index it ran on.
    pub processor: usize,
    /// Start, seconds since the trace began.
    pub start: f64,
    /// End, seconds since the trace began.
    pub end: f64,
    /// Run time the scheduler predicted when it placed the task, seconds.
    pub predicted: f64,
    /// Whether that prediction came from a calibrated (measured) model entry.
    pub calibrated: bool,
    /// Estimated floating-point operations.
    pub flops: f64,
    /// Whether it succeeded.
    pub ok: bool,
}

/// One copy between memory spaces.
#[derive(Clone, Debug)]
pub struct TransferSpan {
    /// Chunk id.
    pub chunk: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// Source.
    pub from: Place,
    /// Destination.
    pub to: Place,
    /// Start, seconds since the trace began.
    pub start: f64,
    /// End, seconds since the trace began.
    pub end: f64,
}

/// A replica dropped from a device to make room.
#[derive(Clone, Debug)]
pub struct Eviction {
    /// Chunk id.
    pub chunk: u64,
    /// Device index (processor `device + 1`).
    pub device: usize,
    /// Bytes freed.
    pub bytes: u64,
    /// Whether it held the only current value and was written back to the host first.
    pub dirty: bool,
    /// When, seconds since the trace began.
    pub time: f64,
}

/// One candidate processor as placement saw it.
#[derive(Clone, Debug)]
pub struct Choice {
    /// Processor index.
    pub processor: usize,
    /// Predicted finish, seconds from the decision.
    pub finish: f64,
    /// Predicted transfer seconds.
    pub transfer: f64,
    /// Predicted run seconds.
    pub run: f64,
}

/// One placement decision.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Task id.
    pub task: u64,
    /// When, seconds since the trace began.
    pub time: f64,
    /// Processor index chosen.
    pub chosen: usize,
    /// The task's priority (higher runs first).
    pub priority: i64,
    /// Every candidate considered (one when the scope left no choice).
    pub candidates: Vec<Choice>,
}

/// A recorded run.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Whether the times are a simulated machine's virtual clock.
    pub simulated: bool,
    /// One lane per processor.
    pub lanes: Vec<Lane>,
    /// Task spans, in order of completion.
    pub tasks: Vec<TaskSpan>,
    /// Dependency edges `(predecessor, successor)` by task id.
    pub edges: Vec<(u64, u64)>,
    /// Copies between memory spaces.
    pub transfers: Vec<TransferSpan>,
    /// Evictions.
    pub evictions: Vec<Eviction>,
    /// Placement decisions.
    pub decisions: Vec<Decision>,
}
