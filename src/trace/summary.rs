//! Totals of a trace, and their plain-text tables.

use std::fmt;

use super::format::{self, Table};
use super::layout::Layout;
use super::{Place, Trace, processor_label};

/// Totals of one kernel on one processor.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelStats {
    /// Kernel name.
    pub kernel: String,
    /// Processor index.
    pub processor: usize,
    /// Tasks run.
    pub count: usize,
    /// Sum of measured run times, seconds.
    pub measured: f64,
    /// Sum of predicted run times, seconds.
    pub predicted: f64,
    /// Sum of estimated floating-point operations.
    pub flops: f64,
}

/// How busy one processor was.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessorBusy {
    /// Processor index.
    pub processor: usize,
    /// Display name.
    pub name: String,
    /// Tasks it runs at once.
    pub slots: usize,
    /// Tasks it ran.
    pub tasks: usize,
    /// Sum of its tasks' run times, seconds (overlapping tasks on several slots all count).
    pub busy: f64,
    /// `busy / (makespan × slots)`; 0 for an empty trace.
    pub busy_fraction: f64,
}

/// Copies over one link (one direction between two places).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkStats {
    /// Source.
    pub from: Place,
    /// Destination.
    pub to: Place,
    /// Copies.
    pub count: usize,
    /// Bytes moved.
    pub bytes: u64,
    /// Sum of copy times, seconds.
    pub seconds: f64,
}

impl LinkStats {
    /// Average bandwidth while copying, GB/s (10^9 bytes per second); `None` if no time passed.
    pub fn gb_per_s(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.bytes as f64 / self.seconds / 1e9)
    }
}

/// Totals of a trace: see [`Trace::summary`]. Its `Display` prints aligned plain-text tables.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Whether the trace is a simulated machine's.
    pub simulated: bool,
    /// [`Trace::makespan`], seconds.
    pub makespan: f64,
    /// Tasks recorded.
    pub tasks: usize,
    /// Tasks that failed.
    pub failed: usize,
    /// Per kernel and processor, by kernel name then processor index.
    pub kernels: Vec<KernelStats>,
    /// Per processor, in lane order.
    pub processors: Vec<ProcessorBusy>,
    /// Per link, by source then destination (host first, then devices by index).
    pub links: Vec<LinkStats>,
    /// Bytes moved over all links.
    pub bytes_moved: u64,
    /// Evictions.
    pub evictions: usize,
    /// Bytes the evictions freed.
    pub evicted_bytes: u64,
    /// Evictions that wrote the only current value back to the host first.
    pub dirty_evictions: usize,
    /// Fraction of tasks whose placement used a calibrated model entry; 0 without tasks.
    pub calibrated_fraction: f64,
}

impl Trace {
    /// Totals: makespan; count, measured and predicted time per kernel and processor; busy time
    /// and fraction per processor; bytes per link; evictions; the fraction of tasks placed with
    /// a calibrated model.
    ///
    /// # Examples
    /// ```
    /// use tessera::trace::{Lane, TaskSpan, Trace};
    /// let task = |task, start, end| TaskSpan {
    ///     task, kernel: "gemm".into(), dtype: None, tiles: vec![], processor: 0,
    ///     start, end, predicted: 0.5, calibrated: task == 1, flops: 1e9, ok: true,
    /// };
    /// let trace = Trace {
    ///     lanes: vec![Lane { processor: 0, name: "cpu".into(), slots: 2 }],
    ///     tasks: vec![task(1, 0.0, 1.0), task(2, 0.0, 0.5)],
    ///     ..Trace::default()
    /// };
    /// let s = trace.summary();
    /// assert_eq!(s.makespan, 1.0);
    /// assert_eq!(s.processors[0].busy_fraction, 0.75);
    /// assert_eq!(s.calibrated_fraction, 0.5);
    /// println!("{s}");
    /// ```
    pub fn summary(&self) -> Summary {
        let makespan = self.makespan();
        let layout = Layout::new(self);

        let processors = layout
            .processors
            .iter()
            .map(|lane| {
                let (tasks, busy) = self
                    .tasks
                    .iter()
                    .filter(|t| t.processor == lane.processor)
                    .fold((0, 0.0), |(n, b), t| (n + 1, b + t.duration()));
                let capacity = makespan * lane.slots as f64;
                ProcessorBusy {
                    processor: lane.processor,
                    name: lane.name.clone(),
                    slots: lane.slots,
                    tasks,
                    busy,
                    busy_fraction: if capacity > 0.0 { busy / capacity } else { 0.0 },
                }
            })
            .collect();

        let mut kernels: Vec<KernelStats> = Vec::new();
        let mut order: Vec<usize> = (0..self.tasks.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&self.tasks[a], &self.tasks[b]);
            a.kernel.cmp(&b.kernel).then(a.processor.cmp(&b.processor))
        });
        for i in order {
            let t = &self.tasks[i];
            match kernels.last_mut() {
                Some(k) if k.kernel == t.kernel && k.processor == t.processor => {
                    k.count += 1;
                    k.measured += t.duration();
                    k.predicted += t.predicted;
                    k.flops += t.flops;
                }
                _ => kernels.push(KernelStats {
                    kernel: t.kernel.clone(),
                    processor: t.processor,
                    count: 1,
                    measured: t.duration(),
                    predicted: t.predicted,
                    flops: t.flops,
                }),
            }
        }

        let links: Vec<LinkStats> = layout
            .links
            .iter()
            .map(|lane| {
                let copies = lane.rows.iter().flatten().map(|&i| &self.transfers[i]);
                LinkStats {
                    from: lane.from,
                    to: lane.to,
                    count: lane.rows.iter().map(Vec::len).sum(),
                    bytes: copies.clone().map(|c| c.bytes).sum(),
                    seconds: copies.map(|c| c.duration()).sum(),
                }
            })
            .collect();

        let calibrated = self.tasks.iter().filter(|t| t.calibrated).count();
        Summary {
            simulated: self.simulated,
            makespan,
            tasks: self.tasks.len(),
            failed: self.tasks.iter().filter(|t| !t.ok).count(),
            kernels,
            processors,
            bytes_moved: links.iter().map(|l| l.bytes).sum(),
            links,
            evictions: self.evictions.len(),
            evicted_bytes: self.evictions.iter().map(|e| e.bytes).sum(),
            dirty_evictions: self.evictions.iter().filter(|e| e.dirty).count(),
            calibrated_fraction: if self.tasks.is_empty() {
                0.0
            } else {
                calibrated as f64 / self.tasks.len() as f64
            },
        }
    }
}

