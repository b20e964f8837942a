//! Run-time parameters: what `SET`, `SHOW` and `RESET` act on, what startup
//! reports as ParameterStatus, and the checks each value must pass.
//!
//! Weir speaks one encoding (UTF8), one DateStyle output (ISO) and one
//! IntervalStyle (postgres); setting anything else is an error rather than
//! a silent lie about the format of the rows that follow.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Result, WeirError};

/// The PostgreSQL version Weir reports as `server_version`, followed by its
/// own (as distributions add theirs). Clients pick their catalog queries by
/// it; 15 is the oldest psql that Debian stable ships, and psql warns when the
/// server is newer than itself.
pub const SERVER_VERSION: &str = concat!("15.10 (Weir ", env!("CARGO_PKG_VERSION"), ")");
/// `server_version_num` for [`SERVER_VERSION`].
pub const SERVER_VERSION_NUM: &str = "150010";

/// A parameter Weir knows.
#[derive(Debug, Clone, Copy)]
struct Spec {
    name: &'static str,
    /// Sent as ParameterStatus at startup and whenever it changes.
    report: bool,
    /// Clients may change it.
    settable: bool,
    description: &'static str,
}

const SPECS: &[Spec] = &[
    spec(
        "application_name",
        true,
        true,
        "Sets the application name to be reported in statistics and logs.",
    ),
    spec(
        "client_encoding",
        true,
        true,
        "Sets the client's character set encoding.",
    ),
    spec(
        "DateStyle",
        true,
        true,
        "Sets the display format for date and time values.",
    ),
    spec(
        "default_transaction_read_only",
        true,
        false,
        "Sets the default read-only status of new transactions.",
    ),
    spec(
        "extra_float_digits",
        false,
        true,
        "Sets the number of digits displayed for floating-point values.",
    ),
    spec(
        "in_hot_standby",
        true,
        false,
        "Shows whether hot standby is currently active.",
    ),
    spec(
        "integer_datetimes",
        true,
        false,
        "Shows whether datetimes are integer based.",
    ),
    spec(
        "IntervalStyle",
        true,
        true,
        "Sets the display format for interval values.",
    ),
    spec(
        "is_superuser",
        true,
        false,
        "Shows whether the current user is a superuser.",
    ),
    spec(
        "search_path",
        false,
        true,
        "Sets the schema search order for names that are not schema-qualified.",
    ),
    spec(
        "server_encoding",
        true,
        false,
        "Shows the server (database) character set encoding.",
    ),
    spec("server_version", true, false, "Shows the server version."),
    spec(
        "server_version_num",
        false,
        false,
        "Shows the server version as an integer.",
    ),
    spec(
        "session_authorization",
        true,
        false,
        "Shows the session user name.",
    ),
    spec(
        "standard_conforming_strings",
        true,
        true,
        "Causes '...' strings to treat backslashes literally.",
    ),
    spec(
        "statement_timeout",
        false,
        true,
        "Sets the maximum allowed duration of any statement.",
    ),
    spec(
        "TimeZone",
        true,
        true,
        "Sets the time zone for displaying and interpreting time stamps.",
    ),
    spec(
        "transaction_isolation",
        false,
        false,
        "Shows the current transaction's isolation level.",
    ),
    spec(
        "transaction_read_only",
        false,
        false,
        "Shows whether the current transaction is read-only.",
    ),
    spec(
        "max_identifier_length",
        false,
        false,
        "Shows the maximum identifier length.",
    ),
    spec(
        "lc_collate",
        false,
        false,
        "Shows the collation order locale.",
    ),
];

const fn spec(name: &'static str, report: bool, settable: bool, description: &'static str) -> Spec {
    Spec {
        name,
        report,
        settable,
        description,
    }
}

