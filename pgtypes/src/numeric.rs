//! Decimals and PostgreSQL `numeric`: text output and input, and the binary
//! form (base-10000 digits with weight and dscale) in both directions.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use datafusion::scalar::ScalarValue;

use crate::error::{Error, Result};

pub(crate) fn decimal_text(v: i128, scale: i8, out: &mut BytesMut) {
    let mut buf = [0u8; 40];
    let digits = decimal_digits(v.unsigned_abs(), &mut buf);
    decimal_digits_text(v < 0, digits, scale, out)
}

/// A decimal given by the digits of its unscaled magnitude, as text.
pub(crate) fn decimal_digits_text(negative: bool, digits: &[u8], scale: i8, out: &mut BytesMut) {
    let zero = digits.iter().all(|d| *d == b'0');
    if negative && !zero {
        out.put_u8(b'-');
    }
    if scale <= 0 {
        out.put_slice(digits);
        if !zero {
            for _ in 0..(-scale) {
                out.put_u8(b'0');
            }
        }
        return;
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        out.put_slice(b"0.");
        for _ in 0..scale - digits.len() {
            out.put_u8(b'0');
        }
        out.put_slice(digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.put_slice(int);
        out.put_u8(b'.');
        out.put_slice(frac);
    }
}

/// An integer in decimal, without the formatting machinery.
pub(crate) fn int_text(v: i128, out: &mut BytesMut) -> std::fmt::Result {
    let mut buf = [0u8; 40];
    if v < 0 {
        out.put_u8(b'-');
    }
    out.put_slice(decimal_digits(v.unsigned_abs(), &mut buf));
    Ok(())
}

/// The decimal digits of `u`, written at the end of `buf` without allocating.
pub(crate) fn decimal_digits(mut u: u128, buf: &mut [u8; 40]) -> &[u8] {
    let mut i = buf.len();
    // u128 division is slow; most values fit in 64 bits.
    while u > u128::from(u64::MAX) {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
    }
    let mut small = u as u64;
    loop {
        i -= 1;
        buf[i] = b'0' + (small % 10) as u8;
        small /= 10;
        if small == 0 {
            break;
        }
    }
    &buf[i..]
}

/// PostgreSQL's binary numeric: base-10000 digits with weight and dscale.
pub(crate) fn numeric_binary(v: i128, scale: i8, out: &mut BytesMut) {
    let (magnitude, scale) = if scale < 0 {
        (
            v.unsigned_abs()
                .saturating_mul(10u128.saturating_pow(u32::from(scale.unsigned_abs()))),
            0u32,
        )
    } else {
        (v.unsigned_abs(), scale as u32)
    };
    // Shift the value so the fraction is a whole number of base-10000
    // digits; 38 decimal digits shifted by at most 3 may not fit in u128,
    // so the top digits are split off first.
    let pad = (4 - scale % 4) % 4;
    let frac_groups = ((scale + pad) / 4) as i32;
    let mut groups = [0i16; 12];
    let mut n = 0usize;
    let pow = 10u128.pow(pad);
    let (mut high, low) = (magnitude / 10_000, magnitude % 10_000);
    // magnitude * 10^pad = high * 10^(4+pad) + low * 10^pad
    let low_shifted = low * pow; // < 10^7
    groups[n] = (low_shifted % 10_000) as i16;
    n += 1;
    let mut carry = low_shifted / 10_000; // < 10^3
                                          // high * 10^pad + carry, in base 10000: take digits of high, shifting
                                          // each by 10^pad with a running carry.
    while high > 0 || carry > 0 {
        let chunk = (high % 10_000) * pow + carry;
        groups[n] = (chunk % 10_000) as i16;
        n += 1;
        carry = chunk / 10_000;
        high /= 10_000;
    }
    // Drop leading (most significant) zero groups, then trailing ones.
    while n > 0 && groups[n - 1] == 0 {
        n -= 1;
    }
    let mut first = 0usize;
    while first < n && groups[first] == 0 {
        first += 1;
    }
    let (ndigits, weight) = if n == 0 {
        (0usize, 0i32)
    } else {
        (n - first, n as i32 - 1 - frac_groups)
    };
    out.put_i16(ndigits as i16);
    out.put_i16(weight as i16);
    out.put_u16(if v < 0 && ndigits > 0 { 0x4000 } else { 0 });
    out.put_i16(scale as i16);
    for g in groups[first..n].iter().rev() {
        out.put_i16(*g);
    }
}

/// PostgreSQL's binary numeric from the digits of an unscaled magnitude
/// (any length): used for decimals wider than 128 bits.
pub(crate) fn numeric_binary_digits(negative: bool, digits: &[u8], scale: i8, out: &mut BytesMut) {
    // Whole decimal digits: integer part and fraction.
    let mut text: Vec<u8> = digits.to_vec();
    let scale = if scale < 0 {
        text.extend(std::iter::repeat_n(b'0', scale.unsigned_abs() as usize));
        0usize
    } else {
        scale as usize
    };
    if text.len() <= scale {
        let pad = scale + 1 - text.len();
        text.splice(0..0, std::iter::repeat_n(b'0', pad));
    }
    let (int, frac) = text.split_at(text.len() - scale);
    // Align both parts on base-10000 groups.
    let int_pad = (4 - int.len() % 4) % 4;
    let frac_pad = (4 - frac.len() % 4) % 4;
    let mut aligned = vec![b'0'; int_pad];
    aligned.extend_from_slice(int);
    aligned.extend_from_slice(frac);
    aligned.extend(std::iter::repeat_n(b'0', frac_pad));
    let int_groups = (int.len() + int_pad) / 4;
    let groups: Vec<i16> = aligned
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0')))
        .collect();
    let first = groups.iter().position(|g| *g != 0);
    let last = groups.iter().rposition(|g| *g != 0);
    let (ndigits, weight, body) = match (first, last) {
        (Some(f), Some(l)) => (l - f + 1, int_groups as i32 - 1 - f as i32, &groups[f..=l]),
        _ => (0, 0, &groups[0..0]),
    };
    out.put_i16(ndigits as i16);
    out.put_i16(weight as i16);
    out.put_u16(if negative && ndigits > 0 { 0x4000 } else { 0 });
    out.put_i16(scale as i16);
    for g in body {
        out.put_i16(*g);
    }
}

pub(crate) fn parse_numeric(s: &str) -> Option<ScalarValue> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let all = format!("{int}{frac}");
    let all = all.trim_start_matches('0');
    if all.len() > 38 {
        return None;
    }
    let v: i128 = if all.is_empty() { 0 } else { all.parse().ok()? };
    let scale = frac.len() as i8;
    let precision = (all.len().max(scale as usize).max(1)) as u8;
    Some(ScalarValue::Decimal128(
        Some(if neg { -v } else { v }),
        precision.max(scale as u8),
        scale,
    ))
}
/// A binary numeric, split into its header and base-10000 digits.
struct Binary<'a> {
    weight: i16,
    negative: bool,
    special: Option<&'static str>,
    dscale: u16,
    digits: &'a [u8],
}

