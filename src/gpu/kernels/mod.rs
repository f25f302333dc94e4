//! GPU halves of the built-in kernels: one file per shader family in `shaders/`, holding its
//! bindings, uniform layout and dispatch geometry.

pub(crate) mod elementwise;
