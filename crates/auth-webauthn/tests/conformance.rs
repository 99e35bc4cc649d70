//! The in-memory store passes the store conformance suite.

#![cfg(feature = "testing")]

use std::sync::Arc;

use auth_webauthn::{MemoryPasskeyStore, PasskeyStore, testing};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    let store = MemoryPasskeyStore::new();
    testing::passkey_store_conformance(Arc::new(store.clone())).await;
    // Twice on the same store, through a clone: the suite tolerates its own leftovers.
    let shared: Arc<dyn PasskeyStore> = Arc::new(store);
    testing::passkey_store_conformance(shared).await;
}

#[tokio::test(flavor = "current_thread")]
async fn memory_store_conforms_on_one_thread() {
    testing::passkey_store_conformance(Arc::new(MemoryPasskeyStore::new())).await;
}
