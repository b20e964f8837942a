//! Text forms of scalar values: floats as PostgreSQL prints them, bytea and uuid.

use bytes::{BufMut, BytesMut};

/// `write!` straight into a buffer.
pub(crate) struct Fmt<'a>(pub(crate) &'a mut BytesMut);

impl std::fmt::Write for Fmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

/// PostgreSQL's float output: shortest round-trip digits when
/// `extra_float_digits > 0`, else `%.{DBL_DIG + efd}g`.
pub fn float_text(v: f64, single: bool, extra_float_digits: i32, out: &mut BytesMut) {
    if v.is_nan() {
        return out.put_slice(b"NaN");
    }
    if v.is_infinite() {
        return out.put_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    }
    let digits = if single { 6 } else { 15 };
    let s = if extra_float_digits > 0 {
        let sci = if single {
            format!("{:e}", v as f32)
        } else {
            format!("{v:e}")
        };
        let exp = sci
            .rsplit('e')
            .next()
            .and_then(|e| e.parse::<i32>().ok())
            .unwrap_or(0);
        if exp < -4 || exp >= digits {
            exponent_form(&sci)
        } else if single {
            format!("{}", v as f32)
        } else {
            format!("{v}")
        }
    } else {
        let precision = (digits + extra_float_digits).max(1) as usize;
        let sci = format!("{:.*e}", precision - 1, v);
        let exp = sci
            .rsplit('e')
            .next()
            .and_then(|e| e.parse::<i32>().ok())
            .unwrap_or(0);
        if exp < -4 || exp >= precision as i32 {
            let (mant, e) = sci.split_once('e').unwrap_or((&sci, "0"));
            let mant = trim_fraction(mant);
            exponent_form(&format!("{mant}e{e}"))
        } else {
            let decimals = (precision as i32 - 1 - exp).max(0) as usize;
            trim_fraction(&format!("{v:.decimals$}")).to_owned()
        }
    };
    out.put_slice(s.as_bytes());
}

pub(crate) fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `1.5e-5` → `1.5e-05`, `1e20` → `1e+20` (C's `%e` exponent form).
pub(crate) fn exponent_form(sci: &str) -> String {
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

pub(crate) fn bytea_text(b: &[u8], out: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_slice(b"\\x");
    for byte in b {
        out.put_u8(HEX[(byte >> 4) as usize]);
        out.put_u8(HEX[(byte & 15) as usize]);
    }
}

pub(crate) fn uuid_text(b: &[u8], out: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.put_u8(b'-');
        }
        out.put_u8(HEX[(byte >> 4) as usize]);
        out.put_u8(HEX[(byte & 15) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_text as text;

    #[test]
    fn floats_print_like_postgresql() {
        assert_eq!(text(|b| float_text(1.5, false, 1, b)), "1.5");
        assert_eq!(text(|b| float_text(1e20, false, 1, b)), "1e+20");
        assert_eq!(text(|b| float_text(0.00001, false, 1, b)), "1e-05");
        assert_eq!(
            text(|b| float_text(0.1 + 0.2, false, 1, b)),
            "0.30000000000000004"
        );
        assert_eq!(text(|b| float_text(0.1 + 0.2, false, 0, b)), "0.3");
        assert_eq!(text(|b| float_text(1_000_000.0, true, 1, b)), "1e+06");
        assert_eq!(
            text(|b| float_text(f64::NEG_INFINITY, false, 1, b)),
            "-Infinity"
        );
    }
}
