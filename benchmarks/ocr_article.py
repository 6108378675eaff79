"""The article suite when a scan of the article is the only source.

Each paragraph of the article is typeset on its own page (HarfBuzz-shaped, the tests' font), rasterised at a
resolution, skewed 1.5° and speckled like a phone photo of a printed page; the pages go into one PDF without a
text layer, which ``assistant add`` reads by OCR. Every question of ``evals/article.yaml`` is then asked, and
an answer counts when it holds the expected facts and cites the page holding the expected paragraph
(unanswerable questions must be refused). Prints the figures and writes ``benchmarks/results/ocr-article.json``.

    .venv/bin/python benchmarks/ocr_article.py [--dpi 200]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from assistant import arabic  # noqa: E402
from assistant.config import load_settings  # noqa: E402
from assistant.evals.scoring import answer_words, fact_in  # noqa: E402
from assistant.evals.suites import load_set  # noqa: E402
from assistant.ingest import add_files  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from assistant.sources import read_source  # noqa: E402

ARTICLE = ROOT / "sources" / "interpol-marrakech-2025.md"


def page_images(paragraph: str, work: Path, dpi: int, rng: random.Random) -> list[bytes]:
    """The paragraph typeset, rasterised, skewed and speckled: PNG bytes, one per page it fills."""
    import pypdfium2
    from makedocs import arabic_pdf
    from PIL import Image

    pdf = arabic_pdf(work / "para.pdf", [paragraph])
    out = []
    for page in pypdfium2.PdfDocument(str(pdf)):
        img = page.render(scale=dpi / 72).to_pil().convert("L").rotate(1.5, expand=True, fillcolor=255)
        px = img.load()
        for _ in range(int(img.width * img.height * 0.02)):
            px[rng.randrange(img.width), rng.randrange(img.height)] = rng.choice((0, 255))
        buf = io.BytesIO()
        Image.Image.save(img, buf, format="PNG")
        out.append(buf.getvalue())
    return out


def scanned_article(work: Path, dpi: int) -> tuple[Path, dict[int, set[int]]]:
    """A PDF without a text layer holding the article, one paragraph a page; paragraph number -> its pages."""
    from makedocs import _pdf

    src = read_source(ARTICLE)
    paragraphs = [src.text[a:b] for a, b in arabic.paragraph_spans(src.text)]
    rng = random.Random(5)
    pdf, pages, n = _pdf(), {}, 0
    for k, para in enumerate(paragraphs, start=1):
        for png in page_images(para, work, dpi, rng):
            pdf.add_page()
            pdf.image(io.BytesIO(png), x=5, y=5, w=200)
            n += 1
            pages.setdefault(k, set()).add(n)
    path = work / "interpol-marrakech-2025.pdf"
    pdf.output(str(path))
    return path, pages


def main() -> int:
    """Build the scan, add it, ask the suite, print and write the figures."""
    p = argparse.ArgumentParser()
    p.add_argument("--dpi", type=int, default=200)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ocr-article-"))
    try:
        scan, pages = scanned_article(work, args.dpi)
        settings = load_settings(home=work / "home", prompts_dir=ROOT / "prompts")
        settings.sources.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        report = add_files(settings, [scan])
        ocr_seconds = time.perf_counter() - t0
        assert report.added, report.failed
        assistant = Assistant(settings)
        suite = load_set(ROOT / "evals" / "article.yaml")
        facts = cited = refused_right = refused = unanswerable = answerable = 0
        words = []
        for item in suite.items:
            ans = assistant.ask(item.question, history=list(item.history))
            if not item.answerable:
                unanswerable += 1
                refused_right += ans.refused
                refused += ans.refused
                continue
            answerable += 1
            refused += ans.refused
            ok = not ans.refused and all(fact_in(ans.text, alts) for alts in item.facts)
            facts += ok
            want = set().union(*(pages.get(q, set()) for q in (item.paragraph, *item.alt_paragraphs)))
            cited += ok and any(c.page in want for c in ans.citations)
            if not ans.refused:
                words.append(answer_words(ans.text))
        result = {
            "dpi": args.dpi, "pages": max(max(v) for v in pages.values()), "ocr_and_index_seconds": round(ocr_seconds, 1),
            "fact_accuracy": round(facts / answerable, 3), "page_citation_accuracy": round(cited / answerable, 3),
            "refusal_precision": round(refused_right / refused, 3) if refused else 0.0,
            "refusal_recall": round(refused_right / unanswerable, 3) if unanswerable else 0.0,
            "answer_words_mean": round(sum(words) / len(words), 1) if words else 0.0,
            "answerable": answerable, "unanswerable": unanswerable,
            "measured": time.strftime("%Y-%m-%d %H:%M"),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for k, v in result.items():
        print(f"{k:28} {v}")
    out = ROOT / "benchmarks" / "results" / "ocr-article.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
