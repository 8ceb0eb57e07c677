//! The network: a stack of dense layers whose parameters live in one flat f32
//! block, with named views into it. Layer `i` maps `sizes[i]` inputs to
//! `sizes[i + 1]` outputs; the last layer is the single linear output unit.

use std::fmt;
use std::ops::Range;

use crate::data::{Category, FeatureRanges, Imputation, Standardization, TargetTransform};
use crate::error::{Error, Result};
use crate::rng::{self, Stream};

/// Hidden-layer activation. The output layer is always the identity.
/// Its name, as on the command line, is also its JSON form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// σ(z) = 1 / (1 + e^(−z)), in its two-branch stable form.
    Sigmoid,
    /// tanh(z), with z clamped to ±15.
    Tanh,
}

/// tanh's argument is clamped here on every backend (tanh(15) rounds to 1 in f32).
pub const TANH_CLAMP: f64 = 15.0;

impl Activation {
    pub const ALL: [Activation; 2] = [Activation::Sigmoid, Activation::Tanh];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
        }
    }

    pub fn parse(s: &str) -> Option<Activation> {
        Activation::ALL.into_iter().find(|a| a.name() == s)
    }

    /// g(z), stable for any finite z.
    pub fn apply(self, z: f64) -> f64 {
        match self {
            Activation::Sigmoid => {
                if z >= 0.0 {
                    1.0 / (1.0 + (-z).exp())
                } else {
                    let e = z.exp();
                    e / (1.0 + e)
                }
            }
            Activation::Tanh => z.clamp(-TANH_CLAMP, TANH_CLAMP).tanh(),
        }
    }

    /// g′ written through the activation's output a = g(z). For tanh it
    /// is 0 where z was clamped (a = ±tanh(15)), the clamped function
    /// being flat there: 1 − a² would leave 3.7e-13 at any |z| ≥ 15, which
    /// inputs of 1e12 make a step, where f32's tanh, already ±1, gives 0.
    pub fn derivative_from_output(self, a: f64) -> f64 {
        static AT_CLAMP: std::sync::LazyLock<f64> = std::sync::LazyLock::new(|| TANH_CLAMP.tanh());
        match self {
            Activation::Sigmoid => a * (1.0 - a),
            Activation::Tanh if a.abs() >= *AT_CLAMP => 0.0,
            Activation::Tanh => 1.0 - a * a,
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where one layer's weight (out × in, row-major) and bias (out) sit in the
/// flat parameter block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerView {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Range<usize>,
    pub bias: Range<usize>,
}

impl LayerView {
    /// Where in the flat parameter block the weights from input `j` sit,
    /// one per output (the weight is out × in, row-major).
    pub fn from_input(&self, j: usize) -> impl Iterator<Item = usize> {
        (self.weight.start + j..self.weight.end).step_by(self.inputs)
    }
}

/// Layer sizes `[f, h1, …, hk, 1]` and the offsets they imply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    sizes: Vec<usize>,
    layers: Vec<LayerView>,
}

impl Layout {
    /// `features` inputs, the given hidden widths, one linear output.
    pub fn new(features: usize, hidden: &[usize]) -> Result<Layout> {
        if features == 0 {
            return Err(Error::Config("the data has no feature columns".into()));
        }
        if hidden.is_empty() {
            return Err(Error::Config(
                "at least one hidden layer is needed (--hidden 64)".into(),
            ));
        }
        if let Some(i) = hidden.iter().position(|&h| h == 0) {
            return Err(Error::Config(format!(
                "hidden layer {} has width 0; every layer needs at least one unit",
                i + 1
            )));
        }
        let mut sizes = Vec::with_capacity(hidden.len() + 2);
        sizes.push(features);
        sizes.extend_from_slice(hidden);
        sizes.push(1);
        let mut layers = Vec::with_capacity(sizes.len() - 1);
        let mut offset = 0usize;
        let too_big = || {
            Error::Config(format!(
                "a network of widths {sizes:?} has too many parameters"
            ))
        };
        for pair in sizes.windows(2) {
            let (inputs, outputs) = (pair[0], pair[1]);
            let w_end = outputs
                .checked_mul(inputs)
                .and_then(|n| n.checked_add(offset))
                .ok_or_else(too_big)?;
            let weight = offset..w_end;
            let bias = weight.end..weight.end.checked_add(outputs).ok_or_else(too_big)?;
            offset = bias.end;
            layers.push(LayerView {
                inputs,
                outputs,
                weight,
                bias,
            });
        }
        // Blocks of f64 (the reference's) must be addressable.
        if offset > isize::MAX as usize / 8 {
            return Err(too_big());
        }
        Ok(Layout { sizes, layers })
    }

