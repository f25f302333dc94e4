//! Datadeps regions: a sequence of tasks whose dependencies are derived from their accesses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, KernelError, Result, TaskId};
use crate::kernels::{CpuTask, KernelCall};
use crate::runtime::Runtime;
use crate::runtime::processor::ProcSet;
use crate::runtime::scope::Scope;
use crate::runtime::task::IntoAccesses;

/// Completion bookkeeping of one region.
pub(crate) struct RegionState {
    outstanding: Mutex<usize>,
    cv: Condvar,
    /// The error to report: the earliest-spawned failure, preferring real failures over
    /// cancellations.
    error: Mutex<Option<(bool, TaskId, Error)>>,
    pub(crate) ack: Arc<AtomicBool>,
}

impl RegionState {
    pub(crate) fn new() -> Self {
        RegionState {
            outstanding: Mutex::new(0),
            cv: Condvar::new(),
            error: Mutex::new(None),
            ack: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn task_spawned(&self) {
        *self.outstanding.lock() += 1;
    }

    pub(crate) fn task_finished(&self, id: TaskId, outcome: &Result<()>) {
        if let Err(e) = outcome {
            let cancelled = matches!(e, Error::Cancelled { .. });
            let mut slot = self.error.lock();
            let better = match &*slot {
                None => true,
                Some((c, i, _)) => (!cancelled && *c) || (cancelled == *c && id < *i),
            };
            if better {
                *slot = Some((cancelled, id, e.clone()));
            }
        }
        let mut n = self.outstanding.lock();
        *n -= 1;
        if *n == 0 {
            self.cv.notify_all();
        }
    }

    /// Waits for every task of the region, then acknowledges its failures.
    pub(crate) fn wait(&self) -> Result<()> {
        let mut n = self.outstanding.lock();
        while *n > 0 {
            self.cv.wait(&mut n);
        }
        drop(n);
        self.ack.store(true, Ordering::Release);
        match self.error.lock().take() {
            Some((_, _, e)) => Err(e),
            None => Ok(()),
        }
    }
}

/// A datadeps region being recorded. Tasks spawned into it start as soon as their dependencies
/// allow, while the region is still being recorded; [`Runtime::datadeps`] returns when all have
/// finished.
pub struct Region<'rt> {
    pub(crate) rt: &'rt Runtime,
    pub(crate) state: Arc<RegionState>,
    pub(crate) scope: Scope,
    pub(crate) procs: ProcSet,
}

impl Region<'_> {
    /// Spawns `call` with `accesses` under the region's scope, ordered after every earlier task
    /// that touches the same chunks in a conflicting way.
    ///
    /// # Panics
    /// If the accesses do not match the kernel's signature in number or mode, or one chunk is
    /// both written and accessed again by the same task.
    #[track_caller]
    pub fn spawn(&self, call: impl Into<KernelCall>, accesses: impl IntoAccesses) -> TaskId {
        self.task(call).spawn(accesses)
    }

    /// Starts a task with options (scope, priority).
    pub fn task(&self, call: impl Into<KernelCall>) -> RegionTask<'_, '_> {
        RegionTask {
            region: self,
            call: call.into(),
            scope: None,
            priority: 0,
        }
    }

    /// Spawns a one-off CPU closure as a task. It sees its arguments like a CPU kernel does.
    #[track_caller]
    pub fn spawn_cpu(
        &self,
        name: &str,
        accesses: impl IntoAccesses,
        f: impl FnOnce(&mut CpuTask<'_>) -> Result<(), KernelError> + Send + 'static,
    ) -> TaskId {
        let accesses = accesses.into_accesses();
        let call = crate::runtime::closure_kernel(name, &accesses, f);
        self.task(call.0).spawn(accesses)
    }

    /// The region's scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

/// A task being configured inside a region.
#[must_use = "call .spawn(accesses) to submit the task"]
pub struct RegionTask<'r, 'rt> {
    region: &'r Region<'rt>,
    call: KernelCall,
    scope: Option<Scope>,
    priority: i64,
}

impl RegionTask<'_, '_> {
    /// Restricts the task to `scope` (intersected with the region's scope).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Sets the priority: among ready tasks on a processor, higher runs first.
    pub fn priority(mut self, priority: i64) -> Self {
        self.priority = priority;
        self
    }

    /// Submits the task.
    ///
    /// # Panics
    /// As [`Region::spawn`].
    #[track_caller]
    pub fn spawn(self, accesses: impl IntoAccesses) -> TaskId {
        let r = self.region;
        let (procs, scope) = match &self.scope {
            Some(s) => (
                s.resolve(&r.rt.shared().procs).and(r.procs),
                r.scope.clone().and(s.clone()),
            ),
            None => (r.procs, r.scope.clone()),
        };
        let t = r.rt.shared().submit(crate::runtime::sched::TaskSpec {
            work: crate::runtime::task::Work::Kernel(self.call),
            accesses: accesses.into_accesses(),
            procs,
            scope: &scope,
            priority: self.priority,
            region: Some(r.state.clone()),
            ack: r.state.ack.clone(),
            hold: true,
        });
        t.id
    }
}
