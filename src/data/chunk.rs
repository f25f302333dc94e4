//! Chunks: handles to tiles, with one replica per memory space and MSI coherence.
//!
//! A chunk's value lives in at most one replica per memory space (host, each device). Each replica
//! is `Modified` (the only valid copy, newer than the others), `Shared` (valid, others may be too)
//! or `Invalid`. Replicas are allocated when first needed. A chunk made by [`Chunk::zeros`] starts
//! with no replica at all and a `zero` flag: the first reader materialises zeros where it runs
//! (a `clear_buffer` on a GPU, no upload).
//!
//! The chunk also holds its datadeps frontier (last writer, readers since), which is how
//! dependencies are derived in submission order across regions and eager tasks.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use smallvec::SmallVec;

use crate::dtype::{DType, Element};
use crate::error::{ChunkId, Error};
use crate::gpu::PooledBuffer;
use crate::host::HostBytes;
use crate::kernels::Shape;
use crate::runtime::Runtime;
use crate::runtime::task::TaskRef;

/// The state of one replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub enum ReplicaState {
    /// Not valid (possibly not even allocated).
    #[default]
    Invalid,
    /// Valid; other memory spaces may hold valid copies too.
    Shared,
    /// The only valid copy.
    Modified,
}

impl ReplicaState {
    /// Whether the replica holds the current value.
    pub fn is_valid(self) -> bool {
        self != ReplicaState::Invalid
    }
}

/// Where a chunk's value currently lives (for inspection and tests).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Residency {
    /// The host replica.
    pub host: ReplicaState,
    /// Device replicas, by device index.
    pub devices: Vec<ReplicaState>,
    /// Whether the value is all zeros and not materialised anywhere yet.
    pub zero: bool,
}

pub(crate) struct DevReplica {
    pub(crate) state: ReplicaState,
    pub(crate) buf: Option<PooledBuffer>,
    /// Jobs queued or running on the device that use the buffer: it may not be evicted.
    pub(crate) pins: u32,
}

/// Datadeps frontier of a chunk: the last writer, and the readers spawned since.
pub(crate) struct Deps {
    pub(crate) last_writer: Option<TaskRef>,
    pub(crate) readers: SmallVec<[TaskRef; 4]>,
    /// Length of `readers` at which finished readers are next pruned.
    pub(crate) prune_at: usize,
}

impl Default for Deps {
    fn default() -> Self {
        Deps {
            last_writer: None,
            readers: SmallVec::new(),
            prune_at: 8,
        }
    }
}

pub(crate) type FetchWaiter = Box<dyn FnOnce(Result<(), Error>) + Send>;

/// Coherence state of a chunk's replicas.
pub(crate) struct Coherence {
    pub(crate) host: ReplicaState,
    pub(crate) zero: bool,
    pub(crate) dev: SmallVec<[DevReplica; 2]>,
    /// Tasks waiting for a readback to host that is in flight.
    pub(crate) fetching: Option<Vec<FetchWaiter>>,
    /// Incremented by every write commit: an eviction's write-back only counts if no write
    /// was committed while it was in flight.
    pub(crate) version: u64,
}

impl Coherence {
    pub(crate) fn dev_state(&self, d: usize) -> ReplicaState {
        self.dev.get(d).map_or(ReplicaState::Invalid, |r| r.state)
    }

    pub(crate) fn dev_mut(&mut self, d: usize) -> &mut DevReplica {
        while self.dev.len() <= d {
            self.dev.push(DevReplica {
                state: ReplicaState::Invalid,
                buf: None,
                pins: 0,
            });
        }
        &mut self.dev[d]
    }

    /// A device holding a valid replica, if any.
    pub(crate) fn valid_device(&self) -> Option<usize> {
        self.dev.iter().position(|r| r.state.is_valid())
    }

    /// Whether `space` (None = host) holds the current value or can produce it without a
    /// transfer from another device (host valid, or all zeros).
    pub(crate) fn valid_in(&self, space: Option<usize>) -> bool {
        match space {
            None => self.host.is_valid(),
            Some(d) => self.dev_state(d).is_valid(),
        }
    }

    pub(crate) fn residency(&self) -> Residency {
        Residency {
            host: self.host,
            devices: self.dev.iter().map(|r| r.state).collect(),
            zero: self.zero,
        }
    }
}

pub(crate) struct ChunkInner {
    pub(crate) id: ChunkId,
    pub(crate) shape: Shape,
    pub(crate) rt: Runtime,
    pub(crate) host: Arc<RwLock<HostBytes>>,
    pub(crate) deps: Mutex<Deps>,
    pub(crate) coh: Mutex<Coherence>,
}

impl ChunkInner {
    pub(crate) fn bytes(&self) -> usize {
        self.shape.bytes()
    }
}

impl Drop for ChunkInner {
    fn drop(&mut self) {
        let coh = self.coh.get_mut();
        for (d, r) in coh.dev.iter_mut().enumerate() {
            if let Some(b) = r.buf.take() {
                self.rt.shared().devices[d].release(b);
            }
        }
    }
}

static NEXT_CHUNK: AtomicU64 = AtomicU64::new(1);

