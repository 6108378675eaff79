"""Load benchmark: many users asking the web chat at once, through Gradio's call API with plain HTTP clients.

Starts ``assistant chat`` on a free port over a copy of the article (the real e5-small model), then for 1, 5,
20 and 50 concurrent clients sends questions for a fixed time and prints p50/p95 latency, answers per second,
errors, the server's RSS, and the machine's limit: cores ÷ CPU-seconds one answer costs (server and load
generator together, as they share the machine), measured in the same run. Results go to
benchmarks/results/load-latest.json. It measures; it never asserts.

    .venv/bin/python benchmarks/load.py [--seconds 20] [--levels 1,5,20,50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench import QUESTIONS, pct  # noqa: E402


def questions() -> list[str]:
    """Distinct questions (the article's and the held-out suite's 193), so that the query cache rarely helps."""
    import yaml

    items = yaml.safe_load((ROOT / "evals" / "xquad-heldout.yaml").read_text(encoding="utf-8"))["items"]
    return list(dict.fromkeys(QUESTIONS + [it["question"] for it in items]))


QUESTION_POOL = questions()


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask(base: str, question: str) -> dict:
    """One answer through Gradio's call API: POST the question, then read the event stream to its end."""
    body = json.dumps({"data": [question, []]}).encode("utf-8")
    req = urllib.request.Request(f"{base}/gradio_api/call/ask", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        event_id = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{base}/gradio_api/call/ask/{event_id}", timeout=120) as r:
        event = ""
        for raw in r:
            line = raw.decode("utf-8").strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    raise RuntimeError(line)
                return json.loads(line[5:])[0]
    raise RuntimeError("stream ended without an answer")


def start_server(home: Path, port: int, in_process: bool = False) -> subprocess.Popen:
    """``assistant chat`` over ``home``, returned once it answers HTTP (``in_process``: no answering child)."""
    env = dict(os.environ, ASSISTANT_HOME=str(home), ASSISTANT_PORT=str(port), HF_HUB_OFFLINE="1",
               GRADIO_ANALYTICS_ENABLED="False", ASSISTANT_ANSWER_PROCESS="false" if in_process else "true")
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "chat"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
            ask(f"http://127.0.0.1:{port}", QUESTIONS[0])  # the model and index warm
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read() if proc.stdout else "server exited")
            time.sleep(1)
    proc.kill()
    raise RuntimeError("server did not start")


def tree(server: psutil.Process) -> list[psutil.Process]:
    """The server and its children (the answering process, an upload's indexing process)."""
    return [server, *server.children(recursive=True)]


