//! The reference trainer: docs/spec.md's forward pass, exact gradients and
//! gradient descent, in f64 from the f32 parameter block. Rows are processed
//! in blocks so memory stays bounded for any N; every sum over rows
//! accumulates in f64.

use crate::batches::MiniBatches;
use crate::cpu::{ops, ParamSlots};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::memory;
use crate::model::{Activation, Layout, Model};
use crate::optim::lbfgs::Objective;
use crate::optim::{self, LrSchedule, Optimizer, Rates};
use crate::train::{Backend, SNAPSHOT_SLOTS};

/// Rows per block: bounds the activations held at once to BLOCK × width.
const BLOCK: usize = 1024;

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// About the bytes [`predict`] allocates for `rows` rows of `model`: the
/// parameters in f64, a block's activations of two layers and the
/// predictions. `None` when the count overflows.
pub fn predict_bytes(model: &Model, rows: usize) -> Option<u64> {
    let layout = &model.layout;
    let widest = *layout
        .sizes()
        .iter()
        .max()
        .expect("layouts are never empty");
    memory::sum(&[
        memory::product(&[layout.len(), 8]),
        memory::product(&[2, rows.min(BLOCK), widest, 8]),
        memory::product(&[rows, 8]),
    ])
}

/// ŷ for every row of `data` (raw, unstandardised features), in the
/// target's units: the features are standardised and the output
/// unstandardised when the model carries statistics, then transformed
/// back where the model was trained on a transform of the target
/// ([`Model::target_transform`]). Missing cells (NaN)
/// are not filled here: a NaN feature gives a NaN ŷ; for a model that
/// keeps means, [`crate::data::Imputation::apply`] fills them first, as
/// `predict --missing fill` does. An error when the data's features are
/// not the model's, in number or, where the data names them, by name and
/// in order ([`crate::data::Dataset::select_features`] puts them so), or
/// the model's parts disagree ([`Model::check`]).
pub fn predict(model: &Model, data: &Dataset) -> Result<Vec<f64>> {
    check_prediction(model, data)?;
    Ok(predict_by(model, data, ops::forward))
}

/// A layer's pass: [`ops::forward`] or its twin.
type LayerPass = fn(&[f64], &[f64], &[f64], usize, usize, Option<Activation>) -> Vec<f64>;

/// [`predict`]'s values, each layer's pass by `layer`, for a model and
/// data already checked.
fn predict_by(model: &Model, data: &Dataset, layer: LayerPass) -> Vec<f64> {
    let (layout, act, params) = (&model.layout, model.activation, &model.params);
    let mut yhat = match &model.standardization {
        None => forward(layout, act, params, data, (to_f64, layer)),
        Some(s) => {
            let inputs = |block: &[f32]| s.features_f64(block);
            let mut yhat = forward(layout, act, params, data, (inputs, layer));
            s.unstandardize_target(&mut yhat);
            yhat
        }
    };
    model.target_transform.invert(&mut yhat);
    yhat
}

/// Rows below which a thread of [`predict_on_cores`] costs more than it
/// saves.
const ROWS_PER_THREAD: usize = 16_384;

/// [`predict`]'s values, bit for bit, faster: each layer's sums side by
/// side ([`super::side::forward`]: a 20 → 256 → 256 → 1 network's
/// predictions of 200,000 rows took 5.4 s one sum at a time, on two
/// threads of an Intel Xeon with AVX-512), and the rows shared among the
/// cores in contiguous parts. Each row's prediction is its own, so the
/// values do not depend on the parts.
pub fn predict_on_cores(model: &Model, data: &Dataset) -> Result<Vec<f64>> {
    check_prediction(model, data)?;
    let parts = super::cores().min(data.rows / ROWS_PER_THREAD).max(1);
    if parts == 1 {
        return Ok(predict_by(model, data, super::side::forward));
    }
    let per = data.rows.div_ceil(parts);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..data.rows)
            .step_by(per)
            .map(|start| {
                let end = (start + per).min(data.rows);
                let part = move || predict_by(model, &data.slice(start..end), super::side::forward);
                scope.spawn(part)
            })
            .collect();
        let mut yhat = Vec::with_capacity(data.rows);
        for t in threads {
            yhat.extend(t.join().expect("a prediction thread panicked"));
        }
        Ok(yhat)
    })
}

