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
