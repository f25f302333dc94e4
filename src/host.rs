//! Host memory for chunk replicas: an 8-byte aligned byte buffer that any element type can view.
//!
//! Backed by a `Vec<u64>` so that `bytemuck` casts to `f64`, `Complex<f64>` and the rest always
//! meet their alignment; the logical length in bytes is kept separately.

use bytemuck::Pod;

/// Bytes of one host replica.
#[derive(Default)]
pub(crate) struct HostBytes {
    words: Vec<u64>,
    len: usize,
}

impl HostBytes {
    /// A zero-filled buffer of `len` bytes.
    pub(crate) fn zeroed(len: usize) -> Self {
        HostBytes {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }

    /// Takes the bytes of `data` (copying once into aligned storage).
    pub(crate) fn from_slice<T: Pod>(data: &[T]) -> Self {
        let mut h = HostBytes::zeroed(std::mem::size_of_val(data));
        h.bytes_mut().copy_from_slice(bytemuck::cast_slice(data));
        h
    }

    /// Makes sure storage for `len` bytes exists (zero-filled when new).
    pub(crate) fn ensure(&mut self, len: usize) {
        if self.len != len || self.words.len() != len.div_ceil(8) {
            *self = HostBytes::zeroed(len);
        }
    }

    /// Makes the buffer `len` zero bytes.
    pub(crate) fn zero_fill(&mut self, len: usize) {
        self.ensure(len);
        self.words.fill(0);
    }

    /// Logical length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }

    /// Views the bytes as elements.
    ///
    /// # Panics
    /// If the length is not a multiple of `size_of::<T>()` (an internal invariant).
    pub(crate) fn as_slice<T: Pod>(&self) -> &[T] {
        bytemuck::cast_slice(self.bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::Complex;

    #[test]
    fn views_any_element_type() {
        let v = vec![Complex::new(1.0f64, 2.0), Complex::new(3.0, 4.0)];
        let h = HostBytes::from_slice(&v);
        assert_eq!(h.len(), 32);
        assert_eq!(h.as_slice::<Complex<f64>>(), &v[..]);
        let odd = HostBytes::from_slice(&[half::f16::ONE; 3]);
        assert_eq!(odd.len(), 6);
        assert_eq!(odd.as_slice::<half::f16>().len(), 3);
    }
}
