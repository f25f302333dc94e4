//! CPU halves of the FFT tile kernels: rustfft for complex columns, realfft for real ones,
//! plans cached per (length, direction) and shared by every pool thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use num_complex::Complex;

use crate::dtype::Element;
use rayon::prelude::*;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

use crate::dtype::DType;
use crate::error::KernelError;
use crate::kernels::CpuTask;
use crate::kernels::fft::{Family, FftReal};

/// Cached rustfft and realfft plans for one real type.
pub struct Plans<T: rustfft::FftNum> {
    complex: Mutex<FftPlanner<T>>,
    real: Mutex<RealFftPlanner<T>>,
    r2c: Mutex<HashMap<usize, Arc<dyn RealToComplex<T>>>>,
    c2r: Mutex<HashMap<usize, Arc<dyn ComplexToReal<T>>>>,
}

impl<T: rustfft::FftNum> Default for Plans<T> {
    fn default() -> Self {
        Plans {
            complex: Mutex::new(FftPlanner::new()),
            real: Mutex::new(RealFftPlanner::new()),
            r2c: Mutex::default(),
            c2r: Mutex::default(),
        }
    }
}

impl<T: rustfft::FftNum> Plans<T> {
    /// The complex FFT of length `n` (rustfft's planner caches it).
    pub(crate) fn complex(&self, n: usize, inverse: bool) -> Arc<dyn Fft<T>> {
        let mut p = self.complex.lock().unwrap_or_else(|e| e.into_inner());
        if inverse {
            p.plan_fft_inverse(n)
        } else {
            p.plan_fft_forward(n)
        }
    }

    fn r2c(&self, n: usize) -> Arc<dyn RealToComplex<T>> {
        let mut m = self.r2c.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(n)
            .or_insert_with(|| {
                let mut p = self.real.lock().unwrap_or_else(|e| e.into_inner());
                p.plan_fft_forward(n)
            })
            .clone()
    }

    fn c2r(&self, n: usize) -> Arc<dyn ComplexToReal<T>> {
        let mut m = self.c2r.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(n)
            .or_insert_with(|| {
                let mut p = self.real.lock().unwrap_or_else(|e| e.into_inner());
                p.plan_fft_inverse(n)
            })
            .clone()
    }
}

/// Runs FFT kernel `family` on the task's tiles.
pub(crate) fn run(family: Family, t: &mut CpuTask<'_>) -> Result<(), KernelError> {
    let d = t.shape(0).dtype;
    match family {
        // Bluestein's parameters are c2c's (its tables are for GPUs): rustfft takes any length.
        Family::C2c | Family::Bluestein if d == DType::C64 => c2c::<f64>(t, false),
        Family::C2c | Family::Bluestein => c2c::<f32>(t, false),
        Family::C2cInto | Family::BluesteinInto if d == DType::C64 => c2c::<f64>(t, true),
        Family::C2cInto | Family::BluesteinInto => c2c::<f32>(t, true),
        Family::Chirp if d == DType::C64 => chirp::<f64>(t),
        Family::Chirp => chirp::<f32>(t),
        Family::R2c if d == DType::F64 => r2c::<f64>(t),
        Family::R2c => r2c::<f32>(t),
        Family::C2r if t.shape(1).dtype == DType::F64 => c2r::<f64>(t),
        Family::C2r => c2r::<f32>(t),
        Family::Transpose | Family::TransposeFirst => {
            transpose(t);
            Ok(())
        }
    }
}

fn u(t: &CpuTask<'_>, i: usize) -> usize {
    t.param::<u32>(i) as usize
}

/// A column FFT call's parameters (see `kernels::fft::Columns` and `shaders/fft.wgsl`).
struct Geometry {
    n: usize,
    inverse: bool,
    big_n: usize,
    big_b: usize,
    col0: usize,
    tab_off: usize,
    mode: usize,
    group: usize,
    src: [usize; 3],
    dst: [usize; 3],
}

