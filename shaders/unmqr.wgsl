// unmqr.wgsl: applies the orthogonal factor of a geqrt tile to another tile.
//
// Computes, for the m x k tile V holding geqrt's reflectors below its diagonal (v_l = [0 (l
// times); 1; V(l+1 .. m, l)]) and the ib x k tile T of its block factors, on the m x n tile C:
//   TRANS:  C = Q^T C = H_(k-1) ... H_1 H_0 C
//   !TRANS: C = Q C   = H_0 H_1 ... H_(k-1) C
// with H_l = I - tau_l v_l v_l^T, tau_l = T(l mod ib, l) (the diagonal of the block factors;
// applying the reflectors one by one is the same product as applying the blocks).
//
// Layout: column-major, contiguous tiles; the host prepends `alias T` and `alias Acc`.
//
// Algorithm: columns of C are independent. A workgroup of 64 invocations takes CL = 8 columns,
// RL = 8 invocations per column: per reflector, partial dot products v_l^T C(:, c) reduced in
// workgroup memory, then the rank-1 update split the same way.
//
// Bindings (group 0):
//   0: v   storage, read        V (m x k)
//   1: tf  storage, read        T (ib x k)
//   2: cm  storage, read_write  C (m x n)
//   3: p   storage, read        Params { m, k, n, ib }
//
// Dispatch: [ceil(n / 8), 1, 1].

struct Params {
    m: u32,
    k: u32,
    n: u32,
    ib: u32,
}

@group(0) @binding(0) var<storage, read> v: array<T>;
@group(0) @binding(1) var<storage, read> tf: array<T>;
@group(0) @binding(2) var<storage, read_write> cm: array<T>;
@group(0) @binding(3) var<storage, read> p: Params;

override TRANS: bool = true;

const CL: u32 = 8u;
const RL: u32 = 8u;

var<workgroup> red: array<Acc, 64>;
var<workgroup> wv: array<Acc, 8>;

@compute @workgroup_size(64)
fn unmqr_columns(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) g: vec3<u32>) {
    let m = p.m;
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
            for (var i = l + 1u + lr; i < m; i = i + RL) {
                part = part + Acc(v[i + l * m]) * Acc(cm[i + c * m]);
            }
        }
        red[t] = part;
        workgroupBarrier();
        if (live && lr == 0u) {
            var sum = Acc(cm[l + c * m]);
            for (var r = 0u; r < RL; r = r + 1u) {
                sum = sum + red[lc + r * CL];
            }
            let w = tau * sum;
            wv[lc] = w;
            cm[l + c * m] = T(Acc(cm[l + c * m]) - w);
        }
        workgroupBarrier();
        if (live) {
            let w = wv[lc];
            for (var i = l + 1u + lr; i < m; i = i + RL) {
                cm[i + c * m] = T(Acc(cm[i + c * m]) - Acc(v[i + l * m]) * w);
            }
        }
        storageBarrier();
        workgroupBarrier();
    }
}
