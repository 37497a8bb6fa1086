//! Setup errors that every machine can check: a kernel without RDMA (this project's host),
//! no device or a wrong device name (the SoftRoCE guest before/after `rdma link add`), a
//! raw-packet request, a bad configuration. Each message must say what to do.

use std::error::Error as _;

use cyclone_rdma::{QpMode, RdmaConfig, RdmaError, RdmaPort};

/// The whole error chain, as a user sees it.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[test]
fn a_kernel_without_rdma_or_without_devices_is_explained() {
    match RdmaPort::open(RdmaConfig::default()) {
        Ok(port) => println!("an RDMA device is present ({port:?}): nothing to explain"),
        Err(e @ RdmaError::NoKernelSupport { .. }) => {
            let msg = chain(&e);
            println!("{msg}");
            assert!(msg.contains("no RDMA support"), "{msg}");
            assert!(msg.contains("ci/softroce/run.sh"), "{msg}");
            assert!(msg.contains("modprobe rdma_rxe"), "{msg}");
            let source = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
            assert_eq!(source.and_then(|s| s.raw_os_error()), Some(libc_enosys()));
        }
        Err(e @ RdmaError::NoDevice) => {
            let msg = chain(&e);
            println!("{msg}");
            assert!(msg.contains("rdma link add rxe0 type rxe netdev"), "{msg}");
        }
        Err(e) => panic!("unexpected error: {}", chain(&e)),
    }
    // The device list says the same thing as opening.
    match cyclone_rdma::devices() {
        Ok(names) => println!("devices: {names:?}"),
        Err(e) => assert!(
            matches!(e, RdmaError::NoKernelSupport { .. }),
            "{}",
            chain(&e)
        ),
    }
}

fn libc_enosys() -> i32 {
    38 // ENOSYS on Linux
}

#[test]
fn a_wrong_device_name_is_explained() {
    match RdmaPort::open(RdmaConfig::device("nosuchdev7")) {
        Ok(_) => panic!("`nosuchdev7` opened"),
        // This project's host: the kernel check comes first.
        Err(RdmaError::NoKernelSupport { .. }) => {}
        Err(e @ RdmaError::NoDevice) => assert!(chain(&e).contains("no RDMA device")),
        Err(e @ RdmaError::NoSuchDevice { .. }) => {
            let msg = chain(&e);
            println!("{msg}");
            assert!(msg.contains("`nosuchdev7` not found"), "{msg}");
            assert!(msg.contains("devices present: "), "{msg}");
            if let Ok(dev) = std::env::var("CYCLONE_RDMA_DEVICE") {
                assert!(msg.contains(&dev), "{msg}");
            }
        }
        Err(e) => panic!("unexpected error: {}", chain(&e)),
    }
}

#[test]
fn raw_packet_mode_is_a_clear_stub() {
    let config = RdmaConfig {
        mode: QpMode::RawPacket,
        ..RdmaConfig::default()
    };
    match RdmaPort::open(config) {
        Ok(_) => panic!("raw-packet mode is not implemented"),
        Err(e @ RdmaError::RawPacketUnsupported { .. }) => {
            let msg = chain(&e);
            assert!(
                msg.contains("IBV_QPT_RAW_PACKET") && msg.contains("QpMode::Ud"),
                "{msg}"
            );
        }
        Err(RdmaError::NoKernelSupport { .. } | RdmaError::NoDevice) => {}
        Err(e) => panic!("unexpected error: {}", chain(&e)),
    }
}

#[test]
fn a_bad_configuration_is_refused_before_the_device_is_touched() {
    let config = RdmaConfig {
        pool: cyclone_pmd::PoolConfig {
            headroom: 16,
            ..cyclone_pmd::PoolConfig::default()
        },
        ..RdmaConfig::device("whatever")
    };
    let msg = chain(&RdmaPort::open(config).unwrap_err());
    assert!(msg.contains("40-byte GRH"), "{msg}");
}
