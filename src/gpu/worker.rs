//! One recording worker and one completion poller per device.
//!
//! The **worker** takes jobs (kernel dispatches) and readbacks from a channel in the order the
//! scheduler forwarded them, records everything that is waiting into one command encoder and
//! submits it as a batch. Within a batch, all uploads and clears come first, then one compute
//! pass with every dispatch in forwarding order (wgpu inserts the barriers between dependent
//! dispatches), then readback copies. Hoisting uploads is sound because the scheduler only
//! uploads into a replica that no earlier unfinished work on this device touches; readbacks are
//! only requested for values whose writer has finished. At most `MAX_INFLIGHT` batches are in
//! flight, so work arriving while the GPU is busy collects into the next, larger batch.
//!
//! The **poller** polls the device (without blocking, see `poller_loop`) until the oldest
//! submitted batch has completed, then finishes it: status
//! words are decoded, readbacks copied into host memory, pooled buffers returned, and each job's
//! completion callback called, in submission order. Map and work-done callbacks only count down
//! and wake the poller, because wgpu may run them on whichever thread polls or submits.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex, RwLock};
use smallvec::SmallVec;

use crate::error::KernelError;
use crate::error::{Error, GpuError, TaskFailure};
use crate::gpu::device::DeviceCore;
use crate::gpu::pool::{Kind, PooledBuffer};
use crate::host::HostBytes;
use crate::kernels::{Kernel, Launch, Mode, Params, Shape};

const MAX_INFLIGHT: usize = 2;
const MAX_BATCH: usize = 512;
const STAGING_CHUNK: u64 = 4 << 20;

/// A completion callback that is called exactly once: with the outcome, or, if it is dropped
/// uncalled (a device thread panicked, or the runtime shut down with work still queued), with
/// the error `dropped` makes. Without this, lost work would leave its task unfinished and
/// everything waiting on it hanging.
pub(crate) struct Callback<T: 'static> {
    f: Option<Box<dyn FnOnce(T) + Send>>,
    dropped: fn() -> T,
}

impl<T: 'static> Callback<T> {
    pub(crate) fn new(f: impl FnOnce(T) + Send + 'static, dropped: fn() -> T) -> Self {
        Callback {
            f: Some(Box::new(f)),
            dropped,
        }
    }

    pub(crate) fn call(mut self, v: T) {
        if let Some(f) = self.f.take() {
            f(v);
        }
    }
}

impl<T: 'static> Drop for Callback<T> {
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            f((self.dropped)());
        }
    }
}

fn dropped_error() -> Error {
    Error::Shutdown(
        "the GPU work was dropped before it completed: the device's worker or poller stopped \
         (see the device-lost reason) or the runtime shut down"
            .to_string(),
    )
}

/// When a job ran, as measured: GPU timestamps around its dispatch mapped onto the host clock,
/// or the batch's wall time shared by the jobs' predicted costs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JobTiming {
    pub(crate) start: Instant,
    pub(crate) end: Instant,
    /// From timestamps around this job alone (else its share of the batch's wall time).
    pub(crate) exact: bool,
}

/// Called once with a job's outcome (and its timing when it ran), on the worker or poller
/// thread.
pub(crate) type JobDone = Callback<(Result<(), TaskFailure>, Option<JobTiming>)>;
/// Called once when a readback has landed in host memory (or failed).
pub(crate) type ReadbackDone = Callback<Result<(), Error>>;

impl JobDone {
    pub(crate) fn job(
        f: impl FnOnce((Result<(), TaskFailure>, Option<JobTiming>)) + Send + 'static,
    ) -> Self {
        Callback::new(f, || {
            (Err(TaskFailure::Runtime(Box::new(dropped_error()))), None)
        })
    }
}

impl ReadbackDone {
    pub(crate) fn readback(f: impl FnOnce(Result<(), Error>) + Send + 'static) -> Self {
        Callback::new(f, || Err(dropped_error()))
    }
}

/// A buffer as bound by one job: the buffer and the bytes of it the tile occupies.
#[derive(Clone, Debug)]
pub(crate) struct BufRef {
    pub(crate) buffer: wgpu::Buffer,
    pub(crate) bytes: u64,
}

impl BufRef {
    pub(crate) fn of(b: &PooledBuffer, bytes: u64) -> BufRef {
        BufRef {
            buffer: b.buffer.clone(),
            bytes,
        }
    }

    /// The binding size: a multiple of 4, as storage bindings require, and at least 32 bytes
    /// (pooled buffers have that much) so that an empty or tiny tile still satisfies a shader
    /// whose array elements are as large as `vec4<f64>`.
    fn binding_size(&self) -> u64 {
        self.bytes
            .next_multiple_of(4)
            .max(32)
            .min(self.buffer.size().max(4))
    }
}

