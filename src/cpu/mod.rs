//! The CPU processor: a rayon pool with a priority-ordered ready queue, and the CPU halves of
//! the built-in kernels.
//!
//! Ready tasks wait in one priority heap; up to one drainer job per pool thread pops the
//! highest-priority task, runs it, and repeats until the heap is empty.

pub(crate) mod dense;
pub(crate) mod elementwise;
pub(crate) mod fft;
pub(crate) mod getrf;
pub(crate) mod laswp;
pub(crate) mod qr;

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// A ready task; called with the number of pool threads it may use.
type Job = Box<dyn FnOnce(usize) + Send>;

struct Ready {
    priority: i64,
    seq: u64,
    job: Job,
}

impl PartialEq for Ready {
    fn eq(&self, o: &Self) -> bool {
        self.priority == o.priority && self.seq == o.seq
    }
}
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ready {
    /// Higher priority first, then earlier submission.
    fn cmp(&self, o: &Self) -> Ordering {
        self.priority
            .cmp(&o.priority)
            .then_with(|| o.seq.cmp(&self.seq))
    }
}

pub(crate) struct CpuPool {
    pool: rayon::ThreadPool,
    shared: Arc<Queue>,
    threads: usize,
}

/// The ready heap and the number of drainers working on it.
struct Queue {
    ready: Mutex<BinaryHeap<Ready>>,
    drainers: AtomicUsize,
    threads: usize,
}

impl Queue {
    /// Runs ready jobs, highest priority first, until none is left.
    fn drain(self: &Arc<Self>) {
        loop {
            let (next, alone) = {
                let mut ready = self.ready.lock();
                let next = ready.pop();
                (next, ready.is_empty())
            };
            match next {
                Some(r) => {
                    // The only ready task, with no other drainer busy: it may use the whole pool
                    // (its kernel's own parallelism steals onto the idle threads).
                    let threads = if alone && self.drainers.load(AtomicOrdering::Acquire) == 1 {
                        self.threads
                    } else {
                        1
                    };
                    (r.job)(threads)
                }
                None => {
                    self.drainers.fetch_sub(1, AtomicOrdering::AcqRel);
                    // A job pushed after the pop above but before the decrement saw every
                    // drainer busy and started none: look again before leaving.
                    if self.ready.lock().is_empty() {
                        return;
                    }
                    if self.drainers.fetch_add(1, AtomicOrdering::AcqRel) >= self.threads {
                        // Others are draining (and will find the job).
                        self.drainers.fetch_sub(1, AtomicOrdering::AcqRel);
                        return;
                    }
                }
            }
        }
    }
}

impl CpuPool {
    pub(crate) fn new(threads: usize) -> Result<CpuPool> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("tessera-cpu-{i}"))
            .start_handler(|_| crate::threads::mark_runtime_thread())
            .build()
            .map_err(|e| Error::Config(format!("cannot start {threads} CPU threads: {e}")))?;
        let threads = pool.current_num_threads();
        Ok(CpuPool {
            threads,
            pool,
            shared: Arc::new(Queue {
                ready: Mutex::new(BinaryHeap::new()),
                drainers: AtomicUsize::new(0),
                threads,
            }),
        })
    }

    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Queues `job`; it runs on a pool thread when it is the highest-priority ready job.
    ///
    /// Rather than one rayon job per task, up to one *drainer* per thread pops ready jobs until
    /// the heap is empty, so a stream of small tasks costs no thread wake-ups.
    pub(crate) fn push(&self, priority: i64, seq: u64, job: impl FnOnce(usize) + Send + 'static) {
        self.shared.ready.lock().push(Ready {
            priority,
            seq,
            job: Box::new(job),
        });
        let q = &self.shared;
        let mut active = q.drainers.load(AtomicOrdering::Acquire);
        while active < q.threads {
            match q.drainers.compare_exchange_weak(
                active,
                active + 1,
                AtomicOrdering::AcqRel,
                AtomicOrdering::Acquire,
            ) {
                Ok(_) => {
                    let q = q.clone();
                    self.pool.spawn(move || q.drain());
                    return;
                }
                Err(now) => active = now,
            }
        }
    }
}
