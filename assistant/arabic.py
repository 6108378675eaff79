"""The one place for Arabic text rules: normalisation, splitting, tokenising and stemming.

Indexing, querying and answer checking all go through these functions, so a rule changed here
changes everywhere at once. Matching forms (``normalize``) are never shown to a user: offsets
always point into the original text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable

TASHKEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
TATWEEL = "\u0640"
_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا"})
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
# Folds used for matching only: alef maqsura/ya, ta marbuta/ha, Persian letter forms.
_FOLD = str.maketrans({"ى": "ي", "ة": "ه", "ی": "ي", "ک": "ك", "ؤ": "و", "ئ": "ي"})
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")

WORD = re.compile(r"[^\W_]+(?:[.,٫][0-9٠-٩]+)*", re.UNICODE)
# A word as written, tashkeel and tatweel inside it kept: offsets from it point into the text people see.
MARKED_WORD = re.compile(r"(?:[^\W_]|[\u0610-\u061a\u064b-\u065f\u0670\u0640])+(?:[.,٫][0-9٠-٩]+)*")
# Sentence ends: Latin and Arabic full stops, question and exclamation marks, ellipsis.
# A full stop after a number ends a sentence too («… في نونبر 2025. وقال …»); a digit after it makes a decimal
# («3.5»), and a number alone at the start of a line is a list marker («1. …»), neither of which ends anything.
_SENT_END = re.compile(r"[.!?؟…۔]+(?![0-9٠-٩])[\"'”’»)\]]*|\n+")
# Clause boundaries inside a sentence: Arabic and Latin comma, semicolon, colon.
_CLAUSE_END = re.compile(r"[،,؛;:]")

ARABIC_MONTHS = {
    # Moroccan / Algerian
    "يناير", "فبراير", "مارس", "ابريل", "ماي", "يونيو", "يوليوز", "غشت", "شتنبر", "اكتوبر", "نونبر", "دجنبر",
    # Egyptian / Gulf
    "مايو", "يوليو", "اغسطس", "سبتمبر", "نوفمبر", "ديسمبر",
    # Levantine / Iraqi
    "كانون", "شباط", "اذار", "نيسان", "ايار", "حزيران", "تموز", "اب", "ايلول", "تشرين",
    # Algerian / Tunisian
    "جانفي", "فيفري", "افريل", "جوان", "جويليه", "اوت", "سبتمبر", "اكتوبر", "نوفمبر", "ديسمبر",
}
NUMBER_WORDS = {
    "واحد", "اثنان", "اثنين", "ثلاث", "ثلاثه", "اربع", "اربعه", "خمس", "خمسه", "ست", "سته", "سبع", "سبعه",
    "ثمان", "ثماني", "ثمانيه", "تسع", "تسعه", "عشر", "عشره", "عشرون", "عشرين", "ثلاثون", "ثلاثين",
    "اربعون", "اربعين", "خمسون", "خمسين", "ستون", "ستين", "سبعون", "سبعين", "ثمانون", "ثمانين",
    "تسعون", "تسعين", "مئه", "مائه", "مئات", "الف", "الاف", "مليون", "ملايين", "مليار", "عشرات",
    "نصف", "ربع", "ثلث",
}


def strip_marks(text: str) -> str:
    """Remove tashkeel, tatweel and invisible direction marks (display-safe, content-preserving)."""
    return _INVISIBLE.sub("", TASHKEEL.sub("", text.replace(TATWEEL, "")))


def strip_invisible(text: str) -> str:
    """Text without zero-width and bidi control characters (OCR and copy-paste leave them around words)."""
    return _INVISIBLE.sub("", text)


def fold_digits(text: str) -> str:
    """Map Arabic-Indic and Persian digits to ASCII digits."""
    return text.translate(_DIGITS)


_TO_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def indic_digits(text: str) -> str:
    """Write ASCII digits as Arabic-Indic ones (٠-٩), for numbers the interface shows, never for source text."""
    return text.translate(_TO_INDIC)


def normalize(text: str, fold: bool = True) -> str:
    """Normalise for matching: marks stripped, alef forms unified, digits folded, lower case.

    With ``fold`` also ى→ي and ة→ه (and hamza seats), which is right for matching and wrong for display.
    """
    text = fold_digits(strip_marks(text)).translate(_ALEF).lower()
    return text.translate(_FOLD) if fold else text


def words(text: str) -> list[str]:
    """Split normalised text into word tokens (letters and digits; decimals kept whole)."""
    return WORD.findall(normalize(text))


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("arabic")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Arabic stopwords (NLTK's list bundled with llama-index, normalised) plus question words."""
    base = {normalize(w) for w in _nltk_arabic_stopwords()}
    extra = {
        "ما", "ماذا", "من", "متي", "اين", "كيف", "كم", "لماذا", "هل", "اي", "ايه", "هو", "هي", "هم",
        "الذي", "التي", "الذين", "اذكر", "عدد", "تم", "كان", "كانت", "شنو", "شحال", "فين", "وين", "ايش",
        "امتي", "علاش", "ليش", "قديش", "اسم", "ماهو", "ماهي", "في", "الي", "علي", "عن", "مع", "او", "و",
        "ذلك", "هذه", "هذا", "تلك", "قد", "لقد", "يوجد", "هناك", "خلال",
    }
    # spoken Arabic's question words, relatives, genitives, demonstratives and particles (Moroccan, Egyptian, Levantine,
    # Gulf): as empty as their standard counterparts above, and never in the written text they are matched against
    spoken = {
        "اللي", "ديال", "بتاع", "تاع", "غادي", "رح", "هاد", "هادي", "هاذا", "هاذ", "ده", "كام", "وش", "شو",
        "مين", "شكون", "امتا", "ايمتي", "كيفاش", "واش", "عشان", "علشان", "باش", "بدي", "فاش", "ازاي", "ليه",
    }
    return frozenset(base | extra | spoken)


