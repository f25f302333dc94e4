//! Tasks, accesses, and task handles.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::data::chunk::{AnyChunk, Chunk, ChunkInner};
use crate::dtype::Element;
use crate::error::{ChunkId, Error, Result, TaskId};
use crate::host::HostBytes;
use crate::kernels::{Cost, KernelCall, Mode, Shape};
use crate::runtime::processor::ProcSet;
use crate::runtime::region::RegionState;

/// One access of a task: a chunk and how it is touched. Built with [`Read`], [`Write`],
/// [`ReadWrite`] (or [`Access::new`] for type-erased chunks).
#[derive(Clone, Debug)]
pub struct Access {
    pub(crate) chunk: AnyChunk,
    pub(crate) mode: Mode,
}

impl Access {
    /// An access to a type-erased chunk.
    pub fn new(chunk: &AnyChunk, mode: Mode) -> Access {
        Access {
            chunk: chunk.clone(),
            mode,
        }
    }

    /// The access mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The chunk.
    pub fn chunk(&self) -> &AnyChunk {
        &self.chunk
    }
}

/// The task reads the chunk.
#[derive(Debug)]
pub struct Read<'a, T>(pub &'a Chunk<T>);
/// The task overwrites every element of the chunk without reading it.
#[derive(Debug)]
pub struct Write<'a, T>(pub &'a Chunk<T>);
/// The task reads and modifies the chunk.
#[derive(Debug)]
pub struct ReadWrite<'a, T>(pub &'a Chunk<T>);

impl<T: Element> From<Read<'_, T>> for Access {
    fn from(a: Read<'_, T>) -> Access {
        Access::new(&a.0.raw, Mode::Read)
    }
}
impl<T: Element> From<Write<'_, T>> for Access {
    fn from(a: Write<'_, T>) -> Access {
        Access::new(&a.0.raw, Mode::Write)
    }
}
impl<T: Element> From<ReadWrite<'_, T>> for Access {
    fn from(a: ReadWrite<'_, T>) -> Access {
        Access::new(&a.0.raw, Mode::ReadWrite)
    }
}

/// Things that can be a task's argument list: one access, a tuple of up to eight, an array, a
/// `Vec<Access>`, or `()`.
pub trait IntoAccesses {
    /// The accesses, in argument order.
    fn into_accesses(self) -> SmallVec<[Access; 4]>;
}

impl IntoAccesses for () {
    fn into_accesses(self) -> SmallVec<[Access; 4]> {
        SmallVec::new()
    }
}
impl IntoAccesses for Access {
    fn into_accesses(self) -> SmallVec<[Access; 4]> {
        smallvec::smallvec![self]
    }
}
impl<T: Element> IntoAccesses for Read<'_, T> {
    fn into_accesses(self) -> SmallVec<[Access; 4]> {
        smallvec::smallvec![self.into()]
    }
}
impl<T: Element> IntoAccesses for Write<'_, T> {
    fn into_accesses(self) -> SmallVec<[Access; 4]> {
        smallvec::smallvec![self.into()]
    }
}
impl<T: Element> IntoAccesses for ReadWrite<'_, T> {
    fn into_accesses(self) -> SmallVec<[Access; 4]> {
        smallvec::smallvec![self.into()]
    }
}
impl IntoAccesses for SmallVec<[Access; 4]> {
    fn into_accesses(self) -> SmallVec<[Access; 4]> {
        self
    }
}
impl IntoAccesses for Vec<Access> {
    fn into_accesses(self) -> SmallVec<[Access; 4]> {
        self.into_iter().collect()
    }
}
impl<const N: usize> IntoAccesses for [Access; N] {
    fn into_accesses(self) -> SmallVec<[Access; 4]> {
        self.into_iter().collect()
    }
}

