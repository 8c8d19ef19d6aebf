"""The Lambda fast path against moto's DynamoDB, called with events shaped as the Kinesis event
source mapping sends them: success, a poison record, redelivery, throttling, guests and unknown
customers and articles, conditional writes shared with the streaming path, and the reader."""
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from fashion_pipeline.aws import aws_client
from fashion_pipeline.realtime.lambda_handler import FastPath
from fashion_pipeline.realtime.rule import REASON_SESSION, REASON_TRENDING, SessionEvent, merge_events, score_realtime
from fashion_pipeline.realtime.store import (
    DUPLICATE,
    EVENT_TIME_MS,
    EVENTS_DIGEST,
    FAILED,
    STALE,
    WRITTEN,
    RealtimeStore,
    item_without,
    put_if_newer,
    realtime_item,
)
from fashion_pipeline.recs.reader import read_recommendations
from tests.realtime_events import (
    BATCH,
    BATCH_VERSION,
    CUSTOMER,
    GUEST_SESSION_ID,
    NEIGHBORS,
    NEW_CUSTOMER,
    T0,
    T0_S,
    TRENDING,
    aws_event,
    click,
    seed_serving_items,
    sequence_numbers,
)

SESSION = [click(1, "0200000001", 0), click(2, "0200000002", 40), click(3, "0200000001", 80),
           click(4, "0200000003", 120, "add_to_cart")]


class RecordingClient:
    """A real client that counts writes and can fail some calls the way DynamoDB does."""

    def __init__(self, client, throttle: tuple[str, str] | None = None, unprocessed_gets: int = 0):
        self._client = client
        self.puts: list[str] = []
        self._throttle = throttle  # (table, user_id) whose first put is throttled
        self._unprocessed_gets = unprocessed_gets

    def put_item(self, **kwargs):
        self.puts.append(kwargs["TableName"])
        if self._throttle == (kwargs["TableName"], kwargs["Item"]["user_id"]["S"]):
            self._throttle = None
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "Rate of requests exceeds the allowed throughput"}}, "PutItem")
        return self._client.put_item(**kwargs)

    def batch_get_item(self, RequestItems):
        if self._unprocessed_gets:
            self._unprocessed_gets -= 1
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        return self._client.batch_get_item(RequestItems=RequestItems)

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.fixture
def rt_config(aws_config):
    seed_serving_items(aws_config)
    return aws_config


def fast_path(config, client=None, now_s: float = T0_S + 300, sleeps: list | None = None) -> FastPath:
    from fashion_pipeline.realtime.settings import RealtimeSettings

    return FastPath(RealtimeSettings.from_config(config), client or aws_client("dynamodb", config),
                    clock=lambda: now_s, sleep=(sleeps.append if sleeps is not None else lambda s: None),
                    jitter=lambda: 1.0)


def get(config, table_attr: str, key: str) -> dict | None:
    table = getattr(config.names, table_attr)
    return aws_client("dynamodb", config).get_item(TableName=table, Key={"user_id": {"S": key}},
                                                  ConsistentRead=True).get("Item")


def listed(item: dict) -> list[tuple[str, str]]:
    return [(e["M"]["article_id"]["S"], e["M"]["reason"]["S"]) for e in item["items"]["L"]]


def expected_list(clicks, batch=BATCH, trending=TRENDING, config=None):
    from fashion_pipeline.realtime.rule import RuleSettings

    events = [SessionEvent.from_click(c) for c in clicks]
    neighbors = {a: n for a, n in NEIGHBORS.items() if a in {e.article_id for e in events}}
    return [(i.article_id, i.reason) for i in score_realtime(events, neighbors, batch, trending, RuleSettings.from_config(config))]


