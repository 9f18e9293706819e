//! Parsing and formatting of single values: booleans, integers, durations, delay levels,
//! deletion hours. Every parser returns `Err(reason)` where `reason` says what was expected;
//! the caller adds the key and the value to build a [`super::ConfigError::Invalid`].

use std::str::FromStr;
use std::time::Duration;

/// How a bare number (no unit) is read for a duration key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bare {
    /// RocketMQ key whose Java value is in milliseconds.
    Millis,
    /// RocketMQ key whose Java value is in seconds.
    Secs,
    /// RocketMQ key whose Java value is in hours (`fileReservedTime`).
    Hours,
    /// ferrocket's own key: a unit is required (only `0` may stand alone).
    Unit,
}

impl Bare {
    fn nanos(self) -> Option<u128> {
        match self {
            Bare::Millis => Some(1_000_000),
            Bare::Secs => Some(1_000_000_000),
            Bare::Hours => Some(3_600_000_000_000),
            Bare::Unit => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Bare::Millis => "a duration such as 500ms, 30s or 1h, or a bare number of milliseconds",
            Bare::Secs => "a duration such as 500ms, 30s or 1h, or a bare number of seconds",
            Bare::Hours => "a duration such as 30m, 72h or 3d, or a bare number of hours",
            Bare::Unit => "a duration with a unit, such as 500ms, 30s or 2h",
        }
    }
}

/// `true` or `false`, case-insensitive.
pub(crate) fn parse_bool(v: &str) -> Result<bool, String> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("expected true or false".to_string())
    }
}

/// An integer of type `T`; `what` describes the accepted range in the message.
pub(crate) fn parse_int<T: FromStr>(v: &str, what: &str) -> Result<T, String> {
    v.parse::<T>().map_err(|_| format!("expected {what}"))
}

/// A duration: humantime text (`500ms`, `30s`, `1h 30m`) or, for RocketMQ keys, a bare
/// non-negative integer in the Java unit.
pub(crate) fn parse_duration(v: &str, bare: Bare) -> Result<Duration, String> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(unit) = bare.nanos() {
            let n: u128 = v.parse().map_err(|_| format!("expected {}", bare.describe()))?;
            return from_nanos(n.checked_mul(unit)).ok_or_else(|| "duration too large".to_string());
        }
        if v.bytes().any(|b| b != b'0') {
            return Err(format!("expected {} (a bare number needs a unit)", bare.describe()));
        }
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(v).map_err(|e| format!("expected {} ({e})", bare.describe()))
}

fn from_nanos(n: Option<u128>) -> Option<Duration> {
    let n = n?;
    let secs = u64::try_from(n / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (n % 1_000_000_000) as u32))
}

/// Format for `to_properties`: a bare number in the Java unit when exact, otherwise a
/// single-unit humantime token that [`parse_duration`] reads back unchanged.
pub(crate) fn fmt_duration(d: Duration, bare: Bare) -> String {
    if let Some(unit) = bare.nanos() {
        if d.as_nanos().is_multiple_of(unit) {
            return (d.as_nanos() / unit).to_string();
        }
    }
    compact(d)
}

/// One number and the largest unit that divides the duration exactly: `90s`, `2h`, `1500ms`.
pub(crate) fn compact(d: Duration) -> String {
    const UNITS: [(u128, &str); 7] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    let n = d.as_nanos();
    if n == 0 {
        return "0s".to_string();
    }
    for (unit, name) in UNITS {
        if n.is_multiple_of(unit) {
            return format!("{}{}", n / unit, name);
        }
    }
    unreachable!("every duration is a whole number of nanoseconds")
}

/// `messageDelayLevel`: whitespace-separated levels, each a number with unit `s`, `m`, `h` or `d`
/// (RocketMQ's format); any single humantime token (`500ms`) is accepted too. Levels must be > 0.
pub(crate) fn parse_delay_levels(v: &str) -> Result<Vec<Duration>, String> {
    let mut levels = Vec::new();
    for (i, token) in v.split_whitespace().enumerate() {
        let d = humantime::parse_duration(token).map_err(|_| {
            format!("level {} \"{token}\" is not a number with unit s, m, h or d (e.g. \"1s 5s 10s 1m 2h\")", i + 1)
        })?;
        if d.is_zero() {
            return Err(format!("level {} \"{token}\" must be greater than zero", i + 1));
        }
        levels.push(d);
    }
    if levels.is_empty() {
        return Err("expected at least one delay level, e.g. \"1s 5s 10s 1m 2h\"".to_string());
    }
    Ok(levels)
}

pub(crate) fn fmt_delay_levels(levels: &[Duration]) -> String {
    levels.iter().map(|d| compact(*d)).collect::<Vec<_>>().join(" ")
}

/// `deleteWhen`: hours of the day, `;`-separated (`04`, `01;04`).
pub(crate) fn parse_delete_when(v: &str) -> Result<Vec<u8>, String> {
    let mut hours = Vec::new();
    for part in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u8>() {
            Ok(h) if h < 24 => hours.push(h),
            _ => return Err(format!("\"{part}\" is not an hour 00..23; expected e.g. \"04\" or \"01;04\"")),
        }
    }
    if hours.is_empty() {
        return Err("expected at least one hour 00..23, e.g. \"04\" or \"01;04\"".to_string());
    }
    Ok(hours)
}

pub(crate) fn fmt_delete_when(hours: &[u8]) -> String {
    hours.iter().map(|h| format!("{h:02}")).collect::<Vec<_>>().join(";")
}
