//! How two endpoints find each other: an [`EndpointAddr`] (GID, QPN, QKey, LID, MAC) written as
//! one line of text, exchanged over a TCP control socket or a file, or given in configuration.
//!
//! The line looks like
//! `cyclone-rdma-ud gid=fe80::5054:ff:fe12:3456 qpn=17 qkey=0xc1c10001 lid=0 mac=02:cc:34:56:00:11`
//! (the GID in IPv6 notation; fields in any order after the tag; unknown fields are an error).
//! [`exchange_listen`] and [`exchange_connect`] swap the two lines over one TCP connection:
//! each side writes its line, then reads the peer's.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::time::{Duration, Instant};

use cyclone_pmd::MacAddr;

use crate::error::RdmaError;

/// The tag every address line starts with (and its version).
pub const ADDR_TAG: &str = "cyclone-rdma-ud";

/// What a peer needs to send datagrams to an endpoint's UD queue pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointAddr {
    /// The GID of the port and GID index the endpoint uses (RoCE: an IPv6 or IPv4-mapped
    /// address).
    pub gid: [u8; 16],
    /// The UD queue pair number.
    pub qpn: u32,
    /// The Q_Key the queue pair accepts.
    pub qkey: u32,
    /// The port's LID (InfiniBand only; 0 on RoCE).
    pub lid: u16,
    /// The Ethernet address the endpoint's stack uses (for display and checks; frames carry
    /// their own).
    pub mac: MacAddr,
}

impl std::fmt::Display for EndpointAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{ADDR_TAG} gid={} qpn={} qkey={:#x} lid={} mac={}",
            Ipv6Addr::from(self.gid),
            self.qpn,
            self.qkey,
            self.lid,
            self.mac
        )
    }
}

impl FromStr for EndpointAddr {
    type Err = RdmaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| RdmaError::BadAddr {
            text: s.to_string(),
            reason,
        };
        let mut words = s.split_whitespace();
        if words.next() != Some(ADDR_TAG) {
            return Err(bad(format!("it does not start with `{ADDR_TAG}`")));
        }
        let (mut gid, mut qpn, mut qkey, mut lid, mut mac) = (None, None, None, None, None);
        for word in words {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| bad(format!("`{word}` is not key=value")))?;
            let num = |v: &str| -> Result<u64, RdmaError> {
                let parsed = match v.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => v.parse(),
                };
                parsed.map_err(|_| bad(format!("`{key}={v}` is not a number")))
            };
            let range = |v: u64, max: u64| -> Result<u64, RdmaError> {
                if v > max {
                    Err(bad(format!("`{key}={v}` is out of range")))
                } else {
                    Ok(v)
                }
            };
            match key {
                "gid" => {
                    let ip: Ipv6Addr = value
                        .parse()
                        .map_err(|_| bad(format!("`{value}` is not a GID (IPv6 notation)")))?;
                    gid = Some(ip.octets());
                }
                "qpn" => qpn = Some(range(num(value)?, 0xff_ffff)? as u32),
                "qkey" => qkey = Some(range(num(value)?, u32::MAX as u64)? as u32),
                "lid" => lid = Some(range(num(value)?, u16::MAX as u64)? as u16),
                "mac" => mac = Some(value.parse::<MacAddr>().map_err(bad)?),
                _ => return Err(bad(format!("unknown field `{key}`"))),
            }
        }
        let need = |name: &str| bad(format!("`{name}=` is missing"));
        Ok(EndpointAddr {
            gid: gid.ok_or_else(|| need("gid"))?,
            qpn: qpn.ok_or_else(|| need("qpn"))?,
            qkey: qkey.ok_or_else(|| need("qkey"))?,
            lid: lid.unwrap_or(0),
            mac: mac.ok_or_else(|| need("mac"))?,
        })
    }
}

/// Longest address line accepted from a peer.
const MAX_LINE: u64 = 512;

