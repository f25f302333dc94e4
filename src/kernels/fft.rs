//! FFT tile kernels: the batched column FFT of a complex tile ([`fft_cols`], with an optional
//! four-step twiddle and a scale), its two halves for columns longer than a GPU takes in one
//! pass ([`fft_split_rows`], [`fft_split_cols`]), Bluestein's pad and trim steps for long
//! convolutions ([`chirp_pad`], [`chirp_trim`]), the blocked transpose between FFT passes
//! ([`transpose`]),
//! the real-to-complex / complex-to-real column transforms ([`rfft_cols`], [`irfft_cols`]), and,
//! CPU only, the transforms of whole rows or columns gathered from many tiles ([`fft_lines`]).
//! What [`crate::fft`]'s 1D, 2D and 3D transforms are made of.
//!
//! CPU halves run rustfft and realfft (any length). GPU halves run a mixed-radix (8, 4, 2, 3,
//! 5) Stockham FFT in workgroup memory (`shaders/fft*.wgsl`): one workgroup per column, lengths
//! `2^a 3^b 5^c` up to [`gpu_max_len`] ([`gpu_supports`]), complex and real;
//! [`fft_bluestein`] runs lengths `n` with another prime factor on a GPU by Bluestein's chirp-z
//! algorithm (L. Bluestein, 1970) as two power-of-two Stockham transforms of length
//! [`bluestein_len`]`(n)` in the same workgroup; the split halves run either per factor. A
//! call outside those ranges is placed on the CPU. Twiddle factors are computed in f64 on the
//! host and passed as `Read` chunks ([`twiddles`], [`four_step_twiddles`], [`column_tables`]),
//! so they flow through datadeps and stay resident on a device.
//!
//! Sign convention: forward `X[k] = sum_j x[j] exp(-2 pi i j k / n)`, inverse with `+`; neither
//! scales unless asked (`scale`).
//!
//! ```
//! use num_complex::Complex;
//! use tessera::{Chunk, Read, ReadWrite, Runtime};
//! use tessera::fft::Direction;
//! use tessera::kernels::fft;
//!
//! let rt = Runtime::builder().cpu_only().build()?;
//! // Two columns of length 4: an impulse and a constant.
//! let one = Complex::new(1.0f64, 0.0);
//! let zero = Complex::new(0.0, 0.0);
//! let x = Chunk::from_vec(&rt, 4, 2, vec![one, zero, zero, zero, one, one, one, one]);
//! let tw = fft::twiddles::<f64>(&rt, 4);
//! rt.datadeps(|r| {
//!     r.spawn(fft::fft_cols::<f64>(4, Direction::Forward, 1.0, None), (ReadWrite(&x), Read(&tw), Read(&tw)));
//! })?;
//! let y = x.to_vec()?;
//! assert_eq!(&y[..4], &[one; 4]); // the impulse's spectrum is flat
//! assert_eq!(y[4], Complex::new(4.0, 0.0)); // the constant's is at 0 only
//! assert!(y[5..].iter().all(|v| v.norm() < 1e-15));
//! # Ok::<(), tessera::Error>(())
//! ```

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use num_complex::Complex;

use crate::cpu;
use crate::data::chunk::Chunk;
use crate::dtype::{DType, Element};
use crate::error::KernelError;
use crate::fft::Direction;
use crate::gpu::kernels::fft as gpu;
use crate::kernels::{Cost, Kernel, KernelCall, Launch, Scalar};
use crate::runtime::Runtime;

/// Real element types of the FFT kernels: `f32` and `f64` (their complex types are the data).
pub trait FftReal: Element + Copy + rustfft::FftNum + sealed::Sealed {
    /// The complex element type's tag (`C32`, `C64`).
    const COMPLEX: DType;
    /// Unit roundoff (2^-24, 2^-53).
    const EPSILON: f64;
    /// Converts from f64, rounding to nearest.
    fn round_from(v: f64) -> Self;
    /// Converts to f64, exactly.
    fn widen(self) -> f64;
}

pub(crate) mod sealed {
    use crate::cpu::fft::Plans;

    /// Seals [`FftReal`](super::FftReal) and holds each type's cached CPU plans.
    pub trait Sealed: rustfft::FftNum {
        fn plans() -> &'static Plans<Self>;
    }

    impl Sealed for f32 {
        fn plans() -> &'static Plans<f32> {
            static P: std::sync::OnceLock<Plans<f32>> = std::sync::OnceLock::new();
            P.get_or_init(Plans::default)
        }
    }

    impl Sealed for f64 {
        fn plans() -> &'static Plans<f64> {
            static P: std::sync::OnceLock<Plans<f64>> = std::sync::OnceLock::new();
            P.get_or_init(Plans::default)
        }
    }
}

impl FftReal for f32 {
    const COMPLEX: DType = DType::C32;
    const EPSILON: f64 = 1.0 / (1u64 << 24) as f64;
    fn round_from(v: f64) -> f32 {
        v as f32
    }
    fn widen(self) -> f64 {
        f64::from(self)
    }
}

impl FftReal for f64 {
    const COMPLEX: DType = DType::C64;
    const EPSILON: f64 = 1.0 / (1u64 << 53) as f64;
    fn round_from(v: f64) -> f64 {
        v
    }
    fn widen(self) -> f64 {
        self
    }
}

/// The longest column a GPU transforms in one pass for complex element type `dtype` (a power
/// of two; two columns of it fill 16 KiB of workgroup memory, the WebGPU minimum): 1024 for
/// `C32`, 512 for `C64`. Longer columns are split in two passes ([`fft_split_rows`],
/// [`fft_split_cols`]) at the [`crate::fft`] level, or run on the CPU.
pub fn gpu_max_len(dtype: DType) -> usize {
    match dtype {
        DType::C64 | DType::F64 => 512,
        _ => 1024,
    }
}

/// Whether `n >= 1` has no prime factor other than 2, 3 and 5 (the radices of the GPU's
/// Stockham stages).
fn smooth(n: usize) -> bool {
    if n == 0 {
        return false;
    }
    let mut m = n;
    for p in [2, 3, 5] {
        while m.is_multiple_of(p) {
            m /= p;
        }
    }
    m == 1
}

/// Whether a GPU can transform columns of length `n` of `dtype` in one pass of its mixed-radix
/// Stockham FFT ([`fft_cols`], and [`rfft_cols`] / [`irfft_cols`] for the real types' complex
/// `dtype`): `n = 2^a 3^b 5^c <= `[`gpu_max_len`]`(dtype)` (for example 1000 for `C32`,
/// 480 for `C64`, but not 7 or 1200). Other lengths run by [`fft_bluestein`] where
/// [`bluestein_len`] allows, else on the CPU.
pub fn gpu_supports(n: usize, dtype: DType) -> bool {
    smooth(n) && n <= gpu_max_len(dtype)
}

