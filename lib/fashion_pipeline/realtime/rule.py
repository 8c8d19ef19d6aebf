"""The real-time recommendation rule: a shopper's recent events -> 12 items with reasons.

One pure function, `score_realtime`, called by both engines: the Lambda fast path per shopper,
and the Spark streaming job per shopper from a pandas UDF (`realtime/frames.py`). Standard library
only (no numpy, pandas or Spark), so the Lambda zip stays small and both engines run the very same
arithmetic: the same inputs give the same list, whatever the order the events arrived in.

Inputs (plain values):
- `events`: the shopper's recent `SessionEvent`s (their ring, see `merge_events`);
- `neighbors`: for each session article that the nightly batch knows, its item neighbours
  (`article_id -> [(neighbour_id, cosine), ...]`, best first; the item-neighbours table). An
  article without an entry is unknown to the batch (new, or not in the catalogue): it can be
  neither recommended nor used to find others;
- `batch_items`: the shopper's nightly list, best first (`article_id`, `score`, `reason`);
  empty for a guest or a customer the batch has not seen;
- `trending`: live trending articles, best first (`article_id`, `score`);
- `settings`: `RuleSettings` (the `realtime` configuration section).

Scoring. Each event counts `event_weights[type] * 0.5 ** (age / recency_half_life_s)`, the age
taken from the shopper's newest event, so the list is a function of the events alone (not of the
wall clock, which differs between engines and between a delivery and its retry). Summed per
article that gives the session interest I(a) (articles whose interest is not positive drop out:
a removal from the cart cancels a view). A candidate b gets

    session(b) = viewed_weight * I(b)        [b seen in the session and known, not bought in it]
               + neighbor_weight * sum_a I(a) * cosine(a, b)   [over the session articles a]

and the final score blends three sources, each scaled so that its best candidate is 1:

    score(b) = session_weight * session(b) / max session
             + batch_weight * (n - rank) / n      [rank 0..n-1 in the nightly list of n]
             + trending_weight * (m - rank) / m   [rank in the trending list of m]

The item's reason is the source with the largest weighted term: `session`, `trending`, or the
nightly item's own reason (`als`, `repurchase`, `popular`). Equal scores are ordered by article id.
"""
from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import TYPE_CHECKING, Any

from fashion_pipeline.clickstream.contract import PURCHASE, parse_event_time

if TYPE_CHECKING:  # the rule never imports the configuration (pydantic) at run time
    from fashion_pipeline.config import Config

RULE_VERSION = "rule-1"  # bump when the arithmetic changes: items carry it in model_version
REASON_SESSION, REASON_TRENDING = "session", "trending"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ROUND_DIGITS = 9  # scores as stored: the ranking itself uses the exact sums


@dataclass(frozen=True, order=True)
class SessionEvent:
    """One click of a shopper, as the rule needs it. Ordered by time, then event id."""

    event_time_ms: int
    event_id: str
    event_type: str
    article_id: str

    def as_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "event_type": self.event_type, "article_id": self.article_id,
                "event_time_ms": self.event_time_ms}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> "SessionEvent":
        return cls(int(value["event_time_ms"]), str(value["event_id"]), str(value["event_type"]),
                   str(value["article_id"]))

    @classmethod
    def from_click(cls, click: Mapping[str, Any]) -> "SessionEvent":
        """From a click event as on the wire (`event_time` text) or parsed (an aware datetime)."""
        moment = click["event_time"]
        if isinstance(moment, str):
            # The contract's form (validated by the caller); fromisoformat is C, strptime is not.
            moment = datetime.fromisoformat(moment) if moment.endswith("Z") else parse_event_time(moment)
        return cls(epoch_ms(moment), click["event_id"], click["event_type"], click["article_id"])


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, exactly (no float rounding): Spark's `unix_millis`."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class RankedItem:
    article_id: str
    score: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"article_id": self.article_id, "score": self.score, "reason": self.reason}


@dataclass(frozen=True)
class RuleSettings:
    """The rule's parameters as plain values (picklable for Spark executors, JSON for the Lambda)."""

    event_weights: tuple[tuple[str, float], ...]
    recency_half_life_s: float
    viewed_weight: float
    neighbor_weight: float
    neighbors_per_article: int
    session_weight: float
    batch_weight: float
    trending_weight: float
    k: int = 12

    @classmethod
    def from_config(cls, config: "Config") -> "RuleSettings":
        realtime = config.realtime
        return cls(
            event_weights=tuple(sorted(realtime.event_weights.items())),
            recency_half_life_s=realtime.recency_half_life_s, viewed_weight=realtime.viewed_weight,
            neighbor_weight=realtime.neighbor_weight, neighbors_per_article=realtime.neighbors_per_article,
            session_weight=realtime.session_weight, batch_weight=realtime.batch_weight,
            trending_weight=realtime.trending_weight, k=config.recs.top_k,
        )

    def with_weights(self, **weights: float) -> "RuleSettings":
        """A copy with some weights changed (the evaluation's ablations)."""
        return RuleSettings(**{**self.as_dict(), **weights})

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> "RuleSettings":
        return cls(**{**value, "event_weights": tuple((str(t), float(w)) for t, w in value["event_weights"])})


