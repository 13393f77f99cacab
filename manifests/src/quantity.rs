//! Resource quantities (`500m`, `128Mi`, `1.5`, `129e6`) parsed and printed exactly as
//! Kubernetes' `resource.Quantity` does, so CPU limits can become fuel and memory limits bytes.
//!
//! A [`Quantity`] keeps its exact value as a whole number of nano-units (values finer than a
//! nano-unit round up to the next one, as in Kubernetes) together with the notation it was
//! written in, which decides how it prints.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

/// Nano-units in one unit.
const NANO: i128 = 1_000_000_000;

/// The largest magnitude Kubernetes represents: 2^63 - 1 units.
const MAX_UNITS: i128 = i64::MAX as i128;

/// The largest magnitude, in nano-units.
const MAX_NANOS: i128 = MAX_UNITS * NANO;

/// Why a string is not a quantity. Messages are the ones kube-apiserver prints.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text does not have the shape of a quantity at all.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format,
    /// The number is followed by something that is not a known suffix or exponent.
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// The value is larger in magnitude than 2^63 - 1 units.
    #[error("quantity is too large: the limit is 9223372036854775807")]
    OutOfRange,
}

/// How a quantity was written, which decides how it prints back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Powers of ten with SI suffixes: `500m`, `2k`, `1G`.
    DecimalSi,
    /// Powers of two with IEC suffixes: `128Mi`, `1Gi`.
    BinarySi,
    /// Scientific notation: `129e6`, `1e3`.
    DecimalExponent,
}

/// A Kubernetes resource quantity with its exact value.
///
/// Equality, ordering and hashing look only at the value: `1000m == 1`, `1Gi > 1G`.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

impl Quantity {
    /// Parses a quantity as `resource.ParseQuantity` does.
    ///
    /// # Errors
    /// [`QuantityError::Format`] for text that is not a number with a suffix,
    /// [`QuantityError::Suffix`] for an unknown suffix or a malformed exponent, and
    /// [`QuantityError::OutOfRange`] for values beyond 2^63 - 1 units (Kubernetes silently caps
    /// these; Shoal refuses them).
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let parts = split(text)?;
        let (scale, format) = interpret(parts.suffix).ok_or(QuantityError::Suffix)?;
        let nanos = magnitude(parts.int, parts.frac, scale)?;
        let nanos = if parts.negative { -nanos } else { nanos };
        let format = match format {
            // Binary quantities below one unit print in decimal, as in Kubernetes.
            Format::BinarySi if nanos != 0 && nanos.abs() < NANO => Format::DecimalSi,
            other => other,
        };
        Ok(Self { nanos, format })
    }

    /// A quantity of `nanos` nano-units, printed in `format`.
    ///
    /// # Errors
    /// [`QuantityError::OutOfRange`] beyond 2^63 - 1 units.
    pub fn from_nanos(nanos: i128, format: Format) -> Result<Self, QuantityError> {
        if nanos.abs() > MAX_NANOS {
            return Err(QuantityError::OutOfRange);
        }
        Ok(Self { nanos, format })
    }

    /// A CPU quantity of `millicores` thousandths of a core (`250` prints as `250m`).
    pub fn from_millicores(millicores: i64) -> Self {
        Self {
            nanos: i128::from(millicores) * 1_000_000,
            format: Format::DecimalSi,
        }
    }

    /// A memory quantity of `bytes` bytes, printed with binary suffixes where exact.
    pub fn from_bytes(bytes: i64) -> Self {
        Self {
            nanos: i128::from(bytes) * NANO,
            format: Format::BinarySi,
        }
    }

    /// Reads a `k8s-openapi` quantity, as found in pod specs and node status.
    ///
    /// # Errors
    /// As [`Quantity::parse`].
    pub fn from_k8s(quantity: &K8sQuantity) -> Result<Self, QuantityError> {
        Self::parse(&quantity.0)
    }

    /// The `k8s-openapi` form, holding the canonical string.
    pub fn to_k8s(&self) -> K8sQuantity {
        K8sQuantity(self.to_string())
    }

    /// The exact value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The notation the quantity prints in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// The value in thousandths (millicores for CPU), rounded away from zero as Kubernetes'
    /// `MilliValue` does, saturating at the `i64` range.
    pub fn millicores(&self) -> i64 {
        scaled_away_from_zero(self.nanos, 1_000_000)
    }

    /// The value in whole units (bytes for memory), rounded away from zero as Kubernetes'
    /// `Value` does.
    pub fn bytes(&self) -> i64 {
        scaled_away_from_zero(self.nanos, NANO)
    }

    /// The fuel per second this CPU quantity grants on a node where one core burns
    /// `fuel_per_core_second` fuel per second. Negative quantities grant none.
    pub fn fuel_per_second(&self, fuel_per_core_second: u64) -> u64 {
        to_fuel_per_second(self.millicores(), fuel_per_core_second)
    }

    /// The sum of two quantities, keeping the notation of `self`.
    ///
    /// # Errors
    /// [`QuantityError::OutOfRange`] when the sum is beyond 2^63 - 1 units.
    pub fn checked_add(&self, other: &Self) -> Result<Self, QuantityError> {
        Self::from_nanos(self.nanos + other.nanos, self.format)
    }
}

