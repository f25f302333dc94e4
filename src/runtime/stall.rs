//! The stall report: with `TESSERA_STALL_REPORT=<seconds>` set, a watchdog thread prints every
//! unfinished task (phase, counters, predecessors, placement, readbacks awaited) and the
//! coherence state of its chunks to standard error whenever tasks are outstanding but none has
//! finished for that long. A diagnostic for runtime bugs and for user code that waits on
//! itself; off by default, and then it costs one branch per task.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::runtime::processor::Processor;
use crate::runtime::sched::{HOST, Shared};
use crate::runtime::task::{PredState, Task};

/// The live tasks, by id, kept only while stall reports are on.
#[derive(Default)]
pub(crate) struct LiveTasks(Mutex<HashMap<u64, Weak<Task>>>);

impl LiveTasks {
    pub(crate) fn insert(&self, t: &Arc<Task>) {
        self.0.lock().insert(t.id.0, Arc::downgrade(t));
    }

    pub(crate) fn remove(&self, t: &Task) {
        self.0.lock().remove(&t.id.0);
    }

    fn snapshot(&self) -> Vec<Arc<Task>> {
        let mut v: Vec<_> = self.0.lock().values().filter_map(Weak::upgrade).collect();
        v.sort_by_key(|t| t.id.0);
        v
    }
}

/// The report interval from `TESSERA_STALL_REPORT`, if set to a positive number of seconds.
pub(crate) fn interval_from_env() -> Option<Duration> {
    let v = std::env::var("TESSERA_STALL_REPORT").ok()?;
    match v.trim().parse::<f64>() {
        Ok(s) if s > 0.0 => Some(Duration::from_secs_f64(s)),
        _ => {
            eprintln!("tessera: TESSERA_STALL_REPORT=`{v}` is not a positive number of seconds");
            None
        }
    }
}

/// Starts the watchdog for `shared`; it ends when the runtime does.
pub(crate) fn watch(shared: &Arc<Shared>, every: Duration) {
    let weak = Arc::downgrade(shared);
    let _ = std::thread::Builder::new()
        .name("tessera-stall".into())
        .spawn(move || {
            let mut last = (u64::MAX, Instant::now());
            let mut reported = false;
            loop {
                std::thread::sleep(every.min(Duration::from_millis(250)));
                let Some(sh) = weak.upgrade() else { return };
                let finished = sh.finished.load(Ordering::Relaxed);
                if finished != last.0 || sh.outstanding() == 0 {
                    last = (finished, Instant::now());
                    reported = false;
                    continue;
                }
                if !reported && last.1.elapsed() >= every {
                    // Straight to the process's standard error: `eprintln!` would be captured
                    // by a test harness that started the runtime from a test thread.
                    use std::io::Write as _;
                    let text = report(&sh, last.1.elapsed());
                    let _ = std::io::stderr().lock().write_all(text.as_bytes());
                    reported = true;
                }
            }
        });
}

/// The text of one report.
pub(crate) fn report(sh: &Shared, quiet: Duration) -> String {
    let mut out = String::new();
    let tasks = sh
        .live
        .as_ref()
        .map(LiveTasks::snapshot)
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "tessera: no task finished for {:.1} s; {} outstanding, {} finished so far",
        quiet.as_secs_f64(),
        sh.outstanding(),
        sh.finished.load(Ordering::Relaxed)
    );
    for t in &tasks {
        let s = t.state.lock();
        let preds: Vec<String> = s
            .preds
            .iter()
            .map(|(id, st)| match st {
                PredState::Pending => format!("{}:pending", id.0),
                PredState::Committed(d, f) => format!(
                    "{}:committed(gpu{d}{})",
                    id.0,
                    if f.load(Ordering::Relaxed) {
                        ",failed"
                    } else {
                        ""
                    }
                ),
                PredState::Done => format!("{}:done", id.0),
            })
            .collect();
        let placed = match s.placed {
            None => "-".to_string(),
            Some(HOST) => "host".to_string(),
            Some(p) => Processor::from_index(p).to_string(),
        };
        let _ = writeln!(
            out,
            "  task {} `{}` {:?} placed={placed} unfinished={} uncommitted={} fetches={} \
             poisoned={:?} succs={} preds=[{}]",
            t.id.0,
            t.name(),
            s.phase,
            s.unfinished,
            s.uncommitted,
            s.fetches,
            s.poisoned.map(|p| p.0),
            s.succs.len(),
            preds.join(" ")
        );
        drop(s);
        for (c, mode) in t.args.lock().iter() {
            let coh = c.coh.lock();
            let devs: Vec<String> = coh
                .dev
                .iter()
                .enumerate()
                .map(|(d, r)| {
                    format!(
                        "gpu{d}={:?}{}",
                        r.state,
                        if r.buf.is_some() { "" } else { "(no buf)" }
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "    {mode} {}: host={:?} zero={} {} fetching={}",
                c.id,
                coh.host,
                coh.zero,
                devs.join(" "),
                coh.fetching.as_ref().map_or(0, Vec::len)
            );
        }
    }
    if sh.live.is_none() {
        out.push_str("  (task list unavailable: the runtime was built without stall reports)\n");
    }
    out
}
