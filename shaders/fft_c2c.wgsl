// fft_c2c.wgsl: the complex-to-complex entry point, appended to fft.wgsl (see there for the
// column layout, the twiddle modes and the shared bindings tw = 1, tab = 2, p = 3) and to the
// data bindings of fft_inplace.wgsl (in place) or fft_into.wgsl (into another tile), which
// define load(i) and store(i, v).
//
// A workgroup transforms p.cpw consecutive columns together in `buf` (column b of them at
// b n). Loads and stores walk the points in the order that makes neighbouring invocations touch
// neighbouring addresses: along a column when its points are contiguous (s_step = 1, d_step =
// 1), across the columns otherwise (the strided columns of a split pass are 1 apart).

// Point i of the workgroup's cpw columns of n: (column b, point k), walking along each column
// first when `along` (contiguous columns), across the columns first otherwise.
fn slot(i: u32, n: u32, cpw: u32, along: bool) -> vec2<u32> {
    if (along) {
        return run_of(i, n, cpw);
    }
    // Runs of cpw points, one from each column: (k, b), swapped.
    return run_of(i, cpw, n).yx;
}

@compute @workgroup_size(WG)
fn fft_c2c(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = p.n;
    let cpw = p.cpw;
    let first = column_index(wid, nwg) * cpw;
    let inverse = p.inverse != 0u;
    let total = cpw * n;
    for (var i = lid; i < total; i += WG) {
        let bk = slot(i, n, cpw, p.s_step == 1u);
        let b = bk.x;
        let k = bk.y;
        let col = first + b;
        if (col < p.cols) {
            buf[b * n + k] = load(src_index(col, k));
        }
    }
    workgroupBarrier();
    let res = stockham(lid, n, cpw, inverse);
    for (var i = lid; i < total; i += WG) {
        let bk = slot(i, n, cpw, p.d_step == 1u);
        let b = bk.x;
        let k = bk.y;
        let col = first + b;
        if (col < p.cols) {
            store(dst_index(col, k), finish(col, k, buf[res + b * n + k], inverse));
        }
    }
}
