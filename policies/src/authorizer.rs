//! Decisions: one [`Authorizer`] per version of the stored rules, built
//! from an [`AccessSnapshot`] into a casbin enforcer (`model.conf`: the
//! model, and the role graph its `g()` walks), with its decisions cached.
//!
//! A session asks as a [`Subject`]: its user, plus roles its login brought
//! (token claims, directory groups), plus `public`. casbin walks each of
//! those through the stored role memberships; across them, as within them,
//! a deny overrides any allow, and with neither the answer is no. The
//! model's matcher is evaluated over an index of the rules by role (see
//! `decide_uncached`), tested to answer as casbin's `enforce` does.

use std::collections::HashMap;
use std::sync::Mutex;

use casbin::function_map::OperatorFunction;
use casbin::rhai::Dynamic;
use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi, RbacApi};
use weir_catalog::access::{AccessSnapshot, Effect, Rule, RuleKind};

use crate::objects;
use crate::{PolicyError, Result};

/// The casbin model: RBAC with role hierarchy, deny overrides allow.
pub const MODEL: &str = include_str!("../model.conf");

/// The role every user holds.
pub const PUBLIC: &str = "public";

/// The name of the privilege rule a table's or schema's creator holds.
pub const OWNER: &str = "owner";

/// Decisions kept before the cache starts over.
const CACHE_LIMIT: usize = 100_000;

/// What a privilege is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Read rows (`SELECT`, and reading in `INSERT … SELECT`, CTAS).
    Select,
    /// Append rows.
    Insert,
    /// Create tables in a schema, schemas in a catalog.
    Create,
    /// Drop the object.
    Drop,
    /// Change the object (`ALTER TABLE`).
    Alter,
    /// Look up objects in a schema or catalog.
    Usage,
}

impl Action {
    /// Every action, in the order `SHOW GRANTS` lists them.
    pub const ALL: [Action; 6] = [
        Action::Select,
        Action::Insert,
        Action::Create,
        Action::Drop,
        Action::Alter,
        Action::Usage,
    ];

    /// The name rules store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Select => "select",
            Self::Insert => "insert",
            Self::Create => "create",
            Self::Drop => "drop",
            Self::Alter => "alter",
            Self::Usage => "usage",
        }
    }

    /// The action named `name` (any case).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
    }
}

/// Who asks: the session's user and the roles its login brought.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    /// The login name.
    pub user: String,
    /// Roles from the login itself (token claims, directory groups), not
    /// from stored memberships (casbin follows those).
    pub roles: Vec<String>,
}

impl Subject {
    /// A user with no roles beyond the stored ones.
    pub fn user(name: impl Into<String>) -> Self {
        Self {
            user: name.into(),
            roles: Vec::new(),
        }
    }

    fn direct(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.user.as_str())
            .chain(self.roles.iter().map(String::as_str))
            .chain(std::iter::once(PUBLIC))
    }

    fn key(&self) -> String {
        let mut key = self.user.clone();
        for role in &self.roles {
            key.push('\u{0}');
            key.push_str(role);
        }
        key
    }
}

/// The answer for one (subject, object, action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A rule allows it and none denies it.
    Allowed,
    /// A deny rule matched: `rule` says which (`subject object action`).
    Denied {
        /// The rule, as `role on object: action`.
        rule: String,
    },
    /// No rule allows it.
    NotGranted,
}

impl Decision {
    /// Whether the action may go ahead.
    pub fn allowed(&self) -> bool {
        matches!(self, Self::Allowed)
    }
}

