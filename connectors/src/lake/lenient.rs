//! The `bad_rows = 'null'` policy: a text file is read with every column as
//! text, then each field is converted to its declared type with TRY_CAST
//! semantics, so a field that does not fit reads as NULL instead of failing
//! the query.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::expressions::{Column, TryCastExpr};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::ExecutionPlan;

/// A text-typed table seen through its declared types.
#[derive(Debug)]
pub struct LenientTable {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
    qualified: String,
}

impl LenientTable {
    /// `inner` reads the file columns as text, followed by
    /// `partition_columns` partition columns; `declared` types the file
    /// columns.
    pub fn new(
        inner: Arc<dyn TableProvider>,
        declared: SchemaRef,
        partition_columns: usize,
        qualified: String,
    ) -> Result<Self> {
        let inner_schema = inner.schema();
        let mut fields: Vec<_> = declared.fields().iter().cloned().collect();
        let n = inner_schema.fields().len();
        fields.extend(
            inner_schema.fields()[n.saturating_sub(partition_columns)..]
                .iter()
                .cloned(),
        );
        Ok(Self {
            inner,
            schema: Arc::new(Schema::new(fields)),
            qualified,
        })
    }
}

#[async_trait]
impl TableProvider for LenientTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let columns: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let input = self.inner.scan(state, Some(&columns), &[], limit).await?;
        let exprs = columns
            .iter()
            .enumerate()
            .map(|(i, col)| {
                let field = self.schema.field(*col);
                let source: Arc<dyn PhysicalExpr> = Arc::new(Column::new(field.name(), i));
                let expr: Arc<dyn PhysicalExpr> =
                    Arc::new(TryCastExpr::new(source, field.data_type().clone()));
                (expr, field.name().clone())
            })
            .collect::<Vec<_>>();
        tracing::trace!(table = %self.qualified, "lenient scan");
        Ok(Arc::new(ProjectionExec::try_new(exprs, input)?))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![
            TableProviderFilterPushDown::Unsupported;
            filters.len()
        ])
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        _input: Arc<dyn ExecutionPlan>,
        _op: datafusion::logical_expr::dml::InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(super::located::read_only(&self.qualified))
    }
}