def _nltk_arabic_stopwords() -> list[str]:
    # read straight from llama-index's bundled NLTK data: importing nltk costs a fresh process about 2 s
    import importlib.util

    spec = importlib.util.find_spec("llama_index.core")
    if spec and spec.submodule_search_locations:
        listed = Path(list(spec.submodule_search_locations)[0]) / "_static/nltk_cache/corpora/stopwords/arabic"
        if listed.is_file():
            return [w.strip() for w in listed.read_text(encoding="utf-8").splitlines() if w.strip()]
    from llama_index.core.utils import globals_helper

    globals_helper.wait_for_nltk_check()
    from nltk.corpus import stopwords as nltk_stopwords

    return list(nltk_stopwords.words("arabic"))


ANALYZER_VERSION = 3  # bump when stem() or analyze() change what they return: stored keyword states then rebuild


def stem(token: str) -> str:
    """Stem one normalised token with the Snowball Arabic stemmer; digits and Latin pass through."""
    if not token or token.isdigit() or token.isascii():
        return token
    st = normalize(_stemmer().stemWord(token))
    # Snowball strips the plural ات only after ال: شبكات -> شبكا but الشبكات -> شبك; finish its job
    if token.endswith("ات") and st.endswith("ا") and len(st) > 3:
        st = st[:-1]
    # one derivational prefix (م ت ا ي ن) is dropped from longer stems, so مشاركة/شاركت and
    # المنعقدة/انعقدت meet; applied on both sides of every comparison, so it only merges, never splits
    return st[1:] if len(st) > 4 and st[0] in "امتين" else st


def analyze(text: str, keep_stopwords: bool = False) -> list[str]:
    """Tokens for keyword matching: normalised, stopwords removed, stemmed."""
    stops = stopwords()
    out = []
    for w in words(text):
        if not keep_stopwords and (w in stops or (len(w) < 2 and not w.isdigit())):
            continue
        out.append(stem(w))
    return out


@lru_cache(maxsize=65536)
def root(token: str) -> str:
    """The consonantal root of a normalised token (nltk's ISRI stemmer), which also meets broken plurals and
    duals («الفرق» / «فريقين»، «جزر» / «جزيرة»), where :func:`stem` does not."""
    return _isri().stem(token)


@lru_cache(maxsize=1)
def _isri():  # type: ignore[no-untyped-def]
    """nltk's ISRI stemmer (stateless). Importing it runs nltk's package __init__, 1.3 s in a fresh process, so the
    module's own source is run with its two imports (``re``-like ``redos``, a base class with no behaviour) given
    directly; tests check it against the real import."""
    import importlib.util

    spec = importlib.util.find_spec("nltk")
    try:
        path = Path(spec.origin).parent / "stem" / "isri.py"  # type: ignore[union-attr, arg-type]
        src = path.read_text(encoding="utf-8")
        for line in ("from nltk import redos", "from nltk.stem.api import StemmerI"):
            if line not in src:
                raise ValueError(line)
        src = src.replace("from nltk import redos", "import re as redos").replace(
            "from nltk.stem.api import StemmerI", "StemmerI = object")
        scope: dict = {"__name__": "assistant._isri"}
        exec(compile(src, str(path), "exec"), scope)  # noqa: S102 - the installed nltk's own file
        return scope["ISRIStemmer"]()
    except (OSError, ValueError, KeyError, SyntaxError):  # another nltk release: the plain import
        from nltk.stem.isri import ISRIStemmer

        return ISRIStemmer()


