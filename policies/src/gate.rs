//! The gate: the one way code outside this crate asks an access question.
//!
//! A [`Gate`] is one statement's view of the rules: the [`Authorizer`] in
//! force when the statement began, the session's [`Subject`], and whether
//! the rules were confirmed against the catalog database at that moment.
//! Every decision of the statement goes through it, so a statement never
//! sees two rule versions, and the superuser shortcut and the fail-closed
//! rule live here and nowhere else: the plan rewrite ([`Gate::enforce`]),
//! DDL and writes ([`Gate::authorize`]), listings ([`Gate::lists`],
//! [`Gate::lists_column`]), `DESCRIBE` ([`Gate::describe`]), GRANT
//! authority ([`Gate::may_grant`]), ownership ([`Gate::owner_rule`]),
//! storage ([`Gate::may_register`], [`Gate::may_scan`]), and the questions
//! the statements that manage roles and rules ask.
//!
//! `Policies::current` and the authorizer's deciding methods are
//! crate-private: the compiler keeps every caller on this door. Logins
//! read what they need through the narrower [`Logins`].
//!
//! Providers and functions planned inside a statement (the catalog
//! listings, `pg_has_role`, `weir_audit_log`) find the statement's gate in
//! the session's [`GateSlot`], which the session fills as each statement
//! begins.

use std::sync::{Arc, RwLock};

use datafusion::logical_expr::LogicalPlan;
use weir_catalog::access::{Effect, Membership, RoleRow, Rule, RuleKind};

use crate::authorizer::{Action, Authorizer, Subject, OWNER, PUBLIC};
use crate::objects::object_name;
use crate::rewrite::ExprPlanner;
use crate::storage::{self, TableFiles};
use crate::{PolicyError, Result};

/// One statement's access decisions (cheap to clone).
#[derive(Debug, Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    auth: Arc<Authorizer>,
    subject: Subject,
    superuser: bool,
    /// `Some(seconds)`: the rules had gone unconfirmed that long when the
    /// statement began (see `Policies::unconfirmed`).
    unconfirmed: Option<u64>,
}

impl Gate {
    pub(crate) fn new(auth: Arc<Authorizer>, subject: Subject, unconfirmed: Option<u64>) -> Self {
        let superuser = auth.is_superuser(&subject);
        Self {
            inner: Arc::new(Inner {
                auth,
                subject,
                superuser,
                unconfirmed,
            }),
        }
    }

    fn auth(&self) -> &Authorizer {
        &self.inner.auth
    }

    /// Who asks.
    pub fn subject(&self) -> &Subject {
        &self.inner.subject
    }

    /// The version of the rules this statement is decided by.
    pub fn version(&self) -> i64 {
        self.auth().version()
    }

    /// Whether any rule can restrict this statement (the user is not a
    /// superuser): callers may skip gathering what only a restricted
    /// decision reads (table locations, listed columns). Every decision
    /// below answers for superusers by itself.
    pub fn restricted(&self) -> bool {
        !self.inner.superuser
    }

    /// Fail closed: statements of non-superusers fail while the rules in
    /// force are unconfirmed.
    fn confirmed(&self) -> Result<()> {
        match self.inner.unconfirmed {
            Some(seconds) if !self.inner.superuser => Err(PolicyError::Unconfirmed { seconds }),
            _ => Ok(()),
        }
    }

    /// The fail-closed check alone, for statements that decide nothing
    /// else before they touch data.
    pub fn check_confirmed(&self) -> Result<()> {
        self.confirmed()
    }

    /// Enforce privileges, row filters and masks on `plan` (see
    /// `rewrite::enforce`); superusers' plans pass unchanged.
    pub fn enforce(
        &self,
        plan: LogicalPlan,
        default_catalog: &str,
        default_schema: &str,
        planner: &dyn ExprPlanner,
    ) -> Result<LogicalPlan> {
        self.confirmed()?;
        if self.inner.superuser {
            return Ok(plan);
        }
        crate::rewrite::enforce(
            plan,
            self.auth(),
            self.subject(),
            default_catalog,
            default_schema,
            planner,
        )
    }

    /// May the statement do `action` on the object `parts` names
    /// (catalog, schema, table)? A table the user cannot see at all
    /// answers as a missing one (`Hidden`).
    pub fn authorize<S: AsRef<str>>(&self, action: Action, parts: &[S]) -> Result<()> {
        if self.inner.superuser {
            return Ok(());
        }
        self.confirmed()?;
        let object = object_name(parts);
        if self
            .auth()
            .decide(self.subject(), &object, action)
            .allowed()
        {
            return Ok(());
        }
        let shown = parts
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(".");
        Err(match parts {
            [_, _, _] if !self.auth().sees(self.subject(), &object, &[]) => {
                PolicyError::Hidden(shown)
            }
            [_, _, table] => PolicyError::NoPrivilege(format!("table {}", table.as_ref())),
            [_, schema] => PolicyError::NoPrivilege(format!("schema {}", schema.as_ref())),
            _ => PolicyError::NoPrivilege(format!("database {shown}")),
        })
    }

