#!/usr/bin/env bash
# One command: set everything up (browser included), run the test suite, then gate on the article (single
# questions and conversations) and held-out XQuAD-ar evals.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --test
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False ANONYMIZED_TELEMETRY=False
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "pytest collected no tests: failing." >&2; exit 1; fi
[ "$rc" = 0 ] || exit "$rc"
echo "Article evaluation (gated on evals/thresholds.yaml):"
set +e
.venv/bin/assistant eval evals/article.yaml evals/article-followups.yaml   # single questions, then conversations
article_rc=$?
echo "Held-out XQuAD-ar evaluation (gated on evals/thresholds.yaml):"
ASSISTANT_READER=trained .venv/bin/assistant eval evals/xquad-heldout.yaml   # the trained reader, gated on text it never saw
xquad_rc=$?
set -e
[ "$article_rc" = 0 ] || { echo "article evaluation failed (exit $article_rc)" >&2; exit "$article_rc"; }
[ "$xquad_rc" = 0 ] || { echo "xquad-heldout evaluation failed (exit $xquad_rc)" >&2; exit "$xquad_rc"; }
