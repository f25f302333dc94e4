//! A placement policy that charges for moving data, for experiments with the simulator.

use crate::runtime::placement::{Candidate, Placement, PlacementQuery};

use super::machine::Machine;

/// Earliest finish with a charge for the bytes a placement moves, as StarPU's `dmda` does:
/// picks the candidate minimizing `finish() + beta * bytes_in / link_bandwidth`, where the
/// bandwidth is that of the candidate's host link (for the CPU, the mean of the GPUs' links,
/// over which its inputs would come).
///
/// [`Candidate::finish`] overlaps a candidate's transfers with the work queued ahead of it,
/// which is right for the task itself but blind to what the transfers cost everyone else: the
/// link time they take and the locality they break. With `beta = 0` this is
/// [`EarliestFinish`](crate::EarliestFinish). Ties go to fewer bytes, then to the first
/// candidate.
#[derive(Clone, Debug)]
pub struct DataAware {
    /// Seconds charged per byte moved, per processor index.
    per_byte: Vec<f64>,
}

impl DataAware {
    /// The policy for `machine` with weight `beta` (1: one idle link's transfer time).
    pub fn new(machine: &Machine, beta: f64) -> DataAware {
        let gpus = &machine.processors[1..];
        let mean = gpus.iter().map(|p| p.model.link_bandwidth).sum::<f64>() / gpus.len() as f64;
        let per_byte = machine
            .processors
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let bandwidth = if i == 0 { mean } else { p.model.link_bandwidth };
                if bandwidth > 0.0 && bandwidth.is_finite() {
                    beta / bandwidth
                } else {
                    0.0
                }
            })
            .collect();
        DataAware { per_byte }
    }

    fn score(&self, c: &Candidate) -> f64 {
        let i = match c.processor {
            crate::Processor::Cpu => 0,
            crate::Processor::Gpu(d) => d.0 + 1,
        };
        c.finish() + self.per_byte.get(i).copied().unwrap_or(0.0) * c.bytes_in as f64
    }
}

impl Placement for DataAware {
    fn place(&self, q: &PlacementQuery<'_>) -> usize {
        let mut best = 0;
        for (i, c) in q.candidates.iter().enumerate().skip(1) {
            let b = &q.candidates[best];
            let (sc, sb) = (self.score(c), self.score(b));
            if sc < sb * (1.0 - 1e-9) || (sc <= sb * (1.0 + 1e-9) && c.bytes_in < b.bytes_in) {
                best = i;
            }
        }
        best
    }

    fn name(&self) -> &str {
        "data-aware"
    }
}
