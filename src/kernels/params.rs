//! Scalar parameters of a kernel call and their WGSL uniform layout.

use half::f16;
use num_complex::Complex;
use smallvec::SmallVec;

use crate::dtype::{DType, Element};

/// One scalar parameter of a kernel call (`alpha`, a size, a flag).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Scalar {
    /// A half-precision float.
    F16(f16),
    /// A single-precision float.
    F32(f32),
    /// A double-precision float.
    F64(f64),
    /// A single-precision complex number.
    C32(Complex<f32>),
    /// A double-precision complex number.
    C64(Complex<f64>),
    /// An unsigned integer.
    U32(u32),
    /// A signed integer.
    I32(i32),
}

impl Scalar {
    /// The element type of the value.
    pub fn dtype(self) -> DType {
        match self {
            Scalar::F16(_) => DType::F16,
            Scalar::F32(_) => DType::F32,
            Scalar::F64(_) => DType::F64,
            Scalar::C32(_) => DType::C32,
            Scalar::C64(_) => DType::C64,
            Scalar::U32(_) => DType::U32,
            Scalar::I32(_) => DType::I32,
        }
    }

    /// The value as `T`, if it has that type.
    pub fn get<T: Element>(self) -> Option<T> {
        T::from_scalar(self)
    }

    fn write_le(self, out: &mut [u8]) {
        match self {
            Scalar::F16(v) => out.copy_from_slice(&v.to_le_bytes()),
            Scalar::F32(v) => out.copy_from_slice(&v.to_le_bytes()),
            Scalar::F64(v) => out.copy_from_slice(&v.to_le_bytes()),
            Scalar::C32(v) => {
                out[..4].copy_from_slice(&v.re.to_le_bytes());
                out[4..].copy_from_slice(&v.im.to_le_bytes());
            }
            Scalar::C64(v) => {
                out[..8].copy_from_slice(&v.re.to_le_bytes());
                out[8..].copy_from_slice(&v.im.to_le_bytes());
            }
            Scalar::U32(v) => out.copy_from_slice(&v.to_le_bytes()),
            Scalar::I32(v) => out.copy_from_slice(&v.to_le_bytes()),
        }
    }
}

impl<T: Element> From<T> for Scalar {
    fn from(v: T) -> Scalar {
        v.into_scalar()
    }
}

/// The scalar parameters of one call, in declaration order.
pub type Params = SmallVec<[Scalar; 4]>;

/// Lays `params` out as a WGSL struct with one member per parameter, in order, in the uniform
/// address space: each member at the next offset aligned to its type's alignment, the total
/// rounded up to 16 bytes. An empty list encodes to no bytes.
///
/// For `(u32 n, f64 alpha)` the WGSL side is `struct P { n: u32, alpha: f64 }` (alpha at offset 8).
pub(crate) fn encode_uniform(params: &[Scalar]) -> Vec<u8> {
    if params.is_empty() {
        return Vec::new();
    }
    let mut offsets = Vec::with_capacity(params.len());
    let mut end = 0usize;
    for p in params {
        let d = p.dtype();
        let off = end.next_multiple_of(d.wgsl_align());
        offsets.push(off);
        end = off + d.size();
    }
    let mut out = vec![0u8; end.next_multiple_of(16)];
    for (p, off) in params.iter().zip(offsets) {
        p.write_le(&mut out[off..off + p.dtype().size()]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_layout_follows_wgsl_alignment() {
        let b = encode_uniform(&[Scalar::U32(7), Scalar::F64(2.5)]);
        assert_eq!(b.len(), 16);
        assert_eq!(&b[0..4], &7u32.to_le_bytes());
        assert_eq!(&b[8..16], &2.5f64.to_le_bytes());

        let b = encode_uniform(&[Scalar::U32(1), Scalar::C64(Complex::new(1.0, -1.0))]);
        assert_eq!(b.len(), 32, "vec2<f64> aligns to 16");
        assert_eq!(&b[16..24], &1.0f64.to_le_bytes());
        assert_eq!(&b[24..32], &(-1.0f64).to_le_bytes());

        let b = encode_uniform(&[Scalar::U32(3), Scalar::F16(f16::ONE), Scalar::F16(f16::ONE)]);
        assert_eq!(b.len(), 16);
        assert_eq!(&b[4..6], &f16::ONE.to_le_bytes());
        assert_eq!(&b[6..8], &f16::ONE.to_le_bytes());
        assert!(encode_uniform(&[]).is_empty());
    }
}