fn malformed() -> Error {
    Error::Malformed("malformed binary numeric".into())
}

fn parts(v: &[u8]) -> Result<Binary<'_>> {
    if v.len() < 8 {
        return Err(malformed());
    }
    let ndigits = u16::from_be_bytes([v[0], v[1]]) as usize;
    let weight = i16::from_be_bytes([v[2], v[3]]);
    let sign = u16::from_be_bytes([v[4], v[5]]);
    let dscale = u16::from_be_bytes([v[6], v[7]]);
    let digits = &v[8..];
    if digits.len() != ndigits * 2 || dscale > 0x3FFF {
        return Err(malformed());
    }
    let special = match sign {
        0x0000 | 0x4000 => None,
        0xC000 => Some("NaN"),
        0xD000 => Some("Infinity"),
        0xF000 => Some("-Infinity"),
        _ => return Err(malformed()),
    };
    Ok(Binary {
        weight,
        negative: sign == 0x4000,
        special,
        dscale,
        digits,
    })
}

fn digit(d: &[u8], i: usize) -> i128 {
    i16::from_be_bytes([d[2 * i], d[2 * i + 1]]) as i128
}

/// A binary numeric as an unscaled integer at `scale`, exactly; `None` when
/// it cannot be held so: too many digits, nonzero digits past `scale`, or
/// NaN/±Infinity. Weir never rounds a source's value.
pub fn binary_to_i128(v: &[u8], scale: i8) -> Result<Option<i128>> {
    let n = parts(v)?;
    if n.special.is_some() {
        return Ok(None);
    }
    let count = n.digits.len() / 2;
    let mut acc: i128 = 0;
    // value = Σ d_i · 10000^(weight − i); unscaled = value · 10^scale.
    for i in 0..count {
        let exp = 4 * (n.weight as i32 - i as i32) + scale as i32;
        let d = digit(n.digits, i);
        if exp >= 0 {
            let Some(term) = 10i128
                .checked_pow(exp as u32)
                .and_then(|p| p.checked_mul(d))
            else {
                return Ok(None);
            };
            let Some(sum) = acc.checked_add(term) else {
                return Ok(None);
            };
            acc = sum;
        } else if exp > -4 {
            let div = 10i128.pow((-exp) as u32);
            if d % div != 0 {
                return Ok(None);
            }
            let Some(sum) = acc.checked_add(d / div) else {
                return Ok(None);
            };
            acc = sum;
        } else if d != 0 {
            return Ok(None);
        }
    }
    Ok(Some(if n.negative { -acc } else { acc }))
}