def test_a_batch_of_clicks_becomes_the_shoppers_realtime_list(rt_config):
    handler = fast_path(rt_config)
    response = handler(aws_event(SESSION), None)

    assert response == {"batchItemFailures": []}
    item = get(rt_config, "realtime_recommendations_table", CUSTOMER)
    assert listed(item) == expected_list(SESSION, config=rt_config)
    assert listed(item)[0] == ("0200000003", REASON_SESSION)  # the add to cart, newest and weighted 3
    assert item["source"] == {"S": "realtime"} and item["model_version"] == {"S": f"rule-1+{BATCH_VERSION}"}
    newest_ms = int((T0 + timedelta(seconds=120)).timestamp() * 1000)
    assert item[EVENT_TIME_MS] == {"N": str(newest_ms)}
    assert item["expires_at"] == {"N": str(newest_ms // 1000 + rt_config.realtime.ttl_s)}
    ring = get(rt_config, "realtime_events_table", CUSTOMER)
    assert [e["M"]["event_id"]["S"] for e in ring["events"]["L"]] == [c["event_id"] for c in SESSION]
    assert ring["version"] == {"N": "1"}
    assert handler.last_report.statuses() == {WRITTEN: 1}


def test_a_poison_record_alone_is_reported_and_the_retry_changes_nothing(rt_config):
    client = RecordingClient(aws_client("dynamodb", rt_config))
    handler = fast_path(rt_config, client)
    event = aws_event([SESSION[0], SESSION[1], b'{"event_id": "cut off', SESSION[2], SESSION[3]])
    poison = sequence_numbers(event)[2]

    assert handler(event, None) == {"batchItemFailures": [{"itemIdentifier": poison}]}
    assert handler.last_report.rejected == {"invalid_json": 1}
    first = get(rt_config, "realtime_recommendations_table", CUSTOMER)
    assert listed(first) == expected_list(SESSION, config=rt_config)  # the four good records all count
    writes = len(client.puts)

    # The mapping resumes from the poison record: it and the records after it come again.
    retry = {"Records": event["Records"][2:]}
    assert handler(retry, None) == {"batchItemFailures": [{"itemIdentifier": poison}]}
    assert handler.last_report.statuses() == {DUPLICATE: 1}
    assert len(client.puts) == writes  # nothing written for events seen before
    assert get(rt_config, "realtime_recommendations_table", CUSTOMER) == first


def test_a_duplicate_delivery_changes_nothing(rt_config):
    client = RecordingClient(aws_client("dynamodb", rt_config))
    handler = fast_path(rt_config, client)
    handler(aws_event(SESSION), None)
    item, ring, writes = (get(rt_config, "realtime_recommendations_table", CUSTOMER),
                          get(rt_config, "realtime_events_table", CUSTOMER), len(client.puts))

    later = fast_path(rt_config, client, now_s=T0_S + 900)  # a redelivery minutes later, another container
    assert later(aws_event(SESSION, first_sequence=1), None) == {"batchItemFailures": []}
    assert later(aws_event([SESSION[1], SESSION[1]], first_sequence=9), None) == {"batchItemFailures": []}
    assert later.last_report.statuses() == {DUPLICATE: 1}
    assert len(client.puts) == writes
    assert get(rt_config, "realtime_recommendations_table", CUSTOMER) == item  # generated_at included
    assert get(rt_config, "realtime_events_table", CUSTOMER) == ring


def test_throttling_is_retried_and_nothing_is_lost(rt_config):
    other = "e" * 64
    clicks = [*SESSION[:2], click(20, "0200000005", 10, customer=other), *SESSION[2:]]
    sleeps = []
    # BatchGetItem leaves every key unprocessed twice (retried inside the call), then the write of
    # CUSTOMER's ring is throttled past botocore's own retries.
    client = RecordingClient(aws_client("dynamodb", rt_config), throttle=(rt_config.names.realtime_events_table, CUSTOMER),
                             unprocessed_gets=2)
    handler = fast_path(rt_config, client, sleeps=sleeps)
    event = aws_event(clicks)

    response = handler(event, None)

    assert sleeps == [0.02, 0.04]  # full jitter (pinned to 1.0) on realtime.write_base_delay_s, doubling
    customer_sequences = [s for s, c in zip(sequence_numbers(event), clicks) if c["customer_id"] == CUSTOMER]
    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in customer_sequences]}
    assert handler.last_report.statuses() == {FAILED: 1, WRITTEN: 1}
    assert get(rt_config, "realtime_recommendations_table", CUSTOMER) is None
    assert get(rt_config, "realtime_recommendations_table", other) is not None

    # The mapping retries from the lowest reported sequence number: every record after it again.
    first_failed = sequence_numbers(event).index(customer_sequences[0])
    assert handler({"Records": event["Records"][first_failed:]}, None) == {"batchItemFailures": []}
    assert handler.last_report.statuses() == {WRITTEN: 1, DUPLICATE: 1}
    assert listed(get(rt_config, "realtime_recommendations_table", CUSTOMER)) == expected_list(SESSION, config=rt_config)
    ring = get(rt_config, "realtime_events_table", CUSTOMER)
    assert sorted(e["M"]["event_id"]["S"] for e in ring["events"]["L"]) == sorted(c["event_id"] for c in SESSION)