fn find(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// A session's parameter values.
#[derive(Debug, Clone)]
pub struct Params {
    values: BTreeMap<&'static str, String>,
    defaults: BTreeMap<&'static str, String>,
}

impl Params {
    /// Defaults for a session of `user`.
    pub fn new(user: &str, search_path: &str, timezone: &str, statement_timeout_ms: u64) -> Self {
        let mut values = BTreeMap::new();
        let mut set = |k: &'static str, v: &str| {
            values.insert(k, v.to_owned());
        };
        set("application_name", "");
        set("client_encoding", "UTF8");
        set("DateStyle", "ISO, MDY");
        set("default_transaction_read_only", "off");
        set("extra_float_digits", "1");
        set("in_hot_standby", "off");
        set("integer_datetimes", "on");
        set("IntervalStyle", "postgres");
        set("is_superuser", "off");
        set("search_path", search_path);
        set("server_encoding", "UTF8");
        set("server_version", SERVER_VERSION);
        set("server_version_num", SERVER_VERSION_NUM);
        set("session_authorization", user);
        set("standard_conforming_strings", "on");
        set("statement_timeout", &statement_timeout_ms.to_string());
        set("TimeZone", timezone);
        set("transaction_isolation", "read committed");
        set("transaction_read_only", "off");
        set("max_identifier_length", "63");
        set("lc_collate", "C");
        let defaults = values.clone();
        Self { values, defaults }
    }

    /// The current value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Result<&str> {
        let spec = find(name).ok_or_else(|| WeirError::UnknownParameter(name.to_owned()))?;
        Ok(self.values.get(spec.name).map(String::as_str).unwrap_or(""))
    }

    /// Set `name` to `value` after checking it. Returns the canonical name and
    /// value when the change must be reported to the client as ParameterStatus.
    pub fn set(&mut self, name: &str, value: &str) -> Result<Option<(&'static str, String)>> {
        let spec = find(name).ok_or_else(|| WeirError::UnknownParameter(name.to_owned()))?;
        if !spec.settable {
            return Err(WeirError::ReadOnlyParameter(spec.name));
        }
        let value = normalize(spec.name, value)?;
        self.values.insert(spec.name, value.clone());
        Ok(spec.report.then_some((spec.name, value)))
    }

    /// Set a startup-packet option; unknown ones are ignored as PostgreSQL
    /// ignores options it cannot apply only for a few, but Weir reports
    /// bad values of known ones.
    pub fn set_from_startup(&mut self, name: &str, value: &str) -> Result<()> {
        match find(name) {
            Some(spec) if spec.settable => {
                self.set(spec.name, value)?;
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(WeirError::UnknownParameter(name.to_owned())),
        }
    }

    /// Back to the session default; returns what to report, as [`Self::set`].
    pub fn reset(&mut self, name: &str) -> Result<Option<(&'static str, String)>> {
        let spec = find(name).ok_or_else(|| WeirError::UnknownParameter(name.to_owned()))?;
        if !spec.settable {
            return Err(WeirError::ReadOnlyParameter(spec.name));
        }
        let value = self.defaults.get(spec.name).cloned().unwrap_or_default();
        self.values.insert(spec.name, value.clone());
        Ok(spec.report.then_some((spec.name, value)))
    }

    /// `RESET ALL`; returns every reported parameter that changed.
    pub fn reset_all(&mut self) -> Vec<(&'static str, String)> {
        let mut changed = Vec::new();
        for spec in SPECS.iter().filter(|s| s.settable) {
            let default = self.defaults.get(spec.name).cloned().unwrap_or_default();
            if self.values.get(spec.name) != Some(&default) && spec.report {
                changed.push((spec.name, default.clone()));
            }
            self.values.insert(spec.name, default);
        }
        changed
    }

    /// Parameters sent as ParameterStatus after authentication.
    pub fn reported(&self) -> Vec<(&'static str, String)> {
        SPECS
            .iter()
            .filter(|s| s.report)
            .map(|s| (s.name, self.values.get(s.name).cloned().unwrap_or_default()))
            .collect()
    }

    /// `SHOW ALL`: (name, setting, description).
    pub fn all(&self) -> Vec<(&'static str, String, &'static str)> {
        let mut rows: Vec<_> = SPECS
            .iter()
            .map(|s| {
                (
                    s.name,
                    self.values.get(s.name).cloned().unwrap_or_default(),
                    s.description,
                )
            })
            .collect();
        rows.sort_by_key(|r| r.0.to_ascii_lowercase());
        rows
    }

    /// Schemas of `search_path`, in order, without `$user` expanded away:
    /// `"$user"` becomes the session user.
    pub fn search_path(&self) -> Vec<String> {
        let user = self
            .values
            .get("session_authorization")
            .cloned()
            .unwrap_or_default();
        split_list(
            self.values
                .get("search_path")
                .map(String::as_str)
                .unwrap_or(""),
        )
        .into_iter()
        .map(|s| if s == "$user" { user.clone() } else { s })
        .collect()
    }

    /// `statement_timeout`, if set.
    pub fn statement_timeout(&self) -> Option<Duration> {
        let ms: u64 = self.values.get("statement_timeout")?.parse().ok()?;
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    /// `extra_float_digits`.
    pub fn extra_float_digits(&self) -> i32 {
        self.values
            .get("extra_float_digits")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
    }

    /// `TimeZone`.
    pub fn timezone(&self) -> &str {
        self.values
            .get("TimeZone")
            .map(String::as_str)
            .unwrap_or("UTC")
    }
}

/// Split a comma-separated list whose items may be double-quoted.
pub fn split_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur).trim().to_owned());
            }
            c if !quoted && c.is_whitespace() => {}
            c if !quoted => cur.extend(c.to_lowercase()),
            c => cur.push(c),
        }
    }
    let last = cur.trim().to_owned();
    if !last.is_empty() || !out.is_empty() {
        out.push(last);
    }
    out.retain(|s| !s.is_empty());
    out
}

