//! IMF-fixdate formatting (RFC 9110 §5.6.7) for the Date header, without reading any clock.

/// Length of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const HTTP_DATE_LEN: usize = 29;

/// The last second an IMF-fixdate can show (9999-12-31T23:59:59Z); later times are clamped.
const MAX_SECS: u64 = 253_402_300_799;

const DAYS_PER_400_YEARS: u64 = 146_097;

fn is_leap(y: u64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Formats `unix_secs` (seconds since 1970-01-01T00:00:00Z) as an IMF-fixdate.
///
/// The server calls this once a second and reuses the result for every response in that
/// second; it is plain arithmetic so it can run anywhere, tests included.
pub fn http_date(unix_secs: u64) -> [u8; HTTP_DATE_LEN] {
    let secs = unix_secs.min(MAX_SECS);
    let mut days = secs / 86_400;
    let rem = secs % 86_400;
    // 1970-01-01 was a Thursday; index 0 is Sunday.
    let weekday = ((days + 4) % 7) as usize;
    // Any 400 consecutive Gregorian years have the same number of days, so whole cycles can
    // be skipped from 1970 without aligning to a cycle boundary.
    let mut year = 1970 + 400 * (days / DAYS_PER_400_YEARS);
    days %= DAYS_PER_400_YEARS;
    loop {
        let len = if is_leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let feb = if is_leap(year) { 29 } else { 28 };
    let month_lens = [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 0;
    while days >= month_lens[month] {
        days -= month_lens[month];
        month += 1;
    }
    const WEEKDAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[0..3].copy_from_slice(WEEKDAYS[weekday]);
    two(&mut out[5..7], days + 1);
    out[8..11].copy_from_slice(MONTHS[month]);
    two(&mut out[12..14], year / 100);
    two(&mut out[14..16], year % 100);
    two(&mut out[17..19], rem / 3600);
    two(&mut out[20..22], rem / 60 % 60);
    two(&mut out[23..25], rem % 60);
    out
}

fn two(dst: &mut [u8], v: u64) {
    dst[0] = b'0' + (v / 10 % 10) as u8;
    dst[1] = b'0' + (v % 10) as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> String {
        String::from_utf8(http_date(secs).to_vec()).unwrap()
    }

    #[test]
    fn rfc9110_5_6_7_known_dates() {
        assert_eq!(s(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(s(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(s(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(s(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        assert_eq!(s(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(s(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
    }

    #[test]
    fn clamps_past_year_9999() {
        assert_eq!(s(MAX_SECS), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(s(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }
}
