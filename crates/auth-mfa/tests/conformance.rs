//! The in-memory store passes the store conformance suites.

#![cfg(feature = "testing")]

use std::sync::Arc;

use auth_mfa::{MemoryMfaStore, MfaStore, testing};

#[tokio::test]
async fn memory_store_conforms() {
    let store = MemoryMfaStore::new();
    testing::mfa_store_conformance(&store).await;
    // Twice on the same store: the suite tolerates its own leftovers and other data.
    testing::mfa_store_conformance(&store).await;
    // Clones share the data.
    testing::mfa_store_conformance(&store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_races() {
    testing::concurrent_mfa_conformance(Arc::new(MemoryMfaStore::new()), 100).await;
    // Through a trait object, as the service holds it.
    let store: Arc<dyn MfaStore> = Arc::new(MemoryMfaStore::new());
    testing::concurrent_mfa_conformance(store, 4).await;
}
