// fft_bluestein.wgsl: the complex-to-complex entry point for lengths n with a prime factor
// other than 2, 3 and 5, by Bluestein's algorithm (chirp-z; L. Bluestein, "A linear filtering approach
// to the computation of the discrete Fourier transform", 1970), appended to fft.wgsl (see there
// for the column layout, twiddle modes and shared bindings), whose Stockham transform it runs
// twice at the power-of-two length m = p.m >= 2n - 1.
//
// With w_k = exp(-i pi k^2 / n) (conjugated for the inverse), for one column x of length n:
//   a_k = x_k w_k for k < n, 0 for n <= k < m;   A = FFT_m(a);   A_j *= B_j;
//   c = IFFT_m(A) (unnormalized);   X_k = w_k c_k for k < n, then `finish` (twiddle, scale),
// where B = FFT_m(b) / m, b_k = conj(w_k) = b_(m-k) for k < n, else 0 (computed on the host in
// f64 with the 1/m of the inverse folded in, exactly, since m is a power of two). For the
// inverse, b is symmetric so B is, and the inverse's B is conj(B).
//
// One workgroup per column; the whole column (m points, m <= MAXN) stays in workgroup memory.
//
// Bindings (group 0), besides fft.wgsl's tw = 1 (here w_m^j = exp(-2 pi i j / m), j < m),
// tab = 2 ([w_0 .. w_(n-1), B_0 .. B_(m-1)] with forward signs, then from tab_off = n + m the
// twiddle tables of a four-step or split twiddle) and p = 3; the data bindings come from
// fft_inplace.wgsl (in place) or fft_into.wgsl (into another tile), appended before this file,
// which define load(i) and store(i, v).

@compute @workgroup_size(WG)
fn fft_bluestein(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = p.n;
    let m = p.m;
    let col = column_index(wid, nwg);
    let live = col < p.cols;
    let inverse = p.inverse != 0u;
    // 1. a = x w, zero-padded to m.
    for (var i = lid; i < m; i += WG) {
        var v = C(R(0), R(0));
        if (live && i < n) {
            v = cmul(load(src_index(col, i)), chirp(i, inverse));
        }
        buf[i] = v;
    }
    workgroupBarrier();
    // 2-4. c = IFFT_m(FFT_m(a) B).
    let res = bluestein_convolve(lid, n, m, inverse);
    // 5. X = w c, truncated to n, twiddled and scaled.
    if (live) {
        for (var k = lid; k < n; k += WG) {
            store(dst_index(col, k), finish(col, k, cmul(buf[res + k], chirp(k, inverse)), inverse));
        }
    }
}
