//! Authorization: the authority a principal holds ([`Authority`]), where roles and permissions
//! are kept ([`RoleStore`]), and the guards that check them on every route ([`Guard`]).
//!
//! Every credential kind (JWT, opaque token, cookie session, API key) carries the same
//! [`Authority`], resolved from the user and the role store by the flows (cached for the
//! revocation bound, so a removed role stops working within it). A credential limited by scopes
//! ([`Principal::is_scope_limited`]: every API key, a JWT with a `scope` claim) holds only the
//! part of its owner's authority that its scopes name:
//!
//! | check | a user credential | a scope-limited credential also needs the scope |
//! |-------|-------------------|-------------------------------------------------|
//! | [`Principal::has_permission`] `p` | a role granting `p`, or superuser | `p` |
//! | [`Principal::has_role`] `r` | role `r` | `role:r` |
//! | [`Principal::is_staff`] | staff or superuser | `staff` |
//! | [`Principal::is_superuser`] | superuser | `superuser` |
//!
//! ```
//! use auth_core::{Authority, CredentialMethod, Guard, Principal, UserId};
//! use std::sync::Arc;
//!
//! let mut editor = Principal::new(UserId::new("7"), CredentialMethod::Session);
//! editor.authority = Arc::new(Authority::new().role("editor").permission("articles:edit"));
//! let (parts, _) = http::Request::new(()).into_parts();
//! let now = chrono::Utc::now();
//!
//! let guard = Guard::any_role(["editor", "admin"]).or(Guard::staff());
//! assert!(guard.check(Some(&editor), &parts, now).is_ok());
//! assert!(Guard::permission("articles:delete").check(Some(&editor), &parts, now).is_err());
//! assert!(editor.owns_or(&UserId::new("7"), "articles:delete").is_ok(), "its own article");
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::{AuthError, Principal, Requirements, UserId};

/// The longest role name.
pub const MAX_ROLE_NAME: usize = 64;
/// The longest permission (`resource:action`).
pub const MAX_PERMISSION: usize = 128;

/// What a user may do: flags, roles, the permissions their roles grant, and their tenant.
/// Resolved the same way for every credential kind; read it through the [`Principal`] methods,
/// which also apply a credential's scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Authority {
    /// Staff flag (admin routes).
    pub is_staff: bool,
    /// Superuser flag: every permission.
    pub is_superuser: bool,
    /// Role names: the user type's own ([`AuthUser::roles`](crate::AuthUser::roles)) and those
    /// assigned in the [`RoleStore`].
    pub roles: BTreeSet<String>,
    /// The union of the roles' permissions (`resource:action`).
    pub permissions: BTreeSet<String>,
    /// The user's tenant, if the user type has one.
    pub tenant: Option<String>,
}

impl Authority {
    /// No authority at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the staff flag.
    pub fn staff(mut self, is_staff: bool) -> Self {
        self.is_staff = is_staff;
        self
    }

    /// Sets the superuser flag.
    pub fn superuser(mut self, is_superuser: bool) -> Self {
        self.is_superuser = is_superuser;
        self
    }

    /// Adds a role.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.roles.insert(role.into());
        self
    }

    /// Adds a permission.
    pub fn permission(mut self, permission: impl Into<String>) -> Self {
        self.permissions.insert(permission.into());
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: Option<String>) -> Self {
        self.tenant = tenant;
        self
    }

    /// Whether the user holds `permission`: a superuser holds every one.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.is_superuser || self.permissions.contains(permission)
    }
}

/// Checks a role name: 1 to [`MAX_ROLE_NAME`] characters of `a-z`, `0-9`, `_`, `-`, `.`.
pub fn validate_role_name(name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_ROLE_NAME
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AuthError::invalid_field(
            "role",
            format!("1 to {MAX_ROLE_NAME} characters of a-z, 0-9, '_', '-' and '.'"),
        ))
    }
}

/// Checks a permission: `resource:action`, each part of `a-z`, `0-9`, `_`, `-`, `.`, at most
/// [`MAX_PERMISSION`] characters in all.
pub fn validate_permission(permission: &str) -> Result<(), AuthError> {
    let part = |p: &str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b))
    };
    let ok = permission.len() <= MAX_PERMISSION
        && permission.split_once(':').is_some_and(|(resource, action)| part(resource) && part(action));
    if ok {
        Ok(())
    } else {
        Err(AuthError::invalid_field(
            "permission",
            format!("`resource:action` of a-z, 0-9, '_', '-' and '.', at most {MAX_PERMISSION} characters"),
        ))
    }
}

