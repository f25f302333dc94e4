// fft_c2c_into.wgsl: the complex-to-complex entry point out of place, appended to fft.wgsl
// (see there for the column layout, the twiddle modes and the shared bindings tw = 1,
// tab = 2, p = 3): the second half of a split column FFT, which writes its columns
// transposed, so it cannot work in place.
//
// Bindings (group 0), besides fft.wgsl's:
//   0: src  storage, read        the tile read, columns at src_index
//   4: dst  storage, read_write  a tile of the same size, outputs at dst_index

@group(0) @binding(0) var<storage, read> src: array<C>;
@group(0) @binding(4) var<storage, read_write> dst: array<C>;

@compute @workgroup_size(WG)
fn fft_c2c_into(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = p.n;
    let col = column_index(wid, nwg);
    let live = col < p.cols;
    let inverse = p.inverse != 0u;
    if (live) {
        for (var i = lid; i < n; i += WG) {
            buf[i] = src[src_index(col, i)];
        }
    }
    workgroupBarrier();
    let res = stockham(lid, n, inverse);
    if (live) {
        for (var k = lid; k < n; k += WG) {
            dst[dst_index(col, k)] = finish(col, k, buf[res + k], inverse);
        }
    }
}