/// The power-of-two length `m >= 2n - 1` at which a GPU runs a column FFT of `n` points of
/// `dtype` by Bluestein's algorithm ([`fft_bluestein`]), if `n` has a prime factor other than
/// 2, 3 and 5 (the others run directly, see [`gpu_supports`]) and `m` fits one pass
/// (`m <= `[`gpu_max_len`]: `n <= 512` for `C32`, `n <= 256` for `C64`).
pub fn bluestein_len(n: usize, dtype: DType) -> Option<usize> {
    if n == 0 || smooth(n) {
        return None;
    }
    let m = (2 * n - 1).next_power_of_two();
    (m <= gpu_max_len(dtype)).then_some(m)
}

/// Whether a GPU can transform columns of length `n` of `dtype` in one pass, by
/// [`fft_cols`] (lengths `2^a 3^b 5^c`) or [`fft_bluestein`] (lengths with another prime
/// factor).
pub fn gpu_runs(n: usize, dtype: DType) -> bool {
    gpu_supports(n, dtype) || bluestein_len(n, dtype).is_some()
}

/// The four-step twiddle a column FFT applies after transforming: output `k` of column `c` is
/// multiplied by `exp(-+2 pi i (col0 + c) k / big_n)` (the sign of the transform's direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FourStep {
    /// The length of the whole transform, `n1 n2`.
    pub big_n: usize,
    /// The global index of the tile's first column.
    pub col0: usize,
}

/// The split point of the four-step twiddle tables for `big_n`: the smallest power of two `b`
/// with `b * b >= big_n`.
pub fn four_step_split(big_n: usize) -> usize {
    let mut b = 1usize;
    while b * b < big_n {
        b *= 2;
    }
    b
}

/// Batched FFT of every column of an `n x cols` complex tile, in place, then (with
/// `four_step`) the four-step twiddle, then a multiplication by `scale`. Accesses
/// `(ReadWrite x, Read tw, Read tab)`: `tw` is [`twiddles`]`(n)` (read by GPUs only); `tab`
/// is [`four_step_twiddles`]`(big_n)` with `four_step`, and is not read otherwise (pass `tw`).
/// [`column_tables`] makes both.
///
/// The tile may be created with any shape holding a multiple of `n` elements: its data is read
/// as columns of `n`.
///
/// # Panics
/// If `n` is zero or above `u32::MAX`.
#[track_caller]
pub fn fft_cols<T: FftReal>(
    n: usize,
    direction: Direction,
    scale: f64,
    four_step: Option<FourStep>,
) -> KernelCall
where
    Complex<T>: Element,
{
    assert!(n > 0, "an FFT needs a length of at least 1");
    Columns::contiguous(n, direction, scale, four_step).call_family::<T>(Family::C2c)
}

/// Batched FFT of every column of an `n x cols` complex tile, in place, then (with
/// `four_step`) the four-step twiddle, then a multiplication by `scale`: the same transform as
/// [`fft_cols`], for lengths `n` with a prime factor other than 2, 3 and 5 (the others are
/// [`fft_cols`]'s). Accesses `(ReadWrite x, Read tw, Read tab)` with `(tw, tab)` =
/// [`column_tables`]`(n, big_n)`: [`twiddles`]`(m)` and [`bluestein_chirp`]`(n)` followed by
/// the four-step tables, with `m` = [`bluestein_len`]`(n)` (GPUs read them; the CPU half runs
/// rustfft on the columns). A GPU runs it by Bluestein's algorithm in workgroup memory;
/// lengths without a [`bluestein_len`] (too long, or `2^a 3^b 5^c`, which [`fft_cols`] runs on
/// a GPU) run on the CPU only.
///
/// # Panics
/// If `n` is zero, a power of two, or above `u32::MAX`.
#[track_caller]
pub fn fft_bluestein<T: FftReal>(
    n: usize,
    direction: Direction,
    scale: f64,
    four_step: Option<FourStep>,
) -> KernelCall
where
    Complex<T>: Element,
{
    assert!(
        n > 0 && !n.is_power_of_two(),
        "Bluestein's algorithm is for lengths that are not powers of two, not {n}"
    );
    Columns::contiguous(n, direction, scale, four_step).call_family::<T>(Family::Bluestein)
}

/// The column FFT of a GPU plan's column pass: [`fft_cols`] for the lengths [`gpu_supports`]
/// takes, [`fft_bluestein`] for the others, by the same rule as [`column_tables`], which makes
/// its tables.
#[track_caller]
pub(crate) fn fft_cols_gpu<T: FftReal>(
    n: usize,
    direction: Direction,
    scale: f64,
    four_step: Option<FourStep>,
) -> KernelCall
where
    Complex<T>: Element,
{
    assert!(n > 0, "an FFT needs a length of at least 1");
    Columns::contiguous(n, direction, scale, four_step).call::<T>(false)
}

/// The first half of a column FFT of `n1 n2` points split in two (for columns longer than a
/// GPU transforms in one pass; D. H. Bailey's four-step method inside each column): every
/// column of the tile, viewed as a column-major `n1 x n2` matrix, has its `n1` rows (`n2`
/// points, `n1` apart) transformed in place, and output `k2` of row `j1` multiplied by
/// `exp(-+2 pi i j1 k2 / (n1 n2))`. [`fft_split_cols`] finishes the transform.
///
/// Accesses `(ReadWrite x, Read tw, Read tab)` with `(tw, tab)` =
/// [`column_tables`]`(n2, Some(n1 n2))`. A GPU transforms the rows by Stockham or, for a
/// length [`gpu_supports`] does not take, by Bluestein's algorithm (if it fits:
/// [`bluestein_len`]); the CPU by rustfft.
///
/// # Panics
/// If `n1` or `n2` is zero or `n1 n2` is above `u32::MAX`.
#[track_caller]
pub fn fft_split_rows<T: FftReal>(n1: usize, n2: usize, direction: Direction) -> KernelCall
where
    Complex<T>: Element,
{
    Columns::split_rows(n1, n2, direction).call::<T>(false)
}

