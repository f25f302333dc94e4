//! `DArray<T>`: a matrix split into tiles, each a [`Chunk`], that tiled algorithms run on.
//!
//! Tiles are `mb x nb` (the last tile row and column may be smaller, "ragged"); tile `(i, j)`
//! covers rows `i*mb ..` and columns `j*nb ..`. A DArray is a grid of chunk handles, so cloning
//! it, or taking a view of whole tiles, copies no data. Tiles live wherever they were last
//! written (host or a device) until read elsewhere.
//!
//! Math names: `i, j` tile indices, `r, c` element indices, `mt, nt` tiles per column/row.

mod interop;

use std::fmt;
use std::ops::Range;

use rayon::prelude::*;

use crate::data::chunk::Chunk;
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::kernels::dense::Float;
use crate::runtime::Runtime;
use crate::runtime::scope::Scope;

/// How a matrix is cut into tiles.
pub trait Blocking {
    /// `(mb, nb)`: rows and columns of a full tile for a `rows x cols` matrix of `dtype`
    /// elements on `rt`.
    fn tile_size(&self, rt: &Runtime, rows: usize, cols: usize, dtype: DType) -> (usize, usize);
}

/// Tiles of a fixed size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocks {
    /// Rows per tile.
    pub mb: usize,
    /// Columns per tile.
    pub nb: usize,
}

impl Blocks {
    /// `mb x nb` tiles.
    ///
    /// # Panics
    /// If either is zero.
    #[track_caller]
    pub fn new(mb: usize, nb: usize) -> Blocks {
        assert!(
            mb > 0 && nb > 0,
            "tiles must be at least 1 x 1, not {mb} x {nb}"
        );
        Blocks { mb, nb }
    }

    /// Square `nb x nb` tiles.
    #[track_caller]
    pub fn square(nb: usize) -> Blocks {
        Blocks::new(nb, nb)
    }
}

impl Blocking for Blocks {
    fn tile_size(&self, _: &Runtime, _: usize, _: usize, _: DType) -> (usize, usize) {
        (self.mb, self.nb)
    }
}

/// Square tiles chosen from the matrix size, the element size and the processors: large enough
/// that a tile kernel runs near its peak (256 to 512 for CPU kernels), small enough that every
/// processor slot has several tiles to work on and that the three tiles of a GEMM task stay
/// within a core's share of cache (about 1.25 MiB per tile).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoBlocks;

impl AutoBlocks {
    /// The tile order for an `n`-order problem of `elem_bytes`-byte elements with `slots`
    /// parallel processor slots.
    pub fn order(n: usize, slots: usize, elem_bytes: usize) -> usize {
        // About eight tiles per slot along a dimension (enough tasks for lookahead to keep
        // every slot busy: measured best for Cholesky on 2 cores at n = 4096 with 256-tiles),
        // clamped to what kernels like, rounded to a multiple of 64 (GPU workgroups and SIMD
        // widths divide it). The byte cap: f64 at n = 8192 on 2 cores ran Cholesky at 79 GFLOP/s
        // with 512-tiles (2 MiB) and 136 with 384-tiles.
        const TILE_BYTES: f64 = 1.25 * 1024.0 * 1024.0;
        let by_bytes = (TILE_BYTES / elem_bytes.max(1) as f64).sqrt() as usize / 64 * 64;
        let target = n / (8 * slots.max(1)).max(1);
        let nb = target.clamp(128, 512.min(by_bytes.max(128)));
        let nb = nb.div_ceil(64) * 64;
        nb.min(n.max(1))
    }
}

impl AutoBlocks {
    /// The tile order [`AutoBlocks::order`] picks for an `n`-order problem of `dtype` run on the
    /// processors of `rt` that `scope` selects (their parallel slots summed; a software adapter
    /// on the host's cores counts only without the CPU).
    pub fn for_scope(rt: &Runtime, scope: &Scope, n: usize, dtype: DType) -> usize {
        let selected = rt.scope_processors(scope);
        let cpu = selected.contains(&crate::Processor::Cpu);
        // A software adapter running on the host's cores adds no parallelism next to the CPU
        // pool; it counts only when the CPU is not in scope.
        let slots: usize = rt
            .processors()
            .iter()
            .filter(|p| selected.contains(&p.processor))
            .filter(|p| !(cpu && rt.shares_host_cores(p.processor)))
            .map(|p| p.slots)
            .sum();
        AutoBlocks::order(n, slots, dtype.size())
    }
}

