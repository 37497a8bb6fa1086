//! A two-host lab on the in-memory link: two stack instances ([`Interface`]s) joined by a
//! simulated wire on a virtual clock, each behind a seeded fault injector and a capture whose
//! SHA-256 digest identifies the packet trace. Deterministic: the same settings and seed give
//! the same trace, byte for byte.
//!
//! The caller drives it: [`Lab::poll`] runs both hosts once; the caller runs its applications
//! (on `lab.hosts[i].iface`); [`Lab::advance`] moves the virtual clock to the next thing that
//! can happen (a frame arriving, a timer of the stacks or of the caller) when nothing is left
//! to do now.

use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cyclone_pmd::fault::{Direction, FaultConfig, FaultInjector};
use cyclone_pmd::memory::{MemoryLink, MemoryLinkConfig, MemoryQueue};
use cyclone_pmd::pcap::PcapCapture;
use cyclone_pmd::{Clock, Port, PortError, Timestamp, VirtualClock};
use cyclone_stack::iface::{ConfigError, Interface, InterfaceConfig, Ipv4Cidr};
use sha2::{Digest, Sha256};

/// The queue type of a lab host: faults on receive, over a capture of what crosses the wire.
pub type LabQueue = FaultInjector<PcapCapture<MemoryQueue, DigestWriter>>;

/// Settings of a [`Lab`].
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The link between the hosts.
    pub link: MemoryLinkConfig,
    /// Faults each host's receive side sees (the seed is varied per host).
    pub faults: FaultConfig,
    /// The hosts' addresses (on one /24).
    pub addrs: [Ipv4Addr; 2],
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            link: MemoryLinkConfig {
                latency: Duration::from_micros(50),
                bandwidth_bps: 10_000_000_000,
                ..MemoryLinkConfig::default()
            },
            faults: FaultConfig::default(),
            addrs: [Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2)],
        }
    }
}

/// Why a lab could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The link or a queue.
    #[error(transparent)]
    Port(#[from] PortError),
    /// The fault settings.
    #[error(transparent)]
    Faults(#[from] cyclone_pmd::fault::FaultConfigError),
    /// The capture.
    #[error(transparent)]
    Capture(#[from] cyclone_pmd::pcap::CaptureError),
    /// An interface's configuration.
    #[error(transparent)]
    Interface(#[from] ConfigError),
    /// A TCP call failed.
    #[error("TCP: {0}")]
    Tcp(cyclone_stack::tcp::TcpError),
    /// Nothing can happen any more, but the caller is not done.
    #[error("the lab stalled at {0:?}: no frame in flight and no timer armed")]
    Stalled(Timestamp),
    /// The run did not finish within its step budget.
    #[error("the lab ran {0} steps without finishing")]
    TooManySteps(u64),
}

/// A `Write` that only hashes what it is given.
#[derive(Debug, Clone, Default)]
pub struct DigestWriter(Arc<Mutex<Sha256>>);

impl DigestWriter {
    /// The digest of everything written so far, in hex.
    pub fn hex(&self) -> String {
        let hasher = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl Write for DigestWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One host of the lab.
#[derive(Debug)]
pub struct Host {
    /// The stack instance.
    pub iface: Interface,
    /// Its queue.
    pub queue: LabQueue,
    /// Its address.
    pub addr: Ipv4Addr,
    trace: DigestWriter,
}

impl Host {
    /// SHA-256 of every frame this host received or sent, with its time: the packet trace.
    pub fn trace_digest(&mut self) -> String {
        let _ = self.queue.inner_mut().flush();
        self.trace.hex()
    }
}

/// Two hosts on an in-memory link.
#[derive(Debug)]
pub struct Lab {
    /// The virtual clock everything runs on.
    pub clock: VirtualClock,
    /// The two hosts.
    pub hosts: [Host; 2],
    link: MemoryLink,
    steps: u64,
}

impl Lab {
    /// Builds the lab: link, queues, injectors, captures and interfaces.
    pub fn new(config: LabConfig) -> Result<Lab, LabError> {
        let clock = VirtualClock::new();
        let shared: Arc<dyn Clock + Send + Sync> = Arc::new(clock.clone());
        let (mut p0, mut p1) = MemoryLink::pair(config.link.clone(), shared.clone())?;
        let link = p0.link();
        let host = |port: &mut cyclone_pmd::memory::MemoryPort, i: usize| {
            let trace = DigestWriter::default();
            let capture = PcapCapture::new(
                port.open_queue(0)?,
                trace.clone(),
                shared.clone(),
                pcap_file::TsResolution::NanoSecond,
            )?;
            let faults = FaultConfig {
                seed: config.faults.seed.wrapping_add(i as u64 * 0x9e37_79b9),
                direction: Direction::Rx,
                ..config.faults
            };
            let queue = FaultInjector::new(capture, faults)?;
            let addr = config.addrs[i];
            let iface_config = InterfaceConfig::new(port.mac(), Ipv4Cidr::new(addr, 24));
            let iface = Interface::new(iface_config, port.capabilities(), clock.now())?;
            Ok::<Host, LabError>(Host {
                iface,
                queue,
                addr,
                trace,
            })
        };
        let hosts = [host(&mut p0, 0)?, host(&mut p1, 1)?];
        Ok(Lab {
            clock,
            hosts,
            link,
            steps: 0,
        })
    }

    /// Now, on the lab's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs both hosts once (receive, protocols, timers, transmit).
    pub fn poll(&mut self) {
        let now = self.clock.now();
        for host in &mut self.hosts {
            host.iface.poll(now, &mut host.queue);
        }
        self.steps += 1;
    }

    /// Moves the clock to the next event if nothing is due now: a frame arriving, a stack timer,
    /// or `extra` (the caller's own timer). Errors if nothing can ever happen again.
    pub fn advance(&mut self, extra: Option<Timestamp>) -> Result<(), LabError> {
        let now = self.clock.now();
        if self.hosts.iter().any(|h| h.queue.pending() > 0) {
            return Ok(()); // the injectors release held frames on the next idle poll
        }
        let next = [self.link.next_arrival(), extra]
            .into_iter()
            .chain(self.hosts.iter().map(|h| h.iface.poll_at()))
            .flatten()
            .min();
        match next {
            Some(t) if t > now => {
                self.clock.advance_to(t);
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(LabError::Stalled(now)),
        }
    }

    /// Runs `step` after every poll until it returns `true`, advancing the clock in between
    /// (to `next_timer`'s answer too), for at most `max_steps` polls.
    pub fn run_until(
        &mut self,
        max_steps: u64,
        mut step: impl FnMut(&mut Lab) -> bool,
        mut next_timer: impl FnMut(&Lab) -> Option<Timestamp>,
    ) -> Result<(), LabError> {
        let start = self.steps;
        loop {
            self.poll();
            if step(self) {
                return Ok(());
            }
            if self.steps - start >= max_steps {
                return Err(LabError::TooManySteps(max_steps));
            }
            let extra = next_timer(self);
            self.advance(extra)?;
        }
    }
}
