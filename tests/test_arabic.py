"""The Arabic text rules: normalisation, digit folding, splitting with exact offsets, fact matching."""

from __future__ import annotations

import pytest

from assistant import arabic
from assistant.chunking import split_spans
from assistant.sources import clean_text, is_code_line, read_source

from conftest import ARTICLE


def test_normalize_unifies_alef_strips_marks_and_folds():
    assert arabic.normalize("أإآٱ") == "اااا"
    assert arabic.normalize("شكّل تتويجًا") == "شكل تتويجا"
    assert arabic.normalize("الجمعيـــة") == "الجمعيه"
    assert arabic.normalize("مستشفى") == "مستشفي"
    assert arabic.normalize("مدرسة", fold=False) == "مدرسة"


def test_digits_fold_for_matching_only():
    assert arabic.fold_digits("٢٤ و٢٧ نونبر ٢٠٢٥") == "24 و27 نونبر 2025"
    assert arabic.words("١٨١ دولة") == ["181", "دوله"]


def test_over_normalising_is_avoided():
    # different words must stay different after normalisation
    assert arabic.normalize("دولة") != arabic.normalize("دول")
    assert arabic.normalize("علم") != arabic.normalize("عالم")
    assert arabic.stem(arabic.normalize("الدول")) == arabic.stem(arabic.normalize("دولة"))


def test_sentences_end_at_arabic_and_latin_punctuation_not_decimals():
    text = "هل شاركت الدول؟ نعم، شاركت 181 دولة. بلغت النسبة 3.5 بالمئة! انتهى"
    spans = arabic.sentence_spans(text)
    parts = [text[s:e] for s, e in spans]
    assert parts == ["هل شاركت الدول؟", "نعم، شاركت 181 دولة.", "بلغت النسبة 3.5 بالمئة!", "انتهى"]


def test_a_full_stop_after_a_number_ends_the_sentence_but_not_a_decimal_or_a_list_marker():
    text = "بدأت الأشغال في شتنبر 2020. وبلغت الكلفة 1.500 مليون درهم، أي 3.5 بالمئة. انتهى\n1. البند الأول\n٢. البند الثاني"
    parts = [text[s:e] for s, e in arabic.sentence_spans(text)]
    assert parts == ["بدأت الأشغال في شتنبر 2020.", "وبلغت الكلفة 1.500 مليون درهم، أي 3.5 بالمئة.", "انتهى",
                     "1. البند الأول", "٢. البند الثاني"]


def test_a_list_marker_opening_a_paragraph_is_kept_when_the_paragraph_is_split_alone():
    """Chunking splits each paragraph on its own (``start`` > 0): its first line's «1.» is still a list marker."""
    text = "مقدمة قصيرة.\n\n1. البند الأول\n٢. البند الثاني"
    (_, _), (ps, pe) = arabic.paragraph_spans(text)
    assert [text[s:e] for s, e in arabic.sentence_spans(text, ps, pe)] == ["1. البند الأول", "٢. البند الثاني"]


def test_an_initial_inside_a_name_does_not_end_the_sentence():
    text = "سميت الجادة باسم المليونير م. ثيو كيرني. وقال د. أحمد إن ج. أ. هوبسون كتب. العدد ن.\nسطر"
    parts = [text[s:e] for s, e in arabic.sentence_spans(text)]
    assert parts == ["سميت الجادة باسم المليونير م. ثيو كيرني.", "وقال د. أحمد إن ج. أ. هوبسون كتب.", "العدد ن.", "سطر"]


def test_clauses_split_at_arabic_comma_and_semicolon():
    text = "أولًا، جاء الوفد؛ ثم بدأ الاجتماع"
    assert [text[s:e] for s, e in arabic.clause_spans(text, 0, len(text))] == ["أولًا،", "جاء الوفد؛", "ثم بدأ الاجتماع"]


def test_stopwords_and_stemming_in_analyze():
    toks = arabic.analyze("كم عدد الدول التي شاركت في الجمعية العامة؟")
    assert "كم" not in toks and "في" not in toks and "التي" not in toks
    assert arabic.stem("شاركت") in toks


