//! Autotuning: when several variants of a kernel can run a call, each device times them on the
//! call's own shapes the first time it meets the call's *class* (the kernel says what a class
//! is: a size bucket, an alignment) and keeps the fastest. Decisions are persisted per adapter
//! and driver in a small JSON file, so the next run does not retune.
//!
//! The cache file lives in `TESSERA_CACHE_DIR`, else `$XDG_CACHE_HOME/tessera`, else
//! `~/.cache/tessera`; `TESSERA_AUTOTUNE=0` (or `RuntimeBuilder::autotune(false)`) turns timing
//! off, leaving recorded choices in force and the first applicable variant otherwise.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gpu::device::DeviceCore;
use crate::gpu::info::AdapterInfo;
use crate::gpu::pool::Kind;
use crate::kernels::{GpuKernel, Kernel, Launch, Mode};

/// How a runtime's devices tune.
#[derive(Clone, Debug)]
pub(crate) struct TuneConfig {
    /// Whether to time variants for classes not yet decided.
    pub(crate) enabled: bool,
    /// Where decisions persist; `None` keeps them in memory only.
    pub(crate) dir: Option<PathBuf>,
}

impl TuneConfig {
    /// The configuration from the environment (`TESSERA_AUTOTUNE`, `TESSERA_CACHE_DIR`,
    /// `XDG_CACHE_HOME`, `HOME`).
    pub(crate) fn from_env() -> TuneConfig {
        let enabled = !matches!(
            std::env::var("TESSERA_AUTOTUNE").as_deref().map(str::trim),
            Ok("0" | "off" | "false" | "no")
        );
        TuneConfig {
            enabled,
            dir: default_dir(),
        }
    }
}

fn default_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("TESSERA_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("tessera")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("tessera")))
}

/// One decision: the winner and what each candidate measured (seconds per dispatch).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TuneEntry {
    /// Name of the fastest variant.
    pub winner: String,
    /// Median seconds per dispatch of each variant timed.
    pub seconds: Vec<(String, f64)>,
}

#[derive(Default, Serialize, Deserialize)]
struct TableFile {
    adapter: String,
    driver: String,
    entries: BTreeMap<String, TuneEntry>,
}

/// A device's tuning decisions.
pub(crate) struct Tuning {
    config: TuneConfig,
    path: Option<PathBuf>,
    adapter: String,
    driver: String,
    entries: Mutex<BTreeMap<String, TuneEntry>>,
}

impl Tuning {
    pub(crate) fn new(config: TuneConfig, info: &AdapterInfo) -> Tuning {
        let mut h = DefaultHasher::new();
        (&info.name, &info.backend, &info.driver, &info.driver_info).hash(&mut h);
        (info.vendor, info.device).hash(&mut h);
        let slug = slug(&info.name);
        let path = config
            .dir
            .as_ref()
            .map(|d| d.join(format!("tuning-{slug}-{:016x}.json", h.finish())));
        let entries = path.as_deref().map(read_table).unwrap_or_default();
        Tuning {
            config,
            path,
            adapter: info.name.clone(),
            driver: format!("{} {}", info.driver, info.driver_info),
            entries: Mutex::new(entries),
        }
    }

    /// The recorded decision for `key`.
    pub(crate) fn get(&self, key: &str) -> Option<TuneEntry> {
        self.entries.lock().get(key).cloned()
    }

    /// Every recorded decision.
    pub(crate) fn all(&self) -> BTreeMap<String, TuneEntry> {
        self.entries.lock().clone()
    }

    pub(crate) fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Records a decision and persists the table (merged with what other processes or devices
    /// wrote meanwhile). A failure to write is logged, not fatal: tuning is an optimisation.
    pub(crate) fn record(&self, key: String, entry: TuneEntry) {
        self.entries.lock().insert(key, entry);
        let Some(path) = &self.path else { return };
        let mut merged = read_table(path);
        merged.extend(self.entries.lock().clone());
        let file = TableFile {
            adapter: self.adapter.clone(),
            driver: self.driver.clone(),
            entries: merged,
        };
        if let Err(e) = write_json(path, &file) {
            tracing::warn!("cannot save tuning decisions to {}: {e}", path.display());
        }
    }
}

fn read_table(path: &Path) -> BTreeMap<String, TuneEntry> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<TableFile>(&b).ok())
        .map(|t| t.entries)
        .unwrap_or_default()
}

