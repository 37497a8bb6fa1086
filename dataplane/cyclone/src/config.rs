//! The settings of `cyclone serve`: where they come from, how they combine, and how they are
//! checked before anything starts.
//!
//! Every setting can be given three ways; the first that is present wins:
//!
//! 1. a command-line flag (`--ip 10.0.0.1/24`),
//! 2. an environment variable (`CYCLONE_IP=10.0.0.1/24`),
//! 3. a key of the TOML file named by `--config FILE` / `CYCLONE_CONFIG` (`ip = "10.0.0.1/24"`),
//!
//! and otherwise the default. [`ServeArgs`] is the clap half (flags and environment: clap reads
//! both, the flag first), [`FileConfig`] the file half, and [`ServeArgs::resolve`] merges them
//! and validates the result into a [`ServeConfig`], or says what is wrong and what to do in a
//! [`ConfigError`].
//!
//! | flag | environment | file key | default |
//! |---|---|---|---|
//! | `--backend afxdp\|dpdk\|memory` | `CYCLONE_BACKEND` | `backend` | `afxdp` if built in, else `memory` |
//! | `--iface IFACE` | `CYCLONE_IFACE` | `iface` | required for `afxdp`; `dpdk`: a port name or id (`0`); `memory`: `mem0` |
//! | `--ip ADDR/PREFIX` | `CYCLONE_IP` | `ip` | required |
//! | `--gateway ADDR` | `CYCLONE_GATEWAY` | `gateway` | none |
//! | `--queues N` (1..=64) | `CYCLONE_QUEUES` | `queues` | 1 |
//! | `--port PORT` | `CYCLONE_PORT` | `port` | 80 |
//! | `--app static\|echo` | `CYCLONE_APP` | `app` | `echo` |
//! | `--root DIR` | `CYCLONE_ROOT` | `root` | required for `static` |
//! | `--metrics[=BOOL]` | `CYCLONE_METRICS` | `metrics` | false |
//! | `--busy-poll[=BOOL]` | `CYCLONE_BUSY_POLL` | `busy_poll` | false |
//! | `--grace-ms MS` | `CYCLONE_GRACE_MS` | `grace_ms` | 2000 |
//! | `--dpdk-args "EAL ARGS"` | `CYCLONE_DPDK_ARGS` | `dpdk_args` | required for `dpdk`, refused otherwise |
//! | `--config FILE` | `CYCLONE_CONFIG` | — | none |

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use cyclone_pmd::MacAddr;
use cyclone_stack::iface::{InterfaceConfig, Ipv4Cidr};
use serde::Deserialize;

/// Most queues `cyclone serve` runs (one thread each).
pub const MAX_QUEUES: u16 = 64;
/// Default grace period for in-flight responses at shutdown.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// Which port implementation carries the packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// AF_XDP sockets on a Linux interface (cargo feature `afxdp`).
    Afxdp,
    /// DPDK ports (cargo feature `dpdk`).
    Dpdk,
    /// The in-memory link (always built in; for tests and trying things out).
    Memory,
}

impl Backend {
    /// Every backend, built in or not.
    pub const ALL: [Backend; 3] = [Backend::Afxdp, Backend::Dpdk, Backend::Memory];

    /// The name used on the command line, in the environment and in the file.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Afxdp => "afxdp",
            Backend::Dpdk => "dpdk",
            Backend::Memory => "memory",
        }
    }

    /// The cargo feature that builds this backend in (`None`: always built in).
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Backend::Afxdp => Some("afxdp"),
            Backend::Dpdk => Some("dpdk"),
            Backend::Memory => None,
        }
    }

    /// Whether this build includes the backend.
    pub fn is_built_in(self) -> bool {
        match self {
            Backend::Afxdp => cfg!(feature = "afxdp"),
            Backend::Dpdk => cfg!(feature = "dpdk"),
            Backend::Memory => true,
        }
    }

    /// The default: `afxdp` if this build includes it, else `memory`. Never `dpdk`, which
    /// needs its EAL arguments (`--dpdk-args`) and so has to be asked for.
    pub fn default_for_build() -> Backend {
        if Backend::Afxdp.is_built_in() {
            Backend::Afxdp
        } else {
            Backend::Memory
        }
    }

    /// Whether the backend needs `--iface` (the others have a default: `mem0` for `memory`,
    /// port `0` for `dpdk`).
    pub fn needs_iface(self) -> bool {
        matches!(self, Backend::Afxdp)
    }

    /// The interface used when none is given (`None`: it must be given).
    pub fn default_iface(self) -> Option<&'static str> {
        match self {
            Backend::Afxdp => None,
            Backend::Dpdk => Some("0"),
            Backend::Memory => Some("mem0"),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Backend, ConfigError> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| ConfigError::UnknownBackend(s.to_string()))
    }
}

