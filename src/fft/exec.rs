//! Running an [`FftPlan`] on a `DArray`: every pass as tasks over contiguous panels of the
//! data, all in one datadeps region, so passes overlap where their panels allow and the tasks
//! go to whichever processors of the scope the cost model picks.
//!
//! Math names: the data between passes is a sequence of *segments* (contiguous runs of the
//! linear element order, each a chunk); a pass views the data as a column-major `a x b`
//! matrix, and every segment holds whole columns of it.

use std::collections::HashMap;
use std::sync::Mutex;

use num_complex::Complex;

use crate::dtype::Element;

use super::plan::{Algorithm, FftPlan, Pass, Target, gpu_len};
use crate::array::DArray;
use crate::data::chunk::Chunk;
use crate::error::{Error, Result};
use crate::kernels::fft::{
    FftReal, FourStep, Placed, TransposeBlock, bluestein_chirp, chirp_pad, chirp_trim,
    column_tables, fft_cols, fft_cols_gpu, fft_lines, fft_split_cols, fft_split_cols_filtered,
    fft_split_rows, four_step_twiddles, transpose, transpose_first, twiddles,
};
use crate::runtime::Runtime;
use crate::runtime::region::Region;
use crate::runtime::scope::Scope;
use crate::{Access, Read, ReadWrite, Write};

/// Scratch panels by (pass, slot).
type Scratch<T> = HashMap<(usize, u8), Vec<Segment<T>>>;

/// The twiddle table of a column pass and its other table, if any.
type Tables<T> = (Chunk<Complex<T>>, Option<Chunk<Complex<T>>>);

/// A contiguous run of the data: elements `start .. start + len` of the linear order.
#[derive(Clone)]
struct Segment<T: FftReal>
where
    Complex<T>: Element,
{
    start: usize,
    len: usize,
    chunk: Chunk<Complex<T>>,
}

/// A rectangle `rows r0..r1 x cols c0..c1` of the current `a x b` view, held by `chunk`
/// starting at element `off` with columns `ld` apart.
struct Rect<'a, T: FftReal>
where
    Complex<T>: Element,
{
    chunk: &'a Chunk<Complex<T>>,
    r0: usize,
    r1: usize,
    c0: usize,
    c1: usize,
    off: usize,
    ld: usize,
}

/// A plan bound to a runtime: its twiddle tables (made once, `Read` by every transform task,
/// so they stay resident on the devices that use them) and the scratch panels of its
/// intermediate passes (allocated on first use and reused: a repeated transform touches no
/// fresh memory but its result's, and none with [`Fft::execute_into`]).
///
/// Calls on one `Fft` from several threads are correct: their tasks are ordered by their
/// accesses to the shared scratch.
///
/// ```
/// use num_complex::Complex;
/// use tessera::{Blocks, DArray, DType, Runtime, Scope};
/// use tessera::fft::{Direction, Fft, FftPlan, Norm, Target};
///
/// let rt = Runtime::builder().cpu_only().build()?;
/// let plan = FftPlan::new(&[16, 8], Direction::Forward, Norm::Backward, DType::C64, Target::Cpu)?;
/// let fft = Fft::<f64>::new(&rt, plan)?;
/// let x = DArray::from_fn(&rt, 16, 8, Blocks::new(16, 4), |_, _| Complex::new(1.0, 0.0));
/// let y = fft.execute(&x, &Scope::all())?;
/// fft.execute_into(&x, &y, &Scope::all())?; // again, into the same result tiles
/// let v = y.to_vec()?;
/// assert_eq!(v[0], Complex::new(128.0, 0.0));
/// assert!(v[1..].iter().all(|z| z.norm() < 1e-12));
/// # Ok::<(), tessera::Error>(())
/// ```
pub struct Fft<T: FftReal>
where
    Complex<T>: Element,
{
    plan: FftPlan,
    rt: Runtime,
    /// Per pass: the twiddle table and the other table (four-step, split, Bluestein's chirp)
    /// of a `Columns`, `SplitRows` or `SplitCols` pass.
    tables: Vec<Option<Tables<T>>>,
    /// Scratch panels by (pass, slot): the outputs of intermediate transposes and split
    /// passes, Bluestein's padded panels, the copy of the input before a first split pass.
    scratch: Mutex<Scratch<T>>,
    /// Per pass: the tables of a [`Pass::Bluestein`].
    long: Vec<Option<LongBluestein<T>>>,
}

