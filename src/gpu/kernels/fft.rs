//! Owner of `shaders/fft.wgsl` (with its data files `fft_inplace.wgsl`, `fft_into.wgsl` and
//! its entry files `fft_c2c.wgsl`, `fft_bluestein.wgsl`, `fft_r2c.wgsl`, `fft_c2r.wgsl`),
//! `shaders/fft_chirp.wgsl` and `shaders/fft_transpose.wgsl`: mixed-radix (8, 4, 2, 3, 5)
//! Stockham column FFTs in workgroup memory for lengths `2^a 3^b 5^c` ([`gpu_supports`]),
//! Bluestein's chirp-z for lengths with another prime factor ([`bluestein_len`]), in place or
//! into another tile, over contiguous or strided columns; Bluestein's pad and trim steps; and
//! the transposed block copy. A variant applies exactly when its length test holds, so each
//! length has one GPU path (the two tests exclude each other); the Stockham kernels have a
//! power-of-two pipeline without the radix-3/5 stages and a mixed-radix one.
//!
//! Bindings: complex data = 0 (the source of the `_into` entries), twiddles `w_n^m` = 1,
//! tables (Bluestein's chirp and filter, then four-step or split twiddles) = 2, uniform
//! `Params { n, cols, inverse, big_n, big_b, col0, scale, m, tab_off, mode, group, s_outer,
//! s_inner, s_step, d_outer, d_inner, d_step }` = 3, the `_into` entries' destination or the
//! real data (r2c, c2r) = 4. Bluestein: twiddles of length `m` = 1.
//! Transpose: src = 0, dst = 1, uniform `Params { src_off, src_ld, h, w, dst_off, dst_ld }` = 2.

use super::groups;
use crate::dtype::DType;
use crate::gpu::shaders;
use crate::kernels::fft::{Family, bluestein_len, gpu_max_len, gpu_supports};
use crate::kernels::params::encode_uniform;
use crate::kernels::{Dispatch, GpuKernel, GpuVariant, Launch, MAX_WORKGROUPS_PER_DIM, Scalar};

/// Invocations per transpose workgroup side; must match `@workgroup_size(16, 16)`.
const TRANSPOSE_WG: u32 = 16;

/// The FFT prelude: the real and complex types and the workgroup buffer's length.
pub(crate) fn prelude(real: DType) -> String {
    let (r, maxn) = if real == DType::F64 {
        ("f64", gpu_max_len(DType::C64))
    } else {
        ("f32", gpu_max_len(DType::C32))
    };
    format!("alias R = {r};\nalias C = vec2<R>;\nconst MAXN: u32 = {maxn}u;\n")
}

/// The WGSL of one FFT entry family for real type `real`: the prelude, `fft.wgsl`, for the
/// column FFTs the data bindings (`fft_inplace.wgsl` or `fft_into.wgsl`), and the entry file.
pub(crate) fn source(family: Family, real: DType) -> String {
    let (data, entry) = match family {
        Family::C2c => (shaders::FFT_INPLACE, shaders::FFT_C2C),
        Family::Bluestein => (shaders::FFT_INPLACE, shaders::FFT_BLUESTEIN),
        Family::C2cInto => (shaders::FFT_INTO, shaders::FFT_C2C),
        Family::BluesteinInto => (shaders::FFT_INTO, shaders::FFT_BLUESTEIN),
        Family::R2c => ("", shaders::FFT_R2C),
        Family::C2r => ("", shaders::FFT_C2R),
        Family::Transpose | Family::TransposeFirst => {
            return shaders::with_dtype(shaders::FFT_TRANSPOSE, real);
        }
        Family::Chirp => {
            let mut s = prelude(real);
            s.push_str(shaders::FFT_CHIRP);
            return s;
        }
    };
    let mut s = prelude(real);
    s.push_str(shaders::FFT);
    s.push_str(data);
    s.push_str(entry);
    s
}

/// The WGSL entry point of `family`: the `_into` kernels are their in-place entries built over
/// other data bindings.
fn entry(family: Family) -> &'static str {
    match family {
        Family::C2cInto => Family::C2c.name(),
        Family::BluesteinInto => Family::Bluestein.name(),
        f => f.name(),
    }
}

fn u(l: &Launch<'_>, i: usize) -> u32 {
    l.params[i].get::<u32>().unwrap_or(0)
}

