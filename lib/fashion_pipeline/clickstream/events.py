"""Clicks of the website's shoppers, drawn from the generator's `TasteModel`.

A session belongs to a registered customer (drawn by activity, as buyers are) or to a guest. It
has an intent, the planted truth of the session: a focus product type and a handful of articles of
that type the shopper is after (drawn from what the customer's taste segment buys on the modelled
day; for a guest, from what the whole shop buys), and whether the shopper came to buy. Views go
mostly to those articles, some back to one seen before, the rest wander over the segment's taste.
Some views lead to an add to cart (far more often when the shopper came to buy); at the end the
cart is reviewed (some lines removed) and may be checked out: purchases are only of articles still
in the cart, at the article's price on H&M's price scale.

Everything is drawn from one random stream keyed by the seed, apart from the generator's and the
store simulator's streams: the same simulator (model, seed, day) yields the same sessions, event
ids included. The article weights are those of the modelled day (by default the model's last day),
whatever the wall-clock time the events are stamped with.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

import numpy as np

from fashion_pipeline.clickstream.contract import (
    ADD_TO_CART,
    CLICK_EVENT_COLUMNS,
    PURCHASE,
    REMOVE_FROM_CART,
    VIEW,
    click_partition_key,
    encode_click_event,
)
from fashion_pipeline.generate import LAST_DAY, TasteModel, day_offset, price_value, scale_spec
from fashion_pipeline.generate.frames import article_id_array

CLICKSTREAM_STREAM = 51  # random-stream key of the simulator, apart from the generator's and the store's
_BEHAVIOUR, _IDS = 0, 1  # its two sub-streams: what shoppers do, and the UUIDs of sessions and events

# Who browses, and on what. Mobile dominates fashion e-commerce traffic.
GUEST_SESSION_SHARE = 0.3
DEVICE_SHARES = {"mobile_app": 0.38, "mobile_web": 0.32, "desktop": 0.25, "tablet": 0.05}
# Where a session comes from (None: typed in or bookmarked, no referrer sent).
TRAFFIC_SOURCES = {None: 0.3, "google": 0.25, "instagram": 0.12, "newsletter": 0.1, "tiktok": 0.08,
                   "facebook": 0.06, "pinterest": 0.04, "affiliate": 0.05}
# How a later view was reached inside the site.
INTERNAL_SOURCES = {"internal:category": 0.4, "internal:search": 0.2, "internal:recommendations": 0.15,
                    "internal:product": 0.15, "internal:home": 0.1}
QUICK_ADD_SHARE = 0.15  # adds to cart from a category page, without opening the product

# Session length: many sessions bounce after one view; the others view 1 + geometric more.
BOUNCE_SHARE = 0.35
MORE_VIEWS_P = 0.12
MAX_VIEWS = 60
# What a view looks at.
REVIEW_SHARE = 0.12  # an article seen earlier in the session
INTEREST_SHARE = 0.65  # one of the session's interest articles (the rest wander over the taste)
INTEREST_SIZE = (3, 9)  # articles in a session's interest, inclusive
# The funnel: per view, the chance to add to cart; at the end, removals and checkout.
PLANNED_PURCHASE_SHARE = {False: 0.15, True: 0.08}  # by guest
ADD_TO_CART_P = {True: 0.22, False: 0.05}  # by planned purchase
SECOND_UNIT_SHARE = 0.08
REMOVE_P = 0.2
CHECKOUT_P = {True: 0.8, False: 0.15}  # by planned purchase, when the cart is not empty
# Seconds: the time on a product page (lognormal; an add to cart happens within it), and around the cart.
DWELL_MEDIAN_S, DWELL_SIGMA = 25.0, 0.9
CART_REVIEW_S = (10.0, 60.0)
CHECKOUT_S = (60.0, 240.0)
# Events per session under the shares above (measured: about 6.4 views and a little funnel):
# sets how often sessions start for a wanted event rate.
MEAN_EVENTS_PER_SESSION = 7.0
# Nearly all sessions are over within this time (dwell times are long-tailed): an event stream starts
# its sessions this much before its first event, so that it starts with a full site.
STREAM_WARM_UP = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class ClickEvent:
    """One click, with the fields of `contract.CLICK_EVENT_FIELDS` in the same order."""

    event_id: str
    event_type: str
    event_time: datetime
    customer_id: str | None
    session_id: str
    article_id: str
    price: float | None
    quantity: int | None
    device: str
    page: str
    referrer: str | None

    def as_record(self) -> dict:
        return {name: getattr(self, name) for name in CLICK_EVENT_COLUMNS}

    def to_json(self) -> bytes:
        return encode_click_event(self.as_record())

    @property
    def partition_key(self) -> str:
        return click_partition_key({"customer_id": self.customer_id, "session_id": self.session_id})


@dataclass(frozen=True)
class SessionIntent:
    """The planted truth of a session: what the shopper came for."""

    focus_product_type_no: int
    interest_article_ids: tuple[str, ...]
    planned_purchase: bool


@dataclass(frozen=True)
class Session:
    session_id: str
    customer_index: int | None  # index into the model's customers; None for a guest
    customer_id: str | None
    segment: int | None  # the customer's taste segment; None for a guest
    device: str
    referrer: str | None
    intent: SessionIntent
    events: tuple[ClickEvent, ...]

    @property
    def is_guest(self) -> bool:
        return self.customer_index is None

    @property
    def start(self) -> datetime:
        return self.events[0].event_time

    def articles(self, event_type: str) -> list[str]:
        return [e.article_id for e in self.events if e.event_type == event_type]


class ClickstreamSimulator:
    """Sessions and a time-ordered event stream drawn from a TasteModel on one modelled day."""

    def __init__(self, model: TasteModel, seed: int, model_day: date | None = None):
        self.model = model
        self.seed = seed
        self.model_day = model_day or date.fromisoformat(str(LAST_DAY))
        self.day = day_offset(self.model_day)
        if not 0 <= self.day <= day_offset(LAST_DAY):
            raise ValueError(f"model day {self.model_day} is outside the modelled period (up to {LAST_DAY})")
        self._rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(CLICKSTREAM_STREAM, _BEHAVIOUR)))
        self._ids = UuidSource(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(CLICKSTREAM_STREAM, _IDS))))
        catalogue = model.catalogue
        self._article_ids = article_id_array(model.catalogue).to_pylist()
        self._positions: dict[str, int] | None = None
        self._prices = price_value(catalogue.price_point).tolist()
        self._product_type_no = catalogue.product_type_no
        order = np.argsort(catalogue.product_type_no, kind="stable")
        types, starts = np.unique(catalogue.product_type_no[order], return_index=True)
        self._articles_by_type = dict(zip(types.tolist(), np.split(order, starts[1:])))
        self._weights = np.vstack([model.article_weights(s, self.day) for s in range(model.n_segments)])
        # Guests see what the whole shop buys: the segments' tastes mixed by their share of shoppers.
        popular = model.segments.prior @ self._weights
        self._guest_weights = popular / popular.sum()
        self._cumulative = np.cumsum(self._weights, axis=1)
        self._guest_cumulative = np.cumsum(self._guest_weights)
        self._type_cumulative: dict[tuple[int | None, int], tuple[np.ndarray, np.ndarray]] = {}
        self._devices = _Choice(DEVICE_SHARES)
        self._sources = _Choice(TRAFFIC_SOURCES)
        self._internal = _Choice(INTERNAL_SOURCES)

    @classmethod
    def from_config(cls, config, seed: int | None = None, model_day: date | None = None) -> "ClickstreamSimulator":
        clicks = config.clickstream
        model = TasteModel.build(scale_spec(clicks.scale), clicks.model_seed)
        return cls(model, clicks.seed if seed is None else seed, model_day or clicks.model_day)

    @property
    def article_ids(self) -> list[str]:
        return self._article_ids

    # ------------------------------------------------------------------------------ public
    def sessions(self, start: datetime, sessions_per_second: float = 1.0) -> Iterator[Session]:
        """Sessions without end, starting at Poisson arrivals from `start`."""
        moment = _aware(start)
        while True:
            yield self.session(moment)
            moment += timedelta(seconds=float(self._rng.exponential(1.0 / sessions_per_second)))

    def event_stream(self, start: datetime, events_per_second: float,
                     warm_up: timedelta = STREAM_WARM_UP) -> Iterator[ClickEvent]:
        """The events of overlapping sessions from `start` on, in time order, at about
        `events_per_second`: what the website sends, one shopper's clicks interleaved with
        everybody else's. Sessions start arriving `warm_up` earlier (their events before `start`
        are not yielded), so the site is already busy at `start` rather than filling up."""
        start = _aware(start)
        sessions_per_second = events_per_second / MEAN_EVENTS_PER_SESSION
        arrivals = self.sessions(start - warm_up, sessions_per_second)
        next_session = next(arrivals)
        open_events: list[tuple[datetime, int, int, tuple[ClickEvent, ...]]] = []
        order = 0
        while True:
            if not open_events or next_session.start <= open_events[0][0]:
                heapq.heappush(open_events, (next_session.start, order, 0, next_session.events))
                order += 1
                next_session = next(arrivals)
                continue
            _, tie, position, events = heapq.heappop(open_events)
            if events[position].event_time >= start:
                yield events[position]
            if position + 1 < len(events):
                heapq.heappush(open_events, (events[position + 1].event_time, tie, position + 1, events))

    def session(self, start: datetime, customer_index: int | None = None,
                anchor_article_id: str | None = None) -> Session:
        """One session starting at `start`, of a shopper drawn by activity (or a guest).

        `customer_index` makes it a session of that registered customer instead. `anchor_article_id`
        fixes the first article of the intent (and so its focus product type) instead of drawing it
        from the taste; the rest of the intent, the views and the funnel are drawn as always. That
        is how an evaluation plants a session before a purchase it knows of. Without these two
        arguments the draws are exactly those of earlier versions."""
        rng, model = self._rng, self.model
        start = _aware(start)
        guest = customer_index is None and bool(rng.random() < GUEST_SESSION_SHARE)
        if guest:
            customer = segment = customer_id = None
            weights, cumulative = self._guest_weights, self._guest_cumulative
        elif customer_index is not None:
            customer = int(customer_index)
            segment = int(model.segment_of_customer(customer))
            customer_id = model.customers.customer_id[customer].decode()
            weights, cumulative = self._weights[segment], self._cumulative[segment]
        else:
            customer = int(model.sample_customers(np.asarray([self.day]), rng)[0])
            segment = int(model.segment_of_customer(customer))
            customer_id = model.customers.customer_id[customer].decode()  # one at a time: hm has 1.4M
            weights, cumulative = self._weights[segment], self._cumulative[segment]
        session_id = self._ids.next()
        device = self._devices.draw(rng)
        source = self._sources.draw(rng)
        planned = bool(rng.random() < PLANNED_PURCHASE_SHARE[guest])
        anchor = None if anchor_article_id is None else self._article_position(anchor_article_id)
        interest, interest_cumulative, focus_type = self._interest(rng, segment, weights, cumulative, anchor)
        intent = SessionIntent(focus_type, tuple(self._article_ids[a] for a in interest), planned)

        n_views = 1 if rng.random() < BOUNCE_SHARE else min(1 + int(rng.geometric(MORE_VIEWS_P)), MAX_VIEWS)
        choice_draws = rng.random((n_views, 3))
        dwell = rng.lognormal(np.log(DWELL_MEDIAN_S), DWELL_SIGMA, n_views)
        cart_draws = rng.random((n_views, 4))
        add_p = ADD_TO_CART_P[planned]

        def event(event_type, moment, article, page, referrer, quantity=None, price=None) -> ClickEvent:
            return ClickEvent(self._ids.next(), event_type, moment, customer_id, session_id, self._article_ids[article],
                              price, quantity, device, page, referrer)

        events: list[ClickEvent] = []
        viewed: list[int] = []
        cart: dict[int, int] = {}  # article -> units, in the order added
        moment = start
        for i in range(n_views):
            pick, where, wander = choice_draws[i]
            if viewed and pick < REVIEW_SHARE:
                article = viewed[int(where * len(viewed))]
            elif pick < REVIEW_SHARE + INTEREST_SHARE:
                article = int(interest[_draw(interest_cumulative, where)])
            else:
                article = _draw(cumulative, wander)
            referrer = source if i == 0 else self._internal.draw(rng)
            events.append(event(VIEW, moment, article, "product", referrer))
            viewed.append(article)
            add, quick, units, delay = cart_draws[i]
            if article not in cart and add < add_p:
                cart[article] = 2 if units < SECOND_UNIT_SHARE else 1
                # while still on the page: within the time spent on it
                added_at = moment + timedelta(milliseconds=int(dwell[i] * 1000 * (0.2 + 0.7 * delay)))
                page = "category" if quick < QUICK_ADD_SHARE else "product"
                events.append(event(ADD_TO_CART, added_at, article, page, None, cart[article]))
            moment += timedelta(milliseconds=int(dwell[i] * 1000))

        if cart:
            moment += _seconds(CART_REVIEW_S, rng.random())
            for article in list(cart):
                if rng.random() < REMOVE_P:
                    events.append(event(REMOVE_FROM_CART, moment, article, "cart", None, cart.pop(article)))
            if cart and rng.random() < CHECKOUT_P[planned]:
                moment += _seconds(CHECKOUT_S, rng.random())
                for article, units in cart.items():
                    events.append(event(PURCHASE, moment, article, "checkout", None, units, self._prices[article]))
        return Session(session_id, customer, customer_id, segment, device, source, intent, tuple(events))

    # ------------------------------------------------------------------------------ internals
    def _interest(self, rng, segment: int | None, weights: np.ndarray, cumulative: np.ndarray,
                  anchor: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """A focus product type (that of an article drawn from the taste, or of `anchor`) and the
        articles of that type the session is after: the first distinct ones of a few draws by the
        same taste."""
        seed_article = _draw(cumulative, rng.random()) if anchor is None else anchor
        focus_type = int(self._product_type_no[seed_article])
        candidates, type_cumulative = self._taste_within_type(segment, focus_type, weights)
        size = int(rng.integers(INTEREST_SIZE[0], INTEREST_SIZE[1] + 1))
        positions = np.searchsorted(type_cumulative, rng.random(3 * size) * type_cumulative[-1], side="right")
        drawn = candidates[np.minimum(positions, len(candidates) - 1)].tolist()
        interest = np.asarray(list(dict.fromkeys([seed_article, *drawn]))[:size], dtype=np.int64)
        return interest, np.cumsum(weights[interest]), focus_type

    def _article_position(self, article_id: str) -> int:
        if self._positions is None:  # built on first use: only evaluations anchor sessions
            self._positions = {article: i for i, article in enumerate(self._article_ids)}
        try:
            return self._positions[article_id]
        except KeyError:
            raise ValueError(f"article {article_id} is not in the model's catalogue") from None

    def _taste_within_type(self, segment: int | None, product_type_no: int,
                           weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The articles of a product type and their cumulative weights for a segment (None: guests)."""
        key = (segment, product_type_no)
        cached = self._type_cumulative.get(key)
        if cached is None:
            candidates = self._articles_by_type[product_type_no]
            cached = self._type_cumulative[key] = (candidates, np.cumsum(weights[candidates]))
        return cached


