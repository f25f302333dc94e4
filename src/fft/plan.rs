//! FFT plans as plain data: which passes a transform runs, over which views of the data, in
//! how many panels. A plan is built without a runtime and without running anything, so it can
//! be inspected and unit-tested; [`FftPlan::cached`] shares one plan per key.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::fft::{bluestein_len, flops, gpu_max_len, gpu_runs, gpu_supports};

/// The direction of a transform: forward `exp(-2 pi i j k / n)`, inverse `exp(+...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `X[k] = sum_j x[j] exp(-2 pi i j k / n)`.
    Forward,
    /// `x[j] = sum_k X[k] exp(+2 pi i j k / n)` (times the normalization).
    Inverse,
}

/// Which transforms are scaled, and by what (as numpy's `norm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Norm {
    /// Forward unscaled, inverse by `1/n`: `ifft(fft(x)) = x`. The default.
    #[default]
    Backward,
    /// Both by `1/sqrt(n)` (unitary).
    Ortho,
    /// Forward by `1/n`, inverse unscaled.
    Forward,
    /// Neither scaled.
    None,
}

impl Norm {
    /// The factor a transform of `n` points in `direction` is multiplied by.
    pub fn scale(self, n: usize, direction: Direction) -> f64 {
        let n = n.max(1) as f64;
        match (self, direction) {
            (Norm::Backward, Direction::Inverse) | (Norm::Forward, Direction::Forward) => 1.0 / n,
            (Norm::Ortho, _) => 1.0 / n.sqrt(),
            _ => 1.0,
        }
    }
}

/// Which processors a plan is made for: it decides the pass lengths (a GPU transforms columns
/// of at most [`gpu_max_len`] points in one pass: lengths `2^a 3^b 5^c` by Stockham, see
/// [`gpu_supports`](crate::kernels::fft::gpu_supports), lengths with another prime factor up
/// to about half that by Bluestein's algorithm, see [`bluestein_len`](crate::kernels::fft::bluestein_len);
/// longer columns in two split passes or by Bluestein's algorithm over passes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The CPU only: any pass length (rustfft).
    Cpu,
    /// GPUs (possibly with the CPU): passes a GPU can run wherever the lengths allow.
    Gpu,
}

/// One pass over the whole data, as tasks over panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// FFT of every column of length `n` of the data (`batch` of them), then, with
    /// `four_step = Some(big_n)`, the four-step twiddle `w_big_n^(column * k)`, then the scale.
    Columns {
        /// Transform length.
        n: usize,
        /// Number of columns.
        batch: usize,
        /// The four-step twiddle's length, if any.
        four_step: Option<usize>,
        /// Whether this pass applies the plan's scale (the last transform pass does).
        scaled: bool,
    },
    /// CPU only: the FFTs of every row (`along_rows`) or column of the `rows x cols` matrix,
    /// out of place, by blocks of whole lines: each task gathers its lines from every panel
    /// holding part of them into a cache-sized buffer, transforms them, and writes its own
    /// panel (row blocks for rows, column panels for columns). Two passes over memory per 2D
    /// transform instead of the four of transposes and passes.
    Lines {
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
        /// Rows (true) or columns.
        along_rows: bool,
        /// Whether this pass applies the plan's scale.
        scaled: bool,
    },
    /// GPU plans, columns longer than one pass: the first half of the FFT of every column of
    /// `n1 n2` points (`batch` of them). Each column, viewed as a column-major `n1 x n2`
    /// matrix, has its rows (`n2` points, `n1` apart) transformed in place and twiddled by
    /// `w_(n1 n2)^(j1 k2)` ([`fft_split_rows`](crate::kernels::fft::fft_split_rows)).
    SplitRows {
        /// Rows of each column's matrix (the second half's length).
        n1: usize,
        /// Columns of each column's matrix (this half's length).
        n2: usize,
        /// Number of columns of `n1 n2` points.
        batch: usize,
    },
    /// The second half, after [`Pass::SplitRows`]: the `n2` columns of `n1` points of every
    /// column's matrix transformed and written transposed into fresh panels of the same
    /// layout, which then hold the columns' transforms in natural order; then the four-step
    /// twiddle of an enclosing [`Algorithm::FourStep`] (`four_step`), then the scale
    /// ([`fft_split_cols`](crate::kernels::fft::fft_split_cols)).
    SplitCols {
        /// Rows of each column's matrix (this half's length).
        n1: usize,
        /// Columns of each column's matrix.
        n2: usize,
        /// Number of columns of `n1 n2` points.
        batch: usize,
        /// The four-step twiddle's length, if any.
        four_step: Option<usize>,
        /// Whether this pass applies the plan's scale.
        scaled: bool,
    },
    /// GPU plans, lengths with no one- or two-pass transform: Bluestein's algorithm with its
    /// convolution of `m >= 2n - 1` points (a power of two) as column passes: every column of
    /// `n` points times a chirp, padded to `m` ([`chirp_pad`](crate::kernels::fft::chirp_pad)),
    /// a forward FFT of `m` points (one pass or split) times the filter, an inverse one, and
    /// the first `n` points times the chirp and the scale
    /// ([`chirp_trim`](crate::kernels::fft::chirp_trim)) into fresh panels.
    Bluestein {
        /// Transform length.
        n: usize,
        /// Convolution length.
        m: usize,
        /// Number of columns.
        batch: usize,
        /// Whether this pass applies the plan's scale.
        scaled: bool,
    },
    /// The data viewed as a column-major `rows x cols` matrix is transposed (into
    /// `cols x rows`).
    Transpose {
        /// Rows of the view before the pass.
        rows: usize,
        /// Columns of the view before the pass.
        cols: usize,
    },
}

