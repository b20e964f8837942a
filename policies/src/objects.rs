//! Object names as rules and requests spell them: `catalog`,
//! `catalog.schema`, `catalog.schema.table`, `catalog.schema.table.column`.
//!
//! A part is written bare when it holds no `.`, `"` or `*`, else in double
//! quotes with `"` doubled (as SQL quotes identifiers), so a table named
//! `a.b` cannot pass for schema `a`, table `b`. In a rule, a bare `*` part
//! matches any one name. A rule's object covers a request's object when it
//! names it or something that contains it: a grant on a schema covers its
//! tables and their columns.

/// The schemas every catalog has for its own description, which every
/// user sees and no rule governs (their contents are filtered per user).
pub const SYSTEM_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

/// Whether `schema` is one of the [`SYSTEM_SCHEMAS`].
pub fn is_system_schema(schema: &str) -> bool {
    SYSTEM_SCHEMAS.contains(&schema)
}

/// The object `parts` (catalog first), as rules store it.
pub fn object_name<S: AsRef<str>>(parts: &[S]) -> String {
    parts
        .iter()
        .map(|p| quote_part(p.as_ref()))
        .collect::<Vec<_>>()
        .join(".")
}

/// One part of an object name, quoted when needed.
pub fn quote_part(part: &str) -> String {
    if part.is_empty() || part.contains(['.', '"', '*']) {
        format!("\"{}\"", part.replace('"', "\"\""))
    } else {
        part.to_owned()
    }
}

/// A part of a rule's object: a name, or `*` (any name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// This name.
    Name(String),
    /// Any one name.
    Any,
}

/// Split an object name into its parts; `None` if the quoting is broken.
pub fn split(object: &str) -> Option<Vec<Part>> {
    let mut parts = Vec::new();
    let mut chars = object.chars().peekable();
    loop {
        let part = if chars.peek() == Some(&'"') {
            chars.next();
            let mut name = String::new();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        name.push('"');
                    }
                    '"' => break,
                    c => name.push(c),
                }
            }
            Part::Name(name)
        } else {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                name.push(c);
                chars.next();
            }
            if name == "*" {
                Part::Any
            } else if name.is_empty() || name.contains('"') {
                return None;
            } else {
                Part::Name(name)
            }
        };
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => {}
            Some(_) => return None,
        }
    }
}

/// The object name of `parts` (the inverse of [`split`]).
pub fn join(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Any => "*".to_owned(),
            Part::Name(n) => quote_part(n),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether a rule on `rule` covers a request for `request`: each part of
/// the rule names the request's part at that place (or is `*`), and the
/// request may go deeper.
pub fn covers(rule: &str, request: &str) -> bool {
    if rule == request {
        return true;
    }
    let (Some(rule), Some(request)) = (split(rule), split(request)) else {
        return false;
    };
    parts_cover(&rule, &request)
}

/// [`covers`] over names already split.
pub fn parts_cover(rule: &[Part], request: &[Part]) -> bool {
    rule.len() <= request.len()
        && rule.iter().zip(request).all(|(r, q)| match (r, q) {
            (Part::Any, _) => true,
            (Part::Name(r), Part::Name(q)) => r == q,
            (Part::Name(_), Part::Any) => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_quoting() {
        let name = object_name(&["lake", "odd.schema", "t\"q", "*"]);
        assert_eq!(name, r#"lake."odd.schema"."t""q"."*""#);
        assert_eq!(
            split(&name).unwrap(),
            vec![
                Part::Name("lake".into()),
                Part::Name("odd.schema".into()),
                Part::Name("t\"q".into()),
                Part::Name("*".into()),
            ]
        );
        assert_eq!(split("lake.*").unwrap()[1], Part::Any);
        assert!(split("lake.\"open").is_none());
        assert!(split("lake..t").is_none());
    }

    #[test]
    fn a_rule_covers_what_its_object_contains() {
        assert!(covers("lake", "lake.tpch.orders.o_comment"));
        assert!(covers("lake.tpch", "lake.tpch.orders"));
        assert!(covers("lake.tpch.*", "lake.tpch.orders.o_totalprice"));
        assert!(covers("lake.*.orders", "lake.tpch.orders"));
        assert!(!covers("lake.tpch.orders", "lake.tpch"));
        assert!(!covers("lake.tpch.orders", "lake.tpch.orders_archive"));
        assert!(!covers("lake.tpch.orders.o_comment", "lake.tpch.orders"));
        assert!(
            !covers("lake.\"a.b\"", "lake.a.b"),
            "a quoted dot is part of a name, not a separator"
        );
        assert!(
            !covers("lake.tpch.\"*\"", "lake.tpch.orders"),
            "a quoted star is a name"
        );
    }
}