fn invalid(name: &str, value: &str, why: &str) -> WeirError {
    WeirError::InvalidParameterValue(format!(
        "invalid value for parameter \"{name}\": \"{value}\"{}{why}",
        if why.is_empty() { "" } else { ": " }
    ))
}

/// Check a value and give it PostgreSQL's canonical spelling.
fn normalize(name: &'static str, value: &str) -> Result<String> {
    let v = value.trim();
    match name {
        // Like PostgreSQL, ignore everything but letters and digits ('utf-8' is UTF8).
        "client_encoding" => match v
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_uppercase()
            .as_str()
        {
            "UTF8" | "UNICODE" => Ok("UTF8".into()),
            // libpq sends SQL_ASCII under the C locale; UTF-8 output is a
            // byte-level superset of it.
            "SQLASCII" => Ok("SQL_ASCII".into()),
            _ => Err(WeirError::NotSupported(format!(
                "client_encoding \"{v}\" is not supported: Weir speaks UTF8 only"
            ))),
        },
        "DateStyle" => {
            let upper = v.to_ascii_uppercase();
            let parts: Vec<&str> = upper
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect();
            let mut order = "MDY";
            for p in &parts {
                match *p {
                    "ISO" => {}
                    "MDY" | "US" | "NONEURO" | "NONEUROPEAN" => order = "MDY",
                    "DMY" | "EURO" | "EUROPEAN" => order = "DMY",
                    "YMD" => order = "YMD",
                    "SQL" | "POSTGRES" | "GERMAN" => {
                        return Err(WeirError::NotSupported(format!(
                        "DateStyle \"{v}\" is not supported: Weir outputs dates in ISO format only"
                    )))
                    }
                    _ => return Err(invalid(name, v, "unrecognized DateStyle key word")),
                }
            }
            Ok(format!("ISO, {order}"))
        }
        "IntervalStyle" => {
            if v.eq_ignore_ascii_case("postgres") {
                Ok("postgres".into())
            } else if ["postgres_verbose", "sql_standard", "iso_8601"]
                .iter()
                .any(|s| v.eq_ignore_ascii_case(s))
            {
                Err(WeirError::NotSupported(format!(
                    "IntervalStyle \"{v}\" is not supported: Weir outputs intervals in postgres style only"
                )))
            } else {
                Err(invalid(name, v, ""))
            }
        }
        "extra_float_digits" => match v.parse::<i32>() {
            Ok(n) if (-15..=3).contains(&n) => Ok(n.to_string()),
            _ => Err(invalid(name, v, "must be an integer from -15 to 3")),
        },
        "standard_conforming_strings" => match weir_pgtypes::parse_bool(v) {
            Some(true) => Ok("on".into()),
            Some(false) => Err(WeirError::NotSupported(
                "standard_conforming_strings = off is not supported".into(),
            )),
            None => Err(invalid(name, v, "requires a Boolean value")),
        },
        "statement_timeout" => parse_duration_ms(v)
            .map(|ms| ms.to_string())
            .ok_or_else(|| {
                invalid(
                    name,
                    v,
                    "expected milliseconds or a value with a unit (ms, s, min, h)",
                )
            }),
        "TimeZone" => weir_pgtypes::parse_timezone(v)
            .map(|_| canonical_timezone(v))
            .ok_or_else(|| invalid(name, v, "time zone not recognized")),
        "search_path" => Ok(split_list(v)
            .iter()
            .map(|s| {
                if s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    s.clone()
                } else {
                    format!("\"{}\"", s.replace('"', "\"\""))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")),
        _ => Ok(v.to_owned()),
    }
}

fn canonical_timezone(v: &str) -> String {
    if v.eq_ignore_ascii_case("utc") || v.eq_ignore_ascii_case("gmt") || v.eq_ignore_ascii_case("z")
    {
        "UTC".into()
    } else {
        v.to_owned()
    }
}

/// `5000`, `'5s'`, `'100ms'`, `'1min'`, `'2h'`, `'1d'` → milliseconds.
fn parse_duration_ms(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = (&v[..split], v[split..].trim());
    let n: f64 = num.parse().ok()?;
    let factor = match unit.to_ascii_lowercase().as_str() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let ms = (n * factor).round();
    (ms >= 0.0 && ms < i32::MAX as f64).then_some(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::new("weir", "\"$user\", public", "UTC", 0)
    }

    #[test]
    fn set_checks_and_canonicalizes_values() {
        let mut p = params();
        assert_eq!(
            p.set("datestyle", "iso, dmy").unwrap().unwrap().1,
            "ISO, DMY"
        );
        assert!(p.set("DateStyle", "SQL").is_err());
        assert_eq!(p.set("statement_timeout", "1.5s").unwrap(), None);
        assert_eq!(p.get("statement_timeout").unwrap(), "1500");
        assert!(p.set("statement_timeout", "soon").is_err());
        assert!(p.set("extra_float_digits", "4").is_err());
        assert!(p.set("server_version", "1").is_err());
        assert!(matches!(
            p.set("no_such", "1"),
            Err(WeirError::UnknownParameter(_))
        ));
        assert!(p.set("TimeZone", "Mars/Olympus").is_err());
        p.set("TimeZone", "Europe/Paris").unwrap();
        assert_eq!(p.timezone(), "Europe/Paris");
    }

    #[test]
    fn search_path_lists_schemas_with_user_expanded() {
        let mut p = params();
        assert_eq!(p.search_path(), vec!["weir", "public"]);
        p.set("search_path", "tpch, \"Mixed\"").unwrap();
        assert_eq!(p.search_path(), vec!["tpch", "Mixed"]);
        p.reset("search_path").unwrap();
        assert_eq!(p.search_path(), vec!["weir", "public"]);
    }

    #[test]
    fn reset_all_reports_changed_reported_parameters() {
        let mut p = params();
        p.set("application_name", "x").unwrap();
        let changed = p.reset_all();
        assert_eq!(changed, vec![("application_name", String::new())]);
    }
}
