//! `predict`: a saved model's predictions for a CSV file's rows.

use std::io::Write;

use anyhow::Result;

use crate::cli::PredictArgs;
use crate::cpu;
use crate::data::{r_squared, target_variance, Table};
use crate::{io, memory, units};

pub(super) fn predict_command(args: &PredictArgs) -> Result<()> {
    if let Some(out) = &args.out {
        io::check_output_path(out)?;
        let inputs = [
            ("--model", args.model.as_path()),
            ("--data", args.data.as_path()),
        ];
        io::check_distinct(&[("--out", out)], &inputs, &[])?;
    }
    let model = io::load_model(&args.model)?;
    let table = Table::read(&args.data)?;
    let (data, has_target) = table.select_named(&model.feature_names, &model.target_name)?;
    let layout = &model.layout;
    memory::check(
        cpu::reference::predict_bytes(&model, data.rows),
        || {
            format!(
                "predicting {} with a {} → {} → 1 network ({})",
                units::count(data.rows, "row"),
                layout.features(),
                layout.hidden_spec(),
                units::count(layout.len(), "parameter")
            )
        },
        "predict fewer rows at a time, or on a machine with more memory",
    )?;
    // In the target's units: a standardised model's statistics are applied.
    let yhat = cpu::reference::predict(&model, &data);
    let mut text = String::with_capacity(yhat.len() * 12);
    text.push_str(&format!("{}_pred\n", model.target_name));
    for v in &yhat {
        text.push_str(&format!("{}\n", *v as f32));
    }
    match &args.out {
        Some(path) => io::write_atomically(path, |w| w.write_all(text.as_bytes()))?,
        None => super::emit(&text)?,
    }
    if has_target {
        let mse = cpu::reference::mse(&yhat, &data.y);
        let r2 = match r_squared(mse, target_variance(&data.y)) {
            Some(r2) => format!("r² {r2:.4}"),
            None => "r² undefined (the target is constant)".into(),
        };
        // Keep standard output clean CSV when the predictions go there.
        let line = format!(
            "mse {mse:.6e} over {}, {r2}",
            units::count(data.rows, "row")
        );
        if args.out.is_some() {
            super::emit(&format!("{line}\n"))?;
        } else {
            eprintln!("{line}");
        }
    }
    Ok(())
}
