//! Carrying out role and privilege statements: each one checked against
//! the rules in force, stored in the catalog database in one transaction,
//! and in force on this server before the reply (other servers on the same
//! catalog pick it up within `auth.policy_poll_ms`).

use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNode;
use datafusion::logical_expr::ExprSchemable;
use weir_catalog::access::{Effect, Membership, RoleChange, RoleRow, Rule, RuleKind};
use weir_policies::objects::object_name;
use weir_policies::{Gate, PolicyError, Subject, PUBLIC};

use super::execute::{one_batch, Outcome};
use super::Session;
use crate::auth::verifier::Verifier;
use crate::error::{Result, SqlState, WeirError};
use crate::statements::access::AccessStatement;
use crate::statements::grant::{GrantStatement, Privileges, Target};
use crate::statements::policy::PolicyStatement;
use crate::statements::role::{RoleOptions, RoleStatement};

/// Result columns of an access statement (`SHOW GRANTS` has rows).
pub(super) fn schema(stmt: &AccessStatement) -> Option<SchemaRef> {
    match stmt {
        AccessStatement::Grant(GrantStatement::Show { .. }) => Some(Arc::new(Schema::new(vec![
            Field::new("grantee", DataType::Utf8, false),
            Field::new("object", DataType::Utf8, false),
            Field::new("privilege", DataType::Utf8, false),
            Field::new("effect", DataType::Utf8, false),
            Field::new("grantable", DataType::Boolean, false),
            Field::new("grantor", DataType::Utf8, false),
        ]))),
        _ => None,
    }
}

impl Session {
    /// The session's identity as policies see it.
    pub(super) fn subject(&self) -> Subject {
        self.principal.subject()
    }

    pub(super) async fn run_access(&mut self, stmt: &AccessStatement) -> Result<Outcome> {
        let policies = Arc::clone(self.engine.policies());
        // Decide on the newest rules: another server may have just changed them.
        policies.refresh().await?;
        let gate = self.begin_gate();
        if let AccessStatement::Grant(GrantStatement::Show { role }) = stmt {
            let batch = self.show_grants(role.as_deref(), &gate)?;
            return Ok(Outcome::Rows(one_batch(batch, "SHOW")?));
        }
        match stmt {
            AccessStatement::Role(role) => {
                gate.require_superuser(role.tag())?;
                self.run_role(role, &gate).await?;
            }
            AccessStatement::Grant(grant) => self.run_grant(grant, &gate).await?,
            AccessStatement::Policy(policy) => self.run_policy(policy, &gate).await?,
        }
        drop(gate);
        policies.refresh().await?;
        Ok(Outcome::Done(stmt.tag().into()))
    }