impl Geometry {
    fn of(t: &CpuTask<'_>) -> Geometry {
        Geometry {
            n: u(t, 0),
            inverse: u(t, 1) != 0,
            big_n: u(t, 2),
            big_b: u(t, 3),
            col0: u(t, 4),
            tab_off: u(t, 7),
            mode: u(t, 8),
            group: u(t, 9),
            src: [u(t, 10), u(t, 11), u(t, 12)],
            dst: [u(t, 13), u(t, 14), u(t, 15)],
        }
    }

    /// Columns of `n` one after the other, read and written in place.
    fn contiguous(&self) -> bool {
        self.group == 1 && self.src == [self.n, 0, 1] && self.dst == self.src
    }

    /// The twiddle of output `k` of column `lo` of group `g` (`mode`), from `table`.
    fn twiddle<T: FftReal>(&self, table: &[Complex<T>], g: usize, lo: usize, k: usize) -> Complex<T>
    where
        Complex<T>: Element,
    {
        let kpos = lo * self.dst[1] + k * self.dst[2];
        if self.mode >= 3 {
            // Bluestein's filter, conjugated for mode 4.
            let f = table[kpos];
            return if self.mode == 4 { f.conj() } else { f };
        }
        let e = if self.mode == 1 {
            (self.col0 + g) * kpos
        } else {
            lo * k
        };
        let w =
            table[e & (self.big_b - 1)] * table[self.big_b + (e >> self.big_b.trailing_zeros())];
        if self.inverse { w.conj() } else { w }
    }
}

