//! `ferrocket`: parse arguments, load config, start logging, run, stop on a signal.
mod cli;

use clap::{Args, Parser, Subcommand};
use ferrocket::broker::{Server, ServerOptions};
use ferrocket::config::BrokerConfig;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// A message broker that speaks Apache RocketMQ's remoting protocol.
///
/// With no subcommand, runs a name server (port 9876) and a broker (10911, plus 10909) in one
/// process, with data under ./data.
#[derive(Parser, Debug)]
#[command(name = "ferrocket", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run only the name server.
    Namesrv {
        /// Port to listen on (default 9876).
        #[arg(long, short = 'p')]
        port: Option<u16>,
        #[command(flatten)]
        common: Common,
    },
    /// Run only a broker, registering with the name servers given by --namesrv or namesrvAddr.
    Broker {
        /// Name server addresses, `host:port;host:port`.
        #[arg(long, short = 'n')]
        namesrv: Option<String>,
        /// Port to listen on (default 10911).
        #[arg(long, short = 'p')]
        port: Option<u16>,
        #[command(flatten)]
        common: Common,
    },
    /// Name server and broker on ephemeral 127.0.0.1 ports, data in a fresh temp dir (for tests).
    /// Prints `FERROCKET_READY namesrv=ADDR broker=ADDR data=DIR` when ready.
    Dev {
        #[command(flatten)]
        common: Common,
    },
    /// Administer brokers through a name server: mqadmin's commands (`ferrocket admin --help`).
    Admin {
        /// The admin command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Args, Debug, Default, Clone)]
struct Common {
    /// A RocketMQ broker.conf (Java properties); unknown keys are warned about.
    #[arg(long = "config", short = 'c', global = true)]
    config: Option<PathBuf>,
    /// Data directory (storePathRootDir).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Address to bind listeners on (default 0.0.0.0; 127.0.0.1 in dev mode).
    #[arg(long, global = true)]
    bind: Option<IpAddr>,
    /// Log level or filter (e.g. info, debug, ferrocket=trace).
    #[arg(long, global = true)]
    log: Option<String>,
}

fn load_config(path: Option<&PathBuf>, base: BrokerConfig) -> Result<BrokerConfig, String> {
    let Some(path) = path else { return Ok(base) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut cfg = base;
    let warnings = cfg.apply_properties_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for w in warnings {
        tracing::warn!("{}: {}", path.display(), w.0);
    }
    Ok(cfg)
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERROCKET_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn build(cli: Cli) -> Result<(ServerOptions, bool), String> {
    let (mut opts, common, dev) = match cli.cmd {
        None => (ServerOptions::standalone(BrokerConfig::default()), cli.common, false),
        Some(Cmd::Admin { .. }) => return Err("admin must be the first argument: ferrocket admin <command>".into()),
        Some(Cmd::Dev { common }) => (ServerOptions::dev(None), merge(cli.common, common), true),
        Some(Cmd::Namesrv { port, common }) => {
            let mut o = ServerOptions::standalone(BrokerConfig::default());
            o.broker = false;
            if let Some(p) = port {
                o.config.namesrv_listen_port = p;
            }
            (o, merge(cli.common, common), false)
        }
        Some(Cmd::Broker { namesrv, port, common }) => {
            let mut o = ServerOptions::standalone(BrokerConfig::default());
            o.namesrv = false;
            let common = merge(cli.common, common);
            o.config = load_config(common.config.as_ref(), o.config)?;
            if let Some(n) = namesrv {
                o.config.namesrv_addr = Some(n);
            }
            if let Some(p) = port {
                o.config.listen_port = p;
            }
            if o.config.namesrv_addrs().is_empty() {
                return Err("a broker needs name servers: pass --namesrv host:port or set namesrvAddr".into());
            }
            (o, Common { config: None, ..common }, false)
        }
    };
    let dev_data = opts.config.store_path_root_dir.clone();
    opts.config = load_config(common.config.as_ref(), opts.config)?;
    if dev {
        // dev mode keeps its ephemeral loopback ports whatever the file says
        opts.config.listen_port = 0;
        opts.config.namesrv_listen_port = 0;
        opts.config.broker_ip1 = "127.0.0.1".into();
        opts.config.store_path_root_dir = dev_data;
    }
    if let Some(d) = common.data_dir {
        opts.config.store_path_root_dir = d;
    }
    if let Some(b) = common.bind {
        opts.bind_ip = b;
    }
    if let Some(l) = common.log {
        opts.config.log_level = l;
    }
    Ok((opts, dev))
}

fn merge(a: Common, b: Common) -> Common {
    Common {
        config: b.config.or(a.config),
        data_dir: b.data_dir.or(a.data_dir),
        bind: b.bind.or(a.bind),
        log: b.log.or(a.log),
    }
}

fn wait_for_signal() {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(_) => return,
    };
    rt.block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = match signal(SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    });
}

fn main() -> ExitCode {
    // `ferrocket admin ...` has its own flags (mqadmin's letters, which clash with ours).
    let mut argv = std::env::args_os();
    if argv.nth(1).is_some_and(|a| a == "admin") {
        return cli::admin::main(argv.collect());
    }
    let cli = Cli::parse();
    let level = cli.common.log.clone().unwrap_or_else(|| "info".into());
    init_logging(&level);
    let (opts, dev) = match build(cli) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("ferrocket: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match Server::start(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ferrocket: {e}");
            return ExitCode::from(1);
        }
    };
    let ns = server.namesrv_addr().map(|a| a.to_string()).unwrap_or_else(|| "-".into());
    let br = server.broker_addr().map(|a| a.to_string()).unwrap_or_else(|| "-".into());
    if dev {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "FERROCKET_READY namesrv={ns} broker={br} data={}", server.data_dir().display());
        let _ = out.flush();
    }
    tracing::info!(namesrv = %ns, broker = %br, data = %server.data_dir().display(), "ferrocket ready");
    wait_for_signal();
    server.shutdown();
    tracing::info!("stopped");
    ExitCode::SUCCESS
}