    /// Whether listings (`information_schema`, `pg_catalog`, `SHOW
    /// TABLES`, psql's `\d`) show the object `parts` names: the user holds
    /// some privilege on it or on something inside it. An object they are
    /// not listed answers exactly as a missing one to every statement.
    pub fn lists<S: AsRef<str>>(&self, parts: &[S]) -> bool {
        self.inner.superuser || self.auth().lists(self.subject(), &object_name(parts))
    }

    /// Whether listings and `DESCRIBE` show column `column` of table
    /// `table`: the user holds some privilege on it, as PostgreSQL's
    /// `information_schema.columns` lists them.
    pub fn lists_column(&self, table: [&str; 3], column: &str) -> bool {
        self.inner.superuser || self.auth().lists_column(self.subject(), table, column)
    }

    /// `DESCRIBE` of table `table`: a table the user is not listed is
    /// missing (`Hidden`); the catalogs' own tables are described to all.
    pub fn describe(&self, table: [&str; 3]) -> Result<()> {
        if crate::objects::is_system_schema(table[1]) || self.lists(&table) {
            return Ok(());
        }
        Err(PolicyError::Hidden(table.join(".")))
    }

    /// May the user grant `action` (`all`, `select`, …) on `object` to
    /// others? Superusers may; others need it `WITH GRANT OPTION` (an owner
    /// holds it) on the object or something containing it, and no deny.
    pub fn may_grant(&self, object: &str, action: &str) -> bool {
        self.inner.superuser || self.auth().may_grant(self.subject(), object, action)
    }

    /// The rule that makes the user the owner of a new object `object`:
    /// every privilege on it, grantable. `None` for superusers, who need
    /// none.
    pub fn owner_rule(&self, object: &str) -> Option<Rule> {
        if self.inner.superuser {
            return None;
        }
        let user = self.subject().user.clone();
        Some(Rule {
            kind: RuleKind::Privilege,
            subject: user.clone(),
            object: object.to_owned(),
            action: "all".into(),
            effect: Effect::Allow,
            grant_option: true,
            name: OWNER.into(),
            expression: String::new(),
            grantor: user,
        })
    }

    /// May the user register the location `written` (canonical form at
    /// `path` below the lake root; `None`: outside it) as a table of their
    /// own, given the lake's tables (see the `storage` module)?
    pub fn may_register(
        &self,
        written: &str,
        path: Option<&[String]>,
        tables: &[TableFiles],
    ) -> Result<()> {
        self.restricted_by(|auth, subject| {
            storage::may_register(auth, subject, written, path, tables)
        })
    }

    /// May the user read the files of external table `object`, at `path`
    /// below the lake root (see the `storage` module)?
    pub fn may_scan(
        &self,
        object: &str,
        path: Option<&[String]>,
        tables: &[TableFiles],
    ) -> Result<()> {
        self.restricted_by(|auth, subject| storage::may_scan(auth, subject, object, path, tables))
    }

    /// `decide` for a user who is not a superuser, once the rules are
    /// confirmed; superusers pass.
    fn restricted_by(
        &self,
        decide: impl FnOnce(&Authorizer, &Subject) -> Result<()>,
    ) -> Result<()> {
        if self.inner.superuser {
            return Ok(());
        }
        self.confirmed()?;
        decide(self.auth(), self.subject())
    }

    /// Only superusers may do `what` (`CREATE ROLE`, reading the audit
    /// log).
    pub fn require_superuser(&self, what: &str) -> Result<()> {
        if self.inner.superuser {
            Ok(())
        } else {
            Err(PolicyError::SuperuserOnly(what.to_owned()))
        }
    }

    /// Whether `user` (the session's own user: with the roles its login
    /// brought) holds `role`, directly or through others
    /// (`pg_has_role`).
    pub fn has_role(&self, user: &str, role: &str) -> bool {
        let subject = if user == self.subject().user {
            self.subject().clone()
        } else {
            Subject::user(user)
        };
        self.auth()
            .effective_roles(&subject)
            .iter()
            .any(|r| r == role)
    }

    /// Whether a stored role `name` exists.
    pub fn role_exists(&self, name: &str) -> bool {
        self.auth().snapshot().role(name).is_some()
    }

