// householder.wgsl: the workgroup layout and tree reductions that geqrt.wgsl and tsqrt.wgsl
// share (both one workgroup of WG = 256 invocations making Householder reflectors column by
// column). Not a shader on its own: `gpu/shaders.rs` prepends it to each of the two.
//
// WG invocations; trailing columns are updated CL at a time with RL invocations per column.
// red: one value per invocation for the reductions; wv, gcol, coef: per-column scratch of the
// kernels that include this file.

const WG: u32 = 256u;
const CL: u32 = 32u;
const RL: u32 = 8u;

var<workgroup> red: array<Acc, 256>;
var<workgroup> wv: array<Acc, 32>;
var<workgroup> gcol: array<Acc, 256>;
var<workgroup> coef: vec2<Acc>;

fn reduce_max(t: u32) -> Acc {
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (t < s) {
            red[t] = max(red[t], red[t + s]);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn reduce_sum(t: u32) -> Acc {
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (t < s) {
            red[t] = red[t] + red[t + s];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}
