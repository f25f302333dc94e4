//! Scopes: which processors a task or region may use.
//!
//! A scope is a small expression resolved against a runtime's processors when a region or task
//! starts, so it can be written before the runtime exists and reused across runtimes.

use std::fmt;

use crate::runtime::processor::{ProcSet, ProcessorInfo};

/// Which processors a task or region may use. Combine with [`Scope::and`], [`Scope::or`] and
/// [`Scope::except`].
///
/// ```
/// use tessera::Scope;
/// let s = Scope::gpus([0, 1]).or(Scope::cpu());
/// assert_eq!(s.to_string(), "(gpus[0, 1] | cpu)");
/// let fast = Scope::any_gpu().except(Scope::software_gpus());
/// assert_eq!(fast.to_string(), "(gpu* - software)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope(Expr);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expr {
    All,
    Cpu,
    AnyGpu,
    Gpus(Vec<usize>),
    Backend(String),
    Vendor(String),
    Software,
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Except(Box<Expr>, Box<Expr>),
}

impl Scope {
    /// Every processor of the runtime.
    pub fn all() -> Scope {
        Scope(Expr::All)
    }

    /// The CPU pool only.
    pub fn cpu() -> Scope {
        Scope(Expr::Cpu)
    }

    /// GPU device `i` only.
    pub fn gpu(i: usize) -> Scope {
        Scope(Expr::Gpus(vec![i]))
    }

    /// The listed GPU devices.
    pub fn gpus(ids: impl IntoIterator<Item = usize>) -> Scope {
        Scope(Expr::Gpus(ids.into_iter().collect()))
    }

    /// Every GPU device.
    pub fn any_gpu() -> Scope {
        Scope(Expr::AnyGpu)
    }

    /// GPU devices whose backend is `name` (`vulkan`, `metal`, `dx12`, `gl`; case-insensitive).
    pub fn backend(name: &str) -> Scope {
        Scope(Expr::Backend(name.to_ascii_lowercase()))
    }

    /// GPU devices whose vendor name or adapter name contains `name` (case-insensitive).
    pub fn vendor(name: &str) -> Scope {
        Scope(Expr::Vendor(name.to_ascii_lowercase()))
    }

    /// GPU devices that run shaders on the CPU (lavapipe, WARP, SwiftShader).
    pub fn software_gpus() -> Scope {
        Scope(Expr::Software)
    }

    /// Processors in either scope.
    #[must_use]
    pub fn or(self, other: Scope) -> Scope {
        Scope(Expr::Or(Box::new(self.0), Box::new(other.0)))
    }

    /// Processors in both scopes.
    #[must_use]
    pub fn and(self, other: Scope) -> Scope {
        Scope(Expr::And(Box::new(self.0), Box::new(other.0)))
    }

    /// Processors in `self` but not in `other`.
    #[must_use]
    pub fn except(self, other: Scope) -> Scope {
        Scope(Expr::Except(Box::new(self.0), Box::new(other.0)))
    }

    /// The processors of `procs` (indexed by processor index; `None` entries are disabled) this
    /// scope selects.
    pub(crate) fn resolve(&self, procs: &[Option<ProcessorInfo>]) -> ProcSet {
        resolve(&self.0, procs)
    }
}

impl Default for Scope {
    fn default() -> Self {
        Scope::all()
    }
}

fn resolve(e: &Expr, procs: &[Option<ProcessorInfo>]) -> ProcSet {
    let pick = |f: &dyn Fn(usize, &ProcessorInfo) -> bool| {
        procs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (i, p)))
            .filter(|(i, p)| f(*i, p))
            .fold(ProcSet::EMPTY, |s, (i, _)| s.with(i))
    };
    let adapter = |p: &ProcessorInfo, f: &dyn Fn(&crate::gpu::AdapterInfo) -> bool| {
        p.adapter.as_ref().is_some_and(f)
    };
    match e {
        Expr::All => pick(&|_, _| true),
        Expr::Cpu => pick(&|i, _| i == 0),
        Expr::AnyGpu => pick(&|i, _| i > 0),
        Expr::Gpus(ids) => pick(&|i, _| i > 0 && ids.contains(&(i - 1))),
        Expr::Backend(b) => pick(&|_, p| adapter(p, &|a| a.backend.to_ascii_lowercase() == *b)),
        Expr::Vendor(v) => pick(&|_, p| {
            adapter(p, &|a| {
                a.vendor_name.to_ascii_lowercase().contains(v.as_str())
                    || a.name.to_ascii_lowercase().contains(v.as_str())
            })
        }),
        Expr::Software => pick(&|_, p| adapter(p, &|a| a.software)),
        Expr::Or(a, b) => resolve(a, procs).or(resolve(b, procs)),
        Expr::And(a, b) => resolve(a, procs).and(resolve(b, procs)),
        Expr::Except(a, b) => resolve(a, procs).minus(resolve(b, procs)),
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_expr(&self.0, f)
    }
}

