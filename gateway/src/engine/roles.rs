//! `pg_roles`, `pg_user` and `pg_auth_members` from the roles stored in
//! the catalog database (the library's are placeholders), so psql's `\du`
//! and clients that list roles see Weir's. As in PostgreSQL, every user
//! may read them; passwords show as `********`.
//!
//! A role's OID is derived from its name (stable across sessions and
//! servers), in the range PostgreSQL gives user objects.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use weir_catalog::access::{Membership, RoleRow};

/// Which of the three tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleView {
    /// `pg_roles`: every role.
    Roles,
    /// `pg_user`: roles that may log in.
    Users,
    /// `pg_auth_members`: who holds which role.
    Members,
}

impl RoleView {
    /// The view a `pg_catalog` table name stands for.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "pg_roles" => Some(Self::Roles),
            "pg_user" => Some(Self::Users),
            "pg_auth_members" => Some(Self::Members),
            _ => None,
        }
    }
}

/// The OID of role `name`: FNV-1a of the name, folded into
/// 16384..2^31 (user-object OIDs, positive as `int4`).
pub fn role_oid(name: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let span = (i32::MAX as u32) - 16384;
    16384 + i32::try_from(h % span).unwrap_or(0)
}

/// One of the role tables.
#[derive(Debug)]
pub struct RolesTable {
    view: RoleView,
    schema: SchemaRef,
}

fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

fn timestamptz() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

impl RolesTable {
    /// The table `view`, as the statement's gate reads the roles.
    pub fn new(view: RoleView) -> Self {
        let f = |n: &str, t: DataType| Field::new(n, t, true);
        let fields = match view {
            RoleView::Roles => vec![
                f("rolname", DataType::Utf8),
                f("rolsuper", DataType::Boolean),
                f("rolinherit", DataType::Boolean),
                f("rolcreaterole", DataType::Boolean),
                f("rolcreatedb", DataType::Boolean),
                f("rolcanlogin", DataType::Boolean),
                f("rolreplication", DataType::Boolean),
                f("rolconnlimit", DataType::Int32),
                f("rolpassword", DataType::Utf8),
                f("rolvaliduntil", timestamptz()),
                f("rolbypassrls", DataType::Boolean),
                f("rolconfig", text_list()),
                f("oid", DataType::Int32),
            ],
            RoleView::Users => vec![
                f("usename", DataType::Utf8),
                f("usesysid", DataType::Int32),
                f("usecreatedb", DataType::Boolean),
                f("usesuper", DataType::Boolean),
                f("userepl", DataType::Boolean),
                f("usebypassrls", DataType::Boolean),
                f("passwd", DataType::Utf8),
                f("valuntil", timestamptz()),
                f("useconfig", text_list()),
            ],
            RoleView::Members => vec![
                f("roleid", DataType::Int32),
                f("member", DataType::Int32),
                f("grantor", DataType::Int32),
                f("admin_option", DataType::Boolean),
            ],
        };
        Self {
            view,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    fn batch(&self, roles: &[RoleRow], memberships: &[Membership]) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = match self.view {
            RoleView::Roles => {
                let n = roles.len();
                let flag = |f: &dyn Fn(&weir_catalog::access::RoleRow) -> bool| {
                    Arc::new(roles.iter().map(|r| Some(f(r))).collect::<BooleanArray>()) as ArrayRef
                };
                vec![
                    Arc::new(StringArray::from_iter_values(
                        roles.iter().map(|r| r.name.as_str()),
                    )),
                    flag(&|r| r.superuser),
                    flag(&|_| true),
                    flag(&|r| r.superuser),
                    flag(&|r| r.superuser),
                    flag(&|r| r.login),
                    flag(&|_| false),
                    Arc::new(Int32Array::from(vec![-1; n])),
                    Arc::new(
                        roles
                            .iter()
                            .map(|r| r.verifier.as_ref().map(|_| "********"))
                            .collect::<StringArray>(),
                    ),
                    Arc::new(TimestampMicrosecondArray::new_null(n).with_timezone("UTC")),
                    flag(&|r| r.superuser),
                    null_lists(n),
                    Arc::new(Int32Array::from_iter_values(
                        roles.iter().map(|r| role_oid(&r.name)),
                    )),
                ]
            }
            RoleView::Users => {
                let users: Vec<_> = roles.iter().filter(|r| r.login).collect();
                let n = users.len();
                let flag = |f: &dyn Fn(&weir_catalog::access::RoleRow) -> bool| {
                    Arc::new(users.iter().map(|r| Some(f(r))).collect::<BooleanArray>()) as ArrayRef
                };
                vec![
                    Arc::new(StringArray::from_iter_values(
                        users.iter().map(|r| r.name.as_str()),
                    )),
                    Arc::new(Int32Array::from_iter_values(
                        users.iter().map(|r| role_oid(&r.name)),
                    )),
                    flag(&|r| r.superuser),
                    flag(&|r| r.superuser),
                    flag(&|_| false),
                    flag(&|r| r.superuser),
                    Arc::new(
                        users
                            .iter()
                            .map(|r| r.verifier.as_ref().map(|_| "********"))
                            .collect::<StringArray>(),
                    ),
                    Arc::new(TimestampMicrosecondArray::new_null(n).with_timezone("UTC")),
                    null_lists(n),
                ]
            }
            RoleView::Members => {
                let m = memberships;
                vec![
                    Arc::new(Int32Array::from_iter_values(
                        m.iter().map(|m| role_oid(&m.role)),
                    )),
                    Arc::new(Int32Array::from_iter_values(
                        m.iter().map(|m| role_oid(&m.member)),
                    )),
                    Arc::new(Int32Array::from_iter_values(
                        m.iter().map(|m| role_oid(&m.grantor)),
                    )),
                    Arc::new(m.iter().map(|_| Some(false)).collect::<BooleanArray>()),
                ]
            }
        };
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

fn null_lists(n: usize) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for _ in 0..n {
        b.append(false);
    }
    Arc::new(b.finish())
}

#[async_trait]
impl TableProvider for RolesTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let gate = weir_policies::GateSlot::of(state.config_options())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let (roles, memberships) = gate.roles();
        let batch = self.batch(roles, memberships)?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            Arc::clone(&self.schema),
            projection.cloned(),
        )?)
    }
}