impl<T: FftReal> Fft<T>
where
    Complex<T>: Element,
{
    /// Binds `plan` to `rt`, computing its twiddle tables (in f64, rounded to `T`).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the plan is for another element type than `Complex<T>`.
    pub fn new(rt: &Runtime, plan: FftPlan) -> Result<Fft<T>> {
        if plan.dtype() != T::COMPLEX {
            return Err(Error::ShapeMismatch {
                op: "fft".into(),
                detail: format!("a plan for {} used with {} data", plan.dtype(), T::COMPLEX),
            });
        }
        let tables = plan
            .passes()
            .iter()
            .map(|p| match *p {
                // GPU plans: the tables of the call `fft_cols_gpu` picks (Stockham or
                // Bluestein). CPU plans: no Bluestein tables (rustfft needs none).
                Pass::Columns { n, four_step, .. } if plan.target() == Target::Gpu => {
                    let (tw, tab) = column_tables::<T>(rt, n, four_step);
                    Some((tw, Some(tab)))
                }
                Pass::Columns { n, four_step, .. } => Some((
                    twiddles::<T>(rt, n),
                    four_step.map(|big_n| four_step_twiddles::<T>(rt, big_n)),
                )),
                Pass::SplitRows { n1, n2, .. } => {
                    let (tw, tab) = column_tables::<T>(rt, n2, Some(n1 * n2));
                    Some((tw, Some(tab)))
                }
                Pass::SplitCols { n1, four_step, .. } => {
                    let (tw, tab) = column_tables::<T>(rt, n1, four_step);
                    Some((tw, Some(tab)))
                }
                Pass::Transpose { .. } | Pass::Lines { .. } | Pass::Bluestein { .. } => None,
            })
            .collect();
        let long = plan
            .passes()
            .iter()
            .map(|p| match *p {
                Pass::Bluestein { n, m, .. } => Some(LongBluestein::new(rt, n, m, plan.dtype())),
                _ => None,
            })
            .collect();
        let scratch = Mutex::new(HashMap::new());
        Ok(Fft {
            plan,
            rt: rt.clone(),
            tables,
            scratch,
            long,
        })
    }

    /// The plan.
    pub fn plan(&self) -> &FftPlan {
        &self.plan
    }

    /// The transform of `x` (shaped as the plan says: see [`FftPlan`]) with the processors of
    /// `scope`, as a new array of the same shape tiled in the plan's panels. `x` is not
    /// modified.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `x` is not shaped as the plan says; task failures.
    pub fn execute(&self, x: &DArray<Complex<T>>, scope: &Scope) -> Result<DArray<Complex<T>>> {
        self.check_input(x)?;
        let out = self.result_segments(x);
        self.run(x, &out, scope)?;
        Ok(to_darray(&self.rt, x.rows(), x.cols(), out))
    }

    /// The transform of `x` written into `out`, an array this `Fft` returned before (its
    /// tiling is the plan's): no memory is allocated.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `x` is not shaped as the plan says or `out` is not tiled
    /// as this plan's results; task failures.
    pub fn execute_into(
        &self,
        x: &DArray<Complex<T>>,
        out: &DArray<Complex<T>>,
        scope: &Scope,
    ) -> Result<()> {
        self.check_input(x)?;
        let want = self.result_segments(x);
        let fits = out.rows() == x.rows()
            && out.cols() == x.cols()
            && out.tiles().len() == want.len()
            && out
                .tiles()
                .iter()
                .zip(&want)
                .all(|(t, w)| (t.rows(), t.cols()) == (w.chunk.rows(), w.chunk.cols()));
        if !fits {
            return Err(Error::ShapeMismatch {
                op: "fft".into(),
                detail: format!(
                    "the output must be tiled as this plan's results ({} tiles of {}x{}), got {out:?}",
                    want.len(),
                    want[0].chunk.rows(),
                    want[0].chunk.cols()
                ),
            });
        }
        let segs: Vec<Segment<T>> = want
            .iter()
            .zip(out.tiles())
            .map(|(w, t)| Segment {
                start: w.start,
                len: w.len,
                chunk: t.clone(),
            })
            .collect();
        self.run(x, &segs, scope)
    }

    fn check_input(&self, x: &DArray<Complex<T>>) -> Result<()> {
        let plan = &self.plan;
        let dims = plan.dims();
        let n0 = dims[0];
        if plan.batch() > 1 {
            if x.rows() == n0 && x.cols() == plan.batch() && x.mt() == 1 {
                return Ok(());
            }
            return Err(Error::ShapeMismatch {
                op: "fft".into(),
                detail: format!(
                    "a plan for {} columns of {n0} points takes a {n0}x{} array in tiles of whole columns, got {x:?}",
                    plan.batch(),
                    plan.batch()
                ),
            });
        }
        let ok_shape = if dims.len() == 1 {
            x.rows() == n0 && x.cols() == 1
        } else {
            x.rows() == n0 && x.rows() * x.cols() == plan.len()
        };
        if ok_shape {
            return Ok(());
        }
        Err(Error::ShapeMismatch {
            op: "fft".into(),
            detail: format!(
                "a plan for {dims:?} takes a {}x{} array ({}), got {}x{}",
                n0,
                plan.len() / n0,
                if dims.len() == 1 {
                    "an n x 1 vector"
                } else {
                    "dimension 0 by rows, the others by columns"
                },
                x.rows(),
                x.cols(),
            ),
        })
    }

    /// The index of the pass that writes the result: the last transpose or split-columns
    /// pass, or none (a 1D transform in one pass, whose result is a copy of the input
    /// transformed in place).
    fn writer(&self) -> Option<usize> {
        self.plan.passes().iter().rposition(|p| {
            matches!(
                p,
                Pass::Transpose { .. } | Pass::SplitCols { .. } | Pass::Bluestein { .. }
            )
        })
    }

    /// The index of the last transpose, which shapes the result's panels (a split-columns
    /// pass after it keeps its panels).
    fn last_transpose(&self) -> Option<usize> {
        self.plan
            .passes()
            .iter()
            .rposition(|p| matches!(p, Pass::Transpose { .. }))
    }

    /// Fresh panels for the result of transforming `x`: a batched plan's are shaped like
    /// `x`'s tiles (whole columns).
    fn result_segments(&self, x: &DArray<Complex<T>>) -> Vec<Segment<T>> {
        let (vector, rows) = (x.cols() == 1, x.rows());
        if self.plan.batch() > 1 {
            let nb = x.tile_size().1;
            return x
                .tiles()
                .iter()
                .enumerate()
                .map(|(j, t)| Segment {
                    start: j * nb * rows,
                    len: t.len(),
                    chunk: Chunk::zeros(&self.rt, rows, t.cols()),
                })
                .collect();
        }
        let tile_rows = if vector { None } else { Some(rows) };
        if self.plan.algorithm() == Algorithm::Lines {
            // Column panels of the rows x cols result.
            let cols = self.plan.len() / rows;
            return new_segments(
                &self.rt,
                (cols, rows),
                self.lines_blocks(),
                Some(Some(rows)),
            );
        }
        match self.last_transpose() {
            Some(i) => {
                let Pass::Transpose { rows: a, cols: b } = self.plan.passes()[i] else {
                    unreachable!("last_transpose names a transpose pass")
                };
                new_segments(&self.rt, (a, b), self.plan.panels(), Some(tile_rows))
            }
            None => {
                let n = self.plan.len();
                vec![Segment {
                    start: 0,
                    len: n,
                    chunk: Chunk::zeros(&self.rt, n, 1),
                }]
            }
        }
    }

    /// Blocks per [`Pass::Lines`] pass: twice the panels (smaller blocks keep a task's lines in
    /// cache; a column task reads every row block, so not too many).
    fn lines_blocks(&self) -> usize {
        2 * self.plan.panels()
    }

    /// Scratch row blocks of a rows pass (`i`): `start` is the first row, `len` the rows.
    fn row_blocks(&self, i: usize, rows: usize, cols: usize) -> Vec<Segment<T>> {
        let mut s = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        s.entry((i, 0))
            .or_insert_with(|| {
                let hb = rows.div_ceil(self.lines_blocks().clamp(1, rows));
                (0..rows.div_ceil(hb))
                    .map(|b| {
                        let h = hb.min(rows - b * hb);
                        Segment {
                            start: b * hb,
                            len: h,
                            chunk: Chunk::zeros(&self.rt, h, cols),
                        }
                    })
                    .collect()
            })
            .clone()
    }

    /// Scratch panels of intermediate split-columns or Bluestein pass `i`: panels like `segs`.
    fn scratch_like(&self, i: usize, segs: &[Segment<T>]) -> Vec<Segment<T>> {
        self.scratch_scaled(i, 0, segs, 1, 1)
    }

    /// Scratch panels `slot` of pass `i`: `segs` with their lengths and starts times
    /// `num / den` (Bluestein's padded columns).
    fn scratch_scaled(
        &self,
        i: usize,
        slot: u8,
        segs: &[Segment<T>],
        num: usize,
        den: usize,
    ) -> Vec<Segment<T>> {
        let mut s = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        s.entry((i, slot))
            .or_insert_with(|| {
                segs.iter()
                    .map(|g| {
                        let chunk = if num == den {
                            Chunk::zeros(&self.rt, g.chunk.rows(), g.chunk.cols())
                        } else {
                            Chunk::zeros(&self.rt, g.len / den * num, 1)
                        };
                        Segment {
                            start: g.start / den * num,
                            len: g.len / den * num,
                            chunk,
                        }
                    })
                    .collect()
            })
            .clone()
    }

    /// Scratch panels of intermediate pass `i` (a transpose of the `a x b` view).
    fn scratch(&self, i: usize, ab: (usize, usize)) -> Vec<Segment<T>> {
        let mut s = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        s.entry((i, 0))
            .or_insert_with(|| new_segments(&self.rt, ab, self.plan.panels(), None))
            .clone()
    }

    fn run(&self, x: &DArray<Complex<T>>, out: &[Segment<T>], scope: &Scope) -> Result<()> {
        let plan = &self.plan;
        let (scale, direction) = (plan.scale(), plan.direction());
        let last = self.writer();
        let mut segs: Vec<Segment<T>> = Vec::new();
        // The row blocks a rows pass wrote, for the columns pass.
        let mut blocks: Vec<Segment<T>> = Vec::new();
        self.rt.datadeps_in(scope.clone(), |r| {
            for (i, pass) in plan.passes().iter().enumerate() {
                if i == 0
                    && matches!(
                        pass,
                        Pass::Columns { .. } | Pass::SplitRows { .. } | Pass::Bluestein { .. }
                    )
                {
                    // A transform without a first transpose: the input copied into the
                    // result's panels (transformed in place there), or into scratch panels
                    // like them when a later pass writes the result.
                    let first = if matches!(pass, Pass::SplitRows { .. }) {
                        self.scratch_like(i, out)
                    } else {
                        out.to_vec()
                    };
                    if plan.batch() > 1 {
                        copy_tiles(r, x, &first);
                    } else {
                        copy_input(r, x, &first[0]);
                    }
                    segs = first;
                }
                match *pass {
                    Pass::Lines {
                        rows,
                        cols,
                        along_rows,
                        scaled,
                    } => {
                        // Sources: the input's tiles (first pass) or the row blocks.
                        let srcs: Vec<(Placed, &Chunk<Complex<T>>)> = if i == 0 {
                            let (mb, nb) = x.tile_size();
                            (0..x.nt())
                                .flat_map(|j| (0..x.mt()).map(move |ii| (ii, j)))
                                .map(|(ii, j)| {
                                    let c = x.tile(ii, j);
                                    let p = Placed {
                                        r0: ii * mb,
                                        c0: j * nb,
                                        rows: c.rows(),
                                        cols: c.cols(),
                                    };
                                    (p, c)
                                })
                                .collect()
                        } else {
                            blocks
                                .iter()
                                .map(|b| {
                                    let p = Placed {
                                        r0: b.start,
                                        c0: 0,
                                        rows: b.len,
                                        cols,
                                    };
                                    (p, &b.chunk)
                                })
                                .collect()
                        };
                        let dsts: Vec<(Placed, Segment<T>)> = if along_rows {
                            self.row_blocks(i, rows, cols)
                                .into_iter()
                                .map(|b| {
                                    let p = Placed {
                                        r0: b.start,
                                        c0: 0,
                                        rows: b.len,
                                        cols,
                                    };
                                    (p, b)
                                })
                                .collect()
                        } else {
                            out.iter()
                                .map(|s| {
                                    let p = Placed {
                                        r0: 0,
                                        c0: s.start / rows,
                                        rows,
                                        cols: s.len / rows,
                                    };
                                    (p, s.clone())
                                })
                                .collect()
                        };
                        let s = if scaled { scale } else { 1.0 };
                        for (dp, dseg) in &dsts {
                            let meet: Vec<&(Placed, &Chunk<Complex<T>>)> = srcs
                                .iter()
                                .filter(|(p, _)| {
                                    p.r0 < dp.r0 + dp.rows
                                        && dp.r0 < p.r0 + p.rows
                                        && p.c0 < dp.c0 + dp.cols
                                        && dp.c0 < p.c0 + p.cols
                                })
                                .collect();
                            let places: Vec<Placed> = meet.iter().map(|(p, _)| *p).collect();
                            let mut acc: Vec<Access> =
                                meet.iter().map(|(_, c)| Read(*c).into()).collect();
                            acc.push(Write(&dseg.chunk).into());
                            r.spawn(fft_lines::<T>(direction, along_rows, s, *dp, &places), acc);
                        }
                        if along_rows {
                            blocks = dsts.into_iter().map(|(_, b)| b).collect();
                        } else {
                            segs = out.to_vec();
                        }
                    }
                    Pass::Transpose { rows, cols } => {
                        let rects = if i == 0 {
                            input_rects(x, rows)
                        } else {
                            segment_rects(&segs, rows)
                        };
                        let dst = if Some(i) == last {
                            out.to_vec()
                        } else {
                            self.scratch(i, (rows, cols))
                        };
                        transpose_into(r, &rects, &dst, rows, cols);
                        segs = dst;
                    }
                    Pass::SplitRows { n1, n2, .. } => {
                        let Some((tw, Some(tab))) = &self.tables[i] else {
                            unreachable!("a split pass has its tables")
                        };
                        let call = fft_split_rows::<T>(n1, n2, direction);
                        for seg in &segs {
                            r.spawn(&call, (ReadWrite(&seg.chunk), Read(tw), Read(tab)));
                        }
                    }
                    Pass::SplitCols {
                        n1,
                        n2,
                        four_step,
                        scaled,
                        ..
                    } => {
                        let Some((tw, Some(tab))) = &self.tables[i] else {
                            unreachable!("a split pass has its tables")
                        };
                        let dst = if Some(i) == last {
                            out.to_vec()
                        } else {
                            self.scratch_like(i, &segs)
                        };
                        let s = if scaled { scale } else { 1.0 };
                        for (seg, d) in segs.iter().zip(&dst) {
                            debug_assert_eq!((seg.start, seg.len), (d.start, d.len));
                            let call = fft_split_cols::<T>(
                                n1,
                                n2,
                                direction,
                                s,
                                four_step.map(|big_n| FourStep {
                                    big_n,
                                    col0: seg.start / (n1 * n2),
                                }),
                            );
                            r.spawn(
                                call,
                                (Read(&seg.chunk), Write(&d.chunk), Read(tw), Read(tab)),
                            );
                        }
                        segs = dst;
                    }
                    Pass::Bluestein { n, m, scaled, .. } => {
                        let Some(long) = &self.long[i] else {
                            unreachable!("a Bluestein pass has its tables")
                        };
                        let dst = if Some(i) == last {
                            out.to_vec()
                        } else {
                            self.scratch_like(i, &segs)
                        };
                        let pad = self.scratch_scaled(i, 1, &segs, m, n);
                        let mid = self.scratch_scaled(i, 2, &segs, m, n);
                        let s = if scaled { scale } else { 1.0 };
                        for (q, seg) in segs.iter().enumerate() {
                            long.spawn(r, n, m, direction, s, (seg, &pad[q], &mid[q], &dst[q]));
                        }
                        segs = dst;
                    }
                    Pass::Columns {
                        n,
                        four_step,
                        scaled,
                        ..
                    } => {
                        let Some((tw, big)) = &self.tables[i] else {
                            unreachable!("a Columns pass has its tables")
                        };
                        let gpu = self.plan.target() == Target::Gpu;
                        for seg in &segs {
                            let scale = if scaled { scale } else { 1.0 };
                            let four_step = four_step.map(|big_n| FourStep {
                                big_n,
                                col0: seg.start / n,
                            });
                            let call = if gpu {
                                fft_cols_gpu::<T>(n, direction, scale, four_step)
                            } else {
                                fft_cols::<T>(n, direction, scale, four_step)
                            };
                            r.spawn(
                                call,
                                (
                                    ReadWrite(&seg.chunk),
                                    Read(tw),
                                    Read(big.as_ref().unwrap_or(tw)),
                                ),
                            );
                        }
                    }
                }
            }
        })
    }
}