macro_rules! tuple_accesses {
    ($($name:ident),+) => {
        impl<$($name: Into<Access>),+> IntoAccesses for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_accesses(self) -> SmallVec<[Access; 4]> {
                let ($($name,)+) = self;
                smallvec::smallvec![$($name.into()),+]
            }
        }
    };
}
tuple_accesses!(A);
tuple_accesses!(A, B);
tuple_accesses!(A, B, C);
tuple_accesses!(A, B, C, D);
tuple_accesses!(A, B, C, D, E);
tuple_accesses!(A, B, C, D, E, F);
tuple_accesses!(A, B, C, D, E, F, G);
tuple_accesses!(A, B, C, D, E, F, G, H);

/// An operation run on the host by the runtime itself (reading a chunk into a `Vec`, writing
/// one from a slice). It sees the host replicas of its arguments.
pub(crate) type HostOp =
    Box<dyn FnOnce(&[Arc<parking_lot::RwLock<HostBytes>>]) -> Result<()> + Send>;

pub(crate) enum Work {
    Kernel(KernelCall),
    Host(Mutex<Option<HostOp>>),
}

impl Work {
    pub(crate) fn name(&self) -> &str {
        match self {
            Work::Kernel(c) => c.kernel.name(),
            Work::Host(_) => "host-access",
        }
    }
}

/// What a successor knows about one predecessor.
#[derive(Clone, Debug)]
pub(crate) enum PredState {
    /// Neither finished nor committed to a device stream.
    Pending,
    /// Queued into device `d`'s stream, not yet finished. The flag is set if the device worker
    /// fails it while recording, so that work queued behind it is skipped.
    Committed(usize, Arc<AtomicBool>),
    /// Finished (successfully or not).
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Being spawned: edges are still being added.
    Spawning,
    /// Waiting for predecessors to be committed or finished before placement.
    Waiting,
    /// Placed; waiting for predecessors to finish (or commit on the same device).
    Placed,
    /// Inputs being moved into place.
    Staging,
    /// Handed to a processor (CPU queue or device stream).
    Launched,
    /// Failed or cancelled without running; finishes (with `doomed`) when its predecessors have.
    Doomed,
    /// Finished; `outcome` is set.
    Finished,
}

pub(crate) struct TaskState {
    pub(crate) phase: Phase,
    /// Predecessors not finished.
    pub(crate) unfinished: u32,
    /// Predecessors neither finished nor committed.
    pub(crate) uncommitted: u32,
    pub(crate) preds: SmallVec<[(TaskId, PredState); 4]>,
    pub(crate) succs: SmallVec<[TaskRef; 4]>,
    /// The failed task this one depends on, if any: it will not run.
    pub(crate) poisoned: Option<TaskId>,
    /// Processor index chosen by placement.
    pub(crate) placed: Option<usize>,
    /// Device stream the task was queued into, with its failure flag, once successors may
    /// follow it there.
    pub(crate) committed: Option<(usize, Arc<AtomicBool>)>,
    pub(crate) outcome: Option<Result<(), Error>>,
    pub(crate) wakers: SmallVec<[Waker; 1]>,
    /// Readbacks to host still in flight for this task's inputs.
    pub(crate) fetches: u32,
    /// The first failed readback, reported when the last one is in.
    pub(crate) fetch_error: Option<Error>,
    /// The error of a task that will not run, waiting for its predecessors to finish.
    pub(crate) doomed: Option<Error>,
    /// What placement predicted and charged.
    pub(crate) plan: Plan,
    /// Whether its inputs' prefetch has been started (once, when it is placed and must wait).
    pub(crate) prefetched: bool,
}

/// What placement predicted for a task and charged to processors' backlogs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    /// Predicted seconds on the chosen processor (one slot).
    pub(crate) run: f64,
    /// Whether the prediction came from a calibrated model entry.
    pub(crate) calibrated: bool,
    /// Whether it was placed to calibrate the model there (its entry had too few samples).
    pub(crate) exploring: bool,
    /// Measurements the model had for it there when it was placed.
    pub(crate) samples: u64,
    /// Nanoseconds added to processors' backlogs, to take off when it finishes.
    pub(crate) charges: SmallVec<[(usize, u64); 2]>,
}

