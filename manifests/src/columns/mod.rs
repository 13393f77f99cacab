//! Printer columns for `kubectl get`: for every kind, the columns and cells kube-apiserver's
//! Table printer produces, so the real kubectl shows the output its users know. Cells are pure
//! functions of the object's JSON and the current time, and never fail: missing or odd fields
//! print as kubectl prints them (`<none>`, `<unknown>`, `0`).
//!
//! Kube-apiserver always prints the wide form and lets kubectl hide priority-1 columns, so the
//! cells here are the wide ones.

mod cluster;
mod workloads;

use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;
use serde_json::Value;

use crate::quantity::Quantity;
use crate::registry::{Column, ColumnType};
use crate::selector::LabelSelector;

pub use cluster::{
    CLUSTER_ROLE, CLUSTER_ROLE_BINDING, CONFIG_MAP, ENDPOINT_SLICE, ENDPOINTS, EVENT, LEASE,
    NAMESPACE, NODE, PERSISTENT_VOLUME_CLAIM, ROLE, ROLE_BINDING, SECRET, SERVICE, SERVICE_ACCOUNT,
};
pub use workloads::{
    CRON_JOB, DAEMON_SET, DEPLOYMENT, HORIZONTAL_POD_AUTOSCALER, JOB, POD, REPLICA_SET,
    STATEFUL_SET,
};

/// The NAME column, first for every kind except events.
const NAME: Column = Column {
    name: "Name",
    kind: ColumnType::String,
    format: "name",
    description: "Name must be unique within a namespace. It is required when creating resources.",
    priority: 0,
    cell: |object, _| Value::from(text(object, "metadata.name")),
};

/// The AGE column: time since `metadata.creationTimestamp`.
const AGE: Column = Column {
    name: "Age",
    kind: ColumnType::String,
    format: "",
    description: "Time since the object was created, from metadata.creationTimestamp.",
    priority: 0,
    cell: |object, now| Value::from(since(field(object, "metadata.creationTimestamp"), now)),
};

/// A column of the default view.
const fn column(
    name: &'static str,
    kind: ColumnType,
    description: &'static str,
    cell: fn(&Value, SystemTime) -> Value,
) -> Column {
    Column {
        name,
        kind,
        format: "",
        description,
        priority: 0,
        cell,
    }
}

/// A column shown only with `-o wide`.
const fn wide(
    name: &'static str,
    description: &'static str,
    cell: fn(&Value, SystemTime) -> Value,
) -> Column {
    Column {
        name,
        kind: ColumnType::String,
        format: "",
        description,
        priority: 1,
        cell,
    }
}

/// The value at a dotted path (`spec.template.spec`), if every step is an object key.
fn field<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(object, |value, key| value.get(key))
}

/// The string at a dotted path, or `""`.
fn text<'a>(object: &'a Value, path: &str) -> &'a str {
    field(object, path).and_then(Value::as_str).unwrap_or("")
}

/// The string at a dotted path, or `default` when it is missing or empty.
fn text_or<'a>(object: &'a Value, path: &str, default: &'a str) -> &'a str {
    match text(object, path) {
        "" => default,
        value => value,
    }
}

/// The integer at a dotted path, or `0`.
fn int(object: &Value, path: &str) -> i64 {
    field(object, path).and_then(Value::as_i64).unwrap_or(0)
}

/// The list at a dotted path, or an empty one.
fn list<'a>(object: &'a Value, path: &str) -> &'a [Value] {
    field(object, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The number of entries of the map at a dotted path.
fn map_len(object: &Value, path: &str) -> usize {
    field(object, path)
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len)
}

/// Whether the object has a condition of `kind` with status `True`.
fn condition_true(object: &Value, conditions: &str, kind: &str) -> bool {
    list(object, conditions)
        .iter()
        .any(|c| text(c, "type") == kind && text(c, "status") == "True")
}

