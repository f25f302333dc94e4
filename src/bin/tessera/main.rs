//! `tessera`: inspect adapters and processors, and check a machine end to end.
//!
//! ```text
//! tessera                 # the showcase: `tessera run cholesky` with its defaults
//! tessera run cholesky [--n 4096] [--block NB] [--dtype f64] [--scope all|cpu|gpu|gpu:N]
//! tessera run fft --shape 4096x4096 [--dtype c32] [--scope all]
//! tessera bench fft [--shapes 1048576,4096x4096] [--dtype c32] [--scopes cpu,all]
//! tessera info [--json]   # adapters, features, limits, processors
//! tessera check           # random datadeps programs on every processor vs. a serial run
//! tessera bench kernel gemm --dtype f32 [--sizes 64,128,256,512] [--variants]
//! tessera simulate cholesky --n 65536 --gpus 1,2,4,8  # the scheduler on a modelled machine
//! ```
//! Global options `--devices SPEC` (e.g. `"lavapipe x 3"`, `none`) and `--cpu-threads N`
//! override `TESSERA_DEVICES` and `TESSERA_CPU_THREADS`.

mod bench;
mod check;
mod fft;
mod info;
mod run;
mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera::Runtime;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "A GPU-first heterogeneous task runtime"
)]
struct Cli {
    /// Which adapters to open: `all`, `none`, or e.g. `lavapipe x 3`, `0,1`, `nvidia*2`
    /// (overrides TESSERA_DEVICES).
    #[arg(long, global = true)]
    devices: Option<String>,
    /// CPU pool threads (overrides TESSERA_CPU_THREADS).
    #[arg(long, global = true)]
    cpu_threads: Option<usize>,
    /// Do not use the CPU as a processor.
    #[arg(long, global = true)]
    no_cpu: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Adapters (name, vendor, backend, type, driver), the features and limits that matter,
    /// and the processors a runtime opens.
    Info {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Runs seeded random datadeps programs over every processor and compares them with a
    /// serial run on the host.
    Check {
        /// Number of regions.
        #[arg(long, default_value_t = 50)]
        regions: usize,
        /// Seed of the random programs.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Runs a showcase algorithm.
    Run {
        #[command(subcommand)]
        what: RunWhat,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Runs the scheduler on a modelled machine (virtual clock, no kernels run).
    Simulate {
        #[command(subcommand)]
        what: SimulateWhat,
    },
}

#[derive(Subcommand)]
enum SimulateWhat {
    /// The library's tiled Cholesky, captured as a task graph, on a modelled CPU and 1..N GPUs:
    /// makespan, lower bounds (critical path; work over total speed), efficiency, speed-up
    /// over the first machine, bytes moved.
    Cholesky(SimulateArgs),
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// Matrix order.
    #[arg(long, default_value_t = 65536)]
    n: usize,
    /// Tile order.
    #[arg(long, default_value_t = 1024)]
    block: usize,
    /// Element type: f64 or f32.
    #[arg(long, default_value = "f64")]
    dtype: String,
    /// GPU counts to simulate, e.g. `1,2,4,8` (0: the CPU alone).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    gpus: Vec<usize>,
    /// One GPU, as a machine description group.
    #[arg(long, default_value = "gpu@10T, link 25G")]
    gpu: String,
    /// The CPU, as a machine description group.
    #[arg(long, default_value = "cpu:2@50G")]
    cpu: String,
    /// A whole machine description instead (e.g. `cpu:2@100G + 4*gpu@50T, link 25G, mem 16G`).
    #[arg(long)]
    machine: Option<String>,
    /// Schedule without bottom-level priorities.
    #[arg(long)]
    no_priorities: bool,
    /// Write the last machine's simulated trace to this directory.
    #[arg(long, value_name = "DIR")]
    trace: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum RunWhat {
    /// Tiled Cholesky factorization of a random SPD matrix: time, GFLOP/s, residual, and the
    /// tasks each processor ran.
    Cholesky(CholeskyArgs),
    /// A complex FFT of a DArray (1D `N`, 2D `AxB`, 3D `AxBxC`), timed, checked by inverting.
    Fft(FftArgs),
}

#[derive(clap::Args)]
struct FftArgs {
    /// `N`, `AxB` or `AxBxC` (dimension 0 first).
    #[arg(long, default_value = "4096x4096")]
    shape: String,
    /// c32 or c64.
    #[arg(long, default_value = "c32")]
    dtype: String,
    /// Processors: all, cpu, gpu, gpu:N.
    #[arg(long, default_value = "all")]
    scope: String,
    /// Skip the check (an inverse transform compared with the input).
    #[arg(long)]
    no_check: bool,
    /// Record the run and print time per kernel and processor.
    #[arg(long)]
    summary: bool,
}

#[derive(clap::Args)]
struct CholeskyArgs {
    /// Matrix order.
    #[arg(long, default_value_t = 4096)]
    n: usize,
    /// Tile order (default: chosen from n and the processors in scope).
    #[arg(long)]
    block: Option<usize>,
    /// Element type: f64, f32 or f16.
    #[arg(long, default_value = "f64")]
    dtype: String,
    /// Processors: all, cpu, gpu (every GPU), gpu:N, gpus:N,M.
    #[arg(long, default_value = "all")]
    scope: String,
    /// Seed of the random matrix.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Factor the upper triangle (A = U^T U) instead of the lower one.
    #[arg(long)]
    upper: bool,
    /// Skip the residual check (it costs about as much as the factorization).
    #[arg(long)]
    no_check: bool,
    /// Record a trace and write it to this directory: trace.json (Chrome/Perfetto),
    /// gantt.svg, graph.dot and summary.txt.
    #[arg(long, value_name = "DIR")]
    trace: Option<std::path::PathBuf>,
    /// Factor once before the timed run (compiles GPU kernels and calibrates the performance
    /// model); the trace covers the timed run only.
    #[arg(long)]
    warmup: bool,
}

impl CholeskyArgs {
    fn default_run() -> CholeskyArgs {
        CholeskyArgs {
            n: 4096,
            block: None,
            dtype: "f64".into(),
            scope: "all".into(),
            seed: 7,
            upper: false,
            no_check: false,
            trace: None,
            warmup: false,
        }
    }

    fn run(&self, cli: &Cli) -> tessera::Result<()> {
        run::cholesky(
            cli,
            &run::Cholesky {
                n: self.n,
                block: self.block,
                dtype: &self.dtype,
                scope: &self.scope,
                seed: self.seed,
                upper: self.upper,
                check: !self.no_check,
                trace: self.trace.as_deref(),
                warmup: self.warmup,
            },
        )
    }
}

#[derive(Subcommand)]
enum BenchWhat {
    /// GFLOP/s of a dense tile kernel per processor and tile size, with faer's figure for the
    /// same tiles and the autotuned GPU variant named.
    Kernel {
        /// gemm, syrk, trsm, potrf, or a full name (gemm_nt, syrk_ut, trsm_rltu, potrf_u, ...).
        name: String,
        /// Element type: f32, f64 or f16.
        #[arg(long, default_value = "f32")]
        dtype: String,
        /// Tile orders.
        #[arg(long, value_delimiter = ',', default_value = "64,128,256,512")]
        sizes: Vec<usize>,
        /// Timed batches per measurement.
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Also time every GPU variant, forced, side by side.
        #[arg(long)]
        variants: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Tiled Cholesky factorization, against faer's parallel Cholesky.
    Cholesky(AlgorithmArgs),
    /// Tiled C = A B, against faer's parallel matmul.
    Matmul(AlgorithmArgs),
    /// Tiled L X = B with a matrix right-hand side, against faer's parallel triangular solve.
    Trsm(AlgorithmArgs),
    /// Tiled Householder QR (4n^3/3 flops), against faer's parallel QR.
    Qr(AlgorithmArgs),
    /// Tiled LU with partial pivoting (2n^3/3 flops), against faer's parallel
    /// `lu::partial_pivoting`.
    Lu(AlgorithmArgs),
    /// A X = B by tiled LU and triangular solves, B with n columns, against faer's parallel LU
    /// and solve.
    Solve(AlgorithmArgs),
    /// Complex FFTs of DArrays: GFLOP/s per shape and scope, with rustfft (one thread) in the
    /// same run.
    Fft {
        /// Shapes: `N`, `AxB`, `AxBxC`.
        #[arg(long, value_delimiter = ',', default_value = "1048576,4096x4096")]
        shapes: Vec<String>,
        /// c32 or c64.
        #[arg(long, default_value = "c32")]
        dtype: String,
        /// Scopes to time.
        #[arg(long, value_delimiter = ',', default_value = "cpu,all")]
        scopes: Vec<String>,
        /// Timed runs (the median is reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
}

#[derive(clap::Args)]
struct AlgorithmArgs {
    /// Matrix orders.
    #[arg(long, value_delimiter = ',', default_value = "1024,2048,4096")]
    sizes: Vec<usize>,
    /// Element types.
    #[arg(long, value_delimiter = ',', default_value = "f64,f32")]
    dtype: Vec<String>,
    /// Scopes to run in: all, cpu, gpu, gpu:N, gpus:N,M.
    #[arg(long, value_delimiter = ',', default_value = "cpu,all")]
    scopes: Vec<String>,
    /// Tile order (default: chosen from n and the processors in scope).
    #[arg(long)]
    block: Option<usize>,
    /// Timed runs per measurement (after one warm-up run).
    #[arg(long, default_value_t = 3)]
    reps: usize,
}

impl AlgorithmArgs {
    fn run(&self, cli: &Cli, name: &str) -> tessera::Result<()> {
        bench::algorithm(
            cli,
            &bench::AlgorithmBench {
                name,
                dtypes: &self.dtype,
                sizes: &self.sizes,
                scopes: &self.scopes,
                block: self.block,
                reps: self.reps,
            },
        )
    }
}

impl Cli {
    fn runtime(&self) -> tessera::Result<Runtime> {
        self.builder().build()
    }

    fn builder(&self) -> tessera::RuntimeBuilder {
        let mut b = Runtime::builder();
        if let Some(d) = &self.devices {
            b = b.devices(d);
        }
        if let Some(n) = self.cpu_threads {
            b = b.cpu_threads(n);
        }
        if self.no_cpu {
            b = b.cpu(false);
        }
        b
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Info { json }) => info::run(&cli, *json),
        Some(Command::Check { regions, seed }) => check::run(&cli, *regions, *seed),
        Some(Command::Bench {
            what:
                BenchWhat::Kernel {
                    name,
                    dtype,
                    sizes,
                    reps,
                    variants,
                    json,
                },
        }) => bench::kernel(
            &cli,
            &bench::KernelBench {
                kernel: name,
                dtype,
                sizes,
                reps: *reps,
                variants: *variants,
                json: *json,
            },
        ),
        Some(Command::Run {
            what: RunWhat::Cholesky(args),
        }) => args.run(&cli),
        Some(Command::Bench {
            what: BenchWhat::Cholesky(args),
        }) => args.run(&cli, "cholesky"),
        Some(Command::Run {
            what: RunWhat::Fft(a),
        }) => fft::run(
            &cli,
            &fft::RunFft {
                shape: &a.shape,
                dtype: &a.dtype,
                scope: &a.scope,
                check: !a.no_check,
                summary: a.summary,
            },
        ),
        Some(Command::Bench {
            what:
                BenchWhat::Fft {
                    shapes,
                    dtype,
                    scopes,
                    reps,
                },
        }) => fft::bench(
            &cli,
            &fft::BenchFft {
                shapes,
                dtype,
                scopes,
                reps: *reps,
            },
        ),
        Some(Command::Bench {
            what: BenchWhat::Matmul(args),
        }) => args.run(&cli, "matmul"),
        Some(Command::Bench {
            what: BenchWhat::Trsm(args),
        }) => args.run(&cli, "trsm"),
        Some(Command::Bench {
            what: BenchWhat::Qr(args),
        }) => args.run(&cli, "qr"),
        Some(Command::Bench {
            what: BenchWhat::Lu(args),
        }) => args.run(&cli, "lu"),
        Some(Command::Bench {
            what: BenchWhat::Solve(args),
        }) => args.run(&cli, "solve"),
        Some(Command::Simulate {
            what: SimulateWhat::Cholesky(a),
        }) => simulate::cholesky(&simulate::Simulate {
            n: a.n,
            block: a.block,
            dtype: &a.dtype,
            gpus: a.gpus.clone(),
            machine: a.machine.as_deref(),
            gpu: &a.gpu,
            cpu: &a.cpu,
            no_priorities: a.no_priorities,
            trace: a.trace.as_deref(),
        }),
        None => CholeskyArgs::default_run().run(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
