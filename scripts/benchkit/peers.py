"""Section 7: cnntrain against PyTorch Lightning and Keras, each in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from benchkit.machine import OWN_PIDS, ROOT, Busy, interleave

# --- 7. peers: Lightning and Keras, each in its own process ------------------------------------------

PEER_SCRIPT = Path(__file__).resolve().parents[1] / "bench_peers.py"
PEER_NAMES = ("cnntrain", "bare", "lightning", "keras")
# cnntrain with OMP_NUM_THREADS set, as the others' thread count is; its own default is a count fixed for the
# run too (only the opt-in train.threads_follow_load changes it), so the two should train alike
FIXED = "cnntrain_fixed_threads"


class Peer:
    """One scripts/bench_peers.py process: `epoch()` has it train one epoch and say how long it took."""

    def __init__(self, name: str, images: int, log: Path):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                                         os.environ.get("PYTHONPATH")]))}
        if name == FIXED:
            env["OMP_NUM_THREADS"] = str(torch.get_num_threads())
        self.name, self.log = name, log.open("w")
        peer = "cnntrain" if name == FIXED else name
        self.proc = subprocess.Popen([sys.executable, str(PEER_SCRIPT), peer, "--images", str(images)], cwd=ROOT,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        OWN_PIDS.add(self.proc.pid)

    def wait_ready(self) -> None:
        self._line(lambda line: line == "ready")

    def epoch(self) -> tuple[int, float]:
        self.proc.stdin.write("epoch\n")
        self.proc.stdin.flush()
        done = json.loads(self._line(lambda line: line.startswith("{")))
        return done["images"], done["seconds"]

    def _line(self, wanted) -> str:
        """The next stdout line `wanted` accepts; a framework's own chatter on stdout is skipped."""
        for line in self.proc.stdout:
            if wanted(line.strip()):
                return line.strip()
        raise RuntimeError(f"peer {self.name} stopped; see {self.log.name}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        OWN_PIDS.discard(self.proc.pid)
        self.log.close()


def installed_peers() -> tuple[list[str], list[str]]:
    """(peers to run, peers missing): Lightning and Keras come with `pip install -e '.[bench]'`."""
    import importlib.util

    missing = [n for n in ("lightning", "keras") if importlib.util.find_spec(n) is None]
    return [n for n in PEER_NAMES if n not in missing], missing


def bench_peers(s: dict, tmp: Path) -> dict:
    names, missing = installed_peers()
    names.insert(1, FIXED)
    peers = {n: Peer(n, s["peer_images"], tmp / f"peer_{n}.log") for n in names}
    try:
        for peer in peers.values():
            peer.wait_ready()
        with Busy() as busy:
            every = interleave({n: p.epoch for n, p in peers.items()}, s["peer_rounds"], 1, s["peer_budget_s"])
    finally:
        for peer in peers.values():
            peer.close()
    rounds = every.quiet()
    return {"images_per_epoch": s["peer_images"], "data": "shapes, 28x28, 1 channel", "batch_size": 64,
            "optimizer": "adadelta", "missing": missing, "rounds": len(every.background),
            "rounds_used": len(rounds.background), **{f"{n}_img_s": round(rounds.median(n), 1) for n in names},
            **{f"cnntrain_vs_{n}": round(rounds.ratio("cnntrain", n), 3) for n in names if n != "cnntrain"},
            **{f"{FIXED}_vs_{n}": round(rounds.ratio(FIXED, n), 3) for n in names if "cnntrain" not in n},
            "per_round": {k: [round(v, 1) for v in r] for k, r in every.rates.items()},
            "per_round_background_cores": every.background, "background_cores": busy.cores}


