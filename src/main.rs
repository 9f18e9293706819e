//! `ferrocket`: parse arguments, load config, start logging, run, stop on a signal.
mod cli;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use cli::args::{build, Cli};
use cli::signals::{stdin_is_pipe, Signals};
use ferrocket::broker::Server;
use std::io::Write;
use std::process::ExitCode;

/// Log to stderr with `level` until the config is read (see `config::logging` for precedence:
/// FERROCKET_LOG or RUST_LOG, when set, win over `--log` and `logLevel`).
fn init_logging(level: &str, format: ferrocket::config::logging::Format) {
    use std::io::IsTerminal;
    ferrocket::config::logging::init(level, std::io::stderr().is_terminal(), format);
}

fn main() -> ExitCode {
    // `ferrocket admin ...` has its own flags (mqadmin's letters, which clash with ours).
    let mut argv = std::env::args_os();
    if argv.nth(1).is_some_and(|a| a == "admin") {
        return cli::admin::main(argv.collect());
    }
    let cli = Cli::parse();
    let level = cli.common.log.clone().unwrap_or_else(|| "info".into());
    let format = cli.common.log_format.as_deref().and_then(|f| f.parse().ok()).unwrap_or(ferrocket::config::logging::Format::Text);
    init_logging(&level, format);
    let (opts, dev) = match build(cli) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("ferrocket: {e}");
            return ExitCode::from(2);
        }
    };
    // logFormat from the file (or --log-format), then logLevel (or --log); a broker re-applies
    // the level with any stored override.
    if let Ok(f) = opts.config.log_format.parse() {
        let _ = ferrocket::config::logging::set_format(f);
    }
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
    let grpc = server.grpc_addr().map(|a| a.to_string()).unwrap_or_else(|| "-".into());
    let signals = Signals::install();
    let watch_stdin = dev.is_some() && stdin_is_pipe();
    // `ferrocket dev` without --data-dir keeps its data in a temporary directory.
    let remove_data = dev.as_ref().is_some_and(|d| d.temporary_data);
    if let Some(extra) = &dev {
        let mut line = serde_json::json!({
            "namesrvAddr": ns,
            "brokerAddr": br,
            "grpcAddr": grpc,
            "pid": std::process::id(),
            "dataDir": server.data_dir().display().to_string(),
        });
        if let Some(c) = server.console_addr() {
            line["consoleAddr"] = c.to_string().into();
        }
        if let Some(m) = server.metrics_addr() {
            line["metricsAddr"] = m.to_string().into();
        }
        if let Some(h) = server.ha_addr() {
            line["haAddr"] = h.to_string().into();
        }
        if let Some(c) = &extra.tls_cert {
            line["tlsCertPath"] = c.display().to_string().into();
        }
        let line = line.to_string();
        if let Some(path) = &extra.ready_file {
            if let Err(e) = std::fs::write(path, format!("{line}\n")) {
                eprintln!("ferrocket: cannot write ready file {}: {e}", path.display());
            }
        }
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    let console = server.console_addr().map(|a| format!("http://{a}/")).unwrap_or_else(|| "-".into());
    tracing::info!(namesrv = %ns, broker = %br, grpc = %grpc, console = %console, data = %server.data_dir().display(), "ferrocket ready");
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