def test_a_ring_changed_by_another_writer_meanwhile_is_read_again_and_merged(rt_config):
    from fashion_pipeline.realtime.store import ring_item

    sleeps = []
    client = RecordingClient(aws_client("dynamodb", rt_config))
    handler = fast_path(rt_config, client, sleeps=sleeps)
    handler(aws_event(SESSION[:2]), None)
    other_writer = SessionEvent.from_click(click(70, "0200000005", 100))
    table = rt_config.names.realtime_events_table
    real_put = client.put_item

    def put_after_another_writer(**kwargs):
        if kwargs["TableName"] == table and not getattr(put_after_another_writer, "done", False):
            put_after_another_writer.done = True  # between our read (version 1) and our write
            current = [SessionEvent.from_click(c) for c in SESSION[:2]]
            aws_client("dynamodb", rt_config).put_item(TableName=table, Item=ring_item(
                CUSTOMER, [*current, other_writer], 2, rt_config.realtime.ttl_s))
        return real_put(**kwargs)

    client.put_item = put_after_another_writer
    assert handler(aws_event(SESSION[2:], first_sequence=3), None) == {"batchItemFailures": []}

    assert sleeps == [0.02]  # one lost race, one pause
    ring = get(rt_config, "realtime_events_table", CUSTOMER)
    assert ring["version"] == {"N": "3"}
    in_time_order = sorted([*SESSION, click(70, "0200000005", 100)], key=lambda c: c["event_time"])
    assert [e["M"]["event_id"]["S"] for e in ring["events"]["L"]] == [c["event_id"] for c in in_time_order]
    assert listed(get(rt_config, "realtime_recommendations_table", CUSTOMER)) == expected_list(
        [*SESSION, click(70, "0200000005", 100)], config=rt_config)


def test_guests_and_customers_unknown_to_the_batch_get_session_and_trending_items(rt_config):
    guest = [click(30, "0200000004", 0, customer=None, session_id=GUEST_SESSION_ID),
             click(31, "0200000006", 30, customer=None, session_id=GUEST_SESSION_ID)]
    newcomer = [click(40, "0200000007", 5, customer=NEW_CUSTOMER)]
    assert fast_path(rt_config)(aws_event([*guest, *newcomer]), None) == {"batchItemFailures": []}

    guest_item = get(rt_config, "realtime_recommendations_table", GUEST_SESSION_ID)  # keyed by session id
    assert {reason for _, reason in listed(guest_item)} == {REASON_SESSION, REASON_TRENDING}
    assert listed(guest_item) == expected_list(guest, batch=[], config=rt_config)
    assert guest_item["model_version"] == {"S": "rule-1"}
    newcomer_item = get(rt_config, "realtime_recommendations_table", NEW_CUSTOMER)
    assert listed(newcomer_item) == expected_list(newcomer, batch=[], config=rt_config)
    assert set(listed(newcomer_item)) == {("0200000007", REASON_SESSION), ("0300000007", REASON_SESSION),
                                          ("0300000008", REASON_SESSION), *((a, REASON_TRENDING) for a, _ in TRENDING)}


def test_an_unknown_article_is_kept_in_the_ring_but_never_recommended(rt_config):
    unknown = click(50, "0777777777", 200)  # well formed, not in the catalogue the batch knows
    handler = fast_path(rt_config)
    assert handler(aws_event([*SESSION, unknown]), None) == {"batchItemFailures": []}

    item = get(rt_config, "realtime_recommendations_table", CUSTOMER)
    assert "0777777777" not in {a for a, _ in listed(item)}
    assert listed(item) == expected_list(SESSION, config=rt_config)  # as if it had not been clicked
    ring = get(rt_config, "realtime_events_table", CUSTOMER)
    assert ring["events"]["L"][-1]["M"]["article_id"] == {"S": "0777777777"}


def test_an_older_computation_never_overwrites_a_newer_item(rt_config):
    client = aws_client("dynamodb", rt_config)
    table = rt_config.names.realtime_recommendations_table
    events = [SessionEvent.from_click(c) for c in SESSION]

    def item(upto: int, generated_at: str) -> dict:
        return realtime_item(CUSTOMER, [], events[:upto], None, generated_at, 3600)

    assert put_if_newer(client, table, item(3, "first"))
    assert not put_if_newer(client, table, item(2, "older"))  # computed as of an earlier event
    assert get(rt_config, "realtime_recommendations_table", CUSTOMER)["generated_at"] == {"S": "first"}
    assert put_if_newer(client, table, item(3, "same events again"))  # equal time: same or more events
    assert put_if_newer(client, table, item(4, "newer"))
    assert get(rt_config, "realtime_recommendations_table", CUSTOMER)["generated_at"] == {"S": "newer"}