# ---------------------------------------------------------------------------------- events
def merge_events(current: Iterable[SessionEvent], incoming: Iterable[SessionEvent], ring_length: int,
                 max_age_ms: int) -> list[SessionEvent]:
    """A shopper's ring after `incoming` events: one event per event id (a redelivered event
    changes nothing), in time order, only the newest `ring_length`, and none older than
    `max_age_ms` before the newest. Both engines keep their per-shopper state with this function,
    so the same events leave the same ring."""
    ordered = unique_events((*current, *incoming))
    if not ordered:
        return []
    oldest_kept = ordered[-1].event_time_ms - max_age_ms
    return [e for e in ordered if e.event_time_ms >= oldest_kept][-ring_length:]


def unique_events(events: Iterable[SessionEvent]) -> list[SessionEvent]:
    """One event per event id, in time order. Should two copies of an id differ (a faulty sender),
    the earliest is kept, so the outcome never depends on the order they arrived in."""
    by_id: dict[str, SessionEvent] = {}
    for event in sorted(events):
        by_id.setdefault(event.event_id, event)
    return sorted(by_id.values())


def events_digest(events: Iterable[SessionEvent]) -> str:
    """16 hex of the sorted distinct event ids: which events a real-time item was computed from."""
    ids = sorted({e.event_id for e in events})
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()[:16]


def session_interest(events: Iterable[SessionEvent], settings: RuleSettings) -> dict[str, float]:
    """Article -> decayed, weighted interest (positive only), as of the newest event."""
    ordered = unique_events(events)
    if not ordered:
        return {}
    as_of_ms = ordered[-1].event_time_ms
    weights = dict(settings.event_weights)
    half_life_ms = settings.recency_half_life_s * 1000.0
    interest: dict[str, float] = {}
    for event in ordered:
        weight = weights.get(event.event_type, 0.0)
        if weight:
            decay = 0.5 ** ((as_of_ms - event.event_time_ms) / half_life_ms)
            interest[event.article_id] = interest.get(event.article_id, 0.0) + weight * decay
    return {article: value for article, value in interest.items() if value > 0}


# ---------------------------------------------------------------------------------- the rule
def score_realtime(
    events: Sequence[SessionEvent],
    neighbors: Mapping[str, Sequence[tuple[str, float]]],
    batch_items: Sequence[Mapping[str, Any]],
    trending: Sequence[tuple[str, float]],
    settings: RuleSettings,
) -> list[RankedItem]:
    """The shopper's real-time list: at most `settings.k` items, best first (see module doc)."""
    interest = session_interest(events, settings)
    # What the shopper just bought is not offered again; its neighbours are.
    bought_articles = {e.article_id for e in events if e.event_type == PURCHASE}

    session: dict[str, float] = {}
    for article in sorted(interest):
        if article not in neighbors:
            continue  # unknown to the batch: no neighbours, and not a known article to show
        if article not in bought_articles and settings.viewed_weight:
            session[article] = session.get(article, 0.0) + settings.viewed_weight * interest[article]
        if settings.neighbor_weight:
            for neighbor, cosine in islice(neighbors[article], settings.neighbors_per_article):
                if cosine > 0 and neighbor not in bought_articles:
                    session[neighbor] = session.get(neighbor, 0.0) + settings.neighbor_weight * interest[article] * cosine

    # Terms are added in one fixed order (trending, batch, session), so the sums, and the order
    # they give, are the same on every engine.
    scores: dict[str, float] = {}
    trending_terms: dict[str, float] = {}
    for rank, (article, _score) in enumerate(trending):
        if article not in trending_terms:
            trending_terms[article] = settings.trending_weight * (len(trending) - rank) / len(trending)
            scores[article] = trending_terms[article]
    batch_terms: dict[str, float] = {}
    batch_reasons: dict[str, str] = {}
    for rank, item in enumerate(batch_items):
        article = item["article_id"]
        if article not in batch_terms:
            batch_reasons[article] = item["reason"]
            batch_terms[article] = settings.batch_weight * (len(batch_items) - rank) / len(batch_items)
            scores[article] = scores.get(article, 0.0) + batch_terms[article]
    session_terms: dict[str, float] = {}
    best_session = max(session.values(), default=0.0)
    if best_session > 0:
        scale = settings.session_weight / best_session
        for article, value in session.items():
            session_terms[article] = value * scale
            scores[article] = scores.get(article, 0.0) + session_terms[article]

    best = heapq.nsmallest(settings.k, ((-score, article) for article, score in scores.items() if score > 0))
    return [RankedItem(article, round(-negative, _ROUND_DIGITS),
                       _reason(session_terms.get(article, 0.0), batch_terms.get(article, 0.0),
                               trending_terms.get(article, 0.0), batch_reasons.get(article)))
            for negative, article in best]


def _reason(from_session: float, from_batch: float, from_trending: float, batch_reason: str | None) -> str:
    """The largest term names the reason; on a tie, session before batch before trending."""
    if from_session > 0 and from_session >= from_batch and from_session >= from_trending:
        return REASON_SESSION
    if from_batch > 0 and from_batch >= from_trending:
        return batch_reason
    return REASON_TRENDING