fn fmt_expr(e: &Expr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        Expr::All => f.write_str("all"),
        Expr::Cpu => f.write_str("cpu"),
        Expr::AnyGpu => f.write_str("gpu*"),
        Expr::Gpus(ids) if ids.len() == 1 => write!(f, "gpu{}", ids[0]),
        Expr::Gpus(ids) => write!(f, "gpus{ids:?}"),
        Expr::Backend(b) => write!(f, "backend={b}"),
        Expr::Vendor(v) => write!(f, "vendor={v}"),
        Expr::Software => f.write_str("software"),
        Expr::Or(a, b) => binary(f, a, " | ", b),
        Expr::And(a, b) => binary(f, a, " & ", b),
        Expr::Except(a, b) => binary(f, a, " - ", b),
    }
}

fn binary(f: &mut fmt::Formatter<'_>, a: &Expr, op: &str, b: &Expr) -> fmt::Result {
    f.write_str("(")?;
    fmt_expr(a, f)?;
    f.write_str(op)?;
    fmt_expr(b, f)?;
    f.write_str(")")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::processor::{DeviceId, Processor};

    fn procs() -> Vec<Option<ProcessorInfo>> {
        let gpu = |d: usize, software: bool| {
            Some(ProcessorInfo {
                processor: Processor::Gpu(DeviceId(d)),
                name: format!("gpu{d}"),
                slots: 1,
                adapter: Some(crate::gpu::AdapterInfo {
                    index: d,
                    name: if software {
                        "llvmpipe".into()
                    } else {
                        "GeForce".into()
                    },
                    vendor: if software { 0x10005 } else { 0x10de },
                    vendor_name: if software { "Mesa" } else { "NVIDIA" },
                    device: 0,
                    backend: "Vulkan".into(),
                    device_type: if software {
                        "Cpu".into()
                    } else {
                        "DiscreteGpu".into()
                    },
                    driver: String::new(),
                    driver_info: String::new(),
                    software,
                    caps: crate::dtype::Caps::NONE,
                    subgroup_size: None,
                    limits: Default::default(),
                    loop_iteration_limit: None,
                }),
                virtual_index: 0,
                embedded: false,
            })
        };
        let cpu = Some(ProcessorInfo {
            processor: Processor::Cpu,
            name: "cpu".into(),
            slots: 2,
            adapter: None,
            virtual_index: 0,
            embedded: false,
        });
        vec![cpu, gpu(0, false), gpu(1, true), gpu(2, false)]
    }

    #[test]
    fn scopes_resolve_to_processor_sets() {
        let p = procs();
        let ids = |s: Scope| s.resolve(&p).iter().collect::<Vec<_>>();
        assert_eq!(ids(Scope::all()), vec![0, 1, 2, 3]);
        assert_eq!(ids(Scope::cpu()), vec![0]);
        assert_eq!(ids(Scope::gpu(1)), vec![2]);
        assert_eq!(ids(Scope::gpus([0, 2])), vec![1, 3]);
        assert_eq!(ids(Scope::gpus([7])), Vec::<usize>::new());
        assert_eq!(
            ids(Scope::any_gpu().except(Scope::software_gpus())),
            vec![1, 3]
        );
        assert_eq!(ids(Scope::vendor("nvidia").or(Scope::cpu())), vec![0, 1, 3]);
        assert_eq!(ids(Scope::backend("VULKAN").and(Scope::gpu(1))), vec![2]);
    }

    #[test]
    fn disabled_processors_are_never_selected() {
        let mut p = procs();
        p[0] = None;
        assert_eq!(
            Scope::all().resolve(&p).iter().collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(Scope::cpu().resolve(&p).is_empty());
    }
}