/// The tables of a [`Pass::Bluestein`]: the chirp and filter ([`bluestein_chirp`]), and those
/// of the convolution's FFTs of `m = n1 n2` points, split (a convolution of one pass is a
/// one-pass Bluestein length, see [`bluestein_len`](crate::kernels::fft::bluestein_len)): the
/// rows' twiddles and split table, and the columns' twiddles.
struct LongBluestein<T: FftReal>
where
    Complex<T>: Element,
{
    chirp: Chunk<Complex<T>>,
    n1: usize,
    n2: usize,
    tw2: Chunk<Complex<T>>,
    split: Chunk<Complex<T>>,
    tw1: Chunk<Complex<T>>,
}

impl<T: FftReal> LongBluestein<T>
where
    Complex<T>: Element,
{
    fn new(rt: &Runtime, n: usize, m: usize, dtype: crate::DType) -> Self {
        let Some(Some((n1, n2))) = gpu_len(m, dtype) else {
            unreachable!("plans make Bluestein passes only for convolutions of two passes")
        };
        let (tw2, split) = column_tables::<T>(rt, n2, Some(m));
        LongBluestein {
            chirp: bluestein_chirp::<T>(rt, n),
            n1,
            n2,
            tw2,
            split,
            tw1: twiddles::<T>(rt, n1),
        }
    }

    /// The tasks of one panel: `seg` (columns of `n`) padded into `pad` (columns of `m`), the
    /// forward FFT (rows in place, columns into `mid`) times the filter, the inverse FFT (rows
    /// in place, columns back into `pad`), and the trim into `dst`.
    fn spawn(
        &self,
        r: &Region<'_>,
        n: usize,
        m: usize,
        direction: crate::fft::Direction,
        scale: f64,
        (seg, pad, mid, dst): (&Segment<T>, &Segment<T>, &Segment<T>, &Segment<T>),
    ) {
        use crate::fft::Direction::{Forward, Inverse};
        let (n1, n2) = (self.n1, self.n2);
        let (chirp, tw1, tw2, split) = (&self.chirp, &self.tw1, &self.tw2, &self.split);
        r.spawn(
            chirp_pad::<T>(n, m, direction),
            (Read(&seg.chunk), Write(&pad.chunk), Read(chirp)),
        );
        r.spawn(
            fft_split_rows::<T>(n1, n2, Forward),
            (ReadWrite(&pad.chunk), Read(tw2), Read(split)),
        );
        r.spawn(
            fft_split_cols_filtered::<T>(n, (n1, n2), direction),
            (Read(&pad.chunk), Write(&mid.chunk), Read(tw1), Read(chirp)),
        );
        r.spawn(
            fft_split_rows::<T>(n1, n2, Inverse),
            (ReadWrite(&mid.chunk), Read(tw2), Read(split)),
        );
        r.spawn(
            fft_split_cols::<T>(n1, n2, Inverse, 1.0, None),
            (Read(&mid.chunk), Write(&pad.chunk), Read(tw1), Read(tw1)),
        );
        r.spawn(
            chirp_trim::<T>(n, m, direction, scale),
            (Read(&pad.chunk), Write(&dst.chunk), Read(chirp)),
        );
    }
}

