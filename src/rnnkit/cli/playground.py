"""``rnnkit playground``: the local web app to train recurrent networks live and look inside."""

from __future__ import annotations

import argparse
import sys
import webbrowser

from ._common import UsageError, non_negative_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "playground",
        help="a local web app: train a cell live, see its gates, Hopfield and echo state tabs",
        description=(
            "Serve the playground on 127.0.0.1 (this machine only) and open it in the browser. "
            "Ctrl-C stops it."
        ),
    )
    parser.add_argument(
        "--port",
        type=non_negative_int,
        default=8765,
        metavar="P",
        help="port to listen on (default: 8765; 0 picks a free one)",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the URL without opening a browser"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch  # imported only when the command runs: `rnnkit --help` stays quick

    from ..playground import PlaygroundServer

    if args.port > 65535:
        raise UsageError(f"--port must be in [0, 65535], got {args.port}")
    # The playground's models are small (bounded sizes): one intra-op thread avoids the
    # threads' hand-over costs and leaves the other cores to the browser and the handlers.
    torch.set_num_threads(1)
    try:
        server = PlaygroundServer(args.port)
    except OSError as err:
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port}: {err.strerror}") from None
    print(f"rnnkit playground: serving on {server.url} (Ctrl-C stops it)", flush=True)
    if not args.no_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("rnnkit playground: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
