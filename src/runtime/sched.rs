//! The scheduler: dependency derivation, placement, staging of inputs, launch, completion.
//!
//! A task moves through `Spawning -> Waiting -> Placed -> Staging -> Launched -> Finished`
//! (DESIGN.md, section 3, has the argument). The two counters that drive it:
//! - `uncommitted`: predecessors neither finished nor recorded into a device stream. At zero
//!   the task is placed: every predecessor's writes are already reflected in the coherence state.
//! - `unfinished`: predecessors not finished. A task placed on GPU `d` may launch once every
//!   unfinished predecessor is committed to `d` (queue order keeps it correct); elsewhere it
//!   waits for all to finish.
//!
//! Locks nest in one order only: chunk `deps` -> predecessor state -> successor state, and
//! chunk `coh` -> task state (staging counts the readbacks it waits for). Nothing holds a task's
//! state while taking a chunk lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};
use smallvec::SmallVec;

use crate::cpu::CpuPool;
use crate::data::chunk::{ChunkInner, ReplicaState};
use crate::error::{Error, TaskError, TaskFailure, TaskId};
use crate::gpu::{BufRef, GpuDevice, GpuJob, Readback, Upload};
use crate::kernels::{CpuTask, KernelCall, Launch, Mode, Slot};
use crate::runtime::perf::{CALIBRATED, ProcPerf};
use crate::runtime::placement::{Candidate, Placement, PlacementQuery};
use crate::runtime::processor::{ProcSet, Processor, ProcessorInfo};
use crate::runtime::recorder::Recorder;
use crate::runtime::region::RegionState;
use crate::runtime::scope::Scope;
use crate::runtime::task::{Access, Args, Phase, Plan, PredState, Task, TaskRef, TaskState, Work};
use crate::trace::{Choice, Place, TaskSpan};
use std::time::Instant;

/// Processor index used for host-access tasks (run inline, never placed).
pub(crate) const HOST: usize = 64;

/// Everything needed to create a task.
pub(crate) struct TaskSpec<'a> {
    pub(crate) work: Work,
    pub(crate) accesses: SmallVec<[Access; 4]>,
    /// Processors allowed by the scope (already resolved).
    pub(crate) procs: ProcSet,
    /// The scope as written, for messages.
    pub(crate) scope: &'a Scope,
    pub(crate) priority: i64,
    pub(crate) region: Option<Arc<RegionState>>,
    pub(crate) ack: Arc<AtomicBool>,
    /// Hold the task after deriving its dependencies, until [`Shared::release_held`] gives
    /// it a bottom-level priority (region tasks).
    pub(crate) hold: bool,
}

/// The runtime's shared state.
pub(crate) struct Shared {
    /// Processor table: index 0 is the CPU (`None` when disabled), `d + 1` is GPU `d`.
    pub(crate) procs: Vec<Option<ProcessorInfo>>,
    pub(crate) devices: Vec<Arc<GpuDevice>>,
    pub(crate) cpu: CpuPool,
    pub(crate) placement: Box<dyn Placement>,
    /// The performance model of each processor (index 0 is the CPU's, even when disabled).
    /// Virtual devices of one adapter share theirs.
    pub(crate) perf: Vec<Arc<ProcPerf>>,
    /// Records the run when tracing is on.
    pub(crate) trace: Option<Recorder>,
    /// Whether placed tasks prefetch their inputs ([`RuntimeBuilder::prefetch`](crate::RuntimeBuilder::prefetch)).
    pub(crate) prefetch: bool,
    /// When set, tasks are recorded into a graph and finish at once without running
    /// ([`crate::sim::record`]).
    pub(crate) recording: Option<Mutex<Recording>>,
    /// Region tasks spawned but not yet released (see `release_held`).
    held: Mutex<Vec<TaskRef>>,
    /// Memory budget and replica LRU of each device.
    pub(crate) residency: Vec<crate::runtime::residency::Residency>,
    /// Predicted nanoseconds of work placed and unfinished, per processor.
    backlog: Vec<AtomicU64>,
    /// Tasks finished, per processor (host-access tasks are not counted).
    pub(crate) tasks_run: Vec<AtomicU64>,
    /// Tasks finished in any way (run, failed, cancelled), host-access tasks included.
    pub(crate) finished: AtomicU64,
    next_task: AtomicU64,
    outstanding: Mutex<usize>,
    idle: Condvar,
    /// Unfinished tasks, kept only for stall reports (`TESSERA_STALL_REPORT`).
    pub(crate) live: Option<crate::runtime::stall::LiveTasks>,
}

impl Shared {
    pub(crate) fn new(
        procs: Vec<Option<ProcessorInfo>>,
        devices: Vec<Arc<GpuDevice>>,
        cpu: CpuPool,
        placement: Box<dyn Placement>,
        perf: Vec<Arc<ProcPerf>>,
    ) -> Shared {
        let n = procs.len();
        Shared {
            procs,
            devices,
            cpu,
            placement,
            perf,
            trace: None,
            prefetch: true,
            residency: Vec::new(),
            recording: None,
            held: Mutex::new(Vec::new()),
            backlog: (0..n).map(|_| AtomicU64::new(0)).collect(),
            tasks_run: (0..n).map(|_| AtomicU64::new(0)).collect(),
            finished: AtomicU64::new(0),
            next_task: AtomicU64::new(1),
            outstanding: Mutex::new(0),
            idle: Condvar::new(),
            live: None,
        }
    }

    /// Number of unfinished tasks.
    pub(crate) fn outstanding(&self) -> usize {
        *self.outstanding.lock()
    }

    /// Blocks until no task is unfinished.
    pub(crate) fn wait_idle(&self) {
        let mut n = self.outstanding.lock();
        while *n > 0 {
            self.idle.wait(&mut n);
        }
    }

    // ---------------------------------------------------------------- spawning