/// The GPU implementation of FFT kernel `family` on `dtype` (the kernel's element type).
pub(crate) fn kernel(family: Family, dtype: DType) -> GpuKernel {
    if matches!(family, Family::Transpose | Family::TransposeFirst) {
        let v = GpuVariant::wgsl("blocked", source(family, dtype), family.name())
            .dispatch(Dispatch::Custom(std::sync::Arc::new(|l: &Launch<'_>| {
                [
                    groups(u(l, 2) as usize, TRANSPOSE_WG),
                    groups(u(l, 3) as usize, TRANSPOSE_WG),
                    1,
                ]
            })))
            .applies(|l| {
                let max = u64::from(MAX_WORKGROUPS_PER_DIM) * u64::from(TRANSPOSE_WG);
                u64::from(u(l, 2)) <= max && u64::from(u(l, 3)) <= max
            });
        return GpuKernel::from_variant(v);
    }
    if family == Family::Chirp {
        let real = if dtype == DType::C64 {
            DType::F64
        } else {
            DType::F32
        };
        let len = |l: &Launch<'_>| l.shapes[1].len();
        let v = GpuVariant::wgsl("pointwise", source(family, real), family.name()).dispatch(
            Dispatch::Custom(std::sync::Arc::new(move |l: &Launch<'_>| {
                crate::kernels::fold_groups(len(l).div_ceil(64) as u64)
            })),
        );
        return GpuKernel::from_variant(v)
            .bindings([0, 4, 2], 3)
            .uniform(move |l| {
                let len = Scalar::U32(u32::try_from(len(l)).unwrap_or(u32::MAX));
                encode_uniform(&[
                    l.params[0],
                    l.params[1],
                    len,
                    l.params[2],
                    l.params[3],
                    l.params[4],
                ])
            });
    }
    let (real, complex) = match dtype {
        DType::C64 | DType::F64 => (DType::F64, DType::C64),
        _ => (DType::F32, DType::C32),
    };
    // The argument whose length counts the columns: the complex data for c2c, the real for
    // r2c (argument 0) and c2r (argument 1).
    let (bindings, real_arg): (&[u32], usize) = match family {
        Family::C2c | Family::Bluestein => (&[0, 1, 2], 0),
        Family::C2cInto | Family::BluesteinInto => (&[0, 4, 1, 2], 0),
        Family::R2c => (&[4, 0, 1], 0),
        _ => (&[0, 4, 1], 1),
    };
    let columns = matches!(
        family,
        Family::C2c | Family::Bluestein | Family::C2cInto | Family::BluesteinInto
    );
    let bluestein = matches!(family, Family::Bluestein | Family::BluesteinInto);
    let cols = move |l: &Launch<'_>| l.shapes[real_arg].len() / (u(l, 0).max(1) as usize);
    // Columns per workgroup: the c2c entry fills its buffer with short columns (at least one),
    // so that a workgroup has work for its invocations and its loads run along neighbouring
    // addresses; the other entries take one column each.
    let stockham_c2c = matches!(family, Family::C2c | Family::C2cInto);
    let cpw = move |l: &Launch<'_>| {
        if stockham_c2c {
            (gpu_max_len(complex) / (u(l, 0).max(1) as usize)).clamp(1, cols(l).max(1))
        } else {
            1
        }
    };
    let variant = |name: &str, odd: bool| {
        GpuVariant::wgsl(name, source(family, real), entry(family))
            .constant("ODD_RADICES", if odd { 1.0 } else { 0.0 })
            .dispatch(Dispatch::Custom(std::sync::Arc::new(
                move |l: &Launch<'_>| crate::kernels::fold_groups(cols(l).div_ceil(cpw(l)) as u64),
            )))
    };
    // Bluestein's transforms have power-of-two lengths. The Stockham kernels come as two
    // pipelines, so that powers of two run without the radix-3/5 stages (see ODD_RADICES in
    // fft.wgsl); together they apply exactly when `gpu_supports` holds.
    let kernel =
        if bluestein {
            GpuKernel::from_variant(variant("bluestein", false).applies(move |l| {
                bluestein_len(u(l, 0) as usize, complex) == Some(u(l, 6) as usize)
            }))
        } else {
            let pow2 = move |l: &Launch<'_>| (u(l, 0) as usize).is_power_of_two();
            let supported = move |l: &Launch<'_>| gpu_supports(u(l, 0) as usize, complex);
            GpuKernel::from_variant(
                variant("stockham", false).applies(move |l| supported(l) && pow2(l)),
            )
            .variant(variant("stockham_mixed", true).applies(move |l| supported(l) && !pow2(l)))
        };
    kernel
        .bindings(bindings.iter().copied(), 3)
        .uniform(move |l| {
            let cols = Scalar::U32(u32::try_from(cols(l)).unwrap_or(u32::MAX));
            // Params: n, cols, then the call's parameters in order (the column geometry for
            // the c2c families; zeros for r2c / c2r, which read only the first five), then the
            // columns per workgroup.
            let mut v = vec![l.params[0], cols];
            v.extend_from_slice(&l.params[1..]);
            if !columns {
                v.extend(std::iter::repeat_n(Scalar::U32(0), 10));
            }
            v.push(Scalar::U32(u32::try_from(cpw(l)).unwrap_or(1)));
            encode_uniform(&v)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fft_shader_validates_and_translates() {
        for family in [
            Family::C2c,
            Family::Bluestein,
            Family::C2cInto,
            Family::BluesteinInto,
            Family::Chirp,
            Family::R2c,
            Family::C2r,
        ] {
            for real in [DType::F32, DType::F64] {
                shaders::tests::translate_all(family.name(), real, &source(family, real));
            }
        }
        for d in DType::ALL {
            shaders::tests::translate_all("fft_transpose", d, &source(Family::Transpose, d));
        }
    }
}