    /// The stored roles and memberships (`pg_roles`, `pg_auth_members`).
    pub fn roles(&self) -> (&[RoleRow], &[Membership]) {
        let s = self.auth().snapshot();
        (&s.roles, &s.memberships)
    }

    /// Whether `role` has a privilege allowed by a stored rule of exactly
    /// `action` on exactly `object` (what `REVOKE GRANT OPTION FOR` keeps).
    pub fn holds_grant(&self, role: &str, object: &str, action: &str) -> bool {
        self.auth().snapshot().rules.iter().any(|r| {
            r.kind == RuleKind::Privilege
                && r.effect == Effect::Allow
                && r.subject == role
                && r.object == object
                && r.action == action
        })
    }

    /// Whether table `object` has a row filter (policy) named `name`.
    pub fn has_policy(&self, object: &str, name: &str) -> bool {
        self.auth()
            .rules_on(object, RuleKind::RowFilter)
            .any(|r| r.name == name)
    }

    /// Whether column `object` has a mask for role `role`.
    pub fn has_mask(&self, object: &str, role: &str) -> bool {
        self.auth()
            .rules_on(object, RuleKind::Mask)
            .any(|r| r.subject == role)
    }

    /// The privilege rules `SHOW GRANTS [FOR role]` shows, with the role
    /// each applies through: the session's own, or `role`'s if the user
    /// holds it (superusers: any role).
    pub fn grants(&self, role: Option<&str>) -> Result<Vec<(Rule, String)>> {
        let subject = match role {
            None => self.subject().clone(),
            Some(r) => {
                if !self.inner.superuser && !self.has_role(&self.subject().user, r) {
                    return Err(PolicyError::Denied {
                        action: "show the grants of".into(),
                        object: format!("role {r}"),
                    });
                }
                if r != PUBLIC && !self.role_exists(r) {
                    return Err(weir_catalog::CatalogError::NoSuchRole(r.to_owned()).into());
                }
                Subject::user(r)
            }
        };
        Ok(self
            .auth()
            .rules_for(&subject)
            .into_iter()
            .filter(|(r, _)| r.kind == RuleKind::Privilege)
            .map(|(r, via)| (r.clone(), via))
            .collect())
    }
}

/// Where a session keeps the gate of the statement it is running, for the
/// providers and functions planned inside it (stored in the session's
/// config extensions).
#[derive(Debug, Clone)]
pub struct GateSlot(Arc<RwLock<Gate>>);

impl GateSlot {
    /// A slot holding `gate`.
    pub fn new(gate: Gate) -> Self {
        Self(Arc::new(RwLock::new(gate)))
    }

    /// The gate of the statement under way.
    pub fn get(&self) -> Gate {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// A new statement begins under `gate`.
    pub fn set(&self, gate: Gate) {
        match self.0.write() {
            Ok(mut g) => *g = gate,
            Err(p) => *p.into_inner() = gate,
        }
    }
}

/// What logins read of the rules: verifiers and the LOGIN attribute.
#[derive(Debug)]
pub struct Logins {
    pub(crate) auth: Arc<Authorizer>,
}

impl Logins {
    /// The stored SCRAM verifier of `user`, if it is a role with a
    /// password.
    pub fn verifier(&self, user: &str) -> Option<&str> {
        self.auth
            .snapshot()
            .role(user)
            .and_then(|r| r.verifier.as_deref())
    }

    /// Whether `user` is a stored role with the LOGIN attribute.
    pub fn may_log_in(&self, user: &str) -> bool {
        self.auth.snapshot().role(user).is_some_and(|r| r.login)
    }
}

impl datafusion::common::config::ConfigExtension for GateSlot {
    const PREFIX: &'static str = "weir_gate";
}

/// The slot rides in a session's DataFusion config, where functions and
/// providers find it; `SET` cannot change it.
impl datafusion::common::config::ExtensionOptions for GateSlot {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn datafusion::common::config::ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> datafusion::error::Result<()> {
        Err(datafusion::error::DataFusionError::Configuration(format!(
            "parameter \"{key}\" cannot be changed"
        )))
    }

    fn entries(&self) -> Vec<datafusion::common::config::ConfigEntry> {
        Vec::new()
    }
}

impl GateSlot {
    /// The gate of the statement a session's `options` belong to; an
    /// error where no session put one (nothing is decided without it).
    pub fn of(options: &datafusion::common::config::ConfigOptions) -> Result<Gate> {
        options
            .extensions
            .get::<GateSlot>()
            .map(GateSlot::get)
            .ok_or_else(|| PolicyError::Model("no statement gate in this context".into()))
    }
}