/// Writes `value` as JSON to `path` through a temporary file and a rename, so a reader (another
/// process sharing the cache directory) never sees half a file.
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, path)
}

/// A file-name-safe prefix of `name`: lowercase ASCII letters and digits, `-` for the rest.
pub(crate) fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(32)
        .collect()
}

impl DeviceCore {
    /// The variant of `gpu` to run `launch` with on this device: the only applicable one, the
    /// recorded winner of its class, a freshly timed winner, or the first applicable.
    pub(crate) fn choose_variant(
        &self,
        kernel: &Kernel,
        gpu: &GpuKernel,
        launch: &Launch<'_>,
        modes: &[Mode],
    ) -> Result<usize> {
        let runs = |i: &usize| {
            gpu.variants[*i].fits(
                self.caps,
                self.info.subgroup_size,
                self.info.loop_iteration_limit,
                launch,
            )
        };
        let mut applicable: Vec<usize> = (0..gpu.variants.len())
            .filter(runs)
            .filter(|&i| !gpu.variants[i].reference)
            .collect();
        if applicable.is_empty() {
            applicable = (0..gpu.variants.len()).filter(runs).collect();
        }
        let Some(&first) = applicable.first() else {
            return Err(Error::Config(format!(
                "no GPU variant of kernel `{}` applies to shapes {:?}",
                kernel.name(),
                launch
                    .shapes
                    .iter()
                    .map(|s| (s.rows, s.cols))
                    .collect::<Vec<_>>()
            )));
        };
        let Some(class) = gpu
            .class
            .as_ref()
            .filter(|_| applicable.len() > 1)
            .and_then(|c| c(launch))
        else {
            return Ok(first);
        };
        let dtype = launch.shapes.first().map_or("none", |s| s.dtype.name());
        let key = format!("{}/{dtype}/{class}", kernel.name());
        let by_name = |name: &str| {
            applicable
                .iter()
                .copied()
                .find(|&i| gpu.variants[i].name == name)
        };
        if let Some(i) = self.tuning.get(&key).and_then(|e| by_name(&e.winner)) {
            return Ok(i);
        }
        if !self.tuning.enabled() {
            return Ok(first);
        }
        let mut seconds = Vec::new();
        for &i in &applicable {
            match self.time_variant(kernel, gpu, i, launch, modes) {
                Ok(s) => seconds.push((gpu.variants[i].name.clone(), s)),
                Err(e) => tracing::warn!(
                    "autotuning `{key}` on {}: variant `{}` failed: {e}",
                    self.label,
                    gpu.variants[i].name
                ),
            }
        }
        let Some((winner, _)) = seconds.iter().min_by(|a, b| a.1.total_cmp(&b.1)).cloned() else {
            return Ok(first);
        };
        tracing::info!(
            "autotuned `{key}` on {}: `{winner}` ({:?})",
            self.label,
            seconds
        );
        self.tuning.record(
            key,
            TuneEntry {
                winner: winner.clone(),
                seconds,
            },
        );
        Ok(by_name(&winner).unwrap_or(first))
    }

