//! (d) A `--vdev` whose driver is not installed: the EAL starts, and `Eal::init` says which
//! vdev got no port and where drivers are looked for.

mod common;

use cyclone_dpdk::{DpdkError, Eal, EalConfig};

#[test]
fn vdev_without_driver_is_a_clear_error() {
    skip_unless_ready!();
    let err = Eal::init(&EalConfig::parse(
        "-l 0 --no-pci --vdev net_nosuchdriver0,foo=bar",
    ))
    .unwrap_err();
    println!("missing driver: {err}");
    match err {
        DpdkError::VdevNotProbed { vdev } => assert_eq!(vdev, "net_nosuchdriver0"),
        // Some DPDK builds fail the bus probe instead.
        DpdkError::Call { call, .. } => assert_eq!(call, "rte_eal_init"),
        other => panic!("unexpected error {other:?}"),
    }
}
