"""Evaluation suites: run question sets through the chat's own answer path, score them, report, gate.

A set is a YAML file (``evals/article.yaml``; ``evals/xquad-heldout.yaml`` brings its own ``documents:``
folder and asks some items with ``exclude_sources``) or a SQuAD-format JSON file (ARCD, XQuAD, TyDi QA
GoldP, Arabic-SQuAD). Every run indexes the set's sources (plus any ``--distractors`` paragraphs) into an
index of its own (never the user's ``index/``) with the configured embedding model — built once and cached
under ``cache_dir/eval-index/<key>`` — asks every question through ``Assistant.ask`` — the exact path the
chat uses — and measures:

* retrieval: ``hit_at_1``, ``hit_at_3``, ``hit_at_5`` and ``mrr`` of the expected paragraph (or one of
  its ``alt_paragraphs``) among the retrieved passages, ranked over *distinct* paragraphs in retrieval
  order; answerable items only;
* ``fact_accuracy``: answerable items answered (not refused) with every expected fact in the answer;
* ``citation_accuracy``: answerable items where one citation points at the expected source and its
  quote itself holds every expected fact;
* ``refusal_precision`` / ``refusal_recall``, with refusal as the positive class;
* ``answer_words_mean`` / ``answer_words_p95`` over answered items (citation markers not counted);
* ``latency_p50_ms`` / ``latency_p95_ms`` of ``Assistant.ask`` (model and index warmed up first).

A ratio whose denominator is empty is defined as 1.0 (nothing to get wrong) and the report says so; a
metric over no items at all (e.g. answer length when every item was refused) is ``null``.

Thresholds live in ``evals/thresholds.yaml`` keyed by set name. Quality metrics are floors; answer
length and latency are ceilings (``LOWER_IS_BETTER``). A set with no thresholds passes and says so.

Modules, in dependency order: ``base`` (shared error, exit codes, paths), ``suites`` (YAML sets),
``squad`` (SQuAD files as sets), ``distractors`` (``--distractors``), ``scoring`` (one item),
``metrics`` (a run's aggregates), ``index_cache`` (cached eval indexes), ``prepare`` (a set's index,
checked), ``runner`` (asking the questions), ``thresholds`` (the gate), ``tables``, ``report`` (JSON),
``markdown`` and ``command`` (``assistant eval``). This package re-exports the names other code uses.
"""

from .base import EXIT_GATE, EXIT_OK, EXIT_USER, ROOT, EvalSetError, Progress
from .command import default_set_path, evaluate, run_cli
from .distractors import add_distractors, parse_distractors_arg
from .index_cache import BUILT, EVAL_INDEX_FORMAT, EVAL_INDEX_KEEP, _prune_cache, cached_index, index_cache_key
from .index_cache import eval_settings as _eval_settings  # the name the tests reach for
from .markdown import render_markdown
from .metrics import LOWER_IS_BETTER, METRICS, compute_metrics, percentile, tag_breakdown
from .prepare import check_against_sources, prepare_index
from .report import build_report, reports_dir, write_reports
from .runner import Config, RunResult, compare_configs, run_items, run_set
from .scoring import ItemResult, answer_words, distinct_paragraphs, score_item
from .squad import load_squad
from .suites import EvalItem, EvalSet, parse_item, load_set
from .tables import SHORT_NAMES, compare_table, metrics_table
from .thresholds import GateResult, gate, load_thresholds, thresholds_path

__all__ = [
    "BUILT", "EVAL_INDEX_FORMAT", "EVAL_INDEX_KEEP", "EXIT_GATE", "EXIT_OK", "EXIT_USER", "LOWER_IS_BETTER",
    "METRICS", "ROOT", "SHORT_NAMES", "Config", "EvalItem", "EvalSet", "EvalSetError", "GateResult", "ItemResult",
    "Progress", "RunResult", "add_distractors", "answer_words", "build_report", "cached_index",
    "check_against_sources", "compare_configs", "compare_table", "compute_metrics", "default_set_path",
    "distinct_paragraphs", "evaluate", "gate", "index_cache_key", "load_set", "load_squad", "load_thresholds",
    "metrics_table", "parse_distractors_arg", "parse_item", "percentile", "prepare_index", "render_markdown",
    "reports_dir", "run_cli", "run_items", "run_set", "score_item", "tag_breakdown", "thresholds_path",
    "write_reports",
]
