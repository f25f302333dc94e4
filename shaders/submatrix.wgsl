// submatrix.wgsl: copies between a tile and a block of a larger column-major matrix.
//
// Computes, for every element (r, c) of the t_rows x t_cols tile:
//   get_tile: tile[r + c * t_rows] = big[(row0 + r) + (col0 + c) * big_rows]
//   set_tile: big[(row0 + r) + (col0 + c) * big_rows] = tile[r + c * t_rows]
// Elements of `big` outside the block are neither read nor written.
//
// Layout: column-major, contiguous. The host prepends a prelude (src/gpu/shaders.rs) defining
// `alias T` (the element type).
//
// Bindings (group 0):
//   0: src  storage, read        big (get_tile) or tile (set_tile)
//   1: dst  storage, read_write  tile (get_tile) or big (set_tile)
//   2: p    uniform Params       big_rows, t_rows, t_cols, row0, col0
//
// Dispatch: one invocation per tile element, WG per workgroup, folded past 65535 workgroups:
// the element index is gid.x + gid.y * num_workgroups.x * WG.

struct Params {
    big_rows: u32,
    t_rows: u32,
    t_cols: u32,
    row0: u32,
    col0: u32,
}

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;
@group(0) @binding(2) var<storage, read> p: Params;

const WG: u32 = 256u;

fn big_index(e: u32) -> u32 {
    let r = e % p.t_rows;
    let c = e / p.t_rows;
    return (p.row0 + r) + (p.col0 + c) * p.big_rows;
}

@compute @workgroup_size(WG)
fn get_tile(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * nwg.x * WG;
    if (e < p.t_rows * p.t_cols) {
        dst[e] = src[big_index(e)];
    }
}

@compute @workgroup_size(WG)
fn set_tile(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * nwg.x * WG;
    if (e < p.t_rows * p.t_cols) {
        dst[big_index(e)] = src[e];
    }
}
