//! `tessera simulate cholesky`: the library's own tiled Cholesky, captured as a task graph
//! without running it, scheduled on a modelled machine with a virtual clock.

use std::time::Instant;

use tessera::sim::{Machine, SimOptions};
use tessera::{Blocks, DArray, EarliestFinish};

/// Options of `tessera simulate cholesky`.
pub(crate) struct Simulate<'a> {
    pub(crate) n: usize,
    pub(crate) block: usize,
    pub(crate) dtype: &'a str,
    pub(crate) gpus: Vec<usize>,
    pub(crate) machine: Option<&'a str>,
    pub(crate) gpu: &'a str,
    pub(crate) cpu: &'a str,
    pub(crate) no_priorities: bool,
    pub(crate) trace: Option<&'a std::path::Path>,
}

pub(crate) fn cholesky(o: &Simulate<'_>) -> tessera::Result<()> {
    let t = Instant::now();
    let (n, nb) = (o.n, o.block);
    let graph = match o.dtype {
        "f64" => tessera::sim::record(|rt| {
            DArray::<f64>::zeros(rt, n, n, Blocks::square(nb)).cholesky()
        })?,
        "f32" => tessera::sim::record(|rt| {
            DArray::<f32>::zeros(rt, n, n, Blocks::square(nb)).cholesky()
        })?,
        d => {
            return Err(tessera::Error::Config(format!(
                "--dtype {d}: use f64 or f32"
            )));
        }
    };
    let bytes: u64 = graph.chunks.iter().sum();
    println!(
        "Cholesky of a {n} x {n} {} matrix in {nb} x {nb} tiles: {} tasks over {} tiles ({:.1} GB), captured from tessera's own Cholesky in {:.2} s",
        o.dtype,
        graph.tasks.len(),
        graph.chunks.len(),
        bytes as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );
    let opts = SimOptions {
        priorities: !o.no_priorities,
        trace: o.trace.is_some(),
        ..SimOptions::default()
    };
    let descs: Vec<String> = match o.machine {
        Some(m) => vec![m.to_string()],
        None => o
            .gpus
            .iter()
            .map(|&k| {
                if k == 0 {
                    o.cpu.to_string()
                } else {
                    format!("{} + {k}*{}", o.cpu, o.gpu)
                }
            })
            .collect(),
    };
    println!(
        "{:>42}  {:>10} {:>10} {:>10} {:>6} {:>8} {:>9}",
        "machine", "makespan", "bound", "crit.path", "eff", "speed-up", "moved GB"
    );
    let mut first: Option<f64> = None;
    let mut last = None;
    for desc in &descs {
        let m = Machine::parse(desc)?;
        let t = Instant::now();
        let r = tessera::sim::simulate(&graph, &m, &EarliestFinish, &opts);
        let base = *first.get_or_insert(r.makespan);
        println!(
            "{:>42}  {:>9.3}s {:>9.3}s {:>9.3}s {:>6.3} {:>7.2}x {:>9.1}   ({:.1} s to simulate)",
            desc,
            r.makespan,
            r.lower_bound,
            r.critical_path,
            r.efficiency,
            base / r.makespan,
            r.bytes_moved as f64 / 1e9,
            t.elapsed().as_secs_f64()
        );
        last = Some(r);
    }
    if let Some(r) = last {
        println!("\nlast machine in detail:\n{r}");
        if let (Some(dir), Some(trace)) = (o.trace, &r.trace) {
            let files = trace.write_all(dir).map_err(|e| {
                tessera::Error::Config(format!("cannot write the trace to {}: {e}", dir.display()))
            })?;
            println!("trace written:");
            for f in files {
                println!("  {}", f.display());
            }
        }
    }
    Ok(())
}
