// fft_c2c.wgsl: the complex-to-complex entry point, appended to fft.wgsl (see there for the
// column layout, the twiddle modes and the shared bindings tw = 1, tab = 2, p = 3) and to the
// data bindings of fft_inplace.wgsl (in place) or fft_into.wgsl (into another tile), which
// define load(i) and store(i, v).

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
            buf[i] = load(src_index(col, i));
        }
    }
    workgroupBarrier();
    let res = stockham(lid, n, inverse);
    if (live) {
        for (var k = lid; k < n; k += WG) {
            store(dst_index(col, k), finish(col, k, buf[res + k], inverse));
        }
    }
}
