// elementwise.wgsl: fill, copy, scale and axpy over whole tiles.
//
// Computes, for every element i < p.n of a tile:
//   fill:  y[i] = alpha
//   copy:  y[i] = x[i]
//   scale: y[i] = alpha * y[i]
//   axpy:  y[i] = alpha * x[i] + y[i]
// Integer element types wrap on overflow, exactly as on the CPU.
//
// Layout: a tile is a flat array of T (column-major, but these kernels do not care). The host
// prepends a prelude (src/gpu/shaders.rs) that defines `alias T` (the element type) and
// `fn t_mul(a: T, b: T) -> T` (complex multiplication for complex types).
//
// Bindings (group 0):
//   0: x  storage, read        source tile (copy, axpy)
//   1: y  storage, read_write  destination tile (all)
//   2: p  uniform Params       n = element count, alpha = the scalar (zero when unused)
//
// Dispatch: one invocation per element, WG invocations per workgroup; past 65535 workgroups the
// grid folds into y, so the index is gid.x + gid.y * num_workgroups.x * WG.

struct Params {
    n: u32,
    alpha: T,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<storage, read> p: Params;

const WG: u32 = 256u;

fn element_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(gid, nwg);
    if (i < p.n) {
        y[i] = p.alpha;
    }
}

@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(gid, nwg);
    if (i < p.n) {
        y[i] = x[i];
    }
}

@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(gid, nwg);
    if (i < p.n) {
        y[i] = t_mul(p.alpha, y[i]);
    }
}

@compute @workgroup_size(WG)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(gid, nwg);
    if (i < p.n) {
        y[i] = t_mul(p.alpha, x[i]) + y[i];
    }
}
