//! Which GID (source address) a UD endpoint uses, chosen from the port's GID table.
//!
//! On RoCE every IP address of the netdev appears in the GID table twice, once per RoCE version,
//! next to the link-local GIDs derived from the MAC. The order of preference:
//!
//! 1. **RoCE v2 with an IPv4-mapped GID** (`::ffff:a.b.c.d`): routable UDP/IP (port 4791), the
//!    type every current NIC and switch is configured for, and the address people recognise;
//! 2. RoCE v2 with any other GID (IPv6, link-local);
//! 3. RoCE v1 or InfiniBand GIDs (the first valid one).
//!
//! Inside each class the lowest index wins. `RdmaConfig::gid_index` overrides the choice (as
//! `-g` does for `ibv_ud_pingpong`). Both endpoints must use GIDs of the same RoCE version.

/// The type of a GID table entry (`enum ibv_gid_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GidType {
    /// InfiniBand.
    Ib,
    /// RoCE v1 (Ethernet, no IP header).
    RoceV1,
    /// RoCE v2 (UDP/IP).
    RoceV2,
}

/// One valid entry of a port's GID table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GidEntry {
    /// Index in the table.
    pub index: u32,
    /// The GID.
    pub gid: [u8; 16],
    /// Its type.
    pub gid_type: GidType,
}

impl GidEntry {
    /// Whether the GID is an IPv4-mapped IPv6 address.
    pub fn is_ipv4_mapped(&self) -> bool {
        self.gid[..10] == [0; 10] && self.gid[10..12] == [0xff, 0xff]
    }
}

/// Picks the entry to use, by the order in the module doc; `None` if no valid GID exists.
pub fn select(entries: &[GidEntry]) -> Option<GidEntry> {
    let rank = |e: &GidEntry| match (e.gid_type, e.is_ipv4_mapped()) {
        (GidType::RoceV2, true) => 0,
        (GidType::RoceV2, false) => 1,
        _ => 2,
    };
    entries
        .iter()
        .filter(|e| e.gid != [0; 16])
        .min_by_key(|e| (rank(e), e.index))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u32, gid: &str, gid_type: GidType) -> GidEntry {
        GidEntry {
            index,
            gid: gid.parse::<std::net::Ipv6Addr>().unwrap().octets(),
            gid_type,
        }
    }

    #[test]
    fn roce_v2_ipv4_mapped_first_then_v2_then_anything() {
        // What rxe on a netdev with 198.18.0.1 shows (`ibv_devinfo -v`).
        let table = [
            entry(0, "fe80::5054:ff:fe12:3456", GidType::RoceV1),
            entry(1, "fe80::5054:ff:fe12:3456", GidType::RoceV2),
            entry(2, "::ffff:198.18.0.1", GidType::RoceV1),
            entry(3, "::ffff:198.18.0.1", GidType::RoceV2),
        ];
        assert_eq!(select(&table).unwrap().index, 3);
        assert_eq!(select(&table[..3]).unwrap().index, 1);
        assert_eq!(select(&[table[2], table[0]]).unwrap().index, 0);
        assert_eq!(select(&[entry(0, "::", GidType::RoceV2)]), None);
        assert_eq!(select(&[]), None);
    }
}