/// Whether the object is being deleted.
fn deleting(object: &Value) -> bool {
    field(object, "metadata.deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// `names`, `images` of the containers at `path` (a pod spec's `containers`).
fn containers(object: &Value, path: &str) -> (String, String) {
    let containers = list(object, path);
    let names: Vec<&str> = containers.iter().map(|c| text(c, "name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, "image")).collect();
    (names.join(","), images.join(","))
}

/// The CONTAINERS cell of a pod template at `template` (e.g. `spec.template`).
fn template_names(object: &Value, template: &str) -> Value {
    Value::from(containers(object, &format!("{template}.spec.containers")).0)
}

/// The IMAGES cell of a pod template at `template`.
fn template_images(object: &Value, template: &str) -> Value {
    Value::from(containers(object, &format!("{template}.spec.containers")).1)
}

/// A structured label selector in its string form; a missing or unreadable one prints as
/// the empty string, as apimachinery prints the selector that matches nothing.
fn selector_text(object: &Value, path: &str) -> String {
    let Some(selector) = field(object, path).filter(|s| !s.is_null()) else {
        return String::new();
    };
    serde_json::from_value::<metav1::LabelSelector>(selector.clone())
        .ok()
        .and_then(|s| LabelSelector::from_k8s(&s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// A plain label map as `a=b,c=d` (sorted), or `<none>` when empty.
fn labels_text(object: &Value, path: &str) -> String {
    let Some(map) = field(object, path)
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    else {
        return "<none>".to_owned();
    };
    let mut pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// A quantity in canonical form (`1024Mi` → `1Gi`); text that is not a quantity is shown as
/// it is, and a missing one as `<nil>`, as Go prints a nil quantity.
fn quantity_text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => Quantity::parse(s).map_or_else(|_| s.clone(), |q| q.to_string()),
        Some(Value::Number(n)) => n.to_string(),
        _ => "<nil>".to_owned(),
    }
}

/// `a,b,c + 2 more...` for a list cut after `max` entries.
fn with_more(items: &[String], total: usize, max: usize) -> String {
    let shown = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    if total > max {
        format!("{shown} + {} more...", total - max)
    } else {
        shown
    }
}

/// Nanoseconds since the Unix epoch of an RFC 3339 timestamp such as
/// `2024-05-01T10:00:00Z` or `2024-05-01T10:00:00.123456+02:00`.
fn parse_timestamp(text: &str) -> Option<i128> {
    let bytes = text.as_bytes();
    let number = |from: usize, len: usize| -> Option<i64> {
        let digits = bytes.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if !separators.iter().all(|&(i, c)| bytes.get(i) == Some(&c))
        || !matches!(bytes.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut pos = 19;
    let mut nanos: i128 = 0;
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        let mut scale = 1_000_000_000i128;
        while let Some(&b) = bytes.get(pos).filter(|b| b.is_ascii_digit()) {
            scale /= 10;
            nanos += i128::from(b - b'0') * scale;
            pos += 1;
        }
    }
    let offset_seconds = match bytes.get(pos) {
        Some(b'Z' | b'z') if pos + 1 == bytes.len() => 0,
        Some(&sign @ (b'+' | b'-')) if pos + 6 == bytes.len() && bytes[pos + 3] == b':' => {
            let offset = number(pos + 1, 2)? * 3600 + number(pos + 4, 2)? * 60;
            if sign == b'+' { offset } else { -offset }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(i128::from(seconds) * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A timestamp as RFC 3339 in UTC (`2024-05-01T10:00:00Z`), the form of Go's
/// `time.RFC3339`; a missing one is Go's zero time.
fn rfc3339_utc(value: Option<&Value>) -> String {
    let Some(nanos) = value.and_then(Value::as_str).and_then(parse_timestamp) else {
        return "0001-01-01T00:00:00Z".to_owned();
    };
    let seconds = i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(0);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Nanoseconds since the Unix epoch.
fn epoch_nanos(now: SystemTime) -> i128 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

/// How long ago a timestamp was, as kubectl prints ages; `<unknown>` when there is none.
fn since(timestamp: Option<&Value>, now: SystemTime) -> String {
    match timestamp.and_then(Value::as_str).and_then(parse_timestamp) {
        Some(at) => human_duration(epoch_nanos(now).saturating_sub(at)),
        None => "<unknown>".to_owned(),
    }
}

/// A duration as kubectl's `HumanDuration` prints it: `45s`, `5m30s`, `3h`, `2d4h`, `12d`,
/// `3y`. Up to a second in the future reads as `0s`; further is `<invalid>`.
fn human_duration(nanos: i128) -> String {
    let seconds = nanos / 1_000_000_000;
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            d => format!("{}y{d}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    #[test]
    fn human_durations() {
        for (seconds, expected) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (330, "5m30s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 120, "3h2m"),
            (47 * 3600, "47h"),
            (52 * 3600, "2d4h"),
            (7 * 86_400, "7d"),
            (12 * 86_400, "12d"),
            (3 * 365 * 86_400, "3y"),
            (3 * 365 * 86_400 + 5 * 86_400, "3y5d"),
            (9 * 365 * 86_400 + 5 * 86_400, "9y"),
        ] {
            assert_eq!(human_duration(seconds * S), expected, "{seconds}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_timestamp("2024-02-29T12:00:00.5Z"),
            Some(1_709_208_000 * S + S / 2)
        );
        assert_eq!(parse_timestamp("2024-02-29"), None);
        assert_eq!(parse_timestamp("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2024-01-01T00:00:00"), None);
        assert_eq!(parse_timestamp("2024-01-01T00:00:00Zjunk"), None);
        let value = Value::from("2024-02-29T12:00:00+02:00");
        assert_eq!(rfc3339_utc(Some(&value)), "2024-02-29T10:00:00Z");
        assert_eq!(rfc3339_utc(None), "0001-01-01T00:00:00Z");
        assert_eq!(civil_from_days(days_from_civil(2000, 3, 1)), (2000, 3, 1));
    }
}
