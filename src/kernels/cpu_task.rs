//! What a CPU kernel implementation sees: its tiles as typed slices, its parameters, its threads.

use crate::dtype::Element;
use crate::kernels::{Shape, params::Scalar};

/// A read-only view of one column-major tile.
#[derive(Debug)]
pub struct TileRef<'a, T> {
    /// Number of rows (the leading dimension: tiles are contiguous).
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` elements, column after column.
    pub data: &'a [T],
}

impl<T: Copy> TileRef<'_, T> {
    /// Element `(i, j)`.
    ///
    /// # Panics
    /// If `i >= rows` or `j >= cols`.
    #[track_caller]
    pub fn get(&self, i: usize, j: usize) -> T {
        assert!(
            i < self.rows && j < self.cols,
            "index ({i}, {j}) out of a {}x{} tile",
            self.rows,
            self.cols
        );
        self.data[i + j * self.rows]
    }
}

/// A mutable view of one column-major tile.
#[derive(Debug)]
pub struct TileMut<'a, T> {
    /// Number of rows (the leading dimension: tiles are contiguous).
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` elements, column after column.
    pub data: &'a mut [T],
}

impl<T: Copy> TileMut<'_, T> {
    /// Element `(i, j)`.
    ///
    /// # Panics
    /// If `i >= rows` or `j >= cols`.
    #[track_caller]
    pub fn get(&self, i: usize, j: usize) -> T {
        assert!(
            i < self.rows && j < self.cols,
            "index ({i}, {j}) out of a {}x{} tile",
            self.rows,
            self.cols
        );
        self.data[i + j * self.rows]
    }

    /// Sets element `(i, j)`.
    ///
    /// # Panics
    /// If `i >= rows` or `j >= cols`.
    #[track_caller]
    pub fn set(&mut self, i: usize, j: usize, v: T) {
        assert!(
            i < self.rows && j < self.cols,
            "index ({i}, {j}) out of a {}x{} tile",
            self.rows,
            self.cols
        );
        self.data[i + j * self.rows] = v;
    }
}

pub(crate) enum Slot<'a> {
    Shared(&'a [u8]),
    Exclusive(Option<&'a mut [u8]>),
}

/// The arguments of one CPU kernel execution.
///
/// Argument `i` is the chunk passed as the task's `i`-th access. Read arguments are taken with
/// [`tile`](CpuTask::tile) (any number of times); written arguments with
/// [`tile_mut`](CpuTask::tile_mut) (once each). The views live as long as the task runs, so an
/// implementation can hold several at once:
///
/// ```
/// # use tessera::{CpuTask, KernelError};
/// fn axpy_body(t: &mut CpuTask<'_>) -> Result<(), KernelError> {
///     let alpha: f32 = t.param(0);
///     let x = t.tile::<f32>(0);
///     let y = t.tile_mut::<f32>(1);
///     for (yi, xi) in y.data.iter_mut().zip(x.data) {
///         *yi += alpha * xi;
///     }
///     Ok(())
/// }
/// ```
pub struct CpuTask<'a> {
    pub(crate) kernel: &'a str,
    pub(crate) shapes: &'a [Shape],
    pub(crate) params: &'a [Scalar],
    pub(crate) slots: Vec<Slot<'a>>,
    pub(crate) threads: usize,
}

impl<'a> CpuTask<'a> {
    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the task has no arguments.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The kernel's name.
    pub fn kernel(&self) -> &str {
        self.kernel
    }

    /// Shape and type of argument `i`.
    pub fn shape(&self, i: usize) -> Shape {
        self.shapes[i]
    }

    /// All parameters.
    pub fn params(&self) -> &[Scalar] {
        self.params
    }

    /// How many pool threads this execution may use (1 unless the scheduler granted more).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Parameter `i` as `T`.
    ///
    /// # Panics
    /// If there is no parameter `i` or it is not a `T` (the kernel's signature says which).
    #[track_caller]
    pub fn param<T: Element>(&self, i: usize) -> T {
        let p = *self
            .params
            .get(i)
            .unwrap_or_else(|| panic!("kernel `{}` has no parameter {i}", self.kernel));
        p.get::<T>().unwrap_or_else(|| {
            panic!(
                "parameter {i} of kernel `{}` is {}, not {}",
                self.kernel,
                p.dtype(),
                T::DTYPE
            )
        })
    }

    #[track_caller]
    fn check_type<T: Element>(&self, i: usize) -> Shape {
        let s = *self.shapes.get(i).unwrap_or_else(|| {
            panic!(
                "kernel `{}` has {} arguments, asked for {i}",
                self.kernel,
                self.shapes.len()
            )
        });
        assert!(
            s.dtype == T::DTYPE,
            "argument {i} of kernel `{}` holds {}, not {}",
            self.kernel,
            s.dtype,
            T::DTYPE
        );
        s
    }

    /// Arguments 0 and 1 as raw bytes: `(read, written)`, for type-agnostic copies.
    ///
    /// # Panics
    /// Unless argument 0 is read-only and argument 1 writable, both untaken.
    pub(crate) fn bytes_pair(&mut self) -> (&'a [u8], &'a mut [u8]) {
        let mut it = self.slots.iter_mut();
        let (Some(Slot::Shared(src)), Some(Slot::Exclusive(dst))) = (it.next(), it.next()) else {
            unreachable!("bytes_pair needs (Read, Write/ReadWrite) arguments")
        };
        let dst = dst
            .take()
            .unwrap_or_else(|| unreachable!("argument 1 already taken"));
        (src, dst)
    }

    /// A read-only view of argument `i`.
    ///
    /// # Panics
    /// If the argument does not hold `T`, or was already taken with `tile_mut`.
    #[track_caller]
    pub fn tile<T: Element>(&mut self, i: usize) -> TileRef<'a, T> {
        let s = self.check_type::<T>(i);
        let bytes: &'a [u8] = match &mut self.slots[i] {
            Slot::Shared(b) => b,
            Slot::Exclusive(opt) => {
                let b: &'a [u8] = opt.take().unwrap_or_else(|| {
                    panic!(
                        "argument {i} of kernel `{}` is already borrowed mutably",
                        self.kernel
                    )
                });
                self.slots[i] = Slot::Shared(b);
                b
            }
        };
        TileRef {
            rows: s.rows,
            cols: s.cols,
            data: bytemuck::cast_slice(bytes),
        }
    }

    /// A mutable view of argument `i`, which must be a `Write` or `ReadWrite` access.
    ///
    /// # Panics
    /// If the argument does not hold `T`, is read-only, or was already taken.
    #[track_caller]
    pub fn tile_mut<T: Element>(&mut self, i: usize) -> TileMut<'a, T> {
        let s = self.check_type::<T>(i);
        let kernel = self.kernel;
        match &mut self.slots[i] {
            Slot::Shared(_) => panic!(
                "argument {i} of kernel `{kernel}` is read-only here (a Read access, or already taken with tile())"
            ),
            Slot::Exclusive(opt) => {
                let b = opt.take().unwrap_or_else(|| {
                    panic!("argument {i} of kernel `{kernel}` is already borrowed mutably")
                });
                TileMut {
                    rows: s.rows,
                    cols: s.cols,
                    data: bytemuck::cast_slice_mut(b),
                }
            }
        }
    }
}