/// The application served on every queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppKind {
    /// Static files from `root` under `/`, plus `GET /health` and `POST /echo`.
    Static,
    /// `POST /echo` (the body back) and `GET /health`.
    Echo,
}

impl AppKind {
    /// The name used on the command line, in the environment and in the file.
    pub fn name(self) -> &'static str {
        match self {
            AppKind::Static => "static",
            AppKind::Echo => "echo",
        }
    }
}

impl fmt::Display for AppKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AppKind {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<AppKind, ConfigError> {
        match s {
            "static" => Ok(AppKind::Static),
            "echo" => Ok(AppKind::Echo),
            _ => Err(ConfigError::UnknownApp(s.to_string())),
        }
    }
}

/// A setting that cannot work, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--backend` names no backend.
    #[error("unknown backend `{0}`: use one of afxdp, dpdk, memory")]
    UnknownBackend(String),
    /// The backend exists but this binary was built without it.
    #[error(
        "this build does not include the {backend} backend: rebuild with \
         `cargo build -p cyclone --features {feature}`"
    )]
    BackendNotBuilt {
        /// The backend asked for.
        backend: Backend,
        /// The cargo feature that builds it in.
        feature: &'static str,
    },
    /// `--app` names no application.
    #[error("unknown app `{0}`: use `static` (files from --root) or `echo`")]
    UnknownApp(String),
    /// A real backend without an interface.
    #[error(
        "the {0} backend needs an interface: pass --iface IFACE (or set CYCLONE_IFACE, or \
         `iface` in the config file)"
    )]
    MissingIface(Backend),
    /// No address.
    #[error(
        "no IPv4 address: pass --ip ADDR/PREFIX such as 10.0.0.1/24 (or set CYCLONE_IP, or \
         `ip` in the config file)"
    )]
    MissingIp,
    /// The address is not `a.b.c.d/len`.
    #[error("`{0}` is not an IPv4 address with a prefix length: write it like 10.0.0.1/24")]
    BadCidr(String),
    /// The address cannot be a host's.
    #[error(
        "{0} cannot be this host's address (the network or broadcast address of its subnet, \
         multicast, loopback or unspecified): pick a unicast address inside the subnet"
    )]
    AddressNotUnicast(Ipv4Cidr),
    /// The gateway is not an IPv4 address.
    #[error("gateway `{0}` is not an IPv4 address: write it like 10.0.0.254")]
    BadGateway(String),
    /// The gateway cannot be reached by ARP.
    #[error(
        "gateway {gateway} is not on-link: it is outside {ip}; pick a gateway inside that \
         subnet, or widen the prefix of --ip"
    )]
    GatewayNotOnLink {
        /// The gateway.
        gateway: Ipv4Addr,
        /// Our address and subnet.
        ip: Ipv4Cidr,
    },
    /// The gateway is our own address, or not unicast.
    #[error("gateway {0} cannot be a next hop (it is our own address, or not unicast)")]
    GatewayNotUsable(Ipv4Addr),
    /// Queue count out of range.
    #[error("--queues {0} is out of range: use 1 to {MAX_QUEUES} (one thread per queue)")]
    Queues(u32),
    /// The dpdk backend without EAL arguments.
    #[error(
        "the dpdk backend needs its EAL arguments: pass --dpdk-args \"<EAL args>\" such as \
         \"-l 0-1 --no-pci --vdev net_af_packet0,iface=eth1\" (or set CYCLONE_DPDK_ARGS, or \
         `dpdk_args` in the config file)"
    )]
    MissingDpdkArgs,
    /// EAL arguments for a backend that is not dpdk.
    #[error("--dpdk-args only applies to --backend dpdk, not {0}: drop it or pick dpdk")]
    DpdkArgsWithoutDpdk(Backend),
    /// Port zero.
    #[error("--port 0 cannot be listened on: use 1 to 65535 (80 by default)")]
    PortZero,
    /// `--app static` without a root.
    #[error(
        "--app static needs --root DIR, the directory to serve (or CYCLONE_ROOT, or `root` \
         in the config file)"
    )]
    MissingRoot,
    /// The root is not a directory.
    #[error("--root {0}: not a directory; point it at the directory to serve")]
    RootNotDirectory(PathBuf),
    /// The root cannot be read.
    #[error("--root {path}: cannot read it; check that it exists and this user may list it")]
    RootUnreadable {
        /// The root.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file cannot be read.
    #[error("cannot read the config file {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has unknown or mistyped keys.
    #[error("config file {path} is not valid: see the key list in `cyclone serve --help`")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<toml::de::Error>,
    },
}

