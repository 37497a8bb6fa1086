//! Finds the system DPDK with pkg-config, generates bindings for the part the backend uses with
//! bindgen (an allowlist), and compiles the C shim that re-exports DPDK's `static inline`
//! fast-path functions.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let dpdk = match pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!(
                "error: cyclone-dpdk-sys needs DPDK 22.11 or newer, found with pkg-config as \
                 `libdpdk`: {e}\n\
                 On Debian/Ubuntu: `apt-get install libdpdk-dev pkg-config`."
            );
            std::process::exit(1);
        }
    };

    // The include paths and defines (`-include rte_config.h`, `-march=...`) DPDK's headers
    // need, as pkg-config gives them.
    let cflags: Vec<String> = pkg_config::get_variable("libdpdk", "cflags")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_else(|| {
            let out = std::process::Command::new("pkg-config")
                .args(["--cflags", "libdpdk"])
                .output()
                .expect("pkg-config runs");
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(String::from)
                .collect()
        });
    let include_args: Vec<String> = dpdk
        .include_paths
        .iter()
        .map(|p| format!("-I{}", p.display()))
        .collect();

    let mut shim = cc::Build::new();
    shim.file("shim.c").opt_level(3).warnings(false);
    for path in &dpdk.include_paths {
        shim.include(path);
    }
    for flag in cflags.iter().filter(|f| !f.starts_with("-I")) {
        shim.flag(flag);
    }
    shim.compile("cyclone_dpdk_shim");

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&include_args)
        .clang_args(cflags.iter().filter(|f| !f.starts_with("-I")))
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .use_core()
        .derive_default(true)
        .derive_debug(false)
        .layout_tests(true)
        .generate_comments(false)
        .prepend_enum_name(false)
        // `RTE_BIT64(n)` constants (offload and RSS flags) need clang to evaluate them.
        .clang_macro_fallback()
        // EAL
        .allowlist_function(
            "rte_eal_(init|cleanup|iova_mode|remote_launch|wait_lcore|process_type)",
        )
        .allowlist_function(
            "rte_(lcore_count|get_next_lcore|get_main_lcore|socket_id|lcore_to_socket_id)",
        )
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_dev_(probe|remove)")
        // ethdev
        .allowlist_function(
            "rte_eth_dev_(count_avail|get_port_by_name|get_name_by_port|is_valid_port)",
        )
        .allowlist_function(
            "rte_eth_dev_(configure|start|stop|close|info_get|socket_id|set_mtu|get_mtu)",
        )
        .allowlist_function("rte_eth_dev_rss_hash_conf_get")
        .allowlist_function("rte_eth_(rx|tx)_queue_setup")
        .allowlist_function(
            "rte_eth_(stats_get|stats_reset|xstats_get|xstats_get_names|xstats_reset)",
        )
        .allowlist_function("rte_eth_(macaddr_get|link_get_nowait|link_get)")
        .allowlist_function("rte_eth_promiscuous_(enable|disable|get)")
        .allowlist_function("rte_eth_find_next")
        // mbuf and mempool
        .allowlist_function("rte_pktmbuf_(pool_create|pool_create_by_ops|pool_init|init|free_bulk)")
        .allowlist_function("rte_mempool_(create_empty|set_ops_byname|populate_virt|obj_iter|free)")
        .allowlist_function("rte_mempool_(register_ops|avail_count|in_use_count|lookup)")
        // The shim.
        .allowlist_function("cyclone_.*")
        .allowlist_type("rte_mbuf")
        .allowlist_type("rte_mempool")
        .allowlist_type("rte_mempool_ops")
        .allowlist_type("rte_mempool_objhdr")
        .allowlist_type("rte_pktmbuf_pool_private")
        .allowlist_type("rte_eth_(conf|dev_info|stats|xstat|xstat_name|link|rxconf|txconf)")
        .allowlist_type("rte_ether_addr")
        .allowlist_var("RTE_MBUF_F_.*")
        .allowlist_var("RTE_ETH_(RX|TX)_OFFLOAD_.*")
        .allowlist_var("RTE_ETH_RSS_.*")
        .allowlist_var("RTE_ETH_LINK_.*")
        .allowlist_var("RTE_ETH_MQ_.*")
        .allowlist_var("RTE_ETH_NAME_MAX_LEN|RTE_ETH_XSTATS_NAME_SIZE|RTE_MAX_ETHPORTS")
        .allowlist_var("RTE_MEMPOOL_F_.*|RTE_MEMPOOL_OPS_NAMESIZE|RTE_MEMPOOL_HEADER_SIZE")
        .allowlist_var("RTE_PKTMBUF_HEADROOM|RTE_CACHE_LINE_SIZE|RTE_MAX_LCORE|SOCKET_ID_ANY")
        .allowlist_var("RTE_ETHER_(MTU|HDR_LEN|CRC_LEN|MAX_LEN|MIN_MTU)")
        .allowlist_var("RTE_MBUF_DEFAULT_BUF_SIZE|RTE_PGSIZE_4K")
        .allowlist_type("rte_iova_mode|rte_proc_type_t|rte_eth_rx_mq_mode|rte_eth_tx_mq_mode")
        .generate()
        .expect("bindgen generates the DPDK bindings");

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("bindings.rs");
    bindings
        .write_to_file(out)
        .expect("the bindings are written to OUT_DIR");
}
