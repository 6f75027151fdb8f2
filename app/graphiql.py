"""GraphiQL served entirely from this app: the page and the assets installed by app.assets."""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from app.assets import AssetsNotInstalledError, assets_dir, is_safe_name, load_manifest

PREFIX = "/_trama/graphiql/"
STYLES = ["graphiql.min.css", "plugin-explorer.css"]
# Order matters: each UMD bundle reads the globals the previous ones define.
SCRIPTS = [
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "plugin-explorer.umd.js",
]
CONTENT_TYPES = {
    ".js": "application/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}

DEFAULT_QUERY = """\
# Welcome to Trama's GraphiQL.
#
# Write a query here and run it with Ctrl-Enter (or the play button).
# Ctrl-Space autocompletes; the Headers tab below is where your
# Authorization header goes.

query Viewer {
  viewer {
    subject
    roles
    scopes
  }
}
"""

NOT_INSTALLED = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title><link rel="icon" href="data:,"></head>
<body>
<h1>GraphiQL assets are not installed</h1>
<p>This server serves GraphiQL's JavaScript and CSS itself and never loads them from the
internet, but they have not been installed on this machine.</p>
<p>Run <code>make run</code>, or <code>python -m app.assets install</code> in the project's
virtualenv, then reload this page. (<code>TRAMA_ASSETS_DIR</code> chooses another
location.)</p>
</body>
</html>
"""

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>
  body {{ margin: 0; height: 100%; width: 100%; overflow: hidden; }}
  #graphiql {{ height: 100vh; display: flex; }}
</style>
{styles}
</head>
<body>
<div id="graphiql">Loading…</div>
{scripts}
<script>
  const endpoint = new URL({endpoint}, window.location.href);
  const subscriptionUrl = new URL(endpoint);
  subscriptionUrl.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  subscriptionUrl.hash = "";
  const fetcher = GraphiQL.createFetcher({{
    url: endpoint.toString(),
    subscriptionUrl: subscriptionUrl.toString(),
  }});
  const headers = {headers};
  const props = {{
    fetcher,
    defaultQuery: {query},
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    isHeadersEditorEnabled: true,
    defaultEditorToolsVisibility: headers === null ? true : "headers",
    inputValueDeprecation: true,
  }};
  if (headers !== null) {{
    props.headers = headers;
    props.defaultHeaders = headers;
  }}
  ReactDOM.createRoot(document.getElementById("graphiql"))
    .render(React.createElement(GraphiQL, props));
</script>
</body>
</html>
"""


def _js(value: Any) -> str:
    """A JSON literal that is safe inside <script>: no "</script>", "<!--" or "]]>"."""
    return (
        json.dumps(value)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _installed_files() -> dict[str, Any] | None:
    """The manifest's file entries, or None unless every file the page needs is on disk."""
    try:
        files: dict[str, Any] = load_manifest()["files"]
    except AssetsNotInstalledError:
        return None
    directory = assets_dir()
    for name in STYLES + SCRIPTS:
        entry = files.get(name)
        if not isinstance(entry, dict) or not (directory / name).is_file():
            return None
    return files


def _asset_url(name: str, entry: dict[str, Any]) -> str:
    # The hash in the query string busts the year-long immutable cache on upgrades.
    version = base64.b64decode(str(entry["integrity"]).split("-", 1)[-1]).hex()[:16]
    return html.escape(f"{PREFIX}{name}?v={version}")


def graphiql_html(
    *, endpoint: str, headers: dict[str, str] | None, title: str = "Trama GraphiQL"
) -> str:
    """The GraphiQL page, loading only this app's assets under ``/_trama/graphiql/``.

    ``endpoint`` is the GraphQL path on this origin (``/graphql``); subscriptions use its
    ws:// or wss:// form. ``headers`` (development only) pre-fill the headers editor.
    """
    if not endpoint.startswith("/") or endpoint.startswith("//"):
        raise ValueError("endpoint must be a path on this origin, like '/graphql'")
    files = _installed_files()
    if files is None:
        return NOT_INSTALLED.format(title=html.escape(title))
    styles = "\n".join(
        f'<link rel="stylesheet" href="{_asset_url(name, files[name])}" '
        f'integrity="{html.escape(files[name]["integrity"])}">'
        for name in STYLES
    )
    scripts = "\n".join(
        f'<script src="{_asset_url(name, files[name])}" '
        f'integrity="{html.escape(files[name]["integrity"])}"></script>'
        for name in SCRIPTS
    )
    return PAGE.format(
        title=html.escape(title),
        styles=styles,
        scripts=scripts,
        endpoint=_js(endpoint),
        headers=_js(None if headers is None else json.dumps(headers, indent=2)),
        query=_js(DEFAULT_QUERY),
    )


async def _serve_asset(request: Request) -> Response:
    name = request.path_params["name"]
    not_found = PlainTextResponse("Not Found", status_code=404)
    content_type = CONTENT_TYPES.get(name[name.rfind(".") :]) if "." in name else None
    if not is_safe_name(name) or content_type is None:
        return not_found
    try:
        entry = load_manifest()["files"].get(name)
    except AssetsNotInstalledError:
        return not_found
    path = assets_dir() / name
    if not isinstance(entry, dict) or not path.is_file():
        return not_found

    etag = f'"{entry["integrity"]}"'
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=content_type, headers=headers)


def asset_routes() -> list[Route]:
    """``GET /_trama/graphiql/{name}``: only the files in the installed manifest."""
    return [Route(PREFIX + "{name}", _serve_asset, methods=["GET"])]