@pytest.mark.parametrize("spoken, written", [
    ("شكون اللي ترأس الحفل ديال طرفاية؟", "من الذي ترأس الحفل في طرفاية؟"),
    ("عمق الحوض بتاع الميناء كام متر؟", "كم متر عمق الحوض في الميناء؟"),
    ("وش اسم التطبيق اللي يحجز فيه الناس؟", "ما اسم التطبيق الذي يحجز فيه الناس؟"),
    ("قديش طبيب رح يشتغل بالجناح؟", "كم طبيب يشتغل بالجناح؟"),
])
def test_spoken_function_words_are_stopwords_like_their_written_forms(spoken: str, written: str) -> None:
    """A question in dialect is matched on the same content words as its standard form (an unmatched «اللي» or
    «ديال» would otherwise weigh as a rare word the sources lack)."""
    assert sorted(arabic.analyze(spoken)) == sorted(arabic.analyze(written))


def test_plural_at_meets_its_definite_form():
    """Snowball strips the feminine plural ات only after ال (شبكات -> شبكا, الشبكات -> شبك): both must meet."""
    for bare, definite in (("شبكات", "الشبكات"), ("وورشات", "الورشات"), ("جلسات", "بالجلسات"), ("قدرات", "القدرات")):
        assert arabic.stem(arabic.normalize(bare)) == arabic.stem(arabic.normalize(definite)), bare
    assert arabic.stem("ذات") == "ذات"  # short words keep their letters


def test_contains_fact_is_normalised_and_word_aligned():
    assert arabic.contains_fact("مشاركة من 181 دولة", "١٨١")
    assert arabic.contains_fact("المنعقدة بمدينة مراكش", "مراكش")
    assert arabic.contains_fact("أكثر من 43 اجتماعًا", "43 اجتماعا")
    assert not arabic.contains_fact("مشاركة من 1810 دولة", "181")


def test_script_line_removed_by_general_rule():
    assert is_code_line("googletag.cmd.push(function() { googletag.display('div-gpt-ad-1'); });")
    assert is_code_line("window.dataLayer = window.dataLayer || [];")
    assert not is_code_line("وشهدت هذه الدورة مشاركة 181 دولة (عضوًا) في الإنتربول.")
    assert not is_code_line("The meeting (in Marrakech) ended.")
    assert "googletag" not in clean_text(ARTICLE.read_text(encoding="utf-8"))


def test_article_is_read_with_front_matter_and_cleaned():
    src = read_source(ARTICLE)
    assert src.title.startswith("المغرب يحتضن")
    assert src.date == "2025-11-24"
    assert "googletag" not in src.text and "---" not in src.text
    assert src.text.count("\n") == 6  # seven paragraphs


def test_every_chunk_is_an_exact_slice_inside_one_paragraph():
    src = read_source(ARTICLE)
    paragraphs = arabic.paragraph_spans(src.text)
    spans = split_spans(src.text, max_words=45)
    assert len(spans) >= 7
    covered = 0
    for sp in spans:
        ps, pe = paragraphs[sp.paragraph - 1]
        assert ps <= sp.start < sp.end <= pe
        chunk = src.text[sp.start:sp.end]
        assert chunk == chunk.strip()
        assert len(arabic.words(chunk)) <= 45 or "،" not in chunk
        covered += len(arabic.words(chunk))
    assert covered == len(arabic.words(src.text))  # nothing lost, nothing doubled


@pytest.mark.parametrize("question, kind", [
    ("وأين؟", "place"), ("فأين تقع المدينة؟", "place"), ("وين انعقدت الدورة؟", "place"), ("أين تقع؟", "place"),
    ("وكم عددهم؟", "number"), ("ومتى؟", "date"), ("فمتى بدأت؟", "date"), ("ومن هو الرئيس؟", "name"),
    ("ولماذا؟", "other"),
])
def test_a_glued_conjunction_does_not_hide_the_kind_of_answer_asked(question: str, kind: str) -> None:
    """«وأين؟» asks for a place as «أين؟» does (it was read as "other", so a follow-up got any clause)."""
    from assistant.qtypes import question_type

    assert question_type(question) == kind


@pytest.mark.parametrize("question, span, counts", [
    ("كم عدد الجامعات في المدينة؟", "في المدينة جامعتان تدرّسان الطب", True),
    ("كم منطقة حضرية فيها؟", "كما أنها تحوي منطقتان حضريتان متوسعتان", True),
    ("كم عدد الجامعات في المدينة؟", "في المدينة مستشفيان كبيران", False),
    ("كم عدد الجامعات في المدينة؟", "تضم المدينة 12 جامعة", True),
    # a feminine dual joined to what follows loses its ن: «مذكرتي تفاهم» is two memoranda
    ("كم مذكرة تفاهم وقعت؟", "وقّع المغرب مذكرتي تفاهم مع الشرطة النرويجية", True),
    ("كم عدد مذكرات التفاهم؟", "ووقعت الدولتان مذكرتا تفاهم", True),
    ("كم مذكرة تفاهم وقعت؟", "وقّع المغرب مذكرات تفاهم عديدة", False),
])
def test_a_dual_counts_the_noun_the_question_names(question: str, span: str, counts: bool) -> None:
    """«جامعتان» answers «كم عدد الجامعات» with no digit in it; a dual of another noun does not."""
    from assistant.qtypes import type_satisfied

    assert type_satisfied("number", arabic.words(span), set(arabic.words(question))) is counts


