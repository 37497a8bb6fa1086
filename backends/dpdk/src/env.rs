//! What the machine offers DPDK: root, the PMD plugins, hugetlbfs. Read from `/proc`, no FFI,
//! so tests can decide to skip before touching the EAL.

use std::path::Path;

/// Whether the process runs as root (effective uid 0), from `/proc/self/status`.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Whether a hugetlbfs is mounted and has free huge pages: otherwise the EAL needs `--no-huge`.
pub fn hugepages_usable() -> bool {
    let mounted = std::fs::read_to_string("/proc/mounts")
        .map(|m| {
            m.lines()
                .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"))
        })
        .unwrap_or(false);
    let free = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("HugePages_Free:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    mounted && free > 0
}

/// Whether the PMD plugin for `driver` (`net_null`, `net_ring`, `net_af_packet`, `net_af_xdp`)
/// is installed in DPDK's plugin directory.
pub fn pmd_installed(driver: &str) -> bool {
    let lib = format!("librte_{driver}.so");
    Path::new(cyclone_dpdk_sys::PMD_DIR).join(lib).exists()
}

/// Why DPDK tests needing `drivers` cannot run here, or `None` when they can: tests print
/// `SKIP: <reason>` and pass.
pub fn skip_reason(drivers: &[&str]) -> Option<String> {
    if !is_root() {
        return Some("not root (DPDK needs root for its memory and devices)".into());
    }
    for d in drivers {
        if !pmd_installed(d) {
            return Some(format!(
                "DPDK driver {d} is not installed in {} (apt-get install librte-net-{}23)",
                cyclone_dpdk_sys::PMD_DIR,
                d.trim_start_matches("net_").replace('_', "-")
            ));
        }
    }
    None
}
