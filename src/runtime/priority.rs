//! Task priorities from the dependency graph: datadeps edges and bottom levels.
//!
//! A task's *bottom level* is the longest path from it to the end of the graph, counting its own
//! weight (HEFT's upward rank: Topcuoglu, Hariri and Wu, "Performance-effective and
//! low-complexity task scheduling for heterogeneous computing", IEEE TPDS 13(3), 2002). Running
//! ready tasks in decreasing bottom level puts the critical path first, which for tiled
//! factorizations means the panel before the trailing update (lookahead).
//!
//! Everything here is plain data in, plain data out, so that the simulator and the runtime's
//! scheduler share it.

use crate::kernels::Mode;

const NONE: u32 = u32::MAX;

/// A task graph in compressed form. Tasks are numbered in spawn (serial) order, so every edge
/// goes from a lower to a higher number and that order is topological.
#[derive(Clone, Debug, Default)]
pub(crate) struct Dag {
    pred_start: Vec<u32>,
    preds: Vec<u32>,
    succ_start: Vec<u32>,
    succs: Vec<u32>,
}

impl Dag {
    /// Number of tasks.
    pub(crate) fn len(&self) -> usize {
        self.pred_start.len() - 1
    }

    /// Number of edges.
    pub(crate) fn edge_count(&self) -> usize {
        self.preds.len()
    }

    /// The tasks `t` depends on, ascending, without duplicates.
    pub(crate) fn preds(&self, t: usize) -> &[u32] {
        &self.preds[self.pred_start[t] as usize..self.pred_start[t + 1] as usize]
    }

    /// The tasks that depend on `t`, ascending, without duplicates.
    pub(crate) fn succs(&self, t: usize) -> &[u32] {
        &self.succs[self.succ_start[t] as usize..self.succ_start[t + 1] as usize]
    }

    /// Every edge `(predecessor, successor)`, by successor then predecessor.
    pub(crate) fn edges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.len()).flat_map(move |t| self.preds(t).iter().map(move |&p| (p as usize, t)))
    }
}

/// Builds the dependency graph of tasks given in spawn order by their `(chunk, mode)` accesses,
/// with the datadeps rule applied per chunk: a reader depends on the chunk's last writer; a
/// writer (`Write` or `ReadWrite`) on the last writer and every reader since. A task that
/// touches a chunk twice counts as a writer of it if either access writes. Duplicate edges are
/// merged.
///
/// # Panics
/// If a chunk index is not below `n_chunks`, or there are `u32::MAX` tasks or edges or more.
#[track_caller]
pub(crate) fn datadeps<I>(accesses: I, n_chunks: usize) -> Dag
where
    I: IntoIterator,
    I::Item: AsRef<[(usize, Mode)]>,
{
    // Per chunk: the last writer and the readers since.
    let mut last_writer = vec![NONE; n_chunks];
    let mut readers: Vec<Vec<u32>> = vec![Vec::new(); n_chunks];
    let mut pred_start = vec![0u32];
    let mut preds: Vec<u32> = Vec::new();
    for (t, acc) in accesses.into_iter().enumerate() {
        let acc = acc.as_ref();
        let t = u32::try_from(t)
            .ok()
            .filter(|&t| t != NONE)
            .expect("too many tasks");
        let start = preds.len();
        for &(c, mode) in acc {
            assert!(
                c < n_chunks,
                "chunk index {c} out of range (n_chunks = {n_chunks})"
            );
            if last_writer[c] != NONE {
                preds.push(last_writer[c]);
            }
            if mode.writes() {
                preds.extend_from_slice(&readers[c]);
            }
        }
        // The frontiers are updated after every access is read, so a task never depends on
        // itself.
        preds[start..].sort_unstable();
        let mut w = start;
        for r in start..preds.len() {
            if w == start || preds[w - 1] != preds[r] {
                preds[w] = preds[r];
                w += 1;
            }
        }
        preds.truncate(w);
        for &(c, mode) in acc {
            if mode.writes() {
                last_writer[c] = t;
                readers[c].clear();
            }
        }
        for &(c, mode) in acc {
            if !mode.writes() && last_writer[c] != t && readers[c].last() != Some(&t) {
                readers[c].push(t);
            }
        }
        pred_start.push(u32::try_from(preds.len()).expect("too many edges"));
    }
    // Successors: a counting sort of the edges by predecessor.
    let n = pred_start.len() - 1;
    let mut succ_start = vec![0u32; n + 1];
    for &p in &preds {
        succ_start[p as usize + 1] += 1;
    }
    for i in 0..n {
        succ_start[i + 1] += succ_start[i];
    }
    let mut fill = succ_start.clone();
    let mut succs = vec![0u32; preds.len()];
    for t in 0..n {
        for &p in &preds[pred_start[t] as usize..pred_start[t + 1] as usize] {
            succs[fill[p as usize] as usize] = t as u32;
            fill[p as usize] += 1;
        }
    }
    Dag {
        pred_start,
        preds,
        succ_start,
        succs,
    }
}

/// The bottom level of every task: its own weight plus the heaviest path through its
/// successors to the end of the graph. O(tasks + edges), without recursion: since edges go
/// forward in task order, one backward sweep sees every successor before its predecessors.
pub(crate) fn bottom_levels(dag: &Dag, weight: impl Fn(usize) -> f64) -> Vec<f64> {
    let n = dag.len();
    let mut level = vec![0.0f64; n];
    for t in (0..n).rev() {
        let tail = dag
            .succs(t)
            .iter()
            .map(|&s| {
                debug_assert!(s as usize > t, "datadeps edges go forward in spawn order");
                level[s as usize]
            })
            .fold(0.0, f64::max);
        level[t] = weight(t) + tail;
    }
    level
}

