// fft.wgsl: batched complex FFT of the columns of a tile, one column per workgroup, by the
// Stockham autosort algorithm in workgroup memory (mixed radix: 8, 4 and 2 stages, then 3 and
// 5 stages), the common part of the FFT shaders. The entry points are in fft_c2c.wgsl,
// fft_bluestein.wgsl (each after the data bindings of fft_inplace.wgsl or fft_into.wgsl),
// fft_r2c.wgsl and fft_c2r.wgsl, each appended to this file.
//
// Computes, for a column x of length n = 2^a 3^b 5^c <= MAXN:
//   X[k] = sum_j x[j] w^(j k),  w = exp(-2 pi i / n) (forward) or exp(+2 pi i / n) (inverse),
// then X[k] times a twiddle and a scale (`finish`, below).
//
// Stockham radix-R stage with sub-transform length p (Van Loan, "Computational Frameworks for
// the FFT", 1992, sections 1.7 and 2.3; the indexing of E. Bainville's OpenCL FFT): for
// t < n/R, with k = t mod p: u_r = in[t + r n/R] w_(R p)^(r k), u = DFT_R(u),
// out[(t - k) R + k + r p] = u_r. Before the stage, `in` holds n/p contiguous blocks of length
// p, block b the length-p DFT of the points x[b + (n/p) l], l < p; with t = k + p m, the stage
// merges the R blocks m + r n/(R p), r < R (n/R apart in `in`), whose points together are
// x[m + (n/(R p)) l], l < R p, into block m of length R p of `out` (the radix-R step of the
// decimation-in-time split). This needs only that R divides the remaining length n/p: then the
// block spacing n/(R p) is an integer and w_(R p)^(r k) = w_n^(r k n/(R p)) is entry
// r k tstep < n of the table (tstep = n/(R p) below). So mixed radices are valid in any order
// as long as each divides the remaining length, which `radix_for` guarantees for
// n = 2^a 3^b 5^c (the only lengths the host runs here; checked against the naive DFT for all
// of tests/fft.rs's lengths). The stages ping-pong between the two halves of `buf`; no digit
// reversal is needed.
//
// Layout: a tile is column-major. Column c of the batch has its element i at
//   src_index(c, i) = (c / group) s_outer + (c % group) s_inner + i s_step
// and its output k goes to dst_index(c, k) (the same with d_*): contiguous columns are
// group = 1, s_outer = n, s_step = 1. The split passes of columns longer than one pass
// (src/fft/plan.rs, Pass::SplitRows / SplitCols) use strided columns: every column of
// n1 n2 points, as an n1 x n2 matrix, first has its n1 rows transformed in place
// (group = n1, s_inner = 1, s_step = n1), then its n2 columns transformed into another tile,
// transposed (group = n2, s_inner = n1, s_step = 1; d_inner = 1, d_step = n2).
// The host prepends a prelude (src/gpu/kernels/fft.rs) defining `alias R` (f32 or f64),
// `alias C = vec2<R>` and `const MAXN: u32` (the largest n; 2 MAXN complex values fill 16 KiB).
// Override constant ODD_RADICES (default true): whether the radix-3/5 stages are compiled in;
// the host's power-of-two pipelines set it false (see its declaration).
//
// After the transform, output k of column c is multiplied by a twiddle (`mode`):
//   1 (four-step): exp(-+2 pi i (col0 + c / group) kpos / big_n),
//                  kpos = (c % group) d_inner + k d_step (its index in the whole column);
//   2 (split):     exp(-+2 pi i (c % group) k / big_n) (big_n = n1 n2: the twiddle between
//                  the two halves of a split column);
//   3, 4 (filter): tab[tab_off + kpos], conjugated for 4 (Bluestein's filter when its
//                  convolution is longer than one pass: src/fft/exec.rs);
// and then by `scale`.
//
// Bindings (group 0), shared by every entry point:
//   1: tw   storage, read   w_n^m = exp(-2 pi i m / n), m < n, computed in f64 on the host
//   2: tab  storage, read   tables: Bluestein's chirp and filter (fft_bluestein.wgsl) at [0 ..],
//                           then, from tab_off, the twiddle tables exp(-2 pi i m / big_n) for
//                           m < big_b at [tab_off + m], and for m = h big_b at
//                           [tab_off + big_b + h]
//   3: p    storage, read   Params below
// and the data: 0 (complex, transformed in place, or the source of the `_into` kernels), 4 (the
// `_into` kernels' destination; real data for r2c / c2r).
//
// Dispatch: one workgroup of WG invocations per `cpw` columns (fft_c2c: as many as fill MAXN
// points, so that short columns keep the invocations busy and their loads contiguous; one for
// the other entries); past 65535 workgroups the grid folds into y, so the workgroup is
// wid.x + wid.y * num_workgroups.x.

