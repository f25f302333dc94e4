//! `tessera`: inspect adapters and processors, and check a machine end to end.
//!
//! ```text
//! tessera                 # same as `tessera check`: what runs where, and a self-check
//! tessera info [--json]   # adapters, features, limits, processors
//! tessera check           # random datadeps programs on every processor vs. a serial run
//! tessera bench kernel gemm --dtype f32 [--sizes 64,128,256,512] [--variants]
//! ```
//! Global options `--devices SPEC` (e.g. `"lavapipe x 3"`, `none`) and `--cpu-threads N`
//! override `TESSERA_DEVICES` and `TESSERA_CPU_THREADS`.

mod bench;
mod check;
mod info;

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
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
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
}

impl Cli {
    fn runtime(&self) -> tessera::Result<Runtime> {
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
        b.build()
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
        None => info::run(&cli, false).and_then(|()| check::run(&cli, 50, 1)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
