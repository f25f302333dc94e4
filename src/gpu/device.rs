//! Adapter discovery, device opening (virtual devices included), and the per-device worker pair.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use crate::dtype::Caps;
use crate::error::{Error, GpuError, Result};
use crate::gpu::info::{self, AdapterInfo, DeviceLimits};
use crate::gpu::pipeline::PipelineCache;
use crate::gpu::pool::{BufferPool, Kind, MemoryStats, PooledBuffer};
use crate::gpu::tune::{TuneConfig, Tuning};
use crate::gpu::worker::{self, GpuJob, Inflight, Msg, Prefetch, Readback};

/// Idle buffers kept per device before the oldest are freed.
const MAX_IDLE_BYTES: u64 = 512 << 20;

/// Everything about one open device that the worker, the poller and the scheduler share.
pub(crate) struct DeviceCore {
    pub(crate) label: String,
    pub(crate) info: AdapterInfo,
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) caps: Caps,
    pub(crate) limits: DeviceLimits,
    pub(crate) pool: BufferPool,
    pub(crate) pipelines: PipelineCache,
    pub(crate) tuning: Tuning,
    lost: Arc<Mutex<Option<String>>>,
    is_lost: Arc<AtomicBool>,
    /// Told the bytes and seconds of every batch that only copied data to the host (the
    /// runtime refines its device-to-host link model from them).
    pub(crate) on_download: std::sync::OnceLock<Box<dyn Fn(u64, f64) + Send + Sync>>,
    /// The same for batches that only copied data to the device (prefetches).
    pub(crate) on_upload: std::sync::OnceLock<Box<dyn Fn(u64, f64) + Send + Sync>>,
    /// Batches that asked for a timing sample (one in eight gets timestamps).
    pub(crate) batches: std::sync::atomic::AtomicU64,
}