struct Params {
    n: u32,
    cols: u32,
    inverse: u32,
    big_n: u32,
    big_b: u32,
    col0: u32,
    scale: R,
    // Bluestein's padded length (fft_bluestein.wgsl), else 0.
    m: u32,
    tab_off: u32,
    mode: u32,
    group: u32,
    s_outer: u32,
    s_inner: u32,
    s_step: u32,
    d_outer: u32,
    d_inner: u32,
    d_step: u32,
    // Columns per workgroup (fft_c2c; 1 elsewhere): count n <= MAXN.
    cpw: u32,
}

@group(0) @binding(1) var<storage, read> tw: array<C>;
@group(0) @binding(2) var<storage, read> tab: array<C>;
@group(0) @binding(3) var<storage, read> p: Params;

const WG: u32 = 64u;

// Whether the radix-3 and radix-5 stages are compiled in. The host sets it false for the
// power-of-two pipelines (lengths 2^a, and Bluestein's padded m): the mere presence of the odd
// stages (behind a test on r, never taken) slowed power-of-two transforms by 15-23% on
// lavapipe, and with a false constant the driver drops them.
override ODD_RADICES: bool = true;

var<workgroup> buf: array<C, 2u * MAXN>;

fn cmul(a: C, b: C) -> C {
    return C(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

fn conj_if(w: C, inverse: bool) -> C {
    if (inverse) {
        return C(w.x, -w.y);
    }
    return w;
}

// z * (s i), with s = -1 forward and +1 inverse.
fn rot(z: C, inverse: bool) -> C {
    if (inverse) {
        return C(-z.y, z.x);
    }
    return C(z.y, -z.x);
}

// The radix to use when `rest` = n / p points remain: 8 while it divides, then 4, then 2; then
// 3 while it divides, then 5. Each returned radix divides `rest` when rest = 2^a 3^b 5^c (the
// only lengths the host asks for; any other rest still ends the loop, as p grows each stage).
// Any order would do (see the header); this one keeps the power-of-two stages as for a power of
// two n.
fn radix_for(rest: u32) -> u32 {
    if (rest % 8u == 0u) {
        return 8u;
    }
    if (rest % 4u == 0u) {
        return 4u;
    }
    if (rest % 2u == 0u) {
        return 2u;
    }
    if (rest % 3u == 0u) {
        return 3u;
    }
    return 5u;
}

// A radix-4 butterfly on u[0..4], in place, outputs in natural order.
fn dft4(u: ptr<function, array<C, 8>>, inverse: bool) {
    let a0 = (*u)[0] + (*u)[2];
    let a1 = (*u)[0] - (*u)[2];
    let b0 = (*u)[1] + (*u)[3];
    let b1 = rot((*u)[1] - (*u)[3], inverse);
    (*u)[0] = a0 + b0;
    (*u)[2] = a0 - b0;
    (*u)[1] = a1 + b1;
    (*u)[3] = a1 - b1;
}

// One butterfly of radix r (2, 4 or 8) on u[0..r], in place, outputs in natural order.
fn dft(u: ptr<function, array<C, 8>>, r: u32, inverse: bool) {
    if (r == 2u) {
        let a = (*u)[0];
        let b = (*u)[1];
        (*u)[0] = a + b;
        (*u)[1] = a - b;
        return;
    }
    if (r == 4u) {
        dft4(u, inverse);
        return;
    }
    // Radix 8 = a radix-2 split into two radix-4 transforms:
    // even outputs from a_k = u_k + u_(k+4), odd ones from b_k = (u_k - u_(k+4)) w8^k.
    let r2 = R(0.70710678118654752440);
    var a: array<C, 8>;
    var b: array<C, 8>;
    for (var k = 0u; k < 4u; k++) {
        a[k] = (*u)[k] + (*u)[k + 4u];
        b[k] = (*u)[k] - (*u)[k + 4u];
    }
    b[1] = (b[1] + rot(b[1], inverse)) * r2;
    b[2] = rot(b[2], inverse);
    b[3] = (rot(b[3], inverse) - b[3]) * r2;
    dft4(&a, inverse);
    dft4(&b, inverse);
    for (var k = 0u; k < 4u; k++) {
        (*u)[2u * k] = a[k];
        (*u)[2u * k + 1u] = b[k];
    }
}

// Index v of `count` runs of `len` as (run, position in it); no division for one run (the
// usual case: one column per workgroup).
fn run_of(v: u32, len: u32, count: u32) -> vec2<u32> {
    if (count == 1u) {
        return vec2<u32>(0u, v);
    }
    let r = v / len;
    return vec2<u32>(r, v - r * len);
}

// A radix-3 Stockham stage (the loop of `stockham` with R = 3), its points in registers.
// With w = exp(-+2 pi i / 3) = -1/2 -+ i sqrt(3)/2, the butterfly is
//   X0 = u0 + (u1 + u2),  X1,2 = u0 - (u1 + u2) / 2 +- (s i) (sqrt(3)/2) (u1 - u2),
// s as in `rot`.
fn stage3(src0: u32, dst0: u32, lid: u32, n: u32, count: u32, sub: u32, inverse: bool) {
    let s3 = R(0.86602540378443864676); // sin(2 pi / 3)
    let stride = n / 3u;
    let tstep = n / (3u * sub);
    for (var v = lid; v < count * stride; v += WG) {
        let ct = run_of(v, stride, count);
        let col = ct.x;
        let t = ct.y;
        let src = src0 + col * n;
        let dst = dst0 + col * n;
        let k = t % sub;
        let u0 = buf[src + t];
        let u1 = cmul(buf[src + t + stride], conj_if(tw[k * tstep], inverse));
        let u2 = cmul(buf[src + t + 2u * stride], conj_if(tw[2u * k * tstep], inverse));
        let a = u1 + u2;
        let b = rot((u1 - u2) * s3, inverse);
        let c = u0 - a * R(0.5);
        let j = (t - k) * 3u + k;
        buf[dst + j] = u0 + a;
        buf[dst + j + sub] = c + b;
        buf[dst + j + 2u * sub] = c - b;
    }
}

// A radix-5 Stockham stage (the loop of `stockham` with R = 5), its points in registers. The
// butterfly pairs u_j with u_(5-j): with a_j = u_j + u_(5-j), b_j = u_j - u_(5-j),
// c_j = cos(2 pi j / 5), s_j = sin(2 pi j / 5),
//   X0 = u0 + a1 + a2,
//   X1,4 = u0 + c1 a1 + c2 a2 +- (s i) (s1 b1 + s2 b2),
//   X2,3 = u0 + c2 a1 + c1 a2 +- (s i) (s2 b1 - s1 b2),   s as in `rot`.
fn stage5(src0: u32, dst0: u32, lid: u32, n: u32, count: u32, sub: u32, inverse: bool) {
    let c1 = R(0.30901699437494742410); // cos(2 pi / 5)
    let c2 = R(-0.80901699437494742410); // cos(4 pi / 5)
    let s1 = R(0.95105651629515357212); // sin(2 pi / 5)
    let s2 = R(0.58778525229247312917); // sin(4 pi / 5)
    let stride = n / 5u;
    let tstep = n / (5u * sub);
    for (var v = lid; v < count * stride; v += WG) {
        let ct = run_of(v, stride, count);
        let col = ct.x;
        let t = ct.y;
        let src = src0 + col * n;
        let dst = dst0 + col * n;
        let k = t % sub;
        let u0 = buf[src + t];
        let u1 = cmul(buf[src + t + stride], conj_if(tw[k * tstep], inverse));
        let u2 = cmul(buf[src + t + 2u * stride], conj_if(tw[2u * k * tstep], inverse));
        let u3 = cmul(buf[src + t + 3u * stride], conj_if(tw[3u * k * tstep], inverse));
        let u4 = cmul(buf[src + t + 4u * stride], conj_if(tw[4u * k * tstep], inverse));
        let a1 = u1 + u4;
        let b1 = u1 - u4;
        let a2 = u2 + u3;
        let b2 = u2 - u3;
        let e1 = u0 + a1 * c1 + a2 * c2;
        let e2 = u0 + a1 * c2 + a2 * c1;
        let o1 = rot(b1 * s1 + b2 * s2, inverse);
        let o2 = rot(b1 * s2 - b2 * s1, inverse);
        let j = (t - k) * 5u + k;
        buf[dst + j] = u0 + a1 + a2;
        buf[dst + j + sub] = e1 + o1;
        buf[dst + j + 2u * sub] = e2 + o2;
        buf[dst + j + 3u * sub] = e2 - o2;
        buf[dst + j + 4u * sub] = e1 - o1;
    }
}

// Transforms the `count` columns buf[c n .. c n + n] (already loaded; count n <= MAXN) in
// place with invocation `lid`; returns the offset (0 or MAXN) of the half of `buf` holding the
// result (the columns at the same places in it).
fn stockham(lid: u32, n: u32, count: u32, inverse: bool) -> u32 {
    var src = 0u;
    var dst = MAXN;
    var sub = 1u;
    loop {
        if (sub >= n) {
            break;
        }
        let r = radix_for(n / sub);
        // The odd radices run stages of their own, chosen once per stage, with their points in
        // registers (the generic loop's array indexed by q lives in memory on lavapipe): 30%
        // less time for n = 1000 than radix-3/5 butterflies inside `dft` took.
        if (ODD_RADICES && r == 3u) {
            stage3(src, dst, lid, n, count, sub, inverse);
        } else if (ODD_RADICES && r == 5u) {
            stage5(src, dst, lid, n, count, sub, inverse);
        } else {
            let stride = n / r;
            let tstep = n / (r * sub);
            for (var w = lid; w < count * stride; w += WG) {
                let ct = run_of(w, stride, count);
                let col = ct.x;
                let t = ct.y;
                let base = col * n;
                let k = t % sub;
                var u: array<C, 8>;
                for (var q = 0u; q < r; q++) {
                    let v = buf[src + base + t + q * stride];
                    if (q == 0u || k == 0u) {
                        u[q] = v;
                    } else {
                        u[q] = cmul(v, conj_if(tw[q * k * tstep], inverse));
                    }
                }
                dft(&u, r, inverse);
                let j = base + (t - k) * r + k;
                for (var q = 0u; q < r; q++) {
                    buf[dst + j + q * sub] = u[q];
                }
            }
        }
        workgroupBarrier();
        let s = src;
        src = dst;
        dst = s;
        sub *= r;
    }
    return src;
}

fn column_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

fn src_index(col: u32, i: u32) -> u32 {
    return (col / p.group) * p.s_outer + (col % p.group) * p.s_inner + i * p.s_step;
}

fn dst_index(col: u32, k: u32) -> u32 {
    return (col / p.group) * p.d_outer + (col % p.group) * p.d_inner + k * p.d_step;
}

// exp(-+2 pi i m / big_n) from the two twiddle tables (m < big_n, big_b a power of two).
fn big_twiddle(m: u32, inverse: bool) -> C {
    let lo = m & (p.big_b - 1u);
    let hi = m / p.big_b;
    return conj_if(cmul(tab[p.tab_off + lo], tab[p.tab_off + p.big_b + hi]), inverse);
}

// Output k of column col, v, times its twiddle (`mode`, see the header) and the scale. The
// exponents stay below big_n (the host checks it), so no reduction is needed.
fn finish(col: u32, k: u32, v: C, inverse: bool) -> C {
    var w = v;
    if (p.mode == 1u) {
        let kpos = (col % p.group) * p.d_inner + k * p.d_step;
        w = cmul(w, big_twiddle((p.col0 + col / p.group) * kpos, inverse));
    } else if (p.mode == 2u) {
        w = cmul(w, big_twiddle((col % p.group) * k, inverse));
    } else if (p.mode >= 3u) {
        let kpos = (col % p.group) * p.d_inner + k * p.d_step;
        w = cmul(w, conj_if(tab[p.tab_off + kpos], p.mode == 4u));
    }
    return w * p.scale;
}

// Bluestein's chirp w_k = exp(-i pi k^2 / n), k < n (conjugated for the inverse), from `tab`.
fn chirp(k: u32, inverse: bool) -> C {
    return conj_if(tab[k], inverse);
}

// Bluestein's convolution (fft_bluestein.wgsl), on a = buf[0 .. m], already loaded:
// A = FFT_m(a), A *= B (the filter, tab[n ..]), c = IFFT_m(A) (unnormalized; B carries the
// 1/m). Returns the offset of c in `buf`.
fn bluestein_convolve(lid: u32, n: u32, m: u32, inverse: bool) -> u32 {
    let r1 = stockham(lid, m, 1u, false);
    // Each invocation moves its own points, so no barrier is needed between read and write.
    for (var i = lid; i < m; i += WG) {
        buf[i] = cmul(buf[r1 + i], conj_if(tab[n + i], inverse));
    }
    workgroupBarrier();
    return stockham(lid, m, 1u, true);
}
