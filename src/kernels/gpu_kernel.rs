//! The GPU half of a kernel: WGSL source, entry point, bindings and dispatch geometry.
//!
//! Binding convention (group 0), unless [`GpuKernel::bindings`] says otherwise:
//! - binding `i` is the task's `i`-th argument: `var<storage, read>` for `Read`,
//!   `var<storage, read_write>` for `Write` and `ReadWrite`, an `array` of the element's WGSL type;
//! - binding `n` (the number of arguments) is a `var<uniform>` struct with the call's scalar
//!   parameters in order (laid out as WGSL lays out a struct), present when the kernel has
//!   parameters or a custom uniform encoder;
//! - binding `n + 1` is a `var<storage, read_write> array<atomic<u32>>` of status words, zeroed
//!   before the dispatch, present when the kernel declares [`GpuKernel::status`].

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use crate::dtype::{Caps, DType};
use crate::error::{Error, KernelError, Result};
use crate::kernels::{ArgSpec, Launch};

/// The most workgroups one dispatch dimension may have on every WebGPU device.
pub const MAX_WORKGROUPS_PER_DIM: u32 = 65535;

type DispatchFn = Arc<dyn Fn(&Launch<'_>) -> [u32; 3] + Send + Sync>;
type UniformFn = Arc<dyn Fn(&Launch<'_>) -> Vec<u8> + Send + Sync>;
type StatusFn = Arc<dyn Fn(&[u32]) -> Result<(), KernelError> + Send + Sync>;

/// How many workgroups a call dispatches.
#[derive(Clone)]
pub enum Dispatch {
    /// One invocation per element of argument `arg`, in 1D workgroups of `workgroup_size`
    /// (which must equal the shader's `@workgroup_size`). Past 65535 workgroups the grid folds
    /// into a second dimension, so the shader computes its element index as
    /// `gid.x + gid.y * num_workgroups.x * workgroup_size` and checks it against the length.
    Elements {
        /// The argument whose elements are counted.
        arg: usize,
        /// Invocations per workgroup.
        workgroup_size: u32,
    },
    /// A fixed grid.
    Workgroups([u32; 3]),
    /// Computed from the call's shapes and parameters.
    Custom(DispatchFn),
}

impl fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dispatch::Elements {
                arg,
                workgroup_size,
            } => write!(
                f,
                "Elements {{ arg: {arg}, workgroup_size: {workgroup_size} }}"
            ),
            Dispatch::Workgroups(g) => write!(f, "Workgroups({g:?})"),
            Dispatch::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Dispatch {
    /// The grid for one call.
    pub fn grid(&self, launch: &Launch<'_>) -> [u32; 3] {
        match self {
            Dispatch::Elements {
                arg,
                workgroup_size,
            } => {
                let n = launch.shapes[*arg].len() as u64;
                let groups = n.div_ceil(u64::from(*workgroup_size));
                fold_groups(groups)
            }
            Dispatch::Workgroups(g) => *g,
            Dispatch::Custom(f) => f(launch),
        }
    }
}

/// Folds a 1D count of workgroups into `[x, y, 1]` with `x <= 65535`.
pub(crate) fn fold_groups(groups: u64) -> [u32; 3] {
    if groups == 0 {
        return [0, 0, 0];
    }
    let max = u64::from(MAX_WORKGROUPS_PER_DIM);
    let x = groups.min(max);
    let y = groups.div_ceil(x);
    [x as u32, y.min(u64::from(u32::MAX)) as u32, 1]
}

#[derive(Clone)]
pub(crate) struct StatusSpec {
    pub(crate) words: u32,
    pub(crate) decode: StatusFn,
}

/// The GPU implementation of a kernel.
#[derive(Clone)]
#[must_use]
pub struct GpuKernel {
    pub(crate) source: Arc<str>,
    pub(crate) entry_point: String,
    pub(crate) constants: Vec<(String, f64)>,
    pub(crate) dispatch: Dispatch,
    explicit_bindings: Option<(Vec<u32>, u32)>,
    pub(crate) arg_bindings: Vec<u32>,
    pub(crate) params_binding: u32,
    pub(crate) status_binding: u32,
    pub(crate) uniform: Option<UniformFn>,
    pub(crate) has_uniform: bool,
    pub(crate) status: Option<StatusSpec>,
    pub(crate) requires: Caps,
    /// Hash of everything that determines the compiled pipeline.
    pub(crate) key: u64,
}

impl fmt::Debug for GpuKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuKernel")
            .field("entry_point", &self.entry_point)
            .field("constants", &self.constants)
            .field("dispatch", &self.dispatch)
            .field("arg_bindings", &self.arg_bindings)
            .field("requires", &self.requires)
            .finish_non_exhaustive()
    }
}

impl GpuKernel {
    /// A kernel from WGSL `source` and its compute `entry_point`. Dispatches one workgroup until
    /// [`dispatch`](GpuKernel::dispatch) says otherwise.
    pub fn wgsl(source: impl Into<String>, entry_point: impl Into<String>) -> GpuKernel {
        GpuKernel {
            source: Arc::from(source.into()),
            entry_point: entry_point.into(),
            constants: Vec::new(),
            dispatch: Dispatch::Workgroups([1, 1, 1]),
            explicit_bindings: None,
            arg_bindings: Vec::new(),
            params_binding: 0,
            status_binding: 0,
            uniform: None,
            has_uniform: false,
            status: None,
            requires: Caps::NONE,
            key: 0,
        }
    }

