"""A fleet of simulated water meters with ground truth: consumption, month-end registers, alarms, losses.

Everything is a deterministic function of the seed: meter ids, keys, formats, consumption profiles,
alarm windows, transmit times, packet loss and duplicates. The true index is analytic (a daily
sine-shaped draw plus leak flow), so ``true_index_m3(meter, at)`` is exact at any instant.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from gateway.clock import Clock, ManualClock, SystemClock
from gateway.frame import LinkMode
from gateway.radio.nmode import CHANNELS, is_n_mode
from gateway.radio.simulator import encoder
from gateway.radio.simulator.clock import AcceleratedClock
from gateway.reading import Alarm

DEFAULT_SEED = 1
DEFAULT_METER_COUNT = 36
DAY_S = 86400.0
_OMEGA = 2 * math.pi / DAY_S


class MeterFormat(StrEnum):
    """The telegram formats the fleet speaks."""

    OMS_MODE5 = "oms_mode5"  # Engelmann-like (EFE), TPL mode 5, error flags record
    OMS_MODE7 = "oms_mode7"  # Diehl-like (DME), AFL + TPL mode 7
    ELL_AES_CTR = "ell_aes_ctr"  # Kamstrup MULTICAL 21-like (KAM), ELL AES-CTR, info codes, C1
    TECHEM_MK_RADIO3 = "techem_mk_radio3"  # Techem MK Radio 3 (TCH), CI 0xA2, unencrypted, 0.1 m3
    # 169 MHz, N mode, frame format B (a fleet made with ``n_mode``):
    N_OMS_MODE5 = "n_oms_mode5"  # Maddalena-like (MAD), TPL mode 5
    N_OMS_MODE7 = "n_oms_mode7"  # Diehl-like (DME), AFL + TPL mode 7


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """What a format fixes: the header, the decoder that reads it, its link mode and habits."""

    manufacturer: str
    version: int
    device_type: int
    decoder: str
    link_mode: LinkMode
    encrypted: bool
    alarms: bool  # whether the format can carry leak and backflow flags
    resolution_m3: float
    interval_s: tuple[float, float]  # range of the meter's transmit interval


FORMATS: dict[MeterFormat, FormatSpec] = {
    MeterFormat.OMS_MODE5: FormatSpec(
        "EFE", 0x00, 0x07, "engelmann", LinkMode.T1, True, True, 0.001, (120, 600)
    ),
    MeterFormat.OMS_MODE7: FormatSpec(
        "DME", 0x70, 0x07, "diehl", LinkMode.T1, True, False, 0.001, (300, 900)
    ),
    MeterFormat.ELL_AES_CTR: FormatSpec(
        "KAM", 0x1B, 0x16, "kamwater", LinkMode.C1, True, True, 0.001, (128, 512)
    ),
    MeterFormat.TECHEM_MK_RADIO3: FormatSpec(
        "TCH", 0x74, 0x72, "mkradio", LinkMode.T1, False, False, 0.1, (200, 280)
    ),
    # The N-mode link mode here is a placeholder: the fleet's ``n_mode`` (the receiver's channel) decides.
    MeterFormat.N_OMS_MODE5: FormatSpec(
        "MAD", 0x01, 0x07, "maddalena", LinkMode.N1C, True, False, 0.001, (300, 900)
    ),
    MeterFormat.N_OMS_MODE7: FormatSpec(
        "DME", 0x70, 0x07, "diehl", LinkMode.N1C, True, False, 0.001, (600, 1800)
    ),
}
FORMATS_868 = (  # the default fleet, a quarter each
    MeterFormat.OMS_MODE5,
    MeterFormat.OMS_MODE7,
    MeterFormat.ELL_AES_CTR,
    MeterFormat.TECHEM_MK_RADIO3,
)
FORMATS_169 = (MeterFormat.N_OMS_MODE5, MeterFormat.N_OMS_MODE7)  # a fleet made with ``n_mode``, half each
FAST_METER_INTERVAL_S = 16.0  # the first ``fast_meters`` Kamstrups send every 16 s like a real MULTICAL 21
EFE_LEAK, EFE_REVERSE = 0x20, 0x80
KAM_REVERSE, KAM_LEAK = 0x02, 0x04


@dataclass(frozen=True, slots=True)
class InjectedAlarm:
    """An alarm the simulator raises in a meter's telegrams from ``start`` until ``end``."""

    meter_id: str
    alarm: Alarm
    start: datetime
    end: datetime
    leak_m3h: float = 0.0  # the extra flow a leak adds to the true index


