//! Reading a Django project's accounts: from its database (SQLite file or PostgreSQL URL) or
//! from a `manage.py dumpdata` JSON file, into one [`DjangoData`].

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::Value;

/// A user of `auth_user`, with what points at it.
#[derive(Debug, Clone, Default)]
pub struct DjangoUser {
    /// `auth_user.id`.
    pub pk: i64,
    /// `username`.
    pub username: String,
    /// `email` (Django stores `""` for none).
    pub email: String,
    /// `password`: a Django-encoded hash, or `!…` for an unusable password.
    pub password: String,
    /// `is_active`.
    pub is_active: bool,
    /// `is_staff`.
    pub is_staff: bool,
    /// `is_superuser`.
    pub is_superuser: bool,
    /// `date_joined` (UTC).
    pub date_joined: Option<DateTime<Utc>>,
    /// `last_login` (UTC), if any.
    pub last_login: Option<DateTime<Utc>>,
    /// Group pks (`auth_user_groups`).
    pub groups: Vec<i64>,
    /// Permission pks given to the user directly (`auth_user_user_permissions`).
    pub permissions: Vec<i64>,
}

/// An allauth `account_emailaddress` row.
#[derive(Debug, Clone)]
pub struct DjangoEmail {
    /// The user's pk.
    pub user: i64,
    /// The address.
    pub email: String,
    /// Whether allauth verified it.
    pub verified: bool,
    /// Whether it is the user's primary address.
    pub primary: bool,
}

/// A DRF `authtoken_token` row.
#[derive(Debug, Clone)]
pub struct DjangoToken {
    /// The 40-hex key.
    pub key: String,
    /// The user's pk.
    pub user: i64,
    /// When it was created.
    pub created: Option<DateTime<Utc>>,
}

/// A simplejwt `token_blacklist_outstandingtoken` row, and whether it is blacklisted.
#[derive(Debug, Clone)]
pub struct DjangoOutstanding {
    /// The token id (`jti` claim).
    pub jti: String,
    /// The user's pk.
    pub user: Option<i64>,
    /// When it was created.
    pub created: Option<DateTime<Utc>>,
    /// When it expires.
    pub expires: Option<DateTime<Utc>>,
    /// Whether `token_blacklist_blacklistedtoken` lists it.
    pub blacklisted: bool,
}

/// An allauth `mfa_authenticator` row.
#[derive(Debug, Clone)]
pub struct DjangoAuthenticator {
    /// The user's pk.
    pub user: i64,
    /// `type`: `totp`, `recovery_codes`, `webauthn`.
    pub kind: String,
    /// `data` (JSON).
    pub data: Value,
}

/// What a Django project knows about its accounts.
#[derive(Debug, Clone, Default)]
pub struct DjangoData {
    /// `auth_user`.
    pub users: Vec<DjangoUser>,
    /// Group pk → name.
    pub groups: BTreeMap<i64, String>,
    /// Group pk → permission pks.
    pub group_permissions: BTreeMap<i64, Vec<i64>>,
    /// Permission pk → `app_label.codename`.
    pub permissions: HashMap<i64, String>,
    /// allauth email addresses.
    pub emails: Vec<DjangoEmail>,
    /// DRF tokens.
    pub tokens: Vec<DjangoToken>,
    /// simplejwt outstanding refresh tokens.
    pub outstanding: Vec<DjangoOutstanding>,
    /// allauth MFA authenticators.
    pub authenticators: Vec<DjangoAuthenticator>,
    /// Tables that were not there (an app not installed): named in the report.
    pub missing_tables: Vec<String>,
}