impl Blocking for AutoBlocks {
    fn tile_size(&self, rt: &Runtime, rows: usize, cols: usize, dtype: DType) -> (usize, usize) {
        let nb = AutoBlocks::for_scope(rt, &Scope::all(), rows.max(cols), dtype);
        (nb, nb)
    }
}

/// A matrix of `T` split into tiles.
pub struct DArray<T> {
    rt: Runtime,
    rows: usize,
    cols: usize,
    mb: usize,
    nb: usize,
    /// Tile handles in column-major tile order: `(i, j)` at `i + j * mt`.
    tiles: Vec<Chunk<T>>,
}

impl<T> Clone for DArray<T> {
    /// Another handle to the same tiles (no data is copied).
    fn clone(&self) -> Self {
        DArray {
            rt: self.rt.clone(),
            rows: self.rows,
            cols: self.cols,
            mb: self.mb,
            nb: self.nb,
            tiles: self.tiles.clone(),
        }
    }
}

impl<T> fmt::Debug for DArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DArray({}x{} in {}x{} tiles of {}x{})",
            self.rows,
            self.cols,
            self.rows.div_ceil(self.mb),
            self.cols.div_ceil(self.nb),
            self.mb,
            self.nb
        )
    }
}

/// A deterministic pseudo-random number in [-1, 1) for element `(r, c)` of matrix `seed`: the
/// same for any tiling (SplitMix64 finaliser on the element's coordinates).
pub(crate) fn element_random(seed: u64, r: usize, c: usize) -> f64 {
    let mut z = seed
        .wrapping_add((r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add((c as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// Element `(r, c)` of the seeded SPD matrix of order `n` made by [`DArray::rand_spd`].
pub fn spd_element(seed: u64, n: usize, r: usize, c: usize) -> f64 {
    let sym = (element_random(seed, r, c) + element_random(seed, c, r)) / 2.0;
    if r == c { sym + n as f64 } else { sym }
}

impl<T: Element> DArray<T> {
    fn tile_dims(
        rows: usize,
        cols: usize,
        mb: usize,
        nb: usize,
        i: usize,
        j: usize,
    ) -> (usize, usize) {
        (mb.min(rows - i * mb), nb.min(cols - j * nb))
    }

    /// A matrix whose tiles are made by `tile(i, j, tile_rows, tile_cols)`, in parallel.
    fn build(
        rt: &Runtime,
        rows: usize,
        cols: usize,
        (mb, nb): (usize, usize),
        tile: impl Fn(usize, usize, usize, usize) -> Chunk<T> + Sync,
    ) -> DArray<T> {
        assert!(mb > 0 && nb > 0, "tiles must be at least 1 x 1");
        let (mt, nt) = (rows.div_ceil(mb), cols.div_ceil(nb));
        let tiles = (0..mt * nt)
            .into_par_iter()
            .map(|t| {
                let (i, j) = (t % mt, t / mt);
                let (tr, tc) = Self::tile_dims(rows, cols, mb, nb, i, j);
                tile(i, j, tr, tc)
            })
            .collect();
        DArray {
            rt: rt.clone(),
            rows,
            cols,
            mb,
            nb,
            tiles,
        }
    }

    /// A `rows x cols` matrix with element `(r, c)` = `f(r, c)`, tiles built in parallel.
    pub fn from_fn(
        rt: &Runtime,
        rows: usize,
        cols: usize,
        blocks: impl Blocking,
        f: impl Fn(usize, usize) -> T + Sync,
    ) -> DArray<T> {
        let b = blocks.tile_size(rt, rows, cols, T::DTYPE);
        Self::build(rt, rows, cols, b, |i, j, tr, tc| {
            let (r0, c0) = (i * b.0, j * b.1);
            let mut data = Vec::with_capacity(tr * tc);
            for c in 0..tc {
                for r in 0..tr {
                    data.push(f(r0 + r, c0 + c));
                }
            }
            Chunk::from_vec(rt, tr, tc, data)
        })
    }

    /// A matrix from column-major `data` (`rows * cols` elements).
    ///
    /// # Panics
    /// If `data.len() != rows * cols`.
    #[track_caller]
    pub fn from_slice(
        rt: &Runtime,
        rows: usize,
        cols: usize,
        data: &[T],
        blocks: impl Blocking,
    ) -> DArray<T> {
        assert_eq!(
            data.len(),
            rows * cols,
            "a {rows}x{cols} matrix needs {} elements, got {}",
            rows * cols,
            data.len()
        );
        Self::from_fn(rt, rows, cols, blocks, |r, c| data[r + c * rows])
    }

    /// A matrix from column-major `data`.
    ///
    /// # Panics
    /// If `data.len() != rows * cols`.
    #[track_caller]
    pub fn from_vec(
        rt: &Runtime,
        rows: usize,
        cols: usize,
        data: Vec<T>,
        blocks: impl Blocking,
    ) -> DArray<T> {
        Self::from_slice(rt, rows, cols, &data, blocks)
    }

    /// A matrix made of existing tiles, in column-major tile order (what the FFTs return).
    ///
    /// # Panics
    /// If the tiles do not form a `rows x cols` grid of `mb x nb` tiles (ragged at the end).
    #[track_caller]
    pub(crate) fn from_tiles(
        rt: &Runtime,
        (rows, cols): (usize, usize),
        (mb, nb): (usize, usize),
        tiles: Vec<Chunk<T>>,
    ) -> DArray<T> {
        let (mt, nt) = (rows.div_ceil(mb), cols.div_ceil(nb));
        assert_eq!(tiles.len(), mt * nt, "a {mt}x{nt} tile grid");
        for (t, c) in tiles.iter().enumerate() {
            let want = Self::tile_dims(rows, cols, mb, nb, t % mt, t / mt);
            assert_eq!(
                (c.rows(), c.cols()),
                want,
                "tile {t} of a {rows}x{cols} matrix"
            );
        }
        DArray {
            rt: rt.clone(),
            rows,
            cols,
            mb,
            nb,
            tiles,
        }
    }

    /// A matrix of zeros; no memory is touched until a task uses a tile.
    pub fn zeros(rt: &Runtime, rows: usize, cols: usize, blocks: impl Blocking) -> DArray<T> {
        let b = blocks.tile_size(rt, rows, cols, T::DTYPE);
        Self::build(rt, rows, cols, b, |_, _, tr, tc| Chunk::zeros(rt, tr, tc))
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(mb, nb)`: the size of a full tile.
    pub fn tile_size(&self) -> (usize, usize) {
        (self.mb, self.nb)
    }

    /// Tiles per column (tile rows).
    pub fn mt(&self) -> usize {
        self.rows.div_ceil(self.mb)
    }

    /// Tiles per row (tile columns).
    pub fn nt(&self) -> usize {
        self.cols.div_ceil(self.nb)
    }

    /// The runtime the tiles belong to.
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Tile `(i, j)`.
    ///
    /// # Panics
    /// If `(i, j)` is outside the tile grid.
    #[track_caller]
    pub fn tile(&self, i: usize, j: usize) -> &Chunk<T> {
        let (mt, nt) = (self.mt(), self.nt());
        assert!(
            i < mt && j < nt,
            "tile ({i}, {j}) outside the {mt}x{nt} tile grid"
        );
        &self.tiles[i + j * mt]
    }

    /// Every tile, in column-major tile order.
    pub fn tiles(&self) -> &[Chunk<T>] {
        &self.tiles
    }

    /// The whole tiles in tile rows `ti` and tile columns `tj`, as a matrix sharing them (no
    /// copy; writes through the view are writes to `self`).
    ///
    /// # Panics
    /// If the ranges leave the tile grid, or cut a ragged last tile into the middle of the view.
    #[track_caller]
    pub fn view(&self, ti: Range<usize>, tj: Range<usize>) -> DArray<T> {
        let (mt, nt) = (self.mt(), self.nt());
        assert!(
            ti.start <= ti.end && ti.end <= mt && tj.start <= tj.end && tj.end <= nt,
            "tiles {ti:?} x {tj:?} outside the {mt}x{nt} tile grid"
        );
        let rows: usize = ti.clone().map(|i| self.tile(i, 0).rows()).sum();
        let cols: usize = tj.clone().map(|j| self.tile(0, j).cols()).sum();
        let tiles = tj
            .clone()
            .flat_map(|j| ti.clone().map(move |i| (i, j)))
            .map(|(i, j)| self.tile(i, j).clone())
            .collect();
        DArray {
            rt: self.rt.clone(),
            rows,
            cols,
            mb: self.mb,
            nb: self.nb,
            tiles,
        }
    }

    /// The matrix, column-major, on the host (waiting for the tasks that write it).
    ///
    /// # Errors
    /// As [`Chunk::to_vec`].
    pub fn to_vec(&self) -> Result<Vec<T>> {
        let mut out = vec![<T as bytemuck::Zeroable>::zeroed(); self.rows * self.cols];
        let (mt, nt) = (self.mt(), self.nt());
        for j in 0..nt {
            for i in 0..mt {
                let t = self.tile(i, j);
                let data = t.to_vec()?;
                let (r0, c0) = (i * self.mb, j * self.nb);
                for c in 0..t.cols() {
                    let dst = r0 + (c0 + c) * self.rows;
                    out[dst..dst + t.rows()]
                        .copy_from_slice(&data[c * t.rows()..(c + 1) * t.rows()]);
                }
            }
        }
        Ok(out)
    }
}

impl<T: Float> DArray<T> {
    /// The `n x n` identity.
    pub fn identity(rt: &Runtime, n: usize, blocks: impl Blocking) -> DArray<T> {
        Self::from_fn(rt, n, n, blocks, |r, c| {
            T::from_f64(if r == c { 1.0 } else { 0.0 })
        })
    }

    /// A matrix with entries uniform in [-1, 1), reproducible from `seed` for any tiling.
    pub fn rand(
        rt: &Runtime,
        rows: usize,
        cols: usize,
        blocks: impl Blocking,
        seed: u64,
    ) -> DArray<T> {
        Self::from_fn(rt, rows, cols, blocks, |r, c| {
            T::from_f64(element_random(seed, r, c))
        })
    }

    /// A symmetric positive definite `n x n` matrix, `(R + R^T)/2 + n I` with `R` as in
    /// [`DArray::rand`]: diagonally dominant, so SPD, and cheap to make at any size. Element
    /// `(r, c)` is [`spd_element`]`(seed, n, r, c)`.
    pub fn rand_spd(rt: &Runtime, n: usize, blocks: impl Blocking, seed: u64) -> DArray<T> {
        Self::from_fn(rt, n, n, blocks, |r, c| {
            T::from_f64(spd_element(seed, n, r, c))
        })
    }
}

impl<T: Element> DArray<T> {
    /// Makes every tile valid in host memory (after the tasks that write them) and returns
    /// read guards on their host replicas, in tile order: zero-copy host access for checks.
    pub(crate) fn host_tiles(
        &self,
    ) -> Result<Vec<parking_lot::RwLockReadGuard<'_, crate::host::HostBytes>>> {
        for t in &self.tiles {
            t.sync_host()?;
        }
        Ok(self
            .tiles
            .iter()
            .map(|t| t.raw.0.host.read_recursive())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::AutoBlocks;

    #[test]
    fn auto_tile_orders_follow_size_slots_and_element_bytes() {
        // Eight tiles per slot along a dimension, multiples of 64, within [128, 512].
        assert_eq!(AutoBlocks::order(4096, 2, 8), 256);
        assert_eq!(AutoBlocks::order(1024, 2, 8), 128);
        assert_eq!(AutoBlocks::order(8192, 2, 4), 512);
        // The byte cap: f64 tiles stop at 384 (1.125 MiB), f32 and f16 at 512.
        assert_eq!(AutoBlocks::order(8192, 2, 8), 384);
        assert_eq!(AutoBlocks::order(65536, 2, 2), 512);
        // Never larger than the matrix.
        assert_eq!(AutoBlocks::order(100, 2, 8), 100);
        assert_eq!(AutoBlocks::order(0, 2, 8), 1);
    }
}