/// How a transform is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Each dimension's columns transformed in one pass (rustfft on the CPU, Stockham in
    /// workgroup memory on a GPU), with transposes between dimensions.
    Direct,
    /// CPU 2D transforms: the rows, then the columns, each pass a [`Pass::Lines`].
    Lines,
    /// A 1D transform of `n1 n2` points as `n1 x n2` (Bailey's four-step / six-step method):
    /// transpose, `n1` FFTs of length `n2` with twiddles, transpose, `n2` FFTs of length `n1`,
    /// transpose.
    FourStep {
        /// Rows of the first view (the second FFT's length).
        n1: usize,
        /// Columns of the first view (the first FFT's length).
        n2: usize,
    },
}

/// A complex-to-complex FFT of a 1D, 2D or 3D array, planned.
///
/// The data is a `DArray` whose column-major element order is the array's (dimension 0
/// fastest): a 1D transform takes an `n x 1` vector, a 2D one an `n0 x n1` matrix, a 3D one
/// an `n0 x (n1 n2)` matrix. Each pass runs as tasks over contiguous panels of the data, so a
/// transform runs on any mix of processors through datadeps.
///
/// ```
/// use tessera::DType;
/// use tessera::fft::{Algorithm, Direction, FftPlan, Norm, Pass, Target};
///
/// let plan = FftPlan::new(&[1 << 20], Direction::Forward, Norm::Backward, DType::C32, Target::Gpu)?;
/// assert_eq!(plan.algorithm(), Algorithm::FourStep { n1: 1024, n2: 1024 });
/// assert_eq!(plan.passes().len(), 5); // T, F(+twiddle), T, F, T
/// assert!(matches!(plan.passes()[1], Pass::Columns { n: 1024, four_step: Some(1_048_576), .. }));
/// assert_eq!(plan.flops(), 5.0 * 1_048_576.0 * 20.0);
/// # Ok::<(), tessera::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FftPlan {
    dims: Vec<usize>,
    direction: Direction,
    norm: Norm,
    dtype: DType,
    target: Target,
    algorithm: Algorithm,
    passes: Vec<Pass>,
    panels: usize,
    /// Columns transformed side by side (a batched 1D plan, [`FftPlan::batched`]); 1 otherwise.
    batch: usize,
}

/// Below this length a CPU 1D transform is one task (rustfft in cache beats any split).
pub const CPU_FOUR_STEP_MIN: usize = 1 << 16;

