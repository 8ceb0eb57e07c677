#![allow(clippy::needless_range_loop)] // index loops mirror the formulas
//! The reference is itself proven: central finite differences in f64, a tiny
//! case worked by hand, an independent f64 implementation over whole
//! trajectories, and the loss falling on the synthetic task.

mod common;

use common::assert_close;
use shadertrain::cpu::reference::{loss_and_grads, loss_and_grads_f64, Reference};
use shadertrain::cpu::Fast;
use shadertrain::data::Dataset;
use shadertrain::model::{Activation, Layout, Model};
use shadertrain::optim::Optimizer;
use shadertrain::rng::Stream;
use shadertrain::train::{train, Backend, Schedule};

fn model(features: usize, hidden: &[usize], act: Activation, seed: u64) -> Model {
    let layout = Layout::new(features, hidden).unwrap();
    let mut m = Model::init(layout, act, seed, vec![], "y".into());
    // Non-zero biases, so their gradients are exercised away from 0.
    for (k, layer) in m.layout.layers().to_vec().iter().enumerate() {
        for (j, b) in m.params[layer.bias.clone()].iter_mut().enumerate() {
            *b = 0.3 * shadertrain::rng::symmetric(seed, Stream::Other(50 + k as u32), j as u64);
        }
    }
    m
}

#[test]
fn gradients_match_central_differences() {
    let data = Dataset::synthetic(7, 3, 11).unwrap();
    for act in Activation::ALL {
        for hidden in [&[5][..], &[4, 3][..]] {
            let m = model(3, hidden, act, 2);
            let theta: Vec<f64> = m.params.iter().map(|&p| p as f64).collect();
            let (_, grads) = loss_and_grads_f64(&m.layout, act, &theta, &data);
            let h = 1e-6;
            let numeric: Vec<f64> = (0..theta.len())
                .map(|i| {
                    let mut plus = theta.clone();
                    let mut minus = theta.clone();
                    plus[i] += h;
                    minus[i] -= h;
                    let lp = loss_and_grads_f64(&m.layout, act, &plus, &data).0;
                    let lm = loss_and_grads_f64(&m.layout, act, &minus, &data).0;
                    (lp - lm) / (2.0 * h)
                })
                .collect();
            assert_close(
                &format!("{act} {hidden:?} gradient"),
                &grads,
                &numeric,
                1e-8,
                1e-6,
            );
            assert!(grads.iter().any(|g| g.abs() > 1e-3), "gradients all near 0");
        }
    }
}

/// Two rows x = (1, −1), y = (1, 0); W1 = 0, b1 = 0, W2 = 2, b2 = 0.5.
fn hand_case(act: Activation) -> (Model, Dataset) {
    let layout = Layout::new(1, &[1]).unwrap();
    let m = Model {
        layout,
        activation: act,
        params: vec![0.0, 0.0, 2.0, 0.5],
        feature_names: vec!["x".into()],
        target_name: "y".into(),
        standardization: None,
        imputation: None,
        categories: Vec::new(),
        dates: Vec::new(),
        target_transform: Default::default(),
        ranges: None,
    };
    let d = Dataset {
        x: vec![1.0, -1.0],
        y: vec![1.0, 0.0],
        rows: 2,
        features: 1,
        feature_names: vec!["x".into()],
        target_name: "y".into(),
    };
    (m, d)
}

#[test]
fn tiny_sigmoid_case_worked_by_hand() {
    // a1 = σ(0) = 0.5 on both rows; ŷ = 2·0.5 + 0.5 = 1.5; e = (0.5, 1.5)
    // L = (0.25 + 2.25)/2 = 1.25; r = (2/2)·e = (0.5, 1.5)
    // ∂W2 = Σ r·a1 = 1.0; ∂b2 = Σ r = 2.0
    // Δ1 = r·W2·a1(1 − a1) = r·0.5 = (0.25, 0.75)
    // ∂W1 = Σ Δ1·x = 0.25 − 0.75 = −0.5; ∂b1 = Σ Δ1 = 1.0
    let (m, d) = hand_case(Activation::Sigmoid);
    let (loss, grads) = loss_and_grads(&m.layout, m.activation, &m.params, &d);
    assert_eq!(loss, 1.25);
    assert_eq!(grads, vec![-0.5, 1.0, 1.0, 2.0]);
    // One step with α = 0.1: θ − 0.1·∂θ.
    let mut r = Reference::new(&m, &d, Optimizer::gd(0.1)).unwrap();
    let mut losses = Vec::new();
    r.run(1, &mut losses).unwrap();
    assert_eq!(losses, vec![1.25]);
    assert_eq!(r.params().unwrap(), vec![0.05, -0.1, 1.9, 0.3]);
}

