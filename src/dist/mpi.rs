//! [`Comm`] over MPI's world (the `mpi` feature): `mpirun -np P shadertrain
//! train … --distributed`.

use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;

use super::Comm;
use crate::error::{Error, Result};

/// MPI's world, initialised once; finalised when dropped.
pub struct Mpi {
    world: SimpleCommunicator,
    local_rank: usize,
    /// Kept for its drop, which finalises MPI; declared last so the
    /// communicators go first.
    _universe: Universe,
}

impl Mpi {
    /// Initialises MPI and installs a panic hook that, after the usual
    /// message, aborts every process: the others may be waiting for this
    /// one in a collective, and would wait for ever.
    pub fn init() -> Result<Mpi> {
        let universe =
            mpi::initialize().ok_or_else(|| Error::Config("MPI was initialised twice".into()))?;
        let world = universe.world();
        // The processes that share this machine's memory, numbered apart.
        let local_rank = world.split_shared(world.rank()).rank() as usize;
        let (rank, size) = (world.rank(), world.size());
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            super::say(&format!(
                "error: process {rank} of {size} panicked; ending every process"
            ));
            SimpleCommunicator::world().abort(101);
        }));
        Ok(Mpi {
            world,
            local_rank,
            _universe: universe,
        })
    }
}

/// Offsets of consecutive blocks of `counts`.
fn displacements(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |at, &c| {
            let here = *at;
            *at += c;
            Some(here)
        })
        .collect()
}

fn counts_of(counts: &[usize]) -> Vec<Count> {
    counts
        .iter()
        .map(|&c| Count::try_from(c).expect("a gather of under 2³¹ values"))
        .collect()
}

impl Comm for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn local_rank(&self) -> usize {
        self.local_rank
    }

    fn all_gather(&self, local: &[f64], counts: &[usize], all: &mut [f64]) {
        let counts = counts_of(counts);
        let displs = displacements(&counts);
        let mut into = PartitionMut::new(all, &counts[..], &displs[..]);
        self.world.all_gather_varcount_into(local, &mut into);
    }

    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        let mut lens = vec![0u64; self.size()];
        self.world
            .all_gather_into(&(local.len() as u64), &mut lens[..]);
        let lens: Vec<usize> = lens.iter().map(|&l| l as usize).collect();
        // Nothing to gather (a barrier, as an error's wait for process 0
        // to print is): Open MPI refuses a varcount gather into an empty
        // buffer with MPI_ERR_ARG, which aborts the job.
        if lens.iter().all(|&l| l == 0) {
            return vec![Vec::new(); lens.len()];
        }
        let counts = counts_of(&lens);
        let displs = displacements(&counts);
        let mut all = vec![0u8; lens.iter().sum()];
        {
            let mut into = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            self.world.all_gather_varcount_into(local, &mut into);
        }
        let mut out = Vec::with_capacity(lens.len());
        let mut at = 0;
        for l in lens {
            out.push(all[at..at + l].to_vec());
            at += l;
        }
        out
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    fn describe(&self) -> String {
        crate::units::count(self.size(), "MPI process")
    }
}