impl fmt::Display for Summary {
    /// A header line (`makespan 1.234 s (measured)`), a line of task counts, then tables per
    /// processor, per kernel and processor, and per link, and a line on evictions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = |s: f64| format::time(s, false);
        writeln!(
            f,
            "makespan {} ({})",
            t(self.makespan),
            if self.simulated {
                "simulated"
            } else {
                "measured"
            }
        )?;
        writeln!(
            f,
            "tasks {} ({} failed), {} placed with a calibrated model",
            self.tasks,
            self.failed,
            format::percent(self.calibrated_fraction)
        )?;

        let mut table = Table::new(&["<processor", "slots", "tasks", "busy", "busy %"]);
        for p in &self.processors {
            table.row(vec![
                p.name.clone(),
                p.slots.to_string(),
                p.tasks.to_string(),
                t(p.busy),
                format::percent(p.busy_fraction),
            ]);
        }
        if !table.is_empty() {
            write!(f, "\n{table}")?;
        }

        let mut table = Table::new(&[
            "<kernel",
            "<on",
            "count",
            "measured",
            "predicted",
            "mean",
            "pred/meas",
            "GFLOP/s",
        ]);
        for k in &self.kernels {
            let ratio = if k.measured > 0.0 {
                format!("{:.2}", k.predicted / k.measured)
            } else {
                "-".to_owned()
            };
            let rate = if k.measured > 0.0 && k.flops > 0.0 {
                format!("{:.2}", k.flops / k.measured / 1e9)
            } else {
                "-".to_owned()
            };
            table.row(vec![
                k.kernel.clone(),
                processor_label(k.processor),
                k.count.to_string(),
                t(k.measured),
                t(k.predicted),
                t(k.measured / k.count as f64),
                ratio,
                rate,
            ]);
        }
        if !table.is_empty() {
            write!(f, "\n{table}")?;
        }

        if self.links.is_empty() {
            writeln!(f, "\nno copies")?;
        } else {
            let mut table = Table::new(&["<link", "copies", "bytes", "time", "GB/s"]);
            let rate = |g: Option<f64>| g.map_or("-".to_owned(), |g| format!("{g:.2}"));
            for l in &self.links {
                table.row(vec![
                    format!("{}->{}", l.from, l.to),
                    l.count.to_string(),
                    format::bytes(l.bytes),
                    t(l.seconds),
                    rate(l.gb_per_s()),
                ]);
            }
            let total = LinkStats {
                from: Place::Host,
                to: Place::Host,
                count: self.links.iter().map(|l| l.count).sum(),
                bytes: self.bytes_moved,
                seconds: self.links.iter().map(|l| l.seconds).sum(),
            };
            table.row(vec![
                "total".to_owned(),
                total.count.to_string(),
                format::bytes(total.bytes),
                t(total.seconds),
                rate(total.gb_per_s()),
            ]);
            write!(f, "\n{table}")?;
        }
        writeln!(
            f,
            "\nevictions {} ({} dirty), {} freed",
            self.evictions,
            self.dirty_evictions,
            format::bytes(self.evicted_bytes)
        )
    }
}