/// Host bytes to copy into a buffer before the batch's dispatches.
pub(crate) struct Upload {
    pub(crate) src: Arc<RwLock<HostBytes>>,
    pub(crate) dst: BufRef,
}

/// How much a job's time is wanted. Timestamps cost a query set and a readback per batch, and
/// on lavapipe they halve the rate of tiny dispatches, so they are written in a batch only
/// when a job needs them, or one in eight batches when jobs would merely add a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Measure {
    No,
    Sample,
    Needed,
}

/// One kernel dispatch.
pub(crate) struct GpuJob {
    pub(crate) kernel: Kernel,
    pub(crate) modes: SmallVec<[Mode; 4]>,
    pub(crate) args: SmallVec<[BufRef; 4]>,
    pub(crate) uploads: SmallVec<[Upload; 2]>,
    pub(crate) clears: SmallVec<[BufRef; 1]>,
    /// The call's shapes and parameters, from which the worker derives the variant, the
    /// uniform bytes and the grid.
    pub(crate) shapes: SmallVec<[Shape; 4]>,
    pub(crate) params: Params,
    /// Set when this job fails while being recorded (or with its batch), so that jobs queued
    /// behind it that depend on it are skipped instead of computing on garbage.
    pub(crate) failed: Arc<AtomicBool>,
    /// Failure flags of the jobs ahead of this one in the stream that it depends on.
    pub(crate) after: SmallVec<[Arc<AtomicBool>; 2]>,
    /// Predicted seconds: a batch measured only as a whole is shared out in these proportions.
    pub(crate) weight: f64,
    /// Whether its time should be measured.
    pub(crate) measure: Measure,
    pub(crate) done: JobDone,
}

/// A device-to-host copy of one replica.
pub(crate) struct Readback {
    pub(crate) src: BufRef,
    pub(crate) dst: Arc<RwLock<HostBytes>>,
    pub(crate) done: ReadbackDone,
}

/// Host-to-device copies on their own, ahead of the tasks that will read them (prefetch).
/// `done` is told when the batch that carries them has completed.
pub(crate) struct Prefetch {
    pub(crate) uploads: SmallVec<[Upload; 1]>,
    pub(crate) done: ReadbackDone,
}

pub(crate) enum Msg {
    Job(Box<GpuJob>),
    Readback(Readback),
    Prefetch(Prefetch),
    Shutdown,
}

/// Count of batches in flight, shared by worker (waits) and poller (decrements). Abandoned
/// when a device thread dies: nobody will count down any more, so nobody waits.
#[derive(Default)]
pub(crate) struct Inflight {
    n: Mutex<(usize, bool)>,
    cv: Condvar,
}

impl Inflight {
    fn add(&self) {
        self.n.lock().0 += 1;
    }
    fn done(&self) {
        self.n.lock().0 -= 1;
        self.cv.notify_all();
    }
    fn wait_below(&self, max: usize) {
        let mut n = self.n.lock();
        while n.0 >= max && !n.1 {
            self.cv.wait(&mut n);
        }
    }
    pub(crate) fn wait_zero(&self) {
        let mut n = self.n.lock();
        while n.0 > 0 && !n.1 {
            self.cv.wait(&mut n);
        }
    }
    pub(crate) fn abandon(&self) {
        self.n.lock().1 = true;
        self.cv.notify_all();
    }
}

struct JobRecord {
    kernel: Kernel,
    weight: f64,
    /// Index of its end timestamp in the batch's query set (its start is the one before).
    query: Option<u32>,
    status_offset: Option<usize>,
    done: JobDone,
    failed: Option<TaskFailure>,
    flag: Arc<AtomicBool>,
    after: SmallVec<[Arc<AtomicBool>; 2]>,
}

impl JobRecord {
    /// Fails the job (once) and raises its flag for the jobs queued behind it.
    fn fail(&mut self, f: TaskFailure) {
        self.flag.store(true, Ordering::Release);
        self.failed.get_or_insert(f);
    }

    /// Whether a job this one depends on has failed; if so, this one fails too.
    fn skip_if_after_failed(&mut self, device: &str) -> bool {
        if self.failed.is_none() && self.after.iter().any(|f| f.load(Ordering::Acquire)) {
            self.fail(TaskFailure::Runtime(Box::new(Error::Config(format!(
                "skipped: a task it follows on {device} failed"
            )))));
        }
        self.failed.is_some()
    }
}

struct ReadbackRecord {
    staging: PooledBuffer,
    bytes: u64,
    dst: Arc<RwLock<HostBytes>>,
    done: ReadbackDone,
}

