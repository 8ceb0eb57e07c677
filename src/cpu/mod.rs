//! The CPU path. [`reference`] is the plain, obviously right trainer every
//! other backend is checked against; [`ops`] are its building blocks, one per
//! GPU kernel. [`fast`] is the backend `--backend cpu` runs.

pub mod fast;
pub mod ops;
pub mod reference;

pub use fast::Fast;
pub use reference::Reference;
