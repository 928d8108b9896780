//! The registry client: the OCI distribution API over blocking HTTP (ureq),
//! with our own protocol code. [`client`] (endpoints, TLS, auth, retries),
//! [`auth`] (challenges and tokens), [`credentials`] (the docker client
//! configuration), [`pull`] (manifests, parallel resumable verified blob
//! downloads), [`push`] (uploads, mounts, manifests, index merging),
//! [`progress`] (events for the CLI's bars), [`stall`] (the slowest
//! download accepted), [`error`].

pub mod auth;
pub mod client;
pub mod credentials;
pub mod error;
pub mod progress;
pub mod pull;
pub mod push;
pub mod stall;

pub use client::{Client, Mirror, RegistryOptions, RetryPolicy};
pub use error::RegistryError;
pub use progress::{NoProgress, Progress};
pub use pull::{Platforms, Pulled};
pub use push::{PushOptions, Pushed};
pub use stall::MinProgress;
