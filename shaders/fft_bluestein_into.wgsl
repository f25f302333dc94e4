// fft_bluestein_into.wgsl: Bluestein's algorithm (see fft_bluestein.wgsl) out of place,
// appended to fft.wgsl: the second half of a split column FFT whose first factor is not a
// power of two, which writes its columns transposed.
//
// Bindings (group 0), besides fft.wgsl's tw = 1, tab = 2, p = 3 (as in fft_bluestein.wgsl):
//   0: src  storage, read        the tile read, columns at src_index
//   4: dst  storage, read_write  a tile of the same size, outputs at dst_index

@group(0) @binding(0) var<storage, read> src: array<C>;
@group(0) @binding(4) var<storage, read_write> dst: array<C>;

@compute @workgroup_size(WG)
fn fft_bluestein_into(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = p.n;
    let m = p.m;
    let col = column_index(wid, nwg);
    let live = col < p.cols;
    let inverse = p.inverse != 0u;
    for (var i = lid; i < m; i += WG) {
        var v = C(R(0), R(0));
        if (live && i < n) {
            v = cmul(src[src_index(col, i)], chirp(i, inverse));
        }
        buf[i] = v;
    }
    workgroupBarrier();
    let res = bluestein_convolve(lid, n, m, inverse);
    if (live) {
        for (var k = lid; k < n; k += WG) {
            dst[dst_index(col, k)] = finish(col, k, cmul(buf[res + k], chirp(k, inverse)), inverse);
        }
    }
}