    /// Sets the dispatch geometry.
    pub fn dispatch(mut self, d: Dispatch) -> GpuKernel {
        self.dispatch = d;
        self
    }

    /// Sets a pipeline-overridable constant (`override name: T = ...;`).
    pub fn constant(mut self, name: impl Into<String>, value: f64) -> GpuKernel {
        self.constants.push((name.into(), value));
        self
    }

    /// Places the arguments at the given binding numbers and the uniform parameters at
    /// `params` (the status words, if any, go to `params + 1`), for a WGSL file whose entry
    /// points share declarations.
    pub fn bindings(mut self, args: impl IntoIterator<Item = u32>, params: u32) -> GpuKernel {
        self.explicit_bindings = Some((args.into_iter().collect(), params));
        self
    }

    /// Replaces the default uniform (the parameters in order) by custom bytes, e.g. a
    /// `#[repr(C)]` `Pod` struct with sizes taken from the shapes.
    pub fn uniform(
        mut self,
        f: impl Fn(&Launch<'_>) -> Vec<u8> + Send + Sync + 'static,
    ) -> GpuKernel {
        self.uniform = Some(Arc::new(f));
        self
    }

    /// Declares `words` status words that the shader may set (atomically) to report failure, and
    /// how to read them: `decode` sees the words after the dispatch and returns the kernel's
    /// verdict. A failed status fails the task like a CPU kernel's `Err`.
    pub fn status(
        mut self,
        words: u32,
        decode: impl Fn(&[u32]) -> Result<(), KernelError> + Send + Sync + 'static,
    ) -> GpuKernel {
        self.status = Some(StatusSpec {
            words: words.max(1),
            decode: Arc::new(decode),
        });
        self
    }

    /// Adds capabilities the device must have beyond those implied by the element types.
    pub fn requires(mut self, caps: Caps) -> GpuKernel {
        self.requires = self.requires | caps;
        self
    }

    /// The WGSL source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The entry point.
    pub fn entry_point(&self) -> &str {
        &self.entry_point
    }

    /// Capabilities a device needs to run this.
    pub fn required_caps(&self) -> Caps {
        self.requires
    }

    /// Resolves bindings and capabilities and validates the WGSL.
    pub(crate) fn finish(
        mut self,
        name: &str,
        args: &[ArgSpec],
        params: &[DType],
    ) -> Result<GpuKernel> {
        let n = args.len() as u32;
        let (arg_bindings, params_binding) = match self.explicit_bindings.take() {
            Some((a, p)) => (a, p),
            None => ((0..n).collect(), n),
        };
        if arg_bindings.len() != args.len() {
            return Err(Error::Config(format!(
                "kernel `{name}` has {} arguments but {} argument bindings",
                args.len(),
                arg_bindings.len()
            )));
        }
        if let Dispatch::Elements {
            arg,
            workgroup_size,
        } = self.dispatch
            && (arg >= args.len() || workgroup_size == 0)
        {
            return Err(Error::Config(format!(
                "kernel `{name}`: Dispatch::Elements names argument {arg} (of {}) with workgroup size {workgroup_size}",
                args.len()
            )));
        }
        self.arg_bindings = arg_bindings;
        self.params_binding = params_binding;
        self.status_binding = params_binding + 1;
        self.has_uniform = self.uniform.is_some() || !params.is_empty();
        for d in args.iter().map(|a| a.dtype).chain(params.iter().copied()) {
            self.requires = self.requires | d.gpu_caps();
        }
        crate::gpu::shaders::validate(&self.source, &self.entry_point, name)?;
        let mut h = DefaultHasher::new();
        self.source.hash(&mut h);
        self.entry_point.hash(&mut h);
        for (k, v) in &self.constants {
            k.hash(&mut h);
            v.to_bits().hash(&mut h);
        }
        self.arg_bindings.hash(&mut h);
        self.params_binding.hash(&mut h);
        self.has_uniform.hash(&mut h);
        self.status.as_ref().map(|s| s.words).hash(&mut h);
        for a in args {
            a.mode.hash(&mut h);
        }
        self.key = h.finish();
        Ok(self)
    }

    /// The uniform bytes for one call (empty when the kernel has no uniform).
    pub(crate) fn uniform_bytes(&self, launch: &Launch<'_>) -> Vec<u8> {
        match &self.uniform {
            Some(f) => f(launch),
            None => crate::kernels::params::encode_uniform(launch.params),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_dimensions_within_limits() {
        assert_eq!(fold_groups(0), [0, 0, 0]);
        assert_eq!(fold_groups(1), [1, 1, 1]);
        assert_eq!(fold_groups(65535), [65535, 1, 1]);
        assert_eq!(fold_groups(65536), [65535, 2, 1]);
        let [x, y, _] = fold_groups(10_000_000);
        assert!(u64::from(x) * u64::from(y) >= 10_000_000);
        assert!(x <= MAX_WORKGROUPS_PER_DIM && y <= MAX_WORKGROUPS_PER_DIM);
    }
}