/// The input's tiles as rectangles of the `a x (len / a)` view.
fn input_rects<T: FftReal>(x: &DArray<Complex<T>>, a: usize) -> Vec<Rect<'_, T>>
where
    Complex<T>: Element,
{
    let (mb, nb) = x.tile_size();
    let mut out = Vec::new();
    if x.rows() == a {
        for j in 0..x.nt() {
            for i in 0..x.mt() {
                let t = x.tile(i, j);
                out.push(Rect {
                    chunk: t,
                    r0: i * mb,
                    r1: i * mb + t.rows(),
                    c0: j * nb,
                    c1: j * nb + t.cols(),
                    off: 0,
                    ld: t.rows(),
                });
            }
        }
        return out;
    }
    // A vector (one column) viewed with `a` rows: each tile is a contiguous run, cut into a
    // partial first column, whole columns, and a partial last column.
    for i in 0..x.mt() {
        let t = x.tile(i, 0);
        let (s, e) = (i * mb, i * mb + t.rows());
        let mut p = s;
        while p < e {
            let (r, c) = (p % a, p / a);
            if r != 0 || e - p < a {
                let r1 = a.min(r + (e - p));
                out.push(Rect {
                    chunk: t,
                    r0: r,
                    r1,
                    c0: c,
                    c1: c + 1,
                    off: p - s,
                    ld: a,
                });
                p += r1 - r;
            } else {
                let k = (e - p) / a;
                out.push(Rect {
                    chunk: t,
                    r0: 0,
                    r1: a,
                    c0: c,
                    c1: c + k,
                    off: p - s,
                    ld: a,
                });
                p += k * a;
            }
        }
    }
    out
}