/// Fuel per second for `millicores` thousandths of a core, when one core burns
/// `fuel_per_core_second` fuel per second: `250m` of `1_000_000` is `250_000`. A fraction of a
/// unit of fuel rounds up; negative millicores give zero; the result saturates at `u64::MAX`.
pub fn to_fuel_per_second(millicores: i64, fuel_per_core_second: u64) -> u64 {
    let Ok(millicores) = u128::try_from(millicores) else {
        return 0;
    };
    let fuel = (millicores * u128::from(fuel_per_core_second)).div_ceil(1000);
    u64::try_from(fuel).unwrap_or(u64::MAX)
}

/// `nanos / per_unit`, rounded away from zero, saturating at the `i64` range.
fn scaled_away_from_zero(nanos: i128, per_unit: i128) -> i64 {
    let magnitude = nanos.unsigned_abs().div_ceil(per_unit.unsigned_abs());
    let magnitude = i128::try_from(magnitude).unwrap_or(i128::MAX);
    let value = if nanos < 0 { -magnitude } else { magnitude };
    i64::try_from(value).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

/// More digits of nano-units than 2^63 - 1 units has (28); anything this long is out of range.
const MAX_DIGITS: i128 = 29;

/// The pieces of a quantity's text.
struct Parts<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
    suffix: &'a str,
}

/// Splits text into sign, integer digits, fraction digits and suffix, with the same grammar
/// as `resource.ParseQuantity` (which, like Kubernetes, reads `-`, `.` and a bare suffix as
/// zero).
fn split(text: &str) -> Result<Parts<'_>, QuantityError> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(QuantityError::Format);
    }
    let digits_from = |mut pos: usize| {
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        pos
    };
    let (negative, int_start) = match bytes[0] {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let int_end = digits_from(int_start);
    let (frac_start, frac_end) = if bytes.get(int_end) == Some(&b'.') {
        (int_end + 1, digits_from(int_end + 1))
    } else {
        (int_end, int_end)
    };
    let suffix_start = frac_end;
    let mut pos = suffix_start;
    while bytes.get(pos).is_some_and(|b| b"eEinumkKMGTP".contains(b)) {
        pos += 1;
    }
    if matches!(bytes.get(pos), Some(b'+' | b'-')) {
        pos += 1;
    }
    if digits_from(pos) != bytes.len() {
        return Err(QuantityError::Format);
    }
    Ok(Parts {
        negative,
        int: &text[int_start..int_end],
        frac: &text[frac_start..frac_end],
        suffix: &text[suffix_start..],
    })
}

/// What a suffix multiplies by.
#[derive(Clone, Copy)]
enum Scale {
    /// Times ten to this power.
    Decimal(i64),
    /// Times two to this power (10, 20, ... 60).
    Binary(u32),
}