impl FftPlan {
    /// Plans a transform of an array with dimensions `dims` (1 to 3 of them, dimension 0
    /// fastest) of complex element type `dtype` (`C32` or `C64`) for `target`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for no dimension, more than three, a zero length, or a real
    /// `dtype`; [`Error::NoProcessor`] when `target` is [`Target::Gpu`] and a length is not
    /// one a GPU can run: a dimension of an N-D array, or a 1D length that is not a product of
    /// two such, must take one pass (see [`gpu_runs`](crate::kernels::fft::gpu_runs)), two
    /// passes (a product of two one-pass lengths), or Bluestein's algorithm over passes (up to
    /// [`gpu_max_len`]`^2 / 2` points: 2^19 for `C32`, 2^17 for `C64`). Plan for
    /// [`Target::Cpu`] then.
    pub fn new(
        dims: &[usize],
        direction: Direction,
        norm: Norm,
        dtype: DType,
        target: Target,
    ) -> Result<FftPlan> {
        let bad = |detail: String| {
            Err(Error::ShapeMismatch {
                op: "fft".into(),
                detail,
            })
        };
        if dims.is_empty() || dims.len() > 3 {
            return bad(format!("{} dimensions; 1 to 3 are supported", dims.len()));
        }
        if dims.contains(&0) {
            return bad(format!("a zero-length dimension in {dims:?}"));
        }
        if !matches!(dtype, DType::C32 | DType::C64) {
            return bad(format!("{dtype} data; FFTs take c32 or c64"));
        }
        let total: usize = dims.iter().product();
        if u32::try_from(total).is_err() {
            return bad(format!("{total} points; at most 2^32 - 1 are supported"));
        }
        let algorithm = if dims.len() == 1 {
            one_dim_algorithm(dims[0], dtype, target)?
        } else {
            if target == Target::Gpu
                && let Some(&n) = dims.iter().find(|&&n| {
                    gpu_len(n, dtype).is_none() && gpu_long_bluestein(n, dtype).is_none()
                })
            {
                return Err(no_gpu(n, dtype));
            }
            if target == Target::Cpu && dims.len() == 2 {
                Algorithm::Lines
            } else {
                Algorithm::Direct
            }
        };
        let mut passes = passes(dims, algorithm);
        if target == Target::Gpu {
            passes = split_long_columns(passes, dtype);
        }
        let plan = FftPlan {
            dims: dims.to_vec(),
            direction,
            norm,
            dtype,
            target,
            algorithm,
            passes,
            panels: default_panels(total, dtype),
            batch: 1,
        };
        Ok(plan)
    }

    /// Plans the 1D transforms of `batch` columns of `n` points side by side (every column of
    /// an `n x batch` array, each on its own): one column pass over the array's tiles, which
    /// must hold whole columns; on GPUs, columns longer than one pass are split as in
    /// [`FftPlan::new`]'s multi-dimensional plans.
    ///
    /// ```
    /// use tessera::DType;
    /// use tessera::fft::{Direction, FftPlan, Norm, Pass, Target};
    ///
    /// let plan = FftPlan::batched(4096, 64, Direction::Forward, Norm::Backward, DType::C32, Target::Gpu)?;
    /// assert_eq!(plan.batch(), 64);
    /// assert!(matches!(plan.passes()[0], Pass::SplitRows { n1: 64, n2: 64, batch: 64 }));
    /// assert_eq!(plan.scale(), 1.0);
    /// # Ok::<(), tessera::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`FftPlan::new`] for a multi-dimensional array with a dimension of `n` points;
    /// [`Error::ShapeMismatch`] for a zero `batch`.
    pub fn batched(
        n: usize,
        batch: usize,
        direction: Direction,
        norm: Norm,
        dtype: DType,
        target: Target,
    ) -> Result<FftPlan> {
        // The checks and GPU limits of a dimension of an N-D plan.
        FftPlan::new(&[n, 1], direction, norm, dtype, target)?;
        if batch == 0
            || n.checked_mul(batch)
                .is_none_or(|t| u32::try_from(t).is_err())
        {
            return Err(Error::ShapeMismatch {
                op: "fft".into(),
                detail: format!("{batch} columns of {n} points; 1 to 2^32 - 1 points in all"),
            });
        }
        let mut passes = vec![Pass::Columns {
            n,
            batch,
            four_step: None,
            scaled: true,
        }];
        if target == Target::Gpu {
            passes = split_long_columns(passes, dtype);
        }
        Ok(FftPlan {
            dims: vec![n],
            direction,
            norm,
            dtype,
            target,
            algorithm: Algorithm::Direct,
            passes,
            panels: default_panels(n * batch, dtype),
            batch,
        })
    }

