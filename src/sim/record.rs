//! Capturing a program's task graph without running it.

use crate::error::Result;
use crate::runtime::Runtime;
use crate::sim::SimGraph;

/// Runs `program` on a runtime that records every kernel task it spawns (kernel, tile shapes,
/// cost, accesses, priority) and finishes it at once without running it, and returns the
/// graph. Start from [`DArray::zeros`](crate::DArray::zeros) or [`crate::Chunk::zeros`]:
/// zero chunks allocate no memory, so a graph over terabytes of tiles records in
/// milliseconds. Host reads (`to_vec`) see zeros, and nothing the program computes is real.
///
/// ```
/// use tessera::{Blocks, DArray, sim};
///
/// let g = sim::record(|rt| DArray::<f64>::zeros(rt, 4096, 4096, Blocks::square(1024)).cholesky())?;
/// assert_eq!(g.tasks.len(), 4 * 5 * 6 / 6); // potrf, trsm, syrk and gemm tasks
/// assert_eq!(g.chunks.len(), 4 * 5 / 2); // the tiles of the lower triangle
/// # Ok::<(), tessera::Error>(())
/// ```
///
/// # Errors
/// What `program` returns, or [`crate::Error::Config`] if the recording runtime cannot start.
pub fn record(program: impl FnOnce(&Runtime) -> Result<()>) -> Result<SimGraph> {
    let rt = Runtime::builder()
        .ignore_env()
        .cpu_only()
        .cpu_threads(1)
        .perf_cache(None)
        .recording()
        .build()?;
    program(&rt)?;
    rt.wait_idle();
    let rec = rt
        .shared()
        .recording
        .as_ref()
        .map(|r| std::mem::take(&mut r.lock().graph));
    Ok(rec.unwrap_or_default())
}
