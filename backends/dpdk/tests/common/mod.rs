//! Helpers shared by the DPDK integration tests. Each test file is its own process because the
//! EAL starts once per process; each holds a single `#[test]`.

#![allow(dead_code)]

use cyclone_pmd::PacketBuf;

/// Returns early from the test with `SKIP: <why>` when DPDK tests cannot run here.
#[macro_export]
macro_rules! skip_unless_ready {
    ($($driver:expr),*) => {
        if let Some(why) = cyclone_dpdk::env::skip_reason(&[$($driver),*]) {
            println!("SKIP: {why}");
            return;
        }
    };
}

/// A 64..=1514-byte Ethernet frame whose bytes depend on `seed`.
pub fn frame(seed: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&[0x02, 0xcc, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[0x02, 0xcc, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental ethertype
    for (i, b) in f[14..].iter_mut().enumerate() {
        *b = (seed as usize * 31 + i * 7) as u8;
    }
    f
}

/// The data of a burst, for comparing.
pub fn bytes(bufs: &[PacketBuf]) -> Vec<Vec<u8>> {
    bufs.iter().map(|b| b.data().to_vec()).collect()
}