    /// Creates a task, derives its dependencies and sets it going.
    #[track_caller]
    pub(crate) fn submit(self: &Arc<Self>, spec: TaskSpec<'_>) -> TaskRef {
        let id = TaskId(self.next_task.fetch_add(1, Ordering::Relaxed));
        let shapes: SmallVec<[_; 4]> = spec.accesses.iter().map(|a| a.chunk.shape()).collect();
        let modes: SmallVec<[Mode; 4]> = spec.accesses.iter().map(|a| a.mode).collect();
        check_aliasing(&spec);

        let mut reject: Option<TaskFailure> = None;
        let mut procs = ProcSet::EMPTY;
        let mut cost = Default::default();
        let mut model_key = 0;
        match &spec.work {
            Work::Kernel(call) => {
                check_signature(call, &spec.accesses);
                let launch = Launch {
                    shapes: &shapes,
                    params: &call.params,
                };
                if let Some(e) = check_types(call, &spec.accesses) {
                    reject = Some(TaskFailure::Runtime(Box::new(e)));
                } else if let Err(e) = call.kernel.check(&launch) {
                    reject = Some(TaskFailure::Kernel(e));
                } else {
                    cost = call.kernel.cost(&launch);
                    model_key = crate::runtime::perf::key_of(call.kernel.name(), &shapes);
                    let (ok, why) = self.capable(call, &shapes, spec.procs);
                    procs = ok;
                    if procs.is_empty() {
                        reject = Some(TaskFailure::Runtime(Box::new(Error::NoProcessor {
                            kernel: call.kernel.name().to_string(),
                            dtype: shapes.first().map_or(crate::DType::F32, |s| s.dtype),
                            scope: spec.scope.to_string(),
                            reasons: if why.is_empty() {
                                "the scope selects no processor of this runtime".to_string()
                            } else {
                                why.join("; ")
                            },
                        })));
                    }
                }
            }
            Work::Host(_) => {}
        }

        let task = Arc::new(Task {
            id,
            work: spec.work,
            args: Mutex::new(
                spec.accesses
                    .iter()
                    .map(|a| (a.chunk.0.clone(), a.mode))
                    .collect(),
            ),
            chunk_ids: spec.accesses.iter().map(|a| a.chunk.id()).collect(),
            shapes,
            modes,
            scope: procs,
            priority: std::sync::atomic::AtomicI64::new(spec.priority),
            cost,
            model_key,
            region: spec.region,
            ack: spec.ack,
            finished: AtomicBool::new(false),
            state: Mutex::new(TaskState {
                phase: Phase::Spawning,
                unfinished: 0,
                uncommitted: 0,
                preds: SmallVec::new(),
                succs: SmallVec::new(),
                poisoned: None,
                placed: None,
                committed: None,
                outcome: None,
                wakers: SmallVec::new(),
                fetches: 0,
                fetch_error: None,
                doomed: None,
                plan: Plan::default(),
                prefetched: false,
            }),
        });
        if let Some(r) = &task.region {
            r.task_spawned();
        }
        if let Some(rec) = &self.recording {
            rec.lock().push(&task, &spec.accesses);
            *self.outstanding.lock() += 1;
            self.finish(&task, Ok(()));
            return task;
        }
        if let Some(live) = &self.live {
            live.insert(&task);
        }
        *self.outstanding.lock() += 1;

        // Dependencies in submission order. All of the task's chunks are locked at once, in
        // ascending id order, so that two threads spawning tasks over the same chunks register
        // in one consistent order (no dependency cycle, no lock-order deadlock).
        let mut order: SmallVec<[(crate::ChunkId, Mode, usize); 4]> = spec
            .accesses
            .iter()
            .enumerate()
            .map(|(i, a)| (a.chunk.id(), a.mode, i))
            .collect();
        order.sort_unstable_by_key(|(id, m, _)| (*id, !m.writes()));
        order.dedup_by_key(|(id, _, _)| *id); // a written chunk appears once (checked above)
        let mut guards: SmallVec<[_; 4]> = order
            .iter()
            .map(|(_, m, i)| (*m, spec.accesses[*i].chunk.0.deps.lock()))
            .collect();
        for (mode, deps) in guards.iter_mut() {
            let mut preds: SmallVec<[TaskRef; 4]> = SmallVec::new();
            if let Some(w) = &deps.last_writer {
                preds.push(w.clone());
            }
            if mode.writes() {
                preds.extend(deps.readers.drain(..));
                deps.last_writer = Some(task.clone());
            } else {
                // Finished readers are pruned when the list has doubled since the last
                // pruning, which keeps spawning amortised O(1) with many concurrent readers.
                if deps.readers.len() >= deps.prune_at {
                    deps.readers.retain(|r| !r.is_finished());
                    deps.prune_at = (2 * deps.readers.len()).max(8);
                }
                deps.readers.push(task.clone());
            }
            for p in preds {
                if let Some(r) = &self.trace {
                    r.edge(p.id.0, task.id.0);
                }
                add_edge(&p, &task);
            }
        }
        // A held task joins the list before its chunks' frontiers are unlocked: a task linked
        // behind it afterwards is sure to find it there when it releases the list.
        if spec.hold && reject.is_none() {
            self.held.lock().push(task.clone());
        }
        drop(guards);
        if !spec.hold {
            // Anything else may wait for held tasks (a host read inside a region): let them go.
            self.release_held();
        }

        match reject {
            Some(f) => {
                let err = self.task_error(&task, f, None);
                self.fail(&task, err);
            }
            None if spec.hold => {} // in `held`, released by `release_held`
            None => {
                task.state.lock().phase = Phase::Waiting;
                self.evaluate(&task);
            }
        }
        task
    }

    /// Lets held tasks go, with priorities from their bottom levels: each task's predicted run
    /// time (on its fastest processor in scope) plus the heaviest path of such times through
    /// the held tasks that depend on it. A priority the program set explicitly comes first;
    /// the bottom level orders tasks of equal explicit priority (all of them, by default). A region holds
    /// its tasks while it is being recorded, so the whole graph is known when this runs
    /// (tasks spawned elsewhere, or a host access, release them early).
    pub(crate) fn release_held(self: &Arc<Self>) {
        let held = {
            let mut h = self.held.lock();
            if h.is_empty() {
                return;
            }
            std::mem::take(&mut *h)
        };
        let mut index: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        let accesses: Vec<SmallVec<[(usize, Mode); 4]>> = held
            .iter()
            .map(|t| {
                t.chunk_ids
                    .iter()
                    .zip(&t.modes)
                    .map(|(c, m)| {
                        let next = index.len();
                        (*index.entry(c.0).or_insert(next), *m)
                    })
                    .collect()
            })
            .collect();
        let dag = crate::runtime::priority::datadeps(&accesses, index.len());
        let levels = crate::runtime::priority::bottom_levels(&dag, |i| {
            let t = &held[i];
            t.scope
                .iter()
                .map(|p| self.perf[p].predict(t.model_key, t.cost).secs)
                .fold(f64::INFINITY, f64::min)
                .min(1e3)
        });
        for (t, level) in held.iter().zip(&levels) {
            // The program's own priority first (clamped), then microseconds of critical path.
            let own = t.priority().clamp(-(1 << 21), (1 << 21) - 1);
            let us = (level * 1e6).clamp(0.0, ((1u64 << 40) - 1) as f64) as i64;
            t.priority.store((own << 40) + us, Ordering::Relaxed);
        }
        for t in held {
            {
                let mut s = t.state.lock();
                if s.phase != Phase::Spawning {
                    continue;
                }
                s.phase = Phase::Waiting;
            }
            self.evaluate(&t);
        }
    }

    /// Fails `t` without running it. A task that is still waiting for predecessors stays
    /// unfinished until they finish: it keeps its place in the chunks' dependency order, so
    /// nothing spawned after it can overtake the work it was ordered after.
    fn fail(self: &Arc<Self>, t: &TaskRef, err: Error) {
        {
            let mut s = t.state.lock();
            if s.phase == Phase::Finished {
                return;
            }
            if s.unfinished > 0 {
                s.doomed.get_or_insert(err);
                s.phase = Phase::Doomed;
                return;
            }
        }
        self.finish(t, Err(err));
    }