    async fn run_role(&mut self, stmt: &RoleStatement, gate: &Gate) -> Result<()> {
        let store = self.engine.policies().store().clone();
        let iterations = self.password_iterations;
        let known = |name: &str| -> Result<()> {
            if !gate.role_exists(name) {
                return Err(weir_catalog::CatalogError::NoSuchRole(name.to_owned()).into());
            }
            Ok(())
        };
        match stmt {
            RoleStatement::Create { name, options } => {
                reserved(name)?;
                for other in options.in_roles.iter().chain(&options.members) {
                    known(other)?;
                }
                store
                    .create_role(&RoleRow {
                        name: name.clone(),
                        login: options.login.unwrap_or(false),
                        superuser: options.superuser.unwrap_or(false),
                        verifier: verifier(options, iterations).flatten(),
                        origin: "sql".into(),
                    })
                    .await?;
                for role in &options.in_roles {
                    self.grant_membership(role, name, gate).await?;
                }
                for member in &options.members {
                    self.grant_membership(name, member, gate).await?;
                }
            }
            RoleStatement::Alter { name, options } => {
                if !options.in_roles.is_empty() || !options.members.is_empty() {
                    return Err(WeirError::Syntax {
                        message: "IN ROLE and ROLE are options of CREATE ROLE; use GRANT".into(),
                        position: None,
                    });
                }
                if *name == self.principal.user && options.superuser == Some(false) {
                    return Err(WeirError::NotSupported(
                        "a superuser cannot take the SUPERUSER attribute from the session's own role"
                            .into(),
                    ));
                }
                store
                    .alter_role(
                        name,
                        &RoleChange {
                            login: options.login,
                            superuser: options.superuser,
                            verifier: verifier(options, iterations),
                        },
                    )
                    .await?;
            }
            RoleStatement::Rename { from, to } => {
                reserved(to)?;
                if *from == self.principal.user {
                    return Err(WeirError::NotSupported(
                        "session user cannot be renamed".into(),
                    ));
                }
                store.rename_role(from, to).await?;
            }
            RoleStatement::Drop { names, if_exists } => {
                for name in names {
                    if *name == self.principal.user {
                        return Err(WeirError::ObjectInUse(
                            "current user cannot be dropped".into(),
                        ));
                    }
                }
                for name in names {
                    if !store.drop_role(name, *if_exists).await? {
                        self.events.notices.push((
                            "NOTICE",
                            SqlState::SUCCESSFUL_COMPLETION,
                            format!("role \"{name}\" does not exist, skipping"),
                        ));
                    }
                }
            }
            RoleStatement::Grant { roles, members } => {
                for role in roles {
                    for member in members {
                        self.grant_membership(role, member, gate).await?;
                    }
                }
            }
            RoleStatement::Revoke { roles, members } => {
                for role in roles {
                    for member in members {
                        if !store.revoke_role(role, member).await? {
                            self.events.notices.push((
                                "WARNING",
                                SqlState::WARNING,
                                format!(
                                    "role \"{member}\" has not been granted membership in role \"{role}\""
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn grant_membership(&mut self, role: &str, member: &str, gate: &Gate) -> Result<()> {
        if role == member || gate.has_role(role, member) {
            return Err(WeirError::InvalidGrant(format!(
                "role \"{member}\" is a member of role \"{role}\"; a role cannot be a member of itself, directly or not"
            )));
        }
        let granted = self
            .engine
            .policies()
            .store()
            .grant_role(&Membership {
                role: role.to_owned(),
                member: member.to_owned(),
                grantor: self.principal.user.clone(),
            })
            .await?;
        if !granted {
            self.events.notices.push((
                "NOTICE",
                SqlState::SUCCESSFUL_COMPLETION,
                format!("role \"{member}\" is already a member of role \"{role}\""),
            ));
        }
        Ok(())
    }

    async fn run_grant(&mut self, stmt: &GrantStatement, gate: &Gate) -> Result<()> {
        let (privileges, targets, grantees) = match stmt {
            GrantStatement::Grant {
                privileges,
                targets,
                grantees,
                ..
            }
            | GrantStatement::Revoke {
                privileges,
                targets,
                grantees,
                ..
            } => (privileges, targets, grantees),
            GrantStatement::Show { .. } => return Ok(()),
        };
        for grantee in grantees {
            if grantee != PUBLIC && !gate.role_exists(grantee) {
                return Err(weir_catalog::CatalogError::NoSuchRole(grantee.clone()).into());
            }
        }
        // (object, action) pairs, every object resolved and checked first:
        // nothing is stored unless all of it is valid.
        let mut pairs: Vec<(String, String)> = Vec::new();
        for target in targets {
            let resolved = self.resolve_target(target).await?;
            match privileges {
                Privileges::All => pairs.push((resolved.object.clone(), "all".into())),
                Privileges::List(list) => {
                    for (action, columns) in list {
                        resolved.allows(*action)?;
                        if columns.is_empty() {
                            pairs.push((resolved.object.clone(), action.as_str().into()));
                            continue;
                        }
                        for column in columns {
                            if !resolved.columns.contains(column) {
                                return Err(WeirError::UndefinedColumn(format!(
                                    "column \"{column}\" of relation \"{}\" does not exist",
                                    resolved.shown
                                )));
                            }
                            let mut parts = resolved.parts.clone();
                            parts.push(column.clone());
                            pairs.push((object_name(&parts), action.as_str().into()));
                        }
                    }
                }
            }
        }
        for (object, action) in &pairs {
            if !gate.may_grant(object, action) {
                return Err(PolicyError::Denied {
                    action: format!("grant {action} on"),
                    object: object.clone(),
                }
                .into());
            }
        }
        let store = self.engine.policies().store().clone();
        let rule = |grantee: &str, object: &str, action: &str, effect, grant_option| Rule {
            kind: RuleKind::Privilege,
            subject: grantee.to_owned(),
            object: object.to_owned(),
            action: action.to_owned(),
            effect,
            grant_option,
            name: String::new(),
            expression: String::new(),
            grantor: self.principal.user.clone(),
        };
        match stmt {
            GrantStatement::Grant {
                grant_option, deny, ..
            } => {
                let effect = if *deny { Effect::Deny } else { Effect::Allow };
                let rules: Vec<Rule> = grantees
                    .iter()
                    .flat_map(|g| {
                        pairs
                            .iter()
                            .map(move |(o, a)| rule(g, o, a, effect, *grant_option))
                    })
                    .collect();
                store.add_rules(&rules, &[]).await?;
            }
            GrantStatement::Revoke {
                grant_option_only, ..
            } => {
                let mut remove = Vec::new();
                let mut keep = Vec::new();
                for g in grantees {
                    for (o, a) in &pairs {
                        remove.push(rule(g, o, a, Effect::Allow, false));
                        if *grant_option_only {
                            if gate.holds_grant(g, o, a) {
                                keep.push(rule(g, o, a, Effect::Allow, false));
                            }
                        } else {
                            remove.push(rule(g, o, a, Effect::Deny, false));
                        }
                    }
                }
                store.remove_rules(&remove).await?;
                if !keep.is_empty() {
                    store.add_rules(&keep, &[]).await?;
                }
            }
            GrantStatement::Show { .. } => {}
        }
        Ok(())
    }

    /// A GRANT target as a stored object name, checked to exist.
    async fn resolve_target(&mut self, target: &Target) -> Result<Resolved> {
        let (catalog, schema) = {
            let options = &self.statement_state().state;
            let c = &options.config_options().catalog;
            (c.default_catalog.clone(), c.default_schema.clone())
        };
        let catalogs = self.statement_state().state.catalog_list().clone();
        let schema_of = |parts: &[String]| -> Result<(String, String)> {
            match parts {
                [s] => Ok((catalog.clone(), s.clone())),
                [c, s] => Ok((c.clone(), s.clone())),
                _ => Err(too_many_dots(parts)),
            }
        };
        let find_schema = |c: &str, s: &str| {
            catalogs
                .catalog(c)
                .ok_or_else(|| WeirError::UnknownObject(format!("catalog \"{c}\" does not exist")))?
                .schema(s)
                .ok_or_else(|| {
                    WeirError::Catalog(weir_catalog::CatalogError::NoSuchSchema(s.to_owned()))
                })
        };
        match target {
            Target::Catalog(c) => {
                if catalogs.catalog(c).is_none() {
                    return Err(WeirError::UnknownObject(format!(
                        "catalog \"{c}\" does not exist"
                    )));
                }
                Ok(Resolved::container(vec![c.clone()], Kind::Catalog))
            }
            Target::Schema(parts) | Target::AllTablesIn(parts) => {
                let (c, s) = schema_of(parts)?;
                find_schema(&c, &s)?;
                Ok(match target {
                    Target::Schema(_) => Resolved::container(vec![c, s], Kind::Schema),
                    _ => {
                        let mut all = Resolved::container(vec![c, s], Kind::AllTables);
                        all.object.push_str(".*");
                        all.shown.push_str(".*");
                        all
                    }
                })
            }
            Target::Table(parts) => {
                let (c, s, t) = match parts.as_slice() {
                    [t] => (catalog.clone(), schema.clone(), t.clone()),
                    [s, t] => (catalog.clone(), s.clone(), t.clone()),
                    [c, s, t] => (c.clone(), s.clone(), t.clone()),
                    _ => return Err(too_many_dots(parts)),
                };
                if c == crate::engine::LAKE {
                    self.engine.lake().refresh().await?;
                }
                let shown = format!("{c}.{s}.{t}");
                let missing =
                    || WeirError::Catalog(weir_catalog::CatalogError::NoSuchTable(shown.clone()));
                let schema_provider = find_schema(&c, &s).map_err(|_| missing())?;
                let table = schema_provider
                    .table(&t)
                    .await
                    .map_err(WeirError::DataFusion)?
                    .ok_or_else(missing)?;
                let table_schema = table.schema();
                let columns = table_schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                let types = table_schema
                    .fields()
                    .iter()
                    .map(|f| (f.name().clone(), f.data_type().clone()))
                    .collect();
                Ok(Resolved {
                    object: object_name(&[&c, &s, &t]),
                    parts: vec![c, s, t],
                    shown,
                    columns,
                    types,
                    kind: Kind::Table,
                })
            }
        }
    }

    async fn run_policy(&mut self, stmt: &PolicyStatement, gate: &Gate) -> Result<()> {
        let table = match stmt {
            PolicyStatement::Create { table, .. }
            | PolicyStatement::Drop { table, .. }
            | PolicyStatement::SetMask { table, .. }
            | PolicyStatement::DropMask { table, .. } => table,
        };
        let resolved = self.resolve_target(&Target::Table(table.clone())).await?;
        let subject = self.subject();
        // The table's owner (or a superuser) sets its policies and masks.
        if !gate.may_grant(&resolved.object, "all") {
            return Err(PolicyError::NoPrivilege(format!(
                "table {}",
                resolved.parts.last().map(String::as_str).unwrap_or("?")
            ))
            .into());
        }
        let table_name = resolved.parts.last().cloned().unwrap_or_default();
        let roles_exist = |roles: &[String]| -> Result<()> {
            for role in roles {
                if role != PUBLIC && !gate.role_exists(role) {
                    return Err(weir_catalog::CatalogError::NoSuchRole(role.clone()).into());
                }
            }
            Ok(())
        };
        let store = self.engine.policies().store().clone();
        let rule =
            |kind, role: &str, object: &str, action: &str, name: &str, expression: &str| Rule {
                kind,
                subject: role.to_owned(),
                object: object.to_owned(),
                action: action.to_owned(),
                effect: Effect::Allow,
                grant_option: false,
                name: name.to_owned(),
                expression: expression.to_owned(),
                grantor: subject.user.clone(),
            };
        match stmt {
            PolicyStatement::Create {
                name,
                restrictive,
                roles,
                using,
                ..
            } => {
                roles_exist(roles)?;
                if gate.has_policy(&resolved.object, name) {
                    return Err(WeirError::DuplicateObject(format!(
                        "policy \"{name}\" for table \"{table_name}\" already exists"
                    )));
                }
                let data_type = self.check_expression(&resolved, using, "POLICY")?;
                if !matches!(data_type, DataType::Boolean | DataType::Null) {
                    return Err(WeirError::DatatypeMismatch(format!(
                        "argument of USING must be type boolean, not type {data_type}"
                    )));
                }
                let action = if *restrictive {
                    "restrictive"
                } else {
                    "permissive"
                };
                let rules: Vec<Rule> = roles
                    .iter()
                    .map(|r| {
                        rule(
                            RuleKind::RowFilter,
                            r,
                            &resolved.object,
                            action,
                            name,
                            using,
                        )
                    })
                    .collect();
                store.add_rules(&rules, &[]).await?;
            }
            PolicyStatement::Drop {
                name, if_exists, ..
            } => {
                let removed = store
                    .remove_named(RuleKind::RowFilter, &resolved.object, name)
                    .await?;
                if removed == 0 {
                    let message =
                        format!("policy \"{name}\" for table \"{table_name}\" does not exist");
                    if !*if_exists {
                        return Err(WeirError::UnknownObject(message));
                    }
                    self.events.notices.push((
                        "NOTICE",
                        SqlState::SUCCESSFUL_COMPLETION,
                        format!("{message}, skipping"),
                    ));
                }
            }
            PolicyStatement::SetMask {
                column,
                mask,
                roles,
                ..
            } => {
                roles_exist(roles)?;
                let Some(target) = resolved.types.iter().find(|(c, _)| c == column) else {
                    return Err(WeirError::UndefinedColumn(format!(
                        "column \"{column}\" of relation \"{table_name}\" does not exist"
                    )));
                };
                let data_type = self.check_expression(&resolved, mask, "MASK")?;
                if !same_family(&data_type, &target.1) {
                    return Err(WeirError::DatatypeMismatch(format!(
                        "a mask of column \"{column}\" must give its type {}, not {data_type}",
                        target.1
                    )));
                }
                let mut parts = resolved.parts.clone();
                parts.push(column.clone());
                let object = object_name(&parts);
                let rules: Vec<Rule> = roles
                    .iter()
                    .map(|r| rule(RuleKind::Mask, r, &object, "mask", "", mask))
                    .collect();
                store.add_rules(&rules, &[]).await?;
            }
            PolicyStatement::DropMask { column, roles, .. } => {
                let mut parts = resolved.parts.clone();
                parts.push(column.clone());
                let object = object_name(&parts);
                let rules: Vec<Rule> = roles
                    .iter()
                    .map(|r| rule(RuleKind::Mask, r, &object, "mask", "", ""))
                    .collect();
                for r in &rules {
                    if !gate.has_mask(&r.object, &r.subject) {
                        return Err(WeirError::UnknownObject(format!(
                            "column \"{column}\" of relation \"{table_name}\" has no mask for role \"{}\"",
                            r.subject
                        )));
                    }
                }
                store.remove_rules(&rules).await?;
            }
        }
        Ok(())
    }

    /// Plan a policy or mask expression against the table's columns: it
    /// must type-check there, read no other table, and aggregate nothing.
    fn check_expression(&mut self, resolved: &Resolved, sql: &str, what: &str) -> Result<DataType> {
        let schema = resolved.df_schema()?;
        let state = &self.statement_state().state;
        let expr = state
            .create_logical_expr(sql, &schema)
            .map_err(WeirError::DataFusion)?;
        let forbidden = expr.exists(|e| {
            Ok(matches!(
                e,
                datafusion::logical_expr::Expr::AggregateFunction(_)
                    | datafusion::logical_expr::Expr::WindowFunction(_)
                    | datafusion::logical_expr::Expr::ScalarSubquery(_)
                    | datafusion::logical_expr::Expr::Exists(_)
                    | datafusion::logical_expr::Expr::InSubquery(_)
            ))
        })?;
        if forbidden {
            return Err(WeirError::NotSupported(format!(
                "{what} expressions may not aggregate or use subqueries"
            )));
        }
        let data_type = expr.to_field(&schema)?.1.data_type().clone();
        Ok(data_type)
    }

    fn show_grants(&self, role: Option<&str>, gate: &Gate) -> Result<RecordBatch> {
        let rules = gate.grants(role)?;
        let column = |f: &dyn Fn(&Rule) -> String| -> Arc<StringArray> {
            Arc::new(StringArray::from_iter_values(
                rules.iter().map(|(r, _)| f(r)),
            ))
        };
        let schema = schema(&AccessStatement::Grant(GrantStatement::Show { role: None }))
            .ok_or_else(|| WeirError::Internal("SHOW GRANTS has no columns".into()))?;
        RecordBatch::try_new(
            schema,
            vec![
                column(&|r| r.subject.clone()),
                column(&|r| r.object.clone()),
                column(&|r| r.action.to_uppercase()),
                column(&|r| match r.effect {
                    Effect::Allow => "GRANT".into(),
                    Effect::Deny => "DENY".into(),
                }),
                Arc::new(BooleanArray::from_iter(
                    rules.iter().map(|(r, _)| Some(r.grant_option)),
                )),
                column(&|r| r.grantor.clone()),
            ],
        )
        .map_err(|e| WeirError::DataFusion(e.into()))
    }
}

/// What a GRANT target names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Catalog,
    Schema,
    AllTables,
    Table,
}

#[derive(Debug)]
struct Resolved {
    object: String,
    parts: Vec<String>,
    shown: String,
    columns: Vec<String>,
    /// Column names and types (tables).
    types: Vec<(String, DataType)>,
    kind: Kind,
}

impl Resolved {
    fn container(parts: Vec<String>, kind: Kind) -> Self {
        Self {
            object: object_name(&parts),
            shown: parts.join("."),
            parts,
            columns: Vec::new(),
            types: Vec::new(),
            kind,
        }
    }

    /// The table's columns, qualified by its bare name.
    fn df_schema(&self) -> Result<datafusion::common::DFSchema> {
        let fields: Vec<Field> = self
            .types
            .iter()
            .map(|(n, t)| Field::new(n, t.clone(), true))
            .collect();
        let table = self.parts.last().cloned().unwrap_or_default();
        Ok(datafusion::common::DFSchema::try_from_qualified_schema(
            table.as_str(),
            &Schema::new(fields),
        )?)
    }

    /// PostgreSQL's "invalid privilege type X for table" (`0LP01`).
    fn allows(&self, action: weir_policies::Action) -> Result<()> {
        use weir_policies::Action as A;
        let ok = match self.kind {
            Kind::Table | Kind::AllTables => {
                matches!(action, A::Select | A::Insert | A::Drop | A::Alter)
            }
            Kind::Schema | Kind::Catalog => true,
        };
        if ok {
            return Ok(());
        }
        Err(WeirError::InvalidGrant(format!(
            "invalid privilege type {} for table",
            action.as_str().to_uppercase()
        )))
    }
}

/// The verifier a `PASSWORD` option stores.
fn verifier(options: &RoleOptions, iterations: u32) -> Option<Option<String>> {
    options.password.as_ref().map(|p| {
        p.as_ref()
            .map(|text| Verifier::from_password_text(text, iterations).to_string())
    })
}

/// Whether a mask's type can stand for the column's (PostgreSQL's
/// assignment casts, roughly): numbers for numbers, text for text, times
/// for times.
fn same_family(mask: &DataType, column: &DataType) -> bool {
    let family = |t: &DataType| {
        if t.is_numeric() {
            1
        } else if matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
            2
        } else if t.is_temporal() {
            3
        } else if matches!(t, DataType::Boolean) {
            4
        } else {
            0
        }
    };
    mask == column
        || *mask == DataType::Null
        || (family(mask) != 0 && family(mask) == family(column))
}

/// PostgreSQL's message for a name with more parts than the object has.
fn too_many_dots(parts: &[String]) -> WeirError {
    WeirError::Syntax {
        message: format!(
            "improper qualified name (too many dotted names): {}",
            parts.join(".")
        ),
        position: None,
    }
}

/// Names PostgreSQL keeps for itself.
fn reserved(name: &str) -> Result<()> {
    if name == PUBLIC || name == "none" || name.starts_with("pg_") {
        return Err(WeirError::ReservedName(format!(
            "role name \"{name}\" is reserved"
        )));
    }
    Ok(())
}
