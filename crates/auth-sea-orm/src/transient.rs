//! Telling transient database conflicts (worth retrying) from real failures.

#[cfg(any(feature = "token", feature = "session", feature = "mfa"))]
use std::future::Future;
#[cfg(any(feature = "token", feature = "session", feature = "mfa"))]
use std::time::Duration as StdDuration;

#[cfg(any(feature = "token", feature = "session", feature = "mfa"))]
use sea_orm::ConnectionTrait;
use sea_orm::{DbBackend, DbErr};

#[cfg(any(feature = "token", feature = "session", feature = "mfa"))]
/// How often a statement is attempted when the database reports a transient conflict.
const MAX_ATTEMPTS: u32 = 10;
#[cfg(any(feature = "token", feature = "session", feature = "mfa"))]
/// The first pause between attempts (doubling up to [`MAX_PAUSE`]).
const FIRST_PAUSE: StdDuration = StdDuration::from_millis(5);
#[cfg(any(feature = "token", feature = "session", feature = "mfa"))]
/// The longest pause between attempts.
const MAX_PAUSE: StdDuration = StdDuration::from_millis(200);

/// Runs one statement, again when the database reports a transient conflict (`SQLITE_BUSY`, a
/// PostgreSQL serialization failure or deadlock): such a statement had no effect.
#[cfg(any(feature = "token", feature = "session", feature = "mfa"))]
pub(crate) async fn retrying<C, T, F, Fut>(db: &C, mut statement: F) -> Result<T, DbErr>
where
    C: ConnectionTrait,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbErr>>,
{
    let backend = db.get_database_backend();
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        match statement().await {
            Err(error) if attempt < MAX_ATTEMPTS && is_transient(backend, &error) => {
                tracing::debug!(attempt, %error, "transient store conflict; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// `SQLITE_BUSY` / `SQLITE_LOCKED` (any extended code) on SQLite; a serialization failure or a
/// deadlock on PostgreSQL.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn is_transient(backend: DbBackend, error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error;

    let (DbErr::Conn(RuntimeErr::SqlxError(error))
    | DbErr::Exec(RuntimeErr::SqlxError(error))
    | DbErr::Query(RuntimeErr::SqlxError(error))) = error
    else {
        return false;
    };
    let Error::Database(error) = &**error else { return false };
    let Some(code) = error.code() else { return false };
    match backend {
        DbBackend::Sqlite => code.parse::<i64>().is_ok_and(|code| matches!(code & 0xff, 5 | 6)),
        DbBackend::Postgres => matches!(&*code, "40001" | "40P01"),
        _ => false,
    }
}

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
pub(crate) fn is_transient(_backend: DbBackend, _error: &DbErr) -> bool {
    false
}
