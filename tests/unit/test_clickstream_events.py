"""Clicks drawn from the TasteModel: the schema they follow, the funnel, taste and determinism."""
import json
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from itertools import dropwhile, islice, takewhile

import numpy as np
import pytest
from pyspark.sql import functions as F

from fashion_pipeline.clickstream.contract import (
    ADD_TO_CART,
    CLICK_DEVICES,
    CLICK_EVENT_COLUMNS,
    CLICK_EVENT_JSON_OPTIONS,
    PURCHASE,
    REMOVE_FROM_CART,
    VIEW,
    parse_event_time,
)
from fashion_pipeline.clickstream.events import (
    BOUNCE_SHARE,
    DEVICE_SHARES,
    MAX_VIEWS,
    ClickEvent,
    ClickstreamSimulator,
)
from fashion_pipeline.clickstream.validation import click_reject_reason
from fashion_pipeline.generate import LAST_DAY, TasteModel, day_offset, price_value, scale_spec
from fashion_pipeline.generate.frames import article_id_array, customer_id_array
from fashion_pipeline.schemas import CLICK_EVENT_SCHEMA

START = datetime(2020, 9, 22, 8, 0, tzinfo=timezone.utc)
MAX_EVENT_BYTES = 65536
N_SESSIONS = 3000


@pytest.fixture(scope="module")
def model():
    return TasteModel.build(scale_spec("small"), 42)


@pytest.fixture(scope="module")
def sessions(model):
    return list(islice(ClickstreamSimulator(model, seed=3).sessions(START, sessions_per_second=2.0), N_SESSIONS))


@pytest.fixture(scope="module")
def article_index(model):
    return {article: i for i, article in enumerate(article_id_array(model.catalogue).to_pylist())}


def _events(sessions):
    return [event for session in sessions for event in session.events]


def test_every_event_is_valid_under_the_declared_schema(sessions, model):
    known = set(article_id_array(model.catalogue).to_pylist())
    customers = set(customer_id_array(model.customers).to_pylist())
    events = _events(sessions)
    reasons = Counter(click_reject_reason(e.to_json(), MAX_EVENT_BYTES, known) for e in events)
    assert reasons == {None: len(events)}
    assert {e.customer_id for e in events if e.customer_id} <= customers
    assert len({e.event_id for e in events}) == len(events)
    assert list(json.loads(events[0].to_json())) == list(CLICK_EVENT_COLUMNS)
    assert [f.name for f in ClickEvent.__dataclass_fields__.values()] == list(CLICK_EVENT_COLUMNS)


def test_spark_parses_the_events_with_the_declared_struct(spark, sessions):
    events = _events(sessions[:60])
    raw_df = spark.createDataFrame([(e.to_json().decode(),) for e in events], "value string")
    parsed = (raw_df.select(F.from_json("value", CLICK_EVENT_SCHEMA, CLICK_EVENT_JSON_OPTIONS).alias("e"))
              .select("e.*", F.unix_millis("e.event_time").alias("event_ms")).collect())
    assert len(parsed) == len(events)
    for event, row in zip(events, parsed):
        assert row.event_ms == int(event.event_time.timestamp() * 1000)
        assert (row.event_id, row.event_type, row.customer_id, row.session_id, row.article_id, row.price,
                row.quantity, row.device, row.page, row.referrer) == (
            event.event_id, event.event_type, event.customer_id, event.session_id, event.article_id, event.price,
            event.quantity, event.device, event.page, event.referrer)


def test_event_time_parses_to_the_same_instant_in_spark(spark):
    text = "2020-09-22T14:03:07.123Z"
    raw_df = spark.createDataFrame([(json.dumps({"event_time": text}),)], "value string")
    epoch_ms = (raw_df.select(F.from_json("value", CLICK_EVENT_SCHEMA, CLICK_EVENT_JSON_OPTIONS).alias("e"))
                .select(F.unix_millis("e.event_time")).first()[0])
    assert epoch_ms == int(parse_event_time(text).timestamp() * 1000) == 1600783387123


def test_the_funnel_looks_like_a_shop(sessions):
    counts = Counter(e.event_type for e in _events(sessions))
    views, adds, removes, purchases = counts[VIEW], counts[ADD_TO_CART], counts[REMOVE_FROM_CART], counts[PURCHASE]
    assert views / sum(counts.values()) > 0.8
    assert 0.03 < adds / views < 0.12
    assert 0.1 < removes / adds < 0.3
    assert 0.15 < purchases / adds < 0.5
    converted = sum(any(e.event_type == PURCHASE for e in s.events) for s in sessions) / len(sessions)
    assert 0.02 < converted < 0.15


def test_sessions_follow_the_funnel_in_order(sessions, model, article_index):
    prices = price_value(model.catalogue.price_point)
    for session in sessions:
        events = session.events
        assert events[0].event_type == VIEW
        assert [e.event_time for e in events] == sorted(e.event_time for e in events)
        assert {e.session_id for e in events} == {session.session_id}
        assert {e.customer_id for e in events} == {session.customer_id}
        assert {e.device for e in events} == {session.device}
        viewed, cart = set(), {}
        for e in events:
            if e.event_type == VIEW:
                viewed.add(e.article_id)
                assert e.quantity is None and e.price is None
            elif e.event_type == ADD_TO_CART:
                assert e.article_id in viewed and e.article_id not in cart
                cart[e.article_id] = e.quantity
            elif e.event_type == REMOVE_FROM_CART:
                assert cart.pop(e.article_id) == e.quantity
            else:
                assert cart[e.article_id] == e.quantity  # only what is still in the cart
                assert e.price == prices[article_index[e.article_id]]


