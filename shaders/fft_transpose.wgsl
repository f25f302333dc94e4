// fft_transpose.wgsl: copies a block of one tile, transposed, into another: the transposes
// between the passes of multi-dimensional and four-step FFTs.
//
// Computes, for r < p.h and c < p.w:
//   dst[dst_off + c + r * dst_ld] = src[src_off + r + c * src_ld]
// (indices into the tiles' column-major data: the FFT passes view contiguous panels with
// other shapes than they were created with).
//
// The host prepends a prelude (src/gpu/shaders.rs) defining `alias T`, the element type.
//
// Bindings (group 0):
//   0: src  storage, read        source tile
//   1: dst  storage, read_write  destination tile (elements outside the block are kept)
//   2: p    storage, read        Params below
//
// Dispatch: 16 x 16 invocations per workgroup, x over the block's rows r, y over its columns c;
// ceil(h / 16) x ceil(w / 16) workgroups.

struct Params {
    src_off: u32,
    src_ld: u32,
    h: u32,
    w: u32,
    dst_off: u32,
    dst_ld: u32,
}

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;
@group(0) @binding(2) var<storage, read> p: Params;

@compute @workgroup_size(16, 16)
fn fft_transpose(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    let c = gid.y;
    if (r < p.h && c < p.w) {
        dst[p.dst_off + c + r * p.dst_ld] = src[p.src_off + r + c * p.src_ld];
    }
}
