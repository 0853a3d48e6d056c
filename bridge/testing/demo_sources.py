"""The demo's other two local systems: the social-work agency (served by the fake agency
server) and a folder of Taiwan teams' sheets. Both share people with the sample 志愿云
store, so the demo shows one national volunteer per person across sources."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.testing.agency import AgencyServer, wire
from bridge.testing.sample import id_check
from mappings.taiwan_sheets import HEADERS

CST = timedelta(hours=8)
STAMP = "%Y-%m-%d %H:%M:%S"


def _local(days_ago: int, hhmm: str) -> datetime:
    today = (datetime.now(UTC) + CST).replace(tzinfo=None)
    return today.replace(hour=int(hhmm[:2]), minute=int(hhmm[3:]), second=0,
                         microsecond=0) - timedelta(days=days_ago)


def _agency_time(days_ago: int, hhmm: str) -> str:
    return wire((_local(days_ago, hhmm) - CST).replace(tzinfo=UTC))


def _cert(store: Path, vol_id: int) -> str:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return str(conn.execute("SELECT cert_no FROM zyy_volunteer WHERE vol_id = ?",
                                (vol_id,)).fetchone()[0])
    finally:
        conn.close()


def fill_agency(agency: AgencyServer, store: Path) -> None:
    """Two social workers (one also a 志愿云 volunteer) and their service logs on the
    joint project 1; one log names an activity no 志愿云 system has (it stays blocked)."""
    person = {"gender": "M", "nation": "汉族", "phone": "13959230001", "districtCode": "350205",
              "certificateNo": "S-001", "registeredAt": "2020-05-01T02:00:00Z", "active": True}
    other = "35020519880808777"
    agency.put("workers", [
        {"workerId": "W1", "fullName": "林志贵", "idCard": _cert(store, 1), **person},
        {"workerId": "W2", "fullName": "陈晓云", "idCard": other + id_check(other), **person}])

    def log(log_id: str, worker: str, activity: str, start: tuple[int, str],
            end: tuple[int, str], hours: str) -> dict[str, Any]:
        return {"logId": log_id, "workerId": worker, "activityCode": activity,
                "startTime": _agency_time(*start), "endTime": _agency_time(*end),
                "durationHours": hours, "summary": "社工入户探访", "approvedBy": "陈社工",
                "approvedAt": _agency_time(1, "20:00"), "voided": False}

    agency.put("service-logs", [
        log("L1", "W1", "1", (3, "10:00"), (3, "12:00"), "2.00"),
        log("L2", "W1", "1", (5, "22:00"), (4, "01:30"), "3.5"),
        log("L3", "W2", "1", (6, "09:00"), (6, "10:00"), "1"),
        log("L4", "W2", "99999", (7, "09:00"), (7, "10:00"), "1")])


def write_sheets(folder: Path, store: Path) -> None:
    """One month's sheet of a Taiwan volunteer team (CSV, UTF-8 with BOM): a 台胞证 holder
    and a 居住证 holder who is also in the 志愿云 store."""
    folder.mkdir(parents=True, exist_ok=True)

    def row(name: str, cert_type: str, number: str, born: str, start: datetime,
            hours: float) -> dict[str, str]:
        end = start + timedelta(hours=hours)
        return {"姓名": name, "性别": "女", "证件类型": cert_type, "证件号码": number,
                "出生日期": born, "民族": "", "手机": "0912-345-678", "服务区域": "350205",
                "注册日期": "2023-01-05", "活动编号": "1",
                "服务开始时间": start.strftime(STAMP), "服务结束时间": end.strftime(STAMP),
                "服务时长(小时)": f"{hours:.2f}", "服务内容": "两岸青年社区环保宣传",
                "记录人": "王老师", "记录时间": (end + timedelta(hours=2)).strftime(STAMP)}

    rows = [row("陈美玲", "台胞证", "10234567", "1990-03-05", _local(12, "09:00"), 2.5),
            row("陈美玲", "台胞证", "10234567", "1990-03-05", _local(11, "14:00"), 1.5),
            row("张淑芬", "居住证", _cert(store, 9), "1968-01-12", _local(13, "09:00"), 2.0)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(HEADERS))
    writer.writeheader()
    writer.writerows(rows)
    (folder / "2026-11-海沧台胞志工队.csv").write_bytes(buffer.getvalue().encode("utf-8-sig"))
