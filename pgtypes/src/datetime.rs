//! Dates, times, timestamps and intervals: PostgreSQL's epoch, text output
//! and ISO input.
//!
//! PostgreSQL's `infinity` and `-infinity` dates and timestamps are the
//! extreme values of their types. Weir keeps them as the same extremes in
//! Arrow (so they sort after and before every other value, as in
//! PostgreSQL) and moves only finite values between the two epochs.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use chrono::NaiveDate;

use crate::numeric::int_text;
use crate::text::Fmt;

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
pub const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

// PostgreSQL's `infinity` and `-infinity` dates and timestamps are the
// extreme values of their types. Weir keeps them as the same extremes in
// Arrow (so they sort after and before every other value, as in
// PostgreSQL) and moves only finite values between the two epochs.

/// Arrow days since 1970 → PostgreSQL days since 2000.
pub fn date_to_pg(days: i32) -> i32 {
    match days {
        i32::MAX | i32::MIN => days,
        d => d.saturating_sub(PG_EPOCH_DAYS),
    }
}

/// PostgreSQL days since 2000 → Arrow days since 1970.
pub fn date_from_pg(days: i32) -> i32 {
    match days {
        i32::MAX | i32::MIN => days,
        d => d.saturating_add(PG_EPOCH_DAYS),
    }
}

/// Arrow microseconds since 1970 → PostgreSQL microseconds since 2000.
pub fn timestamp_to_pg(us: i64) -> i64 {
    match us {
        i64::MAX | i64::MIN => us,
        u => u.saturating_sub(PG_EPOCH_MICROS),
    }
}

/// PostgreSQL microseconds since 2000 → Arrow microseconds since 1970.
pub fn timestamp_from_pg(us: i64) -> i64 {
    match us {
        i64::MAX | i64::MIN => us,
        u => u.saturating_add(PG_EPOCH_MICROS),
    }
}

/// `infinity` / `-infinity` as PostgreSQL reads them for dates and
/// timestamps: `Some(true)` for +, `Some(false)` for −.
pub(crate) fn infinity(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" => Some(true),
        "-infinity" => Some(false),
        _ => None,
    }
}

