//! The runtime: processors, scopes, datadeps regions, eager tasks, placement.

pub(crate) mod config;
mod host_access;
pub(crate) mod perf;
pub(crate) mod placement;
pub(crate) mod priority;
pub(crate) mod processor;
mod recorder;
pub(crate) mod region;
pub(crate) mod residency;
pub(crate) mod sched;
pub(crate) mod scope;
mod stall;
pub(crate) mod task;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use serde::Serialize;

use crate::cpu::CpuPool;
use crate::error::{Error, KernelError, Result};
use crate::gpu::{self, GpuDevice, MemoryStats, TuneConfig, TuneEntry};
use crate::kernels::{CpuTask, Kernel, KernelCall};
use config::{DeviceSpec, EnvConfig};
use perf::ProcPerf;
use placement::{EarliestFinish, Placement, ProcessorModel};
use processor::{DeviceId, Processor, ProcessorInfo};
use region::{Region, RegionState};
use sched::{Shared, TaskSpec};
use scope::Scope;
use task::{Access, IntoAccesses, TaskHandle, Work};

/// A tessera runtime: the CPU pool and the GPU devices it opened, and the scheduler over them.
///
/// Cheap to clone; every clone (and every chunk) refers to the same runtime, which shuts down
/// when the last of them is dropped, after its tasks finish.
///
/// ```
/// use tessera::{Chunk, ReadWrite, Runtime, kernels::builtin};
///
/// let rt = Runtime::builder().cpu_only().cpu_threads(2).build()?;
/// let x = Chunk::from_vec(&rt, 3, 1, vec![1u32, 2, 3]);
/// rt.datadeps(|r| {
///     r.spawn(builtin::scale(10u32), ReadWrite(&x));
/// })?;
/// assert_eq!(x.to_vec()?, vec![10, 20, 30]);
/// # Ok::<(), tessera::Error>(())
/// ```
#[derive(Clone)]
pub struct Runtime(Arc<Owner>);

struct Owner {
    shared: Arc<Shared>,
}

/// `512M`, `2G`, `64k`, `1048576` (binary units).
fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        (i, 't' | 'T') => (&s[..i], 1 << 40),
        _ => (s, 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some((v * mult as f64) as u64)
}

/// The links of the adapter known as `identity`, measured on its first device opened in this
/// process (later runtimes reuse the figures: the probe costs a few milliseconds each time).
fn measured_links(identity: &str, core: &gpu::DeviceCore) -> Result<(gpu::LinkFit, gpu::LinkFit)> {
    static SEEN: std::sync::OnceLock<
        parking_lot::Mutex<std::collections::HashMap<String, (gpu::LinkFit, gpu::LinkFit)>>,
    > = std::sync::OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if let Some(f) = seen.lock().get(identity) {
        return Ok(*f);
    }
    let f = core.measure_links()?;
    seen.lock().insert(identity.to_string(), f);
    Ok(f)
}

/// What the performance model knows about one processor ([`Runtime::perf_model`]).
#[derive(Clone, Debug)]
pub struct PerfModel {
    /// The processor.
    pub processor: Processor,
    /// What identifies it across runs (adapter, backend and driver; CPU model and threads).
    pub identity: String,
    /// The file the model persists in (`None`: in memory only).
    pub file: Option<std::path::PathBuf>,
    /// Measured kernels.
    pub entries: Vec<PerfEntry>,
    /// Host-to-device link (GPUs only).
    pub upload: Option<perf::LinkModel>,
    /// Device-to-host link (GPUs only).
    pub download: Option<perf::LinkModel>,
    /// A software adapter running on the host's cores: placement charges its work to the CPU
    /// pool too.
    pub shares_host_cores: bool,
}

/// One kernel and tile shapes measured on a processor.
#[derive(Clone, Debug, PartialEq)]
pub struct PerfEntry {
    /// `kernel/dtype/RxC,RxC,...`.
    pub name: String,
    /// Median of the recent measurements, seconds on one slot.
    pub seconds: f64,
    /// Measurements ever taken.
    pub samples: u64,
    /// Whether it has enough samples to count as calibrated.
    pub calibrated: bool,
}

