// fft_bluestein.wgsl: the complex-to-complex entry point for lengths n that are not powers of
// two, by Bluestein's algorithm (chirp-z; L. Bluestein, "A linear filtering approach to the
// computation of the discrete Fourier transform", 1970), appended to fft.wgsl (see there),
// whose Stockham transform it runs twice at the power-of-two length m = p.big_b >= 2n - 1.
//
// With w_k = exp(-i pi k^2 / n) (conjugated for the inverse), for one column x of length n:
//   a_k = x_k w_k for k < n, 0 for n <= k < m;   A = FFT_m(a);   A_j *= B_j;
//   c = IFFT_m(A) (unnormalized);   X_k = w_k c_k p.scale for k < n,
// where B = FFT_m(b) / m, b_k = conj(w_k) = b_(m-k) for k < n, else 0 (computed on the host in
// f64 with the 1/m of the inverse folded in, exactly, since m is a power of two). For the
// inverse, b is symmetric so B is, and the inverse's B is conj(B).
//
// Layout: a tile is column-major; column c of the batch is x[c n .. c n + n]. One workgroup per
// column; the whole column (m points, m <= MAXN) stays in workgroup memory.
//
// Bindings (group 0), besides fft.wgsl's tw = 1 (here w_m^j = exp(-2 pi i j / m), j < m) and
// p = 3 (big_b holds m; big_n and col0 are unused):
//   0: x      storage, read_write  the n x cols tile, transformed in place
//   2: chirp  storage, read        [w_0 .. w_(n-1), B_0 .. B_(m-1)] (forward signs)

@group(0) @binding(0) var<storage, read_write> x: array<C>;
@group(0) @binding(2) var<storage, read> chirp: array<C>;

@compute @workgroup_size(WG)
fn fft_bluestein(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = p.n;
    let m = p.big_b;
    let col = column_index(wid, nwg);
    let live = col < p.cols;
    let inverse = p.inverse != 0u;
    let base = col * n;
    // 1. a = x w, zero-padded to m.
    for (var i = lid; i < m; i += WG) {
        var v = C(R(0), R(0));
        if (live && i < n) {
            v = cmul(x[base + i], conj_if(chirp[i], inverse));
        }
        buf[i] = v;
    }
    workgroupBarrier();
    // 2-3. A = FFT_m(a), times B, back into buf[0 .. m] (each invocation moves its own points).
    let r1 = stockham(lid, m, false);
    for (var i = lid; i < m; i += WG) {
        buf[i] = cmul(buf[r1 + i], conj_if(chirp[n + i], inverse));
    }
    workgroupBarrier();
    // 4. c = IFFT_m(A) (B carries the 1/m).
    let r2 = stockham(lid, m, true);
    // 5. X = w c, truncated to n, scaled.
    if (live) {
        for (var i = lid; i < n; i += WG) {
            x[base + i] = cmul(buf[r2 + i], conj_if(chirp[i], inverse)) * p.scale;
        }
    }
}