/// The second half of a split column FFT (after [`fft_split_rows`]): every column of the tile
/// `x`, an `n1 x n2` matrix, has its `n2` columns (`n1` contiguous points each) transformed,
/// and written transposed into the tile `y` of the same size, so that `y` holds the transforms
/// of `x`'s columns of `n1 n2` points in natural order; then, with `four_step`, output `k` of
/// column `c` of `y` is multiplied by `exp(-+2 pi i (col0 + c) k / big_n)` (the twiddle of an
/// enclosing four-step transform); then by `scale`.
///
/// Accesses `(Read x, Write y, Read tw, Read tab)` with `(tw, tab)` =
/// [`column_tables`]`(n1, four_step.map(|f| f.big_n))`.
///
/// # Panics
/// If `n1` or `n2` is zero or `n1 n2` is above `u32::MAX`.
#[track_caller]
pub fn fft_split_cols<T: FftReal>(
    n1: usize,
    n2: usize,
    direction: Direction,
    scale: f64,
    four_step: Option<FourStep>,
) -> KernelCall
where
    Complex<T>: Element,
{
    let twiddle = four_step.map_or(Twiddle::None, |f| Twiddle::FourStep {
        big_n: f.big_n,
        col0: f.col0,
    });
    Columns::split_cols(n1, n2, direction, scale, twiddle).call::<T>(true)
}

/// Bluestein's algorithm for a length `n` whose convolution (of `m` points, a power of two)
/// is longer than one pass, step 1: every column of `n` points of `x` times the chirp
/// `w_j = exp(-+i pi j^2 / n)`, zero-padded to `m` points, into `y`. Accesses
/// `(Read x, Write y, Read chirp)`, `chirp` = [`bluestein_chirp`]`(n)`.
///
/// # Panics
/// If `n` is zero, `m < n`, or `m` is above `u32::MAX`.
#[track_caller]
pub fn chirp_pad<T: FftReal>(n: usize, m: usize, direction: Direction) -> KernelCall
where
    Complex<T>: Element,
{
    chirp_call::<T>(n, m, direction, true, 1.0)
}

/// The last step of [`chirp_pad`]'s algorithm: the first `n` points of every column of `m`
/// points of `x` times the chirp and `scale`, into the columns of `n` points of `y`. Accesses
/// `(Read x, Write y, Read chirp)`.
///
/// # Panics
/// As [`chirp_pad`].
#[track_caller]
pub fn chirp_trim<T: FftReal>(n: usize, m: usize, direction: Direction, scale: f64) -> KernelCall
where
    Complex<T>: Element,
{
    chirp_call::<T>(n, m, direction, false, scale)
}

#[track_caller]
fn chirp_call<T: FftReal>(
    n: usize,
    m: usize,
    direction: Direction,
    pad: bool,
    scale: f64,
) -> KernelCall
where
    Complex<T>: Element,
{
    assert!(n > 0 && m >= n, "a chirp step pads {n} points to {m}");
    kernel(Family::Chirp, T::COMPLEX).call([
        u32_param(n),
        u32_param(m),
        Scalar::U32(u32::from(direction == Direction::Inverse)),
        Scalar::U32(u32::from(pad)),
        T::round_from(scale).into_scalar(),
    ])
}

/// Bluestein's convolution of `m = n1 n2` points (the step between [`chirp_pad`] and
/// [`chirp_trim`]), its forward FFT's second half: [`fft_split_cols`] (forward, after a
/// forward [`fft_split_rows`]) times the filter `chirp[n + k]` (conjugated for an `Inverse`
/// transform), `chirp` = [`bluestein_chirp`]`(n)`. Accesses `(Read x, Write y, Read tw, Read chirp)` with
/// `tw` = [`twiddles`]`(n1)`.
pub(crate) fn fft_split_cols_filtered<T: FftReal>(
    n: usize,
    (n1, n2): (usize, usize),
    direction: Direction,
) -> KernelCall
where
    Complex<T>: Element,
{
    let filter = Twiddle::Filter {
        off: n,
        conj: direction == Direction::Inverse,
    };
    Columns::split_cols(n1, n2, Direction::Forward, 1.0, filter).call::<T>(true)
}

/// Whether a column FFT of length `n` is a Bluestein call when its tables are made by
/// [`column_tables`]: every length a GPU does not take by Stockham ([`gpu_supports`]).
fn uses_bluestein(n: usize, dtype: DType) -> bool {
    !gpu_supports(n, dtype)
}

/// The tables `(tw, tab)` of a column FFT of length `n` with a twiddle of length `twiddle`
/// (a four-step or split twiddle): for a length [`gpu_supports`] takes, [`twiddles`]`(n)` and
/// [`four_step_twiddles`]`(twiddle)`; otherwise (Bluestein's algorithm) [`twiddles`]`(m)` and
/// [`bluestein_chirp`]`(n)` followed by the twiddle tables, `m = (2n - 1).next_power_of_two()`.
/// Without a twiddle and Bluestein, `tab` is a single unused entry. What the calls of
/// [`fft_cols`], [`fft_bluestein`], [`fft_split_rows`] and [`fft_split_cols`] read.
pub fn column_tables<T: FftReal>(
    rt: &Runtime,
    n: usize,
    twiddle: Option<usize>,
) -> (Chunk<Complex<T>>, Chunk<Complex<T>>)
where
    Complex<T>: Element,
{
    let big: Vec<Complex<T>> = twiddle.map_or_else(Vec::new, four_step_table::<T>);
    if !uses_bluestein(n, T::COMPLEX) {
        let tab = if big.is_empty() {
            vec![unit::<T>(0, 1)]
        } else {
            big
        };
        return (twiddles::<T>(rt, n), Chunk::from_vec(rt, tab.len(), 1, tab));
    }
    let m = (2 * n - 1).next_power_of_two();
    let mut tab = bluestein_table::<T>(n);
    tab.extend(big);
    (twiddles::<T>(rt, m), Chunk::from_vec(rt, tab.len(), 1, tab))
}

/// Which twiddle a column FFT applies after transforming (`mode` in `shaders/fft.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Twiddle {
    None,
    /// Output `kpos` of column group `g`: `exp(-+2 pi i (col0 + g) kpos / big_n)`.
    FourStep {
        big_n: usize,
        col0: usize,
    },
    /// Output `k` of column `c`: `exp(-+2 pi i (c mod group) k / big_n)`.
    Split {
        big_n: usize,
    },
    /// Output `kpos`: `tab[off + kpos]`, conjugated with `conj` (Bluestein's filter).
    Filter {
        off: usize,
        conj: bool,
    },
}

/// A column FFT call's geometry (see `shaders/fft.wgsl`): column `c`'s element `i` is at
/// `(c / group) src[0] + (c % group) src[1] + i src[2]`, its output `k` goes to the same with
/// `dst`, then the twiddle and the scale.
#[derive(Clone, Copy, Debug)]
struct Columns {
    n: usize,
    inverse: bool,
    scale: f64,
    twiddle: Twiddle,
    group: usize,
    src: [usize; 3],
    dst: [usize; 3],
}