/// Segments holding whole columns of the `a x b` view, as rectangles.
fn segment_rects<T: FftReal>(segs: &[Segment<T>], a: usize) -> Vec<Rect<'_, T>>
where
    Complex<T>: Element,
{
    segs.iter()
        .map(|s| {
            debug_assert!(
                s.start % a == 0 && s.len % a == 0,
                "segments hold whole columns"
            );
            Rect {
                chunk: &s.chunk,
                r0: 0,
                r1: a,
                c0: s.start / a,
                c1: (s.start + s.len) / a,
                off: 0,
                ld: a,
            }
        })
        .collect()
}

/// The panels of the `b x a` view a transpose of the `a x b` view writes: `panels` of them,
/// whole columns of `b` each. `tile_rows` shapes the chunks as result tiles: `Some(None)` a
/// vector's (`len x 1`), `Some(Some(rows))` a matrix's (`rows x len / rows`); otherwise
/// (`b x columns`).
fn new_segments<T: FftReal>(
    rt: &Runtime,
    (a, b): (usize, usize),
    panels: usize,
    tile_rows: Option<Option<usize>>,
) -> Vec<Segment<T>>
where
    Complex<T>: Element,
{
    let width = a.div_ceil(panels.clamp(1, a));
    (0..a.div_ceil(width))
        .map(|q| {
            let w = width.min(a - q * width);
            let len = w * b;
            let (tr, tc) = match tile_rows {
                Some(None) => (len, 1),
                Some(Some(rows)) => (rows, len / rows),
                None => (b, w),
            };
            Segment {
                start: q * width * b,
                len,
                chunk: Chunk::zeros(rt, tr, tc),
            }
        })
        .collect()
}

