//! sea-orm entities for the Portcullis tables, for applications that query or join them directly.
//!
//! The stores in this crate are the supported way to change these tables: they keep the
//! normalised columns in step with the displayed ones.

pub mod users;