impl Columns {
    fn contiguous(n: usize, direction: Direction, scale: f64, four_step: Option<FourStep>) -> Self {
        Columns {
            n,
            inverse: direction == Direction::Inverse,
            scale,
            twiddle: four_step.map_or(Twiddle::None, |f| Twiddle::FourStep {
                big_n: f.big_n,
                col0: f.col0,
            }),
            group: 1,
            src: [n, 0, 1],
            dst: [n, 0, 1],
        }
    }

    /// Step 1 of a split column of `n1 n2` points: the `n1` rows of `n2` points, `n1` apart,
    /// in place, with the split twiddle.
    #[track_caller]
    fn split_rows(n1: usize, n2: usize, direction: Direction) -> Self {
        assert!(n1 > 0 && n2 > 0, "a split FFT needs factors of at least 1");
        let n = n1 * n2;
        Columns {
            n: n2,
            inverse: direction == Direction::Inverse,
            scale: 1.0,
            twiddle: Twiddle::Split { big_n: n },
            group: n1,
            src: [n, 1, n1],
            dst: [n, 1, n1],
        }
    }

    /// Step 2: the `n2` contiguous columns of `n1` points, written transposed.
    #[track_caller]
    fn split_cols(
        n1: usize,
        n2: usize,
        direction: Direction,
        scale: f64,
        twiddle: Twiddle,
    ) -> Self {
        assert!(n1 > 0 && n2 > 0, "a split FFT needs factors of at least 1");
        let n = n1 * n2;
        Columns {
            n: n1,
            inverse: direction == Direction::Inverse,
            scale,
            twiddle,
            group: n2,
            src: [n, n1, 1],
            dst: [n, 1, n2],
        }
    }

    /// The call, in place (`into` false) or into another tile: Stockham for the lengths
    /// [`gpu_supports`] takes, Bluestein's algorithm for the others.
    #[track_caller]
    fn call<T: FftReal>(self, into: bool) -> KernelCall
    where
        Complex<T>: Element,
    {
        let family = match (uses_bluestein(self.n, T::COMPLEX), into) {
            (false, false) => Family::C2c,
            (true, false) => Family::Bluestein,
            (false, true) => Family::C2cInto,
            (true, true) => Family::BluesteinInto,
        };
        self.call_family::<T>(family)
    }

    /// The call's parameters, in the order of `Params` in `shaders/fft.wgsl` without `cols`:
    /// `n, inverse, big_n, big_b, col0, scale, m, tab_off, mode, group, src, dst`.
    #[track_caller]
    fn call_family<T: FftReal>(self, family: Family) -> KernelCall
    where
        Complex<T>: Element,
    {
        let (mode, big_n, col0) = match self.twiddle {
            Twiddle::None => (0, 0, 0),
            Twiddle::FourStep { big_n, col0 } => (1, big_n, col0),
            Twiddle::Split { big_n } => (2, big_n, 0),
            Twiddle::Filter { conj, .. } => (if conj { 4 } else { 3 }, 0, 0),
        };
        let big_b = if big_n > 0 { four_step_split(big_n) } else { 1 };
        let bluestein = matches!(family, Family::Bluestein | Family::BluesteinInto);
        let m = if bluestein {
            (2 * self.n - 1).next_power_of_two()
        } else {
            0
        };
        let tab_off = match self.twiddle {
            Twiddle::Filter { off, .. } => off,
            _ if bluestein => self.n + m,
            _ => 0,
        };
        let mut params = vec![
            u32_param(self.n),
            Scalar::U32(u32::from(self.inverse)),
            u32_param(big_n),
            u32_param(big_b),
            u32_param(col0),
            T::round_from(self.scale).into_scalar(),
            u32_param(m),
            u32_param(tab_off),
            Scalar::U32(mode),
            u32_param(self.group),
        ];
        params.extend(self.src.iter().chain(&self.dst).map(|&v| u32_param(v)));
        kernel(family, T::COMPLEX).call(params)
    }
}

/// Bluestein's tables for length `n` (not a power of two), as one column of `n + m` entries,
/// `m = (2n - 1).next_power_of_two()`: the chirp `w_k = exp(-i pi k^2 / n)` for `k < n`, then
/// `B / m` with `B = FFT_m(b)`, `b_k = b_(m-k) = conj(w_k)` for `k < n` and 0 elsewhere. Computed
/// in f64 (the angles reduced exactly, `B` by rustfft) and rounded to `T`.
///
/// # Panics
/// If `n` is zero or a power of two.
#[track_caller]
pub fn bluestein_chirp<T: FftReal>(rt: &Runtime, n: usize) -> Chunk<Complex<T>>
where
    Complex<T>: Element,
{
    assert!(
        n > 0 && !n.is_power_of_two(),
        "Bluestein's algorithm is for lengths that are not powers of two, not {n}"
    );
    let v = bluestein_table::<T>(n);
    Chunk::from_vec(rt, v.len(), 1, v)
}

/// [`bluestein_chirp`]'s entries (any `n > 0`).
fn bluestein_table<T: FftReal>(n: usize) -> Vec<Complex<T>>
where
    Complex<T>: Element,
{
    let m = (2 * n - 1).next_power_of_two();
    // exp(-i pi k^2 / n) = exp(-2 pi i (k^2 mod 2n) / 2n).
    let w: Vec<Complex<f64>> = (0..n).map(|k| unit_f64((k * k) % (2 * n), 2 * n)).collect();
    let mut b = vec![Complex::new(0.0, 0.0); m];
    for (k, wk) in w.iter().enumerate() {
        b[k] = wk.conj();
        if k > 0 {
            b[m - k] = wk.conj();
        }
    }
    rustfft::FftPlanner::<f64>::new()
        .plan_fft_forward(m)
        .process(&mut b);
    let inv_m = 1.0 / m as f64;
    w.iter()
        .copied()
        .chain(b.iter().map(|v| v * inv_m))
        .map(|v| Complex::new(T::round_from(v.re), T::round_from(v.im)))
        .collect()
}

/// Real-to-complex FFT of every column of an `n x cols` real tile into the `(n/2 + 1) x cols`
/// complex tile `y` (the non-redundant half of the spectrum), times `scale`. Accesses
/// `(Read x, Write y, Read tw)` with `tw` = [`twiddles`]`(n)`.
///
/// # Panics
/// If `n` is zero or above `u32::MAX`.
#[track_caller]
pub fn rfft_cols<T: FftReal>(n: usize, scale: f64) -> KernelCall
where
    Complex<T>: Element,
{
    assert!(n > 0, "an FFT needs a length of at least 1");
    kernel(Family::R2c, T::DTYPE).call(real_params::<T>(n, scale))
}

