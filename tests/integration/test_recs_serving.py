"""DynamoDB serving tables against moto: creation, batch writes with retries, Spark load, reader."""
from datetime import date, datetime, timezone

import pytest

from fashion_pipeline.aws import aws_client
from fashion_pipeline.errors import MissingInputError, describe_failure
from fashion_pipeline.lake import write_table
from fashion_pipeline.pipelines.load_recommendations import run_load_recommendations
from fashion_pipeline.recs.dynamodb import (
    BATCH_WRITE_LIMIT,
    BatchWriter,
    LoadStamp,
    OlderLoadError,
    OverlappingLoadError,
    UnprocessedItemsError,
    claim_load,
    complete_load,
    ensure_serving_tables,
    read_load_marker,
)
from fashion_pipeline.recs.items import LOAD_MARKER_KEY, recommendation_item
from fashion_pipeline.recs.reader import read_recommendations
from fashion_pipeline.storage import storage_for
from fashion_pipeline.tables import ITEM_NEIGHBORS_TABLE, RECOMMENDATIONS_TABLE

RUN_DATE = date(2020, 9, 22)
VERSION = "20200922-abcdef12"
GENERATED_AT = "2020-09-23T02:00:00+00:00"
RECOMMENDATIONS_SCHEMA = (
    "customer_id string, items array<struct<article_id:string,score:double,reason:string>>, "
    "cold_start boolean, model_version string, generated_at string, run_date date"
)
NEIGHBORS_SCHEMA = (
    "article_id string, neighbors array<struct<article_id:string,score:double>>, "
    "model_version string, generated_at string, run_date date"
)


def _user(n: int) -> str:
    return f"{n:064x}"


def _items(n: int) -> list[dict]:
    return [{"article_id": f"{n + i:010d}", "score": 1.0 / (i + 1), "reason": "als" if i % 2 else "repurchase"} for i in range(12)]


def _scan(client, table: str) -> list[dict]:
    return client.get_paginator("scan").paginate(TableName=table).build_full_result()["Items"]


def _by_key(items: list[dict], key: str) -> dict:
    return {item[key]["S"]: item for item in items}


class FlakyDynamo:
    """Delegates to a real client, but leaves half a batch unprocessed on the first calls."""

    def __init__(self, client, unprocessed_calls: int = 2):
        self._client = client
        self.unprocessed_left = unprocessed_calls
        self.batch_sizes: list[int] = []

    def batch_write_item(self, RequestItems):
        (table, requests), = RequestItems.items()
        self.batch_sizes.append(len(requests))
        if self.unprocessed_left and len(requests) > 1:
            self.unprocessed_left -= 1
            half = len(requests) // 2
            self._client.batch_write_item(RequestItems={table: requests[:half]})
            return {"UnprocessedItems": {table: requests[half:]}}
        return self._client.batch_write_item(RequestItems=RequestItems)


def test_serving_tables_are_created_from_config_once(aws_config):
    client = aws_client("dynamodb", aws_config)
    names = aws_config.names
    assert sorted(ensure_serving_tables(aws_config)) == sorted(
        [names.recommendations_table, names.realtime_recommendations_table, names.item_neighbors_table]
    )
    assert ensure_serving_tables(aws_config) == []
    key = client.describe_table(TableName=names.item_neighbors_table)["Table"]["KeySchema"]
    assert key == [{"AttributeName": "article_id", "KeyType": "HASH"}]


def test_unprocessed_items_are_retried_until_nothing_is_lost(aws_config):
    ensure_serving_tables(aws_config)
    client = aws_client("dynamodb", aws_config)
    flaky = FlakyDynamo(client)
    sleeps = []
    writer = BatchWriter(flaky, aws_config.names.recommendations_table, max_attempts=6,
                         base_delay_s=0.1, max_delay_s=0.3, sleep=sleeps.append, jitter=lambda: 1.0)
    items = [recommendation_item(_user(n), _items(n), VERSION, GENERATED_AT) for n in range(60)]

    stats = writer.write_all(items)

    assert max(flaky.batch_sizes) == BATCH_WRITE_LIMIT
    assert flaky.batch_sizes == [25, 13, 7, 25, 10]  # a chunk, its unprocessed half twice, the next chunks
    assert stats.items == 60 and stats.unprocessed_retries == 2 and stats.calls == 5
    # first chunk: half unprocessed (0.1), then a quarter unprocessed (0.2)
    assert sleeps == [0.1, 0.2]
    assert sorted(_by_key(_scan(client, aws_config.names.recommendations_table), "user_id")) == [_user(n) for n in range(60)]


def test_throttling_is_left_to_botocores_adaptive_retries(aws_config):
    from fashion_pipeline.recs.dynamodb import DynamoSettings

    client = DynamoSettings.from_config(aws_config, "t").client()
    # botocore counts the first call too: max_attempts retries make max_attempts + 1 calls.
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": aws_config.aws.max_attempts + 1}