/// Decisions as of one version of the rules.
pub struct Authorizer {
    snapshot: AccessSnapshot,
    enforcer: Enforcer,
    cache: Mutex<HashMap<(String, String, Action), Decision>>,
    /// [`Self::lists`] answers, as `cache` keeps decisions.
    listed: Mutex<HashMap<(String, String), bool>>,
    /// Row filters and masks by the object they are on (positions in
    /// `snapshot.rules`): every table reference looks them up.
    on_object: HashMap<String, Vec<usize>>,
    /// Privilege rules by the role they name, objects split: the model's
    /// matcher evaluated over the rules that can match (see `decide`).
    privileges: HashMap<String, Vec<(usize, Vec<objects::Part>)>>,
    /// Masks and denies on one column of one table, by the table: (rule,
    /// column).
    column_rules: HashMap<String, Vec<(usize, String)>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("version", &self.snapshot.version)
            .field("rules", &self.snapshot.rules.len())
            .finish()
    }
}

fn object_covers(rule: Dynamic, request: Dynamic) -> Dynamic {
    let (Ok(rule), Ok(request)) = (
        rule.into_immutable_string(),
        request.into_immutable_string(),
    ) else {
        return Dynamic::from(false);
    };
    Dynamic::from(objects::covers(&rule, &request))
}

impl Authorizer {
    /// Build the enforcer over `snapshot`.
    pub async fn build(snapshot: AccessSnapshot) -> Result<Self> {
        let model = DefaultModel::from_str(MODEL).await.map_err(casbin_error)?;
        let mut enforcer = Enforcer::new(model, MemoryAdapter::default())
            .await
            .map_err(casbin_error)?;
        enforcer.add_function("objectCovers", OperatorFunction::Arg2(object_covers));
        let privileges: Vec<Vec<String>> = snapshot
            .rules
            .iter()
            .filter(|r| r.kind == RuleKind::Privilege)
            .map(|r| {
                vec![
                    r.subject.clone(),
                    r.object.clone(),
                    r.action.clone(),
                    r.effect.as_str().to_owned(),
                ]
            })
            .collect();
        if !privileges.is_empty() {
            enforcer
                .add_policies(privileges)
                .await
                .map_err(casbin_error)?;
        }
        let links: Vec<Vec<String>> = snapshot
            .memberships
            .iter()
            .map(|m| vec![m.member.clone(), m.role.clone()])
            .collect();
        if !links.is_empty() {
            enforcer
                .add_grouping_policies(links)
                .await
                .map_err(casbin_error)?;
        }
        let mut on_object: HashMap<String, Vec<usize>> = HashMap::new();
        let mut privileges: HashMap<String, Vec<(usize, Vec<objects::Part>)>> = HashMap::new();
        let mut column_rules: HashMap<String, Vec<(usize, String)>> = HashMap::new();
        for (i, rule) in snapshot.rules.iter().enumerate() {
            let restricts = rule.kind == RuleKind::Mask
                || (rule.kind == RuleKind::Privilege && rule.effect == Effect::Deny);
            if let (true, Some(parts)) = (restricts, objects::split(&rule.object)) {
                if let [objects::Part::Name(_), objects::Part::Name(_), objects::Part::Name(_), objects::Part::Name(column)] =
                    parts.as_slice()
                {
                    column_rules
                        .entry(objects::join(&parts[..3]))
                        .or_default()
                        .push((i, column.clone()));
                }
            }
            if rule.kind != RuleKind::Privilege {
                on_object.entry(rule.object.clone()).or_default().push(i);
            } else if let Some(parts) = objects::split(&rule.object) {
                // (An object that does not split matches nothing in the
                // model either: objectCovers is false for it.)
                privileges
                    .entry(rule.subject.clone())
                    .or_default()
                    .push((i, parts));
            }
        }
        Ok(Self {
            snapshot,
            enforcer,
            cache: Mutex::default(),
            listed: Mutex::default(),
            on_object,
            privileges,
            column_rules,
        })
    }

    /// The row filters (on a table) or masks (on a column) on `object`,
    /// in the order they were stored.
    pub(crate) fn rules_on(&self, object: &str, kind: RuleKind) -> impl Iterator<Item = &Rule> {
        self.on_object
            .get(object)
            .into_iter()
            .flatten()
            .filter_map(|i| self.snapshot.rules.get(*i))
            .filter(move |r| r.kind == kind)
    }

