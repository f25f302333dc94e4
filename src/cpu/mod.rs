//! The CPU processor: a rayon pool with a priority-ordered ready queue, and the CPU halves of
//! the built-in kernels.
//!
//! Each ready task becomes one rayon job; the job pops the highest-priority ready task when it
//! starts, not necessarily the one that spawned it, so priorities hold across the pool.

pub(crate) mod elementwise;

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

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
    ready: Arc<Mutex<BinaryHeap<Ready>>>,
    threads: usize,
}

impl CpuPool {
    pub(crate) fn new(threads: usize) -> Result<CpuPool> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("tessera-cpu-{i}"))
            .start_handler(|_| crate::threads::mark_runtime_thread())
            .build()
            .map_err(|e| Error::Config(format!("cannot start {threads} CPU threads: {e}")))?;
        Ok(CpuPool {
            threads: pool.current_num_threads(),
            pool,
            ready: Arc::new(Mutex::new(BinaryHeap::new())),
        })
    }

    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Queues `job`; it runs on a pool thread when it is the highest-priority ready job.
    pub(crate) fn push(&self, priority: i64, seq: u64, job: impl FnOnce() + Send + 'static) {
        self.ready.lock().push(Ready {
            priority,
            seq,
            job: Box::new(job),
        });
        let ready = self.ready.clone();
        self.pool.spawn(move || {
            let next = ready.lock().pop();
            if let Some(r) = next {
                (r.job)();
            }
        });
    }
}