/// Complex-to-real inverse FFT: every column of the `(n/2 + 1) x cols` complex tile `y` (the
/// first half of a Hermitian spectrum) into a real column of length `n` of the `n x cols` tile
/// `x`, times `scale` (pass `1/n` for the inverse of [`rfft_cols`]). The imaginary parts of
/// `y[0]` and, for even `n`, `y[n/2]` are ignored. Accesses `(Read y, Write x, Read tw)` with
/// `tw` = [`twiddles`]`(n)`.
///
/// # Panics
/// If `n` is zero or above `u32::MAX`.
#[track_caller]
pub fn irfft_cols<T: FftReal>(n: usize, scale: f64) -> KernelCall
where
    Complex<T>: Element,
{
    assert!(n > 0, "an FFT needs a length of at least 1");
    kernel(Family::C2r, T::DTYPE).call(real_params::<T>(n, scale))
}

fn real_params<T: FftReal>(n: usize, scale: f64) -> [Scalar; 6]
where
    Complex<T>: Element,
{
    [
        u32_param(n),
        Scalar::U32(0),
        Scalar::U32(0),
        Scalar::U32(1),
        Scalar::U32(0),
        T::round_from(scale).into_scalar(),
    ]
}

/// A block of one tile copied, transposed, into another: for `r < h`, `c < w`,
/// `dst[dst_off + c + r * dst_ld] = src[src_off + r + c * src_ld]` (indices into the tiles'
/// column-major data, whatever shape the tiles were created with). Elements of `dst` outside
/// the block are kept. Any element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransposeBlock {
    /// Index of the block's first element in the source.
    pub src_off: usize,
    /// Distance between the block's columns in the source.
    pub src_ld: usize,
    /// Rows of the block (in the source).
    pub h: usize,
    /// Columns of the block (in the source).
    pub w: usize,
    /// Index in the destination where the block's first element lands.
    pub dst_off: usize,
    /// Distance between the transposed block's columns in the destination.
    pub dst_ld: usize,
}

/// The transposed block copy `b` with accesses `(Read src, ReadWrite dst)`.
///
/// # Panics
/// If an index exceeds `u32::MAX`.
#[track_caller]
pub fn transpose<T: Element>(b: TransposeBlock) -> KernelCall {
    kernel(Family::Transpose, T::DTYPE).call([
        u32_param(b.src_off),
        u32_param(b.src_ld),
        u32_param(b.h),
        u32_param(b.w),
        u32_param(b.dst_off),
        u32_param(b.dst_ld),
    ])
}

/// The transposed block copy `b` with accesses `(Read src, Write dst)`: for the first of a set
/// of blocks that together cover every element of `dst` (no zero-fill or copy-in of `dst` is
/// made; the elements outside the block are undefined until the other blocks write them).
///
/// # Panics
/// If an index exceeds `u32::MAX`.
#[track_caller]
pub fn transpose_first<T: Element>(b: TransposeBlock) -> KernelCall {
    let t = transpose::<T>(b);
    kernel(Family::TransposeFirst, T::DTYPE).call(t.params().iter().copied())
}

/// Where one tile of a matrix lies: rows `r0 .. r0 + rows`, columns `c0 .. c0 + cols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Placed {
    /// First row.
    pub r0: usize,
    /// First column.
    pub c0: usize,
    /// Rows of the tile.
    pub rows: usize,
    /// Columns of the tile.
    pub cols: usize,
}

/// CPU only: the FFTs along whole rows (`along_rows`) or whole columns of a matrix that a
/// task's output tile `dst` spans, gathered from `srcs` (tiles of the input matrix, placed as
/// given, which together cover the output's lines): rows are transposed into a buffer,
/// transformed and transposed back; columns are copied straight into `dst` and transformed.
/// Times `scale`. Accesses `(Read src_0, ..., Read src_{k-1}, Write dst)`, `k = srcs.len()`.
/// The output's lines must be whole: `dst.cols` is the row length (along rows) or `dst.rows`
/// the column length.
///
/// # Panics
/// If a position exceeds `u32::MAX` or there is no source.
#[track_caller]
pub fn fft_lines<T: FftReal>(
    direction: Direction,
    along_rows: bool,
    scale: f64,
    dst: Placed,
    srcs: &[Placed],
) -> KernelCall {
    assert!(!srcs.is_empty(), "fft_lines needs at least one source");
    let mut params = vec![
        Scalar::U32(u32::from(direction == Direction::Inverse)),
        Scalar::U32(u32::from(along_rows)),
        T::round_from(scale).into_scalar(),
    ];
    for p in std::iter::once(&dst).chain(srcs) {
        params.extend([p.r0, p.c0, p.rows, p.cols].map(u32_param));
    }
    lines_kernel(srcs.len(), T::COMPLEX).call(params)
}

fn lines_kernel(k: usize, d: DType) -> Kernel {
    static CACHE: OnceLock<Mutex<HashMap<(usize, DType), Kernel>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    map.entry((k, d))
        .or_insert_with(|| {
            let mut b = Kernel::builder("fft_lines");
            for _ in 0..k {
                b = b.read(d);
            }
            b = b
                .write(d)
                .param(DType::U32)
                .param(DType::U32)
                .param(real_of(d));
            for _ in 0..4 * (k + 1) {
                b = b.param(DType::U32);
            }
            b.cost(move |l: &Launch<'_>| {
                let dst = l.shapes[k];
                let along_rows = l.params[1].get::<u32>() == Some(1);
                let (n, lines) = if along_rows {
                    (dst.cols, dst.rows)
                } else {
                    (dst.rows, dst.cols)
                };
                Cost {
                    flops: flops(n, lines),
                    bytes: 3.0 * dst.bytes() as f64,
                }
            })
            .cpu(move |t| cpu::fft::lines(k, t))
            .build()
            .unwrap_or_else(|e| unreachable!("fft_lines with {k} sources must build: {e}"))
        })
        .clone()
}

/// The `n x 1` twiddle table `exp(-2 pi i m / n)`, `m < n`, computed in f64 and rounded to `T`.
pub fn twiddles<T: FftReal>(rt: &Runtime, n: usize) -> Chunk<Complex<T>>
where
    Complex<T>: Element,
{
    let v = (0..n.max(1)).map(|m| unit::<T>(m, n.max(1))).collect();
    Chunk::from_vec(rt, n.max(1), 1, v)
}