/// A submitted batch, owned by the poller until it completes.
pub(crate) struct Batch {
    jobs: Vec<JobRecord>,
    /// When it was submitted.
    submitted: Instant,
    /// Resolved timestamps (a mappable copy) and how many, when the device has them.
    timestamps: Option<(wgpu::Buffer, u32)>,
    readbacks: Vec<ReadbackRecord>,
    /// Completions of the prefetches it carried, and their bytes.
    prefetches: Vec<ReadbackDone>,
    prefetched: u64,
    status: Option<(PooledBuffer, PooledBuffer, usize)>,
    uniform: Option<PooledBuffer>,
    pending: Arc<AtomicUsize>,
    map_error: Arc<Mutex<Option<String>>>,
    batch_error: Option<Error>,
}

pub(crate) enum Event {
    Submitted(Box<Batch>),
    Progress,
    Shutdown,
}

/// Runs the recording loop until `Shutdown`.
pub(crate) fn worker_loop(
    core: Arc<DeviceCore>,
    rx: Receiver<Msg>,
    events: Sender<Event>,
    inflight: Arc<Inflight>,
) {
    let mut belt = wgpu::util::StagingBelt::new(core.device.clone(), STAGING_CHUNK);
    let mut shutting_down = false;
    while !shutting_down {
        let Ok(first) = rx.recv() else { break };
        inflight.wait_below(MAX_INFLIGHT);
        let mut msgs = vec![first];
        while msgs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => msgs.push(m),
                Err(_) => break,
            }
        }
        let mut jobs = Vec::new();
        let mut readbacks = Vec::new();
        let mut prefetches = Vec::new();
        for m in msgs {
            match m {
                Msg::Job(j) => jobs.push(*j),
                Msg::Readback(r) => readbacks.push(r),
                Msg::Prefetch(p) => prefetches.push(p),
                Msg::Shutdown => shutting_down = true,
            }
        }
        if jobs.is_empty() && readbacks.is_empty() && prefetches.is_empty() {
            continue;
        }
        if let Some(reason) = core.lost_reason() {
            fail_all(&core, jobs, readbacks, prefetches, &reason);
            continue;
        }
        let batch = record(&core, &mut belt, jobs, readbacks, prefetches, &events);
        inflight.add();
        let _ = events.send(Event::Submitted(Box::new(batch)));
    }
    let _ = events.send(Event::Shutdown);
}

fn lost_error(core: &DeviceCore, reason: &str) -> Error {
    Error::Gpu(GpuError::DeviceLost {
        device: core.label.clone(),
        message: reason.to_string(),
    })
}

fn fail_all(
    core: &DeviceCore,
    jobs: Vec<GpuJob>,
    readbacks: Vec<Readback>,
    prefetches: Vec<Prefetch>,
    reason: &str,
) {
    let e = lost_error(core, reason);
    for p in prefetches {
        p.done.call(Err(e.clone()));
    }
    for j in jobs {
        j.done
            .call((Err(TaskFailure::Runtime(Box::new(e.clone()))), None));
    }
    for r in readbacks {
        r.done.call(Err(e.clone()));
    }
}

/// Records the copy of `up`'s host bytes into its buffer (padded to 4 bytes with zeros);
/// returns the bytes copied.
fn write_upload(
    belt: &mut wgpu::util::StagingBelt,
    encoder: &mut wgpu::CommandEncoder,
    up: &Upload,
) -> u64 {
    let src = up.src.read();
    let n = src.len() as u64;
    if n == 0 {
        return 0;
    }
    let padded = n.next_multiple_of(4);
    let size = wgpu::BufferSize::new(padded).unwrap_or_else(|| unreachable!("n > 0"));
    let mut view = belt.write_buffer(encoder, &up.dst.buffer, 0, size);
    view.slice(..n as usize).copy_from_slice(src.bytes());
    if padded > n {
        view.slice(n as usize..)
            .copy_from_slice(&[0u8; 3][..(padded - n) as usize]);
    }
    n
}

