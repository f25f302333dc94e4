// fft_into.wgsl: the data of the out-of-place column FFT entries (fft_c2c, fft_bluestein built
// as the kernels fft_c2c_into, fft_bluestein_into), appended to fft.wgsl before the entry
// file: the second half of a split column FFT writes its columns transposed, so it cannot work
// in place.
//
// Bindings (group 0), besides fft.wgsl's tw = 1, tab = 2, p = 3:
//   0: src  storage, read        the tile read, columns at src_index
//   4: dst  storage, read_write  a tile of the same size, outputs at dst_index

@group(0) @binding(0) var<storage, read> src: array<C>;
@group(0) @binding(4) var<storage, read_write> dst: array<C>;

fn load(i: u32) -> C {
    return src[i];
}

fn store(i: u32, v: C) {
    dst[i] = v;
}
