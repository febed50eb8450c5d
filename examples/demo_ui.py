"""``demo.py --ui``: after the report, the demo system keeps running with ``coordkit ui`` open on it
(its locks, leader, services and config as the demo left them) until Enter or Ctrl-C."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import coordkit


def keep_open(url: str, say: Callable[[str], None]) -> None:
    """Serve the live view of ``url`` on 127.0.0.1 ($COORDKIT_DEMO_UI_PORT, default 8470) and
    wait for Enter (an end of input returns at once); the server is stopped on the way out."""
    import uvicorn

    from coordkit.ui import create_app

    port = int(os.environ.get("COORDKIT_DEMO_UI_PORT", "8470"))
    with coordkit.connect(url) as client:
        app = create_app(client)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="demo-ui", daemon=True)
        thread.start()
        say(f"live view: http://127.0.0.1:{port}/ (the system keeps running); press Enter to stop everything")
        try:
            input()
        except EOFError:
            pass
        finally:
            app.state.live.end()
            server.should_exit = True
            thread.join(timeout=10)