fn c2c<T: FftReal>(t: &mut CpuTask<'_>, into: bool) -> Result<(), KernelError>
where
    Complex<T>: Element,
{
    let g = Geometry::of(t);
    let n = g.n;
    let scale: T = t.param(5);
    let table =
        (g.mode != 0).then(|| &t.tile::<Complex<T>>(if into { 3 } else { 2 }).data[g.tab_off..]);
    let threads = t.threads();
    let fft = T::plans().complex(n, g.inverse);
    if into || !g.contiguous() {
        return strided(t, &g, into, scale, table, fft.as_ref());
    }
    let x = t.tile_mut::<Complex<T>>(0).data;
    let one = T::one();
    // Columns per piece when the task may use several threads (at least 64 KiB of data each).
    let per = if threads > 1 {
        (x.len() / n)
            .div_ceil(threads * 4)
            .max((1 << 16) / (n * 16) + 1)
    } else {
        x.len() / n
    }
    .max(1);
    x.par_chunks_mut(per * n)
        .enumerate()
        .with_max_len(if threads > 1 { usize::MAX } else { 1 })
        .for_each(|(piece, xs)| {
            let mut scratch =
                vec![Complex::new(T::zero(), T::zero()); fft.get_inplace_scratch_len()];
            fft.process_with_scratch(xs, &mut scratch);
            match table {
                Some(table) if g.mode == 1 => {
                    // exp(-+2 pi i gc k / big_n), the exponent kept reduced incrementally.
                    let (big_b, big_n) = (g.big_b, g.big_n);
                    let shift = big_b.trailing_zeros();
                    let (lo, hi) = table.split_at(big_b);
                    for (c, col) in xs.chunks_exact_mut(n).enumerate() {
                        let gc = g.col0 + piece * per + c;
                        let mut m = 0usize;
                        for v in col {
                            let mut w = lo[m & (big_b - 1)] * hi[m >> shift];
                            if g.inverse {
                                w = w.conj();
                            }
                            *v = *v * w * scale;
                            m += gc;
                            if m >= big_n {
                                m -= big_n;
                            }
                        }
                    }
                }
                // A split twiddle on single-column groups is exp(0) = 1.
                Some(_) | None if scale != one => xs.iter_mut().for_each(|v| *v = *v * scale),
                Some(_) | None => {}
            }
        });
    Ok(())
}

/// The general column FFT: per block of `group` columns (`outer` elements of the source and
/// of the destination), the columns are gathered into a buffer, transformed together,
/// twiddled and scaled, and scattered; blocks in parallel.
fn strided<T: FftReal>(
    t: &mut CpuTask<'_>,
    g: &Geometry,
    into: bool,
    scale: T,
    table: Option<&[Complex<T>]>,
    fft: &dyn Fft<T>,
) -> Result<(), KernelError>
where
    Complex<T>: Element,
{
    let (n, group) = (g.n, g.group);
    let zero = Complex::new(T::zero(), T::zero());
    let block =
        |b: usize, src: &[Complex<T>], buf: &mut Vec<Complex<T>>, scratch: &mut Vec<Complex<T>>| {
            buf.clear();
            for lo in 0..group {
                let base = lo * g.src[1];
                buf.extend((0..n).map(|i| src[base + i * g.src[2]]));
            }
            fft.process_with_scratch(buf, scratch);
            for lo in 0..group {
                for k in 0..n {
                    let v = &mut buf[lo * n + k];
                    if let Some(table) = table {
                        *v = *v * g.twiddle(table, b, lo, k);
                    }
                    *v = *v * scale;
                }
            }
        };
    let scatter = |buf: &[Complex<T>], dst: &mut [Complex<T>]| {
        for lo in 0..group {
            let base = lo * g.dst[1];
            for k in 0..n {
                dst[base + k * g.dst[2]] = buf[lo * n + k];
            }
        }
    };
    let init = || {
        (
            Vec::with_capacity(group * n),
            vec![zero; fft.get_inplace_scratch_len()],
        )
    };
    let parallel = t.threads() > 1;
    if into {
        let src = t.tile::<Complex<T>>(0).data;
        let dst = t.tile_mut::<Complex<T>>(1).data;
        type Job<'a, C> = (usize, (&'a [C], &'a mut [C]));
        let work = |(b, (s, d)): Job<'_, Complex<T>>,
                    (buf, scratch): &mut (Vec<Complex<T>>, Vec<Complex<T>>)| {
            block(b, s, buf, scratch);
            scatter(buf, d);
        };
        if parallel {
            src.par_chunks(g.src[0])
                .zip(dst.par_chunks_mut(g.dst[0]))
                .enumerate()
                .for_each_init(init, |st, job| work(job, st));
        } else {
            let mut st = init();
            for job in src
                .chunks(g.src[0])
                .zip(dst.chunks_mut(g.dst[0]))
                .enumerate()
            {
                work(job, &mut st);
            }
        }
    } else {
        let x = t.tile_mut::<Complex<T>>(0).data;
        let work = |(b, xs): (usize, &mut [Complex<T>]),
                    (buf, scratch): &mut (Vec<Complex<T>>, Vec<Complex<T>>)| {
            block(b, xs, buf, scratch);
            scatter(buf, xs);
        };
        if parallel {
            x.par_chunks_mut(g.src[0])
                .enumerate()
                .for_each_init(init, |st, job| work(job, st));
        } else {
            let mut st = init();
            for job in x.chunks_mut(g.src[0]).enumerate() {
                work(job, &mut st);
            }
        }
    }
    Ok(())
}

/// Bluestein's pad or trim step (see `kernels::fft::chirp_pad`).
fn chirp<T: FftReal>(t: &mut CpuTask<'_>) -> Result<(), KernelError>
where
    Complex<T>: Element,
{
    let (n, m, inverse, pad) = (u(t, 0), u(t, 1), u(t, 2) != 0, u(t, 3) != 0);
    let scale: T = t.param(4);
    let w = t.tile::<Complex<T>>(2).data;
    let src = t.tile::<Complex<T>>(0).data;
    let dst = t.tile_mut::<Complex<T>>(1).data;
    let w = |k: usize| if inverse { w[k].conj() } else { w[k] };
    let zero = Complex::new(T::zero(), T::zero());
    if pad {
        dst.par_chunks_mut(m)
            .zip(src.par_chunks(n))
            .for_each(|(d, s)| {
                for (j, v) in d.iter_mut().enumerate() {
                    *v = if j < n { s[j] * w(j) } else { zero };
                }
            });
    } else {
        dst.par_chunks_mut(n)
            .zip(src.par_chunks(m))
            .for_each(|(d, s)| {
                for (k, v) in d.iter_mut().enumerate() {
                    *v = s[k] * w(k) * scale;
                }
            });
    }
    Ok(())
}

fn r2c<T: FftReal>(t: &mut CpuTask<'_>) -> Result<(), KernelError>
where
    Complex<T>: Element,
{
    let n = u(t, 0);
    let scale: T = t.param(5);
    let x = t.tile::<T>(0).data;
    let y = t.tile_mut::<Complex<T>>(1).data;
    let plan = T::plans().r2c(n);
    let h = n / 2 + 1;
    let mut buf = plan.make_input_vec();
    let mut scratch = plan.make_scratch_vec();
    for (xc, yc) in x.chunks_exact(n).zip(y.chunks_exact_mut(h)) {
        buf.copy_from_slice(xc);
        plan.process_with_scratch(&mut buf, yc, &mut scratch)
            .map_err(|e| KernelError::Failed(format!("fft_r2c: {e}")))?;
        if scale != T::one() {
            yc.iter_mut().for_each(|v| *v = *v * scale);
        }
    }
    Ok(())
}

fn c2r<T: FftReal>(t: &mut CpuTask<'_>) -> Result<(), KernelError>
where
    Complex<T>: Element,
{
    let n = u(t, 0);
    let scale: T = t.param(5);
    let y = t.tile::<Complex<T>>(0).data;
    let x = t.tile_mut::<T>(1).data;
    let plan = T::plans().c2r(n);
    let h = n / 2 + 1;
    let mut buf = plan.make_input_vec();
    let mut scratch = plan.make_scratch_vec();
    for (yc, xc) in y.chunks_exact(h).zip(x.chunks_exact_mut(n)) {
        buf.copy_from_slice(yc);
        // The imaginary parts of X[0] and X[n/2] are not part of a real signal's spectrum.
        buf[0].im = T::zero();
        if n.is_multiple_of(2) {
            buf[h - 1].im = T::zero();
        }
        plan.process_with_scratch(&mut buf, xc, &mut scratch)
            .map_err(|e| KernelError::Failed(format!("fft_c2r: {e}")))?;
        if scale != T::one() {
            xc.iter_mut().for_each(|v| *v = *v * scale);
        }
    }
    Ok(())
}

fn transpose(t: &mut CpuTask<'_>) {
    let d = t.shape(0).dtype;
    let b: [usize; 6] = std::array::from_fn(|i| u(t, i));
    // Element size decides the copy; the bits are moved unchanged.
    match d.size() {
        2 => transpose_as::<u16>(t, b),
        4 => transpose_as::<u32>(t, b),
        8 => transpose_as::<[u32; 2]>(t, b),
        16 => transpose_as::<[u32; 4]>(t, b),
        s => unreachable!("no element type is {s} bytes"),
    }
}

fn transpose_as<E: bytemuck::Pod>(t: &mut CpuTask<'_>, b: [usize; 6]) {
    let (src, dst) = t.bytes_pair();
    let src: &[E] = bytemuck::cast_slice(src);
    let dst: &mut [E] = bytemuck::cast_slice_mut(dst);
    transpose_block(src, dst, b);
}

/// `dst[doff + c + r * dld] = src[soff + r + c * sld]` for `r < h`, `c < w`.
fn transpose_block<E: bytemuck::Pod>(src: &[E], dst: &mut [E], b: [usize; 6]) {
    let [soff, sld, h, w, doff, dld] = b;
    // 32 x 32 blocks through a small buffer in L1: whole source columns are read and whole
    // destination columns written (runs of 32 elements), so neither side strides element by
    // element across power-of-two distances (which would thrash one cache set).
    const B: usize = 32;
    let mut buf = [E::zeroed(); B * B];
    for rb in (0..h).step_by(B) {
        let hb = B.min(h - rb);
        for cb in (0..w).step_by(B) {
            let wb = B.min(w - cb);
            for c in 0..wb {
                let col = &src[soff + rb + (cb + c) * sld..][..hb];
                for (r, v) in col.iter().enumerate() {
                    buf[r * B + c] = *v;
                }
            }
            for r in 0..hb {
                dst[doff + cb + (rb + r) * dld..][..wb].copy_from_slice(&buf[r * B..r * B + wb]);
            }
        }
    }
}

/// `fft_lines` with `k` sources: see [`crate::kernels::fft::fft_lines`].
pub(crate) fn lines(k: usize, t: &mut CpuTask<'_>) -> Result<(), KernelError> {
    if t.shape(k).dtype == DType::C64 {
        lines_typed::<f64>(k, t)
    } else {
        lines_typed::<f32>(k, t)
    }
}

fn lines_typed<T: FftReal>(k: usize, t: &mut CpuTask<'_>) -> Result<(), KernelError>
where
    Complex<T>: Element,
{
    let inverse = u(t, 0) != 0;
    let along_rows = u(t, 1) != 0;
    let scale: T = t.param(2);
    let rect =
        |t: &CpuTask<'_>, i: usize| -> [usize; 4] { std::array::from_fn(|j| u(t, 3 + 4 * i + j)) };
    let [dr0, dc0, dh, dw] = rect(t, 0);
    let srcs: Vec<([usize; 4], &[Complex<T>])> = (0..k)
        .map(|i| (rect(t, i + 1), t.tile::<Complex<T>>(i).data))
        .collect();
    let dst = t.tile_mut::<Complex<T>>(k).data;
    if dst.len() != dh * dw {
        return Err(KernelError::InvalidArgument(format!(
            "fft_lines: the output tile has {} elements, its place says {dh}x{dw}",
            dst.len()
        )));
    }
    let zero = Complex::new(T::zero(), T::zero());
    // Rows: gather transposed (the rows become the buffer's columns); columns: straight in.
    let (n, mut buf) = if along_rows {
        (dw, vec![zero; dh * dw])
    } else {
        (dh, Vec::new())
    };
    for ([sr0, sc0, sh, sw], src) in srcs {
        if src.len() != sh * sw {
            return Err(KernelError::InvalidArgument(format!(
                "fft_lines: a source tile has {} elements, its place says {sh}x{sw}",
                src.len()
            )));
        }
        let (r0, r1) = (sr0.max(dr0), (sr0 + sh).min(dr0 + dh));
        let (c0, c1) = (sc0.max(dc0), (sc0 + sw).min(dc0 + dw));
        if r0 >= r1 || c0 >= c1 {
            continue;
        }
        let soff = (r0 - sr0) + (c0 - sc0) * sh;
        if along_rows {
            // buf is dw x dh: element (row r, col c) of dst at buf[c + r * dw].
            transpose_block(
                src,
                &mut buf,
                [soff, sh, r1 - r0, c1 - c0, (c0 - dc0) + (r0 - dr0) * dw, dw],
            );
        } else {
            for c in c0..c1 {
                let s = &src[(r0 - sr0) + (c - sc0) * sh..][..r1 - r0];
                dst[(r0 - dr0) + (c - dc0) * dh..][..r1 - r0].copy_from_slice(s);
            }
        }
    }
    let fft = T::plans().complex(n, inverse);
    let mut scratch = vec![zero; fft.get_inplace_scratch_len()];
    if along_rows {
        fft.process_with_scratch(&mut buf, &mut scratch);
        if scale != T::one() {
            buf.iter_mut().for_each(|v| *v = *v * scale);
        }
        // buf (dw x dh) back to dst (dh x dw).
        transpose_block(&buf, dst, [0, dw, dw, dh, 0, dh]);
    } else {
        fft.process_with_scratch(dst, &mut scratch);
        if scale != T::one() {
            dst.iter_mut().for_each(|v| *v = *v * scale);
        }
    }
    Ok(())
}