/// [`check_fit`], and where `data` names its features, that they are the
/// model's, in its order: rows whose columns were put in another order
/// would be predicted from the wrong inputs without a word.
pub(crate) fn check_prediction(model: &Model, data: &Dataset) -> Result<()> {
    check_fit(model, data)?;
    let (theirs, ours) = (&data.feature_names, &model.feature_names);
    if theirs.is_empty() || ours.is_empty() || theirs == ours {
        return Ok(());
    }
    let shown = crate::data::shown_name;
    let differs = (0..ours.len().min(theirs.len())).find(|&j| theirs[j] != ours[j]);
    let message = match (ours.iter().find(|n| !theirs.contains(n)), differs) {
        (Some(lacked), _) => format!(
            "the data has no feature '{}', which the model takes",
            shown(lacked)
        ),
        (None, Some(j)) => format!(
            "the data's features are the model's in another order: feature {} is '{}' where the model takes '{}'",
            j + 1,
            shown(&theirs[j]),
            shown(&ours[j])
        ),
        // The names of a data set or model built by hand, whose counts
        // disagree with its features.
        (None, None) => format!(
            "the data names {} and the model {}",
            crate::units::count(theirs.len(), "feature"),
            ours.len()
        ),
    };
    Err(Error::Config(format!(
        "{message}; Dataset::select_features takes the model's feature_names, in its order"
    )))
}

/// That `data` has rows and the features `model` takes, and `model` its
/// parts in agreement ([`Model::check`]).
pub(crate) fn check_fit(model: &Model, data: &Dataset) -> Result<()> {
    if data.rows == 0 {
        return Err(Error::Config("the data has no rows".into()));
    }
    if data.features != model.layout.features() {
        return Err(Error::Config(format!(
            "the data has {} features but the model takes {}",
            data.features,
            model.layout.features()
        )));
    }
    // A Dataset built by hand: its values as its sizes say.
    if Some(data.x.len()) != data.rows.checked_mul(data.features) || data.y.len() != data.rows {
        return Err(Error::Config(format!(
            "the data says {} × {} but holds {} x values and {} y values; x needs rows × features, y one per row",
            crate::units::count(data.rows, "row"),
            crate::units::count(data.features, "feature"),
            data.x.len(),
            data.y.len()
        )));
    }
    model.check()
}

/// ŷ for every row of `data` under the given parameters, the network's
/// inputs made from each block of rows by `inputs`, each layer's pass by
/// `layer`.
fn forward(
    layout: &Layout,
    act: Activation,
    params: &[f32],
    data: &Dataset,
    (inputs, layer): (impl Fn(&[f32]) -> Vec<f64>, LayerPass),
) -> Vec<f64> {
    let params = to_f64(params);
    let layers = layout.layers();
    let mut out = Vec::with_capacity(data.rows);
    for block in data.x.chunks(BLOCK * data.features) {
        let mut a = inputs(block);
        for (l, view) in layers.iter().enumerate() {
            let act = (l + 1 < layers.len()).then_some(act);
            a = layer(
                &a,
                &params[view.weight.clone()],
                &params[view.bias.clone()],
                view.inputs,
                view.outputs,
                act,
            );
        }
        out.extend(a);
    }
    out
}

/// L = (1/N)·Σ(ŷ − y)² and ∂L/∂θ for the whole flat block, in f64.
pub fn loss_and_grads(
    layout: &Layout,
    act: Activation,
    params: &[f32],
    data: &Dataset,
) -> (f64, Vec<f64>) {
    loss_and_grads_f64(layout, act, &to_f64(params), data)
}

