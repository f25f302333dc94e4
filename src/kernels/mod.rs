//! Kernel descriptors: a named operation with a fixed access signature, scalar parameters, a cost,
//! a CPU implementation and, where it exists, a GPU implementation written in WGSL.
//!
//! Built-in kernels are in [`builtin`]; users build their own with [`Kernel::builder`].

pub mod builtin;
mod cpu_task;
pub mod dense;
pub mod fft;
mod gpu_kernel;
pub mod lu;
pub(crate) mod params;
pub mod qr;

use std::fmt;
use std::sync::Arc;

pub(crate) use cpu_task::Slot;
pub use cpu_task::{CpuTask, TileMut, TileRef};
pub(crate) use gpu_kernel::fold_groups;
pub use gpu_kernel::{Dispatch, GpuKernel, GpuVariant, MAX_WORKGROUPS_PER_DIM};
pub use params::{Params, Scalar};

use crate::dtype::DType;
use crate::error::{Error, KernelError, Result};

/// How a task touches a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Reads the current value; never modifies it.
    Read,
    /// Overwrites every element without reading (no copy-in is made).
    Write,
    /// Reads and modifies.
    ReadWrite,
}

impl Mode {
    /// Whether the access needs the current value.
    pub fn reads(self) -> bool {
        matches!(self, Mode::Read | Mode::ReadWrite)
    }

    /// Whether the access modifies the chunk.
    pub fn writes(self) -> bool {
        matches!(self, Mode::Write | Mode::ReadWrite)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Read => "Read",
            Mode::Write => "Write",
            Mode::ReadWrite => "ReadWrite",
        })
    }
}

/// Shape and element type of one kernel argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Rows of the column-major tile.
    pub rows: usize,
    /// Columns of the tile.
    pub cols: usize,
    /// Element type.
    pub dtype: DType,
}

impl Shape {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether the tile has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size in bytes.
    pub fn bytes(&self) -> usize {
        self.len() * self.dtype.size()
    }
}

/// Estimated work of one call, used by placement until measured times exist.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Floating-point (or integer) operations.
    pub flops: f64,
    /// Bytes read plus bytes written.
    pub bytes: f64,
}

/// What a kernel's cost, check and dispatch functions see of one call.
#[derive(Clone, Copy, Debug)]
pub struct Launch<'a> {
    /// Shapes of the arguments, in order.
    pub shapes: &'a [Shape],
    /// Scalar parameters, in order.
    pub params: &'a [Scalar],
}

/// The argument signature entry of a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgSpec {
    /// How the argument is accessed.
    pub mode: Mode,
    /// Element type it must hold.
    pub dtype: DType,
}