    /// Processors of `allowed` that can run `call` on these shapes, and why others cannot.
    fn capable(
        &self,
        call: &KernelCall,
        shapes: &[crate::kernels::Shape],
        allowed: ProcSet,
    ) -> (ProcSet, Vec<String>) {
        let mut ok = ProcSet::EMPTY;
        let mut why = Vec::new();
        for i in allowed.iter() {
            let Some(info) = self.procs.get(i).and_then(|p| p.as_ref()) else {
                continue;
            };
            if i == 0 {
                if call.kernel.has_cpu() {
                    ok = ok.with(i);
                } else {
                    why.push("cpu: the kernel has no CPU implementation".to_string());
                }
                continue;
            }
            let Some(gpu) = call.kernel.gpu() else {
                why.push(format!(
                    "{}: the kernel has no GPU implementation",
                    info.processor
                ));
                continue;
            };
            let dev = &self.devices[i - 1];
            let missing = gpu.required_caps().missing_from(dev.core.caps);
            if !missing.is_empty() {
                why.push(format!("{}: lacks {missing}", info.processor));
                continue;
            }
            let launch = Launch {
                shapes,
                params: &call.params,
            };
            if !gpu.variants().iter().any(|v| {
                v.fits(
                    dev.core.caps,
                    dev.core.info.subgroup_size,
                    dev.core.info.loop_iteration_limit,
                    &launch,
                )
            }) {
                why.push(format!(
                    "{}: no GPU variant of the kernel can run this call there (subgroup, alignment or loop-budget requirements{})",
                    info.processor,
                    dev.core
                        .info
                        .loop_iteration_limit
                        .map(|l| format!("; the driver stops loops after {l} iterations"))
                        .unwrap_or_default()
                ));
                continue;
            }
            let limit = dev.core.limits.max_storage_buffer_binding_size;
            if let Some(s) = shapes.iter().find(|s| s.bytes() as u64 > limit) {
                why.push(format!(
                    "{}: a {}x{} {} tile ({} bytes) exceeds its {limit}-byte binding limit",
                    info.processor,
                    s.rows,
                    s.cols,
                    s.dtype,
                    s.bytes()
                ));
                continue;
            }
            if dev.core.lost_reason().is_some() {
                why.push(format!("{}: device lost", info.processor));
                continue;
            }
            ok = ok.with(i);
        }
        (ok, why)
    }

    // ---------------------------------------------------------------- progress