# Units that are counted («كم يومًا؟» … «أربعة أيام») in their singular, dual and plural forms: most plurals are
# broken and the hollow or weak roots defeat both the stemmer and ISRI (يوم / أيام، سنة / سنوات، ثانية / ثوان).
_UNIT_FORMS = {
    "يوم": "يوم أيام يومين يومان", "شهر": "شهر أشهر شهور شهرين شهران", "سنة": "سنة سنوات سنين سنتين سنتان عام أعوام "
    "عامين عامان", "أسبوع": "أسبوع أسابيع أسبوعين أسبوعان", "ساعة": "ساعة ساعات ساعتين ساعتان",
    "دقيقة": "دقيقة دقائق دقيقتين دقيقتان", "ثانية": "ثانية ثوان ثواني ثانيتين", "مرة": "مرة مرات مرتين مرتان",
    "قرن": "قرن قرون قرنين قرنان", "عقد": "عقد عقود عقدين", "ميل": "ميل أميال ميلين", "متر": "متر أمتار مترين",
}


@lru_cache(maxsize=1)
def _units() -> dict[str, str]:
    return {form: unit for unit, forms in _UNIT_FORMS.items() for form in words(forms)}


def unit(token: str) -> str:
    """The counted unit a normalised token names («أيام»، «يومًا»، «اليومين» -> «يوم»), or "" when it names none."""
    t = token[2:] if token.startswith("ال") else token
    u = _units()
    return u.get(t) or (u.get(t[:-1], "") if t.endswith("ا") else "")


def unglue(word: str, known: set[str]) -> str:
    """A word without the conjunction glued to it («وكم» -> «كم», «ولماذا» -> «لماذا») when what follows is ``known``;
    otherwise the word itself (a word of ``known`` that starts with و, «وين», keeps it)."""
    if word[:1] in ("و", "ف") and len(word) > 2 and word not in known and word[1:] in known:
        return word[1:]
    return word


def is_number_token(token: str) -> bool:
    """True for a normalised token that denotes a number (digits or an Arabic number word)."""
    if any(ch.isdigit() for ch in token):
        return True
    t = token[2:] if token.startswith("ال") else token
    t = t[1:] if t[:1] in {"و", "ب"} and t[1:] in NUMBER_WORDS else t
    return t in NUMBER_WORDS


def is_month_token(token: str) -> bool:
    """True for a normalised month name in any of the Arabic month-naming traditions."""
    t = token[1:] if token[:1] in {"و", "ب", "ف"} and token[1:] in ARABIC_MONTHS else token
    return t in ARABIC_MONTHS


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of paragraphs: blocks separated by blank lines, or lines when there are none."""
    sep = re.compile(r"\n\s*\n") if re.search(r"\n\s*\n", text) else re.compile(r"\n")
    spans, pos = [], 0
    for m in list(sep.finditer(text)) + [None]:
        end = m.start() if m else len(text)
        spans.append(_trim(text, pos, end))
        pos = m.end() if m else len(text)
    return [s for s in spans if s[1] > s[0]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of sentences in ``text[start:end]``, ending at Arabic or Latin sentence punctuation."""
    end = len(text) if end is None else end
    spans, pos = [], start
    for m in _SENT_END.finditer(text, start, end):
        if _is_initial(text, m.start(), m.end(), start) or _is_list_marker(text, m.start()):
            continue
        spans.append(_trim(text, pos, m.end()))
        pos = m.end()
    spans.append(_trim(text, pos, end))
    return [s for s in spans if s[1] > s[0] and WORD.search(text, s[0], s[1])]


def _is_list_marker(text: str, dot: int) -> bool:
    """True for the full stop of a number that opens its line («1. …», «٢. …»), wherever the span being split
    starts (a paragraph's first line included)."""
    head = text[text.rfind("\n", 0, dot) + 1:dot].strip()
    return 0 < len(head) <= 3 and head.isdigit()


