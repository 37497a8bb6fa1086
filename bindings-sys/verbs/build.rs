//! Finds libibverbs (rdma-core) with pkg-config, generates bindings for the verbs Cyclone uses
//! with bindgen (an allowlist), and compiles the C shim that gives `verbs.h`'s `static inline`
//! functions and macros real symbols.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let verbs = match pkg_config::Config::new()
        .atleast_version("1.8")
        .probe("libibverbs")
    {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!(
                "error: cyclone-verbs-sys needs libibverbs (rdma-core) and its headers, found \
                 with pkg-config as `libibverbs`: {e}\n\
                 On Debian/Ubuntu: `apt-get install libibverbs-dev pkg-config` (and \
                 `ibverbs-providers` to run against a device)."
            );
            std::process::exit(1);
        }
    };
    let include_args: Vec<String> = verbs
        .include_paths
        .iter()
        .map(|p| format!("-I{}", p.display()))
        .collect();

    let mut shim = cc::Build::new();
    shim.file("shim.c").opt_level(3).warnings(true);
    for path in &verbs.include_paths {
        shim.include(path);
    }
    shim.compile("cyclone_verbs_shim");

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&include_args)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .use_core()
        .derive_default(true)
        .derive_debug(false)
        .layout_tests(true)
        .generate_comments(false)
        .prepend_enum_name(false)
        // C enums as plain integer constants: the kernel may report values this header does
        // not know (a newer `ibv_wc_status`), which a Rust enum could not hold soundly.
        .default_enum_style(bindgen::EnumVariation::Consts)
        // Devices and contexts.
        .allowlist_function("ibv_(free_device_list|get_device_name|get_device_guid)")
        .allowlist_function("ibv_(open_device|close_device)")
        .allowlist_function("ibv_(query_device|query_gid|query_pkey)")
        .allowlist_function("ibv_(wc_status_str|port_state_str|node_type_str)")
        // Protection domains and memory regions.
        .allowlist_function("ibv_(alloc_pd|dealloc_pd|dereg_mr)")
        // Completion queues, queue pairs, address handles.
        .allowlist_function("ibv_(create_cq|destroy_cq)")
        .allowlist_function("ibv_(create_qp|modify_qp|query_qp|destroy_qp)")
        .allowlist_function("ibv_(create_ah|destroy_ah)")
        // The shim (inline data path and control-path macros).
        .allowlist_function("cyclone_ibv_.*")
        .allowlist_type("ibv_(device|context|pd|mr|cq|qp|ah|comp_channel|srq)")
        .allowlist_type(
            "ibv_(device_attr|port_attr|gid_entry|qp_init_attr|qp_attr|ah_attr|global_route)",
        )
        .allowlist_type("ibv_(send_wr|recv_wr|sge|wc|gid)")
        .allowlist_type("ibv_(qp_type|qp_state|qp_attr_mask|access_flags|send_flags|wr_opcode)")
        .allowlist_type(
            "ibv_(wc_status|wc_opcode|wc_flags|mtu|port_state|gid_type|node_type|transport_type)",
        )
        .allowlist_var("IBV_.*")
        .generate()
        .expect("bindgen generates the libibverbs bindings");

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("bindings.rs");
    bindings
        .write_to_file(out)
        .expect("the bindings are written to OUT_DIR");
}