    /// Moves `t` forward as far as its counters allow. Idempotent and safe to call from any
    /// thread at any time.
    pub(crate) fn evaluate(self: &Arc<Self>, t: &TaskRef) {
        loop {
            let mut s = t.state.lock();
            match s.phase {
                Phase::Waiting | Phase::Placed if s.poisoned.is_some() => {
                    // It will not run; it finishes (cancelled) once its predecessors have.
                    let cause = s.poisoned.unwrap_or_else(|| unreachable!());
                    s.doomed.get_or_insert(self.cancelled(t, cause));
                    s.phase = Phase::Doomed;
                }
                Phase::Doomed => {
                    if s.unfinished > 0 {
                        return;
                    }
                    let err = s
                        .doomed
                        .take()
                        .unwrap_or_else(|| unreachable!("doomed without error"));
                    s.phase = Phase::Staging; // claimed
                    drop(s);
                    self.finish(t, Err(err));
                    return;
                }
                Phase::Waiting if s.uncommitted == 0 => {
                    s.phase = Phase::Staging; // claimed: no other thread places it
                    drop(s);
                    let Some(p) = self.place(t) else {
                        let reasons = t
                            .scope
                            .iter()
                            .map(|i| match self.devices.get(i.wrapping_sub(1)) {
                                Some(d) if i > 0 => format!(
                                    "{}: {}",
                                    Processor::from_index(i),
                                    d.core.lost_reason().unwrap_or_default()
                                ),
                                _ => Processor::from_index(i).to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join("; ");
                        let err = Error::Gpu(crate::GpuError::DeviceLost {
                            device: "every device in scope".into(),
                            message: reasons,
                        });
                        let err = self.task_error(t, TaskFailure::Runtime(Box::new(err)), None);
                        t.state.lock().phase = Phase::Waiting;
                        self.fail(t, err);
                        return;
                    };
                    let mut s = t.state.lock();
                    s.placed = Some(p);
                    s.phase = Phase::Placed;
                }
                Phase::Placed => {
                    let p = s
                        .placed
                        .unwrap_or_else(|| unreachable!("placed task without processor"));
                    let ready = if p > 0 && p < HOST {
                        let d = p - 1;
                        s.preds.iter().all(|(_, st)| match st {
                            PredState::Done => true,
                            PredState::Committed(e, _) => *e == d,
                            PredState::Pending => false,
                        })
                    } else {
                        s.unfinished == 0
                    };
                    if !ready {
                        let first = !std::mem::replace(&mut s.prefetched, true);
                        drop(s);
                        if first && self.prefetch {
                            self.prefetch(t, p);
                        }
                        return;
                    }
                    s.phase = Phase::Staging;
                    drop(s);
                    self.stage(t, p);
                    return;
                }
                _ => return,
            }
        }
    }

    /// Chooses a processor for `t` (whose predecessors are all committed or finished) and
    /// charges its predicted run time to that processor's backlog. `None` when every
    /// processor in scope is a lost device.
    fn place(&self, t: &TaskRef) -> Option<usize> {
        if matches!(t.work, Work::Host(_)) {
            return Some(HOST);
        }
        let procs: SmallVec<[usize; 4]> = t
            .scope
            .iter()
            .filter(|&i| i == 0 || !self.devices[i - 1].core.is_lost())
            .collect();
        if procs.is_empty() {
            return None;
        }
        let args = if procs.len() > 1 {
            t.args.lock().clone()
        } else {
            Args::new()
        };
        let cpu_slots = self.procs[0].as_ref().map(|p| p.slots);
        let mut predictions: SmallVec<[crate::runtime::perf::Prediction; 4]> = SmallVec::new();
        let cands: SmallVec<[Candidate; 4]> = procs
            .iter()
            .map(|&i| {
                let perf = &self.perf[i];
                let pr = perf.predict(t.model_key, t.cost);
                predictions.push(pr);
                let (bytes_in, transfer, written) = self.inputs_cost(&args, i);
                let mut backlog = self.backlog[i].load(Ordering::Relaxed) as f64 * 1e-9;
                if perf.shares_host_cores
                    && let Some(cs) = cpu_slots
                {
                    // Its shaders run on the host's cores: it starts no sooner than the CPU
                    // pool frees them.
                    backlog = backlog
                        .max(self.backlog[0].load(Ordering::Relaxed) as f64 * 1e-9 / cs as f64);
                }
                Candidate {
                    processor: Processor::from_index(i),
                    bytes_in,
                    transfer,
                    // No link queues are modelled here: the copies' own time.
                    link_time: transfer,
                    link_time_written: written,
                    backlog,
                    slots: if perf.shares_host_cores {
                        1
                    } else {
                        self.procs[i].as_ref().map_or(1, |p| p.slots)
                    },
                    run: pr.secs,
                    samples: pr.count + perf.pending(t.model_key),
                }
            })
            .collect();
        let k = if cands.len() == 1 {
            0
        } else {
            let query = PlacementQuery {
                task: t.id,
                kernel: t.name(),
                dtype: t.shapes.first().map(|s| s.dtype),
                cost: t.cost,
                priority: t.priority(),
                candidates: &cands,
            };
            // A user policy that panics must not take the scheduler down with it.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.placement.place(&query)
            }))
            .unwrap_or_else(|p| {
                tracing::error!(
                    "placement policy `{}` panicked ({}); using the first candidate",
                    self.placement.name(),
                    crate::error::panic_message(&*p)
                );
                0
            })
            .min(cands.len() - 1)
        };
        let chosen = procs[k];
        let pr = predictions[k];
        let ns = (pr.secs * 1e9) as u64;
        let mut charges: SmallVec<[(usize, u64); 2]> = SmallVec::new();
        charges.push((chosen, ns));
        if self.perf[chosen].shares_host_cores
            && let Some(cs) = cpu_slots
            && chosen != 0
        {
            // It occupies the host's cores while it runs: the CPU pool's work waits as long.
            charges.push((0, ns.saturating_mul(cs as u64)));
        }
        for &(i, ns) in &charges {
            self.backlog[i].fetch_add(ns, Ordering::Relaxed);
        }
        let exploring = pr.count < CALIBRATED;
        if exploring {
            self.perf[chosen].add_pending(t.model_key);
        }
        if let Some(r) = &self.trace {
            let choices = cands
                .iter()
                .zip(&procs)
                .map(|(c, &i)| Choice {
                    processor: i,
                    finish: c.finish(),
                    transfer: c.transfer,
                    run: c.run,
                })
                .collect();
            r.decision(t.id.0, chosen, t.priority(), choices);
        }
        t.state.lock().plan = Plan {
            run: pr.secs,
            calibrated: pr.calibrated,
            exploring,
            samples: pr.count,
            charges,
        };
        Some(chosen)
    }

    /// Bytes of `t`'s inputs not valid in processor `i`'s memory, the predicted seconds to
    /// bring them there (a value only on another device goes through the host), and the part
    /// of those seconds for inputs the task also writes.
    fn inputs_cost(&self, args: &Args, i: usize) -> (u64, f64, f64) {
        let space = (i > 0).then(|| i - 1);
        let (mut bytes, mut secs, mut written) = (0u64, 0.0f64, 0.0f64);
        for (c, m) in args {
            if !m.reads() {
                continue;
            }
            let (host, src) = {
                let coh = c.coh.lock();
                if coh.zero || coh.valid_in(space) {
                    continue;
                }
                (coh.host.is_valid(), coh.valid_device())
            };
            let b = c.bytes() as u64;
            bytes += b;
            let mut s = 0.0;
            if !host && let Some(src) = src {
                s += self.perf[src + 1].download.lock().time(b);
            }
            if i > 0 {
                s += self.perf[i].upload.lock().time(b);
            }
            secs += s;
            if m.writes() {
                written += s;
            }
        }
        (bytes, secs, written)
    }

    /// Makes `t`'s inputs reachable from its processor, then commits and launches it.
    fn stage(self: &Arc<Self>, t: &TaskRef, p: usize) {
        let space = (p > 0 && p < HOST).then(|| p - 1);
        let args = t.args.lock().clone();

        // Inputs valid only on another device come to the host first.
        let mut fetching = 0;
        for (c, mode) in &args {
            if !mode.reads() {
                continue;
            }
            let coh = c.coh.lock();
            if coh.zero || coh.host.is_valid() || space.is_some_and(|d| coh.dev_state(d).is_valid())
            {
                continue;
            }
            let src = coh
                .valid_device()
                .unwrap_or_else(|| unreachable!("{} has no valid replica", c.id));
            // The first fetch also takes a guard count, so waiters firing early cannot bring
            // the count to zero before every fetch is registered.
            t.state.lock().fetches += if fetching == 0 { 2 } else { 1 };
            fetching += 1;
            let waiter = {
                let (sh, t) = (self.clone(), t.clone());
                Box::new(move |r| sh.fetched(&t, r))
            };
            self.fetch_to_host(c, coh, src, waiter);
        }
        if fetching > 0 {
            self.fetched(t, Ok(())); // releases the guard
            return;
        }
        self.launch(t, p, space, args);
    }

    /// Calls `waiter` when `c`'s value, valid on device `src` only, has been copied to the
    /// host: joins the copy in flight, or starts one (queued on `src` behind the work that
    /// writes the value).
    fn fetch_to_host(
        self: &Arc<Self>,
        c: &Arc<ChunkInner>,
        mut coh: parking_lot::MutexGuard<'_, crate::data::chunk::Coherence>,
        src: usize,
        waiter: crate::data::chunk::FetchWaiter,
    ) {
        if let Some(w) = &mut coh.fetching {
            w.push(waiter);
            return;
        }
        coh.fetching = Some(vec![waiter]);
        let buf = coh.dev[src]
            .buf
            .as_ref()
            .unwrap_or_else(|| unreachable!("valid replica without buffer"));
        let src_ref = BufRef::of(buf, c.bytes() as u64);
        let chunk = c.clone();
        drop(coh);
        let (sh, asked) = (self.clone(), Instant::now());
        self.devices[src].readback(Readback {
            src: src_ref,
            dst: c.host.clone(),
            done: crate::gpu::ReadbackDone::readback(move |r| {
                if let Some(rec) = &sh.trace
                    && r.is_ok()
                {
                    rec.readback(&chunk, src, asked);
                }
                drop(sh);
                fetch_landed(chunk, src, r)
            }),
        });
    }

    /// Starts moving the inputs of `t`, placed on processor `p` and waiting for predecessors
    /// that are all committed (queued on a device) or finished, towards `p`:
    /// - a value valid only on another device is read back now, queued there behind the job
    ///   that writes it; when it lands it goes on to `p`'s device;
    /// - a value valid on the host is copied to `p`'s device now, ahead of the task.
    ///
    /// Every claim is re-checked when the copy is set up (the chunk's version must not have
    /// moved), so a late copy can only be wasted, never wrong. The task's own staging and
    /// launch then find the inputs in place (or join the copies in flight).
    fn prefetch(self: &Arc<Self>, t: &TaskRef, p: usize) {
        let space = (p > 0 && p < HOST).then(|| p - 1);
        let args = t.args.lock().clone();
        for (c, mode) in &args {
            if !mode.reads() {
                continue;
            }
            let coh = c.coh.lock();
            if coh.zero || space.is_some_and(|d| coh.dev_state(d).is_valid()) {
                continue;
            }
            let version = coh.version;
            if coh.host.is_valid() {
                drop(coh);
                if let Some(d) = space {
                    self.upload_ahead(c, d, version);
                }
                continue;
            }
            let Some(src) = coh.valid_device() else {
                continue;
            };
            let waiter: crate::data::chunk::FetchWaiter = match space {
                Some(d) => {
                    let (sh, weak) = (self.clone(), Arc::downgrade(c));
                    Box::new(move |r| {
                        if let (Ok(()), Some(c)) = (r, weak.upgrade()) {
                            sh.upload_ahead(&c, d, version);
                        }
                    })
                }
                None => Box::new(|_| {}),
            };
            self.fetch_to_host(c, coh, src, waiter);
        }
    }

    /// Copies `c`'s host value (of `version`) to device `d` ahead of a task that will read it
    /// there, if it is still current, not there yet, and fits the device's budget without
    /// evicting anything.
    fn upload_ahead(self: &Arc<Self>, c: &Arc<ChunkInner>, d: usize, version: u64) {
        let dev = &self.devices[d];
        if dev.core.is_lost() {
            return;
        }
        let bytes = c.bytes() as u64;
        let current = |coh: &crate::data::chunk::Coherence| {
            coh.version == version
                && !coh.zero
                && coh.host.is_valid()
                && !coh.dev_state(d).is_valid()
        };
        let _guard = dev.launch_lock.lock();
        let has_buf = {
            let coh = c.coh.lock();
            if !current(&coh) {
                return;
            }
            coh.dev.get(d).is_some_and(|r| r.buf.is_some())
        };
        if !has_buf {
            let need = crate::gpu::size_class(bytes);
            if let Some(budget) = self.residency[d].budget
                && dev.memory().resident_bytes + need > budget
            {
                return; // the task's launch makes room when it must
            }
            let Ok(b) = dev.alloc_replica(bytes) else {
                return;
            };
            let mut coh = c.coh.lock();
            if coh.dev_mut(d).buf.is_none() {
                coh.dev_mut(d).buf = Some(b);
            } else {
                dev.release(b);
            }
        }
        let buf = {
            let mut coh = c.coh.lock();
            if !current(&coh) {
                return;
            }
            let r = coh.dev_mut(d);
            r.pins += 1;
            r.state = ReplicaState::Shared;
            let buf = BufRef::of(
                r.buf
                    .as_ref()
                    .unwrap_or_else(|| unreachable!("allocated above")),
                bytes,
            );
            if coh.host == ReplicaState::Modified {
                coh.host = ReplicaState::Shared;
            }
            buf
        };
        self.residency[d].touch(c);
        self.residency[d].inflight.fetch_add(1, Ordering::AcqRel);
        let (sh, weak, asked) = (self.clone(), Arc::downgrade(c), Instant::now());
        let id = c.id.0;
        dev.prefetch(crate::gpu::Prefetch {
            uploads: smallvec::smallvec![Upload {
                src: c.host.clone(),
                dst: buf,
            }],
            done: crate::gpu::ReadbackDone::readback(move |r| {
                if let Some(c) = weak.upgrade()
                    && let Some(rep) = c.coh.lock().dev.get_mut(d)
                {
                    rep.pins = rep.pins.saturating_sub(1);
                }
                if let Some(rec) = &sh.trace
                    && r.is_ok()
                {
                    let (start, end) = (rec.secs(asked), rec.now());
                    rec.transfer(id, bytes, Place::Host, Place::Device(d), start, end);
                }
                sh.residency[d].inflight.fetch_sub(1, Ordering::AcqRel);
                sh.retry_parked(d);
            }),
        });
    }

    /// One readback for `t` has landed (or failed). When the last one is in, staging resumes
    /// (or the task fails with the first transfer error).
    fn fetched(self: &Arc<Self>, t: &TaskRef, r: Result<(), Error>) {
        let (failure, placed) = {
            let mut s = t.state.lock();
            if let Err(e) = r {
                s.fetch_error.get_or_insert(e);
            }
            s.fetches -= 1;
            if s.fetches > 0 {
                return;
            }
            (s.fetch_error.take(), s.placed)
        };
        match failure {
            None => self.stage(t, placed.unwrap_or_else(|| unreachable!("staged unplaced"))),
            Some(e) => {
                let placed = t.state.lock().placed;
                let err = self.task_error(t, TaskFailure::Runtime(Box::new(e)), placed);
                self.fail(t, err);
            }
        }
    }

    /// Commits coherence for `t` on its processor and hands it over.
    pub(crate) fn launch(
        self: &Arc<Self>,
        t: &TaskRef,
        p: usize,
        space: Option<usize>,
        args: Args,
    ) {
        // Chunk handles are never held across `finish` or a hand-over: the task may complete and
        // its user drop the chunks at once, expecting their memory back.
        let poisoned = t.state.lock().poisoned;
        if let Some(cause) = poisoned {
            drop(args);
            self.fail(t, self.cancelled(t, cause));
            return;
        }
        match space {
            None => {
                for (c, mode) in &args {
                    let mut coh = c.coh.lock();
                    if mode.reads() && !coh.host.is_valid() {
                        debug_assert!(coh.zero, "staging left {} invalid on the host", c.id);
                        c.host.write().zero_fill(c.bytes());
                        coh.host = ReplicaState::Shared;
                    }
                    if mode.writes() {
                        if !mode.reads() {
                            c.host.write().ensure(c.bytes());
                        }
                        coh.host = ReplicaState::Modified;
                        coh.zero = false;
                        coh.version += 1;
                        for (d, r) in coh.dev.iter_mut().enumerate() {
                            r.state = ReplicaState::Invalid;
                            // A pinned buffer (an eviction's write-back still copies from it)
                            // stays attached, invalid, until the copy is done.
                            if r.pins == 0
                                && let Some(b) = r.buf.take()
                            {
                                self.devices[d].release(b);
                            }
                        }
                    }
                }
                t.state.lock().phase = Phase::Launched;
                if p == HOST {
                    self.run_host(t, args);
                } else {
                    drop(args);
                    let (sh, t2) = (self.clone(), t.clone());
                    self.cpu.push(t.priority(), t.id.0, move |threads| {
                        sh.run_cpu(&t2, threads)
                    });
                }
            }
            Some(d) => self.launch_gpu(t, d, args),
        }
    }

    fn launch_gpu(self: &Arc<Self>, t: &TaskRef, d: usize, args: Args) {
        let dev = &self.devices[d];
        let Work::Kernel(call) = &t.work else {
            unreachable!("host tasks never go to a GPU")
        };
        let gpu = call
            .kernel
            .gpu()
            .unwrap_or_else(|| unreachable!("placed on a GPU without a GPU impl"));
        let gpu_failure = |sh: &Arc<Self>, args: Args, e: Error| {
            drop(args);
            let err = sh.task_error(t, TaskFailure::Runtime(Box::new(e)), Some(d + 1));
            sh.fail(t, err);
        };
        // Work queued ahead of this task on `d` that it depends on: if the worker fails any of
        // it while recording, this task is skipped too.
        let after = t
            .state
            .lock()
            .preds
            .iter()
            .filter_map(|(_, st)| match st {
                PredState::Committed(_, f) => Some(f.clone()),
                _ => None,
            })
            .collect();
        let flag = Arc::new(AtomicBool::new(false));

        // From the first coherence change to the job entering the device's queue, no other
        // launch on this device may interleave: a concurrent reader that sees an input marked
        // valid on `d` must find the upload that makes it valid ahead of it in the queue.
        let guard = dev.launch_lock.lock();
        // Room for the replicas the device does not hold yet (module `residency`).
        let ids: SmallVec<[u64; 4]> = args.iter().map(|(c, _)| c.id.0).collect();
        let need: u64 = args
            .iter()
            .filter(|(c, _)| c.coh.lock().dev.get(d).is_none_or(|r| r.buf.is_none()))
            .map(|(c, _)| crate::gpu::size_class(c.bytes() as u64))
            .sum();
        if need > 0 {
            self.make_room(d, need, &ids, false);
            if self.must_wait_for_room(d, need) {
                // Jobs in flight will free room: wait for one to end (or a write-back to
                // land), rather than overrun the budget. Checked again under the list's lock,
                // after which a job ending is sure to see this task.
                let res = &self.residency[d];
                let mut parked = res.parked.lock();
                if res.inflight.load(Ordering::Acquire) > 0 {
                    parked.push(t.clone());
                    return;
                }
            }
        }
        // First allocate every replica, so a failed allocation leaves coherence untouched.
        for (c, _) in &args {
            let mut coh = c.coh.lock();
            if coh.dev_mut(d).buf.is_none() {
                let mut got = dev.alloc_replica(c.bytes() as u64);
                if matches!(got, Err(Error::Gpu(crate::GpuError::OutOfMemory { .. }))) {
                    // wgpu ran out: evict what can be evicted and try once more.
                    drop(coh);
                    self.make_room(d, c.bytes() as u64, &ids, true);
                    got = dev.alloc_replica(c.bytes() as u64);
                    coh = c.coh.lock();
                }
                match got {
                    Ok(b) => coh.dev_mut(d).buf = Some(b),
                    Err(e) => {
                        drop(coh);
                        drop(guard);
                        gpu_failure(self, args, e);
                        return;
                    }
                }
            }
            drop(coh);
            self.residency[d].touch(c);
        }
        // Then commit: uploads or clears for inputs not valid on `d`, ownership for outputs.
        let mut bufs: SmallVec<[BufRef; 4]> = SmallVec::new();
        let mut uploads: SmallVec<[Upload; 2]> = SmallVec::new();
        let mut clears: SmallVec<[BufRef; 1]> = SmallVec::new();
        let mut traced: SmallVec<[(u64, u64); 2]> = SmallVec::new();
        for (c, mode) in &args {
            let mut coh = c.coh.lock();
            let zero = coh.zero;
            let host_valid = coh.host.is_valid();
            let r = coh.dev_mut(d);
            r.pins += 1;
            let buf = BufRef::of(
                r.buf
                    .as_ref()
                    .unwrap_or_else(|| unreachable!("allocated above")),
                c.bytes() as u64,
            );
            if mode.reads() && !r.state.is_valid() {
                if zero {
                    clears.push(buf.clone());
                } else {
                    debug_assert!(host_valid, "staging left {} unreachable", c.id);
                    if self.trace.is_some() {
                        traced.push((c.id.0, c.bytes() as u64));
                    }
                    uploads.push(Upload {
                        src: c.host.clone(),
                        dst: buf.clone(),
                    });
                }
                r.state = ReplicaState::Shared;
                if coh.host == ReplicaState::Modified {
                    coh.host = ReplicaState::Shared;
                }
            }
            if mode.writes() {
                coh.dev_mut(d).state = ReplicaState::Modified;
                coh.host = ReplicaState::Invalid;
                coh.zero = false;
                coh.version += 1;
                for (e, r) in coh.dev.iter_mut().enumerate() {
                    if e != d {
                        r.state = ReplicaState::Invalid;
                        if r.pins == 0
                            && let Some(b) = r.buf.take()
                        {
                            self.devices[e].release(b);
                        }
                    }
                }
            }
            bufs.push(buf);
        }
        drop(args);
        let (weight, samples) = {
            let s = t.state.lock();
            (s.plan.run, s.plan.samples)
        };
        let measure = if self.trace.is_some() || samples < CALIBRATED {
            crate::gpu::Measure::Needed
        } else if wants_sample(t.id, samples) {
            crate::gpu::Measure::Sample
        } else {
            crate::gpu::Measure::No
        };
        let job = Box::new(GpuJob {
            kernel: call.kernel.clone(),
            modes: t.modes.clone(),
            args: bufs,
            uploads,
            clears,
            shapes: t.shapes.clone(),
            params: call.params.clone(),
            failed: flag.clone(),
            after,
            weight,
            measure,
            done: {
                let (sh, t) = (self.clone(), t.clone());
                crate::gpu::JobDone::job(move |(r, timing)| {
                    for (c, _) in t.args.lock().iter() {
                        if let Some(rep) = c.coh.lock().dev.get_mut(d) {
                            rep.pins = rep.pins.saturating_sub(1);
                        }
                    }
                    sh.residency[d].inflight.fetch_sub(1, Ordering::AcqRel);
                    sh.retry_parked(d);
                    if let Some(tm) = timing {
                        // Batches measured as a whole feed the model only on adapters without
                        // timestamps (where nothing better exists).
                        let trusted = tm.exact || !sh.devices[d].core.has_pass_timestamps();
                        sh.measured(&t, d + 1, (tm.start, tm.end), 1, r.is_ok(), trusted);
                        if let Some(rec) = &sh.trace {
                            // Uploads run ahead of the batch's dispatches; shown ending where
                            // the job starts, lasting what the link model predicts.
                            let link = *sh.perf[d + 1].upload.lock();
                            let mut end = rec.secs(tm.start);
                            for (id, bytes) in traced.iter().rev() {
                                let start = end - link.time(*bytes);
                                rec.transfer(
                                    *id,
                                    *bytes,
                                    Place::Host,
                                    Place::Device(d),
                                    start,
                                    end,
                                );
                                end = start;
                            }
                        }
                    }
                    let r = r.map_err(|f| sh.task_error(&t, f, Some(d + 1)));
                    sh.finish(&t, r);
                })
            },
        });
        t.state.lock().phase = Phase::Launched;
        self.residency[d].inflight.fetch_add(1, Ordering::AcqRel);
        let refused = dev.submit(job).err();
        drop(guard);
        if let Some(job) = refused {
            job.done.call((
                Err(TaskFailure::Runtime(Box::new(Error::Shutdown(format!(
                    "{} is shut down",
                    dev.core.label
                ))))),
                None,
            ));
            return;
        }
        // A kernel that reports failures through status words is only known to have succeeded
        // when its batch completes; its successors wait for that rather than run behind it.
        if gpu.status.is_some() {
            return;
        }
        // Only now, with the job in the device's queue, may successors follow it there.
        let succs = {
            let mut s = t.state.lock();
            if s.phase == Phase::Finished {
                return;
            }
            s.committed = Some((d, flag.clone()));
            s.succs.clone()
        };
        for s in succs {
            defer(self, Note::Committed(s, t.id, d, flag.clone()));
        }
    }

    fn run_host(self: &Arc<Self>, t: &TaskRef, args: Args) {
        let Work::Host(op) = &t.work else {
            unreachable!()
        };
        let op = op
            .lock()
            .take()
            .unwrap_or_else(|| unreachable!("host op runs once"));
        let hosts: SmallVec<[_; 4]> = args.iter().map(|(c, _)| c.host.clone()).collect();
        drop(args);
        let r = op(&hosts);
        self.finish(t, r);
    }

    fn run_cpu(self: &Arc<Self>, t: &TaskRef, threads: usize) {
        let Work::Kernel(call) = &t.work else {
            unreachable!()
        };
        let cpu = call
            .kernel
            .0
            .cpu
            .clone()
            .unwrap_or_else(|| unreachable!("placed on the CPU without a CPU impl"));
        let args = t.args.lock().clone();
        enum Guard<'a> {
            R(parking_lot::RwLockReadGuard<'a, crate::host::HostBytes>),
            W(parking_lot::RwLockWriteGuard<'a, crate::host::HostBytes>),
        }
        let result = {
            let mut guards: SmallVec<[Guard<'_>; 4]> = args
                .iter()
                .map(|(c, m)| {
                    if m.writes() {
                        Guard::W(c.host.write())
                    } else {
                        Guard::R(c.host.read_recursive())
                    }
                })
                .collect();
            let slots = guards
                .iter_mut()
                .map(|g| match g {
                    Guard::R(g) => Slot::Shared(g.bytes()),
                    Guard::W(g) => Slot::Exclusive(Some(g.bytes_mut())),
                })
                .collect();
            let mut task = CpuTask {
                kernel: call.kernel.name(),
                shapes: &t.shapes,
                params: &call.params,
                slots,
                threads,
            };
            let start = Instant::now();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cpu(&mut task)))
                .unwrap_or_else(|p| {
                    Err(crate::error::KernelError::Panicked(
                        crate::error::panic_message(&*p),
                    ))
                });
            let end = Instant::now();
            drop(guards);
            self.measured(t, 0, (start, end), threads, r.is_ok(), true);
            r
        };
        drop(args);
        let r = result.map_err(|k| self.task_error(t, TaskFailure::Kernel(k), Some(0)));
        self.finish(t, r);
    }

    /// A task ran on processor `p` from `start` to `end` using `threads` threads: feeds the
    /// performance model (when it succeeded and the timing is `trusted` to be its own) and
    /// the trace.
    fn measured(
        &self,
        t: &Task,
        p: usize,
        (start, end): (Instant, Instant),
        threads: usize,
        ok: bool,
        trusted: bool,
    ) {
        let secs = end.saturating_duration_since(start).as_secs_f64();
        let (run, calibrated, exploring, samples) = {
            let s = t.state.lock();
            (
                s.plan.run,
                s.plan.calibrated,
                s.plan.exploring,
                s.plan.samples,
            )
        };
        if ok && trusted && wants_sample(t.id, samples) {
            // Normalised to one slot: a CPU task given every thread of an idle pool counts as
            // taking that many threads' time.
            self.perf[p].record(
                t.model_key,
                || crate::runtime::perf::key_name(t.name(), &t.shapes),
                t.cost,
                secs * threads.max(1) as f64,
            );
        }
        if exploring {
            self.perf[p].done_pending(t.model_key);
            t.state.lock().plan.exploring = false;
        }
        if let Some(r) = &self.trace {
            r.task(TaskSpan {
                task: t.id.0,
                kernel: t.name().to_string(),
                dtype: t.shapes.first().map(|s| s.dtype),
                tiles: t
                    .chunk_ids
                    .iter()
                    .zip(&t.modes)
                    .map(|(c, m)| (c.0, m.writes()))
                    .collect(),
                processor: p,
                start: r.secs(start),
                end: r.secs(end),
                predicted: run,
                calibrated,
                flops: t.cost.flops,
                ok,
            });
        }
    }

    // ---------------------------------------------------------------- completion

    /// Records `t`'s outcome, releases it, and tells its successors.
    pub(crate) fn finish(self: &Arc<Self>, t: &TaskRef, outcome: Result<(), Error>) {
        let (succs, wakers, outcome, placed) = {
            let mut s = t.state.lock();
            if s.phase == Phase::Finished {
                return;
            }
            let outcome = match (s.poisoned, outcome) {
                // It ran (queued behind a predecessor on its device) but that predecessor
                // failed: its result is meaningless.
                (Some(cause), _) if cause != t.id => Err(self.cancelled(t, cause)),
                (_, o) => o,
            };
            s.phase = Phase::Finished;
            s.outcome = Some(outcome.clone());
            t.finished.store(true, Ordering::Release);
            (
                std::mem::take(&mut s.succs),
                std::mem::take(&mut s.wakers),
                outcome,
                s.placed,
            )
        };
        if let Some(p) = placed.filter(|&p| p < HOST) {
            let (charges, exploring) = {
                let mut s = t.state.lock();
                (
                    std::mem::take(&mut s.plan.charges),
                    std::mem::take(&mut s.plan.exploring),
                )
            };
            if exploring {
                // Placed to calibrate, but never measured (cancelled, failed, not timed).
                self.perf[p].done_pending(t.model_key);
            }
            for (i, ns) in charges {
                let _ = self.backlog[i].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_sub(ns))
                });
            }
            if outcome.is_ok() {
                self.tasks_run[p].fetch_add(1, Ordering::Relaxed);
            }
        }
        // Release the arguments before anyone learns the task is done: a finished task must not
        // keep chunks (and through them the runtime) alive from a chunk's dependency frontier,
        // and a chunk the user drops after the region must be freed by then. (If this was the
        // last handle to the runtime, its shutdown moves to a thread of its own.)
        drop(std::mem::take(&mut *t.args.lock()));
        if let Err(e) = &outcome
            && t.region.is_none()
            && !matches!(e, Error::Cancelled { .. })
        {
            tracing::debug!("{e}");
        }
        let cause = match &outcome {
            Ok(()) => None,
            Err(Error::Cancelled { cause, .. }) => Some(*cause),
            Err(_) => Some(t.id),
        };
        if let Some(r) = &t.region {
            r.task_finished(t.id, &outcome);
        }
        for s in succs {
            defer(self, Note::Done(s, t.id, cause));
        }
        for w in wakers {
            w.wake();
        }
        if let Some(live) = &self.live {
            live.remove(t);
        }
        self.finished.fetch_add(1, Ordering::Relaxed);
        let mut n = self.outstanding.lock();
        *n -= 1;
        if *n == 0 {
            self.idle.notify_all();
        }
    }

    fn pred_done(self: &Arc<Self>, s: &TaskRef, pred: TaskId, cause: Option<TaskId>) {
        {
            let mut st = s.state.lock();
            if st.phase == Phase::Finished {
                return;
            }
            if let Some(entry) = st.preds.iter_mut().find(|(id, _)| *id == pred) {
                let was = std::mem::replace(&mut entry.1, PredState::Done);
                if matches!(was, PredState::Pending) {
                    st.uncommitted -= 1;
                }
                if !matches!(was, PredState::Done) {
                    st.unfinished -= 1;
                }
            }
            if let Some(c) = cause {
                st.poisoned.get_or_insert(c);
            }
        }
        self.evaluate(s);
    }

    fn pred_committed(
        self: &Arc<Self>,
        s: &TaskRef,
        pred: TaskId,
        d: usize,
        flag: Arc<AtomicBool>,
    ) {
        {
            let mut st = s.state.lock();
            if st.phase == Phase::Finished {
                return;
            }
            match st.preds.iter_mut().find(|(id, _)| *id == pred) {
                Some(entry) if matches!(entry.1, PredState::Pending) => {
                    entry.1 = PredState::Committed(d, flag);
                    st.uncommitted -= 1;
                }
                _ => return,
            }
        }
        self.evaluate(s);
    }

    // ---------------------------------------------------------------- errors

    pub(crate) fn task_error(&self, t: &Task, source: TaskFailure, proc: Option<usize>) -> Error {
        let processor = proc.filter(|&p| p < HOST).map(|p| {
            self.procs
                .get(p)
                .and_then(|i| i.as_ref())
                .map_or_else(|| Processor::from_index(p).to_string(), |i| i.name.clone())
        });
        Error::Task(Box::new(TaskError {
            task: t.id,
            kernel: t.name().to_string(),
            chunks: t.chunk_ids.to_vec(),
            processor,
            source,
        }))
    }

    fn cancelled(&self, t: &Task, cause: TaskId) -> Error {
        Error::Cancelled {
            task: t.id,
            kernel: t.name().to_string(),
            cause,
        }
    }
}

