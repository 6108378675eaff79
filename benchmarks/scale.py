"""Scale benchmark: the assistant over 1k, 10k (and, asked for, 100k) chunks of real Arabic text.

The corpus is kept in the repository: XQuAD-ar's 240 paragraphs (evals/xquad-ar, CC BY-SA 4.0), and past
them filler documents whose "sentences" join two of those paragraphs' sentences, drawn at random without
repeating a pair, so that no two chunks are identical. Sentences holding a gold answer of the held-out
questions are kept out of the filler, so those questions still have one right paragraph. For each size it
prints and writes (benchmarks/results/scale-latest.json): ingest rate, disk, peak RSS while ingesting,
cold first answer, warm p50/p95, add one file and remove it, and retrieval hit@1 on the held-out questions,
with a llama-index baseline (VectorStoreIndex over the same Chroma collection fused with BM25 by
reciprocal rank) measured in the same run, as a ratio. It measures; it never asserts.

    .venv/bin/python benchmarks/scale.py [--sizes 1000,10000] [--questions 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant import arabic  # noqa: E402
from assistant.frontmatter import split_front_matter  # noqa: E402
from assistant.sources import source_id_for  # noqa: E402

XQUAD = ROOT / "evals" / "xquad-ar"


def held_out(n: int) -> list[dict]:
    """The first ``n`` answerable held-out questions with their gold source and answers."""
    items = yaml.safe_load((ROOT / "evals" / "xquad-heldout.yaml").read_text(encoding="utf-8"))["items"]
    return [it for it in items if it["answerable"]][:n]


def filler(target_chunks: int, real: list[str], answers: list[str], seed: int = 0) -> list[str]:
    """Filler documents of ~10 unique two-sentence chunks each, none holding a held-out answer."""
    pool = [s for text in real for s in (text[a:b].strip() for a, b in arabic.sentence_spans(text))
            if 5 <= len(s.split()) <= 20 and not any(arabic.contains_fact(s, g) for g in answers)]
    rng = random.Random(seed)
    seen: set[tuple[int, int]] = set()
    docs, need = [], max(0, target_chunks)
    while need > 0:
        sents = []
        while len(sents) < min(10, need):
            i, j = rng.randrange(len(pool)), rng.randrange(len(pool))
            if i != j and (i, j) not in seen:
                seen.add((i, j))
                sents.append(pool[i].rstrip(".؟!") + "، و" + pool[j])
        docs.append("\n\n".join(sents))
        need -= len(sents)
    return docs


def make_home(size: int, qs: list[dict]) -> Path:
    """A project folder holding the 240 real paragraphs and filler up to about ``size`` chunks."""
    home = Path(tempfile.mkdtemp(prefix=f"scale-{size}-"))
    (home / "sources").mkdir()
    real = []
    for f in sorted(XQUAD.glob("xquad-*.md")):
        shutil.copy(f, home / "sources" / f.name)
        real.append(split_front_matter(f.read_text(encoding="utf-8"))[1])
    answers = [a for q in qs for alts in q["facts"] for a in alts]
    for k, doc in enumerate(filler(size - 1100, real, answers)):  # the real paragraphs make ~1100 chunks
        (home / "sources" / f"filler-{k:05d}.txt").write_text(f"---\ntitle: filler {k}\n---\n{doc}\n", encoding="utf-8")
    return home


def disk_use(index: Path) -> dict[str, float]:
    """MB on disk: all of the index, its HNSW files (the float32 vectors and their graph), Chroma's SQLite, BM25."""
    files = [f for f in index.rglob("*") if f.is_file()]
    mb = lambda keep: round(sum(f.stat().st_size for f in files if keep(f)) / 1e6, 1)  # noqa: E731
    return {"total": mb(lambda f: True), "vectors_and_graph": mb(lambda f: f.suffix == ".bin" and f.parent.parent.name == "chroma"),
            "chroma_sqlite": mb(lambda f: f.name.startswith("chroma.sqlite3")), "bm25": mb(lambda f: f.parent.name == "bm25")}


