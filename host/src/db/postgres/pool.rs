//! Connection pools: one per database URL, shared by every host in the process.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use postgres::NoTls;
use r2d2::Pool;
use r2d2_postgres::PostgresConnectionManager;

use super::migrations::migrate;
use crate::db::DbError;

/// The connection manager of the pools.
pub(super) type Manager = PostgresConnectionManager<NoTls>;

/// Connections each pool keeps at most.
const POOL_SIZE: u32 = 8;

/// Connections each pool keeps open while idle: a short command (`arena events`) opens one, not
/// [`POOL_SIZE`], so many hosts and commands at once stay within the server's `max_connections`.
const POOL_IDLE: u32 = 1;

fn pools() -> &'static Mutex<HashMap<String, Pool<Manager>>> {
    static POOLS: OnceLock<Mutex<HashMap<String, Pool<Manager>>>> = OnceLock::new();
    POOLS.get_or_init(Mutex::default)
}

/// The process's pool for `url`, created (and the schema migrated) on first use.
pub(super) fn pool(url: &str) -> Result<Pool<Manager>, DbError> {
    let mut pools = pools().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pool) = pools.get(url) {
        return Ok(pool.clone());
    }
    let config: postgres::Config = url.parse()?;
    let pool = Pool::builder()
        .max_size(POOL_SIZE)
        .min_idle(Some(POOL_IDLE))
        .connection_timeout(Duration::from_secs(10))
        .build(PostgresConnectionManager::new(config, NoTls))?;
    migrate(&mut *pool.get()?)?;
    pools.insert(url.to_string(), pool.clone());
    Ok(pool)
}