    /// The plan for the same key from a process-wide cache, built on first use.
    ///
    /// # Errors
    /// As [`FftPlan::new`].
    pub fn cached(
        dims: &[usize],
        direction: Direction,
        norm: Norm,
        dtype: DType,
        target: Target,
    ) -> Result<Arc<FftPlan>> {
        type Key = (Vec<usize>, Direction, Norm, DType, Target);
        static CACHE: OnceLock<Mutex<HashMap<Key, Arc<FftPlan>>>> = OnceLock::new();
        let key = (dims.to_vec(), direction, norm, dtype, target);
        let cache = CACHE.get_or_init(Default::default);
        if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(p.clone());
        }
        let plan = Arc::new(FftPlan::new(dims, direction, norm, dtype, target)?);
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, plan.clone());
        Ok(plan)
    }

    /// The same plan with the data split into `panels` contiguous panels per pass (at least
    /// one; more panels, more and smaller tasks). Tests use it to exercise many panels at
    /// small sizes.
    ///
    /// # Panics
    /// If `panels` is zero.
    #[track_caller]
    pub fn with_panels(mut self, panels: usize) -> FftPlan {
        assert!(panels > 0, "a plan needs at least one panel");
        self.panels = panels;
        self
    }

    /// The array's dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// Points per transform (the product of the dimensions; a batched plan's column length).
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Columns transformed side by side: [`FftPlan::batched`]'s `batch`, 1 for other plans.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Whether the array is empty (never: plans reject zero lengths).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The direction.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The normalization.
    pub fn norm(&self) -> Norm {
        self.norm
    }

    /// The complex element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The processors the plan is made for.
    pub fn target(&self) -> Target {
        self.target
    }

    /// How the transform is computed.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The passes, in order.
    pub fn passes(&self) -> &[Pass] {
        &self.passes
    }

    /// Contiguous panels per pass (tasks per FFT pass; a transpose pass has up to the square).
    /// A batched plan's panels are its array's tiles.
    pub fn panels(&self) -> usize {
        self.panels.min(self.len() * self.batch)
    }

    /// The factor the result is multiplied by.
    pub fn scale(&self) -> f64 {
        self.norm.scale(self.len(), self.direction)
    }

    /// The conventional flop count, `5 N log2 N` for `N` points (whatever the algorithm), per
    /// transform, times the batch.
    pub fn flops(&self) -> f64 {
        flops(self.len(), self.batch)
    }
}

impl fmt::Display for FftPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims.iter().map(|d| d.to_string()).collect();
        let batch = if self.batch > 1 {
            format!(", {} columns", self.batch)
        } else {
            String::new()
        };
        write!(
            f,
            "{:?} {} FFT of {}{batch} ({:?}, {} panels):",
            self.direction,
            self.dtype,
            dims.join("x"),
            self.algorithm,
            self.panels()
        )?;
        for p in &self.passes {
            match p {
                Pass::Columns {
                    n,
                    batch,
                    four_step,
                    ..
                } => {
                    write!(f, " F{n}x{batch}")?;
                    if four_step.is_some() {
                        f.write_str("+tw")?;
                    }
                }
                Pass::SplitRows { n1, n2, batch } => write!(f, " R{n1}x{n2}:{batch}")?,
                Pass::SplitCols {
                    n1,
                    n2,
                    batch,
                    four_step,
                    ..
                } => {
                    write!(f, " C{n1}x{n2}:{batch}")?;
                    if four_step.is_some() {
                        f.write_str("+tw")?;
                    }
                }
                Pass::Bluestein { n, m, batch, .. } => write!(f, " B{n}/{m}x{batch}")?,
                Pass::Transpose { rows, cols } => write!(f, " T{rows}x{cols}")?,
                Pass::Lines {
                    rows,
                    cols,
                    along_rows,
                    ..
                } => write!(f, " L{}{rows}x{cols}", if *along_rows { 'r' } else { 'c' })?,
            }
        }
        Ok(())
    }
}

fn no_gpu(n: usize, dtype: DType) -> Error {
    let max = gpu_max_len(dtype);
    Error::NoProcessor {
        kernel: "fft_c2c".into(),
        dtype,
        scope: "gpu".into(),
        reasons: format!(
            "a GPU transforms a column in one pass when its length is 2^a 3^b 5^c up to {max} points of {dtype} or another length up to {} (Bluestein), in two passes when the length is a product of two such lengths, and by Bluestein's algorithm over several passes up to {} points; {n} is none of these (plan for the CPU)",
            max / 2,
            max * max / 2,
        ),
    }
}

