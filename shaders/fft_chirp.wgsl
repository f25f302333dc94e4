// fft_chirp.wgsl: the first and last steps of Bluestein's algorithm when its convolution is
// longer than one pass (src/fft/exec.rs; the convolution runs as column FFT passes between
// them): columns of n points padded with a chirp to m points, or columns of m points cut to n
// with the chirp and a scale.
//
// With w_k = exp(-i pi k^2 / n) (conjugated for the inverse), for column c:
//   pad  (p.pad = 1): dst[c m + j] = src[c n + j] w_j for j < n, 0 for n <= j < m;
//   trim (p.pad = 0): dst[c n + k] = src[c m + k] w_k p.scale for k < n.
//
// The host prepends a prelude (src/gpu/kernels/fft.rs) defining `alias R` (f32 or f64) and
// `alias C = vec2<R>`.
//
// Bindings (group 0):
//   0: src    storage, read        the columns read
//   4: dst    storage, read_write  the columns written (every element)
//   2: chirp  storage, read        w_0 .. w_(n-1) (forward signs; more entries may follow)
//   3: p      storage, read        Params below
//
// Dispatch: one invocation per destination element, 64 per workgroup; past 65535 workgroups
// the grid folds into y.

struct Params {
    n: u32,
    m: u32,
    len: u32,
    inverse: u32,
    pad: u32,
    scale: R,
}

@group(0) @binding(0) var<storage, read> src: array<C>;
@group(0) @binding(4) var<storage, read_write> dst: array<C>;
@group(0) @binding(2) var<storage, read> chirp: array<C>;
@group(0) @binding(3) var<storage, read> p: Params;

fn w(k: u32) -> C {
    let v = chirp[k];
    if (p.inverse != 0u) {
        return C(v.x, -v.y);
    }
    return v;
}

fn cmul(a: C, b: C) -> C {
    return C(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

@compute @workgroup_size(64)
fn fft_chirp(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = (wid.x + wid.y * nwg.x) * 64u + lid;
    if (i >= p.len) {
        return;
    }
    if (p.pad != 0u) {
        let c = i / p.m;
        let j = i % p.m;
        var v = C(R(0), R(0));
        if (j < p.n) {
            v = cmul(src[c * p.n + j], w(j));
        }
        dst[i] = v;
    } else {
        let c = i / p.n;
        let k = i % p.n;
        dst[i] = cmul(src[c * p.m + k], w(k)) * p.scale;
    }
}
