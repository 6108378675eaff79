"""Benchmark: cold start to first answer, warm latency p50/p95, ingestion time, peak memory (rules, trained, combined).

Prints the figures and writes them to benchmarks/results/latest.json (and a dated copy). Run it with
``.venv/bin/python benchmarks/bench.py`` from the repository root. It measures; it never asserts.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

QUESTIONS = [
    "كم عدد الدول التي شاركت في الجمعية العامة؟",
    "أين انعقدت الدورة الثالثة والتسعون للجمعية العامة للإنتربول؟",
    "متى انعقدت الجمعية العامة؟",
    "مع من وقّع المغرب مذكرتي تفاهم؟",
    "كم اجتماعا ثنائيا أجرى المدير العام للأمن الوطني؟",
    "ما الوسام الذي منحه الحرس المدني الإسباني؟",
    "من هو الرئيس الجديد للإنتربول؟",
    "ما هي المواضيع التي ناقشتها الورشات المتخصصة؟",
    "ما المشروع التجريبي الذي جرى تقييمه؟",
    "أين أقيمت الأشغال في مراكش؟",
]

CHILD = r"""
import time, sys, json, resource
t0 = float(sys.argv[1])
from assistant.config import load_settings
from assistant.service import Assistant
a = Assistant(load_settings())
ans = a.ask(sys.argv[2])
first = time.time() - t0
lat = []
for q in json.loads(sys.argv[3]):
    a._load()[0]._qcache.clear()  # a repeated question would skip its embedding: every answer pays it here
    t = time.perf_counter(); a.ask(q); lat.append((time.perf_counter() - t) * 1000)
print(json.dumps({"first": first, "lat": lat, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "refused": ans.refused, "reader": ans.reader}))
"""


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    s = sorted(values)
    if not s:
        return 0.0
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main() -> int:
    """Run the benchmark and write the results file."""
    home = Path(tempfile.mkdtemp(prefix="bench-"))
    shutil.copytree(ROOT / "sources", home / "sources")
    env = dict(os.environ, ASSISTANT_HOME=str(home), ASSISTANT_PROMPTS_DIR=str(ROOT / "prompts"))
    py = sys.executable
    # the model is prepared once (cached); preparing it is a one-time cost measured separately
    t = time.perf_counter()
    subprocess.run([py, "-c", "from assistant.config import load_settings as l; from assistant.backends import embedder as g;"
                    " s=l(); g(s.embed_model, s.cache_dir)"], env=env, check=True)
    model_load_s = time.perf_counter() - t

    t = time.perf_counter()
    ing = subprocess.run([py, "-m", "assistant.cli", "ingest"], env=env, capture_output=True, text=True)
    ingest_s = time.perf_counter() - t
    if ing.returncode != 0:
        print(ing.stderr, file=sys.stderr)
        return 1
    reps = QUESTIONS * 3
    runs = {}
    for reader in ("rules", "trained", "combined"):  # the same process path with each reader (combined: the default)
        t0 = time.time()
        out = subprocess.run([py, "-c", CHILD, str(t0), QUESTIONS[0], json.dumps(reps)],
                             env=dict(env, ASSISTANT_READER=reader), capture_output=True, text=True, check=True)
        runs[reader] = json.loads(out.stdout.strip().splitlines()[-1])
    child = runs["trained"]
    lat = child["lat"]
    base = runs["rules"]
    default = runs["combined"]
    results = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "sources": len(list((home / "sources").glob("*"))),
        "ingest_seconds_incl_process_start": round(ingest_s, 2),
        "model_load_seconds_incl_process_start": round(model_load_s, 2),
        "cold_start_to_first_answer_seconds": round(child["first"], 2),
        "warm_latency_ms_p50": round(pct(lat, 50), 1),
        "warm_latency_ms_p95": round(pct(lat, 95), 1),
        "warm_questions": len(lat),
        "peak_rss_mb_answering_process": round(child["rss_mb"], 1),
        "reader": child["reader"],
        "rules_cold_start_to_first_answer_seconds": round(base["first"], 2),
        "rules_warm_latency_ms_p50": round(pct(base["lat"], 50), 1),
        "rules_peak_rss_mb": round(base["rss_mb"], 1),
        "reader_adds_first_answer_seconds": round(child["first"] - base["first"], 2),
        "reader_adds_warm_p50_ms": round(pct(lat, 50) - pct(base["lat"], 50), 1),
        "reader_adds_rss_mb": round(child["rss_mb"] - base["rss_mb"], 1),
        "default_reader": default["reader"],
        "default_cold_start_to_first_answer_seconds": round(default["first"], 2),
        "default_warm_latency_ms_p50": round(pct(default["lat"], 50), 1),
        "default_warm_latency_ms_p95": round(pct(default["lat"], 95), 1),
        "default_peak_rss_mb": round(default["rss_mb"], 1),
        "peak_rss_mb_children_max": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    shutil.rmtree(home, ignore_errors=True)
    for k, v in results.items():
        print(f"{k:45s} {v}")
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, ensure_ascii=False, indent=2)
    (out_dir / "latest.json").write_text(text, encoding="utf-8")
    (out_dir / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
