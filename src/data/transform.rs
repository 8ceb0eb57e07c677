//! A transform of the target that a network is trained on
//! (`train --target-transform`): a target with heavy tails, such as a
//! price or a count, is fit as its logarithm (or asinh), so that the
//! squared error is not ruled by a few far rows. The model keeps the
//! transform, and its predictions are transformed back (exp, sinh) into
//! the target's own units.

/// How the target is transformed before training; the model keeps it.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TargetTransform {
    /// The target as it is.
    #[default]
    None,
    /// ln y: for a target above 0 in every row (a price, an income, a
    /// duration); predictions are e^ŷ.
    Log,
    /// asinh y = ln(y + √(y² + 1)): for a target of any sign, or with
    /// zeros (a count, a balance); near ln 2y for large y, near y around 0.
    /// Predictions are sinh ŷ.
    Asinh,
}

/// The rows of a target outside a transform's domain
/// ([`TargetTransform::apply`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutsideDomain {
    /// The first such row, from 0 among the rows given.
    pub first: usize,
    /// Its value.
    pub value: f32,
    /// How many rows are outside.
    pub count: usize,
    /// The least value of those rows.
    pub least: f32,
}

impl TargetTransform {
    /// Its name, as `--target-transform` takes it and a model file keeps it.
    pub fn name(self) -> &'static str {
        match self {
            TargetTransform::None => "none",
            TargetTransform::Log => "log",
            TargetTransform::Asinh => "asinh",
        }
    }

    /// The transform named `name` ([`TargetTransform::name`]).
    pub fn parse(name: &str) -> Option<TargetTransform> {
        [
            TargetTransform::None,
            TargetTransform::Log,
            TargetTransform::Asinh,
        ]
        .into_iter()
        .find(|t| t.name() == name)
    }

    /// Whether it leaves the target as it is (serde's `skip_serializing_if`).
    pub fn is_none(&self) -> bool {
        *self == TargetTransform::None
    }

    /// The target named `target` as the network sees it, as messages show
    /// it ([`super::escaped`]): `log(price)`, or the name itself.
    pub fn of(self, target: &str) -> String {
        let target = super::escaped(target);
        match self {
            TargetTransform::None => target.into_owned(),
            t => format!("{}({target})", t.name()),
        }
    }

    /// Whether `y` is in the transform's domain (log: above 0).
    pub fn takes(self, y: f64) -> bool {
        match self {
            TargetTransform::Log => y > 0.0,
            TargetTransform::None | TargetTransform::Asinh => true,
        }
    }

    /// t(y), for `y` in the domain ([`TargetTransform::takes`]).
    pub fn forward(self, y: f64) -> f64 {
        match self {
            TargetTransform::None => y,
            TargetTransform::Log => y.ln(),
            TargetTransform::Asinh => y.asinh(),
        }
    }

    /// The name of its inverse ([`TargetTransform::inverse`]): exp or sinh.
    pub fn inverse_name(self) -> &'static str {
        match self {
            TargetTransform::None => "the identity",
            TargetTransform::Log => "exp",
            TargetTransform::Asinh => "sinh",
        }
    }

    /// The target of the transformed value `t`: exp or sinh.
    pub fn inverse(self, t: f64) -> f64 {
        match self {
            TargetTransform::None => t,
            TargetTransform::Log => t.exp(),
            TargetTransform::Asinh => t.sinh(),
        }
    }

    /// Transforms each of `y` in place (computed in f64, stored as f32);
    /// where any is outside the domain, none is changed, and the error
    /// says which.
    pub fn apply(self, y: &mut [f32]) -> Result<(), OutsideDomain> {
        let mut outside: Option<OutsideDomain> = None;
        for (n, &v) in y.iter().enumerate() {
            if !self.takes(v as f64) {
                let o = outside.get_or_insert(OutsideDomain {
                    first: n,
                    value: v,
                    count: 0,
                    least: v,
                });
                o.count += 1;
                o.least = o.least.min(v);
            }
        }
        if let Some(o) = outside {
            return Err(o);
        }
        if !self.is_none() {
            for v in y.iter_mut() {
                *v = self.forward(*v as f64) as f32;
            }
        }
        Ok(())
    }

    /// Transforms each prediction of the transformed target back.
    pub fn invert(self, yhat: &mut [f64]) {
        if !self.is_none() {
            for v in yhat.iter_mut() {
                *v = self.inverse(*v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_transform_is_undone_by_its_inverse() {
        for t in [
            TargetTransform::None,
            TargetTransform::Log,
            TargetTransform::Asinh,
        ] {
            assert_eq!(TargetTransform::parse(t.name()), Some(t));
            for y in [1e-30, 0.5, 1.0, 3.0, 1234.5, 1e30] {
                let back = t.inverse(t.forward(y));
                assert!((back - y).abs() <= 1e-12 * y, "{t:?} {y} → {back}");
            }
        }
        assert_eq!(TargetTransform::parse("ln"), None);
        // asinh takes any sign and is odd; near 0 it is about y.
        let a = TargetTransform::Asinh;
        assert!((a.inverse(a.forward(-7.25)) + 7.25).abs() < 1e-12);
        assert_eq!(a.forward(0.0), 0.0);
        assert!((a.forward(1e-3) - 1e-3).abs() < 1e-9);
        // ln 2y for large y.
        assert!((a.forward(1e6) - (2e6f64).ln()).abs() < 1e-9);
        assert_eq!(TargetTransform::Log.of("price"), "log(price)");
        assert_eq!(TargetTransform::None.of("price"), "price");
    }

    #[test]
    fn log_refuses_a_target_at_or_below_zero_and_changes_nothing() {
        let mut y = vec![2.0f32, 0.0, 5.0, -3.0, 1.0];
        let err = TargetTransform::Log.apply(&mut y).unwrap_err();
        assert_eq!(
            err,
            OutsideDomain {
                first: 1,
                value: 0.0,
                count: 2,
                least: -3.0
            }
        );
        assert_eq!(y, [2.0, 0.0, 5.0, -3.0, 1.0]);
        TargetTransform::Asinh.apply(&mut y).unwrap();
        assert_eq!(y[1], 0.0);
        assert!((y[3] as f64 - (-3.0f64).asinh()).abs() < 1e-6);
        let mut z = vec![std::f32::consts::E, 1.0];
        TargetTransform::Log.apply(&mut z).unwrap();
        assert!((z[0] - 1.0).abs() < 1e-6 && z[1] == 0.0, "{z:?}");
        let mut p = vec![1.0f64, 0.0];
        TargetTransform::Log.invert(&mut p);
        assert_eq!(p, [std::f64::consts::E, 1.0]);
    }
}
