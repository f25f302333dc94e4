// fft_c2c.wgsl: the complex-to-complex entry point, appended to fft.wgsl (see there).
//
// Bindings (group 0), besides fft.wgsl's tw = 1, big = 2, p = 3:
//   0: x  storage, read_write  the n x cols tile, transformed in place

@group(0) @binding(0) var<storage, read_write> x: array<C>;
@group(0) @binding(2) var<storage, read> big: array<C>;

// exp(-+2 pi i m / big_n) from the two tables (m < big_n, big_b a power of two).
fn big_twiddle(m: u32, inverse: bool) -> C {
    let lo = m & (p.big_b - 1u);
    let hi = m / p.big_b;
    return conj_if(cmul(big[lo], big[p.big_b + hi]), inverse);
}

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
    let base = col * n;
    if (live) {
        for (var i = lid; i < n; i += WG) {
            buf[i] = x[base + i];
        }
    }
    workgroupBarrier();
    let res = stockham(lid, n, inverse);
    if (live) {
        let g = p.col0 + col;
        for (var i = lid; i < n; i += WG) {
            var v = buf[res + i];
            if (p.big_n > 0u) {
                // g < n1 and i < n2 with n1 n2 = big_n, so g i < big_n: no reduction needed.
                v = cmul(v, big_twiddle(g * i, inverse));
            }
            x[base + i] = v * p.scale;
        }
    }
}
