import pytest

from saleor_retention_plugin.delivery.language import MessageLanguage, message_language


@pytest.mark.parametrize(
    "code", ["zh", "zh-hans", "zh_CN", "zh-Hans-CN", "ZH-HANS", "zh-cn", "zh_Hans_SG", " zh "]
)
def test_simplified_chinese_codes_get_chinese_messages(code):
    assert message_language(code) is MessageLanguage.SIMPLIFIED_CHINESE


@pytest.mark.parametrize(
    "code", ["en", "en-US", "EN_GB", "de", "fr-CA", "ja", "", None, "x", "zhx", "chinese"]
)
def test_every_other_code_gets_english(code):
    assert message_language(code) is MessageLanguage.ENGLISH


@pytest.mark.parametrize("code", ["zh-Hant", "zh-TW", "zh_HK", "zh-Hant-TW"])
def test_traditional_chinese_is_not_sent_simplified_characters(code):
    assert message_language(code) is MessageLanguage.ENGLISH
