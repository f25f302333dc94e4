// fft_c2r.wgsl: the complex-to-real entry point, appended to fft.wgsl (see there). Each
// complex column holds the n/2 + 1 first coefficients of a Hermitian spectrum; the column is
// extended by X[n - k] = conj(X[k]) (the imaginary parts of X[0] and X[n/2] are ignored),
// transformed backward as a complex column, and the real parts kept.
//
// Bindings (group 0), besides fft.wgsl's tw = 1, p = 3:
//   0: y   storage, read        the complex (n/2 + 1) x cols tile
//   4: xr  storage, read_write  the real n x cols tile

@group(0) @binding(0) var<storage, read> y: array<C>;
@group(0) @binding(4) var<storage, read_write> xr: array<R>;

@compute @workgroup_size(WG)
fn fft_c2r(
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
            if (i == 0u || 2u * i == n) {
                buf[i] = C(y[col * h + i].x, R(0.0));
            } else if (i < h) {
                buf[i] = y[col * h + i];
            } else {
                let v = y[col * h + n - i];
                buf[i] = C(v.x, -v.y);
            }
        }
    }
    workgroupBarrier();
    let res = stockham(lid, n, 1u, true);
    if (live) {
        for (var i = lid; i < n; i += WG) {
            xr[col * n + i] = buf[res + i].x * p.scale;
        }
    }
}
