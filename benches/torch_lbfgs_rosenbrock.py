"""Prints the table TORCH_ROSENBROCK in src/optim/lbfgs.rs's tests: the
iterates 1 to 15 of torch.optim.LBFGS (float64, history_size 5,
line_search_fn "strong_wolfe", both tolerances 0) on Rosenbrock's
function, each from a fresh optimizer's one step with max_iter k.

    python3 benches/torch_lbfgs_rosenbrock.py
"""
import torch

torch.set_default_dtype(torch.float64)
CASES = (
    (1.0, [-1.2, 1.0], "1e-4"),
    (1.0, [2.0, -1.5], "1e-4"),
    (4.0, [2.0, -1.5], "1e-3"),
)
out = []
for lr, x0, tol in CASES:
    rows = []
    for k in range(1, 16):
        x = torch.tensor(x0, requires_grad=True)
        opt = torch.optim.LBFGS(
            [x], lr=lr, max_iter=k, max_eval=100000, history_size=5,
            line_search_fn="strong_wolfe", tolerance_grad=0, tolerance_change=0,
        )

        def closure():
            opt.zero_grad()
            f = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
            f.backward()
            return f

        opt.step(closure)
        p = x.detach()
        rows.append("                [%.11e, %.11e]," % (p[0], p[1]))
    out.append(
        "        (\n            %.1f,\n            [%.1f, %.1f],\n            %s,\n"
        "            [\n%s\n            ],\n        ),"
        % (lr, x0[0], x0[1], tol, "\n".join(rows))
    )
print("\n".join(out))
