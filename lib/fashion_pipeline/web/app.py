"""The storefront: server-rendered pages over the serving tables, read exactly as the seed store's
website reads them (`recs.reader.read_recommendations`: real-time items first, then the nightly
list, 12 in all), with the shopper's clicks sent to the clickstream as the site would send them.

Pages: `/` (a customer's 12 items and "trending now"; pick or enter a customer id), `/articles/ID`
(the article and its neighbours; opening it sends a `view`, "add to bag" an `add_to_cart`, "buy" a
`purchase`), `/healthz`, `/api/recommendations/ID` (the merged list as JSON). A stopped service or
a missing table is an error page naming what to run; a traceback stays in the server's log."""
from __future__ import annotations

import logging
import re
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from fashion_pipeline.aws import aws_client
from fashion_pipeline.clickstream.contract import ADD_TO_CART, PURCHASE, VIEW
from fashion_pipeline.clickstream.producer import check_stream
from fashion_pipeline.config import Config
from fashion_pipeline.errors import PipelineError, describe_failure
from fashion_pipeline.realtime.store import TRENDING_KEY, TRENDING_SCOPE_ALL, trending_list
from fashion_pipeline.recs.items import ARTICLE_KEY, USER_KEY, is_load_marker, plain_neighbors
from fashion_pipeline.recs.reader import ServedRecommendations, read_recommendations
from fashion_pipeline.web.catalogue import ARTICLE_ID, Catalogue
from fashion_pipeline.web.clicks import ClickSender, click_event
from fashion_pipeline.web.fast_path import FastPathThread

CUSTOMER_ID = re.compile(r"[0-9a-f]{64}")
SESSION_COOKIE, CUSTOMER_COOKIE = "fashion_session", "fashion_customer"
SAMPLE_CUSTOMERS = 6
TRENDING_ROW = 6
NEIGHBOURS_SHOWN = 6
ACTIONS = {"bag": ADD_TO_CART, "buy": PURCHASE}
log = logging.getLogger(__name__)


@dataclass
class Tile:
    """One article as a page lists it: the article (None when the catalogue lacks it) and why."""

    article_id: str
    article: object | None
    reason: str | None = None
    source: str | None = None


class Storefront:
    """What the pages read and write, on the configured endpoints."""

    def __init__(self, config: Config):
        self.config = config
        self.dynamodb = aws_client("dynamodb", config)
        self.catalogue = Catalogue(config)
        self.clicks = ClickSender(config)

    def recommendations(self, shopper_key: str) -> ServedRecommendations:
        return read_recommendations(self.config, shopper_key, client=self.dynamodb)

    def tiles(self, article_ids: list[str], reasons: dict[str, tuple[str, str]] | None = None) -> list[Tile]:
        articles = self.catalogue.articles(article_ids)
        reasons = reasons or {}
        return [Tile(a, articles.get(a), *reasons.get(a, (None, None))) for a in article_ids]

    def trending(self) -> tuple[list[str], str]:
        """The live trending list (the streaming job's), else the nightly best sellers."""
        import time

        item = self._get(self.config.names.trending_table, {TRENDING_KEY: {"S": TRENDING_SCOPE_ALL}})
        live = [article for article, _ in trending_list(item, time.time())]
        if live:
            return live[:TRENDING_ROW], f"live, from {self.config.names.trending_table}"
        return self.catalogue.best_sellers(TRENDING_ROW), "no live trending yet: the nightly best sellers"

    def neighbours(self, article_id: str) -> list[str]:
        item = self._get(self.config.names.item_neighbors_table, {ARTICLE_KEY: {"S": article_id}})
        return [n["article_id"] for n in plain_neighbors((item or {}).get("neighbors"))][:NEIGHBOURS_SHOWN]

    def sample_customers(self) -> list[str]:
        """A few customers with a nightly list, to pick from."""
        try:
            response = self.dynamodb.scan(TableName=self.config.names.recommendations_table, Limit=SAMPLE_CUSTOMERS,
                                          ProjectionExpression="#u", ExpressionAttributeNames={"#u": USER_KEY})
        except ClientError as error:
            if _not_found(error):
                return []
            raise
        return sorted(item[USER_KEY]["S"] for item in response.get("Items", []) if not is_load_marker(item))

    def _get(self, table: str, key: dict) -> dict | None:
        try:
            return self.dynamodb.get_item(TableName=table, Key=key).get("Item")
        except ClientError as error:
            if _not_found(error):  # a table the nightly run or the streaming job has not created yet
                return None
            raise


def _not_found(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ResourceNotFoundException"


def templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(resources.files("fashion_pipeline.web").joinpath("templates")))


