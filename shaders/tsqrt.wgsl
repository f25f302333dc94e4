// tsqrt.wgsl: Householder QR of a triangle on top of a square (PLASMA's tsqrt), with the
// compact WY block factors.
//
// Computes, for R the upper triangle of the top n x n of the m1 x n tile A1 (m1 >= n) and the
// full m2 x n tile A2: [R; A2] = Q [R'; 0] with Q = H_0 ... H_(n-1), H_j = I - tau_j u_j u_j^T,
// u_j = [e_j; v_j] (LAPACK's dlarfg on (R(j, j), A2(:, j)); tau = 0 when A2(:, j) is zero).
// R' overwrites R, v_j overwrites A2(:, j); below the diagonal of A1 nothing is read or
// written. The block factors: reflectors in blocks of IB, H_b0 ... H_(b0+w-1) = I - U T U^T,
// T upper triangular w x w (dlarft; the e_j parts are orthogonal, so T only sees V^T V), in
// columns b0 .. b0+w of the ib x n tile T; the rest of T is zero.
//
// Layout: column-major, contiguous tiles; the host prepends `alias T` and `alias Acc`.
// The workgroup constants (WG, CL, RL), scratch arrays and the tree reductions reduce_max
// and reduce_sum come from householder.wgsl, which `gpu/shaders.rs` prepends.
//
// Algorithm: as geqrt.wgsl (one workgroup of 256 invocations; per column a scaled norm by two
// tree reductions, then the trailing columns CL = 32 at a time with RL = 8 invocations each),
// the head of every reflector being row j of A1.
//
// Bindings (group 0):
//   0: a1  storage, read_write  A1 (m1 x n; its upper n x n triangle)
//   1: a2  storage, read_write  A2 (m2 x n)
//   2: tf  storage, read_write  T (ib x n), written entirely
//   3: p   storage, read        Params { m1, m2, n, ib }, ib <= 256
//
// Dispatch: [1, 1, 1].

struct Params {
    m1: u32,
    m2: u32,
    n: u32,
    ib: u32,
}

@group(0) @binding(0) var<storage, read_write> a1: array<T>;
@group(0) @binding(1) var<storage, read_write> a2: array<T>;
@group(0) @binding(2) var<storage, read_write> tf: array<T>;
@group(0) @binding(3) var<storage, read> p: Params;

@compute @workgroup_size(256)
fn tsqrt_workgroup(@builtin(local_invocation_index) t: u32) {
    let m1 = p.m1;
    let m2 = p.m2;
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
        var mx = Acc(0);
        for (var i = t; i < m2; i = i + WG) {
            mx = max(mx, abs(Acc(a2[i + j * m2])));
        }
        red[t] = mx;
        workgroupBarrier();
        let xmax = reduce_max(t);
        var ss = Acc(0);
        if (xmax > Acc(0)) {
            for (var i = t; i < m2; i = i + WG) {
                let y = Acc(a2[i + j * m2]) / xmax;
                ss = ss + y * y;
            }
        }
        red[t] = ss;
        workgroupBarrier();
        let ssq = reduce_sum(t);
        if (t == 0u) {
            let alpha = Acc(a1[j + j * m1]);
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
                a1[j + j * m1] = T(beta);
            }
            coef = vec2<Acc>(tau, sc);
            tf[(j % ib) + j * ib] = T(tau);
        }
        storageBarrier();
        workgroupBarrier();
        let tau = coef.x;
        let sc = coef.y;
        if (tau != Acc(0)) {
            for (var i = t; i < m2; i = i + WG) {
                a2[i + j * m2] = T(Acc(a2[i + j * m2]) * sc);
            }
        }
        storageBarrier();
        workgroupBarrier();
        for (var c0 = j + 1u; c0 < n; c0 = c0 + CL) {
            let c = c0 + lc;
            var part = Acc(0);
            if (c < n) {
                for (var i = lr; i < m2; i = i + RL) {
                    part = part + Acc(a2[i + j * m2]) * Acc(a2[i + c * m2]);
                }
            }
            red[t] = part;
            workgroupBarrier();
            if (lr == 0u && c < n) {
                var s = Acc(a1[j + c * m1]);
                for (var r = 0u; r < RL; r = r + 1u) {
                    s = s + red[lc + r * CL];
                }
                let w = tau * s;
                wv[lc] = w;
                a1[j + c * m1] = T(Acc(a1[j + c * m1]) - w);
            }
            workgroupBarrier();
            if (c < n) {
                let w = wv[lc];
                for (var i = lr; i < m2; i = i + RL) {
                    a2[i + c * m2] = T(Acc(a2[i + c * m2]) - Acc(a2[i + j * m2]) * w);
                }
            }
            workgroupBarrier();
        }
        storageBarrier();
        workgroupBarrier();
    }
    for (var b0 = 0u; b0 < n; b0 = b0 + ib) {
        let w = min(ib, n - b0);
        for (var i = 1u; i < w; i = i + 1u) {
            let ci = b0 + i;
            for (var r0 = 0u; r0 < i; r0 = r0 + CL) {
                let r = r0 + lc;
                var part = Acc(0);
                if (r < i) {
                    for (var x = lr; x < m2; x = x + RL) {
                        part = part + Acc(a2[x + (b0 + r) * m2]) * Acc(a2[x + ci * m2]);
                    }
                }
                red[t] = part;
                workgroupBarrier();
                if (lr == 0u && r < i) {
                    var s = Acc(0);
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
