//! A packetdrill-like script runner: every `tests/tcp_scripts/*.pkt` is run against one `Tcp`.
//!
//! One event per line, `+SECS EVENT` (time relative to the previous line):
//! - `< FLAGS START:END(LEN) [ack N] [win N] [<OPTIONS>]` — a segment from the peer. Flags
//!   `S F R P .` (`.` is ACK). The peer's sequence numbers are absolute; `ack` is relative to
//!   our ISN, as in packetdrill.
//! - `> FLAGS START:END(LEN) [ack N] [win N] [<OPTIONS>]` — the next segment we must have sent,
//!   at this time (±2 ms). Our sequence numbers are relative to our ISN. `*` matches any
//!   number; `win` and the options are checked only when written.
//! - `~` — only let time pass. Socket calls: `listen PORT`, `connect PORT`, `accept`,
//!   `accept none` (nothing may be ready), `write N`, `read N`, `shutdown`, `close`, `abort`,
//!   `state NAME`, `error NAME`; `conns N` checks how many connections exist (any state);
//!   `from PORT` makes later `<` segments come from (and `>` segments go to) that peer port,
//!   for scripts with several connections; `stat NAME VALUE` and `connstat NAME VALUE` check
//!   a field of `TcpStats` or of the current connection's `ConnStats` as `{:?}` prints it.
//! - OPTIONS: `mss N`, `sackOK`, `TS val N ecr N`, `nop`, `wscale N`, `sack L:R L:R` (in
//!   the peer's absolute numbers, as its segments are written).
//! - Header lines change the config: `%delack MS`, `%timewait MS`, `%nosack`, `%nots`,
//!   `%synack_retries N`, `%max_retransmits N`, `%syn_backlog N`, `%challenge_ack_limit N`,
//!   `%backlog N` (the listen backlog, 8 by default), `%keepalive IDLE_MS INTERVAL_MS COUNT`,
//!   and `%remote IP:PORT` (the peer's address, 192.0.2.1:8080 by default).
//!
//! At the end, every segment we sent must have been matched.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use cyclone_pmd::Timestamp;
use cyclone_stack::tcp::{
    ConnHandle, KeepAlive, ListenerHandle, Payload, SegmentSink, Tcp, TcpConfig,
};
use cyclone_stack::wire::{SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 8080);
const START: Timestamp = Timestamp::from_millis(100_000);

#[derive(Default)]
struct Recorder(Vec<(Timestamp, TcpRepr, usize)>, Timestamp);

impl SegmentSink for Recorder {
    fn send_segment(
        &mut self,
        _src: SocketAddrV4,
        _dst: SocketAddrV4,
        repr: &TcpRepr,
        payload: Payload<'_>,
    ) -> bool {
        if std::env::var_os("TCP_TRACE").is_some() {
            eprintln!(
                "{:?} out {:?} seq={} ack={}",
                self.1, repr.flags, repr.seq, repr.ack
            );
        }
        self.0.push((self.1, *repr, payload.len()));
        true
    }
}

struct Runner {
    tcp: Tcp,
    now: Timestamp,
    out: Recorder,
    next_out: usize,
    local_port: u16,
    /// Our ISN towards each peer port, learned from the SYN we sent it.
    our_isns: Vec<(u16, u32)>,
    backlog: usize,
    listener: Option<ListenerHandle>,
    conn: Option<ConnHandle>,
    remote: SocketAddrV4,
}

fn num(s: &str) -> Result<Option<u64>, String> {
    if s == "*" {
        return Ok(None);
    }
    s.parse::<u64>()
        .map(Some)
        .map_err(|e| format!("bad number {s:?}: {e}"))
}

struct Seg {
    flags: TcpFlags,
    start: Option<u64>,
    len: usize,
    ack: Option<Option<u64>>,
    win: Option<Option<u64>>,
    options: Option<Vec<(String, Vec<String>)>>,
}

