//! The DPDK Environment Abstraction Layer: started once per process from a list of arguments.
//!
//! [`EalConfig`] holds the EAL arguments and fills in what a machine without hugepages needs
//! (`--no-huge`, `-m`), an isolated runtime (`--in-memory`) and no telemetry socket, unless the
//! caller chose otherwise. [`Eal::init`] starts the EAL the first time and hands out the same
//! [`Eal`] on later calls with the same arguments; other arguments are an error. The process-wide
//! state is a `Mutex` because the EAL itself is process-wide: DPDK cannot start it twice.

use std::sync::{Arc, Mutex};

use crate::error::{DpdkError, Result};
use crate::{env, sys};

/// Default EAL memory (`-m`, MiB) when running without hugepages. The packet frames are not in
/// it (they live in Cyclone's pool); it holds the EAL's heap: ethdev queues, rings, drivers.
pub const DEFAULT_MEMORY_MB: u32 = 256;

/// The arguments the EAL starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EalConfig {
    args: Vec<String>,
}

impl EalConfig {
    /// Arguments as given, after the program name (e.g. `["-l", "0-1", "--vdev", "net_null0"]`).
    /// The defaults described in the module doc are added by [`EalConfig::effective_args`].
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> EalConfig {
        EalConfig {
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// Arguments from one string split at whitespace, as `--dpdk-args "<EAL args>"` gives them.
    pub fn parse(args: &str) -> EalConfig {
        EalConfig::new(args.split_whitespace())
    }

    /// Adds arguments.
    pub fn arg(mut self, arg: impl Into<String>) -> EalConfig {
        self.args.push(arg.into());
        self
    }

    /// Adds a `--vdev` (e.g. `net_ring0`, `net_af_packet0,iface=veth0`).
    pub fn vdev(self, devargs: impl Into<String>) -> EalConfig {
        self.arg("--vdev").arg(devargs)
    }

    /// The arguments as given.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    fn has(&self, names: &[&str]) -> bool {
        self.args.iter().any(|a| {
            names
                .iter()
                .any(|n| a == n || a.starts_with(&format!("{n}=")))
        })
    }

    /// The full argument list given to `rte_eal_init`: program name, the caller's arguments,
    /// then `--no-huge` when no hugetlbfs with free pages is mounted, `-m` when running without
    /// hugepages and no memory size was given, `--in-memory` (`--no-shconf` without hugepages) when no
    /// runtime directory was chosen (`--file-prefix`/`--proc-type`), and `--no-telemetry`.
    pub fn effective_args(&self) -> Vec<String> {
        let mut out = vec!["cyclone".to_string()];
        out.extend(self.args.iter().cloned());
        let no_huge = self.has(&["--no-huge"]);
        if !no_huge && !self.has(&["--huge-dir"]) && !env::hugepages_usable() {
            out.push("--no-huge".into());
        }
        let no_huge = no_huge || out.iter().any(|a| a == "--no-huge");
        if no_huge && !self.has(&["-m", "--socket-mem"]) {
            out.push("-m".into());
            out.push(DEFAULT_MEMORY_MB.to_string());
        }
        if !self.has(&["--in-memory", "--file-prefix", "--proc-type", "--no-shconf"]) {
            // `--in-memory` needs hugepages (`--no-huge` implies legacy memory, which it rejects).
            out.push(
                if no_huge {
                    "--no-shconf"
                } else {
                    "--in-memory"
                }
                .into(),
            );
        }
        if !self.has(&["--no-telemetry", "--telemetry"]) {
            out.push("--no-telemetry".into());
        }
        out
    }

    /// The device names of the `--vdev` arguments (`net_ring0` of `--vdev net_ring0,nodeaction=..`).
    pub fn vdevs(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut it = self.args.iter();
        while let Some(a) = it.next() {
            let spec = if a == "--vdev" {
                it.next().cloned()
            } else {
                a.strip_prefix("--vdev=").map(String::from)
            };
            if let Some(spec) = spec {
                out.push(spec.split(',').next().unwrap_or_default().to_string());
            }
        }
        out
    }
}

#[derive(Debug)]
enum State {
    Running(Arc<EalInner>),
    Failed(String),
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

struct EalInner {
    config: EalConfig,
    effective: Vec<String>,
    /// The starting thread's CPU affinity before `rte_eal_init` pinned it to the main lcore.
    affinity_before: Option<libc::cpu_set_t>,
}

impl std::fmt::Debug for EalInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EalInner")
            .field("config", &self.config)
            .field("effective", &self.effective)
            .finish_non_exhaustive()
    }
}

