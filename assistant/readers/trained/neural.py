"""A SQuAD 2.0 style span head over e5-small: reads a (question, sentence) pair, scores spans and "no answer".

Only the top ``TRAINED_LAYERS`` transformer layers and the start/end head are trained; the word embeddings and
the layers below stay those of the embedding model, so the reader ships only its own top layers (fp16). This
module trains the head on torch; answering runs it on ONNX Runtime (``onnx_span.py``), with torch only as a fallback.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from .spanscore import MAX_TOKENS, PASSAGE_PREFIX, SpanScore, best_spans, clean_question

TRAINED_LAYERS = 4

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PairExample:
    """A (question, sentence) pair with the answer's character span in the sentence, or None."""

    question: str
    sentence: str
    answer: tuple[int, int] | None


class SpanHead(nn.Module):
    """A BertModel (bottom layers possibly shared) plus a start/end linear head."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert
        self.qa = nn.Linear(bert.config.hidden_size, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Start and end logits for every token."""
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = self.qa(h)
        return logits[..., 0], logits[..., 1]

    def own_state(self) -> dict[str, torch.Tensor]:
        """The trained tensors only: top layers and head."""
        n = self.bert.config.num_hidden_layers
        keep = tuple(f"bert.encoder.layer.{i}." for i in range(n - TRAINED_LAYERS, n)) + ("qa.",)
        return {k: v.detach().to(torch.float16).contiguous() for k, v in self.state_dict().items() if k.startswith(keep)}


def encode(tokenizer, pairs: Sequence[tuple[str, str]]):  # type: ignore[no-untyped-def]
    """Tokenise (question, sentence) pairs, padded to the batch's longest, with sentence offsets."""
    enc = tokenizer([clean_question(q) for q, _ in pairs], [PASSAGE_PREFIX + s for _, s in pairs],
                    truncation="only_second", max_length=MAX_TOKENS, padding=True, return_offsets_mapping=True,
                    return_tensors="pt")
    seq_ids = [enc.sequence_ids(i) for i in range(len(pairs))]
    return enc, seq_ids


def _targets(enc, seq_ids, examples: Sequence[PairExample]) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
    """Start/end token targets (0, the first token, for "no answer" or an answer cut off by truncation)."""
    starts, ends = [], []
    shift = len(PASSAGE_PREFIX)
    for i, ex in enumerate(examples):
        s_tok = e_tok = 0
        if ex.answer is not None:
            a0, a1 = ex.answer[0] + shift, ex.answer[1] + shift
            offs = enc["offset_mapping"][i].tolist()
            for t, (o0, o1) in enumerate(offs):
                if seq_ids[i][t] != 1 or o1 <= o0:
                    continue
                if s_tok == 0 and o1 > a0:
                    s_tok = t
                if o0 < a1:
                    e_tok = t
            if s_tok == 0 or e_tok < s_tok:
                s_tok = e_tok = 0
        starts.append(s_tok)
        ends.append(e_tok)
    return torch.tensor(starts), torch.tensor(ends)


class SpanReader:
    """A trained span head ready to score sentences."""

    def __init__(self, model: SpanHead, tokenizer) -> None:  # type: ignore[no-untyped-def]
        self.model = model.eval()
        self.tokenizer = tokenizer

    def score(self, question: str, sentences: Sequence[str]) -> list[SpanScore]:
        """Margin and best span of each sentence for the question."""
        if not sentences:
            return []
        enc, seq_ids = encode(self.tokenizer, [(question, s) for s in sentences])
        with torch.inference_mode():
            st, en = self.model(enc["input_ids"], enc["attention_mask"])
        return best_spans(st.numpy(), en.numpy(), enc["offset_mapping"].tolist(), seq_ids, sentences)


def load_base(folder: Path):  # type: ignore[no-untyped-def]
    """The e5-small BertModel and tokenizer from a prepared sentence-transformers folder."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # the folder holds a pooler this model does not use: not worth a report
    hf_logging.disable_progress_bar()
    try:
        bert = AutoModel.from_pretrained(str(folder), local_files_only=True, add_pooling_layer=False)
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
    return bert, tok


def shared_head(base: nn.Module, state: dict[str, torch.Tensor]) -> SpanHead:
    """A span head whose embeddings and bottom layers are ``base``'s own modules (no copy), top layers from ``state``."""
    import copy

    n = base.config.num_hidden_layers
    # shallow copies with their own child tables: assigning a layer list to the copy must never reach ``base``
    shell = copy.copy(base)
    shell._modules = dict(base._modules)
    encoder = copy.copy(base.encoder)
    encoder._modules = dict(base.encoder._modules)
    own = []
    for i in range(n - TRAINED_LAYERS, n):
        layer = copy.deepcopy(base.encoder.layer[i])
        prefix = f"bert.encoder.layer.{i}."
        layer.load_state_dict({k[len(prefix):]: torch.as_tensor(v).float() for k, v in state.items() if k.startswith(prefix)})
        own.append(layer)
    encoder.layer = nn.ModuleList([*base.encoder.layer[:n - TRAINED_LAYERS], *own])
    shell.encoder = encoder
    head = SpanHead(shell)
    head.qa.load_state_dict({"weight": torch.as_tensor(state["qa.weight"]).float(),
                             "bias": torch.as_tensor(state["qa.bias"]).float()})
    return head.eval()


def train(bert, tokenizer, examples: Sequence[PairExample], progress: Progress, epochs: int = 2,  # type: ignore[no-untyped-def]
          batch: int = 16, lr: float = 8e-5, head_lr: float = 1e-3, seed: int = 0) -> SpanHead:
    """Fine-tune the top layers and the head on pairs; returns the trained head."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = SpanHead(bert)
    n = bert.config.num_hidden_layers
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("qa.") or any(name.startswith(f"bert.encoder.layer.{i}.") for i in range(n - TRAINED_LAYERS, n))
    body = [p for nm, p in model.named_parameters() if p.requires_grad and not nm.startswith("qa.")]
    opt = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": model.qa.parameters(), "lr": head_lr}], weight_decay=0.01)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].question) + len(examples[i].sentence))
    batches = [order[i:i + batch] for i in range(0, len(order), batch)]
    total = epochs * len(batches)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.06 * total)) * max(0.0, 1 - s / total))
    loss_fn = nn.CrossEntropyLoss()
    step, t0 = 0, time.perf_counter()
    for ep in range(epochs):
        model.train()
        rng.shuffle(batches)
        running = 0.0
        for b in batches:
            exs = [examples[i] for i in b]
            enc, seq_ids = encode(tokenizer, [(e.question, e.sentence) for e in exs])
            ts, te = _targets(enc, seq_ids, exs)
            st, en = model(enc["input_ids"], enc["attention_mask"])
            mask = enc["attention_mask"] == 0
            st = st.masked_fill(mask, -1e4)
            en = en.masked_fill(mask, -1e4)
            loss = (loss_fn(st, ts) + loss_fn(en, te)) / 2
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            running += loss.item()
            if step % 50 == 0 or step == total:
                el = time.perf_counter() - t0
                progress(f"span head: epoch {ep + 1}/{epochs}, step {step}/{total}, loss {running / 50:.3f}, "
                         f"{el:.0f} s, about {el / step * (total - step):.0f} s left")
                running = 0.0
    return model.eval()
