//! A modelled machine: processors with given rates and the links that feed the GPUs.
//!
//! Processor indices follow the runtime's table (and [`Trace`](crate::trace::Trace)): index 0 is
//! the CPU, index `d + 1` is GPU `d`. A machine always has the index-0 entry; a machine without
//! a CPU processor has one with **zero slots**, which never runs a task (host memory, where
//! every chunk starts, still exists).
//!
//! # Descriptions
//! [`Machine::parse`] reads a one-line description, for example
//! `cpu:2@50G + 4*gpu@50T, link 25G, mem 16G`:
//!
//! ```text
//! machine   = group { "+" group }
//! group     = [ count "*" ] kind [ ":" slots ] [ "@" rate ] { "," attribute }
//! kind      = "cpu" | "gpu"
//! attribute = "link" rate      host link bandwidth in bytes/s, each way (gpu only)
//!           | "lat" time       host link latency per transfer (gpu only)
//!           | "mem" size       device memory in bytes (gpu only; default unlimited)
//!           | "bw" rate        memory bandwidth per slot in bytes/s (roofline)
//!           | "launch" time    fixed cost of every task (launch, scheduling)
//! rate,size = number [ "k" | "K" | "M" | "G" | "T" | "Ki" | "Mi" | "Gi" | "Ti" ] [ "B" ] [ "/s" ]
//! time      = number ( "s" | "ms" | "us" | "µs" | "ns" )
//! ```
//!
//! - `@rate` is FLOP/s **per slot**: `cpu:2@50G` is two threads of 50 GFLOP/s each (100 GFLOP/s
//!   in total); a GPU has one slot unless `gpu:N` says otherwise.
//! - `k`, `M`, `G`, `T` are powers of 1000; `Ki`, `Mi`, `Gi`, `Ti` powers of 1024. A trailing `B`
//!   or `/s` is allowed and ignored (`25GB/s` = `25G`).
//! - Attributes apply to the group they follow: in `cpu:2@50G + 4*gpu@50T, link 25G` the link
//!   is the GPUs'. There is at most one `cpu` group, of count 1.
//! - Defaults: a CPU slot is [`ProcessorModel::CPU_THREAD`] (50 GFLOP/s, 10 GB/s, 1 µs); a GPU
//!   is the runtime's guess for a discrete GPU (10 TFLOP/s, 20 µs launch, link 12 GB/s with
//!   10 µs latency). When only the rate is given, the memory bandwidth scales with it at a machine
//!   balance of 5 FLOP/byte (CPU) or 16 FLOP/byte (GPU), so that a tile kernel stays
//!   compute-bound as it is on real hardware.

use std::fmt;

use crate::error::{Error, Result};
use crate::runtime::placement::ProcessorModel;

/// FLOP per byte of memory traffic assumed when a CPU's bandwidth is not given.
const CPU_BALANCE: f64 = 5.0;
/// FLOP per byte of memory traffic assumed when a GPU's bandwidth is not given.
const GPU_BALANCE: f64 = 16.0;

/// What kind of processor a [`SimProcessor`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessorKind {
    /// The CPU pool: computes in host memory, no transfers.
    Cpu,
    /// A GPU with its own memory, fed from the host over its link.
    Gpu,
}

/// One modelled processor.
#[derive(Clone, Debug, PartialEq)]
pub struct SimProcessor {
    /// Display name (`cpu`, `gpu0`, ...).
    pub name: String,
    /// CPU or GPU.
    pub kind: ProcessorKind,
    /// Tasks it runs at once (CPU threads; 0 means the processor is absent).
    pub slots: usize,
    /// Speed per slot and, for a GPU, its host link.
    pub model: ProcessorModel,
    /// Device memory in bytes (`None`: unlimited; always `None` for the CPU).
    pub memory: Option<u64>,
}

impl SimProcessor {
    /// A CPU pool of `slots` threads of `flops_per_slot` FLOP/s each.
    pub fn cpu(slots: usize, flops_per_slot: f64) -> SimProcessor {
        SimProcessor {
            name: "cpu".into(),
            kind: ProcessorKind::Cpu,
            slots,
            model: ProcessorModel {
                flops: flops_per_slot,
                bandwidth: flops_per_slot / CPU_BALANCE,
                ..ProcessorModel::CPU_THREAD
            },
            memory: None,
        }
    }

