//! The built-in WGSL sources, the element-type prelude, and WGSL validation with naga.
//!
//! This is the only file that spells the path to `shaders/`. A built-in shader is written once
//! against `alias T` and `t_mul`; [`with_dtype`] prepends the prelude that defines them for one
//! element type. That is the whole of our "templating": one alias and one function.

use crate::dtype::DType;
use crate::error::{Error, Result};

/// `shaders/elementwise.wgsl`, owned by `gpu/kernels/elementwise.rs`.
pub(crate) const ELEMENTWISE: &str = include_str!("../../shaders/elementwise.wgsl");
/// `shaders/gemm.wgsl`, owned by `gpu/kernels/gemm.rs`.
pub(crate) const GEMM: &str = include_str!("../../shaders/gemm.wgsl");
/// `shaders/syrk.wgsl`, owned by `gpu/kernels/syrk.rs`.
pub(crate) const SYRK: &str = include_str!("../../shaders/syrk.wgsl");
/// `shaders/trsm.wgsl`, owned by `gpu/kernels/trsm.rs`.
pub(crate) const TRSM: &str = include_str!("../../shaders/trsm.wgsl");
/// `shaders/potrf.wgsl`, owned by `gpu/kernels/potrf.rs`.
pub(crate) const POTRF: &str = include_str!("../../shaders/potrf.wgsl");

/// Element types of the dense kernels.
#[cfg(test)]
const DENSE: &[DType] = &[DType::F32, DType::F64, DType::F16];

/// Every built-in shader family: its name, its source, and the element types it is built for
/// (what the naga test translates).
#[cfg(test)]
pub(crate) const FAMILIES: &[(&str, &str, &[DType], Prelude)] = &[
    (
        "elementwise",
        ELEMENTWISE,
        &DType::ALL,
        Prelude::Elementwise,
    ),
    ("gemm", GEMM, DENSE, Prelude::Dense),
    ("syrk", SYRK, DENSE, Prelude::Dense),
    ("trsm", TRSM, DENSE, Prelude::Dense),
    ("potrf", POTRF, DENSE, Prelude::Dense),
];

/// Which prelude a shader family is written against.
#[cfg(test)]
#[derive(Clone, Copy)]
pub(crate) enum Prelude {
    Elementwise,
    Dense,
}

/// The prelude defining `T` and `t_mul` for `dtype`.
pub(crate) fn prelude(dtype: DType) -> &'static str {
    match dtype {
        DType::F16 => "enable f16;\nalias T = f16;\nfn t_mul(a: T, b: T) -> T { return a * b; }\n",
        DType::F32 => "alias T = f32;\nfn t_mul(a: T, b: T) -> T { return a * b; }\n",
        DType::F64 => "alias T = f64;\nfn t_mul(a: T, b: T) -> T { return a * b; }\n",
        DType::U32 => "alias T = u32;\nfn t_mul(a: T, b: T) -> T { return a * b; }\n",
        DType::I32 => "alias T = i32;\nfn t_mul(a: T, b: T) -> T { return a * b; }\n",
        DType::C32 => {
            "alias T = vec2<f32>;\nfn t_mul(a: T, b: T) -> T { return T(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }\n"
        }
        DType::C64 => {
            "alias T = vec2<f64>;\nfn t_mul(a: T, b: T) -> T { return T(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }\n"
        }
    }
}

/// A built-in shader body specialised to `dtype`.
pub(crate) fn with_dtype(body: &str, dtype: DType) -> String {
    let mut s = String::with_capacity(body.len() + 160);
    s.push_str(prelude(dtype));
    s.push_str(body);
    s
}

/// The prelude of the dense kernels: `T` stores an element, `Acc` accumulates (and types
/// `alpha`, `beta`): f32 and f64 accumulate in themselves, f16 in f32.
pub(crate) fn dense_prelude(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "alias T = f32;\nalias Acc = f32;\n",
        DType::F64 => "alias T = f64;\nalias Acc = f64;\n",
        DType::F16 => "enable f16;\nalias T = f16;\nalias Acc = f32;\n",
        d => unreachable!("no dense kernels for {d}"),
    }
}

/// A dense shader body specialised to `dtype`.
pub(crate) fn dense_with_dtype(body: &str, dtype: DType) -> String {
    let mut s = String::with_capacity(body.len() + 64);
    s.push_str(dense_prelude(dtype));
    s.push_str(body);
    s
}

