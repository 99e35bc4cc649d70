//! Managing authority: the admin flows behind `/api/auth/admin/...` — users (list, read, change
//! flags and roles, sign out everywhere) and roles (create, delete, grant and revoke
//! permissions). Every change is audited with its actor and target and takes effect for the
//! affected users' credentials within the user-state bound ([`FlowConfig::user_state_ttl`]
//! (crate::FlowConfig::user_state_ttl), at once in this process).
//!
//! Who may do what:
//! - the user endpoints need [`USERS_MANAGE`] (a superuser has it), the role endpoints
//!   [`ROLES_MANAGE`];
//! - only a superuser changes `is_staff` or `is_superuser`;
//! - a user manager who is not a superuser assigns or removes only roles whose every permission
//!   they hold themselves (no one grants more than they have);
//! - only a superuser changes or signs out a superuser's account;
//! - nobody deactivates, demotes or removes the superuser flag of their own account here (no
//!   lock-out by a slip).

use std::collections::BTreeSet;

use auth_core::audit::AuditKind;
use auth_core::{
    AuthError, AuthUser, Principal, Role, SharedRoleStore, UserId, UserQuery, UserStore, UserUpdate,
    validate_permission, validate_role_name,
};
use serde::{Deserialize, Serialize};

use crate::AuthService;

/// The permission of the admin user endpoints.
pub const USERS_MANAGE: &str = "users:manage";
/// The permission of the admin role endpoints.
pub const ROLES_MANAGE: &str = "roles:manage";
/// The permission of the revocation feed (`GET /api/auth/revocations`), for services that
/// verify Portcullis's tokens themselves.
pub const REVOCATIONS_READ: &str = "revocations:read";
/// The most users one page of `GET /api/auth/admin/users` holds.
pub const MAX_USERS_PAGE: usize = 200;

/// `PATCH /api/auth/admin/users/{id}` body: the fields to change; any other field is refused
/// with a 400 and nothing changes.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminUserUpdate {
    /// Activate (`true`) or deactivate (`false`: every credential of the user is revoked).
    #[serde(default)]
    pub is_active: Option<bool>,
    /// The staff flag (superusers only).
    #[serde(default)]
    pub is_staff: Option<bool>,
    /// The superuser flag (superusers only).
    #[serde(default)]
    pub is_superuser: Option<bool>,
    /// The roles assigned in the role store, exactly (roles the user type carries itself stay).
    #[serde(default)]
    pub roles: Option<Vec<String>>,
}

/// `POST /api/auth/admin/roles` body.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CreateRoleRequest {
    /// The name: 1 to 64 characters of `a-z`, `0-9`, `_`, `-`, `.`.
    pub name: String,
    /// A free-text description (at most 256 characters).
    #[serde(default)]
    pub description: String,
    /// Permissions to grant at once (`resource:action`).
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// `POST /api/auth/admin/roles/{name}/permissions` body.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GrantPermissionRequest {
    /// The permission (`resource:action`).
    pub permission: String,
}

/// A page of users.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UserPage {
    /// The users' admin views ([`AuthService::admin_view`]).
    pub results: Vec<serde_json::Value>,
    /// The cursor of the next page, when there may be one.
    pub next_cursor: Option<String>,
}

impl<S: UserStore> AuthService<S> {
    fn role_store_or_404(&self) -> Result<&SharedRoleStore, AuthError> {
        self.roles.as_ref().ok_or(AuthError::NotFound)
    }

    /// A user's admin view: the profile (`/me`'s fields) with the effective `roles`, the
    /// `assigned_roles` of the role store, the `permissions` and the `tenant`.
    pub async fn admin_view(&self, user: &S::User) -> Result<serde_json::Value, AuthError> {
        let authority = self.user_state.resolve_authority(user).await?;
        let assigned = match &self.roles {
            Some(store) => store.roles_of(&user.id()).await?,
            None => Vec::new(),
        };
        let mut view = user.profile();
        if let Some(fields) = view.as_object_mut() {
            fields.insert("roles".into(), serde_json::json!(authority.roles));
            fields.insert("assigned_roles".into(), serde_json::json!(assigned));
            fields.insert("permissions".into(), serde_json::json!(authority.permissions));
            fields.insert("tenant".into(), serde_json::json!(authority.tenant));
        }
        Ok(view)
    }