def test_session_lengths_and_devices(sessions):
    views = np.array([len(s.articles(VIEW)) for s in sessions])
    assert abs((views == 1).mean() - BOUNCE_SHARE) < 0.05
    assert 3 <= np.median(views) <= 10 and views.max() <= MAX_VIEWS
    devices = Counter(s.device for s in sessions)
    assert set(DEVICE_SHARES) == set(CLICK_DEVICES)
    for device, share in DEVICE_SHARES.items():
        assert abs(devices[device] / len(sessions) - share) < 0.04
    guests = [s for s in sessions if s.is_guest]
    assert 0.2 < len(guests) / len(sessions) < 0.4
    assert all(s.customer_id is None and s.segment is None for s in guests)


def test_a_segment_views_what_the_model_says_it_likes(sessions, model, article_index):
    """Views of each segment fall in its favourite product types (by the model's weights on the
    modelled day) about as often as the model says, many times the catalogue's share, and are
    likelier under the segment's own taste than under any other segment's."""
    day = day_offset(LAST_DAY)
    weights = np.vstack([model.article_weights(s, day) for s in range(model.n_segments)])
    product_type = model.catalogue.product_type_no
    types = np.unique(product_type)
    views_by_segment: dict[int, list[int]] = {}
    for session in sessions:
        if session.segment is not None:
            views_by_segment.setdefault(session.segment, []).extend(article_index[a] for a in session.articles(VIEW))
    own_first = 0
    for segment, viewed in views_by_segment.items():
        viewed = np.asarray(viewed)
        mass = np.array([weights[segment][product_type == t].sum() for t in types])
        favourites = types[np.argsort(-mass)[:3]]
        view_share = np.isin(product_type[viewed], favourites).mean()
        catalogue_share = np.isin(product_type, favourites).mean()
        if len(viewed) >= 200:
            assert view_share > 4 * catalogue_share, segment
            assert abs(view_share - np.sort(mass)[-3:].sum()) < 0.15, segment
        likelihood = weights[:, viewed].mean(axis=1)
        own_first += int(np.argmax(likelihood) == segment)
    assert own_first >= 0.9 * len(views_by_segment)


def test_guests_browse_popular_articles(sessions, model, article_index):
    guest_views = [article_index[a] for s in sessions if s.is_guest for a in s.articles(VIEW)]
    popularity = model.catalogue.popularity
    assert np.median(popularity[guest_views]) > 3 * np.median(popularity)


def test_sessions_keep_their_intent(sessions, model, article_index):
    in_interest = [a in s.intent.interest_article_ids for s in sessions for a in s.articles(VIEW)]
    assert np.mean(in_interest) > 0.5
    for session in sessions:
        focus = session.intent.focus_product_type_no
        assert {model.catalogue.product_type_no[article_index[a]] for a in session.intent.interest_article_ids} == {focus}
    planned = [s for s in sessions if s.intent.planned_purchase]
    unplanned = [s for s in sessions if not s.intent.planned_purchase]
    conversion = lambda group: np.mean([bool(s.articles(PURCHASE)) for s in group])  # noqa: E731
    assert conversion(planned) > 3 * conversion(unplanned)
    # What is bought was browsed first, mostly among what the session was after.
    bought = [(a, s) for s in sessions for a in s.articles(PURCHASE)]
    assert np.mean([a in s.intent.interest_article_ids for a, s in bought]) > 0.5


def test_same_seed_same_sessions_other_seed_others(model):
    first = list(islice(ClickstreamSimulator(model, seed=5).sessions(START), 50))
    again = list(islice(ClickstreamSimulator(model, seed=5).sessions(START), 50))
    other = list(islice(ClickstreamSimulator(model, seed=6).sessions(START), 50))
    assert first == again
    assert [s.session_id for s in first] != [s.session_id for s in other]
    assert _events(first) != _events(other)


def test_the_modelled_day_sets_what_is_on_sale(model):
    early = ClickstreamSimulator(model, seed=5, model_day=date(2019, 1, 15))
    launched = set(model.catalogue.article_id[model.launched_by(day_offset(date(2019, 1, 15)))].astype(str).tolist())
    viewed = {a for s in islice(early.sessions(START), 300) for a in s.articles(VIEW)}
    assert viewed <= launched
    late_articles = set(article_id_array(model.catalogue).to_pylist()) - launched
    assert late_articles and not viewed & late_articles
    with pytest.raises(ValueError, match="outside the modelled period"):
        ClickstreamSimulator(model, seed=5, model_day=date(2021, 1, 1))


def test_the_event_stream_interleaves_sessions_in_time_order(model):
    stream = ClickstreamSimulator(model, seed=8).event_stream(START, events_per_second=50)
    events = list(islice(stream, 3000))
    times = [e.event_time for e in events]
    assert times == sorted(times)
    switches = sum(a.session_id != b.session_id for a, b in zip(events, events[1:]))
    assert switches > len(events) / 2  # not one session after another
    # Sessions started before START (warm-up), so the rate holds from the first minute.
    assert events[0].event_time >= START
    for minute in (0, 5):
        fresh = ClickstreamSimulator(model, seed=8).event_stream(START, events_per_second=50)
        later = dropwhile(lambda e: e.event_time < START + timedelta(minutes=minute), fresh)
        window = list(takewhile(lambda e: e.event_time < START + timedelta(minutes=minute + 1), later))
        assert 38 < len(window) / 60 < 60
