"""Respecting the customer: quiet hours and the frequency cap. Pure rules.

Neither rule ever drops a message: each answers *when* it may go out at the earliest.
Quiet hours are read in the customer's local time and may span midnight (21:00-08:00);
``local_zone`` picks that zone from what is known of the customer and the shop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class QuietHours:
    start: time  # local time at which messages stop, e.g. 21:00
    end: time  # local time at which they may go out again, e.g. 08:00

    @property
    def is_disabled(self) -> bool:
        return self.start == self.end

    def contains(self, local: time) -> bool:
        if self.is_disabled:
            return False
        if self.start < self.end:  # e.g. 12:00-14:00
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # spans midnight

    def earliest_send_at(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """``moment`` itself outside quiet hours, else the end of the quiet period.

        Works on wall-clock time in ``zone``: across a DST change, "08:00" is the local
        08:00 of that day, as the customer reads it.
        """
        local = moment.astimezone(zone)
        if not self.contains(local.timetz().replace(tzinfo=None)):
            return moment
        end_day = local.date()
        if local.time() >= self.end:  # quiet period started this evening: ends tomorrow
            end_day += timedelta(days=1)
        end_local = datetime.combine(end_day, self.end, tzinfo=zone)
        return end_local.astimezone(moment.tzinfo)


DEFAULT_QUIET_HOURS = QuietHours(time(21, 0), time(8, 0))


@dataclass(frozen=True)
class FrequencyCap:
    """At most one marketing message per customer per ``window`` (zero: no cap)."""

    window: timedelta = timedelta(hours=16)

    def earliest_send_at(self, moment: datetime, last_contacted_at: datetime | None) -> datetime:
        if last_contacted_at is None or self.window <= timedelta(0):
            return moment
        return max(moment, last_contacted_at + self.window)


@dataclass(frozen=True)
class ContactDecision:
    send_at: datetime  # == now: send now; later: defer to then
    reason: str = ""  # why it was deferred: "quiet_hours" or "frequency_cap"

    def is_now(self, now: datetime) -> bool:
        return self.send_at <= now


def decide_contact(
    *,
    now: datetime,
    zone: ZoneInfo,
    quiet_hours: QuietHours,
    cap: FrequencyCap,
    last_contacted_at: datetime | None,
    bypass_cap: bool = False,
) -> ContactDecision:
    """When a message may go out: now, or the first moment both rules allow.

    The cap may push a message into quiet hours and quiet hours past the cap, so the
    rules are applied until neither moves the time (two rounds at most).
    """
    moment = now
    reason = ""
    for _ in range(3):
        capped = moment if bypass_cap else cap.earliest_send_at(moment, last_contacted_at)
        if capped > moment:
            reason = reason or "frequency_cap"
        quiet = quiet_hours.earliest_send_at(capped, zone)
        if quiet > capped:
            reason = reason or "quiet_hours"
        if quiet == moment:
            break
        moment = quiet
    return ContactDecision(send_at=moment, reason=reason)


def local_zone(*names: str) -> ZoneInfo:
    """The first valid IANA zone of ``names``, else UTC."""
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")
