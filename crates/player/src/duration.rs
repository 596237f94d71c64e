//! Parsing durations given on command lines (`30s`, `800ms`, `1.5s`, `2m`, `20`).

use std::time::Duration;

use crate::error::{Error, Result};

/// Parses `"800ms"`, `"30s"`, `"1.5s"`, `"2m"`, `"1h"` or a bare number of seconds (`"20"`).
///
/// Shared by `aulos play` and the `hls_decode` example so both accept the same syntax.
/// Hand-written (15 lines) rather than adding `humantime` for four suffixes.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(aulos_player::parse_duration("800ms")?, Duration::from_millis(800));
/// assert_eq!(aulos_player::parse_duration("1.5s")?, Duration::from_millis(1500));
/// assert_eq!(aulos_player::parse_duration("20")?, Duration::from_secs(20));
/// # Ok::<(), aulos_player::Error>(())
/// ```
pub fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    number
        .parse::<f64>()
        .ok()
        .map(|n| n * scale)
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            Error::Config(format!(
                "bad duration {text:?} (use e.g. 800ms, 30s, 1.5s, 2m)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_errors() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("800ms").unwrap(), ms(800));
        assert_eq!(parse_duration(" 30s ").unwrap(), ms(30_000));
        assert_eq!(parse_duration("2m").unwrap(), ms(120_000));
        assert_eq!(parse_duration("1h").unwrap(), ms(3_600_000));
        assert_eq!(parse_duration("0.25").unwrap(), ms(250));
        for bad in ["", "s", "ms", "-1s", "1.2.3s", "10 parsecs", "1e3", "nan"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