#[test]
fn tiny_tanh_case_worked_by_hand() {
    // a1 = tanh(0) = 0; ŷ = 0.5; e = (−0.5, 0.5); L = 0.25; r = (−0.5, 0.5)
    // ∂W2 = Σ r·a1 = 0; ∂b2 = 0
    // Δ1 = r·W2·(1 − a1²) = (−1, 1); ∂W1 = −1·1 + 1·(−1) = −2; ∂b1 = 0
    let (m, d) = hand_case(Activation::Tanh);
    let (loss, grads) = loss_and_grads(&m.layout, m.activation, &m.params, &d);
    assert_eq!(loss, 0.25);
    assert_eq!(grads, vec![-2.0, 0.0, 0.0, 0.0]);
}

/// An independent f64 trainer: per-sample back-propagation over weight
/// matrices held in f64 from start to end.
struct Independent {
    /// weights[l][o][i], biases[l][o]
    weights: Vec<Vec<Vec<f64>>>,
    biases: Vec<Vec<f64>>,
    act: Activation,
}

impl Independent {
    fn new(m: &Model) -> Independent {
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for l in m.layout.layers() {
            let w = &m.params[l.weight.clone()];
            weights.push(
                (0..l.outputs)
                    .map(|o| (0..l.inputs).map(|i| w[o * l.inputs + i] as f64).collect())
                    .collect(),
            );
            biases.push(m.params[l.bias.clone()].iter().map(|&b| b as f64).collect());
        }
        Independent {
            weights,
            biases,
            act: m.activation,
        }
    }

    fn g(&self, z: f64) -> f64 {
        match self.act {
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Tanh => z.tanh(),
        }
    }

    /// One gradient-descent step; returns the loss before it.
    fn step(&mut self, data: &Dataset, lr: f64) -> f64 {
        let layers = self.weights.len();
        let mut dw: Vec<Vec<Vec<f64>>> = self
            .weights
            .iter()
            .map(|w| w.iter().map(|row| vec![0.0; row.len()]).collect())
            .collect();
        let mut db: Vec<Vec<f64>> = self.biases.iter().map(|b| vec![0.0; b.len()]).collect();
        let n = data.rows as f64;
        let mut loss = 0.0;
        for s in 0..data.rows {
            let mut acts = vec![data.row(s).iter().map(|&v| v as f64).collect::<Vec<f64>>()];
            for l in 0..layers {
                let prev = &acts[l];
                let out: Vec<f64> = (0..self.weights[l].len())
                    .map(|o| {
                        let z = self.biases[l][o]
                            + self.weights[l][o]
                                .iter()
                                .zip(prev)
                                .map(|(w, a)| w * a)
                                .sum::<f64>();
                        if l + 1 < layers {
                            self.g(z)
                        } else {
                            z
                        }
                    })
                    .collect();
                acts.push(out);
            }
            let err = acts[layers][0] - data.y[s] as f64;
            loss += err * err / n;
            let mut delta = vec![2.0 * err / n];
            for l in (0..layers).rev() {
                for (o, d) in delta.iter().enumerate() {
                    db[l][o] += d;
                    for (i, a) in acts[l].iter().enumerate() {
                        dw[l][o][i] += d * a;
                    }
                }
                if l > 0 {
                    delta = (0..acts[l].len())
                        .map(|i| {
                            let a = acts[l][i];
                            let back: f64 = delta
                                .iter()
                                .enumerate()
                                .map(|(o, d)| d * self.weights[l][o][i])
                                .sum();
                            let slope = match self.act {
                                Activation::Sigmoid => a * (1.0 - a),
                                Activation::Tanh => 1.0 - a * a,
                            };
                            back * slope
                        })
                        .collect();
                }
            }
        }
        for l in 0..layers {
            for o in 0..self.weights[l].len() {
                self.biases[l][o] -= lr * db[l][o];
                for i in 0..self.weights[l][o].len() {
                    self.weights[l][o][i] -= lr * dw[l][o][i];
                }
            }
        }
        loss
    }
}

#[test]
fn trajectory_matches_an_independent_f64_implementation() {
    let data = Dataset::synthetic(64, 3, 5).unwrap();
    for act in Activation::ALL {
        for hidden in [&[8][..], &[6, 4][..]] {
            let m = model(3, hidden, act, 9);
            let mut indep = Independent::new(&m);
            let want: Vec<f64> = (0..100).map(|_| indep.step(&data, 0.1)).collect();
            let mut backend = Reference::new(&m, &data, Optimizer::gd(0.1)).unwrap();
            let schedule = Schedule {
                max_epochs: 100,
                tol: 0.0,
            };
            let out = train(&mut backend, &schedule).unwrap();
            assert_eq!(out.losses.len(), 101);
            assert_close(
                &format!("{act} {hidden:?} losses"),
                &out.losses[..100],
                &want,
                0.0,
                1e-4,
            );
            assert!(want[99] < want[0], "{act} {hidden:?}: loss did not fall");
        }
    }
}