def test_trending_is_published_conditionally_and_read_by_the_fast_path(rt_config):
    from fashion_pipeline.realtime.settings import RealtimeSettings
    from fashion_pipeline.realtime.store import write_trending

    settings = RealtimeSettings.from_config(rt_config)
    client = aws_client("dynamodb", rt_config)
    window_end = int((T0 + timedelta(minutes=5)).timestamp() * 1000)
    assert write_trending(client, settings, [("0900000009", 9.0)], window_end, T0_S + 300)
    assert not write_trending(client, settings, [("0900000001", 99.0)], window_end - 60_000, T0_S + 301)
    guest = [click(60, "0200000004", 0, customer=None, session_id=GUEST_SESSION_ID)]
    fast_path(rt_config)(aws_event(guest), None)
    trending_shown = [a for a, reason in listed(get(rt_config, "realtime_recommendations_table", GUEST_SESSION_ID))
                      if reason == REASON_TRENDING]
    assert trending_shown == ["0900000009"]  # the newest list: neither the seeded one nor the late one


@pytest.mark.parametrize("streaming_first", [False, True], ids=["lambda-first", "streaming-first"])
def test_both_paths_end_in_the_same_item_for_the_same_events(rt_config, streaming_first):
    """The Lambda sees the session in two deliveries; the streaming job scores its own state (the
    same events, merged by the same rule) and writes through the same conditional write."""
    from fashion_pipeline.realtime.settings import RealtimeSettings

    settings = RealtimeSettings.from_config(rt_config)
    client = aws_client("dynamodb", rt_config)
    streaming = RealtimeStore(client, settings, clock=lambda: T0_S + 600)
    state = merge_events([], [SessionEvent.from_click(c) for c in SESSION], settings.ring_length, settings.ttl_s * 1000)
    lambda_path = fast_path(rt_config, client)

    def run_lambda():
        lambda_path(aws_event(SESSION[:2]), None)
        lambda_path(aws_event(SESSION[2:], first_sequence=3), None)

    def run_streaming():
        return streaming.refresh_from_state({CUSTOMER: state})[CUSTOMER].status

    if streaming_first:
        assert run_streaming() == WRITTEN
        run_lambda()
    else:
        run_lambda()
        assert run_streaming() == WRITTEN  # equal event time: the same events may write again
    final = get(rt_config, "realtime_recommendations_table", CUSTOMER)

    reference = fast_path(rt_config, client)
    other_key = "f" * 64
    client.put_item(TableName=settings.tables.batch, Item={
        **get(rt_config, "recommendations_table", CUSTOMER), "user_id": {"S": other_key}})
    reference(aws_event([{**c, "customer_id": other_key} for c in SESSION]), None)
    alone = get(rt_config, "realtime_recommendations_table", other_key)
    assert item_without(final, "generated_at", "user_id") == item_without(alone, "generated_at", "user_id")
    assert final[EVENTS_DIGEST] == alone[EVENTS_DIGEST]

    # The streaming job catching up late, without the newest event, writes nothing.
    outdated = streaming.refresh_from_state({CUSTOMER: state[:-1]})[CUSTOMER]
    assert outdated.status == STALE
    assert get(rt_config, "realtime_recommendations_table", CUSTOMER) == final


def test_the_reader_shows_the_realtime_list_first_until_it_expires(rt_config):
    fast_path(rt_config)(aws_event(SESSION), None)
    realtime = [a for a, _ in expected_list(SESSION, config=rt_config)]

    soon = read_recommendations(rt_config, CUSTOMER, now=T0 + timedelta(minutes=10))
    assert [i.article_id for i in soon.items] == realtime
    assert {i.source for i in soon.items} == {"realtime"}
    assert soon.model_version == BATCH_VERSION and soon.realtime_generated_at is not None

    expires = datetime.fromtimestamp(float(get(rt_config, "realtime_recommendations_table", CUSTOMER)["expires_at"]["N"]),
                                     timezone.utc)
    later = read_recommendations(rt_config, CUSTOMER, now=expires + timedelta(seconds=1))
    assert [i.article_id for i in later.items] == [b["article_id"] for b in BATCH]
    assert {i.source for i in later.items} == {"batch"}
