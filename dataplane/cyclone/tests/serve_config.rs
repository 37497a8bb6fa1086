//! `cyclone serve` settings: precedence (flags > environment > file > defaults) and one test per
//! validation error. Environment variables are tested through the binary (`--print-config`)
//! so no test changes this process's environment.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use cyclone::config::{AppKind, Backend, ConfigError, FileConfig, ServeArgs, ServeConfig};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

fn args(flags: &[&str]) -> ServeArgs {
    let mut argv = vec!["serve"];
    argv.extend_from_slice(flags);
    Cli::try_parse_from(argv).expect("flags parse").args
}

fn file(text: &str) -> FileConfig {
    FileConfig::parse(text, Path::new("test.toml")).expect("file parses")
}

/// Resolves `flags` over the file `text`. Unless either names a backend, the memory backend is
/// chosen (a build with `--features afxdp` defaults to afxdp, which needs an interface).
fn resolve(flags: &[&str], text: &str) -> Result<ServeConfig, ConfigError> {
    let mut flags = flags.to_vec();
    if !flags.contains(&"--backend") && !text.contains("backend") {
        flags.extend(["--backend", "memory"]);
    }
    args(&flags).resolve_with(file(text))
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "cyclone-serve-config-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn defaults_fill_what_nobody_set() {
    let c = resolve(&["--ip", "10.0.0.1/24"], "").unwrap();
    assert_eq!(c.backend, Backend::Memory);
    let default =
        args(&["--ip", "10.0.0.1/24", "--iface", "eth0"]).resolve_with(FileConfig::default());
    assert_eq!(default.unwrap().backend, Backend::default_for_build());
    assert_eq!(c.queues, 1);
    assert_eq!(c.port, 80);
    assert_eq!(c.app, AppKind::Echo);
    assert!(!c.metrics && !c.busy_poll);
    assert_eq!(c.grace, cyclone::config::DEFAULT_GRACE);
    assert_eq!(c.iface, "mem0");
}

#[test]
fn flags_beat_the_file_and_the_file_beats_defaults() {
    let text = r#"
        ip = "10.0.0.1/24"
        gateway = "10.0.0.254"
        queues = 2
        port = 8080
        metrics = true
        busy_poll = true
        grace_ms = 500
    "#;
    let c = resolve(&[], text).unwrap();
    assert_eq!(c.queues, 2);
    assert_eq!(c.port, 8080);
    assert!(c.metrics && c.busy_poll);
    assert_eq!(c.grace.as_millis(), 500);
    assert_eq!(c.gateway, Some("10.0.0.254".parse().unwrap()));

    let c = resolve(
        &[
            "--queues",
            "4",
            "--port",
            "81",
            "--metrics=false",
            "--busy-poll=false",
            "--ip",
            "10.1.0.1/16",
            "--gateway",
            "10.1.0.254",
        ],
        text,
    )
    .unwrap();
    assert_eq!(c.queues, 4);
    assert_eq!(c.port, 81);
    assert!(!c.metrics && !c.busy_poll);
    assert_eq!(c.ip.to_string(), "10.1.0.1/16");
    assert_eq!(
        c.grace.as_millis(),
        500,
        "not given as a flag: from the file"
    );
    // A bare boolean flag means true.
    let c = resolve(
        &["--metrics"],
        text.replace("metrics = true", "metrics = false").as_str(),
    )
    .unwrap();
    assert!(c.metrics);
}

#[test]
fn the_printed_config_reads_back_as_the_same_config() {
    let site = Scratch::new("roundtrip");
    let c = resolve(
        &[
            "--ip",
            "192.168.7.9/24",
            "--app",
            "static",
            "--root",
            site.0.to_str().unwrap(),
            "--queues",
            "3",
        ],
        "",
    )
    .unwrap();
    let again = resolve(&[], &c.to_toml()).unwrap();
    assert_eq!(again, c);
}