    /// A GPU of `flops` FLOP/s behind a host link of `link_bandwidth` bytes/s (each way), with
    /// the runtime's discrete-GPU guesses for latencies.
    pub fn gpu(flops: f64, link_bandwidth: f64) -> SimProcessor {
        SimProcessor {
            name: "gpu".into(),
            kind: ProcessorKind::Gpu,
            slots: 1,
            model: ProcessorModel {
                flops,
                bandwidth: flops / GPU_BALANCE,
                link_bandwidth,
                ..ProcessorModel::for_device_type("DiscreteGpu")
            },
            memory: None,
        }
    }

    /// Total FLOP/s over all slots.
    pub fn total_flops(&self) -> f64 {
        self.model.flops * self.slots as f64
    }
}

/// A modelled machine: `processors[0]` is the CPU (zero slots when absent), `processors[d + 1]`
/// is GPU `d`.
///
/// ```
/// use tessera::sim::Machine;
/// let m = Machine::parse("cpu:2@50G + 4*gpu@10T, link 25G, mem 16Gi")?;
/// assert_eq!(m.gpu_count(), 4);
/// assert_eq!(m, Machine::new().cpu(2, 50e9).gpus(4, 10e12, 25e9).gpu_memory(16 << 30));
/// # Ok::<(), tessera::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    /// The processors, CPU first.
    pub processors: Vec<SimProcessor>,
}

impl Default for Machine {
    fn default() -> Machine {
        Machine::new()
    }
}

impl Machine {
    /// A machine with no processors yet (the CPU entry has zero slots).
    pub fn new() -> Machine {
        Machine {
            processors: vec![SimProcessor::cpu(0, ProcessorModel::CPU_THREAD.flops)],
        }
    }

    /// Sets the CPU: `slots` threads of `flops_per_slot` FLOP/s each.
    pub fn cpu(mut self, slots: usize, flops_per_slot: f64) -> Machine {
        self.processors[0] = SimProcessor::cpu(slots, flops_per_slot);
        self
    }

    /// Adds `count` GPUs of `flops` FLOP/s, each behind its own host link of `link_bandwidth`
    /// bytes/s.
    pub fn gpus(mut self, count: usize, flops: f64, link_bandwidth: f64) -> Machine {
        for _ in 0..count {
            self = self.gpu(SimProcessor::gpu(flops, link_bandwidth));
        }
        self
    }

    /// Adds one GPU as given (its name is set to `gpu<d>`).
    ///
    /// # Panics
    /// If `p` is not a GPU.
    #[track_caller]
    pub fn gpu(mut self, mut p: SimProcessor) -> Machine {
        assert_eq!(p.kind, ProcessorKind::Gpu, "Machine::gpu takes a GPU");
        p.name = format!("gpu{}", self.gpu_count());
        self.processors.push(p);
        self
    }

    /// Gives every GPU added so far `bytes` of memory.
    pub fn gpu_memory(mut self, bytes: u64) -> Machine {
        for p in &mut self.processors[1..] {
            p.memory = Some(bytes);
        }
        self
    }

    /// Number of GPUs.
    pub fn gpu_count(&self) -> usize {
        self.processors.len() - 1
    }

    /// Whether the CPU runs tasks (has at least one slot).
    pub fn has_cpu(&self) -> bool {
        self.processors[0].slots > 0
    }

