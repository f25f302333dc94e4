//! What a simulation reports, and the lower bounds it measures the schedule against.

use std::collections::HashMap;
use std::fmt;

use crate::runtime::placement::ProcessorModel;
use crate::runtime::priority::{Dag, bottom_levels};
use crate::trace::Trace;

use super::data::{HOST, Link};
use super::graph::SimGraph;
use super::machine::{Machine, ProcessorKind};

/// Traffic on one GPU's host link.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkStats {
    /// Bytes copied from the host to the device.
    pub to_device: u64,
    /// Bytes copied from the device to the host.
    pub to_host: u64,
    /// Seconds the host-to-device direction was busy.
    pub busy_to_device: f64,
    /// Seconds the device-to-host direction was busy.
    pub busy_to_host: f64,
}

/// The outcome of [`simulate`](super::simulate). Times are seconds of the virtual clock;
/// per-processor vectors are indexed like [`Machine::processors`].
#[derive(Clone, Debug)]
pub struct SimReport {
    /// Processor names.
    pub names: Vec<String>,
    /// Processor slots (0: the machine has no CPU).
    pub slots: Vec<usize>,
    /// When the last task finished.
    pub makespan: f64,
    /// Seconds each processor's slots spent running tasks (summed over slots).
    pub busy: Vec<f64>,
    /// Tasks each processor ran.
    pub tasks_per_processor: Vec<usize>,
    /// Bytes copied over all links.
    pub bytes_moved: u64,
    /// Per GPU `d`, its link's traffic.
    pub links: Vec<LinkStats>,
    /// Replicas dropped from device memory to make room.
    pub evictions: usize,
    /// The most device memory each processor's space held at once (0 for the host).
    pub peak_memory: Vec<u64>,
    /// Lower bound: the heaviest path through the graph with every task on its fastest
    /// processor and no transfers.
    pub critical_path: f64,
    /// Lower bound: the best fractional assignment of the tasks' predicted run times to the
    /// processors' slots (see [`work_bound`]).
    pub work_bound: f64,
    /// `max(critical_path, work_bound)`.
    pub lower_bound: f64,
    /// Not a lower bound, reported beside it: the seconds the host links need to carry once
    /// every chunk whose first access reads it (all must leave the host if the GPUs do the
    /// work), over all GPU links in parallel. The CPU could avoid this by doing the work, so
    /// it is excluded from `lower_bound`; when the GPUs hold nearly all the compute it is a
    /// floor on the link time.
    pub link_floor: f64,
    /// `lower_bound / makespan` (1 for an empty graph).
    pub efficiency: f64,
    /// The trace, when [`SimOptions::trace`](super::SimOptions::trace) was set.
    pub trace: Option<Trace>,
}

/// What the engine hands over at the end.
pub(super) struct Raw<'a> {
    pub(super) graph: &'a SimGraph,
    pub(super) machine: &'a Machine,
    pub(super) dag: &'a Dag,
    pub(super) makespan: f64,
    pub(super) busy: Vec<f64>,
    pub(super) tasks: Vec<usize>,
    pub(super) links: &'a [Link],
    pub(super) evictions: usize,
    pub(super) peak_memory: Vec<u64>,
    pub(super) trace: Option<Trace>,
}

pub(super) fn build(raw: Raw<'_>) -> SimReport {
    let (g, m) = (raw.graph, raw.machine);
    let links: Vec<LinkStats> = raw
        .links
        .chunks(2)
        .map(|l| LinkStats {
            to_device: l[0].bytes,
            to_host: l[1].bytes,
            busy_to_device: l[0].busy,
            busy_to_host: l[1].busy,
        })
        .collect();
    let runs = run_times(g, m);
    let levels = bottom_levels(raw.dag, |t| {
        runs[t].iter().copied().fold(f64::INFINITY, f64::min)
    });
    let critical_path = levels.iter().copied().fold(0.0, f64::max);
    let work_bound = work_bound(g, m);
    let lower_bound = critical_path.max(work_bound);
    SimReport {
        names: m.processors.iter().map(|p| p.name.clone()).collect(),
        slots: m.processors.iter().map(|p| p.slots).collect(),
        makespan: raw.makespan,
        busy: raw.busy,
        tasks_per_processor: raw.tasks,
        bytes_moved: links.iter().map(|l| l.to_device + l.to_host).sum(),
        links,
        evictions: raw.evictions,
        peak_memory: raw.peak_memory,
        critical_path,
        work_bound,
        lower_bound,
        link_floor: link_floor(g, m),
        efficiency: if raw.makespan > 0.0 {
            lower_bound / raw.makespan
        } else {
            1.0
        },
        trace: raw.trace,
    }
}

/// Per task, its predicted run time on each processor (infinite where it cannot run).
fn run_times(g: &SimGraph, m: &Machine) -> Vec<Vec<f64>> {
    g.tasks
        .iter()
        .map(|t| {
            m.processors
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let able = if i == HOST { t.has_cpu } else { t.has_gpu };
                    if able && p.slots > 0 {
                        p.model.run(t.cost)
                    } else {
                        f64::INFINITY
                    }
                })
                .collect()
        })
        .collect()
}