    async fn target(&self, id: &str) -> Result<S::User, AuthError> {
        if id.is_empty() {
            return Err(AuthError::NotFound);
        }
        self.store().find_by_id(&UserId::new(id)).await?.ok_or(AuthError::NotFound)
    }

    /// `GET /api/auth/admin/users`: users whose username or email contains `search`, by id,
    /// after `cursor`, at most `limit` (1 to [`MAX_USERS_PAGE`]).
    pub async fn admin_list_users(
        &self,
        principal: &Principal,
        search: Option<String>,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<UserPage, AuthError> {
        principal.require_permission(USERS_MANAGE)?;
        let limit = limit.clamp(1, MAX_USERS_PAGE);
        let query = UserQuery::new(limit).search(search).after(cursor.map(UserId::new));
        let users = self.store().list_users(&query).await?;
        let next_cursor = (users.len() == limit).then(|| users.last().map(|u| u.id().to_string())).flatten();
        let mut results = Vec::with_capacity(users.len());
        for user in &users {
            results.push(self.admin_view(user).await?);
        }
        Ok(UserPage { results, next_cursor })
    }

    /// `GET /api/auth/admin/users/{id}`.
    pub async fn admin_get_user(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<serde_json::Value, AuthError> {
        principal.require_permission(USERS_MANAGE)?;
        let user = self.target(id).await?;
        self.admin_view(&user).await
    }

    /// `PATCH /api/auth/admin/users/{id}`: see the module's rules. Returns the user's new view.
    pub async fn admin_update_user(
        &self,
        principal: &Principal,
        id: &str,
        update: AdminUserUpdate,
    ) -> Result<serde_json::Value, AuthError> {
        principal.require_permission(USERS_MANAGE)?;
        let user = self.target(id).await?;
        let user_id = user.id();
        let actor = principal.user_id.to_string();
        let itself = principal.user_id == user_id;
        let flags = update.is_staff.is_some() || update.is_superuser.is_some();
        if (flags || user.is_superuser()) && !principal.is_superuser() {
            return Err(AuthError::Forbidden);
        }
        if itself && (update.is_active == Some(false) || update.is_superuser == Some(false)) {
            let field = if update.is_active == Some(false) { "is_active" } else { "is_superuser" };
            return Err(AuthError::invalid_field(field, "an administrator cannot lock themselves out"));
        }
        // Roles: validated and checked against the actor's authority before anything changes.
        let role_changes = match &update.roles {
            None => None,
            Some(wanted) => {
                let store = self
                    .roles
                    .as_ref()
                    .ok_or_else(|| AuthError::invalid_field("roles", "no role store is configured"))?;
                let mut wanted_set = BTreeSet::new();
                for role in wanted {
                    validate_role_name(role)
                        .map_err(|_| AuthError::invalid_field("roles", "an invalid role name"))?;
                    if store.find_role(role).await?.is_none() {
                        return Err(AuthError::invalid_field("roles", format!("no role named {role:?}")));
                    }
                    wanted_set.insert(role.clone());
                }
                let current: BTreeSet<String> = store.roles_of(&user_id).await?.into_iter().collect();
                let added: Vec<String> = wanted_set.difference(&current).cloned().collect();
                let removed: Vec<String> = current.difference(&wanted_set).cloned().collect();
                if !principal.is_superuser() {
                    let changed: Vec<String> = added.iter().chain(&removed).cloned().collect();
                    for permission in store.permissions_of(&changed).await? {
                        if !principal.has_permission(&permission) {
                            return Err(AuthError::Forbidden);
                        }
                    }
                }
                Some((added, removed))
            }
        };
        let mut flags = UserUpdate::new();
        flags.is_staff = update.is_staff;
        flags.is_superuser = update.is_superuser;
        let mut changed: Vec<&str> = Vec::new();
        if !flags.is_empty() {
            let result = self.store().update_user(&user_id, flags).await;
            self.user_state.invalidate(&user_id);
            result.map_err(|e| AuthError::backend(e.to_string()))?.ok_or(AuthError::NotFound)?;
            changed.extend(update.is_staff.map(|_| "is_staff"));
            changed.extend(update.is_superuser.map(|_| "is_superuser"));
        }
        if let Some((added, removed)) = role_changes {
            let store = self.role_store_or_404()?;
            for role in &added {
                match store.assign_role(&user_id, role).await {
                    // Deleted meanwhile: nothing to assign.
                    Ok(_) | Err(AuthError::NotFound) => {}
                    Err(other) => return Err(other),
                }
                self.user_state.invalidate(&user_id);
                self.audit(AuditKind::RoleAssigned, Some(&user_id), &[("role", role), ("actor", &actor)])
                    .await;
            }
            for role in &removed {
                store.unassign_role(&user_id, role).await?;
                self.user_state.invalidate(&user_id);
                self.audit(AuditKind::RoleUnassigned, Some(&user_id), &[("role", role), ("actor", &actor)])
                    .await;
            }
        }
        if let Some(active) = update.is_active
            && active != user.is_active()
        {
            self.set_active(&user_id, active).await?;
            changed.push("is_active");
        }
        if !changed.is_empty() {
            let fields = changed.join(",");
            self.audit(
                AuditKind::AdminUserUpdated,
                Some(&user_id),
                &[("actor", &actor), ("fields", &fields)],
            )
            .await;
        }
        let user = self.target(id).await?;
        self.admin_view(&user).await
    }

    /// `POST /api/auth/admin/users/{id}/sign-out-all`: revokes every grant and token of the user.
    pub async fn admin_sign_out_user(&self, principal: &Principal, id: &str) -> Result<(), AuthError> {
        principal.require_permission(USERS_MANAGE)?;
        let user = self.target(id).await?;
        if user.is_superuser() && !principal.is_superuser() {
            return Err(AuthError::Forbidden);
        }
        let user_id = user.id();
        self.sign_out_all(&user_id).await?;
        let actor = principal.user_id.to_string();
        self.audit(AuditKind::AdminSignedOutUser, Some(&user_id), &[("actor", &actor)]).await;
        Ok(())
    }

    /// `GET /api/auth/admin/roles`.
    pub async fn admin_list_roles(&self, principal: &Principal) -> Result<Vec<Role>, AuthError> {
        principal.require_permission(ROLES_MANAGE)?;
        self.role_store_or_404()?.list_roles().await
    }

    /// `GET /api/auth/admin/roles/{name}`.
    pub async fn admin_get_role(&self, principal: &Principal, name: &str) -> Result<Role, AuthError> {
        principal.require_permission(ROLES_MANAGE)?;
        self.role_store_or_404()?.find_role(name).await?.ok_or(AuthError::NotFound)
    }

    /// `POST /api/auth/admin/roles`: a new role with its permissions; 409 when the name is taken.
    pub async fn admin_create_role(
        &self,
        principal: &Principal,
        request: CreateRoleRequest,
    ) -> Result<Role, AuthError> {
        principal.require_permission(ROLES_MANAGE)?;
        let store = self.role_store_or_404()?;
        validate_role_name(&request.name)?;
        if !request.permissions.iter().all(|p| principal.has_permission(p)) {
            // No one grants more than they have.
            return Err(AuthError::Forbidden);
        }
        if request.description.chars().count() > 256 {
            return Err(AuthError::invalid_field("description", "at most 256 characters"));
        }
        for permission in &request.permissions {
            validate_permission(permission).map_err(|_| {
                AuthError::invalid_field("permissions", format!("{permission:?} is not `resource:action`"))
            })?;
        }
        if !store.create_role(&request.name, &request.description, self.clock.now()).await? {
            return Err(AuthError::Conflict(vec![auth_core::FieldError::new(
                "name",
                "a role with this name exists",
            )]));
        }
        let actor = principal.user_id.to_string();
        self.audit(AuditKind::RoleCreated, None, &[("role", &request.name), ("actor", &actor)]).await;
        for permission in &request.permissions {
            self.grant_permission_as(principal, &request.name, permission).await?;
        }
        store.find_role(&request.name).await?.ok_or(AuthError::NotFound)
    }

    /// `DELETE /api/auth/admin/roles/{name}`: the role, its permissions and assignments go.
    pub async fn admin_delete_role(&self, principal: &Principal, name: &str) -> Result<(), AuthError> {
        principal.require_permission(ROLES_MANAGE)?;
        if !self.role_store_or_404()?.delete_role(name).await? {
            return Err(AuthError::NotFound);
        }
        self.user_state.invalidate_all();
        let actor = principal.user_id.to_string();
        self.audit(AuditKind::RoleDeleted, None, &[("role", name), ("actor", &actor)]).await;
        Ok(())
    }

    async fn grant_permission_as(
        &self,
        principal: &Principal,
        role: &str,
        permission: &str,
    ) -> Result<bool, AuthError> {
        let granted = self.role_store_or_404()?.grant_permission(role, permission).await?;
        if granted {
            self.user_state.invalidate_all();
            let actor = principal.user_id.to_string();
            self.audit(
                AuditKind::RolePermissionGranted,
                None,
                &[("role", role), ("permission", permission), ("actor", &actor)],
            )
            .await;
        }
        Ok(granted)
    }

    /// `POST /api/auth/admin/roles/{name}/permissions`: grants a permission; returns the role.
    /// A roles manager who is not a superuser grants only permissions they hold.
    pub async fn admin_grant_permission(
        &self,
        principal: &Principal,
        role: &str,
        permission: &str,
    ) -> Result<Role, AuthError> {
        principal.require_permission(ROLES_MANAGE)?;
        validate_permission(permission)?;
        if !principal.has_permission(permission) {
            return Err(AuthError::Forbidden);
        }
        self.grant_permission_as(principal, role, permission).await?;
        self.role_store_or_404()?.find_role(role).await?.ok_or(AuthError::NotFound)
    }

    /// `DELETE /api/auth/admin/roles/{name}/permissions/{permission}`.
    pub async fn admin_revoke_permission(
        &self,
        principal: &Principal,
        role: &str,
        permission: &str,
    ) -> Result<(), AuthError> {
        principal.require_permission(ROLES_MANAGE)?;
        let store = self.role_store_or_404()?;
        if !store.revoke_permission(role, permission).await? {
            return Err(AuthError::NotFound);
        }
        self.user_state.invalidate_all();
        let actor = principal.user_id.to_string();
        self.audit(
            AuditKind::RolePermissionRevoked,
            None,
            &[("role", role), ("permission", permission), ("actor", &actor)],
        )
        .await;
        Ok(())
    }

    /// `GET /api/auth/revocations[?since=cursor]` (permission [`REVOCATIONS_READ`]): what another
    /// service needs to enforce revocations on the access tokens it verifies itself. Without
    /// `since`: a snapshot `{cursor, revoked_grants, user_not_before: [{user_id, not_before}]}`
    /// (grants still within their lifetime, every user's not-before); with it: the events after
    /// that cursor, `{cursor, events: [{kind: "grant", grant_id} | {kind: "user", user_id,
    /// not_before}]}`. A token is dead when its `sid` is a revoked grant or its `iat` is before
    /// its user's not-before. Poll it more often than the server flushes old events
    /// (`PORTCULLIS_FLUSH_INTERVAL`), or start again from a snapshot.
    pub async fn revocation_feed(
        &self,
        principal: &Principal,
        since: Option<i64>,
    ) -> Result<serde_json::Value, AuthError> {
        principal.require_permission(REVOCATIONS_READ)?;
        let grants = self.grants.as_ref().ok_or(AuthError::NotFound)?;
        match since {
            None => {
                let snapshot = grants.store.revocation_snapshot(self.clock.now()).await?;
                let users: Vec<serde_json::Value> = snapshot
                    .user_not_before
                    .iter()
                    .map(|(user_id, at)| serde_json::json!({"user_id": user_id, "not_before": at}))
                    .collect();
                Ok(serde_json::json!({
                    "cursor": snapshot.cursor,
                    "revoked_grants": snapshot.revoked_grants,
                    "user_not_before": users,
                }))
            }
            Some(cursor) if cursor < 0 => {
                Err(AuthError::invalid_field("since", "must be a cursor, 0 or more"))
            }
            Some(cursor) => {
                let (events, cursor) = grants.store.revocations_since(cursor).await?;
                Ok(serde_json::json!({"cursor": cursor, "events": events}))
            }
        }
    }
}
