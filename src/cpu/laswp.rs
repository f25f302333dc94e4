//! CPU halves of `laswp_save` and `laswp_pair`: a panel's row interchanges applied to another
//! tile column, as element copies (bit-exact). The rows that move are found once from `perm`,
//! then copied column by column; see `kernels::lu` for why the two halves suffice.

use half::f16;

use crate::dtype::{DType, Element};
use crate::error::KernelError;
use crate::kernels::CpuTask;

/// `laswp_save`: `(Read perm, ReadWrite top, Write save)`.
pub(crate) fn save(t: &mut CpuTask<'_>) -> Result<(), KernelError> {
    match t.shape(1).dtype {
        DType::F64 => save_typed::<f64>(t),
        DType::F32 => save_typed::<f32>(t),
        DType::F16 => save_typed::<f16>(t),
        d => return Err(unsupported(d)),
    }
    Ok(())
}

/// `laswp_pair`: `(Read perm, Read save, ReadWrite top, ReadWrite tile)`, parameter `lo`.
pub(crate) fn pair(t: &mut CpuTask<'_>) -> Result<(), KernelError> {
    match t.shape(2).dtype {
        DType::F64 => pair_typed::<f64>(t),
        DType::F32 => pair_typed::<f32>(t),
        DType::F16 => pair_typed::<f16>(t),
        d => return Err(unsupported(d)),
    }
    Ok(())
}

/// `laswp` on a whole tile column: `(Read pivots, ReadWrite tile_0, ..)`, the interchanges in
/// order, column by column (the top's column stays in cache while the rows below are visited).
pub(crate) fn tiles(t: &mut CpuTask<'_>) -> Result<(), KernelError> {
    match t.shape(1).dtype {
        DType::F64 => tiles_typed::<f64>(t),
        DType::F32 => tiles_typed::<f32>(t),
        DType::F16 => tiles_typed::<f16>(t),
        d => Err(unsupported(d)),
    }
}

fn tiles_typed<T: Element + Copy>(t: &mut CpuTask<'_>) -> Result<(), KernelError> {
    let n = t.len() - 1;
    let piv = t.tile::<u32>(0);
    let mut tiles: Vec<_> = (1..=n).map(|i| t.tile_mut::<T>(i)).collect();
    let (nb, cols) = (tiles[0].rows, tiles[0].cols);
    let m: usize = tiles.iter().map(|x| x.rows).sum();
    let ipiv = &piv.data[m..];
    // (top row, tile, row in it) of each interchange that moves something.
    let mut swaps = Vec::with_capacity(ipiv.len());
    for (r, &p) in ipiv.iter().enumerate() {
        let p = p as usize;
        if p >= m || r >= nb {
            return Err(KernelError::InvalidArgument(format!(
                "laswp: interchange {r} <-> {p} outside the {m} rows (top {nb})"
            )));
        }
        if p != r {
            swaps.push((r, p / nb, p % nb));
        }
    }
    if swaps.is_empty() {
        return Ok(());
    }
    let (top, rest) = tiles.split_at_mut(1);
    let top = &mut top[0];
    for c in 0..cols {
        let tc = c * nb;
        for &(r, ti, q) in &swaps {
            if ti == 0 {
                top.data.swap(tc + r, tc + q);
            } else {
                let x = &mut rest[ti - 1];
                let at = c * x.rows + q;
                std::mem::swap(&mut top.data[tc + r], &mut x.data[at]);
            }
        }
    }
    Ok(())
}

fn unsupported(d: DType) -> KernelError {
    KernelError::InvalidArgument(format!("laswp takes f32, f64 or f16 tiles, not {d}"))
}

fn save_typed<T: Element + Copy>(t: &mut CpuTask<'_>) {
    let perm = t.tile::<u32>(0);
    let top = t.tile_mut::<T>(1);
    let save = t.tile_mut::<T>(2);
    save.data.copy_from_slice(top.data);
    let mb = top.rows;
    // Top rows whose new content comes from the top too.
    let moves: Vec<(usize, usize)> = (0..mb)
        .map(|r| (r, perm.data[r] as usize))
        .filter(|&(r, s)| s != r && s < mb)
        .collect();
    if moves.is_empty() {
        return;
    }
    for c in 0..top.cols {
        let col = c * mb;
        for &(r, s) in &moves {
            top.data[col + r] = save.data[col + s];
        }
    }
}

fn pair_typed<T: Element + Copy>(t: &mut CpuTask<'_>) {
    let lo = t.param::<u32>(0) as usize;
    let perm = t.tile::<u32>(0);
    let save = t.tile::<T>(1);
    let top = t.tile_mut::<T>(2);
    let tile = t.tile_mut::<T>(3);
    let (mb, rows) = (top.rows, tile.rows);
    // (top row r, tile row q): r takes the tile's row q, which takes the saved row perm[lo + q].
    let moves: Vec<(usize, usize, usize)> = (0..mb)
        .filter_map(|r| {
            let p = perm.data[r] as usize;
            (lo <= p && p < lo + rows).then(|| (r, p - lo, perm.data[p] as usize))
        })
        .collect();
    if moves.is_empty() {
        return;
    }
    for c in 0..top.cols {
        let (tc, ic) = (c * mb, c * rows);
        for &(r, q, s) in &moves {
            top.data[tc + r] = tile.data[ic + q];
            tile.data[ic + q] = save.data[tc + s];
        }
    }
}
