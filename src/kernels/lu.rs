//! The tile kernels of LU factorization that BLAS does not have: [`getrf`] (a panel with
//! partial pivoting), [`getrf_nopiv`], and the two halves of a row interchange across tiles,
//! [`laswp_save`] and [`laswp_pair`]. The tiled LU (`DArray::lu`) adds the dense `trsm` and
//! `gemm` of [`dense`](super::dense).
//!
//! Each runs on the CPU (faer's LU for the panel; f16 widened to f32) and on GPUs (WGSL; f32
//! everywhere, f64 with `SHADER_F64`, f16 with `SHADER_F16`).
//!
//! **Pivot chunks.** A pivoted panel of `m` rows and `w <= m` columns writes a `u32` chunk of
//! `m + w` elements: first `perm` (`m` entries: row `i` of the factored panel is row `perm[i]`
//! of the panel before it), then `ipiv` (`w` entries, LAPACK-style but zero-based: at step
//! `r` rows `r` and `ipiv[r] >= r` were interchanged). The row interchange of another tile
//! column uses `perm` only.
//!
//! **Row interchanges across tiles.** The panel's interchanges move rows between its first tile
//! (the *top*, rows `0..mb`) and the tiles below it. Partial pivoting only ever moves rows of
//! the top into lower tiles and the other way round: a row below the top receives an original
//! top row (`perm[p] < w` for every `p >= mb` with `perm[p] != p`). So the interchange of a
//! tile column is [`laswp_save`] on its top tile (keep a copy, permute within the top), then
//! one [`laswp_pair`] per lower tile (exchange the rows that move between the two), which
//! touch disjoint rows and read the copy, never each other's results.
//!
//! Math names: `m` rows, `w` columns of a panel; `mb` rows of a top tile; `lo` the first panel
//! row of a lower tile.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::dtype::DType;
use crate::error::KernelError;
use crate::kernels::dense::Float;
use crate::kernels::{Cost, Kernel, KernelCall, Launch, Scalar};

/// Which LU kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum LuOp {
    /// Panel with partial pivoting: `(ReadWrite panel, Write pivots)`.
    Getrf,
    /// Panel without pivoting: `(ReadWrite panel)`.
    GetrfNopiv,
    /// `(Read pivots, ReadWrite top, Write save)`.
    LaswpSave,
    /// `(Read pivots, Read save, ReadWrite top, ReadWrite tile)`, parameter `lo`.
    LaswpPair,
    /// CPU only: a panel factored in its tiles, `(ReadWrite tile_0, .., ReadWrite tile_{n-1},
    /// Write pivots)`.
    GetrfTiles(usize),
    /// CPU only: the interchanges on a tile column, `(Read pivots, ReadWrite tile_0, ..)`.
    LaswpTiles(usize),
}

impl LuOp {
    pub(crate) fn name(self) -> &'static str {
        match self {
            LuOp::Getrf => "getrf",
            LuOp::GetrfNopiv => "getrf_nopiv",
            LuOp::LaswpSave => "laswp_save",
            LuOp::LaswpPair => "laswp_pair",
            LuOp::GetrfTiles(_) => "getrf",
            LuOp::LaswpTiles(_) => "laswp",
        }
    }
}

/// LU factorization with partial pivoting of the `m x w` panel (`m >= w`), in place:
/// `P A = L U` with the unit lower triangular (trapezoidal) `L` below the diagonal and `U` on
/// and above it, the rows interchanged. Accesses `(ReadWrite panel, Write pivots)`, the pivots
/// a `u32` chunk of `m + w` elements (module docs). An exactly zero pivot fails the task with
/// [`KernelError::Singular`] and its column; the panel is then partly factored.
pub fn getrf<T: Float>() -> KernelCall {
    kernel(LuOp::Getrf, T::DTYPE).call([])
}

/// LU factorization without pivoting of the `m x w` panel (`m >= w`), in place, access
/// `(ReadWrite panel)`. An exactly zero pivot fails the task with [`KernelError::Singular`].
pub fn getrf_nopiv<T: Float>() -> KernelCall {
    kernel(LuOp::GetrfNopiv, T::DTYPE).call([])
}

/// First half of applying a panel's row interchanges to another tile column: copies its top
/// tile to `save` and moves the rows that stay within the top. Accesses `(Read pivots,
/// ReadWrite top, Write save)`, `save` shaped as `top`.
pub fn laswp_save<T: Float>() -> KernelCall {
    kernel(LuOp::LaswpSave, T::DTYPE).call([])
}

/// Second half: exchanges the rows that move between the top tile and the tile whose first row
/// is panel row `lo` (`lo >=` the top's rows). Accesses `(Read pivots, Read save, ReadWrite top,
/// ReadWrite tile)`; `save` is what [`laswp_save`] left.
pub fn laswp_pair<T: Float>(lo: usize) -> KernelCall {
    kernel(LuOp::LaswpPair, T::DTYPE).call([Scalar::U32(
        u32::try_from(lo).expect("panel rows above 2^32"),
    )])
}

