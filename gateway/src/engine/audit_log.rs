//! `pg_catalog.weir_audit_log`: the audit records kept in memory, as a
//! table only superusers may read (others get 42501 naming it).

use std::any::Any;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, ListBuilder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::audit::{Audit, Record};
use crate::error::WeirError;

/// The table's name in `pg_catalog`.
pub const NAME: &str = "weir_audit_log";

/// The audit trail once the server has opened it (an engine built for a
/// test without a server has none: the table is empty).
pub type AuditSlot = Arc<OnceLock<Arc<Audit>>>;

/// The table.
#[derive(Debug)]
pub struct AuditLogTable {
    audit: AuditSlot,
    schema: SchemaRef,
}

fn text_list(name: &str) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        true,
    )
}

impl AuditLogTable {
    /// Over `audit`, readable by superusers (the statement's gate decides).
    pub fn new(audit: AuditSlot) -> Self {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("kind", DataType::Utf8, false),
            Field::new("session_pid", DataType::Int32, true),
            Field::new("user_name", DataType::Utf8, false),
            text_list("roles"),
            Field::new("method", DataType::Utf8, true),
            Field::new("client_addr", DataType::Utf8, true),
            Field::new("application_name", DataType::Utf8, true),
            Field::new("statement", DataType::Utf8, true),
            Field::new("command", DataType::Utf8, true),
            text_list("objects_read"),
            text_list("objects_written"),
            text_list("policies"),
            text_list("remote_sql"),
            Field::new("rows", DataType::Int64, true),
            Field::new("duration_ms", DataType::Float64, false),
            Field::new("outcome", DataType::Utf8, false),
            Field::new("sqlstate", DataType::Utf8, true),
            Field::new("message", DataType::Utf8, true),
        ]));
        Self { audit, schema }
    }

    fn batch(&self, records: &[Arc<Record>]) -> Result<RecordBatch> {
        let text = |f: &dyn Fn(&Record) -> Option<&str>| -> ArrayRef {
            let mut b = StringBuilder::new();
            for r in records {
                b.append_option(f(r));
            }
            Arc::new(b.finish())
        };
        let list = |f: &dyn Fn(&Record) -> Vec<String>| -> ArrayRef {
            let mut b = ListBuilder::new(StringBuilder::new());
            for r in records {
                for item in f(r) {
                    b.values().append_value(item);
                }
                b.append(true);
            }
            Arc::new(b.finish())
        };
        let mut time = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        let mut pid = Int32Builder::new();
        let mut rows = Int64Builder::new();
        let mut duration = Float64Builder::new();
        for r in records {
            let micros = chrono::DateTime::parse_from_rfc3339(&r.time)
                .map(|t| t.timestamp_micros())
                .unwrap_or_default();
            time.append_value(micros);
            pid.append_option(r.session);
            rows.append_option(r.rows.map(|n| i64::try_from(n).unwrap_or(i64::MAX)));
            duration.append_value(r.duration_ms);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(time.finish()),
            text(&|r| Some(r.kind)),
            Arc::new(pid.finish()),
            text(&|r| Some(&r.user)),
            list(&|r| r.roles.clone()),
            text(&|r| Some(r.method.as_str()).filter(|m| !m.is_empty())),
            text(&|r| r.client.as_deref()),
            text(&|r| r.application_name.as_deref()),
            text(&|r| r.statement.as_deref()),
            text(&|r| r.command.as_deref()),
            list(&|r| r.read.clone()),
            list(&|r| r.written.clone()),
            list(&|r| r.policies.clone()),
            list(&|r| {
                r.remote
                    .iter()
                    .map(|s| format!("{}: {}", s.source, s.sql))
                    .collect()
            }),
            Arc::new(rows.finish()),
            Arc::new(duration.finish()),
            text(&|r| Some(r.outcome)),
            text(&|r| r.sqlstate.as_deref()),
            text(&|r| r.message.as_deref()),
        ];
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

#[async_trait]
impl TableProvider for AuditLogTable {
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
        weir_policies::GateSlot::of(state.config_options())
            .and_then(|gate| gate.require_superuser(&format!("reading {NAME}")))
            .map_err(|e| DataFusionError::External(Box::new(WeirError::Policy(e))))?;
        let records = self.audit.get().map(|a| a.recent()).unwrap_or_default();
        let batch = self.batch(&records)?;
        let exec = MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            Arc::clone(&self.schema),
            projection.cloned(),
        )?;
        Ok(exec)
    }
}