pub(crate) type CpuFn = Arc<dyn Fn(&mut CpuTask<'_>) -> Result<(), KernelError> + Send + Sync>;
type CostFn = Arc<dyn Fn(&Launch<'_>) -> Cost + Send + Sync>;
type CheckFn = Arc<dyn Fn(&Launch<'_>) -> Result<(), KernelError> + Send + Sync>;

pub(crate) struct KernelDef {
    pub(crate) name: String,
    pub(crate) args: Vec<ArgSpec>,
    pub(crate) params: Vec<DType>,
    cost: Option<CostFn>,
    check: Option<CheckFn>,
    pub(crate) cpu: Option<CpuFn>,
    pub(crate) gpu: Option<Arc<GpuKernel>>,
}

/// A kernel descriptor. Cheap to clone (reference counted).
///
/// # Examples
/// A user kernel with both a CPU closure and a WGSL implementation:
/// ```
/// use tessera::{DType, Dispatch, GpuKernel, Kernel};
///
/// let wgsl = r#"
/// @group(0) @binding(0) var<storage, read_write> x: array<u32>;
/// @group(0) @binding(1) var<storage, read> y: array<u32>;
/// @compute @workgroup_size(64)
/// fn mix(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
///     let i = g.x + g.y * nw.x * 64u;
///     if (i < arrayLength(&x)) { x[i] = 31u * x[i] + y[i]; }
/// }"#;
/// let mix = Kernel::builder("mix")
///     .read_write(DType::U32)
///     .read(DType::U32)
///     .cpu(|t| {
///         let y = t.tile::<u32>(1);
///         let x = t.tile_mut::<u32>(0);
///         for (a, b) in x.data.iter_mut().zip(y.data) {
///             *a = a.wrapping_mul(31).wrapping_add(*b);
///         }
///         Ok(())
///     })
///     .gpu(GpuKernel::wgsl(wgsl, "mix").dispatch(Dispatch::Elements { arg: 0, workgroup_size: 64 }))
///     .build()?;
/// assert_eq!(mix.name(), "mix");
/// # Ok::<(), tessera::Error>(())
/// ```
#[derive(Clone)]
pub struct Kernel(pub(crate) Arc<KernelDef>);

impl fmt::Debug for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernel")
            .field("name", &self.0.name)
            .field("args", &self.0.args)
            .field("params", &self.0.params)
            .field("cpu", &self.0.cpu.is_some())
            .field("gpu", &self.0.gpu.is_some())
            .finish()
    }
}

impl Kernel {
    /// Starts describing a kernel called `name`.
    pub fn builder(name: impl Into<String>) -> KernelBuilder {
        KernelBuilder {
            name: name.into(),
            args: Vec::new(),
            params: Vec::new(),
            cost: None,
            check: None,
            cpu: None,
            gpu: None,
        }
    }

    /// The kernel's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The argument signature.
    pub fn args(&self) -> &[ArgSpec] {
        &self.0.args
    }

    /// The parameter types.
    pub fn params(&self) -> &[DType] {
        &self.0.params
    }

    /// Whether a CPU implementation exists.
    pub fn has_cpu(&self) -> bool {
        self.0.cpu.is_some()
    }

    /// The GPU implementation, if any.
    pub fn gpu(&self) -> Option<&GpuKernel> {
        self.0.gpu.as_deref()
    }

    /// The same kernel with its GPU implementation restricted to the variant called `name`
    /// (for tests and benchmarks that compare variants); `None` if there is no such variant.
    pub fn with_gpu_variant(&self, name: &str) -> Option<Kernel> {
        let gpu = self.0.gpu.as_ref()?.only(name)?;
        Some(Kernel(Arc::new(KernelDef {
            name: self.0.name.clone(),
            args: self.0.args.clone(),
            params: self.0.params.clone(),
            cost: self.0.cost.clone(),
            check: self.0.check.clone(),
            cpu: self.0.cpu.clone(),
            gpu: Some(Arc::new(gpu)),
        })))
    }

    /// Binds parameters, producing a call that can be spawned.
    ///
    /// # Panics
    /// If the number or types of `params` differ from the kernel's parameter signature.
    #[track_caller]
    pub fn call(&self, params: impl IntoIterator<Item = Scalar>) -> KernelCall {
        let params: Params = params.into_iter().collect();
        assert!(
            params
                .iter()
                .map(|p| p.dtype())
                .eq(self.0.params.iter().copied()),
            "kernel `{}` takes parameters {:?}, got {:?}",
            self.0.name,
            self.0.params,
            params.iter().map(|p| p.dtype()).collect::<Vec<_>>()
        );
        KernelCall {
            kernel: self.clone(),
            params,
        }
    }

    /// Estimated cost of one call. Without a cost function: no flops, and every argument's bytes.
    pub fn cost(&self, launch: &Launch<'_>) -> Cost {
        match &self.0.cost {
            Some(f) => f(launch),
            None => Cost {
                flops: 0.0,
                bytes: launch.shapes.iter().map(|s| s.bytes() as f64).sum(),
            },
        }
    }

    /// Runs the kernel's argument check, if it has one.
    pub(crate) fn check(&self, launch: &Launch<'_>) -> Result<(), KernelError> {
        match &self.0.check {
            Some(f) => f(launch),
            None => Ok(()),
        }
    }
}

/// A kernel with its parameters bound: what a task runs.
#[derive(Clone, Debug)]
pub struct KernelCall {
    pub(crate) kernel: Kernel,
    pub(crate) params: Params,
}

impl KernelCall {
    /// The kernel.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// The bound parameters.
    pub fn params(&self) -> &[Scalar] {
        &self.params
    }
}

impl From<&Kernel> for KernelCall {
    /// A call without parameters.
    ///
    /// # Panics
    /// If the kernel takes parameters.
    #[track_caller]
    fn from(k: &Kernel) -> KernelCall {
        k.call([])
    }
}

impl From<Kernel> for KernelCall {
    #[track_caller]
    fn from(k: Kernel) -> KernelCall {
        k.call([])
    }
}

impl From<&KernelCall> for KernelCall {
    fn from(c: &KernelCall) -> KernelCall {
        c.clone()
    }
}

/// Builder for [`Kernel`].
#[must_use]
pub struct KernelBuilder {
    name: String,
    args: Vec<ArgSpec>,
    params: Vec<DType>,
    cost: Option<CostFn>,
    check: Option<CheckFn>,
    cpu: Option<CpuFn>,
    gpu: Option<GpuKernel>,
}

impl KernelBuilder {
    /// Appends an argument.
    pub fn arg(mut self, mode: Mode, dtype: DType) -> Self {
        self.args.push(ArgSpec { mode, dtype });
        self
    }

    /// Appends a `Read` argument.
    pub fn read(self, dtype: DType) -> Self {
        self.arg(Mode::Read, dtype)
    }

    /// Appends a `Write` argument.
    pub fn write(self, dtype: DType) -> Self {
        self.arg(Mode::Write, dtype)
    }

    /// Appends a `ReadWrite` argument.
    pub fn read_write(self, dtype: DType) -> Self {
        self.arg(Mode::ReadWrite, dtype)
    }

    /// Appends a scalar parameter.
    pub fn param(mut self, dtype: DType) -> Self {
        self.params.push(dtype);
        self
    }

    /// Sets the cost estimate used by placement before measured times exist.
    pub fn cost(mut self, f: impl Fn(&Launch<'_>) -> Cost + Send + Sync + 'static) -> Self {
        self.cost = Some(Arc::new(f));
        self
    }

    /// Sets a check run when a task is spawned; an `Err` fails the task before it runs.
    pub fn check(
        mut self,
        f: impl Fn(&Launch<'_>) -> Result<(), KernelError> + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(f));
        self
    }

    /// Sets the CPU implementation. It runs on one pool thread with exclusive access to written
    /// arguments and shared access to read ones.
    pub fn cpu(
        mut self,
        f: impl Fn(&mut CpuTask<'_>) -> Result<(), KernelError> + Send + Sync + 'static,
    ) -> Self {
        self.cpu = Some(Arc::new(f));
        self
    }

    /// Sets the GPU implementation.
    pub fn gpu(mut self, g: GpuKernel) -> Self {
        self.gpu = Some(g);
        self
    }

    /// Validates the description (and the WGSL, with naga, without any device) and builds it.
    ///
    /// # Errors
    /// [`Error::Config`] when there is no implementation or bindings do not match the
    /// arguments; [`Error::Shader`] when the WGSL does not parse or validate, or lacks the
    /// entry point.
    pub fn build(self) -> Result<Kernel> {
        if self.cpu.is_none() && self.gpu.is_none() {
            return Err(Error::Config(format!(
                "kernel `{}` has neither a CPU nor a GPU implementation",
                self.name
            )));
        }
        let gpu = match self.gpu {
            Some(g) => Some(Arc::new(g.finish(&self.name, &self.args, &self.params)?)),
            None => None,
        };
        Ok(Kernel(Arc::new(KernelDef {
            name: self.name,
            args: self.args,
            params: self.params,
            cost: self.cost,
            check: self.check,
            cpu: self.cpu,
            gpu,
        })))
    }
}
