"""The console's own words, in Chinese (the default) and English: one catalogue.

Templates call `t(key)`; a key missing from a language falls back to Chinese, and a key
missing from the catalogue shows itself (a test checks every key a template uses).
"""

from __future__ import annotations

LANGS = ("zh", "en")
DEFAULT = "zh"

UI: dict[str, tuple[str, str]] = {
    "app": ("志愿服务数据同步桥 · 控制台", "zhiyuan-bridge console"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "name": ("用户名", "User name"),
    "person_name": ("姓名 · 手机", "Name · mobile"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码不正确。", "Wrong user name or password."),
    "locked": ("登录失败次数过多，该用户已锁定 15 分钟。",
               "Too many failed logins: this name is locked for 15 minutes."),
    "csrf": ("请求缺少有效的表单令牌，请刷新页面后重试。",
             "The form token is missing or wrong: reload the page and try again."),
    "forbidden": ("您的角色无权执行此操作。", "Your role may not do this."),
    "not_found": ("找不到该记录。", "No such record."),
    "overview": ("概览", "Overview"),
    "runs": ("运行记录", "Runs"),
    "quarantine": ("隔离区", "Quarantine"),
    "dead_letters": ("死信", "Dead letters"),
    "record": ("记录追溯", "A record's story"),
    "person": ("按证件号查人", "A person's story"),
    "charts": ("图表", "Charts"),
    "export": ("审计导出", "Audit export"),
    "source": ("数据源", "Source"),
    "entity": ("类型", "Entity"),
    "status": ("状态", "Status"),
    "code": ("原因代码", "Reason code"),
    "reasons": ("原因", "Reasons"),
    "filter": ("筛选", "Filter"),
    "all": ("全部", "All"),
    "ref": ("外部编号", "External ref"),
    "local_id": ("本地编号", "Local id"),
    "national_id": ("国家平台编号", "National id"),
    "first_seen": ("首次发现", "First seen"),
    "last_seen": ("最近发现", "Last seen"),
    "times": ("次数", "Times"),
    "paused": ("已暂停", "Paused"),
    "paused_none": ("没有暂停的数据源。", "No source is paused."),
    "outbox": ("待发送队列", "Outbox"),
    "items": ("条", "items"),
    "batches": ("批", "open batches"),
    "last_runs": ("最近运行", "Last runs"),
    "daemon": ("守护进程", "Daemon"),
    "daemon_running": ("运行中", "running"),
    "daemon_stopped": ("未运行", "not running"),
    "heartbeat": ("心跳", "heartbeat"),
    "no_daemon_actions": ("守护进程未运行：管理操作只能交给运行中的守护进程，现在无法执行。",
                          "No daemon runs: admin actions are handed to a running daemon, so "
                          "none is offered now."),
    "audit_chain": ("审计链", "Audit chain"),
    "entries": ("条目", "entries"),
    "head": ("链头", "head"),
    "sealed": ("最近封存", "last seal"),
    "never": ("无", "none"),
    "verify": ("完整校验", "Verify the whole chain"),
    "intact": ("审计链完整", "The audit chain is intact"),
    "broken": ("审计链断裂", "The audit chain is broken"),
    "kind": ("种类", "Kind"),
    "started": ("开始", "Started"),
    "finished": ("结束", "Finished"),
    "at": ("时间", "At"),
    "what": ("内容", "What"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "page_of": ("共 {total} 条，显示 {first}–{last}", "{first}–{last} of {total}"),
    "id_number": ("证件号码", "ID number"),
    "find": ("查找", "Find"),
    "person_none": ("状态文件中没有该证件号的志愿者。", "No volunteer with this ID number."),
    "volunteers": ("志愿者", "Volunteers"),
    "service_records": ("服务记录", "Service records"),
    "hours": ("时长(小时)", "Hours"),
    "start_at": ("开始时间", "Start"),
    "history": ("审计历史", "Audit history"),
    "since": ("起", "From"),
    "until": ("止", "Until"),
    "download_csv": ("下载 CSV", "Download CSV"),
    "bad_period": ("时间段无效：请填写 2026-06-01 这样的日期，且起始早于结束。",
                   "Not a period: give dates such as 2026-06-01, the first before the last."),
    "synced_per_day": ("每日同步条数", "Items synced per day"),
    "hours_per_day": ("每日服务时长（按数据源）", "Hours per day by source"),
    "quarantine_by_reason": ("隔离原因分布", "Quarantine by reason"),
    "counted_at": ("统计时间", "Counted at"),
    "days": ("最近天数", "Days"),
    "no_data": ("暂无数据", "No data"),
    "actions": ("管理操作", "Admin actions"),
    "retry": ("重试", "Retry"),
    "retry_all": ("全部重试", "Retry all shown"),
    "drop": ("放弃", "Drop"),
    "resync": ("重新同步", "Resync"),
    "confirm": ("确认", "Confirm"),
    "confirm_many": ("此操作涉及 {n} 行（超过 100 行），确定继续吗？",
                     "This touches {n} rows (more than 100). Go ahead?"),
    "handed": ("已交给守护进程，请求编号 {id}。", "Handed to the daemon as request {id}."),
    "request": ("请求", "Request"),
    "request_queued": ("排队中", "queued"),
    "request_running": ("执行中", "running"),
    "request_done": ("已完成", "done"),
    "request_failed": ("失败", "failed"),
    "output": ("输出", "Output"),
    "nothing_selected": ("没有选中任何记录。", "Nothing was selected."),
    "language": ("English", "中文"),
    "role": ("角色", "Role"),
    "role_auditor": ("审计员", "auditor"),
    "role_admin": ("管理员", "admin"),
    "st_synced": ("已同步", "synced"),
    "st_revoked": ("已撤销", "revoked"),
    "st_pending": ("待发送", "pending"),
    "st_blocked": ("等待上级", "blocked"),
    "st_skipped": ("已跳过", "skipped"),
    "st_quarantined": ("已隔离", "quarantined"),
    "st_dead_lettered": ("被平台拒绝", "dead-lettered"),
    "en_organization": ("组织", "organization"),
    "en_volunteer": ("志愿者", "volunteer"),
    "en_project": ("项目", "project"),
    "en_service_record": ("服务记录", "service record"),
}

# reason codes (mappings/codes, national-api.md): what a person reads next to the code
REASONS: dict[str, tuple[str, str]] = {
    "REQUIRED": ("必填项为空", "a required field is empty"),
    "INVALID_FORMAT": ("格式不正确", "the format is wrong"),
    "INVALID_CODE": ("代码不在标准代码表中", "not a known code"),
    "CHECKSUM_MISMATCH": ("校验位不正确", "the check digit is wrong"),
    "OUT_OF_RANGE": ("数值超出允许范围", "out of the allowed range"),
    "ID_MISMATCH": ("与证件号码不一致", "disagrees with the ID number"),
    "REF_NOT_FOUND": ("引用的上级记录不存在", "the record it names does not exist"),
    "FORBIDDEN_REGION": ("不属于本辖区", "outside this jurisdiction"),
    "OVERLAPPING_RECORD": ("与该志愿者已有服务记录时间重叠",
                           "overlaps a record the volunteer already holds"),
    "IDENTITY_CONFLICT": ("证件信息与平台已有志愿者冲突",
                          "conflicts with a volunteer the platform holds"),
    "REVOKED": ("记录已被撤销", "the record was revoked"),
    "NOT_FOUND": ("平台上不存在该记录", "the platform has no such record"),
    "INVALID_REQUEST": ("请求无效", "the request is invalid"),
    "PAYLOAD_TOO_LARGE": ("内容过大", "too large"),
    "UNKNOWN": ("未知原因", "an unknown reason"),
}


def t(key: str, lang: str) -> str:
    pair = UI.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


def reason(code: str, lang: str) -> str:
    """A reason code in words; the code itself when the catalogue does not know it."""
    pair = REASONS.get(code)
    if pair is None:
        return code
    return pair[1] if lang == "en" else pair[0]


def pick(value: str | None) -> str:
    """The language asked for, or the default."""
    return value if value in LANGS else DEFAULT
