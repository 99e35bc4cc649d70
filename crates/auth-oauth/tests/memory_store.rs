//! The linked-account conformance suite on the in-memory store.
#![allow(missing_docs)]

use std::sync::Arc;

use auth_oauth::MemoryLinkedAccountStore;
use auth_oauth::testing::linked_account_store_conformance;

#[tokio::test]
async fn the_memory_store_conforms() {
    linked_account_store_conformance(Arc::new(MemoryLinkedAccountStore::new())).await;
}