pub(crate) struct Task {
    pub(crate) id: TaskId,
    pub(crate) work: Work,
    /// The arguments; taken when the task finishes so chunks and tasks do not keep each other
    /// alive.
    pub(crate) args: Mutex<Args>,
    pub(crate) shapes: SmallVec<[Shape; 4]>,
    pub(crate) chunk_ids: SmallVec<[ChunkId; 4]>,
    pub(crate) modes: SmallVec<[Mode; 4]>,
    pub(crate) scope: ProcSet,
    /// Among ready tasks on a processor, higher runs first. Set at spawn, and raised by a
    /// region's bottom-level pass when it releases its tasks.
    pub(crate) priority: std::sync::atomic::AtomicI64,
    pub(crate) cost: Cost,
    /// The performance model's key for (kernel, shapes).
    pub(crate) model_key: u64,
    pub(crate) region: Option<Arc<RegionState>>,
    /// Set once the task's failure has been reported to the user; after that it no longer
    /// cancels tasks spawned later.
    pub(crate) ack: Arc<AtomicBool>,
    pub(crate) state: Mutex<TaskState>,
    /// Set (after `state.phase` becomes `Finished`) for lock-free checks.
    pub(crate) finished: AtomicBool,
}

pub(crate) type TaskRef = Arc<Task>;

/// A task's arguments: chunks and access modes, in order.
pub(crate) type Args = SmallVec<[(Arc<ChunkInner>, Mode); 4]>;

impl Task {
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    pub(crate) fn name(&self) -> &str {
        self.work.name()
    }

    pub(crate) fn priority(&self) -> i64 {
        self.priority.load(Ordering::Relaxed)
    }

    /// The task's outcome once finished, registering `waker` otherwise.
    pub(crate) fn poll_outcome(&self, waker: &Waker) -> Option<Result<(), Error>> {
        let mut s = self.state.lock();
        match &s.outcome {
            Some(o) => Some(o.clone()),
            None => {
                if !s.wakers.iter().any(|w| w.will_wake(waker)) {
                    s.wakers.push(waker.clone());
                }
                None
            }
        }
    }
}

/// A handle to an eagerly spawned task. It is a [`Future`] of the task's result, and can also be
/// waited on by blocking.
///
/// Dropping the handle detaches the task: it still runs, and a failure is logged.
#[must_use = "a dropped handle detaches the task; call wait() to see its result"]
pub struct TaskHandle<R = ()> {
    pub(crate) task: TaskRef,
    pub(crate) output: Arc<Mutex<Option<R>>>,
}

impl<R> TaskHandle<R> {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.task.id
    }

    /// Whether the task has finished (successfully or not).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Blocks until the task has finished and returns its result.
    ///
    /// # Errors
    /// The task's failure ([`Error::Task`]) or cancellation ([`Error::Cancelled`]).
    pub fn wait(&self) -> Result<()> {
        let r = futures::executor::block_on(OutcomeFuture(&self.task));
        self.task.ack.store(true, Ordering::Release);
        r
    }

    /// Blocks until the task has finished and returns its output.
    ///
    /// # Errors
    /// As [`TaskHandle::wait`].
    pub fn fetch(self) -> Result<R> {
        self.wait()?;
        Ok(self
            .output
            .lock()
            .take()
            .unwrap_or_else(|| unreachable!("a successful task has an output")))
    }
}

impl<R> Drop for TaskHandle<R> {
    fn drop(&mut self) {
        self.task.ack.store(true, Ordering::Release);
    }
}

impl<R> std::fmt::Debug for TaskHandle<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TaskHandle({}, `{}`)", self.task.id, self.task.name())
    }
}

struct OutcomeFuture<'a>(&'a Task);

impl Future for OutcomeFuture<'_> {
    type Output = Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.0.poll_outcome(cx.waker()) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

impl<R: Unpin> Future for TaskHandle<R> {
    type Output = Result<R>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<R>> {
        match self.task.poll_outcome(cx.waker()) {
            None => Poll::Pending,
            Some(r) => {
                self.task.ack.store(true, Ordering::Release);
                Poll::Ready(r.map(|()| {
                    self.output
                        .lock()
                        .take()
                        .unwrap_or_else(|| unreachable!("a successful task has an output"))
                }))
            }
        }
    }
}
