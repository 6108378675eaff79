"""Question types (number, date, place, name, other) and whether a span holds the kind of thing asked for."""

from __future__ import annotations

import re

from . import arabic

QTYPES: tuple[str, ...] = ("number", "date", "place", "name", "other")


def question_type(question: str) -> str:
    """One of "number", "date", "place", "name" or "other", from the question's words."""
    # a glued conjunction comes off a question word («وأين», «فمتى», «وكم»), never off one that starts with و («وين»)
    asking = arabic.QUESTION_WORDS | arabic.NUMBER_Q | arabic.DATE_Q | arabic.PLACE_Q | {"مين", "شكون"}
    ws = [arabic.unglue(w, asking) for w in arabic.words(question)]
    head = ws[:4]
    if any(w in arabic.DATE_Q for w in head) or ("اي" in head and any(w in {"يوم", "سنه", "عام", "شهر", "تاريخ"} for w in ws)):
        return "date"
    if any(w in arabic.NUMBER_Q for w in head):
        return "number"
    if any(w in arabic.PLACE_Q for w in head) or ("اي" in head and any(w in {"مدينه", "فضاء", "مكان", "بلد"} for w in ws)):
        return "place"
    pairs = set(zip(ws, ws[1:] + [""]))
    for a, b in arabic.NAME_Q_PAIRS:
        if (a, b) in pairs or (b == "" and a in ws[:3]):
            if "اسم" in (a, b) and not _asks_person_name(ws):
                continue  # "ما اسم الحديقة؟" asks for a place's name, which any phrase may give
            return "name"
    return "other"


def _asks_person_name(ws: list[str]) -> bool:
    """True when a "name" question is about a person (a role noun follows اسم), not a place or thing."""
    if "اسم" not in ws:
        return True
    i = ws.index("اسم")
    for w in ws[i + 1:i + 3]:
        core = w[2:] if w.startswith("ال") else (w[3:] if w.startswith("لل") else w)
        if core in arabic.PERSON_HEADS or core.rstrip("ه") in arabic.PERSON_HEADS:
            return True
    return False


_YEAR = re.compile(r"\D{0,8}?(\d{1,4})(م|ه)?")  # «1453م» (Gregorian)، «1445ه» (Hijri, هـ normalised)، «يوليو1961»


def _is_year(token: str) -> bool:
    """A year or a day of the month: up to four digits, perhaps glued to a month name or marked م or هـ."""
    m = _YEAR.fullmatch(token)
    return bool(m) and (token.isdigit() or bool(m.group(2)) or arabic.is_month_token(token[:m.start(1)]))


def _is_period(token: str) -> bool:
    """A decade or a century named in words: «الثمانينيات»، «سبعينيات»، «القرن»."""
    t = token[2:] if token.startswith("ال") else token
    return t.endswith("ينيات") or t in {"قرن", "قرون"}


def counted_noun(question: str) -> str:
    """The noun a «كم» question counts («كم يومًا»، «وكم عدد الدول»، «شحال من دولة»), or "" when none follows."""
    ws = arabic.words(question)
    for i, w in enumerate(ws):
        if arabic.unglue(w, arabic.NUMBER_Q) in arabic.NUMBER_Q:
            for x in ws[i + 1:i + 4]:
                if x not in arabic.NUMBER_Q and x != "من":
                    return "" if x in arabic.stopwords() else x
            return ""
    return ""


def type_satisfied(qtype: str, span_words: list[str], question_words: set[str],
                   counted: set[str] | None = None, noun: str = "") -> bool:
    """Whether a span holds the kind of thing the question asks for (a number, a date, a name). For a number:
    ``counted``, the words among which its noun is looked for by stem (a follow-up's own words; default
    ``question_words``); ``noun``, the noun it counts (:func:`counted_noun`), met by root or unit as well."""
    stops = arabic.stopwords()
    fresh = [w for w in span_words if w not in question_words and w not in stops]
    if qtype == "number":
        if counting_numbers(span_words, question_words, counted, noun):
            return True
        # a dual counts by itself: «جامعتان» for «كم عدد الجامعات», «فريقين» for «كم عدد الفرق»
        qstems = _counted_stems(question_words, counted)
        return any(w in fresh and _dual_of(w, qstems) for w in span_words)
    if qtype == "place":
        if any((w[1:] if w[:1] in {"ب", "و", "ف"} else w).removeprefix("ال") in arabic.PLACE_WORDS for w in fresh):
            return True
        # "في الرباط", "بمراكش": a new word after a locative preposition
        fresh_set = set(fresh)
        return any(w in fresh_set and (prev in {"في", "الي", "من"} or (w.startswith("ب") and len(w) > 4))
                   for prev, w in zip([""] + span_words, span_words))
    if qtype == "date":
        return any(arabic.is_month_token(w) or _is_year(w) or _is_period(w) for w in fresh)
    if qtype == "name":
        return arabic.has_name(fresh)
    return True


