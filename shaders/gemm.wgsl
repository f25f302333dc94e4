// gemm.wgsl: general matrix multiply of tiles.
//
// Computes C = alpha * op(A) * op(B) + beta * C, where C is m x n, op(A) is m x k (A stored
// m x k, or k x m when TRANS_A) and op(B) is k x n (B stored k x n, or n x k when TRANS_B).
// With beta == 0, C is not read (it may hold NaN).
//
// Layout: column-major, contiguous tiles (leading dimension = stored rows). The host prepends a
// prelude defining `alias T` (storage) and `alias Acc` (accumulation: f32 for f16 tiles).
//
// Variants:
//   gemm_naive: one element of C per invocation, 8 x 8 workgroups; any size.
//
// Bindings (group 0):
//   0: a  storage, read        A
//   1: b  storage, read        B
//   2: c  storage, read_write  C
//   3: p  uniform Params       m, n, k, alpha, beta
//
// Dispatch (gemm_naive): [ceil(m / 8), ceil(n / 8), 1].

struct Params {
    m: u32,
    n: u32,
    k: u32,
    alpha: Acc,
    beta: Acc,
}

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read_write> c: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

override TRANS_A: bool = false;
override TRANS_B: bool = false;

fn opa(i: u32, l: u32) -> Acc {
    if (TRANS_A) {
        return Acc(a[l + i * p.k]);
    }
    return Acc(a[i + l * p.m]);
}

fn opb(l: u32, j: u32) -> Acc {
    if (TRANS_B) {
        return Acc(b[j + l * p.n]);
    }
    return Acc(b[l + j * p.k]);
}

@compute @workgroup_size(8, 8)
fn gemm_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let j = gid.y;
    if (i >= p.m || j >= p.n) {
        return;
    }
    var acc = Acc(0);
    for (var l = 0u; l < p.k; l = l + 1u) {
        acc = acc + opa(i, l) * opb(l, j);
    }
    let idx = i + j * p.m;
    var v = p.alpha * acc;
    if (p.beta != Acc(0)) {
        v = v + p.beta * Acc(c[idx]);
    }
    c[idx] = T(v);
}