fn parse_seg(text: &str) -> Result<Seg, String> {
    let (head, opts) = match text.find('<') {
        Some(i) => {
            let end = text.rfind('>').ok_or("unclosed <")?;
            (&text[..i], Some(&text[i + 1..end]))
        }
        None => (text, None),
    };
    let words: Vec<&str> = head.split_whitespace().collect();
    let mut flags = TcpFlags::EMPTY;
    for c in words.first().ok_or("no flags")?.chars() {
        flags.insert(match c {
            'S' => TcpFlags::SYN,
            'F' => TcpFlags::FIN,
            'R' => TcpFlags::RST,
            'P' => TcpFlags::PSH,
            '.' => TcpFlags::ACK,
            _ => return Err(format!("bad flag {c}")),
        });
    }
    let range = words.get(1).ok_or("no range")?;
    let (se, len) = range.split_once('(').ok_or("bad range")?;
    let (start, _end) = se.split_once(':').ok_or("bad range")?;
    let len: usize = len.trim_end_matches(')').parse().map_err(|_| "bad len")?;
    let mut seg = Seg {
        flags,
        start: num(start)?,
        len,
        ack: None,
        win: None,
        options: None,
    };
    let mut i = 2;
    while let Some(w) = words.get(i) {
        let v = words.get(i + 1).ok_or("missing value")?;
        match *w {
            "ack" => seg.ack = Some(num(v)?),
            "win" => seg.win = Some(num(v)?),
            _ => return Err(format!("unknown field {w}")),
        }
        i += 2;
    }
    if let Some(opts) = opts {
        let mut list = Vec::new();
        for o in opts.split(',') {
            let mut parts = o.split_whitespace();
            let name = parts.next().unwrap_or("").to_string();
            list.push((name, parts.map(str::to_string).collect()));
        }
        seg.options = Some(list);
    }
    Ok(seg)
}

impl Runner {
    fn isn(&self) -> u32 {
        let port = self.remote.port();
        self.our_isns
            .iter()
            .find(|(p, _)| *p == port)
            .map_or(0, |(_, isn)| *isn)
    }

    fn advance(&mut self, to: Timestamp) {
        while let Some(t) = self.tcp.poll_at() {
            if t > to {
                break;
            }
            self.now = self.now.max(t);
            self.out.1 = self.now;
            self.tcp.poll(self.now, &mut self.out);
            if self.tcp.poll_at() == Some(t)
                && t == self.now
                && self.tcp.poll_at() <= Some(self.now)
            {
                // A timer re-armed at the same instant: poll once more, then move on.
                self.tcp.poll(self.now, &mut self.out);
                if self.tcp.poll_at() <= Some(self.now) {
                    break;
                }
            }
        }
        self.now = self.now.max(to);
        self.out.1 = self.now;
        self.tcp.poll(self.now, &mut self.out);
    }

    fn options_in(&self, list: &[(String, Vec<String>)]) -> Result<TcpOptions, String> {
        let mut o = TcpOptions::default();
        for (name, args) in list {
            let arg = |i: usize| -> Result<u64, String> {
                Ok(num(args.get(i).map(String::as_str).unwrap_or(""))?.unwrap_or(0))
            };
            match name.as_str() {
                "mss" => o.mss = Some(arg(0)? as u16),
                "wscale" => o.window_scale = Some(arg(0)? as u8),
                "sackOK" => o.sack_permitted = true,
                "nop" | "" => {}
                "TS" => {
                    o.timestamps = Some(TcpTimestamps {
                        tsval: arg(1)? as u32,
                        tsecr: arg(3)? as u32,
                    })
                }
                "sack" => {
                    let mut blocks = Vec::new();
                    for a in args {
                        let (l, r) = a.split_once(':').ok_or("bad sack")?;
                        let l: u32 = l.parse().map_err(|_| "bad sack")?;
                        let r: u32 = r.parse().map_err(|_| "bad sack")?;
                        blocks.push(SackBlock {
                            left: self.isn().wrapping_add(l),
                            right: self.isn().wrapping_add(r),
                        });
                    }
                    o.sack = SackBlocks::from_slice(&blocks);
                }
                _ => return Err(format!("unknown option {name}")),
            }
        }
        Ok(o)
    }