    pub fn features(&self) -> usize {
        self.sizes[0]
    }

    /// Widths of the hidden layers, without the input and output sizes.
    pub fn hidden(&self) -> &[usize] {
        &self.sizes[1..self.sizes.len() - 1]
    }

    /// `[f, h1, …, hk, 1]`.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    pub fn layers(&self) -> &[LayerView] {
        &self.layers
    }

    /// Total number of parameters in the flat block.
    pub fn len(&self) -> usize {
        self.layers.last().map_or(0, |l| l.bias.end)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Nominal FLOPs of one epoch over `n` rows, 4·N·f·h + 6·N·h (docs/spec.md)
    /// summed over the hidden layers (f being each layer's input width).
    pub fn epoch_flops(&self, n: usize) -> f64 {
        let hidden = &self.layers[..self.layers.len() - 1];
        let n = n as f64;
        hidden
            .iter()
            .map(|l| 4.0 * n * l.inputs as f64 * l.outputs as f64 + 6.0 * n * l.outputs as f64)
            .sum()
    }

    /// The hidden widths as the CLI writes them: `64,32`.
    pub fn hidden_spec(&self) -> String {
        self.hidden()
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A trained or freshly initialised network.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub layout: Layout,
    pub activation: Activation,
    /// The flat parameter block: for each layer, weight then bias.
    pub params: Vec<f32>,
    pub feature_names: Vec<String>,
    pub target_name: String,
    /// Set when the model was trained with `--standardize`: its inputs are
    /// standardised features and its output a standardised target.
    pub standardization: Option<Standardization>,
    /// Set when the model was trained with `--missing mean` or `median`:
    /// each raw feature's training mean or median, which fills a missing
    /// cell.
    pub imputation: Option<Imputation>,
    /// The text columns one-hot encoded (`--categorical`), in file order:
    /// each level is a feature, named `column=level`. Empty for a model
    /// of numbers alone.
    pub categories: Vec<Category>,
    /// The features read from dates (`--date`), as the days since
    /// 1970-01-01 UTC, in the features' order. Empty for a model without.
    pub dates: Vec<String>,
    /// The transform of the target it was trained on
    /// (`--target-transform`): its output, unstandardized, is the
    /// transformed target, which predictions transform back.
    pub target_transform: TargetTransform,
    /// Each feature's range over the rows it was trained on, which
    /// `predict` compares its rows with; none for a model saved by a
    /// version that kept none, or trained on rows never on the host.
    pub ranges: Option<FeatureRanges>,
}

impl Model {
    /// Weights ~ U(−1/√fan_in, 1/√fan_in) from `seed`, biases 0.
    pub fn init(
        layout: Layout,
        activation: Activation,
        seed: u64,
        feature_names: Vec<String>,
        target_name: String,
    ) -> Model {
        let mut params = vec![0.0f32; layout.len()];
        for (i, layer) in layout.layers().iter().enumerate() {
            let bound = 1.0 / (layer.inputs as f32).sqrt();
            for (k, w) in params[layer.weight.clone()].iter_mut().enumerate() {
                *w = bound * rng::symmetric(seed, Stream::Layer(i), k as u64);
            }
        }
        Model {
            layout,
            activation,
            params,
            feature_names,
            target_name,
            standardization: None,
            imputation: None,
            categories: Vec::new(),
            dates: Vec::new(),
            target_transform: TargetTransform::None,
            ranges: None,
        }
    }

    /// That the parts agree: a parameter block of the layout's length, and
    /// statistics, where present, for each of its features.
    pub fn check(&self) -> Result<()> {
        if self.params.len() != self.layout.len() {
            return Err(Error::Config(format!(
                "the model holds {} but its layout needs {}",
                crate::units::count(self.params.len(), "parameter"),
                crate::units::count(self.layout.len(), "parameter")
            )));
        }
        if let Some(s) = &self.standardization {
            s.check(self.layout.features())
                .map_err(|e| Error::Config(format!("the model's standardization {e}")))?;
        }
        if let Some(m) = &self.imputation {
            m.check(self.layout.features())
                .map_err(|e| Error::Config(format!("the model's imputation {e}")))?;
        }
        check_categories(&self.categories, &self.feature_names)
            .map_err(|e| Error::Config(format!("the model's categories {e}")))?;
        check_dates(&self.dates, &self.feature_names, &self.categories)
            .map_err(|e| Error::Config(format!("the model's dates {e}")))?;
        Ok(())
    }

    /// Sets the first layer's weights from each of `features` to 0.
    ///
    /// # Panics
    ///
    /// If a feature is not one of the layout's inputs.
    pub fn zero_inputs(&mut self, features: &[usize]) {
        let inputs = self.layout.features();
        if let Some(j) = features.iter().find(|&&j| j >= inputs) {
            panic!("zero_inputs: feature {j} of a model of {inputs} inputs");
        }
        let first = &self.layout.layers()[0];
        for i in features.iter().flat_map(|&j| first.from_input(j)) {
            self.params[i] = 0.0;
        }
    }

    /// Layer `layer`'s weights, row-major (outputs × inputs).
    ///
    /// # Panics
    ///
    /// If the layout has no layer `layer` ([`Layout::layers`]).
    pub fn weight(&self, layer: usize) -> &[f32] {
        &self.params[self.layout.layers()[layer].weight.clone()]
    }

    /// Layer `layer`'s biases.
    ///
    /// # Panics
    ///
    /// If the layout has no layer `layer`.
    pub fn bias(&self, layer: usize) -> &[f32] {
        &self.params[self.layout.layers()[layer].bias.clone()]
    }
}

/// Checks a model's categories: each sound ([`Category::check`]), each
/// column once, and each level's feature among `feature_names`.
pub fn check_categories(
    categories: &[Category],
    feature_names: &[String],
) -> std::result::Result<(), String> {
    let features: std::collections::HashSet<&str> =
        feature_names.iter().map(String::as_str).collect();
    for (i, c) in categories.iter().enumerate() {
        c.check()?;
        if categories[..i].iter().any(|d| d.column == c.column) {
            return Err(format!(
                "names the column '{}' twice",
                crate::data::escaped(&c.column)
            ));
        }
        let names = c.feature_names().into_iter();
        if let Some(name) = names.into_iter().find(|n| !features.contains(n.as_str())) {
            return Err(format!(
                "makes the feature '{}', which is not among the model's features",
                crate::data::escaped(&name)
            ));
        }
    }
    Ok(())
}

/// Checks a model's date features: each among `feature_names`, once, and
/// none a one-hot level's (of `categories`).
pub fn check_dates(
    dates: &[String],
    feature_names: &[String],
    categories: &[Category],
) -> std::result::Result<(), String> {
    let levels = crate::data::column_of_level(categories);
    for (i, name) in dates.iter().enumerate() {
        let shown = crate::data::escaped(name);
        if !feature_names.contains(name) {
            return Err(format!(
                "names '{shown}', which is not among the model's features"
            ));
        }
        if dates[..i].contains(name) {
            return Err(format!("names '{shown}' twice"));
        }
        if levels.contains_key(name) {
            return Err(format!("names '{shown}', a one-hot encoded level"));
        }
    }
    Ok(())
}

/// Parses `64` or `64,32` into hidden widths.
pub fn parse_hidden(spec: &str) -> std::result::Result<Vec<usize>, String> {
    spec.split(',')
        .map(|part| {
            let part = part.trim();
            part.parse::<usize>()
                .map_err(|_| format!("'{part}' is not a layer width; expected e.g. 64 or 64,32"))
                .and_then(|h| {
                    if h == 0 {
                        Err("a hidden layer needs at least one unit".to_string())
                    } else {
                        Ok(h)
                    }
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tanh's g′ is 0 where z was clamped, and 1 − a² inside.
    #[test]
    fn tanh_is_flat_where_clamped() {
        let t = Activation::Tanh;
        for z in [15.0, -15.0, 20.0, -1e30] {
            assert_eq!(t.derivative_from_output(t.apply(z)), 0.0, "{z}");
        }
        for z in [14.9, -14.9, 0.5, 0.0] {
            let a = t.apply(z);
            assert_eq!(t.derivative_from_output(a), 1.0 - a * a, "{z}");
            assert!(t.derivative_from_output(a) > 0.0, "{z}");
        }
    }

    #[test]
    fn layout_offsets_are_contiguous() {
        let l = Layout::new(3, &[4, 2]).unwrap();
        assert_eq!(l.sizes(), &[3, 4, 2, 1]);
        let v = l.layers();
        assert_eq!(v[0].weight, 0..12);
        assert_eq!(v[0].bias, 12..16);
        assert_eq!(v[1].weight, 16..24);
        assert_eq!(v[1].bias, 24..26);
        assert_eq!(v[2].weight, 26..28);
        assert_eq!(v[2].bias, 28..29);
        assert_eq!(l.len(), 29);
    }

    #[test]
    fn flops_match_the_spec_for_one_hidden_layer() {
        let l = Layout::new(16, &[64]).unwrap();
        let n = 65_536usize;
        let expect = 4.0 * n as f64 * 16.0 * 64.0 + 6.0 * n as f64 * 64.0;
        assert_eq!(l.epoch_flops(n), expect);
    }

    #[test]
    fn init_is_bounded_seeded_and_biases_zero() {
        let l = Layout::new(4, &[9]).unwrap();
        let m = Model::init(l.clone(), Activation::Tanh, 5, vec![], "y".into());
        assert!(m.weight(0).iter().all(|w| w.abs() <= 0.5));
        assert!(m.weight(1).iter().all(|w| w.abs() <= 1.0 / 3.0));
        assert!(m.bias(0).iter().all(|&b| b == 0.0));
        assert!(m.bias(1).iter().all(|&b| b == 0.0));
        // U(−b, b) fills its range: |w| averages b/2 and comes near b
        // (a narrower or wider range fails one or the other).
        let wide = Layout::new(16, &[32]).unwrap();
        let m2 = Model::init(wide, Activation::Sigmoid, 9, vec![], "y".into());
        for (layer, fan_in) in [(0, 16.0f32), (1, 32.0)] {
            let bound = 1.0 / fan_in.sqrt();
            let w = m2.weight(layer);
            let mean = w.iter().map(|v| v.abs()).sum::<f32>() / w.len() as f32 / bound;
            let top = w.iter().fold(0.0f32, |a, v| a.max(v.abs())) / bound;
            assert!(
                (0.4..0.6).contains(&mean),
                "layer {layer}: mean |w| {mean}·b"
            );
            assert!((0.9..=1.0).contains(&top), "layer {layer}: max |w| {top}·b");
        }
        assert!(m.weight(0).iter().any(|&w| w != 0.0));
        let again = Model::init(l.clone(), Activation::Tanh, 5, vec![], "y".into());
        assert_eq!(m.params, again.params);
        let other = Model::init(l, Activation::Tanh, 6, vec![], "y".into());
        assert_ne!(m.params, other.params);
    }

    #[test]
    fn activations_are_stable_at_extremes() {
        for z in [-1000.0, -100.0, -15.0, 0.0, 15.0, 100.0, 1000.0] {
            for a in Activation::ALL {
                let v = a.apply(z);
                assert!(v.is_finite(), "{a} at {z}");
            }
        }
        assert_eq!(Activation::Sigmoid.apply(0.0), 0.5);
        assert_eq!(Activation::Sigmoid.apply(-1000.0), 0.0);
        assert_eq!(Activation::Sigmoid.apply(1000.0), 1.0);
        assert!((Activation::Tanh.apply(1000.0) - 1.0).abs() < 1e-12);
    }

    /// A layout is refused without features, with a layer of width 0
    /// (named by its place, from 1), or with a block of f64 beyond
    /// isize::MAX bytes, though its offsets fit a usize.
    #[test]
    fn a_layout_is_refused_without_features_units_or_room() {
        let err = |f, hidden: &[usize]| Layout::new(f, hidden).unwrap_err().to_string();
        assert!(err(0, &[4]).contains("the data has no feature columns"));
        assert!(err(3, &[]).contains("at least one hidden layer"));
        let zero = err(3, &[4, 0, 2]);
        assert!(zero.contains("hidden layer 2 has width 0"), "{zero}");
        // 3h + 1 parameters: 8 bytes each pass isize::MAX where h is a
        // sixteenth of it, and fit where h is a thirty-second.
        let h = isize::MAX as usize / 16;
        assert!(err(1, &[h]).contains("too many parameters"));
        assert_eq!(Layout::new(1, &[h / 2]).unwrap().len(), 3 * (h / 2) + 1);
    }

    /// The hidden widths leave out the input and the output unit.
    #[test]
    fn hidden_widths_are_those_given() {
        let l = Layout::new(5, &[64, 32]).unwrap();
        assert_eq!(l.features(), 5);
        assert_eq!(l.hidden(), &[64, 32]);
        assert_eq!(l.hidden_spec(), "64,32");
        assert_eq!(Layout::new(5, &[7]).unwrap().hidden_spec(), "7");
    }

    /// Each hidden layer counts with its own input width: the second
    /// layer's is the first's width, not the features.
    #[test]
    fn flops_sum_each_hidden_layer_on_its_own_inputs() {
        let l = Layout::new(3, &[8, 5]).unwrap();
        let n = 10.0;
        let first = 4.0 * n * 3.0 * 8.0 + 6.0 * n * 8.0;
        let second = 4.0 * n * 8.0 * 5.0 + 6.0 * n * 5.0;
        assert_eq!(l.epoch_flops(10), first + second);
    }

    /// Layer i's weight at row-major position k is drawn from stream
    /// Layer(i) at index k, whatever the layer's offset in the block.
    #[test]
    fn each_layers_weights_come_from_its_own_stream() {
        let l = Layout::new(3, &[4, 2]).unwrap();
        let m = Model::init(l, Activation::Sigmoid, 11, vec![], "y".into());
        for (i, fan_in) in [(0, 3.0f32), (1, 4.0), (2, 2.0)] {
            let drawn: Vec<f32> = (0..m.weight(i).len() as u64)
                .map(|k| 1.0 / fan_in.sqrt() * rng::symmetric(11, Stream::Layer(i), k))
                .collect();
            assert_eq!(m.weight(i), drawn, "layer {i}");
        }
    }

    /// A feature one past the last input is refused, not taken for
    /// another layer's weight.
    #[test]
    #[should_panic(expected = "zero_inputs: feature 3 of a model of 3 inputs")]
    fn zeroing_an_input_past_the_last_panics() {
        let l = Layout::new(3, &[2]).unwrap();
        let mut m = Model::init(l, Activation::Tanh, 0, vec![], "y".into());
        m.zero_inputs(&[2, 3]);
    }

    /// A model whose parameters, statistics or categories disagree with
    /// its layout or features is refused.
    #[test]
    fn a_model_that_disagrees_with_itself_is_refused() {
        let l = Layout::new(2, &[2]).unwrap();
        let names = vec!["c=a".to_string(), "c=b".to_string()];
        let mut m = Model::init(l, Activation::Tanh, 0, names.clone(), "y".into());
        m.check().unwrap();
        m.params.pop();
        let short = m.check().unwrap_err().to_string();
        assert!(
            short.contains("holds 8 parameters but its layout needs 9"),
            "{short}"
        );
        m.params.push(0.0);
        m.standardization = Some(Standardization {
            feature_mean: vec![0.0],
            feature_std: vec![1.0],
            target_mean: 0.0,
            target_std: 1.0,
        });
        let stats = m.check().unwrap_err().to_string();
        let says =
            "the model's standardization holds 1 means and 1 standard deviations for 2 features";
        assert!(stats.contains(says), "{stats}");
        let c = Category {
            column: "c".into(),
            levels: vec!["a".into(), "b".into()],
        };
        assert_eq!(check_categories(std::slice::from_ref(&c), &names), Ok(()));
        let twice = check_categories(&[c.clone(), c], &names).unwrap_err();
        assert_eq!(twice, "names the column 'c' twice");
    }

    #[test]
    fn hidden_spec_parses() {
        assert_eq!(parse_hidden("64").unwrap(), vec![64]);
        assert_eq!(parse_hidden("64, 32").unwrap(), vec![64, 32]);
        assert_eq!(
            parse_hidden("0").unwrap_err(),
            "a hidden layer needs at least one unit"
        );
        assert_eq!(
            parse_hidden("64,a").unwrap_err(),
            "'a' is not a layer width; expected e.g. 64 or 64,32"
        );
        assert!(parse_hidden("").is_err());
    }
}