/// The four-step twiddle tables for a transform of length `big_n`, as one column: with
/// `b = `[`four_step_split`]`(big_n)`, entry `m < b` is `exp(-2 pi i m / big_n)` and entry
/// `b + h` is `exp(-2 pi i h b / big_n)`, so that `exp(-2 pi i m / big_n)` is the product of
/// entries `m mod b` and `b + m / b`. Computed in f64, rounded to `T`.
pub fn four_step_twiddles<T: FftReal>(rt: &Runtime, big_n: usize) -> Chunk<Complex<T>>
where
    Complex<T>: Element,
{
    let v = four_step_table::<T>(big_n);
    Chunk::from_vec(rt, v.len(), 1, v)
}

/// [`four_step_twiddles`]'s entries.
fn four_step_table<T: FftReal>(big_n: usize) -> Vec<Complex<T>>
where
    Complex<T>: Element,
{
    let n = big_n.max(1);
    let b = four_step_split(n);
    let hi = n.div_ceil(b);
    (0..b)
        .map(|m| unit::<T>(m % n, n))
        .chain((0..hi).map(|h| unit::<T>((h * b) % n, n)))
        .collect()
}

/// `exp(-2 pi i m / n)` computed in f64 (with the argument reduced exactly) and rounded to `T`.
pub(crate) fn unit<T: FftReal>(m: usize, n: usize) -> Complex<T>
where
    Complex<T>: Element,
{
    let w = unit_f64(m, n);
    Complex::new(T::round_from(w.re), T::round_from(w.im))
}

/// `exp(-2 pi i m / n)` in f64, using the symmetries so that the argument stays below pi/4.
pub(crate) fn unit_f64(m: usize, n: usize) -> Complex<f64> {
    // Octant reduction: 8 m / n decides the octant; the remaining angle is small and exact.
    let m = (m % n) as u128;
    let n = n as u128;
    let (m8, n8) = (8 * m, n);
    let oct = (m8 / n8) as u32; // 0..8
    let rem = m8 - u128::from(oct) * n8; // angle within the octant, in units of 2 pi / (8 n)
    let theta = |num: u128| std::f64::consts::FRAC_PI_4 * (num as f64) / (n8 as f64);
    // a = angle from the octant's start; b = angle to its end.
    let (c_a, s_a) = {
        let t = theta(rem);
        (t.cos(), t.sin())
    };
    let (c_b, s_b) = {
        let t = theta(n8 - rem);
        (t.cos(), t.sin())
    };
    // Angle phi = oct pi/4 + a. (cos phi, sin phi) by octant.
    let (c, s) = match oct {
        0 => (c_a, s_a),
        1 => (s_b, c_b),
        2 => (-s_a, c_a),
        3 => (-c_b, s_b),
        4 => (-c_a, -s_a),
        5 => (-s_b, -c_b),
        6 => (s_a, -c_a),
        _ => (c_b, -s_b),
    };
    Complex::new(c, -s)
}

fn u32_param(x: usize) -> Scalar {
    Scalar::U32(u32::try_from(x).expect("FFT sizes and offsets are limited to 2^32 - 1"))
}

/// Which FFT kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    C2c,
    /// C2c for lengths with a prime factor other than 2, 3, 5 (Bluestein on GPUs).
    Bluestein,
    /// C2c out of place (the second half of a split column FFT).
    C2cInto,
    /// Bluestein out of place.
    BluesteinInto,
    /// Bluestein's pad and trim steps for long convolutions.
    Chirp,
    R2c,
    C2r,
    Transpose,
    /// The transpose with a `Write` destination.
    TransposeFirst,
}

impl Family {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Family::C2c => "fft_c2c",
            Family::Bluestein => "fft_bluestein",
            Family::C2cInto => "fft_c2c_into",
            Family::BluesteinInto => "fft_bluestein_into",
            Family::Chirp => "fft_chirp",
            Family::R2c => "fft_r2c",
            Family::C2r => "fft_c2r",
            Family::Transpose | Family::TransposeFirst => "fft_transpose",
        }
    }
}

/// The kernel of `family` on element type `dtype` (the complex type for `C2c`, the real type
/// for `R2c`/`C2r`, any type for `Transpose`), built once and shared.
fn kernel(family: Family, dtype: DType) -> Kernel {
    static CACHE: OnceLock<Mutex<HashMap<(Family, DType), Kernel>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    map.entry((family, dtype))
        .or_insert_with(|| build(family, dtype))
        .clone()
}

/// The FFT kernel descriptors by name (`fft_c2c`, `fft_bluestein`, `fft_c2c_into`,
/// `fft_bluestein_into`, `fft_r2c`, `fft_c2r`, `fft_transpose`) and element type, for tools
/// that pick one at run time.
pub fn kernel_by_name(name: &str, dtype: DType) -> Option<Kernel> {
    let family = [
        Family::C2c,
        Family::Bluestein,
        Family::C2cInto,
        Family::BluesteinInto,
        Family::Chirp,
        Family::R2c,
        Family::C2r,
        Family::Transpose,
    ]
    .into_iter()
    .find(|f| f.name() == name)?;
    let ok = match family {
        Family::C2c
        | Family::Bluestein
        | Family::C2cInto
        | Family::BluesteinInto
        | Family::Chirp => matches!(dtype, DType::C32 | DType::C64),
        Family::R2c | Family::C2r => matches!(dtype, DType::F32 | DType::F64),
        Family::Transpose | Family::TransposeFirst => true,
    };
    ok.then(|| kernel(family, dtype))
}

fn complex_of(real: DType) -> DType {
    if real == DType::F64 {
        DType::C64
    } else {
        DType::C32
    }
}

fn real_of(complex: DType) -> DType {
    if complex == DType::C64 {
        DType::F64
    } else {
        DType::F32
    }
}

