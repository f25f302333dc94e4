//! The GPU half of a kernel: WGSL source, entry point, bindings and dispatch geometry.
//!
//! Binding convention (group 0), unless [`GpuKernel::bindings`] says otherwise:
//! - binding `i` is the task's `i`-th argument: `var<storage, read>` for `Read`,
//!   `var<storage, read_write>` for `Write` and `ReadWrite`, an `array` of the element's WGSL type;
//! - binding `n` (the number of arguments) is a struct with the call's scalar parameters in
//!   order (laid out as WGSL lays out a struct), present when the kernel has parameters or a
//!   custom uniform encoder. Declare it `var<storage, read>` (what the built-in kernels do) or
//!   `var<uniform>`; tessera reads the shader to tell which. Prefer `var<storage, read>`: Mesa's
//!   software driver lavapipe recompiles a shader whenever the contents of a small uniform
//!   buffer change, which costs milliseconds per dispatch;
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

type AppliesFn = Arc<dyn Fn(&Launch<'_>) -> bool + Send + Sync>;
type CountFn = Arc<dyn Fn(&Launch<'_>) -> u64 + Send + Sync>;
type ClassFn = Arc<dyn Fn(&Launch<'_>) -> Option<String> + Send + Sync>;

/// One way to run a GPU kernel: WGSL source, entry point, overridable constants and dispatch
/// geometry, and which calls it can handle. A [`GpuKernel`] has one or more; when several apply
/// to a call, the device's autotuning table (or the first) decides.
#[derive(Clone)]
#[must_use]
pub struct GpuVariant {
    pub(crate) name: String,
    pub(crate) source: Arc<str>,
    pub(crate) entry_point: String,
    pub(crate) constants: Vec<(String, f64)>,
    pub(crate) dispatch: Dispatch,
    applies: Option<AppliesFn>,
    /// Device capabilities the variant needs beyond the kernel's.
    pub(crate) requires: Caps,
    /// Smallest subgroup size the variant is written for (0: no requirement).
    pub(crate) min_subgroup: u32,
    /// Only run when forced or when nothing else applies (a reference implementation).
    pub(crate) reference: bool,
    /// Most loop iterations one invocation runs for a call (for drivers that cap them).
    loop_iterations: Option<CountFn>,
    /// Hash of everything that determines the compiled pipeline.
    pub(crate) key: u64,
    /// The shader's bindings, read when the kernel is built.
    pub(crate) reflection: Arc<crate::gpu::pipeline::Reflection>,
}

impl fmt::Debug for GpuVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuVariant")
            .field("name", &self.name)
            .field("entry_point", &self.entry_point)
            .field("constants", &self.constants)
            .field("dispatch", &self.dispatch)
            .finish_non_exhaustive()
    }
}

impl GpuVariant {
    /// A variant called `name` running `entry_point` of WGSL `source`, one workgroup until
    /// [`dispatch`](GpuVariant::dispatch) says otherwise.
    pub fn wgsl(
        name: impl Into<String>,
        source: impl Into<String>,
        entry_point: impl Into<String>,
    ) -> GpuVariant {
        GpuVariant {
            name: name.into(),
            source: Arc::from(source.into()),
            entry_point: entry_point.into(),
            constants: Vec::new(),
            dispatch: Dispatch::Workgroups([1, 1, 1]),
            applies: None,
            requires: Caps::NONE,
            min_subgroup: 0,
            reference: false,
            loop_iterations: None,
            key: 0,
            reflection: Arc::default(),
        }
    }

    /// Declares how many loop iterations (summed over every loop) one invocation runs at most
    /// for a call. Some drivers stop a shader's loops silently past a budget (Mesa's llvmpipe,
    /// lavapipe's compiler: 65535 per invocation); a variant is not run on such a device when
    /// the call would exceed it.
    pub fn loop_iterations(
        mut self,
        f: impl Fn(&Launch<'_>) -> u64 + Send + Sync + 'static,
    ) -> Self {
        self.loop_iterations = Some(Arc::new(f));
        self
    }

    /// Whether the variant can run `launch` on a device with `caps`, subgroup sizes `subgroup`
    /// and loop budget `loop_limit`.
    pub(crate) fn fits(
        &self,
        caps: Caps,
        subgroup: Option<(u32, u32)>,
        loop_limit: Option<u64>,
        launch: &Launch<'_>,
    ) -> bool {
        self.runs_on(caps, subgroup)
            && self.applies_to(launch)
            && match (loop_limit, &self.loop_iterations) {
                (Some(limit), Some(f)) => f(launch) <= limit,
                _ => true,
            }
    }

    /// Requires device capabilities (e.g. [`Caps::SUBGROUPS`]) for this variant only; devices
    /// without them use the kernel's other variants.
    pub fn requires(mut self, caps: Caps) -> GpuVariant {
        self.requires = self.requires | caps;
        self
    }

    /// Requires subgroups of at least `size` invocations (implies [`Caps::SUBGROUPS`]).
    pub fn min_subgroup_size(mut self, size: u32) -> GpuVariant {
        self.min_subgroup = size;
        self.requires(Caps::SUBGROUPS)
    }

    /// Marks the variant as a reference implementation: it runs only when forced (with
    /// [`Kernel::with_gpu_variant`](crate::Kernel::with_gpu_variant)) or when no other variant
    /// applies, and is never an autotuning candidate.
    pub fn reference(mut self) -> GpuVariant {
        self.reference = true;
        self
    }

    /// Whether a device with `caps` and subgroup sizes `subgroup` (min, max) can run it.
    pub(crate) fn runs_on(&self, caps: Caps, subgroup: Option<(u32, u32)>) -> bool {
        caps.contains(self.requires)
            && (self.min_subgroup == 0 || subgroup.is_some_and(|(lo, _)| lo >= self.min_subgroup))
    }

    /// Sets the dispatch geometry.
    pub fn dispatch(mut self, d: Dispatch) -> GpuVariant {
        self.dispatch = d;
        self
    }

    /// Sets a pipeline-overridable constant (`override name: T = ...;`).
    pub fn constant(mut self, name: impl Into<String>, value: f64) -> GpuVariant {
        self.constants.push((name.into(), value));
        self
    }

    /// Restricts the variant to calls for which `f` holds (an alignment a vectorised variant
    /// needs, a size range).
    pub fn applies(mut self, f: impl Fn(&Launch<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.applies = Some(Arc::new(f));
        self
    }

    /// The variant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The WGSL source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The entry point.
    pub fn entry_point(&self) -> &str {
        &self.entry_point
    }

    /// Capabilities a device needs for this variant (beyond the kernel's).
    pub fn required_caps(&self) -> Caps {
        self.requires
    }

    /// The smallest subgroup size this variant is written for (0: none).
    pub fn required_subgroup_size(&self) -> u32 {
        self.min_subgroup
    }

    /// Whether this is a reference implementation (run only when forced).
    pub fn is_reference(&self) -> bool {
        self.reference
    }

    /// Whether this variant can run `launch`.
    pub fn applies_to(&self, launch: &Launch<'_>) -> bool {
        self.applies.as_ref().is_none_or(|f| f(launch))
    }
}

/// The GPU implementation of a kernel: one or more [`GpuVariant`]s sharing bindings, uniform
/// layout and status words.
///
/// Single-variant use reads like `GpuKernel::wgsl(src, "entry").dispatch(..)`; `dispatch` and
/// `constant` then apply to the most recently added variant.
#[derive(Clone)]
#[must_use]
pub struct GpuKernel {
    pub(crate) variants: Vec<GpuVariant>,
    pub(crate) class: Option<ClassFn>,
    explicit_bindings: Option<(Vec<u32>, u32)>,
    pub(crate) arg_bindings: Vec<u32>,
    pub(crate) params_binding: u32,
    pub(crate) status_binding: u32,
    pub(crate) uniform: Option<UniformFn>,
    pub(crate) has_uniform: bool,
    pub(crate) status: Option<StatusSpec>,
    pub(crate) requires: Caps,
}

impl fmt::Debug for GpuKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuKernel")
            .field("variants", &self.variants)
            .field("tuned", &self.class.is_some())
            .field("arg_bindings", &self.arg_bindings)
            .field("requires", &self.requires)
            .finish_non_exhaustive()
    }
}

impl GpuKernel {
    /// A kernel from WGSL `source` and its compute `entry_point` (one variant, called
    /// `default`). Dispatches one workgroup until [`dispatch`](GpuKernel::dispatch) says
    /// otherwise.
    pub fn wgsl(source: impl Into<String>, entry_point: impl Into<String>) -> GpuKernel {
        GpuKernel::from_variant(GpuVariant::wgsl("default", source, entry_point))
    }

    /// A kernel whose first (preferred) variant is `v`.
    pub fn from_variant(v: GpuVariant) -> GpuKernel {
        GpuKernel {
            variants: vec![v],
            class: None,
            explicit_bindings: None,
            arg_bindings: Vec::new(),
            params_binding: 0,
            status_binding: 0,
            uniform: None,
            has_uniform: false,
            status: None,
            requires: Caps::NONE,
        }
    }

    /// Adds a variant (after the existing ones, which are preferred when nothing is tuned).
    pub fn variant(mut self, v: GpuVariant) -> GpuKernel {
        self.variants.push(v);
        self
    }

    /// Enables autotuning: calls in the same class (`class` names it, e.g. a size bucket) on
    /// one device use the variant that ran fastest when the device first met the class. The
    /// choice is persisted per adapter and driver. A call whose class is `None` (too small to
    /// be worth timing, say) takes the first applicable variant.
    pub fn tune_by(
        mut self,
        class: impl Fn(&Launch<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.class = Some(Arc::new(class));
        self
    }

    fn last(&mut self) -> &mut GpuVariant {
        self.variants
            .last_mut()
            .unwrap_or_else(|| unreachable!("a GpuKernel has at least one variant"))
    }

    /// Sets the dispatch geometry of the most recently added variant.
    pub fn dispatch(mut self, d: Dispatch) -> GpuKernel {
        self.last().dispatch = d;
        self
    }

    /// Sets a pipeline-overridable constant (`override name: T = ...;`) of the most recently
    /// added variant.
    pub fn constant(mut self, name: impl Into<String>, value: f64) -> GpuKernel {
        self.last().constants.push((name.into(), value));
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

    /// The variants, preferred first.
    pub fn variants(&self) -> &[GpuVariant] {
        &self.variants
    }

    /// The WGSL source of the first variant.
    pub fn source(&self) -> &str {
        &self.variants[0].source
    }

    /// The entry point of the first variant.
    pub fn entry_point(&self) -> &str {
        &self.variants[0].entry_point
    }

    /// Capabilities a device needs to run this.
    pub fn required_caps(&self) -> Caps {
        self.requires
    }

    /// Whether several variants compete through autotuning.
    pub fn is_tuned(&self) -> bool {
        self.class.is_some() && self.variants.len() > 1
    }

    /// The same kernel restricted to the variant called `name`, if it has one.
    pub(crate) fn only(&self, name: &str) -> Option<GpuKernel> {
        let v = self.variants.iter().find(|v| v.name == name)?.clone();
        let mut k = self.clone();
        k.variants = vec![v];
        Some(k)
    }

    /// Resolves bindings and capabilities and validates the WGSL of every variant.
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
        self.arg_bindings = arg_bindings;
        self.params_binding = params_binding;
        self.status_binding = params_binding + 1;
        self.has_uniform = self.uniform.is_some() || !params.is_empty();
        for d in args.iter().map(|a| a.dtype).chain(params.iter().copied()) {
            self.requires = self.requires | d.gpu_caps();
        }
        let mut names = std::collections::HashSet::new();
        let mut layout = DefaultHasher::new();
        self.arg_bindings.hash(&mut layout);
        self.params_binding.hash(&mut layout);
        self.has_uniform.hash(&mut layout);
        self.status.as_ref().map(|s| s.words).hash(&mut layout);
        for a in args {
            a.mode.hash(&mut layout);
        }
        let layout = layout.finish();
        for v in &mut self.variants {
            if !names.insert(v.name.clone()) {
                return Err(Error::Config(format!(
                    "kernel `{name}` has two variants called `{}`",
                    v.name
                )));
            }
            if let Dispatch::Elements {
                arg,
                workgroup_size,
            } = v.dispatch
                && (arg >= args.len() || workgroup_size == 0)
            {
                return Err(Error::Config(format!(
                    "kernel `{name}`, variant `{}`: Dispatch::Elements names argument {arg} (of {}) with workgroup size {workgroup_size}",
                    v.name,
                    args.len()
                )));
            }
            let module = crate::gpu::shaders::validate(&v.source, &v.entry_point, name)?;
            v.reflection = Arc::new(crate::gpu::pipeline::Reflection::of_module(&module));
            let mut h = DefaultHasher::new();
            layout.hash(&mut h);
            v.source.hash(&mut h);
            v.entry_point.hash(&mut h);
            for (k, c) in &v.constants {
                k.hash(&mut h);
                c.to_bits().hash(&mut h);
            }
            v.key = h.finish();
        }
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