/// Whether a run of task `id` should feed the model, which had `samples` measurements for it:
/// every run until the window has been filled twice over, then one in eight (measuring costs
/// a lock and a selection per task; on a GPU, timestamp queries in the batch).
fn wants_sample(id: TaskId, samples: u64) -> bool {
    samples < 2 * crate::runtime::perf::WINDOW as u64 || id.0.is_multiple_of(8)
}

/// Tasks captured by a recording runtime, in spawn order.
#[derive(Default)]
pub(crate) struct Recording {
    pub(crate) graph: crate::sim::SimGraph,
    chunks: std::collections::HashMap<u64, usize>,
}

impl Recording {
    fn push(&mut self, t: &Task, accesses: &[Access]) {
        let Work::Kernel(call) = &t.work else {
            return; // host reads and writes move no work
        };
        let mut acc = Vec::with_capacity(accesses.len());
        for a in accesses {
            let id = a.chunk.id().0;
            let next = self.graph.chunks.len();
            let i = *self.chunks.entry(id).or_insert(next);
            if i == next {
                self.graph.chunks.push(a.chunk.0.bytes() as u64);
            }
            acc.push((i, a.mode));
        }
        self.graph.tasks.push(crate::sim::SimTask {
            kernel: call.kernel.name().to_string(),
            shapes: t.shapes.to_vec(),
            cost: t.cost,
            accesses: acc,
            priority: t.priority(),
            has_gpu: call.kernel.gpu().is_some(),
            has_cpu: call.kernel.has_cpu(),
        });
    }
}