def timed(cmd: list[str], env: dict) -> tuple[float, float, subprocess.CompletedProcess]:
    """(seconds, peak RSS in MB, result) of a command, its RSS polled every 0.2 s."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]) / 1e6)
        except psutil.Error:
            pass
        time.sleep(0.2)
    out, err = proc.communicate()
    return time.perf_counter() - t, peak, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


CHILD = r"""
import json, sys, time
from assistant.config import load_settings
from assistant.service import build_assistant
qs = json.loads(sys.argv[1])
a = build_assistant(load_settings())
a.warm_up()
index = a._load()[0]
lat, hits = [], 0
for q in qs:
    t = time.perf_counter()
    ans = a.ask(q["question"])
    lat.append((time.perf_counter() - t) * 1000)
    hits += bool(ans.passages) and ans.passages[0].source_id == q["citation"]["source"]
import psutil
serving_rss = psutil.Process().memory_info().rss / 1e6  # the assistant answering, before the baseline loads
# the baseline: llama-index's own hybrid over the same Chroma collection
from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM  # num_queries=1: no query is ever generated; this only keeps OpenAI out
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.schema import TextNode
from llama_index.retrievers.bm25 import BM25Retriever
from llama_index.vector_stores.chroma import ChromaVectorStore
from assistant import store
coll = index._collection
from assistant.llama_embedding import pipeline_embedding  # the same encoder, seen as a llama-index embedding
vi = VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=coll),
                                        embed_model=pipeline_embedding(index.embed_model))
from assistant.keyword import every_chunk
nodes = [TextNode(id_=i, text=d, metadata=m) for i, d, m in zip(*every_chunk(coll))]
fusion = QueryFusionRetriever([vi.as_retriever(similarity_top_k=20), BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=20)],
                              similarity_top_k=5, num_queries=1, mode="reciprocal_rerank", use_async=False, llm=MockLLM())
blat, bhits = [], 0
for q in qs:
    t = time.perf_counter()
    res = fusion.retrieve(q["question"])  # the embedder adds its own "query: " prefix
    blat.append((time.perf_counter() - t) * 1000)
    bhits += bool(res) and res[0].node.metadata.get("source_id") == q["citation"]["source"]