fn record(
    core: &Arc<DeviceCore>,
    belt: &mut wgpu::util::StagingBelt,
    jobs: Vec<GpuJob>,
    readbacks: Vec<Readback>,
    prefetches: Vec<Prefetch>,
    events: &Sender<Event>,
) -> Batch {
    let device = &core.device;
    let uniform_align = core
        .limits
        .min_uniform_buffer_offset_alignment
        .max(core.limits.min_storage_buffer_offset_alignment)
        .max(16) as usize;
    let storage_align = core.limits.min_storage_buffer_offset_alignment.max(4) as usize;

    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("tessera batch"),
    });

    // Prefetched inputs first (every copy precedes the batch's dispatches anyway).
    let mut prefetched = 0u64;
    let mut prefetch_done = Vec::with_capacity(prefetches.len());
    for p in prefetches {
        for up in &p.uploads {
            prefetched += write_upload(belt, &mut encoder, up);
        }
        prefetch_done.push(p.done);
    }

    // Pass 1: pipelines, uniform and status layout, uploads and clears.
    let want = jobs.iter().map(|j| j.measure).max().unwrap_or(Measure::No);
    let measure = want == Measure::Needed
        || (want == Measure::Sample
            && core
                .batches
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(8));
    let mut records = Vec::with_capacity(jobs.len());
    let mut prepared = Vec::with_capacity(jobs.len());
    let mut uniform_bytes: Vec<u8> = Vec::new();
    let mut status_bytes = 0usize;
    for job in jobs {
        let gpu = job.kernel.gpu().unwrap_or_else(|| {
            unreachable!(
                "job for `{}` without a GPU implementation",
                job.kernel.name()
            )
        });
        // The variant (autotuned on first use of a class), its uniform bytes and grid. User
        // closures run here; a panic in one fails this job only.
        let launch = Launch {
            shapes: &job.shapes,
            params: &job.params,
        };
        let chosen = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let v = core
                .choose_variant(&job.kernel, gpu, &launch, &job.modes)
                .map_err(|e| TaskFailure::Runtime(Box::new(e)))?;
            Ok((
                v,
                gpu.uniform_bytes(&launch),
                gpu.variants[v].dispatch.grid(&launch),
            ))
        }))
        .unwrap_or_else(|p| {
            Err(TaskFailure::Kernel(KernelError::Panicked(format!(
                "the kernel's variant choice, uniform or dispatch function panicked: {}",
                crate::error::panic_message(&*p)
            ))))
        });
        let (pipeline, uniform, grid) = match chosen {
            Ok((v, uniform, grid)) => (
                core.pipelines
                    .get(
                        device,
                        &core.label,
                        job.kernel.name(),
                        gpu,
                        &gpu.variants[v],
                        &job.modes,
                    )
                    .map_err(|e| TaskFailure::Runtime(Box::new(e))),
                uniform,
                grid,
            ),
            Err(f) => (Err(f), Vec::new(), [0; 3]),
        };
        let uniform_offset = (!uniform.is_empty()).then(|| {
            let off = uniform_bytes.len().next_multiple_of(uniform_align);
            let len = uniform.len().next_multiple_of(16);
            uniform_bytes.resize(off, 0);
            uniform_bytes.extend_from_slice(&uniform);
            uniform_bytes.resize(off + len, 0);
            (off, len)
        });
        let status_offset = gpu.status.as_ref().map(|s| {
            let off = status_bytes.next_multiple_of(storage_align);
            status_bytes = off + 4 * s.words as usize;
            off
        });
        for up in &job.uploads {
            write_upload(belt, &mut encoder, up);
        }
        for c in &job.clears {
            encoder.clear_buffer(&c.buffer, 0, Some(c.binding_size()));
        }
        let mut record = JobRecord {
            kernel: job.kernel.clone(),
            weight: job.weight,
            query: None,
            status_offset,
            done: job.done,
            failed: None,
            flag: job.failed,
            after: job.after,
        };
        if let Err(f) = &pipeline {
            record.fail(f.clone());
        }
        records.push(record);
        prepared.push((job.kernel, job.args, grid, pipeline.ok(), uniform_offset));
    }

    // Per-batch uniform arena and status words.
    let mut batch_error: Option<Error> = None;
    let uniform = if uniform_bytes.is_empty() {
        None
    } else {
        match core
            .pool
            .acquire(device, Kind::Uniform, uniform_bytes.len() as u64)
        {
            Ok(buf) => {
                let padded = uniform_bytes.len().next_multiple_of(4);
                uniform_bytes.resize(padded, 0);
                let size = wgpu::BufferSize::new(padded as u64).unwrap_or_else(|| unreachable!());
                belt.write_buffer(&mut encoder, &buf.buffer, 0, size)
                    .copy_from_slice(&uniform_bytes);
                Some(buf)
            }
            Err(e) => {
                batch_error = Some(e);
                None
            }
        }
    };
    let status = if status_bytes == 0 {
        None
    } else {
        let a = core.pool.acquire(device, Kind::Status, status_bytes as u64);
        let b = core
            .pool
            .acquire(device, Kind::Readback, status_bytes as u64);
        match (a, b) {
            (Ok(a), Ok(b)) => {
                encoder.clear_buffer(&a.buffer, 0, None);
                Some((a, b, status_bytes))
            }
            (Err(e), other) | (other @ Ok(_), Err(e)) => {
                if let Ok(b) = other {
                    core.pool.release(b);
                }
                batch_error = Some(e);
                None
            }
        }
    };

    // Pass 2: bind groups, each in its own validation scope so a bad one fails only its job.
    let mut dispatches = Vec::with_capacity(prepared.len());
    for (i, (kernel, args, grid, pipeline, uniform_offset)) in prepared.into_iter().enumerate() {
        if batch_error.is_some() || records[i].skip_if_after_failed(&core.label) {
            continue;
        }
        let Some(pipeline) = pipeline else { continue };
        let gpu = kernel.gpu().unwrap_or_else(|| unreachable!());
        let mut entries: SmallVec<[wgpu::BindGroupEntry<'_>; 6]> = SmallVec::new();
        for (binding, a) in gpu.arg_bindings.iter().zip(&args) {
            entries.push(wgpu::BindGroupEntry {
                binding: *binding,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &a.buffer,
                    offset: 0,
                    size: wgpu::BufferSize::new(a.binding_size()),
                }),
            });
        }
        if gpu.has_uniform {
            let (Some(buf), Some((off, len))) = (&uniform, uniform_offset) else {
                records[i].fail(TaskFailure::Runtime(Box::new(Error::Config(format!(
                    "kernel `{}` expects a uniform but its encoder produced no bytes",
                    kernel.name()
                )))));
                continue;
            };
            entries.push(wgpu::BindGroupEntry {
                binding: gpu.params_binding,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &buf.buffer,
                    offset: off as u64,
                    size: wgpu::BufferSize::new(len as u64),
                }),
            });
        }
        if let (Some(spec), Some((sbuf, _, _)), Some(off)) =
            (&gpu.status, &status, records[i].status_offset)
        {
            entries.push(wgpu::BindGroupEntry {
                binding: gpu.status_binding,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &sbuf.buffer,
                    offset: off as u64,
                    size: wgpu::BufferSize::new(4 * u64::from(spec.words)),
                }),
            });
        }
        let limit = core.limits.max_compute_workgroups_per_dimension;
        if grid.iter().any(|&g| g > limit) {
            records[i].fail(TaskFailure::Runtime(Box::new(Error::Config(format!(
                "kernel `{}` dispatches {grid:?} workgroups; {} allows at most {limit} per dimension",
                kernel.name(),
                core.label
            )))));
            continue;
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.name()),
            layout: &pipeline.layout,
            entries: &entries,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            records[i].fail(TaskFailure::Runtime(Box::new(Error::Gpu(
                GpuError::Validation {
                    device: core.label.clone(),
                    message: e.to_string(),
                },
            ))));
            continue;
        }
        dispatches.push((i, pipeline, bind_group, grid));
    }

    // Pass 3: one compute pass with every dispatch, in order; with a timestamp before the
    // first and after each one where the device can write them inside a pass.
    let runs = dispatches.iter().filter(|d| !d.3.contains(&0)).count() as u32;
    let queries = (runs > 0 && measure && core.has_pass_timestamps()).then(|| {
        device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("tessera job times"),
            ty: wgpu::QueryType::Timestamp,
            count: runs + 1,
        })
    });
    if !dispatches.is_empty() {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("tessera dispatches"),
            timestamp_writes: None,
        });
        let mut q = 0u32;
        if let Some(qs) = &queries {
            pass.write_timestamp(qs, 0);
        }
        for (i, pipeline, bind_group, grid) in &dispatches {
            if grid.contains(&0) {
                continue;
            }
            pass.set_pipeline(&pipeline.pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
            if let Some(qs) = &queries {
                q += 1;
                pass.write_timestamp(qs, q);
                records[*i].query = Some(q);
            }
        }
    }
    let timestamps = queries.map(|qs| {
        let bytes = 8 * u64::from(runs + 1);
        let resolve = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tessera timestamps"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let read = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tessera timestamps (read)"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.resolve_query_set(&qs, 0..runs + 1, &resolve, 0);
        encoder.copy_buffer_to_buffer(&resolve, 0, &read, 0, bytes);
        (read, runs + 1)
    });

    // Pass 4: status words and readbacks to mappable staging buffers.
    if let Some((sbuf, staging, bytes)) = &status {
        encoder.copy_buffer_to_buffer(&sbuf.buffer, 0, &staging.buffer, 0, *bytes as u64);
    }
    let mut rb_records = Vec::with_capacity(readbacks.len());
    for r in readbacks {
        let bytes = r.src.bytes;
        if bytes == 0 {
            r.dst.write().ensure(0);
            r.done.call(Ok(()));
            continue;
        }
        let padded = bytes.next_multiple_of(4);
        match core.pool.acquire(device, Kind::Readback, padded) {
            Ok(staging) => {
                encoder.copy_buffer_to_buffer(&r.src.buffer, 0, &staging.buffer, 0, padded);
                rb_records.push(ReadbackRecord {
                    staging,
                    bytes,
                    dst: r.dst,
                    done: r.done,
                });
            }
            Err(e) => r.done.call(Err(e)),
        }
    }

    belt.finish();
    let command_buffer = encoder.finish();
    if let Some(e) = pollster::block_on(validation.pop()) {
        batch_error.get_or_insert(Error::Gpu(GpuError::Validation {
            device: core.label.clone(),
            message: e.to_string(),
        }));
    }

    let pending = Arc::new(AtomicUsize::new(1));
    let map_error = Arc::new(Mutex::new(None));
    let mut submitted = Instant::now();
    if batch_error.is_none() {
        // Submitting and mapping fail only on a lost device; keep those errors away from the
        // uncaptured-error handler (an embedding application's may panic).
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        submitted = Instant::now();
        core.queue.submit([command_buffer]);
        belt.recall();
        let (p, ev) = (pending.clone(), events.clone());
        core.queue.on_submitted_work_done(move || {
            p.fetch_sub(1, Ordering::AcqRel);
            let _ = ev.send(Event::Progress);
        });
        let maps = rb_records
            .iter()
            .map(|r| (&r.staging.buffer, r.bytes.next_multiple_of(4)))
            .chain(status.iter().map(|(_, s, n)| (&s.buffer, *n as u64)))
            .chain(timestamps.iter().map(|(b, n)| (b, 8 * u64::from(*n))));
        for (buffer, bytes) in maps {
            pending.fetch_add(1, Ordering::AcqRel);
            let (p, ev, err) = (pending.clone(), events.clone(), map_error.clone());
            buffer.map_async(wgpu::MapMode::Read, 0..bytes, move |r| {
                if let Err(e) = r {
                    *err.lock() = Some(e.to_string());
                }
                p.fetch_sub(1, Ordering::AcqRel);
                let _ = ev.send(Event::Progress);
            });
        }
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
        if let Some(e) = validation.or(oom) {
            batch_error.get_or_insert(Error::Gpu(GpuError::Validation {
                device: core.label.clone(),
                message: e.to_string(),
            }));
        }
    } else {
        belt.recall();
        pending.store(0, Ordering::Release);
    }

    if let Some(e) = &batch_error {
        for r in &records {
            r.flag.store(true, Ordering::Release);
        }
        // The scheduler marked inputs of these jobs valid on this device when it launched
        // them; with the batch lost, those claims are false. The device cannot be trusted any
        // more: treat it as lost, which fails its work and keeps new work away from it.
        core.mark_lost(format!("a batch could not be submitted: {e}"));
    }

    Batch {
        jobs: records,
        submitted,
        timestamps,
        readbacks: rb_records,
        prefetches: prefetch_done,
        prefetched,
        status,
        uniform,
        pending,
        map_error,
        batch_error,
    }
}

