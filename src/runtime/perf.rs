//! The performance model: what placement predicts a task costs on each processor.
//!
//! Per processor, a history of measured run times keyed by (kernel, tile shapes with their
//! element types): the median of the last [`WINDOW`] measurements, with a count of how many
//! were ever taken (an entry with at least [`CALIBRATED`] is *calibrated*). CPU times come from
//! the task itself (normalised to one thread); GPU times from timestamp queries around each
//! dispatch where the adapter has them, otherwise from the batch's wall time shared by the
//! jobs' predicted costs.
//!
//! An uncalibrated entry is predicted by a roofline: the kernel's flops and bytes over the
//! processor's *measured* peak (the best rate any calibrated entry of that processor reached),
//! or, before anything was measured there, a guess from the device type. The median, rather
//! than a mean, keeps one slow first run (a shader compiled at its first dispatch) from
//! steering placement away from a processor for long.
//!
//! Links (host to device and back) are modelled as latency + bytes / bandwidth, measured when
//! the runtime starts and refined from readbacks that ran alone in a batch.
//!
//! Models persist per processor identity (adapter, driver and backend; for the CPU, its model
//! name and thread count) as JSON files in the cache directory (`TESSERA_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/tessera`, else `~/.cache/tessera`), so a second run starts calibrated.
//! `TESSERA_PERF_MODEL=0` starts from an empty model and saves nothing.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::kernels::{Cost, Shape};
use crate::runtime::placement::ProcessorModel;

/// Measurements kept per entry; the estimate is their median.
pub(crate) const WINDOW: usize = 32;
/// Measurements after which an entry counts as calibrated.
pub(crate) const CALIBRATED: u64 = 3;

/// The key of a (kernel, shapes) pair: a hash, computed once per task.
pub(crate) fn key_of(kernel: &str, shapes: &[Shape]) -> u64 {
    let mut h = DefaultHasher::new();
    kernel.hash(&mut h);
    for s in shapes {
        (s.rows, s.cols, s.dtype as u8).hash(&mut h);
    }
    h.finish()
}

/// The readable name of a key, as written to the model file.
pub(crate) fn key_name(kernel: &str, shapes: &[Shape]) -> String {
    let dtype = shapes
        .first()
        .map_or("-".to_string(), |s| s.dtype.to_string());
    let dims: Vec<String> = shapes
        .iter()
        .map(|s| format!("{}x{}", s.rows, s.cols))
        .collect();
    format!("{kernel}/{dtype}/{}", dims.join(","))
}

/// One (kernel, shapes) history on one processor.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Readable key (`kernel/dtype/RxC,...`).
    pub(crate) name: String,
    /// The last measurements, seconds (a ring of at most `WINDOW`).
    pub(crate) samples: Vec<f64>,
    /// Where the next measurement goes in `samples`.
    next: usize,
    /// Measurements ever taken.
    pub(crate) count: u64,
    /// The median of `samples`, seconds.
    pub(crate) estimate: f64,
    /// The kernel's estimated cost (for the measured peak).
    flops: f64,
    bytes: f64,
}

impl Entry {
    fn add(&mut self, secs: f64) {
        if self.samples.len() < WINDOW {
            self.samples.push(secs);
        } else {
            self.samples[self.next % WINDOW] = secs;
        }
        self.next = (self.next + 1) % WINDOW;
        self.count += 1;
        let mut s: SmallVec<[f64; WINDOW]> = SmallVec::from_slice(&self.samples);
        let m = s.len() / 2;
        let (below, mid, _) = s.select_nth_unstable_by(m, f64::total_cmp);
        let mid = *mid;
        self.estimate = if self.samples.len() % 2 == 1 {
            mid
        } else {
            0.5 * (below.iter().copied().fold(f64::NEG_INFINITY, f64::max) + mid)
        };
    }
}

/// A link's model: `latency + bytes / bandwidth`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkModel {
    /// Seconds per transfer.
    pub latency: f64,
    /// Bytes per second.
    pub bandwidth: f64,
    /// Observations the model is based on (0: a guess).
    pub samples: u64,
}

impl LinkModel {
    /// Predicted seconds to move `bytes` (0 for nothing).
    pub fn time(&self, bytes: u64) -> f64 {
        if bytes == 0 {
            0.0
        } else {
            self.latency + bytes as f64 / self.bandwidth
        }
    }

