//! How deep a statement's expressions may nest, checked right after parsing.
//!
//! sqlparser builds `a + b + c + …` and `x = 1 OR x = 2 OR …` as chains
//! one level deeper per term, in a loop, so the parser accepts any length;
//! everything after it (visitors, planning, optimizing, evaluating, and
//! finally dropping the tree) recurses once per level. A statement deeper
//! than [`MAX_DEPTH`] fails alone with 54001, as PostgreSQL fails with
//! "stack depth limit exceeded"; the threads that plan and run statements
//! have stacks sized for that depth (see [`crate::engine::runtime::STACK_SIZE`]).
//!
//! Before measuring, a long OR chain of equalities between one expression
//! and literals (what BI tools send for a multi-select filter) becomes the
//! `IN` list it means, which is flat, so such filters have no length limit.
//!
//! Both walks stop descending at the limit, so they cannot overflow the
//! stack themselves; a refused tree is taken apart in bounded pieces before
//! it is dropped, since Rust's drop recurses too.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Statement, Value, VisitMut, VisitorMut,
};

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{parse_error, WeirError};

/// Deepest expression nesting accepted.
pub const MAX_DEPTH: usize = 10_000;

/// Deepest nesting of parentheses, subqueries and other constructs the
/// parser recurses into (sqlparser's default is 50; PostgreSQL takes more).
pub const MAX_NESTING: usize = 1_000;

/// Parse PostgreSQL SQL with Weir's nesting limit, then [`check`] it.
pub fn parse(sql: &str) -> Result<Vec<Statement>, WeirError> {
    let mut statements = Parser::new(&PostgreSqlDialect {})
        .with_recursion_limit(MAX_NESTING)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| parse_error(&e, sql))?;
    check(&mut statements)?;
    Ok(statements)
}

/// OR chains with at least this many equalities are rewritten as IN lists.
const MIN_CHAIN: usize = 32;

/// Depth of the pieces a refused tree is cut into before it is dropped.
const PIECE: usize = 256;

/// Rewrite long OR-of-equality chains into IN lists, then refuse the
/// statements if any expression nests deeper than [`MAX_DEPTH`].
pub fn check(statements: &mut Vec<Statement>) -> Result<(), WeirError> {
    let mut walk = Walk { depth: 0 };
    let too_deep = statements.iter_mut().any(|s| s.visit(&mut walk).is_break());
    if !too_deep {
        return Ok(());
    }
    drop_in_pieces(std::mem::take(statements));
    Err(WeirError::TooDeep { limit: MAX_DEPTH })
}

struct Walk {
    depth: usize,
}

impl VisitorMut for Walk {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return ControlFlow::Break(());
        }
        if matches!(
            expr,
            Expr::BinaryOp {
                op: BinaryOperator::Or,
                ..
            }
        ) {
            or_chain_to_in_list(expr);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &mut Expr) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

