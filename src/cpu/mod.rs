//! The CPU path. [`reference`] is the plain, obviously right trainer every
//! other backend is checked against; [`ops`] are its building blocks. The
//! tests hold each layer-step GPU kernel (forward, output, backprop,
//! gradient partials, the update) to one of them and the fused kernel to
//! their composition. [`fast`] is the backend `--backend cpu` runs.

pub mod fast;
pub mod ops;
pub mod reference;

pub use fast::Fast;
pub use reference::Reference;

/// A CPU backend's flat parameter block and its two snapshots.
pub(crate) struct ParamSlots {
    pub params: Vec<f32>,
    saved: [Vec<f32>; 2],
}

impl ParamSlots {
    pub fn new(params: &[f32]) -> ParamSlots {
        ParamSlots {
            params: params.to_vec(),
            saved: [params.to_vec(), params.to_vec()],
        }
    }

    pub fn snapshot(&mut self, slot: usize) {
        self.saved[slot].clone_from(&self.params);
    }

    pub fn restore(&mut self, slot: usize) {
        self.params.clone_from(&self.saved[slot]);
    }
}
