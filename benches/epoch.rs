//! `cargo bench`: epoch time per backend on the shapes S0–S4 of docs/spec.md, the same
//! measurement as `shadertrain bench` (warm-up, then timed samples with the
//! device drained; median, GFLOP/s and the adapter printed).
//!
//! Shapes come from SHADERTRAIN_SHAPES (default S0,S1); set it to
//! S0,S1,S2,S3 for the full table.

use shadertrain::bench::{self, BackendKind, Record};
use shadertrain::cpu::Fast;
use shadertrain::data::Dataset;
use shadertrain::gpu::{AdapterRequest, Context, GpuTrainer};
use shadertrain::model::{Activation, Layout, Model};
use shadertrain::optim::Optimizer;
use shadertrain::train::Backend;

fn main() {
    let spec = std::env::var("SHADERTRAIN_SHAPES").unwrap_or_else(|_| "S0,S1".into());
    let shapes = bench::parse_shapes(&spec).expect("SHADERTRAIN_SHAPES lists shapes S0..S4");
    let mut records = Vec::new();
    for shape in &shapes {
        let data = Dataset::synthetic(shape.n, shape.f, 0).expect("valid shape");
        let layout = Layout::new(shape.f, &[shape.h]).expect("valid shape");
        let model = Model::init(
            layout,
            Activation::Sigmoid,
            0,
            data.feature_names.clone(),
            "y".into(),
        );
        let start = std::time::Instant::now();
        let mut cpu = Fast::new(&model, &data, Optimizer::gd(bench::LR), 0).expect("valid shape");
        let setup = start.elapsed().as_secs_f64();
        let timing =
            bench::time_epochs(&mut cpu, bench::Warmup::new(2), 10, 1).expect("the CPU trains");
        records.push(Record::new(
            BackendKind::Cpu,
            &cpu.describe(),
            shape,
            "sigmoid",
            &timing,
            setup,
        ));

        let start = std::time::Instant::now();
        match Context::new(&AdapterRequest::default()) {
            Ok(ctx) => {
                let adapter = ctx.info.name.clone();
                let mut gpu = GpuTrainer::new(ctx, &model, &data, Optimizer::gd(bench::LR))
                    .expect("the GPU trainer builds");
                let setup = start.elapsed().as_secs_f64();
                let timing = bench::time_epochs(&mut gpu, bench::Warmup::new(2), 10, 8)
                    .expect("the GPU trains");
                records.push(Record::new(
                    BackendKind::Gpu,
                    &adapter,
                    shape,
                    "sigmoid",
                    &timing,
                    setup,
                ));
            }
            Err(e) => eprintln!("no GPU adapter, CPU only: {e}"),
        }
    }
    bench::fill_speedups(&mut records);
    print!("{}", bench::table(&records));
}
