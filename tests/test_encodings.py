"""Every Arabic text encoding: the bytes are decoded right, then each file answers its own question."""

from __future__ import annotations

import codecs

import pytest

from assistant.encodings import decode
from assistant.ingest import sync
from assistant.service import Assistant
from assistant.sources import SourceError

from conftest import make_settings
from makedocs import assert_answered

FILES = {
    # name: (encoding, byte-order mark, sentence, question, fact)
    "utf8": ("utf-8", b"", "تنتج واحة فكيك أكثر من 60 صنفا من التمور كل سنة.",
             "كم صنفا من التمور تنتج واحة فكيك؟", "60 صنفا"),
    "utf8-bom": ("utf-8", codecs.BOM_UTF8, "يبلغ ارتفاع صومعة حسان في الرباط 44 مترا.",
                 "كم يبلغ ارتفاع صومعة حسان في الرباط؟", "44 مترا"),
    "utf16-le-bom": ("utf-16-le", codecs.BOM_UTF16_LE, "تأسست جامعة القرويين في فاس سنة 859 ميلادية.",
                     "متى تأسست جامعة القرويين في فاس؟", "859"),
    "utf16-be-bom": ("utf-16-be", codecs.BOM_UTF16_BE, "يبلغ طول نهر أم الربيع نحو 555 كيلومترا.",
                     "كم يبلغ طول نهر أم الربيع؟", "555 كيلومترا"),
    "utf16-le-no-bom": ("utf-16-le", b"", "تحتضن مدينة الصويرة مهرجان كناوة كل سنة منذ 1998.",
                        "منذ متى تحتضن مدينة الصويرة مهرجان كناوة؟", "1998"),
    "windows-1256": ("cp1256", b"", "بلغ عدد السياح الوافدين على مدينة مراكش 3 ملايين سائح؛ أليس ذلك رقما كبيرا؟",
                     "كم بلغ عدد السياح الوافدين على مدينة مراكش؟", "3 ملايين سائح"),
    "iso-8859-6": ("iso-8859-6", b"", "يقع جبل توبقال في الأطلس الكبير، ويبلغ علوه 4167 مترا.",
                   "كم يبلغ علو جبل توبقال في الأطلس الكبير؟", "4167 مترا"),
}


def encoded(name: str) -> bytes:
    enc, bom, sentence, _, _ = FILES[name]
    return bom + f"{sentence}\n".encode(enc)


@pytest.mark.parametrize("name", sorted(FILES))
def test_decode(name):
    assert decode(encoded(name)) == f"{FILES[name][2]}\n"


def test_legacy_code_pages_are_told_apart():
    """The same words in Windows-1256 and ISO-8859-6 (whose letters sit at different bytes) both decode."""
    text = "كيف حالك يا صديقي؟ أنا بخير والحمد لله، شكرا جزيلا على السؤال."
    assert decode(text.encode("cp1256")) == text
    assert decode(text.encode("iso-8859-6")) == text
    assert decode("الله".encode("iso-8859-6")) == "الله"  # even four letters are enough


def test_declared_charset_helps_but_is_not_trusted_blindly():
    text = "مرحبا بكم في موقعنا الإخباري."
    assert decode(text.encode("cp1256"), declared="windows-1256") == text
    assert decode(text.encode("cp1256"), declared="iso-8859-1") == text  # a wrong declaration is outvoted
    assert decode(text.encode("utf-8"), declared="windows-1256") == text  # valid UTF-8 wins


def test_utf32_and_non_arabic_text():
    assert decode("نص بترميز UTF-32".encode("utf-32")) == "نص بترميز UTF-32"
    assert decode(b"plain ASCII text\n") == "plain ASCII text\n"


@pytest.mark.parametrize("data", [
    bytes(range(256)) * 8,  # every byte value
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200),  # a picture
    b"PK\x03\x04" + bytes(range(0, 250, 3)) * 20,  # a zip archive
])
def test_binary_bytes_are_refused(data):
    with pytest.raises(SourceError) as err:
        decode(data)
    assert err.value.key == "binary"


def test_every_encoding_answers_its_own_question(home):
    """One file per encoding (plus a Windows-1256 web page) in sources/, one sync, one question each."""
    for name in FILES:
        (home / "sources" / f"{name}.txt").write_bytes(encoded(name))
    page = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1256">'
            "<title>جبل إيغود</title></head><body><article><p>اكتشف علماء الآثار في موقع جبل إيغود بقايا بشرية "
            "يعود تاريخها إلى 300 ألف سنة.</p></article></body></html>")
    (home / "sources" / "irhoud-1256.html").write_bytes(page.encode("cp1256"))
    settings = make_settings(home)
    report = sync(settings)
    assert report.failed == {} and len(report.added) == len(FILES) + 1
    a = Assistant(settings)
    for name, (_, _, sentence, question, fact) in FILES.items():
        assert a.source(name).text == sentence  # no BOM, no mojibake, nothing lost
        assert_answered(a, question, name, fact)
    assert a.source("irhoud-1256").title == "جبل إيغود"
    assert_answered(a, "إلى كم سنة يعود تاريخ بقايا بشرية اكتشفها علماء الآثار في جبل إيغود؟", "irhoud-1256", "300 ألف سنة")
