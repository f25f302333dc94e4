//! Device selection specs (`TESSERA_DEVICES`, `RuntimeBuilder::devices`) and environment options.
//!
//! A spec is `none`, `all`, or a comma-separated list of entries `PATTERN`, `PATTERN x N` or
//! `PATTERN*N`, where N asks for N virtual devices on each matching adapter. A pattern is an
//! adapter index (`0`), `all`, `lavapipe` (Mesa's software Vulkan driver), or a case-insensitive
//! substring of the adapter's name, driver, vendor, backend or device type (`nvidia`, `vulkan`,
//! `discrete`). Examples: `lavapipe x 3`, `0,1`, `nvidia*2, amd`.

use crate::error::{Error, Result};
use crate::gpu::AdapterInfo;

/// One entry of a device spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpecEntry {
    pub(crate) pattern: String,
    pub(crate) count: usize,
}

/// A parsed device spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DeviceSpec {
    None,
    Entries(Vec<SpecEntry>),
}

impl DeviceSpec {
    pub(crate) fn all() -> DeviceSpec {
        DeviceSpec::Entries(vec![SpecEntry {
            pattern: "all".into(),
            count: 1,
        }])
    }

    pub(crate) fn parse(s: &str) -> Result<DeviceSpec> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::Config("empty device spec".into()));
        }
        if s.eq_ignore_ascii_case("none") {
            return Ok(DeviceSpec::None);
        }
        let mut entries = Vec::new();
        for raw in s.split(',') {
            let raw = raw.trim();
            let (pattern, count) = split_count(raw)?;
            if pattern.is_empty() {
                return Err(Error::Config(format!(
                    "device spec entry `{raw}` has no adapter"
                )));
            }
            entries.push(SpecEntry {
                pattern: pattern.to_ascii_lowercase(),
                count,
            });
        }
        Ok(DeviceSpec::Entries(entries))
    }
}

fn split_count(raw: &str) -> Result<(&str, usize)> {
    let split = raw
        .rsplit_once('*')
        .or_else(|| raw.rsplit_once(" x "))
        .or_else(|| raw.rsplit_once(" X "));
    match split {
        None => Ok((raw, 1)),
        Some((p, n)) => {
            let n: usize = n.trim().parse().map_err(|_| {
                Error::Config(format!(
                    "device spec entry `{raw}`: `{}` is not a device count",
                    n.trim()
                ))
            })?;
            if n == 0 || n > 16 {
                return Err(Error::Config(format!(
                    "device spec entry `{raw}`: between 1 and 16 devices per adapter, not {n}"
                )));
            }
            Ok((p.trim(), n))
        }
    }
}

/// Whether `pattern` (lower case) selects adapter `a`.
pub(crate) fn matches(pattern: &str, a: &AdapterInfo) -> bool {
    if let Ok(i) = pattern.parse::<usize>() {
        return a.index == i;
    }
    let lower = |s: &str| s.to_ascii_lowercase();
    match pattern {
        "all" | "*" | "gpu" => true,
        "lavapipe" => lower(&a.name).contains("llvmpipe") && a.backend == "Vulkan",
        p => [
            lower(&a.name),
            lower(&a.driver),
            lower(a.vendor_name),
            lower(&a.backend),
            lower(&a.device_type),
        ]
        .iter()
        .any(|f| f.contains(p)),
    }
}

/// Options read from the environment.
#[derive(Clone, Debug, Default)]
pub(crate) struct EnvConfig {
    pub(crate) devices: Option<DeviceSpec>,
    pub(crate) cpu_threads: Option<usize>,
    pub(crate) cpu: Option<bool>,
}

impl EnvConfig {
    /// Reads `TESSERA_DEVICES`, `TESSERA_CPU_THREADS` and `TESSERA_CPU` (`0` disables the CPU
    /// processor).
    pub(crate) fn read() -> Result<EnvConfig> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let devices = var("TESSERA_DEVICES")
            .map(|v| {
                DeviceSpec::parse(&v)
                    .map_err(|e| Error::Config(format!("TESSERA_DEVICES=`{v}`: {e}")))
            })
            .transpose()?;
        let cpu_threads = var("TESSERA_CPU_THREADS")
            .map(|v| match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(Error::Config(format!(
                    "TESSERA_CPU_THREADS=`{v}` is not a positive number"
                ))),
            })
            .transpose()?;
        let cpu = var("TESSERA_CPU")
            .map(|v| match v.trim() {
                "0" | "false" | "no" | "off" => Ok(false),
                "1" | "true" | "yes" | "on" => Ok(true),
                _ => Err(Error::Config(format!("TESSERA_CPU=`{v}` is not 0 or 1"))),
            })
            .transpose()?;
        Ok(EnvConfig {
            devices,
            cpu_threads,
            cpu,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(p: &str, n: usize) -> SpecEntry {
        SpecEntry {
            pattern: p.into(),
            count: n,
        }
    }

    #[test]
    fn specs_parse() {
        assert_eq!(DeviceSpec::parse("none").unwrap(), DeviceSpec::None);
        assert_eq!(
            DeviceSpec::parse("lavapipe x 3").unwrap(),
            DeviceSpec::Entries(vec![entry("lavapipe", 3)])
        );
        assert_eq!(
            DeviceSpec::parse(" 0 , NVIDIA*2,radeon rx 580").unwrap(),
            DeviceSpec::Entries(vec![
                entry("0", 1),
                entry("nvidia", 2),
                entry("radeon rx 580", 1)
            ])
        );
        assert!(DeviceSpec::parse("lavapipe x three").is_err());
        assert!(DeviceSpec::parse("lavapipe*0").is_err());
        assert!(DeviceSpec::parse("*2").is_err());
        assert!(DeviceSpec::parse("").is_err());
    }

    #[test]
    fn patterns_match_adapters() {
        let a = AdapterInfo {
            index: 1,
            name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            vendor: 0x10005,
            vendor_name: "Mesa",
            device: 0,
            backend: "Vulkan".into(),
            device_type: "Cpu".into(),
            driver: "llvmpipe".into(),
            driver_info: "Mesa 22.3.6".into(),
            software: true,
            caps: crate::dtype::Caps::NONE,
            subgroup_size: None,
            limits: Default::default(),
            loop_iteration_limit: None,
        };
        for p in ["lavapipe", "llvmpipe", "1", "all", "vulkan", "mesa", "cpu"] {
            assert!(matches(p, &a), "{p}");
        }
        for p in ["0", "nvidia", "metal"] {
            assert!(!matches(p, &a), "{p}");
        }
    }
}