@dataclass(frozen=True, slots=True)
class InjectedDuplicate:
    """A telegram sent again with the same content (``kind`` "duplicate": same bytes; "repeat": resent)."""

    meter_id: str
    access_number: int
    original_at: datetime
    copy_at: datetime
    kind: str


@dataclass(frozen=True, slots=True)
class SimulatedMeter:
    """One meter: identity, key (None when unencrypted), format, decoder name and consumption profile."""

    index: int
    meter_id: str
    manufacturer: str
    version: int
    device_type: int
    key: bytes | None
    format: MeterFormat
    decoder: str
    link_mode: LinkMode
    interval_s: float
    start_index_m3: float
    daily_m3: float
    daily_swing: float  # 0..1: how much the draw follows the time of day
    phase: float
    rssi_dbm: float
    alarms: tuple[InjectedAlarm, ...] = ()
    m_and_a: bytes = b""  # M and A as sent (the mode 5 IV and ELL counter use them)


@dataclass(frozen=True, slots=True)
class Transmission:
    """One telegram on air, as a receiver would hear it."""

    at: datetime
    meter_id: str
    data: bytes
    rssi_dbm: float
    link_mode: LinkMode
    copy: bool = False

    @property
    def frame_format_b(self) -> bool:
        """169 MHz meters send frame format B; the 868 MHz formats here send format A."""
        return is_n_mode(self.link_mode)

    @property
    def on_air(self) -> bytes:
        """The frame as the meter sends it: with its link-layer CRCs (format B in N mode, else A)."""
        return encoder.format_b(self.data) if self.frame_format_b else encoder.format_a(self.data)


@dataclass(slots=True)
class FleetCounters:
    """How many telegrams the fleet sent, lost on air, and sent twice."""

    sent: int = 0
    lost: int = 0
    duplicated: int = 0


