//! Functions clients call to learn about their session, with the session's
//! real answers (`datafusion-pg-catalog` registers placeholders).

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    create_udf, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::auth::Principal;
use crate::session::params::SERVER_VERSION;

/// `current_user`, `session_user`, `current_role` and `user`: the user the
/// session acts as, read from the [`Principal`] in the session's config
/// extensions (the one place policies read it from too). Registered once
/// for every session.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PrincipalUser {
    name: &'static str,
    signature: Signature,
}

impl PrincipalUser {
    fn udf(name: &'static str) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            name,
            signature: Signature::exact(vec![], Volatility::Stable),
        })
    }
}

impl ScalarUDFImpl for PrincipalUser {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let principal = args
            .config_options
            .extensions
            .get::<Principal>()
            .ok_or_else(|| {
                DataFusionError::Internal(format!("{}(): the session has no principal", self.name))
            })?;
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            principal.user.clone(),
        ))))
    }
}

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

/// Functions whose definition is the same for every session.
pub fn register_static(ctx: &SessionContext) {
    for f in super::casts::functions() {
        ctx.register_udf(f);
    }
    for name in ["current_user", "session_user", "current_role", "user"] {
        ctx.register_udf(PrincipalUser::udf(name));
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
pub fn register_session(ctx: &SessionContext, catalog: &str, schema: &str, search_path: &[String]) {
    ctx.register_udf(constant("current_database", catalog.to_owned()));
    ctx.register_udf(constant("current_catalog", catalog.to_owned()));
    ctx.register_udf(constant("current_schema", schema.to_owned()));
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
