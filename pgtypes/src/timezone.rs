//! The session `TimeZone`: IANA names, `UTC` and fixed offsets.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, Offset, TimeZone};

/// A session's `TimeZone`.
#[derive(Debug, Clone, Copy)]
pub enum SessionTz {
    /// An IANA zone.
    Named(chrono_tz::Tz),
    /// A fixed UTC offset.
    Fixed(FixedOffset),
}

impl Default for SessionTz {
    /// UTC.
    fn default() -> Self {
        Self::Fixed(chrono::Utc.fix())
    }
}

impl SessionTz {
    /// Offset from UTC, in seconds, at the instant `utc_micros`.
    pub(crate) fn offset_secs(&self, utc_micros: i64) -> i32 {
        match self {
            Self::Fixed(o) => o.local_minus_utc(),
            Self::Named(tz) => DateTime::from_timestamp_micros(utc_micros)
                .map(|dt| {
                    tz.offset_from_utc_datetime(&dt.naive_utc())
                        .fix()
                        .local_minus_utc()
                })
                .unwrap_or(0),
        }
    }
}

/// Parse a `TimeZone` value: an IANA name, `UTC`, or an ISO offset `+05:30`.
pub fn parse_timezone(v: &str) -> Option<SessionTz> {
    let v = v.trim();
    if ["utc", "gmt", "z", "zulu", "universal"]
        .iter()
        .any(|z| v.eq_ignore_ascii_case(z))
    {
        return FixedOffset::east_opt(0).map(SessionTz::Fixed);
    }
    if let Ok(tz) = chrono_tz::Tz::from_str(v) {
        return Some(SessionTz::Named(tz));
    }
    if let Some(tz) = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|t| t.name().eq_ignore_ascii_case(v))
    {
        return Some(SessionTz::Named(*tz));
    }
    let (sign, rest) = match v.as_bytes().first()? {
        b'+' => (1, &v[1..]),
        b'-' => (-1, &v[1..]),
        b'0'..=b'9' => (1, v),
        _ => return None,
    };
    let mut parts = rest.split(':');
    let h: i32 = parts.next()?.parse().ok()?;
    let m: i32 = parts.next().map(|m| m.parse().ok()).unwrap_or(Some(0))?;
    if h > 15 || m > 59 || parts.next().is_some() {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).map(SessionTz::Fixed)
}