def _is_initial(text: str, dot: int, after: int, start: int) -> bool:
    """True for the period of a one-letter initial inside a name («م. ثيو كيرني»، «د. أحمد», «J. Smith»): a
    lone letter before it and a word right after, on the same line."""
    if text[dot:after] != "." or dot - 1 < start or not text[dot - 1].isalpha():
        return False
    if dot - 2 >= start and not text[dot - 2].isspace() and text[dot - 2] not in "(«\"“":
        return False
    return after + 1 < len(text) and text[after] == " " and text[after + 1].isalpha()


def clause_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of clauses in a sentence, split after commas, semicolons and colons (Arabic or Latin)."""
    spans, pos = [], start
    for m in _CLAUSE_END.finditer(text, start, end):
        # a comma between digits (1,000) is not a clause boundary
        if m.group() == "," and 0 < m.start() < len(text) - 1 and text[m.start() - 1].isdigit() and text[m.start() + 1].isdigit():
            continue
        spans.append(_trim(text, pos, m.end()))
        pos = m.end()
    spans.append(_trim(text, pos, end))
    return [s for s in spans if s[1] > s[0] and WORD.search(text, s[0], s[1])]


def contains_fact(text: str, fact: str) -> bool:
    """True when ``fact`` appears in ``text`` after normalisation and digit folding (word-aligned)."""
    hay = " " + " ".join(words(text)) + " "
    needle = " ".join(words(fact))
    if not needle:
        return False
    # allow an attached proclitic (و ب ل ف ك ال) before the first word of the fact
    tail = "" if needle[-1].isdigit() else r"\w{0,2}"  # short suffixes: اجتماع / اجتماعا
    body = re.escape(needle)
    if needle.startswith("ال"):  # ل + ال is written لل: "للحرس" holds "الحرس"
        body = f"(?:{body}|ل{re.escape(needle[1:])})"
    pattern = r"(?:^|\s)(?:[وف]?[بلك]?(?:ال)?)" + body + tail + r"(?=\s|$)"
    return re.search(pattern, hay) is not None


def share(tokens: Iterable[str], other: Iterable[str]) -> float:
    """Fraction of ``tokens`` present in ``other`` (0 when ``tokens`` is empty)."""
    toks = list(tokens)
    if not toks:
        return 0.0
    pool = set(other)
    return sum(1 for t in toks if t in pool) / len(toks)


# Common first names and name particles: an identity question ("من هو ...؟", "ما اسم ...؟") is
# only answered by a passage that names someone, and without a named-entity model this list is the
# signal that a passage holds a name rather than a role description. Names that are also common
# words after normalisation (علي = على, نور = light) are left out on purpose.
NAME_PARTS = {
    "محمد", "احمد", "محمود", "مصطفي", "حسن", "حسين", "عمر", "عثمان", "خالد", "يوسف", "ابراهيم",
    "اسماعيل", "سعيد", "سعد", "عبد", "عبدالله", "عبدالرحمن", "عبداللطيف", "عبدالعزيز", "عبدالحق",
    "عبدالحميد", "عبدالكريم", "فاطمه", "عايشه", "خديجه", "مريم", "زينب", "سلمي", "ليلي", "ناديه",
    "امينه", "حسنا", "رشيد", "مراد", "كريم", "طارق", "نبيل", "جمال", "هشام", "عادل", "فيصل",
    "سلمان", "ناصر", "منصور", "حمد", "راشد", "زايد", "تميم", "طلال", "وليد", "سامي", "رامي", "بن",
    "ابن", "ابو", "بنت", "السيد", "السيده", "الدكتور", "الجنرال", "اللواء", "العقيد", "المستشار",
    "جون", "جورج", "ميشيل", "ماري", "بيتر", "دافيد", "ديفيد", "فرانسوا", "جاك", "يورغن", "فالديسي",
}


def has_name(tokens: Iterable[str]) -> bool:
    """True when normalised tokens hold a personal name signal (a first name, a name particle, a title)."""
    stops = stopwords()
    for t in tokens:
        core = t[1:] if t[:1] in {"و", "ل", "ب"} and t[1:] in NAME_PARTS else t
        if core in stops or t in stops:
            continue
        if core in NAME_PARTS or core.startswith("عبد") and len(core) > 4:
            return True
    return False


# Question types, detected on normalised words; each maps to what an answering span must hold.
NUMBER_Q = {"كم", "شحال", "قديش", "كام", "عدد", "بكم"}
DATE_Q = {"متي", "امتي", "تاريخ", "امتا", "وقتاش", "ايمتي"}
PLACE_Q = {"اين", "فين", "وين", "مكان", "فضاء", "مدينه"}
PLACE_WORDS = {"مدينه", "فضاء", "عاصمه", "مقر", "قصر", "قاعه", "فندق", "مركز", "ساحه", "حديقه", "حدائق",
                "مملكه", "جمهوريه", "اقليم", "جهه", "قريه", "بلد", "دوله", "منطقه", "ملعب", "جامعه"}
NAME_Q_PAIRS = (("من", "هو"), ("من", "هي"), ("من", "هم"), ("ما", "اسم"), ("مين", ""), ("شكون", ""), ("اسم", ""))
PERSON_HEADS = {"رييس", "مدير", "امين", "وزير", "ملك", "قايد", "مسوول", "زعيم", "مدرب", "لاعب", "كاتب", "مولف",
                 "سفير", "نايب", "عضو", "مفوض", "والي", "حاكم", "شخص", "رجل", "امراه", "متحدث", "ناطق", "قاضي",
                 "رييسه", "مديره", "وزيره", "الفايز", "بطل", "مخرج", "صحفي", "عميد", "محافظ", "مستشار"}


# Why-questions («لماذا»، «ولأي سبب»، «ما الغرض من…») and the words that give a cause or a purpose in Arabic prose:
# causal and final connectives, verbs of aiming, and the accusative verbal noun of purpose (المفعول لأجله: «تقديرًا
# لـ»، «تلبيةً لـ»). Such a marker is in the answer sentence of 44 % of the why-questions of the training data
# (34: XQuAD-ar less its held-out articles, and ARCD train) against 6 % of the other sentences of their paragraphs:
# a preference, never a requirement (qtypes.asks_reason, qtypes.gives_reason).
REASON_Q = {"لماذا", "ليش", "علاش", "ليه"}
REASON_NOUNS = {"سبب", "السبب", "اسباب", "الاسباب", "غرض", "الغرض", "هدف", "الهدف", "غايه", "الغايه", "داعي"}
REASON_MARKERS = {"بسبب", "لان", "لانه", "لانها", "لانهم", "نظرا", "بفضل", "بهدف", "اجل", "لاجل", "كي", "لكي", "بغيه",
                  "نتيجه", "كون", "كونه", "كونها", "كونهم", "بدافع", "جراء", "قصد", "يهدف", "تهدف", "يرمي", "ترمي",
                  "يروم", "تروم", "سعيا"}
NOT_REASON = {"وفقا", "طبقا", "تبعا", "خلافا", "قياسا", "جدا", "ايضا", "سابقا", "لاحقا", "حاليا", "تقريبا", "غالبا"}  # «وفقًا لـ»: manner


# Follow-up questions: question words, pronouns and back-references (chat.py decides with them).
# Question words, Modern Standard and the dialects the suites hold, normalised (أ إ آ -> ا, ى -> ي).
QUESTION_WORDS = {"متي", "اين", "كم", "من", "ما", "ماذا", "لماذا", "كيف", "هل", "اي", "ايه", "وين", "فين", "شنو", "علاش",
                  "امتي", "قديش", "شحال", "كيفاش", "شكون", "اش", "مما", "عما", "فيم", "بم", "لم"}
GLUED_PREFIXES = ("و", "ف", "ل", "ب")  # a conjunction or preposition written as one word with what follows
PRONOUNS = {"هو", "هي", "هم", "هما", "هن"}
DEMONSTRATIVES = {"هناك", "هنالك", "ذلك", "تلك", "هذه", "هذا", "هؤلاء", "اولئك", "ذاك"}
PREPOSITIONS = ("مع", "في", "عن", "من", "ل", "ب", "علي", "الي", "عند", "لدي", "منذ", "حول")
PRONOUN_SUFFIXES = ("هما", "هم", "هن", "ها", "ه")


def is_question_word(word: str) -> bool:
    """A question word, perhaps with a glued conjunction or preposition («ولأي», «وبماذا», «فمتى»)."""
    w = word
    for _ in range(2):
        if w in QUESTION_WORDS:
            return True
        if len(w) > 2 and w[0] in GLUED_PREFIXES:
            w = w[1:]
    return w in QUESTION_WORDS


def is_back_reference(word: str) -> bool:
    """A word that points back: a demonstrative, or a preposition carrying a pronoun («معها», «فيه», «بهما»)."""
    forms = (word, word[1:]) if len(word) > 3 and word[0] in ("و", "ف") else (word,)  # «فيها» is no «ف» + «يها»
    return any(w in DEMONSTRATIVES or any(w == p + s for p in PREPOSITIONS for s in PRONOUN_SUFFIXES) for w in forms)
