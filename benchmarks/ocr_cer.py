"""Character error rate of the OCR over synthetic photographed pages, with and without straightening them.

The article's two test paragraphs are typeset (HarfBuzz-shaped) in DejaVu Sans Book and Bold, rasterised at
150, 200 and 300 dpi, tilted by 0°, 1.5°, 4° and -3° and speckled (``tests/test_ocr.py``'s ``scan``): 24 pages.
Each is read as the assistant reads an image, once with the deskew and once without; prints the mean and worst
character error rate and how many pages read the number 181 right, and writes ``benchmarks/results/ocr-cer.json``.

    .venv/bin/python benchmarks/ocr_cer.py
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from PIL import Image  # noqa: E402

from assistant.formats import ocr  # noqa: E402
from makedocs import BOLD_FONT, FONT  # noqa: E402
from test_ocr import PARAGRAPHS, cer, scan  # noqa: E402

SKEWS = (0.0, 1.5, 4.0, -3.0)
DPIS = (150, 200, 300)


def measure(deskew: bool, tmp: Path) -> dict:
    """Every page read once with the deskew on or off."""
    ocr.DESKEW = deskew
    rows = []
    t0 = time.perf_counter()
    for skew in SKEWS:
        for font, face in ((FONT, "Book"), (BOLD_FONT, "Bold")):
            for dpi in DPIS:
                text = ocr.page_text(ocr.read_lines(Image.open(io.BytesIO(scan(tmp, dpi=dpi, skew=skew, font=font)))))
                rows.append({"face": face, "dpi": dpi, "skew": skew, "cer": round(cer(text, "\n".join(PARAGRAPHS)), 4),
                             "reads_181": "181" in text})
    cers = [r["cer"] for r in rows]
    return {"deskew": deskew, "pages": len(rows), "mean_cer": round(sum(cers) / len(cers), 4), "worst_cer": max(cers),
            "reads_181": sum(r["reads_181"] for r in rows), "seconds_per_page": round((time.perf_counter() - t0) / len(rows), 2),
            "rows": rows}


def main() -> int:
    """Measure both ways, print, write the results."""
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(True, Path(tmp)), measure(False, Path(tmp))]
    for r in results:
        print(f"deskew {'on ' if r['deskew'] else 'off'}: mean CER {r['mean_cer']:.4f}, worst {r['worst_cer']:.4f}, "
              f"181 read right on {r['reads_181']}/{r['pages']} pages, {r['seconds_per_page']} s a page")
    out = ROOT / "benchmarks" / "results" / "ocr-cer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"measured": time.strftime("%Y-%m-%d %H:%M"), "results": results}, indent=1), encoding="utf-8")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
