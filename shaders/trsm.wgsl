// trsm.wgsl: triangular solve with many right-hand sides.
//
// Solves, overwriting the m x n tile B with X:
//   LEFT:  op(A) X = alpha B   (A is m x m; every column of B is an independent system)
//   RIGHT: X op(A) = alpha B   (A is n x n; every row of B is an independent system)
// op(A) = A or A^T (TRANS); A is lower (LOWER) or upper triangular; with UNIT its diagonal is
// taken as one and not read. Only the referenced triangle of A is read.
//
// Layout: column-major, contiguous tiles. The host prepends a prelude defining `alias T`
// (storage) and `alias Acc` (accumulation: f32 for f16 tiles).
//
// Each invocation solves one system by substitution, in place in B: forward when the effective
// matrix (op(A) on the left, op(A)^T on the right) is lower triangular, backward otherwise.
//
// Bindings (group 0):
//   0: a  storage, read        A
//   1: b  storage, read_write  B, then X
//   2: p  uniform Params       m, n, alpha
//
// Dispatch: [ceil(systems / 64), 1, 1] with systems = n (LEFT) or m (RIGHT).

struct Params {
    m: u32,
    n: u32,
    alpha: Acc,
}

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read_write> b: array<T>;
@group(0) @binding(2) var<storage, read> p: Params;

override LEFT: bool = true;
override LOWER: bool = true;
override TRANS: bool = false;
override UNIT: bool = false;

// Order of A (m on the left, n on the right).
fn order() -> u32 {
    return select(p.n, p.m, LEFT);
}

// Element (i, j) of the effective triangular matrix M of the system M x = y solved per
// invocation: op(A) on the left; op(A)^T on the right (x^T op(A) = y^T).
fn mat(i: u32, j: u32) -> Acc {
    let q = order();
    let t = TRANS != !LEFT;
    if (t) {
        return Acc(a[j + i * q]);
    }
    return Acc(a[i + j * q]);
}

// Index in B of unknown i of system s.
fn at(s: u32, i: u32) -> u32 {
    if (LEFT) {
        return i + s * p.m;
    }
    return s + i * p.m;
}

@compute @workgroup_size(64)
fn trsm_substitute(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let systems = select(p.m, p.n, LEFT);
    if (s >= systems) {
        return;
    }
    let q = order();
    // M is lower triangular when the stored triangle is lower and not transposed (or upper and
    // transposed), seen through op(A) on the left or op(A)^T on the right.
    let t = TRANS != !LEFT;
    let lower = LOWER != t;
    for (var step = 0u; step < q; step = step + 1u) {
        let i = select(q - 1u - step, step, lower);
        var v = p.alpha * Acc(b[at(s, i)]);
        if (lower) {
            for (var l = 0u; l < i; l = l + 1u) {
                v = v - mat(i, l) * Acc(b[at(s, l)]);
            }
        } else {
            for (var l = i + 1u; l < q; l = l + 1u) {
                v = v - mat(i, l) * Acc(b[at(s, l)]);
            }
        }
        if (!UNIT) {
            v = v / mat(i, i);
        }
        b[at(s, i)] = T(v);
    }
}
