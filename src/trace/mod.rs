//! Traces of a run (real or simulated): task spans, transfers, evictions and placement
//! decisions, and their exports (Chrome/Perfetto JSON, an SVG Gantt chart, the task graph as
//! DOT, a summary table).
//!
//! Times are seconds since the trace started. Processor indices follow the runtime's table:
//! `0` is the CPU pool, `d + 1` is GPU `d`.
//!
//! The exports are plain data in, text out, so each is unit-tested without running anything:
//! [`Trace::to_chrome_json`] (open in <https://ui.perfetto.dev> or `chrome://tracing`),
//! [`Trace::to_svg`] (a Gantt chart for a browser), [`Trace::to_dot`] (the task graph for
//! Graphviz), [`Trace::summary`] (the tables the CLI prints) and [`Trace::write_all`] (all four
//! into a folder). [`kernel_color`] gives the kernel colors the SVG and DOT share.

mod chrome;
mod color;
mod dot;
mod format;
mod layout;
mod summary;
mod svg;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::dtype::DType;

pub use chrome::MAX_DECISIONS;
pub use color::kernel_color;
pub use summary::{KernelStats, LinkStats, ProcessorBusy, Summary};

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

impl fmt::Display for Place {
    /// `host`, or `gpu{d}` for device `d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Host => f.write_str("host"),
            Place::Device(d) => write!(f, "gpu{d}"),
        }
    }
}

impl Place {
    /// A total order for tables and lanes: the host first, then devices by index.
    fn order(self) -> usize {
        match self {
            Place::Host => 0,
            Place::Device(d) => d + 1,
        }
    }
}

impl TaskSpan {
    /// Measured run time in seconds (`end - start`; zero if the span is reversed or not finite).
    pub fn duration(&self) -> f64 {
        span_seconds(self.start, self.end)
    }
}

impl TransferSpan {
    /// Copy time in seconds (`end - start`; zero if the span is reversed or not finite).
    pub fn duration(&self) -> f64 {
        span_seconds(self.start, self.end)
    }

    /// Achieved bandwidth in GB/s (10^9 bytes per second), `None` for an instantaneous copy.
    pub fn gb_per_s(&self) -> Option<f64> {
        let d = self.duration();
        (d > 0.0).then(|| self.bytes as f64 / d / 1e9)
    }
}

fn span_seconds(start: f64, end: f64) -> f64 {
    let d = end - start;
    if d.is_finite() && d > 0.0 { d } else { 0.0 }
}

/// Short name of a processor index: `cpu` for `0`, `gpu{d}` for `d + 1`.
pub fn processor_label(processor: usize) -> String {
    match processor {
        0 => "cpu".to_owned(),
        p => format!("gpu{}", p - 1),
    }
}

impl Trace {
    /// When the last task or transfer ended, in seconds since the trace began (0 for an empty
    /// trace). Non-finite times are ignored.
    pub fn makespan(&self) -> f64 {
        self.tasks
            .iter()
            .map(|t| t.end)
            .chain(self.transfers.iter().map(|t| t.end))
            .filter(|e| e.is_finite())
            .fold(0.0, f64::max)
    }

    /// Creates `dir` (and its parents) and writes every export into it: `trace.json`
    /// ([`Trace::to_chrome_json`]), `gantt.svg` ([`Trace::to_svg`]), `graph.dot`
    /// ([`Trace::to_dot`]) and `summary.txt` ([`Trace::summary`]). Returns the paths written, in
    /// that order.
    ///
    /// # Errors
    /// Whatever creating the folder or writing a file returns.
    ///
    /// # Examples
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let dir = std::env::temp_dir().join(format!("tessera-trace-doc-{}", std::process::id()));
    /// let paths = tessera::trace::Trace::default().write_all(&dir)?;
    /// assert_eq!(paths.len(), 4);
    /// assert!(paths.iter().all(|p| p.exists()));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_all(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let files = [
            ("trace.json", self.to_chrome_json()),
            ("gantt.svg", self.to_svg()),
            ("graph.dot", self.to_dot()),
            ("summary.txt", self.summary().to_string()),
        ];
        let mut paths = Vec::with_capacity(files.len());
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            paths.push(path);
        }
        Ok(paths)
    }
}
