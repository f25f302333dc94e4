//! The discrete-event simulation: tasks become ready as their predecessors finish, are placed
//! in priority order through a [`Placement`] policy, wait in their processor's queue for their
//! inputs and a free slot, and run for their predicted time on a virtual clock.
//!
//! Every resource serves its queue by priority: a processor's free slot takes the most urgent
//! queued task whose inputs have arrived (as StarPU's `dmdas` does), a link carries the most
//! urgent pending transfer next. Transfers are requested when a task is placed, so they overlap
//! the work queued ahead of it (prefetch). Placement happens when a task becomes ready, or,
//! with [`SimOptions::lookahead`], once the processor it would go to is about to need it.
//! The coherence and memory side is in `data.rs`.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, BinaryHeap};

use crate::error::TaskId;
use crate::runtime::placement::{Candidate, Placement, PlacementQuery};
use crate::runtime::priority::{Dag, bottom_levels, datadeps, priorities_from_levels};
use crate::runtime::processor::Processor;
use crate::trace::{Choice, Decision, Lane, TaskSpan, Trace};

use super::data::{HOST, Link, Rep, Waiter, Xfer};
use super::fenwick::Fenwick;
use super::graph::SimGraph;
use super::machine::Machine;
use super::report::{self, SimReport};

/// What [`simulate`] does besides scheduling.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Order ready tasks, processor queues and links by bottom level (the longest predicted
    /// path to the end of the graph), with the tasks' own priorities breaking ties. When off,
    /// the tasks' own priorities order them, then spawn order.
    pub priorities: bool,
    /// Deferred placement. `None` places every task as soon as it is ready, as the runtime
    /// does. `Some(l)` places a ready task only once the processor its policy chooses would
    /// start it within `l * max(transfer, run)` of now (its inputs' predicted arrival, or its
    /// own run time when they are local); until then it waits, and is placed afresh, possibly
    /// elsewhere, when a slot of that processor frees. Queues then stay short, so each
    /// decision sees current loads and its transfers are not hidden behind a long backlog,
    /// while transfers still overlap the work ahead of the task (prefetch).
    pub lookahead: Option<f64>,
    /// Record a [`Trace`] in the report.
    pub trace: bool,
}

impl Default for SimOptions {
    /// Priorities on, placement as soon as ready (as the runtime does), no trace.
    fn default() -> SimOptions {
        SimOptions {
            priorities: true,
            lookahead: None,
            trace: false,
        }
    }
}

/// Simulates `graph` on `machine`, placing every task with `policy`, and reports the makespan,
/// what each processor and link did, and how far the schedule is from lower bounds.
///
/// Tasks run on the processors that implement them (`has_cpu`, `has_gpu`); the simulated GPUs
/// run every element type. A GPU whose memory cannot hold a task's chunks even after evicting
/// everything unpinned is not a candidate for that task; the task waits if no processor is.
///
/// # Panics
/// If a task can run on no processor of `machine`, a chunk index is out of range, the policy
/// returns an index out of range, or the tasks' chunks can never fit (a task needing more than
/// a device's memory on a machine with nothing else to run it).
#[track_caller]
pub fn simulate(
    graph: &SimGraph,
    machine: &Machine,
    policy: &dyn Placement,
    opts: &SimOptions,
) -> SimReport {
    let mut sim = Sim::new(graph, machine, policy, opts);
    sim.run();
    sim.finish()
}

/// A scheduled event: a task or a transfer ends.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Event {
    time: f64,
    seq: u64,
    what: Ends,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ends {
    Task(u32),
    Transfer(u32),
}

impl Eq for Event {}

