//! The conformance suite against the in-memory store.
#![allow(missing_docs)]

use std::sync::Arc;

#[tokio::test]
async fn the_memory_store_conforms() {
    auth_email_sign_in::testing::email_sign_in_store_conformance(Arc::new(
        auth_email_sign_in::MemoryEmailSignInStore::new(),
    ))
    .await;
}