    /// The version of the rules this authorizer decides by.
    pub fn version(&self) -> i64 {
        self.snapshot.version
    }

    /// The rows it was built from.
    pub(crate) fn snapshot(&self) -> &AccessSnapshot {
        &self.snapshot
    }

    /// Whether `subject`'s user is a stored superuser (not inherited
    /// through membership, as in PostgreSQL).
    pub(crate) fn is_superuser(&self, subject: &Subject) -> bool {
        self.snapshot
            .role(&subject.user)
            .is_some_and(|r| r.superuser)
    }

    /// Whether `subject`'s user owns `object` (created it): PostgreSQL's
    /// table owners are not subject to their tables' row policies.
    pub(crate) fn owns(&self, subject: &Subject, object: &str) -> bool {
        self.privileges
            .get(&subject.user)
            .into_iter()
            .flatten()
            .filter_map(|(i, _)| self.snapshot.rules.get(*i))
            .any(|r| r.name == OWNER && r.effect == Effect::Allow && r.object == object)
    }

    /// Every role `subject` holds, nearest first: its user, the roles its
    /// login brought, then the roles those hold (breadth first, each level
    /// in name order), `public` last. The first mask found along this list
    /// is the one a user sees.
    pub(crate) fn effective_roles(&self, subject: &Subject) -> Vec<String> {
        let mut roles: Vec<String> = Vec::new();
        let mut queue: std::collections::VecDeque<String> = std::iter::once(subject.user.clone())
            .chain(subject.roles.iter().cloned())
            .collect();
        while let Some(role) = queue.pop_front() {
            if roles.contains(&role) || role == PUBLIC {
                continue;
            }
            let mut parents: Vec<&str> = self
                .snapshot
                .memberships
                .iter()
                .filter(|m| m.member == role)
                .map(|m| m.role.as_str())
                .collect();
            parents.sort_unstable();
            queue.extend(parents.into_iter().map(str::to_owned));
            roles.push(role);
        }
        roles.push(PUBLIC.to_owned());
        roles
    }

