//! Parsing of configuration values: sizes, durations, CPU lists, booleans.

use std::time::Duration;

/// A byte size: `4096`, `16k`/`16KiB`, `1m`/`1MiB`, `2g`/`2GiB` (powers of 1024).
pub fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("expected a size such as 4096, 64k or 1MiB, got {s:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?} (use k, m or g)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// A duration: `10s`, `500ms`, `2m`, `1h 30m`; a bare number means seconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("expected a duration such as 10s or 500ms, got {s:?}: {e}"))
}

/// A boolean: `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`, any case).
pub fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("expected true or false, got {s:?}")),
    }
}

/// A number within `min..=max`.
pub fn number<T>(s: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let v: T = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a whole number, got {s:?}"))?;
    if v < min || v > max {
        return Err(format!("{v} is out of range {min}..={max}"));
    }
    Ok(v)
}

/// Formats a duration the way [`duration`] reads it back.
pub fn show_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("16k"), Ok(16384));
        assert_eq!(size("1MiB"), Ok(1 << 20));
        assert_eq!(size("2 g"), Ok(2 << 30));
        assert!(size("-1").is_err());
        assert!(size("12q").unwrap_err().contains("unit"));
        assert!(size("99999999999999g").unwrap_err().contains("too large"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(
            duration(&show_duration(Duration::from_millis(1500))),
            Ok(Duration::from_millis(1500))
        );
        assert!(duration("soon").is_err());
    }

    #[test]
    fn booleans() {
        assert_eq!(boolean("true"), Ok(true));
        assert_eq!(boolean(" Off "), Ok(false));
        assert_eq!(boolean("0"), Ok(false));
        assert!(boolean("maybe").unwrap_err().contains("true or false"));
    }

    #[test]
    fn numbers() {
        assert_eq!(number::<u32>("5", 1, 10), Ok(5));
        assert!(
            number::<u32>("0", 1, 10)
                .unwrap_err()
                .contains("out of range")
        );
    }
}