    /// Replaces the model with a measurement taken at start (it counts as one observation,
    /// and later ones refine it).
    pub(crate) fn measured(&mut self, latency: f64, bandwidth: f64) {
        if latency.is_finite() && bandwidth.is_finite() && bandwidth > 0.0 {
            self.latency = latency;
            self.bandwidth = bandwidth;
            self.samples = self.samples.max(1);
        }
    }

    /// Folds in one observed transfer of `bytes` that took `secs` (latency kept, bandwidth
    /// averaged with weight growing to 1/8).
    pub(crate) fn observe(&mut self, bytes: u64, secs: f64) {
        let moving = secs - self.latency;
        if bytes < 64 << 10 || moving <= 0.0 || !moving.is_finite() {
            return;
        }
        let bw = bytes as f64 / moving;
        let w = 1.0 / (self.samples as f64 + 1.0).min(8.0);
        self.bandwidth = self.bandwidth * (1.0 - w) + bw * w;
        self.samples += 1;
    }
}

/// The file a processor's model persists in.
#[derive(Default, Serialize, Deserialize)]
struct ModelFile {
    processor: String,
    entries: Vec<Entry>,
    upload: Option<LinkModel>,
    download: Option<LinkModel>,
}

/// One processor's model.
pub(crate) struct ProcPerf {
    /// What identifies the processor across runs (adapter, driver; CPU model and threads).
    pub(crate) identity: String,
    path: Option<PathBuf>,
    /// The static guess used before anything was measured.
    pub(crate) roofline: ProcessorModel,
    entries: RwLock<HashMap<u64, Entry>>,
    /// Best measured flop rate and byte rate per slot (0 before any calibrated entry).
    peak: Mutex<(f64, f64)>,
    /// Host to device.
    pub(crate) upload: Mutex<LinkModel>,
    /// Device to host.
    pub(crate) download: Mutex<LinkModel>,
    /// A software adapter that runs its shaders on the host's cores (lavapipe, WARP,
    /// SwiftShader): its work competes with the CPU pool's.
    pub(crate) shares_host_cores: bool,
    /// Tasks placed here to calibrate an entry, not yet measured, per key.
    pending: Mutex<HashMap<u64, u64>>,
    dirty: AtomicBool,
}

/// A prediction: seconds, and whether it came from a calibrated entry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Prediction {
    pub(crate) secs: f64,
    pub(crate) calibrated: bool,
    /// Measurements behind it (0 for a roofline).
    pub(crate) count: u64,
}

impl ProcPerf {
    /// A model for a processor known as `identity`, loaded from `dir` when there is a file.
    pub(crate) fn new(
        identity: String,
        roofline: ProcessorModel,
        shares_host_cores: bool,
        dir: Option<&Path>,
    ) -> ProcPerf {
        let path = dir.map(|d| d.join(file_name(&identity)));
        let file = path.as_deref().map(read_file).unwrap_or_default();
        let guess = LinkModel {
            latency: roofline.link_latency,
            bandwidth: roofline.link_bandwidth,
            samples: 0,
        };
        let p = ProcPerf {
            identity,
            path,
            roofline,
            entries: RwLock::new(HashMap::new()),
            peak: Mutex::new((0.0, 0.0)),
            upload: Mutex::new(file.upload.unwrap_or(guess)),
            download: Mutex::new(file.download.unwrap_or(guess)),
            shares_host_cores,
            pending: Mutex::new(HashMap::new()),
            dirty: AtomicBool::new(false),
        };
        {
            let mut e = p.entries.write();
            for entry in file.entries {
                p.raise_peak(&entry);
                e.insert(hash_name(&entry.name), entry);
            }
        }
        p
    }

    /// Predicted seconds for a task with this key and cost, on one slot.
    pub(crate) fn predict(&self, key: u64, cost: Cost) -> Prediction {
        if let Some(e) = self.entries.read().get(&key)
            && e.count > 0
        {
            // One or two measurements already beat the roofline (they are this kernel on this
            // processor), but only `CALIBRATED` of them count as calibrated.
            return Prediction {
                secs: e.estimate,
                calibrated: e.count >= CALIBRATED,
                count: e.count,
            };
        }
        Prediction {
            secs: self.roofline_time(cost),
            calibrated: false,
            count: 0,
        }
    }