/// Runs the completion loop until the worker has shut down and every batch is finished.
pub(crate) fn poller_loop(core: Arc<DeviceCore>, events: Receiver<Event>, inflight: Arc<Inflight>) {
    let mut batches: VecDeque<Box<Batch>> = VecDeque::new();
    let mut shutdown = false;
    let mut nap = MIN_NAP;
    // When the previous batch was seen complete: a batch measured by wall time ran from its
    // submission or from then, whichever is later.
    let mut last_done = Instant::now();
    loop {
        // Absorb whatever has arrived.
        loop {
            match events.try_recv() {
                Ok(Event::Submitted(b)) => batches.push_back(b),
                Ok(Event::Progress) => {}
                Ok(Event::Shutdown) => shutdown = true,
                Err(_) => break,
            }
        }
        // Finish completed batches in submission order.
        while batches
            .front()
            .is_some_and(|b| b.pending.load(Ordering::Acquire) == 0)
        {
            let b = batches.pop_front().unwrap_or_else(|| unreachable!());
            last_done = finish(&core, *b, last_done);
            inflight.done();
            nap = MIN_NAP;
        }
        if let Some(reason) = core.lost_reason() {
            // Callbacks of a lost device may never come: fail what is in flight.
            while let Some(b) = batches.pop_front() {
                fail_batch(&core, *b, &reason);
                inflight.done();
            }
        }
        if batches.is_empty() {
            if shutdown {
                break;
            }
            match events.recv() {
                Ok(Event::Submitted(b)) => batches.push_back(b),
                Ok(Event::Progress) => {}
                Ok(Event::Shutdown) => shutdown = true,
                Err(_) => break,
            }
            continue;
        }
        // Non-blocking polls only, never `PollType::Wait`: wgpu-core 30 reads the fence, then
        // retires finished submissions, and asserts that a queue found empty has reached the
        // index waited for. A `queue.submit` on the worker thread (which also retires
        // submissions) landing between the two made that assertion fail and the poller panic
        // (seen about once in 20 test-suite runs on 2 cores; the batches it held were lost and
        // their tasks hung). A poll without a wait index has no such assertion.
        if let Err(e) = core.device.poll(wgpu::PollType::Poll) {
            tracing::debug!(device = %core.label, "poll failed: {e}");
        }
        core.pool.empty_trash();
        if batches
            .front()
            .is_some_and(|b| b.pending.load(Ordering::Acquire) != 0)
        {
            // Callbacks fired by another thread's submit send `Progress` and end the nap early.
            match events.recv_timeout(nap) {
                Ok(Event::Submitted(b)) => batches.push_back(b),
                Ok(Event::Shutdown) => shutdown = true,
                Ok(Event::Progress) => nap = MIN_NAP,
                Err(_) => nap = (nap * 2).min(MAX_NAP),
            }
        }
    }
}

