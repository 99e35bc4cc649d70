//! Lookalike usernames are one username: `username_normalized` becomes
//! `auth_core::normalize_login(username)` (the UTS #39 confusable skeleton of the NFKC,
//! case-folded name) and `email_normalized` becomes `auth_core::normalize_email(email)` (NFKC and
//! lowercase); both were `to_lowercase()` before. No schema change: the rows are read and each
//! changed one is rewritten, in Rust.
//!
//! Existing accounts may collide under the new forms (`paypal` and `pаypal` with a Cyrillic `а`
//! were two accounts). No account is lost and no sign-in breaks: the oldest account of a colliding
//! group (by `date_joined`, then `id`) gets the new form, each younger one keeps its old form
//! behind [`LEGACY_PREFIX`] (`＃legacy:pаypal`), which the user store looks up first, so it still
//! signs in with its own name in any case (and by its email); a lookalike spelling reaches the
//! oldest account. Each such account is logged as a warning (its id, never its name), and the
//! younger account can be renamed later like any other.
//!
//! Unlike the schema migrations this one calls auth-core's current normal forms rather than a
//! frozen copy: a later change of them (a new Unicode confusables table) comes with a migration that
//! runs the same recomputation again, which changes only the rows whose form changed.

use std::collections::HashSet;

use auth_core::{normalize_email, normalize_login};
use sea_orm::{ConnectionTrait, FromQueryResult};
use sea_orm_migration::prelude::*;

use super::LEGACY_PREFIX;

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_confusable_usernames"
    }
}

#[derive(DeriveIden)]
enum PortcullisUsers {
    Table,
    Id,
    Username,
    UsernameNormalized,
    Email,
    EmailNormalized,
    DateJoined,
}

/// The columns the migration reads.
#[derive(Debug, FromQueryResult)]
struct Row {
    id: String,
    username: String,
    username_normalized: String,
    email: Option<String>,
    email_normalized: Option<String>,
}

/// A row's normal forms: what `normalize` computes for it.
#[derive(Debug, PartialEq, Eq)]
struct Forms {
    username: String,
    email: Option<String>,
}

/// Marks a row's columns while the forms are rewritten, so that one row's new value never meets
/// another row's old one in the unique indexes. Like [`LEGACY_PREFIX`] it starts with a character
/// NFKC always replaces, so no normal form and no legacy form can equal it.
const TEMPORARY_PREFIX: &str = "\u{ff03}m0010:";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let plan = |rows: &[Row]| {
            let mut usernames = HashSet::new();
            let mut emails = HashSet::new();
            rows.iter()
                .map(|row| {
                    let mut username = normalize_login(&row.username);
                    if !usernames.insert(username.clone()) {
                        tracing::warn!(
                            user_id = %row.id,
                            "m0010: the username looks like an older account's; it keeps its \
                             previous form and still signs in with its own name"
                        );
                        username = format!("{LEGACY_PREFIX}{}", row.username.to_lowercase());
                    }
                    let email = row.email.as_deref().map(|email| {
                        let form = normalize_email(email);
                        if emails.insert(form.clone()) {
                            form
                        } else {
                            tracing::warn!(
                                user_id = %row.id,
                                "m0010: the email address equals an older account's up to width and \
                                 case; it keeps its previous form"
                            );
                            format!("{LEGACY_PREFIX}{}", email.to_lowercase())
                        }
                    });
                    Forms { username, email }
                })
                .collect::<Vec<_>>()
        };
        recompute(manager, plan).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The forms before m0010, unique as they were: no later write could make two of them equal
        // without making their (stronger) new forms equal too.
        let plan = |rows: &[Row]| {
            rows.iter()
                .map(|row| Forms {
                    username: row.username.to_lowercase(),
                    email: row.email.as_deref().map(str::to_lowercase),
                })
                .collect::<Vec<_>>()
        };
        recompute(manager, plan).await
    }
}

/// Reads every user (oldest first), asks `plan` for their forms and writes the changed ones: first
/// to a temporary value each, then to the new form.
async fn recompute(manager: &SchemaManager<'_>, plan: impl Fn(&[Row]) -> Vec<Forms>) -> Result<(), DbErr> {
    use PortcullisUsers as Users;
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let select = Query::select()
        .columns([
            Users::Id,
            Users::Username,
            Users::UsernameNormalized,
            Users::Email,
            Users::EmailNormalized,
        ])
        .from(Users::Table)
        .order_by(Users::DateJoined, Order::Asc)
        .order_by(Users::Id, Order::Asc)
        .to_owned();
    let rows = Row::find_by_statement(backend.build(&select)).all(db).await?;
    let forms = plan(&rows);
    let changed: Vec<(&Row, &Forms)> = rows
        .iter()
        .zip(&forms)
        .filter(|(row, forms)| {
            row.username_normalized != forms.username || row.email_normalized != forms.email
        })
        .collect();
    for (row, forms) in &changed {
        let temporary = format!("{TEMPORARY_PREFIX}{}", row.id);
        let email = forms.email.as_ref().map(|_| temporary.clone());
        update(db, &row.id, temporary, email).await?;
    }
    for (row, forms) in changed {
        update(db, &row.id, forms.username.clone(), forms.email.clone()).await?;
    }
    Ok(())
}

async fn update(
    db: &impl ConnectionTrait,
    id: &str,
    username: String,
    email: Option<String>,
) -> Result<(), DbErr> {
    use PortcullisUsers as Users;
    let statement = Query::update()
        .table(Users::Table)
        .value(Users::UsernameNormalized, username)
        .value(Users::EmailNormalized, email)
        .and_where(Expr::col(Users::Id).eq(id))
        .to_owned();
    db.execute(&statement).await?;
    Ok(())
}