    fn check_options(
        &self,
        got: &TcpOptions,
        list: &[(String, Vec<String>)],
    ) -> Result<(), String> {
        let mut want_ts = false;
        let mut want_sack = false;
        let m = |want: &str, got: u64| -> Result<(), String> {
            match num(want)? {
                Some(w) if w != got => Err(format!("option value {got}, expected {w}")),
                _ => Ok(()),
            }
        };
        for (name, args) in list {
            let a = |i: usize| args.get(i).map(String::as_str).unwrap_or("*");
            match name.as_str() {
                "mss" => m(a(0), u64::from(got.mss.ok_or("no mss")?))?,
                "wscale" => m(a(0), u64::from(got.window_scale.ok_or("no wscale")?))?,
                "sackOK" if !got.sack_permitted => return Err("no sackOK".into()),
                "TS" => {
                    want_ts = true;
                    let ts = got.timestamps.ok_or("no TS")?;
                    m(a(1), u64::from(ts.tsval))?;
                    m(a(3), u64::from(ts.tsecr))?;
                }
                "sack" => {
                    want_sack = true;
                    let blocks: Vec<String> = got
                        .sack
                        .as_slice()
                        .iter()
                        // The blocks are in the peer's sequence space, which the script
                        // writes in absolute numbers.
                        .map(|b| format!("{}:{}", b.left, b.right))
                        .collect();
                    if &blocks != args {
                        return Err(format!("sack {blocks:?}, expected {args:?}"));
                    }
                }
                _ => {}
            }
        }
        if !want_ts && got.timestamps.is_some() {
            return Err("unexpected TS option".into());
        }
        if !want_sack && !got.sack.is_empty() {
            return Err(format!("unexpected SACK {:?}", got.sack));
        }
        Ok(())
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        let (time, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let delta: f64 = time
            .strip_prefix('+')
            .ok_or("time must be +SECS")?
            .parse()
            .map_err(|_| "bad time")?;
        let t = self.now + Duration::from_secs_f64(delta);
        self.advance(t);
        let rest = rest.trim();
        let (cmd, arg) = rest.split_once(' ').unwrap_or((rest, ""));
        let arg = arg.trim();
        match cmd {
            "~" => {}
            "<" => {
                let seg = parse_seg(arg)?;
                let repr = TcpRepr {
                    src_port: self.remote.port(),
                    dst_port: self.local_port,
                    seq: seg.start.ok_or("wildcard seq in input")? as u32,
                    ack: seg
                        .ack
                        .flatten()
                        .map_or(0, |a| self.isn().wrapping_add(a as u32)),
                    flags: seg.flags,
                    window: seg.win.flatten().unwrap_or(65535) as u16,
                    urgent: 0,
                    options: self.options_in(seg.options.as_deref().unwrap_or(&[]))?,
                };
                let payload = vec![0u8; seg.len];
                self.tcp.input(
                    self.now,
                    *self.remote.ip(),
                    LOCAL,
                    &repr,
                    &payload,
                    &mut self.out,
                );
                self.tcp.poll(self.now, &mut self.out);
            }
            ">" => {
                let seg = parse_seg(arg)?;
                let (at, got, len) = *self
                    .out
                    .0
                    .get(self.next_out)
                    .ok_or("expected a segment, none sent")?;
                self.next_out += 1;
                let diff = at.as_nanos().abs_diff(self.now.as_nanos());
                if diff > 2_000_000 {
                    return Err(format!(
                        "segment {got:?} sent at {at:?}, expected at {:?}",
                        self.now
                    ));
                }
                if got.flags.contains(TcpFlags::SYN)
                    && !self.our_isns.iter().any(|(p, _)| *p == got.dst_port)
                {
                    self.our_isns.push((got.dst_port, got.seq));
                }
                let err = |what: &str| format!("{what}: got {got:?} len {len}");
                if got.dst_port != self.remote.port() {
                    return Err(err("destination port"));
                }
                if got.flags != seg.flags {
                    return Err(err("flags"));
                }
                if let Some(s) = seg.start {
                    if got.seq.wrapping_sub(self.isn()) != s as u32 {
                        return Err(err("seq"));
                    }
                }
                if len != seg.len {
                    return Err(err("len"));
                }
                if let Some(Some(a)) = seg.ack {
                    if got.ack != a as u32 {
                        return Err(err("ack"));
                    }
                }
                if let Some(Some(w)) = seg.win {
                    if u64::from(got.window) != w {
                        return Err(err("win"));
                    }
                }
                if let Some(list) = &seg.options {
                    self.check_options(&got.options, list)
                        .map_err(|e| err(&e))?;
                }
            }
            "listen" => {
                self.local_port = arg.parse().map_err(|_| "bad port")?;
                self.listener = Some(
                    self.tcp
                        .listen(SocketAddrV4::new(LOCAL, self.local_port), self.backlog)
                        .map_err(|e| e.to_string())?,
                );
            }
            "connect" => {
                self.local_port = 40000;
                let port: u16 = arg.parse().map_err(|_| "bad port")?;
                self.remote = SocketAddrV4::new(*self.remote.ip(), port);
                self.conn = Some(
                    self.tcp
                        .connect(
                            self.now,
                            SocketAddrV4::new(LOCAL, self.local_port),
                            self.remote,
                        )
                        .map_err(|e| e.to_string())?,
                );
                self.tcp.poll(self.now, &mut self.out);
            }
            "accept" if arg == "none" => {
                let listener = self.listener.ok_or("no listener")?;
                if let Some(c) = self.tcp.accept(listener) {
                    return Err(format!("accepted {c:?}, expected nothing"));
                }
            }
            "conns" => {
                let n: usize = arg.parse().map_err(|_| "bad count")?;
                let got = self.tcp.connection_count();
                if got != n {
                    return Err(format!("{got} connections, expected {n}"));
                }
            }
            "accept" => {
                self.conn = Some(
                    self.tcp
                        .accept(self.listener.ok_or("no listener")?)
                        .ok_or("nothing to accept")?,
                );
            }
            "write" => {
                let n: usize = arg.parse().map_err(|_| "bad count")?;
                let c = self.conn.ok_or("no conn")?;
                let k = self
                    .tcp
                    .send(c, &vec![b'x'; n])
                    .map_err(|e| e.to_string())?;
                if k != n {
                    return Err(format!("wrote {k} of {n}"));
                }
                self.tcp.poll(self.now, &mut self.out);
            }
            "read" => {
                let n: usize = arg.parse().map_err(|_| "bad count")?;
                let c = self.conn.ok_or("no conn")?;
                let mut buf = vec![0u8; n];
                let k = self.tcp.recv(c, &mut buf).map_err(|e| e.to_string())?;
                if k != n {
                    return Err(format!("read {k} of {n}"));
                }
                self.tcp.poll(self.now, &mut self.out);
            }
            "shutdown" | "close" | "abort" => {
                let c = self.conn.ok_or("no conn")?;
                match cmd {
                    "shutdown" => self.tcp.shutdown(c),
                    "close" => self.tcp.close(c),
                    _ => self.tcp.abort(c),
                }
                .map_err(|e| e.to_string())?;
                self.tcp.poll(self.now, &mut self.out);
            }
            "state" => {
                let c = self.conn.ok_or("no conn")?;
                let got = self
                    .tcp
                    .state(c)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string());
                if got != arg {
                    return Err(format!("state {got}, expected {arg}"));
                }
            }
            "from" => {
                let port = arg.parse().map_err(|_| "bad port")?;
                self.remote = SocketAddrV4::new(*self.remote.ip(), port);
            }
            "stat" => {
                let (name, want) = arg.split_once(' ').ok_or("stat NAME VALUE")?;
                let got = debug_field(&format!("{:?}", self.tcp.stats()), name)?;
                if got != want.trim() {
                    return Err(format!("stat {name} = {got}, expected {want}"));
                }
            }
            "connstat" => {
                let (name, want) = arg.split_once(' ').ok_or("connstat NAME VALUE")?;
                let c = self.conn.ok_or("no conn")?;
                let stats = self.tcp.conn_stats(c).ok_or("no such connection")?;
                let got = debug_field(&format!("{stats:?}"), name)?;
                if got != want.trim() {
                    return Err(format!("connstat {name} = {got}, expected {want}"));
                }
            }
            "error" => {
                let c = self.conn.ok_or("no conn")?;
                let got = format!("{:?}", self.tcp.error(c));
                if got != arg {
                    return Err(format!("error {got}, expected {arg}"));
                }
            }
            _ => return Err(format!("unknown command {cmd:?}")),
        }
        Ok(())
    }
}

