// fft_inplace.wgsl: the data of the in-place column FFT entries (fft_c2c, fft_bluestein),
// appended to fft.wgsl before the entry file: each column is read from and written to the
// same places (src_index = dst_index), so columns never overlap.
//
// Bindings (group 0), besides fft.wgsl's tw = 1, tab = 2, p = 3:
//   0: x  storage, read_write  the tile

@group(0) @binding(0) var<storage, read_write> x: array<C>;

fn load(i: u32) -> C {
    return x[i];
}

fn store(i: u32, v: C) {
    x[i] = v;
}
