//! A task graph captured without running it: what the simulator schedules.

use crate::dtype::DType;
use crate::kernels::{Cost, Mode, Shape};

/// One task as the simulator sees it.
#[derive(Clone, Debug)]
pub struct SimTask {
    /// Kernel name.
    pub kernel: String,
    /// Argument shapes (the first one's dtype is the task's dtype).
    pub shapes: Vec<Shape>,
    /// The kernel's estimated cost for this call.
    pub cost: Cost,
    /// `(chunk index into SimGraph::chunks, mode)` per argument, in argument order.
    pub accesses: Vec<(usize, Mode)>,
    /// The priority the program gave (0 when none).
    pub priority: i64,
    /// Whether a GPU implementation exists (tasks without one may only run on the CPU).
    pub has_gpu: bool,
    /// Whether a CPU implementation exists.
    pub has_cpu: bool,
}

impl SimTask {
    /// Element type of the first argument.
    pub fn dtype(&self) -> Option<DType> {
        self.shapes.first().map(|s| s.dtype)
    }
}

/// A recorded sequence of tasks over chunks, in spawn (serial) order.
#[derive(Clone, Debug, Default)]
pub struct SimGraph {
    /// Tasks in spawn order; dependencies follow from the accesses by the datadeps rule.
    pub tasks: Vec<SimTask>,
    /// Bytes of each chunk. Every chunk starts valid in host memory.
    pub chunks: Vec<u64>,
}
