//! Per-device pool of reusable buffers, and the device's memory accounting.
//!
//! Buffers are grouped by usage and a size class (powers of two up to 64 KiB, then steps of an
//! eighth of the next power of two, so at most 12.5% is wasted). A released buffer waits in the
//! pool for the next request of its class; idle bytes beyond a cap are freed, oldest first.
//! Creation runs inside out-of-memory and validation error scopes, so a failed allocation is an
//! [`Error`], never an uncaptured-error panic.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::{Error, GpuError, Result};

/// What a pooled buffer is for; each kind has its own usage flags and free lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// A chunk replica: storage, copy source and destination.
    Replica,
    /// Per-batch uniform arena.
    Uniform,
    /// Per-batch status words.
    Status,
    /// Readback staging: map-read, copy destination.
    Readback,
    /// A chunk replica in a buffer the application handed over: accounted as resident, never
    /// pooled (dropped when released).
    Imported,
}

impl Kind {
    fn usage(self) -> wgpu::BufferUsages {
        use wgpu::BufferUsages as U;
        match self {
            Kind::Replica => U::STORAGE | U::COPY_SRC | U::COPY_DST,
            Kind::Uniform => U::UNIFORM | U::STORAGE | U::COPY_DST,
            Kind::Status => U::STORAGE | U::COPY_SRC | U::COPY_DST,
            Kind::Readback => U::MAP_READ | U::COPY_DST,
            Kind::Imported => U::STORAGE | U::COPY_SRC | U::COPY_DST,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Replica => "tessera replica",
            Kind::Uniform => "tessera uniforms",
            Kind::Status => "tessera status",
            Kind::Readback => "tessera readback",
            Kind::Imported => "tessera imported replica",
        }
    }
}

/// A buffer taken from the pool. Give it back with [`BufferPool::release`].
#[derive(Debug)]
pub(crate) struct PooledBuffer {
    pub(crate) buffer: wgpu::Buffer,
    pub(crate) kind: Kind,
    /// Capacity in bytes (the size class).
    pub(crate) capacity: u64,
}

/// Allocation statistics of one device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemoryStats {
    /// Bytes of chunk replicas currently held on the device (capacity of their buffers).
    pub resident_bytes: u64,
    /// Bytes of idle buffers waiting in the pool.
    pub pooled_bytes: u64,
    /// Buffers created since start.
    pub allocations: u64,
    /// Requests served by an idle pooled buffer.
    pub reuses: u64,
    /// Highest `resident_bytes` seen.
    pub peak_resident_bytes: u64,
}

pub(crate) struct BufferPool {
    label: String,
    free: Mutex<Free>,
    /// Buffers past the idle cap, destroyed by the device's poller between polls: destroying
    /// takes a wgpu lock that a poll holds while it waits, and releases happen under chunk locks.
    trash: Mutex<Vec<wgpu::Buffer>>,
    max_idle_bytes: u64,
    resident: AtomicU64,
    peak: AtomicU64,
    allocations: AtomicU64,
    reuses: AtomicU64,
}

#[derive(Default)]
struct Free {
    lists: HashMap<(Kind, u64), Vec<wgpu::Buffer>>,
    /// Release order, for freeing the oldest idle buffers first.
    order: VecDeque<(Kind, u64)>,
    idle_bytes: u64,
}

/// The size class of a request: what capacity a buffer serving it has.
pub(crate) fn size_class(bytes: u64) -> u64 {
    // At least 32 bytes: the smallest binding a shader may declare (one vec4<f64>).
    let bytes = bytes.max(32);
    if bytes <= 64 * 1024 {
        return bytes.next_power_of_two();
    }
    // An eighth of the largest power of two not above `bytes`: waste below 12.5%.
    let step = (1u64 << (63 - bytes.leading_zeros())) / 8;
    bytes.next_multiple_of(step)
}

impl BufferPool {
    pub(crate) fn new(label: String, max_idle_bytes: u64) -> Self {
        BufferPool {
            label,
            free: Mutex::new(Free::default()),
            trash: Mutex::new(Vec::new()),
            max_idle_bytes,
            resident: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            allocations: AtomicU64::new(0),
            reuses: AtomicU64::new(0),
        }
    }

