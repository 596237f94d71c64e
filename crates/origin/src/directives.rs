//! LL-HLS delivery directives (`_HLS_msn`, `_HLS_part`, `_HLS_skip`) parsed from a
//! playlist request's query string (draft §6.2.5).
//!
//! Parsing is strict about the values we act on (a malformed number is a 400,
//! checklist S-BLK-09) and lenient about everything else: unknown `_HLS_` parameters
//! and foreign parameters are ignored (S-DIR-01).

use std::fmt;

/// What the client asked for with `_HLS_skip`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SkipDirective {
    /// No delta update requested.
    #[default]
    No,
    /// `_HLS_skip=YES`: skip old media segments.
    Yes,
    /// `_HLS_skip=v2`: also skip old date ranges.
    V2,
}

/// The delivery directives of one playlist request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    /// `_HLS_msn`: block until the playlist holds this media sequence number.
    pub msn: Option<u64>,
    /// `_HLS_part`: with `msn`, block until it holds this part of that segment.
    pub part: Option<u32>,
    /// `_HLS_skip`: delta update requested.
    pub skip: SkipDirective,
}

/// Why a query string was refused (the origin answers 400).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectiveError {
    /// `_HLS_part` without `_HLS_msn` (checklist S-BLK-07).
    PartWithoutMsn,
    /// A directive value is not a non-negative decimal integer that fits (S-BLK-09).
    BadNumber { name: &'static str, value: String },
    /// `_HLS_skip` with a value other than `YES` or `v2`.
    BadSkip(String),
    /// The same directive given twice with different values.
    Repeated(&'static str),
}

impl fmt::Display for DirectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PartWithoutMsn => f.write_str("_HLS_part requires _HLS_msn"),
            Self::BadNumber { name, value } => {
                write!(f, "{name} must be a decimal integer, got {value:?}")
            }
            Self::BadSkip(v) => write!(f, "_HLS_skip must be YES or v2, got {v:?}"),
            Self::Repeated(name) => write!(f, "{name} given more than once"),
        }
    }
}

impl std::error::Error for DirectiveError {}

impl Directives {
    /// Parses a raw (still percent-encoded) query string, e.g. `_HLS_msn=12&_HLS_part=3`.
    pub fn parse(query: Option<&str>) -> Result<Self, DirectiveError> {
        let mut out = Directives::default();
        let Some(query) = query else { return Ok(out) };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "_HLS_msn" => set_once(&mut out.msn, parse_num("_HLS_msn", value)?, "_HLS_msn")?,
                "_HLS_part" => {
                    let n = parse_num("_HLS_part", value)?;
                    let n = u32::try_from(n).map_err(|_| DirectiveError::BadNumber {
                        name: "_HLS_part",
                        value: value.to_owned(),
                    })?;
                    set_once(&mut out.part, n, "_HLS_part")?
                }
                "_HLS_skip" => {
                    let skip = match value {
                        "YES" => SkipDirective::Yes,
                        "v2" => SkipDirective::V2,
                        other => return Err(DirectiveError::BadSkip(other.to_owned())),
                    };
                    if out.skip != SkipDirective::No && out.skip != skip {
                        return Err(DirectiveError::Repeated("_HLS_skip"));
                    }
                    out.skip = skip;
                }
                // S-DIR-01: other `_HLS_` names and foreign parameters are ignored.
                _ => {}
            }
        }
        if out.part.is_some() && out.msn.is_none() {
            return Err(DirectiveError::PartWithoutMsn);
        }
        Ok(out)
    }

    /// True when the request must be held until the playlist reaches `(msn, part)`.
    pub fn is_blocking(&self) -> bool {
        self.msn.is_some()
    }
}

fn set_once<T: PartialEq + Copy>(
    slot: &mut Option<T>,
    value: T,
    name: &'static str,
) -> Result<(), DirectiveError> {
    match *slot {
        Some(old) if old != value => Err(DirectiveError::Repeated(name)),
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

fn parse_num(name: &'static str, value: &str) -> Result<u64, DirectiveError> {
    // Only plain decimal digits: no sign, no whitespace, no hex; overflow is an error.
    let bad = || DirectiveError::BadNumber {
        name,
        value: value.to_owned(),
    };
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    value.parse::<u64>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_absent_queries_are_non_blocking() {
        assert_eq!(Directives::parse(None).unwrap(), Directives::default());
        assert_eq!(Directives::parse(Some("")).unwrap(), Directives::default());
        assert!(!Directives::parse(Some("")).unwrap().is_blocking());
    }

    #[test]
    fn msn_and_part_parse() {
        // checklist S-BLK-01, S-BLK-02
        let d = Directives::parse(Some("_HLS_msn=42&_HLS_part=3")).unwrap();
        assert_eq!(d.msn, Some(42));
        assert_eq!(d.part, Some(3));
        assert!(d.is_blocking());
        let d = Directives::parse(Some("_HLS_msn=7")).unwrap();
        assert_eq!((d.msn, d.part), (Some(7), None));
    }

    #[test]
    fn part_without_msn_is_rejected() {
        // checklist S-BLK-07
        assert_eq!(
            Directives::parse(Some("_HLS_part=1")),
            Err(DirectiveError::PartWithoutMsn)
        );
    }

    #[test]
    fn malformed_numbers_are_rejected() {
        // checklist S-BLK-09
        for q in [
            "_HLS_msn=-1",
            "_HLS_msn=abc",
            "_HLS_msn=",
            "_HLS_msn=+3",
            "_HLS_msn=1e3",
            "_HLS_msn=99999999999999999999999",
            "_HLS_msn=18446744073709551616",
            "_HLS_msn=1&_HLS_part=4294967296",
            "_HLS_msn=1&_HLS_part=x",
        ] {
            assert!(
                matches!(
                    Directives::parse(Some(q)),
                    Err(DirectiveError::BadNumber { .. })
                ),
                "{q} accepted"
            );
        }
        assert_eq!(
            Directives::parse(Some("_HLS_msn=18446744073709551615"))
                .unwrap()
                .msn,
            Some(u64::MAX)
        );
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        // checklist S-DIR-01
        let d = Directives::parse(Some("_HLS_foo=1&token=abc&_HLS_msn=5&x")).unwrap();
        assert_eq!(d.msn, Some(5));
    }

    #[test]
    fn skip_values() {
        // checklist S-SKIP-01, S-SKIP-03, S-SKIP-05
        assert_eq!(
            Directives::parse(Some("_HLS_skip=YES")).unwrap().skip,
            SkipDirective::Yes
        );
        assert_eq!(
            Directives::parse(Some("_HLS_msn=1&_HLS_part=0&_HLS_skip=v2"))
                .unwrap()
                .skip,
            SkipDirective::V2
        );
        assert!(matches!(
            Directives::parse(Some("_HLS_skip=yes")),
            Err(DirectiveError::BadSkip(_))
        ));
    }

    #[test]
    fn conflicting_repeats_are_rejected() {
        assert_eq!(
            Directives::parse(Some("_HLS_msn=1&_HLS_msn=2")),
            Err(DirectiveError::Repeated("_HLS_msn"))
        );
        assert_eq!(
            Directives::parse(Some("_HLS_msn=1&_HLS_msn=1"))
                .unwrap()
                .msn,
            Some(1)
        );
    }
}
