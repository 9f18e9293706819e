//! The process's log filter, so that `logLevel` (and `--log`) take effect and an admin can
//! change `logLevel` at runtime.
//!
//! The binary calls [`init`] once; it installs a `tracing` subscriber writing to stderr whose
//! filter can be replaced ([`set_level`]). Precedence, strongest first:
//! 1. `FERROCKET_LOG`, then `RUST_LOG`: when either is set (and parses) at start, it is the
//!    filter for the life of the process; `logLevel` and `--log` are then ignored.
//! 2. `logLevel` as last set: by UPDATE_BROKER_CONFIG or a stored override of it (re-applied
//!    on start), else `--log`, else the config file.
//! 3. `info`.
//!
//! The format is text (the default) or JSON, one object per line for log shippers
//! (`--log-format json` or `logFormat=json`; [`set_format`] switches it once the config is read).
//!
//! A library user (an embedded or test broker) who did not call [`init`] keeps their own
//! subscriber: [`set_level`] and [`set_format`] do nothing then.

use std::sync::OnceLock;

use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

/// The subscriber the output layer sits on.
type Filtered = Layered<reload::Layer<EnvFilter, Registry>, Registry>;
/// The output layer, boxed so that text and JSON can replace each other.
type Output = Box<dyn Layer<Filtered> + Send + Sync>;

/// Environment variables that fix the filter, the first set one wins.
pub const ENV_VARS: [&str; 2] = ["FERROCKET_LOG", "RUST_LOG"];

struct Installed {
    handle: reload::Handle<EnvFilter, Registry>,
    output: reload::Handle<Output, Filtered>,
    ansi: bool,
    /// The environment variable the filter came from, if any (then `set_level` is ignored).
    from_env: Option<&'static str>,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Parse a level or filter directives (`info`, `debug`, `warn,ferrocket=trace`).
pub fn parse_filter(level: &str) -> Result<EnvFilter, String> {
    EnvFilter::try_new(level).map_err(|e| e.to_string())
}

/// Log line formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown log format \"{other}\": text or json")),
        }
    }
}

fn output(format: Format, ansi: bool) -> Output {
    match format {
        Format::Text => Box::new(tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr)),
        Format::Json => Box::new(tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(false).with_writer(std::io::stderr)),
    }
}

/// Install the stderr subscriber with `level` as its filter, unless `FERROCKET_LOG`/`RUST_LOG`
/// is set. Call once, early; later calls (or another global subscriber) are ignored.
pub fn init(level: &str, ansi: bool, format: Format) {
    let from_env = ENV_VARS.into_iter().find_map(|v| EnvFilter::try_from_env(v).ok().map(|f| (v, f)));
    let (filter, env) = match from_env {
        Some((v, f)) => (f, Some(v)),
        None => (parse_filter(level).unwrap_or_else(|_| EnvFilter::new("info")), None),
    };
    let (layer, handle) = reload::Layer::new(filter);
    let (out, output_handle) = reload::Layer::new(output(format, ansi));
    if tracing_subscriber::registry().with(layer).with(out).try_init().is_ok() {
        let _ = INSTALLED.set(Installed { handle, output: output_handle, ansi, from_env: env });
    }
}

/// Switch the log line format (`logFormat` once the config is read). No-op without [`init`].
pub fn set_format(format: Format) -> Result<(), String> {
    let Some(installed) = INSTALLED.get() else { return Ok(()) };
    installed.output.reload(output(format, installed.ansi)).map_err(|e| e.to_string())
}

/// Replace the log filter. `Ok(true)`: applied; `Ok(false)`: nothing to do (no [`init`], or
/// the environment fixes the filter); `Err`: the filter does not parse.
pub fn set_level(level: &str) -> Result<bool, String> {
    let Some(installed) = INSTALLED.get() else { return Ok(false) };
    let filter = parse_filter(level)?;
    if let Some(var) = installed.from_env {
        tracing::debug!(log_level = level, env = var, "logLevel ignored: the environment sets the log filter");
        return Ok(false);
    }
    installed.handle.reload(filter).map_err(|e| e.to_string())?;
    Ok(true)
}
