"""One language rule: the API and the messages give a customer the same language.

The API's texts (``localised``, ``graphql.errors.in_language``) and the messages
(``delivery.language.message_language``) both choose with ``domain.languages``.
"""

from __future__ import annotations

import pytest

from saleor_retention_plugin.delivery.language import MessageLanguage, message_language
from saleor_retention_plugin.domain.languages import best_language, first_of_accept_language
from saleor_retention_plugin.domain.tiers import localised
from saleor_retention_plugin.graphql.errors import in_language

# What a customer asking for each code reads, from the API and in a message alike.
CASES = [
    ("en", "en"),
    ("zh", "zh-Hans"),
    ("zh-CN", "zh-Hans"),
    ("zh-Hans", "zh-Hans"),
    ("zh-TW", "en"),
    ("zh-HK", "en"),
    ("en-GB", "en"),
    ("fr", "en"),
    ("", "en"),
    (None, "en"),
]
MESSAGE_LANGUAGE = {"en": MessageLanguage.ENGLISH, "zh-Hans": MessageLanguage.SIMPLIFIED_CHINESE}


@pytest.mark.parametrize(("code", "reads"), CASES)
def test_the_api_and_the_messages_choose_the_same_language(code, reads):
    api_text = localised({"en": "Gold", "zh-Hans": "黄金会员"}, code)
    api_error = in_language(code, "Not enough points.", "积分不足。")

    assert api_text == {"en": "Gold", "zh-Hans": "黄金会员"}[reads]
    assert api_error == {"en": "Not enough points.", "zh-Hans": "积分不足。"}[reads]
    assert message_language(code) is MESSAGE_LANGUAGE[reads]


@pytest.mark.parametrize("code", ["zh-TW", "zh-HK", "zh-Hant", "zh_MO"])
def test_traditional_chinese_reads_a_traditional_text_when_the_merchant_wrote_one(code):
    names = {"en": "Gold", "zh-Hans": "黄金会员", "zh-Hant": "黃金會員"}

    assert localised(names, code) == "黃金會員"


def test_the_chosen_code_is_spelled_as_the_texts_spell_it():
    assert best_language("zh_cn", ["en", "zh-Hans"]) == "zh-Hans"
    assert best_language("fr", []) is None


@pytest.mark.parametrize(
    ("header", "first"),
    [("zh-TW,en;q=0.5", "zh-TW"), ("en-GB;q=0.9", "en-GB"), ("", None), (None, None)],
)
def test_a_request_asks_for_the_first_language_of_its_accept_language_header(header, first):
    assert first_of_accept_language(header) == first