/// The scale and notation of a suffix, or `None` when it is not one Kubernetes knows.
fn interpret(suffix: &str) -> Option<(Scale, Format)> {
    let decimal = |exp| Some((Scale::Decimal(exp), Format::DecimalSi));
    let binary = |exp| Some((Scale::Binary(exp), Format::BinarySi));
    match suffix {
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "" => decimal(0),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let exponent = exponent.parse::<i64>().ok()?;
            Some((Scale::Decimal(exponent), Format::DecimalExponent))
        }
    }
}

/// The magnitude in nano-units of `int.frac` times `scale`, rounded up to a whole nano-unit.
fn magnitude(int: &str, frac: &str, scale: Scale) -> Result<i128, QuantityError> {
    // Significant digits, most significant first, with leading zeros dropped.
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let first = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
    digits.drain(..first);
    if digits.is_empty() {
        return Ok(0);
    }
    let exp10 = match scale {
        Scale::Decimal(exp) => exp,
        Scale::Binary(exp) => {
            multiply(&mut digits, 1u64 << exp);
            0
        }
    };
    // Digits to the right of the nano-unit point.
    let below = i128::try_from(frac.len()).unwrap_or(i128::MAX) - 9 - i128::from(exp10);
    let len = i128::try_from(digits.len()).unwrap_or(i128::MAX);
    if below <= 0 {
        if len - below > MAX_DIGITS {
            return Err(QuantityError::OutOfRange);
        }
        let value = to_int(&digits) * 10i128.pow(u32::try_from(-below).unwrap_or(0));
        return in_range(value);
    }
    let keep = usize::try_from((len - below).max(0)).unwrap_or(0);
    if i128::try_from(keep).unwrap_or(i128::MAX) > MAX_DIGITS {
        return Err(QuantityError::OutOfRange);
    }
    let (whole, rest) = digits.split_at(keep);
    let round_up = rest.iter().any(|&d| d != 0);
    in_range(to_int(whole) + i128::from(round_up))
}

/// Multiplies big-endian decimal digits by `factor` in place.
fn multiply(digits: &mut Vec<u8>, factor: u64) {
    let mut carry: u128 = 0;
    let mut out = Vec::with_capacity(digits.len() + 20);
    for &d in digits.iter().rev() {
        carry += u128::from(d) * u128::from(factor);
        out.push((carry % 10) as u8);
        carry /= 10;
    }
    while carry > 0 {
        out.push((carry % 10) as u8);
        carry /= 10;
    }
    out.reverse();
    *digits = out;
}

/// The integer of at most 29 decimal digits.
fn to_int(digits: &[u8]) -> i128 {
    digits
        .iter()
        .fold(0i128, |acc, &d| acc * 10 + i128::from(d))
}