/// [`loss_and_grads`] at f64 parameters, for finite-difference checks.
pub fn loss_and_grads_f64(
    layout: &Layout,
    act: Activation,
    params: &[f64],
    data: &Dataset,
) -> (f64, Vec<f64>) {
    let layers = layout.layers();
    let last = layers.len() - 1;
    let mut grads = vec![0.0; layout.len()];
    let mut sq = 0.0;
    for (b, xblock) in data.x.chunks(BLOCK * data.features).enumerate() {
        let y = to_f64(&data.y[b * BLOCK..b * BLOCK + xblock.len() / data.features]);
        // acts[l] is the input of layer l: acts[0] = X, acts[l] = A_l.   (n, sizes[l])
        let mut acts = vec![to_f64(xblock)];
        for view in &layers[..last] {
            let next = ops::forward(
                acts.last().expect("starts with X"),
                &params[view.weight.clone()],
                &params[view.bias.clone()],
                view.inputs,
                view.outputs,
                Some(act),
            );
            acts.push(next);
        }
        let out = &layers[last];
        let (r, block_sq) = ops::output_residual(
            &acts[last],
            &params[out.weight.clone()],
            params[out.bias.start],
            &y,
            data.rows,
        );
        sq += block_sq;
        // d is ∂L/∂Z of layer l, (n, outputs_l); it starts as r for the output.
        let mut d = r;
        for l in (0..=last).rev() {
            let view = &layers[l];
            ops::weight_grad(
                &d,
                &acts[l],
                view.outputs,
                view.inputs,
                &mut grads[view.weight.clone()],
            );
            ops::bias_grad(&d, view.outputs, &mut grads[view.bias.clone()]);
            if l > 0 {
                d = ops::backprop(
                    &d,
                    &params[view.weight.clone()],
                    &acts[l],
                    view.outputs,
                    view.inputs,
                    act,
                );
            }
        }
    }
    (sq / data.rows as f64, grads)
}

/// The reference backend: one full-batch epoch per call of
/// [`loss_and_grads`], then the optimizer's step in f64 (state in f64, the
/// parameters stored in f32). With mini-batches, an epoch is one such call
/// and step per batch, each on a copy of the batch's rows.
pub struct Reference<'a> {
    layout: Layout,
    act: Activation,
    opt: Optimizer,
    theta: ParamSlots<f64>,
    data: &'a Dataset,
    batches: Option<MiniBatches>,
    /// The learning rate by epoch (`--lr-schedule`, and the plateau's cuts).
    rates: Rates,
}

impl<'a> Reference<'a> {
    /// About the bytes [`Reference::new`] and its passes allocate for
    /// `layout` on `rows` rows (the rows themselves not counted): the
    /// parameters, the f64 optimizer state and their snapshots; per
    /// pass the parameters in f64 and the gradient (twice); and a block's
    /// activations of every layer and two layers of deltas, in f64.
    /// `None` when the count overflows.
    pub fn bytes_needed(layout: &Layout, rows: usize, opt: &Optimizer) -> Option<u64> {
        let p = layout.len();
        let block = rows.min(BLOCK);
        let sizes = layout.sizes();
        let widths = sizes
            .iter()
            .try_fold(0usize, |acc, &w| acc.checked_add(w))?;
        let widest = *sizes.iter().max().expect("layouts are never empty");
        memory::sum(&[
            // The parameters and the state, now and in every snapshot.
            memory::product(&[1 + SNAPSHOT_SLOTS, p, 4]),
            memory::product(&[1 + SNAPSHOT_SLOTS, opt.state_per_param(), p, 8]),
            memory::product(&[3, p, 8]),
            memory::product(&[block, widths, 8]),
            memory::product(&[2, block, widest, 8]),
        ])
    }

