//! (d) Bad EAL arguments: `rte_eal_init` refuses them with EINVAL and DPDK's text, the process
//! goes on, and a later start in the same process says it cannot be retried.

mod common;

use cyclone_dpdk::{DpdkError, Eal, EalConfig};

#[test]
fn bad_eal_arguments_are_a_clear_error() {
    skip_unless_ready!();
    let err = Eal::init(&EalConfig::parse("-l 0 --no-pci --no-such-eal-option")).unwrap_err();
    println!("bad arguments: {err}");
    match &err {
        DpdkError::Call {
            call,
            errno,
            message,
        } => {
            assert_eq!(*call, "rte_eal_init");
            assert_eq!(*errno, 22, "EINVAL");
            assert_eq!(message, "Invalid argument");
        }
        other => panic!("unexpected error {other:?}"),
    }
    let again = Eal::init(&EalConfig::parse("-l 0 --no-pci")).unwrap_err();
    println!("second try: {again}");
    assert!(matches!(again, DpdkError::InitFailedBefore(_)));
    assert!(Eal::running().is_none());
}