/// Shortest and longest wait between two polls of a busy device: short enough that a chain of
/// small batches is not slowed, long enough that a long batch costs no CPU time to watch.
const MIN_NAP: Duration = Duration::from_micros(20);
const MAX_NAP: Duration = Duration::from_millis(1);

fn fail_batch(core: &DeviceCore, b: Batch, reason: &str) {
    let e = lost_error(core, reason);
    for j in b.jobs {
        j.done
            .call((Err(TaskFailure::Runtime(Box::new(e.clone()))), None));
    }
    for r in b.readbacks {
        r.done.call(Err(e.clone()));
    }
    for p in b.prefetches {
        p.call(Err(e.clone()));
    }
}

/// Finishes a completed batch; returns when it was seen complete.
fn finish(core: &DeviceCore, b: Batch, last_done: Instant) -> Instant {
    // Reading and unmapping on a lost device raise validation errors; they are ours to handle.
    let scope = core.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let done = Instant::now();
    finish_batch(core, b, last_done, done);
    if let Some(e) = pollster::block_on(scope.pop()) {
        tracing::debug!(device = %core.label, "while finishing a batch: {e}");
    }
    done
}

/// Each job's timing: from its timestamps (mapped onto the host clock so that the batch's last
/// timestamp is `done`), or the batch's wall time shared by the jobs' weights.
fn job_timings(
    core: &DeviceCore,
    b: &Batch,
    last_done: Instant,
    done: Instant,
) -> Vec<Option<JobTiming>> {
    let ticks: Option<Vec<u64>> = b.timestamps.as_ref().and_then(|(buf, n)| {
        let v = buf
            .slice(..8 * u64::from(*n))
            .get_mapped_range()
            .ok()
            .map(|v| {
                v.chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect::<Vec<u64>>()
            });
        buf.unmap();
        v
    });
    let period = f64::from(core.queue.get_timestamp_period()) * 1e-9;
    if let Some(t) = ticks.filter(|t| t.windows(2).all(|w| w[0] <= w[1]) && t.len() > 1) {
        let last = t[t.len() - 1];
        let at = |tick: u64| {
            done.checked_sub(Duration::from_secs_f64((last - tick) as f64 * period))
                .unwrap_or(done)
        };
        return b
            .jobs
            .iter()
            .map(|j| {
                j.query.map(|q| JobTiming {
                    start: at(t[q as usize - 1]),
                    end: at(t[q as usize]),
                    exact: true,
                })
            })
            .collect();
    }
    let start = b.submitted.max(last_done);
    let wall = done.saturating_duration_since(start).as_secs_f64();
    let total: f64 = b.jobs.iter().map(|j| j.weight.max(0.0)).sum();
    let mut at = start;
    b.jobs
        .iter()
        .map(|j| {
            let share = if total > 0.0 {
                wall * j.weight.max(0.0) / total
            } else {
                wall / b.jobs.len() as f64
            };
            let end = at + Duration::from_secs_f64(share);
            let t = JobTiming {
                start: at,
                end,
                exact: false,
            };
            at = end;
            Some(t)
        })
        .collect()
}