/// The flags of `cyclone serve`, each with its environment variable. Every value is optional
/// here: what is missing comes from the config file, then the defaults
/// (see [`ServeArgs::resolve`]).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(
    after_help = "Precedence: flags > environment variables > config file > defaults. \
The config file (TOML) takes the same settings with the same names, `-` written as `_`:\n\n    \
backend = \"afxdp\"\n    iface = \"eth0\"\n    ip = \"10.0.0.1/24\"\n    gateway = \"10.0.0.254\"\n    \
queues = 4\n    port = 80\n    app = \"static\"\n    root = \"/srv/www\"\n    metrics = true\n    \
busy_poll = false\n    grace_ms = 2000\n    \
dpdk_args = \"-l 0-1 --no-pci --vdev net_af_packet0,iface=eth1\""
)]
pub struct ServeArgs {
    /// Packet I/O backend: afxdp, dpdk or memory [default: afxdp if built in, else memory].
    #[arg(long, env = "CYCLONE_BACKEND", value_name = "BACKEND")]
    pub backend: Option<String>,
    /// Network interface (afxdp), or DPDK port name or id (dpdk, default 0), to run on.
    #[arg(long, env = "CYCLONE_IFACE", value_name = "IFACE")]
    pub iface: Option<String>,
    /// This host's IPv4 address and subnet, like 10.0.0.1/24.
    #[arg(long, env = "CYCLONE_IP", value_name = "ADDR/PREFIX")]
    pub ip: Option<String>,
    /// Default gateway for destinations off the subnet (must be on-link).
    #[arg(long, env = "CYCLONE_GATEWAY", value_name = "ADDR")]
    pub gateway: Option<String>,
    /// Queues to run, one thread each, 1 to 64 [default: 1].
    #[arg(long, env = "CYCLONE_QUEUES", value_name = "N")]
    pub queues: Option<u32>,
    /// TCP port to serve HTTP on [default: 80].
    #[arg(long, env = "CYCLONE_PORT", value_name = "PORT")]
    pub port: Option<u16>,
    /// Application: static (files from --root, plus /health and /echo) or echo [default: echo].
    #[arg(long, env = "CYCLONE_APP", value_name = "APP")]
    pub app: Option<String>,
    /// Directory served by --app static.
    #[arg(long, env = "CYCLONE_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Serve Prometheus metrics at GET /metrics [default: false].
    #[arg(long, env = "CYCLONE_METRICS", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics: Option<bool>,
    /// Spin on the queues instead of backing off when idle (lowest latency, one full core
    /// per queue) [default: false].
    #[arg(long, env = "CYCLONE_BUSY_POLL", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub busy_poll: Option<bool>,
    /// How long in-flight responses may take to finish at shutdown, in ms [default: 2000].
    #[arg(long, env = "CYCLONE_GRACE_MS", value_name = "MS")]
    pub grace_ms: Option<u64>,
    /// DPDK EAL arguments in one string, e.g. "-l 0-1 --no-pci --vdev net_af_packet0,iface=eth1"
    /// (required for --backend dpdk; the EAL runs without hugepages when none are mounted).
    #[arg(
        long,
        env = "CYCLONE_DPDK_ARGS",
        value_name = "EAL ARGS",
        allow_hyphen_values = true
    )]
    pub dpdk_args: Option<String>,
    /// TOML file with any of these settings (flags and environment override it).
    #[arg(long, env = "CYCLONE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the resolved settings as TOML and exit without serving.
    #[arg(long)]
    pub print_config: bool,
}

/// The config file: the same settings as the flags, every key optional. Unknown keys are
/// errors (a typo must not be silently ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `backend = "afxdp"`.
    pub backend: Option<String>,
    /// `iface = "eth0"`.
    pub iface: Option<String>,
    /// `ip = "10.0.0.1/24"`.
    pub ip: Option<String>,
    /// `gateway = "10.0.0.254"`.
    pub gateway: Option<String>,
    /// `queues = 4`.
    pub queues: Option<u32>,
    /// `port = 80`.
    pub port: Option<u16>,
    /// `app = "static"`.
    pub app: Option<String>,
    /// `root = "/srv/www"`.
    pub root: Option<PathBuf>,
    /// `metrics = true`.
    pub metrics: Option<bool>,
    /// `busy_poll = false`.
    pub busy_poll: Option<bool>,
    /// `grace_ms = 2000`.
    pub grace_ms: Option<u64>,
    /// `dpdk_args = "-l 0-1 --vdev net_null0"`.
    pub dpdk_args: Option<String>,
}