fn cyclone() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cyclone"));
    cmd.arg("serve").env("CYCLONE_BACKEND", "memory");
    for (key, _) in std::env::vars() {
        if key.starts_with("CYCLONE_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn print_config(cmd: &mut Command) -> String {
    let out = cmd.arg("--print-config").output().expect("run cyclone");
    assert!(
        out.status.success(),
        "cyclone failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn environment_beats_the_file_and_flags_beat_the_environment() {
    let dir = Scratch::new("env");
    let path = dir.0.join("cyclone.toml");
    std::fs::write(&path, "ip = \"10.0.0.1/24\"\nport = 8080\nqueues = 2\n").unwrap();

    let from_file = print_config(cyclone().env("CYCLONE_CONFIG", &path));
    assert!(from_file.contains("port = 8080\n"), "{from_file}");
    assert!(from_file.contains("queues = 2\n"), "{from_file}");

    let from_env = print_config(
        cyclone()
            .env("CYCLONE_CONFIG", &path)
            .env("CYCLONE_PORT", "9000")
            .env("CYCLONE_METRICS", "true")
            .env("CYCLONE_IP", "10.9.0.1/24"),
    );
    assert!(from_env.contains("port = 9000\n"), "{from_env}");
    assert!(from_env.contains("metrics = true\n"), "{from_env}");
    assert!(from_env.contains("ip = \"10.9.0.1/24\"\n"), "{from_env}");
    assert!(
        from_env.contains("queues = 2\n"),
        "file still fills the rest: {from_env}"
    );

    let from_flags = print_config(
        cyclone()
            .env("CYCLONE_CONFIG", &path)
            .env("CYCLONE_PORT", "9000")
            .env("CYCLONE_METRICS", "true")
            .args(["--port", "7000", "--metrics=false"]),
    );
    assert!(from_flags.contains("port = 7000\n"), "{from_flags}");
    assert!(from_flags.contains("metrics = false\n"), "{from_flags}");
}

#[test]
fn the_binary_explains_a_bad_setting_and_fails() {
    let out = cyclone()
        .args(["--ip", "10.0.0.1/24", "--queues", "65"])
        .output()
        .expect("run cyclone");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--queues 65 is out of range: use 1 to 64"),
        "{err}"
    );
}

fn err(flags: &[&str], text: &str) -> ConfigError {
    resolve(flags, text).expect_err("must be refused")
}

#[test]
fn addresses_are_checked_with_a_way_out() {
    for bad in ["10.0.0.1", "10.0.0.1/33", "10.0.0/24", "ten/8"] {
        let e = err(&["--ip", bad], "");
        assert!(matches!(e, ConfigError::BadCidr(_)), "{bad}: {e:?}");
        assert!(e.to_string().contains("write it like 10.0.0.1/24"));
    }
    for not_host in [
        "10.0.0.255/24",
        "10.0.0.0/24",
        "127.0.0.1/8",
        "224.0.0.1/24",
        "0.0.0.0/0",
    ] {
        let e = err(&["--ip", not_host], "");
        assert!(
            matches!(e, ConfigError::AddressNotUnicast(_)),
            "{not_host}: {e:?}"
        );
    }
    let e = err(&[], "");
    assert!(matches!(e, ConfigError::MissingIp));
    assert!(e.to_string().contains("CYCLONE_IP"));
    let e = err(&["--ip", "10.0.0.1/24", "--gateway", "10.0.1.1"], "");
    assert!(matches!(e, ConfigError::GatewayNotOnLink { .. }), "{e:?}");
    assert!(e.to_string().contains("pick a gateway inside that subnet"));
    let e = err(&["--ip", "10.0.0.1/24", "--gateway", "10.0.0.1"], "");
    assert!(matches!(e, ConfigError::GatewayNotUsable(_)), "{e:?}");
    let e = err(&["--ip", "10.0.0.1/24", "--gateway", "router"], "");
    assert!(matches!(e, ConfigError::BadGateway(_)), "{e:?}");
}

#[test]
fn queue_counts_outside_1_to_64_are_refused() {
    for q in ["0", "65", "1000"] {
        let e = err(&["--ip", "10.0.0.1/24", "--queues", q], "");
        assert!(matches!(e, ConfigError::Queues(_)), "{q}: {e:?}");
    }
    assert_eq!(
        resolve(&["--ip", "10.0.0.1/24", "--queues", "64"], "")
            .unwrap()
            .queues,
        64
    );
    let e = err(&["--ip", "10.0.0.1/24", "--port", "0"], "");
    assert!(matches!(e, ConfigError::PortZero));
}

#[test]
fn the_static_app_needs_a_readable_directory() {
    let e = err(&["--ip", "10.0.0.1/24", "--app", "static"], "");
    assert!(matches!(e, ConfigError::MissingRoot));
    assert!(e.to_string().contains("--root DIR"));

    let dir = Scratch::new("root");
    let e = err(
        &[
            "--ip",
            "10.0.0.1/24",
            "--app",
            "static",
            "--root",
            dir.0.join("missing").to_str().unwrap(),
        ],
        "",
    );
    assert!(matches!(e, ConfigError::RootUnreadable { .. }), "{e:?}");
    assert!(
        std::error::Error::source(&e).is_some(),
        "the io error is kept"
    );

    let plain = dir.0.join("file.txt");
    std::fs::write(&plain, "x").unwrap();
    let e = err(
        &[
            "--ip",
            "10.0.0.1/24",
            "--app",
            "static",
            "--root",
            plain.to_str().unwrap(),
        ],
        "",
    );
    assert!(matches!(e, ConfigError::RootNotDirectory(_)), "{e:?}");

    let c = resolve(
        &[
            "--ip",
            "10.0.0.1/24",
            "--app",
            "static",
            "--root",
            dir.0.to_str().unwrap(),
        ],
        "",
    )
    .unwrap();
    assert_eq!(c.app, AppKind::Static);

    let e = err(&["--ip", "10.0.0.1/24", "--app", "ftp"], "");
    assert!(matches!(e, ConfigError::UnknownApp(_)));
}

#[test]
fn backends_must_exist_and_be_built_in() {
    let e = err(&["--ip", "10.0.0.1/24", "--backend", "netmap"], "");
    assert!(matches!(e, ConfigError::UnknownBackend(_)));
    assert!(e.to_string().contains("afxdp, dpdk, memory"));
    assert!(resolve(&["--ip", "10.0.0.1/24", "--backend", "memory"], "").is_ok());
    #[cfg(not(feature = "afxdp"))]
    {
        let e = err(
            &[
                "--ip",
                "10.0.0.1/24",
                "--backend",
                "afxdp",
                "--iface",
                "eth0",
            ],
            "",
        );
        assert!(matches!(
            e,
            ConfigError::BackendNotBuilt {
                backend: Backend::Afxdp,
                ..
            }
        ));
        assert!(e.to_string().contains("--features afxdp"), "{e}");
    }
    #[cfg(not(feature = "dpdk"))]
    {
        let e = err(&["--ip", "10.0.0.1/24"], "backend = \"dpdk\"");
        assert!(e.to_string().contains("--features dpdk"), "{e}");
    }
    #[cfg(feature = "afxdp")]
    {
        let e = err(&["--ip", "10.0.0.1/24", "--backend", "afxdp"], "");
        assert!(matches!(e, ConfigError::MissingIface(Backend::Afxdp)));
    }
}

#[test]
fn config_files_with_typos_or_bad_toml_are_refused() {
    let e = FileConfig::parse("queus = 2\n", Path::new("x.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::ParseFile { .. }));
    assert!(std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("queus")));
    let e = FileConfig::parse("queues = \"two\"\n", Path::new("x.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::ParseFile { .. }));
    let e = FileConfig::load(Path::new("/nonexistent/cyclone.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::ReadFile { .. }));
}
