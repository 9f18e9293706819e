//! `ferrocket`: parse arguments, load config, start logging, run, stop on a signal.
mod cli;

use clap::{Args, Parser, Subcommand};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    ///
    /// Prints one JSON line when ready: {"namesrvAddr","brokerAddr","pid","dataDir"}. Exits on
    /// SIGTERM/SIGINT, and when its standard input is a pipe that closes (so a test process that
    /// dies takes it down).
    Dev {
        /// A topic to create before ready, `NAME:QUEUES` (repeatable).
        #[arg(long = "topic", value_name = "NAME:QUEUES")]
        topics: Vec<String>,
        /// A subscription group to create before ready (repeatable).
        #[arg(long = "group", value_name = "NAME")]
        groups: Vec<String>,
        /// Also write the ready line to this file.
        #[arg(long, value_name = "PATH")]
        ready_file: Option<PathBuf>,
        /// Broker port (default: ephemeral).
        #[arg(long)]
        port: Option<u16>,
        /// Name-server port (default: ephemeral).
        #[arg(long)]
        namesrv_port: Option<u16>,
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
    /// Log level or filter (e.g. info, debug, ferrocket=trace); overrides logLevel from the
    /// config file. FERROCKET_LOG or RUST_LOG, when set, win over both.
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

/// Log to stderr with `level` until the config is read (see `config::logging` for precedence:
/// FERROCKET_LOG or RUST_LOG, when set, win over `--log` and `logLevel`).
fn init_logging(level: &str) {
    use std::io::IsTerminal;
    ferrocket::config::logging::init(level, std::io::stderr().is_terminal());
}

/// Extra settings of `ferrocket dev`.
#[derive(Default, Debug)]
struct DevExtra {
    temporary_data: bool,
    ready_file: Option<PathBuf>,
    port: Option<u16>,
    namesrv_port: Option<u16>,
}

fn build(cli: Cli) -> Result<(ServerOptions, Option<DevExtra>), String> {
    let mut dev_extra = DevExtra::default();
    let (mut opts, common, dev) = match cli.cmd {
        None => (ServerOptions::standalone(BrokerConfig::default()), cli.common, false),
        Some(Cmd::Admin { .. }) => return Err("admin must be the first argument: ferrocket admin <command>".into()),
        Some(Cmd::Dev { topics, groups, ready_file, port, namesrv_port, common }) => {
            let mut o = ServerOptions::dev(None);
            for t in topics {
                let (name, q) = match t.rsplit_once(':') {
                    Some((n, q)) => (n.to_string(), q.parse::<i32>().map_err(|_| format!("--topic {t}: queue count must be a number"))?),
                    None => (t.clone(), 4),
                };
                o.topics.push((name, q));
            }
            o.groups = groups;
            dev_extra = DevExtra { temporary_data: true, ready_file, port, namesrv_port };
            (o, merge(cli.common, common), true)
        }
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
        opts.config.listen_port = dev_extra.port.unwrap_or(0);
        opts.config.namesrv_listen_port = dev_extra.namesrv_port.unwrap_or(0);
        opts.config.broker_ip1 = "127.0.0.1".into();
        opts.config.store_path_root_dir = dev_data;
    }
    if let Some(d) = common.data_dir {
        opts.config.store_path_root_dir = d;
        dev_extra.temporary_data = false;
    }
    if let Some(b) = common.bind {
        opts.bind_ip = b;
    }
    if let Some(l) = common.log {
        opts.config.log_level = l;
    }
    Ok((opts, dev.then_some(dev_extra)))
}

fn merge(a: Common, b: Common) -> Common {
    Common {
        config: b.config.or(a.config),
        data_dir: b.data_dir.or(a.data_dir),
        bind: b.bind.or(a.bind),
        log: b.log.or(a.log),
    }
}

/// Whether standard input is a pipe or socket (not a terminal or /dev/null).
fn stdin_is_pipe() -> bool {
    #[cfg(unix)]
    {
        // SAFETY: fstat on fd 0 with a zeroed stat buffer; no memory is shared.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(0, &mut st) } != 0 {
            return false;
        }
        let kind = st.st_mode & libc::S_IFMT;
        kind == libc::S_IFIFO || kind == libc::S_IFSOCK
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// SIGINT/SIGTERM handlers, installed before the ready line is printed so that a signal sent
/// right after it is handled (not the default action).
struct Signals {
    rt: tokio::runtime::Runtime,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Option<Signals> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (term, int) = rt.block_on(async { (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok()) });
            Some(Signals { rt, term, int })
        }
        #[cfg(not(unix))]
        {
            Some(Signals { rt })
        }
    }

    /// Wait for SIGINT/SIGTERM, or for standard input to close when `watch_stdin`.
    fn wait(mut self, watch_stdin: bool) {
        let stdin_closed = async move {
            if !watch_stdin {
                return std::future::pending::<()>().await;
            }
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            std::thread::spawn(move || {
                use std::io::Read;
                let mut buf = [0u8; 1024];
                let mut stdin = std::io::stdin();
                while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
                let _ = tx.send(());
            });
            let _ = rx.await;
        };
        #[cfg(unix)]
        {
            let mut term = self.term.take();
            let mut int = self.int.take();
            self.rt.block_on(async move {
                let term = async {
                    match term.as_mut() {
                        Some(s) => {
                            s.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                let int = async {
                    match int.as_mut() {
                        Some(s) => {
                            s.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = term => {}
                    _ = int => {}
                    _ = stdin_closed => tracing::info!("standard input closed"),
                }
            });
        }
        #[cfg(not(unix))]
        {
            self.rt.block_on(async move {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = stdin_closed => {}
                }
            });
        }
    }
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
    // logLevel from the file (or --log); a broker re-applies it with any stored override.
    if let Err(e) = ferrocket::config::logging::set_level(&opts.config.log_level) {
        tracing::warn!(log_level = %opts.config.log_level, error = %e, "logLevel not applied");
    }
    tracing::debug!(config = %opts.config.to_properties().trim_end().replace('\n', " "), "effective configuration");
    let server = match Server::start(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ferrocket: {e}");
            return ExitCode::from(1);
        }
    };
    let ns = server.namesrv_addr().map(|a| a.to_string()).unwrap_or_else(|| "-".into());
    let br = server.broker_addr().map(|a| a.to_string()).unwrap_or_else(|| "-".into());
    let signals = Signals::install();
    let watch_stdin = dev.is_some() && stdin_is_pipe();
    // `ferrocket dev` without --data-dir keeps its data in a temporary directory.
    let remove_data = dev.as_ref().is_some_and(|d| d.temporary_data);
    if let Some(extra) = &dev {
        let line = serde_json::json!({
            "namesrvAddr": ns,
            "brokerAddr": br,
            "pid": std::process::id(),
            "dataDir": server.data_dir().display().to_string(),
        })
        .to_string();
        if let Some(path) = &extra.ready_file {
            if let Err(e) = std::fs::write(path, format!("{line}\n")) {
                eprintln!("ferrocket: cannot write ready file {}: {e}", path.display());
            }
        }
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    tracing::info!(namesrv = %ns, broker = %br, data = %server.data_dir().display(), "ferrocket ready");
    match signals {
        Some(s) => s.wait(watch_stdin),
        None => eprintln!("ferrocket: cannot install signal handlers; stopping"),
    }
    let data_dir = server.data_dir().to_path_buf();
    server.shutdown();
    if remove_data {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}
