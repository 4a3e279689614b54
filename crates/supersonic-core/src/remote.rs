//! Remote URLs and what git says about them: secrets scrubbed before anything is shown or stored.
pub use crate::git::scrub;
