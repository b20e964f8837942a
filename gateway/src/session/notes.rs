//! What a statement did, as the audit trail records it: the tables it
//! read and wrote, the row-security barriers it passed, the statements it
//! sent to remote sources, its command tag.
//! The session collects these while the statement runs; the wire layer's
//! statement scope takes them when the statement ends.

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};

use weir_connectors::remote::{SentLog, SentStatement};

use super::prepare::{Body, Prepared};
use super::Session;

/// Tables a prepared statement reads and writes, and the barriers in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Objects {
    /// `catalog.schema.table` read.
    pub read: Vec<String>,
    /// Tables created, dropped or written.
    pub written: Vec<String>,
    /// `row security on <table>` for every barrier the policies put in.
    pub policies: Vec<String>,
}

/// What the audit record of the running statement needs from the session.
#[derive(Debug, Clone, Default)]
pub struct StatementNotes {
    /// Tables and barriers.
    pub objects: Objects,
    /// The command tag sent (`SELECT 3`, `CREATE TABLE`).
    pub command: Option<String>,
    /// Statements sent to remote sources, in the order their reads began.
    pub remote: Vec<SentStatement>,
}

impl StatementNotes {
    /// Rows returned or written, from the tag.
    pub fn rows(&self) -> Option<u64> {
        let tag = self.command.as_deref()?;
        let mut words = tag.split(' ');
        let first = words.next()?;
        if !matches!(
            first,
            "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "FETCH" | "MOVE" | "COPY"
        ) {
            return None;
        }
        words.next_back()?.parse().ok()
    }

    /// The tag's command words, without the row count.
    pub fn command_name(&self) -> Option<String> {
        let tag = self.command.as_deref()?;
        Some(
            tag.split(' ')
                .filter(|w| w.parse::<u64>().is_err())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }
}

fn push(list: &mut Vec<String>, name: String) {
    if !list.contains(&name) {
        list.push(name);
    }
}

impl Objects {
    /// What `plan` reads (scans) and writes (DML, DDL targets).
    pub fn of_plan(plan: &LogicalPlan) -> Self {
        let mut objects = Objects::default();
        let _ = plan.apply_with_subqueries(|node| {
            match node {
                LogicalPlan::TableScan(scan) => {
                    push(&mut objects.read, scan.table_name.to_string())
                }
                LogicalPlan::Dml(dml) => push(&mut objects.written, dml.table_name.to_string()),
                LogicalPlan::Extension(ext) => {
                    if let Some(barrier) = ext
                        .node
                        .as_any()
                        .downcast_ref::<weir_policies::barrier::RowSecurity>()
                    {
                        push(
                            &mut objects.policies,
                            format!("row security on {}", barrier.table()),
                        );
                    }
                }
                LogicalPlan::Ddl(ddl) => {
                    let name = match ddl {
                        DdlStatement::CreateMemoryTable(c) => Some(c.name.to_string()),
                        DdlStatement::CreateExternalTable(c) => Some(c.name.to_string()),
                        DdlStatement::CreateView(c) => Some(c.name.to_string()),
                        DdlStatement::DropTable(d) => Some(d.name.to_string()),
                        DdlStatement::DropView(d) => Some(d.name.to_string()),
                        DdlStatement::CreateCatalogSchema(c) => Some(c.schema_name.clone()),
                        DdlStatement::DropCatalogSchema(d) => Some(d.name.to_string()),
                        _ => None,
                    };
                    if let Some(name) = name {
                        push(&mut objects.written, name);
                    }
                }
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        });
        objects
    }

    /// What a prepared statement's body touches.
    pub(super) fn of_body(body: &Body) -> Self {
        match body {
            Body::Plan { plan, .. } | Body::Write { plan, .. } => Self::of_plan(plan),
            Body::Declare { inner, .. } => inner.objects.clone(),
            _ => Self::default(),
        }
    }
}

impl Session {
    /// The statement `prepared` starts: its objects go on the record.
    pub(super) fn note_start(&mut self, prepared: &Prepared) {
        self.notes.objects = prepared.objects.clone();
    }

    /// The command tag the client is sent.
    pub fn note_completed(&mut self, tag: &str) {
        self.notes.command = Some(tag.to_owned());
    }

    /// What the statement that just ended did (and forget it).
    pub fn take_notes(&mut self) -> StatementNotes {
        let mut notes = std::mem::take(&mut self.notes);
        let sent = self
            .ctx
            .state_ref()
            .read()
            .config()
            .get_extension::<SentLog>();
        if let Some(sent) = sent {
            notes.remote = sent.take();
        }
        notes
    }
}
