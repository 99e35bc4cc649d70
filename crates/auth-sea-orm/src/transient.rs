//! Telling transient database conflicts (worth retrying) from real failures.

use sea_orm::{DbBackend, DbErr};

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