/// [`getrf`] on a panel left in its `tiles` tiles (all but the last of the same height):
/// `(ReadWrite tile_0, .., ReadWrite tile_{tiles-1}, Write pivots)`. CPU only: what a panel is
/// when nothing but the CPU may run it (no gathering into one chunk).
pub(crate) fn getrf_tiles<T: Float>(tiles: usize) -> KernelCall {
    kernel(LuOp::GetrfTiles(tiles), T::DTYPE).call([])
}

/// A panel's interchanges (`ipiv`, in order, as LAPACK's `laswp`) on a tile column of `tiles`
/// tiles, the first being the panel's top: `(Read pivots, ReadWrite tile_0, ..)`. CPU only.
pub(crate) fn laswp_tiles<T: Float>(tiles: usize) -> KernelCall {
    kernel(LuOp::LaswpTiles(tiles), T::DTYPE).call([])
}

/// The kernel descriptor of `op` on `dtype` (f32, f64 or f16), built once and shared.
///
/// # Panics
/// If `dtype` is not a dense element type.
pub(crate) fn kernel(op: LuOp, dtype: DType) -> Kernel {
    assert!(
        matches!(dtype, DType::F32 | DType::F64 | DType::F16),
        "LU kernels take f32, f64 or f16 tiles, not {dtype}"
    );
    static CACHE: OnceLock<Mutex<HashMap<(LuOp, DType), Kernel>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    map.entry((op, dtype))
        .or_insert_with(|| build(op, dtype))
        .clone()
}

