//! Cooperative matrices (wgpu's `EXPERIMENTAL_COOPERATIVE_MATRIX`): which
//! configurations an adapter offers, and the one `--precision mixed` uses.

/// The adapter's cooperative-matrix configurations, as `MxNxK A→C` items.
pub fn describe(adapter: &wgpu::Adapter) -> String {
    if !adapter
        .features()
        .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
    {
        return "none".to_string();
    }
    let all = adapter.cooperative_matrix_properties();
    if all.is_empty() {
        return "none".to_string();
    }
    all.iter()
        .map(|p| {
            format!(
                "{}x{}x{} {:?}->{:?}",
                p.m_size, p.n_size, p.k_size, p.ab_type, p.cr_type
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