class SimulatedFleet:
    """``meter_count`` meters from ``seed``; ``clock`` (or an accelerated one at ``speed``) paces them."""

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        meter_count: int = DEFAULT_METER_COUNT,
        clock: Clock | None = None,
        speed: float = 1.0,
        *,
        start: datetime | None = None,
        tz: ZoneInfo | None = None,
        loss_rate: float = 0.05,
        duplicate_rate: float = 0.02,
        repeat_rate: float = 0.01,
        alarm_rate_per_year: float = 6.0,
        horizon_days: float = 400.0,
        interval_scale: float = 1.0,
        fast_meters: int = 1,
        n_mode: LinkMode | None = None,
    ) -> None:
        if clock is None:
            clock = AcceleratedClock(start or datetime.now(UTC), speed) if speed != 1.0 else SystemClock()
        self.seed = seed
        self.clock = clock
        self.speed = speed
        self.start = (start or clock.now()).astimezone(UTC)
        self.tz = tz or ZoneInfo("UTC")
        self.loss_rate = loss_rate
        self.duplicate_rate = duplicate_rate
        self.repeat_rate = repeat_rate
        if n_mode is not None and n_mode not in CHANNELS:
            raise ValueError(f"n_mode must be an N sub-mode (N1a ... N2f), not {n_mode}")
        self.n_mode = n_mode
        self.counters = FleetCounters()
        self.injected_duplicates: list[InjectedDuplicate] = []
        horizon = timedelta(days=horizon_days)
        self.meters: tuple[SimulatedMeter, ...] = tuple(
            _make_meter(
                seed,
                index,
                start=self.start,
                horizon=horizon,
                alarm_rate_per_year=alarm_rate_per_year,
                interval_scale=interval_scale,
                fast_meters=fast_meters,
                n_mode=n_mode,
            )
            for index in range(meter_count)
        )
        self._by_id = {meter.meter_id: meter for meter in self.meters}
        self._months = self._month_table(horizon)
        self._targets: dict[tuple[int, float], int] = {}
        self._crypto: dict[int, tuple[Any, tuple[bytes, bytes]]] = {}
        for meter in self.meters:
            if meter.key is not None:
                cipher = encoder.ecb(meter.key)
                self._crypto[meter.index] = (cipher, encoder.cmac_subkeys(cipher))
        self.injected_alarms: tuple[InjectedAlarm, ...] = tuple(
            sorted((alarm for meter in self.meters for alarm in meter.alarms), key=lambda a: a.start)
        )

    @property
    def virtual(self) -> bool:
        """True when the fleet runs on a ManualClock: as fast as possible, the source moves the clock."""
        return isinstance(self.clock, ManualClock)

    def keys(self) -> dict[str, bytes]:
        """Meter id -> AES key of every encrypted meter."""
        return {meter.meter_id: meter.key for meter in self.meters if meter.key is not None}

    def meter(self, meter_id: str) -> SimulatedMeter:
        return self._by_id[meter_id]

    def true_index_m3(self, meter_id: str, at: datetime) -> float:
        """The meter's exact register value at ``at`` (before the meter's own rounding)."""
        return self._index_at(self._by_id[meter_id], (at - self.start).total_seconds())

    def reported_index_m3(self, meter_id: str, at: datetime) -> float:
        """The index as the meter's telegram shows it (its resolution, rounded down)."""
        resolution = FORMATS[self._by_id[meter_id].format].resolution_m3
        return math.floor(self.true_index_m3(meter_id, at) / resolution + 1e-9) * resolution

    def month_end(self, at: datetime) -> tuple[datetime, date]:
        """The last month boundary before ``at`` in the meters' time zone, and the date they store for it."""
        local = at.astimezone(self.tz)
        boundary = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return boundary.astimezone(UTC), (boundary - timedelta(days=1)).date()

    def active_alarms(self, meter_id: str, at: datetime) -> frozenset[Alarm]:
        meter = self._by_id[meter_id]
        return frozenset(alarm.alarm for alarm in meter.alarms if alarm.start <= at < alarm.end)

    def transmissions(self, until: datetime | None = None) -> Iterator[Transmission]:
        """Every telegram of the fleet in time order, from ``start`` to ``until`` (or forever)."""
        streams = [self._meter_stream(meter, until) for meter in self.meters]
        return heapq.merge(*streams, key=lambda tx: tx.at)

    def telegram(self, meter: SimulatedMeter, at: datetime, access_number: int, counter: int) -> bytes:
        """The telegram ``meter`` sends at ``at``."""
        return self._telegram(meter, (at - self.start).total_seconds(), access_number, counter)

    def _index_at(self, meter: SimulatedMeter, seconds: float) -> float:
        base = meter.daily_m3 / DAY_S
        swing = (
            meter.daily_swing / _OMEGA * (math.cos(meter.phase) - math.cos(_OMEGA * seconds + meter.phase))
        )
        total = meter.start_index_m3 + base * (seconds + swing)
        for alarm in meter.alarms:
            if alarm.leak_m3h:
                since = (alarm.start - self.start).total_seconds()
                if seconds > since:
                    until = (alarm.end - self.start).total_seconds()
                    total += alarm.leak_m3h * (min(seconds, until) - since) / 3600.0
        return max(total, 0.0)

    def _boundary(self, seconds: float) -> tuple[float, date]:
        """The month boundary before ``seconds`` (since start) and the date meters store for it."""
        months = self._months
        position = bisect.bisect_right(months, seconds, key=lambda entry: entry[0]) - 1
        if 0 <= position < len(months) - 1:
            return months[position]
        boundary, stored = self.month_end(self.start + timedelta(seconds=seconds))
        return (boundary - self.start).total_seconds(), stored

    def _month_table(self, horizon: timedelta) -> list[tuple[float, date]]:
        table: list[tuple[float, date]] = []
        at = self.start - timedelta(days=31)
        while at < self.start + horizon + timedelta(days=62):
            boundary, stored = self.month_end(at)
            entry = ((boundary - self.start).total_seconds(), stored)
            if not table or table[-1] != entry:
                table.append(entry)
            at += timedelta(days=1)
        return table

    def _telegram(self, meter: SimulatedMeter, seconds: float, access_number: int, counter: int) -> bytes:
        resolution = FORMATS[meter.format].resolution_m3
        steps = math.floor(self._index_at(meter, seconds) / resolution + 1e-9)
        boundary_s, period_date = self._boundary(seconds)
        cache_key = (meter.index, boundary_s)
        target_steps = self._targets.get(cache_key)
        if target_steps is None:
            target_steps = math.floor(self._index_at(meter, boundary_s) / resolution + 1e-9)
            self._targets[cache_key] = target_steps
        alarms = 0
        if meter.alarms:
            at = self.start + timedelta(seconds=seconds)
            for alarm in meter.alarms:
                if alarm.start <= at < alarm.end:
                    alarms |= 1 if alarm.alarm is Alarm.LEAK else 2
        crypto = self._crypto.get(meter.index)
        m_and_a = meter.m_and_a
        if meter.format in (MeterFormat.OMS_MODE5, MeterFormat.N_OMS_MODE5):
            assert crypto is not None
            flags = (EFE_LEAK if alarms & 1 else 0) | (EFE_REVERSE if alarms & 2 else 0)
            local = (self.start + timedelta(seconds=seconds)).astimezone(self.tz)
            records = (
                encoder.volume_litres_int32(steps)
                + encoder.volume_litres_int32(target_steps, storage=1)
                + encoder.date_g(period_date, storage=1)
                + encoder.error_flags_8(flags)
                + encoder.datetime_f(local)
            )
            return encoder.oms_mode5(m_and_a, crypto[0], access_number, 0, records)
        if meter.format in (MeterFormat.OMS_MODE7, MeterFormat.N_OMS_MODE7):
            assert crypto is not None
            records = (
                encoder.volume_litres_bcd8(steps)
                + encoder.volume_litres_bcd8(target_steps, storage=1)
                + encoder.date_g(period_date, storage=1)
            )
            return encoder.oms_mode7(m_and_a, crypto[0], crypto[1], counter, access_number, 0, records)
        if meter.format is MeterFormat.ELL_AES_CTR:
            assert crypto is not None
            info = (KAM_LEAK if alarms & 1 else 0) | (KAM_REVERSE if alarms & 2 else 0)
            inner = (
                bytes([encoder.CI_NO_TPL])
                + encoder.kamstrup_info_codes(info)
                + encoder.volume_litres_int32(steps)
                + encoder.volume_litres_int32(target_steps, storage=1)
                + encoder.date_g(period_date, storage=1)
            )
            return encoder.ell_aes_ctr(m_and_a, crypto[0], access_number, counter, inner)
        today = (self.start + timedelta(seconds=seconds)).astimezone(self.tz).date()
        return encoder.techem_mk_radio3(m_and_a, period_date, target_steps, today, steps - target_steps)

    def _meter_stream(self, meter: SimulatedMeter, until: datetime | None) -> Iterator[Transmission]:
        rng = random.Random(f"{self.seed}/{meter.index}/air")
        end = math.inf if until is None else (until - self.start).total_seconds()
        seconds = rng.uniform(0, meter.interval_s)
        access_number = rng.randrange(256)
        counter = rng.randrange(1 << 16)
        while seconds < end:
            if rng.random() < self.loss_rate:
                self.counters.lost += 1
            else:
                at = self.start + timedelta(seconds=seconds)
                # The telegram is built for the instant as a datetime holds it, so that the ground truth
                # asked about ``at`` agrees to the last litre.
                data = self._telegram(meter, (at - self.start).total_seconds(), access_number, counter)
                self.counters.sent += 1
                yield self._on_air(meter, at, data, rng)
                for kind, rate in (("duplicate", self.duplicate_rate), ("repeat", self.repeat_rate)):
                    if rng.random() < rate:
                        copy_at = at + timedelta(
                            seconds=rng.uniform(0.05, 0.9 if kind == "duplicate" else 4.0)
                        )
                        self.injected_duplicates.append(
                            InjectedDuplicate(meter.meter_id, access_number, at, copy_at, kind)
                        )
                        self.counters.duplicated += 1
                        yield self._on_air(meter, copy_at, data, rng, copy=True)
                        break
            access_number = (access_number + 1) & 0xFF
            counter += 1
            seconds += meter.interval_s * rng.uniform(0.98, 1.02)

    @staticmethod
    def _on_air(
        meter: SimulatedMeter, at: datetime, data: bytes, rng: random.Random, copy: bool = False
    ) -> Transmission:
        rssi = round((meter.rssi_dbm + rng.gauss(0, 2)) * 2) / 2
        return Transmission(at, meter.meter_id, data, rssi, meter.link_mode, copy)