/// Relative cost of one more pass over a column's memory, per point, in the units of
/// [`column_cost`] (`log2` of a length per point): a column pass in workgroup memory is bound
/// by its loads and stores, so a pass more costs about as much as a few radix stages.
const PASS_COST: f64 = 16.0;

/// The GPU cost of transforming one column of `n` points in one pass, per the conventional
/// count (`n log2 n` for Stockham; Bluestein's two transforms of `m` points and its products),
/// or `None` when no single pass takes it.
fn column_cost(n: usize, dtype: DType) -> Option<f64> {
    let nlog = |n: usize| n as f64 * (n as f64).log2().max(1.0);
    if gpu_supports(n, dtype) {
        Some(nlog(n) + PASS_COST * n as f64)
    } else {
        bluestein_len(n, dtype).map(|m| 2.0 * nlog(m) + 4.0 * m as f64 + PASS_COST * m as f64)
    }
}

/// The cheapest way to write `n` as `n1 n2`, both factors at least 2, with costs from `cost`
/// (`None`: the factor is not possible), counted as `n2 cost(n1) + n1 cost(n2)`; ties go to
/// the most balanced split, then the larger `n2`.
fn best_split(n: usize, cost: impl Fn(usize) -> Option<f64>) -> Option<(usize, usize, f64)> {
    let mut best: Option<(usize, usize, f64)> = None;
    // From the square root down, so the first candidates are the most balanced.
    let mut a = (n as f64).sqrt() as usize + 1;
    while a * a > n {
        a -= 1;
    }
    while a >= 2 {
        if n.is_multiple_of(a) {
            let b = n / a;
            // Both orientations: (n1, n2) = (a, b) and (b, a); a <= b, so (a, b) first.
            for (n1, n2) in [(a, b), (b, a)] {
                if let (Some(c1), Some(c2)) = (cost(n1), cost(n2)) {
                    let c = n2 as f64 * c1 + n1 as f64 * c2;
                    // Strictly cheaper wins (1e-9 relative slack, so equal costs tie); among
                    // ties the first, most balanced candidate stays.
                    if best.is_none_or(|(_, _, bc)| c < bc * (1.0 - 1e-9)) {
                        best = Some((n1, n2, c));
                    }
                }
            }
        }
        a -= 1;
    }
    best
}

/// How a GPU transforms columns of `n` points: in one pass (`Some(None)`), as a split
/// `n1 x n2` in two passes (`Some(Some((n1, n2)))`), or not at all (`None`).
pub(crate) fn gpu_len(n: usize, dtype: DType) -> Option<Option<(usize, usize)>> {
    if gpu_runs(n, dtype) {
        return Some(None);
    }
    best_split(n, |f| column_cost(f, dtype)).map(|(n1, n2, _)| Some((n1, n2)))
}

/// The convolution length `m` at which a GPU runs a column FFT of `n` points by Bluestein's
/// algorithm over several passes ([`Pass::Bluestein`]), if `m = (2n - 1).next_power_of_two()`
/// takes two passes (`m <= `[`gpu_max_len`]`^2`; one pass is a one-pass Bluestein length).
pub(crate) fn gpu_long_bluestein(n: usize, dtype: DType) -> Option<usize> {
    let m = (2 * n).checked_sub(1)?.checked_next_power_of_two()?;
    matches!(gpu_len(m, dtype), Some(Some(_))).then_some(m)
}

/// The GPU cost of a column of `n` points in one or two passes (see [`gpu_len`]).
fn gpu_len_cost(n: usize, dtype: DType) -> Option<f64> {
    column_cost(n, dtype).or_else(|| best_split(n, |f| column_cost(f, dtype)).map(|(_, _, c)| c))
}

