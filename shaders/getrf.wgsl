// getrf.wgsl: LU factorization of one m x w panel (m >= w), in place, in one workgroup.
//
// Computes
//   getrf_pivot: P A = L U with partial pivoting (the largest magnitude in the column, the
//                first such row on ties), rows interchanged across the whole panel;
//   getrf_nopiv: A = L U without pivoting;
// L unit lower trapezoidal below the diagonal, U upper triangular on and above it. An exactly
// zero pivot stops the factorization: its column + 1 goes to status word 0 and the panel is
// left partly factored; no division by it happens.
//
// Layout: column-major, contiguous (leading dimension m). The host prepends a prelude defining
// `alias T` (storage) and `alias Acc` (accumulation: f32 for f16 panels). The pivot buffer holds
// `perm` (m entries: row i after is row perm[i] before) then `ipiv` (w entries, zero-based,
// LAPACK-style: at step r rows r and ipiv[r] were interchanged).
//
// Algorithm: right-looking, unblocked, WG invocations. Per column j: a tree reduction finds the
// pivot, invocation 0 records it, all interchange rows j and the pivot's (columns cyclically),
// then each invocation takes rows i > j cyclically: scales l = a(i, j) / pivot and updates the
// row's trailing columns, a(i, c) -= l a(j, c), four at a time.
//
// Bindings (group 0):
//   0: a       storage, read_write  the panel
//   1: piv     storage, read_write  perm and ipiv (getrf_pivot only)
//   2: p       storage, read        Params: m, w
//   3: status  storage, read_write  one word: 0, or the zero pivot's column + 1
//
// Dispatch: [1, 1, 1].

struct Params {
    m: u32,
    w: u32,
}

@group(0) @binding(0) var<storage, read_write> a: array<T>;
@group(0) @binding(1) var<storage, read_write> piv: array<u32>;
@group(0) @binding(2) var<storage, read> p: Params;
@group(0) @binding(3) var<storage, read_write> status: array<atomic<u32>>;

const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;

var<workgroup> best_v: array<Acc, 256>;
var<workgroup> best_i: array<u32, 256>;
var<workgroup> pivot_row: u32;
var<workgroup> pivot: Acc;
var<workgroup> failed: u32;

// Rows i > j, cyclically over the invocations: l = a(i, j) / pivot, then the row's trailing
// columns a(i, c) -= l a(j, c), c > j.
fn eliminate(j: u32, t: u32, piv_value: Acc) {
    let m = p.m;
    let w = p.w;
    for (var i = j + 1u + t; i < m; i = i + WG) {
        let l = T(Acc(a[i + j * m]) / piv_value);
        a[i + j * m] = l;
        let la = Acc(l);
        var c = j + 1u;
        loop {
            if (c + 4u > w) {
                break;
            }
            a[i + c * m] = T(Acc(a[i + c * m]) - la * Acc(a[j + c * m]));
            a[i + (c + 1u) * m] = T(Acc(a[i + (c + 1u) * m]) - la * Acc(a[j + (c + 1u) * m]));
            a[i + (c + 2u) * m] = T(Acc(a[i + (c + 2u) * m]) - la * Acc(a[j + (c + 2u) * m]));
            a[i + (c + 3u) * m] = T(Acc(a[i + (c + 3u) * m]) - la * Acc(a[j + (c + 3u) * m]));
            c = c + 4u;
        }
        for (; c < w; c = c + 1u) {
            a[i + c * m] = T(Acc(a[i + c * m]) - la * Acc(a[j + c * m]));
        }
    }
}

@compute @workgroup_size(256)
fn getrf_pivot(@builtin(local_invocation_index) t: u32) {
    let m = p.m;
    let w = p.w;
    for (var i = t; i < m; i = i + WG) {
        piv[i] = i;
    }
    storageBarrier();
    workgroupBarrier();
    for (var j = 0u; j < w; j = j + 1u) {
        // This invocation's candidate: the first largest magnitude among its rows.
        var bv = Acc(-1);
        var bi = NONE;
        for (var i = j + t; i < m; i = i + WG) {
            let v = abs(Acc(a[i + j * m]));
            if (v > bv) {
                bv = v;
                bi = i;
            }
        }
        best_v[t] = bv;
        best_i[t] = bi;
        workgroupBarrier();
        for (var s = WG / 2u; s > 0u; s = s >> 1u) {
            if (t < s) {
                let v = best_v[t + s];
                let i = best_i[t + s];
                if (v > best_v[t] || (v == best_v[t] && i < best_i[t])) {
                    best_v[t] = v;
                    best_i[t] = i;
                }
            }
            workgroupBarrier();
        }
        if (t == 0u) {
            let r = best_i[0];
            let v = Acc(a[r + j * m]);
            if (v == Acc(0)) {
                failed = 1u;
                atomicStore(&status[0], j + 1u);
            } else {
                pivot_row = r;
                pivot = v;
                piv[m + j] = r;
                let keep = piv[j];
                piv[j] = piv[r];
                piv[r] = keep;
            }
        }
        storageBarrier();
        if (workgroupUniformLoad(&failed) != 0u) {
            return;
        }
        let r = pivot_row;
        let pv = pivot;
        if (r != j) {
            for (var c = t; c < w; c = c + WG) {
                let x = a[j + c * m];
                a[j + c * m] = a[r + c * m];
                a[r + c * m] = x;
            }
        }
        storageBarrier();
        workgroupBarrier();
        eliminate(j, t, pv);
        storageBarrier();
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn getrf_nopiv(@builtin(local_invocation_index) t: u32) {
    let m = p.m;
    let w = p.w;
    for (var j = 0u; j < w; j = j + 1u) {
        if (t == 0u) {
            let v = Acc(a[j + j * m]);
            if (v == Acc(0)) {
                failed = 1u;
                atomicStore(&status[0], j + 1u);
            } else {
                pivot = v;
            }
        }
        storageBarrier();
        if (workgroupUniformLoad(&failed) != 0u) {
            return;
        }
        eliminate(j, t, pivot);
        storageBarrier();
        workgroupBarrier();
    }
}