/// Integer priorities (higher = more urgent) that order tasks as `levels` do: the dense rank of
/// each level, so equal levels get equal priorities and the map is strictly monotone.
pub(crate) fn priorities_from_levels(levels: &[f64]) -> Vec<i64> {
    let mut order: Vec<usize> = (0..levels.len()).collect();
    order.sort_unstable_by(|&a, &b| levels[a].total_cmp(&levels[b]));
    let mut prio = vec![0i64; levels.len()];
    let mut rank = 0i64;
    for (i, &t) in order.iter().enumerate() {
        if i > 0 && levels[order[i - 1]].total_cmp(&levels[t]).is_ne() {
            rank += 1;
        }
        prio[t] = rank;
    }
    prio
}

#[cfg(test)]
mod tests {
    use super::*;
    use Mode::{Read, ReadWrite, Write};

    fn preds(d: &Dag) -> Vec<Vec<u32>> {
        (0..d.len()).map(|t| d.preds(t).to_vec()).collect()
    }

    #[test]
    fn chain_levels_count_down_to_the_end() {
        let acc = vec![vec![(0, Write)], vec![(0, ReadWrite)], vec![(0, ReadWrite)]];
        let d = datadeps(&acc, 1);
        assert_eq!(preds(&d), vec![vec![], vec![0], vec![1]]);
        assert_eq!(d.succs(0), &[1]);
        let l = bottom_levels(&d, |t| [1.0, 2.0, 4.0][t]);
        assert_eq!(l, vec![7.0, 6.0, 4.0]);
        assert_eq!(priorities_from_levels(&l), vec![2, 1, 0]);
    }

    #[test]
    fn diamond_takes_the_heavier_branch_and_dedupes_edges() {
        // 0 writes a and b; 1 reads a; 2 reads a and b twice; 3 writes a and b.
        let acc = vec![
            vec![(0, Write), (1, Write)],
            vec![(0, Read)],
            vec![(0, Read), (1, Read), (1, Read)],
            vec![(0, ReadWrite), (1, Write)],
        ];
        let d = datadeps(&acc, 2);
        assert_eq!(preds(&d), vec![vec![], vec![0], vec![0], vec![0, 1, 2]]);
        assert_eq!(d.succs(0), &[1, 2, 3]);
        assert_eq!(d.edge_count(), 5);
        let l = bottom_levels(&d, |t| [1.0, 5.0, 2.0, 1.0][t]);
        assert_eq!(l, vec![7.0, 6.0, 3.0, 1.0]);
        let p = priorities_from_levels(&l);
        assert!(p[0] > p[1] && p[1] > p[2] && p[2] > p[3]);
        // Equal levels share a priority.
        assert_eq!(priorities_from_levels(&[2.0, 1.0, 2.0]), vec![1, 0, 1]);
    }

    #[test]
    fn reads_of_one_version_are_independent_and_a_task_never_depends_on_itself() {
        let acc = vec![
            vec![(0, Read)],
            vec![(0, Read)],
            vec![(0, Read), (0, ReadWrite)],
            vec![(0, Read)],
        ];
        let d = datadeps(&acc, 1);
        assert_eq!(preds(&d), vec![vec![], vec![], vec![0, 1], vec![2]]);
    }

    /// A task: `(kernel, step, accesses)`.
    type StepTask = (&'static str, usize, Vec<(usize, Mode)>);

    /// Right-looking tiled Cholesky over the lower triangle, as `linalg::cholesky` spawns it.
    fn cholesky(nt: usize) -> Vec<StepTask> {
        let id = |i: usize, j: usize| i * (i + 1) / 2 + j;
        let mut v = Vec::new();
        for k in 0..nt {
            v.push(("potrf", k, vec![(id(k, k), ReadWrite)]));
            for i in k + 1..nt {
                v.push(("trsm", k, vec![(id(k, k), Read), (id(i, k), ReadWrite)]));
            }
            for j in k + 1..nt {
                v.push(("syrk", k, vec![(id(j, k), Read), (id(j, j), ReadWrite)]));
                for i in j + 1..nt {
                    let a = vec![(id(i, k), Read), (id(j, k), Read), (id(i, j), ReadWrite)];
                    v.push(("gemm", k, a));
                }
            }
        }
        v
    }

    #[test]
    fn cholesky_panel_outranks_the_trailing_update_of_its_step() {
        for nt in [2, 3, 5, 8] {
            let tasks = cholesky(nt);
            let d = datadeps(tasks.iter().map(|t| &t.2), nt * (nt + 1) / 2);
            // Weights proportional to flops: potrf t^3/3, trsm and syrk t^3, gemm 2 t^3.
            let w = |t: usize| match tasks[t].0 {
                "potrf" => 1.0 / 3.0,
                "gemm" => 2.0,
                _ => 1.0,
            };
            let p = priorities_from_levels(&bottom_levels(&d, w));
            for k in 0..nt {
                let tasks = &tasks;
                let of = |name: &'static str| {
                    (0..tasks.len()).filter(move |&t| tasks[t].0 == name && tasks[t].1 == k)
                };
                let potrf = of("potrf").next().unwrap();
                let lowest_trsm = of("trsm").map(|t| p[t]).min().unwrap_or(i64::MAX);
                let update = of("syrk").chain(of("gemm")).map(|t| p[t]).max();
                assert!(p[potrf] > lowest_trsm || nt - k == 1, "nt {nt}, step {k}");
                if let Some(u) = update {
                    assert!(
                        lowest_trsm > u,
                        "nt {nt}: a trsm of step {k} ranks below {u}"
                    );
                }
            }
        }
    }
}