def counting_numbers(span_words: list[str], question_words: set[str], counted: set[str] | None = None,
                     noun: str = "") -> list[int]:
    """Indices of the span's numbers that count what a number question names ("181 دولة" for "كم دولة"; any number
    when it names nothing), the words new to the question only; ``counted`` and ``noun`` as in :func:`type_satisfied`."""
    qstems = _counted_stems(question_words, counted)
    # «كم فريقًا» meets «الفرق», «كم جزيرة» «جزر» (roots), «كم يومًا» «أربعة أيام» (units): only the counted noun,
    # as a root is loose («اجتمعوا» and «الجمعية» share one)
    qroots = {r for r in [arabic.root(noun)] if len(r) >= 3} if noun else set()
    qunits = {arabic.unit(noun)} - {""} if noun else set()
    out = []
    for i, w in enumerate(span_words):  # spelled numbers are stopwords too («أربعة»), so not `fresh`
        if w not in question_words and arabic.is_number_token(w):
            around = [x for x in span_words[max(0, i - 3):i + 4] if x != w]
            if (not qstems or {arabic.stem(x) for x in around} & qstems or set(map(arabic.root, around)) & qroots
                    or set(map(arabic.unit, around)) & qunits):
                out.append(i)
    return out


def _counted_stems(question_words: set[str], counted: set[str] | None) -> set[str]:
    """Stems of the nouns a number may count: the question's words (or ``counted``), less stopwords and numbers."""
    stops = arabic.stopwords()
    return {arabic.stem(w) for w in (question_words if counted is None else counted)
            if w not in stops and not arabic.is_number_token(w)}


def _dual_of(word: str, qstems: set[str]) -> bool:
    """True when ``word`` is the dual (two of) of a noun the question names (the singular's stem is among ``qstems``)."""
    w = word[2:] if word.startswith("ال") else word
    # a feminine dual also loses its ن before what it is joined to: «مذكرتا تفاهم»، «مذكرتي تفاهم» (the masculine
    # «فريقي» is too often «my team» or an adjective in ـي to be read so)
    for suffix, singular in (("تان", "ه"), ("تين", "ه"), ("تا", "ه"), ("تي", "ه"), ("ان", ""), ("ين", "")):
        base = w[: -len(suffix)]
        if w.endswith(suffix) and len(base) >= 3 and arabic.stem(base + singular) in qstems:
            return True
    return False


def asks_reason(question: str) -> bool:
    """True for a question that asks why or what for («ولماذا؟»، «لأي غرض؟»، «ما سبب…؟»)."""
    ws = [arabic.unglue(w, arabic.REASON_Q | {"لاي"}) for w in arabic.words(question)]
    head = ws[:3]
    return any(w in arabic.REASON_Q for w in head) or any(
        a in {"ما", "لاي", "هو", "هي"} and b in arabic.REASON_NOUNS for a, b in zip(head, head[1:]))


def gives_reason(span: str) -> bool:
    """True when a span states a cause or a purpose (a connective, or an accusative verbal noun before «لـ»)."""
    if _TANWEEN_TA_BEFORE_LAM.search(span):  # «تلبيةً لحاجة»: the tanween is all that marks it, and words() drops it
        return True
    span_words = arabic.words(span)
    for w, nxt in zip(span_words, span_words[1:] + [""]):
        if arabic.unglue(w, arabic.REASON_MARKERS) in arabic.REASON_MARKERS:
            return True
        if len(w) > 3 and w.endswith("ا") and w not in arabic.NOT_REASON and nxt.startswith("ل") and len(nxt) > 2:
            return True
    return False


_TANWEEN_TA_BEFORE_LAM = re.compile(r"\w{2,}ةً\s+ل\w")
