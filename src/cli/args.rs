//! The server's command line: subcommands, shared flags, and the [`ServerOptions`] they build.
use clap::{Args, Parser, Subcommand};
use ferrocket::broker::ServerOptions;
use ferrocket::config::BrokerConfig;
use std::net::IpAddr;
use std::path::PathBuf;

/// A message broker that speaks Apache RocketMQ's remoting protocol.
///
/// With no subcommand, runs a name server (port 9876) and a broker (10911, plus 10909) in one
/// process, with data under ./data.
#[derive(Parser, Debug)]
#[command(name = "ferrocket", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
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
    /// Prints one JSON line when ready: {"namesrvAddr","brokerAddr","grpcAddr","consoleAddr","pid","dataDir"} (and
    /// "metricsAddr" with metricsExporterType=PROM). Exits on
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
        /// gRPC (5.x SDK) port (default: ephemeral).
        #[arg(long)]
        grpc_port: Option<u16>,
        /// Web console port (default: ephemeral).
        #[arg(long)]
        console_port: Option<u16>,
        /// TLS with a throwaway self-signed certificate for localhost and 127.0.0.1 (written to
        /// the data directory, named in the ready line as tlsCertPath); permissive mode unless
        /// the config says enforcing.
        #[arg(long)]
        tls: bool,
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
pub struct Common {
    /// A RocketMQ broker.conf (Java properties); unknown keys are warned about.
    #[arg(long = "config", short = 'c', global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (storePathRootDir).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Address to bind listeners on (default 0.0.0.0; 127.0.0.1 in dev mode).
    #[arg(long, global = true)]
    pub bind: Option<IpAddr>,
    /// Log level or filter (e.g. info, debug, ferrocket=trace); overrides logLevel from the
    /// config file. FERROCKET_LOG or RUST_LOG, when set, win over both.
    #[arg(long, global = true)]
    pub log: Option<String>,
    /// Log line format: text (default) or json (one object per line); overrides logFormat.
    #[arg(long, global = true, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

fn load_config(path: Option<&PathBuf>, base: BrokerConfig) -> Result<BrokerConfig, String> {
    let Some(path) = path else { return Ok(base) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut cfg = base;
    let warnings = cfg.apply_properties_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for w in warnings {
        tracing::warn!("{}: {}", path.display(), w.0);
    }
    if cfg.acl_enable {
        // aclFilePath (or the default) is found from the broker.conf's directory
        let home = std::env::var("ROCKETMQ_HOME").ok();
        let at = ferrocket::config::acl_file_location(&cfg.acl_file_path, path.parent(), home.as_deref());
        cfg.acl_file_path = at.to_string_lossy().into_owned();
    }
    Ok(cfg)
}

/// Extra settings of `ferrocket dev`.
#[derive(Default, Debug)]
pub struct DevExtra {
    pub temporary_data: bool,
    pub ready_file: Option<PathBuf>,
    pub port: Option<u16>,
    pub namesrv_port: Option<u16>,
    pub grpc_port: Option<u16>,
    pub console_port: Option<u16>,
    pub tls: bool,
    /// The self-signed certificate written for `--tls`.
    pub tls_cert: Option<PathBuf>,
}

/// The server's options from the command line and the config file it names.
pub fn build(cli: Cli) -> Result<(ServerOptions, Option<DevExtra>), String> {
    let mut dev_extra = DevExtra::default();
    let (mut opts, common, dev) = match cli.cmd {
        None => (ServerOptions::standalone(BrokerConfig::default()), cli.common, false),
        Some(Cmd::Admin { .. }) => return Err("admin must be the first argument: ferrocket admin <command>".into()),
        Some(Cmd::Dev { topics, groups, ready_file, port, namesrv_port, grpc_port, console_port, tls, common }) => {
            let mut o = ServerOptions::dev(None);
            for t in topics {
                let (name, q) = match t.rsplit_once(':') {
                    Some((n, q)) => (n.to_string(), q.parse::<i32>().map_err(|_| format!("--topic {t}: queue count must be a number"))?),
                    None => (t.clone(), 4),
                };
                o.topics.push((name, q));
            }
            o.groups = groups;
            dev_extra = DevExtra { temporary_data: true, ready_file, port, namesrv_port, grpc_port, console_port, tls, tls_cert: None };
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
    if dev && dev_extra.tls {
        // the certificate is made below, once the data directory is known; named already so that
        // a config file with tls.server.mode=enforcing and no paths of its own passes its checks
        opts.config.tls_cert_path = dev_data.join("tls/cert.pem").to_string_lossy().into_owned();
        opts.config.tls_key_path = dev_data.join("tls/key.pem").to_string_lossy().into_owned();
    }
    opts.config = load_config(common.config.as_ref(), opts.config)?;
    if dev {
        // dev mode keeps its ephemeral loopback ports whatever the file says
        opts.config.listen_port = dev_extra.port.unwrap_or(0);
        opts.config.namesrv_listen_port = dev_extra.namesrv_port.unwrap_or(0);
        opts.grpc_port = Some(dev_extra.grpc_port.unwrap_or(0));
        opts.console_port = Some(dev_extra.console_port.unwrap_or(0));
        opts.config.broker_ip1 = "127.0.0.1".into();
        opts.config.store_path_root_dir = dev_data;
        // listenPort + 1 may be anyone's ephemeral port; a dev broker's HA port is ephemeral too
        // unless the config file names one
        if opts.config.ha_listen_port.is_none() {
            opts.config.ha_listen_port = Some(0);
        }
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
    if let Some(f) = common.log_format {
        opts.config.log_format = f;
    }
    if dev && dev_extra.tls {
        dev_extra.tls_cert = Some(dev_certificate(&mut opts.config)?);
    }
    Ok((opts, dev.then_some(dev_extra)))
}

/// `ferrocket dev --tls`: a self-signed certificate in `<data dir>/tls/`, put in force.
fn dev_certificate(cfg: &mut BrokerConfig) -> Result<PathBuf, String> {
    let dir = cfg.store_path_root_dir.join("tls");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let (cert, key) = ferrocket::net::tls::self_signed()?;
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert).map_err(|e| format!("cannot write {}: {e}", cert_path.display()))?;
    std::fs::write(&key_path, key).map_err(|e| format!("cannot write {}: {e}", key_path.display()))?;
    if cfg.tls_mode == ferrocket::config::TlsMode::Disabled {
        cfg.tls_mode = ferrocket::config::TlsMode::Permissive;
    }
    cfg.tls_cert_path = cert_path.to_string_lossy().into_owned();
    cfg.tls_key_path = key_path.to_string_lossy().into_owned();
    Ok(cert_path)
}

fn merge(a: Common, b: Common) -> Common {
    Common {
        config: b.config.or(a.config),
        data_dir: b.data_dir.or(a.data_dir),
        bind: b.bind.or(a.bind),
        log: b.log.or(a.log),
        log_format: b.log_format.or(a.log_format),
    }
}