    /// Median wall-clock seconds per dispatch of variant `v` on scratch buffers of `launch`'s
    /// shapes (zero-filled: the kernels' speed does not depend on the values).
    fn time_variant(
        &self,
        kernel: &Kernel,
        gpu: &GpuKernel,
        v: usize,
        launch: &Launch<'_>,
        modes: &[Mode],
    ) -> Result<f64> {
        let variant = &gpu.variants[v];
        let pipeline = self.pipelines.get(
            &self.device,
            &self.label,
            kernel.name(),
            gpu,
            variant,
            modes,
        )?;
        let grid = variant.dispatch.grid(launch);
        let limit = self.limits.max_compute_workgroups_per_dimension;
        if grid.iter().any(|&g| g > limit) {
            return Err(Error::Config(format!("grid {grid:?} exceeds {limit}")));
        }
        let mut owned = Vec::new();
        let result = self.time_on_scratch(gpu, &pipeline, grid, launch, &mut owned);
        for b in owned {
            self.pool.release(b);
        }
        result
    }

    fn time_on_scratch(
        &self,
        gpu: &GpuKernel,
        pipeline: &crate::gpu::pipeline::Pipeline,
        grid: [u32; 3],
        launch: &Launch<'_>,
        owned: &mut Vec<crate::gpu::pool::PooledBuffer>,
    ) -> Result<f64> {
        let device = &self.device;
        // Arguments first, then the uniform and status words: `owned` is in binding order.
        let mut sizes: Vec<(u32, u64)> = Vec::new();
        for (binding, s) in gpu.arg_bindings.iter().zip(launch.shapes) {
            let size = (s.bytes() as u64).next_multiple_of(4).max(4);
            owned.push(self.pool.acquire(device, Kind::Replica, size)?);
            sizes.push((*binding, size));
        }
        let uniform = gpu.uniform_bytes(launch);
        if !uniform.is_empty() {
            let mut bytes = uniform;
            bytes.resize(bytes.len().next_multiple_of(16), 0);
            let b = self
                .pool
                .acquire(device, Kind::Uniform, bytes.len() as u64)?;
            self.queue.write_buffer(&b.buffer, 0, &bytes);
            owned.push(b);
            sizes.push((gpu.params_binding, bytes.len() as u64));
        }
        if let Some(s) = &gpu.status {
            let size = 4 * u64::from(s.words);
            owned.push(self.pool.acquire(device, Kind::Status, size)?);
            sizes.push((gpu.status_binding, size));
        }
        let entries: Vec<wgpu::BindGroupEntry<'_>> = owned
            .iter()
            .zip(&sizes)
            .map(|(b, (binding, size))| wgpu::BindGroupEntry {
                binding: *binding,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &b.buffer,
                    offset: 0,
                    size: wgpu::BufferSize::new(*size),
                }),
            })
            .collect();
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("tessera autotune"),
            layout: &pipeline.layout,
            entries: &entries,
        });
        let args = launch.shapes.len();
        let run = |dispatches: u32| -> Result<f64> {
            let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("tessera autotune"),
            });
            for b in owned.iter().take(args) {
                enc.clear_buffer(&b.buffer, 0, None);
            }
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("tessera autotune"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(&pipeline.pipeline);
                pass.set_bind_group(0, &bind_group, &[]);
                if !grid.contains(&0) {
                    for _ in 0..dispatches {
                        pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
                    }
                }
            }
            let t = Instant::now();
            self.queue.submit([enc.finish()]);
            // Non-blocking polls, as in the poller (`worker::poller_loop` says why a blocking
            // wait races with other threads' submits in wgpu 30); the poller may be the one
            // that sees the run complete, hence the flag.
            let done = Arc::new(AtomicBool::new(false));
            let flag = done.clone();
            self.queue
                .on_submitted_work_done(move || flag.store(true, Ordering::Release));
            self.wait_flag(&done, "a tuning run", Duration::from_secs(120))?;
            Ok(t.elapsed().as_secs_f64() / f64::from(dispatches))
        };
        // The first dispatch compiles the pipeline (lavapipe JITs at first use).
        let first = run(1)?;
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Config(format!("tuning run rejected: {e}")));
        }
        let per = run(1)?.min(first);
        let dispatches = ((0.03 / per.max(1e-7)) as u32).clamp(1, 64);
        let mut samples = [run(dispatches)?, run(dispatches)?, run(dispatches)?];
        samples.sort_by(f64::total_cmp);
        Ok(samples[1])
    }
}