/// Parses and validates `source` with naga (every capability allowed: which device can run it is
/// decided at placement) and checks that `entry_point` is a compute entry point.
pub(crate) fn validate(source: &str, entry_point: &str, kernel: &str) -> Result<()> {
    parse_and_validate(source)
        .map_err(|message| Error::Shader {
            kernel: kernel.to_string(),
            message,
        })
        .and_then(
            |(module, _)| match module.entry_points.iter().find(|e| e.name == entry_point) {
                Some(e) if e.stage == naga::ShaderStage::Compute => Ok(()),
                Some(_) => Err(Error::Shader {
                    kernel: kernel.to_string(),
                    message: format!("entry point `{entry_point}` is not a compute shader"),
                }),
                None => Err(Error::Shader {
                    kernel: kernel.to_string(),
                    message: format!(
                        "no entry point `{entry_point}`; the module has [{}]",
                        module
                            .entry_points
                            .iter()
                            .map(|e| e.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            },
        )
}

/// Parses and validates, returning the module and its info, or a message with source locations.
pub(crate) fn parse_and_validate(
    source: &str,
) -> std::result::Result<(naga::Module, naga::valid::ModuleInfo), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| e.emit_to_string(source))?;
    Ok((module, info))
}

#[cfg(test)]
mod tests {
    //! Every built-in shader, for every element type it is built for, must parse, validate, and
    //! translate to SPIR-V (Vulkan), MSL (Metal) and HLSL (DX12) with naga's back ends, so a
    //! shader that would fail on a platform we cannot run here fails in this test first.
    //! No GPU is needed.

    use super::*;
    use naga::back::{hlsl, msl, spv};

    fn translate_all(family: &str, dtype: DType, source: &str) {
        let (module, info) = parse_and_validate(source)
            .unwrap_or_else(|m| panic!("{family}/{dtype} does not validate:\n{m}"));
        for ep in &module.entry_points {
            let (module, info) = naga::back::pipeline_constants::process_overrides(
                &module,
                &info,
                Some((ep.stage, &ep.name)),
                &Default::default(),
            )
            .unwrap_or_else(|e| panic!("{family}/{dtype}/{}: overrides: {e}", ep.name));

            spv::write_vec(
                &module,
                &info,
                &spv::Options::default(),
                Some(&spv::PipelineOptions {
                    shader_stage: ep.stage,
                    entry_point: ep.name.clone(),
                }),
            )
            .unwrap_or_else(|e| panic!("{family}/{dtype}/{}: SPIR-V: {e}", ep.name));

            // Metal has no 64-bit floats; the runtime never places f64 kernels on a device
            // without SHADER_F64, so MSL is only produced for the other types.
            if !dtype.gpu_caps().contains(crate::dtype::Caps::F64) {
                msl::write_string(
                    &module,
                    &info,
                    &msl::Options {
                        fake_missing_bindings: true,
                        ..Default::default()
                    },
                    &msl::PipelineOptions {
                        entry_point: Some((ep.stage, ep.name.clone())),
                        ..Default::default()
                    },
                )
                .unwrap_or_else(|e| panic!("{family}/{dtype}/{}: MSL: {e}", ep.name));
            }

            let mut out = String::new();
            let options = hlsl::Options {
                shader_model: hlsl::ShaderModel::V6_2,
                fake_missing_bindings: true,
                ..Default::default()
            };
            let pipeline = hlsl::PipelineOptions {
                entry_point: Some((ep.stage, ep.name.clone())),
            };
            hlsl::Writer::new(&mut out, &options, &pipeline)
                .write(&module, &info, None)
                .unwrap_or_else(|e| panic!("{family}/{dtype}/{}: HLSL: {e}", ep.name));
        }
    }

    #[test]
    fn every_builtin_shader_validates_and_translates() {
        let mut checked = 0;
        for (family, body, dtypes, prelude) in FAMILIES {
            for &dtype in *dtypes {
                let source = match prelude {
                    Prelude::Elementwise => with_dtype(body, dtype),
                    Prelude::Dense => dense_with_dtype(body, dtype),
                };
                translate_all(family, dtype, &source);
                checked += 1;
            }
        }
        assert!(checked >= DType::ALL.len() + 4 * DENSE.len());
    }

    #[test]
    fn invalid_wgsl_is_reported_with_location() {
        let err = validate("fn main( {", "main", "broken").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("broken") && msg.contains("wgsl"), "{msg}");
        let err = validate(
            "@compute @workgroup_size(1) fn a() {}",
            "b",
            "missing_entry",
        )
        .unwrap_err();
        assert!(err.to_string().contains("no entry point `b`"), "{err}");
    }
}