    /// May `subject` do `action` on `object`?
    pub(crate) fn decide(&self, subject: &Subject, object: &str, action: Action) -> Decision {
        let key = (subject.key(), object.to_owned(), action);
        if let Some(d) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return d;
        }
        let decision = self.decide_uncached(subject, object, action);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key, decision.clone());
        }
        decision
    }

    /// The model's answer (`model.conf`): over every direct subject and
    /// every role casbin's role manager says it holds, a matching deny
    /// refuses, else a matching allow grants. The matcher is evaluated here
    /// over the rules of those roles only, objects split once: casbin's
    /// `enforce` runs its matcher (a Rhai script) on every stored rule for
    /// each request, which with a thousand rules made each first decision
    /// cost milliseconds. `the_index_answers_as_casbin_does` checks that
    /// both agree.
    fn decide_uncached(&self, subject: &Subject, object: &str, action: Action) -> Decision {
        let Some(request) = objects::split(object) else {
            return Decision::NotGranted;
        };
        let mut allowed = false;
        for direct in subject.direct() {
            let mut roles = self.enforcer.get_implicit_roles_for_user(direct, None);
            roles.push(direct.to_owned());
            for role in &roles {
                for (i, parts) in self.privileges.get(role).into_iter().flatten() {
                    let Some(rule) = self.snapshot.rules.get(*i) else {
                        continue;
                    };
                    if (rule.action != action.as_str() && rule.action != "all")
                        || !objects::parts_cover(parts, &request)
                    {
                        continue;
                    }
                    match rule.effect {
                        Effect::Deny => {
                            return Decision::Denied {
                                rule: format!(
                                    "DENY {} ON {} TO {}",
                                    rule.action.to_uppercase(),
                                    rule.object,
                                    rule.subject
                                ),
                            }
                        }
                        Effect::Allow => allowed = true,
                    }
                }
            }
        }
        if allowed {
            Decision::Allowed
        } else {
            Decision::NotGranted
        }
    }

    /// casbin's own answer for `subject`: allowed unless any direct
    /// subject's enforcement denies. The reference [`Self::decide`] is
    /// tested against.
    #[cfg(test)]
    fn casbin_allows(&self, subject: &Subject, object: &str, action: Action) -> bool {
        let mut allowed = false;
        for direct in subject.direct() {
            match self.enforcer.enforce((direct, object, action.as_str())) {
                Ok(true) => allowed = true,
                Ok(false) => {
                    let mut roles = self.enforcer.get_implicit_roles_for_user(direct, None);
                    roles.push(direct.to_owned());
                    let denied = self.snapshot.rules.iter().any(|r| {
                        r.kind == RuleKind::Privilege
                            && r.effect == Effect::Deny
                            && roles.contains(&r.subject)
                            && (r.action == action.as_str() || r.action == "all")
                            && objects::covers(&r.object, object)
                    });
                    if denied {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        allowed
    }

    /// Whether `subject` holds any privilege on `object` or on something
    /// inside it (a column of a table): what makes an object visible.
    pub(crate) fn sees(&self, subject: &Subject, object: &str, inside: &[String]) -> bool {
        if self.is_superuser(subject) {
            return true;
        }
        Action::ALL
            .iter()
            .any(|a| self.decide(subject, object, *a).allowed())
            || inside
                .iter()
                .any(|o| self.decide(subject, o, Action::Select).allowed())
    }

    /// Whether `subject` may read all of table `object` as it is: a
    /// table-wide SELECT, and no row filter on it (a filter limits
    /// everyone: no policy of theirs means no rows), and no deny or mask
    /// of its roles on it or its columns. What reading its metadata tables
    /// or its files by another name needs.
    pub(crate) fn reads_whole(&self, subject: &Subject, object: &str) -> bool {
        if self.is_superuser(subject) {
            return true;
        }
        if !self.decide(subject, object, Action::Select).allowed() {
            return false;
        }
        let roles = self.effective_roles(subject);
        !self.snapshot.rules.iter().any(|r| {
            objects::covers(object, &r.object)
                && match r.kind {
                    RuleKind::RowFilter => true,
                    RuleKind::Mask => roles.contains(&r.subject),
                    RuleKind::Privilege => r.effect == Effect::Deny && roles.contains(&r.subject),
                }
        })
    }

    /// A mask or deny of `roles` (a subject's [`Self::effective_roles`])
    /// on a column of table `table` (`catalog.schema.table`) that the table
    /// does not have (`has_column` answers for its columns). Such a rule
    /// was left behind by a rename whose rule change did not land (see
    /// [`crate::rename`]); the table is not read past it.
    pub(crate) fn orphaned_column_rule(
        &self,
        roles: &[String],
        table: &str,
        has_column: impl Fn(&str) -> bool,
    ) -> Option<&Rule> {
        self.column_rules
            .get(table)
            .into_iter()
            .flatten()
            .filter(|(_, column)| !has_column(column))
            .filter_map(|(i, _)| self.snapshot.rules.get(*i))
            .find(|r| roles.contains(&r.subject))
    }

    /// Whether catalog listings and `DESCRIBE` show column `column` of
    /// table `table` (its parts) to `subject`: it holds some privilege on
    /// it, as PostgreSQL's `information_schema.columns` lists them.
    pub(crate) fn lists_column(&self, subject: &Subject, table: [&str; 3], column: &str) -> bool {
        self.sees(
            subject,
            &objects::object_name(&[table[0], table[1], table[2], column]),
            &[],
        )
    }

    /// Whether catalog listings (`information_schema`, `pg_catalog`,
    /// `SHOW TABLES`, psql's `\dt`) show `object` to `subject`: it [`sees`] it,
    /// or some privilege of its roles names something inside it (a table of
    /// a schema, a column of a table). Table schemas are not loaded for
    /// this, so it answers from the rules alone.
    ///
    /// [`sees`]: Self::sees
    pub(crate) fn lists(&self, subject: &Subject, object: &str) -> bool {
        let key = (subject.key(), object.to_owned());
        if let Some(listed) = self.listed.lock().ok().and_then(|c| c.get(&key).copied()) {
            return listed;
        }
        let listed = self.lists_uncached(subject, object);
        if let Ok(mut cache) = self.listed.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key, listed);
        }
        listed
    }

    fn lists_uncached(&self, subject: &Subject, object: &str) -> bool {
        if self.sees(subject, object, &[]) {
            return true;
        }
        let Some(depth) = crate::objects::split(object).map(|p| p.len()) else {
            return false;
        };
        let roles = self.effective_roles(subject);
        self.snapshot.rules.iter().any(|rule| {
            rule.kind == RuleKind::Privilege
                && rule.effect == Effect::Allow
                && roles.contains(&rule.subject)
                && crate::objects::split(&rule.object).is_some_and(|parts| {
                    parts.len() > depth
                        && crate::objects::covers(&crate::objects::join(&parts[..depth]), object)
                })
        })
    }

    /// The stored rules that apply to `subject` (through any of its roles),
    /// for `SHOW GRANTS`.
    pub(crate) fn rules_for(&self, subject: &Subject) -> Vec<(&Rule, String)> {
        let roles = self.effective_roles(subject);
        let mut out = Vec::new();
        for rule in &self.snapshot.rules {
            if let Some(via) = roles.iter().find(|r| **r == rule.subject) {
                out.push((rule, via.clone()));
            }
        }
        out
    }

    /// May `subject` grant `action` on `object` to others? Superusers may;
    /// others need a grant of it `WITH GRANT OPTION` (an owner holds one)
    /// on the object or something containing it, and no deny of it.
    pub(crate) fn may_grant(&self, subject: &Subject, object: &str, action: &str) -> bool {
        if self.is_superuser(subject) {
            return true;
        }
        if let Some(a) = Action::parse(action) {
            if matches!(self.decide(subject, object, a), Decision::Denied { .. }) {
                return false;
            }
        }
        let roles = self.effective_roles(subject);
        self.snapshot.rules.iter().any(|r| {
            r.kind == RuleKind::Privilege
                && r.effect == Effect::Allow
                && r.grant_option
                && roles.contains(&r.subject)
                && (r.action == action || r.action == "all")
                && objects::covers(&r.object, object)
        })
    }
}

fn casbin_error(e: casbin::Error) -> PolicyError {
    PolicyError::Model(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_catalog::access::{Membership, RoleRow};

    fn role(name: &str, superuser: bool) -> RoleRow {
        RoleRow {
            name: name.into(),
            login: true,
            superuser,
            verifier: None,
            origin: "sql".into(),
        }
    }

    fn rule(subject: &str, object: &str, action: &str, effect: Effect) -> Rule {
        Rule {
            kind: RuleKind::Privilege,
            subject: subject.into(),
            object: object.into(),
            action: action.into(),
            effect,
            grant_option: false,
            name: String::new(),
            expression: String::new(),
            grantor: "admin".into(),
        }
    }

    async fn authorizer() -> Authorizer {
        Authorizer::build(AccessSnapshot {
            version: 7,
            roles: vec![
                role("admin", true),
                role("ann", false),
                role("analyst", false),
                role("staff", false),
            ],
            memberships: vec![
                Membership {
                    role: "analyst".into(),
                    member: "ann".into(),
                    grantor: "admin".into(),
                },
                Membership {
                    role: "staff".into(),
                    member: "analyst".into(),
                    grantor: "admin".into(),
                },
            ],
            rules: vec![
                rule("staff", "lake.tpch", "select", Effect::Allow),
                rule(
                    "analyst",
                    "lake.tpch.customer.c_phone",
                    "select",
                    Effect::Deny,
                ),
                rule("public", "lake.pub.*", "all", Effect::Allow),
                rule("auditors", "lake.audit.log", "select", Effect::Allow),
            ],
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn grants_flow_down_the_role_hierarchy_and_denies_win() {
        let a = authorizer().await;
        let ann = Subject::user("ann");
        assert_eq!(
            a.decide(&ann, "lake.tpch.orders", Action::Select),
            Decision::Allowed,
            "staff's schema grant reaches ann through analyst"
        );
        assert_eq!(
            a.decide(&ann, "lake.tpch.customer.c_name", Action::Select),
            Decision::Allowed
        );
        assert!(matches!(
            a.decide(&ann, "lake.tpch.customer.c_phone", Action::Select),
            Decision::Denied { rule } if rule.contains("c_phone") && rule.contains("analyst")
        ));
        assert_eq!(
            a.decide(&ann, "lake.tpch.orders", Action::Insert),
            Decision::NotGranted
        );
        assert_eq!(
            a.decide(
                &Subject::user("staff"),
                "lake.tpch.customer.c_phone",
                Action::Select
            ),
            Decision::Allowed,
            "the deny is analyst's, not staff's"
        );
        assert_eq!(
            a.decide(&Subject::user("nobody"), "lake.pub.t", Action::Insert),
            Decision::Allowed,
            "public's rules apply to everyone"
        );
        assert_eq!(
            a.decide(&Subject::user("nobody"), "lake.tpch.orders", Action::Select),
            Decision::NotGranted
        );
    }

    #[tokio::test]
    async fn roles_from_the_login_count_like_stored_ones() {
        let a = authorizer().await;
        let token_user = Subject {
            user: "tok".into(),
            roles: vec!["auditors".into()],
        };
        assert!(a
            .decide(&token_user, "lake.audit.log", Action::Select)
            .allowed());
        assert!(!a
            .decide(&Subject::user("tok"), "lake.audit.log", Action::Select)
            .allowed());
        let via_analyst = Subject {
            user: "tok".into(),
            roles: vec!["analyst".into()],
        };
        assert!(a
            .decide(&via_analyst, "lake.tpch.orders", Action::Select)
            .allowed());
        assert!(!a
            .decide(&via_analyst, "lake.tpch.customer.c_phone", Action::Select)
            .allowed());
        assert_eq!(
            a.effective_roles(&Subject::user("ann")),
            vec!["ann", "analyst", "staff", "public"]
        );
    }

    #[tokio::test]
    async fn the_index_answers_as_casbin_does() {
        let a = authorizer().await;
        let subjects = [
            Subject::user("ann"),
            Subject::user("analyst"),
            Subject::user("staff"),
            Subject::user("nobody"),
            Subject {
                user: "tok".into(),
                roles: vec!["auditors".into(), "analyst".into()],
            },
        ];
        let objects = [
            "lake",
            "lake.tpch",
            "lake.tpch.orders",
            "lake.tpch.customer.c_phone",
            "lake.tpch.customer.c_name",
            "lake.pub",
            "lake.pub.t",
            "lake.pub.t.x",
            "lake.audit.log",
            "lake.audit.log.who",
            "lake.\"odd.name\".t",
            "warehouse.public.sales",
        ];
        let mut checked = 0;
        for s in &subjects {
            for o in objects {
                for act in Action::ALL {
                    assert_eq!(
                        a.decide_uncached(s, o, act).allowed(),
                        a.casbin_allows(s, o, act),
                        "{s:?} {o} {act:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 5 * 12 * 6);
    }

    #[tokio::test]
    async fn superusers_are_stored_and_not_inherited() {
        let a = authorizer().await;
        assert!(a.is_superuser(&Subject::user("admin")));
        assert!(!a.is_superuser(&Subject::user("ann")));
        assert!(a.sees(&Subject::user("admin"), "lake.secret.t", &[]));
        assert!(!a.sees(&Subject::user("ann"), "lake.secret.t", &[]));
        assert!(a.sees(
            &Subject::user("nobody"),
            "lake.pub.t",
            &["lake.pub.t.a".into()]
        ));
    }
}