fn build(op: LuOp, d: DType) -> Kernel {
    let b = Kernel::builder(op.name());
    let b = match op {
        LuOp::GetrfTiles(n) => (0..n).fold(b, |b, _| b.read_write(d)).write(DType::U32),
        LuOp::LaswpTiles(n) => (0..n).fold(b.read(DType::U32), |b, _| b.read_write(d)),
        LuOp::Getrf => b.read_write(d).write(DType::U32),
        LuOp::GetrfNopiv => b.read_write(d),
        LuOp::LaswpSave => b.read(DType::U32).read_write(d).write(d),
        LuOp::LaswpPair => b
            .read(DType::U32)
            .read(d)
            .read_write(d)
            .read_write(d)
            .param(DType::U32),
    };
    let b = b
        .cost(move |l: &Launch<'_>| cost(op, l))
        .check(move |l: &Launch<'_>| check(op, l));
    let b = match op {
        LuOp::Getrf => b.cpu(|t| crate::cpu::getrf::run(t, true)),
        LuOp::GetrfNopiv => b.cpu(|t| crate::cpu::getrf::run(t, false)),
        LuOp::LaswpSave => b.cpu(crate::cpu::laswp::save),
        LuOp::LaswpPair => b.cpu(crate::cpu::laswp::pair),
        LuOp::GetrfTiles(_) => b.cpu(crate::cpu::getrf::run_tiles),
        LuOp::LaswpTiles(_) => b.cpu(crate::cpu::laswp::tiles),
    };
    let b = match op {
        LuOp::Getrf | LuOp::GetrfNopiv => {
            b.gpu(crate::gpu::kernels::getrf::kernel(op == LuOp::Getrf, d))
        }
        LuOp::LaswpSave | LuOp::LaswpPair => {
            b.gpu(crate::gpu::kernels::laswp::kernel(op == LuOp::LaswpSave, d))
        }
        LuOp::GetrfTiles(_) | LuOp::LaswpTiles(_) => b,
    };
    b.build()
        .unwrap_or_else(|e| unreachable!("LU kernel {} for {d} must build: {e}", op.name()))
}

fn cost(op: LuOp, l: &Launch<'_>) -> Cost {
    let s = l.shapes;
    match op {
        LuOp::GetrfTiles(n) => {
            let (m, w) = (
                s[..n].iter().map(|x| x.rows).sum::<usize>() as f64,
                s[0].cols as f64,
            );
            Cost {
                flops: m * w * w - w * w * w / 3.0,
                bytes: 4.0 * s[..n].iter().map(|x| x.bytes() as f64).sum::<f64>(),
            }
        }
        // About two rows per interchange, each a cache line per column.
        LuOp::LaswpTiles(_) => Cost {
            flops: 0.0,
            bytes: s[0].len() as f64 * 128.0 * s[1].cols as f64 / 2.0,
        },
        LuOp::Getrf | LuOp::GetrfNopiv => {
            let (m, w) = (s[0].rows as f64, s[0].cols as f64);
            Cost {
                flops: m * w * w - w * w * w / 3.0,
                bytes: 2.0 * s[0].bytes() as f64,
            }
        }
        // Copies: the save moves a whole tile; a pair moves at most a tile's rows.
        LuOp::LaswpSave => Cost {
            flops: 0.0,
            bytes: 3.0 * s[1].bytes() as f64,
        },
        LuOp::LaswpPair => Cost {
            flops: 0.0,
            bytes: s[0].bytes() as f64 + 2.0 * s[2].bytes() as f64,
        },
    }
}

fn check(op: LuOp, l: &Launch<'_>) -> Result<(), KernelError> {
    let s = l.shapes;
    let bad = |what: String| {
        Err(KernelError::InvalidArgument(format!(
            "{}: {what}",
            op.name()
        )))
    };
    match op {
        LuOp::GetrfTiles(n) | LuOp::LaswpTiles(n) => {
            let getrf = matches!(op, LuOp::GetrfTiles(_));
            let (tiles, piv) = if getrf {
                (&s[..n], s[n].len())
            } else {
                (&s[1..], s[0].len())
            };
            let m: usize = tiles.iter().map(|x| x.rows).sum();
            let w = tiles[0].cols;
            let same = tiles.iter().all(|x| x.cols == w)
                && tiles[..n - 1].iter().all(|x| x.rows == tiles[0].rows);
            if n == 0 || !same || piv <= m || (getrf && (piv != m + w || m < w)) {
                return bad(format!(
                    "{n} tiles of {m} rows in all (equal heights but the last, equal widths) \
                     with {piv} pivot entries"
                ));
            }
        }
        LuOp::Getrf | LuOp::GetrfNopiv => {
            let (m, w) = (s[0].rows, s[0].cols);
            if m < w {
                return bad(format!(
                    "the panel is {m}x{w}; it needs at least as many rows as columns"
                ));
            }
            if op == LuOp::Getrf && s[1].len() != m + w {
                return bad(format!(
                    "a {m}x{w} panel needs {} pivot entries (m + w), got {}",
                    m + w,
                    s[1].len()
                ));
            }
        }
        LuOp::LaswpSave => {
            if s[1].rows != s[2].rows || s[1].cols != s[2].cols {
                return bad(format!(
                    "save must be shaped as top ({}x{}), not {}x{}",
                    s[1].rows, s[1].cols, s[2].rows, s[2].cols
                ));
            }
            if s[0].len() < s[1].rows {
                return bad(format!(
                    "{} pivot entries for a top of {} rows",
                    s[0].len(),
                    s[1].rows
                ));
            }
        }
        LuOp::LaswpPair => {
            let lo = l.params[0].get::<u32>().unwrap_or(0) as usize;
            let (top, tile) = (s[2], s[3]);
            if s[1].rows != top.rows || s[1].cols != top.cols || tile.cols != top.cols {
                return bad(format!(
                    "save {}x{}, top {}x{} and tile {}x{} must share columns (save shaped as top)",
                    s[1].rows, s[1].cols, top.rows, top.cols, tile.rows, tile.cols
                ));
            }
            if lo < top.rows || s[0].len() < lo + tile.rows {
                return bad(format!(
                    "a tile of {} rows at panel row {lo} below a top of {} rows, with {} pivot entries",
                    tile.rows,
                    top.rows,
                    s[0].len()
                ));
            }
        }
    }
    Ok(())
}

/// The LAPACK-style interchanges (`ipiv`, zero-based) that produce the permutation `perm`
/// (row `i` after is row `perm[i]` before), for the first `w` rows: partial pivoting's
/// interchanges are the unique ones with `ipiv[r] >= r`.
pub(crate) fn interchanges(perm: &[u32], w: usize) -> Vec<u32> {
    let m = perm.len();
    // cur[pos] = the original row now at pos; at[row] = where the original row now is.
    let mut cur: Vec<u32> = (0..m as u32).collect();
    let mut at: Vec<u32> = (0..m as u32).collect();
    let mut ipiv = Vec::with_capacity(w);
    for r in 0..w {
        let p = at[perm[r] as usize] as usize;
        ipiv.push(p as u32);
        let (a, b) = (cur[r], cur[p]);
        cur.swap(r, p);
        at[a as usize] = p as u32;
        at[b as usize] = r as u32;
    }
    ipiv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lu_kernel_builds() {
        for op in [
            LuOp::Getrf,
            LuOp::GetrfNopiv,
            LuOp::LaswpSave,
            LuOp::LaswpPair,
            LuOp::GetrfTiles(3),
            LuOp::LaswpTiles(3),
        ] {
            for d in [DType::F32, DType::F64, DType::F16] {
                let k = kernel(op, d);
                let gpu = !matches!(op, LuOp::GetrfTiles(_) | LuOp::LaswpTiles(_));
                assert!(k.has_cpu() && k.gpu().is_some() == gpu, "{}", op.name());
            }
        }
    }

    #[test]
    fn interchanges_reproduce_the_permutation() {
        // Apply ipiv = [3, 3, 2, 5] to 0..6: perm = [3, 0, 2, 5, 4, 1]? Build it by swapping.
        let ipiv = [3u32, 3, 2, 5];
        let mut perm: Vec<u32> = (0..6).collect();
        for (r, &p) in ipiv.iter().enumerate() {
            perm.swap(r, p as usize);
        }
        assert_eq!(interchanges(&perm, 4), ipiv.to_vec());
    }
}