impl FileConfig {
    /// Parses the TOML text of a config file (`path` is for the error message).
    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::ParseFile {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ReadFile {
            path: path.to_path_buf(),
            source: e,
        })?;
        FileConfig::parse(&text, path)
    }
}

/// The checked settings of `cyclone serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Packet I/O backend (built into this binary).
    pub backend: Backend,
    /// Interface or device name (`mem0` for the memory backend when not given).
    pub iface: String,
    /// This host's address and subnet.
    pub ip: Ipv4Cidr,
    /// Default gateway, on-link.
    pub gateway: Option<Ipv4Addr>,
    /// Queues, one thread each (1..=64).
    pub queues: u16,
    /// TCP port served.
    pub port: u16,
    /// The application.
    pub app: AppKind,
    /// The static root (a readable directory), for [`AppKind::Static`].
    pub root: Option<PathBuf>,
    /// Serve `GET /metrics`.
    pub metrics: bool,
    /// Never back off when idle.
    pub busy_poll: bool,
    /// Time in-flight responses get at shutdown.
    pub grace: Duration,
    /// EAL arguments of the dpdk backend (set exactly when `backend` is dpdk).
    pub dpdk_args: Option<String>,
}

impl ServeConfig {
    /// A configuration for `ip` with every other setting at its default and the memory
    /// backend (what tests and embedders start from).
    pub fn memory(ip: Ipv4Cidr) -> ServeConfig {
        ServeConfig {
            backend: Backend::Memory,
            iface: "mem0".to_string(),
            ip,
            gateway: None,
            queues: 1,
            port: 80,
            app: AppKind::Echo,
            root: None,
            metrics: false,
            busy_poll: false,
            grace: DEFAULT_GRACE,
            dpdk_args: None,
        }
    }

    /// The interface configuration of every queue: the port's MAC, our address and gateway.
    pub fn interface_config(&self, mac: MacAddr) -> InterfaceConfig {
        let mut config = InterfaceConfig::new(mac, self.ip);
        config.gateway = self.gateway;
        config
    }

