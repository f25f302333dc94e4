// syrk.wgsl: symmetric rank-k update of one triangle of a tile.
//
// Computes, for the referenced triangle of the n x n tile C (LOWER: i >= j, else i <= j):
//   C[i, j] = alpha * sum_l op(A)[i, l] * op(A)[j, l] + beta * C[i, j]
// where op(A) is n x k: A stored n x k (TRANS = false) or k x n (TRANS = true). The other
// triangle is not touched. With beta == 0, C is not read (it may hold NaN).
//
// Layout: column-major, contiguous tiles (leading dimension = stored rows). The host prepends a
// prelude (src/gpu/shaders.rs) defining `alias T` (storage) and `alias Acc` (accumulation:
// f32 for f16 tiles).
//
// Tile sizes: each invocation computes a BM x BN block of C (BM = BN = 4), in workgroups of
// 8 x 8 invocations, so a workgroup covers 32 x 32 of C. Blocks wholly outside the triangle
// return at once.
//
// Bindings (group 0):
//   0: a  storage, read        A
//   1: c  storage, read_write  C
//   2: p  uniform Params       n, k, alpha, beta
//
// Dispatch: [ceil(n / 32), ceil(n / 32), 1].

struct Params {
    n: u32,
    k: u32,
    alpha: Acc,
    beta: Acc,
}

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read_write> c: array<T>;
@group(0) @binding(2) var<storage, read> p: Params;

override LOWER: bool = true;
override TRANS: bool = false;

const BM: u32 = 4u;
const BN: u32 = 4u;

// op(A)[i, l]
fn opa(i: u32, l: u32) -> Acc {
    if (TRANS) {
        return Acc(a[l + i * p.k]);
    }
    return Acc(a[i + l * p.n]);
}

@compute @workgroup_size(8, 8)
fn syrk_blocked(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i0 = gid.x * BM;
    let j0 = gid.y * BN;
    if (i0 >= p.n || j0 >= p.n) {
        return;
    }
    // Skip blocks with no element in the triangle.
    if (LOWER && i0 + BM - 1u < j0) {
        return;
    }
    if (!LOWER && j0 + BN - 1u < i0) {
        return;
    }
    var acc: array<array<Acc, 4>, 4>;
    for (var l = 0u; l < p.k; l = l + 1u) {
        var x: array<Acc, 4>;
        var y: array<Acc, 4>;
        for (var r = 0u; r < BM; r = r + 1u) {
            x[r] = select(Acc(0), opa(i0 + r, l), i0 + r < p.n);
            y[r] = select(Acc(0), opa(j0 + r, l), j0 + r < p.n);
        }
        for (var r = 0u; r < BM; r = r + 1u) {
            for (var s = 0u; s < BN; s = s + 1u) {
                acc[r][s] = acc[r][s] + x[r] * y[s];
            }
        }
    }
    for (var s = 0u; s < BN; s = s + 1u) {
        let j = j0 + s;
        for (var r = 0u; r < BM; r = r + 1u) {
            let i = i0 + r;
            let inside = select(i <= j, i >= j, LOWER);
            if (i < p.n && j < p.n && inside) {
                let idx = i + j * p.n;
                var v = p.alpha * acc[r][s];
                if (p.beta != Acc(0)) {
                    v = v + p.beta * Acc(c[idx]);
                }
                c[idx] = T(v);
            }
        }
    }
}
