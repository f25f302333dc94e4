// tsmqr.wgsl: applies the orthogonal factor of a tsqrt tile pair to a pair of tiles.
//
// Computes, for the m2 x k tile V2 of tsqrt's reflectors (u_l = [e_l; V2(:, l)]) and the
// ib x k tile T of its block factors, on C1 (m1 x n, m1 >= k; rows 0 .. k take part) over C2
// (m2 x n):
//   TRANS:  [C1; C2] = Q^T [C1; C2] = H_(k-1) ... H_0 [C1; C2]
//   !TRANS: [C1; C2] = Q [C1; C2]   = H_0 ... H_(k-1) [C1; C2]
// with H_l = I - tau_l u_l u_l^T, tau_l = T(l mod ib, l).
//
// Layout: column-major, contiguous tiles; the host prepends `alias T` and `alias Acc`.
//
// Algorithm: as unmqr.wgsl: a workgroup of 64 invocations takes CL = 8 columns with RL = 8
// invocations per column, reflector by reflector; the head of u_l is row l of C1.
//
// Bindings (group 0):
//   0: v2  storage, read        V2 (m2 x k)
//   1: tf  storage, read        T (ib x k)
//   2: c1  storage, read_write  C1 (m1 x n)
//   3: c2  storage, read_write  C2 (m2 x n)
//   4: p   storage, read        Params { m1, m2, k, n, ib }
//
// Dispatch: [ceil(n / 8), 1, 1].

struct Params {
    m1: u32,
    m2: u32,
    k: u32,
    n: u32,
    ib: u32,
}

@group(0) @binding(0) var<storage, read> v2: array<T>;
@group(0) @binding(1) var<storage, read> tf: array<T>;
@group(0) @binding(2) var<storage, read_write> c1: array<T>;
@group(0) @binding(3) var<storage, read_write> c2: array<T>;
@group(0) @binding(4) var<storage, read> p: Params;

override TRANS: bool = true;

const CL: u32 = 8u;
const RL: u32 = 8u;

var<workgroup> red: array<Acc, 64>;
var<workgroup> wv: array<Acc, 8>;

@compute @workgroup_size(64)
fn tsmqr_columns(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) g: vec3<u32>) {
    let m1 = p.m1;
    let m2 = p.m2;
    let k = p.k;
    let n = p.n;
    let ib = p.ib;
    let lc = t % CL;
    let lr = t / CL;
    let c = g.x * CL + lc;
    let live = c < n;
    for (var s = 0u; s < k; s = s + 1u) {
        var l = s;
        if (!TRANS) {
            l = k - 1u - s;
        }
        let tau = Acc(tf[(l % ib) + l * ib]);
        var part = Acc(0);
        if (live) {
            for (var i = lr; i < m2; i = i + RL) {
                part = part + Acc(v2[i + l * m2]) * Acc(c2[i + c * m2]);
            }
        }
        red[t] = part;
        workgroupBarrier();
        if (live && lr == 0u) {
            var sum = Acc(c1[l + c * m1]);
            for (var r = 0u; r < RL; r = r + 1u) {
                sum = sum + red[lc + r * CL];
            }
            let w = tau * sum;
            wv[lc] = w;
            c1[l + c * m1] = T(Acc(c1[l + c * m1]) - w);
        }
        workgroupBarrier();
        if (live) {
            let w = wv[lc];
            for (var i = lr; i < m2; i = i + RL) {
                c2[i + c * m2] = T(Acc(c2[i + c * m2]) - Acc(v2[i + l * m2]) * w);
            }
        }
        storageBarrier();
        workgroupBarrier();
    }
}
