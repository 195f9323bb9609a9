from __future__ import annotations

import json
import subprocess
import sys


def test_plot_aggregates_seeds_into_groups(tmp_path):
    for method, finals in (("rlpd", [0.6, 0.8, 1.0]), ("wsrl", [0.2, 0.4, 0.3])):
        for seed, final in enumerate(finals):
            run = tmp_path / f"{method}-s{seed}"
            run.mkdir()
            (run / "run_config.json").write_text(
                json.dumps({"config": {"method": method, "agent_name": "sac", "task": "push"}})
            )
            (run / "eval.csv").write_text(
                f"step,eval/success_rate\n0,0.0\n500,{final / 2}\n1000,{final}\n"
            )
    out = tmp_path / "plots" / "curves.png"
    p = subprocess.run(
        [sys.executable, "-m", "robot_rl.cli.main", "plot", str(tmp_path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    table = {g["group"]: g for g in json.loads(out.with_suffix(".json").read_text())["groups"]}
    assert set(table) == {"rlpd/sac/push", "wsrl/sac/push"}
    assert table["rlpd/sac/push"]["runs"] == 3
    assert abs(table["rlpd/sac/push"]["final_iqm"] - 0.8) < 1e-9  # IQM of 3 = the middle one
    lo, hi = table["rlpd/sac/push"]["ci95"]
    assert lo <= 0.8 <= hi and out.stat().st_size > 5000
