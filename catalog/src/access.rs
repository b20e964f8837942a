//! Who may do what, as stored: roles, role memberships, privilege rules and
//! object owners, in the catalog database beside the Iceberg tables.
//!
//! Several Weir servers on one catalog database share these rows. Every
//! change bumps one version number in the same transaction, so a server
//! learns that its copy is stale by reading a single row
//! ([`AccessStore::version`]) and then reloads everything at once
//! ([`AccessStore::load`]). Deciding what the rows mean (casbin, plan
//! rewrites) is the `weir-policies` crate's job; this module only keeps them.
//!
//! Passwords are never stored: a role's `verifier` is PostgreSQL's
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` text, from
//! which a password cannot be recovered nor a login replayed.

use sqlx::AnyPool;
use sqlx::{Any, Row, Transaction};

use crate::{CatalogError, Result};

const ROLES: &str = "weir_roles";
const MEMBERS: &str = "weir_role_members";
const RULES: &str = "weir_access_rules";
const VERSION: &str = "weir_access_version";

/// A role (a user is a role that may log in).
#[derive(Clone, PartialEq, Eq)]
pub struct RoleRow {
    /// Role name (case as given; PostgreSQL folds unquoted names first).
    pub name: String,
    /// `LOGIN`: may connect.
    pub login: bool,
    /// `SUPERUSER`: bypasses every privilege check and row filter.
    pub superuser: bool,
    /// SCRAM-SHA-256 verifier, when the role has a password.
    pub verifier: Option<String>,
    /// Where the role comes from: `sql` (CREATE ROLE) or `config`
    /// (`[[auth.users]]`, re-applied at every start).
    pub origin: String,
}

impl std::fmt::Debug for RoleRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleRow")
            .field("name", &self.name)
            .field("login", &self.login)
            .field("superuser", &self.superuser)
            .field("verifier", &self.verifier.as_ref().map(|_| "<redacted>"))
            .field("origin", &self.origin)
            .finish()
    }
}

/// `GRANT role TO member`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The role granted.
    pub role: String,
    /// Who holds it (a user or another role).
    pub member: String,
    /// Who granted it.
    pub grantor: String,
}

/// What a rule of kind [`RuleKind::Privilege`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    /// GRANT.
    Allow,
    /// DENY: overrides any allow.
    Deny,
}

impl Effect {
    /// `allow` / `deny`, as stored and as casbin reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "allow" => Ok(Self::Allow),
            "deny" => Ok(Self::Deny),
            other => Err(CatalogError::Database(format!(
                "unknown rule effect {other:?} in {RULES}"
            ))),
        }
    }
}

/// What kind of rule a stored row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleKind {
    /// A privilege: `subject` may (or may not) do `action` on `object`.
    Privilege,
    /// A row filter (`CREATE POLICY`): `action` is `permissive` or
    /// `restrictive`, `name` the policy's name, `expression` its `USING`.
    RowFilter,
    /// A column mask: `object` is the column, `expression` the mask.
    Mask,
}

impl RuleKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Privilege => "privilege",
            Self::RowFilter => "row_filter",
            Self::Mask => "mask",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "privilege" => Ok(Self::Privilege),
            "row_filter" => Ok(Self::RowFilter),
            "mask" => Ok(Self::Mask),
            other => Err(CatalogError::Database(format!(
                "unknown rule kind {other:?} in {RULES}"
            ))),
        }
    }
}

/// One stored rule: a privilege, a row filter or a column mask.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rule {
    /// Privilege, row filter or mask.
    pub kind: RuleKind,
    /// The role (or user) it applies to; `public` applies to everyone.
    pub subject: String,
    /// `catalog`, `catalog.schema`, `catalog.schema.*`,
    /// `catalog.schema.table` or `catalog.schema.table.column`.
    pub object: String,
    /// `select`, `insert`, `create`, `drop`, `alter`, `usage`, `all`;
    /// for row filters `permissive` or `restrictive`.
    pub action: String,
    /// Allow or deny (privileges; filters and masks allow).
    pub effect: Effect,
    /// `WITH GRANT OPTION`.
    pub grant_option: bool,
    /// Policy name (row filters), else empty.
    pub name: String,
    /// SQL expression (row filters, masks), else empty.
    pub expression: String,
    /// Who made the rule.
    pub grantor: String,
}

/// Everything stored, as of one version.
#[derive(Debug, Clone, Default)]
pub struct AccessSnapshot {
    /// The version these rows are at.
    pub version: i64,
    /// Roles by name, sorted.
    pub roles: Vec<RoleRow>,
    /// Role memberships.
    pub memberships: Vec<Membership>,
    /// Privileges, row filters and masks.
    pub rules: Vec<Rule>,
}

impl AccessSnapshot {
    /// The role named `name`.
    pub fn role(&self, name: &str) -> Option<&RoleRow> {
        self.roles.iter().find(|r| r.name == name)
    }
}

/// A change to a role's attributes (`ALTER ROLE`); `None` leaves it.
#[derive(Debug, Clone, Default)]
pub struct RoleChange {
    /// `LOGIN` / `NOLOGIN`.
    pub login: Option<bool>,
    /// `SUPERUSER` / `NOSUPERUSER`.
    pub superuser: Option<bool>,
    /// `PASSWORD '…'` (`Some(Some(verifier))`) or `PASSWORD NULL`.
    pub verifier: Option<Option<String>>,
}

/// The access tables of a catalog database.
#[derive(Debug, Clone)]
pub struct AccessStore {
    pool: AnyPool,
    dollar: bool,
}

impl AccessStore {
    /// The tables these statements create (run under the catalog's schema lock).
    pub(crate) fn schema() -> [String; 4] {
        [
            format!(
                "CREATE TABLE IF NOT EXISTS {ROLES} (
                    name VARCHAR(255) NOT NULL PRIMARY KEY,
                    login INTEGER NOT NULL,
                    superuser INTEGER NOT NULL,
                    verifier TEXT,
                    origin VARCHAR(32) NOT NULL)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {MEMBERS} (
                    role_name VARCHAR(255) NOT NULL,
                    member VARCHAR(255) NOT NULL,
                    grantor VARCHAR(255) NOT NULL,
                    PRIMARY KEY (role_name, member))"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {RULES} (
                    kind VARCHAR(16) NOT NULL,
                    subject VARCHAR(255) NOT NULL,
                    object VARCHAR(1024) NOT NULL,
                    action VARCHAR(32) NOT NULL,
                    effect VARCHAR(8) NOT NULL,
                    grant_option INTEGER NOT NULL,
                    name VARCHAR(255) NOT NULL,
                    expression TEXT NOT NULL,
                    grantor VARCHAR(255) NOT NULL,
                    PRIMARY KEY (kind, subject, object, action, effect, name))"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {VERSION} (
                    id INTEGER NOT NULL PRIMARY KEY,
                    version BIGINT NOT NULL)"
            ),
        ]
    }

    /// The version row, created once.
    pub(crate) fn seed_version(dollar: bool) -> &'static str {
        if dollar {
            "INSERT INTO weir_access_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING"
        } else {
            "INSERT OR IGNORE INTO weir_access_version (id, version) VALUES (1, 0)"
        }
    }

    pub(crate) fn new(pool: AnyPool, dollar: bool) -> Self {
        Self { pool, dollar }
    }

    fn sql(&self, query: &str) -> String {
        crate::lakehouse::bind_style(query, self.dollar)
    }

    /// The current version (one small read: servers poll it).
    pub async fn version(&self) -> Result<i64> {
        let row = sqlx::query(&format!("SELECT version FROM {VERSION} WHERE id = 1"))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Every role, membership and rule, read in one transaction.
    pub async fn load(&self) -> Result<AccessSnapshot> {
        let mut tx = self.pool.begin().await?;
        let version: i64 = sqlx::query(&format!("SELECT version FROM {VERSION} WHERE id = 1"))
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let mut roles = Vec::new();
        for row in sqlx::query(&format!(
            "SELECT name, login, superuser, verifier, origin FROM {ROLES} ORDER BY name"
        ))
        .fetch_all(&mut *tx)
        .await?
        {
            roles.push(RoleRow {
                name: row.try_get(0)?,
                login: row.try_get::<i32, _>(1)? != 0,
                superuser: row.try_get::<i32, _>(2)? != 0,
                verifier: row.try_get(3)?,
                origin: row.try_get(4)?,
            });
        }
        let mut memberships = Vec::new();
        for row in sqlx::query(&format!(
            "SELECT role_name, member, grantor FROM {MEMBERS} ORDER BY role_name, member"
        ))
        .fetch_all(&mut *tx)
        .await?
        {
            memberships.push(Membership {
                role: row.try_get(0)?,
                member: row.try_get(1)?,
                grantor: row.try_get(2)?,
            });
        }
        let mut rules = Vec::new();
        for row in sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM {RULES} ORDER BY kind, object, subject, action, effect, name"
        ))
        .fetch_all(&mut *tx)
        .await?
        {
            rules.push(rule_from_row(&row)?);
        }
        tx.commit().await?;
        Ok(AccessSnapshot {
            version,
            roles,
            memberships,
            rules,
        })
    }

    async fn begin(&self) -> Result<Transaction<'static, Any>> {
        Ok(self.pool.begin().await?)
    }

    async fn bump(&self, mut tx: Transaction<'static, Any>) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE {VERSION} SET version = version + 1 WHERE id = 1"
        ))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn role_exists(&self, tx: &mut Transaction<'static, Any>, name: &str) -> Result<bool> {
        Ok(
            sqlx::query(&self.sql(&format!("SELECT 1 FROM {ROLES} WHERE name = ?")))
                .bind(name)
                .fetch_optional(&mut **tx)
                .await?
                .is_some(),
        )
    }

    /// `CREATE ROLE`.
    pub async fn create_role(&self, role: &RoleRow) -> Result<()> {
        let mut tx = self.begin().await?;
        if self.role_exists(&mut tx, &role.name).await? {
            return Err(CatalogError::RoleExists(role.name.clone()));
        }
        self.insert_role(&mut tx, role).await?;
        self.bump(tx).await
    }

    async fn insert_role(&self, tx: &mut Transaction<'static, Any>, role: &RoleRow) -> Result<()> {
        let inserted = sqlx::query(&self.sql(&format!(
            "INSERT INTO {ROLES} (name, login, superuser, verifier, origin) VALUES (?, ?, ?, ?, ?)"
        )))
        .bind(role.name.as_str())
        .bind(i32::from(role.login))
        .bind(i32::from(role.superuser))
        .bind(role.verifier.clone())
        .bind(role.origin.as_str())
        .execute(&mut **tx)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(CatalogError::RoleExists(role.name.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Create or update a role that the configuration defines (at start):
    /// it exists with these attributes whatever was stored. Roles of origin
    /// `config` that the configuration no longer names lose their login.
    pub async fn apply_config_roles(&self, roles: &[RoleRow]) -> Result<()> {
        let mut tx = self.begin().await?;
        let stored = sqlx::query(&format!(
            "SELECT name, login, superuser, verifier FROM {ROLES} WHERE origin = 'config'"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let mut changed = false;
        for row in stored {
            let name: String = row.try_get(0)?;
            let login = row.try_get::<i32, _>(1)? != 0;
            if login && !roles.iter().any(|r| r.name == name) {
                sqlx::query(&self.sql(&format!(
                    "UPDATE {ROLES} SET login = 0, verifier = NULL WHERE name = ?"
                )))
                .bind(name.as_str())
                .execute(&mut *tx)
                .await?;
                changed = true;
            }
        }
        for role in roles {
            let current = sqlx::query(&self.sql(&format!(
                "SELECT login, superuser, verifier, origin FROM {ROLES} WHERE name = ?"
            )))
            .bind(role.name.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            match current {
                None => {
                    self.insert_role(&mut tx, role).await?;
                    changed = true;
                }
                Some(row) => {
                    let same = (row.try_get::<i32, _>(0)? != 0) == role.login
                        && (row.try_get::<i32, _>(1)? != 0) == role.superuser
                        && row.try_get::<Option<String>, _>(2)? == role.verifier
                        && row.try_get::<String, _>(3)? == role.origin;
                    if !same {
                        sqlx::query(&self.sql(&format!(
                            "UPDATE {ROLES} SET login = ?, superuser = ?, verifier = ?, origin = ?
                             WHERE name = ?"
                        )))
                        .bind(i32::from(role.login))
                        .bind(i32::from(role.superuser))
                        .bind(role.verifier.clone())
                        .bind(role.origin.as_str())
                        .bind(role.name.as_str())
                        .execute(&mut *tx)
                        .await?;
                        changed = true;
                    }
                }
            }
        }
        if changed {
            self.bump(tx).await
        } else {
            tx.commit().await?;
            Ok(())
        }
    }

    /// `ALTER ROLE name [WITH] …`.
    pub async fn alter_role(&self, name: &str, change: &RoleChange) -> Result<()> {
        let mut tx = self.begin().await?;
        if !self.role_exists(&mut tx, name).await? {
            return Err(CatalogError::NoSuchRole(name.to_owned()));
        }
        if let Some(login) = change.login {
            sqlx::query(&self.sql(&format!("UPDATE {ROLES} SET login = ? WHERE name = ?")))
                .bind(i32::from(login))
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(superuser) = change.superuser {
            sqlx::query(&self.sql(&format!("UPDATE {ROLES} SET superuser = ? WHERE name = ?")))
                .bind(i32::from(superuser))
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(verifier) = &change.verifier {
            sqlx::query(&self.sql(&format!("UPDATE {ROLES} SET verifier = ? WHERE name = ?")))
                .bind(verifier.clone())
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        self.bump(tx).await
    }

    /// `ALTER ROLE old RENAME TO new`: memberships and rules follow, and
    /// the password stays (a SCRAM verifier does not depend on the name;
    /// PostgreSQL clears only MD5 passwords, which Weir does not store).
    pub async fn rename_role(&self, old: &str, new: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        if !self.role_exists(&mut tx, old).await? {
            return Err(CatalogError::NoSuchRole(old.to_owned()));
        }
        if self.role_exists(&mut tx, new).await? {
            return Err(CatalogError::RoleExists(new.to_owned()));
        }
        for statement in [
            format!("UPDATE {ROLES} SET name = ? WHERE name = ?"),
            format!("UPDATE {MEMBERS} SET role_name = ? WHERE role_name = ?"),
            format!("UPDATE {MEMBERS} SET member = ? WHERE member = ?"),
            format!("UPDATE {MEMBERS} SET grantor = ? WHERE grantor = ?"),
            format!("UPDATE {RULES} SET subject = ? WHERE subject = ?"),
            format!("UPDATE {RULES} SET grantor = ? WHERE grantor = ?"),
        ] {
            sqlx::query(&self.sql(&statement))
                .bind(new)
                .bind(old)
                .execute(&mut *tx)
                .await?;
        }
        self.bump(tx).await
    }

    /// `DROP ROLE`: refused while rules name the role (PostgreSQL's
    /// "some objects depend on it"); its memberships go with it.
    pub async fn drop_role(&self, name: &str, if_exists: bool) -> Result<bool> {
        let mut tx = self.begin().await?;
        if !self.role_exists(&mut tx, name).await? {
            if if_exists {
                return Ok(false);
            }
            return Err(CatalogError::NoSuchRole(name.to_owned()));
        }
        let rules = sqlx::query(&self.sql(&format!(
            "SELECT kind, object, action FROM {RULES} WHERE subject = ? ORDER BY object LIMIT 5"
        )))
        .bind(name)
        .fetch_all(&mut *tx)
        .await?;
        if !rules.is_empty() {
            let mut detail = Vec::new();
            for row in rules {
                let kind: String = row.try_get(0)?;
                let object: String = row.try_get(1)?;
                let action: String = row.try_get(2)?;
                detail.push(match kind.as_str() {
                    "privilege" => format!("privileges ({action}) on {object}"),
                    "row_filter" => format!("a row policy on {object}"),
                    _ => format!("a mask on {object}"),
                });
            }
            return Err(CatalogError::RoleInUse {
                role: name.to_owned(),
                detail: detail.join("; "),
            });
        }
        for statement in [
            format!("DELETE FROM {MEMBERS} WHERE role_name = ? OR member = ?"),
            format!("DELETE FROM {ROLES} WHERE name = ? OR name = ?"),
        ] {
            sqlx::query(&self.sql(&statement))
                .bind(name)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        self.bump(tx).await?;
        Ok(true)
    }

    /// `GRANT role TO member`; `false` when it was granted already.
    pub async fn grant_role(&self, membership: &Membership) -> Result<bool> {
        let mut tx = self.begin().await?;
        for name in [&membership.role, &membership.member] {
            if !self.role_exists(&mut tx, name).await? {
                return Err(CatalogError::NoSuchRole(name.clone()));
            }
        }
        let exists = sqlx::query(&self.sql(&format!(
            "SELECT 1 FROM {MEMBERS} WHERE role_name = ? AND member = ?"
        )))
        .bind(membership.role.as_str())
        .bind(membership.member.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if exists {
            return Ok(false);
        }
        sqlx::query(&self.sql(&format!(
            "INSERT INTO {MEMBERS} (role_name, member, grantor) VALUES (?, ?, ?)"
        )))
        .bind(membership.role.as_str())
        .bind(membership.member.as_str())
        .bind(membership.grantor.as_str())
        .execute(&mut *tx)
        .await?;
        self.bump(tx).await?;
        Ok(true)
    }

    /// `REVOKE role FROM member`; `false` when it was not granted.
    pub async fn revoke_role(&self, role: &str, member: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        for name in [role, member] {
            if !self.role_exists(&mut tx, name).await? {
                return Err(CatalogError::NoSuchRole(name.to_owned()));
            }
        }
        let done = sqlx::query(&self.sql(&format!(
            "DELETE FROM {MEMBERS} WHERE role_name = ? AND member = ?"
        )))
        .bind(role)
        .bind(member)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Ok(false);
        }
        self.bump(tx).await?;
        Ok(true)
    }

    /// Add rules (a GRANT, DENY, CREATE POLICY or SET MASK), replacing equal
    /// ones, in one transaction. `subjects_must_exist` names roles that must
    /// be stored (token and directory roles need not be).
    pub async fn add_rules(&self, rules: &[Rule], subjects_must_exist: &[String]) -> Result<()> {
        let mut tx = self.begin().await?;
        for name in subjects_must_exist {
            if !self.role_exists(&mut tx, name).await? {
                return Err(CatalogError::NoSuchRole(name.clone()));
            }
        }
        for rule in rules {
            self.delete_rule(&mut tx, rule).await?;
            self.insert_rule(&mut tx, rule).await?;
        }
        self.bump(tx).await
    }

    async fn insert_rule(&self, tx: &mut Transaction<'static, Any>, rule: &Rule) -> Result<()> {
        sqlx::query(&self.sql(&format!(
            "INSERT INTO {RULES}
             (kind, subject, object, action, effect, grant_option, name, expression, grantor)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )))
        .bind(rule.kind.as_str())
        .bind(rule.subject.as_str())
        .bind(rule.object.as_str())
        .bind(rule.action.as_str())
        .bind(rule.effect.as_str())
        .bind(i32::from(rule.grant_option))
        .bind(rule.name.as_str())
        .bind(rule.expression.as_str())
        .bind(rule.grantor.as_str())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn delete_rule(&self, tx: &mut Transaction<'static, Any>, rule: &Rule) -> Result<u64> {
        Ok(sqlx::query(&self.sql(&format!(
            "DELETE FROM {RULES}
             WHERE kind = ? AND subject = ? AND object = ? AND action = ? AND effect = ? AND name = ?"
        )))
        .bind(rule.kind.as_str())
        .bind(rule.subject.as_str())
        .bind(rule.object.as_str())
        .bind(rule.action.as_str())
        .bind(rule.effect.as_str())
        .bind(rule.name.as_str())
        .execute(&mut **tx)
        .await?
        .rows_affected())
    }

    /// Remove rules (REVOKE, DROP POLICY, DROP MASK) in one transaction;
    /// returns how many rows went.
    pub async fn remove_rules(&self, rules: &[Rule]) -> Result<u64> {
        let mut tx = self.begin().await?;
        let mut removed = 0;
        for rule in rules {
            removed += self.delete_rule(&mut tx, rule).await?;
        }
        self.bump(tx).await?;
        Ok(removed)
    }

    /// Remove the rules of `kind` named `name` on `object` (DROP POLICY);
    /// returns how many rows went.
    pub async fn remove_named(&self, kind: RuleKind, object: &str, name: &str) -> Result<u64> {
        let mut tx = self.begin().await?;
        let removed = sqlx::query(&self.sql(&format!(
            "DELETE FROM {RULES} WHERE kind = ? AND object = ? AND name = ?"
        )))
        .bind(kind.as_str())
        .bind(object)
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.bump(tx).await?;
        Ok(removed)
    }

    /// Column `from` of table `table` (object names) renamed to `to`: its
    /// rules move to the new name, and the expressions of the table's row
    /// filters and its columns' masks are rewritten by `rewrite` (`None`:
    /// unchanged), in one transaction. Returns how many rules changed.
    pub async fn rename_column(
        &self,
        table: &str,
        (from, to): (&str, &str),
        rewrite: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let pattern = format!("{}.%", table.replace('%', "\\%").replace('_', "\\_"));
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT {RULE_COLUMNS} FROM {RULES} WHERE object = ? OR object LIKE ? ESCAPE '\\'"
        )))
        .bind(table)
        .bind(pattern)
        .fetch_all(&mut *tx)
        .await?;
        let mut changed = 0;
        for row in &rows {
            let old = rule_from_row(row)?;
            let mut new = old.clone();
            if new.object == from {
                new.object = to.to_owned();
            }
            if new.kind != RuleKind::Privilege {
                if let Some(expression) = rewrite(&new.expression) {
                    new.expression = expression;
                }
            }
            if new != old {
                self.delete_rule(&mut tx, &old).await?;
                self.delete_rule(&mut tx, &new).await?;
                self.insert_rule(&mut tx, &new).await?;
                changed += 1;
            }
        }
        if changed > 0 {
            self.bump(tx).await?;
        }
        Ok(changed)
    }

    /// Remove every rule on `object` and on what it contains (a dropped
    /// table's grants, policies and masks go with it). The version moves
    /// only if a rule went.
    pub async fn forget_object(&self, object: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        if self.delete_object_rules(&mut tx, object).await? > 0 {
            self.bump(tx).await?;
        }
        Ok(())
    }

    /// A new object (a table or schema just created) starts with only its
    /// creator's rule: rules an earlier object of that name left behind
    /// (had a server stopped between its drop and [`Self::forget_object`])
    /// go, and `owner` (none for a superuser) is added, in one transaction.
    pub async fn adopt(&self, object: &str, owner: Option<&Rule>) -> Result<()> {
        let mut tx = self.begin().await?;
        let mut changed = self.delete_object_rules(&mut tx, object).await? > 0;
        if let Some(rule) = owner {
            self.insert_rule(&mut tx, rule).await?;
            changed = true;
        }
        if changed {
            self.bump(tx).await?;
        }
        Ok(())
    }

    async fn delete_object_rules(
        &self,
        tx: &mut Transaction<'static, Any>,
        object: &str,
    ) -> Result<u64> {
        let pattern = format!("{}.%", object.replace('%', "\\%").replace('_', "\\_"));
        Ok(sqlx::query(&self.sql(&format!(
            "DELETE FROM {RULES} WHERE object = ? OR object LIKE ? ESCAPE '\\'"
        )))
        .bind(object)
        .bind(pattern)
        .execute(&mut **tx)
        .await?
        .rows_affected())
    }
}

/// The columns of a stored rule, in [`rule_from_row`]'s order.
const RULE_COLUMNS: &str =
    "kind, subject, object, action, effect, grant_option, name, expression, grantor";

fn rule_from_row(row: &sqlx::any::AnyRow) -> Result<Rule> {
    Ok(Rule {
        kind: RuleKind::parse(&row.try_get::<String, _>(0)?)?,
        subject: row.try_get(1)?,
        object: row.try_get(2)?,
        action: row.try_get(3)?,
        effect: Effect::parse(&row.try_get::<String, _>(4)?)?,
        grant_option: row.try_get::<i32, _>(5)? != 0,
        name: row.try_get(6)?,
        expression: row.try_get(7)?,
        grantor: row.try_get(8)?,
    })
}