/// The fractional-assignment lower bound on the makespan: the optimum of the linear program
/// "split every task among the processors that can run it so that the busiest slot is least
/// busy", ignoring dependencies and transfers.
///
/// Computed through its dual: for any weights `y_p >= 0` with `sum_p y_p * slots_p = 1`,
/// `sum_t min_p y_p * run(t, p)` is a lower bound, and the best weights reach the LP optimum.
/// Identical processors share a weight, so the search runs over processor *types* (usually
/// two: the CPU and the GPUs) by pairwise golden-section steps on the concave objective; every
/// point tried is a valid bound. With one type it is total work over total slots; unlike
/// "flops / total FLOP/s" it honours rooflines, per-task latencies and tasks that only one
/// kind of processor runs.
pub fn work_bound(g: &SimGraph, m: &Machine) -> f64 {
    // Processor types: (kind, model) with their total slots.
    let mut types: Vec<(ProcessorKind, ProcessorModel, f64)> = Vec::new();
    for p in m.processors.iter().filter(|p| p.slots > 0) {
        match types.iter_mut().find(|t| t.0 == p.kind && t.1 == p.model) {
            Some(t) => t.2 += p.slots as f64,
            None => types.push((p.kind, p.model, p.slots as f64)),
        }
    }
    if types.is_empty() || g.tasks.is_empty() {
        return 0.0;
    }
    // Classes of tasks with the same run times on every type, with their counts.
    let mut classes: HashMap<Vec<u64>, f64> = HashMap::new();
    for t in &g.tasks {
        let key = types
            .iter()
            .map(|&(kind, model, _)| {
                let able = match kind {
                    ProcessorKind::Cpu => t.has_cpu,
                    ProcessorKind::Gpu => t.has_gpu,
                };
                if able {
                    model.run(t.cost)
                } else {
                    f64::INFINITY
                }
                .to_bits()
            })
            .collect();
        *classes.entry(key).or_default() += 1.0;
    }
    let classes: Vec<(Vec<f64>, f64)> = classes
        .into_iter()
        .map(|(k, n)| (k.into_iter().map(f64::from_bits).collect(), n))
        .collect();
    let slots: Vec<f64> = types.iter().map(|t| t.2).collect();
    // The dual objective at weights w (w_k = y_k * slots_k, on the simplex).
    let bound = |w: &[f64]| -> f64 {
        classes
            .iter()
            .map(|(runs, n)| {
                let best = runs
                    .iter()
                    .zip(w.iter().zip(&slots))
                    .filter(|(r, _)| r.is_finite())
                    .map(|(r, (w, s))| w / s * r)
                    .fold(f64::INFINITY, f64::min);
                n * best
            })
            .sum()
    };
    let k = types.len();
    let mut w = vec![1.0 / k as f64; k];
    let mut best = bound(&w);
    for _ in 0..20 {
        let before = best;
        for i in 0..k {
            for j in i + 1..k {
                // Move weight between i and j: w_i = a, w_j = total - a.
                let total = w[i] + w[j];
                let at = |a: f64, w: &mut Vec<f64>| {
                    w[i] = a;
                    w[j] = total - a;
                    bound(w)
                };
                let old = w[i];
                let (mut lo, mut hi) = (0.0, total);
                let phi = (5f64.sqrt() - 1.0) / 2.0;
                for _ in 0..80 {
                    let a = hi - phi * (hi - lo);
                    let b = lo + phi * (hi - lo);
                    if at(a, &mut w) < at(b, &mut w) {
                        lo = a;
                    } else {
                        hi = b;
                    }
                }
                let v = at((lo + hi) / 2.0, &mut w);
                if v >= best {
                    best = v;
                } else {
                    at(old, &mut w);
                }
            }
        }
        if best <= before * (1.0 + 1e-12) {
            break;
        }
    }
    best
}

/// See [`SimReport::link_floor`].
fn link_floor(g: &SimGraph, m: &Machine) -> f64 {
    let bandwidth: f64 = m.processors[1..]
        .iter()
        .filter(|p| p.slots > 0)
        .map(|p| p.model.link_bandwidth)
        .sum();
    if bandwidth == 0.0 {
        return 0.0;
    }
    let mut seen = vec![false; g.chunks.len()];
    let mut bytes = 0u64;
    for t in &g.tasks {
        for &(c, mode) in &t.accesses {
            if !seen[c] {
                seen[c] = true;
                if mode.reads() {
                    bytes += g.chunks[c];
                }
            }
        }
    }
    bytes as f64 / bandwidth
}

impl fmt::Display for SimReport {
    /// A summary, a table per processor and one per link.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "makespan {:.6} s, lower bound {:.6} s (critical path {:.6}, work {:.6}), \
             efficiency {:.1} %",
            self.makespan,
            self.lower_bound,
            self.critical_path,
            self.work_bound,
            100.0 * self.efficiency
        )?;
        writeln!(
            f,
            "moved {:.3} GB, link floor {:.6} s, {} evictions",
            self.bytes_moved as f64 / 1e9,
            self.link_floor,
            self.evictions
        )?;
        writeln!(
            f,
            "{:<8} {:>8} {:>12} {:>8}",
            "proc", "tasks", "busy s", "util %"
        )?;
        for (i, name) in self.names.iter().enumerate() {
            if self.slots[i] == 0 {
                continue;
            }
            let util = if self.makespan > 0.0 {
                100.0 * self.busy[i] / (self.makespan * self.slots[i] as f64)
            } else {
                0.0
            };
            writeln!(
                f,
                "{:<8} {:>8} {:>12.6} {:>8.1}",
                name, self.tasks_per_processor[i], self.busy[i], util
            )?;
        }
        if !self.links.is_empty() {
            writeln!(
                f,
                "{:<8} {:>12} {:>12} {:>10} {:>10}",
                "link", "to dev GB", "to host GB", "down s", "up s"
            )?;
            for (d, l) in self.links.iter().enumerate() {
                writeln!(
                    f,
                    "{:<8} {:>12.3} {:>12.3} {:>10.6} {:>10.6}",
                    self.names[d + 1],
                    l.to_device as f64 / 1e9,
                    l.to_host as f64 / 1e9,
                    l.busy_to_device,
                    l.busy_to_host
                )?;
            }
        }
        Ok(())
    }
}
