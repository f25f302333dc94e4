//! Measuring a device's host links at start: a few copies of two sizes each way, fitted to
//! `latency + bytes / bandwidth`. Takes a few milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::gpu::device::DeviceCore;

/// A fitted link: seconds per transfer and bytes per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Fit {
    pub(crate) latency: f64,
    pub(crate) bandwidth: f64,
}

const SMALL: u64 = 64 << 10;
const LARGE: u64 = 4 << 20;

impl DeviceCore {
    /// Whether the device can write timestamps between the dispatches of a pass.
    pub(crate) fn has_pass_timestamps(&self) -> bool {
        self.device.features().contains(
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES,
        )
    }

    /// Waits, with non-blocking polls (see `worker::poller_loop` for why never a blocking
    /// one), until `done` is set by a callback; fails after `limit`.
    pub(crate) fn wait_flag(&self, done: &AtomicBool, what: &str, limit: Duration) -> Result<()> {
        let t = Instant::now();
        let mut nap = Duration::from_micros(5);
        while !done.load(Ordering::Acquire) {
            self.device
                .poll(wgpu::PollType::Poll)
                .map_err(|e| Error::Config(format!("waiting for {what}: {e}")))?;
            if done.load(Ordering::Acquire) {
                break;
            }
            if t.elapsed() > limit {
                return Err(Error::Config(format!(
                    "{what} did not finish within {} s",
                    limit.as_secs()
                )));
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_micros(100));
        }
        Ok(())
    }

    fn submit_and_wait(&self, enc: wgpu::CommandEncoder, what: &str) -> Result<()> {
        self.queue.submit([enc.finish()]);
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        self.queue
            .on_submitted_work_done(move || flag.store(true, Ordering::Release));
        self.wait_flag(&done, what, Duration::from_secs(30))
    }

    /// Seconds to copy `bytes` from host memory into a device buffer, as the worker does it
    /// (into a mapped staging buffer, then a copy on the queue).
    fn time_upload(&self, dst: &wgpu::Buffer, host: &[u8]) -> Result<f64> {
        let t = Instant::now();
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tessera link probe"),
            size: host.len() as u64,
            usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        staging
            .slice(..)
            .get_mapped_range_mut()
            .map_err(|e| Error::Config(format!("link probe: {e}")))?
            .copy_from_slice(host);
        staging.unmap();
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        enc.copy_buffer_to_buffer(&staging, 0, dst, 0, host.len() as u64);
        self.submit_and_wait(enc, "a link probe upload")?;
        Ok(t.elapsed().as_secs_f64())
    }

    /// Seconds to copy a device buffer into host memory (a copy to a mappable buffer, a map,
    /// a read), as a readback does.
    fn time_download(&self, src: &wgpu::Buffer, host: &mut [u8]) -> Result<f64> {
        let t = Instant::now();
        let bytes = host.len() as u64;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tessera link probe"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        enc.copy_buffer_to_buffer(src, 0, &staging, 0, bytes);
        self.queue.submit([enc.finish()]);
        let done = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicBool::new(false));
        let (flag, fail) = (done.clone(), failed.clone());
        staging.map_async(wgpu::MapMode::Read, 0..bytes, move |r| {
            fail.store(r.is_err(), Ordering::Release);
            flag.store(true, Ordering::Release);
        });
        self.wait_flag(&done, "a link probe readback", Duration::from_secs(30))?;
        if failed.load(Ordering::Acquire) {
            return Err(Error::Config("link probe: mapping failed".into()));
        }
        host.copy_from_slice(
            &staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::Config(format!("link probe: {e}")))?,
        );
        staging.unmap();
        Ok(t.elapsed().as_secs_f64())
    }

    /// Measures both directions: the best of three copies of 64 KiB and of 4 MiB each way,
    /// fitted to a line. `(host to device, device to host)`.
    pub(crate) fn measure_links(&self) -> Result<(Fit, Fit)> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tessera link probe target"),
            size: LARGE,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut host = vec![1u8; LARGE as usize];
        let mut best = [[f64::INFINITY; 2]; 2];
        for _ in 0..3 {
            for (k, size) in [SMALL, LARGE].into_iter().enumerate() {
                let h = &mut host[..size as usize];
                best[0][k] = best[0][k].min(self.time_upload(&buffer, h)?);
                best[1][k] = best[1][k].min(self.time_download(&buffer, h)?);
            }
        }
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Config(format!("link probe rejected: {e}")));
        }
        let fit = |[small, large]: [f64; 2]| {
            let bandwidth = (LARGE - SMALL) as f64 / (large - small).max(1e-9);
            Fit {
                latency: (small - SMALL as f64 / bandwidth).max(0.0),
                bandwidth,
            }
        };
        Ok((fit(best[0]), fit(best[1])))
    }
}