def create_app(config: Config, fast_path: bool = False) -> FastAPI:
    """The storefront on `config`'s endpoints; `fast_path` also runs the local event source
    mapping on a thread of this process (what `fashion web` does against moto)."""
    pages = templates()
    runner = FastPathThread(config) if fast_path else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if runner is not None:
            runner.start()
        yield
        if runner is not None:
            runner.stop()

    app = FastAPI(title="fashion-pipeline storefront", lifespan=lifespan, docs_url=None, redoc_url=None)
    shop = Storefront(config)
    app.state.shop, app.state.fast_path = shop, runner

    def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
        context.setdefault("customer", request.cookies.get(CUSTOMER_COOKIE) or None)
        context.setdefault("fast_path_error", runner.error if runner is not None else None)
        response = pages.TemplateResponse(request, template, context, status_code=status_code)
        if SESSION_COOKIE not in request.cookies:
            response.set_cookie(SESSION_COOKIE, session_of(request), httponly=True, samesite="lax")
        return response

    def session_of(request: Request) -> str:
        if not hasattr(request.state, "session_id"):
            known = request.cookies.get(SESSION_COOKIE, "")
            request.state.session_id = known if _is_uuid(known) else str(uuid.uuid4())
        return request.state.session_id

    async def failure_page(request: Request, error: Exception):
        message = describe_failure(error)
        if message is None:
            log.error("storefront error on %s", request.url.path, exc_info=error)
            message, status = "something went wrong on our side; the server's log has the details", 500
        else:
            status = 503
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        return render(request, "error.html", status_code=status, message=message)

    # Expected failures (a stopped service, a missing table or stream) are handled where they are
    # raised; anything else also reaches the catch-all, which shows the same page and, as Starlette
    # does for a 500, still hands the error to the server's log.
    for expected in (PipelineError, BotoCoreError, ClientError, OSError, Exception):
        app.add_exception_handler(expected, failure_page)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, customer: str | None = None):
        chosen = (customer.strip().lower() if customer is not None else request.cookies.get(CUSTOMER_COOKIE, "")) or None
        note = None
        served = None
        if chosen and not CUSTOMER_ID.fullmatch(chosen):
            note = f"{chosen[:80]!r} is not a customer id (64 hexadecimal characters): here are our best sellers."
        else:
            shopper = chosen or session_of(request)
            served = shop.recommendations(shopper)
            if chosen and not served.items:
                note = f"We do not know customer {chosen[:12]}… yet: here are our best sellers."
        if served is not None and served.items:
            tiles = shop.tiles([i.article_id for i in served.items],
                               {i.article_id: (i.reason, i.source) for i in served.items})
            heading = "Picked for you" if chosen else "Picked for you (this visit)"
        else:
            tiles = shop.tiles(shop.catalogue.best_sellers(config.recs.top_k), None)
            heading = "Best sellers"
        trending_ids, trending_source = shop.trending()
        response = render(
            request, "home.html", customer=chosen, note=note, heading=heading, tiles=tiles, served=served,
            trending=shop.tiles(trending_ids), trending_source=trending_source, samples=shop.sample_customers(),
        )
        if customer is not None:
            if chosen:
                response.set_cookie(CUSTOMER_COOKIE, chosen, samesite="lax")
            else:
                response.delete_cookie(CUSTOMER_COOKIE)
        return response

    @app.get("/articles/{article_id}", response_class=HTMLResponse)
    def article_page(request: Request, article_id: str, done: str | None = None):
        article = shop.catalogue.articles([article_id]).get(article_id) if ARTICLE_ID.fullmatch(article_id) else None
        if article is None:
            return render(request, "not_found.html", status_code=404, what=f"article {article_id[:40]}")
        customer = _customer(request)
        if done is None:  # a page opened, not the page again after "add to bag" or "buy"
            shop.clicks.send(click_event(VIEW, article_id, session_of(request), customer,
                                         referrer="internal:home"))
        return render(request, "article.html", article=article, done=done,
                      neighbours=shop.tiles(shop.neighbours(article_id)))

    @app.post("/articles/{article_id}/{action}")
    def article_action(request: Request, article_id: str, action: str):
        if action not in ACTIONS or not ARTICLE_ID.fullmatch(article_id):
            return render(request, "not_found.html", status_code=404, what=f"page {request.url.path}")
        article = shop.catalogue.articles([article_id]).get(article_id)
        if article is None:
            return render(request, "not_found.html", status_code=404, what=f"article {article_id}")
        if ACTIONS[action] == PURCHASE and article.price is None:
            return render(request, "error.html", status_code=409,
                          message=f"{article.name} has no price in the shop's catalogue, so it cannot be bought")
        shop.clicks.send(click_event(ACTIONS[action], article_id, session_of(request), _customer(request),
                                     shop_price=article.price, referrer="internal:product"))
        response = RedirectResponse(f"/articles/{article_id}?done={ACTIONS[action]}", status_code=303)
        if SESSION_COOKIE not in request.cookies:
            response.set_cookie(SESSION_COOKIE, session_of(request), httponly=True, samesite="lax")
        return response

    @app.get("/api/recommendations/{customer_id}")
    def api_recommendations(customer_id: str):
        if not (CUSTOMER_ID.fullmatch(customer_id) or _is_uuid(customer_id)):
            return JSONResponse({"error": "expected a customer id (64 hex) or a guest's session id (UUID)"},
                                status_code=400)
        served = shop.recommendations(customer_id)
        return {
            "user_id": served.user_id, "model_version": served.model_version, "generated_at": served.generated_at,
            "realtime_generated_at": served.realtime_generated_at,
            "items": [{"rank": n, "article_id": i.article_id, "score": i.score, "reason": i.reason, "source": i.source}
                      for n, i in enumerate(served.items, start=1)],
        }

    @app.get("/healthz")
    def healthz():
        checks = {}
        for name, call in (("dynamodb", lambda: shop.dynamodb.describe_table(TableName=config.names.recommendations_table)),
                           ("kinesis", lambda: check_stream(config))):
            try:
                call()
                checks[name] = "ok"
            except Exception as error:  # noqa: BLE001 - reported, not raised
                checks[name] = describe_failure(error) or f"{type(error).__name__}"
        if runner is not None:
            checks["fast_path"] = "running" if runner.running else (runner.error or "stopped")
        healthy = all(v in ("ok", "running") for v in checks.values())
        return JSONResponse({"status": "ok" if healthy else "degraded", **checks}, status_code=200 if healthy else 503)

    @app.exception_handler(404)
    async def not_found(request: Request, _error):
        return render(request, "not_found.html", status_code=404, what=f"page {request.url.path}")

    return app


def _customer(request: Request) -> str | None:
    customer = request.cookies.get(CUSTOMER_COOKIE, "")
    return customer if CUSTOMER_ID.fullmatch(customer) else None


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False