impl Drop for Owner {
    /// Waits for unfinished tasks, then stops the device threads. When the last handle goes
    /// away on one of the runtime's own threads (a chunk released as a task finishes), that
    /// thread may be needed to finish the remaining tasks, so the shutdown moves to a thread of
    /// its own.
    fn drop(&mut self) {
        let shared = self.shared.clone();
        let shutdown = move || {
            shared.wait_idle();
            for d in &shared.devices {
                d.shutdown();
            }
            for p in &shared.perf {
                p.save();
            }
        };
        if crate::threads::is_runtime_thread() {
            let _ = std::thread::Builder::new()
                .name("tessera-shutdown".into())
                .spawn(shutdown);
        } else {
            shutdown();
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.processors().iter().map(|p| p.name.clone()))
            .finish()
    }
}

impl Runtime {
    /// Starts configuring a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// A runtime with every adapter found and the CPU (honouring the environment variables
    /// described at [`RuntimeBuilder`]).
    ///
    /// # Errors
    /// As [`RuntimeBuilder::build`].
    pub fn new() -> Result<Runtime> {
        Runtime::builder().build()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.0.shared
    }

    /// Every adapter wgpu can see on this machine, without opening any (what `tessera info`
    /// lists). The second list holds adapters hidden as duplicates reached through a worse
    /// backend.
    pub fn adapters() -> (Vec<gpu::AdapterInfo>, Vec<gpu::AdapterInfo>) {
        let d = gpu::discover(false);
        (
            d.adapters.into_iter().map(|(_, i)| i).collect(),
            d.duplicates,
        )
    }

    /// The processors of this runtime, CPU first.
    pub fn processors(&self) -> Vec<ProcessorInfo> {
        self.shared().procs.iter().flatten().cloned().collect()
    }

    /// The processors of this runtime that `scope` selects.
    pub fn scope_processors(&self, scope: &Scope) -> Vec<Processor> {
        scope
            .resolve(&self.shared().procs)
            .iter()
            .map(Processor::from_index)
            .collect()
    }

    /// Number of GPU devices (virtual devices count separately).
    pub fn gpu_count(&self) -> usize {
        self.shared().devices.len()
    }

    /// Number of CPU pool threads.
    pub fn cpu_threads(&self) -> usize {
        self.shared().cpu.threads()
    }

    /// Whether the CPU is a processor tasks may be placed on.
    pub fn has_cpu(&self) -> bool {
        self.shared().procs[0].is_some()
    }

    /// The placement policy's name.
    pub fn placement(&self) -> &str {
        self.shared().placement.name()
    }