fn finish_batch(core: &DeviceCore, b: Batch, last_done: Instant, done: Instant) {
    let timings = if b.batch_error.is_none() && core.lost_reason().is_none() {
        job_timings(core, &b, last_done, done)
    } else {
        Vec::new()
    };
    if b.jobs.is_empty() && !b.readbacks.is_empty() && b.batch_error.is_none() {
        // Only copies in this batch: its wall time measures the device-to-host link.
        let bytes: u64 = b.readbacks.iter().map(|r| r.bytes).sum();
        let secs = done.saturating_duration_since(b.submitted).as_secs_f64();
        if let Some(f) = core.on_download.get() {
            f(bytes, secs);
        }
    }
    if b.jobs.is_empty() && b.readbacks.is_empty() && b.batch_error.is_none() {
        // Only prefetched uploads: its wall time measures the host-to-device link.
        let secs = done
            .saturating_duration_since(b.submitted.max(last_done))
            .as_secs_f64();
        if let Some(f) = core.on_upload.get() {
            f(b.prefetched, secs);
        }
    }
    let map_error = b.map_error.lock().take().map(|m| {
        Error::Gpu(GpuError::Map {
            device: core.label.clone(),
            message: m,
        })
    });
    // The batch did not run: it was not submitted, or the device is lost (a lost device accepts
    // submissions and completes them without running them).
    let not_run = b
        .batch_error
        .or_else(|| core.lost_reason().map(|r| lost_error(core, &r)));
    // Results cannot be read back (the work itself ran).
    let unreadable = not_run.clone().or(map_error);
    for p in b.prefetches {
        p.call(not_run.clone().map_or(Ok(()), Err));
    }

    let words: Option<Result<Vec<u32>, Error>> = b.status.as_ref().map(|(_, staging, n)| {
        let w = match &unreadable {
            Some(e) => Err(e.clone()),
            None => staging
                .buffer
                .get_mapped_range(0..*n as u64)
                .map(|v| bytemuck::cast_slice::<u8, u32>(&v).to_vec())
                .map_err(|e| {
                    Error::Gpu(GpuError::Map {
                        device: core.label.clone(),
                        message: e.to_string(),
                    })
                }),
        };
        staging.buffer.unmap();
        w
    });

    for r in b.readbacks {
        let res = match &unreadable {
            Some(e) => Err(e.clone()),
            None => r
                .staging
                .buffer
                .get_mapped_range(0..r.bytes.next_multiple_of(4))
                .map(|v| {
                    let mut dst = r.dst.write();
                    dst.ensure(r.bytes as usize);
                    dst.bytes_mut().copy_from_slice(&v[..r.bytes as usize]);
                })
                .map_err(|e| {
                    Error::Gpu(GpuError::Map {
                        device: core.label.clone(),
                        message: e.to_string(),
                    })
                }),
        };
        // Unmapped whatever happened (a stale mapping would break the buffer's next use); on
        // an unmapped buffer this is a validation error, caught by the caller's scope.
        r.staging.buffer.unmap();
        core.pool.release(r.staging);
        r.done.call(res);
    }

    for (i, j) in b.jobs.into_iter().enumerate() {
        let timing = timings.get(i).copied().flatten();
        let outcome = if let Some(f) = j.failed {
            Err(f)
        } else if let Some(e) = &not_run {
            Err(TaskFailure::Runtime(Box::new(e.clone())))
        } else {
            match (
                j.kernel.gpu().and_then(|g| g.status.as_ref()),
                j.status_offset,
                &words,
            ) {
                (Some(spec), Some(off), Some(Ok(words))) => {
                    let w = &words[off / 4..off / 4 + spec.words as usize];
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (spec.decode)(w)))
                        .unwrap_or_else(|p| {
                            Err(crate::error::KernelError::Panicked(format!(
                                "status decoder: {}",
                                crate::error::panic_message(&*p)
                            )))
                        })
                        .map_err(TaskFailure::Kernel)
                }
                // Its status words could not be read: success is unknown.
                (Some(_), Some(_), Some(Err(e))) => Err(TaskFailure::Runtime(Box::new(e.clone()))),
                _ => Ok(()),
            }
        };
        j.done.call((outcome, timing));
    }

    if let Some(u) = b.uniform {
        core.pool.release(u);
    }
    if let Some((s, staging, _)) = b.status {
        core.pool.release(s);
        core.pool.release(staging);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{JobDone, ReadbackDone};

    #[test]
    fn a_callback_runs_once_with_its_value_or_with_an_error_when_dropped() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let called = ReadbackDone::readback(move |r| {
            assert!(r.is_ok());
            h.fetch_add(1, Ordering::SeqCst);
        });
        called.call(Ok(()));
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "called once, not again on drop"
        );

        let h = hits.clone();
        let lost = JobDone::job(move |r| {
            let e = r.0.expect_err("a dropped job reports an error");
            assert!(e.to_string().contains("dropped"), "{e}");
            h.fetch_add(1, Ordering::SeqCst);
        });
        drop(lost);
        assert_eq!(
            hits.load(Ordering::SeqCst),
            2,
            "a dropped job still completes"
        );
    }
}
