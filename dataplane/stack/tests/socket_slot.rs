//! `Tcp::conn_slot`: small, dense integers per connection, unique among the connections that
//! exist at one time and reused once a connection is freed (with a new handle generation).

use std::net::{Ipv4Addr, SocketAddrV4};

use cyclone_pmd::Timestamp;
use cyclone_stack::tcp::{Tcp, TcpConfig};

#[test]
fn slots_are_dense_unique_and_reused_after_free() {
    let now = Timestamp::from_millis(1);
    let mut tcp = Tcp::new(TcpConfig::default(), now);
    let local = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 0);
    let remote = |port| SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), port);
    let a = tcp.connect(now, local, remote(80)).unwrap();
    let b = tcp.connect(now, local, remote(81)).unwrap();
    let (sa, sb) = (Tcp::conn_slot(a), Tcp::conn_slot(b));
    assert_ne!(sa, sb);
    assert!(sa < 2 && sb < 2, "dense: {sa} {sb}");
    // Closing a connection that never left SYN-SENT frees it at once: its slot comes back,
    // under a handle that differs from the old one.
    tcp.close(a).unwrap();
    let c = tcp.connect(now, local, remote(82)).unwrap();
    assert_eq!(Tcp::conn_slot(c), sa);
    assert_ne!(c, a);
    assert_eq!(Tcp::conn_slot(b), sb);
}