/// A notification to a successor, delivered by [`defer`].
enum Note {
    Done(TaskRef, TaskId, Option<TaskId>),
    Committed(TaskRef, TaskId, usize, Arc<AtomicBool>),
}

type NoteQueue = std::cell::RefCell<Option<std::collections::VecDeque<(Arc<Shared>, Note)>>>;

thread_local! {
    static NOTES: NoteQueue = const { std::cell::RefCell::new(None) };
}

/// Delivers `note`, iteratively: a notification that finishes or launches a task whose
/// successors are then notified queues those notifications instead of recursing, so a long
/// chain (a cancelled chain, or tasks following each other into one device stream) cannot
/// overflow the stack.
fn defer(sh: &Arc<Shared>, note: Note) {
    let outermost = NOTES.with(|q| {
        let mut q = q.borrow_mut();
        match q.as_mut() {
            Some(q) => {
                q.push_back((sh.clone(), note));
                None
            }
            None => {
                *q = Some(std::collections::VecDeque::new());
                Some(note)
            }
        }
    });
    let Some(first) = outermost else { return };
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            NOTES.with(|q| *q.borrow_mut() = None);
        }
    }
    let _reset = Reset;
    let deliver = |sh: &Arc<Shared>, n: Note| match n {
        Note::Done(s, p, c) => sh.pred_done(&s, p, c),
        Note::Committed(s, p, d, f) => sh.pred_committed(&s, p, d, f),
    };
    deliver(sh, first);
    while let Some((sh, n)) = NOTES.with(|q| q.borrow_mut().as_mut().and_then(|q| q.pop_front())) {
        deliver(&sh, n);
    }
}

