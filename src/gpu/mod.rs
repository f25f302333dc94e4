//! Everything that touches wgpu: adapters and devices, buffers, pipelines, the per-device
//! recording worker and completion poller, and the GPU halves of the built-in kernels.
//!
//! This is the only module that names wgpu types; the rest of the crate sees devices through
//! `GpuDevice`, buffers through `PooledBuffer`/`BufRef`, and work through `GpuJob`/`Readback`.

mod device;
mod embed;
mod info;
pub(crate) mod kernels;
mod link;
pub(crate) mod pipeline;
mod pool;
pub(crate) mod shaders;
mod tune;
mod worker;

pub use info::{AdapterInfo, DeviceLimits};
pub use pool::MemoryStats;
pub use tune::TuneEntry;
pub(crate) use tune::{TuneConfig, slug as cache_slug, write_json as write_cache_json};

pub(crate) use device::{DeviceCore, GpuDevice, discover, open};
pub(crate) use link::Fit as LinkFit;
pub(crate) use pool::{Kind as PoolKind, PooledBuffer, size_class};
pub(crate) use worker::{
    BufRef, GpuJob, JobDone, Measure, Prefetch, Readback, ReadbackDone, Upload,
};

use crate::error::Result;
use crate::runtime::{Runtime, RuntimeBuilder};

/// A device and queue handed in by the application.
pub(crate) struct Embedded {
    device: wgpu::Device,
    queue: wgpu::Queue,
}

pub(crate) fn embed(e: Embedded, label: String, tune: TuneConfig) -> Result<GpuDevice> {
    device::embed(e.device, e.queue, label, tune)
}

impl Runtime {
    /// A runtime over a device the application already owns (plus the CPU pool), for embedding
    /// tessera in a wgpu application. tessera submits to `queue` from its own thread and polls
    /// `device`; it does not replace the device's uncaptured-error handler. Features the device
    /// was created with decide which element types run on it.
    ///
    /// # Errors
    /// As [`RuntimeBuilder::build`].
    pub fn from_wgpu(device: wgpu::Device, queue: wgpu::Queue) -> Result<Runtime> {
        Runtime::builder().wgpu_device(device, queue).build()
    }
}

impl RuntimeBuilder {
    /// Adds a device the application owns. Unless [`devices`](RuntimeBuilder::devices) is also
    /// called (or `TESSERA_DEVICES` is set), no other adapter is opened.
    pub fn wgpu_device(mut self, device: wgpu::Device, queue: wgpu::Queue) -> Self {
        self.embedded.push(Embedded { device, queue });
        self
    }
}