/// A binary numeric as PostgreSQL prints it (`NaN`, `Infinity` included).
pub fn binary_to_string(v: &[u8]) -> Result<String> {
    let n = parts(v)?;
    if let Some(s) = n.special {
        return Ok(s.to_owned());
    }
    let count = n.digits.len() / 2;
    let at = |i: i32| {
        if i >= 0 && (i as usize) < count {
            digit(n.digits, i as usize)
        } else {
            0
        }
    };
    let mut int = String::new();
    for i in 0..=i32::from(n.weight) {
        let _ = write!(int, "{:04}", at(i));
    }
    let int = match int.trim_start_matches('0') {
        "" => "0",
        digits => digits,
    };
    let mut out = String::with_capacity(int.len() + usize::from(n.dscale) + 2);
    if n.negative {
        out.push('-');
    }
    out.push_str(int);
    if n.dscale > 0 {
        let mut frac = String::new();
        let mut i = i32::from(n.weight) + 1;
        while frac.len() < usize::from(n.dscale) {
            let _ = write!(frac, "{:04}", at(i));
            i += 1;
        }
        frac.truncate(usize::from(n.dscale));
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

/// A binary numeric Bind parameter as a DataFusion scalar: a decimal at its
/// own scale, or a float for NaN and ±Infinity (no decimal holds them).
pub(crate) fn decode_numeric_binary(b: &[u8]) -> Result<ScalarValue> {
    let s = binary_to_string(b)?;
    match s.as_str() {
        "NaN" => Ok(ScalarValue::Float64(Some(f64::NAN))),
        "Infinity" => Ok(ScalarValue::Float64(Some(f64::INFINITY))),
        "-Infinity" => Ok(ScalarValue::Float64(Some(f64::NEG_INFINITY))),
        _ => parse_numeric(&s).ok_or_else(|| Error::out_of_range(crate::oid::NUMERIC, &s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_text as text;

    #[test]
    fn decimals_and_numeric_binary() {
        assert_eq!(text(|b| decimal_text(-5, 2, b)), "-0.05");
        assert_eq!(text(|b| decimal_text(123456, 2, b)), "1234.56");
        let mut b = BytesMut::new();
        numeric_binary(123456, 2, &mut b); // 1234.56 -> digits [1234, 5600], weight 0, dscale 2
        assert_eq!(&b[..], &[0, 2, 0, 0, 0, 0, 0, 2, 0x04, 0xD2, 0x15, 0xE0]);
        assert_eq!(
            decode_numeric_binary(&b).unwrap(),
            ScalarValue::Decimal128(Some(123456), 6, 2)
        );
        let mut z = BytesMut::new();
        numeric_binary(-1, 3, &mut z); // -0.001 -> digits [10], weight -1
        assert_eq!(&z[..], &[0, 1, 0xFF, 0xFF, 0x40, 0, 0, 3, 0, 10]);
        let mut ten_thousand = BytesMut::new();
        numeric_binary(1_000_000, 2, &mut ten_thousand); // 10000.00 -> [1], weight 1
        assert_eq!(&ten_thousand[..], &[0, 1, 0, 1, 0, 0, 0, 2, 0, 1]);
        assert_eq!(text(|b| decimal_text(0, -2, b)), "0");
        assert_eq!(text(|b| decimal_text(-12, -2, b)), "-1200");
    }

    proptest::proptest! {
        /// The digit-string encoder (wide decimals) writes what the i128
        /// one writes.
        #[test]
        fn numeric_binary_from_digits_matches_the_i128_encoder(v in -(10i128.pow(38) - 1)..10i128.pow(38), scale in 0i8..=38) {
            let mut a = BytesMut::new();
            numeric_binary(v, scale, &mut a);
            let mut b = BytesMut::new();
            numeric_binary_digits(v < 0, v.unsigned_abs().to_string().as_bytes(), scale, &mut b);
            assert_eq!(a, b);
        }

        /// Binary numerics decode to the value they encode, for any
        /// Decimal128 magnitude and scale: as the exact unscaled integer,
        /// as PostgreSQL's text, and as a Bind parameter.
        #[test]
        fn numeric_binary_round_trips(v in -(10i128.pow(38) - 1)..10i128.pow(38), scale in 0i8..=38) {
            let mut b = BytesMut::new();
            numeric_binary(v, scale, &mut b);
            proptest::prop_assert_eq!(binary_to_i128(&b, scale).unwrap(), Some(v));
            proptest::prop_assert_eq!(
                binary_to_string(&b).unwrap(),
                text(|o| decimal_text(v, scale, o))
            );
            match decode_numeric_binary(&b).unwrap() {
                ScalarValue::Decimal128(Some(back), _, back_scale) => {
                    proptest::prop_assert_eq!(
                        text(|o| decimal_text(back, back_scale, o)),
                        text(|o| decimal_text(v, scale, o))
                    );
                }
                other => proptest::prop_assert!(false, "decoded {other:?}"),
            }
        }
    }

    fn numeric(weight: i16, negative: bool, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend((digits.len() as u16).to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend((if negative { 0x4000u16 } else { 0 }).to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_decode_exactly_or_not_at_all() {
        // 12345.6789
        let v = numeric(1, false, 4, &[1, 2345, 6789]);
        assert_eq!(binary_to_string(&v).unwrap(), "12345.6789");
        assert_eq!(binary_to_i128(&v, 4).unwrap(), Some(123_456_789));
        assert_eq!(binary_to_i128(&v, 6).unwrap(), Some(12_345_678_900));
        assert_eq!(binary_to_i128(&v, 3).unwrap(), None);
        assert_eq!(binary_to_i128(&v, 0).unwrap(), None);
        // 12345.6700: zeros past the scale are no loss
        let v = numeric(1, false, 4, &[1, 2345, 6700]);
        assert_eq!(binary_to_i128(&v, 2).unwrap(), Some(1_234_567));
        // -0.0005
        let v = numeric(-1, true, 4, &[5]);
        assert_eq!(binary_to_string(&v).unwrap(), "-0.0005");
        assert_eq!(binary_to_i128(&v, 3).unwrap(), None);
        assert_eq!(binary_to_i128(&v, 4).unwrap(), Some(-5));
        assert_eq!(binary_to_i128(&v, 6).unwrap(), Some(-500));
        // 1e-21: beyond any scale Weir offers by default
        let v = numeric(-6, false, 21, &[1000]);
        assert_eq!(binary_to_string(&v).unwrap(), "0.000000000000000000001");
        assert_eq!(binary_to_i128(&v, 10).unwrap(), None);
        assert_eq!(binary_to_i128(&v, 21).unwrap(), Some(1));
        // NaN
        let mut v = numeric(0, false, 0, &[]);
        v[4..6].copy_from_slice(&0xC000u16.to_be_bytes());
        assert_eq!(binary_to_string(&v).unwrap(), "NaN");
        assert_eq!(binary_to_i128(&v, 2).unwrap(), None);
        // 100000000 (trailing zero groups dropped by PostgreSQL)
        let v = numeric(2, false, 0, &[1]);
        assert_eq!(binary_to_string(&v).unwrap(), "100000000");
        assert_eq!(binary_to_i128(&v, 2).unwrap(), Some(10_000_000_000));
        // 0
        let v = numeric(0, false, 2, &[]);
        assert_eq!(binary_to_string(&v).unwrap(), "0.00");
        assert_eq!(binary_to_i128(&v, 2).unwrap(), Some(0));
        // too big for 38 digits
        let v = numeric(10, false, 0, &[1]);
        assert_eq!(binary_to_i128(&v, 0).unwrap(), None);
    }
}