    /// Tasks with this key placed here to calibrate it and not measured yet.
    pub(crate) fn pending(&self, key: u64) -> u64 {
        self.pending.lock().get(&key).copied().unwrap_or(0)
    }

    pub(crate) fn add_pending(&self, key: u64) {
        *self.pending.lock().entry(key).or_insert(0) += 1;
    }

    pub(crate) fn done_pending(&self, key: u64) {
        let mut p = self.pending.lock();
        if let Some(n) = p.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                p.remove(&key);
            }
        }
    }

    /// The roofline estimate: from the measured peak when there is one, else the guess.
    pub(crate) fn roofline_time(&self, cost: Cost) -> f64 {
        let (flops, bytes) = *self.peak.lock();
        let m = ProcessorModel {
            flops: if flops > 0.0 {
                flops
            } else {
                self.roofline.flops
            },
            bandwidth: if bytes > 0.0 {
                bytes
            } else {
                self.roofline.bandwidth
            },
            ..self.roofline
        };
        m.run(cost)
    }

    /// Records one measurement: `secs` on one slot for a task with this key.
    pub(crate) fn record(&self, key: u64, name: impl FnOnce() -> String, cost: Cost, secs: f64) {
        if !(secs.is_finite() && secs >= 0.0) {
            return;
        }
        let snapshot = {
            let mut map = self.entries.write();
            let e = map.entry(key).or_insert_with(|| Entry {
                name: name(),
                flops: cost.flops,
                bytes: cost.bytes,
                ..Entry::default()
            });
            e.add(secs);
            (e.count >= CALIBRATED).then(|| e.clone())
        };
        if let Some(e) = snapshot {
            self.raise_peak(&e);
        }
        self.dirty.store(true, Ordering::Relaxed);
    }

    fn raise_peak(&self, e: &Entry) {
        if e.count < CALIBRATED || e.estimate <= 0.0 {
            return;
        }
        let mut p = self.peak.lock();
        // Rates below a microsecond of work are dominated by launch latency: not a peak.
        if e.estimate > 1e-5 {
            p.0 = p.0.max(e.flops / e.estimate);
            p.1 = p.1.max(e.bytes / e.estimate);
        }
    }

    /// Every entry, sorted by name (for `tessera info` and tests).
    pub(crate) fn entries(&self) -> Vec<Entry> {
        let mut v: Vec<Entry> = self.entries.read().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Writes the model to its file if it changed, merged with what other runs wrote
    /// meanwhile (per entry, the one with more measurements wins). Failures are logged: the
    /// model is an optimisation.
    pub(crate) fn save(&self) {
        let Some(path) = &self.path else { return };
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return;
        }
        let mut merged: HashMap<String, Entry> = read_file(path)
            .entries
            .into_iter()
            .map(|e| (e.name.clone(), e))
            .collect();
        for e in self.entries.read().values() {
            match merged.get(&e.name) {
                Some(old) if old.count > e.count => {}
                _ => {
                    merged.insert(e.name.clone(), e.clone());
                }
            }
        }
        let mut entries: Vec<Entry> = merged.into_values().collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let file = ModelFile {
            processor: self.identity.clone(),
            entries,
            // JSON has no infinity (the CPU's "link"): such a link is not written.
            upload: Some(*self.upload.lock()).filter(|l| l.bandwidth.is_finite()),
            download: Some(*self.download.lock()).filter(|l| l.bandwidth.is_finite()),
        };
        if let Err(e) = crate::gpu::write_cache_json(path, &file) {
            tracing::warn!(
                "cannot save the performance model to {}: {e}",
                path.display()
            );
        }
    }

    /// Where the model persists (`None`: in memory only).
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

fn hash_name(name: &str) -> u64 {
    // Entries are looked up by the hash of (kernel, shapes); a loaded entry only has its
    // name, so the name is parsed back into the same hash.
    let mut parts = name.splitn(3, '/');
    let (Some(kernel), Some(dtype), Some(dims)) = (parts.next(), parts.next(), parts.next()) else {
        return 0;
    };
    let Some(dtype) = crate::DType::parse(dtype) else {
        return 0;
    };
    let shapes: Option<Vec<Shape>> = dims
        .split(',')
        .filter(|d| !d.is_empty())
        .map(|d| {
            let (r, c) = d.split_once('x')?;
            Some(Shape {
                rows: r.parse().ok()?,
                cols: c.parse().ok()?,
                dtype,
            })
        })
        .collect();
    shapes.map_or(0, |s| key_of(kernel, &s))
}

