//! The Chrome trace-event JSON export (also read by Perfetto).
//!
//! Format: "Trace Event Format", <https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU>.
//! Complete events (`"ph":"X"`) for tasks and copies, instant events (`"ph":"i"`) for evictions
//! and decisions, metadata events (`"ph":"M"`) naming and ordering the threads. Times are
//! microseconds.

use serde_json::{Value, json};

use super::layout::Layout;
use super::{Trace, processor_label};

/// Most placement decisions written; the rest are counted in the `otherData` section.
pub const MAX_DECISIONS: usize = 20_000;

/// The one process all lanes belong to.
const PID: u64 = 1;

/// Seconds to microseconds, rounded to the nanosecond (so `0.1 s` prints as `100000.0`, not
/// `100000.00000000001`); non-finite times become 0.
fn us(seconds: f64) -> f64 {
    if seconds.is_finite() {
        (seconds * 1e9).round() / 1e3
    } else {
        0.0
    }
}

impl Trace {
    /// The trace in Chrome's trace-event JSON (`{"traceEvents": [...]}`), for
    /// <https://ui.perfetto.dev> or `chrome://tracing`.
    ///
    /// One process; one thread per lane: a processor lane whose tasks overlap (a CPU pool with
    /// several slots) gets one thread per sub-row, named `<lane> [k]`, so no span hides another.
    /// Then one thread per transfer link (`host->gpu0`, `gpu0->host`, ...) and, if there are
    /// decisions, a `scheduler` thread. Threads are named and ordered by metadata events.
    ///
    /// - Tasks: complete events named by kernel, with `args` `task`, `tiles` (chunk ids, `w`
    ///   marking written ones), `dtype`, `predicted_us`, `measured_us`, `calibrated`, `flops`,
    ///   `ok`.
    /// - Copies: complete events named by link, with `args` `chunk`, `bytes` and `gb_per_s`.
    /// - Evictions: instant events `evict` on the device's lane, with `chunk`, `bytes`, `dirty`.
    /// - Decisions: instant events `place #task` on the scheduler lane with `chosen`, `priority`
    ///   and every candidate (`processor`, `finish_us`, `transfer_us`, `run_us`); at most the
    ///   first [`MAX_DECISIONS`] by time, so the file stays small.
    ///
    /// `ts` and `dur` are microseconds since the trace began; `displayTimeUnit` is `ns`;
    /// `otherData` holds `simulated`, `makespan_us` and the number of decisions left out.
    pub fn to_chrome_json(&self) -> String {
        let layout = Layout::new(self);
        let mut events: Vec<Value> = Vec::new();
        let meta = |name: &str, tid: u64, args: Value| json!({ "name": name, "ph": "M", "pid": PID, "tid": tid, "args": args });
        let process = if self.simulated {
            "tessera (simulated)"
        } else {
            "tessera"
        };
        events.push(meta("process_name", 0, json!({ "name": process })));
        events.push(meta("process_sort_index", 0, json!({ "sort_index": 0 })));

        let mut tid = 0u64;
        let mut thread = |events: &mut Vec<Value>, name: String| {
            tid += 1;
            events.push(meta("thread_name", tid, json!({ "name": name })));
            events.push(meta("thread_sort_index", tid, json!({ "sort_index": tid })));
            tid
        };

        let mut device_tid = Vec::new();
        for lane in &layout.processors {
            let split = lane.rows.len() > 1;
            for (k, row) in lane.rows.iter().enumerate() {
                let name = if split {
                    format!("{} [{k}]", lane.name)
                } else {
                    lane.name.clone()
                };
                let t = thread(&mut events, name);
                if k == 0 {
                    device_tid.push((lane.processor, t));
                }
                for &i in row {
                    events.push(self.task_event(i, t));
                }
            }
        }
        for link in &layout.links {
            let split = link.rows.len() > 1;
            for (k, row) in link.rows.iter().enumerate() {
                let name = if split {
                    format!("{} [{k}]", link.name())
                } else {
                    link.name()
                };
                let t = thread(&mut events, name);
                for &i in row {
                    let c = &self.transfers[i];
                    let mut args = json!({ "chunk": c.chunk, "bytes": c.bytes });
                    if let Some(g) = c.gb_per_s() {
                        args["gb_per_s"] = json!(g);
                    }
                    events.push(json!({
                        "name": link.name(), "cat": "transfer", "ph": "X", "pid": PID, "tid": t,
                        "ts": us(c.start), "dur": us(c.duration()), "args": args,
                    }));
                }
            }
        }
        for e in &self.evictions {
            let Some(&(_, t)) = device_tid.iter().find(|(p, _)| *p == e.device + 1) else {
                unreachable!("the layout has a lane for every evicting device")
            };
            events.push(json!({
                "name": "evict", "cat": "memory", "ph": "i", "s": "t", "pid": PID, "tid": t,
                "ts": us(e.time),
                "args": { "chunk": e.chunk, "bytes": e.bytes, "dirty": e.dirty },
            }));
        }

        let mut decisions: Vec<usize> = (0..self.decisions.len()).collect();
        decisions.sort_by(|&a, &b| self.decisions[a].time.total_cmp(&self.decisions[b].time));
        decisions.truncate(MAX_DECISIONS);
        if !decisions.is_empty() {
            let t = thread(&mut events, "scheduler".to_owned());
            for i in decisions {
                let d = &self.decisions[i];
                let candidates: Vec<Value> = d
                    .candidates
                    .iter()
                    .map(|c| {
                        json!({
                            "processor": processor_label(c.processor),
                            "finish_us": us(c.finish),
                            "transfer_us": us(c.transfer),
                            "run_us": us(c.run),
                        })
                    })
                    .collect();
                events.push(json!({
                    "name": format!("place #{}", d.task), "cat": "scheduler", "ph": "i",
                    "s": "t", "pid": PID, "tid": t, "ts": us(d.time),
                    "args": {
                        "task": d.task,
                        "chosen": processor_label(d.chosen),
                        "priority": d.priority,
                        "candidates": candidates,
                    },
                }));
            }
        }

        json!({
            "traceEvents": events,
            "displayTimeUnit": "ns",
            "otherData": {
                "simulated": self.simulated,
                "makespan_us": us(self.makespan()),
                "decisions_left_out": self.decisions.len().saturating_sub(MAX_DECISIONS),
            },
        })
        .to_string()
    }

    /// Task `i`'s complete event on thread `tid`.
    fn task_event(&self, i: usize, tid: u64) -> Value {
        let t = &self.tasks[i];
        let tiles: Vec<String> = t
            .tiles
            .iter()
            .map(|&(c, w)| if w { format!("{c}w") } else { c.to_string() })
            .collect();
        json!({
            "name": t.kernel, "cat": "task", "ph": "X", "pid": PID, "tid": tid,
            "ts": us(t.start), "dur": us(t.duration()),
            "args": {
                "task": t.task,
                "tiles": tiles,
                "dtype": t.dtype.map(|d| d.name()),
                "predicted_us": us(t.predicted),
                "measured_us": us(t.duration()),
                "calibrated": t.calibrated,
                "flops": t.flops,
                "ok": t.ok,
            },
        })
    }
}