    /// Parses a description (grammar in the [module docs](self)).
    ///
    /// # Errors
    /// [`Error::Config`] naming the offending part.
    pub fn parse(desc: &str) -> Result<Machine> {
        let err = |what: String| Error::Config(format!("machine `{desc}`: {what}"));
        let mut m = Machine::new();
        let mut cpu_seen = false;
        for group in desc.split('+') {
            let mut parts = group.split(',');
            let head = parts.next().unwrap_or("").trim();
            if head.is_empty() {
                return Err(err("empty processor group".into()));
            }
            let (count, rest) = match head.split_once('*') {
                Some((n, r)) => (parse_count(n.trim(), "count").map_err(&err)?, r.trim()),
                None => (1, head),
            };
            let (rest, rate) = match rest.split_once('@') {
                Some((r, rate)) => (r.trim(), Some(parse_quantity(rate).map_err(&err)?)),
                None => (rest, None),
            };
            let (kind, slots) = match rest.split_once(':') {
                Some((k, s)) => (
                    k.trim(),
                    Some(parse_count(s.trim(), "slots").map_err(&err)?),
                ),
                None => (rest, None),
            };
            let mut p = match kind.to_ascii_lowercase().as_str() {
                "cpu" => {
                    if cpu_seen || count != 1 {
                        return Err(err("there is one CPU group, of count 1".into()));
                    }
                    cpu_seen = true;
                    SimProcessor::cpu(1, ProcessorModel::CPU_THREAD.flops)
                }
                "gpu" => SimProcessor::gpu(10e12, 12e9),
                other => {
                    return Err(err(format!(
                        "unknown processor kind `{other}` (cpu or gpu)"
                    )));
                }
            };
            p.slots = slots.unwrap_or(1);
            if let Some(rate) = rate {
                let balance = match p.kind {
                    ProcessorKind::Cpu => CPU_BALANCE,
                    ProcessorKind::Gpu => GPU_BALANCE,
                };
                p.model.flops = rate;
                p.model.bandwidth = rate / balance;
            }
            for attr in parts {
                apply_attribute(&mut p, attr.trim()).map_err(&err)?;
            }
            match p.kind {
                ProcessorKind::Cpu => m.processors[0] = p,
                ProcessorKind::Gpu => {
                    for _ in 0..count {
                        m = m.gpu(p.clone());
                    }
                }
            }
        }
        Ok(m)
    }
}

fn apply_attribute(p: &mut SimProcessor, attr: &str) -> std::result::Result<(), String> {
    let (name, value) = attr
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("attribute `{attr}` needs a value (`link 25G`, `mem 16G`, ...)"))?;
    let value = value.trim();
    let gpu_only = |what: &str| {
        if p.kind == ProcessorKind::Gpu {
            Ok(())
        } else {
            Err(format!("`{what}` applies to a GPU, not the CPU"))
        }
    };
    match name {
        "link" => {
            gpu_only(name)?;
            p.model.link_bandwidth = parse_quantity(value)?;
        }
        "lat" => {
            gpu_only(name)?;
            p.model.link_latency = parse_time(value)?;
        }
        "mem" => {
            gpu_only(name)?;
            p.memory = Some(parse_quantity(value)? as u64);
        }
        "bw" => p.model.bandwidth = parse_quantity(value)?,
        "launch" => p.model.latency = parse_time(value)?,
        other => {
            return Err(format!(
                "unknown attribute `{other}` (link, lat, mem, bw, launch)"
            ));
        }
    }
    Ok(())
}

fn parse_count(s: &str, what: &str) -> std::result::Result<usize, String> {
    s.parse()
        .map_err(|_| format!("{what} `{s}` is not a whole number"))
}

/// Splits `s` into its leading number (digits, a decimal point, an exponent) and the unit
/// after it.
fn split_number(s: &str) -> std::result::Result<(f64, &str), String> {
    let s = s.trim();
    let b = s.as_bytes();
    let mut end = b
        .iter()
        .position(|&c| !(c.is_ascii_digit() || c == b'.'))
        .unwrap_or(b.len());
    // `e` is an exponent only when a digit (or a sign and a digit) follows: `1e9`, not `1e`.
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let mut i = end + 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if b.get(i).is_some_and(u8::is_ascii_digit) {
            end = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        }
    }
    let (num, unit) = s.split_at(end);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` does not start with a number"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("`{s}` must be positive"));
    }
    Ok((v, unit.trim()))
}

/// A rate or size: a number with an optional decimal or binary multiplier and an ignored `B`
/// or `/s`.
fn parse_quantity(s: &str) -> std::result::Result<f64, String> {
    let (v, unit) = split_number(s)?;
    let unit = unit.strip_suffix("/s").unwrap_or(unit);
    let unit = unit.strip_suffix('B').unwrap_or(unit);
    let scale = match unit {
        "" => 1.0,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{s}` (k, M, G, T, Ki, Mi, Gi, Ti)"
            ));
        }
    };
    Ok(v * scale)
}

