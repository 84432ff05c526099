"""The playground: a local web app to train recurrent networks live and look inside them.

``rnnkit playground`` starts :class:`PlaygroundServer` (standard library ``http.server``, bound
to 127.0.0.1) and opens the page. The front end (``static/``: one HTML page, plain JavaScript
drawing on canvas and SVG) calls a JSON API; training, traces, Hopfield recall and echo state
fits all run on rnnkit in the server.

Example:
    >>> import json, urllib.request
    >>> server, _ = start_in_thread(0)
    >>> with urllib.request.urlopen(server.url + "api/config") as r:
    ...     [c["name"] for c in json.load(r)["cells"]]
    ['lstm', 'gru', 'elman', 'jordan']
    >>> server.shutdown(); server.server_close()
"""

from .server import PlaygroundServer, start_in_thread

__all__ = ["PlaygroundServer", "start_in_thread"]
