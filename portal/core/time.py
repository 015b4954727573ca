"""Time: stored in UTC, shown and reasoned about in Asia/Shanghai (the operator's calendar)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now_utc() -> datetime:
    return datetime.now(UTC)


def to_shanghai(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(SHANGHAI)


def today_shanghai(now: datetime | None = None) -> date:
    return to_shanghai(now or now_utc()).date()


def parse_iso_timestamp(text: str) -> datetime:
    """ISO 8601 date or date-time; without an offset it is Asia/Shanghai local time. Returns UTC."""
    text = text.strip()
    if not text:
        raise ValueError("empty timestamp")
    if len(text) == 10:
        parsed = datetime.combine(date.fromisoformat(text), time(0, 0))
    else:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHANGHAI)
    return parsed.astimezone(UTC)


def shanghai_date(value: datetime) -> date:
    """The calendar date in Shanghai of an aware timestamp."""
    return to_shanghai(value).date()


def start_of_day_utc(day: date) -> datetime:
    """00:00 Shanghai on `day`, as UTC."""
    return datetime.combine(day, time(0, 0), tzinfo=SHANGHAI).astimezone(UTC)


def end_of_day_utc(day: date) -> datetime:
    return start_of_day_utc(day + timedelta(days=1))


def format_datetime_local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return to_shanghai(value).strftime(fmt)