/// The proleptic Gregorian (year, month, day) of a day count from
/// 1970-01-01, for every `i64` count (chrono's dates end at year 262143;
/// PostgreSQL's go to 5874897). Howard Hinnant's `civil_from_days`.
pub(crate) fn civil(days_since_epoch: i64) -> (i64, u32, u32) {
    let z = days_since_epoch + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` as PostgreSQL writes it (years before 1 AD counted as
/// BC: year 0 is 1 BC); returns whether ` BC` must follow.
pub(crate) fn write_date(days_since_epoch: i64, out: &mut BytesMut) -> bool {
    let (y, m, day) = civil(days_since_epoch);
    let year = if y <= 0 { 1 - y } else { y };
    if (0..10_000).contains(&year) {
        let year = year as u32;
        out.put_slice(&[
            b'0' + (year / 1000) as u8,
            b'0' + (year / 100 % 10) as u8,
            b'0' + (year / 10 % 10) as u8,
            b'0' + (year % 10) as u8,
        ]);
    } else {
        let _ = int_text(i128::from(year), out);
    }
    out.put_slice(&[
        b'-',
        b'0' + (m / 10) as u8,
        b'0' + (m % 10) as u8,
        b'-',
        b'0' + (day / 10) as u8,
        b'0' + (day % 10) as u8,
    ]);
    y <= 0
}

pub(crate) fn date_text(days: i32, out: &mut BytesMut) {
    match days {
        i32::MAX => out.put_slice(b"infinity"),
        i32::MIN => out.put_slice(b"-infinity"),
        _ => {
            if write_date(i64::from(days), out) {
                out.put_slice(b" BC");
            }
        }
    }
}

pub(crate) fn write_time_of_day(micros: i64, out: &mut BytesMut) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let mut f = Fmt(out);
    let _ = write!(
        f,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    write_fraction(frac, f.0);
}

pub(crate) fn write_fraction(frac_micros: i64, out: &mut BytesMut) {
    if frac_micros != 0 {
        let s = format!("{frac_micros:06}");
        out.put_u8(b'.');
        out.put_slice(s.trim_end_matches('0').as_bytes());
    }
}

pub(crate) fn time_text(micros: i64, out: &mut BytesMut) {
    write_time_of_day(micros, out);
}

pub(crate) fn timestamp_text(utc_micros: i64, offset_secs: Option<i32>, out: &mut BytesMut) {
    match utc_micros {
        i64::MAX => return out.put_slice(b"infinity"),
        i64::MIN => return out.put_slice(b"-infinity"),
        _ => {}
    }
    let local = i128::from(utc_micros) + i128::from(offset_secs.unwrap_or(0)) * 1_000_000;
    let days = local.div_euclid(86_400_000_000) as i64;
    let tod = local.rem_euclid(86_400_000_000) as i64;
    let bc = write_date(days, out);
    out.put_u8(b' ');
    write_time_of_day(tod, out);
    if let Some(off) = offset_secs {
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.abs();
        let mut f = Fmt(out);
        let _ = write!(f, "{sign}{:02}", a / 3600);
        if a % 3600 != 0 {
            let _ = write!(f, ":{:02}", (a / 60) % 60);
            if a % 60 != 0 {
                let _ = write!(f, ":{:02}", a % 60);
            }
        }
    }
    if bc {
        out.put_slice(b" BC");
    }
}

/// PostgreSQL's `postgres` IntervalStyle.
pub(crate) fn interval_text(months: i32, days: i32, micros: i64, out: &mut BytesMut) {
    let mut f = Fmt(out);
    let mut first = true;
    let mut is_before = false;
    let years = months / 12;
    let mons = months % 12;
    for (n, unit) in [(years, "year"), (mons, "mon"), (days, "day")] {
        if n == 0 {
            continue;
        }
        let plus = if is_before && n > 0 { "+" } else { "" };
        let _ = write!(
            f,
            "{}{plus}{n} {unit}{}",
            if first { "" } else { " " },
            if n == 1 { "" } else { "s" }
        );
        is_before = n < 0;
        first = false;
    }
    if micros != 0 || first {
        let neg = micros < 0;
        let a = micros.unsigned_abs();
        let secs = a / 1_000_000;
        let sign = if neg {
            "-"
        } else if is_before {
            "+"
        } else {
            ""
        };
        let _ = write!(
            f,
            "{}{sign}{:02}:{:02}:{:02}",
            if first { "" } else { " " },
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        );
        write_fraction((a % 1_000_000) as i64, f.0);
    }
}
/// PostgreSQL's ISO date/timestamp input: `YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][Z|±HH[:MM]]`.
/// Returns the local date-time and the UTC offset in seconds, if given.
pub(crate) fn parse_datetime(s: &str) -> Option<(chrono::NaiveDateTime, Option<i32>)> {
    let s = s.trim();
    let split = s.find([' ', 'T', 't']).unwrap_or(s.len());
    let date = NaiveDate::parse_from_str(&s[..split], "%Y-%m-%d").ok()?;
    let rest = s[split..].trim_start_matches([' ', 'T', 't']).trim();
    if rest.is_empty() {
        return Some((date.and_time(chrono::NaiveTime::MIN), None));
    }
    // The zone starts at a sign after the time, or is a trailing Z.
    let (time_part, zone) = if let Some(z) = rest.strip_suffix(['Z', 'z']) {
        (z.trim(), Some(0))
    } else if let Some(i) = rest.rfind(['+', '-']) {
        (rest[..i].trim(), Some(parse_offset(&rest[i..])?))
    } else {
        (rest, None)
    };
    let time = if time_part.is_empty() {
        chrono::NaiveTime::MIN
    } else {
        parse_time(time_part)?
    };
    Some((date.and_time(time), zone))
}

pub(crate) fn parse_time(s: &str) -> Option<chrono::NaiveTime> {
    ["%H:%M:%S%.f", "%H:%M:%S", "%H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveTime::parse_from_str(s.trim(), f).ok())
}

/// `+HH`, `+HH:MM`, `+HHMM`, `-HH:MM:SS` → seconds east of UTC.
pub(crate) fn parse_offset(s: &str) -> Option<i32> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let parts: Vec<&str> = if digits.contains(':') {
        digits.split(':').collect()
    } else if digits.len() == 4 {
        vec![&digits[..2], &digits[2..]]
    } else {
        vec![digits]
    };
    let mut secs = 0;
    for (i, p) in parts.iter().enumerate().take(3) {
        let v: i32 = p.trim().parse().ok()?;
        secs += v * [3600, 60, 1][i];
    }
    Some(sign * secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_text as text;

    #[test]
    fn civil_dates_agree_with_chrono_and_reach_postgresqls_last_day() {
        use chrono::Datelike;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for days in (-3_000_000i64..3_000_000)
            .step_by(997)
            .chain([-1, 0, 1, 59, 60])
        {
            let d = epoch + chrono::Duration::days(days);
            assert_eq!(
                civil(days),
                (i64::from(d.year()), d.month(), d.day()),
                "{days}"
            );
        }
        // PostgreSQL's last date, 2,145,042,905 days after 1970.
        assert_eq!(text(|b| date_text(2_145_042_905, b)), "5874897-12-31");
        assert_eq!(text(|b| date_text(i32::MAX, b)), "infinity");
        assert_eq!(text(|b| date_text(i32::MIN, b)), "-infinity");
        assert_eq!(
            text(|b| timestamp_text(i64::MAX - 1, None, b)),
            "294247-01-10 04:00:54.775806"
        );
        assert_eq!(
            text(|b| timestamp_text(i64::MAX, Some(3600), b)),
            "infinity"
        );
    }

    #[test]
    fn dates_times_and_intervals_print_like_postgresql() {
        assert_eq!(text(|b| date_text(0, b)), "1970-01-01");
        assert_eq!(text(|b| date_text(-719_163, b)), "0001-12-31 BC");
        let far = NaiveDate::from_ymd_opt(12345, 6, 7).unwrap()
            - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(text(|b| date_text(far.num_days() as i32, b)), "12345-06-07");
        assert_eq!(
            text(|b| {
                let _ = int_text(i128::from(i64::MIN), b);
            }),
            "-9223372036854775808"
        );
        assert_eq!(
            text(|b| {
                let _ = int_text(0, b);
            }),
            "0"
        );
        assert_eq!(
            text(|b| timestamp_text(1_500_000, None, b)),
            "1970-01-01 00:00:01.5"
        );
        assert_eq!(
            text(|b| timestamp_text(0, Some(19800), b)),
            "1970-01-01 05:30:00+05:30"
        );
        assert_eq!(
            text(|b| interval_text(14, 3, 4 * 3_600_000_000 + 5_000_000, b)),
            "1 year 2 mons 3 days 04:00:05"
        );
        assert_eq!(text(|b| interval_text(0, 0, 0, b)), "00:00:00");
        assert_eq!(
            text(|b| interval_text(0, -1, 3_600_000_000, b)),
            "-1 days +01:00:00"
        );
    }
}
