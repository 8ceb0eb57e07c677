//! The CPU path. [`reference`] is the plain, obviously right trainer every
//! other backend is checked against; [`ops`] are its building blocks and
//! the GPU kernels' twins, one named after each kernel, to which the tests
//! hold the kernel. [`fast`] is the backend `--backend cpu` runs.

pub mod fast;
mod flush;
pub mod ops;
pub mod reference;

pub use fast::Fast;
pub use reference::Reference;

use crate::optim::{Optimizer, Real, State};

/// A CPU backend's parameter block and first-order optimizer state (in
/// `T`), with two snapshots of both.
pub(crate) struct ParamSlots<T> {
    pub params: Vec<f32>,
    pub state: State<T>,
    saved: [(Vec<f32>, State<T>); 2],
}

impl<T: Real> ParamSlots<T> {
    pub fn new(params: &[f32], opt: &Optimizer) -> ParamSlots<T> {
        let state = State::new(opt, params.len());
        ParamSlots {
            params: params.to_vec(),
            saved: [
                (params.to_vec(), state.clone()),
                (params.to_vec(), state.clone()),
            ],
            state,
        }
    }

    pub fn snapshot(&mut self, slot: usize) {
        let (params, state) = &mut self.saved[slot];
        params.clone_from(&self.params);
        state.clone_from(&self.state);
    }

    pub fn restore(&mut self, slot: usize) {
        let (params, state) = &self.saved[slot];
        self.params.clone_from(params);
        self.state.clone_from(state);
    }
}
