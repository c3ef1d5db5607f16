//! Value parsers of the command line: each says what is wrong and what to give instead.

use std::time::Duration;

/// `10%`, `10` (percent) or `7.5%`: a fraction (0.10).
pub(super) fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v: f64 = t
        .strip_suffix('%')
        .unwrap_or(t)
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a percentage, e.g. 10%"))?;
    if !(v.is_finite() && (0.0..=1000.0).contains(&v)) {
        return Err(format!("'{s}' is out of range: give 0% to 1000%"));
    }
    Ok(v / 100.0)
}

pub(super) fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| {
        format!("'{s}' is not a duration ({e}): give a number with a unit, e.g. 30s, 5m")
    })?;
    if d.is_zero() {
        return Err("a timeout of 0 would stop the target before it starts; e.g. 30s".into());
    }
    Ok(d)
}

pub(super) fn parse_vary(s: &str) -> Result<(String, Vec<String>), String> {
    let (key, values) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not KEY=V1,V2 (e.g. workers=1,2,4)"))?;
    let key = key.trim();
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "'{key}' is not a usable name: use letters, digits, _ or -"
        ));
    }
    let values: Vec<String> = values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    if values.is_empty() {
        return Err(format!(
            "--vary {key}= has no values: give them as {key}=a,b,c"
        ));
    }
    Ok((key.to_string(), values))
}

pub(super) fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err("the rate must be a number of samples per second above 0, e.g. 100".into());
    }
    if v > 10_000.0 {
        return Err("rates above 10000 Hz cannot be sampled from /proc; try 100–1000".into());
    }
    Ok(v)
}