fn in_range(nanos: i128) -> Result<i128, QuantityError> {
    if nanos > MAX_NANOS {
        Err(QuantityError::OutOfRange)
    } else {
        Ok(nanos)
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<&K8sQuantity> for Quantity {
    type Error = QuantityError;

    fn try_from(quantity: &K8sQuantity) -> Result<Self, Self::Error> {
        Self::from_k8s(quantity)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

/// The canonical form Kubernetes prints: the largest suffix that keeps every digit, decimal
/// suffixes in steps of a thousand, binary ones only for whole multiples of 1024.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        if self.format == Format::BinarySi
            && self.nanos.abs() >= 1024 * NANO
            && self.nanos % NANO == 0
        {
            let mut units = self.nanos / NANO;
            let mut power = 0;
            while power < 6 && units % 1024 == 0 {
                units /= 1024;
                power += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
            return write!(f, "{units}{suffix}");
        }
        let mut mantissa = self.nanos;
        let mut exponent: i32 = -9;
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        let down = exponent.rem_euclid(3);
        mantissa *= 10i128.pow(down.unsigned_abs());
        exponent -= down;
        let si = match exponent {
            -9 => Some("n"),
            -6 => Some("u"),
            -3 => Some("m"),
            0 => Some(""),
            3 => Some("k"),
            6 => Some("M"),
            9 => Some("G"),
            12 => Some("T"),
            15 => Some("P"),
            18 => Some("E"),
            _ => None,
        };
        match (self.format, si) {
            (Format::DecimalExponent, _) | (_, None) if exponent != 0 => {
                write!(f, "{mantissa}e{exponent}")
            }
            (_, suffix) => write!(f, "{mantissa}{}", suffix.unwrap_or("")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantity {
        match Quantity::parse(text) {
            Ok(q) => q,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn decimal_suffixes() {
        for (text, nanos) in [
            ("1n", 1),
            ("1u", 1_000),
            ("1m", 1_000_000),
            ("1", NANO),
            ("1k", 1_000 * NANO),
            ("1M", 1_000_000 * NANO),
            ("1G", 1_000_000_000 * NANO),
            ("1T", 10i128.pow(12) * NANO),
            ("1P", 10i128.pow(15) * NANO),
            ("1E", 10i128.pow(18) * NANO),
        ] {
            assert_eq!(q(text).nanos(), nanos, "{text}");
            assert_eq!(q(text).format(), Format::DecimalSi, "{text}");
        }
    }

    #[test]
    fn binary_suffixes() {
        for (text, power) in [
            ("1Ki", 10),
            ("1Mi", 20),
            ("1Gi", 30),
            ("1Ti", 40),
            ("1Pi", 50),
            ("1Ei", 60),
        ] {
            assert_eq!(q(text).bytes(), 1i64 << power, "{text}");
            assert_eq!(q(text).format(), Format::BinarySi);
            assert_eq!(q(text).to_string(), text);
        }
        assert_eq!(q("1.5Gi").bytes(), 1_610_612_736);
        assert_eq!(q("0.5Ki").bytes(), 512);
    }

    #[test]
    fn numbers_signs_and_exponents() {
        assert_eq!(q("0.5").millicores(), 500);
        assert_eq!(q(".5").millicores(), 500);
        assert_eq!(q("1.").millicores(), 1000);
        assert_eq!(q("+2").bytes(), 2);
        assert_eq!(q("-2").bytes(), -2);
        assert_eq!(q("129e6").bytes(), 129_000_000);
        assert_eq!(q("1E3").bytes(), 1000);
        assert_eq!(q("1e+3").bytes(), 1000);
        assert_eq!(q("5e-3").millicores(), 5);
        assert_eq!(q("1E3").format(), Format::DecimalExponent);
        assert_eq!(q("000").nanos(), 0);
        assert_eq!(q("0e100000000000").nanos(), 0);
    }

    #[test]
    fn errors() {
        for text in ["", "abc", "1 ", " 1", "1.1.M", "1+1.0M", "1Mi3x", "1-x"] {
            assert_eq!(
                Quantity::parse(text),
                Err(QuantityError::Format),
                "{text:?}"
            );
        }
        for text in [
            "1i",
            ".5i",
            "0.1mi",
            "1K",
            "1e",
            "1e-",
            "1Mi3",
            "1eE5",
            "--1",
            "1e99999999999999999999",
        ] {
            assert_eq!(
                Quantity::parse(text),
                Err(QuantityError::Suffix),
                "{text:?}"
            );
        }
        for text in ["10E", "9223372036854775808", "1e100", "8Ei", "-1e30"] {
            assert_eq!(
                Quantity::parse(text),
                Err(QuantityError::OutOfRange),
                "{text:?}"
            );
        }
        assert_eq!(
            QuantityError::Format.to_string(),
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        assert_eq!(
            QuantityError::Suffix.to_string(),
            "unable to parse quantity's suffix"
        );
        assert_eq!(q("9223372036854775807").bytes(), i64::MAX);
    }

    #[test]
    fn rounding_is_up_and_away_from_zero() {
        assert_eq!(q("0.1n").nanos(), 1);
        assert_eq!(q("1e-100").nanos(), 1);
        assert_eq!(q("-0.1n").nanos(), -1);
        assert_eq!(q("1.0000000001").nanos(), NANO + 1);
        assert_eq!(q("0.1001m").millicores(), 1);
        assert_eq!(q("1.5").bytes(), 2);
        assert_eq!(q("-1.5").bytes(), -2);
        assert_eq!(q("100.5m").millicores(), 101);
        assert_eq!(
            q("1.0000000000000000000000000000000001Ki").nanos(),
            1024 * NANO + 1
        );
        assert_eq!(q("1n").millicores(), 1);
    }

    #[test]
    fn ordering_by_value() {
        assert!(q("1Gi") > q("1G"));
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1Ki"), q("1024"));
        assert!(q("-1") < q("0"));
        assert!(q("999m") < q("1"));
        let mut list = [q("2"), q("500m"), q("1Mi"), q("1M")];
        list.sort();
        let printed: Vec<String> = list.iter().map(Quantity::to_string).collect();
        assert_eq!(printed, ["500m", "2", "1M", "1Mi"]);
    }

    #[test]
    fn prints_canonically() {
        for (text, canonical) in [
            ("128974848", "128974848"),
            ("0.5", "500m"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("1.5k", "1500"),
            ("1.5M", "1500k"),
            ("100m", "100m"),
            ("0.1", "100m"),
            ("1000m", "1"),
            ("129e6", "129e6"),
            ("1E3", "1e3"),
            ("0.5e0", "500e-3"),
            ("0", "0"),
            ("0Mi", "0"),
            ("-0.5", "-500m"),
            ("-1Ki", "-1Ki"),
            ("1000Ki", "1000Ki"),
            ("512", "512"),
            ("0.5Ki", "512"),
            ("1023Ki", "1023Ki"),
            ("0.5Mi", "512Ki"),
            ("100u", "100u"),
            ("12n", "12n"),
            ("9223372036854775807", "9223372036854775807"),
        ] {
            assert_eq!(q(text).to_string(), canonical, "{text}");
            assert_eq!(q(canonical), q(text), "{canonical} reparses");
        }
    }

    #[test]
    fn fuel_conversion() {
        assert_eq!(to_fuel_per_second(250, 1_000_000), 250_000);
        assert_eq!(q("250m").fuel_per_second(1_000_000), 250_000);
        assert_eq!(q("2").fuel_per_second(1_000_000), 2_000_000);
        assert_eq!(q("1m").fuel_per_second(1), 1);
        assert_eq!(to_fuel_per_second(-5, 1_000_000), 0);
        assert_eq!(to_fuel_per_second(i64::MAX, u64::MAX), u64::MAX);
        assert_eq!(q("9223372036854775807").fuel_per_second(u64::MAX), u64::MAX);
        assert_eq!(q("9223372036854775807").millicores(), i64::MAX);
    }

    proptest::proptest! {
        /// Every quantity prints to text that parses back to the same value and notation.
        #[test]
        fn printing_round_trips(nanos in -MAX_NANOS..=MAX_NANOS, format in 0..3u8) {
            let format = [Format::DecimalSi, Format::BinarySi, Format::DecimalExponent][usize::from(format)];
            let quantity = Quantity::from_nanos(nanos, format);
            let printed = quantity.map(|q| q.to_string());
            let reparsed = printed.as_ref().map_err(Clone::clone).and_then(|p| Quantity::parse(p));
            proptest::prop_assert_eq!(reparsed.map(|q| q.nanos()), Ok(nanos), "{:?}", printed);
        }

        /// Parsing never panics, whatever the text.
        #[test]
        fn parsing_never_panics(text in "[-+0-9.eEinumkKMGTP ]{0,40}") {
            let _ = Quantity::parse(&text);
        }
    }

    #[test]
    fn k8s_round_trip() {
        let k = K8sQuantity("512Mi".to_owned());
        let parsed = Quantity::from_k8s(&k).map(|q| q.to_k8s());
        assert_eq!(parsed, Ok(K8sQuantity("512Mi".to_owned())));
        assert_eq!(
            Quantity::try_from(&K8sQuantity("x".to_owned())),
            Err(QuantityError::Format)
        );
        assert_eq!(Quantity::from_millicores(250).to_string(), "250m");
        assert_eq!(Quantity::from_bytes(1 << 20).to_string(), "1Mi");
        assert_eq!(
            q("1").checked_add(&q("500m")).map(|q| q.to_string()),
            Ok("1500m".to_owned())
        );
    }
}