/// Reads `from`: a `postgres://` URL, a `sqlite:` URL, a `.json` dumpdata file, or a path to a
/// SQLite database file.
pub async fn read(from: &str) -> Result<DjangoData, String> {
    if from.starts_with("postgres://") || from.starts_with("postgresql://") {
        let db = Database::connect(from).await.map_err(|e| format!("cannot connect to {from}: {e}"))?;
        return read_database(&db).await;
    }
    if let Some(rest) = from.strip_prefix("sqlite:") {
        return read_sqlite(rest.trim_start_matches("//")).await;
    }
    let path = Path::new(from);
    if !path.exists() {
        return Err(format!(
            "{from}: no such file (give a SQLite file, a dumpdata .json file or a postgres:// URL)"
        ));
    }
    let mut head = [0u8; 16];
    let sqlite = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map(|()| &head == b"SQLite format 3\0")
        .unwrap_or(false);
    if sqlite {
        read_sqlite(from).await
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{from}: {e}"))?;
        read_dumpdata(&text).map_err(|e| format!("{from}: {e}"))
    }
}

async fn read_sqlite(path: &str) -> Result<DjangoData, String> {
    // Read-only: the import never writes into the Django project.
    let url = format!("sqlite://{path}?mode=ro");
    let db = Database::connect(&url).await.map_err(|e| format!("cannot open {path}: {e}"))?;
    read_database(&db).await
}

/// One query's rows as JSON objects (every column cast to text or a 64-bit integer by the query,
/// so that SQLite and PostgreSQL answer alike).
async fn rows(
    db: &DatabaseConnection,
    sql: &str,
    columns: &[(&str, Kind)],
) -> Result<Vec<Row>, sea_orm::DbErr> {
    let found = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned())).await?;
    let mut out = Vec::with_capacity(found.len());
    for result in found {
        let mut row = Row::default();
        for (name, kind) in columns {
            match kind {
                Kind::Int => {
                    let v: Option<i64> = result.try_get("", name)?;
                    row.ints.insert((*name).to_owned(), v);
                }
                Kind::Text => {
                    let v: Option<String> = result.try_get("", name)?;
                    row.texts.insert((*name).to_owned(), v);
                }
            }
        }
        out.push(row);
    }
    Ok(out)
}

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
}

#[derive(Default)]
struct Row {
    ints: HashMap<String, Option<i64>>,
    texts: HashMap<String, Option<String>>,
}

impl Row {
    fn int(&self, name: &str) -> Option<i64> {
        self.ints.get(name).copied().flatten()
    }
    fn flag(&self, name: &str) -> bool {
        self.int(name).is_some_and(|v| v != 0)
    }
    fn text(&self, name: &str) -> String {
        self.texts.get(name).cloned().flatten().unwrap_or_default()
    }
    fn time(&self, name: &str) -> Option<DateTime<Utc>> {
        self.texts.get(name).cloned().flatten().and_then(|t| parse_time(&t))
    }
}

/// A Django timestamp as SQLite (`2023-01-02 03:04:05.123456`), PostgreSQL's text cast
/// (`2023-01-02 03:04:05.123456+00`) or dumpdata (`2023-01-02T03:04:05.123Z`) write it; naive
/// times are UTC (Django's `USE_TZ = True` stores UTC).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let t = text.replace('T', " ");
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%#z"] {
        if let Ok(t) = DateTime::parse_from_str(&t, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&t, format) {
            return Some(t.and_utc());
        }
    }
    None
}

fn flag_sql(column: &str) -> String {
    format!("CAST(CASE WHEN {column} THEN 1 ELSE 0 END AS BIGINT) AS {column}")
}

/// Whether `table` exists (apps not installed in the project have no tables).
async fn has_table(db: &DatabaseConnection, table: &str) -> Result<bool, sea_orm::DbErr> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
        _ => format!(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
        ),
    };
    Ok(rows(db, &sql, &[("n", Kind::Int)]).await?.first().and_then(|r| r.int("n")).unwrap_or(0) > 0)
}

/// Reads the tables of a Django database.
pub async fn read_database(db: &DatabaseConnection) -> Result<DjangoData, String> {
    read_tables(db).await.map_err(|e| format!("reading the Django database: {e}"))
}

