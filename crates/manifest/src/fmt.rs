//! Decimal and date formatting for playlist text.
//!
//! Hand-written on purpose: playlist floats must be positional decimals (never an
//! exponent, P-TXT-07) and must parse back to exactly the `Duration` that was
//! rendered, which `f64` formatting does not guarantee; dates are one RFC 3339 shape,
//! which does not justify a date crate.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Write `d` in seconds as a positional decimal with up to 6 fraction digits
/// (microsecond precision, trailing zeros trimmed, at least one fraction digit when
/// `frac` is set). `0.192`, `4.0`, `0.2`.
pub(crate) fn write_secs(out: &mut Vec<u8>, d: Duration) {
    let micros = d.as_micros();
    let whole = micros / 1_000_000;
    let mut frac = (micros % 1_000_000) as u32;
    let _ = write!(out, "{whole}.");
    if frac == 0 {
        out.push(b'0');
        return;
    }
    let mut digits = 6;
    while frac.is_multiple_of(10) {
        frac /= 10;
        digits -= 1;
    }
    let _ = write!(out, "{frac:0digits$}");
}

/// Parse a non-negative positional decimal into a `Duration`, exactly (digits past
/// nanoseconds are truncated). Rejects signs, exponents and > 20 integer digits
/// (P-TXT-07).
pub(crate) fn parse_secs(s: &str) -> Option<Duration> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut nanos = 0u32;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    Some(Duration::new(secs, nanos))
}

/// Parse a decimal integer that fits u64 (P-TXT-07).
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `0x` + 32 hex digits (shorter values are left-padded with zeros).
pub(crate) fn parse_iv(s: &str) -> Option<[u8; 16]> {
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if h.is_empty() || h.len() > 32 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut iv = [0u8; 16];
    let pad = 32 - h.len();
    for (i, c) in h.bytes().enumerate() {
        let nib = (c as char).to_digit(16)? as u8;
        let pos = pad + i;
        iv[pos / 2] |= if pos % 2 == 0 { nib << 4 } else { nib };
    }
    Some(iv)
}

pub(crate) fn write_iv(out: &mut Vec<u8>, iv: &[u8; 16]) {
    out.extend_from_slice(b"0x");
    for b in iv {
        let _ = write!(out, "{b:02X}");
    }
}

// Days-from-civil and its inverse (Howard Hinnant's algorithms).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Format as RFC 3339 UTC with milliseconds: `2026-11-24T22:00:00.123Z`. Times before
/// 1970 are clamped to the epoch.
pub fn format_date(t: SystemTime) -> String {
    let mut out = Vec::with_capacity(24);
    write_date(&mut out, t);
    String::from_utf8(out).expect("ASCII")
}

pub(crate) fn write_date(out: &mut Vec<u8>, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, m, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        d.subsec_millis()
    );
}

/// Parse an RFC 3339 date (`2026-11-24T22:00:00.123Z`, `+01:00`/`+0100` offsets,
/// any number of fraction digits, lowercase `t`/`z`).
pub fn parse_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in frac.bytes().take(digits.min(9)).enumerate() {
            nanos += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
        }
        rest = &frac[digits..];
    }
    let offset: i64 = match rest {
        "Z" | "z" | "" => 0,
        o => {
            let sign = match o.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let o = &o[1..];
            let (hh, mm) = match o.len() {
                5 if o.as_bytes()[2] == b':' => (o.get(0..2)?, o.get(3..5)?),
                4 => (o.get(0..2)?, o.get(2..4)?),
                2 => (o, "00"),
                _ => return None,
            };
            let hh: i64 = hh.parse().ok()?;
            let mm: i64 = mm.parse().ok()?;
            sign * (hh * 3600 + mm * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_positional_and_exact() {
        // checklist P-TXT-07
        for (d, want) in [
            (Duration::from_millis(192), "0.192"),
            (Duration::from_secs(4), "4.0"),
            (Duration::from_micros(1), "0.000001"),
            (Duration::from_micros(1_000_500), "1.0005"),
        ] {
            let mut out = Vec::new();
            write_secs(&mut out, d);
            assert_eq!(std::str::from_utf8(&out).unwrap(), want);
            assert_eq!(parse_secs(want), Some(d));
        }
        assert_eq!(parse_secs("1e-3"), None);
        assert_eq!(parse_secs("-1.0"), None);
        assert_eq!(parse_secs("."), None);
        assert_eq!(parse_u64("123456789012345678901"), None);
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64("18446744073709551616"), None);
    }

    #[test]
    fn dates_round_trip_and_accept_offsets() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let s = format_date(t);
        assert_eq!(parse_date(&s), Some(t));
        assert_eq!(
            parse_date("1970-01-01T01:00:00+01:00"),
            Some(UNIX_EPOCH),
            "offset applied"
        );
        assert_eq!(
            parse_date("2000-03-01T00:00:00.5Z"),
            Some(UNIX_EPOCH + Duration::new(951_868_800, 500_000_000))
        );
        assert_eq!(parse_date("2000-13-01T00:00:00Z"), None);
        assert_eq!(parse_date("garbage"), None);
        assert_eq!(format_date(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn iv_hex() {
        let iv = parse_iv("0x1").unwrap();
        assert_eq!(iv[15], 1);
        assert_eq!(iv[..15], [0; 15]);
        let mut out = Vec::new();
        write_iv(&mut out, &iv);
        assert_eq!(parse_iv(std::str::from_utf8(&out).unwrap()), Some(iv));
        assert_eq!(parse_iv("0xZZ"), None);
        assert_eq!(parse_iv("12"), None);
    }
}
