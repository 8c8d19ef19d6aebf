"""`fashion web`: the storefront on http://127.0.0.1:8000, added to the main parser by cli.py.

Against moto (a loopback endpoint) it also runs the fast path on a thread of its own process, so
clicks on the site refresh the shopper's list; `--no-fast-path` when `fashion lambda run-local`
runs elsewhere. On AWS the Lambda is the fast path and the site only reads and sends clicks."""
from __future__ import annotations

import argparse

from fashion_pipeline.jobs import add_config_options, config_from_args, positive_int

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


def add_web_commands(commands) -> None:
    web = commands.add_parser("web", help="the storefront: live recommendations, clicks to the clickstream")
    web.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    web.add_argument("--port", type=positive_int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    web.add_argument("--no-fast-path", action="store_true",
                     help="do not run the local event source mapping here (run `fashion lambda run-local` yourself)")
    add_config_options(web)
    web.set_defaults(_handler=cmd_web)


def cmd_web(args: argparse.Namespace) -> int:
    import uvicorn

    from fashion_pipeline.aws import is_local_endpoint
    from fashion_pipeline.clickstream.producer import ensure_clickstream_stream
    from fashion_pipeline.recs.dynamodb import ensure_serving_tables
    from fashion_pipeline.web.app import create_app

    config = config_from_args(args)
    fast_path = is_local_endpoint(config.aws.endpoint_url) and not args.no_fast_path
    if is_local_endpoint(config.aws.endpoint_url):
        # What a deployment's template creates on AWS; here a missing moto stops us with one line.
        print(ensure_clickstream_stream(config), flush=True)
        ensure_serving_tables(config)
    app = create_app(config, fast_path=fast_path)
    print(f"storefront on http://{args.host}:{args.port}/ "
          f"({'fast path: the local event source mapping runs in this process' if fast_path else 'no local fast path'}); "
          f"Ctrl-C stops it", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