    /// Runs `f` as a datadeps region over every processor.
    ///
    /// `f` spawns tasks with [`Region::spawn`]; each starts as soon as the tasks it depends on
    /// (by its accesses, in spawn order) have finished. Returns when every task has finished.
    ///
    /// # Errors
    /// The first failure in spawn order ([`Error::Task`], with the task, kernel, chunks and
    /// processor). Tasks that depend on a failed task are cancelled; independent tasks finish.
    pub fn datadeps<R>(&self, f: impl FnOnce(&Region<'_>) -> R) -> Result<R> {
        self.datadeps_in(Scope::all(), f)
    }

    /// Runs `f` as a datadeps region restricted to `scope`.
    ///
    /// # Errors
    /// As [`Runtime::datadeps`].
    pub fn datadeps_in<R>(&self, scope: Scope, f: impl FnOnce(&Region<'_>) -> R) -> Result<R> {
        let procs = scope.resolve(&self.shared().procs);
        let region = Region {
            rt: self,
            state: Arc::new(RegionState::new()),
            scope,
            procs,
        };
        /// Releases and waits for the region's tasks even if `f` panics.
        struct Guard<'a>(&'a Arc<Shared>, &'a RegionState, bool);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                if !self.2 {
                    self.0.release_held();
                    let _ = self.1.wait();
                }
            }
        }
        let sh = self.shared();
        let mut guard = Guard(sh, &region.state, false);
        let out = f(&region);
        guard.2 = true;
        // The region's graph is complete: prioritise and start it.
        sh.release_held();
        region.state.wait()?;
        Ok(out)
    }

    /// Spawns one task eagerly, ordered after earlier tasks on the same chunks.
    ///
    /// # Panics
    /// As [`Region::spawn`].
    #[track_caller]
    pub fn spawn(&self, call: impl Into<KernelCall>, accesses: impl IntoAccesses) -> TaskHandle {
        self.task(call).spawn(accesses)
    }

    /// Starts an eager task with options.
    pub fn task(&self, call: impl Into<KernelCall>) -> TaskBuilder<'_> {
        TaskBuilder {
            rt: self,
            call: call.into(),
            scope: Scope::all(),
            priority: 0,
        }
    }

    /// Spawns a CPU closure as an eager task; its return value is the handle's output.
    ///
    /// ```
    /// use tessera::{Chunk, Read, Runtime};
    /// let rt = Runtime::builder().cpu_only().build()?;
    /// let x = Chunk::from_vec(&rt, 3, 1, vec![1.0f32, 2.0, 3.0]);
    /// let sum = rt.spawn_cpu("sum", Read(&x), |t| Ok(t.tile::<f32>(0).data.iter().sum::<f32>()));
    /// assert_eq!(sum.fetch()?, 6.0);
    /// # Ok::<(), tessera::Error>(())
    /// ```
    #[track_caller]
    pub fn spawn_cpu<R: Send + 'static>(
        &self,
        name: &str,
        accesses: impl IntoAccesses,
        f: impl FnOnce(&mut CpuTask<'_>) -> Result<R, KernelError> + Send + 'static,
    ) -> TaskHandle<R> {
        let accesses = accesses.into_accesses();
        let out = Arc::new(Mutex::new(None));
        let slot = out.clone();
        let (call, _) = closure_kernel(name, &accesses, move |t| {
            *slot.lock() = Some(f(t)?);
            Ok(())
        });
        let procs = Scope::cpu().resolve(&self.shared().procs);
        let ack = Arc::new(AtomicBool::new(false));
        let task = self.shared().submit(TaskSpec {
            work: Work::Kernel(call),
            accesses,
            procs,
            scope: &Scope::cpu(),
            priority: 0,
            region: None,
            ack,
            hold: false,
        });
        TaskHandle { task, output: out }
    }

    /// How many tasks have finished (run, failed or cancelled) since the runtime started,
    /// host reads and writes included: a progress counter for long regions.
    pub fn finished_tasks(&self) -> u64 {
        self.shared().finished.load(Ordering::Relaxed)
    }

    /// Blocks until every task spawned so far has finished.
    pub fn wait_idle(&self) {
        // Tasks a region still holds would never finish otherwise.
        self.shared().release_held();
        self.shared().wait_idle();
        for d in &self.shared().devices {
            d.wait_idle();
        }
    }

    /// Per-processor counters: tasks run, device memory, pipelines.
    pub fn stats(&self) -> RuntimeStats {
        let sh = self.shared();
        RuntimeStats {
            processors: sh
                .procs
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.as_ref().map(|p| (i, p)))
                .map(|(i, p)| {
                    let dev = (i > 0).then(|| &sh.devices[i - 1]);
                    ProcessorStats {
                        processor: p.processor,
                        name: p.name.clone(),
                        tasks: sh.tasks_run[i].load(Ordering::Relaxed),
                        memory: dev.map(|d| d.memory()),
                        pipelines: dev.map_or(0, |d| d.core.pipelines.len()),
                    }
                })
                .collect(),
        }
    }

    /// What the performance model knows about processor `p`: one entry per kernel and tile
    /// shapes measured there, sorted by name, with the links' models for a GPU.
    ///
    /// # Panics
    /// If the runtime has no such processor.
    #[track_caller]
    pub fn perf_model(&self, p: Processor) -> PerfModel {
        let sh = self.shared();
        let i = p.index();
        assert!(
            i < sh.perf.len(),
            "no processor {p}: the runtime has {} GPUs",
            sh.devices.len()
        );
        let m = &sh.perf[i];
        PerfModel {
            processor: p,
            identity: m.identity.clone(),
            file: m.path().map(|p| p.to_path_buf()),
            entries: m
                .entries()
                .into_iter()
                .map(|e| PerfEntry {
                    calibrated: e.count >= perf::CALIBRATED,
                    name: e.name,
                    seconds: e.estimate,
                    samples: e.count,
                })
                .collect(),
            upload: (i > 0).then(|| *m.upload.lock()),
            download: (i > 0).then(|| *m.download.lock()),
            shares_host_cores: m.shares_host_cores,
        }
    }

    /// Seconds processor `p` is predicted to take for work of `cost` spread over all of its
    /// slots, by the performance model's roofline: the best rates measured there so far (the
    /// device type's guess before any), without link times. For choices made before any task
    /// exists (an FFT plan's layout, say); placement predicts each task on its own.
    ///
    /// # Panics
    /// If the runtime has no such processor.
    #[track_caller]
    pub fn roofline_seconds(&self, p: Processor, cost: crate::kernels::Cost) -> f64 {
        let sh = self.shared();
        let i = p.index();
        assert!(
            i < sh.perf.len(),
            "no processor {p}: the runtime has {} GPUs",
            sh.devices.len()
        );
        let slots = sh.procs[i].as_ref().map_or(1, |q| q.slots.max(1));
        sh.perf[i].roofline_time(cost) / slots as f64
    }

    /// Whether processor `p` is a software adapter that runs on the host's cores (lavapipe,
    /// WARP, SwiftShader): its work competes with the CPU pool's.
    pub fn shares_host_cores(&self, p: Processor) -> bool {
        self.shared()
            .perf
            .get(p.index())
            .is_some_and(|m| p != Processor::Cpu && m.shares_host_cores)
    }

    /// Writes the performance model to its files now (it is also written when the runtime is
    /// dropped).
    pub fn save_perf_model(&self) {
        for p in &self.shared().perf {
            p.save();
        }
    }

    /// A copy of the trace recorded so far, when tracing is on ([`RuntimeBuilder::trace`],
    /// `TESSERA_TRACE=1`). Export it with [`Trace::write_all`](crate::trace::Trace::write_all).
    pub fn trace(&self) -> Option<crate::trace::Trace> {
        self.shared().trace.as_ref().map(|r| r.snapshot())
    }

    /// Forgets the trace recorded so far (times restart from now), e.g. after a warm-up.
    pub fn clear_trace(&self) {
        if let Some(r) = &self.shared().trace {
            r.clear();
        }
    }

    /// The autotuning decisions of GPU device `d`: for each kernel, element type and class of
    /// call, the winning variant and what each candidate measured.
    ///
    /// # Panics
    /// If the runtime has no device `d`.
    #[track_caller]
    pub fn tuning(&self, d: DeviceId) -> std::collections::BTreeMap<String, TuneEntry> {
        let devs = &self.shared().devices;
        assert!(
            d.0 < devs.len(),
            "no device {d}: the runtime has {}",
            devs.len()
        );
        devs[d.0].core.tuning.all()
    }

    /// The GPU variant device `d` runs `call` with on tiles of these shapes: the only one that
    /// applies, the recorded autotuning winner, or (autotuning now, if enabled) the fastest.
    ///
    /// # Errors
    /// [`Error::Config`] if the kernel has no GPU implementation or no variant applies;
    /// GPU errors from tuning runs.
    ///
    /// # Panics
    /// If the runtime has no device `d`.
    #[track_caller]
    pub fn gpu_variant(
        &self,
        d: DeviceId,
        call: &KernelCall,
        shapes: &[crate::kernels::Shape],
    ) -> Result<String> {
        let devs = &self.shared().devices;
        assert!(
            d.0 < devs.len(),
            "no device {d}: the runtime has {}",
            devs.len()
        );
        let kernel = call.kernel();
        let gpu = kernel.gpu().ok_or_else(|| {
            Error::Config(format!(
                "kernel `{}` has no GPU implementation",
                kernel.name()
            ))
        })?;
        let modes: Vec<_> = kernel.args().iter().map(|a| a.mode).collect();
        let launch = crate::kernels::Launch {
            shapes,
            params: call.params(),
        };
        let v = devs[d.0]
            .core
            .choose_variant(kernel, gpu, &launch, &modes)?;
        Ok(gpu.variants()[v].name().to_string())
    }

    /// Memory statistics of GPU device `d`.
    ///
    /// # Panics
    /// If the runtime has no device `d`.
    #[track_caller]
    pub fn memory(&self, d: DeviceId) -> MemoryStats {
        let devs = &self.shared().devices;
        assert!(
            d.0 < devs.len(),
            "no device {d}: the runtime has {}",
            devs.len()
        );
        devs[d.0].memory()
    }
}