    /// An error when the data's features are not the model's in number, or
    /// the model's parts disagree ([`Model::check`]).
    pub fn new(model: &Model, data: &'a Dataset, opt: Optimizer) -> Result<Reference<'a>> {
        check_fit(model, data)?;
        opt.check()?;
        Ok(Reference {
            layout: model.layout.clone(),
            act: model.activation,
            opt,
            theta: ParamSlots::new(&model.params, &opt),
            data,
            batches: None,
            rates: Rates::default(),
        })
    }

    /// Trains in mini-batches (`None`: full-batch epochs, the default).
    pub fn with_batches(mut self, batches: Option<MiniBatches>) -> Self {
        self.batches = batches;
        self
    }

    /// Schedules the learning rate by epoch (`LrSchedule::Constant`, the
    /// default, keeps it). The schedule is taken as it is: one that
    /// [`LrSchedule::check`] refuses (a step every 0 epochs, a cosine over
    /// 0) panics or gives NaN rates.
    pub fn with_schedule(mut self, schedule: LrSchedule) -> Self {
        self.rates.schedule = schedule;
        self
    }
}

impl Objective for Reference<'_> {
    fn describe(&self) -> String {
        match self.batches {
            None => "reference (CPU, f64, 1 thread)".to_string(),
            Some(b) => format!("reference (CPU, f64, 1 thread, mini-batches of {})", b.size),
        }
    }

    fn params_len(&self) -> usize {
        self.layout.len()
    }

    fn evaluate(&mut self, params: &[f32], grad: &mut [f64]) -> Result<f64> {
        let (loss, g) = loss_and_grads(&self.layout, self.act, params, self.data);
        grad.copy_from_slice(&g);
        Ok(loss)
    }
}

impl Backend for Reference<'_> {
    crate::cpu::host_param_methods!();

    fn run(&mut self, epochs: usize, losses: &mut Vec<f64>) -> Result<()> {
        self.opt.stepped()?;
        for _ in 0..epochs {
            let Some(batches) = self.batches else {
                let (loss, grads) =
                    loss_and_grads(&self.layout, self.act, &self.theta.params, self.data);
                losses.push(loss);
                let t = &mut self.theta;
                let opt = self.rates.at(&self.opt, t.state.steps);
                optim::step(&opt, &mut t.params, &grads, &mut t.state);
                continue;
            };
            losses.push(self.loss()?);
            let rows = self.data.rows;
            let epoch = batches.epoch(rows, self.theta.state.steps);
            let opt = self.rates.at(&self.opt, epoch);
            let order = batches.order(rows, epoch);
            let mut batch = self.data.empty_like();
            for range in batches.ranges(rows) {
                self.data.gather_into(&order[range], &mut batch, 1);
                let (_, grads) = loss_and_grads(&self.layout, self.act, &self.theta.params, &batch);
                let t = &mut self.theta;
                optim::step(&opt, &mut t.params, &grads, &mut t.state);
            }
        }
        Ok(())
    }

    fn loss(&mut self) -> Result<f64> {
        let yhat = forward(
            &self.layout,
            self.act,
            &self.theta.params,
            self.data,
            (to_f64, ops::forward),
        );
        Ok(mse(&yhat, &self.data.y))
    }
}

/// (1/N)·Σ(ŷ − y)², accumulated in f64 in the order of
/// [`loss_and_grads`]: each block of 1,024 rows summed in turn, then
/// added to the total; so the loss after a run's last update is the loss
/// the next epoch's pass would give, to the bit (a run stopped by
/// `--target-loss` at epoch k, whose loss came from the pass, and one of
/// `--epochs k` then agree).
pub fn mse(yhat: &[f64], y: &[f32]) -> f64 {
    let sq: f64 = (yhat.chunks(BLOCK).zip(y.chunks(BLOCK)))
        .map(|(yhat, y)| {
            let mut block = 0.0;
            for (p, &t) in yhat.iter().zip(y) {
                let e = p - t as f64;
                block += e * e;
            }
            block
        })
        .fold(0.0, |sq, block| sq + block);
    sq / y.len() as f64
}
