//! The CPU path. [`reference`] is the plain, obviously right trainer every
//! other backend is checked against; [`ops`] are its building blocks, one per
//! GPU kernel.

pub mod ops;
pub mod reference;

pub use reference::Reference;