fn swap(stream: TcpStream, local: &EndpointAddr, peer: &str) -> Result<EndpointAddr, RdmaError> {
    let io_err = |source| RdmaError::Exchange {
        peer: peer.to_string(),
        source,
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io_err)?;
    let mut writer = stream.try_clone().map_err(io_err)?;
    writer
        .write_all(format!("{local}\n").as_bytes())
        .map_err(io_err)?;
    let mut line = String::new();
    BufReader::new(std::io::Read::take(stream, MAX_LINE))
        .read_line(&mut line)
        .map_err(io_err)?;
    line.trim().parse()
}

/// Accepts one connection on `listen`, sends `local` and returns the peer's address. Returns
/// the address actually bound through `bound` (useful with port 0) before waiting.
pub fn exchange_listen(
    listen: SocketAddr,
    local: &EndpointAddr,
    bound: impl FnOnce(SocketAddr),
) -> Result<EndpointAddr, RdmaError> {
    let io_err = |source| RdmaError::Exchange {
        peer: listen.to_string(),
        source,
    };
    let listener = TcpListener::bind(listen).map_err(io_err)?;
    bound(listener.local_addr().map_err(io_err)?);
    let (stream, from) = listener.accept().map_err(io_err)?;
    swap(stream, local, &from.to_string())
}

/// Connects to a peer's [`exchange_listen`] at `peer` (retrying for up to `wait` while it is
/// not listening yet), sends `local` and returns the peer's address.
pub fn exchange_connect(
    peer: impl ToSocketAddrs + std::fmt::Display,
    local: &EndpointAddr,
    wait: Duration,
) -> Result<EndpointAddr, RdmaError> {
    let name = peer.to_string();
    let deadline = Instant::now() + wait;
    loop {
        match TcpStream::connect(&peer) {
            Ok(stream) => return swap(stream, local, &name),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(source) => return Err(RdmaError::Exchange { peer: name, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EndpointAddr {
        EndpointAddr {
            gid: "::ffff:198.18.0.1".parse::<Ipv6Addr>().unwrap().octets(),
            qpn: 0x11,
            qkey: 0xc1c1_0001,
            lid: 0,
            mac: MacAddr::local(7),
        }
    }

    #[test]
    fn the_line_round_trips() {
        let a = sample();
        let line = a.to_string();
        assert_eq!(
            line,
            "cyclone-rdma-ud gid=::ffff:198.18.0.1 qpn=17 qkey=0xc1c10001 lid=0 mac=02:cc:00:00:00:07"
        );
        assert_eq!(line.parse::<EndpointAddr>().unwrap(), a);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let cases = [
            ("hello", "does not start with"),
            (
                "cyclone-rdma-ud gid=zz qpn=1 qkey=1 mac=02:00:00:00:00:01",
                "not a GID",
            ),
            (
                "cyclone-rdma-ud gid=::1 qkey=1 mac=02:00:00:00:00:01",
                "`qpn=` is missing",
            ),
            (
                "cyclone-rdma-ud gid=::1 qpn=0x1000000 qkey=1 mac=02:00:00:00:00:01",
                "out of range",
            ),
            (
                "cyclone-rdma-ud gid=::1 qpn=1 qkey=1 mac=02:00:00:00:00:01 x=1",
                "unknown field",
            ),
        ];
        for (line, want) in cases {
            let err = line.parse::<EndpointAddr>().unwrap_err().to_string();
            assert!(err.contains(want), "`{line}`: {err}");
        }
    }

    #[test]
    fn two_endpoints_swap_addresses_over_tcp() {
        let a = sample();
        let b = EndpointAddr { qpn: 99, ..a };
        let (tx, rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            exchange_listen("127.0.0.1:0".parse().unwrap(), &a, |bound| {
                tx.send(bound).unwrap()
            })
        });
        let at = rx.recv().unwrap();
        let got_a = exchange_connect(at, &b, Duration::from_secs(5)).unwrap();
        let got_b = server.join().unwrap().unwrap();
        assert_eq!((got_a, got_b), (a, b));
    }
}
