//! Data: chunks (tile handles), their replicas per memory space, and coherence.

pub(crate) mod chunk;