/// The algorithm for a 1D transform of `n` points.
fn one_dim_algorithm(n: usize, dtype: DType, target: Target) -> Result<Algorithm> {
    match target {
        Target::Gpu => {
            if gpu_runs(n, dtype) {
                return Ok(Algorithm::Direct);
            }
            // The four-step split whose column passes (each one or two passes over the data)
            // cost least; the three transposes are the same for every split. The first FFT
            // (length n2) is the longer on ties.
            match best_split(n, |f| gpu_len_cost(f, dtype)) {
                Some((n1, n2, _)) => Ok(Algorithm::FourStep { n1, n2 }),
                // One column pass, made a Bluestein pass by `split_long_columns`.
                None if gpu_long_bluestein(n, dtype).is_some() => Ok(Algorithm::Direct),
                None => Err(no_gpu(n, dtype)),
            }
        }
        Target::Cpu => {
            if n < CPU_FOUR_STEP_MIN {
                return Ok(Algorithm::Direct);
            }
            // The divisor of n closest to sqrt(n) from below; a prime length stays one task
            // (rustfft's Rader or Bluestein).
            let mut n1 = (n as f64).sqrt() as usize;
            while n1 > 1 && !n.is_multiple_of(n1) {
                n1 -= 1;
            }
            if n1 < 16 {
                Ok(Algorithm::Direct)
            } else {
                Ok(Algorithm::FourStep { n1, n2: n / n1 })
            }
        }
    }
}

/// GPU plans: every column pass whose length a GPU cannot take in one pass becomes a
/// [`Pass::SplitRows`] and a [`Pass::SplitCols`] ([`gpu_len`]; the plan checked that every
/// length can be split).
fn split_long_columns(passes: Vec<Pass>, dtype: DType) -> Vec<Pass> {
    let mut out = Vec::with_capacity(passes.len() + 2);
    for pass in passes {
        match pass {
            Pass::Columns {
                n,
                batch,
                four_step,
                scaled,
            } => match gpu_len(n, dtype) {
                None => {
                    let m = gpu_long_bluestein(n, dtype)
                        .unwrap_or_else(|| unreachable!("plans check that a GPU takes {n}"));
                    debug_assert!(four_step.is_none(), "four-step factors take two passes");
                    out.push(Pass::Bluestein {
                        n,
                        m,
                        batch,
                        scaled,
                    });
                }
                Some(Some((n1, n2))) => {
                    out.push(Pass::SplitRows { n1, n2, batch });
                    out.push(Pass::SplitCols {
                        n1,
                        n2,
                        batch,
                        four_step,
                        scaled,
                    });
                }
                _ => out.push(pass),
            },
            _ => out.push(pass),
        }
    }
    out
}

/// The passes of a transform of `dims` by `algorithm`.
///
/// Multi-dimensional: the data rotates through `d` transposes, each moving the leading
/// dimension to the end, each followed by the FFT of the new leading dimension; after `d` of
/// them the order is the original one again and every dimension was transformed.
fn passes(dims: &[usize], algorithm: Algorithm) -> Vec<Pass> {
    let total: usize = dims.iter().product();
    match algorithm {
        Algorithm::FourStep { n1, n2 } => vec![
            Pass::Transpose { rows: n1, cols: n2 },
            Pass::Columns {
                n: n2,
                batch: n1,
                four_step: Some(total),
                scaled: false,
            },
            Pass::Transpose { rows: n2, cols: n1 },
            Pass::Columns {
                n: n1,
                batch: n2,
                four_step: None,
                scaled: true,
            },
            Pass::Transpose { rows: n1, cols: n2 },
        ],
        Algorithm::Lines => vec![
            Pass::Lines {
                rows: dims[0],
                cols: dims[1],
                along_rows: true,
                scaled: false,
            },
            Pass::Lines {
                rows: dims[0],
                cols: dims[1],
                along_rows: false,
                scaled: true,
            },
        ],
        Algorithm::Direct if dims.len() == 1 => vec![Pass::Columns {
            n: total,
            batch: 1,
            four_step: None,
            scaled: true,
        }],
        Algorithm::Direct => {
            let d = dims.len();
            let mut out = Vec::with_capacity(2 * d);
            for i in 0..d {
                let lead = dims[i];
                let next = dims[(i + 1) % d];
                out.push(Pass::Transpose {
                    rows: lead,
                    cols: total / lead,
                });
                out.push(Pass::Columns {
                    n: next,
                    batch: total / next,
                    four_step: None,
                    scaled: i == d - 1,
                });
            }
            out
        }
    }
}

/// Panels per pass: about the square root of the data in 16 Ki-element units (a 4096 x 4096
/// array: 32 panels of 4 MiB for c32, so a transpose pass is 1024 tasks of 128 x 128 blocks),
/// and at least 4.
fn default_panels(total: usize, dtype: DType) -> usize {
    let units = (total * dtype.size()).div_ceil(128 * 1024);
    ((units as f64).sqrt().ceil() as usize)
        .clamp(4, 256)
        .min(total)
}
