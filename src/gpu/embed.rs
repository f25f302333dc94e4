//! Embedding: chunks and DArrays made from an application's `wgpu::Buffer`s on a device it
//! handed to [`Runtime::from_wgpu`], and results handed back as buffers, with no host round
//! trip.

use crate::array::{Blocking, DArray};
use crate::data::chunk::{Chunk, new_inner_on_device};
use crate::dtype::Element;
use crate::error::{Error, GpuError, Result};
use crate::kernels::{Shape, builtin};
use crate::runtime::processor::DeviceId;
use crate::runtime::scope::Scope;
use crate::runtime::{Runtime, task};

/// Usages a buffer needs to serve as a chunk replica.
const REPLICA_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

fn device_of(rt: &Runtime, d: DeviceId) -> Result<&crate::gpu::GpuDevice> {
    rt.shared()
        .devices
        .get(d.0)
        .map(|x| &**x)
        .ok_or_else(|| Error::Config(format!("no device {d}: the runtime has {}", rt.gpu_count())))
}

impl<T: Element> Chunk<T> {
    /// Adopts `buffer`, an application's buffer on GPU device `d` holding a column-major
    /// `rows x cols` tile of `T`, as a chunk whose current value is on the device. tessera owns
    /// the buffer from now on: keep no other handle to it (read results back with
    /// [`Chunk::to_wgpu_buffer`]).
    ///
    /// # Errors
    /// [`Error::Config`] if `d` is not a device of `rt`, the buffer lacks `STORAGE | COPY_SRC |
    /// COPY_DST` usage, or is smaller than the tile.
    pub fn from_wgpu_buffer(
        rt: &Runtime,
        d: DeviceId,
        buffer: wgpu::Buffer,
        rows: usize,
        cols: usize,
    ) -> Result<Chunk<T>> {
        let dev = device_of(rt, d)?;
        let bytes = (rows * cols * T::DTYPE.size()) as u64;
        if !buffer.usage().contains(REPLICA_USAGE) {
            return Err(Error::Config(format!(
                "a buffer adopted as a chunk needs STORAGE | COPY_SRC | COPY_DST usage, it has {:?}",
                buffer.usage()
            )));
        }
        if buffer.size() < bytes.next_multiple_of(4) {
            return Err(Error::Config(format!(
                "a {rows}x{cols} {} tile needs {bytes} bytes; the buffer has {}",
                T::DTYPE,
                buffer.size()
            )));
        }
        let shape = Shape {
            rows,
            cols,
            dtype: T::DTYPE,
        };
        let buf = dev.core.pool.adopt(buffer);
        Ok(Chunk::wrap(new_inner_on_device(rt, shape, d.0, buf)))
    }

    /// A new buffer on GPU device `d` holding the chunk's current value (after the tasks that
    /// write it), copied on the device when the value is there: no host round trip. The buffer
    /// belongs to the application (usage `STORAGE | COPY_SRC | COPY_DST`).
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown device; the copy task's failure (the device cannot hold
    /// `T`, out of memory, device lost).
    pub fn to_wgpu_buffer(&self, d: DeviceId) -> Result<wgpu::Buffer> {
        let rt = self.runtime();
        let dev = device_of(rt, d)?;
        let bytes = (self.len() * T::DTYPE.size()) as u64;
        let buffer = dev.core.pool.create_for_export(&dev.core.device, bytes)?;
        let out = Chunk::<T>::from_wgpu_buffer(rt, d, buffer, self.rows(), self.cols())?;
        rt.task(builtin::copy::<T>())
            .scope(Scope::gpu(d.0))
            .spawn((task::Read(self), task::Write(&out)))
            .wait()?;
        let taken = out.raw.0.coh.lock().dev_mut(d.0).buf.take();
        let taken = taken.ok_or_else(|| {
            Error::Gpu(GpuError::Validation {
                device: dev.core.label.clone(),
                message: "the exported replica moved off its device".into(),
            })
        })?;
        dev.core.pool.forget(&taken);
        Ok(taken.buffer)
    }
}

impl<T: Element> DArray<T> {
    /// A DArray tiled by `blocks` from a chunk holding the whole column-major matrix (for
    /// example one made by [`Chunk::from_wgpu_buffer`]): one `get_tile` task per tile, on
    /// whatever processor holds the matrix.
    ///
    /// # Errors
    /// Task failures.
    pub fn from_chunk(whole: &Chunk<T>, blocks: impl Blocking) -> Result<DArray<T>> {
        let rt = whole.runtime();
        let a = DArray::zeros(rt, whole.rows(), whole.cols(), blocks);
        let (mb, nb) = a.tile_size();
        rt.datadeps(|r| {
            for j in 0..a.nt() {
                for i in 0..a.mt() {
                    r.spawn(
                        builtin::get_tile::<T>(i * mb, j * nb),
                        (task::Read(whole), task::Write(a.tile(i, j))),
                    );
                }
            }
        })?;
        Ok(a)
    }

    /// The whole matrix gathered into one chunk (one `set_tile` task per tile).
    ///
    /// # Errors
    /// Task failures.
    pub fn to_chunk(&self) -> Result<Chunk<T>> {
        let rt = self.runtime();
        let whole = Chunk::<T>::zeros(rt, self.rows(), self.cols());
        let (mb, nb) = self.tile_size();
        rt.datadeps(|r| {
            for j in 0..self.nt() {
                for i in 0..self.mt() {
                    r.spawn(
                        builtin::set_tile::<T>(i * mb, j * nb),
                        (task::Read(self.tile(i, j)), task::ReadWrite(&whole)),
                    );
                }
            }
        })?;
        Ok(whole)
    }
}