lat.sort(); blat.sort()
print(json.dumps({"chunks": index.size, "serving_rss": serving_rss, "p50": lat[len(lat)//2], "p95": lat[int(len(lat)*0.95)], "hit1": hits/len(qs),
                  "base_p50": blat[len(blat)//2], "base_hit1": bhits/len(qs)}))
"""


# the document added and removed at each size: about 2 KB of text, as in the goal
ONE_DOC = "\n\n".join([
    "افتتحت مدينة أكادير ميناء جديدا للصيد البحري بطاقة استيعابية تبلغ 400 قارب، بعد أشغال دامت ثلاث سنوات.",
    "وبلغت كلفة المشروع 620 مليون درهم، ساهمت فيها الجهة والوزارة الوصية وصندوق التنمية القروية.",
    "ويضم الميناء الجديد سوقا للسمك بمساحة 4500 متر مربع ومخازن للتبريد تتسع لألف وخمسمئة طن.",
    "وأوضح مدير المشروع أن الميناء سيوفر نحو 2300 منصب شغل مباشر وغير مباشر لسكان المنطقة.",
    "ومن المنتظر أن يستقبل الميناء أول دفعة من مراكب الصيد الساحلي مطلع شهر مارس المقبل.",
    "وأكد رئيس الجهة أن المشروع يندرج ضمن برنامج لتأهيل الموانئ الصغيرة على طول الساحل الأطلسي.",
    "وستخصص مساحة داخل الميناء لتعاونيات النساء العاملات في تثمين المنتجات البحرية.",
    "كما يتضمن المشروع محطة لمعالجة المياه المستعملة ومركزا للتكوين في مهن الصيد البحري.",
    "وأشار المسؤولون إلى أن الطاقة الإنتاجية المتوقعة تبلغ 18 ألف طن من الأسماك سنويا.",
    "ويرتقب أن تربط طريق جديدة طولها 12 كيلومترا بين الميناء والطريق الوطنية رقم واحد.",
    "وقال ممثل جمعية البحارة إن الميناء سيخفف الاكتظاظ الذي يعرفه الميناء القديم منذ سنوات طويلة.",
    "وتعتزم السلطات المحلية تنظيم يوم مفتوح لفائدة السكان بعد استكمال التجهيزات في فصل الربيع.",
    "وأعلنت الوزارة أن مشاريع مماثلة ستنطلق في ثلاث مدن ساحلية أخرى خلال السنة المقبلة.",
])


def measure(size: int, qs: list[dict]) -> dict:
    """Every figure at one size."""
    home = make_home(size, qs)
    env = dict(os.environ, ASSISTANT_HOME=str(home), HF_HUB_OFFLINE="1", TQDM_DISABLE="1")
    cli = [sys.executable, "-m", "assistant.cli"]
    try:
        secs, peak, res = timed([*cli, "ingest"], env)
        if res.returncode != 0:
            raise RuntimeError(res.stderr[-2000:])
        use = disk_use(home / "index")
        disk, graph = use["total"], use["vectors_and_graph"]
        cold, _, _ = timed([*cli, "ask", qs[0]["question"]], env)
        child = subprocess.run([sys.executable, "-c", CHILD, json.dumps(qs)], env=env, capture_output=True, text=True)
        if child.returncode != 0:
            raise RuntimeError(child.stderr[-2000:])
        ask = json.loads(child.stdout.strip().splitlines()[-1])
        one = home / "one.txt"
        one.write_text(ONE_DOC, encoding="utf-8")
        add_s, _, _ = timed([*cli, "add", str(one)], env)
        rm_s, _, _ = timed([*cli, "remove", "one"], env)
        rm_base_s, _, _ = timed([*cli, "remove", source_id_for(home / "sources" / "filler-00007.txt", home / "sources")], env)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {"target_chunks": size, "chunks": ask["chunks"], "ingest_s": round(secs, 1),
            "ingest_chunks_per_s": round(ask["chunks"] / secs, 1), "disk_mb": round(disk, 1),
            "disk_kb_per_chunk": round(1000 * disk / ask["chunks"], 1),
            "disk_kb_per_chunk_beyond_vectors_and_graph": round(1000 * (disk - graph) / ask["chunks"], 1),
            "disk_mb_by_part": use, "serving_rss_mb": round(ask["serving_rss"]), "peak_rss_ingest_mb": round(peak),
            "cold_first_answer_s": round(cold, 1), "warm_p50_ms": round(ask["p50"], 1), "warm_p95_ms": round(ask["p95"], 1),
            "add_one_s": round(add_s, 1), "remove_one_s": round(rm_s, 1),
            "remove_one_of_the_ingested_s": round(rm_base_s, 1), "hit_at_1": round(ask["hit1"], 3),
            "baseline_hit_at_1": round(ask["base_hit1"], 3), "baseline_p50_ms": round(ask["base_p50"], 1),
            "p50_ratio_to_baseline": round(ask["p50"] / ask["base_p50"], 2) if ask["base_p50"] else None}


def main() -> int:
    """Measure each size, print a table, write the results."""
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1000,10000")
    p.add_argument("--questions", type=int, default=60)
    args = p.parse_args()
    qs = held_out(args.questions)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(size, qs))
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    out = ROOT / "benchmarks" / "results" / "scale-latest.json"
    out.write_text(json.dumps({"measured": time.strftime("%Y-%m-%d %H:%M"), "cpus": psutil.cpu_count(),
                               "questions": len(qs), "rows": rows}, indent=1), encoding="utf-8")
    if args.sizes != "1000,10000":  # a run of other sizes is also kept under its own name
        (out.parent / f"scale-{args.sizes.replace(',', '-')}.json").write_text(out.read_text(encoding="utf-8"), encoding="utf-8")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
