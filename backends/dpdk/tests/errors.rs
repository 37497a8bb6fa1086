//! (d) Failures are clear errors, never crashes: no ports, a second start with other arguments,
//! a vdev without a driver hot-plugged at run time, an unknown port, out-of-range settings.

mod common;

use cyclone_dpdk::{DpdkError, DpdkPort, Eal, EalConfig, PortConfig};

#[test]
fn errors_are_clear() {
    skip_unless_ready!();

    // No ports.
    let config = EalConfig::parse("-l 0 --no-pci");
    let eal = Eal::init(&config).expect("EAL starts");
    assert!(eal.ports().is_empty());
    let err = DpdkPort::open(&eal, 0, &PortConfig::default()).unwrap_err();
    println!("no ports: {err}");
    assert!(matches!(err, DpdkError::NoPorts));

    // Once per process: the same arguments give the running EAL, others an error.
    assert!(Eal::init(&config).is_ok());
    let err = Eal::init(&EalConfig::parse("-l 0 --vdev net_null0")).unwrap_err();
    println!("second start: {err}");
    assert!(matches!(err, DpdkError::AlreadyInitialised { .. }));

    // A vdev whose driver does not exist.
    let err = eal.probe_vdev("net_nosuchdriver0").unwrap_err();
    println!("missing driver: {err}");
    assert!(matches!(
        err,
        DpdkError::Call {
            call: "rte_dev_probe",
            ..
        } | DpdkError::VdevNotProbed { .. }
    ));

    // A port by a name that is not there, after hot-plugging one that is.
    let null = eal.probe_vdev("net_null7").expect("net_null hot-plugs");
    assert_eq!(null.name, "net_null7");
    let err = DpdkPort::open(&eal, "net_null8", &PortConfig::default()).unwrap_err();
    println!("no such port: {err}");
    assert!(matches!(err, DpdkError::NoSuchPort { .. }));

    // Out-of-range settings.
    let cfg = PortConfig {
        queues: 1000,
        ..PortConfig::default()
    };
    let err = DpdkPort::open(&eal, "net_null7", &cfg).unwrap_err();
    println!("too many queues: {err}");
    assert!(matches!(err, DpdkError::Config(_)));
}
