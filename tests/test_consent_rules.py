"""The consent rule and the İYS records reader, case by case; the opt-out text in composing.

The end-to-end proofs are in test_compliance.py; these pin the rule's corners down quickly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.pipelines import write

from masgsm_notify.compose import Composer
from masgsm_notify.consent import ConsentRecords, allows
from masgsm_notify.errors import SourceError
from masgsm_notify.render import compile_text, make_environment

HEADER = "recipient,type,source,status,consentDate,recipientType\n"


@pytest.mark.parametrize(
    ("answer", "allowed"),
    [
        ("ONAY", True),
        ("onay", True),
        ("RET", False),
        (None, False),
        (("ONAY", None), True),
        (("ONAY", "BIREYSEL"), True),
        ((None, "BIREYSEL"), False),  # an individual needs an ONAY
        (("RET", "TACIR"), False),
        ((None, "TACIR"), True),  # a trader may be sent to until it refuses
        (("ONAY", "tacir"), True),
        ("EVET", False),  # anything but ONAY is no consent for an individual
        (["RET", "TACIR"], False),  # a pair as JSON gives it
    ],
)
def test_the_rule(answer, allowed):
    assert allows(answer) is allowed


@pytest.mark.parametrize("answer", [("ONAY", "TACIR", "extra"), 5, {"status": "ONAY"}])
def test_an_answer_of_another_shape_is_an_error(answer):
    with pytest.raises(ValueError, match="is not a status or a"):
        allows(answer)


def records(folder: Path, text: str) -> ConsentRecords:
    write(folder / "iys.csv", text)
    return ConsentRecords("iys.csv", folder, "p.yaml:9:12")


def test_the_latest_record_decides_and_refusal_wins_a_tie(tmp_path):
    found = records(
        tmp_path,
        HEADER
        + "+905321112201,MESAJ,HS_WEB,ONAY,2024-05-01 10:00:00,BIREYSEL\n"
        + "+905321112201,MESAJ,HS_WEB,RET,2024-01-01 10:00:00,BIREYSEL\n"
        + "+905321112202,MESAJ,HS_WEB,RET,2024-05-01 10:00:00,BIREYSEL\n"
        + "+905321112202,MESAJ,HS_WEB,ONAY,2024-05-01 10:00:00,BIREYSEL\n"
        # Still tied (the same moment and status): either record allows, whatever the type.
        + "+905321112203,MESAJ,HS_WEB,ONAY,2024-05-01 10:00:00,TACIR\n"
        + "+905321112203,MESAJ,HS_WEB,ONAY,2024-05-01 10:00:00,BIREYSEL\n"
        + "+905321112204,ARAMA,HS_WEB,ONAY,2024-05-01 10:00:00,BIREYSEL\n",
    )

    answers = records_answers(found, "01", "02", "03", "04")

    assert answers.pop("5321112203")[0] == "ONAY"
    assert answers == {"5321112201": ("ONAY", None), "5321112202": ("RET", None)}


def records_answers(found: ConsentRecords, *suffixes: str) -> dict:
    return found.answers([f"53211122{s}" for s in suffixes])


def test_exports_as_people_save_them_are_read(tmp_path):
    found = records(
        tmp_path,
        "Recipient;Type;Source;Status;ConsentDate;RecipientType\n"  # Excel, Turkish locale
        + "05321112211;mesaj;HS_WEB; onay ;2024-01-10T10:00:00;bireysel\n"
        + "0532 111 22 12;MESAJ;HS_WEB;ONAY;2024-01-10;\n"  # a date alone is midnight
        + "\n"
        + "+905321112212;MESAJ;HS_WEB;RET;2024-01-09T23:30:00+00:00;\n",  # 02:30 in Istanbul
    )

    assert records_answers(found, "11", "12") == {
        "5321112211": ("ONAY", None),
        "5321112212": ("RET", None),
    }


def test_records_without_a_recipient_type_column_are_individuals(tmp_path):
    found = records(
        tmp_path,
        "recipient,type,status,consentDate\n+905321112221,MESAJ,ONAY,2024-01-10 10:00:00\n",
    )

    assert records_answers(found, "21") == {"5321112221": ("ONAY", None)}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("+905321112231,MESAJ,HS_WEB,EVET,2024-01-10 10:00:00,", "iys.csv:2: status 'EVET'"),
        ("+902125551234,MESAJ,HS_WEB,ONAY,2024-01-10 10:00:00,", "iys.csv:2: recipient: "),
        ("+905321112231,MESAJ,HS_WEB,ONAY,10/01/2024,", "iys.csv:2: consentDate '10/01/2024'"),
        ("+905321112231,MESAJ,HS_WEB,ONAY,2024-01-10 10:00:00,ESNAF", "recipientType 'ESNAF'"),
        ("+905321112231,MESAJ,HS_WEB", "iys.csv:2: the row has 3 fields"),
    ],
)
def test_a_bad_record_names_its_line(tmp_path, line, problem):
    found = records(tmp_path, HEADER + line + "\n")

    with pytest.raises(SourceError, match=problem.replace("(", r"\(")):
        found.index()


def test_records_of_other_channels_are_not_checked(tmp_path):
    found = records(tmp_path, HEADER + "+902125551234,ARAMA,HS_WEB,?,yesterday,?\n")

    assert len(found.index()) == 0


def composer(inline: str, suffix: str, plain: bool = False, max_segments: int = 3) -> Composer:
    env = make_environment([])
    return Composer(
        compile_text(env, "{{ phone }}", "number"),
        compile_text(env, inline, "inline"),
        plain=plain,
        max_segments=max_segments,
        suffix=suffix,
    )


def test_the_opt_out_text_ends_every_text_once():
    compose = composer("{{ text }}", " RET yazıp 4607'ye gönderin ")

    done = compose(
        [
            ("r:1", {"phone": "05321112241", "text": "İndirim başladı!"}),
            ("r:2", {"phone": "05321112242", "text": "İndirim. RET yazıp 4607'ye gönderin"}),
            ("r:3", {"phone": "05321112243", "text": "  "}),
        ]
    )

    assert [m[2] for m in done.messages] == [
        "İndirim başladı! RET yazıp 4607'ye gönderin",
        "İndirim. RET yazıp 4607'ye gönderin",
    ]
    assert done.invalid == [("r:3", "5321112243", "the message rendered empty")]


def test_the_opt_out_text_is_transliterated_with_a_plain_text():
    compose = composer("Indirim {{ text }}", "RET yazıp 4607'ye gönderin", plain=True)

    done = compose([("r:1", {"phone": "05321112251", "text": "başladı"})])

    assert done.messages[0][2] == "Indirim basladi RET yazip 4607'ye gonderin"
    assert done.messages[0][3] == "gsm7"