/// `e = v1 OR e = v2 OR … OR e = vn` (left-deep, as parsed, all `v` literals
/// of one kind, at least [`MIN_CHAIN`] of them) becomes `e IN (v1, …, vn)`:
/// the same answer, NULLs included, since SQL defines IN as that OR chain.
/// Anything else is left as it is.
fn or_chain_to_in_list(expr: &mut Expr) {
    // The right-hand operands, walking down the left spine without recursion.
    let mut operands: Vec<&Expr> = Vec::new();
    let mut at: &Expr = expr;
    while let Expr::BinaryOp {
        left,
        op: BinaryOperator::Or,
        right,
    } = at
    {
        operands.push(right);
        at = left;
    }
    operands.push(at);
    if operands.len() < MIN_CHAIN {
        return;
    }
    let mut subject: Option<&Expr> = None;
    let mut kind: Option<std::mem::Discriminant<Value>> = None;
    for operand in &operands {
        let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = operand
        else {
            return;
        };
        let Expr::Value(v) = right.as_ref() else {
            return;
        };
        if matches!(v.value, Value::Null | Value::Placeholder(_)) {
            return;
        }
        let k = std::mem::discriminant(&v.value);
        if *kind.get_or_insert(k) != k || *subject.get_or_insert(left) != left.as_ref() {
            return;
        }
    }
    // Take the chain apart (iteratively, so dropping it cannot recurse).
    let mut values = Vec::with_capacity(operands.len());
    let mut subject = None;
    let mut rest = std::mem::replace(expr, Expr::value(Value::Null));
    loop {
        let (operand, next) = match rest {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Or,
                right,
            } => (*right, Some(*left)),
            last => (last, None),
        };
        if let Expr::BinaryOp { left, right, .. } = operand {
            values.push(*right);
            subject.get_or_insert(left);
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    values.reverse();
    if let Some(subject) = subject {
        *expr = Expr::InList {
            expr: subject,
            list: values,
            negated: false,
        };
    }
}

/// Drop statements whose expressions may nest arbitrarily deep: cut every
/// expression at depth [`PIECE`] into a piece of its own, cut the pieces the
/// same way, and drop each once it is shallow.
fn drop_in_pieces(statements: Vec<Statement>) {
    struct Cut {
        depth: usize,
        pieces: Vec<Expr>,
    }
    impl VisitorMut for Cut {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            self.depth += 1;
            if self.depth >= PIECE {
                self.pieces
                    .push(std::mem::replace(expr, Expr::value(Value::Null)));
            }
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, _expr: &mut Expr) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
    }
    let mut cut = Cut {
        depth: 0,
        pieces: Vec::new(),
    };
    for mut statement in statements {
        let _ = statement.visit(&mut cut);
    }
    while let Some(mut piece) = cut.pieces.pop() {
        cut.depth = 0;
        let _ = piece.visit(&mut cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Vec<Statement> {
        Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap_or_else(|e| panic!("{e}"))
    }

    fn chain(term: impl Fn(usize) -> String, op: &str, n: usize) -> String {
        (0..n).map(term).collect::<Vec<_>>().join(op)
    }

    #[test]
    fn long_or_chains_of_equalities_become_in_lists() {
        let sql = format!(
            "SELECT count(*) FROM t WHERE {}",
            chain(|i| format!("c = {i}"), " OR ", 2_000)
        );
        let mut stmts = parse(&sql);
        check(&mut stmts).unwrap();
        let text = stmts[0].to_string();
        assert!(text.contains("c IN (0, 1, 2, "), "{}", &text[..200]);
        assert!(
            text.ends_with("1998, 1999)"),
            "{}",
            &text[text.len() - 50..]
        );
        assert!(!text.contains(" OR "));
    }

    #[test]
    fn only_the_uniform_part_of_an_or_chain_becomes_an_in_list() {
        let head = chain(|i| format!("c = {i}"), " OR ", 100);
        for (tail, kept) in [
            ("d = 1", "d = 1"),       // another column
            ("c = 'x'", "c = 'x'"),   // a literal of another kind
            ("c < 5", "c < 5"),       // not an equality
            ("c = NULL", "c = NULL"), // NULL is no list element
        ] {
            let mut stmts = parse(&format!("SELECT 1 WHERE {head} OR {tail}"));
            check(&mut stmts).unwrap();
            let text = stmts[0].to_string();
            assert!(text.starts_with("SELECT 1 WHERE c IN (0, 1, "), "{text}");
            assert!(text.ends_with(&format!("98, 99) OR {kept}")), "{text}");
        }
        let short = "SELECT 1 WHERE c = 1 OR c = 2";
        let mut stmts = parse(short);
        check(&mut stmts).unwrap();
        assert_eq!(stmts[0].to_string(), short);
    }

    #[test]
    fn deep_expressions_are_refused_and_dropped_safely() {
        // Run on a small stack: the walks and the drop must not recurse
        // with the input's depth.
        let handle = std::thread::Builder::new()
            .stack_size(16 << 20)
            .spawn(|| {
                let sql = format!("SELECT {}", chain(|_| "1".to_owned(), "+", 200_000));
                let mut stmts = parse(&sql);
                let err = check(&mut stmts).unwrap_err();
                assert_eq!(err.to_client().code, "54001");
                assert!(stmts.is_empty());
            })
            .unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn expressions_up_to_the_limit_pass() {
        let handle = std::thread::Builder::new()
            .stack_size(crate::engine::runtime::STACK_SIZE)
            .spawn(|| {
                let sql = format!("SELECT {}", chain(|_| "1".to_owned(), "+", MAX_DEPTH - 10));
                let mut stmts = parse(&sql);
                check(&mut stmts).unwrap();
                assert_eq!(stmts.len(), 1);
                // Dropping the accepted tree fits the statement threads' stack.
                drop(stmts);
            })
            .unwrap();
        handle.join().unwrap();
    }
}
