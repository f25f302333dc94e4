// fft_r2c.wgsl: the real-to-complex entry point, appended to fft.wgsl (see there). Each real
// column of length n is transformed as a complex one (imaginary parts zero) and the first
// n/2 + 1 outputs are kept (the rest are their conjugates).
//
// Bindings (group 0), besides fft.wgsl's tw = 1, p = 3:
//   4: xr  storage, read        the real n x cols tile
//   0: y   storage, read_write  the complex (n/2 + 1) x cols tile

@group(0) @binding(4) var<storage, read> xr: array<R>;
@group(0) @binding(0) var<storage, read_write> y: array<C>;

@compute @workgroup_size(WG)
fn fft_r2c(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = p.n;
    let h = n / 2u + 1u;
    let col = column_index(wid, nwg);
    let live = col < p.cols;
    if (live) {
        for (var i = lid; i < n; i += WG) {
            buf[i] = C(xr[col * n + i], R(0.0));
        }
    }
    workgroupBarrier();
    let res = stockham(lid, n, 1u, false);
    if (live) {
        for (var i = lid; i < h; i += WG) {
            y[col * h + i] = buf[res + i] * p.scale;
        }
    }
}