def test_a_batch_that_never_goes_through_fails_loudly(aws_config):
    class AlwaysUnprocessed:
        def batch_write_item(self, RequestItems):
            return {"UnprocessedItems": RequestItems}

    writer = BatchWriter(AlwaysUnprocessed(), "t", max_attempts=3, base_delay_s=0.0, max_delay_s=0.0, sleep=lambda s: None)
    with pytest.raises(UnprocessedItemsError, match="3 attempts"):
        writer.write_all([recommendation_item(_user(1), _items(1), VERSION, GENERATED_AT)])


def test_backoff_is_exponential_capped_and_jittered():
    draws = iter([1.0, 0.5, 1.0, 1.0])
    writer = BatchWriter(None, "t", max_attempts=5, base_delay_s=0.1, max_delay_s=0.5, jitter=lambda: next(draws))
    assert [writer.backoff_delay(a) for a in range(4)] == pytest.approx([0.1, 0.1, 0.4, 0.5])


@pytest.fixture
def recs_lake(spark, aws_config):
    recommendations = [(_user(n), _items(n), False, VERSION, GENERATED_AT, RUN_DATE) for n in range(70)]
    write_table(spark.createDataFrame(recommendations, RECOMMENDATIONS_SCHEMA), RECOMMENDATIONS_TABLE.uri(aws_config), ("run_date",))
    neighbors = [(f"{n:010d}", [{"article_id": f"{n + 1:010d}", "score": 0.9}], VERSION, GENERATED_AT, RUN_DATE) for n in range(30)]
    write_table(spark.createDataFrame(neighbors, NEIGHBORS_SCHEMA), ITEM_NEIGHBORS_TABLE.uri(aws_config), ("run_date",))
    return aws_config


def test_spark_load_writes_every_row_and_a_rerun_leaves_the_same_items(spark, recs_lake):
    config = recs_lake
    client = aws_client("dynamodb", config)
    report = run_load_recommendations(spark, config, storage_for(config), RUN_DATE)
    assert report.tables[config.names.recommendations_table]["items"] == 70
    assert report.tables[config.names.item_neighbors_table]["items"] == 30

    first = _by_key(_scan(client, config.names.recommendations_table), "user_id")
    item = first[_user(3)]
    assert item["model_version"] == {"S": VERSION} and item["source"] == {"S": "batch"}
    assert [e["M"]["article_id"]["S"] for e in item["items"]["L"]] == [i["article_id"] for i in _items(3)]
    assert [e["M"]["rank"]["N"] for e in item["items"]["L"]] == [str(r) for r in range(1, 13)]
    assert _scan(client, config.names.realtime_recommendations_table) == []  # the batch never writes there
    neighbors_first = _by_key(_scan(client, config.names.item_neighbors_table), "article_id")

    assert read_load_marker(client, config.names.recommendations_table, "user_id") == (
        LoadStamp(RUN_DATE.isoformat(), VERSION, GENERATED_AT), "loaded")

    run_load_recommendations(spark, config, storage_for(config), RUN_DATE)  # the same day again: allowed
    assert _by_key(_scan(client, config.names.recommendations_table), "user_id") == first
    assert _by_key(_scan(client, config.names.item_neighbors_table), "article_id") == neighbors_first

    marker = read_recommendations(config, LOAD_MARKER_KEY, client)  # the marker is nobody's list
    assert marker.items == [] and marker.model_version is None


OLDER_DATE, OLDER_VERSION, OLDER_GENERATED_AT = date(2020, 9, 21), "20200921-abcdef12", "2020-09-23T05:00:00+00:00"


@pytest.fixture
def two_days_lake(spark, aws_config):
    """Two run dates; the older day was trained after the newer one (a backfill), so only the run
    date, not generated_at, says which is newer."""
    days = ((OLDER_DATE, OLDER_VERSION, OLDER_GENERATED_AT, 1000), (RUN_DATE, VERSION, GENERATED_AT, 0))
    recommendations = [(_user(n), _items(n + offset), False, version, generated_at, day)
                       for day, version, generated_at, offset in days for n in range(40)]
    write_table(spark.createDataFrame(recommendations, RECOMMENDATIONS_SCHEMA), RECOMMENDATIONS_TABLE.uri(aws_config), ("run_date",))
    neighbors = [(f"{n:010d}", [{"article_id": f"{n + offset + 1:010d}", "score": 0.9}], version, generated_at, day)
                 for day, version, generated_at, offset in days for n in range(20)]
    write_table(spark.createDataFrame(neighbors, NEIGHBORS_SCHEMA), ITEM_NEIGHBORS_TABLE.uri(aws_config), ("run_date",))
    return aws_config


