//! FFT plans as plain data: which passes a transform runs, over which views of the data, in
//! how many panels. A plan is built without a runtime and without running anything, so it can
//! be inspected and unit-tested; [`FftPlan::cached`] shares one plan per key.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::fft::{flops, gpu_max_len, gpu_runs};

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
/// to about half that by Bluestein's algorithm, see [`bluestein_len`](crate::kernels::fft::bluestein_len)).
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
    /// one a GPU can run (lengths neither `2^a 3^b 5^c` up to [`gpu_max_len`] nor with a
    /// [`bluestein_len`](crate::kernels::fft::bluestein_len), i.e. with another prime factor
    /// and above 512 points for `C32` and 256 for `C64`; 1D lengths above [`gpu_max_len`] that
    /// are not powers of two; multi-dimensional lengths above [`gpu_max_len`]): plan for
    /// [`Target::Cpu`].
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
                && let Some(&n) = dims.iter().find(|&&n| !gpu_runs(n, dtype))
            {
                return Err(no_gpu(n, dtype));
            }
            if target == Target::Cpu && dims.len() == 2 {
                Algorithm::Lines
            } else {
                Algorithm::Direct
            }
        };
        let passes = passes(dims, algorithm);
        let plan = FftPlan {
            dims: dims.to_vec(),
            direction,
            norm,
            dtype,
            target,
            algorithm,
            passes,
            panels: default_panels(total, dtype),
        };
        Ok(plan)
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

    /// Total number of points.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
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
    pub fn panels(&self) -> usize {
        self.panels.min(self.len())
    }

    /// The factor the result is multiplied by.
    pub fn scale(&self) -> f64 {
        self.norm.scale(self.len(), self.direction)
    }

    /// The conventional flop count, `5 N log2 N` for `N` points (whatever the algorithm).
    pub fn flops(&self) -> f64 {
        flops(self.len(), 1)
    }
}

impl fmt::Display for FftPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims.iter().map(|d| d.to_string()).collect();
        write!(
            f,
            "{:?} {} FFT of {} ({:?}, {} panels):",
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
    Error::NoProcessor {
        kernel: "fft_c2c".into(),
        dtype,
        scope: "gpu".into(),
        reasons: format!(
            "a GPU transforms powers of two up to {} points of {dtype} in one pass, and other lengths up to {} (Bluestein), and {n} is neither (plan for the CPU)",
            gpu_max_len(dtype),
            gpu_max_len(dtype) / 2
        ),
    }
}

/// The algorithm for a 1D transform of `n` points.
fn one_dim_algorithm(n: usize, dtype: DType, target: Target) -> Result<Algorithm> {
    match target {
        Target::Gpu => {
            let max = gpu_max_len(dtype);
            if gpu_runs(n, dtype) {
                Ok(Algorithm::Direct)
            } else if n.is_power_of_two() && n <= max * max {
                // Balanced split, the first FFT (length n2) the longer.
                let bits = n.trailing_zeros();
                let n1 = 1usize << (bits / 2);
                Ok(Algorithm::FourStep { n1, n2: n / n1 })
            } else {
                Err(no_gpu(n, dtype))
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
