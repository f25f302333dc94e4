//! Element types a [`Chunk`](crate::Chunk) can hold, and what each needs on a GPU.
//!
//! Every element type has a runtime tag ([`DType`]) so that kernels, chunks and devices can be
//! matched without generics once a task has been type-erased for scheduling.

use std::fmt;

use bytemuck::Pod;
use half::f16;
use num_complex::Complex;

/// Runtime tag of an element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[non_exhaustive]
pub enum DType {
    /// IEEE binary16 (`half::f16`); GPU use needs `SHADER_F16`.
    F16,
    /// IEEE binary32.
    F32,
    /// IEEE binary64; GPU use needs `SHADER_F64`.
    F64,
    /// Complex number of two `f32` (`num_complex::Complex<f32>`).
    C32,
    /// Complex number of two `f64`; GPU use needs `SHADER_F64`.
    C64,
    /// 32-bit unsigned integer (arithmetic wraps on every processor).
    U32,
    /// 32-bit signed integer (arithmetic wraps on every processor).
    I32,
}

impl DType {
    /// Every element type, in a fixed order.
    pub const ALL: [DType; 7] = [
        DType::F16,
        DType::F32,
        DType::F64,
        DType::C32,
        DType::C64,
        DType::U32,
        DType::I32,
    ];

    /// Size of one element in bytes.
    pub const fn size(self) -> usize {
        match self {
            DType::F16 => 2,
            DType::F32 | DType::U32 | DType::I32 => 4,
            DType::F64 | DType::C32 => 8,
            DType::C64 => 16,
        }
    }

    /// Alignment of one element in WGSL's host-shareable layouts (uniform and storage).
    pub const fn wgsl_align(self) -> usize {
        match self {
            DType::F16 => 2,
            DType::F32 | DType::U32 | DType::I32 => 4,
            DType::F64 | DType::C32 => 8,
            DType::C64 => 16,
        }
    }

    /// The WGSL type that stores one element (`f32`, `vec2<f64>`, ...).
    pub const fn wgsl_type(self) -> &'static str {
        match self {
            DType::F16 => "f16",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::C32 => "vec2<f32>",
            DType::C64 => "vec2<f64>",
            DType::U32 => "u32",
            DType::I32 => "i32",
        }
    }

    /// Short lower-case name (`f32`, `c64`, ...), as used by the CLI and in messages.
    pub const fn name(self) -> &'static str {
        match self {
            DType::F16 => "f16",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::C32 => "c32",
            DType::C64 => "c64",
            DType::U32 => "u32",
            DType::I32 => "i32",
        }
    }

    /// Whether the type is a complex number.
    pub const fn is_complex(self) -> bool {
        matches!(self, DType::C32 | DType::C64)
    }

    /// Whether the type is a floating-point (real or complex) type.
    pub const fn is_float(self) -> bool {
        !matches!(self, DType::U32 | DType::I32)
    }

    /// The GPU capabilities a device must have to hold and compute on this type.
    pub const fn gpu_caps(self) -> Caps {
        match self {
            DType::F64 | DType::C64 => Caps::F64,
            DType::F16 => Caps::F16,
            _ => Caps::NONE,
        }
    }

    /// Parses a name as printed by [`DType::name`] (case-insensitive).
    pub fn parse(s: &str) -> Option<DType> {
        DType::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Optional GPU capabilities that kernels and element types may require.
///
/// A small bit set, independent of wgpu's `Features`, so that layers above `gpu` can reason about
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Caps(u8);

impl Caps {
    /// Nothing beyond core WebGPU.
    pub const NONE: Caps = Caps(0);
    /// 64-bit floats in shaders (`SHADER_F64`).
    pub const F64: Caps = Caps(1);
    /// 16-bit floats in shaders and buffers (`SHADER_F16`).
    pub const F16: Caps = Caps(2);
    /// Subgroup operations (`SUBGROUP`).
    pub const SUBGROUPS: Caps = Caps(4);
    /// GPU timestamp queries (`TIMESTAMP_QUERY`).
    pub const TIMESTAMPS: Caps = Caps(8);

    /// The union of two sets.
    #[must_use]
    pub const fn union(self, other: Caps) -> Caps {
        Caps(self.0 | other.0)
    }

    /// Whether every capability in `other` is in `self`.
    pub const fn contains(self, other: Caps) -> bool {
        self.0 & other.0 == other.0
    }

    /// The capabilities of `self` that `other` lacks.
    #[must_use]
    pub const fn missing_from(self, other: Caps) -> Caps {
        Caps(self.0 & !other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Names of the capabilities in the set, for messages.
    pub fn names(self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (cap, name) in [
            (Caps::F64, "SHADER_F64"),
            (Caps::F16, "SHADER_F16"),
            (Caps::SUBGROUPS, "SUBGROUP"),
            (Caps::TIMESTAMPS, "TIMESTAMP_QUERY"),
        ] {
            if self.contains(cap) {
                out.push(name);
            }
        }
        out
    }
}

impl std::ops::BitOr for Caps {
    type Output = Caps;
    fn bitor(self, rhs: Caps) -> Caps {
        self.union(rhs)
    }
}

impl fmt::Display for Caps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&self.names().join("+"))
        }
    }
}

/// A type that can be stored in a [`Chunk`](crate::Chunk).
///
/// Implemented for `f32`, `f64`, `half::f16`, `Complex<f32>`, `Complex<f64>`, `u32` and `i32`.
/// The trait is sealed: the runtime must know every type's GPU representation.
pub trait Element: Pod + Send + Sync + fmt::Debug + PartialEq + sealed::Sealed + 'static {
    /// The runtime tag of this type.
    const DTYPE: DType;
    /// Wraps a value as a kernel scalar parameter.
    fn into_scalar(self) -> crate::Scalar;
    /// Extracts a value from a kernel scalar parameter of the same type.
    fn from_scalar(s: crate::Scalar) -> Option<Self>;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! element {
    ($t:ty, $d:ident) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn into_scalar(self) -> crate::Scalar {
                crate::Scalar::$d(self)
            }
            fn from_scalar(s: crate::Scalar) -> Option<Self> {
                match s {
                    crate::Scalar::$d(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

element!(f16, F16);
element!(f32, F32);
element!(f64, F64);
element!(Complex<f32>, C32);
element!(Complex<f64>, C64);
element!(u32, U32);
element!(i32, I32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_rust_types() {
        assert_eq!(DType::F16.size(), std::mem::size_of::<f16>());
        assert_eq!(DType::C32.size(), std::mem::size_of::<Complex<f32>>());
        assert_eq!(DType::C64.size(), std::mem::size_of::<Complex<f64>>());
        for d in DType::ALL {
            assert_eq!(DType::parse(d.name()), Some(d));
            assert!(d.wgsl_align() >= 2 && d.wgsl_align().is_power_of_two());
        }
    }

    #[test]
    fn caps_set_algebra() {
        let c = Caps::F64 | Caps::SUBGROUPS;
        assert!(c.contains(Caps::F64));
        assert!(!c.contains(Caps::F16));
        assert_eq!((Caps::F64 | Caps::F16).missing_from(c), Caps::F16);
        assert_eq!(c.to_string(), "SHADER_F64+SUBGROUP");
    }
}