def test_an_older_day_never_replaces_a_newer_one_unless_rolled_back_on_purpose(spark, two_days_lake):
    config = two_days_lake
    client = aws_client("dynamodb", config)
    tables = (config.names.recommendations_table, config.names.item_neighbors_table)

    def state():
        return [_by_key(_scan(client, table), key) for table, key in zip(tables, ("user_id", "article_id"))]

    run_load_recommendations(spark, config, storage_for(config), RUN_DATE)
    newer = state()
    assert newer[0][_user(3)]["model_version"] == {"S": VERSION}

    with pytest.raises(OlderLoadError) as refused:
        run_load_recommendations(spark, config, storage_for(config), OLDER_DATE)
    message = describe_failure(refused.value)
    assert message == (
        f"refusing to load {tables[0]} with run_date 2020-09-21 (model {OLDER_VERSION}, generated "
        f"{OLDER_GENERATED_AT}): it already serves the newer run_date 2020-09-22 (model {VERSION}, generated "
        f"{GENERATED_AT}); an older day never replaces a newer one, unless on purpose: to roll back, re-run with --allow-older"
    )
    assert state() == newer  # neither table touched, markers included

    rollback = run_load_recommendations(spark, config, storage_for(config), OLDER_DATE, allow_older=True)
    older = state()
    assert older[0][_user(3)]["model_version"] == {"S": OLDER_VERSION}
    assert older[1]["0000000003"]["neighbors"]["L"][0]["M"]["article_id"] == {"S": "0000001004"}
    assert f"{tables[0]}: rolled back from run_date 2020-09-22 (--allow-older)" in rollback.summary()
    for table, key in zip(tables, ("user_id", "article_id")):
        assert read_load_marker(client, table, key) == (LoadStamp("2020-09-21", OLDER_VERSION, OLDER_GENERATED_AT), "loaded")

    run_load_recommendations(spark, config, storage_for(config), RUN_DATE)  # forward again, no option needed
    assert state() == newer


def test_the_marker_claim_is_atomic_and_a_load_overtaken_while_writing_fails(aws_config):
    ensure_serving_tables(aws_config)
    client = aws_client("dynamodb", aws_config)
    table = aws_config.names.recommendations_table
    newer, older = LoadStamp("2020-09-22", VERSION, GENERATED_AT), LoadStamp("2020-09-21", OLDER_VERSION, OLDER_GENERATED_AT)
    assert read_load_marker(client, table, "user_id") is None

    claim_load(client, table, "user_id", newer)
    # A load that checked before this claim still cannot claim: the condition is on the write.
    with pytest.raises(OlderLoadError, match=r"\(a load of it started and did not finish\)"):
        claim_load(client, table, "user_id", older)
    assert read_load_marker(client, table, "user_id") == (newer, "loading")

    claim_load(client, table, "user_id", older, allow_older=True)
    with pytest.raises(OverlappingLoadError, match="another load claimed the table .*run_date 2020-09-21"):
        complete_load(client, table, "user_id", newer)
    complete_load(client, table, "user_id", older)
    assert read_load_marker(client, table, "user_id") == (older, "loaded")


def test_loading_a_day_that_was_not_trained_is_a_clear_error(spark, recs_lake):
    with pytest.raises(MissingInputError, match="run `fashion recs train --run-date 2020-09-01` first"):
        run_load_recommendations(spark, recs_lake, storage_for(recs_lake), date(2020, 9, 1))


def test_reader_puts_fresh_realtime_items_first_and_ignores_expired_ones(aws_config):
    ensure_serving_tables(aws_config)
    client = aws_client("dynamodb", aws_config)
    user = _user(7)
    batch_items = _items(100)
    client.put_item(TableName=aws_config.names.recommendations_table,
                    Item=recommendation_item(user, batch_items, VERSION, GENERATED_AT))
    realtime = recommendation_item(user, [{"article_id": "0999999001", "score": 3.0, "reason": "als"}, batch_items[5]],
                                   "realtime-1", "2020-09-23T10:00:00+00:00")
    realtime["source"] = {"S": "realtime"}
    realtime["expires_at"] = {"N": str(int(datetime.now(timezone.utc).timestamp()) + 3600)}
    client.put_item(TableName=aws_config.names.realtime_recommendations_table, Item=realtime)

    served = read_recommendations(aws_config, user)
    assert [i.article_id for i in served.items] == (
        ["0999999001", batch_items[5]["article_id"]]
        + [i["article_id"] for n, i in enumerate(batch_items) if n != 5][:10]
    )
    assert [i.source for i in served.items[:3]] == ["realtime", "realtime", "batch"]
    assert served.model_version == VERSION and served.realtime_generated_at == "2020-09-23T10:00:00+00:00"

    realtime["expires_at"] = {"N": "1"}
    client.put_item(TableName=aws_config.names.realtime_recommendations_table, Item=realtime)
    assert [i.article_id for i in read_recommendations(aws_config, user).items] == [i["article_id"] for i in batch_items]