/// A handle to the running EAL. Cheap to clone; the EAL stays up for the life of the process
/// (DPDK cannot restart it, so Cyclone never calls `rte_eal_cleanup`).
#[derive(Debug, Clone)]
pub struct Eal {
    inner: Arc<EalInner>,
}

/// A port the EAL found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// DPDK port id.
    pub id: u16,
    /// Device name (`net_null0`, a PCI address).
    pub name: String,
}

impl Eal {
    /// Starts the EAL with `config`, or returns the running one if it was started with the same
    /// configuration. Checks that every `--vdev` became a port.
    pub fn init(config: &EalConfig) -> Result<Eal> {
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        match &*state {
            Some(State::Running(inner)) if inner.config == *config => {
                return Ok(Eal {
                    inner: inner.clone(),
                })
            }
            Some(State::Running(inner)) => {
                return Err(DpdkError::AlreadyInitialised {
                    existing: inner.effective.clone(),
                })
            }
            Some(State::Failed(why)) => return Err(DpdkError::InitFailedBefore(why.clone())),
            None => {}
        }
        let effective = config.effective_args();
        let affinity_before = sys::thread_affinity();
        if let Err(errno) = sys::eal_init(&effective) {
            let err = DpdkError::call("rte_eal_init", errno);
            // DPDK 22.11 keeps what it parsed even from refused arguments (a second start
            // then fails on "option set twice"): a failed start is final for the process.
            *state = Some(State::Failed(err.to_string()));
            return Err(err);
        }
        let inner = Arc::new(EalInner {
            config: config.clone(),
            effective,
            affinity_before,
        });
        *state = Some(State::Running(inner.clone()));
        drop(state);
        let eal = Eal { inner };
        for vdev in config.vdevs() {
            if sys::port_by_name(&vdev).is_err() {
                return Err(DpdkError::VdevNotProbed { vdev });
            }
        }
        Ok(eal)
    }

