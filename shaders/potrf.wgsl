// potrf.wgsl: Cholesky factorization of one tile, in place.
//
// Computes, for the symmetric positive definite n x n tile A:
//   LOWER:  A = L L^T, L written over the lower triangle
//   !LOWER: A = U^T U, U written over the upper triangle
// The other triangle is neither read nor written. A pivot that is not positive (or NaN) stops
// the factorization: its index + 1 goes to status word 0 and the tile is left partly factored;
// no NaN is produced.
//
// Layout: column-major, contiguous tile. The host prepends a prelude defining `alias T`
// (storage) and `alias Acc` (accumulation: f32 for f16 tiles). `at(i, j)` addresses element
// (i, j) of the lower view (A itself when LOWER, A^T otherwise), so the algorithm below is the
// lower one.
//
// Algorithm: right-looking, unblocked, one workgroup of WG invocations. For each column j:
// invocation 0 takes the square root of the pivot; all scale column j below it; then each
// invocation updates whole trailing columns k (cyclically), a(i, k) -= a(i, j) a(k, j) for
// i >= k. Three barriers per column.
//
// Bindings (group 0):
//   0: a       storage, read_write  A
//   1: p       uniform Params       n
//   2: status  storage, read_write  one word: 0, or the failing pivot's index + 1
//
// Dispatch: [1, 1, 1].

struct Params {
    n: u32,
}

@group(0) @binding(0) var<storage, read_write> a: array<T>;
@group(0) @binding(1) var<storage, read> p: Params;
@group(0) @binding(2) var<storage, read_write> status: array<atomic<u32>>;

override LOWER: bool = true;

const WG: u32 = 256u;

var<workgroup> failed: u32;
var<workgroup> pivot: Acc;

fn at(i: u32, j: u32) -> u32 {
    if (LOWER) {
        return i + j * p.n;
    }
    return j + i * p.n;
}

@compute @workgroup_size(256)
fn potrf_right_looking(@builtin(local_invocation_index) t: u32) {
    let n = p.n;
    for (var j = 0u; j < n; j = j + 1u) {
        if (t == 0u) {
            let d = Acc(a[at(j, j)]);
            if (d > Acc(0)) {
                let r = sqrt(d);
                a[at(j, j)] = T(r);
                pivot = r;
            } else {
                failed = 1u;
                atomicStore(&status[0], j + 1u);
            }
        }
        storageBarrier();
        workgroupBarrier();
        if (workgroupUniformLoad(&failed) != 0u) {
            return;
        }
        let r = pivot;
        for (var i = j + 1u + t; i < n; i = i + WG) {
            a[at(i, j)] = T(Acc(a[at(i, j)]) / r);
        }
        storageBarrier();
        for (var k = j + 1u + t; k < n; k = k + WG) {
            let akj = Acc(a[at(k, j)]);
            for (var i = k; i < n; i = i + 1u) {
                a[at(i, k)] = T(Acc(a[at(i, k)]) - Acc(a[at(i, j)]) * akj);
            }
        }
        storageBarrier();
        workgroupBarrier();
    }
}