async fn read_tables(db: &DatabaseConnection) -> Result<DjangoData, sea_orm::DbErr> {
    let mut data = DjangoData::default();
    if !has_table(db, "auth_user").await? {
        return Err(sea_orm::DbErr::Custom(
            "no table auth_user: is this a Django database with django.contrib.auth migrated?".to_owned(),
        ));
    }
    let sql = format!(
        "SELECT CAST(id AS BIGINT) AS id, username, COALESCE(email, '') AS email, password, {}, {}, {}, \
         CAST(date_joined AS TEXT) AS date_joined, CAST(last_login AS TEXT) AS last_login \
         FROM auth_user ORDER BY id",
        flag_sql("is_active"),
        flag_sql("is_staff"),
        flag_sql("is_superuser")
    );
    use Kind::{Int, Text};
    let users = rows(
        db,
        &sql,
        &[
            ("id", Int),
            ("username", Text),
            ("email", Text),
            ("password", Text),
            ("is_active", Int),
            ("is_staff", Int),
            ("is_superuser", Int),
            ("date_joined", Text),
            ("last_login", Text),
        ],
    )
    .await?;
    let mut index = HashMap::new();
    for row in users {
        let user = DjangoUser {
            pk: row.int("id").unwrap_or_default(),
            username: row.text("username"),
            email: row.text("email"),
            password: row.text("password"),
            is_active: row.flag("is_active"),
            is_staff: row.flag("is_staff"),
            is_superuser: row.flag("is_superuser"),
            date_joined: row.time("date_joined"),
            last_login: row.time("last_login"),
            groups: Vec::new(),
            permissions: Vec::new(),
        };
        index.insert(user.pk, data.users.len());
        data.users.push(user);
    }
    for row in rows(
        db,
        "SELECT CAST(p.id AS BIGINT) AS id, c.app_label AS app_label, p.codename AS codename \
         FROM auth_permission p JOIN django_content_type c ON c.id = p.content_type_id",
        &[("id", Int), ("app_label", Text), ("codename", Text)],
    )
    .await?
    {
        data.permissions.insert(
            row.int("id").unwrap_or_default(),
            format!("{}.{}", row.text("app_label"), row.text("codename")),
        );
    }
    for row in
        rows(db, "SELECT CAST(id AS BIGINT) AS id, name FROM auth_group", &[("id", Int), ("name", Text)])
            .await?
    {
        data.groups.insert(row.int("id").unwrap_or_default(), row.text("name"));
    }
    for row in rows(
        db,
        "SELECT CAST(group_id AS BIGINT) AS g, CAST(permission_id AS BIGINT) AS p FROM auth_group_permissions ORDER BY id",
        &[("g", Int), ("p", Int)],
    )
    .await?
    {
        if let (Some(g), Some(p)) = (row.int("g"), row.int("p")) {
            data.group_permissions.entry(g).or_default().push(p);
        }
    }
    for row in rows(
        db,
        "SELECT CAST(user_id AS BIGINT) AS u, CAST(group_id AS BIGINT) AS g FROM auth_user_groups ORDER BY id",
        &[("u", Int), ("g", Int)],
    )
    .await?
    {
        if let (Some(&i), Some(g)) = (row.int("u").and_then(|u| index.get(&u)), row.int("g")) {
            data.users[i].groups.push(g);
        }
    }
    for row in rows(
        db,
        "SELECT CAST(user_id AS BIGINT) AS u, CAST(permission_id AS BIGINT) AS p FROM auth_user_user_permissions ORDER BY id",
        &[("u", Int), ("p", Int)],
    )
    .await?
    {
        if let (Some(&i), Some(p)) = (row.int("u").and_then(|u| index.get(&u)), row.int("p")) {
            data.users[i].permissions.push(p);
        }
    }
    if has_table(db, "account_emailaddress").await? {
        let sql = format!(
            "SELECT CAST(user_id AS BIGINT) AS u, email, {}, {} FROM account_emailaddress ORDER BY id",
            flag_sql("verified"),
            flag_sql("\"primary\"").replace("AS \"primary\"", "AS is_primary")
        );
        for row in
            rows(db, &sql, &[("u", Int), ("email", Text), ("verified", Int), ("is_primary", Int)]).await?
        {
            data.emails.push(DjangoEmail {
                user: row.int("u").unwrap_or_default(),
                email: row.text("email"),
                verified: row.flag("verified"),
                primary: row.flag("is_primary"),
            });
        }
    } else {
        data.missing_tables.push("account_emailaddress".to_owned());
    }
    if has_table(db, "authtoken_token").await? {
        for row in rows(
            db,
            "SELECT \"key\" AS k, CAST(user_id AS BIGINT) AS u, CAST(created AS TEXT) AS created FROM authtoken_token",
            &[("k", Text), ("u", Int), ("created", Text)],
        )
        .await?
        {
            data.tokens.push(DjangoToken {
                key: row.text("k"),
                user: row.int("u").unwrap_or_default(),
                created: row.time("created"),
            });
        }
    } else {
        data.missing_tables.push("authtoken_token".to_owned());
    }
    if has_table(db, "token_blacklist_outstandingtoken").await? {
        let blacklist = has_table(db, "token_blacklist_blacklistedtoken").await?;
        let sql = format!(
            "SELECT o.jti AS jti, CAST(o.user_id AS BIGINT) AS u, CAST(o.created_at AS TEXT) AS created, \
             CAST(o.expires_at AS TEXT) AS expires, {} AS blacklisted FROM token_blacklist_outstandingtoken o ORDER BY o.id",
            if blacklist {
                "CAST((SELECT COUNT(*) FROM token_blacklist_blacklistedtoken b WHERE b.token_id = o.id) AS BIGINT)"
            } else {
                "CAST(0 AS BIGINT)"
            }
        );
        for row in rows(
            db,
            &sql,
            &[("jti", Text), ("u", Int), ("created", Text), ("expires", Text), ("blacklisted", Int)],
        )
        .await?
        {
            data.outstanding.push(DjangoOutstanding {
                jti: row.text("jti"),
                user: row.int("u"),
                created: row.time("created"),
                expires: row.time("expires"),
                blacklisted: row.flag("blacklisted"),
            });
        }
    } else {
        data.missing_tables.push("token_blacklist_outstandingtoken".to_owned());
    }
    if has_table(db, "mfa_authenticator").await? {
        for row in rows(
            db,
            "SELECT CAST(user_id AS BIGINT) AS u, type AS kind, CAST(data AS TEXT) AS data FROM mfa_authenticator ORDER BY id",
            &[("u", Int), ("kind", Text), ("data", Text)],
        )
        .await?
        {
            data.authenticators.push(DjangoAuthenticator {
                user: row.int("u").unwrap_or_default(),
                kind: row.text("kind"),
                data: serde_json::from_str(&row.text("data")).unwrap_or(Value::Null),
            });
        }
    } else {
        data.missing_tables.push("mfa_authenticator".to_owned());
    }
    Ok(data)
}