/// The value of field `name` in a struct's `{:?}` text (`Name { a: 1, b: Some(2ms) }`), as
/// printed: the counters are checked by name without a list of them here.
fn debug_field(debug: &str, name: &str) -> Result<String, String> {
    let key = format!(" {name}: ");
    let start = debug.find(&key).ok_or(format!("no field {name:?}"))? + key.len();
    let rest = &debug[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Ok(rest[..end].trim().to_string())
}

fn run_script(text: &str, header_prediction: bool) -> Result<(), String> {
    let mut config = TcpConfig {
        isn_key: 1,
        header_prediction,
        ..TcpConfig::default()
    };
    let mut remote = REMOTE;
    let mut backlog = 8;
    let mut lines = Vec::new();
    for (no, raw) in text.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix('%') {
            let words: Vec<&str> = h.split_whitespace().collect();
            let k = words.first().copied().unwrap_or("");
            let arg = |i: usize| -> Result<u64, String> {
                let w = words.get(i).ok_or(format!("%{k}: missing argument {i}"))?;
                w.parse().map_err(|_| format!("%{k}: bad number {w:?}"))
            };
            let ms = |i: usize| arg(i).map(Duration::from_millis);
            match k {
                "delack" => config.delayed_ack = ms(1)?,
                "timewait" => config.time_wait = ms(1)?,
                "nosack" => config.sack = false,
                "syn_backlog" => config.syn_backlog = arg(1)? as usize,
                "challenge_ack_limit" => config.challenge_ack_limit = arg(1)? as u32,
                "backlog" => backlog = arg(1)? as usize,
                "nots" => config.timestamps = false,
                "synack_retries" => config.synack_retries = arg(1)? as u32,
                "max_retransmits" => config.max_retransmits = arg(1)? as u32,
                "keepalive" => {
                    config.keepalive = Some(KeepAlive {
                        idle: ms(1)?,
                        interval: ms(2)?,
                        count: arg(3)? as u32,
                    })
                }
                "remote" => {
                    let w = words.get(1).ok_or("%remote: missing IP:PORT")?;
                    remote = w
                        .parse()
                        .map_err(|_| format!("%remote: bad address {w:?}"))?;
                }
                _ => return Err(format!("unknown header {k}")),
            }
            continue;
        }
        lines.push((no + 1, line.to_string()));
    }
    let mut r = Runner {
        tcp: Tcp::new(config, START),
        now: START,
        out: Recorder(Vec::new(), START),
        next_out: 0,
        local_port: 80,
        our_isns: Vec::new(),
        backlog,
        listener: None,
        conn: None,
        remote,
    };
    for (no, line) in lines {
        r.line(&line)
            .map_err(|e| format!("line {no}: {line}\n    {e}"))?;
    }
    if let Some((at, repr, len)) = r.out.0.get(r.next_out) {
        return Err(format!("unexpected segment at {at:?}: {repr:?} len {len}"));
    }
    Ok(())
}

#[test]
fn tcp_scripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tcp_scripts");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("scripts dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pkt"))
        // `TCP_SCRIPT=name` runs only the scripts whose file name contains `name`.
        .filter(|p| {
            std::env::var("TCP_SCRIPT").map_or(true, |only| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(only.as_str()))
            })
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    let mut failures = Vec::new();
    for p in &paths {
        let text = std::fs::read_to_string(p).expect("read script");
        // Every script holds with and without header prediction (the established-state fast
        // path must send exactly what the full processing sends).
        for header_prediction in [true, false] {
            if let Err(e) = run_script(&text, header_prediction) {
                failures.push(format!(
                    "{} (header prediction {header_prediction}): {e}",
                    p.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} script(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