def test_roots_are_nltks_isri_roots_and_meet_broken_plurals() -> None:
    """``arabic.root`` runs nltk's ISRI source without nltk's package import: it must give ISRI's own roots."""
    from nltk.stem.isri import ISRIStemmer

    words = arabic.words("الجامعات جامعتان الفرق فريقين جزيرة جزر المدارس مدرسة جوائز جائزة الدول دولة استمرت أيام")
    assert [arabic.root(w) for w in words] == [ISRIStemmer().stem(w) for w in words]
    assert arabic.root(arabic.words("الفرق")[0]) == arabic.root(arabic.words("فريقين")[0])
    assert arabic.stem(arabic.words("الفرق")[0]) != arabic.stem(arabic.words("فريقين")[0])  # why roots are needed


@pytest.mark.parametrize("question, span, counts", [
    ("كم عدد الفرق المشاركة؟", "شارك في البطولة 16 فريقًا من القارة", True),  # a broken plural, met by its root
    ("كم جزيرة في الأرخبيل؟", "يضم الأرخبيل 7 جزر مأهولة", True),
    ("كم يومًا استمر المهرجان؟", "دام المهرجان أربعة أيام متتالية", True),  # a spelled number, a unit's plural
    ("كم بلغت تكلفة مبنى الجمعية؟", "اجتمعوا أربعة أيام في المقر", False),  # a root shared with another noun
])
def test_a_number_counts_the_noun_asked(question: str, span: str, counts: bool) -> None:
    from assistant.qtypes import counted_noun, type_satisfied

    words = set(arabic.words(question))
    assert type_satisfied("number", arabic.words(span), words, noun=counted_noun(question)) is counts


@pytest.mark.parametrize("question, span, counted", [
    ("كم عدد الدول المشاركة؟", "من 181 دولة عضوًا في المنظمة", ["181"]),
    # «دول» is there, but six words on: the number counts meetings, not countries
    ("كم عدد الدول المشاركة؟", "أكثر من 43 اجتماعًا ثنائيًا مع رؤساء وفود دول ومنظمات", []),
    # a question word other than the counted noun does not make a number count it («سقط» near «60 بالمئة»)
    ("كم عدد المساكن التي سقطت كليا؟", "وسقط نحو 60 بالمئة من سقف القاعة", []),
    ("كم يومًا استمر المهرجان؟", "دام المهرجان أربعة أيام متتالية", ["اربعه"]),
])
def test_the_numbers_that_count_the_very_noun_asked(question: str, span: str, counted: list[str]) -> None:
    """What the combined reader checks a quote with: a number beside the question's counted noun (stem, root, unit)."""
    from assistant.readers.rules import Asked

    words = arabic.words(span)
    asked = Asked.read(question)
    assert [words[i] for i in asked.counts_noun(words)] == counted
    assert asked.counted_in(words) is bool(counted)


@pytest.mark.parametrize("span, dated", [
    ("فتح العثمانيون القسطنطينية سنة 1453م بعد حصار طويل", True),  # a year marked م
    ("وُلد في 1320هـ بالقاهرة", True),  # a Hijri year, هـ
    ("أُنشئت اللجنة في تموز/يوليو1961", True),  # a year glued to its month
    ("سُحبت الاستثمارات أواخر الثمانينيات", True),  # a decade in words
    ("بدأت الحركة منتصف القرن الثامن عشر", True),  # a century
    ("انعقدت الجمعية العامة في مراكش بحضور الوفود", False),
    ("سلك الطريق99 نحو الشمال", False),  # a road number is no date
])
def test_dates_written_the_arabic_ways_answer_when_questions(span: str, dated: bool) -> None:
    from assistant.qtypes import type_satisfied

    assert type_satisfied("date", arabic.words(span), set(arabic.words("متى حدث ذلك؟"))) is dated