impl DeviceCore {
    fn new(
        label: String,
        info: AdapterInfo,
        device: wgpu::Device,
        queue: wgpu::Queue,
        tune: TuneConfig,
    ) -> Self {
        let caps = info::caps_of(device.features());
        let limits = DeviceLimits::from(&device.limits());
        let lost = Arc::new(Mutex::new(None));
        let is_lost = Arc::new(AtomicBool::new(false));
        let (l, il) = (lost.clone(), is_lost.clone());
        device.set_device_lost_callback(move |reason, message| {
            l.lock().get_or_insert(format!("{reason:?}: {message}"));
            il.store(true, Ordering::Release);
        });
        DeviceCore {
            pool: BufferPool::new(label.clone(), MAX_IDLE_BYTES),
            pipelines: PipelineCache::default(),
            tuning: Tuning::new(tune, &info),
            label,
            info,
            device,
            queue,
            caps,
            limits,
            lost,
            is_lost,
            on_download: std::sync::OnceLock::new(),
            on_upload: std::sync::OnceLock::new(),
            batches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Why the device was lost, if it was.
    pub(crate) fn lost_reason(&self) -> Option<String> {
        if !self.is_lost.load(Ordering::Acquire) {
            return None;
        }
        self.lost.lock().clone()
    }

    /// Whether the device is lost (cheap).
    pub(crate) fn is_lost(&self) -> bool {
        self.is_lost.load(Ordering::Acquire)
    }

    /// Gives up on the device: its queued and future work fails.
    pub(crate) fn mark_lost(&self, reason: String) {
        self.lost.lock().get_or_insert(reason);
        self.is_lost.store(true, Ordering::Release);
    }
}

/// An open device with its recording worker and completion poller.
pub(crate) struct GpuDevice {
    pub(crate) core: Arc<DeviceCore>,
    tx: Sender<Msg>,
    inflight: Arc<Inflight>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Which device of its adapter this is (0 unless virtual devices were asked for).
    pub(crate) virtual_index: usize,
    /// Whether the device came from the application (`Runtime::from_wgpu`).
    pub(crate) embedded: bool,
    /// Held by the scheduler from committing a task's coherence changes on this device until
    /// its job is in the queue, so queue order matches commit order.
    pub(crate) launch_lock: Mutex<()>,
}

impl GpuDevice {
    fn start(core: DeviceCore, virtual_index: usize, embedded: bool) -> Result<GpuDevice> {
        let core = Arc::new(core);
        let (tx, rx) = crossbeam_channel::unbounded();
        let (etx, erx) = crossbeam_channel::unbounded();
        let inflight = Arc::new(Inflight::default());
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
            let (core, inflight) = (core.clone(), inflight.clone());
            std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    crate::threads::mark_runtime_thread();
                    // A panic here is a bug in tessera, wgpu or the driver. The work this
                    // thread held has been failed by its callbacks' drop guards while
                    // unwinding; the device is then treated as lost, so new work fails with
                    // the reason instead of waiting for a thread that is gone.
                    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                        let msg = format!(
                            "thread `{name}` panicked: {}",
                            crate::error::panic_message(&*p)
                        );
                        {
                            use std::io::Write as _;
                            let _ = writeln!(std::io::stderr().lock(), "tessera: {msg}");
                        }
                        tracing::error!("{msg}");
                        core.mark_lost(msg);
                        inflight.abandon();
                    }
                })
                .map_err(|e| Error::Config(format!("cannot start a device thread: {e}")))
        };
        let w = {
            let (core, inflight) = (core.clone(), inflight.clone());
            spawn(
                format!("tessera-{}-worker", core.label),
                Box::new(move || worker::worker_loop(core, rx, etx, inflight)),
            )?
        };
        let p = {
            let (core, inflight) = (core.clone(), inflight.clone());
            spawn(
                format!("tessera-{}-poller", core.label),
                Box::new(move || worker::poller_loop(core, erx, inflight)),
            )?
        };
        Ok(GpuDevice {
            core,
            tx,
            inflight,
            threads: Mutex::new(vec![w, p]),
            virtual_index,
            embedded,
            launch_lock: Mutex::new(()),
        })
    }

    /// Queues a dispatch behind everything forwarded before it; hands the job back if the
    /// device has shut down.
    pub(crate) fn submit(&self, job: Box<GpuJob>) -> Result<(), Box<GpuJob>> {
        self.tx.send(Msg::Job(job)).map_err(|e| match e.0 {
            Msg::Job(job) => job,
            _ => unreachable!("sent a job"),
        })
    }

    /// Queues copies of host bytes into replicas, ahead of the tasks that will read them.
    pub(crate) fn prefetch(&self, p: Prefetch) {
        if let Err(e) = self.tx.send(Msg::Prefetch(p)) {
            let Msg::Prefetch(p) = e.0 else {
                unreachable!()
            };
            p.done.call(Err(Error::Shutdown(format!(
                "{} is shut down",
                self.core.label
            ))));
        }
    }

    /// Queues a copy of a replica to host memory.
    pub(crate) fn readback(&self, r: Readback) {
        if let Err(e) = self.tx.send(Msg::Readback(r)) {
            let Msg::Readback(r) = e.0 else {
                unreachable!()
            };
            r.done.call(Err(Error::Shutdown(format!(
                "{} is shut down",
                self.core.label
            ))));
        }
    }

    /// A buffer for a replica of `bytes` bytes.
    ///
    /// # Errors
    /// [`GpuError::TooLarge`] past the storage binding limit, [`GpuError::OutOfMemory`], or
    /// [`GpuError::DeviceLost`].
    pub(crate) fn alloc_replica(&self, bytes: u64) -> Result<PooledBuffer> {
        if let Some(reason) = self.core.lost_reason() {
            return Err(Error::Gpu(GpuError::DeviceLost {
                device: self.core.label.clone(),
                message: reason,
            }));
        }
        let limit = self.core.limits.max_storage_buffer_binding_size;
        if bytes > limit {
            return Err(Error::Gpu(GpuError::TooLarge {
                what: "tile",
                bytes,
                limit,
                device: self.core.label.clone(),
            }));
        }
        self.core
            .pool
            .acquire(&self.core.device, Kind::Replica, bytes)
    }

    /// Returns a replica's buffer to the pool.
    pub(crate) fn release(&self, b: PooledBuffer) {
        self.core.pool.release(b);
    }

    pub(crate) fn memory(&self) -> MemoryStats {
        self.core.pool.stats()
    }

    /// Waits until every submitted batch has completed.
    pub(crate) fn wait_idle(&self) {
        self.inflight.wait_zero();
    }

    /// Stops the worker and poller after the work already queued, and waits for them.
    pub(crate) fn shutdown(&self) {
        let _ = self.tx.send(Msg::Shutdown);
        let threads: Vec<_> = self.threads.lock().drain(..).collect();
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
        self.core.pool.trim();
    }
}