pub(crate) fn new_inner(rt: &Runtime, shape: Shape, host: Option<HostBytes>) -> Arc<ChunkInner> {
    let valid = host.is_some();
    Arc::new(ChunkInner {
        id: ChunkId(NEXT_CHUNK.fetch_add(1, Ordering::Relaxed)),
        shape,
        rt: rt.clone(),
        host: Arc::new(RwLock::new(host.unwrap_or_default())),
        deps: Mutex::new(Deps::default()),
        coh: Mutex::new(Coherence {
            host: if valid {
                ReplicaState::Modified
            } else {
                ReplicaState::Invalid
            },
            zero: !valid,
            dev: SmallVec::new(),
            fetching: None,
            version: 0,
        }),
    })
}

/// A chunk whose only valid replica is `buf` on device `d` (an application's buffer).
pub(crate) fn new_inner_on_device(
    rt: &Runtime,
    shape: Shape,
    d: usize,
    buf: PooledBuffer,
) -> Arc<ChunkInner> {
    let inner = new_inner(rt, shape, None);
    {
        let mut coh = inner.coh.lock();
        coh.zero = false;
        let r = coh.dev_mut(d);
        r.state = ReplicaState::Modified;
        r.buf = Some(buf);
    }
    inner
}

/// A type-erased chunk handle, for code that handles chunks of several element types.
#[derive(Clone)]
pub struct AnyChunk(pub(crate) Arc<ChunkInner>);

impl AnyChunk {
    /// The chunk's id.
    pub fn id(&self) -> ChunkId {
        self.0.id
    }

    /// Rows, columns and element type.
    pub fn shape(&self) -> Shape {
        self.0.shape
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.0.shape.dtype
    }

    /// The typed handle, if the chunk holds `T`.
    pub fn downcast<T: Element>(&self) -> Option<Chunk<T>> {
        (self.dtype() == T::DTYPE).then(|| Chunk {
            raw: self.clone(),
            _t: PhantomData,
        })
    }

    /// Where the value currently lives.
    pub fn residency(&self) -> Residency {
        self.0.coh.lock().residency()
    }
}

impl fmt::Debug for AnyChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.shape;
        write!(f, "{}({}x{} {})", self.0.id, s.rows, s.cols, s.dtype)
    }
}

/// A handle to a `rows x cols` column-major tile of `T`: the unit of data tasks access.
///
/// Cloning is cheap and yields another handle to the same tile. The value lives wherever it was
/// last written (host or a device) until something reads it elsewhere; [`Chunk::to_vec`] brings
/// it to the host, waiting for pending writers first.
///
/// ```
/// use tessera::{Chunk, Runtime};
/// let rt = Runtime::builder().cpu_only().build()?;
/// let c = Chunk::from_vec(&rt, 2, 2, vec![1.0f64, 2.0, 3.0, 4.0]);
/// assert_eq!((c.rows(), c.cols()), (2, 2));
/// assert_eq!(c.to_vec()?, vec![1.0, 2.0, 3.0, 4.0]);
/// # Ok::<(), tessera::Error>(())
/// ```
pub struct Chunk<T> {
    pub(crate) raw: AnyChunk,
    pub(crate) _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Chunk<T> {
    fn clone(&self) -> Self {
        Chunk {
            raw: self.raw.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Chunk<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

impl<T: Element> Chunk<T> {
    /// A chunk holding `data` (column-major, `rows * cols` elements) in host memory.
    ///
    /// # Panics
    /// If `data.len() != rows * cols`.
    #[track_caller]
    pub fn from_vec(rt: &Runtime, rows: usize, cols: usize, data: Vec<T>) -> Chunk<T> {
        Self::from_slice(rt, rows, cols, &data)
    }

    /// A chunk holding a copy of `data` (column-major, `rows * cols` elements).
    ///
    /// # Panics
    /// If `data.len() != rows * cols`.
    #[track_caller]
    pub fn from_slice(rt: &Runtime, rows: usize, cols: usize, data: &[T]) -> Chunk<T> {
        assert_eq!(
            data.len(),
            rows * cols,
            "a {rows}x{cols} chunk needs {} elements, got {}",
            rows * cols,
            data.len()
        );
        Chunk::wrap(new_inner(
            rt,
            Self::shape_of(rows, cols),
            Some(HostBytes::from_slice(data)),
        ))
    }

    /// A chunk of zeros. Nothing is allocated until a task touches it, and a GPU that reads it
    /// first clears its buffer instead of receiving an upload.
    pub fn zeros(rt: &Runtime, rows: usize, cols: usize) -> Chunk<T> {
        Chunk::wrap(new_inner(rt, Self::shape_of(rows, cols), None))
    }

    fn shape_of(rows: usize, cols: usize) -> Shape {
        Shape {
            rows,
            cols,
            dtype: T::DTYPE,
        }
    }

    pub(crate) fn wrap(inner: Arc<ChunkInner>) -> Chunk<T> {
        Chunk {
            raw: AnyChunk(inner),
            _t: PhantomData,
        }
    }

    /// The chunk's id (used in error messages).
    pub fn id(&self) -> ChunkId {
        self.raw.id()
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.raw.0.shape.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.raw.0.shape.cols
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.raw.0.shape.len()
    }

    /// Whether the chunk has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The type-erased handle.
    pub fn as_any(&self) -> &AnyChunk {
        &self.raw
    }

    /// Where the value currently lives (a snapshot; pending tasks may change it).
    pub fn residency(&self) -> Residency {
        self.raw.residency()
    }

    /// The runtime the chunk belongs to.
    pub fn runtime(&self) -> &Runtime {
        &self.raw.0.rt
    }
}
