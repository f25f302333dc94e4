//! Records a real run into a [`Trace`] when tracing is on (`RuntimeBuilder::trace`,
//! `TESSERA_TRACE=1`). Off, the scheduler pays one branch per event.

use std::time::Instant;

use parking_lot::Mutex;

use crate::trace::{Choice, Decision, Eviction, Lane, Place, TaskSpan, Trace, TransferSpan};

/// Most placement decisions kept (the rest are counted, not stored).
const MAX_DECISIONS: usize = 200_000;

pub(crate) struct Recorder {
    t0: Mutex<Instant>,
    trace: Mutex<Trace>,
}

impl Recorder {
    pub(crate) fn new(lanes: Vec<Lane>) -> Recorder {
        Recorder {
            t0: Mutex::new(Instant::now()),
            trace: Mutex::new(Trace {
                lanes,
                ..Trace::default()
            }),
        }
    }

    /// Seconds since the trace began (negative for instants before a `clear`).
    pub(crate) fn secs(&self, t: Instant) -> f64 {
        let t0 = *self.t0.lock();
        if t >= t0 {
            t.duration_since(t0).as_secs_f64()
        } else {
            -t0.duration_since(t).as_secs_f64()
        }
    }

    pub(crate) fn now(&self) -> f64 {
        self.secs(Instant::now())
    }

    pub(crate) fn task(&self, span: TaskSpan) {
        self.trace.lock().tasks.push(span);
    }

    pub(crate) fn edge(&self, pred: u64, succ: u64) {
        self.trace.lock().edges.push((pred, succ));
    }

    pub(crate) fn transfer(
        &self,
        chunk: u64,
        bytes: u64,
        from: Place,
        to: Place,
        start: f64,
        end: f64,
    ) {
        self.trace.lock().transfers.push(TransferSpan {
            chunk,
            bytes,
            from,
            to,
            start,
            end,
        });
    }

    /// A copy of `c` from device `d` to the host, asked for at `asked`, has landed now.
    pub(crate) fn readback(&self, c: &crate::data::chunk::ChunkInner, d: usize, asked: Instant) {
        let (start, end) = (self.secs(asked), self.now());
        self.transfer(
            c.id.0,
            c.bytes() as u64,
            Place::Device(d),
            Place::Host,
            start,
            end,
        );
    }

    pub(crate) fn eviction(&self, chunk: u64, device: usize, bytes: u64, dirty: bool) {
        let time = self.now();
        self.trace.lock().evictions.push(Eviction {
            chunk,
            device,
            bytes,
            dirty,
            time,
        });
    }

    pub(crate) fn decision(
        &self,
        task: u64,
        chosen: usize,
        priority: i64,
        candidates: Vec<Choice>,
    ) {
        let time = self.now();
        let mut t = self.trace.lock();
        if t.decisions.len() < MAX_DECISIONS {
            t.decisions.push(Decision {
                task,
                time,
                chosen,
                priority,
                candidates,
            });
        }
    }

    /// A copy of what was recorded so far.
    pub(crate) fn snapshot(&self) -> Trace {
        self.trace.lock().clone()
    }

    /// Forgets everything recorded; times restart from now.
    pub(crate) fn clear(&self) {
        let mut t = self.trace.lock();
        let lanes = std::mem::take(&mut t.lanes);
        *t = Trace {
            lanes,
            ..Trace::default()
        };
        *self.t0.lock() = Instant::now();
    }
}