fn build(family: Family, d: DType) -> Kernel {
    let name = family.name();
    let b = Kernel::builder(name);
    let b = match family {
        Family::C2c | Family::Bluestein => b.read_write(d).read(d).read(d),
        Family::C2cInto | Family::BluesteinInto => b.read(d).write(d).read(d).read(d),
        Family::Chirp => b.read(d).write(d).read(d),
        Family::R2c => b.read(d).write(complex_of(d)).read(complex_of(d)),
        Family::C2r => b.read(complex_of(d)).write(d).read(complex_of(d)),
        Family::Transpose => b.read(d).read_write(d),
        Family::TransposeFirst => b.read(d).write(d),
    };
    let b = match family {
        Family::Transpose | Family::TransposeFirst => (0..6).fold(b, |b, _| b.param(DType::U32)),
        Family::C2c | Family::Bluestein | Family::C2cInto | Family::BluesteinInto => {
            let b = (0..5).fold(b, |b, _| b.param(DType::U32)).param(real_of(d));
            (0..10).fold(b, |b, _| b.param(DType::U32))
        }
        Family::Chirp => (0..4).fold(b, |b, _| b.param(DType::U32)).param(real_of(d)),
        Family::R2c | Family::C2r => (0..5).fold(b, |b, _| b.param(DType::U32)).param(d),
    };
    b.cost(move |l: &Launch<'_>| cost(family, l))
        .check(move |l: &Launch<'_>| check(family, l))
        .cpu(move |t| cpu::fft::run(family, t))
        .gpu(gpu::kernel(family, d))
        .build()
        .unwrap_or_else(|e| unreachable!("FFT kernel {name} for {d} must build: {e}"))
}

fn p(l: &Launch<'_>, i: usize) -> usize {
    l.params[i].get::<u32>().unwrap_or(0) as usize
}

/// `5 n log2 n` per transformed column (the conventional FFT flop count).
pub fn flops(n: usize, columns: usize) -> f64 {
    if n < 2 {
        return 0.0;
    }
    5.0 * n as f64 * (n as f64).log2() * columns as f64
}

fn cost(family: Family, l: &Launch<'_>) -> Cost {
    let bytes: f64 = l.shapes.iter().map(|s| s.bytes() as f64).sum();
    match family {
        Family::Transpose | Family::TransposeFirst => Cost {
            flops: 0.0,
            bytes: 2.0 * (p(l, 2) * p(l, 3) * l.shapes[0].dtype.size()) as f64,
        },
        Family::C2c | Family::C2cInto => {
            let n = p(l, 0).max(1);
            Cost {
                flops: flops(n, l.shapes[0].len() / n),
                bytes: bytes + l.shapes[0].bytes() as f64,
            }
        }
        Family::Chirp => Cost {
            flops: 6.0 * l.shapes[1].len() as f64,
            bytes,
        },
        Family::Bluestein | Family::BluesteinInto => {
            // Two transforms of length m per column, and three pointwise products.
            let (n, m) = (p(l, 0).max(1), p(l, 6).max(1));
            let cols = l.shapes[0].len() / n;
            Cost {
                flops: 2.0 * flops(m, cols) + 18.0 * (m * cols) as f64,
                bytes: bytes + l.shapes[0].bytes() as f64,
            }
        }
        Family::R2c | Family::C2r => {
            let n = p(l, 0).max(1);
            let real = if family == Family::R2c { 0 } else { 1 };
            Cost {
                flops: flops(n, l.shapes[real].len() / n) / 2.0,
                bytes,
            }
        }
    }
}

fn check(family: Family, l: &Launch<'_>) -> Result<(), KernelError> {
    let bad = |what: String| {
        Err(KernelError::InvalidArgument(format!(
            "{}: {what}",
            family.name()
        )))
    };
    match family {
        Family::Transpose | Family::TransposeFirst => {
            let (src, dst) = (l.shapes[0].len(), l.shapes[1].len());
            let [soff, sld, h, w, doff, dld] = std::array::from_fn(|i| p(l, i));
            if h == 0 || w == 0 {
                return Ok(());
            }
            let (slast, dlast) = (
                soff + (h - 1) + (w - 1) * sld,
                doff + (w - 1) + (h - 1) * dld,
            );
            if sld < h || dld < w || slast >= src || dlast >= dst {
                return bad(format!(
                    "a {h}x{w} block at {soff} (ld {sld}) of a {src}-element source, to {doff} (ld {dld}) of a {dst}-element destination, does not fit"
                ));
            }
        }
        Family::C2c | Family::Bluestein | Family::C2cInto | Family::BluesteinInto => {
            return check_columns(family, l).map_or(Ok(()), bad);
        }
        Family::Chirp => {
            let (n, m, pad) = (p(l, 0), p(l, 1), p(l, 3) != 0);
            let (src, dst) = (l.shapes[0].len(), l.shapes[1].len());
            let (a, b) = if pad { (n, m) } else { (m, n) };
            if n == 0 || m < n || !src.is_multiple_of(a) || dst != src / a * b {
                return bad(format!(
                    "columns of {a} points in {src} elements to columns of {b} in {dst}"
                ));
            }
            if l.shapes[2].len() < n {
                return bad(format!(
                    "the chirp has {} entries, the length is {n}",
                    l.shapes[2].len()
                ));
            }
        }
        Family::R2c | Family::C2r => {
            let n = p(l, 0);
            let (real, cplx) = if family == Family::R2c {
                (0, 1)
            } else {
                (1, 0)
            };
            let (xr, y) = (l.shapes[real].len(), l.shapes[cplx].len());
            if n == 0 || !xr.is_multiple_of(n) || y != (xr / n) * (n / 2 + 1) {
                return bad(format!(
                    "a real tile of {xr} elements and a complex one of {y} are not columns of {n} and {}",
                    n / 2 + 1
                ));
            }
            if l.shapes[2].len() < n {
                return bad(format!(
                    "the twiddle table has {} entries, the length is {n}",
                    l.shapes[2].len()
                ));
            }
        }
    }
    Ok(())
}

/// What is wrong with a column FFT launch, if anything: the columns must tile the data
/// exactly (each group of `group` columns inside its own `outer` block), the tables must be
/// long enough, and the twiddle exponents must stay below `big_n` (the shader does not reduce
/// them).
fn check_columns(family: Family, l: &Launch<'_>) -> Option<String> {
    let into = matches!(family, Family::C2cInto | Family::BluesteinInto);
    let bluestein = matches!(family, Family::Bluestein | Family::BluesteinInto);
    let [
        n,
        _,
        big_n,
        big_b,
        col0,
        _,
        m,
        tab_off,
        mode,
        group,
        so,
        si,
        ss,
        d_o,
        di,
        ds,
    ] = std::array::from_fn(|i| p(l, i));
    let len = l.shapes[0].len();
    let (tw, tab) = if into { (2, 3) } else { (1, 2) };
    let (tw, tab) = (l.shapes[tw].len(), l.shapes[tab].len());
    if into && l.shapes[1].len() != len {
        return Some(format!(
            "the source has {len} elements, the destination {}",
            l.shapes[1].len()
        ));
    }
    if n == 0 || !len.is_multiple_of(n) {
        return Some(format!(
            "the tile has {len} elements, not a multiple of the length {n}"
        ));
    }
    let cols = len / n;
    let footprint = |inner: usize, step: usize| (group.max(1) - 1) * inner + (n - 1) * step;
    let tiles = |outer: usize, inner: usize, step: usize| {
        group > 0
            && cols.is_multiple_of(group)
            && (cols / group) * outer == len
            && footprint(inner, step) < outer
    };
    if !tiles(so, si, ss) || !tiles(d_o, di, ds) {
        return Some(format!(
            "{cols} columns of {n} in groups of {group} (source {so}/{si}/{ss}, destination {d_o}/{di}/{ds}) do not tile {len} elements"
        ));
    }
    if bluestein {
        if !m.is_power_of_two() || m < 2 * n - 1 || tab_off != n + m {
            return Some(format!(
                "a padded length of {m} (tables from {tab_off}) for {n} points"
            ));
        }
        if tw < m || tab < n + m {
            return Some(format!(
                "tables of {tw} and {tab} entries; length {n} (padded to {m}) needs {m} and {}",
                n + m
            ));
        }
    } else if tw < n {
        return Some(format!(
            "the twiddle table has {tw} entries, the length is {n}"
        ));
    }
    if mode == 0 {
        return None;
    }
    if mode == 3 || mode == 4 {
        // Bluestein's filter: one entry per output position.
        let need = tab_off + footprint(di, ds) + 1;
        return (tab < need).then(|| {
            format!(
                "the filter table has {tab} entries; positions up to {need} from {tab_off} are read"
            )
        });
    }
    // The largest exponent: (col0 + last group) * (largest output position) for the
    // four-step twiddle, (group - 1) (n - 1) for the split one.
    let top = if mode == 1 {
        (col0 + cols / group - 1) as u64 * footprint(di, ds) as u64
    } else {
        ((group - 1) * (n - 1)) as u64
    };
    if mode > 2 || big_n == 0 || top >= big_n as u64 {
        return Some(format!(
            "a twiddle (mode {mode}) of length {big_n} does not fit columns {col0}.. of {n} points in groups of {group}"
        ));
    }
    if big_b != four_step_split(big_n) || tab < tab_off + big_b + big_n.div_ceil(big_b) {
        return Some(format!(
            "the twiddle table has {tab} entries; length {big_n} needs {} from {tab_off}",
            big_b + big_n.div_ceil(big_b)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_roots_are_accurate_in_every_octant() {
        for n in [1usize, 2, 3, 5, 7, 8, 12, 17, 97, 1000, 1 << 20] {
            for m in (0..n).step_by((n / 50).max(1)) {
                let w = unit_f64(m, n);
                let a = -2.0 * std::f64::consts::PI * m as f64 / n as f64;
                assert!(
                    (w.re - a.cos()).abs() < 4e-16 * (1.0 + (m as f64)),
                    "cos n={n} m={m}"
                );
                assert!(
                    (w.im - a.sin()).abs() < 4e-16 * (1.0 + (m as f64)),
                    "sin n={n} m={m}"
                );
            }
        }
        assert_eq!(unit_f64(1, 4), Complex::new(0.0, -1.0));
        assert_eq!(unit_f64(2, 4), Complex::new(-1.0, 0.0));
    }

    #[test]
    fn four_step_tables_multiply_to_every_root() {
        let rt = Runtime::builder().cpu_only().build().unwrap();
        let n = 1000;
        let b = four_step_split(n);
        assert_eq!(b, 32);
        let t = four_step_twiddles::<f64>(&rt, n).to_vec().unwrap();
        for m in [0, 1, 31, 32, 33, 999] {
            let w = t[m % b] * t[b + m / b];
            assert!((w - unit_f64(m, n)).norm() < 1e-15, "m = {m}");
        }
    }

    #[test]
    fn every_kernel_builds_with_both_halves() {
        for (f, d) in [
            (Family::C2c, DType::C32),
            (Family::C2c, DType::C64),
            (Family::Bluestein, DType::C32),
            (Family::Bluestein, DType::C64),
            (Family::R2c, DType::F32),
            (Family::C2r, DType::F64),
            (Family::Transpose, DType::C32),
            (Family::Transpose, DType::F64),
        ] {
            let k = kernel(f, d);
            assert!(k.has_cpu() && k.gpu().is_some(), "{}", f.name());
        }
        assert!(kernel_by_name("fft_c2c", DType::F32).is_none());
        assert!(kernel_by_name("fft_r2c", DType::F32).is_some());
        assert!(gpu_supports(1024, DType::C32) && !gpu_supports(1024, DType::C64));
        assert!(gpu_supports(12, DType::C32) && gpu_supports(1000, DType::C32));
        assert!(gpu_supports(480, DType::C64) && !gpu_supports(600, DType::C64));
        assert!(!gpu_supports(7, DType::C32) && !gpu_supports(1200, DType::C32));
        assert!(!gpu_supports(0, DType::C32) && gpu_supports(1, DType::C64));
        // Bluestein only for another prime factor, and only while 2n - 1 pads into one pass.
        assert_eq!(bluestein_len(12, DType::C32), None);
        assert_eq!(bluestein_len(3, DType::C64), None);
        assert_eq!(bluestein_len(14, DType::C32), Some(32));
        assert_eq!(bluestein_len(7, DType::C64), Some(16));
        assert_eq!(bluestein_len(511, DType::C32), Some(1024));
        assert_eq!(bluestein_len(512, DType::C32), None);
        assert_eq!(bluestein_len(513, DType::C32), None);
        assert_eq!(bluestein_len(257, DType::C64), None);
        for n in 1..=1100 {
            for d in [DType::C32, DType::C64] {
                assert!(
                    !(gpu_supports(n, d) && bluestein_len(n, d).is_some()),
                    "{n} {d}: one GPU path per length"
                );
            }
        }
        assert!(
            gpu_runs(500, DType::C32) && gpu_runs(256, DType::C64) && gpu_runs(300, DType::C64)
        );
        assert!(!gpu_runs(302, DType::C64) && !gpu_runs(1001, DType::C32));
    }

    #[test]
    fn bluestein_tables_hold_the_chirp_and_the_filter() {
        let rt = Runtime::builder().cpu_only().build().unwrap();
        let n = 5;
        let t = bluestein_chirp::<f64>(&rt, n).to_vec().unwrap();
        assert_eq!(t.len(), n + 16);
        for (k, w) in t.iter().enumerate().take(n) {
            let a = -std::f64::consts::PI * (k * k) as f64 / n as f64;
            assert!((w - Complex::new(a.cos(), a.sin())).norm() < 1e-15, "w_{k}");
        }
        // B / m at j is (1/m) sum_k b_k exp(-2 pi i j k / m), b symmetric.
        for j in [0, 1, 7, 15] {
            let mut s = Complex::new(0.0, 0.0);
            for k in 0..16usize {
                let kk = k.min(16 - k);
                if kk < n {
                    s += t[kk].conj() * unit_f64(j * k, 16);
                }
            }
            assert!((t[n + j] - s / 16.0).norm() < 1e-15, "B_{j}");
        }
    }
}
