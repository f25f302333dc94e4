//! Running an [`FftPlan`] on a `DArray`: every pass as tasks over contiguous panels of the
//! data, all in one datadeps region, so passes overlap where their panels allow and the tasks
//! go to whichever processors of the scope the cost model picks.
//!
//! Math names: the data between passes is a sequence of *segments* (contiguous runs of the
//! linear element order, each a chunk); a pass views the data as a column-major `a x b`
//! matrix, and every segment holds whole columns of it.

use num_complex::Complex;

use crate::dtype::Element;

use super::plan::{FftPlan, Pass};
use crate::array::DArray;
use crate::data::chunk::Chunk;
use crate::error::{Error, Result};
use crate::kernels::fft::{
    FftReal, FourStep, TransposeBlock, fft_cols, four_step_twiddles, transpose, twiddles,
};
use crate::runtime::Runtime;
use crate::runtime::region::Region;
use crate::runtime::scope::Scope;
use crate::{Read, ReadWrite};

/// A contiguous run of the data: elements `start .. start + len` of the linear order.
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

/// Runs `plan` on `x` (shaped as the plan says: see [`FftPlan`]) with the processors of
/// `scope`, returning the transform as a new array of the same shape, tiled in the plan's
/// panels. `x` is not modified.
pub(crate) fn execute<T: FftReal>(
    plan: &FftPlan,
    x: &DArray<Complex<T>>,
    scope: &Scope,
) -> Result<DArray<Complex<T>>>
where
    Complex<T>: Element,
{
    let dims = plan.dims();
    let n0 = dims[0];
    let ok_shape = if dims.len() == 1 {
        x.rows() == n0 && x.cols() == 1
    } else {
        x.rows() == n0 && x.rows() * x.cols() == plan.len()
    };
    if !ok_shape || plan.dtype() != T::COMPLEX {
        return Err(Error::ShapeMismatch {
            op: "fft".into(),
            detail: format!(
                "a plan for {dims:?} of {} takes a {}x{} array ({} as {n0} x rest), got {}x{} of {}",
                plan.dtype(),
                n0,
                plan.len() / n0,
                if dims.len() == 1 {
                    "an n x 1 vector"
                } else {
                    "dimension 0 by rows"
                },
                x.rows(),
                x.cols(),
                T::COMPLEX
            ),
        });
    }
    let rt = x.runtime().clone();
    let scale = plan.scale();
    let direction = plan.direction();
    let passes = plan.passes();
    let panels = plan.panels();
    let segments = rt.datadeps_in(scope.clone(), |r| {
        let mut segs: Option<Vec<Segment<T>>> = None;
        let last_transpose = passes
            .iter()
            .rposition(|p| matches!(p, Pass::Transpose { .. }));
        for (i, pass) in passes.iter().enumerate() {
            match *pass {
                Pass::Transpose { rows, cols } => {
                    let rects = match &segs {
                        Some(s) => segment_rects(s, rows),
                        None => input_rects(x, rows),
                    };
                    // The last transpose makes the result's tiles: shape them as such.
                    let tile_rows = (Some(i) == last_transpose).then_some(if x.cols() == 1 {
                        None
                    } else {
                        Some(x.rows())
                    });
                    segs = Some(transpose_pass(
                        r,
                        &rt,
                        &rects,
                        (rows, cols),
                        panels,
                        tile_rows,
                    ));
                }
                Pass::Columns {
                    n,
                    four_step,
                    scaled,
                    ..
                } => {
                    let s = segs.get_or_insert_with(|| copy_input(r, &rt, x));
                    let tw = twiddles::<T>(&rt, n);
                    let big = four_step.map(|big_n| four_step_twiddles::<T>(&rt, big_n));
                    for seg in s.iter() {
                        let call = fft_cols::<T>(
                            n,
                            direction,
                            if scaled { scale } else { 1.0 },
                            four_step.map(|big_n| FourStep {
                                big_n,
                                col0: seg.start / n,
                            }),
                        );
                        r.spawn(
                            call,
                            (
                                ReadWrite(&seg.chunk),
                                Read(&tw),
                                Read(big.as_ref().unwrap_or(&tw)),
                            ),
                        );
                    }
                }
            }
        }
        segs.unwrap_or_else(|| unreachable!("every plan has at least one pass"))
    })?;
    Ok(to_darray(&rt, x.rows(), x.cols(), segments))
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

/// Transposes the `a x b` view held by `rects` into new segments of the `b x a` view, `panels`
/// of them (whole columns of `b` each): one task per (rectangle, segment) pair that meet.
/// `tile_rows` shapes the new chunks as result tiles: `None` a vector's (`len x 1`),
/// `Some(rows)` a matrix's (`rows x len / rows`); otherwise (`b x columns`).
fn transpose_pass<T: FftReal>(
    r: &Region<'_>,
    rt: &Runtime,
    rects: &[Rect<'_, T>],
    (a, b): (usize, usize),
    panels: usize,
    tile_rows: Option<Option<usize>>,
) -> Vec<Segment<T>>
where
    Complex<T>: Element,
{
    let width = a.div_ceil(panels.clamp(1, a));
    let segs: Vec<Segment<T>> = (0..a.div_ceil(width))
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
        .collect();
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
            r.spawn(
                transpose::<Complex<T>>(block),
                (Read(rect.chunk), ReadWrite(&seg.chunk)),
            );
        }
    }
    segs
}

/// The input copied into one segment (a 1D transform done in one pass).
fn copy_input<T: FftReal>(r: &Region<'_>, rt: &Runtime, x: &DArray<Complex<T>>) -> Vec<Segment<T>>
where
    Complex<T>: Element,
{
    let n = x.rows() * x.cols();
    let seg = Segment {
        start: 0,
        len: n,
        chunk: Chunk::zeros(rt, n, 1),
    };
    for rect in input_rects(x, n) {
        // A vector's tile: rows r0..r1 of the single column.
        let block = TransposeBlock {
            src_off: 0,
            src_ld: rect.r1 - rect.r0,
            h: rect.r1 - rect.r0,
            w: 1,
            dst_off: rect.r0,
            dst_ld: 1,
        };
        r.spawn(
            transpose::<Complex<T>>(block),
            (Read(rect.chunk), ReadWrite(&seg.chunk)),
        );
    }
    vec![seg]
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