/// Builds a one-off CPU-only kernel for a closure over `accesses`.
pub(crate) fn closure_kernel(
    name: &str,
    accesses: &[Access],
    f: impl FnOnce(&mut CpuTask<'_>) -> Result<(), KernelError> + Send + 'static,
) -> (KernelCall, Kernel) {
    let once = Mutex::new(Some(f));
    let mut b = Kernel::builder(name);
    for a in accesses {
        b = b.arg(a.mode, a.chunk.dtype());
    }
    let k = b
        .cpu(move |t| match once.lock().take() {
            Some(f) => f(t),
            None => Err(KernelError::Failed("a closure task ran twice".into())),
        })
        .build()
        .unwrap_or_else(|e| unreachable!("a CPU-only kernel always builds: {e}"));
    (k.call([]), k)
}

/// An eager task being configured.
#[must_use = "call .spawn(accesses) to submit the task"]
pub struct TaskBuilder<'rt> {
    rt: &'rt Runtime,
    call: KernelCall,
    scope: Scope,
    priority: i64,
}

impl TaskBuilder<'_> {
    /// Restricts the task to `scope`.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Sets the priority: among ready tasks on a processor, higher runs first.
    pub fn priority(mut self, priority: i64) -> Self {
        self.priority = priority;
        self
    }

    /// Submits the task.
    ///
    /// # Panics
    /// As [`Region::spawn`].
    #[track_caller]
    pub fn spawn(self, accesses: impl IntoAccesses) -> TaskHandle {
        let procs = self.scope.resolve(&self.rt.shared().procs);
        let task = self.rt.shared().submit(TaskSpec {
            work: Work::Kernel(self.call),
            accesses: accesses.into_accesses(),
            procs,
            scope: &self.scope,
            priority: self.priority,
            region: None,
            ack: Arc::new(AtomicBool::new(false)),
            hold: false,
        });
        TaskHandle {
            task,
            output: Arc::new(Mutex::new(Some(()))),
        }
    }
}