def _make_meter(
    seed: int,
    index: int,
    *,
    start: datetime,
    horizon: timedelta,
    alarm_rate_per_year: float,
    interval_scale: float,
    fast_meters: int,
    n_mode: LinkMode | None = None,
) -> SimulatedMeter:
    rng = random.Random(f"{seed}/{index}/meter")
    order = FORMATS_868 if n_mode is None else FORMATS_169
    fmt = order[index % len(order)]
    spec = FORMATS[fmt]
    meter_id = f"{(rng.randrange(10_000_000, 99_999_999) // 100) * 100 + index % 100:08d}"
    key = rng.randbytes(16) if spec.encrypted else None
    low, high = spec.interval_s
    interval = math.exp(rng.uniform(math.log(low), math.log(high)))
    if fmt is MeterFormat.ELL_AES_CTR and index // len(FORMATS_868) < fast_meters:
        interval = FAST_METER_INTERVAL_S
    interval *= interval_scale
    kind = rng.random()
    if kind < 0.06:
        daily_m3 = 0.0  # an empty flat: no consumption at all
    elif kind < 0.15:
        daily_m3 = rng.uniform(2.0, 10.0)  # a building's main meter
    else:
        daily_m3 = rng.lognormvariate(math.log(0.3), 0.5)
    alarms: list[InjectedAlarm] = []
    if spec.alarms and alarm_rate_per_year > 0:
        alarm_rng = random.Random(f"{seed}/{index}/alarms")
        at = start
        end = start + horizon
        while True:
            at += timedelta(days=alarm_rng.expovariate(alarm_rate_per_year / 365.0))
            if at >= end:
                break
            if alarm_rng.random() < 0.6:
                duration = timedelta(hours=alarm_rng.uniform(6, 72))
                alarms.append(
                    InjectedAlarm("", Alarm.LEAK, at, at + duration, alarm_rng.uniform(0.005, 0.05))
                )
            else:
                duration = timedelta(minutes=alarm_rng.uniform(10, 180))
                alarms.append(InjectedAlarm("", Alarm.BACKFLOW, at, at + duration))
            at += duration
    return SimulatedMeter(
        index=index,
        meter_id=meter_id,
        manufacturer=spec.manufacturer,
        version=spec.version,
        device_type=spec.device_type,
        key=key,
        format=fmt,
        decoder=spec.decoder,
        link_mode=n_mode or spec.link_mode,
        interval_s=interval,
        start_index_m3=round(rng.uniform(400, 2500), 3),
        daily_m3=daily_m3,
        daily_swing=rng.uniform(0.3, 0.9),
        phase=rng.uniform(0, 2 * math.pi),
        rssi_dbm=round(rng.uniform(-105, -55), 1),
        alarms=tuple(InjectedAlarm(meter_id, a.alarm, a.start, a.end, a.leak_m3h) for a in alarms),
        m_and_a=encoder.address_bytes(meter_id, spec.manufacturer, spec.version, spec.device_type),
    )