/// The adapters found, best backend first for each physical device.
pub(crate) struct Discovery {
    pub(crate) adapters: Vec<(wgpu::Adapter, AdapterInfo)>,
    /// Adapters hidden because the same device is reachable through a better backend.
    pub(crate) duplicates: Vec<AdapterInfo>,
}

fn backend_rank(backend: &str) -> u8 {
    match backend {
        "Vulkan" | "Metal" | "Dx12" => 0,
        "Gl" => 2,
        _ => 1,
    }
}

/// Finds every adapter of every backend (respecting `WGPU_BACKEND`). When one device shows up
/// through several backends (lavapipe through Vulkan and GL, say), only the best backend is kept
/// unless `all_backends`.
pub(crate) fn discover(all_backends: bool) -> Discovery {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    // Where the driver reports a memory budget (D3D12; Vulkan with VK_EXT_memory_budget),
    // allocations past 90% of it fail with an out-of-memory error, which the scheduler answers
    // by evicting replicas (`runtime::residency`), instead of the device being lost later.
    desc.memory_budget_thresholds.for_resource_creation = Some(90);
    let backends = desc.backends;
    let instance = wgpu::Instance::new(desc);
    let mut found: Vec<(wgpu::Adapter, AdapterInfo)> =
        pollster::block_on(instance.enumerate_adapters(backends))
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let info = info::describe(i, &a);
                (a, info)
            })
            .collect();
    found.sort_by_key(|(_, i)| (backend_rank(&i.backend), i.index));
    let mut adapters: Vec<(wgpu::Adapter, AdapterInfo)> = Vec::new();
    let mut duplicates = Vec::new();
    for (a, i) in found {
        let same = adapters
            .iter()
            .any(|(_, k)| k.name.eq_ignore_ascii_case(&i.name) && k.device_type == i.device_type);
        if same && !all_backends {
            duplicates.push(i);
        } else {
            adapters.push((a, i));
        }
    }
    for (n, (_, i)) in adapters.iter_mut().enumerate() {
        i.index = n;
    }
    Discovery {
        adapters,
        duplicates,
    }
}

/// Opens a device on `adapter` with every useful feature it has, less those of `masked`, and its
/// full limits.
pub(crate) fn open(
    adapter: &wgpu::Adapter,
    info: &AdapterInfo,
    label: String,
    virtual_index: usize,
    tune: TuneConfig,
    masked: Caps,
) -> Result<GpuDevice> {
    let features = adapter.features() & info::wanted_features() & !info::features_of(masked);
    let mut info = info.clone();
    info.caps = info.caps.missing_from(masked);
    let info = &info;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some(&label),
        required_features: features,
        required_limits: adapter.limits(),
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    }))
    .map_err(|e| {
        Error::Gpu(GpuError::RequestDevice {
            adapter: info.name.clone(),
            message: e.to_string(),
        })
    })?;
    // Errors from our own work are caught by error scopes; anything else must not panic the
    // process from inside a driver callback.
    let l = label.clone();
    device.on_uncaptured_error(Arc::new(move |e| {
        tracing::error!(device = %l, "uncaptured wgpu error: {e}");
    }));
    GpuDevice::start(
        DeviceCore::new(label, info.clone(), device, queue, tune),
        virtual_index,
        false,
    )
}

/// Wraps a device the application already owns. Its uncaptured-error handler is left alone.
pub(crate) fn embed(
    device: wgpu::Device,
    queue: wgpu::Queue,
    label: String,
    tune: TuneConfig,
) -> Result<GpuDevice> {
    let info = info::from_wgpu(
        0,
        device.adapter_info(),
        device.features(),
        &device.limits(),
    );
    GpuDevice::start(DeviceCore::new(label, info, device, queue, tune), 0, true)
}
