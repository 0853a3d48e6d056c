"""The one message catalogue: what a reason code means, for people (local-sources.md §C
receipts, the console). Chinese by default, English as a choice.

`text(code)` is the sentence for a quarantine reason code (every code mappings/ and the
engine raise), a platform error code (a dead letter, 平台拒收), a sheet-file refusal or a
row status. An unknown code is a KeyError: a code without its text is a bug, and
tests/unit/test_messages.py checks that every code in mappings/ has one.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]

# code → (Chinese, English)
_REASONS: dict[str, tuple[str, str]] = {
    # quarantine reasons raised by mappings/ and the engine
    "REQUIRED": ("必填项为空：请填写", "a required value is empty: fill it in"),
    "INVALID_FORMAT": ("格式不正确：请按模板格式填写",
                       "the value is not in the expected format: follow the template"),
    "INVALID_CODE": ("不是有效的代码或名称：请按代码表填写",
                     "not a known code or name: use one from the code table"),
    "OUT_OF_RANGE": ("数值或日期超出允许范围：请核对",
                     "the value or date is out of the allowed range: check it"),
    "CHECKSUM_MISMATCH": ("校验位不对：号码有误，请核对证件",
                          "the check digit is wrong: check the number against the card"),
    "FORBIDDEN_REGION": ("区域不在本平台管辖范围内：请核对服务区域",
                         "the area is outside this platform's jurisdiction"),
    "ID_MISMATCH": ("与证件号码不一致：以证件号码为准",
                    "disagrees with the ID number; the number's value is used"),
    "MAPPING_ERROR": ("程序处理该行时出错：请联系管理员",
                      "the bridge failed on this row: tell the administrator"),
    "PRECISION_LOST": ("证件号码已被 Excel 当作数字保存，后几位已丢失：请把该列设为文本后重新填写",
                       "Excel stored the ID number as a number and lost its last digits: "
                       "format the column as text and type the numbers again"),
    "COUNTY_FALLBACK": ("乡镇（街道）代码 {code} 不在民政部乡镇级区划名单中，已按区县级区划报送："
                        "请在源系统中更正乡镇代码",
                        "township {code} is not in the Ministry of Civil Affairs' township "
                        "list; sent at county level: correct the township code in the source"),
    # finer reasons of sheet cells (code INVALID_FORMAT or REQUIRED, this text)
    "DATE_IS_NUMBER": ("应为日期时间，单元格却是一个数字：请设为日期格式后重新填写",
                       "a date or time was expected but the cell holds a bare number: "
                       "format it as a date and type it again"),
    "TIME_ONLY": ("只有时间没有日期：请填写完整的日期和时间",
                  "the cell holds a time without a date: give the date and the time"),
    "FORMULA_NO_VALUE": ("公式没有保存计算结果：请在 Excel 中打开并保存后再发送，或改为填写数值",
                         "a formula without a saved value: open and save the file in "
                         "Excel before sending it, or type the value"),
    "MOBILE_PLACEHOLDER": ("手机号码不是号码（如“-”）：请填写本人手机号码",
                           "the mobile is not a number (such as '-'): give the person's "
                           "mobile"),
    # platform error codes (a dead letter: 平台拒收)
    "IDENTITY_CONFLICT": ("平台上同一证件号码的资料不一致：请管理员核对",
                          "the platform holds other details for this ID number"),
    "OVERLAPPING_RECORD": ("与平台上已有的服务记录时间重叠：请核对是否重复登记",
                           "overlaps a service record the platform already holds"),
    "REF_NOT_FOUND": ("引用的志愿者或项目在平台上不存在", "a referenced record is not on the "
                                                       "platform"),
    "REVOKED": ("该记录已在平台上撤销", "the record was revoked on the platform"),
    "NOT_FOUND": ("平台上没有该记录", "the platform has no such record"),
    "INVALID_REQUEST": ("平台拒收该请求：请联系管理员", "the platform refused the request"),
    "PAYLOAD_TOO_LARGE": ("记录过大，平台拒收", "the record is too large for the platform"),
    # whole files, sheets and rows of a sheet file
    "FILE_TOO_BIG": ("文件超过大小上限（{limit} MB）：请拆分成几个文件后重新发送",
                     "the file is larger than {limit} MB: split it and send the parts"),
    "TOO_MANY_ROWS": ("文件行数超过上限（{limit} 行）：请拆分成几个文件后重新发送",
                      "the file has more than {limit} rows: split it and send the parts"),
    "MERGED_TOO_BIG": ("合并单元格覆盖超过 {limit} 个单元格：请取消合并后重新发送",
                       "merged cells cover more than {limit} cells: unmerge them and send "
                       "the file again"),
    "NO_HEADER": ("找不到表头行（姓名、证件号码等）：请使用模板的表头",
                  "no header row (姓名, 证件号码…): use the template's headers"),
    "NOT_A_WORKBOOK": ("文件无法作为 Excel 工作簿打开：请重新保存为 .xlsx 后发送",
                       "the file does not open as a workbook: save it again as .xlsx"),
    "SHEET_HIDDEN": ("隐藏的工作表，未读取（视为旧数据）",
                     "a hidden worksheet: not read (taken as old data)"),
    "SHEET_NO_HEADER": ("工作表没有表头行，未读取", "the worksheet has no header row: not read"),
    "ROW_TOTAL": ("合计或小计行，不是记录", "a total row, not a record"),
    "ROW_BLANK": ("空行，不是记录", "a blank row, not a record"),
}

_STATUSES: dict[str, tuple[str, str]] = {
    "synced": ("已同步", "synced"),
    "revoked": ("已撤销", "revoked"),
    "pending": ("等待中", "pending"),
    "blocked": ("已阻塞", "blocked"),
    "skipped": ("已跳过", "skipped"),
    "quarantined": ("已隔离", "quarantined"),
    "dead_lettered": ("平台拒收", "refused by the platform"),
    "deferred": ("等待中", "waiting"),
    "refused": ("整个文件未读取", "the whole file was refused"),
}

CODES: frozenset[str] = frozenset(_REASONS)


def text(code: str, lang: Lang = "zh", **values: object) -> str:
    """The sentence for a reason code, its `{placeholders}` filled from `values`."""
    zh, en = _REASONS[code]
    sentence = zh if lang == "zh" else en
    return sentence.format(**values) if values else sentence


def status_text(status: str, lang: Lang = "zh") -> str:
    """A row status (`zybridge status`'s names) in words: 已同步, 等待中…"""
    zh, en = _STATUSES[status]
    return zh if lang == "zh" else en


def knows(code: str) -> bool:
    return code in _REASONS
