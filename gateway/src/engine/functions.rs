//! Functions clients call to learn about their session, with the session's
//! real answers (`datafusion-pg-catalog` registers placeholders).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::session::params::SERVER_VERSION;

fn constant(name: &str, value: String) -> ScalarUDF {
    create_udf(
        name,
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                value.clone(),
            ))))
        }),
    )
}

/// Functions whose answer is the same for every session.
pub fn register_static(ctx: &SessionContext) {
    for f in super::casts::functions() {
        ctx.register_udf(f);
    }
    ctx.register_udf(constant(
        "version",
        format!(
            "PostgreSQL {SERVER_VERSION} on {}-linux, compiled by rustc, 64-bit",
            std::env::consts::ARCH
        ),
    ));
}

/// `weir_test_panic(text)`: panics where it runs (tests only, see
/// `QueryConfig::test_panic_function`).
#[allow(clippy::panic)]
pub fn test_panic() -> ScalarUDF {
    create_udf(
        "weir_test_panic",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(|_args: &[ColumnarValue]| panic!("weir_test_panic was called")),
    )
}

/// Functions answering for this session.
pub fn register_session(
    ctx: &SessionContext,
    catalog: &str,
    schema: &str,
    search_path: &[String],
    user: &str,
) {
    ctx.register_udf(constant("current_database", catalog.to_owned()));
    ctx.register_udf(constant("current_catalog", catalog.to_owned()));
    ctx.register_udf(constant("current_schema", schema.to_owned()));
    ctx.register_udf(constant("session_user", user.to_owned()));
    ctx.register_udf(constant("current_user", user.to_owned()));
    ctx.register_udf(constant("current_role", user.to_owned()));
    ctx.register_udf(constant("user", user.to_owned()));
    let path = search_path.to_vec();
    ctx.register_udf(create_udf(
        "current_schemas",
        vec![DataType::Boolean],
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let implicit = matches!(
                args.first(),
                Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
            );
            let mut builder = ListBuilder::new(StringBuilder::new());
            if implicit {
                builder.values().append_value("pg_catalog");
            }
            for s in &path {
                builder.values().append_value(s);
            }
            builder.append(true);
            let array: ArrayRef = Arc::new(builder.finish());
            Ok(ColumnarValue::Array(array))
        }),
    ));
}