/// Counters of one processor.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessorStats {
    /// The processor.
    pub processor: Processor,
    /// Its name.
    pub name: String,
    /// Tasks it has run to completion.
    pub tasks: u64,
    /// Device memory (GPUs only).
    pub memory: Option<MemoryStats>,
    /// Pipelines compiled on it (GPUs only).
    pub pipelines: usize,
}

/// Counters of a runtime.
#[derive(Clone, Debug, Serialize)]
pub struct RuntimeStats {
    /// One entry per processor, CPU first.
    pub processors: Vec<ProcessorStats>,
}

impl RuntimeStats {
    /// The entry for `p`.
    pub fn get(&self, p: Processor) -> Option<&ProcessorStats> {
        self.processors.iter().find(|s| s.processor == p)
    }
}

/// Configures and builds a [`Runtime`].
///
/// Unless [`ignore_env`](RuntimeBuilder::ignore_env) is called, these environment variables
/// supply defaults that explicit builder calls override:
/// - `TESSERA_DEVICES`: which adapters to open and how many virtual devices on each, e.g.
///   `lavapipe x 3`, `0,1`, `nvidia*2`, `none` (syntax in the crate docs' *Devices* section);
/// - `TESSERA_CPU_THREADS`: CPU pool threads (default: all cores);
/// - `TESSERA_CPU=0`: no CPU processor (the pool still serves host-side work).
///
/// `WGPU_BACKEND` (e.g. `vulkan`) restricts the backends searched.
#[must_use]
#[derive(Default)]
pub struct RuntimeBuilder {
    cpu: Option<bool>,
    cpu_threads: Option<usize>,
    devices: Option<DeviceSpec>,
    virtual_devices: Option<usize>,
    all_backends: bool,
    ignore_env: bool,
    require_gpu: bool,
    placement: Option<Box<dyn Placement>>,
    autotune: Option<bool>,
    tuning_cache: Option<Option<std::path::PathBuf>>,
    perf_cache: Option<Option<std::path::PathBuf>>,
    device_memory: Option<Option<u64>>,
    recording: bool,
    trace: Option<bool>,
    prefetch: Option<bool>,
    masked_caps: crate::dtype::Caps,
    pub(crate) embedded: Vec<gpu::Embedded>,
    spec_error: Option<Error>,
}

impl RuntimeBuilder {
    /// No GPU at all: adapters are not even enumerated.
    pub fn cpu_only(mut self) -> Self {
        self.devices = Some(DeviceSpec::None);
        self.cpu = Some(true);
        self
    }