/// Inputs so large that every tanh unit is clamped: the reference (f64)
/// and the fast CPU backend (f32) both take g′ = 0 there, so only the
/// output layer learns, alike on both. Before the reference took 1 − a²
/// at a = tanh(15) (3.7e-13 in f64, 0 in f32), its first-layer steps
/// made the losses 0.94 apart after one epoch.
#[test]
fn saturated_tanh_units_learn_alike_in_f64_and_f32() {
    let mut data = Dataset::synthetic(64, 3, 5).unwrap();
    for x in &mut data.x {
        *x *= 1e30;
    }
    let m = model(3, &[16], Activation::Tanh, 9);
    let schedule = Schedule {
        max_epochs: 20,
        tol: 0.0,
    };
    let mut reference = Reference::new(&m, &data, Optimizer::gd(0.1)).unwrap();
    let want = train(&mut reference, &schedule).unwrap().losses;
    let mut fast = Fast::new(&m, &data, Optimizer::gd(0.1), 1).unwrap();
    let got = train(&mut fast, &schedule).unwrap().losses;
    assert_close("saturated tanh losses", &got, &want, 0.0, 1e-5);
    let first = m.layout.layers()[0].weight.clone();
    let moved = reference.params().unwrap()[first.clone()] != m.params[first];
    assert!(!moved, "the reference moved a saturated first layer");
}

#[test]
fn loss_falls_below_threshold_on_the_synthetic_task() {
    // y has variance ≈ 1/3; a network that learns nothing stays near it.
    let data = Dataset::synthetic(512, 3, 1).unwrap();
    let m = model(3, &[16], Activation::Tanh, 1);
    let mut backend = Reference::new(&m, &data, Optimizer::gd(0.1)).unwrap();
    let schedule = Schedule {
        max_epochs: 1500,
        tol: 0.0,
    };
    let out = train(&mut backend, &schedule).unwrap();
    let last = *out.losses.last().unwrap();
    eprintln!("loss {} -> {last}", out.losses[0]);
    assert!(last < 0.05, "final loss {last} is not below 0.05");
}

/// Three hidden layers: the fast CPU backend's loss and gradient against
/// the reference's at the same parameters. A middle layer, which both
/// receives deltas and passes them on, exists from three layers on; every
/// layer's bias gradient is checked here, and each is away from 0.
#[test]
fn fast_gradients_match_the_reference_through_three_hidden_layers() {
    use shadertrain::optim::lbfgs::Objective;
    let data = Dataset::synthetic(50, 3, 4).unwrap();
    for act in Activation::ALL {
        let m = model(3, &[5, 4, 3], act, 7);
        let (want_loss, want) = loss_and_grads(&m.layout, act, &m.params, &data);
        let mut fast = Fast::new(&m, &data, Optimizer::gd(0.1), 1).unwrap();
        let mut got = vec![0.0; m.params.len()];
        let loss = fast.evaluate(&m.params, &mut got).unwrap();
        assert_close(&format!("{act} loss"), &[loss], &[want_loss], 0.0, 1e-5);
        assert_close(&format!("{act} gradient"), &got, &want, 1e-6, 1e-4);
        for (l, layer) in m.layout.layers().iter().enumerate() {
            assert!(
                want[layer.bias.clone()].iter().any(|g| g.abs() > 1e-4),
                "{act}: layer {l}'s bias gradient is all near 0"
            );
        }
    }
}

/// Over more rows than the reference's block of 1,024, the loss and every
/// gradient are the row-weighted means of those over two parts of one
/// block each: r = (2/N)·e with N the whole batch's rows, and each block
/// of rows paired with its own targets.
#[test]
fn the_reference_over_several_blocks_is_the_weighted_mean_of_its_parts() {
    let data = Dataset::synthetic(1500, 3, 8).unwrap();
    for hidden in [&[4][..], &[3, 2][..]] {
        let m = model(3, hidden, Activation::Tanh, 3);
        let (loss, grads) = loss_and_grads(&m.layout, m.activation, &m.params, &data);
        let parts = [data.slice(0..1000), data.slice(1000..1500)];
        let [(la, ga), (lb, gb)] =
            parts.map(|p| loss_and_grads(&m.layout, m.activation, &m.params, &p));
        let mean = |a: f64, b: f64| (1000.0 * a + 500.0 * b) / 1500.0;
        assert_close("loss", &[loss], &[mean(la, lb)], 0.0, 1e-12);
        let want: Vec<f64> = ga.iter().zip(&gb).map(|(&a, &b)| mean(a, b)).collect();
        assert_close(&format!("{hidden:?} gradient"), &grads, &want, 1e-15, 1e-10);
    }
}
