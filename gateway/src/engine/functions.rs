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

/// `current_setting(name [, missing_ok])` for the settings the login
/// brought: `weir.jwt.<claim>` (a token's claims). Row filters and masks
/// use them (`region = current_setting('weir.jwt.region')`). An unknown
/// name is 42704, or NULL with `missing_ok`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentSetting {
    signature: Signature,
}

impl ScalarUDFImpl for CurrentSetting {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let principal = args.config_options.extensions.get::<Principal>();
        let scalar = |v: &ColumnarValue| match v {
            ColumnarValue::Scalar(s) => Some(s.clone()),
            ColumnarValue::Array(a) if a.len() == 1 => ScalarValue::try_from_array(a, 0).ok(),
            ColumnarValue::Array(_) => None,
        };
        let name = match args.args.first().and_then(scalar) {
            Some(ScalarValue::Utf8(n) | ScalarValue::LargeUtf8(n) | ScalarValue::Utf8View(n)) => n,
            _ => {
                return Err(DataFusionError::NotImplemented(
                    "current_setting() with a setting name that varies by row".into(),
                ))
            }
        };
        let missing_ok = matches!(
            args.args.get(1).and_then(scalar),
            Some(ScalarValue::Boolean(Some(true)))
        );
        let Some(name) = name else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
        };
        let value = principal.and_then(|p| p.attributes.get(&name.to_ascii_lowercase()).cloned());
        match value {
            Some(v) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(v)))),
            None if missing_ok => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))),
            None => Err(DataFusionError::External(Box::new(
                crate::error::WeirError::UnknownParameter(name),
            ))),
        }
    }
}

/// `pg_has_role(role, privilege)` and `pg_has_role(user, role, privilege)`:
/// whether the user holds the role, directly, through other roles or
/// through the login's own (token or directory) roles.
#[derive(Debug)]
struct HasRole {
    signature: Signature,
}

impl PartialEq for HasRole {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}
impl Eq for HasRole {}
impl std::hash::Hash for HasRole {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "pg_has_role".hash(state);
    }
}

impl ScalarUDFImpl for HasRole {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "pg_has_role"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let text = |i: usize, row: usize| -> Result<Option<String>> {
            let v = ScalarValue::try_from_array(&arrays[i], row)?;
            Ok(match v {
                ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s,
                _ => None,
            })
        };
        let gate = weir_policies::GateSlot::of(&args.config_options)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut out = datafusion::arrow::array::BooleanBuilder::with_capacity(n);
        for row in 0..n {
            let (user, role, privilege) = if arrays.len() == 3 {
                (text(0, row)?, text(1, row)?, text(2, row)?)
            } else {
                (
                    Some(gate.subject().user.clone()),
                    text(0, row)?,
                    text(1, row)?,
                )
            };
            let (Some(user), Some(role), Some(privilege)) = (user, role, privilege) else {
                out.append_null();
                continue;
            };
            let privilege = privilege.trim().to_ascii_lowercase();
            let privilege = privilege.split(" with ").next().unwrap_or_default();
            if !matches!(privilege, "member" | "usage" | "set") {
                return Err(DataFusionError::External(Box::new(
                    crate::error::WeirError::InvalidParameterValue(format!(
                        "unrecognized privilege type: \"{privilege}\""
                    )),
                )));
            }
            out.append_value(gate.has_role(&user, &role));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// Functions whose definition is the same for every session.
pub fn register_static(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(CurrentSetting {
        signature: Signature::one_of(
            vec![
                datafusion::logical_expr::TypeSignature::Exact(vec![DataType::Utf8]),
                datafusion::logical_expr::TypeSignature::Exact(vec![
                    DataType::Utf8,
                    DataType::Boolean,
                ]),
            ],
            Volatility::Stable,
        ),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(HasRole {
        signature: Signature::one_of(
            vec![
                datafusion::logical_expr::TypeSignature::Exact(vec![
                    DataType::Utf8,
                    DataType::Utf8,
                ]),
                datafusion::logical_expr::TypeSignature::Exact(vec![
                    DataType::Utf8,
                    DataType::Utf8,
                    DataType::Utf8,
                ]),
            ],
            Volatility::Stable,
        ),
    }));
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
