//! The tiled Cholesky task graph, built by hand for tests and experiments.

use crate::dtype::DType;
use crate::kernels::{Cost, Mode, Shape};

use super::graph::{SimGraph, SimTask};

/// The right-looking tiled Cholesky factorization (`A = L L^T`, lower triangle) of an
/// `nt x nt`-tile matrix of `tile x tile` tiles, in the order and with the priorities
/// `DArray::cholesky` spawns it: for each step `k`, `potrf(k,k)`; `trsm(i,k)` for `i > k`; then
/// for each `j > k`, `syrk(j,j)` from `(j,k)` and `gemm(i,j)` from `(i,k)`, `(j,k)` for `i > j`.
///
/// Chunks are the lower-triangle tiles, tile `(i, j)` (`i >= j`) at index `i (i + 1) / 2 + j`.
/// Costs with `t = tile`: potrf `t^3/3`, trsm `t^3`, syrk `t^3`, gemm `2 t^3` flops; bytes read
/// plus bytes written (the updated tile counts twice), as the dense kernels count them.
///
/// ```
/// use tessera::{DType, sim::cholesky_graph};
/// let g = cholesky_graph(4, 256, DType::F64);
/// assert_eq!(g.tasks.len(), 4 + 6 + 6 + 4); // potrf, trsm, syrk, gemm
/// assert_eq!(g.chunks.len(), 10);
/// ```
pub fn cholesky_graph(nt: usize, tile: usize, dtype: DType) -> SimGraph {
    let id = |i: usize, j: usize| i * (i + 1) / 2 + j;
    let shape = Shape {
        rows: tile,
        cols: tile,
        dtype,
    };
    let tile_bytes = shape.bytes() as f64;
    let t3 = (tile as f64).powi(3);
    let task = |kernel: &str, flops: f64, accesses: Vec<(usize, Mode)>, priority: i64| {
        let bytes = tile_bytes * (accesses.len() + 1) as f64;
        SimTask {
            kernel: kernel.into(),
            shapes: vec![shape; accesses.len()],
            cost: Cost { flops, bytes },
            accesses,
            priority,
            has_gpu: true,
            has_cpu: true,
        }
    };
    let mut tasks = Vec::new();
    for k in 0..nt {
        // The priorities `linalg`'s Cholesky gives (its `priority` is private to it): by step,
        // then potrf, trsm, the next panel's updates, the rest.
        let p = |stage: i64| 4 * (nt - k) as i64 + stage;
        tasks.push(task(
            "potrf",
            t3 / 3.0,
            vec![(id(k, k), Mode::ReadWrite)],
            p(3),
        ));
        for i in k + 1..nt {
            let a = vec![(id(k, k), Mode::Read), (id(i, k), Mode::ReadWrite)];
            tasks.push(task("trsm", t3, a, p(2)));
        }
        for j in k + 1..nt {
            let stage = if j == k + 1 { 1 } else { 0 };
            let a = vec![(id(j, k), Mode::Read), (id(j, j), Mode::ReadWrite)];
            tasks.push(task("syrk", t3, a, p(stage)));
            for i in j + 1..nt {
                let a = vec![
                    (id(i, k), Mode::Read),
                    (id(j, k), Mode::Read),
                    (id(i, j), Mode::ReadWrite),
                ];
                tasks.push(task("gemm", 2.0 * t3, a, p(stage)));
            }
        }
    }
    SimGraph {
        tasks,
        chunks: vec![tile_bytes as u64; nt * (nt + 1) / 2],
    }
}
