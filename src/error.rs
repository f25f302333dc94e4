//! `tessera::Error`: everything a caller cannot foresee, as typed values.
//!
//! Errors are `Clone` (a task's error is reported both to its region and to its handle) and carry
//! where they happened: the task, its kernel, the chunks it touched, the processor.

use std::fmt;

use crate::dtype::DType;

/// Identifier of a chunk, unique within the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub(crate) u64);

impl ChunkId {
    /// The raw number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chunk#{}", self.0)
    }
}

/// Identifier of a task, unique within the process and increasing in submission order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The raw number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task#{}", self.0)
    }
}

/// The error type of every fallible tessera operation.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// GPUs were required (by options or `TESSERA_REQUIRE_GPU=1`) but none could be opened.
    #[error("no GPU adapter available: {0}")]
    NoAdapter(String),
    /// A runtime option or environment variable is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A GPU operation failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A kernel's WGSL source was rejected.
    #[error("shader for kernel `{kernel}` is invalid:\n{message}")]
    Shader {
        /// Kernel name.
        kernel: String,
        /// The parser's or validator's message, with source location.
        message: String,
    },
    /// No processor in the task's scope implements its kernel for its data.
    #[error("no processor in scope {scope} can run kernel `{kernel}` on {dtype} data: {reasons}")]
    NoProcessor {
        /// Kernel name.
        kernel: String,
        /// Element type of the task's first argument.
        dtype: DType,
        /// The scope, as written.
        scope: String,
        /// Why each processor in scope was ruled out.
        reasons: String,
    },
    /// Operand shapes or types do not fit together.
    #[error("shape mismatch in {op}: {detail}")]
    ShapeMismatch {
        /// The operation.
        op: String,
        /// What did not match.
        detail: String,
    },
    /// A Cholesky factorization met a non-positive pivot.
    #[error("matrix is not positive definite: the leading minor of order {} is not positive", column + 1)]
    NotPositiveDefinite {
        /// Zero-based global column of the failing pivot.
        column: usize,
    },
    /// A factorization met an exactly zero pivot.
    #[error("matrix is singular: zero pivot in column {column}")]
    Singular {
        /// Zero-based global column of the failing pivot.
        column: usize,
    },
    /// A task failed; the box says which and why.
    #[error("{0}")]
    Task(Box<TaskError>),
    /// A task did not run because a task it depends on failed.
    #[error("{task} (`{kernel}`) was cancelled because {cause} failed")]
    Cancelled {
        /// The cancelled task.
        task: TaskId,
        /// Its kernel.
        kernel: String,
        /// The failed task it depended on (directly or not).
        cause: TaskId,
    },
    /// The runtime has shut down, or a device it needed is gone.
    #[error("runtime is shut down: {0}")]
    Shutdown(String),
}

impl Error {
    /// The kernel-level error inside a task failure, if this is one.
    pub fn kernel_error(&self) -> Option<&KernelError> {
        match self {
            Error::Task(t) => match &t.source {
                TaskFailure::Kernel(k) => Some(k),
                TaskFailure::Runtime(e) => e.kernel_error(),
            },
            _ => None,
        }
    }

    /// The task failure details, if this is one.
    pub fn task(&self) -> Option<&TaskError> {
        match self {
            Error::Task(t) => Some(t),
            _ => None,
        }
    }
}

/// A task's failure: which task, kernel, chunks and processor, and the cause.
#[derive(Debug, Clone)]
pub struct TaskError {
    /// The failed task.
    pub task: TaskId,
    /// Its kernel's name.
    pub kernel: String,
    /// The chunks it accessed, in argument order.
    pub chunks: Vec<ChunkId>,
    /// The processor it was placed on, if it got that far.
    pub processor: Option<String>,
    /// What went wrong.
    pub source: TaskFailure,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (`{}`", self.task, self.kernel)?;
        if let Some(p) = &self.processor {
            write!(f, " on {p}")?;
        }
        write!(f, ", chunks [")?;
        for (i, c) in self.chunks.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
        }
        write!(f, "]) failed: {}", self.source)
    }
}

impl std::error::Error for TaskError {}

/// Why a task failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TaskFailure {
    /// The kernel itself reported an error.
    Kernel(KernelError),
    /// The runtime could not run it (placement, transfer, device).
    Runtime(Box<Error>),
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::Kernel(k) => write!(f, "{k}"),
            TaskFailure::Runtime(e) => write!(f, "{e}"),
        }
    }
}

/// An error reported by a kernel implementation (CPU closure or GPU status word).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// A non-positive pivot at zero-based `index` within the tile.
    #[error("non-positive pivot at index {index} of the tile")]
    NotPositiveDefinite {
        /// Zero-based index within the tile.
        index: usize,
    },
    /// An exactly zero pivot at zero-based `index` within the tile.
    #[error("zero pivot at index {index} of the tile")]
    Singular {
        /// Zero-based index within the tile.
        index: usize,
    },
    /// The arguments do not fit the kernel (shapes, types, parameter values).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Any other failure, with a message.
    #[error("{0}")]
    Failed(String),
    /// The CPU implementation panicked; the payload's message.
    #[error("kernel panicked: {0}")]
    Panicked(String),
}

/// GPU-specific failures.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// Opening a device failed.
    #[error("could not open device on adapter `{adapter}`: {message}")]
    RequestDevice {
        /// Adapter name.
        adapter: String,
        /// wgpu's message.
        message: String,
    },
    /// The device was lost (driver reset, removal, or destroyed).
    #[error("device {device} was lost: {message}")]
    DeviceLost {
        /// Device label.
        device: String,
        /// The reason given by the driver.
        message: String,
    },
    /// An allocation did not fit in device memory.
    #[error("out of device memory on {device} allocating {bytes} bytes")]
    OutOfMemory {
        /// Device label.
        device: String,
        /// Size of the failed allocation.
        bytes: u64,
    },
    /// A buffer would exceed a device limit.
    #[error("{what} of {bytes} bytes exceeds the limit of {limit} bytes on {device}")]
    TooLarge {
        /// Which limit.
        what: &'static str,
        /// Requested size.
        bytes: u64,
        /// The device's limit.
        limit: u64,
        /// Device label.
        device: String,
    },
    /// Pipeline creation failed on the device.
    #[error("pipeline for kernel `{kernel}` could not be created on {device}: {message}")]
    Pipeline {
        /// Kernel name.
        kernel: String,
        /// Device label.
        device: String,
        /// wgpu's message.
        message: String,
    },
    /// wgpu reported a validation error for work we recorded.
    #[error("validation error on {device}: {message}")]
    Validation {
        /// Device label.
        device: String,
        /// wgpu's message.
        message: String,
    },
    /// Mapping a buffer for readback failed.
    #[error("mapping a buffer on {device} failed: {message}")]
    Map {
        /// Device label.
        device: String,
        /// wgpu's message.
        message: String,
    },
}

/// Shorthand for `Result<T, tessera::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The message of a caught panic's payload (`panic!` with a literal or a formatted string).
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_string())
}
