"""Every outbox consumer, imported once so that `leadline.services.outbox` knows who listens to what.

Add a module here when it registers consumers with `@outbox.consumer(...)`.
"""

from __future__ import annotations

from leadline.services import routing_events  # noqa: F401  (routes new MQLs and segment entries)