fn file_name(identity: &str) -> String {
    let mut h = DefaultHasher::new();
    identity.hash(&mut h);
    format!(
        "perf-{}-{:016x}.json",
        crate::gpu::cache_slug(identity),
        h.finish()
    )
}

fn read_file(path: &Path) -> ModelFile {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<ModelFile>(&b).ok())
        .unwrap_or_default()
}

/// The CPU's identity: its model name (Linux) and the pool's thread count.
pub(crate) fn cpu_identity(threads: usize) -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("cpu {model} x{threads}")
}

/// Whether the model persists (`TESSERA_PERF_MODEL` is not `0`/`off`).
pub(crate) fn persist_from_env() -> bool {
    !matches!(
        std::env::var("TESSERA_PERF_MODEL")
            .as_deref()
            .map(str::trim),
        Ok("0" | "off" | "false" | "no")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    fn shapes() -> Vec<Shape> {
        vec![
            Shape {
                rows: 64,
                cols: 32,
                dtype: DType::F64,
            };
            3
        ]
    }

    #[test]
    fn the_estimate_is_the_median_and_ignores_one_slow_first_run() {
        let p = ProcPerf::new("t".into(), ProcessorModel::CPU_THREAD, false, None);
        let cost = Cost {
            flops: 1e6,
            bytes: 1e3,
        };
        let k = key_of("gemm", &shapes());
        assert!(!p.predict(k, cost).calibrated);
        for s in [0.7, 0.001, 0.0011, 0.0009] {
            p.record(k, || key_name("gemm", &shapes()), cost, s);
        }
        let pr = p.predict(k, cost);
        assert!(pr.calibrated);
        assert_eq!(pr.count, 4);
        assert!((pr.secs - 0.00105).abs() < 1e-12, "{}", pr.secs);
        // The calibrated entry sets the measured peak, which the roofline of another kernel
        // on this processor now uses: 1e6 flops in 1.05 ms.
        let other = key_of("syrk", &shapes());
        let guess = p.predict(
            other,
            Cost {
                flops: 2e6,
                bytes: 0.0,
            },
        );
        assert!(!guess.calibrated);
        let expect = ProcessorModel::CPU_THREAD.latency + 2e6 / (1e6 / 0.00105);
        assert!(
            (guess.secs - expect).abs() < 1e-9,
            "{} vs {expect}",
            guess.secs
        );
    }

    fn gpu_guess() -> ProcessorModel {
        ProcessorModel::for_device_type("DiscreteGpu")
    }

    #[test]
    fn the_model_round_trips_through_its_file() {
        let dir = std::env::temp_dir().join(format!("tessera-perf-{}", std::process::id()));
        let cost = Cost {
            flops: 1e9,
            bytes: 1e6,
        };
        let k = key_of("potrf", &shapes());
        {
            let p = ProcPerf::new("cpu test".into(), gpu_guess(), false, Some(&dir));
            for s in [0.01, 0.02, 0.03] {
                p.record(k, || key_name("potrf", &shapes()), cost, s);
            }
            p.upload.lock().observe(1 << 20, 1e-3);
            p.save();
            assert!(p.path().is_some_and(|f| f.exists()));
        }
        let q = ProcPerf::new("cpu test".into(), gpu_guess(), false, Some(&dir));
        let pr = q.predict(k, cost);
        assert_eq!(pr.count, 3);
        assert!(pr.calibrated);
        assert!((pr.secs - 0.02).abs() < 1e-15);
        assert_eq!(q.upload.lock().samples, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_link_learns_its_bandwidth() {
        let mut l = LinkModel {
            latency: 1e-5,
            bandwidth: 1e9,
            samples: 0,
        };
        assert_eq!(l.time(0), 0.0);
        for _ in 0..50 {
            l.observe(8 << 20, 1e-5 + (8u64 << 20) as f64 / 4e9);
        }
        assert!((l.bandwidth - 4e9).abs() / 4e9 < 0.01, "{}", l.bandwidth);
        // Tiny transfers say nothing about bandwidth.
        let before = l;
        l.observe(100, 1.0);
        assert_eq!(l, before);
    }
}