fn parse_time(s: &str) -> std::result::Result<f64, String> {
    let (v, unit) = split_number(s)?;
    let scale = match unit {
        "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        _ => return Err(format!("`{s}` needs a time unit (s, ms, us, ns)")),
    };
    Ok(v * scale)
}

impl fmt::Display for Machine {
    /// One line per processor with its rates.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.processors.iter().filter(|p| p.slots > 0) {
            let m = &p.model;
            write!(
                f,
                "{:<6} {} x {:.3e} FLOP/s, {:.3e} B/s, launch {:.1} us",
                p.name,
                p.slots,
                m.flops,
                m.bandwidth,
                m.latency * 1e6
            )?;
            if p.kind == ProcessorKind::Gpu {
                write!(
                    f,
                    ", link {:.3e} B/s + {:.1} us",
                    m.link_bandwidth,
                    m.link_latency * 1e6
                )?;
            }
            if let Some(mem) = p.memory {
                write!(f, ", memory {mem} B")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_example_and_units() {
        let m = Machine::parse("cpu:2@100G + 4*gpu@50T, link 25G").unwrap();
        assert_eq!(m.processors.len(), 5);
        assert_eq!(m.processors[0].slots, 2);
        assert_eq!(m.processors[0].model.flops, 100e9);
        assert_eq!(m.processors[0].total_flops(), 200e9);
        for (d, p) in m.processors[1..].iter().enumerate() {
            assert_eq!(p.name, format!("gpu{d}"));
            assert_eq!((p.kind, p.slots), (ProcessorKind::Gpu, 1));
            assert_eq!(p.model.flops, 50e12);
            assert_eq!(p.model.link_bandwidth, 25e9);
            assert_eq!(p.memory, None);
        }
        let m = Machine::parse(
            " gpu @ 1.5e12 , mem 8Gi , lat 2us , launch 5 us , bw 900GB/s , link 16GB/s ",
        )
        .unwrap();
        assert!(!m.has_cpu());
        let g = &m.processors[1];
        assert_eq!(g.model.flops, 1.5e12);
        assert_eq!(g.memory, Some(8 << 30));
        assert!((g.model.link_latency - 2e-6).abs() < 1e-18);
        assert!((g.model.latency - 5e-6).abs() < 1e-18);
        assert_eq!(g.model.bandwidth, 900e9);
        assert_eq!(g.model.link_bandwidth, 16e9);
        let m = Machine::parse("2*gpu:2@3T + gpu@1T, mem 1G").unwrap();
        assert_eq!(m.gpu_count(), 3);
        assert_eq!(m.processors[1].slots, 2);
        assert_eq!(m.processors[1].memory, None);
        assert_eq!(m.processors[3].memory, Some(1_000_000_000));
    }

    #[test]
    fn builder_matches_the_parser() {
        let parsed = Machine::parse("cpu:2@50G + 2*gpu@10T, link 25G, mem 4G").unwrap();
        let built = Machine::new()
            .cpu(2, 50e9)
            .gpus(2, 10e12, 25e9)
            .gpu_memory(4_000_000_000);
        assert_eq!(parsed, built);
    }

    #[test]
    fn errors_name_the_offending_part() {
        let msg = |d: &str| match Machine::parse(d) {
            Err(Error::Config(m)) => m,
            other => panic!("`{d}` gave {other:?}"),
        };
        assert!(msg("tpu@1T").contains("unknown processor kind `tpu`"));
        assert!(msg("gpu@1X").contains("unknown unit `X`"));
        assert!(msg("gpu@fast").contains("does not start with a number"));
        assert!(msg("gpu, lat 10").contains("time unit"));
        assert!(msg("cpu:2, link 10G").contains("applies to a GPU"));
        assert!(msg("cpu + cpu").contains("one CPU group"));
        assert!(msg("gpu + ").contains("empty processor group"));
        assert!(msg("x*gpu").contains("count `x`"));
        assert!(msg("gpu, mem").contains("needs a value"));
        assert!(msg("gpu, color red").contains("unknown attribute `color`"));
        assert!(msg("gpu@-1T").contains("does not start with a number"));
    }
}