    /// A buffer of at least `bytes` bytes for `kind`.
    pub(crate) fn acquire(
        &self,
        device: &wgpu::Device,
        kind: Kind,
        bytes: u64,
    ) -> Result<PooledBuffer> {
        let capacity = size_class(bytes);
        let reused = {
            let mut free = self.free.lock();
            let hit = free.lists.get_mut(&(kind, capacity)).and_then(Vec::pop);
            if hit.is_some() {
                free.idle_bytes -= capacity;
                if let Some(pos) = free.order.iter().position(|k| *k == (kind, capacity)) {
                    free.order.remove(pos);
                }
            }
            hit
        };
        let buffer = match reused {
            Some(b) => {
                self.reuses.fetch_add(1, Ordering::Relaxed);
                b
            }
            None => {
                let b = self.create(device, kind, capacity)?;
                self.allocations.fetch_add(1, Ordering::Relaxed);
                b
            }
        };
        if kind == Kind::Replica {
            let now = self.resident.fetch_add(capacity, Ordering::Relaxed) + capacity;
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        Ok(PooledBuffer {
            buffer,
            kind,
            capacity,
        })
    }

    fn create(&self, device: &wgpu::Device, kind: Kind, capacity: u64) -> Result<wgpu::Buffer> {
        let limit = device.limits().max_buffer_size;
        if capacity > limit {
            return Err(GpuError::TooLarge {
                what: "buffer",
                bytes: capacity,
                limit,
                device: self.label.clone(),
            }
            .into());
        }
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(kind.label()),
            size: capacity,
            usage: kind.usage(),
            mapped_at_creation: false,
        });
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
        if oom.is_some() {
            return Err(GpuError::OutOfMemory {
                device: self.label.clone(),
                bytes: capacity,
            }
            .into());
        }
        if let Some(e) = validation {
            return Err(Error::Gpu(GpuError::Validation {
                device: self.label.clone(),
                message: e.to_string(),
            }));
        }
        Ok(buffer)
    }

    /// Accounts for an application's buffer adopted as a replica.
    pub(crate) fn adopt(&self, buffer: wgpu::Buffer) -> PooledBuffer {
        let capacity = buffer.size();
        let now = self.resident.fetch_add(capacity, Ordering::Relaxed) + capacity;
        self.peak.fetch_max(now, Ordering::Relaxed);
        PooledBuffer {
            buffer,
            kind: Kind::Imported,
            capacity,
        }
    }

    /// A buffer of exactly `bytes` (at least 4) for the application, outside the pool, made in
    /// error scopes.
    pub(crate) fn create_for_export(
        &self,
        device: &wgpu::Device,
        bytes: u64,
    ) -> Result<wgpu::Buffer> {
        self.create(device, Kind::Imported, bytes.next_multiple_of(4).max(4))
    }

    /// Stops accounting for a replica buffer handed to the application.
    pub(crate) fn forget(&self, b: &PooledBuffer) {
        if matches!(b.kind, Kind::Replica | Kind::Imported) {
            self.resident.fetch_sub(b.capacity, Ordering::Relaxed);
        }
    }

    /// Returns a buffer for reuse. The caller guarantees no unfinished GPU work uses it.
    pub(crate) fn release(&self, b: PooledBuffer) {
        if matches!(b.kind, Kind::Replica | Kind::Imported) {
            self.resident.fetch_sub(b.capacity, Ordering::Relaxed);
        }
        if b.kind == Kind::Imported {
            return; // the application's buffer: dropped, not pooled
        }
        let mut free = self.free.lock();
        free.lists
            .entry((b.kind, b.capacity))
            .or_default()
            .push(b.buffer);
        free.order.push_back((b.kind, b.capacity));
        free.idle_bytes += b.capacity;
        while free.idle_bytes > self.max_idle_bytes {
            let Some(key) = free.order.pop_front() else {
                break;
            };
            if let Some(buf) = free.lists.get_mut(&key).and_then(|l| {
                if l.is_empty() {
                    None
                } else {
                    Some(l.remove(0))
                }
            }) {
                free.idle_bytes -= key.1;
                self.trash.lock().push(buf);
            }
        }
    }

    /// Destroys the buffers released past the idle cap.
    pub(crate) fn empty_trash(&self) {
        let trash = std::mem::take(&mut *self.trash.lock());
        for b in trash {
            b.destroy();
        }
    }

    /// Frees every idle buffer.
    pub(crate) fn trim(&self) {
        self.empty_trash();
        let mut free = self.free.lock();
        for (_, list) in free.lists.drain() {
            for b in list {
                b.destroy();
            }
        }
        free.order.clear();
        free.idle_bytes = 0;
    }

    pub(crate) fn stats(&self) -> MemoryStats {
        MemoryStats {
            resident_bytes: self.resident.load(Ordering::Relaxed),
            pooled_bytes: self.free.lock().idle_bytes,
            allocations: self.allocations.load(Ordering::Relaxed),
            reuses: self.reuses.load(Ordering::Relaxed),
            peak_resident_bytes: self.peak.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_bound_waste() {
        assert_eq!(size_class(0), 32);
        assert_eq!(size_class(17), 32);
        assert_eq!(size_class(65536), 65536);
        for bytes in [
            65537u64,
            100_000,
            1 << 20,
            (1 << 20) + 1,
            3_333_333,
            1 << 30,
        ] {
            let c = size_class(bytes);
            assert!(c >= bytes);
            assert!(
                (c - bytes) as f64 <= bytes as f64 * 0.125 + 1.0,
                "{bytes} -> {c}"
            );
            assert_eq!(c % 4, 0);
        }
    }
}