    /// The running EAL, if one was started in this process.
    pub fn running() -> Option<Eal> {
        match &*STATE.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(State::Running(inner)) => Some(Eal {
                inner: inner.clone(),
            }),
            _ => None,
        }
    }

    /// Gives the calling thread back the CPU affinity the thread that started the EAL had before
    /// (`rte_eal_init` pins that thread to the main lcore's CPU, and threads it spawns inherit
    /// it). For applications that run their own threads rather than EAL lcores, such as
    /// `cyclone serve`'s queue threads: call it on the starting thread before spawning them.
    pub fn restore_affinity(&self) -> Result<()> {
        match &self.inner.affinity_before {
            Some(set) => {
                sys::set_thread_affinity(set).map_err(|e| DpdkError::call("sched_setaffinity", e))
            }
            None => Ok(()),
        }
    }

    /// The arguments the EAL was started with (program name first).
    pub fn args(&self) -> &[String] {
        &self.inner.effective
    }

    /// All Ethernet ports, by id.
    pub fn ports(&self) -> Vec<PortInfo> {
        sys::port_ids()
            .into_iter()
            .map(|id| PortInfo {
                id,
                name: sys::port_name(id).unwrap_or_default(),
            })
            .collect()
    }

    /// Adds a virtual device at run time (`rte_dev_probe`, e.g. `net_null9`) and returns its port.
    pub fn probe_vdev(&self, devargs: &str) -> Result<PortInfo> {
        sys::dev_probe(devargs).map_err(|e| DpdkError::call("rte_dev_probe", e))?;
        let name = devargs.split(',').next().unwrap_or_default().to_string();
        let id = sys::port_by_name(&name).map_err(|_| DpdkError::VdevNotProbed {
            vdev: devargs.to_string(),
        })?;
        Ok(PortInfo { id, name })
    }

    /// Creates two `net_ring` ports (named `net_ring_<a>` and `net_ring_<b>`) over two
    /// new `rte_ring`s of `ring_size` slots (a power of two), crossed over: what `a` transmits,
    /// `b` receives, and the other way — a back-to-back cable in memory. (`--vdev net_ring0`
    /// ports each receive what they send themselves; `rte_eth_from_rings` makes real pairs.)
    /// Needs the `net_ring` plugin, which the EAL loads at start. The ports have no MAC address
    /// of their own (all zeroes) and take every frame.
    pub fn ring_pair(&self, a: &str, b: &str, ring_size: u32) -> Result<(PortInfo, PortInfo)> {
        let plugin = format!("{}/librte_net_ring.so.23", cyclone_dpdk_sys::PMD_DIR);
        let (ia, ib) = sys::eth_ring_pair(&plugin, a, b, ring_size)
            .map_err(|e| DpdkError::call("rte_eth_from_rings", e))?;
        // The driver names its ports `net_ring_<name>`.
        let info = |id| PortInfo {
            id,
            name: sys::port_name(id).unwrap_or_default(),
        };
        Ok((info(ia), info(ib)))
    }

    /// Whether the EAL uses virtual addresses as IO addresses (it does with `--no-huge`).
    pub fn iova_is_va(&self) -> bool {
        sys::iova_is_va()
    }

    /// The main lcore and the worker lcores.
    pub fn lcores(&self) -> (u32, Vec<u32>) {
        sys::lcores()
    }

    /// Runs `job` on worker lcore `lcore` (pinned to its CPU by the EAL).
    pub fn launch<T, F>(&self, lcore: u32, job: F) -> Result<LcoreJob<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let slot = Arc::new(Mutex::new(None));
        let out = slot.clone();
        sys::remote_launch(
            lcore,
            Box::new(move || {
                let value = job();
                *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
            }),
        )
        .map_err(|e| DpdkError::call("rte_eal_remote_launch", e))?;
        Ok(LcoreJob { lcore, slot })
    }
}

/// A job running on a worker lcore; [`LcoreJob::join`] waits for its result.
#[derive(Debug)]
pub struct LcoreJob<T> {
    lcore: u32,
    slot: Arc<Mutex<Option<T>>>,
}

impl<T> LcoreJob<T> {
    /// Waits for the job and returns its value; an error if it panicked.
    pub fn join(self) -> Result<T> {
        let code = sys::wait_lcore(self.lcore);
        let value = self.slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        value.ok_or_else(|| {
            DpdkError::Config(format!(
                "the job on lcore {} panicked (code {code})",
                self.lcore
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_args_fill_in_what_is_missing() {
        let c = EalConfig::parse("-l 0-1 --no-huge --vdev net_null0 --vdev=net_ring0,size=4");
        let args = c.effective_args();
        assert_eq!(args[0], "cyclone");
        assert_eq!(args.iter().filter(|a| *a == "--no-huge").count(), 1);
        let m = args.iter().position(|a| a == "-m").expect("-m added");
        assert_eq!(args[m + 1], DEFAULT_MEMORY_MB.to_string());
        assert!(args.contains(&"--no-shconf".to_string()));
        assert!(args.contains(&"--no-telemetry".to_string()));
        assert_eq!(c.vdevs(), vec!["net_null0", "net_ring0"]);
    }

    #[test]
    fn effective_args_keep_the_callers_choices() {
        let c = EalConfig::parse("--no-huge -m 512 --file-prefix x --telemetry");
        let args = c.effective_args();
        assert_eq!(args.iter().filter(|a| *a == "-m").count(), 1);
        assert!(!args
            .iter()
            .any(|a| a == "--no-shconf" || a == "--in-memory"));
        assert!(!args.iter().any(|a| a == "--no-telemetry"));
        let c = EalConfig::new(["-l", "0"]).vdev("net_null0");
        assert_eq!(c.args(), ["-l", "0", "--vdev", "net_null0"]);
    }
}
