//! The query of `GET /debug/flamegraph`: `seconds`, `format` and `hz`, checked before any
//! profile starts.

/// Profile length when `seconds` is not given.
pub(crate) const DEFAULT_SECONDS: u64 = 10;
/// The longest profile one request may ask for.
pub(crate) const MAX_SECONDS: u64 = 60;
/// Samples per second of CPU time when `hz` is not given (off the round 100, so sampling does
/// not run in lockstep with periodic work).
pub(crate) const DEFAULT_HZ: u32 = 99;
/// The highest sampling rate one request may ask for.
pub(crate) const MAX_HZ: u32 = 1000;

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// How long to sample, 1 to [`MAX_SECONDS`].
    pub(crate) seconds: u64,
    /// Samples per second of CPU time, 1 to [`MAX_HZ`].
    pub(crate) hz: u32,
    /// `format=folded`: inferno's folded stacks (`a;b;c count` lines) instead of the SVG.
    pub(crate) folded: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seconds: DEFAULT_SECONDS,
            hz: DEFAULT_HZ,
            folded: false,
        }
    }
}

/// Reads the query string (without the `?`); `Err` is the message of a 400 answer.
pub(crate) fn parse(query: Option<&str>) -> Result<Params, String> {
    let mut p = Params::default();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|s| !s.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "seconds" => p.seconds = number(key, value, 1, MAX_SECONDS)?,
            "hz" => p.hz = number(key, value, 1, MAX_HZ.into())? as u32,
            "format" => {
                p.folded = match value {
                    "svg" => false,
                    "folded" => true,
                    _ => return Err(format!("format={value:?}: use format=svg or format=folded")),
                }
            }
            _ => {
                return Err(format!(
                    "unknown parameter {key:?}: this route takes seconds (1-{MAX_SECONDS}), format (svg or folded) and hz (1-{MAX_HZ})"
                ));
            }
        }
    }
    Ok(p)
}

fn number(key: &str, value: &str, min: u64, max: u64) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{key}={value:?}: give a whole number from {min} to {max}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_a_query() {
        assert_eq!(parse(None), Ok(Params::default()));
        assert_eq!(parse(Some("")), Ok(Params::default()));
        assert_eq!(Params::default().seconds, 10);
    }

    #[test]
    fn reads_every_parameter() {
        let p = parse(Some("seconds=3&format=folded&hz=250")).unwrap();
        assert_eq!(
            p,
            Params {
                seconds: 3,
                hz: 250,
                folded: true
            }
        );
        assert!(!parse(Some("format=svg&")).unwrap().folded);
        assert_eq!(parse(Some("seconds=60")).unwrap().seconds, 60);
        assert_eq!(parse(Some("seconds=1")).unwrap().seconds, 1);
    }

    #[test]
    fn refuses_out_of_range_and_garbage() {
        for q in [
            "seconds=0",
            "seconds=61",
            "seconds=-1",
            "seconds=abc",
            "seconds=",
            "seconds",
            "seconds=1.5",
            "seconds=99999999999999999999999",
            "hz=0",
            "hz=1001",
            "format=pdf",
            "second=5",
        ] {
            let e = parse(Some(q)).expect_err(q);
            assert!(!e.is_empty(), "{q}");
        }
        assert!(parse(Some("seconds=61")).unwrap_err().contains("1 to 60"));
        assert!(parse(Some("second=5")).unwrap_err().contains("seconds"));
    }
}