/// A role and the permissions it grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Role {
    /// The name ([`validate_role_name`]).
    pub name: String,
    /// A free-text description.
    pub description: String,
    /// The permissions it grants, sorted.
    pub permissions: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Role {
    /// A role without permissions (for store implementations).
    pub fn new(name: impl Into<String>, description: impl Into<String>, created_at: DateTime<Utc>) -> Self {
        Self { name: name.into(), description: description.into(), permissions: Vec::new(), created_at }
    }
}

/// Where roles, their permissions and the users' role assignments are kept. Implementations:
/// [`MemoryRoleStore`] and auth-sea-orm's `SeaOrmRoleStore`; both pass
/// [`testing::role_store_conformance`](crate::testing::role_store_conformance).
///
/// Names arrive validated ([`validate_role_name`], [`validate_permission`]). Every method is one
/// atomic change: granting to or assigning a role that is being deleted either happens before
/// the deletion (and is deleted with it) or fails with [`AuthError::NotFound`].
#[async_trait]
pub trait RoleStore: fmt::Debug + Send + Sync + 'static {
    /// Creates a role; `false` (and no change) when one with this name exists.
    async fn create_role(&self, name: &str, description: &str, now: DateTime<Utc>)
    -> Result<bool, AuthError>;
    /// Deletes a role with its permissions and assignments; `false` when there is none.
    async fn delete_role(&self, name: &str) -> Result<bool, AuthError>;
    /// One role with its permissions.
    async fn find_role(&self, name: &str) -> Result<Option<Role>, AuthError>;
    /// Every role with its permissions, by name.
    async fn list_roles(&self) -> Result<Vec<Role>, AuthError>;
    /// Grants `permission` to `role`; `false` when it already had it, [`AuthError::NotFound`]
    /// when there is no such role.
    async fn grant_permission(&self, role: &str, permission: &str) -> Result<bool, AuthError>;
    /// Takes `permission` from `role`; `false` when it did not have it.
    async fn revoke_permission(&self, role: &str, permission: &str) -> Result<bool, AuthError>;
    /// Assigns `role` to `user`; `false` when already assigned, [`AuthError::NotFound`] when
    /// there is no such role.
    async fn assign_role(&self, user: &UserId, role: &str) -> Result<bool, AuthError>;
    /// Removes `role` from `user`; `false` when it was not assigned.
    async fn unassign_role(&self, user: &UserId, role: &str) -> Result<bool, AuthError>;
    /// The roles assigned to `user`, sorted.
    async fn roles_of(&self, user: &UserId) -> Result<Vec<String>, AuthError>;
    /// The users `role` is assigned to.
    async fn users_with_role(&self, role: &str) -> Result<Vec<UserId>, AuthError>;
    /// The union of the permissions of `roles`, sorted; unknown roles grant nothing.
    async fn permissions_of(&self, roles: &[String]) -> Result<Vec<String>, AuthError>;
    /// Removes every assignment of `user` (their account is deleted).
    async fn remove_user(&self, user: &UserId) -> Result<(), AuthError>;

    /// The effective roles and permissions of `user`, whose user type carries `own_roles`
    /// itself. Stores may answer it with one query.
    async fn authority_of(
        &self,
        user: &UserId,
        own_roles: &[String],
    ) -> Result<(BTreeSet<String>, BTreeSet<String>), AuthError> {
        let mut roles: BTreeSet<String> = own_roles.iter().cloned().collect();
        roles.extend(self.roles_of(user).await?);
        let list: Vec<String> = roles.iter().cloned().collect();
        let permissions = self.permissions_of(&list).await?.into_iter().collect();
        Ok((roles, permissions))
    }
}

/// A role store shared between the flows and the admin endpoints.
pub type SharedRoleStore = Arc<dyn RoleStore>;

/// An in-memory [`RoleStore`] for tests and single-process apps.
#[derive(Debug, Default)]
pub struct MemoryRoleStore {
    inner: RwLock<MemoryRoles>,
}