/// Reads `manage.py dumpdata` output (a JSON array of `{"model", "pk", "fields"}`), with or
/// without natural keys for foreign keys to users, groups and permissions.
pub fn read_dumpdata(text: &str) -> Result<DjangoData, String> {
    let objects: Vec<Value> = serde_json::from_str(text).map_err(|e| format!("not dumpdata JSON: {e}"))?;
    let mut data = DjangoData::default();
    let mut content_types: HashMap<i64, String> = HashMap::new();
    let model = |o: &Value| o["model"].as_str().unwrap_or_default().to_owned();
    // Content types and permissions first: groups and users refer to them.
    for o in &objects {
        if model(o) == "contenttypes.contenttype"
            && let Some(pk) = o["pk"].as_i64()
        {
            content_types.insert(pk, o["fields"]["app_label"].as_str().unwrap_or_default().to_owned());
        }
    }
    let mut natural_permissions: HashMap<String, i64> = HashMap::new();
    let mut next_pk = -1i64;
    let mut synthetic = |data: &mut DjangoData, name: String, natural: &mut HashMap<String, i64>| -> i64 {
        *natural.entry(name.clone()).or_insert_with(|| {
            next_pk -= 1;
            data.permissions.insert(next_pk, name);
            next_pk
        })
    };
    for o in &objects {
        if model(o) == "auth.permission" {
            let f = &o["fields"];
            let codename = f["codename"].as_str().unwrap_or_default();
            let app = match &f["content_type"] {
                Value::Array(natural) => {
                    natural.first().and_then(Value::as_str).unwrap_or_default().to_owned()
                }
                v => v.as_i64().and_then(|id| content_types.get(&id).cloned()).unwrap_or_default(),
            };
            if let Some(pk) = o["pk"].as_i64() {
                data.permissions.insert(pk, format!("{app}.{codename}"));
            }
        }
    }
    let mut permission_ref = |data: &mut DjangoData, v: &Value| -> Option<i64> {
        match v {
            Value::Number(n) => n.as_i64(),
            // Natural key: [codename, app_label, model].
            Value::Array(parts) => {
                let codename = parts.first()?.as_str()?;
                let app = parts.get(1)?.as_str()?;
                let name = format!("{app}.{codename}");
                let known = data.permissions.iter().find(|(_, n)| **n == name).map(|(pk, _)| *pk);
                Some(known.unwrap_or_else(|| synthetic(data, name, &mut natural_permissions)))
            }
            _ => None,
        }
    };
    let mut group_by_name: HashMap<String, i64> = HashMap::new();
    let mut next_group = -1i64;
    for o in &objects {
        if model(o) == "auth.group" {
            let f = &o["fields"];
            let name = f["name"].as_str().unwrap_or_default().to_owned();
            let pk = o["pk"].as_i64().unwrap_or_else(|| {
                next_group -= 1;
                next_group
            });
            group_by_name.insert(name.clone(), pk);
            data.groups.insert(pk, name);
            let permissions: Vec<i64> = f["permissions"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| permission_ref(&mut data, p)).collect())
                .unwrap_or_default();
            data.group_permissions.insert(pk, permissions);
        }
    }
    let mut user_by_name: HashMap<String, i64> = HashMap::new();
    let mut next_user = -1i64;
    for o in &objects {
        if model(o) == "auth.user" {
            let f = &o["fields"];
            let username = f["username"].as_str().unwrap_or_default().to_owned();
            let pk = o["pk"].as_i64().unwrap_or_else(|| {
                next_user -= 1;
                next_user
            });
            user_by_name.insert(username.clone(), pk);
            let groups = f["groups"]
                .as_array()
                .map(|gs| {
                    gs.iter()
                        .filter_map(|g| match g {
                            Value::Number(n) => n.as_i64(),
                            Value::Array(natural) => natural
                                .first()
                                .and_then(Value::as_str)
                                .and_then(|n| group_by_name.get(n).copied()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let permissions = f["user_permissions"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| permission_ref(&mut data, p)).collect())
                .unwrap_or_default();
            data.users.push(DjangoUser {
                pk,
                username,
                email: f["email"].as_str().unwrap_or_default().to_owned(),
                password: f["password"].as_str().unwrap_or_default().to_owned(),
                is_active: f["is_active"].as_bool().unwrap_or(true),
                is_staff: f["is_staff"].as_bool().unwrap_or(false),
                is_superuser: f["is_superuser"].as_bool().unwrap_or(false),
                date_joined: f["date_joined"].as_str().and_then(parse_time),
                last_login: f["last_login"].as_str().and_then(parse_time),
                groups,
                permissions,
            });
        }
    }
    let user_ref = |v: &Value| -> Option<i64> {
        match v {
            Value::Number(n) => n.as_i64(),
            Value::Array(natural) => {
                natural.first().and_then(Value::as_str).and_then(|n| user_by_name.get(n).copied())
            }
            _ => None,
        }
    };
    let mut outstanding_by_pk: HashMap<i64, usize> = HashMap::new();
    let mut blacklisted: Vec<i64> = Vec::new();
    let (mut saw_emails, mut saw_tokens, mut saw_outstanding, mut saw_mfa) = (false, false, false, false);
    for o in &objects {
        let f = &o["fields"];
        match model(o).as_str() {
            "account.emailaddress" => {
                saw_emails = true;
                if let Some(user) = user_ref(&f["user"]) {
                    data.emails.push(DjangoEmail {
                        user,
                        email: f["email"].as_str().unwrap_or_default().to_owned(),
                        verified: f["verified"].as_bool().unwrap_or(false),
                        primary: f["primary"].as_bool().unwrap_or(false),
                    });
                }
            }
            "authtoken.token" => {
                saw_tokens = true;
                if let Some(user) = user_ref(&f["user"]) {
                    data.tokens.push(DjangoToken {
                        key: o["pk"].as_str().unwrap_or_default().to_owned(),
                        user,
                        created: f["created"].as_str().and_then(parse_time),
                    });
                }
            }
            "token_blacklist.outstandingtoken" => {
                saw_outstanding = true;
                if let Some(pk) = o["pk"].as_i64() {
                    outstanding_by_pk.insert(pk, data.outstanding.len());
                }
                data.outstanding.push(DjangoOutstanding {
                    jti: f["jti"].as_str().unwrap_or_default().to_owned(),
                    user: user_ref(&f["user"]),
                    created: f["created_at"].as_str().and_then(parse_time),
                    expires: f["expires_at"].as_str().and_then(parse_time),
                    blacklisted: false,
                });
            }
            "token_blacklist.blacklistedtoken" => {
                if let Some(token) = f["token"].as_i64() {
                    blacklisted.push(token);
                }
            }
            "mfa.authenticator" => {
                saw_mfa = true;
                if let Some(user) = user_ref(&f["user"]) {
                    let data_field = match &f["data"] {
                        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                        v => v.clone(),
                    };
                    data.authenticators.push(DjangoAuthenticator {
                        user,
                        kind: f["type"].as_str().unwrap_or_default().to_owned(),
                        data: data_field,
                    });
                }
            }
            _ => {}
        }
    }
    for pk in blacklisted {
        if let Some(&i) = outstanding_by_pk.get(&pk) {
            data.outstanding[i].blacklisted = true;
        }
    }
    for (seen, table) in [
        (saw_emails, "account_emailaddress"),
        (saw_tokens, "authtoken_token"),
        (saw_outstanding, "token_blacklist_outstandingtoken"),
        (saw_mfa, "mfa_authenticator"),
    ] {
        if !seen {
            data.missing_tables.push(table.to_owned());
        }
    }
    if data.users.is_empty() && !objects.iter().any(|o| model(o) == "auth.user") {
        return Err(
            "no auth.user objects (run `manage.py dumpdata auth account authtoken token_blacklist mfa`)"
                .to_owned(),
        );
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_timestamps_of_every_source_parse() {
        let want = DateTime::parse_from_rfc3339("2023-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        for text in [
            "2023-01-02 03:04:05",
            "2023-01-02 03:04:05+00",
            "2023-01-02T03:04:05Z",
            "2023-01-02 03:04:05.000+00:00",
        ] {
            assert_eq!(parse_time(text), Some(want), "{text}");
        }
        assert_eq!(parse_time("2023-01-02 04:04:05+01"), Some(want));
        assert_eq!(parse_time(""), None);
        assert_eq!(parse_time("yesterday"), None);
    }
}