/// Transposes the `a x b` view held by `rects` into `segs` (panels of the `b x a` view): one
/// task per (rectangle, panel) pair that meet.
fn transpose_into<T: FftReal>(
    r: &Region<'_>,
    rects: &[Rect<'_, T>],
    segs: &[Segment<T>],
    a: usize,
    b: usize,
) where
    Complex<T>: Element,
{
    let width = segs[0].len / b;
    debug_assert_eq!(segs.len(), a.div_ceil(width), "panels of whole columns");
    // The blocks into a panel tile it exactly, so the first one is a `Write` (no zero-fill
    // of fresh memory, no copy-in): no element is read before its block writes it.
    let mut started = vec![false; segs.len()];
    for rect in rects {
        let (q0, q1) = (rect.r0 / width, (rect.r1 - 1) / width);
        for (q, seg) in segs.iter().enumerate().take(q1 + 1).skip(q0) {
            let (lo, hi) = (rect.r0.max(q * width), rect.r1.min((q + 1) * width));
            let block = TransposeBlock {
                src_off: rect.off + (lo - rect.r0),
                src_ld: rect.ld,
                h: hi - lo,
                w: rect.c1 - rect.c0,
                dst_off: rect.c0 + (lo - q * width) * b,
                dst_ld: b,
            };
            if std::mem::replace(&mut started[q], true) {
                let call = transpose::<Complex<T>>(block);
                r.spawn(call, (Read(rect.chunk), ReadWrite(&seg.chunk)));
            } else {
                r.spawn(
                    transpose_first::<Complex<T>>(block),
                    (Read(rect.chunk), Write(&seg.chunk)),
                );
            }
        }
    }
}

/// The input vector copied into the single panel `seg` (a 1D transform done in one pass).
fn copy_input<T: FftReal>(r: &Region<'_>, x: &DArray<Complex<T>>, seg: &Segment<T>)
where
    Complex<T>: Element,
{
    for (i, rect) in input_rects(x, seg.len).into_iter().enumerate() {
        // A vector's tile: rows r0..r1 of the single column.
        let block = TransposeBlock {
            src_off: 0,
            src_ld: rect.r1 - rect.r0,
            h: rect.r1 - rect.r0,
            w: 1,
            dst_off: rect.r0,
            dst_ld: 1,
        };
        if i == 0 {
            r.spawn(
                transpose_first::<Complex<T>>(block),
                (Read(rect.chunk), Write(&seg.chunk)),
            );
        } else {
            let call = transpose::<Complex<T>>(block);
            r.spawn(call, (Read(rect.chunk), ReadWrite(&seg.chunk)));
        }
    }
}

/// The tiles of `x` (whole columns) copied into `segs`, one segment per tile, in blocks of at
/// most 2^20 elements (a GPU copy's grid limit).
fn copy_tiles<T: FftReal>(r: &Region<'_>, x: &DArray<Complex<T>>, segs: &[Segment<T>])
where
    Complex<T>: Element,
{
    const BLOCK: usize = 1 << 20;
    for (t, seg) in x.tiles().iter().zip(segs) {
        let len = t.len();
        for (b, off) in (0..len).step_by(BLOCK).enumerate() {
            let h = BLOCK.min(len - off);
            // A one-column "transpose" of h rows is a copy.
            let block = TransposeBlock {
                src_off: off,
                src_ld: h,
                h,
                w: 1,
                dst_off: off,
                dst_ld: 1,
            };
            if b == 0 {
                r.spawn(
                    transpose_first::<Complex<T>>(block),
                    (Read(t), Write(&seg.chunk)),
                );
            } else {
                r.spawn(
                    transpose::<Complex<T>>(block),
                    (Read(t), ReadWrite(&seg.chunk)),
                );
            }
        }
    }
}

/// The final segments as a `rows x cols` array: tiles of `rows x (len / rows)` (a vector:
/// `len x 1`), as the last pass shaped them.
fn to_darray<T: FftReal>(
    rt: &Runtime,
    rows: usize,
    cols: usize,
    segs: Vec<Segment<T>>,
) -> DArray<Complex<T>>
where
    Complex<T>: Element,
{
    let first = segs.first().map_or(1, |s| s.len);
    let (mb, nb) = if cols == 1 {
        (first, 1)
    } else {
        (rows, first / rows)
    };
    let tiles = segs.into_iter().map(|s| s.chunk).collect();
    DArray::from_tiles(rt, (rows, cols), (mb, nb), tiles)
}