#[derive(Debug, Default)]
struct MemoryRoles {
    roles: BTreeMap<String, Role>,
    assignments: BTreeMap<UserId, BTreeSet<String>>,
}

impl MemoryRoleStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, MemoryRoles> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, MemoryRoles> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl RoleStore for MemoryRoleStore {
    async fn create_role(
        &self,
        name: &str,
        description: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        let mut inner = self.write();
        if inner.roles.contains_key(name) {
            return Ok(false);
        }
        inner.roles.insert(name.to_owned(), Role::new(name, description, now));
        Ok(true)
    }

    async fn delete_role(&self, name: &str) -> Result<bool, AuthError> {
        let mut inner = self.write();
        if inner.roles.remove(name).is_none() {
            return Ok(false);
        }
        for roles in inner.assignments.values_mut() {
            roles.remove(name);
        }
        Ok(true)
    }

    async fn find_role(&self, name: &str) -> Result<Option<Role>, AuthError> {
        Ok(self.read().roles.get(name).cloned())
    }

    async fn list_roles(&self) -> Result<Vec<Role>, AuthError> {
        Ok(self.read().roles.values().cloned().collect())
    }

    async fn grant_permission(&self, role: &str, permission: &str) -> Result<bool, AuthError> {
        let mut inner = self.write();
        let role = inner.roles.get_mut(role).ok_or(AuthError::NotFound)?;
        if role.permissions.iter().any(|p| p == permission) {
            return Ok(false);
        }
        role.permissions.push(permission.to_owned());
        role.permissions.sort();
        Ok(true)
    }

    async fn revoke_permission(&self, role: &str, permission: &str) -> Result<bool, AuthError> {
        let mut inner = self.write();
        let Some(role) = inner.roles.get_mut(role) else { return Ok(false) };
        let before = role.permissions.len();
        role.permissions.retain(|p| p != permission);
        Ok(role.permissions.len() != before)
    }

    async fn assign_role(&self, user: &UserId, role: &str) -> Result<bool, AuthError> {
        let mut inner = self.write();
        if !inner.roles.contains_key(role) {
            return Err(AuthError::NotFound);
        }
        Ok(inner.assignments.entry(user.clone()).or_default().insert(role.to_owned()))
    }

    async fn unassign_role(&self, user: &UserId, role: &str) -> Result<bool, AuthError> {
        Ok(self.write().assignments.get_mut(user).is_some_and(|roles| roles.remove(role)))
    }

    async fn roles_of(&self, user: &UserId) -> Result<Vec<String>, AuthError> {
        Ok(self.read().assignments.get(user).map(|r| r.iter().cloned().collect()).unwrap_or_default())
    }

    async fn users_with_role(&self, role: &str) -> Result<Vec<UserId>, AuthError> {
        let inner = self.read();
        Ok(inner
            .assignments
            .iter()
            .filter(|(_, roles)| roles.contains(role))
            .map(|(u, _)| u.clone())
            .collect())
    }

    async fn permissions_of(&self, roles: &[String]) -> Result<Vec<String>, AuthError> {
        let inner = self.read();
        let set: BTreeSet<&String> =
            roles.iter().filter_map(|r| inner.roles.get(r)).flat_map(|r| r.permissions.iter()).collect();
        Ok(set.into_iter().cloned().collect())
    }

    async fn remove_user(&self, user: &UserId) -> Result<(), AuthError> {
        self.write().assignments.remove(user);
        Ok(())
    }
}

/// The path parameters of the matched route, put into the request extensions by the adapters'
/// guards, for [`Guard::tenant_param`] and [`Guard::custom`] predicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(pub Vec<(String, String)>);