    /// Checks the settings that can be wrong in a value built by hand (the same checks
    /// [`ServeArgs::resolve`] makes).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.backend.is_built_in() {
            return Err(ConfigError::BackendNotBuilt {
                backend: self.backend,
                feature: self.backend.feature().unwrap_or("none"),
            });
        }
        check_address(self.ip, self.gateway)?;
        if self.queues == 0 || self.queues > MAX_QUEUES {
            return Err(ConfigError::Queues(u32::from(self.queues)));
        }
        if self.port == 0 {
            return Err(ConfigError::PortZero);
        }
        if self.app == AppKind::Static {
            let root = self.root.as_deref().ok_or(ConfigError::MissingRoot)?;
            check_root(root)?;
        }
        Ok(())
    }

    /// The settings as a config file would hold them.
    pub fn to_toml(&self) -> String {
        let mut s = String::new();
        let mut line = |k: &str, v: String| s.push_str(&format!("{k} = {v}\n"));
        line("backend", quote(self.backend.name()));
        line("iface", quote(&self.iface));
        line("ip", quote(&self.ip.to_string()));
        if let Some(gw) = self.gateway {
            line("gateway", quote(&gw.to_string()));
        }
        line("queues", self.queues.to_string());
        line("port", self.port.to_string());
        line("app", quote(self.app.name()));
        if let Some(root) = &self.root {
            line("root", quote(&root.display().to_string()));
        }
        line("metrics", self.metrics.to_string());
        line("busy_poll", self.busy_poll.to_string());
        line("grace_ms", self.grace.as_millis().to_string());
        if let Some(args) = &self.dpdk_args {
            line("dpdk_args", quote(args));
        }
        s
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl ServeArgs {
    /// Reads the config file (if one is named), merges flags/environment over it over the
    /// defaults, and validates the result.
    pub fn resolve(&self) -> Result<ServeConfig, ConfigError> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        self.resolve_with(file)
    }

    /// [`ServeArgs::resolve`] with the file's contents already read.
    pub fn resolve_with(&self, file: FileConfig) -> Result<ServeConfig, ConfigError> {
        let backend = match self.backend.clone().or(file.backend) {
            Some(name) => name.parse()?,
            None => Backend::default_for_build(),
        };
        if !backend.is_built_in() {
            return Err(ConfigError::BackendNotBuilt {
                backend,
                feature: backend.feature().unwrap_or("none"),
            });
        }
        let iface = match (self.iface.clone().or(file.iface), backend.default_iface()) {
            (Some(iface), _) => iface,
            (None, Some(default)) => default.to_string(),
            (None, None) => return Err(ConfigError::MissingIface(backend)),
        };
        let dpdk_args = self.dpdk_args.clone().or(file.dpdk_args);
        match (backend, &dpdk_args) {
            (Backend::Dpdk, None) => return Err(ConfigError::MissingDpdkArgs),
            (Backend::Dpdk, Some(a)) if a.trim().is_empty() => {
                return Err(ConfigError::MissingDpdkArgs)
            }
            (Backend::Dpdk, Some(_)) | (_, None) => {}
            (other, Some(_)) => return Err(ConfigError::DpdkArgsWithoutDpdk(other)),
        }
        let ip_text = self.ip.clone().or(file.ip).ok_or(ConfigError::MissingIp)?;
        let ip: Ipv4Cidr = ip_text
            .parse()
            .ok()
            .filter(|c: &Ipv4Cidr| c.prefix_len <= 32)
            .ok_or_else(|| ConfigError::BadCidr(ip_text.clone()))?;
        let gateway = match self.gateway.clone().or(file.gateway) {
            Some(text) => Some(
                text.parse::<Ipv4Addr>()
                    .map_err(|_| ConfigError::BadGateway(text.clone()))?,
            ),
            None => None,
        };
        let queues = self.queues.or(file.queues).unwrap_or(1);
        if queues == 0 || queues > u32::from(MAX_QUEUES) {
            return Err(ConfigError::Queues(queues));
        }
        let app = match self.app.clone().or(file.app) {
            Some(name) => name.parse()?,
            None => AppKind::Echo,
        };
        let config = ServeConfig {
            backend,
            iface,
            ip,
            gateway,
            queues: queues as u16,
            port: self.port.or(file.port).unwrap_or(80),
            app,
            root: self.root.clone().or(file.root),
            metrics: self.metrics.or(file.metrics).unwrap_or(false),
            busy_poll: self.busy_poll.or(file.busy_poll).unwrap_or(false),
            grace: self
                .grace_ms
                .or(file.grace_ms)
                .map_or(DEFAULT_GRACE, Duration::from_millis),
            dpdk_args,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Checks our address and the gateway the way the interface will, with messages for a user.
fn check_address(ip: Ipv4Cidr, gateway: Option<Ipv4Addr>) -> Result<(), ConfigError> {
    use cyclone_stack::iface::ConfigError as Iface;
    let mut probe = InterfaceConfig::new(MacAddr::local(1), ip);
    probe.gateway = gateway;
    // The network address of a subnet with hosts is not a host's either (RFC 1122 §3.2.1.3
    // leaves it reserved); the interface accepts it, we refuse it up front.
    if ip.prefix_len < 31 && ip.addr == ip.network() {
        return Err(ConfigError::AddressNotUnicast(ip));
    }
    match probe.validate() {
        Ok(()) => Ok(()),
        Err(Iface::PrefixTooLong { .. } | Iface::BadCidr(_)) => {
            Err(ConfigError::BadCidr(ip.to_string()))
        }
        Err(Iface::GatewayNotOnLink(gateway)) => Err(ConfigError::GatewayNotOnLink { gateway, ip }),
        Err(Iface::BadGateway(gw)) => Err(ConfigError::GatewayNotUsable(gw)),
        Err(_) => Err(ConfigError::AddressNotUnicast(ip)),
    }
}

/// The static root must be a directory this process can list.
fn check_root(root: &Path) -> Result<(), ConfigError> {
    let meta = std::fs::metadata(root).map_err(|e| ConfigError::RootUnreadable {
        path: root.to_path_buf(),
        source: e,
    })?;
    if !meta.is_dir() {
        return Err(ConfigError::RootNotDirectory(root.to_path_buf()));
    }
    std::fs::read_dir(root).map_err(|e| ConfigError::RootUnreadable {
        path: root.to_path_buf(),
        source: e,
    })?;
    Ok(())
}
