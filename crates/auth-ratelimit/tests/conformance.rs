//! The conformance suite against the in-memory store.

#![cfg(feature = "testing")]

use std::sync::Arc;

use auth_ratelimit::MemoryLimitStore;
use auth_ratelimit::testing::{
    concurrent_attempts_conformance, concurrent_hits_conformance, flush_expired_conformance,
    limit_store_conformance,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    let store = Arc::new(MemoryLimitStore::new());
    limit_store_conformance(store.as_ref()).await;
    limit_store_conformance(store.as_ref()).await; // tolerates other data
    concurrent_hits_conformance(store.clone()).await;
    concurrent_attempts_conformance(store.clone()).await;
    flush_expired_conformance(store.as_ref()).await;
    flush_expired_conformance(store.as_ref()).await;
}
