//! The standard cron syntax of `CronJob.spec.schedule`: five fields (minute, hour, day of
//! month, month, day of week) of lists, ranges, steps and names, or a macro such as
//! `@hourly` or `@every 90m`. Errors name the field that is wrong.

/// One of the five fields: its name in messages, its bounds and its names (`jan`, `mon`).
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
    },
    Field {
        name: "day of week",
        min: 0,
        max: 6,
        names: DAYS,
    },
];

const MACROS: &[&str] = &[
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// Checks a schedule; the error says which field is wrong and why.
pub(crate) fn parse_schedule(schedule: &str) -> Result<(), String> {
    let schedule = schedule.trim();
    if schedule.is_empty() {
        return Err("empty spec string".to_owned());
    }
    if let Some(descriptor) = schedule.strip_prefix('@') {
        if MACROS.contains(&schedule) {
            return Ok(());
        }
        if let Some(duration) = descriptor.strip_prefix("every ") {
            return parse_duration(duration.trim())
                .map_err(|detail| format!("failed to parse duration {schedule}: {detail}"));
        }
        return Err(format!("unrecognized descriptor: {schedule}"));
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != FIELDS.len() {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for (text, field) in fields.iter().zip(FIELDS.iter()) {
        for range in text.split(',') {
            parse_range(range, field)
                .map_err(|detail| format!("{} field: {detail}", field.name))?;
        }
    }
    Ok(())
}

fn parse_range(expr: &str, field: &Field) -> Result<(), String> {
    let mut slash = expr.split('/');
    let range = slash.next().unwrap_or("");
    let step = slash.next();
    if slash.next().is_some() {
        return Err(format!("too many slashes: {expr}"));
    }
    let (start, mut end) = if range == "*" || range == "?" {
        (field.min, field.max)
    } else {
        let mut hyphen = range.split('-');
        let low = hyphen.next().unwrap_or("");
        let high = hyphen.next();
        if hyphen.next().is_some() {
            return Err(format!("too many hyphens: {expr}"));
        }
        let start = value(low, field, expr)?;
        let end = match high {
            Some(high) => value(high, field, expr)?,
            None => start,
        };
        (start, end)
    };
    if let Some(step) = step {
        let step = number(step, expr)?;
        if step == 0 {
            return Err(format!("step of range should be a positive number: {expr}"));
        }
        if !range.contains('-') && range != "*" && range != "?" {
            end = field.max;
        }
    }
    if start < field.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            field.min
        ));
    }
    if end > field.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            field.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    Ok(())
}

fn value(text: &str, field: &Field, expr: &str) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(index) = field.names.iter().position(|n| *n == lower) {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        return Ok(index + if field.names.len() == 12 { 1 } else { 0 });
    }
    number(text, expr)
}

fn number(text: &str, expr: &str) -> Result<u32, String> {
    if let Some(negative) = text.strip_prefix('-')
        && !negative.is_empty()
        && negative.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("negative number ({text}) not allowed: {expr}"));
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "failed to parse int from {text}: strconv.Atoi: parsing \"{text}\": invalid syntax"
        ));
    }
    text.parse::<u32>().map_err(|_| {
        format!(
            "failed to parse int from {text}: strconv.Atoi: parsing \"{text}\": value out of range"
        )
    })
}

/// A Go duration such as `90m`, `1h30m` or `10s`, which `@every` takes.
fn parse_duration(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("time: invalid duration \"\"".to_owned());
    }
    let invalid = || format!("time: invalid duration \"{text}\"");
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        if !matches!(&rest[..unit], "ns" | "us" | "µs" | "ms" | "s" | "m" | "h") {
            return Err(invalid());
        }
        rest = &rest[unit..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_standard_schedules() {
        for ok in [
            "* * * * *",
            "*/5 * * * *",
            "0 3 * * 1-5",
            "15,45 9-17/2 1,15 jan-jun MON",
            "0 0 ? * SUN",
            "5/10 * * * *",
            "@hourly",
            "@every 1h30m",
        ] {
            assert_eq!(parse_schedule(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn names_the_bad_field() {
        let cases = [
            ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
            (
                "70 * * * *",
                "minute field: end of range (70) above maximum (59): 70",
            ),
            (
                "0 25 * * *",
                "hour field: end of range (25) above maximum (23): 25",
            ),
            (
                "0 0 0 * *",
                "day of month field: beginning of range (0) below minimum (1): 0",
            ),
            (
                "0 0 * 13 *",
                "month field: end of range (13) above maximum (12): 13",
            ),
            (
                "0 0 * * 7",
                "day of week field: end of range (7) above maximum (6): 7",
            ),
            (
                "5-3 * * * *",
                "minute field: beginning of range (5) beyond end of range (3): 5-3",
            ),
            (
                "*/0 * * * *",
                "minute field: step of range should be a positive number: */0",
            ),
            (
                "x * * * *",
                "minute field: failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            ("1-2-3 * * * *", "minute field: too many hyphens: 1-2-3"),
            ("*/2/3 * * * *", "minute field: too many slashes: */2/3"),
            (
                "* * * * funday",
                "day of week field: failed to parse int from funday: strconv.Atoi: parsing \"funday\": invalid syntax",
            ),
            ("@fortnightly", "unrecognized descriptor: @fortnightly"),
            (
                "@every 5x",
                "failed to parse duration @every 5x: time: invalid duration \"5x\"",
            ),
        ];
        for (schedule, message) in cases {
            assert_eq!(
                parse_schedule(schedule),
                Err(message.to_owned()),
                "{schedule}"
            );
        }
    }
}