impl Ord for Event {
    /// Earliest first (reversed for the max-heap), then in order of scheduling.
    fn cmp(&self, o: &Event) -> Ordering {
        o.time.total_cmp(&self.time).then(o.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Event {
    fn partial_cmp(&self, o: &Event) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// One processor's state.
struct Proc {
    /// When each slot's running task ends (at or before `now`: free).
    slot_end: Vec<f64>,
    /// Placed tasks whose inputs have all arrived, most urgent first: `(urgency, task)`.
    ready: BinaryHeap<(u32, u32)>,
    /// Predicted run time of placed, unstarted tasks, by urgency.
    queued: Fenwick,
    busy: f64,
    tasks: usize,
}

/// The simulation state. Space `s` is processor `s`'s memory: 0 is the host, `d + 1` GPU `d`.
pub(super) struct Sim<'a> {
    pub(super) g: &'a SimGraph,
    pub(super) m: &'a Machine,
    policy: &'a dyn Placement,
    pub(super) now: f64,
    seq: u64,
    events: BinaryHeap<Event>,
    dag: Dag,
    /// Per task: its chunks, each once, with whether it reads and whether it writes them.
    pub(super) acc: Vec<Vec<(u32, bool, bool)>>,
    /// Per task: its rank in priority order (higher is more urgent; all distinct).
    pub(super) urgency: Vec<u32>,
    /// Per task: predecessors not finished.
    unfinished_preds: Vec<u32>,
    /// Per task: inputs not yet valid where it was placed.
    pub(super) missing: Vec<u32>,
    pub(super) placed_on: Vec<u32>,
    run: Vec<f64>,
    start: Vec<f64>,
    finished: usize,
    procs: Vec<Proc>,
    /// Links: `2d` carries host -> GPU `d`, `2d + 1` GPU `d` -> host.
    pub(super) links: Vec<Link>,
    pub(super) xfers: Vec<Xfer>,
    /// Replica of chunk `c` in space `s` at `c * spaces + s`.
    pub(super) reps: Vec<Rep>,
    /// Who waits for each pending replica, indexed as `reps`.
    pub(super) waiters: Vec<Vec<Waiter>>,
    pub(super) spaces: usize,
    /// Device memory in use (bytes of valid and arriving replicas) per space.
    pub(super) used: Vec<u64>,
    /// The most memory each space held at once.
    pub(super) peak: Vec<u64>,
    /// Unpinned valid device replicas per space, least recently used first: `(tick, chunk)`.
    pub(super) lru: Vec<BTreeSet<(u64, u32)>>,
    pub(super) evictable: Vec<u64>,
    pub(super) tick: u64,
    pub(super) evictions: usize,
    /// Tasks that became ready since the last placement round: `(urgency, task)`.
    ready: Vec<(u32, u32)>,
    /// Ready tasks that fitted in no processor's memory, retried every round.
    stalled: Vec<(u32, u32)>,
    /// Per processor, the ready tasks whose placement was deferred while waiting for it,
    /// most urgent first.
    deferred: Vec<BinaryHeap<(u32, u32)>>,
    /// Per processor, whether a slot freed since the last placement round.
    freed: Vec<bool>,
    /// Deferred placement's factor, if any (see [`SimOptions::lookahead`]).
    lookahead: Option<f64>,
    pub(super) trace: Option<Trace>,
}

impl<'a> Sim<'a> {
    fn new(
        g: &'a SimGraph,
        m: &'a Machine,
        policy: &'a dyn Placement,
        opts: &SimOptions,
    ) -> Sim<'a> {
        let n = g.tasks.len();
        let dag = datadeps(g.tasks.iter().map(|t| &t.accesses), g.chunks.len());
        let acc: Vec<Vec<(u32, bool, bool)>> = g
            .tasks
            .iter()
            .map(|t| {
                let mut v: Vec<(u32, bool, bool)> = Vec::with_capacity(t.accesses.len());
                for &(c, mode) in &t.accesses {
                    match v.iter_mut().find(|a| a.0 as usize == c) {
                        Some(a) => (a.1, a.2) = (a.1 || mode.reads(), a.2 || mode.writes()),
                        None => v.push((c as u32, mode.reads(), mode.writes())),
                    }
                }
                v
            })
            .collect();
        let urgency = urgency(g, m, &dag, opts.priorities);
        let spaces = m.processors.len();
        let procs = m
            .processors
            .iter()
            .map(|p| Proc {
                slot_end: vec![0.0; p.slots],
                ready: BinaryHeap::new(),
                queued: Fenwick::new(n),
                busy: 0.0,
                tasks: 0,
            })
            .collect();
        let links = m.processors[1..]
            .iter()
            .flat_map(|p| [Link::new(&p.model, n), Link::new(&p.model, n)])
            .collect();
        let mut reps = vec![Rep::INVALID; g.chunks.len() * spaces];
        for c in 0..g.chunks.len() {
            reps[c * spaces + HOST] = Rep::VALID;
        }
        let trace = opts.trace.then(|| Trace {
            simulated: true,
            lanes: m
                .processors
                .iter()
                .enumerate()
                .filter(|(_, p)| p.slots > 0)
                .map(|(i, p)| Lane {
                    processor: i,
                    name: p.name.clone(),
                    slots: p.slots,
                })
                .collect(),
            edges: {
                let mut e = Vec::with_capacity(dag.edge_count());
                e.extend(dag.edges().map(|(a, b)| (a as u64, b as u64)));
                e
            },
            ..Trace::default()
        });
        let unfinished_preds = (0..n).map(|t| dag.preds(t).len() as u32).collect();
        Sim {
            g,
            m,
            policy,
            now: 0.0,
            seq: 0,
            events: BinaryHeap::new(),
            dag,
            acc,
            urgency,
            unfinished_preds,
            missing: vec![0; n],
            placed_on: vec![u32::MAX; n],
            run: vec![0.0; n],
            start: vec![0.0; n],
            finished: 0,
            procs,
            links,
            xfers: Vec::new(),
            waiters: vec![Vec::new(); reps.len()],
            reps,
            spaces,
            used: vec![0; spaces],
            peak: vec![0; spaces],
            lru: vec![BTreeSet::new(); spaces],
            evictable: vec![0; spaces],
            tick: 0,
            evictions: 0,
            ready: Vec::new(),
            stalled: Vec::new(),
            deferred: vec![BinaryHeap::new(); spaces],
            freed: vec![false; spaces],
            lookahead: opts.lookahead,
            trace,
        }
    }

    pub(super) fn push_event(&mut self, time: f64, what: Ends) {
        self.seq += 1;
        self.events.push(Event {
            time,
            seq: self.seq,
            what,
        });
    }

    fn run(&mut self) {
        for t in 0..self.g.tasks.len() {
            if self.unfinished_preds[t] == 0 {
                self.ready.push((self.urgency[t], t as u32));
            }
        }
        loop {
            self.place_ready();
            self.dispatch();
            let Some(first) = self.events.pop() else {
                break;
            };
            self.now = first.time;
            self.handle(first.what);
            while self.events.peek().is_some_and(|e| e.time <= self.now) {
                let e = self.events.pop().expect("peeked");
                self.handle(e.what);
            }
        }
        assert!(
            self.finished == self.g.tasks.len(),
            "simulation stuck with {} of {} tasks done: {} ready task(s) fit in no processor's \
             memory (first: task {} `{}`)",
            self.finished,
            self.g.tasks.len(),
            self.stalled.len(),
            self.stalled.first().map_or(-1, |&(_, t)| t as i64),
            self.stalled
                .first()
                .map_or("", |&(_, t)| &self.g.tasks[t as usize].kernel),
        );
    }

    fn handle(&mut self, what: Ends) {
        match what {
            Ends::Task(t) => self.task_ends(t),
            Ends::Transfer(x) => self.transfer_ends(x),
        }
    }

    /// Places ready tasks, most urgent first: those that just became ready, those that fitted
    /// nowhere before, and, for each processor where a slot freed, the most urgent tasks
    /// deferred while waiting for it (see [`SimOptions::lookahead`]). A task deferred again
    /// waits for the processor it chose this time, so deferred tasks move to whichever
    /// processor their placement prefers as the machine's state changes.
    fn place_ready(&mut self) {
        const FRESH: u32 = u32::MAX;
        let mut pool: BinaryHeap<(u32, u32, u32)> = self
            .ready
            .drain(..)
            .chain(self.stalled.drain(..))
            .map(|(u, t)| (u, t, FRESH))
            .collect();
        for p in 0..self.freed.len() {
            if std::mem::take(&mut self.freed[p])
                && let Some((u, t)) = self.deferred[p].pop()
            {
                pool.push((u, t, p as u32));
            }
        }
        let mut cands = Vec::new();
        let mut procs = Vec::new();
        while let Some((u, t, from)) = pool.pop() {
            // The next task deferred on the same processor is looked at only if this one did
            // not go back to waiting for it.
            let next_from = |sim: &mut Sim<'_>, pool: &mut BinaryHeap<(u32, u32, u32)>| {
                if from != FRESH
                    && let Some((u, t)) = sim.deferred[from as usize].pop()
                {
                    pool.push((u, t, from));
                }
            };
            if !self.candidates(t, &mut cands, &mut procs) {
                self.stalled.push((u, t));
                next_from(self, &mut pool);
                continue;
            }
            let task = &self.g.tasks[t as usize];
            let q = PlacementQuery {
                task: TaskId(t as u64),
                kernel: &task.kernel,
                dtype: task.dtype(),
                cost: task.cost,
                priority: i64::from(u),
                candidates: &cands,
            };
            let i = self.policy.place(&q);
            assert!(
                i < cands.len(),
                "policy `{}` chose candidate {i} of {}",
                self.policy.name(),
                cands.len()
            );
            let c = &cands[i];
            if self
                .lookahead
                .is_some_and(|l| c.backlog / c.slots as f64 > l * c.transfer.max(c.run))
            {
                self.deferred[procs[i]].push((u, t));
                if procs[i] as u32 != from {
                    next_from(self, &mut pool);
                }
                continue;
            }
            next_from(self, &mut pool);
            if let Some(trace) = &mut self.trace {
                trace.decisions.push(Decision {
                    task: t as u64,
                    time: self.now,
                    chosen: procs[i],
                    priority: i64::from(u),
                    candidates: cands
                        .iter()
                        .zip(&procs)
                        .map(|(c, &p)| Choice {
                            processor: p,
                            finish: c.finish(),
                            transfer: c.transfer,
                            run: c.run,
                        })
                        .collect(),
                });
            }
            self.commit(t, procs[i], cands[i].run);
        }
    }

    /// Fills `cands` (and the processor index of each in `procs`) for task `t`; false when no
    /// processor can take it now.
    fn candidates(&self, t: u32, cands: &mut Vec<Candidate>, procs: &mut Vec<usize>) -> bool {
        cands.clear();
        procs.clear();
        let task = &self.g.tasks[t as usize];
        let u = self.urgency[t as usize] as usize;
        let mut any = false;
        for (p, sp) in self.m.processors.iter().enumerate() {
            let able = if p == HOST {
                task.has_cpu
            } else {
                task.has_gpu
            };
            if !able || sp.slots == 0 {
                continue;
            }
            any = true;
            if !self.fits(t, p) {
                continue;
            }
            let pr = &self.procs[p];
            let first_free = pr.slot_end.iter().copied().fold(f64::INFINITY, f64::min);
            let wait = (first_free - self.now).max(0.0) + pr.queued.at_least(u) / sp.slots as f64;
            let inputs = self.input_eta(t, p);
            cands.push(Candidate {
                processor: Processor::from_index(p),
                bytes_in: inputs.bytes,
                transfer: inputs.eta,
                link_time: inputs.link_time,
                link_time_written: inputs.link_time_written,
                backlog: wait * sp.slots as f64,
                slots: sp.slots,
                run: sp.model.run(task.cost),
                // The modelled machine's times are exact: nothing to calibrate.
                samples: crate::CALIBRATED,
            });
            procs.push(p);
        }
        assert!(
            any,
            "task {t} (`{}`) can run on no processor of the machine",
            task.kernel
        );
        !cands.is_empty()
    }

    /// Commits task `t` to processor `p`: pins its chunks there, makes room, requests its
    /// inputs and queues it.
    fn commit(&mut self, t: u32, p: usize, run: f64) {
        let ti = t as usize;
        self.placed_on[ti] = p as u32;
        self.run[ti] = run;
        let u = self.urgency[ti];
        self.make_room(t, p);
        let mut missing = 0;
        for i in 0..self.acc[ti].len() {
            let (c, reads, _) = self.acc[ti][i];
            if reads {
                missing += u32::from(self.request(c as usize, p, u, Some(t)));
            } else {
                self.allocate(c as usize, p);
            }
        }
        self.missing[ti] = missing;
        let pr = &mut self.procs[p];
        pr.queued.add(u as usize, run);
        if missing == 0 {
            pr.ready.push((u, t));
        }
    }

    /// An input of `t` arrived where it was placed.
    pub(super) fn input_arrived(&mut self, t: u32) {
        let ti = t as usize;
        self.missing[ti] -= 1;
        if self.missing[ti] == 0 {
            let p = self.placed_on[ti] as usize;
            self.procs[p].ready.push((self.urgency[ti], t));
        }
    }

    /// Starts queued tasks on free slots and pending transfers on idle links.
    fn dispatch(&mut self) {
        for p in 0..self.procs.len() {
            loop {
                let now = self.now;
                let pr = &mut self.procs[p];
                let Some(slot) = pr.slot_end.iter().position(|&e| e <= now) else {
                    break;
                };
                let Some((u, t)) = pr.ready.pop() else {
                    break;
                };
                let run = self.run[t as usize];
                pr.queued.add(u as usize, -run);
                pr.slot_end[slot] = now + run;
                pr.busy += run;
                pr.tasks += 1;
                self.start[t as usize] = now;
                self.task_starts(t, p);
                self.push_event(now + run, Ends::Task(t));
            }
        }
        for l in 0..self.links.len() {
            self.start_transfer(l);
        }
    }

    fn task_ends(&mut self, t: u32) {
        let ti = t as usize;
        let p = self.placed_on[ti] as usize;
        self.freed[p] = true;
        self.task_done_with_chunks(t, p);
        self.finished += 1;
        if let Some(trace) = &mut self.trace {
            let task = &self.g.tasks[ti];
            trace.tasks.push(TaskSpan {
                task: t as u64,
                kernel: task.kernel.clone(),
                dtype: task.dtype(),
                tiles: task
                    .accesses
                    .iter()
                    .map(|&(c, m)| (c as u64, m.writes()))
                    .collect(),
                processor: p,
                start: self.start[ti],
                end: self.now,
                predicted: self.run[ti],
                calibrated: true,
                flops: task.cost.flops,
                ok: true,
            });
        }
        for i in 0..self.dag.succs(ti).len() {
            let s = self.dag.succs(ti)[i] as usize;
            self.unfinished_preds[s] -= 1;
            if self.unfinished_preds[s] == 0 {
                self.ready.push((self.urgency[s], s as u32));
            }
        }
    }

    fn finish(self) -> SimReport {
        report::build(report::Raw {
            graph: self.g,
            machine: self.m,
            dag: &self.dag,
            makespan: self.now,
            busy: self.procs.iter().map(|p| p.busy).collect(),
            tasks: self.procs.iter().map(|p| p.tasks).collect(),
            links: &self.links,
            evictions: self.evictions,
            peak_memory: self.peak,
            trace: self.trace,
        })
    }
}

/// Each task's rank in the order resources serve them (higher first): by bottom level when
/// `priorities`, then by the task's own priority, then earlier spawned first.
fn urgency(g: &SimGraph, m: &Machine, dag: &Dag, priorities: bool) -> Vec<u32> {
    let n = g.tasks.len();
    let level = if priorities {
        // HEFT's weight: the mean predicted run time over the processors that can run it.
        let levels = bottom_levels(dag, |t| {
            let task = &g.tasks[t];
            let (sum, count) = m
                .processors
                .iter()
                .enumerate()
                .filter(|(i, p)| {
                    p.slots > 0
                        && if *i == HOST {
                            task.has_cpu
                        } else {
                            task.has_gpu
                        }
                })
                .fold((0.0, 0usize), |(s, c), (_, p)| {
                    (s + p.model.run(task.cost), c + 1)
                });
            sum / count.max(1) as f64
        });
        priorities_from_levels(&levels)
    } else {
        vec![0; n]
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by_key(|&t| (level[t], g.tasks[t].priority, Reverse(t)));
    let mut rank = vec![0u32; n];
    for (r, &t) in order.iter().enumerate() {
        rank[t] = r as u32;
    }
    rank
}
