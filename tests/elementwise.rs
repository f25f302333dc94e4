//! The built-in elementwise kernels (fill, copy, scale, axpy) for every element type, on the
//! CPU and on GPUs. (Being written.)