    /// No CPU processor: kernels run on GPUs only (host-side copies still use the pool).
    pub fn gpus_only(mut self) -> Self {
        self.cpu = Some(false);
        self
    }

    /// Whether the CPU is a processor.
    pub fn cpu(mut self, enabled: bool) -> Self {
        self.cpu = Some(enabled);
        self
    }

    /// CPU pool threads (default: the number of cores).
    pub fn cpu_threads(mut self, n: usize) -> Self {
        self.cpu_threads = Some(n.max(1));
        self
    }

    /// Which adapters to open, as a device spec (`"lavapipe x 3"`, `"0,1"`, `"none"`, `"all"`).
    /// An invalid spec makes [`build`](RuntimeBuilder::build) fail.
    pub fn devices(mut self, spec: &str) -> Self {
        match DeviceSpec::parse(spec) {
            Ok(s) => self.devices = Some(s),
            Err(e) => self.spec_error = Some(e),
        }
        self
    }

    /// Opens `n` independent devices (virtual devices: own memory space and queue) on every
    /// selected adapter.
    pub fn virtual_devices(mut self, n: usize) -> Self {
        self.virtual_devices = Some(n.clamp(1, 16));
        self
    }

    /// Keeps adapters that are the same device reached through a second backend (by default
    /// only the best backend is kept, e.g. lavapipe's Vulkan over its GL twin).
    pub fn all_backends(mut self, yes: bool) -> Self {
        self.all_backends = yes;
        self
    }

    /// Ignores `TESSERA_DEVICES`, `TESSERA_CPU_THREADS` and `TESSERA_CPU`.
    pub fn ignore_env(mut self) -> Self {
        self.ignore_env = true;
        self
    }

    /// Fails [`build`](RuntimeBuilder::build) if no GPU device could be opened.
    pub fn require_gpu(mut self, yes: bool) -> Self {
        self.require_gpu = yes;
        self
    }

    /// Whether devices time competing kernel variants the first time they meet a new class of
    /// call (default: yes, unless `TESSERA_AUTOTUNE=0`). Without tuning, recorded decisions still
    /// apply and the first applicable variant runs otherwise.
    pub fn autotune(mut self, yes: bool) -> Self {
        self.autotune = Some(yes);
        self
    }

    /// Where tuning decisions persist (default: `TESSERA_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/tessera`, else `~/.cache/tessera`); `None` keeps them in memory.
    pub fn tuning_cache(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.tuning_cache = Some(dir);
        self
    }

    /// Where the performance model persists (`None`: in memory only, starting empty). By
    /// default the tuning cache directory, unless `TESSERA_PERF_MODEL=0`.
    pub fn perf_cache(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.perf_cache = Some(dir);
        self
    }

    /// Records tasks instead of running them (`sim::record`).
    pub(crate) fn recording(mut self) -> Self {
        self.recording = true;
        self
    }

    /// Caps the bytes of chunk replicas each GPU device holds (`None`: what wgpu gives).
    /// Launches that would exceed it evict least-recently-used replicas first (dirty ones are
    /// written back to the host), so a problem larger than the budget still runs. Default:
    /// `TESSERA_DEVICE_MEMORY` (e.g. `512M`, `2G`), else none; an out-of-memory error from
    /// wgpu evicts the same way.
    pub fn device_memory(mut self, bytes: Option<u64>) -> Self {
        self.device_memory = Some(bytes);
        self
    }

    /// Opens GPU devices without the capabilities `caps` even where their adapters have them:
    /// `Caps::F64` makes a GPU run as one without `SHADER_F64` (Metal's, for one), so f64
    /// tasks avoid it and f64 solves take the mixed-precision path there. For tests and
    /// comparisons; [`Runtime::processors`] reports the masked capabilities.
    pub fn mask_gpu_caps(mut self, caps: crate::dtype::Caps) -> Self {
        self.masked_caps = caps;
        self
    }

    /// Records a trace of the run ([`Runtime::trace`]). Default: on when `TESSERA_TRACE=1`.
    pub fn trace(mut self, yes: bool) -> Self {
        self.trace = Some(yes);
        self
    }

