// laswp.wgsl: a panel's row interchanges applied to another tile column (a copy of rows).
//
// Computes, with perm the panel's permutation (row i after is row perm[i] before, counted from
// the panel's first row; src/kernels/lu.rs explains why these two steps are the whole of it):
//   laswp_save: save = top; then top(r, :) = save(perm[r], :) for the top rows whose new row
//               comes from the top itself (perm[r] != r, perm[r] < mb);
//   laswp_pair: for the top rows r whose new row is row q of the tile below (perm[r] = lo + q):
//               top(r, :) = tile(q, :) and tile(q, :) = save(perm[lo + q], :).
// Every other element is left as it is.
//
// Layout: column-major, contiguous tiles; top and save are mb x cols, tile is rows x cols. The
// host prepends a prelude defining `alias T` (the element type; `Acc` is unused).
//
// Bindings (group 0):
//   0: perm     storage, read        u32, at least mb (save) or lo + rows (pair) entries
//   1: top      storage, read_write  the top tile
//   2: save     storage, read_write  laswp_save: the copy it writes
//   3: ps       storage, read        laswp_save: SaveParams mb, cols
//   4: saved    storage, read        laswp_pair: the copy laswp_save wrote
//   5: tile     storage, read_write  laswp_pair: the lower tile
//   6: pp       storage, read        laswp_pair: PairParams mb, rows, cols, lo
//
// Dispatch: one invocation per column, WG per workgroup.

struct SaveParams {
    mb: u32,
    cols: u32,
}

struct PairParams {
    mb: u32,
    rows: u32,
    cols: u32,
    lo: u32,
}

@group(0) @binding(0) var<storage, read> perm: array<u32>;
@group(0) @binding(1) var<storage, read_write> top: array<T>;
@group(0) @binding(2) var<storage, read_write> save: array<T>;
@group(0) @binding(3) var<storage, read> ps: SaveParams;
@group(0) @binding(4) var<storage, read> saved: array<T>;
@group(0) @binding(5) var<storage, read_write> tile: array<T>;
@group(0) @binding(6) var<storage, read> pp: PairParams;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn laswp_save(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let mb = ps.mb;
    if (c >= ps.cols) {
        return;
    }
    let col = c * mb;
    for (var r = 0u; r < mb; r = r + 1u) {
        save[col + r] = top[col + r];
    }
    for (var r = 0u; r < mb; r = r + 1u) {
        let s = perm[r];
        if (s != r && s < mb) {
            top[col + r] = save[col + s];
        }
    }
}

@compute @workgroup_size(64)
fn laswp_pair(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let mb = pp.mb;
    let rows = pp.rows;
    let lo = pp.lo;
    if (c >= pp.cols) {
        return;
    }
    for (var r = 0u; r < mb; r = r + 1u) {
        let s = perm[r];
        if (s >= lo && s < lo + rows) {
            let q = s - lo;
            top[c * mb + r] = tile[c * rows + q];
            tile[c * rows + q] = saved[c * mb + perm[s]];
        }
    }
}
