//! The conformance suite against the in-memory store.

#![cfg(feature = "testing")]

use std::sync::Arc;

use auth_session::MemorySessionStore;
use auth_session::testing::{
    concurrent_rotate_conformance, concurrent_set_value_conformance, session_store_conformance,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_conforms() {
    let store = MemorySessionStore::new();
    session_store_conformance(&store).await;
    session_store_conformance(&store).await; // tolerates other data
    concurrent_set_value_conformance(Arc::new(store.clone()), 32).await;
    concurrent_rotate_conformance(Arc::new(store), 32).await;
}