class _Choice:
    """A categorical draw over a {value: share} table with one uniform number."""

    def __init__(self, shares: dict):
        self.values = list(shares)
        self.cumulative = np.cumsum(list(shares.values())) / sum(shares.values())

    def draw(self, rng: np.random.Generator):
        return self.values[min(int(np.searchsorted(self.cumulative, rng.random(), side="right")), len(self.values) - 1)]


def _draw(cumulative: np.ndarray, uniform: float) -> int:
    position = int(np.searchsorted(cumulative, uniform * cumulative[-1], side="right"))
    return min(position, len(cumulative) - 1)


class UuidSource:
    """Version-4 UUID strings from a seeded stream, made a few thousand at a time (one per event
    makes this the simulator's hottest spot otherwise)."""

    CHUNK = 4096

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._pending: list[str] = []

    def next(self) -> str:
        if not self._pending:
            raw = self._rng.integers(0, 256, size=(self.CHUNK, 16), dtype=np.uint8)
            raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
            raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
            blob = raw.tobytes().hex()
            texts = []
            for i in range(0, len(blob), 32):
                h = blob[i:i + 32]
                texts.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
            texts.reverse()  # handed out from the end, so in drawing order
            self._pending = texts
        return self._pending.pop()


def _seconds(bounds: tuple[float, float], uniform: float) -> timedelta:
    low, high = bounds
    return timedelta(milliseconds=int((low + (high - low) * uniform) * 1000))


def _aware(moment: datetime) -> datetime:
    """UTC, cut to the millisecond the contract carries."""
    if moment.tzinfo is None:
        raise ValueError("session times must be timezone-aware")
    moment = moment.astimezone(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def stamped(event: ClickEvent, moment: datetime) -> ClickEvent:
    """The event as sent live: stamped with `moment` (cut to the millisecond)."""
    return replace(event, event_time=_aware(moment))
