//! `PARTITIONED BY (...)` in `CREATE TABLE`: Iceberg partition transforms
//! (`day(ts)`, `bucket(16, id)`...) that no SQL parser accepts there. The
//! clause is cut out of the token stream before parsing and parsed here.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use weir_connectors::lake::ddl::PartitionField;

use crate::error::{Result, WeirError};

/// Cut every top-level `PARTITIONED BY (...)` clause out of the
/// `CREATE TABLE` statements of `sql`: the SQL without the clauses, and the
/// fields of each clause with the index of its statement. `None` when there
/// is no such clause.
#[allow(clippy::type_complexity)]
pub fn split(sql: &str) -> Result<Option<(String, Vec<(usize, Vec<PartitionField>)>)>> {
    if !sql.to_ascii_lowercase().contains("partitioned") {
        return Ok(None);
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return Ok(None);
    };
    let word = |t: &Token, w: &str| matches!(t, Token::Word(x) if x.value.eq_ignore_ascii_case(w) && x.quote_style.is_none());
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut found = Vec::new();
    let mut statement = 0usize;
    // The first two significant tokens of the current statement.
    let mut head: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let significant = !matches!(t, Token::Whitespace(_));
        if significant && head.len() < 2 {
            head.push(i);
        }
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::SemiColon if depth == 0 => {
                statement += 1;
                head.clear();
            }
            _ => {}
        }
        let create_table =
            head.len() == 2 && word(&tokens[head[0]], "create") && word(&tokens[head[1]], "table");
        if depth == 0 && create_table && word(t, "partitioned") {
            let next: Vec<usize> = (i + 1..tokens.len())
                .filter(|j| !matches!(tokens[*j], Token::Whitespace(_)))
                .take(2)
                .collect();
            if let [by, open] = next[..] {
                if word(&tokens[by], "by") && tokens[open] == Token::LParen {
                    let mut d = 0usize;
                    let mut close = None;
                    for (j, t) in tokens.iter().enumerate().skip(open) {
                        match t {
                            Token::LParen => d += 1,
                            Token::RParen => {
                                d -= 1;
                                if d == 0 {
                                    close = Some(j);
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    let close = close.ok_or_else(|| syntax("PARTITIONED BY: missing )"))?;
                    found.push((statement, parse_fields(&tokens[open + 1..close])?));
                    i = close + 1;
                    continue;
                }
            }
        }
        out.push(t.clone());
        i += 1;
    }
    if found.is_empty() {
        return Ok(None);
    }
    Ok(Some((out.iter().map(|t| t.to_string()).collect(), found)))
}

fn syntax(message: &str) -> WeirError {
    WeirError::Syntax {
        message: message.to_owned(),
        position: None,
    }
}

/// `col`, `f(col)`, `f(n, col)`, separated by commas.
fn parse_fields(tokens: &[Token]) -> Result<Vec<PartitionField>> {
    let tokens: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let name = match tokens[i] {
            Token::Word(w) => ident(w),
            other => return Err(syntax(&format!("PARTITIONED BY: unexpected {other}"))),
        };
        i += 1;
        if tokens.get(i) == Some(&&Token::LParen) {
            i += 1;
            let mut args = Vec::new();
            while i < tokens.len() && *tokens[i] != Token::RParen {
                match tokens[i] {
                    Token::Word(w) => args.push(ident(w)),
                    Token::Number(n, _) => args.push(n.clone()),
                    Token::Comma => {}
                    other => return Err(syntax(&format!("PARTITIONED BY: unexpected {other}"))),
                }
                i += 1;
            }
            if i >= tokens.len() {
                return Err(syntax("PARTITIONED BY: missing )"));
            }
            i += 1;
            out.push(PartitionField::parse(Some(&name), &args)?);
        } else {
            out.push(PartitionField::parse(None, &[name])?);
        }
        match tokens.get(i) {
            None => break,
            Some(Token::Comma) => i += 1,
            Some(other) => return Err(syntax(&format!("PARTITIONED BY: unexpected {other}"))),
        }
    }
    if out.is_empty() {
        return Err(syntax("PARTITIONED BY needs at least one column"));
    }
    Ok(out)
}

fn ident(w: &datafusion::sql::sqlparser::tokenizer::Word) -> String {
    if w.quote_style.is_some() {
        w.value.clone()
    } else {
        w.value.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::Transform;

    #[test]
    fn cuts_the_clause_and_parses_transforms() {
        let (rest, found) = split(
            "CREATE SCHEMA s; CREATE TABLE s.t (id INT, ts TIMESTAMP, name TEXT) PARTITIONED BY (day(ts), bucket(16, id), truncate(2, name), Name) AS SELECT 1",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            rest,
            "CREATE SCHEMA s; CREATE TABLE s.t (id INT, ts TIMESTAMP, name TEXT)  AS SELECT 1"
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 1, "the clause belongs to the second statement");
        let got: Vec<_> = found[0]
            .1
            .iter()
            .map(|f| (f.column.as_str(), f.transform))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ts", Transform::Day),
                ("id", Transform::Bucket(16)),
                ("name", Transform::Truncate(2)),
                ("name", Transform::Identity)
            ]
        );
        assert!(split("CREATE TABLE t (a INT)").unwrap().is_none());
        assert!(split("SELECT 'partitioned by (x)'").unwrap().is_none());
        assert!(split("SELECT 1 AS partitioned").unwrap().is_none());
        assert!(split("CREATE TABLE t (a INT) PARTITIONED BY (frob(a))").is_err());
        assert!(split("CREATE TABLE t (a INT) PARTITIONED BY (bucket(0, a))").is_err());
    }
}
