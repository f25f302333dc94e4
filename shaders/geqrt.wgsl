// geqrt.wgsl: Householder QR of one tile, in place, with the compact WY block factors.
//
// Computes, for the m x n tile A (m >= n): A = Q R with Q = H_0 H_1 ... H_(n-1),
// H_j = I - tau_j v_j v_j^T, v_j = [0 (j times); 1; v_j(j+1 .. m)] (LAPACK's dlarfg: beta =
// -sign(alpha) ||x||, tau = 0 when the column below the diagonal is zero). R goes to the upper
// triangle, v_j(j+1 ..) below the diagonal of column j. Then the block factors: the reflectors
// in blocks of IB columns, H_b0 ... H_(b0+w-1) = I - V T V^T with T upper triangular w x w
// (LAPACK's dlarft: T(0..i, i) = -tau_i T(0..i, 0..i) V^T v_i), stored in columns b0 .. b0+w
// of the ib x n tile T; the rest of T is zero. The kernels that apply Q (unmqr, tsmqr, on the
// CPU too) read this layout.
//
// Layout: column-major, contiguous tiles. The host prepends a prelude defining `alias T`
// (storage) and `alias Acc` (accumulation; the same type for f32 and f64).
// The workgroup constants (WG, CL, RL), scratch arrays and the tree reductions reduce_max
// and reduce_sum come from householder.wgsl, which `gpu/shaders.rs` prepends.
//
// Algorithm: one workgroup of WG = 256 invocations, unblocked. For each column j: the norm of
// the part below the diagonal (a max-abs then a scaled sum-of-squares tree reduction, so it
// neither overflows nor underflows), invocation 0 makes the reflector, all scale it, then the
// trailing columns are updated CL = 32 at a time with RL = 8 invocations per column (partial
// dot products reduced in workgroup memory). The T factors come last, from the Gram matrix
// of each block's reflectors.
//
// Bindings (group 0):
//   0: a   storage, read_write  A (m x n)
//   1: tf  storage, read_write  T (ib x n), written entirely
//   2: p   storage, read        Params { m, n, ib }, ib <= 256
//
// Dispatch: [1, 1, 1].

struct Params {
    m: u32,
    n: u32,
    ib: u32,
}

@group(0) @binding(0) var<storage, read_write> a: array<T>;
@group(0) @binding(1) var<storage, read_write> tf: array<T>;
@group(0) @binding(2) var<storage, read> p: Params;

@compute @workgroup_size(256)
fn geqrt_workgroup(@builtin(local_invocation_index) t: u32) {
    let m = p.m;
    let n = p.n;
    let ib = p.ib;
    let lc = t % CL;
    let lr = t / CL;
    for (var e = t; e < ib * n; e = e + WG) {
        tf[e] = T(0);
    }
    storageBarrier();
    workgroupBarrier();
    for (var j = 0u; j < n; j = j + 1u) {
        // The norm of a(j+1 .., j), scaled by its largest magnitude.
        var mx = Acc(0);
        for (var i = j + 1u + t; i < m; i = i + WG) {
            mx = max(mx, abs(Acc(a[i + j * m])));
        }
        red[t] = mx;
        workgroupBarrier();
        let xmax = reduce_max(t);
        var ss = Acc(0);
        if (xmax > Acc(0)) {
            for (var i = j + 1u + t; i < m; i = i + WG) {
                let y = Acc(a[i + j * m]) / xmax;
                ss = ss + y * y;
            }
        }
        red[t] = ss;
        workgroupBarrier();
        let ssq = reduce_sum(t);
        if (t == 0u) {
            let alpha = Acc(a[j + j * m]);
            var tau = Acc(0);
            var sc = Acc(0);
            if (xmax > Acc(0)) {
                let big = max(abs(alpha), xmax);
                let sa = alpha / big;
                let sx = xmax / big;
                let norm = big * sqrt(sa * sa + sx * sx * ssq);
                var beta = norm;
                if (alpha >= Acc(0)) {
                    beta = -norm;
                }
                tau = (beta - alpha) / beta;
                sc = Acc(1) / (alpha - beta);
                a[j + j * m] = T(beta);
            }
            coef = vec2<Acc>(tau, sc);
            tf[(j % ib) + j * ib] = T(tau);
        }
        storageBarrier();
        workgroupBarrier();
        let tau = coef.x;
        let sc = coef.y;
        if (tau != Acc(0)) {
            for (var i = j + 1u + t; i < m; i = i + WG) {
                a[i + j * m] = T(Acc(a[i + j * m]) * sc);
            }
        }
        storageBarrier();
        workgroupBarrier();
        // a(j.., c) -= tau v (v^T a(j.., c)) for the trailing columns, CL at a time.
        for (var c0 = j + 1u; c0 < n; c0 = c0 + CL) {
            let c = c0 + lc;
            var part = Acc(0);
            if (c < n) {
                for (var i = j + 1u + lr; i < m; i = i + RL) {
                    part = part + Acc(a[i + j * m]) * Acc(a[i + c * m]);
                }
            }
            red[t] = part;
            workgroupBarrier();
            if (lr == 0u && c < n) {
                var s = Acc(a[j + c * m]);
                for (var r = 0u; r < RL; r = r + 1u) {
                    s = s + red[lc + r * CL];
                }
                let w = tau * s;
                wv[lc] = w;
                a[j + c * m] = T(Acc(a[j + c * m]) - w);
            }
            workgroupBarrier();
            if (c < n) {
                let w = wv[lc];
                for (var i = j + 1u + lr; i < m; i = i + RL) {
                    a[i + c * m] = T(Acc(a[i + c * m]) - Acc(a[i + j * m]) * w);
                }
            }
            workgroupBarrier();
        }
        storageBarrier();
        workgroupBarrier();
    }
    // T, block by block: column i from the Gram column G(0..i, i) = V(:, 0..i)^T v_i.
    for (var b0 = 0u; b0 < n; b0 = b0 + ib) {
        let w = min(ib, n - b0);
        for (var i = 1u; i < w; i = i + 1u) {
            let ci = b0 + i;
            for (var r0 = 0u; r0 < i; r0 = r0 + CL) {
                let r = r0 + lc;
                var part = Acc(0);
                if (r < i) {
                    for (var x = ci + 1u + lr; x < m; x = x + RL) {
                        part = part + Acc(a[x + (b0 + r) * m]) * Acc(a[x + ci * m]);
                    }
                }
                red[t] = part;
                workgroupBarrier();
                if (lr == 0u && r < i) {
                    // v_r(ci) = a(ci, b0 + r); v_i(ci) = 1.
                    var s = Acc(a[ci + (b0 + r) * m]);
                    for (var q = 0u; q < RL; q = q + 1u) {
                        s = s + red[lc + q * CL];
                    }
                    gcol[r] = s;
                }
                workgroupBarrier();
            }
            if (t < i) {
                let tau = Acc(tf[i + ci * ib]);
                var s = Acc(0);
                for (var q = t; q < i; q = q + 1u) {
                    s = s + Acc(tf[t + (b0 + q) * ib]) * gcol[q];
                }
                tf[t + ci * ib] = T(-tau * s);
            }
            storageBarrier();
            workgroupBarrier();
        }
    }
}
