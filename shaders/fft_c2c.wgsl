// fft_c2c.wgsl: the complex-to-complex entry point, in place, appended to fft.wgsl (see there
// for the column layout, the twiddle modes and the shared bindings tw = 1, tab = 2, p = 3).
//
// Bindings (group 0), besides fft.wgsl's:
//   0: x  storage, read_write  the tile; each column is read from and written to the same
//                              places (src_index = dst_index), so columns never overlap

@group(0) @binding(0) var<storage, read_write> x: array<C>;

@compute @workgroup_size(WG)
fn fft_c2c(
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
            buf[i] = x[src_index(col, i)];
        }
    }
    workgroupBarrier();
    let res = stockham(lid, n, inverse);
    if (live) {
        for (var k = lid; k < n; k += WG) {
            x[dst_index(col, k)] = finish(col, k, buf[res + k], inverse);
        }
    }
}