/// A readback of `chunk` from device `src` has landed in host memory (or failed).
pub(crate) fn fetch_landed(chunk: Arc<ChunkInner>, src: usize, r: Result<(), Error>) {
    let waiters = {
        let mut coh = chunk.coh.lock();
        if r.is_ok() {
            coh.host = ReplicaState::Shared;
            if coh.dev_state(src) == ReplicaState::Modified {
                coh.dev_mut(src).state = ReplicaState::Shared;
            }
        }
        coh.fetching.take().unwrap_or_default()
    };
    // Not held while the waiters run: they may finish tasks and wake a user who then drops
    // the chunk, expecting its memory back.
    drop(chunk);
    for w in waiters {
        w(r.clone());
    }
}

/// Adds the edge `p -> t` unless `p` has finished (then a failure it has not reported yet
/// poisons `t`).
fn add_edge(p: &TaskRef, t: &TaskRef) {
    let mut ps = p.state.lock();
    if ps.phase == Phase::Finished {
        if let Some(Err(e)) = &ps.outcome
            && !p.ack.load(Ordering::Acquire)
        {
            let cause = match e {
                Error::Cancelled { cause, .. } => *cause,
                _ => p.id,
            };
            t.state.lock().poisoned.get_or_insert(cause);
        }
        return;
    }
    let mut ts = t.state.lock();
    if ts.preds.iter().any(|(id, _)| *id == p.id) {
        return;
    }
    let st = match &ps.committed {
        Some((d, flag)) => PredState::Committed(*d, flag.clone()),
        None => PredState::Pending,
    };
    if matches!(st, PredState::Pending) {
        ts.uncommitted += 1;
    }
    ts.preds.push((p.id, st));
    ts.unfinished += 1;
    drop(ts);
    ps.succs.push(t.clone());
}