    /// Whether a task placed on a device starts copying its inputs there while its
    /// predecessors still run (an input another device holds is read back as soon as its
    /// writer's work is queued there). Default: on, unless `TESSERA_PREFETCH=0`. Prefetches
    /// never evict: with a device budget full they wait for the task's own launch.
    pub fn prefetch(mut self, yes: bool) -> Self {
        self.prefetch = Some(yes);
        self
    }

    /// Replaces the placement policy.
    pub fn placement(mut self, p: impl Placement) -> Self {
        self.placement = Some(Box::new(p));
        self
    }

    /// Discovers adapters, opens devices, starts the CPU pool and the device workers.
    ///
    /// # Errors
    /// [`Error::Config`] for invalid options or environment variables; [`Error::NoAdapter`]
    /// when a spec names an adapter that is not there, or GPUs are required and none opened;
    /// [`Error::Gpu`] when a device cannot be opened.
    pub fn build(self) -> Result<Runtime> {
        if let Some(e) = self.spec_error {
            return Err(e);
        }
        let env = if self.ignore_env {
            EnvConfig::default()
        } else {
            EnvConfig::read()?
        };
        let threads = self
            .cpu_threads
            .or(env.cpu_threads)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let cpu_enabled = self.cpu.or(env.cpu).unwrap_or(true);
        // With an application's device, only explicitly requested adapters join it.
        let spec = if self.embedded.is_empty() {
            self.devices
                .clone()
                .or(env.devices)
                .unwrap_or_else(DeviceSpec::all)
        } else {
            self.devices.clone().unwrap_or(DeviceSpec::None)
        };

        let mut tune = if self.ignore_env {
            let mut t = TuneConfig::from_env();
            t.enabled = true;
            t
        } else {
            TuneConfig::from_env()
        };
        if let Some(yes) = self.autotune {
            tune.enabled = yes;
        }
        if let Some(dir) = self.tuning_cache {
            tune.dir = dir;
        }
        let mut devices: Vec<Arc<GpuDevice>> = Vec::new();
        for e in self.embedded {
            let label = format!("gpu{}", devices.len());
            devices.push(Arc::new(gpu::embed(e, label, tune.clone())?));
        }
        if let DeviceSpec::Entries(entries) = &spec {
            let found = gpu::discover(self.all_backends);
            for e in entries {
                let matched: Vec<_> = found
                    .adapters
                    .iter()
                    .filter(|(_, i)| config::matches(&e.pattern, i))
                    .collect();
                if matched.is_empty() && e.pattern != "all" {
                    let names: Vec<String> = found
                        .adapters
                        .iter()
                        .map(|(_, i)| format!("{}: {}", i.index, i.summary()))
                        .collect();
                    return Err(Error::NoAdapter(format!(
                        "no adapter matches `{}`; found [{}]",
                        e.pattern,
                        names.join("; ")
                    )));
                }
                let count = self.virtual_devices.unwrap_or(e.count);
                for (adapter, info) in matched {
                    for v in 0..count {
                        let label = format!("gpu{}", devices.len());
                        devices.push(Arc::new(gpu::open(
                            adapter,
                            info,
                            label,
                            v,
                            tune.clone(),
                            self.masked_caps,
                        )?));
                    }
                }
            }
        }
        if devices.len() > 63 {
            return Err(Error::Config(format!(
                "{} devices requested; at most 63 are supported",
                devices.len()
            )));
        }
        if self.require_gpu && devices.is_empty() {
            return Err(Error::NoAdapter(
                "GPUs are required but none could be opened (is a Vulkan, Metal or DX12 driver installed? on Debian: apt-get install mesa-vulkan-drivers)".into(),
            ));
        }
        if !cpu_enabled && devices.is_empty() {
            return Err(Error::Config(
                "the CPU processor is disabled and no GPU is available: nothing could run a task"
                    .into(),
            ));
        }

        let cpu = CpuPool::new(threads)?;
        let mut procs = vec![cpu_enabled.then(|| ProcessorInfo {
            processor: Processor::Cpu,
            name: format!("cpu ({} threads)", cpu.threads()),
            slots: cpu.threads(),
            adapter: None,
            virtual_index: 0,
            embedded: false,
        })];
        let perf_dir = match self.perf_cache {
            Some(dir) => dir,
            None if self.ignore_env || crate::runtime::perf::persist_from_env() => tune.dir.clone(),
            None => None,
        };
        let mut perf = vec![Arc::new(ProcPerf::new(
            crate::runtime::perf::cpu_identity(cpu.threads()),
            ProcessorModel::CPU_THREAD,
            false,
            perf_dir.as_deref(),
        ))];
        let mut by_identity: std::collections::HashMap<String, Arc<ProcPerf>> =
            std::collections::HashMap::new();
        for (i, d) in devices.iter().enumerate() {
            let info = &d.core.info;
            let siblings = devices
                .iter()
                .filter(|o| !o.embedded && o.core.info.index == info.index)
                .count();
            let v = if !d.embedded && siblings > 1 {
                format!(" #{}", d.virtual_index)
            } else {
                String::new()
            };
            procs.push(Some(ProcessorInfo {
                processor: Processor::Gpu(DeviceId(i)),
                name: format!("gpu{i}: {} [{}]{v}", info.name, info.backend),
                slots: 1,
                adapter: Some(info.clone()),
                virtual_index: d.virtual_index,
                embedded: d.embedded,
            }));
            let identity = format!(
                "{} [{}] {} {} {:04x}:{:04x}",
                info.name, info.backend, info.driver, info.driver_info, info.vendor, info.device
            );
            let identity_key = identity.clone();
            let p = by_identity
                .entry(identity.clone())
                .or_insert_with(|| {
                    let p = Arc::new(ProcPerf::new(
                        identity,
                        ProcessorModel::for_device_type(&info.device_type),
                        info.device_type == "Cpu",
                        perf_dir.as_deref(),
                    ));
                    // A few milliseconds of copies each way, once per adapter and process.
                    match measured_links(&identity_key, &d.core) {
                        Ok((up, down)) => {
                            p.upload.lock().measured(up.latency, up.bandwidth);
                            p.download.lock().measured(down.latency, down.bandwidth);
                        }
                        Err(e) => tracing::warn!("{}: cannot measure its links: {e}", d.core.label),
                    }
                    p
                })
                .clone();
            let hook = p.clone();
            let _ = d.core.on_download.set(Box::new(move |bytes, secs| {
                hook.download.lock().observe(bytes, secs)
            }));
            let hook = p.clone();
            let _ = d.core.on_upload.set(Box::new(move |bytes, secs| {
                hook.upload.lock().observe(bytes, secs)
            }));
            perf.push(p);
        }
        let placement = self.placement.unwrap_or_else(|| Box::new(EarliestFinish));
        let lanes = procs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                p.as_ref().map(|p| crate::trace::Lane {
                    processor: i,
                    name: p.name.clone(),
                    slots: p.slots,
                })
            })
            .collect();
        let budget = match self.device_memory {
            Some(b) => b,
            None if self.ignore_env => None,
            None => match std::env::var("TESSERA_DEVICE_MEMORY") {
                Ok(v) if !v.trim().is_empty() => Some(parse_bytes(&v).ok_or_else(|| {
                    Error::Config(format!(
                        "TESSERA_DEVICE_MEMORY={v}: expected a size such as 512M, 2G or 1048576"
                    ))
                })?),
                _ => None,
            },
        };
        let residency = devices
            .iter()
            .map(|_| crate::runtime::residency::Residency::new(budget))
            .collect();
        let mut shared = Shared::new(procs, devices, cpu, placement, perf);
        shared.residency = residency;
        if self.recording {
            shared.recording = Some(parking_lot::Mutex::new(Default::default()));
        }
        let tracing_on = self.trace.unwrap_or_else(|| {
            !self.ignore_env
                && matches!(
                    std::env::var("TESSERA_TRACE").as_deref().map(str::trim),
                    Ok("1" | "on" | "true" | "yes")
                )
        });
        if tracing_on {
            shared.trace = Some(crate::runtime::recorder::Recorder::new(lanes));
        }
        shared.prefetch = self.prefetch.unwrap_or_else(|| {
            self.ignore_env
                || !matches!(
                    std::env::var("TESSERA_PREFETCH").as_deref().map(str::trim),
                    Ok("0" | "off" | "false" | "no")
                )
        });
        let stall = stall::interval_from_env();
        if stall.is_some() {
            shared.live = Some(stall::LiveTasks::default());
        }
        let shared = Arc::new(shared);
        if let Some(every) = stall {
            stall::watch(&shared, every);
        }
        Ok(Runtime(Arc::new(Owner { shared })))
    }
}