impl PathParams {
    /// The value of the parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// An app-defined predicate of a [`Guard::custom`] guard.
type Predicate = dyn Fn(&Principal, &Parts) -> bool + Send + Sync;

#[derive(Clone)]
enum Rule {
    Authenticated,
    Staff,
    Superuser,
    AnyRole(Vec<String>),
    AllPermissions(Vec<String>),
    Scope(String),
    Tenant(String),
    TenantParam(String),
    Mfa,
    RecentAuth(Duration),
    All(Vec<Guard>),
    Any(Vec<Guard>),
    ReadOnlyOr(Guard),
    Custom(Arc<Predicate>),
}

/// A rule a request must meet, checked by the adapters' layers (`RequireAuthLayer` in
/// auth-axum, `RequireAuth` in auth-poem) and extractors (`Authorized<P>`), and by handlers with
/// [`Guard::check`]. Guards compose with [`and`](Guard::and) / [`or`](Guard::or) and
/// [`or_read_only`](Guard::or_read_only).
///
/// Answers: no credential where one is needed is 401 `not_authenticated`; a missing scope is
/// 403 `insufficient_scope` (with `WWW-Authenticate`); no second factor 403 `mfa_required`; a
/// sign-in too old 403 `reauthentication_required`; every other refusal 403 `permission_denied`.
/// An [`any`](Guard::any) that fails answers with its first branch's refusal.
///
/// | guard | passes when |
/// |-------|-------------|
/// | [`authenticated`](Guard::authenticated) | a valid credential |
/// | [`staff`](Guard::staff) | [`Principal::is_staff`] |
/// | [`superuser`](Guard::superuser) | [`Principal::is_superuser`] |
/// | [`any_role`](Guard::any_role) | [`Principal::has_role`] for one of them |
/// | [`all_permissions`](Guard::all_permissions) | [`Principal::has_permission`] for each |
/// | [`scope`](Guard::scope) | [`Principal::allows_scope`] |
/// | [`tenant`](Guard::tenant) | the principal's tenant is this one |
/// | [`tenant_param`](Guard::tenant_param) | the principal's tenant is the path parameter's value |
/// | [`mfa`](Guard::mfa) | a second factor at sign-in |
/// | [`recent_auth`](Guard::recent_auth) | a sign-in at most this old |
/// | [`custom`](Guard::custom) | the app's predicate |
/// | `g.`[`or_read_only`](Guard::or_read_only)`()` | a safe method (GET, HEAD, OPTIONS), even anonymous; else `g` |
#[derive(Clone)]
pub struct Guard {
    rule: Arc<Rule>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.rule {
            Rule::Authenticated => f.write_str("Authenticated"),
            Rule::Staff => f.write_str("Staff"),
            Rule::Superuser => f.write_str("Superuser"),
            Rule::AnyRole(r) => f.debug_tuple("AnyRole").field(r).finish(),
            Rule::AllPermissions(p) => f.debug_tuple("AllPermissions").field(p).finish(),
            Rule::Scope(s) => f.debug_tuple("Scope").field(s).finish(),
            Rule::Tenant(t) => f.debug_tuple("Tenant").field(t).finish(),
            Rule::TenantParam(p) => f.debug_tuple("TenantParam").field(p).finish(),
            Rule::Mfa => f.write_str("Mfa"),
            Rule::RecentAuth(d) => f.debug_tuple("RecentAuth").field(d).finish(),
            Rule::All(g) => f.debug_tuple("All").field(g).finish(),
            Rule::Any(g) => f.debug_tuple("Any").field(g).finish(),
            Rule::ReadOnlyOr(g) => f.debug_tuple("ReadOnlyOr").field(g).finish(),
            Rule::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Default for Guard {
    /// [`Guard::authenticated`].
    fn default() -> Self {
        Self::authenticated()
    }
}

fn names<I, T>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = T>,
    T: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

impl Guard {
    fn of(rule: Rule) -> Self {
        Self { rule: Arc::new(rule) }
    }

    /// A valid credential of any kind (DRF's `IsAuthenticated`).
    pub fn authenticated() -> Self {
        Self::of(Rule::Authenticated)
    }

    /// A staff user, or a superuser (DRF's `IsAdminUser`).
    pub fn staff() -> Self {
        Self::of(Rule::Staff)
    }

    /// A superuser.
    pub fn superuser() -> Self {
        Self::of(Rule::Superuser)
    }

    /// One role.
    pub fn role(role: impl Into<String>) -> Self {
        Self::any_role([role.into()])
    }

    /// At least one of `roles`. Roles are not permissions: a superuser passes only if it has one
    /// (compose with `.or(Guard::superuser())`).
    pub fn any_role<I, T>(roles: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::of(Rule::AnyRole(names(roles)))
    }

    /// One permission (a superuser has every one).
    pub fn permission(permission: impl Into<String>) -> Self {
        Self::all_permissions([permission.into()])
    }

    /// Every one of `permissions`.
    pub fn all_permissions<I, T>(permissions: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::of(Rule::AllPermissions(names(permissions)))
    }

    /// `scope` of every credential limited by scopes ([`Principal::allows_scope`]).
    pub fn scope(scope: impl Into<String>) -> Self {
        Self::of(Rule::Scope(scope.into()))
    }

    /// A user of this tenant.
    pub fn tenant(tenant: impl Into<String>) -> Self {
        Self::of(Rule::Tenant(tenant.into()))
    }

    /// A user whose tenant is the value of the route's path parameter `param` (mount the layer
    /// with `route_layer` on axum, so that the route is matched first; without the parameter the
    /// guard refuses).
    pub fn tenant_param(param: impl Into<String>) -> Self {
        Self::of(Rule::TenantParam(param.into()))
    }

    /// A sign-in with a second factor ([`Principal::require_mfa`]).
    pub fn mfa() -> Self {
        Self::of(Rule::Mfa)
    }

    /// A sign-in at most `max_age` old ([`Principal::require_recent_auth`]).
    pub fn recent_auth(max_age: Duration) -> Self {
        Self::of(Rule::RecentAuth(max_age))
    }

    /// An app-defined predicate over the authenticated principal and the request head (whose
    /// extensions hold the route's [`PathParams`]): `false` is 403 `permission_denied`.
    ///
    /// ```
    /// use auth_core::{Guard, PathParams};
    /// let own_profile = Guard::custom(|principal, parts| {
    ///     parts.extensions.get::<PathParams>().and_then(|p| p.get("user_id"))
    ///         == Some(principal.user_id.as_str())
    /// });
    /// # let _ = own_profile;
    /// ```
    pub fn custom<F>(predicate: F) -> Self
    where
        F: Fn(&Principal, &Parts) -> bool + Send + Sync + 'static,
    {
        Self::of(Rule::Custom(Arc::new(predicate)))
    }

    /// Every one of `guards` (an empty list: [`Guard::authenticated`]).
    pub fn all<I: IntoIterator<Item = Guard>>(guards: I) -> Self {
        let guards: Vec<Guard> = guards.into_iter().collect();
        if guards.is_empty() { Self::authenticated() } else { Self::of(Rule::All(guards)) }
    }

    /// At least one of `guards` (an empty list refuses everyone).
    pub fn any<I: IntoIterator<Item = Guard>>(guards: I) -> Self {
        Self::of(Rule::Any(guards.into_iter().collect()))
    }

    /// This guard and `other`, checked in that order.
    pub fn and(self, other: Guard) -> Self {
        match &*self.rule {
            Rule::All(guards) => {
                let mut guards = guards.clone();
                guards.push(other);
                Self::of(Rule::All(guards))
            }
            _ => Self::of(Rule::All(vec![self, other])),
        }
    }

    /// This guard or `other`.
    pub fn or(self, other: Guard) -> Self {
        match &*self.rule {
            Rule::Any(guards) => {
                let mut guards = guards.clone();
                guards.push(other);
                Self::of(Rule::Any(guards))
            }
            _ => Self::of(Rule::Any(vec![self, other])),
        }
    }

    /// Safe methods (GET, HEAD, OPTIONS) pass, even without a credential; other methods need
    /// this guard. `Guard::authenticated().or_read_only()` is DRF's `IsAuthenticatedOrReadOnly`.
    pub fn or_read_only(self) -> Self {
        Self::of(Rule::ReadOnlyOr(self))
    }

    /// Safe methods public, unsafe ones need a credential: `authenticated().or_read_only()`.
    pub fn read_only_for_anonymous() -> Self {
        Self::authenticated().or_read_only()
    }

    /// Checks the request (`principal` is `None` when it presented no credential) at `now`.
    pub fn check(
        &self,
        principal: Option<&Principal>,
        parts: &Parts,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        match &*self.rule {
            Rule::All(guards) => {
                for guard in guards {
                    guard.check(principal, parts, now)?;
                }
                Ok(())
            }
            Rule::Any(guards) => {
                let mut first = None;
                for guard in guards {
                    match guard.check(principal, parts, now) {
                        Ok(()) => return Ok(()),
                        Err(error) => {
                            first.get_or_insert(error);
                        }
                    }
                }
                Err(first.unwrap_or(match principal {
                    None => AuthError::MissingCredentials,
                    Some(_) => AuthError::Forbidden,
                }))
            }
            Rule::ReadOnlyOr(guard) => {
                if is_safe_method(&parts.method) {
                    Ok(())
                } else {
                    guard.check(principal, parts, now)
                }
            }
            rule => match principal {
                None => Err(AuthError::MissingCredentials),
                Some(principal) => check_rule(rule, principal, parts, now),
            },
        }
    }
}

impl From<Requirements> for Guard {
    /// The guard of [`Requirements::check`]: authenticated, then scope, MFA and age.
    fn from(requirements: Requirements) -> Self {
        let mut guard = Guard::authenticated();
        if let Some(scope) = requirements.scope {
            guard = guard.and(Guard::scope(scope));
        }
        if requirements.mfa {
            guard = guard.and(Guard::mfa());
        }
        if let Some(max_age) = requirements.max_auth_age {
            guard = guard.and(Guard::recent_auth(max_age));
        }
        guard
    }
}

/// GET, HEAD and OPTIONS.
fn is_safe_method(method: &http::Method) -> bool {
    matches!(*method, http::Method::GET | http::Method::HEAD | http::Method::OPTIONS)
}

fn allow(passes: bool) -> Result<(), AuthError> {
    if passes { Ok(()) } else { Err(AuthError::Forbidden) }
}

fn check_rule(
    rule: &Rule,
    principal: &Principal,
    parts: &Parts,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    match rule {
        Rule::Authenticated => Ok(()),
        Rule::Staff => allow(principal.is_staff()),
        Rule::Superuser => allow(principal.is_superuser()),
        Rule::AnyRole(roles) => allow(roles.iter().any(|r| principal.has_role(r))),
        Rule::AllPermissions(permissions) => allow(permissions.iter().all(|p| principal.has_permission(p))),
        Rule::Scope(scope) => principal.require_scope(scope),
        Rule::Tenant(tenant) => allow(principal.tenant() == Some(tenant.as_str())),
        Rule::TenantParam(param) => {
            let wanted = parts.extensions.get::<PathParams>().and_then(|p| p.get(param));
            allow(wanted.is_some() && principal.tenant() == wanted)
        }
        Rule::Mfa => principal.require_mfa(),
        Rule::RecentAuth(max_age) => principal.require_recent_auth(*max_age, now),
        Rule::Custom(predicate) => allow(predicate(principal, parts)),
        Rule::All(_) | Rule::Any(_) | Rule::ReadOnlyOr(_) => {
            Guard { rule: Arc::new(rule.clone()) }.check(Some(principal), parts, now)
        }
    }
}

/// A guard as a type, for the adapters' `Authorized<P>` extractors. Declare one with
/// [`policy!`](crate::policy):
///
/// ```
/// auth_core::policy! {
///     /// Editors and superusers.
///     pub Editors = auth_core::Guard::role("editor").or(auth_core::Guard::superuser())
/// }
/// use auth_core::Policy;
/// assert!(format!("{:?}", Editors::guard()).contains("editor"));
/// ```
pub trait Policy: Send + Sync + 'static {
    /// The guard (built once and shared).
    fn guard() -> Guard;
}

/// Declares a [`Policy`] type: `policy! { pub Name = <guard expression> }`. The guard is built
/// on first use and shared.
#[macro_export]
macro_rules! policy {
    ($(#[$meta:meta])* $vis:vis $name:ident = $guard:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;

        impl $crate::Policy for $name {
            fn guard() -> $crate::Guard {
                static GUARD: ::std::sync::OnceLock<$crate::Guard> = ::std::sync::OnceLock::new();
                GUARD.get_or_init(|| $guard).clone()
            }
        }
    };
}

policy! {
    /// [`Guard::authenticated`] as a [`Policy`].
    pub IsAuthenticated = Guard::authenticated()
}

policy! {
    /// [`Guard::staff`] as a [`Policy`] (DRF's `IsAdminUser`).
    pub IsStaff = Guard::staff()
}

policy! {
    /// [`Guard::superuser`] as a [`Policy`].
    pub IsSuperuser = Guard::superuser()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::CredentialMethod;

    fn principal(method: CredentialMethod, authority: Authority, scopes: &[&str]) -> Principal {
        let mut p = Principal::new(UserId::new("u1"), method);
        p.authority = Arc::new(authority);
        p.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        p
    }

    fn parts(method: http::Method) -> Parts {
        http::Request::builder().method(method).body(()).unwrap().into_parts().0
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn scopes_narrow_every_kind_of_authority() {
        let owner =
            Authority::new().staff(true).role("editor").permission("notes:read").permission("notes:write");
        let key = principal(CredentialMethod::ApiKey, owner.clone(), &["notes:read", "role:editor"]);
        assert!(key.has_permission("notes:read"));
        assert!(!key.has_permission("notes:write"), "the owner has it, the key's scopes do not");
        assert!(key.has_role("editor"));
        assert!(!key.is_staff(), "staff needs the `staff` scope");
        let session = principal(CredentialMethod::Session, owner, &[]);
        assert!(session.has_permission("notes:write") && session.is_staff());
    }

    #[test]
    fn superuser_has_every_permission_but_not_every_role() {
        let root = principal(CredentialMethod::Jwt, Authority::new().superuser(true), &[]);
        assert!(root.has_permission("anything:at-all") && root.is_staff() && root.is_superuser());
        assert!(!root.has_role("editor"));
    }

    #[test]
    fn anonymous_needs_a_credential_except_for_safe_methods_under_or_read_only() {
        let guard = Guard::permission("notes:write").or_read_only();
        assert!(guard.check(None, &parts(http::Method::GET), now()).is_ok());
        assert!(matches!(
            guard.check(None, &parts(http::Method::POST), now()),
            Err(AuthError::MissingCredentials)
        ));
        let user = principal(CredentialMethod::Jwt, Authority::new(), &[]);
        assert!(matches!(
            guard.check(Some(&user), &parts(http::Method::POST), now()),
            Err(AuthError::Forbidden)
        ));
        assert!(Guard::all([]).check(None, &parts(http::Method::GET), now()).is_err(), "fails closed");
        assert!(Guard::any([]).check(Some(&user), &parts(http::Method::GET), now()).is_err());
        assert!(matches!(
            Guard::any([]).check(None, &parts(http::Method::GET), now()),
            Err(AuthError::MissingCredentials)
        ));
    }

    #[test]
    fn composition_answers_with_the_first_refusal() {
        let user =
            principal(CredentialMethod::Jwt, Authority::new().role("viewer"), &["notes:read", "role:viewer"]);
        let get = parts(http::Method::GET);
        let guard = Guard::scope("notes:write").or(Guard::staff());
        assert!(matches!(guard.check(Some(&user), &get, now()), Err(AuthError::InsufficientScope(_))));
        let guard = Guard::role("viewer").and(Guard::scope("notes:read"));
        assert!(guard.check(Some(&user), &get, now()).is_ok());
        let guard = Guard::role("viewer").and(Guard::mfa());
        assert!(matches!(guard.check(Some(&user), &get, now()), Err(AuthError::MfaRequired)));
    }

    #[test]
    fn tenant_guards_match_claim_or_path_parameter() {
        let user = principal(CredentialMethod::Session, Authority::new().tenant(Some("acme".into())), &[]);
        let mut get = parts(http::Method::GET);
        assert!(Guard::tenant("acme").check(Some(&user), &get, now()).is_ok());
        assert!(Guard::tenant("globex").check(Some(&user), &get, now()).is_err());
        assert!(
            Guard::tenant_param("tenant").check(Some(&user), &get, now()).is_err(),
            "no parameter: refused"
        );
        get.extensions.insert(PathParams(vec![("tenant".into(), "acme".into())]));
        assert!(Guard::tenant_param("tenant").check(Some(&user), &get, now()).is_ok());
        let nobody = principal(CredentialMethod::Session, Authority::new(), &[]);
        assert!(Guard::tenant_param("tenant").check(Some(&nobody), &get, now()).is_err());
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_role_name("editor").is_ok() && validate_role_name("Editor").is_err());
        assert!(validate_role_name("").is_err() && validate_role_name(&"a".repeat(65)).is_err());
        assert!(validate_permission("notes:delete").is_ok());
        for bad in ["notes", ":x", "x:", "a:b:c", "Notes:x", "a b:c"] {
            assert!(validate_permission(bad).is_err(), "{bad}");
        }
    }
}