#[track_caller]
fn check_aliasing(spec: &TaskSpec<'_>) {
    for (i, a) in spec.accesses.iter().enumerate() {
        for b in &spec.accesses[..i] {
            if a.chunk.id() == b.chunk.id() && (a.mode.writes() || b.mode.writes()) {
                panic!(
                    "task `{}` passes {} twice ({} and {}): a written chunk may appear only once",
                    spec.work.name(),
                    a.chunk.id(),
                    b.mode,
                    a.mode
                );
            }
        }
    }
}

#[track_caller]
fn check_signature(call: &KernelCall, accesses: &[Access]) {
    let k = &call.kernel;
    assert!(
        accesses.len() == k.args().len(),
        "kernel `{}` takes {} arguments, got {}",
        k.name(),
        k.args().len(),
        accesses.len()
    );
    for (i, (a, spec)) in accesses.iter().zip(k.args()).enumerate() {
        assert!(
            a.mode == spec.mode,
            "argument {i} of kernel `{}` must be a {} access, got {}",
            k.name(),
            spec.mode,
            a.mode
        );
    }
}

fn check_types(call: &KernelCall, accesses: &[Access]) -> Option<Error> {
    let k = &call.kernel;
    accesses
        .iter()
        .zip(k.args())
        .enumerate()
        .find(|(_, (a, spec))| a.chunk.dtype() != spec.dtype)
        .map(|(i, (a, spec))| Error::ShapeMismatch {
            op: k.name().to_string(),
            detail: format!(
                "argument {i} must hold {}, {} holds {}",
                spec.dtype,
                a.chunk.id(),
                a.chunk.dtype()
            ),
        })
}