def tree_cpu(procs: list[psutil.Process]) -> float:
    """CPU seconds (user + system) of these processes; one that ended meanwhile counts as nothing more."""
    total = 0.0
    for p in procs:
        try:
            total += sum(p.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def tree_rss(server: psutil.Process) -> float:
    """Resident memory of the server and its children, in MB."""
    total = 0
    for p in tree(server):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 1e6


def level(base: str, clients: int, seconds: float, server: psutil.Process, until=None) -> dict:  # type: ignore[no-untyped-def]
    """Run ``clients`` threads asking in a loop for ``seconds`` (or until ``until()``); latency, throughput,
    errors, CPU per answer."""
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    done = until or (lambda: time.monotonic() >= stop)

    def client(k: int) -> None:
        i = k * 997 + int(time.time())  # each client walks the pool from its own place
        while not done():
            t = time.perf_counter()
            try:
                ask(base, QUESTION_POOL[i % len(QUESTION_POOL)])
                with lock:
                    lat.append((time.perf_counter() - t) * 1000)
            except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
                with lock:
                    errors.append(type(exc).__name__)
            i += 1

    me = psutil.Process()
    procs = tree(server)
    s0, m0, c0, w0 = tree_cpu(procs), tree_cpu([server]), sum(me.cpu_times()[:2]), time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - w0
    s_cpu, m_cpu, c_cpu = tree_cpu(procs) - s0, tree_cpu([server]) - m0, sum(me.cpu_times()[:2]) - c0
    n = max(len(lat), 1)
    cpu_per_answer = (s_cpu + c_cpu) / n
    return {"clients": clients, "answers": len(lat), "errors": len(errors), "seconds": round(wall, 1),
            "answers_per_s": round(len(lat) / wall, 2), "p50_ms": round(pct(lat, 50)), "p95_ms": round(pct(lat, 95)),
            "server_cpu_ms_per_answer": round(1000 * s_cpu / n, 1), "client_cpu_ms_per_answer": round(1000 * c_cpu / n, 1),
            # the serving process alone (Gradio) and its children (the answering child): each is one interpreter
            "serving_process_cpu_ms_per_answer": round(1000 * m_cpu / n, 1),
            "serving_process_cores_busy": round(m_cpu / wall, 2), "children_cores_busy": round((s_cpu - m_cpu) / wall, 2),
            "machine_limit_per_s": round(psutil.cpu_count() / cpu_per_answer, 1) if lat else 0.0,
            "rss_mb": round(tree_rss(server))}


def one_megabyte_document(folder: Path) -> Path:
    """A ~1 MB Arabic text file of unique sentences made from the eval paragraphs kept in the repo."""
    from scale import XQUAD, filler, split_front_matter

    real = [split_front_matter(f.read_text(encoding="utf-8"))[1] for f in sorted(XQUAD.glob("xquad-*.md"))]
    text, n = "", 400
    while len(text.encode("utf-8")) < 1_000_000:
        text = "\n\n".join(filler(n, real, [], seed=11))
        n = int(n * 1.1)
    path = folder / "one-megabyte.txt"
    path.write_text(f"---\ntitle: وثيقة كبيرة\n---\n{text}\n", encoding="utf-8")
    return path


def while_indexing(base: str, home: Path, clients: int, server: psutil.Process) -> dict:
    """``clients`` asking while ``assistant add`` indexes a 1 MB document into the same home (another process,
    as a person adding from the terminal while the chat serves); the chat picks the new index up as it lands."""
    doc = one_megabyte_document(Path(tempfile.mkdtemp(prefix="load-doc-")))
    env = dict(os.environ, ASSISTANT_HOME=str(home), HF_HUB_OFFLINE="1")
    t0 = time.perf_counter()
    adder = subprocess.Popen([sys.executable, "-m", "assistant.cli", "add", str(doc)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    row = level(base, clients, 0, server, until=lambda: adder.poll() is not None)
    adder.wait()
    row.update(indexing_seconds=round(time.perf_counter() - t0, 1), document_mb=round(doc.stat().st_size / 1e6, 2),
               added_ok=adder.returncode == 0)
    return row


def main() -> int:
    """Run the levels, print the table, write the results."""
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--levels", default="1,5,20,50")
    p.add_argument("--while-indexing", action="store_true",
                   help="also: 5 clients asking while a 1 MB document is added, against 5 clients alone")
    p.add_argument("--in-process", action="store_true", help="answer in the serving process (answer_process off)")
    args = p.parse_args()
    home = Path(tempfile.mkdtemp(prefix="load-"))
    shutil.copytree(ROOT / "sources", home / "sources")
    port = free_port()
    proc = start_server(home, port, args.in_process)
    try:
        server = psutil.Process(proc.pid)
        rows = [level(f"http://127.0.0.1:{port}", int(c), args.seconds, server) for c in args.levels.split(",")]
        during = alone = None
        if args.while_indexing:
            alone = level(f"http://127.0.0.1:{port}", 5, args.seconds, server)
            during = while_indexing(f"http://127.0.0.1:{port}", home, 5, server)
            print(f"5 clients alone: p50 {alone['p50_ms']} ms, p95 {alone['p95_ms']} ms; while a "
                  f"{during['document_mb']} MB document is indexed ({during['indexing_seconds']} s): p50 {during['p50_ms']} ms, "
                  f"p95 {during['p95_ms']} ms, errors {during['errors']}; ratio of p50 {during['p50_ms'] / max(alone['p50_ms'], 1):.2f}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    head = ["clients", "answers/s", "limit/s", "share", "p50 ms", "p95 ms", "errors", "server CPU ms/answer", "RSS MB"]
    print(" | ".join(head))
    for r in rows:
        share = r["answers_per_s"] / r["machine_limit_per_s"] if r["machine_limit_per_s"] else 0.0
        r["share_of_limit"] = round(share, 2)
        print(" | ".join(str(x) for x in (r["clients"], r["answers_per_s"], r["machine_limit_per_s"], r["share_of_limit"],
                                          r["p50_ms"], r["p95_ms"], r["errors"], r["server_cpu_ms_per_answer"], r["rss_mb"])))
    out = ROOT / "benchmarks" / "results" / ("load-in-process.json" if args.in_process else "load-latest.json")
    out.write_text(json.dumps({"cores": psutil.cpu_count(), "seconds_per_level": args.seconds,
                               "answer_process": not args.in_process, "levels": rows,
                               "while_indexing": {"alone": alone, "during": during} if during else None,
                               "measured": time.strftime("%Y-%m-%d %H:%M")}, indent=1), encoding="utf-8")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
